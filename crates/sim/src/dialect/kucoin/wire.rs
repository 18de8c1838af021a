//! KuCoin spot frames and REST bodies, rendered by hand.
//!
//! Shapes follow KuCoin's docs (websocket introduction, spot public
//! channels `/market/match`, `/market/level2`, `/market/ticker`, REST
//! market data) and the decoder in `marketpipe-venues` (`kucoin/*.rs`):
//! every message is `{"type":"message","topic":…,"subject":…,"data":{…}}`
//! with `data` last (the decoder parses it in place once it knows the
//! topic); decimals are strings; trade times are nanoseconds as a string,
//! book and ticker times milliseconds; REST bodies are wrapped in
//! `{"code":"200000","data":…}`.

use std::fmt::Write as _;

use crate::{
    market::{Change, Side, TickerRec, TradeRec},
    products::{ProductSpec, SIZE_SCALE},
    text::{millis, mix, push_fixed, push_json_string},
};

/// KuCoin's success code.
pub(crate) const OK: &str = "200000";

/// Offset that makes every simulated trade id a 17-digit string, like
/// KuCoin's current ids (`"11067996711960577"`): ids stay opaque to a
/// client, but equal-length digit strings also sort as their numbers.
const TRADE_ID_BASE: u64 = 10_000_000_000_000_000;

/// The `tradeId` of simulated trade `id`.
pub(crate) fn trade_id(id: u64) -> String {
    (TRADE_ID_BASE + id).to_string()
}

fn push_price(out: &mut String, spec: &ProductSpec, ticks: u64) {
    out.push('"');
    push_fixed(out, ticks, spec.price_scale);
    out.push('"');
}

fn push_size(out: &mut String, units: impl Into<u128>) {
    out.push('"');
    push_fixed(out, units, SIZE_SCALE);
    out.push('"');
}

/// A 24-hex-digit order id derived from a trade (KuCoin's object-id shape).
fn push_order_id(out: &mut String, product: usize, trade: u64, taker: bool) {
    let x = mix((trade << 1 | u64::from(taker)) ^ (product as u64).rotate_left(40));
    let _ = write!(out, "\"{:08x}{:016x}\"", (x >> 32) as u32 ^ 0x6710_0000, mix(x));
}

