//! One test per websocket message type, on the fixture payloads.

use marketpipe_model::{BookSide, Exchange, MarketEvent, Side, Timestamp, TradeId};
use marketpipe_venues::{coinbase::CoinbaseDecoder, DecodeError, Decoded};

use crate::support::{dec, fails, fixture, with_products, ws, RECV};

fn one_event(out: Vec<MarketEvent>) -> MarketEvent {
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap()
}

#[test]
fn match_is_a_trade_with_the_maker_side_inverted() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("match.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "match" }));
    let MarketEvent::Trade(t) = one_event(out) else { panic!("not a trade") };
    assert_eq!(t.instrument.exchange, Exchange::Coinbase);
    assert_eq!(t.instrument.symbol.as_str(), "BTC-USD");
    assert_eq!(t.id, TradeId::Num(627_465_181));
    assert_eq!(t.price, dec("43521.17"));
    assert_eq!(t.size, dec("0.00120000"));
    assert_eq!(t.size.to_string(), "0.00120000", "the exchange's scale is kept");
    // "side":"sell" is the resting (maker) order: the taker bought.
    assert_eq!(t.taker_side, Side::Buy);
    assert_eq!(t.time, Timestamp::from_nanos(1_767_621_787_123_456_000));
    assert_eq!(t.recv_time, RECV);
}

#[test]
fn last_match_is_a_trade_too() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("last_match.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "last_match" }));
    let MarketEvent::Trade(t) = one_event(out) else { panic!("not a trade") };
    assert_eq!(t.id, TradeId::Num(627_465_180));
    // "side":"buy": a resting buy was hit, the taker sold.
    assert_eq!(t.taker_side, Side::Sell);
    assert_eq!(t.price.to_string(), "43521.16");
    assert_eq!(t.size.to_string(), "0.51230000");
    assert_eq!(t.time, Timestamp::from_nanos(1_767_621_786_982_711_000));
}

#[test]
fn ticker_is_a_ticker_and_not_a_trade() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("ticker.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "ticker" }));
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.instrument.symbol.as_str(), "BTC-USD");
    assert_eq!(t.time, Some(Timestamp::from_nanos(1_767_621_787_123_456_000)));
    assert_eq!(t.recv_time, RECV);
    let s = |v: Option<marketpipe_model::Decimal>| v.map(|d| d.to_string());
    assert_eq!(s(t.last_price).as_deref(), Some("43521.17"));
    assert_eq!(s(t.last_size).as_deref(), Some("0.0012"));
    assert_eq!(s(t.best_bid).as_deref(), Some("43521.16"));
    assert_eq!(s(t.best_bid_size).as_deref(), Some("0.51230000"));
    assert_eq!(s(t.best_ask).as_deref(), Some("43521.18"));
    assert_eq!(s(t.best_ask_size).as_deref(), Some("0.08000000"));
    assert_eq!(s(t.open_24h).as_deref(), Some("42987.01"));
    assert_eq!(s(t.high_24h).as_deref(), Some("43810.5"));
    assert_eq!(s(t.low_24h).as_deref(), Some("42650"));
    assert_eq!(s(t.volume_24h).as_deref(), Some("18234.61530917"));
}

#[test]
fn ticker_fields_not_sent_are_none() {
    let mut d = with_products();
    let frame = r#"{"type":"ticker","product_id":"BTC-USD","price":"43521.17","best_bid":null,"time":"2026-01-05T14:03:07.123456Z"}"#;
    let (r, out) = ws(&mut d, frame);
    assert_eq!(r, Ok(Decoded::Market { msg: "ticker" }));
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.last_price, Some(dec("43521.17")));
    assert_eq!((t.best_bid, t.best_ask, t.volume_24h, t.last_size), (None, None, None, None));

    let (_, out) = ws(&mut d, r#"{"type":"ticker","product_id":"BTC-USD"}"#);
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!((t.time, t.last_price), (None, None));
}

