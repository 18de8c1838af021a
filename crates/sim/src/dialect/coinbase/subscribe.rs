//! Client requests (`subscribe`, `unsubscribe`) and one connection's
//! subscription state. Pure: the session does the I/O.
//!
//! See <https://docs.cdp.coinbase.com/exchange/docs/websocket-overview#subscribe>:
//!
//! ```json
//! {"type":"subscribe","product_ids":["ETH-USD"],"channels":["level2_batch",{"name":"ticker","product_ids":["ETH-BTC"]}]}
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// A channel the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Channel {
    /// `level2`: snapshot, then every book change.
    Level2,
    /// `level2_batch`: the same, batched (here: identical).
    Level2Batch,
    /// `level2_50`: the same, 50 levels (the simulated book is ~50 deep).
    Level2_50,
    /// `matches`: `last_match`, then every trade.
    Matches,
    /// `ticker`.
    Ticker,
    /// `ticker_batch` (here: identical to `ticker`).
    TickerBatch,
    /// `heartbeat`: one per product per second.
    Heartbeat,
}

impl Channel {
    const ALL: [Channel; 7] = [
        Channel::Level2,
        Channel::Level2Batch,
        Channel::Level2_50,
        Channel::Matches,
        Channel::Ticker,
        Channel::TickerBatch,
        Channel::Heartbeat,
    ];

    /// The wire name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Channel::Level2 => "level2",
            Channel::Level2Batch => "level2_batch",
            Channel::Level2_50 => "level2_50",
            Channel::Matches => "matches",
            Channel::Ticker => "ticker",
            Channel::TickerBatch => "ticker_batch",
            Channel::Heartbeat => "heartbeat",
        }
    }

    fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Which stream of frames the channel carries.
    pub(crate) fn feed(self) -> Feed {
        match self {
            Channel::Level2 | Channel::Level2Batch | Channel::Level2_50 => Feed::Book,
            Channel::Matches => Feed::Matches,
            Channel::Ticker | Channel::TickerBatch => Feed::Ticker,
            Channel::Heartbeat => Feed::Heartbeat,
        }
    }
}

/// The kinds of frames a product can be subscribed to, however many
/// channels carry them: a product on both `level2` and `level2_batch` still
/// gets each update once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Feed {
    /// `snapshot` + `l2update`.
    Book,
    /// `last_match` + `match`.
    Matches,
    /// `ticker`.
    Ticker,
    /// `heartbeat`.
    Heartbeat,
}

/// Subscribe or unsubscribe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `subscribe`.
    Subscribe,
    /// `unsubscribe`.
    Unsubscribe,
}

/// A parsed, validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// What to do.
    pub(crate) op: Op,
    /// Channel and product index pairs named.
    pub(crate) pairs: Vec<(Channel, usize)>,
    /// Channels named without any product: an unsubscribe from the whole channel.
    pub(crate) whole: Vec<Channel>,
}

/// Parses a client frame. `Err` is the `reason` of the error frame to send.
pub(crate) fn parse(text: &str, product_index: impl Fn(&str) -> Option<usize>) -> Result<Request, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))?;
    let obj = v.as_object().ok_or("message must be a JSON object")?;
    let op = match obj.get("type") {
        None => return Err("missing \"type\"".into()),
        Some(Value::String(t)) if t == "subscribe" => Op::Subscribe,
        Some(Value::String(t)) if t == "unsubscribe" => Op::Unsubscribe,
        Some(other) => return Err(format!("unknown message type {}", bounded(&other.to_string()))),
    };
    let products = |v: Option<&Value>, field: &str| -> Result<Vec<usize>, String> {
        match v {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    let id = item.as_str().ok_or_else(|| format!("{field} must hold strings"))?;
                    product_index(id).ok_or_else(|| format!("{} is not a valid product", bounded(id)))
                })
                .collect(),
            Some(_) => Err(format!("{field} must be an array")),
        }
    };
    let top = products(obj.get("product_ids"), "product_ids")?;
    let channels = match obj.get("channels") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        Some(Value::Array(_)) | None | Some(Value::Null) => return Err("No channels provided".into()),
        Some(_) => return Err("channels must be an array".into()),
    };
    let mut req = Request { op, pairs: Vec::new(), whole: Vec::new() };
    for entry in channels {
        let (name, own) = match entry {
            Value::String(name) => (name.as_str(), Vec::new()),
            Value::Object(o) => match o.get("name") {
                Some(Value::String(name)) => (name.as_str(), products(o.get("product_ids"), "channels.product_ids")?),
                _ => return Err("a channel object needs a \"name\"".into()),
            },
            _ => return Err("channels must be names or {\"name\",\"product_ids\"} objects".into()),
        };
        let channel = Channel::parse(name).ok_or_else(|| format!("{} is not a valid channel", bounded(name)))?;
        let named: Vec<usize> = if own.is_empty() { top.clone() } else { own };
        if named.is_empty() {
            match op {
                Op::Subscribe => return Err(format!("No product ids provided for channel {}", channel.as_str())),
                Op::Unsubscribe => req.whole.push(channel),
            }
        }
        req.pairs.extend(named.into_iter().map(|p| (channel, p)));
    }
    Ok(req)
}

