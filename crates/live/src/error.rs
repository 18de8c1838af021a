//! Errors the live runtime reports to its caller. Failures on the wire are
//! not errors here: sessions and the backfiller handle them (reconnect,
//! retry, give up on a gap) and count them.

use crate::config::ConfigError;

/// Why a feed or backfiller could not start, or did not end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The HTTP client could not be built (TLS setup).
    #[error("building the HTTP client: {0}")]
    HttpClient(String),
    /// A task panicked or was cancelled.
    #[error("live task {task} failed: {detail}")]
    Task {
        /// Which task.
        task: String,
        /// The join error.
        detail: String,
    },
}

impl LiveError {
    /// Whether trying again could help: none of these are transient.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
