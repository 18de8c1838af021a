//! The KuCoin spot side of a websocket session: [`KucoinSession`], a
//! [`SessionProtocol`].
//!
//! Docs followed: <https://www.kucoin.com/docs-new/websocket-api/base-info/introduction>
//! (a token from `POST /api/v1/bullet-public` for every connection,
//! `?token=…&connectId=…`, `welcome` before requests, `subscribe` with
//! `response: true` and its `ack`, client `ping` every `pingInterval`, at
//! most 100 messages per 10 s sent per connection, 100 symbols per topic)
//! and the REST rate limits (a public weight pool per 30 s).
//!
//! Books start from a REST snapshot joined to the stream by sequence (see
//! `sync.rs`); a book is resynced by fetching a new one. Trades carry
//! opaque string ids, so there is no trade-id gap backfill on KuCoin.

use std::time::Duration;

use marketpipe_model::Exchange;
use serde_json::Value;

use super::{
    control::{ping_request, subscribe_request, topic, unsubscribe_request, MAX_SYMBOLS_PER_TOPIC},
    rest::bullet,
    snapshot_url, REST_URL,
};
use crate::{
    session::{ConnectTarget, FrameClass, Request, SessionProtocol, TradePage, TradePaging},
    DecodeError,
};

/// The public websocket server, for reference: the runtime connects where
/// each `bullet-public` response says.
pub const WS_URL: &str = "wss://ws-api-spot.kucoin.com/";
/// At most 100 messages per 10 s may be sent on a connection; one every
/// 110 ms stays under it even with pings.
const SEND_INTERVAL: Duration = Duration::from_millis(110);
/// The public REST weight pool is 2,000 per 30 s; 50 a second uses three
/// quarters of it.
const WEIGHT_PER_SECOND: u32 = 50;

/// Channels subscribed by default: trades, the level-2 book, and every
/// symbol's ticker. A channel holding a `:` is a complete topic.
const DEFAULT_CHANNELS: &[&str] = &["/market/match", "/market/level2", "/market/ticker:all"];

/// The KuCoin spot session protocol. Stateless.
#[derive(Debug, Clone, Copy, Default)]
pub struct KucoinSession;

impl KucoinSession {
    fn requests(products: &[&str], channels: &[&str], next_id: &mut u64, build: fn(u64, &str) -> String) -> Vec<Request> {
        let mut topics = Vec::new();
        for channel in channels {
            if channel.contains(':') {
                topics.push((*channel).to_owned());
            } else {
                topics.extend(products.chunks(MAX_SYMBOLS_PER_TOPIC).map(|chunk| topic(channel, chunk)));
            }
        }
        topics
            .into_iter()
            .map(|t| {
                let n = *next_id;
                *next_id += 1;
                // The id the request carries (and the ack echoes) is `{n}{topic}`.
                Request { text: build(n, &t), reply_id: Some(format!("{n}{t}")) }
            })
            .collect()
    }
}

impl SessionProtocol for KucoinSession {
    fn exchange(&self) -> Exchange {
        Exchange::Kucoin
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
        MAX_SYMBOLS_PER_TOPIC
    }