/// At most 64 characters of client input, for an error reason.
fn bounded(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Which market frames of one product a connection receives, and from
/// which event on (the event its snapshot or `last_match` reflects).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ProductFeeds {
    /// `l2update`s with a later event number, if subscribed.
    pub(crate) book_from: Option<u64>,
    /// `match`es with a later event number, if subscribed.
    pub(crate) matches_from: Option<u64>,
    /// `ticker`s with a later event number, if subscribed.
    pub(crate) ticker_from: Option<u64>,
    /// Whether heartbeats are sent for it.
    pub(crate) heartbeat: bool,
}

/// One connection's subscriptions.
#[derive(Debug, Clone)]
pub(crate) struct Subscriptions {
    channels: BTreeMap<Channel, BTreeSet<usize>>,
    feeds: Vec<ProductFeeds>,
}

impl Subscriptions {
    /// No subscriptions, for `products` products.
    pub(crate) fn new(products: usize) -> Self {
        Subscriptions { channels: BTreeMap::new(), feeds: vec![ProductFeeds::default(); products] }
    }

    /// A product's feeds (all off for an unknown index).
    pub(crate) fn feeds(&self, product: usize) -> ProductFeeds {
        self.feeds.get(product).copied().unwrap_or_default()
    }

    /// Whether any product gets heartbeats.
    pub(crate) fn any_heartbeat(&self) -> bool {
        self.feeds.iter().any(|f| f.heartbeat)
    }

    /// Applies a request at event number `seq`. Returns the products whose
    /// book and whose matches were (re)subscribed, which need a `snapshot`
    /// and a `last_match`: every product named on a book channel gets a
    /// fresh snapshot, even if it was already subscribed, so subscribing
    /// again is a way to resync.
    pub(crate) fn apply(&mut self, req: &Request, seq: u64) -> (Vec<usize>, Vec<usize>) {
        let (mut books, mut matches) = (BTreeSet::new(), BTreeSet::new());
        match req.op {
            Op::Subscribe => {
                for &(channel, p) in &req.pairs {
                    let fresh = self.channels.entry(channel).or_default().insert(p);
                    match channel.feed() {
                        Feed::Book => {
                            books.insert(p);
                        }
                        Feed::Matches if fresh && self.feeds(p).matches_from.is_none() => {
                            matches.insert(p);
                        }
                        _ => {}
                    }
                }
            }
            Op::Unsubscribe => {
                for &(channel, p) in &req.pairs {
                    if let Some(set) = self.channels.get_mut(&channel) {
                        set.remove(&p);
                    }
                }
                for channel in &req.whole {
                    self.channels.remove(channel);
                }
                self.channels.retain(|_, set| !set.is_empty());
            }
        }
        for (p, feeds) in self.feeds.iter_mut().enumerate() {
            let on = |feed: Feed| self.channels.iter().any(|(c, set)| c.feed() == feed && set.contains(&p));
            let keep = |on: bool, from: Option<u64>, fresh: bool| match (on, fresh) {
                (false, _) => None,
                (true, true) => Some(seq),
                (true, false) => from.or(Some(seq)),
            };
            feeds.book_from = keep(on(Feed::Book), feeds.book_from, books.contains(&p));
            feeds.matches_from = keep(on(Feed::Matches), feeds.matches_from, matches.contains(&p));
            feeds.ticker_from = keep(on(Feed::Ticker), feeds.ticker_from, false);
            feeds.heartbeat = on(Feed::Heartbeat);
        }
        (books.into_iter().collect(), matches.into_iter().collect())
    }

