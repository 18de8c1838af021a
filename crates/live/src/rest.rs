//! One REST GET and what to do when it fails, shared by the backfiller and
//! the poller (moved here from `backfill.rs` unchanged, so both judge
//! failures alike): connect errors, timeouts, 5xx and 429 are worth
//! retrying (429 with its `Retry-After`), any other status is not.

use std::time::Duration;

use crate::LiveError;

/// Whether (and how long) to retry after a failed attempt.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Try again, after `wait` if the server said how long (429's
    /// `Retry-After`), else after the caller's backoff.
    Retry { reason: &'static str, detail: String, wait: Option<Duration> },
    /// Retrying cannot help (a 4xx other than 429, a malformed request).
    GiveUp { reason: &'static str, detail: String },
}

/// The HTTP client every REST task uses: one request limit, our user agent.
pub(crate) fn client(request_timeout: Duration) -> Result<reqwest::Client, LiveError> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(request_timeout)
        .user_agent(concat!("marketpipe/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LiveError::HttpClient(e.to_string()))
}

/// One GET: the body of a 2xx response, or what to do about the failure.
pub(crate) async fn get(client: &reqwest::Client, url: &str) -> Result<String, Verdict> {
    let response = client.get(url).send().await.map_err(|e| transport_verdict(&e))?;
    let status = response.status();
    if status.is_success() {
        return response.text().await.map_err(|e| transport_verdict(&e));
    }
    let detail = format!("HTTP {status}");
    if status.as_u16() == 429 {
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(Verdict::Retry { reason: "rate_limited", detail, wait });
    }
    if status.is_server_error() {
        return Err(Verdict::Retry { reason: "server_error", detail, wait: None });
    }
    Err(Verdict::GiveUp { reason: if status.is_client_error() { "client_error" } else { "unexpected_status" }, detail })
}

/// Transport failures are worth retrying (the network or the server may
/// come back), except a request that could not even be built.
fn transport_verdict(e: &reqwest::Error) -> Verdict {
    let detail = e.to_string();
    if e.is_builder() {
        Verdict::GiveUp { reason: "bad_request", detail }
    } else if e.is_timeout() {
        Verdict::Retry { reason: "timeout", detail, wait: None }
    } else if e.is_connect() {
        Verdict::Retry { reason: "connect", detail, wait: None }
    } else {
        Verdict::Retry { reason: "transport", detail, wait: None }
    }
}
