//! Binance requests and one connection's streams. Pure: the session does
//! the I/O.
//!
//! See <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md#live-subscribingunsubscribing-to-streams>:
//!
//! ```json
//! {"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth"],"id":1}
//! {"method":"UNSUBSCRIBE","params":["btcusdt@depth"],"id":312}
//! {"method":"LIST_SUBSCRIPTIONS","id":3}
//! {"method":"SET_PROPERTY","params":["combined",true],"id":5}
//! {"method":"GET_PROPERTY","params":["combined"],"id":2}
//! ```

use std::collections::BTreeMap;

use serde_json::Value;

use crate::text::bounded;

/// Most streams one connection may hold (Binance: 1024).
pub(crate) const MAX_STREAMS: usize = 1024;

/// The array-of-every-symbol mini ticker stream.
pub(crate) const MINI_TICKER_ARR: &str = "!miniTicker@arr";

/// A stream of one symbol the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Channel {
    /// `<symbol>@aggTrade`.
    AggTrade,
    /// `<symbol>@depth@100ms`.
    Depth100ms,
    /// `<symbol>@depth` (1000 ms on Binance; here every update too).
    Depth,
    /// `<symbol>@bookTicker`.
    BookTicker,
}

impl Channel {
    /// The name after `@`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Channel::AggTrade => "aggTrade",
            Channel::Depth100ms => "depth@100ms",
            Channel::Depth => "depth",
            Channel::BookTicker => "bookTicker",
        }
    }

    fn parse(s: &str) -> Option<Channel> {
        [Channel::AggTrade, Channel::Depth100ms, Channel::Depth, Channel::BookTicker].into_iter().find(|c| c.as_str() == s)
    }
}

/// What a stream name refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A channel of product `usize`.
    Product(usize, Channel),
    /// A well-formed stream of a symbol the simulator does not list:
    /// accepted, and silent, as Binance accepts it.
    UnknownSymbol,
    /// `!miniTicker@arr`.
    MiniTickers,
}

/// Parses a stream name. Symbols are matched case-insensitively and the
/// name is normalized to Binance's lower case. `Err` for a channel the
/// simulator does not serve (or a malformed name).
pub(crate) fn parse_stream(name: &str, product_index: impl Fn(&str) -> Option<usize>) -> Result<(String, Target), String> {
    if name == MINI_TICKER_ARR {
        return Ok((name.to_owned(), Target::MiniTickers));
    }
    let invalid = || format!("Invalid request: invalid stream {}", bounded(name));
    let (symbol, channel) = name.split_once('@').ok_or_else(invalid)?;
    let channel = Channel::parse(channel).ok_or_else(invalid)?;
    if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid());
    }
    let lower = symbol.to_ascii_lowercase();
    let target = match product_index(&lower.to_ascii_uppercase()) {
        Some(p) => Target::Product(p, channel),
        None => Target::UnknownSymbol,
    };
    Ok((format!("{lower}@{}", channel.as_str()), target))
}

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Method {
    /// `SUBSCRIBE` these stream names.
    Subscribe(Vec<String>),
    /// `UNSUBSCRIBE` these stream names.
    Unsubscribe(Vec<String>),
    /// `LIST_SUBSCRIPTIONS`.
    List,
    /// `SET_PROPERTY ["combined", bool]`.
    SetCombined(bool),
    /// `GET_PROPERTY ["combined"]`.
    GetCombined,
}

/// A request and its id, kept as JSON text to be echoed verbatim.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    /// What to do.
    pub(crate) method: Method,
    /// The `id`, as JSON (`1`, `"abc"`, `null`).
    pub(crate) id: String,
}

/// A request that cannot be served: Binance's error `code` and `msg`, and
/// the request's id if it could be read (`null` otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejected {
    /// `0` unknown property, `1` invalid value type, `2` invalid request,
    /// `3` invalid JSON.
    pub(crate) code: i64,
    /// The message.
    pub(crate) msg: String,
    /// The request id, as JSON.
    pub(crate) id: String,
}

