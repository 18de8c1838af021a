//! The API's one error type and its JSON rendering.
//!
//! Every failure, whatever its cause, leaves as
//! `{"error":{"code":"...","message":"..."}}` with a status that says whose
//! fault it was: 4xx for the caller's input, 5xx only for the server's own
//! faults (a failing store, a timeout, a panic). Store failures are logged
//! here, at the one place they become responses, with their full cause; the
//! client sees a generic message so backend details (paths, SQL) stay
//! internal.

use axum::{
    http::{Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json,
};
use marketpipe_store::StoreError;

/// Longest stretch of caller input echoed back in an error message: enough
/// to recognise the value, not enough to turn errors into an amplifier.
const ECHO_CHARS: usize = 64;

/// An error response: HTTP status, a stable machine-readable code and a
/// human-readable message that says exactly what was wrong.
///
/// Codes, by status:
/// - 400: `missing_parameter`, `unknown_parameter`, `duplicate_parameter`,
///   `empty_parameter`, `bad_encoding`, `value_too_long`,
///   `invalid_parameter` (a value that does not parse: exchange, symbol,
///   interval, time, limit, depth, fill), `invalid_range` (`start >= end`);
/// - 404: `unknown_product`, `no_data` (a known product with nothing stored
///   yet), `not_found` (no such endpoint);
/// - 405: `method_not_allowed`;
/// - 500: `internal` (a store fault that retrying will not fix, a panic);
/// - 503: `unavailable` (a store fault that may pass), `timeout`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable snake_case code clients can branch on.
    pub code: &'static str,
    /// What went wrong, for a human.
    pub message: String,
}

impl ApiError {
    /// An error with any status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    /// 400: the caller's input is wrong in the way `code` names.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 400 `invalid_parameter`: the value of parameter `name` is wrong;
    /// the message is prefixed with the parameter's name.
    pub fn invalid(name: &str, message: impl std::fmt::Display) -> Self {
        Self::bad_request("invalid_parameter", format!("{name}: {message}"))
    }

    /// 404 `not_found`: no endpoint at that path.
    pub fn no_route(method: &Method, uri: &Uri) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no endpoint {method} {}; the API serves GET {}", echo(uri.path()), crate::ENDPOINTS.join(", ")),
        )
    }

    /// 405 `method_not_allowed`: the path exists but only answers GET (and HEAD).
    pub fn wrong_method(method: &Method, uri: &Uri) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("{method} is not allowed on {}; use GET", echo(uri.path())))
    }

    /// 500 `internal`: something failed on our side; the details are in the
    /// server log, not in the response.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal server error; see the server log")
    }

    /// 503 `timeout`: the request did not finish within the configured time.
    pub fn timeout(limit: std::time::Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request did not complete within {} ms; try again later", limit.as_millis()),
        )
    }

    /// Maps a store failure to 503 (retryable) or 500 (not), logging its
    /// cause: it is a server fault, never the caller's.
    pub fn store(err: StoreError) -> Self {
        if err.is_retryable() {
            tracing::warn!(error = %err, "store temporarily unavailable");
            Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the store is temporarily unavailable; try again")
        } else {
            tracing::error!(error = %err, "store failed");
            Self::internal()
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

/// Quotes caller input for an error message: Rust string-literal escaping
/// (so control characters and quotes cannot garble the message) and at most
/// [`ECHO_CHARS`] characters.
pub(crate) fn echo(s: &str) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(ECHO_CHARS).collect();
    if chars.next().is_some() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

/// Fallback for paths no route matches.
pub(crate) async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::no_route(&method, &uri)
}

/// Fallback for known paths asked with a method other than GET/HEAD.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::wrong_method(&method, &uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_escapes_and_truncates() {
        assert_eq!(echo("a\"b\n"), r#""a\"b\n""#);
        let long = "x".repeat(100);
        let e = echo(&long);
        assert!(e.ends_with('…'), "{e}");
        assert_eq!(e.chars().filter(|c| *c == 'x').count(), ECHO_CHARS);
    }

    #[test]
    fn store_errors_map_by_retryability() {
        let busy = StoreError::Backend { message: "busy".into(), retryable: true };
        assert_eq!(ApiError::store(busy).status, StatusCode::SERVICE_UNAVAILABLE);
        let full = StoreError::Backend { message: "disk full".into(), retryable: false };
        assert_eq!(ApiError::store(full).status, StatusCode::INTERNAL_SERVER_ERROR);
        let corrupt = ApiError::store(StoreError::Corrupt("bad decimal".into()));
        assert_eq!(corrupt.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!corrupt.message.contains("bad decimal"), "backend detail leaked: {}", corrupt.message);
    }
}
