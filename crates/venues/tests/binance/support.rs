//! Shared helpers for the Binance tests.

use marketpipe_model::{Decimal, MarketEvent, Timestamp};
use marketpipe_venues::{binance::BinanceDecoder, DecodeError, Decoded, VenueDecoder};

/// The receive time every test frame is given: 2026-01-05T14:03:07.2Z.
pub const RECV: Timestamp = Timestamp::from_nanos(1_767_621_787_200_000_000);

/// The REST URL of exchangeInfo.
pub const INFO_URL: &str = "https://api.binance.com/api/v3/exchangeInfo";

/// The REST URL of NKNUSDT's depth snapshot.
pub const DEPTH_URL: &str = "https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000";

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/binance/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A decimal by `rust_decimal`'s own parser, as an oracle independent of
/// the strict parser under test.
pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// Decodes one websocket frame into a fresh output vector.
pub fn ws(d: &mut BinanceDecoder, frame: &str) -> (Result<Decoded, DecodeError>, Vec<MarketEvent>) {
    let mut out = Vec::new();
    let r = d.decode_ws(frame, RECV, &mut out);
    (r, out)
}

/// Decodes one REST response into a fresh output vector.
pub fn rest(d: &mut BinanceDecoder, url: &str, body: &str) -> (Result<Decoded, DecodeError>, Vec<MarketEvent>) {
    let mut out = Vec::new();
    let r = d.decode_rest(url, body, RECV, &mut out);
    (r, out)
}

/// A decoder that has seen the exchangeInfo fixture (NKNUSDT, BTCUSDT,
/// ETHBTC, BTCBUSD), as in steady state.
pub fn with_products() -> BinanceDecoder {
    let mut d = BinanceDecoder::new();
    let (r, out) = rest(&mut d, INFO_URL, &fixture("rest_exchange_info.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "exchangeInfo" }));
    assert_eq!(out.len(), 4);
    d
}

/// The error of a decode that must fail, after checking it emitted nothing.
pub fn fails(d: &mut BinanceDecoder, frame: &str) -> DecodeError {
    let (r, out) = ws(d, frame);
    assert!(out.is_empty(), "a failed frame emitted {out:?}");
    match r {
        Err(e) => e,
        Ok(ok) => panic!("{frame} decoded as {ok:?}"),
    }
}

/// The `data` payload of a combined-stream fixture, as a bare frame.
pub fn bare(combined: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(combined).unwrap();
    v["data"].to_string()
}

/// A combined depth frame for NKNUSDT with update ids `first..=last` and
/// one bid change whose size is `last` (so every frame is distinct).
pub fn depth(first: u64, last: u64) -> String {
    format!(
        r#"{{"stream":"nknusdt@depth@100ms","data":{{"e":"depthUpdate","E":1767621787180,"s":"NKNUSDT","U":{first},"u":{last},"b":[["0.35170000","{last}"]],"a":[]}}}}"#
    )
}

/// A REST depth snapshot body with `lastUpdateId` `id`.
pub fn snapshot(id: u64) -> String {
    format!(r#"{{"lastUpdateId":{id},"bids":[["0.35210000","672.00000000"]],"asks":[["0.35230000","88.00000000"]]}}"#)
}

/// A compact trace of book events: `S<id>`, `D<u>`, `R:<reason>`; other
/// events by kind.
pub fn trace(out: &[MarketEvent]) -> Vec<String> {
    out.iter()
        .map(|e| match e {
            MarketEvent::BookSnapshot(s) => format!("S{}", s.sequence.unwrap()),
            MarketEvent::BookDelta(d) => format!("D{}", d.sequence.unwrap()),
            MarketEvent::BookReset(r) => format!("R:{}", r.reason),
            other => other.kind().to_owned(),
        })
        .collect()
}
