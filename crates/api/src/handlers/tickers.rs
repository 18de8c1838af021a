//! `GET /api/v1/tickers`.

use axum::{extract::RawQuery, Json};

use super::{known_product, no_data, Shared};
use crate::{dto::Tickers, error::ApiError, params::Params};

const PARAMS: &[&str] = &["exchange", "symbol"];

/// The latest ticker of every product of an exchange, or of one product.
///
/// Without `symbol` an exchange with no tickers yet answers an empty list
/// (nothing is wrong with the request); with `symbol`, an unknown product is
/// 404 `unknown_product` and a known one without a ticker 404 `no_data`,
/// like the other per-product endpoints.
pub(crate) async fn tickers(axum::extract::State(app): Shared, RawQuery(query): RawQuery) -> Result<Json<Tickers>, ApiError> {
    let params = Params::parse(query.as_deref(), "/api/v1/tickers", PARAMS)?;
    params.require(&["exchange"])?;
    let exchange = params.exchange()?;
    if params.get("symbol").is_none() {
        let tickers = app.store.tickers(exchange).await.map_err(ApiError::store)?;
        return Ok(Json(Tickers::new(exchange, &tickers)));
    }
    let key = marketpipe_model::InstrumentKey::new(exchange, params.symbol()?);
    known_product(&*app.store, &key).await?;
    match app.store.ticker(&key).await.map_err(ApiError::store)? {
        Some(ticker) => Ok(Json(Tickers::new(exchange, std::slice::from_ref(&ticker)))),
        None => Err(no_data("ticker", &key)),
    }
}
