//! Malformed input: every bad frame gets its own clear reason, emits
//! nothing, and leaves the decoder (products and book sync) as it was.

use marketpipe_model::{MarketEvent, NumberError};
use marketpipe_venues::{binance::BookSyncState, DecodeError, Decoded, VenueDecoder};

use crate::support::{depth, fails, fixture, rest, snapshot, trace, with_products, ws, DEPTH_URL, RECV};

/// A fixture with one field of its `data` replaced by a raw JSON value.
fn with(name: &str, field: &str, raw_value: &str) -> String {
    let frame = fixture(name);
    let key = format!("\"{field}\":");
    let start = frame.find(&key).unwrap_or_else(|| panic!("no {field} in {name}")) + key.len();
    let end = start + frame[start..].find([',', '}']).unwrap();
    format!("{}{raw_value}{}", &frame[..start], &frame[end..])
}

/// A fixture without one (scalar) field of its `data`.
fn without(name: &str, field: &str) -> String {
    let frame = fixture(name);
    let start = frame.find(&format!("\"{field}\":")).unwrap_or_else(|| panic!("no {field} in {name}"));
    let end = start + frame[start..].find(',').unwrap() + 1;
    format!("{}{}", &frame[..start], &frame[end..])
}

const TRADE: &str = "agg_trade.json";
const DEPTH: &str = "depth_update.json";
const BOOK: &str = "book_ticker.json";
const MINI: &str = "mini_ticker.json";

