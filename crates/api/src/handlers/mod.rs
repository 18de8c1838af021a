//! Endpoint handlers: parse and validate the query, ask the store, render.
//!
//! Each handler validates its whole query before touching the store, so bad
//! input costs no store work and can never surface as a store error.

pub(crate) mod book;
pub(crate) mod candles;
pub(crate) mod health;
pub(crate) mod products;
pub(crate) mod stats;
pub(crate) mod tickers;

use std::sync::Arc;

use axum::http::StatusCode;
use marketpipe_model::InstrumentKey;
use marketpipe_store::MarketReader;

use crate::{error::ApiError, ApiConfig};

/// What every handler shares.
pub(crate) struct App {
    /// Where the data comes from.
    pub store: Arc<dyn MarketReader>,
    /// Limits and defaults, already normalized.
    pub config: ApiConfig,
}

/// The handlers' axum state.
pub(crate) type Shared = axum::extract::State<Arc<App>>;

/// Fails with 404 `unknown_product` unless the store knows `key`.
pub(crate) async fn known_product(store: &dyn MarketReader, key: &InstrumentKey) -> Result<(), ApiError> {
    match store.product(key).await.map_err(ApiError::store)? {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_product",
            format!("no product {} on {}; GET /api/v1/products lists the known ones", key.symbol, key.exchange),
        )),
    }
}

/// 404 `no_data`: the product is known but nothing of `what` is stored yet
/// (a product just added, a book still waiting for its first snapshot).
pub(crate) fn no_data(what: &str, key: &InstrumentKey) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_data", format!("no {what} stored yet for {} on {}", key.symbol, key.exchange))
}