/// Opens a message frame: everything up to and including `"data":`.
/// Returns where the payload starts.
fn open_message(s: &mut String, topic: &str, subject: &str) -> usize {
    s.push_str(r#"{"type":"message","topic":"#);
    push_json_string(s, topic);
    s.push_str(r#","subject":"#);
    push_json_string(s, subject);
    s.push_str(r#","data":"#);
    s.len()
}

/// Wraps an already rendered payload in a message frame (for a topic the
/// frame was not rendered for, such as `/market/ticker:BTC-USDT`).
pub(crate) fn message(topic: &str, subject: &str, payload: &str) -> String {
    let mut s = String::with_capacity(payload.len() + topic.len() + subject.len() + 48);
    open_message(&mut s, topic, subject);
    s.push_str(payload);
    s.push('}');
    s
}

/// `/market/match:<symbol>` (subject `trade.l3match`): one trade; `side`
/// is the **taker's**. Returns the frame and where its payload starts.
pub(crate) fn trade(spec: &ProductSpec, product: usize, t: &TradeRec) -> (String, usize) {
    let mut s = String::with_capacity(400);
    let at = open_message(&mut s, &format!("/market/match:{}", spec.id), "trade.l3match");
    let id = trade_id(t.id);
    s.push_str(r#"{"makerOrderId":"#);
    push_order_id(&mut s, product, t.id, false);
    s.push_str(r#","price":"#);
    push_price(&mut s, spec, t.price);
    let _ = write!(s, r#","sequence":"{id}","side":"{}","size":"#, t.maker.opposite().as_str());
    push_size(&mut s, t.size);
    let _ = write!(s, r#","symbol":"{}","takerOrderId":"#, spec.id);
    push_order_id(&mut s, product, t.id, true);
    let _ = write!(s, r#","time":"{}","tradeId":"{id}","type":"match"}}}}"#, t.time_ns.max(0));
    (s, at)
}

/// `/market/level2:<symbol>` (subject `trade.l2update`): the changes of
/// sequences `first..`, one sequence per change in generation order, each
/// `[price, new size, sequence]`, asks and bids apart.
pub(crate) fn level2(spec: &ProductSpec, changes: &[Change], first: u64, time_ns: i64) -> (String, usize) {
    let mut s = String::with_capacity(200 + 56 * changes.len());
    let at = open_message(&mut s, &format!("/market/level2:{}", spec.id), "trade.l2update");
    s.push_str(r#"{"changes":{"#);
    for (key, side) in [(r#""asks":["#, Side::Sell), (r#"],"bids":["#, Side::Buy)] {
        s.push_str(key);
        let mut n = 0;
        for (i, c) in changes.iter().enumerate().filter(|(_, c)| c.side == side) {
            s.push_str(if n == 0 { "[" } else { ",[" });
            push_price(&mut s, spec, c.price);
            s.push(',');
            push_size(&mut s, c.size);
            let _ = write!(s, r#","{}"]"#, first + i as u64);
            n += 1;
        }
    }
    let last = first + changes.len() as u64 - 1;
    let _ = write!(s, r#"]}},"sequenceEnd":{last},"sequenceStart":{first},"symbol":"{}","time":{}}}}}"#, spec.id, millis(time_ns));
    (s, at)
}

/// `/market/ticker:all` (subject = the symbol): best bid and ask, the last
/// trade, the book sequence, the trade's time in milliseconds.
pub(crate) fn ticker(spec: &ProductSpec, t: &TickerRec, sequence: u64) -> (String, usize) {
    let mut s = String::with_capacity(300);
    let at = open_message(&mut s, "/market/ticker:all", &spec.id);
    s.push_str(r#"{"bestAsk":"#);
    push_price(&mut s, spec, t.best_ask.0);
    s.push_str(r#","bestAskSize":"#);
    push_size(&mut s, t.best_ask.1);
    s.push_str(r#","bestBid":"#);
    push_price(&mut s, spec, t.best_bid.0);
    s.push_str(r#","bestBidSize":"#);
    push_size(&mut s, t.best_bid.1);
    s.push_str(r#","price":"#);
    push_price(&mut s, spec, t.last.price);
    let _ = write!(s, r#","sequence":"{sequence}","size":"#);
    push_size(&mut s, t.last.size);
    let _ = write!(s, r#","time":{}}}}}"#, millis(t.last.time_ns));
    (s, at)
}

/// `welcome`, sent first on a connection.
pub(crate) fn welcome(id: &str) -> String {
    let mut s = String::from(r#"{"id":"#);
    push_json_string(&mut s, id);
    s.push_str(r#","type":"welcome"}"#);
    s
}

/// `ack` or `pong` for the request whose id (JSON text) is `id`.
pub(crate) fn reply(kind: &str, id: &str) -> String {
    format!(r#"{{"id":{id},"type":"{kind}"}}"#)
}

/// `error`: `{"id":…,"type":"error","code":404,"data":"…"}`.
pub(crate) fn error(id: &str, code: u32, data: &str) -> String {
    let mut s = format!(r#"{{"id":{id},"type":"error","code":{code},"data":"#);
    push_json_string(&mut s, data);
    s.push('}');
    s
}

/// A successful REST body around `data` (JSON text).
pub(crate) fn ok(data: &str) -> String {
    format!(r#"{{"code":"{OK}","data":{data}}}"#)
}

/// A REST error body: `{"code":"400100","msg":"…"}`.
pub(crate) fn rest_error(code: &str, msg: &str) -> String {
    let mut s = format!(r#"{{"code":"{code}","msg":"#);
    push_json_string(&mut s, msg);
    s.push('}');
    s
}

/// One symbol of `GET /api/v2/symbols`. `name` is the display name
/// (`BSV-USDT` for native `BCHSV-USDT`).
pub(crate) fn symbol(spec: &ProductSpec) -> String {
    let mut increment = String::new();
    push_fixed(&mut increment, 1u64, spec.price_scale);
    format!(
        concat!(
            r#"{{"symbol":"{id}","name":"{base}-{quote}","baseCurrency":"{base}","quoteCurrency":"{quote}","#,
            r#""feeCurrency":"{quote}","market":"USDS","baseMinSize":"0.00001","quoteMinSize":"0.1","#,
            r#""baseMaxSize":"10000000000","quoteMaxSize":"99999999","baseIncrement":"0.00000001","#,
            r#""quoteIncrement":"{inc}","priceIncrement":"{inc}","priceLimitRate":"0.1","minFunds":"0.1","#,
            r#""isMarginEnabled":true,"enableTrading":true,"feeCategory":1,"makerFeeCoefficient":"1.00","#,
            r#""takerFeeCoefficient":"1.00","st":false}}"#
        ),
        id = spec.id,
        base = spec.base,
        quote = spec.quote,
        inc = increment,
    )
}

/// The body of `GET /api/v2/symbols`.
pub(crate) fn symbols(specs: &[ProductSpec]) -> String {
    let items: Vec<String> = specs.iter().map(symbol).collect();
    ok(&format!("[{}]", items.join(",")))
}

/// The body of a level-2 snapshot: the book at `sequence`, best first.
pub(crate) fn orderbook(spec: &ProductSpec, sequence: u64, time_ns: i64, bids: &[(u64, u64)], asks: &[(u64, u64)]) -> String {
    let mut s = String::with_capacity(96 + 40 * (bids.len() + asks.len()));
    let _ = write!(s, r#"{{"code":"{OK}","data":{{"time":{},"sequence":"{sequence}""#, millis(time_ns));
    for (key, levels) in [(r#","bids":["#, bids), (r#"],"asks":["#, asks)] {
        s.push_str(key);
        for (i, &(price, size)) in levels.iter().enumerate() {
            s.push_str(if i == 0 { "[" } else { ",[" });
            push_price(&mut s, spec, price);
            s.push(',');
            push_size(&mut s, size);
            s.push(']');
        }
    }
    s.push_str("]}}");
    s
}

/// The body of `GET /api/v1/market/histories`: trades oldest first, `side`
/// the taker's, `time` nanoseconds.
pub(crate) fn histories(spec: &ProductSpec, trades: &[TradeRec]) -> String {
    let mut s = String::with_capacity(32 + 120 * trades.len());
    let _ = write!(s, r#"{{"code":"{OK}","data":["#);
    for (i, t) in trades.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, r#"{{"sequence":"{}","price":"#, trade_id(t.id));
        push_price(&mut s, spec, t.price);
        s.push_str(r#","size":"#);
        push_size(&mut s, t.size);
        let _ = write!(s, r#","side":"{}","time":{}}}"#, t.maker.opposite().as_str(), t.time_ns.max(0));
    }
    s.push_str("]}");
    s
}

/// The body of `POST /api/v1/bullet-public`.
pub(crate) fn bullet(token: &str, endpoint: &str, ping_interval_ms: u128, ping_timeout_ms: u128) -> String {
    let mut s = String::from(r#"{"code":"200000","data":{"token":"#);
    push_json_string(&mut s, token);
    s.push_str(r#","instanceServers":[{"endpoint":"#);
    push_json_string(&mut s, endpoint);
    let _ =
        write!(s, r#","encrypt":false,"protocol":"websocket","pingInterval":{ping_interval_ms},"pingTimeout":{ping_timeout_ms}}}]}}}}"#);
    s
}

/// A malformed frame to send beside a real one; `variant` picks the kind.
/// Any trade id in it is one the client has already seen, and none can
/// pass for a book increment.
pub(crate) fn malformed(variant: u32, original: &str, spec: &ProductSpec, trade: u64, time_ns: i64) -> String {
    match variant % 4 {
        0 => {
            // Truncated JSON: the frame cut in half (frames are ASCII).
            let cut = (original.len() / 2).max(1);
            original.get(..cut).unwrap_or("{").to_owned()
        }
        1 => format!(
            r#"{{"type":"message","topic":"/market/match:{id}","subject":"trade.l3match","data":{{"price":"NaN","sequence":"{t}","side":"buy","size":"1","symbol":"{id}","time":"{}","tradeId":"{t}","type":"match"}}}}"#,
            time_ns.max(0),
            id = spec.id,
            t = trade_id(trade),
        ),
        2 => "<html><body><h1>502 Bad Gateway</h1></body></html>".to_owned(),
        _ => format!(
            r#"{{"type":"message","topic":"/market/level2:{id}","subject":"trade.l2update","data":{{"changes":{{"asks":[["-1.00","abc","1"]],"bids":[]}},"sequenceEnd":1,"sequenceStart":1,"symbol":"{id}","time":{}}}}}"#,
            millis(time_ns),
            id = spec.id,
        ),
    }
}
