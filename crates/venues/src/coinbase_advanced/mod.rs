//! Coinbase Advanced Trade: the public REST market data endpoints
//! (`https://api.coinbase.com/api/v3/brokerage/market/...`, no
//! authentication), polled by the live runtime for users who take trades
//! from this API rather than the Exchange websocket.
//!
//! - `GET /api/v3/brokerage/market/products` -> [`MarketEvent::Product`]
//!   per spot product (`product.rs`)
//! - `GET /api/v3/brokerage/market/products/{product_id}` -> one
//!   [`MarketEvent::Product`]
//! - `GET /api/v3/brokerage/market/products/{product_id}/ticker?limit=N`
//!   ("Get Public Market Trades") -> [`MarketEvent::Trade`]s, oldest first,
//!   then a [`MarketEvent::Ticker`] with the best bid/ask and the last
//!   trade (`market_trades.rs`)
//!
//! The authenticated twins of these paths
//! (`/api/v3/brokerage/products...`) answer in the same shapes and are
//! recognized too, so a capture made with keys decodes the same. There is
//! no websocket here: [`VenueDecoder::decode_ws`] rejects every frame.
//!
//! Docs followed: <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/public/list-public-products>
//! and <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/public/get-public-market-trades>.
//!
//! # Trade side
//!
//! A market trade's `side` (`BUY`/`SELL`) is the **maker's** side, as on
//! Coinbase Exchange, and is inverted into the taker's. The Advanced Trade
//! reference only lists the values; the reading follows from Advanced
//! Trade fronting the same matching engine as Coinbase Exchange (its trade
//! ids are Exchange's per-product trade ids), whose docs define `side` as
//! the maker order's side, and agrees with NautilusTrader's Advanced Trade
//! adapter ("Coinbase reports the maker side on public market trades, so
//! the aggressor is the opposite side").
//!
//! # Trade ids
//!
//! Ids come as strings. A canonical decimal is kept as
//! [`marketpipe_model::TradeId::Num`] (so trade-id dedup and gap logic work
//! as on Coinbase Exchange); anything else as an opaque
//! [`marketpipe_model::TradeId::Str`].

mod de;
mod market_trades;
mod product;

use marketpipe_model::{Exchange, InstrumentKey, MarketEvent, Product, Timestamp, TradeId};

use crate::wire::registry::Registry;
use crate::{session::push_path_segment, wire::de::bounded, DecodeError, Decoded, VenueDecoder};

/// The public REST API base URL (no trailing slash).
pub const DEFAULT_REST_URL: &str = "https://api.coinbase.com";

/// The most trades one market trades request may ask for.
pub const MAX_MARKET_TRADES_LIMIT: usize = 1000;

/// The URL of the public product list under `rest_url` (a base URL such as
/// [`DEFAULT_REST_URL`], without a trailing slash).
pub fn products_url(rest_url: &str) -> String {
    format!("{rest_url}{}", PREFIXES[0])
}

/// The URL of `product`'s newest `limit` market trades under `rest_url`
/// (the product id percent-encoded, so a bad configured id cannot change
/// the path).
pub fn market_trades_url(rest_url: &str, product: &str, limit: usize) -> String {
    let mut url = products_url(rest_url);
    url.push('/');
    push_path_segment(&mut url, product);
    url.push_str("/ticker?limit=");
    url.push_str(&limit.to_string());
    url
}

/// The trade ids of a market trades response body, in page order (newest
/// first, as served), each read as the decoder reads it: a numeric string
/// is [`TradeId::Num`]. For a poller's bookkeeping (new trades, missed
/// windows); nothing else of the body is checked.
pub fn market_trade_ids(body: &str) -> Result<Vec<TradeId>, DecodeError> {
    market_trades::market_trade_ids(body)
}

/// The path prefixes of the public market endpoints and of their
/// authenticated twins, which answer in the same shapes.
const PREFIXES: [&str; 2] = ["/api/v3/brokerage/market/products", "/api/v3/brokerage/products"];

/// A REST endpoint this decoder understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint<'u> {
    /// The product list.
    Products,
    /// One product.
    Product(&'u str),
    /// A product's recent market trades.
    MarketTrades(&'u str),
}

/// Recognizes the endpoint from the path of `url` (an absolute URL from any
/// host, or a bare path). Scheme, host, query, fragment and a trailing
/// slash are ignored.
fn route(url: &str) -> Result<Endpoint<'_>, DecodeError> {
    let path = url_path(url);
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let unknown = || DecodeError::UnknownEndpoint(bounded(path));
    let rest = PREFIXES.iter().find_map(|p| trimmed.strip_prefix(p)).ok_or_else(unknown)?;
    if rest.is_empty() {
        return Ok(Endpoint::Products);
    }
    let mut segments = rest.strip_prefix('/').ok_or_else(unknown)?.split('/');
    match (segments.next(), segments.next(), segments.next()) {
        (Some(id), None, None) if !id.is_empty() => Ok(Endpoint::Product(id)),
        (Some(id), Some("ticker"), None) if !id.is_empty() => Ok(Endpoint::MarketTrades(id)),
        _ => Err(unknown()),
    }
}

/// The path of `url`: after `scheme://host` if there is one, before any
/// `?query` or `#fragment`.
fn url_path(url: &str) -> &str {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    match url.split_once("://") {
        Some((_, after_scheme)) => after_scheme.find('/').map_or("/", |i| &after_scheme[i..]),
        None => url,
    }
}

/// The Coinbase Advanced Trade decoder: pure, I/O-free, one per stream.
///
/// It remembers the products it has learned (from the product list, or
/// derived from a `BASE-QUOTE` id the first time a trades page names it),
/// their aliases, and a count of unusable product-list entries; nothing
/// else. A response that fails leaves all of it as it was and emits nothing.
#[derive(Debug)]
pub struct CoinbaseAdvancedDecoder {
    registry: Registry,
    skipped_products: u64,
}

