//! The Binance spot side of a websocket session and of a trade backfill:
//! [`BinanceSession`], a [`SessionProtocol`].
//!
//! Docs followed: <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md>
//! (combined streams, `SUBSCRIBE`/`UNSUBSCRIBE` with their `{"result":null,"id":N}`
//! replies, the limits: 5 incoming messages a second, 1024 streams a
//! connection, connections closed after 24 hours) and
//! <https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md>
//! (`exchangeInfo`, `depth`, `aggTrades?fromId=`, request weights: 6,000 a
//! minute per IP; `depth?limit=1000` costs 50, `aggTrades` 4,
//! `exchangeInfo` 20; 429 then 418 when exceeded, with `Retry-After`).
//!
//! Books: Binance sends no snapshot on the websocket. The decoder buffers
//! the diff stream and asks for a REST snapshot (see `sync.rs`), which the
//! runtime fetches from [`SessionProtocol::snapshot_url`]; a book is
//! resynced the same way, never by re-subscribing.

use std::time::Duration;

use marketpipe_model::Exchange;
use serde::Deserialize;
use serde_json::Value;

use super::control::{
    agg_trades_url, depth_snapshot_url, stream_name, subscribe_request, unsubscribe_request, AGG_TRADES_PAGE_LIMIT, REST_URL, WS_URL,
};
use crate::{
    session::{FrameClass, Request, SessionProtocol, TradePage, TradePaging},
    wire::de::{json_error, OptU64},
    DecodeError,
};

/// Streams one connection may carry.
pub const MAX_STREAMS_PER_CONNECTION: usize = 1024;
/// Symbols per connection: with up to four per-symbol channels and the
/// all-market ones this stays within [`MAX_STREAMS_PER_CONNECTION`].
pub const MAX_PRODUCTS_PER_CONNECTION: usize = 250;
/// Streams named in one `SUBSCRIBE`: a frame stays a few kilobytes, and a
/// connection's full subscription takes at most six frames.
const STREAMS_PER_REQUEST: usize = 200;
/// Binance drops a connection that sends more than 5 messages a second;
/// 4 a second leaves room for the pongs tungstenite sends on its own.
const SEND_INTERVAL: Duration = Duration::from_millis(250);
/// Binance closes every connection after 24 hours; it is replaced an hour
/// ahead, with the new one subscribed before the old one closes.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(23 * 3600);
/// The request weight allowed per second: 6,000 a minute, of which 80 %
/// is used so other clients on the same IP (and clock skew in Binance's
/// accounting) do not tip it into 429s.
const WEIGHT_PER_SECOND: u32 = 80;

/// Channels subscribed by default: trades, the diff book, the best bid and
/// ask, and 24-hour statistics of every symbol (once a second, which also
/// proves the connection alive).
const DEFAULT_CHANNELS: &[&str] = &["aggTrade", "depth@100ms", "bookTicker", "!miniTicker@arr"];

/// The Binance spot session protocol. Stateless.
#[derive(Debug, Clone, Copy, Default)]
pub struct BinanceSession;

/// One trade of a `GET /api/v3/aggTrades` page; only the id matters here.
///
/// ```json
/// {"a":26129,"p":"0.01633102","q":"4.70443515","f":27781,"l":27781,"T":1498793709153,"m":true,"M":true}
/// ```
#[derive(Deserialize)]
struct PageTrade {
    #[serde(default)]
    a: OptU64,
}

impl BinanceSession {
    /// The streams of `channels` for `products`: per-symbol channels for
    /// each product, all-market channels once.
    fn streams(products: &[&str], channels: &[&str]) -> Vec<String> {
        let mut streams = Vec::with_capacity(products.len() * channels.len() + 1);
        for channel in channels.iter().filter(|c| !c.starts_with('!')) {
            streams.extend(products.iter().map(|p| stream_name(p, channel)));
        }
        streams.extend(channels.iter().filter(|c| c.starts_with('!')).map(|c| (*c).to_owned()));
        streams
    }

    fn requests(products: &[&str], channels: &[&str], next_id: &mut u64, build: fn(&[&str], u64) -> String) -> Vec<Request> {
        let streams = Self::streams(products, channels);
        let streams: Vec<&str> = streams.iter().map(String::as_str).collect();
        streams
            .chunks(STREAMS_PER_REQUEST)
            .map(|chunk| {
                let id = *next_id;
                *next_id += 1;
                Request { text: build(chunk, id), reply_id: Some(id.to_string()) }
            })
            .collect()
    }
}

