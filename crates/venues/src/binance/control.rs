//! Control messages: the responses and errors the stream server sends back
//! for `SUBSCRIBE`/`UNSUBSCRIBE`/`LIST_SUBSCRIPTIONS` requests, the request
//! itself, and the REST URLs a runtime requests (the decoder recognizes
//! the responses by the same paths).
//!
//! See <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md#live-subscribingunsubscribing-to-streams>

use std::fmt::Write as _;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::de::{self, json_error, Str};
use crate::{session::push_path_segment, DecodeError};

/// The public combined-stream endpoint (append `?streams=a/b/c`).
pub const WS_URL: &str = "wss://stream.binance.com:9443/stream";
/// The public REST API.
pub const REST_URL: &str = "https://api.binance.com";
/// The deepest REST snapshot the decoder's sync is meant for: the
/// `limit=1000` of Binance's own procedure (weight 10 at the time of
/// writing; `5000` is allowed but costs five times more).
pub const DEPTH_SNAPSHOT_LIMIT: usize = 1000;
/// The largest page `GET /api/v3/aggTrades` serves.
pub const AGG_TRADES_PAGE_LIMIT: usize = 1000;

/// The reply to a request, by its `result`:
///
/// ```json
/// {"result": null, "id": 1}
/// {"result": ["btcusdt@aggTrade", "btcusdt@depth@100ms", "!miniTicker@arr"], "id": 3}
/// ```
///
/// `null` acknowledges a `SUBSCRIBE`/`UNSUBSCRIBE`/`SET_PROPERTY`; an array
/// answers `LIST_SUBSCRIPTIONS`; a boolean answers `GET_PROPERTY`.
/// Returns the channels listed, each with the native (upper-case) symbols
/// subscribed on it, in the order first listed.
pub(crate) fn response(result: &RawValue) -> Result<Vec<(String, Vec<String>)>, DecodeError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Reply<'a> {
        #[serde(borrow)]
        Streams(Vec<Str<'a>>),
        /// `null` or a property value: acknowledges without listing.
        Other(#[allow(dead_code)] Option<bool>),
    }
    let streams = match serde_json::from_str::<Reply<'_>>(result.get()).map_err(|_| DecodeError::BadField {
        field: "result",
        detail: format!("{} is neither null, a boolean nor a list of streams", de::snippet(result.get())),
    })? {
        Reply::Streams(streams) => streams,
        Reply::Other(_) => return Ok(Vec::new()),
    };
    let mut channels: Vec<(String, Vec<String>)> = Vec::new();
    for stream in &streams {
        let stream = stream.as_str();
        let (channel, symbol) = match stream.split_once('@') {
            Some((symbol, channel)) if !symbol.starts_with('!') => (channel, Some(symbol.to_ascii_uppercase())),
            _ => (stream, None),
        };
        match channels.iter_mut().find(|(c, _)| c == channel) {
            Some((_, symbols)) => symbols.extend(symbol),
            None => channels.push((channel.to_owned(), symbol.into_iter().collect())),
        }
    }
    Ok(channels)
}

/// The error of a request, in either form the server has used:
///
/// ```json
/// {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 1}
/// {"code": 0, "msg": "Unknown property", "id": 5}
/// ```
///
/// See <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md#error-messages>
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    msg: Option<String>,
}

impl ErrorBody {
    /// Reads the `error` object.
    pub(crate) fn parse(raw: &RawValue) -> Result<Self, DecodeError> {
        serde_json::from_str(raw.get()).map_err(json_error)
    }

    /// From a top-level `code` and `msg`.
    pub(crate) fn from_parts(code: &RawValue, msg: &RawValue) -> Result<Self, DecodeError> {
        Ok(ErrorBody {
            code: serde_json::from_str(code.get()).map_err(json_error)?,
            msg: serde_json::from_str(msg.get()).map_err(json_error)?,
        })
    }

    /// The message, and the code as the reason.
    pub(crate) fn into_parts(self) -> Result<(String, Option<String>), DecodeError> {
        Ok((de::required(self.msg, "msg")?, self.code.map(|c| format!("code {c}"))))
    }
}

