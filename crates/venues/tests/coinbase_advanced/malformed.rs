//! Malformed trades pages: every bad page gets its own clear reason, emits
//! nothing, registers nothing, and leaves the decoder as it was. One bad
//! trade rejects the whole page, as on Coinbase Exchange.

use marketpipe_model::MarketEvent;
use marketpipe_venues::DecodeError;

use crate::support::{fixture, rest, trades_fail, with_products, BTC_TRADES_URL};

/// The market trades fixture with the first trade's `field` replaced by a
/// raw JSON value.
fn first_trade_with(field: &str, raw_value: &str) -> String {
    let page = fixture("rest_market_trades.json");
    let key = format!("\"{field}\": ");
    let start = page.find(&key).unwrap_or_else(|| panic!("no {field}")) + key.len();
    let end = start + page[start..].find([',', '}']).unwrap();
    format!("{}{raw_value}{}", &page[..start], &page[end..])
}

/// The market trades fixture without the first trade's `field`.
fn first_trade_without(field: &str) -> String {
    let page = fixture("rest_market_trades.json");
    let start = page.find(&format!("\"{field}\": ")).unwrap();
    let end = start + page[start..].find(',').unwrap() + 1;
    format!("{}{}", &page[..start], &page[end..])
}

#[test]
fn malformed_pages_give_their_reason() {
    let cases: Vec<(String, &str)> = vec![
        // Not JSON, or not the page's shape.
        ("".to_owned(), "invalid_json"),
        (r#"{"trades":["#.to_owned(), "invalid_json"),
        // serde reads an empty array as an object with no fields.
        ("[]".to_owned(), "missing_field"),
        ("null".to_owned(), "invalid_json"),
        (r#"{"trades":{}}"#.to_owned(), "invalid_json"),
        (r#"{"trades":[42]}"#.to_owned(), "invalid_json"),
        (format!("{} trailing", fixture("rest_market_trades.json").trim()), "invalid_json"),
        ("{}".to_owned(), "missing_field"),
        (r#"{"trades":null,"best_bid":"1"}"#.to_owned(), "missing_field"),
        (fixture("rest_error.json"), "missing_field"),
        // Missing fields.
        (first_trade_without("trade_id"), "missing_field"),
        (first_trade_without("product_id"), "missing_field"),
        (first_trade_without("price"), "missing_field"),
        (first_trade_without("size"), "missing_field"),
        (first_trade_without("time"), "missing_field"),
        (first_trade_without("side"), "missing_field"),
        (first_trade_with("price", "null"), "missing_field"),
        // Fields of the wrong JSON type.
        (first_trade_with("price", "68923.67"), "invalid_json"),
        (first_trade_with("trade_id", "995098663"), "invalid_json"),
        (first_trade_with("side", "1"), "invalid_json"),
        (first_trade_with("product_id", r#"["BTC-USD"]"#), "invalid_json"),
        (r#"{"trades":[],"best_bid":1}"#.to_owned(), "invalid_json"),
        // Bad numbers.
        (first_trade_with("price", r#""NaN""#), "bad_number"),
        (first_trade_with("price", r#""1e5""#), "bad_number"),
        (first_trade_with("price", r#""""#), "bad_number"),
        (first_trade_with("price", r#""0""#), "not_positive"),
        (first_trade_with("price", r#""-1""#), "not_positive"),
        (first_trade_with("size", r#""-0.5""#), "negative_size"),
        (first_trade_with("size", r#""0""#), "not_positive"),
        (r#"{"trades":[],"best_bid":"abc"}"#.to_owned(), "bad_number"),
        (r#"{"trades":[],"best_ask":"0"}"#.to_owned(), "not_positive"),
        // Bad fields.
        (first_trade_with("side", r#""sell""#), "bad_field"),
        (first_trade_with("side", r#""UNKNOWN_ORDER_SIDE""#), "bad_field"),
        (first_trade_with("trade_id", r#""""#), "bad_field"),
        (first_trade_with("trade_id", r#""a b""#), "bad_field"),
        (first_trade_with("product_id", r#""ETH-USD""#), "bad_field"),
        // Bad times.
        (first_trade_with("time", r#""yesterday""#), "bad_time"),
        (first_trade_with("time", r#""2026-04-07 00:28:58""#), "bad_time"),
        (first_trade_with("time", r#""2026-02-30T00:00:00Z""#), "bad_time"),
        (first_trade_with("time", r#""1900-01-01T00:00:00Z""#), "bad_time"),
        (first_trade_with("time", r#""1775521738""#), "bad_time"),
    ];
    let mut d = with_products();
    for (body, reason) in &cases {
        let e = trades_fail(&mut d, body);
        assert_eq!(e.reason(), *reason, "{body}: {e}");
        assert!(!e.to_string().is_empty());
    }
    // The decoder is unharmed: the good page still decodes in full.
    let (r, out) = rest(&mut d, BTC_TRADES_URL, &fixture("rest_market_trades.json"));
    assert!(r.is_ok());
    assert_eq!(out.iter().filter(|e| matches!(e, MarketEvent::Trade(_))).count(), 3);
}

#[test]
fn errors_name_the_field() {
    let mut d = with_products();
    assert_eq!(trades_fail(&mut d, &first_trade_without("side")), DecodeError::MissingField("side"));
    assert!(matches!(trades_fail(&mut d, &first_trade_with("side", r#""buy""#)), DecodeError::BadField { field: "side", .. }));
    assert!(matches!(trades_fail(&mut d, &first_trade_with("time", r#""x""#)), DecodeError::BadTime { field: "time", .. }));
    assert!(matches!(trades_fail(&mut d, r#"{"trades":[],"best_bid":"x"}"#), DecodeError::BadNumber { field: "best_bid", .. }));
}

#[test]
fn a_bad_page_for_an_unlisted_product_registers_nothing() {
    let mut d = marketpipe_venues::coinbase_advanced::CoinbaseAdvancedDecoder::new();
    let e = trades_fail(&mut d, &first_trade_with("size", r#""-1""#));
    assert_eq!(e.reason(), "negative_size");
    assert_eq!(d.product_count(), 0);
    let (r, _) = rest(&mut d, "/api/v3/brokerage/market/products/BTCUSD/ticker", r#"{"trades":[]}"#);
    assert!(matches!(r, Err(DecodeError::BadField { field: "product_id", .. })), "{r:?}");
}