/// Parses a client frame.
pub(crate) fn parse(text: &str) -> Result<Request, Rejected> {
    let reject = |code, msg: String, id: &str| Rejected { code, msg, id: id.to_owned() };
    let v: Value = serde_json::from_str(text).map_err(|e| reject(3, format!("Invalid JSON: {e}"), "null"))?;
    let obj = v.as_object().ok_or_else(|| reject(2, "Invalid request: request must be a JSON object".into(), "null"))?;
    // Binance ids are unsigned integers or strings (or null).
    let id = match obj.get("id") {
        None | Some(Value::Null) => "null".to_owned(),
        Some(v @ Value::Number(n)) if n.is_u64() => v.to_string(),
        Some(v @ Value::String(s)) if s.len() <= 36 => v.to_string(),
        Some(_) => return Err(reject(2, "Invalid request: request ID must be an unsigned integer".into(), "null")),
    };
    let method = match obj.get("method") {
        Some(Value::String(m)) => m.as_str(),
        Some(_) => return Err(reject(2, "Invalid request: method must be a string".into(), &id)),
        None => return Err(reject(2, "Invalid request: missing field `method`".into(), &id)),
    };
    let params = match obj.get("params") {
        None | Some(Value::Null) => &[][..],
        Some(Value::Array(p)) => p.as_slice(),
        Some(_) => return Err(reject(2, "Invalid request: params must be an array".into(), &id)),
    };
    let names = || -> Result<Vec<String>, Rejected> {
        params
            .iter()
            .map(|p| p.as_str().map(str::to_owned).ok_or_else(|| reject(2, "Invalid request: stream names must be strings".into(), &id)))
            .collect()
    };
    let method = match method {
        "SUBSCRIBE" => Method::Subscribe(names()?),
        "UNSUBSCRIBE" => Method::Unsubscribe(names()?),
        "LIST_SUBSCRIPTIONS" => Method::List,
        "SET_PROPERTY" => match params {
            [Value::String(p), Value::Bool(b)] if p == "combined" => Method::SetCombined(*b),
            [Value::String(p), _] if p == "combined" => return Err(reject(1, "Invalid value type: expected Boolean".into(), &id)),
            _ => return Err(reject(0, "Unknown property".into(), &id)),
        },
        "GET_PROPERTY" => match params {
            [Value::String(p)] if p == "combined" => Method::GetCombined,
            _ => return Err(reject(0, "Unknown property".into(), &id)),
        },
        other => {
            return Err(reject(
                2,
                format!(
                    "Invalid request: unknown variant `{}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`",
                    bounded(other)
                ),
                &id,
            ))
        }
    };
    Ok(Request { method, id })
}

/// Per product, from which event number on each channel's frames go out
/// (the event at which its subscription took effect).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Feeds {
    /// `@aggTrade`.
    pub(crate) agg_trade: Option<u64>,
    /// `@depth@100ms`.
    pub(crate) depth_100ms: Option<u64>,
    /// `@depth`.
    pub(crate) depth: Option<u64>,
    /// `@bookTicker`.
    pub(crate) book_ticker: Option<u64>,
}

/// One connection's streams.
#[derive(Debug, Clone)]
pub(crate) struct Streams {
    /// Name -> what it is and the event number it took effect at.
    streams: BTreeMap<String, (Target, u64)>,
    feeds: Vec<Feeds>,
    mini_tickers: Option<u64>,
}

impl Streams {
    /// No streams, for `products` products.
    pub(crate) fn new(products: usize) -> Self {
        Streams { streams: BTreeMap::new(), feeds: vec![Feeds::default(); products], mini_tickers: None }
    }

    /// How many streams are held.
    pub(crate) fn len(&self) -> usize {
        self.streams.len()
    }

    /// A product's feeds (all off for an unknown index).
    pub(crate) fn feeds(&self, product: usize) -> Feeds {
        self.feeds.get(product).copied().unwrap_or_default()
    }

    /// From which event number `!miniTicker@arr` goes out, if it is on.
    pub(crate) fn mini_tickers(&self) -> Option<u64> {
        self.mini_tickers
    }