#[test]
fn snapshot_keeps_levels_and_drops_empty_ones() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("snapshot.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "snapshot" }));
    let MarketEvent::BookSnapshot(s) = one_event(out) else { panic!("not a snapshot") };
    assert_eq!(s.instrument.symbol.as_str(), "ETH-EUR");
    assert_eq!(s.sequence, None);
    assert_eq!(s.time, Some(Timestamp::from_nanos(1_767_621_787_000_123_000)));
    assert_eq!(s.recv_time, RECV);
    let levels = |v: &[marketpipe_model::Level]| v.iter().map(|l| (l.price.to_string(), l.size.to_string())).collect::<Vec<_>>();
    // ["2189.40","0.00000000"] carries nothing and is dropped.
    assert_eq!(levels(&s.bids), [("2189.41".into(), "1.25000000".into()), ("2188.07".into(), "12.5".into())]);
    assert_eq!(levels(&s.asks), [("2189.55".into(), "0.40210000".into()), ("2190.00".into(), "3".into())]);
}

#[test]
fn snapshot_without_time_has_none() {
    let mut d = with_products();
    let (_, out) = ws(&mut d, r#"{"type":"snapshot","product_id":"BTC-USD","bids":[],"asks":[["1.5","2"]]}"#);
    let MarketEvent::BookSnapshot(s) = one_event(out) else { panic!("not a snapshot") };
    assert_eq!((s.time, s.bids.len(), s.asks.len()), (None, 0, 1));
}

#[test]
fn l2update_is_a_delta_with_book_sides() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("l2update.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "l2update" }));
    let MarketEvent::BookDelta(u) = one_event(out) else { panic!("not a delta") };
    assert_eq!(u.instrument.symbol.as_str(), "BTC-USD");
    assert_eq!(u.sequence, None);
    assert_eq!(u.time, Some(Timestamp::from_nanos(1_767_621_787_125_381_000)));
    assert_eq!(u.recv_time, RECV);
    let changes: Vec<_> = u.changes.iter().map(|c| (c.side, c.price.to_string(), c.size.to_string())).collect();
    assert_eq!(
        changes,
        [
            (BookSide::Bid, "43521.16".to_owned(), "0.51230000".to_owned()),
            (BookSide::Ask, "43521.18".to_owned(), "0.00000000".to_owned()),
            (BookSide::Ask, "43522.01".to_owned(), "1.20000000".to_owned()),
        ]
    );
    assert!(u.changes[1].size.is_zero(), "size 0 deletes the level");
}

#[test]
fn level_arrays_in_unusual_but_valid_json_decode_the_same() {
    // Whitespace and \u escapes take the slow path; the result must match.
    let mut d = with_products();
    let plain = r#"{"type":"l2update","product_id":"BTC-USD","changes":[["buy","43521.16","0.5"],["sell","43521.18","0"]],"time":"2026-01-05T14:03:07.125381Z"}"#;
    let odd = "{\"type\":\"l2update\",\"product_id\":\"BTC-USD\",\"changes\": [ [\"buy\" , \"43521.16\",\"0\\u002e5\"] ,\n [\"s\\u0065ll\",\"43521.18\",\"0\"] ] ,\"time\":\"2026-01-05T14:03:07.125381Z\"}";
    assert_eq!(ws(&mut d, plain), ws(&mut d, odd));
    let snap = r#"{"type":"snapshot","product_id":"BTC-USD","bids":[["1.5","2"]],"asks":[["2.5","0"],["3","1"]]}"#;
    let snap_odd = r#"{"type":"snapshot","product_id":"BTC-USD","bids":[ ["1\u002e5", "2"] ],"asks":[["2.5","0"] , ["3","1"]]}"#;
    assert_eq!(ws(&mut d, snap), ws(&mut d, snap_odd));
}

#[test]
fn heartbeat_reports_liveness_and_last_trade() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("heartbeat.json"));
    assert!(out.is_empty());
    let Ok(Decoded::Heartbeat { instrument, sequence, last_trade_id, time }) = r else { panic!("{r:?}") };
    assert_eq!(instrument.symbol.as_str(), "BTC-USD");
    assert_eq!(sequence, Some(70_123_456_812));
    assert_eq!(last_trade_id, Some(627_465_181));
    assert_eq!(time, Some(Timestamp::from_nanos(1_767_621_788_000_512_000)));
}

