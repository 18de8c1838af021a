//! One capture record, parsed without copying.

use std::{borrow::Cow, ops::Range};

use marketpipe_model::{leading_u64, Timestamp};
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
    pub data: Option<&'a str>,
}

impl<'a> CaptureRecord<'a> {
    /// The payload as the text the exchange sent: a JSON payload verbatim,
    /// a payload stored as a JSON string (a frame that was not JSON) unescaped.
    pub fn payload(&self) -> Option<Cow<'a, str>> {
        let raw = self.data?;
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
    Ok(CaptureRecord {
        recv: Timestamp(wire.recv_ns),
        exchange: wire.exchange,
        kind,
        conn: wire.conn,
        url: wire.url,
        data: wire.data.map(RawValue::get),
    })
}

/// Parses a line written in the canonical layout, the one [`CaptureWriter`]
/// and the benchmark generator write:
///
/// ```text
/// {"recv_ns":N,"exchange":"E","kind":"K"[,"conn":N][,"url":"U"],"data":{...}}
/// ```
///
/// without validating the payload. Returns `None`
/// for anything else, including whitespace, escapes in the envelope
/// strings, or a payload that is not an object or array; the caller then
/// uses [`parse_record`].
///
/// Why: [`parse_record`] must walk the whole payload to find where it ends,
/// and the decoder then parses the same bytes again; on replay that first
/// walk was a quarter of the time. Here the payload is simply "the rest of
/// the line but the closing brace", and the decoder's own full parse is the
/// validation: a decoder accepts only text that is exactly one JSON value,
/// so a payload it accepts is the one [`parse_record`] would have returned.
/// A caller must treat any decode failure of an unvalidated payload as "try
/// again with [`parse_record`]" so that the outcome (and its counted
/// reason) is exactly the strict one.
///
/// [`CaptureWriter`]: crate::CaptureWriter
pub fn parse_record_unchecked(line: &[u8]) -> Option<CaptureRecord<'_>> {
    // One UTF-8 check of the whole line (SIMD, several times faster than
    // `std` on these lengths) makes every slice below a `&str` for free:
    // the cursor only ever cuts at ASCII bytes, which are char boundaries.
    let line = simdutf8::basic::from_utf8(line).ok()?;
    Envelope::parse(line)?.record(line)
}

/// Where the fields of a canonical line are, as [`parse_record_unchecked`]
/// reads it: offsets into the line rather than borrows, so that the
/// reading thread can parse a line's envelope and the decoding thread use
/// it (see [`crate::CaptureReader::next_record`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Envelope {
    recv: Timestamp,
    exchange: Range<usize>,
    kind: RecordKind,
    conn: Option<u64>,
    url: Option<Range<usize>>,
    data: Range<usize>,
}

impl Envelope {
    /// Reads the envelope of `line`, a canonical record, or `None`.
    pub(crate) fn parse(line: &str) -> Option<Envelope> {
        let mut cur = Cursor { text: line, pos: 0 };
        cur.tag(br#"{"recv_ns":"#)?;
        let recv = cur.int::<i64>()?;
        cur.tag(br#","exchange":"#)?;
        let exchange = cur.string()?;
        cur.tag(br#","kind":"#)?;
        let kind = RecordKind::parse(line.get(cur.string()?)?)?;
        let conn = match cur.tag(br#","conn":"#) {
            Some(()) => Some(cur.int::<u64>()?),
            None => None,
        };
        let url = match cur.tag(br#","url":"#) {
            Some(()) => Some(cur.string()?),
            None => None,
        };
        cur.tag(br#","data":"#)?;
        let data = cur.pos..line.len().checked_sub(1)?;
        let bytes = line.as_bytes();
        if bytes.last() != Some(&b'}') {
            return None;
        }
        // An object or array with nothing around it: whitespace before the
        // closing brace would be kept here but dropped by the strict parser.
        let payload = bytes.get(data.clone())?;
        if !matches!(payload.first(), Some(b'{' | b'[')) || !matches!(payload.last(), Some(b'}' | b']')) {
            return None;
        }
        Some(Envelope { recv: Timestamp(recv), exchange, kind, conn, url, data })
    }

    /// The receive time.
    pub(crate) fn recv(&self) -> Timestamp {
        self.recv
    }

    /// The record of `line`, the line this envelope was parsed from.
    pub(crate) fn record<'a>(&self, line: &'a str) -> Option<CaptureRecord<'a>> {
        Some(CaptureRecord {
            recv: self.recv,
            exchange: Cow::Borrowed(line.get(self.exchange.clone())?),
            kind: self.kind,
            conn: self.conn,
            url: match &self.url {
                Some(url) => Some(Cow::Borrowed(line.get(url.clone())?)),
                None => None,
            },
            data: Some(line.get(self.data.clone())?),
        })
    }
}

/// A cursor for [`Envelope::parse`]: accepts only what `serde_json` would
/// read to the same value, and gives up on anything unusual.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &[u8] {
        self.text.as_bytes().get(self.pos..).unwrap_or_default()
    }

