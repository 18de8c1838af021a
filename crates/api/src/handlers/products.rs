//! `GET /api/v1/products`.

use axum::{extract::RawQuery, Json};

use super::Shared;
use crate::{
    dto::{ProductDto, Products},
    error::ApiError,
    params::{parse_exchange, Params},
};

const PARAMS: &[&str] = &["exchange"];

/// Every known product ordered by exchange name then symbol (alphabetically,
/// whatever order the backend keeps), optionally only those of one
/// `exchange`.
pub(crate) async fn products(axum::extract::State(app): Shared, RawQuery(query): RawQuery) -> Result<Json<Products>, ApiError> {
    let params = Params::parse(query.as_deref(), "/api/v1/products", PARAMS)?;
    let exchange = params.get("exchange").map(parse_exchange).transpose()?;
    let mut products = app.store.products().await.map_err(ApiError::store)?;
    products.retain(|p| exchange.is_none_or(|e| p.key.exchange == e));
    // Sorting here makes the response independent of the backend behind it.
    products.sort_by(|a, b| (a.key.exchange.as_str(), a.key.symbol.as_str()).cmp(&(b.key.exchange.as_str(), b.key.symbol.as_str())));
    Ok(Json(Products { products: products.into_iter().map(ProductDto::from).collect() }))
}