    /// How many of `names` are not held yet.
    pub(crate) fn new_count(&self, names: &[(String, Target)]) -> usize {
        let mut fresh: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).filter(|n| !self.streams.contains_key(*n)).collect();
        fresh.sort_unstable();
        fresh.dedup();
        fresh.len()
    }

    /// Adds streams at event number `seq`; a stream already held keeps its
    /// position (nothing is sent twice).
    pub(crate) fn subscribe(&mut self, names: Vec<(String, Target)>, seq: u64) {
        for (name, target) in names {
            self.streams.entry(name).or_insert((target, seq));
        }
        self.rebuild();
    }

    /// Removes streams (names not held are ignored, as on Binance).
    pub(crate) fn unsubscribe(&mut self, names: &[(String, Target)]) {
        for (name, _) in names {
            self.streams.remove(name);
        }
        self.rebuild();
    }

    /// The stream names, sorted.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.streams.keys().map(String::as_str)
    }

    fn rebuild(&mut self) {
        self.feeds.iter_mut().for_each(|f| *f = Feeds::default());
        self.mini_tickers = None;
        for &(target, from) in self.streams.values() {
            match target {
                Target::Product(p, channel) => {
                    let Some(f) = self.feeds.get_mut(p) else { continue };
                    let slot = match channel {
                        Channel::AggTrade => &mut f.agg_trade,
                        Channel::Depth100ms => &mut f.depth_100ms,
                        Channel::Depth => &mut f.depth,
                        Channel::BookTicker => &mut f.book_ticker,
                    };
                    *slot = Some(from);
                }
                Target::MiniTickers => self.mini_tickers = Some(from),
                Target::UnknownSymbol => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(id: &str) -> Option<usize> {
        ["BTCUSDT", "ETHUSDT"].iter().position(|p| *p == id)
    }

    #[test]
    fn stream_names() {
        assert_eq!(parse_stream("btcusdt@aggTrade", idx), Ok(("btcusdt@aggTrade".into(), Target::Product(0, Channel::AggTrade))));
        assert_eq!(parse_stream("ETHUSDT@depth@100ms", idx), Ok(("ethusdt@depth@100ms".into(), Target::Product(1, Channel::Depth100ms))));
        assert_eq!(parse_stream("ethusdt@depth", idx).unwrap().1, Target::Product(1, Channel::Depth));
        assert_eq!(parse_stream("ethusdt@bookTicker", idx).unwrap().1, Target::Product(1, Channel::BookTicker));
        assert_eq!(parse_stream("xyzusdt@aggTrade", idx).unwrap().1, Target::UnknownSymbol);
        assert_eq!(parse_stream("!miniTicker@arr", idx).unwrap().1, Target::MiniTickers);
        for bad in ["btcusdt", "btcusdt@trades", "@aggTrade", "btc usdt@aggTrade", "btcusdt@depth@250ms", "!ticker@arr", ""] {
            assert!(parse_stream(bad, idx).unwrap_err().contains("invalid stream"), "{bad}");
        }
    }

    #[test]
    fn requests() {
        let r = parse(r#"{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":1}"#).unwrap();
        assert_eq!((r.method, r.id.as_str()), (Method::Subscribe(vec!["btcusdt@aggTrade".into()]), "1"));
        assert_eq!(parse(r#"{"method":"LIST_SUBSCRIPTIONS","id":"x"}"#).unwrap().id, r#""x""#);
        assert_eq!(
            parse(r#"{"method":"UNSUBSCRIBE","params":[]}"#).unwrap(),
            Request { method: Method::Unsubscribe(vec![]), id: "null".into() }
        );
        assert_eq!(parse(r#"{"method":"SET_PROPERTY","params":["combined",false],"id":5}"#).unwrap().method, Method::SetCombined(false));
        assert_eq!(parse(r#"{"method":"GET_PROPERTY","params":["combined"],"id":2}"#).unwrap().method, Method::GetCombined);
        for (text, code, id) in [
            ("nope", 3, "null"),
            ("[1]", 2, "null"),
            (r#"{"params":[],"id":4}"#, 2, "4"),
            (r#"{"method":"SUBSCRIBE","params":"btcusdt@aggTrade","id":4}"#, 2, "4"),
            (r#"{"method":"SUBSCRIBE","params":[1],"id":4}"#, 2, "4"),
            (r#"{"method":"PING","id":4}"#, 2, "4"),
            (r#"{"method":"SUBSCRIBE","params":[],"id":-1}"#, 2, "null"),
            (r#"{"method":"SET_PROPERTY","params":["combined","yes"],"id":4}"#, 1, "4"),
            (r#"{"method":"GET_PROPERTY","params":["speed"],"id":4}"#, 0, "4"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!((e.code, e.id.as_str()), (code, id), "{text}: {}", e.msg);
        }
    }

    #[test]
    fn streams_keep_their_start_and_count() {
        let name = |n: &str| parse_stream(n, idx).unwrap();
        let mut s = Streams::new(2);
        s.subscribe(vec![name("btcusdt@aggTrade"), name("btcusdt@depth@100ms"), name("!miniTicker@arr")], 10);
        assert_eq!(s.feeds(0), Feeds { agg_trade: Some(10), depth_100ms: Some(10), depth: None, book_ticker: None });
        assert_eq!(s.mini_tickers(), Some(10));
        assert_eq!(s.new_count(&[name("btcusdt@aggTrade"), name("ethusdt@aggTrade"), name("ethusdt@aggTrade")]), 1);
        s.subscribe(vec![name("btcusdt@aggTrade"), name("ethusdt@bookTicker"), name("xyzusdt@depth")], 20);
        assert_eq!(s.feeds(0).agg_trade, Some(10), "resubscribing keeps the position");
        assert_eq!(s.feeds(1).book_ticker, Some(20));
        assert_eq!(s.len(), 5);
        s.unsubscribe(&[name("btcusdt@aggTrade"), name("!miniTicker@arr"), name("ethusdt@depth")]);
        assert_eq!(s.feeds(0).agg_trade, None);
        assert_eq!(s.mini_tickers(), None);
        assert_eq!(s.names().collect::<Vec<_>>(), ["btcusdt@depth@100ms", "ethusdt@bookTicker", "xyzusdt@depth"]);
    }
}
