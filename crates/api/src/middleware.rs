//! Defences that wrap every endpoint: a concurrency limit, a request
//! timeout and a panic catcher, each answering with the API's JSON error
//! shape rather than an empty body.

use std::{any::Any, sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Shared by every route: one semaphore, so the limit is global even though
/// axum instantiates a layer per route.
#[derive(Clone)]
pub(crate) struct Guard {
    pub permits: Arc<Semaphore>,
    pub timeout: Duration,
}

/// Runs a request with a concurrency permit and a deadline.
///
/// Requests beyond the limit queue for a permit rather than being refused:
/// a dashboard opening several panels at once should be served, just in
/// turn. The deadline covers the queueing too, so a queued request still
/// gets its 503 `timeout` in bounded time, and an overloaded store cannot
/// pile up unbounded work: when the deadline passes the handler's future is
/// dropped.
pub(crate) async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let work = async {
        match guard.permits.acquire().await {
            Ok(_permit) => next.run(request).await,
            // The semaphore is never closed; answer sensibly if it ever is.
            Err(_) => ApiError::internal().into_response(),
        }
    };
    match tokio::time::timeout(guard.timeout, work).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%method, path, timeout_ms = guard.timeout.as_millis(), "request timed out");
            ApiError::timeout(guard.timeout).into_response()
        }
    }
}

/// Turns a panic in a handler into a JSON 500 and an error log. A panic is
/// a bug; this keeps it from killing the connection with no answer.
pub(crate) fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let detail = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic payload)");
    tracing::error!(panic = detail, "request handler panicked");
    ApiError::internal().into_response()
}
