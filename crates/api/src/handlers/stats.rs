//! `GET /api/v1/stats`.

use axum::{extract::RawQuery, Json};

use super::{known_product, no_data, Shared};
use crate::{dto::Stats, error::ApiError, params::Params};

const PARAMS: &[&str] = &["exchange", "symbol"];

/// The latest stored book statistics of a product.
pub(crate) async fn stats(axum::extract::State(app): Shared, RawQuery(query): RawQuery) -> Result<Json<Stats>, ApiError> {
    let params = Params::parse(query.as_deref(), "/api/v1/stats", PARAMS)?;
    params.require(&["exchange", "symbol"])?;
    let key = marketpipe_model::InstrumentKey::new(params.exchange()?, params.symbol()?);
    known_product(&*app.store, &key).await?;
    match app.store.stats(&key).await.map_err(ApiError::store)? {
        Some(stats) => Ok(Json(Stats::new(&key, &stats))),
        None => Err(no_data("stats", &key)),
    }
}
