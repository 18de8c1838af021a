//! The Coinbase Exchange side of a websocket session and of a trade
//! backfill: [`CoinbaseSession`], a [`SessionProtocol`].
//!
//! Docs followed: <https://docs.cdp.coinbase.com/exchange/docs/websocket-overview>
//! (subscribe, unsubscribe, `subscriptions`, `error`),
//! <https://docs.cdp.coinbase.com/exchange/docs/websocket-channels> (channels,
//! `heartbeat`) and
//! <https://docs.cdp.coinbase.com/exchange/reference/exchangerestapi_getproducttrades>
//! with <https://docs.cdp.coinbase.com/exchange/docs/rest-pagination>
//! (cursor pagination: `after=X` returns trades older than `X`, newest first).

use marketpipe_model::Exchange;
use serde::Deserialize;

use super::{
    control::{subscribe_request, ErrorMsg, SubscriptionsMsg},
    de::{self, json_error, OptU64},
};
use crate::{
    session::{push_path_segment, FrameClass, Request, SessionProtocol, TradePage},
    DecodeError,
};

/// The public websocket feed.
pub const WS_URL: &str = "wss://ws-feed.exchange.coinbase.com";
/// The public REST API.
pub const REST_URL: &str = "https://api.exchange.coinbase.com";
/// The largest page `GET /products/{id}/trades` serves.
pub const TRADES_PAGE_LIMIT: usize = 1000;
/// Products per connection. Coinbase publishes no hard cap; a full-depth
/// `level2_batch` snapshot of a busy product is megabytes, so a bounded
/// share per connection keeps one slow socket from delaying every product
/// and keeps subscribe frames small.
pub const MAX_PRODUCTS_PER_CONNECTION: usize = 50;

/// Channels subscribed by default: order book, trades, ticker, and
/// heartbeats for the watchdog and trade-gap checks.
const DEFAULT_CHANNELS: &[&str] = &["heartbeat", "level2_batch", "matches", "ticker"];

/// The Coinbase Exchange session protocol. Stateless.
#[derive(Debug, Clone, Copy, Default)]
pub struct CoinbaseSession;

impl CoinbaseSession {
    /// The protocol.
    pub fn new() -> Self {
        CoinbaseSession
    }
}

