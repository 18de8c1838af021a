//! One capture record, parsed without copying.

use std::borrow::Cow;

use marketpipe_model::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;

/// What a record is (the `kind` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// A websocket connection opened (`url` is the websocket URL).
    Open,
    /// A websocket frame received.
    Ws,
    /// A websocket frame sent (subscribe messages, pongs).
    WsOut,
    /// A REST response received (`url` is the request URL).
    Rest,
    /// A websocket connection closed.
    Close,
}

impl RecordKind {
    /// The `kind` string.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Open => "open",
            RecordKind::Ws => "ws",
            RecordKind::WsOut => "ws_out",
            RecordKind::Rest => "rest",
            RecordKind::Close => "close",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => RecordKind::Open,
            "ws" => RecordKind::Ws,
            "ws_out" => RecordKind::WsOut,
            "rest" => RecordKind::Rest,
            "close" => RecordKind::Close,
            _ => return None,
        })
    }
}

/// A parsed record borrowing from its line.
#[derive(Debug, Clone)]
pub struct CaptureRecord<'a> {
    /// Receive time.
    pub recv: Timestamp,
    /// The `exchange` field, as written (the caller decides whether it knows it).
    pub exchange: Cow<'a, str>,
    /// The record kind.
    pub kind: RecordKind,
    /// Connection id, for websocket records.
    pub conn: Option<u64>,
    /// Websocket URL (`open`) or request URL (`rest`).
    pub url: Option<Cow<'a, str>>,
    /// The payload as raw JSON text, verbatim.
    pub data: Option<&'a RawValue>,
}

impl<'a> CaptureRecord<'a> {
    /// The payload as the text the exchange sent: a JSON payload verbatim,
    /// a payload stored as a JSON string (a frame that was not JSON) unescaped.
    pub fn payload(&self) -> Option<Cow<'a, str>> {
        let raw = self.data?.get();
        if raw.starts_with('"') {
            // A string payload: the frame itself was not JSON. Unescape it so
            // the decoder sees exactly what the exchange sent.
            serde_json::from_str::<Cow<'a, str>>(raw).ok()
        } else {
            Some(Cow::Borrowed(raw))
        }
    }
}

/// Why a line is not a capture record. The reasons are counter labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The line is not a JSON object with the record fields of the right types.
    #[error("not a capture record: {0}")]
    Malformed(String),
    /// A well-formed record of a kind this version does not know.
    #[error("unknown record kind {0:?}")]
    UnknownKind(String),
}

impl RecordError {
    /// A short stable label for counters.
    pub fn reason(&self) -> &'static str {
        match self {
            RecordError::Malformed(_) => "malformed_record",
            RecordError::UnknownKind(_) => "unknown_kind",
        }
    }
}

#[derive(Deserialize)]
struct Wire<'a> {
    recv_ns: i64,
    #[serde(borrow)]
    exchange: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    conn: Option<u64>,
    #[serde(default, borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

/// Parses one line (without its newline) into a record.
pub fn parse_record(line: &[u8]) -> Result<CaptureRecord<'_>, RecordError> {
    let wire: Wire<'_> = serde_json::from_slice(line).map_err(|e| RecordError::Malformed(e.to_string()))?;
    let kind = RecordKind::parse(&wire.kind).ok_or_else(|| RecordError::UnknownKind(wire.kind.clone().into_owned()))?;
    Ok(CaptureRecord { recv: Timestamp(wire.recv_ns), exchange: wire.exchange, kind, conn: wire.conn, url: wire.url, data: wire.data })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_design_example() {
        let line = br#"{"recv_ns":1633998512320638976,"exchange":"binance","kind":"rest","url":"https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000","data":{"lastUpdateId":499869752,"bids":[["0.35210000","672.00000000"]],"asks":[]}}"#;
        let r = parse_record(line).unwrap();
        assert_eq!(r.recv, Timestamp(1_633_998_512_320_638_976));
        assert_eq!(r.exchange, "binance");
        assert_eq!(r.kind, RecordKind::Rest);
        assert_eq!(r.conn, None);
        assert_eq!(r.url.as_deref(), Some("https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000"));
        assert_eq!(r.payload().unwrap(), r#"{"lastUpdateId":499869752,"bids":[["0.35210000","672.00000000"]],"asks":[]}"#);
    }

    #[test]
    fn string_payloads_are_unescaped() {
        let line = br#"{"recv_ns":1,"exchange":"coinbase","kind":"ws","conn":3,"data":"not \"json\"\n"}"#;
        let r = parse_record(line).unwrap();
        assert_eq!(r.conn, Some(3));
        assert_eq!(r.payload().unwrap(), "not \"json\"\n");
    }

    #[test]
    fn fields_may_come_in_any_order() {
        let line = br#"{"data":{"a":1},"kind":"ws","conn":1,"exchange":"coinbase","recv_ns":5}"#;
        let r = parse_record(line).unwrap();
        assert_eq!((r.recv.0, r.kind), (5, RecordKind::Ws));
    }

    #[test]
    fn rejects_non_records() {
        for bad in [
            &b""[..],
            b"garbage",
            b"{}",
            b"[1,2]",
            br#"{"recv_ns":"1","exchange":"coinbase","kind":"ws"}"#,
            br#"{"recv_ns":1.5,"exchange":"coinbase","kind":"ws"}"#,
            br#"{"recv_ns":1,"exchange":"coinbase","kind":"ws","data":{"#,
        ] {
            assert_eq!(parse_record(bad).unwrap_err().reason(), "malformed_record", "{:?}", String::from_utf8_lossy(bad));
        }
        let unknown = parse_record(br#"{"recv_ns":1,"exchange":"coinbase","kind":"fix"}"#).unwrap_err();
        assert_eq!(unknown, RecordError::UnknownKind("fix".into()));
    }
}
