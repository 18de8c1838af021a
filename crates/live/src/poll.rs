//! The Coinbase Advanced Trade polling source: for users who take trades
//! from Advanced Trade's public REST market endpoints rather than the
//! Exchange websocket.
//!
//! At start it fetches the product list once (retried; if it cannot be had,
//! polling starts anyway and the list is tried again at the start of each
//! round until it arrives: the decoder derives `BASE-QUOTE` products
//! meanwhile). Then it polls every configured product's market trades
//! (`GET /api/v3/brokerage/market/products/{id}/ticker?limit=N`) once per
//! `interval`, the products spread evenly across the interval, every
//! request paced under a rate cap (Coinbase's public limit is 10 requests a
//! second). Every 2xx response is forwarded whole as a
//! [`LiveBody::Rest`] record: the pipeline archives and decodes it like
//! any REST response, and the engine dedups trades by id, so the overlap
//! between consecutive polls is harmless.
//!
//! The poller reads each page's trade ids (only those) to count trades new
//! and already seen, and to notice a **missed window**: a page whose oldest
//! trade id is more than one past the newest id seen before means trades
//! happened that no poll returned (Coinbase trade ids are consecutive per
//! product), i.e. `interval` is too long for `limit`. That is counted,
//! warned about, and the product's next poll asks for the maximum page
//! (1,000 trades) to catch up while the missed trades are still among the
//! newest.
//!
//! Requests go through the shared [`RestClient`], which paces them under
//! the rate cap and judges failures: 429 (honouring `Retry-After`, up to
//! the backoff's `max`; polls are sequential, so the wait holds every
//! product back, as the per-client limit requires), 5xx, timeouts and
//! connection errors are retried with backoff, up to `max_attempts` per
//! poll; then the poll is given up and the product is polled again next
//! round. Any other 4xx (an unknown product) is counted and logged, never
//! retried, and the product keeps being polled. Polling never stops on its
//! own; shutdown interrupts any wait or request at once.

use std::{
    sync::{atomic::AtomicU64, Arc},
    time::Duration,
};

use marketpipe_model::Exchange;
use marketpipe_venues::coinbase_advanced::{market_trade_ids, market_trades_url, products_url, DEFAULT_REST_URL, MAX_MARKET_TRADES_LIMIT};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
    time::MissedTickBehavior,
};

use crate::{
    config::{Backoff, ConfigError, DEFAULT_REQUEST_TIMEOUT},
    emit::{signalled, Emitter, Stopped},
    metrics::{PollCounters, PollStats},
    record::now,
    rest::{RestAttempt, RestClient, RestError, RestMethod, RestPolicy},
    LiveBody, LiveError, LiveRecord,
};

/// Default time between two polls of one product.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Default trades asked for per poll: comfortably more than a busy product
/// trades in a second, without archiving 1,000 mostly repeated trades per
/// product per second.
pub const DEFAULT_POLL_LIMIT: usize = 100;
/// Default attempts at one poll: a poll retried much longer would be
/// overtaken by the product's next one.
pub const DEFAULT_POLL_MAX_ATTEMPTS: u32 = 3;
/// Default request rate cap: Coinbase's public limit is 10 requests a
/// second per client.
pub const DEFAULT_POLL_REQUESTS_PER_SECOND: u32 = 10;

/// What the poller needs. [`PollConfig::new`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollConfig {
    /// The exchange (labels records and metrics): `coinbase-advanced`.
    pub exchange: Exchange,
    /// The REST base URL, [`DEFAULT_REST_URL`] (no trailing slash).
    pub rest_url: String,
    /// Native product ids to poll, in polling order.
    pub products: Vec<String>,
    /// Time between two polls of one product (default 1 s).
    pub interval: Duration,
    /// Trades asked for per poll, 1..=1000 (default 100).
    pub limit: usize,
    /// Request rate cap over all requests, retries included (default 10/s).
    pub requests_per_second: u32,
    /// Attempts at one poll (default 3).
    pub max_attempts: u32,
    /// Limit on one request, body included (default 10 s).
    pub request_timeout: Duration,
    /// Retry delays (default 250 ms doubling, full jitter). `max` (default
    /// 30 s) also caps how long a `Retry-After` is honoured; with the
    /// default three attempts, backoff itself never gets near it.
    pub backoff: Backoff,
}

