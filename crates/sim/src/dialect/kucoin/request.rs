//! KuCoin client messages and one connection's topics. Pure: the session
//! does the I/O.
//!
//! See <https://www.kucoin.com/docs-new/websocket-api/base-info/introduction>:
//!
//! ```json
//! {"id":"1545910590801","type":"ping"}
//! {"id":"1545910660739","type":"subscribe","topic":"/market/match:BTC-USDT,ETH-USDT","privateChannel":false,"response":true}
//! {"id":"1545910840805","type":"unsubscribe","topic":"/market/ticker:all","privateChannel":false,"response":true}
//! ```

use serde_json::Value;

use crate::text::bounded;

/// Most symbols one topic may name (KuCoin: 100).
pub(crate) const MAX_SYMBOLS_PER_TOPIC: usize = 100;

/// A topic the simulator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Topic {
    /// `/market/match:<symbols>`.
    Match(Vec<usize>),
    /// `/market/level2:<symbols>`.
    Level2(Vec<usize>),
    /// `/market/ticker:<symbols>` (subject `trade.ticker`).
    Ticker(Vec<usize>),
    /// `/market/ticker:all` (subject = the symbol).
    TickerAll,
}

/// A parsed client message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// `ping`: answered with a `pong`, keeps the connection alive.
    Ping,
    /// `subscribe`; `ack` asked for (`response: true`).
    Subscribe { topic: Topic, ack: bool },
    /// `unsubscribe`.
    Unsubscribe { topic: Topic, ack: bool },
}

/// A client message and its id, kept as JSON text to be echoed verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// What it asks.
    pub(crate) message: Message,
    /// The `id`, as JSON.
    pub(crate) id: String,
}

/// A message that cannot be served: the `code` and `data` of the `error`
/// frame, and the id to echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejected {
    /// KuCoin's code: 400 bad request, 404 topic not found, 509 too many
    /// symbols in a topic.
    pub(crate) code: u32,
    /// The message.
    pub(crate) data: String,
    /// The request id, as JSON.
    pub(crate) id: String,
}

/// Parses a client frame. `fallback_id` (JSON text) is echoed when the
/// message has no usable `id`.
pub(crate) fn parse(text: &str, fallback_id: &str, product_index: impl Fn(&str) -> Option<usize>) -> Result<Request, Rejected> {
    let reject = |code, data: String, id: &str| Rejected { code, data, id: id.to_owned() };
    let v: Value = serde_json::from_str(text).map_err(|e| reject(400, format!("malformed JSON: {e}"), fallback_id))?;
    let obj = v.as_object().ok_or_else(|| reject(400, "message must be a JSON object".into(), fallback_id))?;
    let id = match obj.get("id") {
        Some(v @ Value::String(s)) if s.len() <= 256 => v.to_string(),
        Some(v @ Value::Number(n)) if n.is_u64() => v.to_string(),
        _ => fallback_id.to_owned(),
    };
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.as_str(),
        _ => return Err(reject(400, "missing \"type\"".into(), &id)),
    };
    if kind == "ping" {
        return Ok(Request { message: Message::Ping, id });
    }
    if kind != "subscribe" && kind != "unsubscribe" {
        return Err(reject(400, format!("unknown type {}", bounded(kind)), &id));
    }
    if obj.get("privateChannel").and_then(Value::as_bool) == Some(true) {
        return Err(reject(401, "a private channel needs a private token (bullet-private)".into(), &id));
    }
    let ack = obj.get("response").and_then(Value::as_bool).unwrap_or(false);
    let topic = match obj.get("topic") {
        Some(Value::String(t)) => parse_topic(t, &product_index).map_err(|(code, data)| reject(code, data, &id))?,
        _ => return Err(reject(400, "missing \"topic\"".into(), &id)),
    };
    let message = if kind == "subscribe" { Message::Subscribe { topic, ack } } else { Message::Unsubscribe { topic, ack } };
    Ok(Request { message, id })
}

/// Parses a topic, or gives the error frame's code and data.
fn parse_topic(topic: &str, product_index: &impl Fn(&str) -> Option<usize>) -> Result<Topic, (u32, String)> {
    let not_found = || (404, format!("topic {} is not found", bounded(topic)));
    let (channel, list) = topic.split_once(':').ok_or_else(not_found)?;
    if channel == "/market/ticker" && list == "all" {
        return Ok(Topic::TickerAll);
    }
    let symbols: Vec<&str> = list.split(',').collect();
    if symbols.len() > MAX_SYMBOLS_PER_TOPIC {
        return Err((509, format!("exceed max subscription count limitation of {MAX_SYMBOLS_PER_TOPIC} per time")));
    }
    let products: Vec<usize> = symbols.iter().map(|s| product_index(s)).collect::<Option<_>>().ok_or_else(not_found)?;
    match channel {
        "/market/match" => Ok(Topic::Match(products)),
        "/market/level2" => Ok(Topic::Level2(products)),
        "/market/ticker" => Ok(Topic::Ticker(products)),
        _ => Err(not_found()),
    }
}

