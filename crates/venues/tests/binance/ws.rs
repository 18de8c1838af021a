//! One test per websocket message type, on the fixture payloads.

use marketpipe_model::{BookSide, Exchange, MarketEvent, Side, Timestamp, TradeId};
use marketpipe_venues::{
    binance::{BinanceDecoder, BookSyncState},
    DecodeError, Decoded,
};

use crate::support::{bare, dec, depth, fails, fixture, rest, snapshot, trace, with_products, ws, DEPTH_URL, RECV};

fn one_event(out: Vec<MarketEvent>) -> MarketEvent {
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap()
}

fn s(v: Option<marketpipe_model::Decimal>) -> Option<String> {
    v.map(|d| d.to_string())
}

#[test]
fn agg_trade_is_a_trade_and_buyer_maker_means_taker_sold() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("agg_trade.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "aggTrade" }));
    let MarketEvent::Trade(t) = one_event(out) else { panic!("not a trade") };
    assert_eq!(t.instrument.exchange, Exchange::Binance);
    assert_eq!(t.instrument.symbol.as_str(), "NKN-USDT");
    assert_eq!(t.id, TradeId::Num(28_457_912));
    assert_eq!(t.price, dec("0.35210000"));
    assert_eq!(t.price.to_string(), "0.35210000", "the exchange's scale is kept");
    assert_eq!(t.size.to_string(), "150.00000000");
    // "m": true: the buyer rested on the book, the taker sold.
    assert_eq!(t.taker_side, Side::Sell);
    // T, not E: 2026-01-05T14:03:07.123Z.
    assert_eq!(t.time, Timestamp::from_nanos(1_767_621_787_123_000_000));
    assert_eq!(t.recv_time, RECV);

    let (_, out) = ws(&mut d, &fixture("agg_trade.json").replace(r#""m":true"#, r#""m":false"#));
    let MarketEvent::Trade(t) = one_event(out) else { panic!("not a trade") };
    assert_eq!(t.taker_side, Side::Buy);
}

#[test]
fn book_ticker_is_a_ticker_with_the_best_bid_and_ask() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("book_ticker.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "bookTicker" }));
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.instrument.symbol.as_str(), "NKN-USDT");
    assert_eq!(t.time, None, "spot bookTicker carries no time");
    assert_eq!(t.recv_time, RECV);
    assert_eq!(s(t.best_bid).as_deref(), Some("0.35210000"));
    assert_eq!(s(t.best_bid_size).as_deref(), Some("672.00000000"));
    assert_eq!(s(t.best_ask).as_deref(), Some("0.35230000"));
    assert_eq!(s(t.best_ask_size).as_deref(), Some("120.50000000"));
    assert_eq!((t.last_price, t.last_size, t.open_24h, t.high_24h, t.low_24h, t.volume_24h), (None, None, None, None, None, None));
}

#[test]
fn book_ticker_of_an_empty_side_has_no_price() {
    let mut d = with_products();
    let frame = fixture("book_ticker.json").replace(r#""a":"0.35230000","A":"120.50000000""#, r#""a":"0.00000000","A":"0.00000000""#);
    let (r, out) = ws(&mut d, &frame);
    assert!(r.is_ok(), "{r:?}");
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!((t.best_ask, t.best_ask_size), (None, None));
    assert_eq!(s(t.best_bid).as_deref(), Some("0.35210000"));
}

#[test]
fn futures_style_book_ticker_fields_are_accepted() {
    let mut d = with_products();
    let frame = r#"{"stream":"nknusdt@bookTicker","data":{"e":"bookTicker","u":400900217,"E":1767621787190,"T":1767621787189,"s":"NKNUSDT","b":"0.35210000","B":"1","a":"0.35230000","A":"2"}}"#;
    let (_, out) = ws(&mut d, frame);
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.time, Some(Timestamp::from_nanos(1_767_621_787_190_000_000)));
}

#[test]
fn mini_ticker_array_becomes_tickers_skipping_unknown_symbols() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("mini_ticker_arr.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "24hrMiniTicker" }));
    assert_eq!(out.len(), 2, "{out:?}");
    let MarketEvent::Ticker(t) = &out[0] else { panic!("not a ticker") };
    assert_eq!(t.instrument.symbol.as_str(), "NKN-USDT");
    assert_eq!(t.time, Some(Timestamp::from_nanos(1_767_621_787_001_000_000)));
    assert_eq!(s(t.last_price).as_deref(), Some("0.35210000"));
    assert_eq!(s(t.open_24h).as_deref(), Some("0.34010000"));
    assert_eq!(s(t.high_24h).as_deref(), Some("0.36500000"));
    assert_eq!(s(t.low_24h).as_deref(), Some("0.33870000"));
    assert_eq!(s(t.volume_24h).as_deref(), Some("18734512.00000000"));
    assert_eq!((t.best_bid, t.best_ask, t.last_size), (None, None, None));
    let MarketEvent::Ticker(t) = &out[1] else { panic!("not a ticker") };
    assert_eq!(t.instrument.symbol.as_str(), "ETH-BTC");
    assert_eq!(d.stats().unknown_symbol_tickers, 1, "NEWCOINUSDT is not in exchangeInfo");

    // The raw stream sends the array alone.
    let (r, bare_out) = ws(&mut d, &bare(&fixture("mini_ticker_arr.json")));
    assert_eq!(r, Ok(Decoded::Market { msg: "24hrMiniTicker" }));
    assert_eq!(bare_out, out);
    let (r, out) = ws(&mut d, r#"{"stream":"!miniTicker@arr","data":[]}"#);
    assert_eq!((r, out.len()), (Ok(Decoded::Market { msg: "24hrMiniTicker" }), 0));
}

#[test]
fn single_mini_ticker_is_a_ticker() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("mini_ticker.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "24hrMiniTicker" }));
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.instrument.symbol.as_str(), "ETH-BTC");
    assert_eq!(s(t.last_price).as_deref(), Some("0.03512000"));
    // A window without trades reports zero prices: absent, not an error.
    let quiet = fixture("mini_ticker.json").replace(r#""o":"0.03498000""#, r#""o":"0.00000000""#);
    let (_, out) = ws(&mut d, &quiet);
    let MarketEvent::Ticker(t) = one_event(out) else { panic!("not a ticker") };
    assert_eq!(t.open_24h, None);
}

#[test]
fn depth_update_waits_for_a_snapshot_then_is_a_delta() {
    let mut d = with_products();
    let (r, out) = ws(&mut d, &fixture("depth_update.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "depthUpdate" }));
    assert!(out.is_empty(), "buffered until the snapshot: {out:?}");
    assert_eq!(d.needs_snapshot().collect::<Vec<_>>(), ["NKNUSDT"]);
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Buffering { events: 1 }));

    let (r, out) = rest(&mut d, DEPTH_URL, &fixture("rest_depth.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "depth" }));
    assert_eq!(trace(&out), ["S499869752", "D499869755"]);
    let MarketEvent::BookDelta(u) = &out[1] else { panic!("not a delta") };
    assert_eq!(u.instrument.symbol.as_str(), "NKN-USDT");
    assert_eq!(u.sequence, Some(499_869_755));
    assert_eq!(u.time, Some(Timestamp::from_nanos(1_767_621_787_180_000_000)));
    assert_eq!(u.recv_time, RECV);
    let changes: Vec<_> = u.changes.iter().map(|c| (c.side, c.price.to_string(), c.size.to_string())).collect();
    assert_eq!(
        changes,
        [
            (BookSide::Bid, "0.35170000".to_owned(), "4265.00000000".to_owned()),
            (BookSide::Bid, "0.35160000".to_owned(), "0.00000000".to_owned()),
            (BookSide::Ask, "0.35230000".to_owned(), "120.50000000".to_owned()),
        ]
    );
    assert!(u.changes[1].size.is_zero(), "size 0 deletes the level");
    assert_eq!(d.needs_snapshot().count(), 0);

    // In sync: the next update is a delta at once.
    let (_, out) = ws(&mut d, &depth(499_869_756, 499_869_760));
    assert_eq!(trace(&out), ["D499869760"]);
    // The one-second stream reads the same.
    let slow = depth(499_869_761, 499_869_761).replace("@depth@100ms", "@depth");
    assert_eq!(trace(&ws(&mut d, &slow).1), ["D499869761"]);
}

#[test]
fn bare_payloads_decode_like_combined_ones() {
    for name in ["agg_trade.json", "book_ticker.json", "mini_ticker.json", "depth_update.json"] {
        let combined = fixture(name);
        let (mut a, mut b) = (with_products(), with_products());
        let (ra, oa) = ws(&mut a, &combined);
        let (rb, ob) = ws(&mut b, &bare(&combined));
        assert_eq!((ra, oa), (rb, ob), "{name}");
        assert_eq!(a.book_state("NKNUSDT"), b.book_state("NKNUSDT"), "{name}");
    }
}

#[test]
fn key_order_does_not_matter() {
    // `data` before `stream`, and `e` not first in a bare payload.
    let frame = fixture("agg_trade.json");
    let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
    let data_first = format!(r#"{{"data":{},"stream":"nknusdt@aggTrade"}}"#, v["data"]);
    let e_last = r#"{"s":"NKNUSDT","a":28457912,"p":"0.35210000","q":"150.00000000","f":41250110,"l":41250112,"T":1767621787123,"m":true,"M":true,"E":1767621787125,"e":"aggTrade"}"#;
    let mut d = with_products();
    let expected = ws(&mut d, &frame);
    assert_eq!(ws(&mut d, &data_first), expected);
    assert_eq!(ws(&mut d, e_last), expected);
    // Extra wrapper keys are ignored.
    let extra = frame.replacen('{', r#"{"x":1,"#, 1);
    assert_eq!(ws(&mut d, &extra), expected);
    let trimmed = frame.trim();
    let extra_after = format!("{},\"x\":[1]}}", &trimmed[..trimmed.len() - 1]);
    assert_eq!(ws(&mut d, &extra_after), expected);
}

#[test]
fn escaped_strings_decode_like_plain_ones() {
    let mut d = with_products();
    let plain = fixture("agg_trade.json");
    let escaped = plain.replace("\"NKNUSDT\"", "\"NKN\\u0055SDT\"").replace("\"0.35210000\"", "\"0\\u002e35210000\"");
    assert_ne!(plain, escaped);
    assert_eq!(ws(&mut d, &plain), ws(&mut d, &escaped));
    let (mut a, mut b) = (with_products(), with_products());
    let levels = fixture("depth_update.json");
    let odd = levels.replace(r#"[["0.35170000","4265.00000000"],"#, "[ [\"0\\u002e35170000\" , \"4265.00000000\"] ,\n");
    assert_ne!(levels, odd);
    assert!(rest(&mut a, DEPTH_URL, &snapshot(499_869_752)).0.is_ok());
    assert!(rest(&mut b, DEPTH_URL, &snapshot(499_869_752)).0.is_ok());
    assert_eq!(ws(&mut a, &levels), ws(&mut b, &odd));
}

#[test]
fn stream_and_symbol_names_resolve_through_exchange_info() {
    let d = with_products();
    assert_eq!(d.instrument("NKNUSDT").map(|k| k.symbol.as_str()), Some("NKN-USDT"));
    assert_eq!(d.instrument("nknusdt").map(|k| k.symbol.as_str()), Some("NKN-USDT"));
    assert_eq!(d.instrument("BTCBUSD").map(|k| k.symbol.as_str()), Some("BTC-BUSD"));
    assert!(d.instrument("NKN-USDT").is_none());
}

#[test]
fn frames_of_unknown_symbols_are_skipped_with_a_clear_reason() {
    let mut d = BinanceDecoder::new();
    let e = fails(&mut d, &fixture("agg_trade.json"));
    assert_eq!(e.reason(), "unknown_symbol");
    assert!(e.to_string().contains("unknown symbol \"NKNUSDT\""), "{e}");
    let mut d = with_products();
    let frame = fixture("depth_update.json").replace("nknusdt", "dogeusdt").replace("NKNUSDT", "DOGEUSDT");
    assert!(fails(&mut d, &frame).to_string().contains("unknown symbol"));
    assert_eq!(d.needs_snapshot().count(), 0);
    assert_eq!(d.product_count(), 4, "nothing is derived from the name");
}

#[test]
fn a_payload_must_belong_to_its_stream() {
    let mut d = with_products();
    let frame = fixture("agg_trade.json").replace("nknusdt@aggTrade", "btcusdt@aggTrade");
    assert!(matches!(fails(&mut d, &frame), DecodeError::BadField { field: "s", .. }));
    // A depth payload on a trade stream does not parse as a trade.
    let frame = fixture("depth_update.json").replace("nknusdt@depth@100ms", "nknusdt@aggTrade");
    assert_eq!(fails(&mut d, &frame).reason(), "invalid_json");
    // Payloads that do parse as the stream's type carry the wrong event type.
    let frame = fixture("agg_trade.json").replace("nknusdt@aggTrade", "nknusdt@depth");
    assert!(matches!(fails(&mut d, &frame), DecodeError::BadField { field: "e", .. }));
    let frame = fixture("mini_ticker.json").replace("ethbtc@miniTicker", "ethbtc@bookTicker");
    assert!(matches!(fails(&mut d, &frame), DecodeError::BadField { field: "e", .. }));
}

#[test]
fn other_streams_are_unknown() {
    let mut d = with_products();
    let trade = r#"{"stream":"nknusdt@trade","data":{"e":"trade","E":1767621787125,"s":"NKNUSDT","t":12345,"p":"0.3521","q":"100","T":1767621787123,"m":true,"M":true}}"#;
    assert_eq!(fails(&mut d, trade), DecodeError::UnknownType("trade".to_owned()));
    let kline = r#"{"stream":"nknusdt@kline_1m","data":{"e":"kline","E":1,"s":"NKNUSDT","k":{}}}"#;
    assert_eq!(fails(&mut d, kline), DecodeError::UnknownType("kline_1m".to_owned()));
    let partial = r#"{"stream":"nknusdt@depth5@100ms","data":{"lastUpdateId":160,"bids":[],"asks":[]}}"#;
    assert_eq!(fails(&mut d, partial), DecodeError::UnknownType("depth5@100ms".to_owned()));
    let all = r#"{"stream":"!ticker@arr","data":[]}"#;
    assert_eq!(fails(&mut d, all), DecodeError::UnknownType("!ticker@arr".to_owned()));
    let bare_trade = r#"{"e":"trade","E":1767621787125,"s":"NKNUSDT","t":12345}"#;
    assert_eq!(fails(&mut d, bare_trade), DecodeError::UnknownType("trade".to_owned()));
    assert_eq!(fails(&mut d, r#"{"E":1,"e":"outboundAccountPosition"}"#), DecodeError::UnknownType("outboundAccountPosition".to_owned()));
}

#[test]
fn subscribe_responses_are_acknowledgements() {
    let mut d = BinanceDecoder::new();
    let (r, out) = ws(&mut d, &fixture("subscribe_response.json"));
    assert!(out.is_empty());
    assert_eq!(r, Ok(Decoded::Subscriptions { channels: vec![] }));
    let (r, _) = ws(&mut d, &fixture("list_subscriptions.json"));
    assert_eq!(
        r,
        Ok(Decoded::Subscriptions {
            channels: vec![
                ("depth@100ms".to_owned(), vec!["NKNUSDT".to_owned()]),
                ("aggTrade".to_owned(), vec!["NKNUSDT".to_owned(), "BTCUSDT".to_owned()]),
                ("!miniTicker@arr".to_owned(), vec![]),
            ]
        })
    );
    let (r, _) = ws(&mut d, r#"{"id":2,"result":true}"#);
    assert_eq!(r, Ok(Decoded::Subscriptions { channels: vec![] }));
    assert_eq!(d.product_count(), 0, "an acknowledgement registers nothing");
}

#[test]
fn errors_are_reported_with_their_code() {
    let mut d = BinanceDecoder::new();
    let (r, out) = ws(&mut d, &fixture("error.json"));
    assert!(out.is_empty());
    let Ok(Decoded::ExchangeError { message, reason }) = r else { panic!("{r:?}") };
    assert!(message.starts_with("Invalid request: unknown variant `SUBSCRIBEX`"), "{message}");
    assert_eq!(reason.as_deref(), Some("code 2"));
    let (r, _) = ws(&mut d, &fixture("error_nested.json"));
    assert_eq!(r, Ok(Decoded::ExchangeError { message: "Invalid request: invalid stream".to_owned(), reason: Some("code 2".to_owned()) }));
    let (r, _) = ws(&mut d, r#"{"code": 0, "msg": "Unknown property","id": 5}"#);
    assert_eq!(r, Ok(Decoded::ExchangeError { message: "Unknown property".to_owned(), reason: Some("code 0".to_owned()) }));
    assert_eq!(fails(&mut d, r#"{"error":{"code":2},"id":4}"#), DecodeError::MissingField("msg"));
}

#[test]
fn requests_and_urls_for_the_runtime() {
    use marketpipe_venues::binance::{depth_snapshot_url, stream_name, subscribe_request};
    let streams = [stream_name("NKNUSDT", "depth@100ms"), stream_name("NKNUSDT", "aggTrade")];
    let refs: Vec<&str> = streams.iter().map(String::as_str).collect();
    assert_eq!(subscribe_request(&refs, 1), r#"{"method":"SUBSCRIBE","params":["nknusdt@depth@100ms","nknusdt@aggTrade"],"id":1}"#);
    // The snapshot URL the runtime builds routes back to the depth endpoint.
    let mut d = with_products();
    assert!(ws(&mut d, &depth(10, 11)).0.is_ok());
    let url = depth_snapshot_url("http://127.0.0.1:8443", d.needs_snapshot().next().unwrap());
    let (r, out) = rest(&mut d, &url, &snapshot(10));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "depth" }));
    assert_eq!(trace(&out), ["S10", "D11"]);
}