    fn heartbeat_channel(&self) -> Option<&'static str> {
        None
    }

    /// The session pings and the server answers: silence beyond the ping
    /// timeout means a dead connection whatever is subscribed.
    fn keeps_alive(&self, _channels: &[String]) -> bool {
        true
    }

    fn is_all_market_channel(&self, channel: &str) -> bool {
        channel.ends_with(":all")
    }

    fn is_book_channel(&self, channel: &str) -> bool {
        channel == "/market/level2"
    }

    /// One `subscribe` per topic, each acknowledged by id:
    ///
    /// ```json
    /// {"id":"1/market/match:BTC-USDT,ETH-USDT","type":"subscribe","topic":"/market/match:BTC-USDT,ETH-USDT","privateChannel":false,"response":true}
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

    fn token_url(&self, rest_url: &str) -> Option<String> {
        Some(format!("{}/api/v1/bullet-public", rest_url.trim_end_matches('/')))
    }

    /// `{endpoint}?token={token}&connectId={conn}` from the bullet, with its
    /// ping interval and timeout. The token is used as given (KuCoin's are
    /// URL-safe; the bullet reader rejects anything but printable ASCII).
    fn connect_target(&self, _ws_url: &str, token_body: Option<&str>, conn: u64) -> Result<ConnectTarget, DecodeError> {
        let body = token_body.ok_or(DecodeError::MissingField("bullet"))?;
        let b = bullet(body)?;
        let sep = if b.endpoint.contains('?') { '&' } else { '?' };
        let mut url = format!("{}{sep}token=", b.endpoint);
        crate::session::push_path_segment(&mut url, &b.token);
        url.push_str(&format!("&connectId={conn}"));
        Ok(ConnectTarget { url, ping_interval: Some(b.ping_interval), ping_timeout: Some(b.ping_timeout) })
    }

    fn awaits_welcome(&self) -> bool {
        true
    }

    fn ping_frame(&self, n: u64) -> Option<String> {
        Some(ping_request(n))
    }

    /// Examples:
    ///
    /// ```json
    /// {"type":"message","topic":"/market/match:BTC-USDT","subject":"trade.l3match","data":{...}}
    /// {"id":"hQvf8jkno","type":"welcome"}
    /// {"id":"1/market/match:BTC-USDT","type":"ack"}
    /// {"id":"3","type":"pong"}
    /// {"id":"1","type":"error","code":404,"data":"topic /market/match:BTC-XYZ is not found"}
    /// ```
    ///
    /// Data (nearly every frame) is recognized by its leading `type`
    /// without parsing.
    fn classify(&self, text: &str) -> FrameClass {
        if text.trim_start().starts_with(r#"{"type":"message""#) {
            return FrameClass::Data;
        }
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else { return FrameClass::Data };
        match map.get("type").and_then(Value::as_str) {
            Some("welcome") => FrameClass::Welcome,
            Some("pong") => FrameClass::Heartbeat,
            Some("ack") => match map.get("id").and_then(Value::as_str) {
                Some(id) => FrameClass::Reply { id: id.to_owned() },
                None => FrameClass::Data,
            },
            Some("error") => {
                let data = map.get("data").and_then(Value::as_str).unwrap_or("unreadable error");
                let code = map.get("code").map_or_else(String::new, |c| format!(" (code {c})"));
                FrameClass::ExchangeError { message: format!("{data}{code}") }
            }
            _ => FrameClass::Data,
        }
    }

    /// `{rest}/api/v2/symbols`: every symbol, so the all-market tickers are
    /// normalized by metadata too.
    fn products_url(&self, rest_url: &str) -> String {
        format!("{}/api/v2/symbols", rest_url.trim_end_matches('/'))
    }

    fn snapshot_url(&self, rest_url: &str, product: &str) -> Option<String> {
        Some(snapshot_url(rest_url.trim_end_matches('/'), product))
    }

    /// Trade ids are opaque strings: no paging by id.
    fn trades_paging(&self) -> Option<TradePaging> {
        None
    }

    /// The last 100 trades (`/api/v1/market/histories`); never paged.
    fn trades_page_url(&self, rest_url: &str, product: &str, _cursor: Option<u64>) -> String {
        let mut url = format!("{}/api/v1/market/histories?symbol=", rest_url.trim_end_matches('/'));
        crate::session::push_path_segment(&mut url, product);
        url
    }

    fn trades_page_limit(&self) -> usize {
        100
    }

    /// Weights from KuCoin's REST docs: the bullet 10, symbols and the
    /// level-2 snapshots 4, trade histories 3.
    fn rest_weight(&self, url: &str) -> u32 {
        let path = url.split('?').next().unwrap_or(url);
        if path.ends_with("/bullet-public") {
            10
        } else if path.contains("/symbols") || path.contains("/orderbook/") {
            4
        } else {
            3
        }
    }

    fn rest_weight_per_second(&self) -> u32 {
        WEIGHT_PER_SECOND
    }

    /// A page of trade histories has no numeric ids: only its size is read.
    fn read_trades_page(&self, body: &str) -> Result<TradePage, DecodeError> {
        let v: Value = serde_json::from_str(body).map_err(crate::wire::de::json_error)?;
        let count = v.get("data").and_then(Value::as_array).ok_or(DecodeError::MissingField("data"))?.len();
        Ok(TradePage { count, oldest: None, newest: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: KucoinSession = KucoinSession;

    #[test]
    fn subscribes_one_topic_per_channel_acked_by_id() {
        let mut n = 1;
        let frames = P.subscribe_frames(&["BTC-USDT", "ETH-USDT"], &["/market/match", "/market/ticker:all"], &mut n);
        assert_eq!(frames.len(), 2);
        assert_eq!(
            frames[0].text,
            r#"{"id":"1/market/match:BTC-USDT,ETH-USDT","type":"subscribe","topic":"/market/match:BTC-USDT,ETH-USDT","privateChannel":false,"response":true}"#
        );
        assert_eq!(frames[0].reply_id.as_deref(), Some("1/market/match:BTC-USDT,ETH-USDT"));
        assert_eq!(frames[1].reply_id.as_deref(), Some("2/market/ticker:all"));
        let many: Vec<String> = (0..150).map(|i| format!("S{i}-USDT")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(P.unsubscribe_frames(&many, &["/market/level2"], &mut n).len(), 2, "100 symbols per topic");
        assert_eq!(n, 5);
    }

    #[test]
    fn classifies_control_frames() {
        assert_eq!(P.classify(r#"{"id":"hQvf8jkno","type":"welcome"}"#), FrameClass::Welcome);
        assert_eq!(
            P.classify(r#"{"id":"1/market/match:BTC-USDT","type":"ack"}"#),
            FrameClass::Reply { id: "1/market/match:BTC-USDT".into() }
        );
        assert_eq!(P.classify(r#"{"id":"3","type":"pong"}"#), FrameClass::Heartbeat);
        assert_eq!(
            P.classify(r#"{"id":"1","type":"error","code":404,"data":"topic /market/match:BTC-XYZ is not found"}"#),
            FrameClass::ExchangeError { message: "topic /market/match:BTC-XYZ is not found (code 404)".into() }
        );
        assert_eq!(P.classify(r#"{"type":"message","topic":"/market/match:BTC-USDT","data":{}}"#), FrameClass::Data);
        assert_eq!(P.classify("{"), FrameClass::Data);
    }

    #[test]
    fn connects_where_the_bullet_says() {
        let body = r#"{"code":"200000","data":{"token":"2neAiuYvAU61ZD","instanceServers":[{"endpoint":"wss://ws-api-spot.kucoin.com/","encrypt":true,"protocol":"websocket","pingInterval":18000,"pingTimeout":10000}]}}"#;
        let t = P.connect_target("ignored", Some(body), 9).unwrap();
        assert_eq!(t.url, "wss://ws-api-spot.kucoin.com/?token=2neAiuYvAU61ZD&connectId=9");
        assert_eq!((t.ping_interval, t.ping_timeout), (Some(Duration::from_secs(18)), Some(Duration::from_secs(10))));
        assert!(P.connect_target("x", None, 1).is_err());
        assert!(P.connect_target("x", Some(r#"{"code":"200000","data":{}}"#), 1).is_err());
        assert_eq!(P.token_url("http://h/").as_deref(), Some("http://h/api/v1/bullet-public"));
        assert_eq!(P.snapshot_url("http://h", "BTC-USDT").as_deref(), Some("http://h/api/v1/market/orderbook/level2_100?symbol=BTC-USDT"));
        assert_eq!(P.rest_weight("http://h/api/v1/bullet-public"), 10);
    }
}