/// The `unsubscribe` request: the `subscribe` shape with another `type`.
///
/// ```json
/// {"type":"unsubscribe","product_ids":["BTC-USD"],"channels":["level2_batch"]}
/// ```
fn unsubscribe_request(product_ids: &[&str], channels: &[&str]) -> String {
    let subscribe = subscribe_request(product_ids, channels);
    // subscribe_request always starts with this prefix; fall back to a
    // rebuilt frame rather than trusting that silently.
    match subscribe.strip_prefix(r#"{"type":"subscribe""#) {
        Some(rest) => format!(r#"{{"type":"unsubscribe"{rest}"#),
        None => {
            let v = serde_json::json!({"type": "unsubscribe", "product_ids": product_ids, "channels": channels});
            v.to_string()
        }
    }
}

/// The value of a leading `"type":"..."` key, read without parsing the rest
/// of the frame. Coinbase always sends `type` first; `None` when it is not
/// first or contains an escape.
fn leading_type(text: &str) -> Option<&str> {
    let rest = text.trim_start().strip_prefix('{')?.trim_start().strip_prefix(r#""type""#)?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    match rest.as_bytes().get(end) {
        Some(b'"') => rest.get(..end),
        _ => None,
    }
}

/// Only the `type` of a frame: the slow path for frames where it is not the
/// first key (every other field is skipped by serde).
#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// One trade of a `GET /products/{id}/trades` page; only the id matters for
/// pagination.
///
/// ```json
/// {"time":"2014-11-07T22:19:28.578544Z","trade_id":74,"price":"10.00000000","size":"0.01000000","side":"buy"}
/// ```
#[derive(Deserialize)]
struct PageTrade {
    #[serde(default)]
    trade_id: OptU64,
}

impl CoinbaseSession {
    /// Classifies a frame whose type is known.
    fn classify_type(kind: &str, text: &str) -> FrameClass {
        match kind {
            "heartbeat" => FrameClass::Heartbeat,
            "subscriptions" => match serde_json::from_str::<SubscriptionsMsg>(text).map_err(json_error).and_then(|s| s.into_channels()) {
                Ok(channels) => {
                    let mut products: Vec<String> = channels.into_iter().flat_map(|(_, ids)| ids).collect();
                    products.sort_unstable();
                    products.dedup();
                    FrameClass::Ack { products }
                }
                // A malformed ack acknowledges nothing; the decoder counts it.
                Err(_) => FrameClass::Data,
            },
            "error" => {
                let message = match serde_json::from_str::<ErrorMsg>(text).map_err(json_error).and_then(|e| e.into_parts()) {
                    Ok((message, Some(reason))) if !reason.is_empty() => format!("{message}: {reason}"),
                    Ok((message, _)) => message,
                    Err(e) => format!("unreadable error frame ({e})"),
                };
                FrameClass::ExchangeError { message }
            }
            _ => FrameClass::Data,
        }
    }
}

impl SessionProtocol for CoinbaseSession {
    fn exchange(&self) -> Exchange {
        Exchange::Coinbase
    }

    fn default_ws_url(&self) -> &'static str {
        WS_URL
    }

    fn default_rest_url(&self) -> &'static str {
        REST_URL
    }

    fn default_channels(&self) -> &'static [&'static str] {
        DEFAULT_CHANNELS
    }

    fn max_products_per_connection(&self) -> usize {
        MAX_PRODUCTS_PER_CONNECTION
    }

    fn heartbeat_channel(&self) -> Option<&'static str> {
        Some("heartbeat")
    }

    fn is_book_channel(&self, channel: &str) -> bool {
        matches!(channel, "level2" | "level2_batch" | "level2_50" | "full")
    }

    /// One frame for everything:
    ///
    /// ```json
    /// {"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channels":["heartbeat","level2_batch","matches"]}
    /// ```
    fn subscribe_frames(&self, products: &[&str], channels: &[&str], _next_id: &mut u64) -> Vec<Request> {
        vec![Request::unnumbered(subscribe_request(products, channels))]
    }

    fn unsubscribe_frames(&self, products: &[&str], channels: &[&str], _next_id: &mut u64) -> Vec<Request> {
        vec![Request::unnumbered(unsubscribe_request(products, channels))]
    }

    /// Examples:
    ///
    /// ```json
    /// {"type":"subscriptions","channels":[{"name":"heartbeat","product_ids":["BTC-USD"]},"status"]}
    /// {"type":"error","message":"Failed to subscribe","reason":"ETH-XYZ is not a valid product"}
    /// {"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD","time":"2014-11-07T08:19:28.464459Z"}
    /// ```
    ///
    /// Anything else, including frames that are not JSON, is
    /// [`FrameClass::Data`].
    fn classify(&self, text: &str) -> FrameClass {
        if let Some(kind) = leading_type(text) {
            return Self::classify_type(kind, text);
        }
        // Rare: `type` is not the first key. Only then pay for a full scan.
        if !text.contains(r#""type""#) {
            return FrameClass::Data;
        }
        match serde_json::from_str::<TypeOnly>(text) {
            Ok(TypeOnly { kind: Some(kind) }) => Self::classify_type(&kind, text),
            _ => FrameClass::Data,
        }
    }

    /// `{rest}/products`.
    fn products_url(&self, rest_url: &str) -> String {
        format!("{}/products", rest_url.trim_end_matches('/'))
    }

    /// `{rest}/products/{id}/trades?limit=1000&after={cursor}`.
    fn trades_page_url(&self, rest_url: &str, product: &str, cursor: Option<u64>) -> String {
        let mut url = String::with_capacity(rest_url.len() + product.len() + 48);
        url.push_str(rest_url.trim_end_matches('/'));
        url.push_str("/products/");
        push_path_segment(&mut url, product);
        url.push_str("/trades?limit=");
        url.push_str(&TRADES_PAGE_LIMIT.to_string());
        if let Some(cursor) = cursor {
            url.push_str("&after=");
            url.push_str(&cursor.to_string());
        }
        url
    }

    fn trades_page_limit(&self) -> usize {
        TRADES_PAGE_LIMIT
    }

    /// The body is an array of trades, newest first (the order is not
    /// relied on: the smallest and largest ids are computed).
    fn read_trades_page(&self, body: &str) -> Result<TradePage, DecodeError> {
        let trades: Vec<PageTrade> = serde_json::from_str(body).map_err(json_error)?;
        let mut page = TradePage { count: trades.len(), oldest: None, newest: None };
        for t in trades {
            let id = de::required(t.trade_id.0, "trade_id")?;
            page.oldest = Some(page.oldest.map_or(id, |o| o.min(id)));
            page.newest = Some(page.newest.map_or(id, |n| n.max(id)));
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: CoinbaseSession = CoinbaseSession;

    #[test]
    fn subscribe_and_unsubscribe_frames() {
        let n = &mut 0;
        let text = |r: Vec<Request>| r.into_iter().map(|r| r.text).collect::<Vec<_>>();
        let sub = text(P.subscribe_frames(&["BTC-USD", "ETH-USD"], &["heartbeat", "matches"], n));
        assert_eq!(sub, vec![r#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channels":["heartbeat","matches"]}"#]);
        let unsub = text(P.unsubscribe_frames(&["BTC-USD"], &["level2_batch"], n));
        assert_eq!(unsub, vec![r#"{"type":"unsubscribe","product_ids":["BTC-USD"],"channels":["level2_batch"]}"#]);
        let v: serde_json::Value = serde_json::from_str(&P.unsubscribe_frames(&["a\"b"], &[], n)[0].text).unwrap();
        assert_eq!(v["type"], "unsubscribe");
        assert_eq!(v["product_ids"][0], "a\"b");
    }

    #[test]
    fn classifies_acks_with_their_products() {
        let ack = r#"{"type":"subscriptions","channels":[{"name":"level2_batch","product_ids":["ETH-USD","BTC-USD"]},{"name":"heartbeat","product_ids":["ETH-USD"]},"status"]}"#;
        assert_eq!(P.classify(ack), FrameClass::Ack { products: vec!["BTC-USD".into(), "ETH-USD".into()] });
        // The fixture the decoder tests use classifies the same way.
        let fixture = include_str!("../../tests/fixtures/coinbase/subscriptions.json");
        assert!(matches!(P.classify(fixture), FrameClass::Ack { .. }), "{fixture}");
        // An ack without channels acknowledges nothing.
        assert_eq!(P.classify(r#"{"type":"subscriptions"}"#), FrameClass::Data);
    }

    #[test]
    fn classifies_errors_heartbeats_and_data() {
        let err = r#"{"type":"error","message":"Failed to subscribe","reason":"ETH-XYZ is not a valid product"}"#;
        assert_eq!(P.classify(err), FrameClass::ExchangeError { message: "Failed to subscribe: ETH-XYZ is not a valid product".into() });
        assert_eq!(
            P.classify(r#"{"type":"error","message":"Rate limited"}"#),
            FrameClass::ExchangeError { message: "Rate limited".into() }
        );
        assert!(matches!(P.classify(r#"{"type":"error"}"#), FrameClass::ExchangeError { .. }));
        let hb = r#"{"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD","time":"2014-11-07T08:19:28.464459Z"}"#;
        assert_eq!(P.classify(hb), FrameClass::Heartbeat);
        assert_eq!(P.classify(r#" { "type" : "heartbeat" }"#), FrameClass::Heartbeat);
        // Shallow by design: a truncated heartbeat still reads as one (it
        // proves the connection alive all the same); the decoder counts it.
        assert_eq!(P.classify(r#"{"type":"heartbeat""#), FrameClass::Heartbeat);
        let m = r#"{"type":"match","trade_id":10,"product_id":"BTC-USD"}"#;
        assert_eq!(P.classify(m), FrameClass::Data);
        for other in ["", "not json", "[]", "{}", r#"{"type":5}"#, r#"{"type":"heart\"beat"}"#] {
            assert_eq!(P.classify(other), FrameClass::Data, "{other:?}");
        }
    }

    #[test]
    fn classifies_frames_whose_type_is_not_first() {
        assert_eq!(P.classify(r#"{"product_id":"BTC-USD","type":"heartbeat"}"#), FrameClass::Heartbeat);
        assert_eq!(
            P.classify(r#"{"channels":[{"name":"matches","product_ids":["BTC-USD"]}],"type":"subscriptions"}"#),
            FrameClass::Ack { products: vec!["BTC-USD".into()] }
        );
        assert_eq!(P.classify(r#"{"product_id":"BTC-USD","type":"match"}"#), FrameClass::Data);
    }

    #[test]
    fn trades_page_urls() {
        assert_eq!(
            P.trades_page_url("https://api.exchange.coinbase.com", "BTC-USD", Some(1234)),
            "https://api.exchange.coinbase.com/products/BTC-USD/trades?limit=1000&after=1234"
        );
        assert_eq!(P.trades_page_url("http://127.0.0.1:9/", "BTC USD", None), "http://127.0.0.1:9/products/BTC%20USD/trades?limit=1000");
    }

    #[test]
    fn reads_trade_pages() {
        let fixture = include_str!("../../tests/fixtures/coinbase/rest_trades.json");
        let page = P.read_trades_page(fixture).unwrap();
        assert!(page.count > 0);
        assert!(page.oldest <= page.newest);
        let body =
            r#"[{"trade_id":12,"price":"1","size":"1","side":"buy","time":"2014-11-07T22:19:28.578544Z"},{"trade_id":10},{"trade_id":11}]"#;
        assert_eq!(P.read_trades_page(body).unwrap(), TradePage { count: 3, oldest: Some(10), newest: Some(12) });
        assert_eq!(P.read_trades_page("[]").unwrap(), TradePage::default());
        assert_eq!(P.read_trades_page(r#"[{"trade_id":1},{"price":"1"}]"#).unwrap_err().reason(), "missing_field");
        assert_eq!(P.read_trades_page(r#"{"message":"NotFound"}"#).unwrap_err().reason(), "invalid_json");
        assert_eq!(P.read_trades_page(r#"[{"trade_id":-1}]"#).unwrap_err().reason(), "invalid_json");
    }

    #[test]
    fn defaults() {
        assert_eq!(P.exchange(), Exchange::Coinbase);
        assert_eq!(P.default_ws_url(), "wss://ws-feed.exchange.coinbase.com");
        assert_eq!(P.default_rest_url(), "https://api.exchange.coinbase.com");
        assert!(P.default_channels().contains(&"heartbeat"));
        assert!(P.is_book_channel("level2_batch") && !P.is_book_channel("matches"));
    }
}
