//! `GET /api/v1/health`.

use axum::{
    extract::RawQuery,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};

use super::Shared;
use crate::{dto::Health, error::ApiError, params::Params};

/// `{"status":"ok","version":"...","store":"ok"}`, or 503 with
/// `"status":"degraded"` and `"store":"unavailable"` when the store's
/// health check fails. The failure's cause goes to the log, not the body.
/// A check slower than the request timeout gets the generic 503 `timeout`
/// error instead.
pub(crate) async fn health(axum::extract::State(app): Shared, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    Params::parse(query.as_deref(), "/api/v1/health", &[])?;
    let version = env!("CARGO_PKG_VERSION");
    Ok(match app.store.health().await {
        Ok(()) => Json(Health { status: "ok", version, store: "ok" }).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, retryable = err.is_retryable(), "store health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "degraded", version, store: "unavailable" })).into_response()
        }
    })
}