/// The id of a reply as text: Binance echoes the request's id, a number
/// here (a string from other clients is taken as is).
fn id_text(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

impl SessionProtocol for BinanceSession {
    fn exchange(&self) -> Exchange {
        Exchange::Binance
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
        None
    }

    /// `!miniTicker@arr` (or `!ticker@arr`) arrives every second.
    fn keeps_alive(&self, channels: &[String]) -> bool {
        channels.iter().any(|c| c.ends_with("icker@arr"))
    }

    fn is_all_market_channel(&self, channel: &str) -> bool {
        channel.starts_with('!')
    }

    fn is_book_channel(&self, channel: &str) -> bool {
        channel == "depth" || channel.starts_with("depth@")
    }

    /// `SUBSCRIBE` frames of up to 200 streams each:
    ///
    /// ```json
    /// {"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth@100ms","!miniTicker@arr"],"id":1}
    /// ```
    fn subscribe_frames(&self, products: &[&str], channels: &[&str], next_id: &mut u64) -> Vec<Request> {
        Self::requests(products, channels, next_id, subscribe_request)
    }

    fn unsubscribe_frames(&self, products: &[&str], channels: &[&str], next_id: &mut u64) -> Vec<Request> {
        Self::requests(products, channels, next_id, unsubscribe_request)
    }

    fn send_interval(&self) -> Duration {
        SEND_INTERVAL
    }

    fn max_connection_age(&self) -> Option<Duration> {
        Some(MAX_CONNECTION_AGE)
    }

    /// Examples:
    ///
    /// ```json
    /// {"stream":"btcusdt@aggTrade","data":{...}}
    /// {"result":null,"id":1}
    /// {"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}
    /// ```
    ///
    /// Combined-stream data (nearly every frame) is recognized by its first
    /// key without parsing; only the rest is parsed.
    fn classify(&self, text: &str) -> FrameClass {
        let head = text.trim_start();
        if head.starts_with(r#"{"stream""#) || head.starts_with('[') {
            return FrameClass::Data;
        }
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else { return FrameClass::Data };
        let nested = match map.get("error") {
            Some(Value::Object(e)) => Some(e),
            _ => None,
        };
        if nested.is_some() || (map.contains_key("code") && map.contains_key("msg")) {
            let error = nested.unwrap_or(&map);
            let msg = error.get("msg").and_then(Value::as_str).unwrap_or("unreadable error");
            let code = error.get("code").map_or_else(String::new, |c| format!(" (code {c})"));
            return FrameClass::ExchangeError { message: format!("{msg}{code}") };
        }
        match (map.contains_key("result"), map.get("id").and_then(id_text)) {
            (true, Some(id)) => FrameClass::Reply { id },
            _ => FrameClass::Data,
        }
    }

    /// `{rest}/api/v3/exchangeInfo`: every symbol, so that the all-market
    /// tickers of symbols not subscribed are normalized too.
    fn products_url(&self, rest_url: &str) -> String {
        format!("{}/api/v3/exchangeInfo", rest_url.trim_end_matches('/'))
    }

    fn snapshot_url(&self, rest_url: &str, product: &str) -> Option<String> {
        Some(depth_snapshot_url(rest_url, product))
    }

    fn trades_paging(&self) -> Option<TradePaging> {
        Some(TradePaging::Forward)
    }

    /// `{rest}/api/v3/aggTrades?symbol=X&fromId={cursor}&limit=1000`; the
    /// most recent page without a cursor.
    fn trades_page_url(&self, rest_url: &str, product: &str, cursor: Option<u64>) -> String {
        match cursor {
            Some(from) => agg_trades_url(rest_url, product, from),
            None => {
                let url = agg_trades_url(rest_url, product, 0);
                url.replacen("&fromId=0", "", 1)
            }
        }
    }

    fn trades_page_limit(&self) -> usize {
        AGG_TRADES_PAGE_LIMIT
    }

    /// Weights as documented: `depth` by its limit, `aggTrades` 4,
    /// `exchangeInfo` 20.
    fn rest_weight(&self, url: &str) -> u32 {
        let path = url.split('?').next().unwrap_or(url);
        if path.ends_with("/api/v3/depth") {
            let limit = url.split(['?', '&']).find_map(|kv| kv.strip_prefix("limit=")).and_then(|v| v.parse::<u32>().ok()).unwrap_or(100);
            match limit {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            }
        } else if path.ends_with("/api/v3/aggTrades") {
            4
        } else if path.ends_with("/api/v3/exchangeInfo") {
            20
        } else {
            1
        }
    }

    fn rest_weight_per_second(&self) -> u32 {
        WEIGHT_PER_SECOND
    }

    /// The body is an array of aggregate trades, oldest first (the order is
    /// not relied on).
    fn read_trades_page(&self, body: &str) -> Result<TradePage, DecodeError> {
        let trades: Vec<PageTrade> = serde_json::from_str(body).map_err(json_error)?;
        let mut page = TradePage { count: trades.len(), oldest: None, newest: None };
        for t in trades {
            let id = t.a.0.ok_or(DecodeError::MissingField("a"))?;
            page.oldest = Some(page.oldest.map_or(id, |o| o.min(id)));
            page.newest = Some(page.newest.map_or(id, |n| n.max(id)));
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: BinanceSession = BinanceSession;

    #[test]
    fn subscribes_streams_in_numbered_frames() {
        let mut n = 7;
        let frames = P.subscribe_frames(&["BTCUSDT", "NKNUSDT"], &["aggTrade", "depth@100ms", "!miniTicker@arr"], &mut n);
        assert_eq!(frames.len(), 1);
        assert_eq!(
            frames[0].text,
            r#"{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","nknusdt@aggTrade","btcusdt@depth@100ms","nknusdt@depth@100ms","!miniTicker@arr"],"id":7}"#
        );
        assert_eq!(frames[0].reply_id.as_deref(), Some("7"));
        assert_eq!(n, 8);
        let many: Vec<String> = (0..150).map(|i| format!("S{i}USDT")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let frames = P.unsubscribe_frames(&many, &["aggTrade", "bookTicker"], &mut n);
        assert_eq!(frames.len(), 2, "300 streams in frames of 200");
        assert!(frames[1].text.starts_with(r#"{"method":"UNSUBSCRIBE""#));
        assert_eq!(frames.iter().map(|f| f.reply_id.clone().unwrap()).collect::<Vec<_>>(), ["8", "9"]);
    }

    #[test]
    fn classifies_replies_errors_and_data() {
        assert_eq!(P.classify(r#"{"result":null,"id":3}"#), FrameClass::Reply { id: "3".into() });
        assert_eq!(P.classify(r#"{"result":["btcusdt@aggTrade"],"id":"x"}"#), FrameClass::Reply { id: "x".into() });
        assert_eq!(
            P.classify(r#"{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":1}"#),
            FrameClass::ExchangeError { message: "Invalid request: invalid stream (code 2)".into() }
        );
        assert_eq!(
            P.classify(r#"{"code":0,"msg":"Unknown property","id":5}"#),
            FrameClass::ExchangeError { message: "Unknown property (code 0)".into() }
        );
        assert_eq!(P.classify(r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade"}}"#), FrameClass::Data);
        assert_eq!(P.classify(r#"[{"e":"24hrMiniTicker"}]"#), FrameClass::Data);
        assert_eq!(P.classify("not json"), FrameClass::Data);
    }

    #[test]
    fn rest_urls_and_weights() {
        let rest = "http://h";
        assert_eq!(P.products_url(rest), "http://h/api/v3/exchangeInfo");
        let depth = P.snapshot_url(rest, "BTCUSDT").unwrap();
        assert_eq!(depth, "http://h/api/v3/depth?symbol=BTCUSDT&limit=1000");
        assert_eq!(P.rest_weight(&depth), 50);
        assert_eq!(P.trades_page_url(rest, "BTCUSDT", Some(5)), "http://h/api/v3/aggTrades?symbol=BTCUSDT&fromId=5&limit=1000");
        assert_eq!(P.trades_page_url(rest, "BTCUSDT", None), "http://h/api/v3/aggTrades?symbol=BTCUSDT&limit=1000");
        assert_eq!(P.rest_weight("http://h/api/v3/aggTrades?symbol=X"), 4);
        assert_eq!(P.rest_weight(&P.products_url(rest)), 20);
        let page = P.read_trades_page(r#"[{"a":5,"p":"1"},{"a":7},{"a":6}]"#).unwrap();
        assert_eq!(page, TradePage { count: 3, oldest: Some(5), newest: Some(7) });
        assert!(P.read_trades_page(r#"[{"p":"1"}]"#).is_err());
        assert!(P.keeps_alive(&["!miniTicker@arr".to_owned()]));
        assert!(!P.keeps_alive(&["aggTrade".to_owned()]));
    }
}