impl PollConfig {
    /// Polling `products` on Coinbase Advanced Trade with the defaults.
    pub fn new(products: Vec<String>) -> Self {
        PollConfig {
            exchange: Exchange::CoinbaseAdvanced,
            rest_url: DEFAULT_REST_URL.to_owned(),
            products,
            interval: DEFAULT_POLL_INTERVAL,
            limit: DEFAULT_POLL_LIMIT,
            requests_per_second: DEFAULT_POLL_REQUESTS_PER_SECOND,
            max_attempts: DEFAULT_POLL_MAX_ATTEMPTS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            backoff: Backoff::default(),
        }
    }

    /// The REST client policy these settings amount to (each poll weighs 1).
    pub fn rest_policy(&self) -> RestPolicy {
        RestPolicy {
            weight_per_second: self.requests_per_second,
            max_attempts: self.max_attempts,
            request_timeout: self.request_timeout,
            backoff: self.backoff,
        }
    }

    /// Checks what would otherwise fail forever at run time.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |msg: String| Err(ConfigError(msg));
        if !(self.rest_url.starts_with("http://") || self.rest_url.starts_with("https://")) {
            return bad(format!("REST URL {:?} must start with http:// or https://", self.rest_url));
        }
        if self.products.is_empty() || self.products.iter().any(String::is_empty) {
            return bad("the poller needs at least one product and no empty product id".into());
        }
        if !(1..=MAX_MARKET_TRADES_LIMIT).contains(&self.limit) {
            return bad(format!("limit must be 1..={MAX_MARKET_TRADES_LIMIT}, got {}", self.limit));
        }
        if self.requests_per_second == 0 || self.max_attempts == 0 {
            return bad("requests_per_second and max_attempts must be positive".into());
        }
        if self.interval.is_zero() || self.request_timeout.is_zero() {
            return bad("interval and request_timeout must be positive".into());
        }
        if self.backoff.initial.is_zero() || self.backoff.max < self.backoff.initial {
            return bad("backoff needs 0 < initial <= max".into());
        }
        Ok(())
    }
}

/// A running poller.
#[derive(Debug)]
pub struct PollHandle {
    task: JoinHandle<()>,
    counters: Arc<PollCounters>,
}

impl PollHandle {
    /// Current counters.
    pub fn stats(&self) -> PollStats {
        self.counters.snapshot()
    }

    /// Waits for the poller to end: after shutdown is signalled, or once
    /// the downstream channel is closed.
    pub async fn join(self) -> Result<(), LiveError> {
        self.task.await.map_err(|e| LiveError::Task { task: "poller".into(), detail: e.to_string() })
    }
}

/// Starts the poller. Must be called inside a tokio runtime. `shutdown` set
/// to `true` (or its sender dropped) stops it, even mid-request.
pub fn spawn_poller(config: PollConfig, tx: mpsc::Sender<LiveRecord>, shutdown: watch::Receiver<bool>) -> Result<PollHandle, LiveError> {
    config.validate()?;
    let rest = RestClient::new(config.exchange, config.rest_policy())?;
    let full = Arc::new(AtomicU64::new(0));
    let counters = Arc::new(PollCounters::new(config.exchange, full.clone()));
    let poller = Poller {
        emitter: Emitter::new(tx, config.exchange, "poll", full),
        rest,
        products: config.products.iter().map(|_| ProductState::default()).collect(),
        products_warned: false,
        config,
        counters: counters.clone(),
        shutdown,
    };
    Ok(PollHandle { task: tokio::spawn(poller.run()), counters })
}

/// What the poller remembers about one product.
#[derive(Debug, Default)]
struct ProductState {
    /// The largest numeric trade id seen on any poll.
    newest: Option<u64>,
    /// The last poll missed trades: ask for the largest page next time.
    catch_up: bool,
    /// A client error was already logged as a warning.
    warned: bool,
}