/// The stream name of `channel` for `symbol`: `nknusdt@depth@100ms`.
/// Stream names use the lower-case symbol.
pub fn stream_name(symbol: &str, channel: &str) -> String {
    let mut s = String::with_capacity(symbol.len() + channel.len() + 1);
    s.extend(symbol.chars().map(|c| c.to_ascii_lowercase()));
    s.push('@');
    s.push_str(channel);
    s
}

/// The `SUBSCRIBE` request for `streams`, as the text of one frame:
///
/// ```json
/// {"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth@100ms"],"id":1}
/// ```
pub fn subscribe_request(streams: &[&str], id: u64) -> String {
    request("SUBSCRIBE", streams, id)
}

/// The `UNSUBSCRIBE` request for `streams`.
pub fn unsubscribe_request(streams: &[&str], id: u64) -> String {
    request("UNSUBSCRIBE", streams, id)
}

fn request(method: &str, streams: &[&str], id: u64) -> String {
    let mut s = String::with_capacity(48 + streams.iter().map(|x| x.len() + 3).sum::<usize>());
    let _ = write!(s, r#"{{"method":"{method}","params":["#);
    for (i, stream) in streams.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        de::push_json_string(&mut s, stream);
    }
    let _ = write!(s, r#"],"id":{id}}}"#);
    s
}

/// The URL of `symbol`'s REST depth snapshot under `rest_url`, at
/// [`DEPTH_SNAPSHOT_LIMIT`]: what the sync needs after `needs_snapshot`.
pub fn depth_snapshot_url(rest_url: &str, symbol: &str) -> String {
    let mut url = String::with_capacity(rest_url.len() + symbol.len() + 40);
    url.push_str(rest_url.trim_end_matches('/'));
    url.push_str("/api/v3/depth?symbol=");
    push_path_segment(&mut url, symbol);
    let _ = write!(url, "&limit={DEPTH_SNAPSHOT_LIMIT}");
    url
}

/// The URL of a page of `symbol`'s aggregate trades from id `from_id` on.
pub fn agg_trades_url(rest_url: &str, symbol: &str, from_id: u64) -> String {
    let mut url = String::with_capacity(rest_url.len() + symbol.len() + 64);
    url.push_str(rest_url.trim_end_matches('/'));
    url.push_str("/api/v3/aggTrades?symbol=");
    push_path_segment(&mut url, symbol);
    let _ = write!(url, "&fromId={from_id}&limit={AGG_TRADES_PAGE_LIMIT}");
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn responses_group_streams_by_channel() {
        assert_eq!(response(raw("null")).unwrap(), vec![]);
        assert_eq!(response(raw("true")).unwrap(), vec![]);
        let listed = response(raw(r#"["btcusdt@aggTrade","ethusdt@aggTrade","btcusdt@depth@100ms","!miniTicker@arr"]"#)).unwrap();
        assert_eq!(
            listed,
            vec![
                ("aggTrade".to_owned(), vec!["BTCUSDT".to_owned(), "ETHUSDT".to_owned()]),
                ("depth@100ms".to_owned(), vec!["BTCUSDT".to_owned()]),
                ("!miniTicker@arr".to_owned(), vec![]),
            ]
        );
        assert_eq!(response(raw("5")).unwrap_err().reason(), "bad_field");
        assert_eq!(response(raw("[1]")).unwrap_err().reason(), "bad_field");
    }

    #[test]
    fn requests_and_urls() {
        assert_eq!(
            subscribe_request(&["btcusdt@aggTrade", "btcusdt@depth@100ms"], 1),
            r#"{"method":"SUBSCRIBE","params":["btcusdt@aggTrade","btcusdt@depth@100ms"],"id":1}"#
        );
        assert_eq!(unsubscribe_request(&[], 7), r#"{"method":"UNSUBSCRIBE","params":[],"id":7}"#);
        let v: serde_json::Value = serde_json::from_str(&subscribe_request(&["a\"b"], 2)).unwrap();
        assert_eq!(v["params"][0], "a\"b");
        assert_eq!(stream_name("NKNUSDT", "depth@100ms"), "nknusdt@depth@100ms");
        assert_eq!(
            depth_snapshot_url("https://api.binance.com/", "NKNUSDT"),
            "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000"
        );
        assert_eq!(
            agg_trades_url("http://127.0.0.1:9", "BTC USDT", 42),
            "http://127.0.0.1:9/api/v3/aggTrades?symbol=BTC%20USDT&fromId=42&limit=1000"
        );
    }
}
