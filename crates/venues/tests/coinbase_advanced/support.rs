//! Shared helpers for the Coinbase Advanced Trade tests.

use marketpipe_model::{Decimal, MarketEvent, Timestamp};
use marketpipe_venues::{coinbase_advanced::CoinbaseAdvancedDecoder, DecodeError, Decoded, VenueDecoder};

/// The receive time every test response is given: 2026-04-07T00:29:00Z.
pub const RECV: Timestamp = Timestamp::from_nanos(1_775_521_740_000_000_000);

/// The REST URL of the public product list.
pub const PRODUCTS_URL: &str = "https://api.coinbase.com/api/v3/brokerage/market/products";

/// The REST URL of BTC-USD's market trades.
pub const BTC_TRADES_URL: &str = "https://api.coinbase.com/api/v3/brokerage/market/products/BTC-USD/ticker?limit=3";

/// A fixture file's text.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/coinbase_advanced/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A decimal by `rust_decimal`'s own parser, as an oracle independent of
/// the strict parser under test.
pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// Decodes one REST response into a fresh output vector.
pub fn rest(d: &mut CoinbaseAdvancedDecoder, url: &str, body: &str) -> (Result<Decoded, DecodeError>, Vec<MarketEvent>) {
    let mut out = Vec::new();
    let r = d.decode_rest(url, body, RECV, &mut out);
    (r, out)
}

/// A decoder that has seen the product list fixture (BTC-USD, BTC-USDC,
/// 1INCH-EUR; the future skipped), as in steady state.
pub fn with_products() -> CoinbaseAdvancedDecoder {
    let mut d = CoinbaseAdvancedDecoder::new();
    let (r, out) = rest(&mut d, PRODUCTS_URL, &fixture("rest_products.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "products" }));
    assert_eq!(out.len(), 3);
    d
}

/// The error of a trades page that must fail, after checking it emitted
/// nothing and registered nothing.
pub fn trades_fail(d: &mut CoinbaseAdvancedDecoder, body: &str) -> DecodeError {
    let before = d.product_count();
    let (r, out) = rest(d, BTC_TRADES_URL, body);
    assert!(out.is_empty(), "a failed page emitted {out:?}");
    assert_eq!(d.product_count(), before, "a failed page registered a product");
    match r {
        Err(e) => e,
        Ok(ok) => panic!("{body} decoded as {ok:?}"),
    }
}
