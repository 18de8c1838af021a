//! Malformed input: every bad frame gets its own clear reason, emits
//! nothing, and leaves the decoder as it was.

use marketpipe_model::{MarketEvent, NumberError};
use marketpipe_venues::{
    kucoin::{BookSyncState, KucoinDecoder},
    DecodeError, Decoded, VenueDecoder,
};

use crate::support::{book_url, fails, fixture, rest, with_field, with_symbols, without_field, ws, RECV};

fn trade_with(field: &str, raw: &str) -> String {
    with_field(&fixture("match.json"), field, raw)
}

fn trade_without(field: &str) -> String {
    without_field(&fixture("match.json"), field)
}

fn l2_with(field: &str, raw: &str) -> String {
    with_field(&fixture("level2.json"), field, raw)
}

#[test]
fn malformed_frames_give_their_reason() {
    let l2 = fixture("level2.json");
    let cases: Vec<(String, &str)> = vec![
        // Not JSON, or not an object.
        (r#"{"type":"message","#.to_owned(), "invalid_json"),
        ("".to_owned(), "invalid_json"),
        ("\u{feff}{}".to_owned(), "invalid_json"),
        (r#""message""#.to_owned(), "invalid_json"),
        ("[1,2,3]".to_owned(), "invalid_json"),
        ("null".to_owned(), "invalid_json"),
        (format!("{} trailing", fixture("match.json").trim()), "invalid_json"),
        ("{}".to_owned(), "missing_field"),
        (r#"{"type":null}"#.to_owned(), "missing_field"),
        (r#"{"type":5}"#.to_owned(), "invalid_json"),
        (r#"{"type":"message","data":{}}"#.to_owned(), "missing_field"),
        (r#"{"type":"message","topic":"/market/match:BTC-USDT"}"#.to_owned(), "missing_field"),
        (r#"{"type":"message","topic":7,"data":{}}"#.to_owned(), "invalid_json"),
        (with_field(&fixture("match.json"), "data", r#"["BTC-USDT","buy"]"#), "invalid_json"),
        (with_field(&fixture("match.json"), "data", r#""x""#), "invalid_json"),
        // A symbol in the data other than the one the topic names.
        (trade_with("symbol", r#""ETH-USDT""#), "bad_field"),
        (l2_with("symbol", r#""ETH-USDT""#), "bad_field"),
        // Missing fields.
        (trade_without("price"), "missing_field"),
        (trade_without("size"), "missing_field"),
        (trade_without("side"), "missing_field"),
        (trade_without("tradeId"), "missing_field"),
        (trade_without("symbol"), "missing_field"),
        (trade_with("time", "null"), "missing_field"),
        // Fields of the wrong JSON type.
        (trade_with("price", "94123.4"), "invalid_json"),
        (trade_with("time", "1767621787123456789"), "invalid_json"),
        (trade_with("tradeId", "11067996711960577"), "invalid_json"),
        (trade_with("side", "1"), "invalid_json"),
        // Bad numbers.
        (trade_with("price", r#""NaN""#), "bad_number"),
        (trade_with("price", r#""1e5""#), "bad_number"),
        (trade_with("price", r#""""#), "bad_number"),
        (trade_with("price", r#""0""#), "not_positive"),
        (trade_with("price", r#""-94123.4""#), "not_positive"),
        (trade_with("price", r#""100000000000000000000""#), "absurd_value"),
        (trade_with("size", r#""-0.5""#), "negative_size"),
        (trade_with("size", r#""0""#), "not_positive"),
        // Bad fields.
        (trade_with("side", r#""BUY""#), "bad_field"),
        (trade_with("tradeId", r#""""#), "bad_field"),
        (trade_with("tradeId", r#""a b""#), "bad_field"),
        // Bad times: the trade time is nanoseconds, as a string.
        (trade_with("time", r#""1767621787123""#), "bad_time"),
        (trade_with("time", r#""2026-01-05T14:03:07Z""#), "bad_time"),
        (trade_with("time", r#""-1""#), "bad_time"),
        (trade_with("time", r#""99999999999999999999""#), "bad_time"),
        // Level-2 specifics.
        (l2_with("sequenceStart", "14701689786"), "bad_field"),
        (l2_with("sequenceStart", r#""x""#), "bad_field"),
        (l2_with("sequenceStart", "-1"), "invalid_json"),
        (l2_with("sequenceEnd", "1.5"), "invalid_json"),
        (without_field(&l2, "sequenceEnd"), "missing_field"),
        (without_field(&l2, "changes"), "missing_field"),
        (l2_with("changes", "[[],[]]"), "invalid_json"),
        (l2_with("time", r#""1767621787125""#), "invalid_json"),
        (l2_with("time", "1767621787"), "bad_time"),
        (l2_with("asks", r#"[["94123.5","0.51"]]"#), "invalid_json"),
        (l2_with("asks", r#"[["94123.5","0.51","1","2"]]"#), "invalid_json"),
        (l2_with("asks", r#"[["94123.5","0.51",14701689783]]"#), "invalid_json"),
        (l2_with("asks", r#"{}"#), "invalid_json"),
        (l2_with("asks", r#"[["94123.5","0.51","x"]]"#), "bad_field"),
        (l2_with("asks", r#"[["94123.5","-1","14701689783"]]"#), "negative_size"),
        (l2_with("asks", r#"[["-1","1","14701689783"]]"#), "not_positive"),
        (l2_with("bids", r#"[["abc","1","14701689784"]]"#), "bad_number"),
        // Ticker specifics.
        (with_field(&fixture("ticker_all.json"), "bestBid", r#""abc""#), "bad_number"),
        (with_field(&fixture("ticker_all.json"), "bestBidSize", r#""-1""#), "negative_size"),
        (with_field(&fixture("ticker_all.json"), "price", "47.1"), "invalid_json"),
        (with_field(&fixture("ticker_all.json"), "time", r#""1767621787118""#), "invalid_json"),
        (without_field(&fixture("ticker_all.json"), "subject"), "missing_field"),
        // Control frames.
        (r#"{"id":"1","type":"error"}"#.to_owned(), "missing_field"),
        (r#"{"id":"1","type":"error","data":{"x":1}}"#.to_owned(), "invalid_json"),
        (r#"{"id":"1","type":"error","code":[],"data":"x"}"#.to_owned(), "invalid_json"),
        (r#"{"id":{},"type":"ack"}"#.to_owned(), "invalid_json"),
        // A duplicate key is ambiguous, in the envelope and in the data.
        (format!("{},\"type\":\"message\"}}", fixture("match.json").trim().trim_end_matches('}')), "invalid_json"),
        (fixture("match.json").replace(r#""price":"94123.4","#, r#""price":"94123.4","price":"1","#), "invalid_json"),
    ];
    let mut d = with_symbols();
    for (frame, reason) in cases {
        let e = fails(&mut d, &frame);
        assert_eq!(e.reason(), reason, "{frame}: {e}");
    }
}

#[test]
fn errors_name_the_field() {
    let mut d = with_symbols();
    assert_eq!(fails(&mut d, &trade_without("price")), DecodeError::MissingField("price"));
    assert_eq!(fails(&mut d, "{}"), DecodeError::MissingField("type"));
    assert_eq!(fails(&mut d, &trade_with("price", r#""1e5""#)), DecodeError::BadNumber { field: "price", error: NumberError::NotNumeric });
    assert_eq!(fails(&mut d, &trade_with("size", r#""-0.5""#)), DecodeError::BadNumber { field: "size", error: NumberError::Negative });
    assert!(matches!(fails(&mut d, &trade_with("time", r#""1""#)), DecodeError::BadTime { field: "time", .. }));
    assert!(matches!(fails(&mut d, &trade_with("side", r#""BUY""#)), DecodeError::BadField { field: "side", .. }));
    assert!(matches!(fails(&mut d, &l2_with("sequenceStart", "14701689786")), DecodeError::BadField { field: "sequenceStart", .. }));
    assert_eq!(
        fails(&mut d, &l2_with("bids", r#"[["94123.4","1.2","14701689784"],["x","1","14701689786"]]"#)),
        DecodeError::BadNumber { field: "changes.price", error: NumberError::NotNumeric }
    );
    assert!(matches!(fails(&mut d, &l2_with("asks", r#"[["1","1","-3"]]"#)), DecodeError::BadField { field: "changes.sequence", .. }));
}

#[test]
fn a_trade_of_size_zero_is_invalid() {
    let mut d = with_symbols();
    for zero in [r#""0""#, r#""0.00000000""#, r#""-0""#] {
        assert_eq!(
            fails(&mut d, &trade_with("size", zero)),
            DecodeError::BadNumber { field: "size", error: NumberError::NotPositive },
            "{zero}"
        );
    }
}

#[test]
fn one_bad_change_fails_the_whole_message_and_leaves_the_book_alone() {
    let mut d = with_symbols();
    let _ = rest(&mut d, &book_url("BTC-USDT"), &fixture("rest_orderbook_level2_100.json"));
    let before = d.book_state("BTC-USDT");
    let bad = l2_with("bids", r#"[["94123.4","-1","14701689784"]]"#);
    assert_eq!(fails(&mut d, &bad).reason(), "negative_size");
    assert_eq!(d.book_state("BTC-USDT"), before);
    // A bad gapped message does not reset the book either.
    let gap = bad.replace("14701689783", "14701689900").replace("14701689785", "14701689901");
    assert_eq!(fails(&mut d, &gap).reason(), "negative_size");
    assert_eq!(d.book_state("BTC-USDT"), before);
    // Nor does a bad stale one count as stale.
    let stale = bad.replace("14701689783", "14701689770").replace("14701689785", "14701689771");
    assert_eq!(fails(&mut d, &stale).reason(), "negative_size");
    assert_eq!(d.stats().stale_updates, 0);
    // The good message still applies.
    let (r, out) = ws(&mut d, &fixture("level2.json"));
    assert_eq!(r, Ok(Decoded::Market { msg: "l2update" }));
    assert!(matches!(out.as_slice(), [MarketEvent::BookDelta(u)] if u.sequence == Some(14_701_689_785)), "{out:?}");
}

#[test]
fn a_failed_frame_leaves_the_decoder_as_it_was() {
    let mut d = KucoinDecoder::new();
    // A new symbol in a bad frame is neither registered nor announced...
    let bad = fixture("match.json").replace("BTC-USDT", "DOGE-USDT").replace("94123.4", "NaN");
    assert_eq!(fails(&mut d, &bad).reason(), "bad_number");
    assert_eq!(d.product_count(), 0);
    let bad_l2 = fixture("level2.json").replace("BTC-USDT", "DOGE-USDT").replace("\"0.51\"", "\"x\"");
    assert_eq!(fails(&mut d, &bad_l2).reason(), "bad_number");
    assert_eq!((d.product_count(), d.book_state("DOGE-USDT")), (0, None));
    assert!(d.take_snapshot_requests().is_empty());

    // ...so the next good frame announces it, and decodes normally.
    let (r, out) = ws(&mut d, &fixture("match.json").replace("BTC-USDT", "DOGE-USDT"));
    assert_eq!(r, Ok(Decoded::Market { msg: "match" }));
    assert!(matches!(out.as_slice(), [MarketEvent::Product(p), MarketEvent::Trade(_)] if p.native_symbol == "DOGE-USDT"));

    // Garbage between good frames changes nothing either.
    for junk in ["", "{", "\u{0}", "[]", r#"{"type":"message"}"#] {
        assert!(ws(&mut d, junk).0.is_err());
    }
    assert_eq!(d.product_count(), 1);
    assert_eq!(d.book_state("DOGE-USDT"), Some(BookSyncState::Idle));
}

#[test]
fn a_failed_frame_does_not_touch_events_already_in_the_output() {
    let mut d = with_symbols();
    let mut out = Vec::new();
    d.decode_ws(&fixture("match.json"), RECV, &mut out).unwrap();
    let before = out.clone();
    assert!(d.decode_ws(&trade_with("price", r#""NaN""#), RECV, &mut out).is_err());
    assert!(d.decode_rest(&book_url("BTC-USDT"), "{}", RECV, &mut out).is_err());
    assert_eq!(out, before);
}