/// How fetching one URL ended, other than with a body.
enum Failure {
    /// Give up on this request; `reason` is a metric label.
    GiveUp { reason: &'static str, detail: String },
    /// Stop the poller.
    Stop(Stopped),
}

struct Poller {
    config: PollConfig,
    rest: RestClient,
    emitter: Emitter,
    counters: Arc<PollCounters>,
    shutdown: watch::Receiver<bool>,
    products: Vec<ProductState>,
    /// A failed product list was already logged as a warning.
    products_warned: bool,
}

impl Poller {
    async fn run(mut self) {
        let n = self.config.products.len();
        let needed = n as f64 / self.config.interval.as_secs_f64();
        if needed > f64::from(self.config.requests_per_second) {
            tracing::warn!(exchange = %self.config.exchange, products = n, interval = ?self.config.interval,
                requests_per_second = self.config.requests_per_second,
                "polling every product once per interval needs more requests than the rate cap allows; polls will be further apart");
        }
        tracing::info!(exchange = %self.config.exchange, products = n, interval = ?self.config.interval, limit = self.config.limit,
            "polling market trades");
        let mut listed = match self.fetch_products().await {
            Ok(listed) => listed,
            Err(why) => return self.stopped(why),
        };
        // One slot per product per interval: products spread evenly (a
        // zero period would make tokio's interval panic).
        let period = (self.config.interval / u32::try_from(n).unwrap_or(u32::MAX)).max(Duration::from_millis(1));
        let mut slots = tokio::time::interval(period);
        slots.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for i in (0..n).cycle() {
            tokio::select! {
                _ = signalled(&mut self.shutdown) => return self.stopped(Stopped::Shutdown),
                _ = slots.tick() => {}
            }
            if i == 0 && !listed {
                listed = match self.fetch_products().await {
                    Ok(listed) => listed,
                    Err(why) => return self.stopped(why),
                };
            }
            if let Err(why) = self.poll(i).await {
                return self.stopped(why);
            }
        }
    }

    fn stopped(&self, why: Stopped) {
        tracing::debug!(exchange = %self.config.exchange, ?why, "poller stopping");
    }

    /// Fetches and forwards the product list; `Ok(false)` if it could not
    /// be had this time.
    async fn fetch_products(&mut self) -> Result<bool, Stopped> {
        let url = products_url(&self.config.rest_url);
        match self.fetch(&url).await {
            Ok(body) => {
                self.emitter.emit(now(), LiveBody::Rest { url, body }, &mut self.shutdown).await?;
                self.counters.product_list();
                Ok(true)
            }
            Err(Failure::Stop(why)) => Err(why),
            Err(Failure::GiveUp { reason, detail }) => {
                self.counters.failed(reason);
                if std::mem::replace(&mut self.products_warned, true) {
                    tracing::debug!(exchange = %self.config.exchange, url, reason, error = %detail, "the product list failed again");
                } else {
                    tracing::warn!(exchange = %self.config.exchange, url, reason, error = %detail,
                        "could not fetch the product list; polling without it, will try again each round");
                }
                Ok(false)
            }
        }
    }

