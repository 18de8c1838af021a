//! REST responses of the Coinbase Exchange public API: the product list,
//! a single product, and a product's recent trades.
//!
//! Endpoints are recognized by the URL path alone, so captures made against
//! `api.exchange.coinbase.com`, the old `api.pro.coinbase.com` or the
//! simulator on loopback decode the same.

use marketpipe_model::{Exchange, MarketEvent, Product, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    de::{self, json_error, OptStr, OptU64},
    trade::{validate_trade, TradeBody},
};
use crate::wire::{registry::Registry, symbol::is_currency_code};
use crate::DecodeError;

/// A REST endpoint this decoder understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint<'u> {
    /// `GET /products`.
    Products,
    /// `GET /products/{id}`.
    Product(&'u str),
    /// `GET /products/{id}/trades`.
    Trades(&'u str),
}

/// Recognizes the endpoint from the path of `url` (an absolute URL from any
/// host, or a bare path). Scheme, host, query and fragment are ignored, and
/// so is a trailing slash.
pub(crate) fn route(url: &str) -> Result<Endpoint<'_>, DecodeError> {
    let path = url_path(url);
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let mut segments = trimmed.strip_prefix('/').unwrap_or(trimmed).split('/');
    match (segments.next(), segments.next(), segments.next(), segments.next()) {
        (Some("products"), None, None, None) => Ok(Endpoint::Products),
        (Some("products"), Some(id), None, None) if !id.is_empty() => Ok(Endpoint::Product(id)),
        (Some("products"), Some(id), Some("trades"), None) if !id.is_empty() => Ok(Endpoint::Trades(id)),
        _ => Err(DecodeError::UnknownEndpoint(de::bounded(path))),
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

/// One product of `GET /products` (the response is an array of these), or
/// the body of `GET /products/{id}`. Only the identity fields are used;
/// `status`, increments and flags are ignored (a delisted product's history
/// still needs its name).
///
/// See <https://docs.cdp.coinbase.com/exchange/reference/exchangerestapi_getproducts>
///
/// ```json
/// {
///   "id": "BTC-USD",
///   "base_currency": "BTC",
///   "quote_currency": "USD",
///   "quote_increment": "0.01000000",
///   "base_increment": "0.00000001",
///   "display_name": "BTC-USD",
///   "min_market_funds": "1",
///   "margin_enabled": false,
///   "post_only": false,
///   "limit_only": false,
///   "cancel_only": false,
///   "status": "online",
///   "status_message": "",
///   "auction_mode": false,
///   "trading_disabled": false,
///   "fx_stablecoin": false
/// }
/// ```
#[derive(Debug, Deserialize)]
struct ProductWire<'a> {
    /// Native product id, e.g. `BTC-USD`.
    #[serde(borrow, default)]
    id: OptStr<'a>,
    /// Base currency code.
    #[serde(borrow, default)]
    base_currency: OptStr<'a>,
    /// Quote currency code.
    #[serde(borrow, default)]
    quote_currency: OptStr<'a>,
}

impl ProductWire<'_> {
    /// The product, if its identity fields are usable.
    fn validate(&self) -> Result<Product, DecodeError> {
        let id = de::required(self.id.get(), "id")?;
        let base = de::required(self.base_currency.get(), "base_currency")?;
        let quote = de::required(self.quote_currency.get(), "quote_currency")?;
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DecodeError::BadField { field: "id", detail: format!("unusable product id {}", de::snippet(id)) });
        }
        for (field, code) in [("base_currency", base), ("quote_currency", quote)] {
            if !is_currency_code(code) {
                return Err(DecodeError::BadField { field, detail: format!("unusable currency code {}", de::snippet(code)) });
            }
        }
        Ok(Product::new(Exchange::Coinbase, id, base, quote))
    }
}

/// Decodes `GET /products`: registers and emits every usable product, in
/// response order. An unusable entry is skipped without failing the others;
/// the number skipped is returned. A body that is not an array fails whole.
pub(crate) fn products(body: &str, registry: &mut Registry, out: &mut Vec<MarketEvent>) -> Result<u64, DecodeError> {
    let entries: Vec<&RawValue> = serde_json::from_str(body).map_err(json_error)?;
    let mut skipped = 0;
    for raw in entries {
        match serde_json::from_str::<ProductWire<'_>>(raw.get()).map_err(json_error).and_then(|p| p.validate()) {
            Ok(product) => {
                registry.upsert(product.clone(), None);
                out.push(MarketEvent::Product(product));
            }
            Err(e) => {
                skipped += 1;
                tracing::debug!(reason = e.reason(), error = %e, "skipped a Coinbase product entry");
            }
        }
    }
    Ok(skipped)
}

