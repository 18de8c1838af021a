//! Malformed input: every bad frame gets its own clear reason, emits
//! nothing, and leaves the decoder as it was.

use marketpipe_model::{MarketEvent, NumberError};
use marketpipe_venues::{coinbase::CoinbaseDecoder, DecodeError, Decoded};

use crate::support::{fails, fixture, with_products, ws};

/// The match fixture with one field's raw JSON value replaced.
fn match_with(field: &str, raw_value: &str) -> String {
    let frame = fixture("match.json");
    let key = format!("\"{field}\":");
    let start = frame.find(&key).unwrap_or_else(|| panic!("no {field}")) + key.len();
    let end = start + frame[start..].find([',', '}']).unwrap();
    format!("{}{raw_value}{}", &frame[..start], &frame[end..])
}

/// The match fixture without one field.
fn match_without(field: &str) -> String {
    let frame = fixture("match.json");
    let start = frame.find(&format!("\"{field}\":")).unwrap();
    let end = start + frame[start..].find(',').unwrap() + 1;
    format!("{}{}", &frame[..start], &frame[end..])
}

#[test]
fn malformed_frames_give_their_reason() {
    let cases: Vec<(String, &str)> = vec![
        // Not JSON, or not an object.
        (r#"{"type":"match","#.to_owned(), "invalid_json"),
        ("".to_owned(), "invalid_json"),
        ("\u{feff}{}".to_owned(), "invalid_json"),
        (r#""match""#.to_owned(), "invalid_json"),
        ("[1,2,3]".to_owned(), "invalid_json"),
        ("42".to_owned(), "invalid_json"),
        ("null".to_owned(), "invalid_json"),
        (format!("{} trailing", fixture("match.json").trim()), "invalid_json"),
        ("{}".to_owned(), "missing_field"),
        (r#"{"product_id":"BTC-USD"}"#.to_owned(), "missing_field"),
        (r#"{"type":5}"#.to_owned(), "invalid_json"),
        // Missing fields.
        (match_without("price"), "missing_field"),
        (match_without("size"), "missing_field"),
        (match_without("side"), "missing_field"),
        (match_without("trade_id"), "missing_field"),
        (match_without("product_id"), "missing_field"),
        (match_with("time", "null"), "missing_field"),
        // Fields of the wrong JSON type.
        (match_with("price", "43521.17"), "invalid_json"),
        (match_with("trade_id", r#""627465181""#), "invalid_json"),
        (match_with("trade_id", "-1"), "invalid_json"),
        (match_with("trade_id", "1.5"), "invalid_json"),
        (match_with("side", "1"), "invalid_json"),
        (match_with("product_id", r#"["BTC-USD"]"#), "invalid_json"),
        // Bad numbers.
        (match_with("price", r#""NaN""#), "bad_number"),
        (match_with("price", r#""1e5""#), "bad_number"),
        (match_with("price", r#""inf""#), "bad_number"),
        (match_with("price", r#""""#), "bad_number"),
        (match_with("price", r#"" 1""#), "bad_number"),
        (match_with("price", r#""0""#), "not_positive"),
        (match_with("price", r#""-43521.17""#), "not_positive"),
        (match_with("price", r#""100000000000000000000""#), "absurd_value"),
        (match_with("size", r#""-0.5""#), "negative_size"),
        // Bad fields.
        (match_with("side", r#""SELL""#), "bad_field"),
        (match_with("side", r#""""#), "bad_field"),
        (match_with("trade_id", "0"), "bad_field"),
        // Bad times.
        (match_with("time", r#""yesterday""#), "bad_time"),
        (match_with("time", r#""2026-01-05 14:03:07""#), "bad_time"),
        (match_with("time", r#""2026-02-30T14:03:07Z""#), "bad_time"),
        (match_with("time", r#""1900-01-01T00:00:00Z""#), "bad_time"),
        (match_with("time", r#""2999-01-01T00:00:00Z""#), "bad_time"),
        // Book and ticker specifics.
        (r#"{"type":"l2update","product_id":"BTC-USD","changes":[["bid","1","2"]]}"#.to_owned(), "bad_field"),
        (r#"{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1"]]}"#.to_owned(), "invalid_json"),
        (r#"{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1","2","3"]]}"#.to_owned(), "invalid_json"),
        (r#"{"type":"l2update","product_id":"BTC-USD","changes":[["buy",1,"2"]]}"#.to_owned(), "invalid_json"),
        (r#"{"type":"l2update","product_id":"BTC-USD","changes":{}}"#.to_owned(), "invalid_json"),
        (r#"{"type":"l2update","product_id":"BTC-USD"}"#.to_owned(), "missing_field"),
        (r#"{"type":"snapshot","product_id":"BTC-USD","bids":[["1","-2"]],"asks":[]}"#.to_owned(), "negative_size"),
        (r#"{"type":"snapshot","product_id":"BTC-USD","bids":[],"asks":[["0","2"]]}"#.to_owned(), "not_positive"),
        (r#"{"type":"snapshot","product_id":"BTC-USD","bids":[]}"#.to_owned(), "missing_field"),
        (r#"{"type":"ticker","product_id":"BTC-USD","best_bid":"abc"}"#.to_owned(), "bad_number"),
        (r#"{"type":"ticker","product_id":"BTC-USD","volume_30d":"-1"}"#.to_owned(), "negative_size"),
        (r#"{"type":"ticker","product_id":"BTC-USD","price":7}"#.to_owned(), "invalid_json"),
        (r#"{"type":"heartbeat","product_id":"BTC-USD","time":"soon"}"#.to_owned(), "bad_time"),
        (r#"{"type":"subscriptions"}"#.to_owned(), "missing_field"),
        (r#"{"type":"subscriptions","channels":[5]}"#.to_owned(), "invalid_json"),
        (r#"{"type":"error"}"#.to_owned(), "missing_field"),
        // A duplicate key is ambiguous.
        (format!("{},\"price\":\"1\"}}", fixture("match.json").trim().trim_end_matches('}')), "invalid_json"),
    ];
    let mut d = with_products();
    for (frame, reason) in cases {
        let e = fails(&mut d, &frame);
        assert_eq!(e.reason(), reason, "{frame}: {e}");
    }
}

#[test]
fn errors_name_the_field() {
    let mut d = with_products();
    assert_eq!(fails(&mut d, &match_without("price")), DecodeError::MissingField("price"));
    assert_eq!(fails(&mut d, "{}"), DecodeError::MissingField("type"));
    assert_eq!(fails(&mut d, &match_with("price", r#""1e5""#)), DecodeError::BadNumber { field: "price", error: NumberError::NotNumeric });
    assert_eq!(fails(&mut d, &match_with("size", r#""-0.5""#)), DecodeError::BadNumber { field: "size", error: NumberError::Negative });
    assert!(matches!(fails(&mut d, &match_with("time", r#""1900-01-01T00:00:00Z""#)), DecodeError::BadTime { field: "time", .. }));
    assert!(matches!(fails(&mut d, &match_with("side", r#""SELL""#)), DecodeError::BadField { field: "side", .. }));
    let bad_change = r#"{"type":"l2update","product_id":"BTC-USD","changes":[["buy","1","2"],["sell","x","2"]]}"#;
    assert_eq!(fails(&mut d, bad_change), DecodeError::BadNumber { field: "changes.price", error: NumberError::NotNumeric });
    let bad_ask = r#"{"type":"snapshot","product_id":"BTC-USD","bids":[["1","2"]],"asks":[["3","1e2"]]}"#;
    assert_eq!(fails(&mut d, bad_ask), DecodeError::BadNumber { field: "asks.size", error: NumberError::NotNumeric });
}

#[test]
fn a_trade_of_size_zero_is_invalid() {
    let mut d = with_products();
    for zero in [r#""0""#, r#""0.00000000""#, r#""-0""#] {
        assert_eq!(
            fails(&mut d, &match_with("size", zero)),
            DecodeError::BadNumber { field: "size", error: NumberError::NotPositive },
            "{zero}"
        );
    }
}

#[test]
fn one_bad_change_fails_the_whole_update() {
    let mut d = with_products();
    let frame = r#"{"type":"l2update","product_id":"BTC-USD","changes":[["buy","43521.16","0.5"],["sell","43521.18","-1"],["sell","43522.01","1.2"]],"time":"2026-01-05T14:03:07.125381Z"}"#;
    assert_eq!(fails(&mut d, frame).reason(), "negative_size");
    let first_bad = r#"{"type":"snapshot","product_id":"BTC-USD","bids":[["x","1"]],"asks":[["1","y"]]}"#;
    assert_eq!(fails(&mut d, first_bad), DecodeError::BadNumber { field: "bids.price", error: NumberError::NotNumeric });
}

#[test]
fn a_failed_frame_leaves_the_decoder_as_it_was() {
    let mut d = CoinbaseDecoder::new();
    // A new product in a bad frame is neither registered nor announced...
    let bad = fixture("match.json").replace("BTC-USD", "DOGE-USD").replace("43521.17", "NaN");
    assert_eq!(fails(&mut d, &bad).reason(), "bad_number");
    assert_eq!(d.product_count(), 0);
    assert!(d.instrument("DOGE-USD").is_none());
    let bad_delta = fixture("l2update.json").replace("BTC-USD", "DOGE-USD").replace("\"sell\"", "\"ask\"");
    assert_eq!(fails(&mut d, &bad_delta).reason(), "bad_field");
    assert_eq!(d.product_count(), 0);

    // ...so the next good frame announces it, and decodes normally.
    let (r, out) = ws(&mut d, &fixture("match.json").replace("BTC-USD", "DOGE-USD"));
    assert_eq!(r, Ok(Decoded::Market { msg: "match" }));
    assert!(matches!(out.as_slice(), [MarketEvent::Product(p), MarketEvent::Trade(_)] if p.native_symbol == "DOGE-USD"));

    // Garbage between good frames changes nothing either.
    for junk in ["", "{", "\u{0}", "[]", r#"{"type":"match"}"#] {
        assert!(ws(&mut d, junk).0.is_err());
    }
    assert_eq!(d.product_count(), 1);
    let (r, out) = ws(&mut d, &fixture("match.json").replace("BTC-USD", "DOGE-USD"));
    assert!(r.is_ok());
    assert!(matches!(out.as_slice(), [MarketEvent::Trade(_)]));
}

#[test]
fn a_failed_frame_does_not_touch_events_already_in_the_output() {
    let mut d = with_products();
    let mut out = Vec::new();
    use marketpipe_venues::VenueDecoder;
    d.decode_ws(&fixture("match.json"), crate::support::RECV, &mut out).unwrap();
    let before = out.clone();
    assert!(d.decode_ws(&match_with("price", r#""NaN""#), crate::support::RECV, &mut out).is_err());
    assert_eq!(out, before);
}
