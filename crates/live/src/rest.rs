//! The one way the runtime calls an exchange's REST API: product lists,
//! trade backfill pages, book snapshots, connection tokens.
//!
//! Every caller of one exchange shares a [`RestClient`] clone, so they share
//! its request budget: exchanges limit requests per IP (Coinbase about 10
//! public requests a second, Binance a weight of 6,000 a minute, KuCoin a
//! weight pool per 30 s), and a budget split per caller would let them
//! exceed it together. Each request costs a weight (1 unless the exchange
//! says otherwise); requests are spaced so the weight per second stays
//! within the budget.
//!
//! Failures get a verdict: connect errors, timeouts, 5xx, 429 and 418 (a
//! Binance IP ban for ignoring 429s) are retried with jittered backoff,
//! honouring `Retry-After`; any other 4xx is final, since asking again will
//! not change the answer.

use std::{sync::Arc, time::Duration};

use marketpipe_model::Exchange;
use tokio::{
    sync::{watch, Mutex},
    time::Instant,
};

use crate::{
    backoff::BackoffState,
    config::Backoff,
    emit::{signalled, Stopped},
    record::now,
    LiveError,
};

/// The HTTP method of a request: exchanges' public market data is `GET`,
/// except KuCoin's connection token, which is `POST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestMethod {
    /// `GET`.
    Get,
    /// `POST` with an empty body.
    Post,
}

/// How a REST call ended other than with a body.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// Asking again will not help, or the attempts ran out.
    #[error("{reason}: {detail}")]
    GiveUp {
        /// A short label (`client_error`, `retries_exhausted`...), for metrics.
        reason: &'static str,
        /// What happened last.
        detail: String,
    },
    /// Shutdown was signalled meanwhile.
    #[error("stopped")]
    Stopped,
}

impl From<Stopped> for RestError {
    fn from(_: Stopped) -> Self {
        RestError::Stopped
    }
}

/// Whether (and how long) to retry after a failed attempt.
enum Verdict {
    Retry { reason: &'static str, detail: String, wait: Option<Duration> },
    GiveUp { reason: &'static str, detail: String },
}

/// What a caller of [`RestClient::fetch`] is told as it goes, for its
/// counters: each request sent, each retry decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RestAttempt {
    /// A request is being sent.
    Request,
    /// An attempt failed and will be retried; the reason is a metric label.
    Retry(&'static str),
}

/// The retry policy of a [`RestClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestPolicy {
    /// Request weight the exchange allows per second (the client keeps
    /// within it); at least 1.
    pub weight_per_second: u32,
    /// Attempts at one request before giving up; at least 1.
    pub max_attempts: u32,
    /// Limit on one request, body included.
    pub request_timeout: Duration,
    /// Delays between attempts.
    pub backoff: Backoff,
}

/// An exchange's REST client with its shared request budget. Cheap to clone;
/// clones share the budget.
#[derive(Debug, Clone)]
pub struct RestClient {
    exchange: Exchange,
    client: reqwest::Client,
    policy: RestPolicy,
    /// The earliest time the next request may start.
    next_slot: Arc<Mutex<Instant>>,
}

impl RestClient {
    /// A client for `exchange` under `policy`.
    pub fn new(exchange: Exchange, policy: RestPolicy) -> Result<Self, LiveError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(policy.request_timeout)
            .user_agent(concat!("marketpipe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LiveError::HttpClient(e.to_string()))?;
        let policy = RestPolicy { weight_per_second: policy.weight_per_second.max(1), max_attempts: policy.max_attempts.max(1), ..policy };
        Ok(RestClient { exchange, client, policy, next_slot: Arc::new(Mutex::new(Instant::now())) })
    }

    /// A client for `protocol`'s exchange with the default policy
    /// ([`crate::BackfillConfig::new`]).
    pub fn for_protocol(protocol: &dyn marketpipe_venues::session::SessionProtocol) -> Result<Self, LiveError> {
        Self::new(protocol.exchange(), crate::BackfillConfig::new(protocol).rest_policy())
    }

    /// The body of a 2xx response to `method url`, retried per the rules
    /// above; `weight` is what the exchange charges for the request. Ends
    /// early with [`RestError::Stopped`] once `shutdown` is signalled.
    pub async fn request(
        &self,
        method: RestMethod,
        url: &str,
        weight: u32,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<String, RestError> {
        self.fetch(method, url, weight, shutdown, &|_| {}).await
    }

    /// [`RestClient::request`], with `observe` told of every attempt for
    /// the caller's counters.
    pub(crate) async fn fetch(
        &self,
        method: RestMethod,
        url: &str,
        weight: u32,
        shutdown: &mut watch::Receiver<bool>,
        observe: &(dyn Fn(RestAttempt) + Sync),
    ) -> Result<String, RestError> {
        let mut backoff = BackoffState::new(self.policy.backoff, u64::try_from(now().0).unwrap_or_default());
        let mut attempts = 0;
        loop {
            self.pace(weight, shutdown).await?;
            observe(RestAttempt::Request);
            attempts += 1;
            let verdict = tokio::select! {
                () = signalled(shutdown) => return Err(RestError::Stopped),
                result = self.once(method, url) => match result {
                    Ok(body) => return Ok(body),
                    Err(verdict) => verdict,
                },
            };
            let (reason, detail, wait) = match verdict {
                Verdict::GiveUp { reason, detail } => return Err(RestError::GiveUp { reason, detail }),
                Verdict::Retry { reason, detail, wait } => (reason, detail, wait),
            };
            if attempts >= self.policy.max_attempts {
                return Err(RestError::GiveUp {
                    reason: "retries_exhausted",
                    detail: format!("{attempts} attempts, last: {reason}: {detail}"),
                });
            }
            observe(RestAttempt::Retry(reason));
            // Retry-After is the exchange telling us exactly how long; it is
            // capped so a bogus header cannot park the caller for hours.
            let delay = wait.map_or_else(|| backoff.next_delay(), |w| w.min(self.policy.backoff.max));
            tracing::debug!(exchange = %self.exchange, url, reason, error = %detail, ?delay, "retrying a REST request");
            tokio::select! {
                () = signalled(shutdown) => return Err(RestError::Stopped),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Waits for a slot in the budget for `weight`.
    async fn pace(&self, weight: u32, shutdown: &mut watch::Receiver<bool>) -> Result<(), RestError> {
        let cost = Duration::from_secs(u64::from(weight.max(1))) / self.policy.weight_per_second;
        let at = {
            let mut next = self.next_slot.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + cost;
            at
        };
        tokio::select! {
            () = signalled(shutdown) => Err(RestError::Stopped),
            () = tokio::time::sleep_until(at) => Ok(()),
        }
    }

    /// One attempt.
    async fn once(&self, method: RestMethod, url: &str) -> Result<String, Verdict> {
        let request = match method {
            RestMethod::Get => self.client.get(url),
            RestMethod::Post => self.client.post(url),
        };
        let response = request.send().await.map_err(|e| transport_verdict(&e))?;
        let status = response.status();
        if status.is_success() {
            return response.text().await.map_err(|e| transport_verdict(&e));
        }
        let detail = format!("HTTP {status}");
        if matches!(status.as_u16(), 429 | 418) {
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