#[test]
fn subscriptions_list_channels_with_their_products() {
    let mut d = CoinbaseDecoder::new();
    let (r, out) = ws(&mut d, &fixture("subscriptions.json"));
    assert!(out.is_empty());
    let both = vec!["BTC-USD".to_owned(), "ETH-EUR".to_owned()];
    assert_eq!(
        r,
        Ok(Decoded::Subscriptions {
            channels: vec![
                ("matches".to_owned(), both.clone()),
                ("level2_batch".to_owned(), both.clone()),
                ("heartbeat".to_owned(), both),
                ("status".to_owned(), vec![]),
            ]
        })
    );
    assert_eq!(d.product_count(), 0, "an acknowledgement registers nothing");
}

#[test]
fn error_is_reported_with_its_reason() {
    let mut d = CoinbaseDecoder::new();
    let (r, out) = ws(&mut d, &fixture("error.json"));
    assert!(out.is_empty());
    assert_eq!(
        r,
        Ok(Decoded::ExchangeError { message: "Failed to subscribe".to_owned(), reason: Some("BTC-XYZ is not a valid product".to_owned()) })
    );
    let (r, _) = ws(&mut d, r#"{"type":"error","message":"rate limited"}"#);
    assert_eq!(r, Ok(Decoded::ExchangeError { message: "rate limited".to_owned(), reason: None }));
}

#[test]
fn other_message_types_are_unknown() {
    let mut d = with_products();
    assert_eq!(fails(&mut d, &fixture("received.json")), DecodeError::UnknownType("received".to_owned()));
    let status = r#"{"type":"status","products":[{"id":"BTC-USD","status":"online"}],"currencies":[]}"#;
    assert_eq!(fails(&mut d, status), DecodeError::UnknownType("status".to_owned()));
    let done = r#"{"type":"done","side":"sell","order_id":"d50ec984","reason":"filled","product_id":"BTC-USD","price":"1","remaining_size":"0","sequence":1,"time":"2026-01-05T14:03:07Z"}"#;
    assert_eq!(fails(&mut d, done).reason(), "unknown_type");
}

#[test]
fn type_need_not_be_the_first_key() {
    for name in ["match.json", "ticker.json", "snapshot.json", "l2update.json", "heartbeat.json", "subscriptions.json", "error.json"] {
        let frame = fixture(name);
        let frame = frame.trim();
        // Move `"type":"...",` from the front to the end.
        let comma = frame.find(',').unwrap();
        let type_entry = &frame[1..comma];
        let moved = format!("{{{},{}}}", &frame[comma + 1..frame.len() - 1], type_entry);
        assert!(!moved.starts_with("{\"type\""), "{moved}");
        let (mut a, mut b) = (with_products(), with_products());
        assert_eq!(ws(&mut a, frame), ws(&mut b, &moved), "{name}");
    }
    let mut d = with_products();
    let middle = r#"{"product_id":"BTC-USD","type":"l2update","changes":[["buy","1","2"]]}"#;
    assert_eq!(ws(&mut d, middle).0, Ok(Decoded::Market { msg: "l2update" }));
    let unknown_later = r#"{"time":"x","type":"open"}"#;
    assert_eq!(fails(&mut d, unknown_later), DecodeError::UnknownType("open".to_owned()));
}

#[test]
fn escaped_strings_decode_like_plain_ones() {
    let mut d = with_products();
    let plain = fixture("match.json");
    let escaped = plain.replace("\"BTC-USD\"", "\"BTC\\u002dUSD\"").replace("\"43521.17\"", "\"43521\\u002e17\"");
    assert_ne!(plain, escaped);
    assert_eq!(ws(&mut d, &plain), ws(&mut d, &escaped));
}

#[test]
fn unknown_product_ids_are_derived_and_announced_once() {
    let mut d = CoinbaseDecoder::new();
    let frame = fixture("match.json").replace("BTC-USD", "doge-usd");
    let (r, out) = ws(&mut d, &frame);
    assert_eq!(r, Ok(Decoded::Market { msg: "match" }));
    assert_eq!(out.len(), 2, "{out:?}");
    let MarketEvent::Product(p) = &out[0] else { panic!("product first: {out:?}") };
    assert_eq!(
        (p.key.symbol.as_str(), p.native_symbol.as_str(), p.base.as_str(), p.quote.as_str()),
        ("DOGE-USD", "doge-usd", "DOGE", "USD")
    );
    let MarketEvent::Trade(t) = &out[1] else { panic!("then the trade") };
    assert_eq!(t.instrument, p.key);

    // Known now: the next frame carries the same interned key, no announcement.
    let (_, out) = ws(&mut d, &fixture("l2update.json").replace("BTC-USD", "doge-usd"));
    let MarketEvent::BookDelta(u) = one_event(out) else { panic!("not a delta") };
    assert_eq!(u.instrument.symbol.as_str(), "DOGE-USD");
    assert_eq!(d.instrument("doge-usd").map(|k| k.symbol.as_str()), Some("DOGE-USD"));

    // A heartbeat of a new product announces it too.
    let (r, out) = ws(&mut d, &fixture("heartbeat.json").replace("BTC-USD", "SOL-USDC"));
    assert!(matches!(r, Ok(Decoded::Heartbeat { .. })));
    let MarketEvent::Product(p) = one_event(out) else { panic!("announced") };
    assert_eq!(p.key.symbol.as_str(), "SOL-USDC");
}

#[test]
fn ids_that_are_not_base_quote_are_rejected_unless_known() {
    let mut d = CoinbaseDecoder::new();
    for id in ["BTCUSD", "BTC-USD-PERP", "BTC_USD", "", "-USD", "BTC-", "B TC-USD"] {
        let e = fails(&mut d, &fixture("match.json").replace("BTC-USD", id));
        assert!(matches!(e, DecodeError::BadField { field: "product_id", .. }), "{id:?}: {e:?}");
    }
    assert_eq!(d.product_count(), 0);
}

#[test]
fn later_metadata_updates_a_derived_product() {
    let mut d = CoinbaseDecoder::new();
    let (_, out) = ws(&mut d, &fixture("match.json").replace("BTC-USD", "FOO-USD"));
    assert_eq!(out.len(), 2);
    // The exchange's metadata says the base currency is FOO2.
    let body = r#"[{"id":"FOO-USD","base_currency":"FOO2","quote_currency":"USD","status":"online"}]"#;
    let (r, out) = crate::support::rest(&mut d, "/products", body);
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "products" }));
    let MarketEvent::Product(p) = one_event(out) else { panic!("product event") };
    assert_eq!(p.key.symbol.as_str(), "FOO2-USD");
    let (_, out) = ws(&mut d, &fixture("match.json").replace("BTC-USD", "FOO-USD"));
    let MarketEvent::Trade(t) = one_event(out) else { panic!("trade only, no re-announcement") };
    assert_eq!(t.instrument.symbol.as_str(), "FOO2-USD");
}

#[test]
fn subscribe_request_names_products_and_channels() {
    let req = marketpipe_venues::coinbase::subscribe_request(&["BTC-USD", "ETH-EUR"], &["matches", "level2_batch", "heartbeat"]);
    assert_eq!(req, r#"{"type":"subscribe","product_ids":["BTC-USD","ETH-EUR"],"channels":["matches","level2_batch","heartbeat"]}"#);
}