    /// Consumes `tag`. A fixed-size comparison, which the compiler turns
    /// into two or three word compares (a `memcmp` call, or a byte loop,
    /// cost several times more per tag).
    #[inline]
    fn tag<const N: usize>(&mut self, tag: &[u8; N]) -> Option<()> {
        let head: &[u8; N] = self.rest().get(..N)?.try_into().ok()?;
        if head != tag {
            return None;
        }
        self.pos += N;
        Some(())
    }

    /// A JSON integer that fits `T` (no leading zeros, no fraction).
    fn int<T: TryFrom<i128>>(&mut self) -> Option<T> {
        let bytes = self.rest();
        let negative = bytes.first() == Some(&b'-');
        let digits_from = usize::from(negative);
        let (len, magnitude) = leading_u64(&bytes[digits_from..]);
        let digits = &bytes[digits_from..digits_from + len];
        // No leading zeros, and no `-0`: serde_json reads that as a float.
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') || (negative && digits == b"0") {
            return None;
        }
        let magnitude = i128::from(magnitude?);
        let value = T::try_from(if negative { -magnitude } else { magnitude }).ok()?;
        self.pos += digits_from + len;
        Some(value)
    }

    /// A JSON string without escapes or control characters: where its
    /// contents are.
    fn string(&mut self) -> Option<Range<usize>> {
        let rest = self.rest();
        if rest.first() != Some(&b'"') {
            return None;
        }
        let len = rest[1..].iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[1 + len] != b'"' {
            return None;
        }
        let start = self.pos + 1;
        self.pos = start + len + 1;
        Some(start..start + len)
    }
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

    /// Comparable view of a record.
    fn view<'a>(r: &'a CaptureRecord<'a>) -> (i64, &'a str, RecordKind, Option<u64>, Option<&'a str>, Option<&'a str>) {
        (r.recv.0, &r.exchange, r.kind, r.conn, r.url.as_deref(), r.data)
    }

    const CANONICAL: [&[u8]; 4] = [
        br#"{"recv_ns":1767225600024416895,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"l2update","product_id":"XLM-USD","changes":[["sell","14848.05","0.73069"]]}}"#,
        br#"{"recv_ns":1,"exchange":"coinbase","kind":"rest","url":"https://api.exchange.coinbase.com/products","data":[{"id":"BTC-USD"}]}"#,
        br#"{"recv_ns":-5,"exchange":"binance","kind":"ws","conn":0,"data":{}}"#,
        br#"{"recv_ns":0,"exchange":"coinbase","kind":"ws","conn":18446744073709551615,"data":{"s":"\"}\""}}"#,
    ];

    #[test]
    fn unchecked_agrees_with_strict_on_canonical_lines() {
        for line in CANONICAL {
            let fast = parse_record_unchecked(line).unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(line)));
            let strict = parse_record(line).unwrap();
            assert_eq!(view(&fast), view(&strict));
        }
    }

    #[test]
    fn unchecked_declines_what_it_cannot_read_exactly() {
        for line in [
            &br#"{"data":{"a":1},"kind":"ws","conn":1,"exchange":"coinbase","recv_ns":5}"#[..],
            br#"{"recv_ns": 1,"exchange":"coinbase","kind":"ws","conn":1,"data":{}}"#,
            br#"{"recv_ns":01,"exchange":"coinbase","kind":"ws","conn":1,"data":{}}"#,
            br#"{"recv_ns":-0,"exchange":"coinbase","kind":"ws","conn":1,"data":{}}"#,
            br#"{"recv_ns":99999999999999999999,"exchange":"coinbase","kind":"ws","conn":1,"data":{}}"#,
            br#"{"recv_ns":1,"exchange":"coin\u0062ase","kind":"ws","conn":1,"data":{}}"#,
            br#"{"recv_ns":1,"exchange":"coinbase","kind":"ws","conn":-1,"data":{}}"#,
            br#"{"recv_ns":1,"exchange":"coinbase","kind":"fix","conn":1,"data":{}}"#,
            br#"{"recv_ns":1,"exchange":"coinbase","kind":"ws","conn":1,"data":"text"}"#,
            br#"{"recv_ns":1,"exchange":"coinbase","kind":"ws","conn":1,"data":null}"#,
            br#"{"recv_ns":1,"exchange":"coinbase","kind":"open","conn":1}"#,
            br#"{"recv_ns":1,"exchange":"coinbase","kind":"ws","conn":1,"data":{} "#,
            br#"{"recv_ns":1,"exchange":"coinbase","kind":"ws","conn":1,"data":{} }"#,
        ] {
            assert!(parse_record_unchecked(line).is_none(), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn unchecked_reads_integers_up_to_their_type_limits() {
        let line = |recv: &str, conn: &str| format!(r#"{{"recv_ns":{recv},"exchange":"coinbase","kind":"ws","conn":{conn},"data":{{}}}}"#);
        let read = |recv: &str, conn: &str| parse_record_unchecked(line(recv, conn).as_bytes()).map(|r| (r.recv.0, r.conn));
        assert_eq!(read("9223372036854775807", "18446744073709551615"), Some((i64::MAX, Some(u64::MAX))));
        assert_eq!(read("-9223372036854775808", "0"), Some((i64::MIN, Some(0))));
        assert_eq!(read("1767225600000000000", "7"), Some((1_767_225_600_000_000_000, Some(7))));
        for (recv, conn) in
            [("9223372036854775808", "1"), ("-9223372036854775809", "1"), ("1", "18446744073709551616"), ("1", "184467440737095516150")]
        {
            assert_eq!(read(recv, conn), None, "{recv} {conn}");
            // The strict parser refuses them too.
            assert!(parse_record(line(recv, conn).as_bytes()).is_err(), "{recv} {conn}");
        }
    }

    proptest::proptest! {
        /// The contract the fast path rests on: whenever it returns a record
        /// whose payload is exactly one JSON value (what a decoder accepts),
        /// the strict parser reads the same record from the line.
        #[test]
        fn unchecked_never_disagrees_with_strict(
            which in 0..CANONICAL.len(),
            edits in proptest::collection::vec((0usize..400, proptest::sample::select(&b"{}[]\",:\\ 0a-"[..])), 1..4),
        ) {
            let mut line = CANONICAL[which].to_vec();
            for (at, byte) in edits {
                let at = at % (line.len() + 1);
                if at < line.len() && at.is_multiple_of(2) { line[at] = byte } else { line.insert(at, byte) }
            }
            if let Some(fast) = parse_record_unchecked(&line) {
                let data = fast.data.unwrap();
                if serde_json::from_str::<&RawValue>(data).is_ok() {
                    let strict = parse_record(&line);
                    proptest::prop_assert!(strict.is_ok(), "strict rejects {}", String::from_utf8_lossy(&line));
                    let strict = strict.unwrap();
                    proptest::prop_assert_eq!(view(&fast), view(&strict));
                }
            }
        }
    }
}
