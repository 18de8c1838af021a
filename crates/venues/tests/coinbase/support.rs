//! Shared helpers for the Coinbase tests.

use marketpipe_model::{Decimal, MarketEvent, Timestamp};
use marketpipe_venues::{coinbase::CoinbaseDecoder, DecodeError, Decoded, VenueDecoder};

/// The receive time every test frame is given: 2026-01-05T14:03:07.2Z.
pub const RECV: Timestamp = Timestamp::from_nanos(1_767_621_787_200_000_000);

/// The REST URL of the product list.
pub const PRODUCTS_URL: &str = "https://api.exchange.coinbase.com/products";

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/coinbase/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A decimal by `rust_decimal`'s own parser, as an oracle independent of
/// the strict parser under test.
pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// Decodes one websocket frame into a fresh output vector.
pub fn ws(d: &mut CoinbaseDecoder, frame: &str) -> (Result<Decoded, DecodeError>, Vec<MarketEvent>) {
    let mut out = Vec::new();
    let r = d.decode_ws(frame, RECV, &mut out);
    (r, out)
}

/// Decodes one REST response into a fresh output vector.
pub fn rest(d: &mut CoinbaseDecoder, url: &str, body: &str) -> (Result<Decoded, DecodeError>, Vec<MarketEvent>) {
    let mut out = Vec::new();
    let r = d.decode_rest(url, body, RECV, &mut out);
    (r, out)
}

/// A decoder that has seen the product list fixture (BTC-USD, ETH-EUR,
/// 1INCH-USD), as in steady state.
pub fn with_products() -> CoinbaseDecoder {
    let mut d = CoinbaseDecoder::new();
    let (r, out) = rest(&mut d, PRODUCTS_URL, &fixture("rest_products.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "products" }));
    assert_eq!(out.len(), 3);
    d
}

/// The error of a decode that must fail, after checking it emitted nothing.
pub fn fails(d: &mut CoinbaseDecoder, frame: &str) -> DecodeError {
    let (r, out) = ws(d, frame);
    assert!(out.is_empty(), "a failed frame emitted {out:?}");
    match r {
        Err(e) => e,
        Ok(ok) => panic!("{frame} decoded as {ok:?}"),
    }
}
