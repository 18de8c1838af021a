//! `GET /api/v3/brokerage/market/products` ("List Public Products") and
//! `GET /api/v3/brokerage/market/products/{product_id}` ("Get Public
//! Product"): instrument metadata.

use marketpipe_model::{Exchange, MarketEvent, Product};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::de::{self, json_error, OptStr};
use crate::{
    wire::{registry::Registry, symbol::is_currency_code},
    DecodeError,
};

/// One product of the public product list (the list response wraps these
/// in `{"products": [...], "num_products": N, "pagination": ...}`), or the
/// whole body of the single-product endpoint.
///
/// The normalized symbol comes from `base_currency_id` and
/// `quote_currency_id` (`BTC-USDC` is `BTC-USDC`, though its
/// `quote_display_symbol` is `USD`). `alias` names the product whose book
/// this one shares (`BTC-USDC` -> `BTC-USD`), which trades pages may name
/// instead. `status`, `trading_disabled`, `is_disabled`, the increments
/// and the 24-hour figures are not needed for a [`Product`] and not
/// declared: a delisted product's history still needs its name. Only spot
/// products are taken: futures (`"product_type": "FUTURE"`) have no base
/// currency id and trade contracts, not currency.
///
/// See <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/public/list-public-products>
/// and <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/public/get-public-product>
///
/// ```json
/// {
///   "product_id": "BTC-USD",
///   "price": "68925.98",
///   "price_percentage_change_24h": "-0.28225832119521",
///   "volume_24h": "11005.02587005",
///   "volume_percentage_change_24h": "164.92748862719962",
///   "base_increment": "0.00000001",
///   "quote_increment": "0.01",
///   "quote_min_size": "1",
///   "quote_max_size": "150000000",
///   "base_min_size": "0.00000001",
///   "base_max_size": "3400",
///   "base_name": "Bitcoin",
///   "quote_name": "US Dollar",
///   "watched": false,
///   "is_disabled": false,
///   "new": false,
///   "status": "online",
///   "cancel_only": false,
///   "limit_only": false,
///   "post_only": false,
///   "trading_disabled": false,
///   "auction_mode": false,
///   "product_type": "SPOT",
///   "quote_currency_id": "USD",
///   "base_currency_id": "BTC",
///   "fcm_trading_session_details": null,
///   "mid_market_price": "",
///   "alias": "",
///   "alias_to": ["BTC-USDC"],
///   "base_display_symbol": "BTC",
///   "quote_display_symbol": "USD",
///   "view_only": false,
///   "price_increment": "0.01",
///   "display_name": "BTC-USD",
///   "product_venue": "CBE"
/// }
/// ```
#[derive(Debug, Deserialize)]
struct ProductWire<'a> {
    /// Native product id, e.g. `BTC-USD`.
    #[serde(borrow, default)]
    product_id: OptStr<'a>,
    /// Base currency code.
    #[serde(borrow, default)]
    base_currency_id: OptStr<'a>,
    /// Quote currency code.
    #[serde(borrow, default)]
    quote_currency_id: OptStr<'a>,
    /// `SPOT` or `FUTURE`; absent is taken as spot.
    #[serde(borrow, default)]
    product_type: OptStr<'a>,
    /// The product whose book this one shares, or `""`.
    #[serde(borrow, default)]
    alias: OptStr<'a>,
}

impl ProductWire<'_> {
    /// The product and its alias, if the identity fields are usable.
    fn validate(&self) -> Result<(Product, Option<String>), DecodeError> {
        let id = de::required(self.product_id.get(), "product_id")?;
        if let Some(kind) = self.product_type.get().filter(|k| *k != "SPOT") {
            return Err(DecodeError::BadField { field: "product_type", detail: format!("{} is not a spot product", de::snippet(kind)) });
        }
        let base = de::required(self.base_currency_id.get(), "base_currency_id")?;
        let quote = de::required(self.quote_currency_id.get(), "quote_currency_id")?;
        if !usable_id(id) {
            return Err(DecodeError::BadField { field: "product_id", detail: format!("unusable product id {}", de::snippet(id)) });
        }
        for (field, code) in [("base_currency_id", base), ("quote_currency_id", quote)] {
            if !is_currency_code(code) {
                return Err(DecodeError::BadField { field, detail: format!("unusable currency code {}", de::snippet(code)) });
            }
        }
        let alias = match de::non_empty(self.alias.get()) {
            Some(a) if usable_id(a) => Some(a.to_owned()),
            Some(a) => return Err(DecodeError::BadField { field: "alias", detail: format!("unusable product id {}", de::snippet(a)) }),
            None => None,
        };
        Ok((Product::new(Exchange::CoinbaseAdvanced, id, base, quote), alias))
    }
}

/// Whether `id` can name a product: short printable ASCII.
fn usable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The product list's envelope. Pagination fields are not needed: without
/// `limit`, the public list returns every product.
#[derive(Debug, Deserialize)]
struct ListWire<'a> {
    /// The products, each checked on its own.
    #[serde(borrow, default)]
    products: Option<Vec<&'a RawValue>>,
}

/// Decodes the product list: registers and emits every usable spot
/// product, in response order. An unusable entry (or a future) is skipped
/// without failing the others; the number skipped is returned. A body that
/// is not an object with a `products` array fails whole.
pub(crate) fn products(body: &str, registry: &mut Registry, out: &mut Vec<MarketEvent>) -> Result<u64, DecodeError> {
    let wire: ListWire<'_> = serde_json::from_str(body).map_err(json_error)?;
    let entries = de::required(wire.products, "products")?;
    let mut skipped = 0;
    for raw in entries {
        match serde_json::from_str::<ProductWire<'_>>(raw.get()).map_err(json_error).and_then(|p| p.validate()) {
            Ok((product, alias)) => {
                registry.upsert(product.clone(), alias);
                out.push(MarketEvent::Product(product));
            }
            Err(e) => {
                skipped += 1;
                tracing::debug!(reason = e.reason(), error = %e, "skipped a Coinbase Advanced product entry");
            }
        }
    }
    Ok(skipped)
}

/// Decodes a single product, whose `product_id` must be the one requested.
pub(crate) fn product(path_id: &str, body: &str, registry: &mut Registry, out: &mut Vec<MarketEvent>) -> Result<(), DecodeError> {
    let (product, alias) = serde_json::from_str::<ProductWire<'_>>(body).map_err(json_error)?.validate()?;
    if product.native_symbol != path_id {
        return Err(DecodeError::BadField {
            field: "product_id",
            detail: format!("{} answers a request for {}", de::snippet(&product.native_symbol), de::snippet(path_id)),
        });
    }
    registry.upsert(product.clone(), alias);
    out.push(MarketEvent::Product(product));
    Ok(())
}