/// Per product, from which event number each topic's frames go out (the
/// event at which its subscription took effect).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Feeds {
    /// `/market/match`.
    pub(crate) matches: Option<u64>,
    /// `/market/level2`.
    pub(crate) level2: Option<u64>,
    /// `/market/ticker:<symbol>`.
    pub(crate) ticker: Option<u64>,
}

/// One connection's topics.
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    feeds: Vec<Feeds>,
    ticker_all: Option<u64>,
}

impl Topics {
    /// No topics, for `products` products.
    pub(crate) fn new(products: usize) -> Self {
        Topics { feeds: vec![Feeds::default(); products], ticker_all: None }
    }

    /// A product's feeds (all off for an unknown index).
    pub(crate) fn feeds(&self, product: usize) -> Feeds {
        self.feeds.get(product).copied().unwrap_or_default()
    }

    /// From which event number `/market/ticker:all` goes out, if on.
    pub(crate) fn ticker_all(&self) -> Option<u64> {
        self.ticker_all
    }

    /// Subscribes (`on`) or unsubscribes a topic at event number `seq`; a
    /// feed already on keeps its position (nothing is sent twice).
    pub(crate) fn apply(&mut self, topic: &Topic, on: bool, seq: u64) {
        let set = |slot: &mut Option<u64>| *slot = if on { slot.or(Some(seq)) } else { None };
        let products = match topic {
            Topic::Match(p) | Topic::Level2(p) | Topic::Ticker(p) => p,
            Topic::TickerAll => return set(&mut self.ticker_all),
        };
        for &p in products {
            let Some(f) = self.feeds.get_mut(p) else { continue };
            set(match topic {
                Topic::Match(_) => &mut f.matches,
                Topic::Level2(_) => &mut f.level2,
                Topic::Ticker(_) | Topic::TickerAll => &mut f.ticker,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(id: &str) -> Option<usize> {
        ["BTC-USDT", "ETH-USDT", "BCHSV-USDT"].iter().position(|p| *p == id)
    }

    #[test]
    fn messages() {
        let r = parse(
            r#"{"id":"1","type":"subscribe","topic":"/market/match:BTC-USDT,BCHSV-USDT","privateChannel":false,"response":true}"#,
            "0",
            idx,
        )
        .unwrap();
        assert_eq!(r, Request { message: Message::Subscribe { topic: Topic::Match(vec![0, 2]), ack: true }, id: r#""1""#.into() });
        let r = parse(r#"{"id":7,"type":"unsubscribe","topic":"/market/ticker:all"}"#, "0", idx).unwrap();
        assert_eq!((r.message, r.id.as_str()), (Message::Unsubscribe { topic: Topic::TickerAll, ack: false }, "7"));
        assert_eq!(parse(r#"{"id":"p","type":"ping"}"#, "0", idx).unwrap().message, Message::Ping);
        assert_eq!(parse(r#"{"type":"subscribe","topic":"/market/level2:ETH-USDT"}"#, r#""c9""#, idx).unwrap().id, r#""c9""#);
        let many = (0..101).map(|_| "BTC-USDT").collect::<Vec<_>>().join(",");
        for (text, code) in [
            ("nope".to_owned(), 400),
            (r#"{"id":"1","type":"hello"}"#.to_owned(), 400),
            (r#"{"id":"1","type":"subscribe"}"#.to_owned(), 400),
            (r#"{"id":"1","type":"subscribe","topic":"/market/match:BTC-XYZ"}"#.to_owned(), 404),
            (r#"{"id":"1","type":"subscribe","topic":"/market/snapshot:BTC-USDT"}"#.to_owned(), 404),
            (r#"{"id":"1","type":"subscribe","topic":"/market/match"}"#.to_owned(), 404),
            (r#"{"id":"1","type":"subscribe","topic":"/market/match:"}"#.to_owned(), 404),
            (r#"{"id":"1","type":"subscribe","topic":"/market/level2:BTC-USDT","privateChannel":true}"#.to_owned(), 401),
            (format!(r#"{{"id":"1","type":"subscribe","topic":"/market/match:{many}"}}"#), 509),
        ] {
            assert_eq!(parse(&text, "0", idx).unwrap_err().code, code, "{text}");
        }
    }

    #[test]
    fn topics_keep_their_start() {
        let mut t = Topics::new(3);
        t.apply(&Topic::Match(vec![0, 1]), true, 5);
        t.apply(&Topic::Match(vec![1, 2]), true, 9);
        assert_eq!(t.feeds(1).matches, Some(5));
        assert_eq!(t.feeds(2).matches, Some(9));
        t.apply(&Topic::TickerAll, true, 11);
        assert_eq!(t.ticker_all(), Some(11));
        t.apply(&Topic::Match(vec![0]), false, 12);
        assert_eq!(t.feeds(0).matches, None);
        assert_eq!(t.feeds(9), Feeds::default());
    }
}