impl Default for CoinbaseAdvancedDecoder {
    fn default() -> Self {
        CoinbaseAdvancedDecoder { registry: Registry::new(Exchange::CoinbaseAdvanced), skipped_products: 0 }
    }
}

impl CoinbaseAdvancedDecoder {
    /// A decoder that knows no products yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key of the product with native id `product_id`, if known.
    pub fn instrument(&self, product_id: &str) -> Option<&InstrumentKey> {
        self.registry.get(product_id).map(|p| &p.key)
    }

    /// The product with native id `product_id`, if known.
    pub fn product(&self, product_id: &str) -> Option<&Product> {
        self.registry.get(product_id)
    }

    /// How many products are known.
    pub fn product_count(&self) -> usize {
        self.registry.len()
    }

    /// How many product-list entries were skipped as unusable (missing or
    /// malformed id or currencies, or not a spot product) since this
    /// decoder was created.
    pub fn skipped_products(&self) -> u64 {
        self.skipped_products
    }
}

impl VenueDecoder for CoinbaseAdvancedDecoder {
    fn exchange(&self) -> Exchange {
        Exchange::CoinbaseAdvanced
    }

    /// Advanced Trade market data is polled over REST here: any websocket
    /// frame is an unknown message type (skipped and counted downstream).
    fn decode_ws(&mut self, _frame: &str, _recv: Timestamp, _out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        Err(DecodeError::UnknownType("websocket frame (coinbase-advanced is REST only)".to_owned()))
    }

    fn decode_rest(&mut self, url: &str, body: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        match route(url)? {
            Endpoint::Products => {
                self.skipped_products += product::products(body, &mut self.registry, out)?;
                Ok(Decoded::Rest { endpoint: "products" })
            }
            Endpoint::Product(id) => {
                product::product(id, body, &mut self.registry, out)?;
                Ok(Decoded::Rest { endpoint: "product" })
            }
            Endpoint::MarketTrades(id) => {
                market_trades::market_trades(id, body, recv, &mut self.registry, out)?;
                Ok(Decoded::Rest { endpoint: "market_trades" })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_only() {
        for url in [
            "https://api.coinbase.com/api/v3/brokerage/market/products",
            "https://api.coinbase.com/api/v3/brokerage/market/products/?limit=5",
            "http://127.0.0.1:8443/api/v3/brokerage/products",
            "/api/v3/brokerage/market/products",
        ] {
            assert_eq!(route(url), Ok(Endpoint::Products), "{url}");
        }
        assert_eq!(route("https://api.coinbase.com/api/v3/brokerage/market/products/BTC-USD"), Ok(Endpoint::Product("BTC-USD")));
        assert_eq!(
            route("http://localhost:1/api/v3/brokerage/market/products/ETH-EUR/ticker?limit=100#x"),
            Ok(Endpoint::MarketTrades("ETH-EUR"))
        );
        assert_eq!(route("/api/v3/brokerage/products/BTC-USD/ticker"), Ok(Endpoint::MarketTrades("BTC-USD")));
        for url in [
            "https://api.coinbase.com/",
            "https://api.coinbase.com",
            "/products",
            "/products/BTC-USD/trades",
            "/api/v3/brokerage/market/productsX",
            "/api/v3/brokerage/market/products//ticker",
            "/api/v3/brokerage/market/products/BTC-USD/candles",
            "/api/v3/brokerage/market/products/BTC-USD/ticker/x",
            "/api/v3/brokerage/market/product_book",
            "",
        ] {
            assert_eq!(route(url).unwrap_err().reason(), "unknown_endpoint", "{url}");
        }
    }

    #[test]
    fn urls_route_back_to_their_endpoints() {
        assert_eq!(products_url(DEFAULT_REST_URL), "https://api.coinbase.com/api/v3/brokerage/market/products");
        assert_eq!(route(&products_url("http://127.0.0.1:9")), Ok(Endpoint::Products));
        let url = market_trades_url(DEFAULT_REST_URL, "BTC-USD", 100);
        assert_eq!(url, "https://api.coinbase.com/api/v3/brokerage/market/products/BTC-USD/ticker?limit=100");
        assert_eq!(route(&url), Ok(Endpoint::MarketTrades("BTC-USD")));
        assert_eq!(route(&market_trades_url("", "a/b?c", 1)), Ok(Endpoint::MarketTrades("a%2Fb%3Fc")));
    }

    #[test]
    fn trade_ids_are_read_alone() {
        let body = r#"{"trades":[{"trade_id":"12","price":"bad"},{"trade_id":"x-1"}],"best_bid":""}"#;
        assert_eq!(market_trade_ids(body), Ok(vec![TradeId::Num(12), TradeId::Str("x-1".into())]));
        assert_eq!(market_trade_ids(r#"{"trades":[]}"#), Ok(vec![]));
        assert_eq!(market_trade_ids(r#"{"error":"NOT_FOUND"}"#), Err(DecodeError::MissingField("trades")));
        assert_eq!(market_trade_ids(r#"{"trades":[{}]}"#), Err(DecodeError::MissingField("trade_id")));
        assert!(market_trade_ids("<html>").is_err());
    }

    #[test]
    fn websocket_frames_are_unknown() {
        let mut d = CoinbaseAdvancedDecoder::new();
        let mut out = Vec::new();
        let r = d.decode_ws(r#"{"channel":"market_trades"}"#, Timestamp(0), &mut out);
        assert_eq!(r.unwrap_err().reason(), "unknown_type");
        assert!(out.is_empty());
    }
}