/// Decodes `GET /products/{id}`: one product object, whose `id` must be the
/// one requested.
pub(crate) fn product(path_id: &str, body: &str, registry: &mut Registry, out: &mut Vec<MarketEvent>) -> Result<(), DecodeError> {
    let product = serde_json::from_str::<ProductWire<'_>>(body).map_err(json_error)?.validate()?;
    if product.native_symbol != path_id {
        return Err(DecodeError::BadField {
            field: "id",
            detail: format!("{} answers a request for {}", de::snippet(&product.native_symbol), de::snippet(path_id)),
        });
    }
    registry.upsert(product.clone(), None);
    out.push(MarketEvent::Product(product));
    Ok(())
}

/// One trade of `GET /products/{id}/trades` (the response is an array of
/// these, newest first). As on the websocket, `side` is the **maker's**
/// side.
///
/// See <https://docs.cdp.coinbase.com/exchange/reference/exchangerestapi_getproducttrades>
///
/// ```json
/// {
///   "time": "2014-11-07T22:19:28.578544Z",
///   "trade_id": 74,
///   "price": "10.00000000",
///   "size": "0.01000000",
///   "side": "buy"
/// }
/// ```
#[derive(Debug, Deserialize)]
struct RestTradeWire<'a> {
    /// Exchange time.
    #[serde(borrow, default)]
    time: OptStr<'a>,
    /// Per-product trade id.
    #[serde(default)]
    trade_id: OptU64,
    /// Execution price.
    #[serde(borrow, default)]
    price: OptStr<'a>,
    /// Executed size.
    #[serde(borrow, default)]
    size: OptStr<'a>,
    /// The maker's side.
    #[serde(borrow, default)]
    side: OptStr<'a>,
}

/// Decodes `GET /products/{id}/trades` into trades in trade-id order (oldest
/// first, whatever order the response lists them), so a backfill feeds the
/// engine forwards in time. All or nothing: a backfill with a hole in it
/// would look complete, so one bad trade fails the response.
pub(crate) fn trades(
    path_id: &str,
    body: &str,
    recv: Timestamp,
    registry: &mut Registry,
    out: &mut Vec<MarketEvent>,
) -> Result<(), DecodeError> {
    let resolved = registry.resolve(path_id)?;
    let wire: Vec<RestTradeWire<'_>> = serde_json::from_str(body).map_err(json_error)?;
    let mut bodies = wire
        .iter()
        .map(|t| validate_trade(t.trade_id.0, t.price.get(), t.size.get(), t.side.get(), t.time.get()))
        .collect::<Result<Vec<_>, _>>()?;
    bodies.sort_by_key(TradeBody::id);
    let key = registry.commit(resolved, out);
    out.extend(bodies.into_iter().map(|b| MarketEvent::Trade(b.into_trade(key.clone(), recv))));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_only() {
        for url in [
            "https://api.exchange.coinbase.com/products",
            "https://api.pro.coinbase.com/products?limit=5",
            "http://127.0.0.1:8443/products/",
            "/products",
            "products",
        ] {
            assert_eq!(route(url), Ok(Endpoint::Products), "{url}");
        }
        assert_eq!(route("https://api.exchange.coinbase.com/products/BTC-USD"), Ok(Endpoint::Product("BTC-USD")));
        assert_eq!(route("http://localhost:1/products/ETH-EUR/trades?limit=100#x"), Ok(Endpoint::Trades("ETH-EUR")));
        for url in [
            "https://api.exchange.coinbase.com/",
            "https://api.exchange.coinbase.com",
            "/products/BTC-USD/book?level=2",
            "/products//trades",
            "/currencies",
            "/api/v3/brokerage/products",
            "",
        ] {
            assert_eq!(route(url).unwrap_err().reason(), "unknown_endpoint", "{url}");
        }
    }
}
