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
    products::ProductSpec,
    text::{millis, mix, push_fixed, push_json_string, push_price, push_size},
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
        for (n, (i, c)) in changes.iter().enumerate().filter(|(_, c)| c.side == side).enumerate() {
            s.push_str(if n == 0 { "[" } else { ",[" });
            push_price(&mut s, spec, c.price);
            s.push(',');
            push_size(&mut s, c.size);
            let _ = write!(s, r#","{}"]"#, first + i as u64);
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

#[cfg(test)]
mod tests {
    use marketpipe_model::{Exchange, MarketEvent, Side as TakerSide, Timestamp};
    use marketpipe_venues::{
        kucoin::{bullet as read_bullet, BookSyncState, KucoinDecoder},
        Decoded, VenueDecoder,
    };

    use super::*;
    use crate::products::product_specs_for;

    const NS: i64 = 1_767_225_600_123_456_789;

    fn decoder(specs: &[ProductSpec]) -> KucoinDecoder {
        let mut d = KucoinDecoder::new();
        let mut out = Vec::new();
        d.decode_rest("http://127.0.0.1:1/api/v2/symbols", &symbols(specs), Timestamp(0), &mut out).unwrap();
        assert_eq!(out.len(), specs.len());
        d
    }

    fn ws(d: &mut KucoinDecoder, frame: &str) -> (Decoded, Vec<MarketEvent>) {
        let mut out = Vec::new();
        let decoded = d.decode_ws(frame, Timestamp(0), &mut out).unwrap_or_else(|e| panic!("{e}: {frame}"));
        (decoded, out)
    }

    #[test]
    fn symbols_normalize_from_the_base_currency() {
        let specs = product_specs_for(Exchange::Kucoin, 5);
        let d = decoder(&specs);
        let bsv = d.product("BCHSV-USDT").unwrap();
        assert_eq!((bsv.key.symbol.as_str(), bsv.base.as_str()), ("BSV-USDT", "BSV"));
        assert_eq!(d.product("BTC-USDT").unwrap().key.symbol.as_str(), "BTC-USDT");
        let mut d = KucoinDecoder::new();
        let mut out = Vec::new();
        d.decode_rest("/api/v2/symbols/BCHSV-USDT", &ok(&symbol(&specs[3])), Timestamp(0), &mut out).unwrap();
        assert!(matches!(&out[..], [MarketEvent::Product(p)] if p.key.symbol.as_str() == "BSV-USDT"));
    }

    #[test]
    fn level2_joins_the_snapshot_by_sequence() {
        let specs = product_specs_for(Exchange::Kucoin, 2);
        let spec = &specs[0];
        let mut d = decoder(&specs);
        let c = |side, price, size| Change { side, price, size };
        let (frame, at) = level2(spec, &[c(Side::Buy, 6_699_990, 5), c(Side::Sell, 6_700_010, 0)], 101, NS);
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["data"], serde_json::from_str::<serde_json::Value>(&frame[at..frame.len() - 1]).unwrap());
        assert_eq!(v["data"]["changes"]["asks"][0][2], "102", "one sequence per change, in generation order");
        assert_eq!((v["data"]["sequenceStart"].as_u64(), v["data"]["sequenceEnd"].as_u64()), (Some(101), Some(102)));
        assert!(ws(&mut d, &frame).1.is_empty(), "buffered until a snapshot");
        assert_eq!(d.take_snapshot_requests(), ["BTC-USDT"]);
        let mut out = Vec::new();
        let snapshot = orderbook(spec, 100, NS, &[(6_699_999, 1)], &[(6_700_010, 2)]);
        d.decode_rest("/api/v1/market/orderbook/level2_100?symbol=BTC-USDT", &snapshot, Timestamp(0), &mut out).unwrap();
        assert!(
            matches!(&out[..], [MarketEvent::BookSnapshot(s), MarketEvent::BookDelta(b)] if s.sequence == Some(100) && b.changes.len() == 2)
        );
        let (_, events) = ws(&mut d, &level2(spec, &[c(Side::Buy, 6_699_980, 7)], 103, NS).0);
        assert!(matches!(&events[..], [MarketEvent::BookDelta(b)] if b.sequence == Some(103)));
        assert_eq!(d.book_state("BTC-USDT"), Some(BookSyncState::Live { sequence: 103 }));
    }

    #[test]
    fn trades_tickers_and_histories_decode() {
        let specs = product_specs_for(Exchange::Kucoin, 2);
        let spec = &specs[1];
        let mut d = decoder(&specs);
        let t = TradeRec { id: 42, time_ns: NS, price: 350_000, size: 150_000_000, maker: Side::Buy };
        let (decoded, events) = ws(&mut d, &trade(spec, 1, &t).0);
        assert_eq!(decoded, Decoded::Market { msg: "match" });
        let MarketEvent::Trade(tr) = &events[0] else { panic!("{events:?}") };
        assert_eq!(tr.taker_side, TakerSide::Sell, "a resting bid was hit: the taker sold");
        assert_eq!((tr.price.to_string(), tr.size.to_string(), tr.time), ("3500.00".into(), "1.50000000".into(), Timestamp(NS)));
        assert_eq!(tr.id, marketpipe_model::TradeId::Str(trade_id(42).into()));
        let tick = TickerRec { last: t, best_bid: (349_999, 1), best_ask: (350_001, 2), open: 1, high: 2, low: 1, volume: 3 };
        let (_, events) = ws(&mut d, &ticker(spec, &tick, 77).0);
        let MarketEvent::Ticker(tk) = &events[0] else { panic!("{events:?}") };
        assert_eq!((tk.instrument.symbol.as_str(), tk.best_ask.map(|p| p.to_string())), ("ETH-USDT", Some("3500.01".into())));
        let (all, at) = ticker(spec, &tick, 77);
        let per_symbol = message("/market/ticker:ETH-USDT", "trade.ticker", &all[at..all.len() - 1]);
        assert!(matches!(ws(&mut d, &per_symbol).1[..], [MarketEvent::Ticker(_)]));
        let v: serde_json::Value = serde_json::from_str(&histories(spec, &[t, TradeRec { id: 43, ..t }])).unwrap();
        assert_eq!(
            (v["code"].as_str(), v["data"][1]["sequence"].as_str(), v["data"][0]["side"].as_str()),
            (Some(OK), Some(trade_id(43).as_str()), Some("sell"))
        );
        assert_eq!(trade_id(1).len(), 17);
    }

    #[test]
    fn control_frames_and_the_bullet_decode() {
        let mut d = KucoinDecoder::new();
        assert_eq!(ws(&mut d, &welcome("c1")).0, Decoded::Control { msg: "welcome" });
        assert_eq!(ws(&mut d, &reply("pong", r#""7""#)).0, Decoded::Control { msg: "pong" });
        let Decoded::Subscriptions { channels } = ws(&mut d, &reply("ack", r#""3/market/match:BTC-USDT""#)).0 else { panic!() };
        assert_eq!(channels, [("/market/match".to_owned(), vec!["BTC-USDT".to_owned()])]);
        let Decoded::ExchangeError { message, reason } = ws(&mut d, &error(r#""1""#, 404, "topic /market/match:X is not found")).0 else {
            panic!()
        };
        assert_eq!((message.as_str(), reason.as_deref()), ("topic /market/match:X is not found", Some("404")));
        let b = read_bullet(&bullet("tok.en==", "ws://127.0.0.1:9/", 18_000, 10_000)).unwrap();
        assert_eq!((b.token.as_str(), b.endpoint.as_str(), b.ping_interval.as_millis()), ("tok.en==", "ws://127.0.0.1:9/", 18_000));
        let v: serde_json::Value = serde_json::from_str(&rest_error("400100", "Unsupported trading pair.")).unwrap();
        assert_eq!(v["code"], "400100");
    }

    #[test]
    fn malformed_frames_fail_without_touching_the_book() {
        let specs = product_specs_for(Exchange::Kucoin, 1);
        let mut d = decoder(&specs);
        let mut out = Vec::new();
        d.decode_rest(
            "/api/v1/market/orderbook/level2_100?symbol=BTC-USDT",
            &orderbook(&specs[0], 10, NS, &[(1, 1)], &[(3, 1)]),
            Timestamp(0),
            &mut out,
        )
        .unwrap();
        let t = TradeRec { id: 42, time_ns: NS, price: 6_700_000, size: 1, maker: Side::Buy };
        let original = trade(&specs[0], 0, &t).0;
        for v in 0..4 {
            let bad = malformed(v, &original, &specs[0], 42, NS);
            assert!(d.decode_ws(&bad, Timestamp(0), &mut out).is_err(), "{bad}");
        }
        assert_eq!(d.book_state("BTC-USDT"), Some(BookSyncState::Live { sequence: 10 }));
        assert_eq!(d.stats().stale_updates, 0);
    }
}
