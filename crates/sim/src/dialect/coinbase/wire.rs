//! Coinbase Exchange frames and REST bodies, rendered by hand.
//!
//! Shapes follow <https://docs.cdp.coinbase.com/exchange/docs/websocket-channels>
//! and the decoder in `marketpipe-venues` (`coinbase/*.rs`): `type` is the
//! first key (the decoder's fast path relies on it, as Coinbase does it),
//! decimals are strings, times are RFC 3339 with microseconds and `Z`,
//! trade ids are JSON numbers. Rendering is hand-written because it runs for
//! every frame on the generator's hot path; the tests parse the output back.

use std::fmt::Write as _;

pub(crate) use crate::text::push_json_string;
use crate::{
    market::{Change, TickerRec, TradeRec},
    products::ProductSpec,
    text::{push_fixed, push_price, push_size},
};

/// Appends a Unix-nanosecond time as RFC 3339 UTC with microseconds and
/// `Z`, as Coinbase sends (`2026-01-01T00:00:00.123456Z`).
pub(crate) fn push_time(out: &mut String, ns: i64) {
    let t = marketpipe_model::Timestamp(ns).utc_parts();
    let _ = write!(out, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", t.year, t.month, t.day, t.hour, t.minute, t.second, t.nanos / 1_000);
}

/// A deterministic UUID-shaped order id for one side of a trade (the
/// decoder ignores order ids; they only have to look right).
fn push_order_id(out: &mut String, product: usize, trade_id: u64, taker: bool) {
    let x = (trade_id << 1 | u64::from(taker)) ^ (product as u64).rotate_left(40);
    // splitmix64, two steps
    let (a, b) = (crate::text::mix(x), crate::text::mix(x.wrapping_add(0x9E37_79B9_7F4A_7C15)));
    let _ = write!(
        out,
        "\"{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}\"",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    );
}

/// The product object of `GET /products` and `GET /products/{id}`.
pub(crate) fn product_json(spec: &ProductSpec) -> String {
    let mut quote_increment = String::new();
    push_fixed(&mut quote_increment, 1u64, spec.price_scale);
    format!(
        concat!(
            r#"{{"id":"{id}","base_currency":"{base}","quote_currency":"{quote}","quote_increment":"{qi}","#,
            r#""base_increment":"0.00000001","display_name":"{base}/{quote}","min_market_funds":"1","#,
            r#""margin_enabled":false,"post_only":false,"limit_only":false,"cancel_only":false,"#,
            r#""status":"online","status_message":"","auction_mode":false,"trading_disabled":false,"#,
            r#""fx_stablecoin":false,"max_slippage_percentage":"0.02000000"}}"#
        ),
        id = spec.id,
        base = spec.base,
        quote = spec.quote,
        qi = quote_increment,
    )
}

/// The body of `GET /products`.
pub(crate) fn products_json(specs: &[ProductSpec]) -> String {
    let items: Vec<String> = specs.iter().map(product_json).collect();
    format!("[{}]", items.join(","))
}

/// `snapshot`: the whole book, bids and asks best first.
pub(crate) fn snapshot(spec: &ProductSpec, bids: &[(u64, u64)], asks: &[(u64, u64)], time_ns: i64) -> String {
    let mut s = String::with_capacity(96 + 32 * (bids.len() + asks.len()));
    s.push_str(r#"{"type":"snapshot","product_id":""#);
    s.push_str(&spec.id);
    for (key, levels) in [(r#"","bids":["#, bids), (r#"],"asks":["#, asks)] {
        s.push_str(key);
        for (i, &(price, size)) in levels.iter().enumerate() {
            s.push_str(if i == 0 { "[" } else { ",[" });
            push_price(&mut s, spec, price);
            s.push(',');
            push_size(&mut s, size);
            s.push(']');
        }
    }
    s.push_str(r#"],"time":""#);
    push_time(&mut s, time_ns);
    s.push_str("\"}");
    s
}

/// `l2update`: level changes, `[side, price, new size]`.
pub(crate) fn l2update(spec: &ProductSpec, changes: &[Change], time_ns: i64) -> String {
    let mut s = String::with_capacity(128 + 40 * changes.len());
    s.push_str(r#"{"type":"l2update","product_id":""#);
    s.push_str(&spec.id);
    s.push_str(r#"","changes":["#);
    for (i, c) in changes.iter().enumerate() {
        s.push_str(if i == 0 { "[\"" } else { ",[\"" });
        s.push_str(c.side.as_str());
        s.push_str("\",");
        push_price(&mut s, spec, c.price);
        s.push(',');
        push_size(&mut s, c.size);
        s.push(']');
    }
    s.push_str(r#"],"time":""#);
    push_time(&mut s, time_ns);
    s.push_str("\"}");
    s
}

/// `match` (or `last_match`): one trade; `side` is the maker's.
pub(crate) fn trade(spec: &ProductSpec, product: usize, t: &TradeRec, sequence: u64, last: bool) -> String {
    let mut s = String::with_capacity(320);
    s.push_str(if last { r#"{"type":"last_match","trade_id":"# } else { r#"{"type":"match","trade_id":"# });
    let _ = write!(s, "{}", t.id);
    s.push_str(r#","maker_order_id":"#);
    push_order_id(&mut s, product, t.id, false);
    s.push_str(r#","taker_order_id":"#);
    push_order_id(&mut s, product, t.id, true);
    s.push_str(r#","side":""#);
    s.push_str(t.maker.as_str());
    s.push_str(r#"","size":"#);
    push_size(&mut s, t.size);
    s.push_str(r#","price":"#);
    push_price(&mut s, spec, t.price);
    s.push_str(r#","product_id":""#);
    s.push_str(&spec.id);
    let _ = write!(s, r#"","sequence":{sequence},"time":""#);
    push_time(&mut s, t.time_ns);
    s.push_str("\"}");
    s
}

/// `ticker`: the product summary after a trade. Its `side` is the taker's
/// (unlike `match`), as on Coinbase.
pub(crate) fn ticker(spec: &ProductSpec, t: &TickerRec, sequence: u64) -> String {
    let mut s = String::with_capacity(420);
    let _ = write!(s, r#"{{"type":"ticker","sequence":{sequence},"product_id":"{}","price":"#, spec.id);
    push_price(&mut s, spec, t.last.price);
    for (key, value) in [(r#","open_24h":"#, t.open), (r#","low_24h":"#, t.low), (r#","high_24h":"#, t.high)] {
        s.push_str(key);
        push_price(&mut s, spec, value);
    }
    s.push_str(r#","volume_24h":"#);
    push_size(&mut s, t.volume);
    s.push_str(r#","volume_30d":"#);
    push_size(&mut s, t.volume);
    s.push_str(r#","best_bid":"#);
    push_price(&mut s, spec, t.best_bid.0);
    s.push_str(r#","best_bid_size":"#);
    push_size(&mut s, t.best_bid.1);
    s.push_str(r#","best_ask":"#);
    push_price(&mut s, spec, t.best_ask.0);
    s.push_str(r#","best_ask_size":"#);
    push_size(&mut s, t.best_ask.1);
    s.push_str(r#","side":""#);
    s.push_str(t.last.maker.opposite().as_str());
    s.push_str(r#"","time":""#);
    push_time(&mut s, t.last.time_ns);
    let _ = write!(s, r#"","trade_id":{},"last_size":"#, t.last.id);
    push_size(&mut s, t.last.size);
    s.push('}');
    s
}

/// `heartbeat`. `last_trade_id` is left out while the product has had no
/// trade (a made-up 0 would look like a gap to a client).
pub(crate) fn heartbeat(spec: &ProductSpec, last_trade_id: Option<u64>, sequence: u64, time_ns: i64) -> String {
    let mut s = String::with_capacity(160);
    s.push_str(r#"{"type":"heartbeat""#);
    if let Some(id) = last_trade_id {
        let _ = write!(s, r#","last_trade_id":{id}"#);
    }
    let _ = write!(s, r#","product_id":"{}","sequence":{sequence},"time":""#, spec.id);
    push_time(&mut s, time_ns);
    s.push_str("\"}");
    s
}

/// `subscriptions`: the full set of channels now subscribed, each with its
/// product ids.
pub(crate) fn subscriptions(channels: &[(&str, Vec<&str>)]) -> String {
    let mut s = String::from(r#"{"type":"subscriptions","channels":["#);
    for (i, (name, products)) in channels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(r#"{"name":"#);
        push_json_string(&mut s, name);
        s.push_str(r#","product_ids":["#);
        for (j, p) in products.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            push_json_string(&mut s, p);
        }
        s.push_str(r#"],"account_ids":null}"#);
    }
    s.push_str("]}");
    s
}

/// `error`, as Coinbase reports a bad request.
pub(crate) fn error(message: &str, reason: &str) -> String {
    let mut s = String::from(r#"{"type":"error","message":"#);
    push_json_string(&mut s, message);
    s.push_str(r#","reason":"#);
    push_json_string(&mut s, reason);
    s.push('}');
    s
}

/// The body of `GET /products/{id}/trades`: trades as given (newest first).
pub(crate) fn rest_trades(spec: &ProductSpec, trades: &[TradeRec]) -> String {
    let mut s = String::with_capacity(2 + 120 * trades.len());
    s.push('[');
    for (i, t) in trades.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(r#"{"time":""#);
        push_time(&mut s, t.time_ns);
        let _ = write!(s, r#"","trade_id":{},"price":"#, t.id);
        push_price(&mut s, spec, t.price);
        s.push_str(r#","size":"#);
        push_size(&mut s, t.size);
        s.push_str(r#","side":""#);
        s.push_str(t.maker.as_str());
        s.push_str("\"}");
    }
    s.push(']');
    s
}

/// A malformed frame to send beside a real one; `variant` picks which kind
/// (any value; it is taken modulo the number of kinds). `trade_id` is one
/// the client has already seen, so even a parser that pulled ids out of
/// broken frames would see no new trade and no gap.
pub(crate) fn malformed(variant: u32, original: &str, spec: &ProductSpec, trade_id: u64, time_ns: i64) -> String {
    match variant % 4 {
        0 => {
            // Truncated JSON: the frame cut in half (frames are ASCII).
            let cut = (original.len() / 2).max(1);
            original.get(..cut).unwrap_or("{").to_owned()
        }
        1 => {
            let mut s = format!(
                r#"{{"type":"match","trade_id":{trade_id},"side":"sell","size":"1.00000000","price":"NaN","product_id":"{}","time":""#,
                spec.id
            );
            push_time(&mut s, time_ns);
            s.push_str("\"}");
            s
        }
        2 => "<html><body><h1>502 Bad Gateway</h1></body></html>".to_owned(),
        _ => {
            let mut s = format!(r#"{{"type":"l2update","product_id":"{}","changes":[["buy","-1.00","abc"]],"time":""#, spec.id);
            push_time(&mut s, time_ns);
            s.push_str("\"}");
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{market::Side, products::product_specs};
    use marketpipe_model::Timestamp;

    #[test]
    fn times_round_trip_through_the_model_parser() {
        for ns in [0i64, 1_767_225_600_123_456_000, 951_782_400_000_001_000, 4_102_444_799_999_999_999, 1_709_164_800_000_000_000] {
            let mut s = String::new();
            push_time(&mut s, ns);
            assert_eq!(s.len(), 27, "{s}");
            let back = Timestamp::parse_rfc3339(&s).unwrap().0;
            assert_eq!(back, ns - ns.rem_euclid(1_000), "{s}");
        }
        let mut s = String::new();
        push_time(&mut s, 1_767_225_600_123_456_789);
        assert_eq!(s, "2026-01-01T00:00:00.123456Z");
    }

    #[test]
    fn frames_are_json_with_type_first() {
        let spec = &product_specs(1)[0];
        let t = TradeRec { id: 7, time_ns: 1_767_225_600_000_000_000, price: 6_700_000, size: 150_000_000, maker: Side::Sell };
        let frames = [
            snapshot(spec, &[(6_699_999, 1)], &[(6_700_001, 2)], 0),
            snapshot(spec, &[], &[], 0),
            l2update(spec, &[Change { side: Side::Buy, price: 1, size: 0 }], 0),
            trade(spec, 0, &t, 9, false),
            trade(spec, 0, &t, 9, true),
            ticker(spec, &TickerRec { last: t, best_bid: (1, 2), best_ask: (3, 4), open: 5, high: 6, low: 1, volume: 7 }, 3),
            heartbeat(spec, Some(7), 9, 0),
            heartbeat(spec, None, 9, 0),
            subscriptions(&[("matches", vec!["BTC-USD"]), ("heartbeat", vec![])]),
            error("Failed to subscribe", "\"X\" is not a valid product"),
            rest_trades(spec, &[t, t]),
        ];
        for f in &frames {
            let v: serde_json::Value = serde_json::from_str(f).unwrap_or_else(|e| panic!("{e}: {f}"));
            assert!(v.is_array() || f.starts_with(r#"{"type":"#), "{f}");
        }
        let m: serde_json::Value = serde_json::from_str(&frames[3]).unwrap();
        assert_eq!((m["price"].as_str(), m["size"].as_str(), m["trade_id"].as_u64()), (Some("67000.00"), Some("1.50000000"), Some(7)));
        assert_eq!(m["side"], "sell");
        assert_ne!(m["maker_order_id"], m["taker_order_id"]);
        let tk: serde_json::Value = serde_json::from_str(&frames[5]).unwrap();
        assert_eq!(tk["side"], "buy", "ticker side is the taker's");
        for v in 0..4 {
            assert!(serde_json::from_str::<serde_json::Value>(&malformed(v, &frames[3], spec, 7, 0))
                .map_or(true, |j| j["price"] == "NaN" || j["changes"][0][1] == "-1.00"));
        }
    }

    #[test]
    fn product_json_is_coinbase_shaped() {
        let v: serde_json::Value = serde_json::from_str(&products_json(&product_specs(10))).unwrap();
        let doge = &v[9];
        assert_eq!(doge["id"], "DOGE-USD");
        assert_eq!(doge["base_currency"], "DOGE");
        assert_eq!(doge["quote_increment"], "0.00001");
        assert_eq!(doge["status"], "online");
        assert_eq!(v[0]["quote_increment"], "0.01");
    }
}
