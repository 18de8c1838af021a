//! `GET /api/v1/book`.

use axum::{extract::RawQuery, Json};

use super::{known_product, no_data, Shared};
use crate::{dto::Book, error::ApiError, params::Params};

const PARAMS: &[&str] = &["exchange", "symbol", "depth"];

/// The latest stored book of a product, at most `depth` levels per side
/// (default and cap from [`crate::ApiConfig`]), best first.
pub(crate) async fn book(axum::extract::State(app): Shared, RawQuery(query): RawQuery) -> Result<Json<Book>, ApiError> {
    let params = Params::parse(query.as_deref(), "/api/v1/book", PARAMS)?;
    params.require(&["exchange", "symbol"])?;
    let key = marketpipe_model::InstrumentKey::new(params.exchange()?, params.symbol()?);
    let depth = params.count("depth", app.config.default_depth, app.config.max_depth)?;
    known_product(&*app.store, &key).await?;
    match app.store.book(&key, depth).await.map_err(ApiError::store)? {
        Some(book) => Ok(Json(Book::new(&key, &book, depth))),
        None => Err(no_data("book", &key)),
    }
}
