//! Shared helpers for the KuCoin tests.

use std::collections::BTreeMap;

use marketpipe_model::{BookSide, Decimal, MarketEvent, Timestamp};
use marketpipe_venues::{kucoin::KucoinDecoder, DecodeError, Decoded, VenueDecoder};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The receive time every test frame is given: 2026-01-05T14:03:07.2Z.
pub const RECV: Timestamp = Timestamp::from_nanos(1_767_621_787_200_000_000);

/// The REST URL of the symbol list.
pub const SYMBOLS_URL: &str = "https://api.kucoin.com/api/v2/symbols";

/// The REST URL of a level-2 snapshot of `symbol`.
pub fn book_url(symbol: &str) -> String {
    format!("https://api.kucoin.com/api/v1/market/orderbook/level2_100?symbol={symbol}")
}

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/kucoin/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A decimal by `rust_decimal`'s own parser, as an oracle independent of
/// the strict parser under test.
pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// Decodes one websocket frame into a fresh output vector.
pub fn ws(d: &mut KucoinDecoder, frame: &str) -> (Result<Decoded, DecodeError>, Vec<MarketEvent>) {
    let mut out = Vec::new();
    let r = d.decode_ws(frame, RECV, &mut out);
    (r, out)
}

/// Decodes one REST response into a fresh output vector.
pub fn rest(d: &mut KucoinDecoder, url: &str, body: &str) -> (Result<Decoded, DecodeError>, Vec<MarketEvent>) {
    let mut out = Vec::new();
    let r = d.decode_rest(url, body, RECV, &mut out);
    (r, out)
}

/// A decoder that has seen the symbol list fixture (BTC-USDT, BCHSV-USDT
/// as BSV-USDT, 1INCH-USDT), as in steady state.
pub fn with_symbols() -> KucoinDecoder {
    let mut d = KucoinDecoder::new();
    let (r, out) = rest(&mut d, SYMBOLS_URL, &fixture("rest_symbols.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "symbols" }));
    assert_eq!(out.len(), 3);
    d
}

/// The error of a frame that must fail, after checking it emitted nothing.
pub fn fails(d: &mut KucoinDecoder, frame: &str) -> DecodeError {
    let (r, out) = ws(d, frame);
    assert!(out.is_empty(), "a failed frame emitted {out:?}");
    match r {
        Err(e) => e,
        Ok(ok) => panic!("{frame} decoded as {ok:?}"),
    }
}

/// The error of a REST body that must fail, after checking it emitted nothing.
pub fn rest_fails(d: &mut KucoinDecoder, url: &str, body: &str) -> DecodeError {
    let (r, out) = rest(d, url, body);
    assert!(out.is_empty(), "a failed response emitted {out:?}");
    match r {
        Err(e) => e,
        Ok(ok) => panic!("{body} decoded as {ok:?}"),
    }
}

/// `frame` with the JSON value of the first `"key":` replaced by `raw`.
pub fn with_field(frame: &str, key: &str, raw: &str) -> String {
    let pat = format!("\"{key}\":");
    let start = frame.find(&pat).unwrap_or_else(|| panic!("no {key} in {frame}")) + pat.len();
    let end = start + value_len(&frame[start..]);
    format!("{}{raw}{}", &frame[..start], &frame[end..])
}

/// `frame` without the first `"key":value` entry (and its comma).
pub fn without_field(frame: &str, key: &str) -> String {
    let pat = format!("\"{key}\":");
    let start = frame.find(&pat).unwrap_or_else(|| panic!("no {key} in {frame}"));
    let end = start + pat.len() + value_len(&frame[start + pat.len()..]);
    let (start, end) = if frame[end..].starts_with(',') { (start, end + 1) } else { (start - 1, end) };
    format!("{}{}", &frame[..start], &frame[end..])
}

/// The length of the JSON value at the start of `s`.
fn value_len(s: &str) -> usize {
    let mut de = serde_json::Deserializer::from_str(s).into_iter::<&RawValue>();
    de.next().unwrap().unwrap();
    de.byte_offset()
}

/// One capture record (format v1), as the replay driver would read it.
#[derive(Debug, Deserialize)]
pub struct Record<'a> {
    /// Receive time.
    pub recv_ns: i64,
    /// `ws`, `rest`, `open`, `ws_out`, `close`.
    pub kind: &'a str,
    /// The URL of a `rest` record.
    #[serde(default)]
    pub url: Option<&'a str>,
    /// The payload.
    #[serde(borrow, default)]
    pub data: Option<&'a RawValue>,
}

/// What decoding one capture record gave: its line number (1-based), the
/// verdict, and the events.
pub type Step = (usize, Result<Decoded, DecodeError>, Vec<MarketEvent>);

/// Feeds a capture fixture's `ws` and `rest` records to `d`, in order, as
/// replay does (other kinds carry no market data).
pub fn replay(d: &mut KucoinDecoder, name: &str) -> Vec<Step> {
    let text = fixture(name);
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let rec: Record<'_> = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        let recv = Timestamp::from_nanos(rec.recv_ns);
        let mut out = Vec::new();
        let r = match rec.kind {
            "ws" => d.decode_ws(rec.data.unwrap().get(), recv, &mut out),
            "rest" => d.decode_rest(rec.url.unwrap(), rec.data.unwrap().get(), recv, &mut out),
            _ => continue,
        };
        steps.push((i + 1, r, out));
    }
    steps
}

/// An order book rebuilt from events, as the engine would: a snapshot
/// replaces it and makes it live, a delta applies only while live, a reset
/// takes it out of live.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BookModel {
    /// Whether the book can be trusted.
    pub live: bool,
    /// The sequence of the last snapshot or delta applied.
    pub sequence: Option<u64>,
    /// `(side, price) -> size`, sizes as exact strings.
    pub levels: BTreeMap<(BookSide, Decimal), Decimal>,
}

impl BookModel {
    /// Applies one event (events of other kinds are ignored).
    pub fn apply(&mut self, event: &MarketEvent) {
        match event {
            MarketEvent::BookSnapshot(s) => {
                self.levels.clear();
                for (side, levels) in [(BookSide::Bid, &s.bids), (BookSide::Ask, &s.asks)] {
                    for l in levels {
                        self.levels.insert((side, l.price), l.size);
                    }
                }
                self.live = true;
                self.sequence = s.sequence;
            }
            MarketEvent::BookDelta(d) if self.live => {
                for c in &d.changes {
                    if c.size.is_zero() {
                        self.levels.remove(&(c.side, c.price));
                    } else {
                        self.levels.insert((c.side, c.price), c.size);
                    }
                }
                self.sequence = d.sequence;
            }
            MarketEvent::BookReset(_) => self.live = false,
            _ => {}
        }
    }

    /// The levels as `(side, price, size)` strings, bids then asks, by price.
    pub fn rows(&self) -> Vec<(BookSide, String, String)> {
        self.levels.iter().map(|((side, p), s)| (*side, p.to_string(), s.to_string())).collect()
    }
}