    /// Polls product `i` once and forwards the page.
    async fn poll(&mut self, i: usize) -> Result<(), Stopped> {
        let Some(product) = self.config.products.get(i).cloned() else { return Ok(()) };
        let catch_up = self.products.get(i).is_some_and(|s| s.catch_up);
        let limit = if catch_up { MAX_MARKET_TRADES_LIMIT } else { self.config.limit };
        let url = market_trades_url(&self.config.rest_url, &product, limit);
        let body = match self.fetch(&url).await {
            Ok(body) => body,
            Err(Failure::Stop(why)) => return Err(why),
            Err(Failure::GiveUp { reason, detail }) => {
                self.counters.failed(reason);
                let first = self.products.get_mut(i).is_some_and(|s| !std::mem::replace(&mut s.warned, true));
                if reason != "client_error" || first {
                    tracing::warn!(exchange = %self.config.exchange, product, reason, error = %detail,
                        "poll failed; the product stays polled");
                } else {
                    tracing::debug!(exchange = %self.config.exchange, product, reason, error = %detail, "poll failed again");
                }
                return Ok(());
            }
        };
        let ids = market_trade_ids(&body);
        // Forwarded whatever it holds: everything received is archived, and
        // the decoder counts a page it cannot use.
        self.emitter.emit(now(), LiveBody::Rest { url, body }, &mut self.shutdown).await?;
        self.counters.poll();
        match ids {
            Ok(ids) => self.account(i, &product, limit, &ids),
            Err(e) => {
                self.counters.bad_page();
                tracing::warn!(exchange = %self.config.exchange, product, error = %e, "a polled page has no readable trade ids");
            }
        }
        Ok(())
    }

    /// Counts a page's trades as new or already seen, and notices trades
    /// missed between this poll and the last.
    fn account(&mut self, i: usize, product: &str, limit: usize, ids: &[marketpipe_model::TradeId]) {
        let Some(state) = self.products.get_mut(i) else { return };
        let numeric: Vec<u64> = ids.iter().filter_map(marketpipe_model::TradeId::as_u64).collect();
        // Opaque ids cannot be ordered: they count as new.
        let new = match state.newest {
            None => ids.len(),
            Some(last) => ids.len() - numeric.iter().filter(|&&id| id <= last).count(),
        };
        self.counters.trades(new as u64, (ids.len() - new) as u64);
        match (state.newest, numeric.iter().min()) {
            (Some(last), Some(&oldest)) if oldest > last.saturating_add(1) => {
                self.counters.missed_window();
                state.catch_up = true;
                tracing::warn!(exchange = %self.config.exchange, product, last_seen = last, oldest, missed = oldest - last - 1, limit,
                    interval = ?self.config.interval, "trades missed between polls: the interval is too long for the page size");
            }
            _ => state.catch_up = false,
        }
        if let Some(&max) = numeric.iter().max() {
            state.newest = Some(state.newest.map_or(max, |last| last.max(max)));
        }
    }

    /// One URL, paced and retried by the REST client.
    async fn fetch(&mut self, url: &str) -> Result<String, Failure> {
        let counters = &self.counters;
        let observe = |attempt| match attempt {
            RestAttempt::Request => counters.request(),
            RestAttempt::Retry(reason) => {
                if reason == "rate_limited" {
                    counters.rate_limited();
                }
                counters.retry(reason);
            }
        };
        match self.rest.fetch(RestMethod::Get, url, 1, &mut self.shutdown, &observe).await {
            Ok(body) => Ok(body),
            Err(RestError::Stopped) => Err(Failure::Stop(Stopped::Shutdown)),
            Err(RestError::GiveUp { reason, detail }) => Err(Failure::GiveUp { reason, detail }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        let c = PollConfig::new(vec!["BTC-USD".into()]);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!((c.interval, c.limit, c.requests_per_second), (Duration::from_secs(1), 100, 10));
        assert_eq!(c.rest_url, "https://api.coinbase.com");
        assert_eq!(c.exchange, Exchange::CoinbaseAdvanced);
        type Breaker = fn(&mut PollConfig);
        let cases: [(&str, Breaker); 7] = [
            ("REST URL", |c| c.rest_url = "ftp://x".into()),
            ("product", |c| c.products.clear()),
            ("product", |c| c.products.push(String::new())),
            ("limit", |c| c.limit = 0),
            ("limit", |c| c.limit = 1001),
            ("interval", |c| c.interval = Duration::ZERO),
            ("backoff", |c| c.backoff.max = Duration::from_millis(1)),
        ];
        for (needle, break_it) in cases {
            let mut c = PollConfig::new(vec!["BTC-USD".into()]);
            break_it(&mut c);
            let e = c.validate().unwrap_err();
            assert!(e.0.contains(needle), "{e}");
        }
    }
}
