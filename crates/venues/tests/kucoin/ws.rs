//! One test per websocket message type, on the fixture payloads.

use marketpipe_model::{BookSide, Exchange, MarketEvent, Side, Timestamp, TradeId};
use marketpipe_venues::{kucoin::KucoinDecoder, DecodeError, Decoded};

use crate::support::{book_url, dec, fails, fixture, rest, with_symbols, ws, RECV};

fn one_event(out: Vec<MarketEvent>) -> MarketEvent {
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap()
}

#[test]
fn match_is_a_trade_with_the_takers_side() {
    let mut d = with_symbols();
    let (r, out) = ws(&mut d, &fixture("match.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "match" }));
    let MarketEvent::Trade(t) = one_event(out) else { panic!("not a trade") };
    assert_eq!(t.instrument.exchange, Exchange::Kucoin);
    assert_eq!(t.instrument.symbol.as_str(), "BTC-USDT");
    assert_eq!(t.id, TradeId::Str("11067996711960577".into()), "opaque, even when it looks numeric");
    assert_eq!(t.price, dec("94123.4"));
    assert_eq!(t.size.to_string(), "0.00213000", "the exchange's scale is kept");
    // KuCoin's side is the taker's: "buy" is a taker buy.
    assert_eq!(t.taker_side, Side::Buy);
    // "1767621787123456789" ns = 2026-01-05T14:03:07.123456789Z.
    assert_eq!(t.time, Timestamp::from_nanos(1_767_621_787_123_456_789));
    assert_eq!(t.recv_time, RECV);
}

#[test]
fn legacy_match_with_hex_ids_and_long_decimals() {
    let mut d = with_symbols();
    let (r, out) = ws(&mut d, &fixture("match_legacy.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "match" }));
    let MarketEvent::Trade(t) = one_event(out) else { panic!("not a trade") };
    // BCHSV-USDT is BSV-USDT by its metadata.
    assert_eq!(t.instrument.symbol.as_str(), "BSV-USDT");
    assert_eq!(t.id, TradeId::Str("695bc4a203aa673885cd67aa".into()));
    assert_eq!(t.taker_side, Side::Sell);
    assert_eq!(t.price.to_string(), "47.09000000000000000000");
    assert_eq!(t.price, dec("47.09"));
    assert_eq!(t.size, dec("0.8"));
    assert_eq!(t.time, Timestamp::from_nanos(1_767_621_787_140_221_003));
}

#[test]
fn ticker_all_names_the_symbol_in_the_subject() {
    let mut d = with_symbols();
    let (r, out) = ws(&mut d, &fixture("ticker_all.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "ticker" }));
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.instrument.symbol.as_str(), "BSV-USDT");
    // 1767621787118 ms.
    assert_eq!(t.time, Some(Timestamp::from_nanos(1_767_621_787_118_000_000)));
    assert_eq!(t.recv_time, RECV);
    let s = |v: Option<marketpipe_model::Decimal>| v.map(|d| d.to_string());
    assert_eq!(s(t.last_price).as_deref(), Some("47.1"));
    assert_eq!(s(t.last_size).as_deref(), Some("0.8"));
    assert_eq!(s(t.best_bid).as_deref(), Some("47.09"));
    assert_eq!(s(t.best_bid_size).as_deref(), Some("3.5"));
    assert_eq!(s(t.best_ask).as_deref(), Some("47.11"));
    assert_eq!(s(t.best_ask_size).as_deref(), Some("12.3456"));
    // KuCoin's ticker has no 24-hour fields: nothing is guessed.
    assert_eq!((t.open_24h, t.high_24h, t.low_24h, t.volume_24h), (None, None, None, None));
}

#[test]
fn symbol_ticker_names_the_symbol_in_the_topic() {
    let mut d = with_symbols();
    let (r, out) = ws(&mut d, &fixture("ticker.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "ticker" }));
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.instrument.symbol.as_str(), "BTC-USDT");
    assert_eq!(t.best_bid_size, Some(dec("1.19787")));
    assert_eq!(t.time, Some(Timestamp::from_nanos(1_767_621_787_123_000_000)));
    // The newer docs spell it `Time` in one example.
    let (_, out) = ws(&mut d, &fixture("ticker.json").replace("\"time\"", "\"Time\""));
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.time, Some(Timestamp::from_nanos(1_767_621_787_123_000_000)));
}

#[test]
fn ticker_fields_not_sent_are_none() {
    let mut d = with_symbols();
    let frame = r#"{"type":"message","topic":"/market/ticker:all","subject":"BTC-USDT","data":{"price":"94123.4","bestBid":null}}"#;
    let (r, out) = ws(&mut d, frame);
    assert_eq!(r, Ok(Decoded::Market { msg: "ticker" }));
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.last_price, Some(dec("94123.4")));
    assert_eq!((t.time, t.best_bid, t.best_ask, t.last_size), (None, None, None, None));
}

#[test]
fn level2_waits_for_a_snapshot_then_is_a_delta_with_book_sides() {
    let mut d = with_symbols();
    let (r, out) = ws(&mut d, &fixture("level2.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "l2update" }));
    assert!(out.is_empty(), "buffered until a snapshot: {out:?}");
    assert_eq!(d.take_snapshot_requests(), ["BTC-USDT"]);

    // The snapshot (sequence 14701689782) is just before the buffered
    // message (14701689783..=85), which joins it.
    let (r, out) = rest(&mut d, &book_url("BTC-USDT"), &fixture("rest_orderbook_level2_100.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "orderbook" }));
    assert_eq!(out.len(), 2, "{out:?}");
    let MarketEvent::BookSnapshot(s) = &out[0] else { panic!("snapshot first") };
    assert_eq!(s.sequence, Some(14_701_689_782));
    let MarketEvent::BookDelta(u) = &out[1] else { panic!("then the delta") };
    assert_eq!(u.instrument.symbol.as_str(), "BTC-USDT");
    assert_eq!(u.sequence, Some(14_701_689_785));
    assert_eq!(u.time, Some(Timestamp::from_nanos(1_767_621_787_125_000_000)));
    assert_eq!(u.recv_time, RECV);
    let changes: Vec<_> = u.changes.iter().map(|c| (c.side, c.price.to_string(), c.size.to_string())).collect();
    assert_eq!(
        changes,
        [
            (BookSide::Ask, "94123.5".to_owned(), "0.51".to_owned()),
            (BookSide::Ask, "94125".to_owned(), "0".to_owned()),
            (BookSide::Bid, "94123.4".to_owned(), "1.2".to_owned()),
        ]
    );
    assert!(u.changes[1].size.is_zero(), "size 0 deletes the level");
}

#[test]
fn level_arrays_in_unusual_but_valid_json_decode_the_same() {
    // Whitespace and \u escapes take the slow path; the result must match.
    let plain = fixture("level2.json");
    let odd = plain.replace(r#"[["94123.5","0.51","14701689783"],"#, "[ [\"94123\\u002e5\" , \"0.51\",\n\"14701689783\"] ,");
    assert_ne!(plain, odd);
    let run = |frame: &str| {
        let mut d = with_symbols();
        let _ = ws(&mut d, frame);
        rest(&mut d, &book_url("BTC-USDT"), &fixture("rest_orderbook_level2_100.json"))
    };
    assert_eq!(run(&plain), run(&odd));
    let snap = fixture("rest_orderbook_level2_100.json");
    let snap_odd = snap.replace(r#"["94123.4","0.8"]"#, r#"[ "94123\u002e4", "0.8" ]"#);
    assert_ne!(snap, snap_odd);
    let mut a = with_symbols();
    let mut b = with_symbols();
    assert_eq!(rest(&mut a, &book_url("BTC-USDT"), &snap), rest(&mut b, &book_url("BTC-USDT"), &snap_odd));
}

#[test]
fn welcome_and_pong_are_control_frames_without_events() {
    let mut d = KucoinDecoder::new();
    assert_eq!(ws(&mut d, &fixture("welcome.json")), (Ok(Decoded::Control { msg: "welcome" }), vec![]));
    assert_eq!(ws(&mut d, &fixture("pong.json")), (Ok(Decoded::Control { msg: "pong" }), vec![]));
    assert_eq!(d.product_count(), 0);
}

#[test]
fn ack_lists_the_topics_symbols() {
    let mut d = KucoinDecoder::new();
    let (r, out) = ws(&mut d, &fixture("ack.json"));
    assert!(out.is_empty());
    assert_eq!(
        r,
        Ok(Decoded::Subscriptions { channels: vec![("/market/level2".to_owned(), vec!["BTC-USDT".to_owned(), "BCHSV-USDT".to_owned()])] })
    );
    assert_eq!(d.product_count(), 0, "an acknowledgement registers nothing");
    // An id not built by `subscribe_request` cannot name a topic.
    let (r, _) = ws(&mut d, r#"{"id":"1545910660739","type":"ack"}"#);
    assert_eq!(r, Ok(Decoded::Subscriptions { channels: vec![] }));
}

#[test]
fn error_is_reported_with_its_code() {
    let mut d = KucoinDecoder::new();
    let (r, out) = ws(&mut d, &fixture("error.json"));
    assert!(out.is_empty());
    assert_eq!(
        r,
        Ok(Decoded::ExchangeError { message: "topic /market/match:BTC-XYZ is not found".to_owned(), reason: Some("404".to_owned()) })
    );
    let (r, _) = ws(&mut d, r#"{"id":"1","type":"error","data":"token is invalid"}"#);
    assert_eq!(r, Ok(Decoded::ExchangeError { message: "token is invalid".to_owned(), reason: None }));
}

#[test]
fn other_types_and_topics_are_unknown() {
    let mut d = with_symbols();
    assert_eq!(fails(&mut d, r#"{"id":"1","type":"notice","data":{}}"#), DecodeError::UnknownType("notice".to_owned()));
    let snapshot = r#"{"type":"message","topic":"/market/snapshot:KCS-BTC","subject":"trade.snapshot","data":{"sequence":"1545896669291","data":{"buy":0.00011}}}"#;
    assert_eq!(fails(&mut d, snapshot), DecodeError::UnknownType("/market/snapshot".to_owned()));
    let depth5 = r#"{"topic":"/spotMarket/level2Depth5:BTC-USDT","type":"message","subject":"level2","data":{"asks":[["1","2"]],"bids":[],"timestamp":1729822226746}}"#;
    assert_eq!(fails(&mut d, depth5), DecodeError::UnknownType("/spotMarket/level2Depth5".to_owned()));
}

#[test]
fn key_order_does_not_matter() {
    for name in ["match.json", "ticker_all.json", "ticker.json", "level2.json", "error.json", "ack.json"] {
        let frame = fixture(name);
        let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&frame).unwrap();
        // `data` first, then the rest reversed: the slow path.
        let mut entries: Vec<_> = v.into_iter().collect();
        entries.sort_by_key(|(k, _)| k != "data");
        let reordered = format!(
            "{{{}}}",
            entries.iter().map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v)).collect::<Vec<_>>().join(",")
        );
        assert!(reordered.starts_with("{\"data\"") || !frame.contains("\"data\""), "{reordered}");
        let (mut a, mut b) = (with_symbols(), with_symbols());
        assert_eq!(ws(&mut a, frame.trim()), ws(&mut b, &reordered), "{name}");
    }
}

#[test]
fn escaped_strings_decode_like_plain_ones() {
    let mut d = with_symbols();
    let plain = fixture("match.json");
    let escaped = plain.replace("\"BTC-USDT\"", "\"BTC\\u002dUSDT\"").replace("\"94123.4\"", "\"94123\\u002e4\"");
    assert_ne!(plain, escaped);
    assert_eq!(ws(&mut d, &plain), ws(&mut d, &escaped));
}

#[test]
fn unknown_symbols_are_derived_and_announced_once() {
    let mut d = KucoinDecoder::new();
    let frame = fixture("match.json").replace("BTC-USDT", "doge-usdt");
    let (r, out) = ws(&mut d, &frame);
    assert_eq!(r, Ok(Decoded::Market { msg: "match" }));
    assert_eq!(out.len(), 2, "{out:?}");
    let MarketEvent::Product(p) = &out[0] else { panic!("product first: {out:?}") };
    assert_eq!(
        (p.key.symbol.as_str(), p.native_symbol.as_str(), p.base.as_str(), p.quote.as_str()),
        ("DOGE-USDT", "doge-usdt", "DOGE", "USDT")
    );
    let MarketEvent::Trade(t) = &out[1] else { panic!("then the trade") };
    assert_eq!(t.instrument, p.key);

    // Known now: the same interned key, no announcement.
    let (_, out) = ws(&mut d, &fixture("ticker_all.json").replace("BCHSV-USDT", "doge-usdt"));
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.instrument.symbol.as_str(), "DOGE-USDT");
    assert_eq!(d.instrument("doge-usdt").map(|k| k.symbol.as_str()), Some("DOGE-USDT"));
}

#[test]
fn symbols_that_are_not_base_quote_are_rejected_unless_known() {
    let mut d = KucoinDecoder::new();
    for sym in ["BTCUSDT", "BTC-USDT-X", "BTC_USDT", "", "-USDT", "BTC-", "B TC-USDT"] {
        let e = fails(&mut d, &fixture("match.json").replace("BTC-USDT", sym));
        assert!(matches!(e, DecodeError::BadField { field: "symbol", .. } | DecodeError::MissingField(_)), "{sym:?}: {e:?}");
    }
    let e = fails(&mut d, &fixture("ticker_all.json").replace("BCHSV-USDT", "all"));
    assert!(matches!(e, DecodeError::BadField { field: "subject", .. }), "{e:?}");
    let e = fails(&mut d, &fixture("ticker.json").replace("/market/ticker:BTC-USDT", "/market/ticker:BTC-USDT,ETH-USDT"));
    assert!(matches!(e, DecodeError::BadField { field: "topic", .. }), "{e:?}");
    assert_eq!(d.product_count(), 0);
}