#[test]
fn malformed_frames_give_their_reason() {
    let cases: Vec<(String, &str)> = vec![
        // Not JSON, or not an object.
        (r#"{"stream":"nknusdt@aggTrade","#.to_owned(), "invalid_json"),
        ("".to_owned(), "invalid_json"),
        ("\u{feff}{}".to_owned(), "invalid_json"),
        (r#""aggTrade""#.to_owned(), "invalid_json"),
        ("[1,2,3]".to_owned(), "invalid_json"),
        ("42".to_owned(), "invalid_json"),
        ("null".to_owned(), "invalid_json"),
        (format!("{} trailing", fixture(TRADE).trim()), "invalid_json"),
        ("{}".to_owned(), "missing_field"),
        (r#"{"s":"NKNUSDT"}"#.to_owned(), "missing_field"),
        (r#"{"stream":5,"data":{}}"#.to_owned(), "invalid_json"),
        (r#"{"stream":"nknusdt@aggTrade"}"#.to_owned(), "missing_field"),
        (r#"{"stream":"nknusdt@aggTrade","data":[]}"#.to_owned(), "missing_field"),
        (r#"{"stream":"nknusdt@aggTrade","data":[1]}"#.to_owned(), "invalid_json"),
        (r#"{"stream":"nknusdt@aggTrade","data":"x"}"#.to_owned(), "invalid_json"),
        (r#"{"stream":"nknusdt","data":{}}"#.to_owned(), "bad_field"),
        (r#"{"stream":"@aggTrade","data":{}}"#.to_owned(), "bad_field"),
        (r#"{"e":5}"#.to_owned(), "invalid_json"),
        // Missing fields.
        (without(TRADE, "s"), "missing_field"),
        (without(TRADE, "a"), "missing_field"),
        (without(TRADE, "p"), "missing_field"),
        (without(TRADE, "q"), "missing_field"),
        (without(TRADE, "T"), "missing_field"),
        (with(TRADE, "m", "null"), "missing_field"),
        (without(DEPTH, "E"), "missing_field"),
        (without(DEPTH, "U"), "missing_field"),
        (without(DEPTH, "u"), "missing_field"),
        (fixture(DEPTH).replace(r#""a":[["0.35230000","120.50000000"]]"#, r#""a":null"#), "missing_field"),
        (without(BOOK, "u"), "missing_field"),
        (without(BOOK, "B"), "missing_field"),
        (without(MINI, "E"), "missing_field"),
        // Fields of the wrong JSON type.
        (with(TRADE, "p", "0.3521"), "invalid_json"),
        (with(TRADE, "a", r#""28457912""#), "invalid_json"),
        (with(TRADE, "a", "-1"), "invalid_json"),
        (with(TRADE, "T", "1.5"), "invalid_json"),
        (with(TRADE, "m", r#""true""#), "invalid_json"),
        (with(TRADE, "m", "1"), "invalid_json"),
        (with(TRADE, "s", r#"["NKNUSDT"]"#), "invalid_json"),
        (with(DEPTH, "U", r#""499869753""#), "invalid_json"),
        (with(BOOK, "b", "0.3521"), "invalid_json"),
        (with(MINI, "c", "0.035"), "invalid_json"),
        // Bad numbers.
        (with(TRADE, "p", r#""NaN""#), "bad_number"),
        (with(TRADE, "p", r#""1e5""#), "bad_number"),
        (with(TRADE, "p", r#""inf""#), "bad_number"),
        (with(TRADE, "p", r#""""#), "bad_number"),
        (with(TRADE, "p", r#"" 1""#), "bad_number"),
        (with(TRADE, "p", r#""0""#), "not_positive"),
        (with(TRADE, "p", r#""-0.3521""#), "not_positive"),
        (with(TRADE, "p", r#""100000000000000000000""#), "absurd_value"),
        (with(TRADE, "q", r#""-150""#), "negative_size"),
        (with(TRADE, "q", r#""0.00000000""#), "not_positive"),
        (with(BOOK, "B", r#""-1""#), "negative_size"),
        (with(BOOK, "b", r#""-0.35""#), "not_positive"),
        (with(BOOK, "a", r#""x""#), "bad_number"),
        (with(MINI, "v", r#""-1""#), "negative_size"),
        (with(MINI, "q", r#""1e3""#), "bad_number"),
        (with(MINI, "h", r#""-0.03""#), "not_positive"),
        // Bad times.
        (with(TRADE, "T", "0"), "bad_time"),
        (with(TRADE, "T", "1230940799999"), "bad_time"),
        (with(TRADE, "T", "4102444800001"), "bad_time"),
        (with(TRADE, "T", "18446744073709551615"), "bad_time"),
        (with(DEPTH, "E", "1767621787180000"), "bad_time"),
        (with(MINI, "E", "1"), "bad_time"),
        // Bad fields.
        (with(TRADE, "e", r#""trade""#), "bad_field"),
        (with(DEPTH, "e", r#""depthUpdat""#), "bad_field"),
        (with(DEPTH, "U", "499869756"), "bad_field"),
        (with(MINI, "e", r#""24hrTicker""#), "bad_field"),
        // Depth level arrays.
        (depth(1, 2).replace(r#"[["0.35170000","2"]]"#, r#"[["0.35170000"]]"#), "invalid_json"),
        (depth(1, 2).replace(r#"[["0.35170000","2"]]"#, r#"[["0.35170000","2","3"]]"#), "invalid_json"),
        (depth(1, 2).replace(r#"[["0.35170000","2"]]"#, r#"[[0.3517,"2"]]"#), "invalid_json"),
        (depth(1, 2).replace(r#"[["0.35170000","2"]]"#, "{}"), "invalid_json"),
        (depth(1, 2).replace(r#"[["0.35170000","2"]]"#, r#"[["0.35170000","-2"]]"#), "negative_size"),
        (depth(1, 2).replace(r#"[["0.35170000","2"]]"#, r#"[["0","2"]]"#), "not_positive"),
        (depth(1, 2).replace(r#""a":[]"#, r#""a":[["x","1"]]"#), "bad_number"),
        // Control messages.
        (r#"{"result":5,"id":1}"#.to_owned(), "bad_field"),
        (r#"{"result":[1],"id":1}"#.to_owned(), "bad_field"),
        (r#"{"error":"bad","id":1}"#.to_owned(), "invalid_json"),
        (r#"{"code":"x","msg":"bad"}"#.to_owned(), "invalid_json"),
        // A duplicate key is ambiguous.
        (format!("{},\"stream\":\"nknusdt@aggTrade\"}}", fixture(TRADE).trim().trim_end_matches('}')), "invalid_json"),
        (fixture(TRADE).replace(r#""p":"0.35210000""#, r#""p":"0.35210000","p":"1""#), "invalid_json"),
        (r#"{"result":null,"result":null,"id":1}"#.to_owned(), "invalid_json"),
        // A miniTicker array with one bad entry.
        (fixture("mini_ticker_arr.json").replace(r#""c":"1.20000000""#, r#""c":"abc""#), "bad_number"),
        (fixture("mini_ticker_arr.json").replace(r#""c":"1.20000000""#, r#""c":1.2"#), "invalid_json"),
        (r#"[{"e":"24hrMiniTicker","E":1767621787001}]"#.to_owned(), "missing_field"),
        (r#"[{"e":"24hrMiniTicker","E":1767621787001,"s":"NKNUSDT"}"#.to_owned(), "invalid_json"),
    ];
    let mut d = with_products();
    for (frame, reason) in cases {
        let e = fails(&mut d, &frame);
        assert_eq!(e.reason(), reason, "{frame}: {e}");
    }
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Buffering { events: 0 }), "no bad depth frame was buffered");
    assert_eq!(d.stats().unknown_symbol_tickers, 0, "a failed array counts nothing");
}

#[test]
fn errors_name_the_field() {
    let mut d = with_products();
    assert_eq!(fails(&mut d, &without(TRADE, "p")), DecodeError::MissingField("p"));
    assert_eq!(fails(&mut d, "{}"), DecodeError::MissingField("stream"));
    assert_eq!(fails(&mut d, &with(TRADE, "p", r#""1e5""#)), DecodeError::BadNumber { field: "p", error: NumberError::NotNumeric });
    assert_eq!(fails(&mut d, &with(TRADE, "q", r#""-1""#)), DecodeError::BadNumber { field: "q", error: NumberError::Negative });
    assert!(matches!(fails(&mut d, &with(TRADE, "T", "0")), DecodeError::BadTime { field: "T", .. }));
    assert!(matches!(fails(&mut d, &with(DEPTH, "U", "499869756")), DecodeError::BadField { field: "U", .. }));
    let bad_ask = depth(1, 2).replace(r#""a":[]"#, r#""a":[["0.4","1"],["0.5","1e2"]]"#);
    assert_eq!(fails(&mut d, &bad_ask), DecodeError::BadNumber { field: "a.size", error: NumberError::NotNumeric });
    let bad_bid = depth(1, 2).replace(r#"[["0.35170000","2"]]"#, r#"[["x","1"]]"#);
    assert_eq!(fails(&mut d, &bad_bid), DecodeError::BadNumber { field: "b.price", error: NumberError::NotNumeric });
    let (r, _) = rest(&mut d, DEPTH_URL, r#"{"lastUpdateId":1,"bids":[["1","x"]],"asks":[]}"#);
    assert_eq!(r, Err(DecodeError::BadNumber { field: "bids.size", error: NumberError::NotNumeric }));
}

#[test]
fn a_failed_frame_leaves_the_book_sync_as_it_was() {
    let mut d = with_products();
    // Buffering: a bad frame is not buffered, and does not ask for a snapshot.
    let bad = depth(10, 11).replace(r#""a":[]"#, r#""a":[["NaN","1"]]"#);
    assert_eq!(fails(&mut d, &bad).reason(), "bad_number");
    assert_eq!(d.needs_snapshot().count(), 0);
    // Synced: a bad frame neither advances the update id nor resets.
    assert!(rest(&mut d, DEPTH_URL, &snapshot(9)).0.is_ok());
    assert_eq!(trace(&ws(&mut d, &depth(10, 11)).1), ["D11"]);
    assert_eq!(fails(&mut d, &depth(12, 13).replace("1767621787180", "1")).reason(), "bad_time");
    assert_eq!(fails(&mut d, &depth(20, 21).replace(r#""U":20"#, r#""U":"20""#)).reason(), "invalid_json");
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Synced { update_id: 11, joined: true }));
    // The good frame it stood for still follows.
    assert_eq!(trace(&ws(&mut d, &depth(12, 13)).1), ["D13"]);
    // A failed snapshot changes nothing either.
    let (r, _) = rest(&mut d, DEPTH_URL, r#"{"lastUpdateId":50,"bids":[["1","-1"]],"asks":[]}"#);
    assert!(r.is_err());
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Synced { update_id: 13, joined: true }));
    // Garbage between good frames changes nothing.
    for junk in ["", "{", "\u{0}", "[{}]", r#"{"stream":"nknusdt@depth"}"#, r#"{"e":"depthUpdate"}"#] {
        assert!(ws(&mut d, junk).0.is_err(), "{junk:?}");
    }
    assert_eq!(trace(&ws(&mut d, &depth(14, 14)).1), ["D14"]);
    assert_eq!(d.stats().sequence_gaps, 0);
}

#[test]
fn a_failed_frame_does_not_touch_events_already_in_the_output() {
    let mut d = with_products();
    let mut out = Vec::new();
    d.decode_ws(&fixture(TRADE), RECV, &mut out).unwrap();
    let before = out.clone();
    assert!(d.decode_ws(&with(TRADE, "p", r#""NaN""#), RECV, &mut out).is_err());
    let bad_array = fixture("mini_ticker_arr.json").replace(r#""c":"0.03512000""#, r#""c":"x""#);
    assert!(d.decode_ws(&bad_array, RECV, &mut out).is_err(), "the bad entry is the last one, after two good ones");
    assert_eq!(out, before);
    assert!(matches!(d.decode_ws(&fixture("mini_ticker_arr.json"), RECV, &mut out), Ok(Decoded::Market { .. })));
    assert!(matches!(out.as_slice(), [MarketEvent::Trade(_), MarketEvent::Ticker(_), MarketEvent::Ticker(_)]));
}