    /// The `subscriptions` acknowledgement's channel list.
    pub(crate) fn listing<'a>(&self, ids: &'a [String]) -> Vec<(&'static str, Vec<&'a str>)> {
        self.channels.iter().map(|(c, set)| (c.as_str(), set.iter().filter_map(|&p| ids.get(p).map(String::as_str)).collect())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(id: &str) -> Option<usize> {
        ["BTC-USD", "ETH-USD", "SOL-USD"].iter().position(|p| *p == id)
    }

    #[test]
    fn parses_names_and_objects() {
        let r = parse(
            r#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channels":["matches",{"name":"level2_batch","product_ids":["SOL-USD"]}]}"#,
            idx,
        )
        .unwrap();
        assert_eq!(r.op, Op::Subscribe);
        assert_eq!(r.pairs, vec![(Channel::Matches, 0), (Channel::Matches, 1), (Channel::Level2Batch, 2)]);
        let r = parse(r#"{"type":"unsubscribe","channels":["heartbeat"]}"#, idx).unwrap();
        assert_eq!((r.op, r.whole), (Op::Unsubscribe, vec![Channel::Heartbeat]));
    }

    #[test]
    fn bad_requests_have_reasons() {
        for (text, reason) in [
            ("nope", "malformed JSON"),
            ("[1]", "JSON object"),
            (r#"{"product_ids":["BTC-USD"],"channels":["matches"]}"#, "missing \"type\""),
            (r#"{"type":"hello","channels":["matches"]}"#, "unknown message type"),
            (r#"{"type":"subscribe","product_ids":["BTC-XYZ"],"channels":["matches"]}"#, "BTC-XYZ is not a valid product"),
            (r#"{"type":"subscribe","product_ids":["BTC-USD"],"channels":["full_of_beans"]}"#, "full_of_beans is not a valid channel"),
            (r#"{"type":"subscribe","product_ids":["BTC-USD"],"channels":[]}"#, "No channels provided"),
            (r#"{"type":"subscribe","channels":["matches"]}"#, "No product ids provided"),
            (r#"{"type":"subscribe","product_ids":"BTC-USD","channels":["matches"]}"#, "must be an array"),
            (r#"{"type":"subscribe","product_ids":[1],"channels":["matches"]}"#, "must hold strings"),
            (r#"{"type":"subscribe","product_ids":["BTC-USD"],"channels":[{"product_ids":[]}]}"#, "needs a \"name\""),
        ] {
            let err = parse(text, idx).unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn resubscribing_a_book_asks_for_a_fresh_snapshot() {
        let mut s = Subscriptions::new(3);
        let sub =
            parse(r#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channels":["level2_batch","matches","heartbeat"]}"#, idx)
                .unwrap();
        assert_eq!(s.apply(&sub, 10), (vec![0, 1], vec![0, 1]));
        assert_eq!(s.feeds(0), ProductFeeds { book_from: Some(10), matches_from: Some(10), ticker_from: None, heartbeat: true });
        let unsub = parse(r#"{"type":"unsubscribe","product_ids":["ETH-USD"],"channels":["level2_batch"]}"#, idx).unwrap();
        assert_eq!(s.apply(&unsub, 20), (vec![], vec![]));
        assert_eq!(s.feeds(1).book_from, None);
        assert_eq!(s.feeds(1).matches_from, Some(10), "other channels untouched");
        let again = parse(r#"{"type":"subscribe","product_ids":["ETH-USD"],"channels":["level2_batch","matches"]}"#, idx).unwrap();
        assert_eq!(s.apply(&again, 30), (vec![1], vec![]), "matches already on: no second last_match");
        assert_eq!(s.feeds(1).book_from, Some(30));
        assert_eq!(s.feeds(0).book_from, Some(10));
        let ids = ["BTC-USD".to_owned(), "ETH-USD".to_owned(), "SOL-USD".to_owned()];
        let listing = s.listing(&ids);
        assert_eq!(listing[0], ("level2_batch", vec!["BTC-USD", "ETH-USD"]));
        let all_hb = parse(r#"{"type":"unsubscribe","channels":["heartbeat"]}"#, idx).unwrap();
        s.apply(&all_hb, 40);
        assert!(!s.any_heartbeat());
    }
}
