//! Trade-gap backfill over REST: for each [`Gap`], page the product's trades
//! backwards from the first id after the hole until a page reaches the last
//! id before it, and hand every response downstream as a `Rest` record.
//! The pipeline decodes those with the same decoder as live frames, and
//! trade-id dedup makes any overlap harmless, so pages are forwarded whole.
//!
//! One request at a time, rate-limited (Coinbase allows about 10 public
//! requests a second); connect errors, timeouts, 5xx and 429 are retried
//! with backoff (429's `Retry-After` respected); any other 4xx gives up on
//! the gap. Pending gaps of one product that overlap or nearly touch are
//! merged into one range.

use std::{
    sync::{atomic::AtomicU64, Arc},
    time::Duration,
};

use marketpipe_venues::session::SessionProtocol;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
    time::Instant,
};

use crate::{
    backoff::BackoffState,
    config::BackfillConfig,
    emit::{signalled, Emitter, Stopped},
    gap::Gap,
    metrics::{BackfillCounters, BackfillStats},
    record::now,
    rest::{self, get, Verdict},
    LiveBody, LiveError, LiveRecord,
};

mod pending;

use pending::PendingGaps;

/// A running backfiller.
#[derive(Debug)]
pub struct BackfillHandle {
    task: JoinHandle<()>,
    counters: Arc<BackfillCounters>,
}

impl BackfillHandle {
    /// Current counters.
    pub fn stats(&self) -> BackfillStats {
        self.counters.snapshot()
    }

    /// Waits for the backfiller to end: after shutdown is signalled, or
    /// once the request channel is closed and every pending gap is done.
    pub async fn join(self) -> Result<(), LiveError> {
        self.task.await.map_err(|e| LiveError::Task { task: "backfiller".into(), detail: e.to_string() })
    }
}

/// Starts the backfiller. Must be called inside a tokio runtime.
/// `requests` is the bounded queue the pipeline sends [`Gap`]s on;
/// `shutdown` set to `true` (or its sender dropped) stops it, even mid-request.
pub fn spawn_backfiller(
    config: BackfillConfig,
    protocol: Arc<dyn SessionProtocol>,
    requests: mpsc::Receiver<Gap>,
    tx: mpsc::Sender<LiveRecord>,
    shutdown: watch::Receiver<bool>,
) -> Result<BackfillHandle, LiveError> {
    config.validate()?;
    let client = rest::client(config.request_timeout)?;
    let full = Arc::new(AtomicU64::new(0));
    let counters = Arc::new(BackfillCounters::new(config.exchange, full.clone()));
    let seed = u64::try_from(now().0).unwrap_or_default();
    let backfiller = Backfiller {
        emitter: Emitter::new(tx, config.exchange, "backfill", full),
        backoff: BackoffState::new(config.backoff, seed),
        min_interval: Duration::from_secs(1) / config.requests_per_second,
        next_request: Instant::now(),
        pending: PendingGaps::new(protocol.trades_page_limit() as u64),
        config,
        protocol,
        client,
        counters: counters.clone(),
        shutdown,
    };
    Ok(BackfillHandle { task: tokio::spawn(backfiller.run(requests)), counters })
}

/// How fetching one page ended, other than with a body.
enum Failure {
    /// Give up on the gap; `reason` is a metric label.
    GiveUp { reason: &'static str, detail: String },
    /// Stop the backfiller.
    Stop(Stopped),
}

struct Backfiller {
    config: BackfillConfig,
    protocol: Arc<dyn SessionProtocol>,
    client: reqwest::Client,
    emitter: Emitter,
    counters: Arc<BackfillCounters>,
    shutdown: watch::Receiver<bool>,
    backoff: BackoffState,
    min_interval: Duration,
    next_request: Instant,
    pending: PendingGaps,
}

impl Backfiller {
    async fn run(mut self, mut requests: mpsc::Receiver<Gap>) {
        let mut open = true;
        loop {
            if self.pending.is_empty() {
                if !open {
                    return;
                }
                tokio::select! {
                    _ = signalled(&mut self.shutdown) => return,
                    gap = requests.recv() => match gap {
                        Some(gap) => self.add(gap),
                        None => open = false,
                    },
                }
            }
            open &= self.drain(&mut requests);
            let Some(gap) = self.pending.pop() else { continue };
            match self.backfill(&gap, &mut requests, &mut open).await {
                Ok(()) => {}
                Err(Failure::Stop(why)) => {
                    tracing::debug!(exchange = %self.config.exchange, ?why, "backfiller stopping");
                    return;
                }
                Err(Failure::GiveUp { reason, detail }) => {
                    self.counters.gap_failed(reason);
                    tracing::warn!(exchange = %self.config.exchange, product = %gap.product, after_id = gap.after_id,
                        before_id = gap.before_id, reason, error = %detail, "giving up on a trade gap");
                }
            }
        }
    }

    /// Takes every queued request without waiting; `false` once the queue
    /// is closed.
    fn drain(&mut self, requests: &mut mpsc::Receiver<Gap>) -> bool {
        loop {
            match requests.try_recv() {
                Ok(gap) => self.add(gap),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Queues a gap (merged with pending ones where they overlap).
    fn add(&mut self, gap: Gap) {
        self.counters.gap_received();
        if self.pending.add(gap) {
            self.counters.gap_merged();
        }
    }

    /// Pages backwards from `before_id` until a page reaches `after_id`.
    async fn backfill(&mut self, gap: &Gap, requests: &mut mpsc::Receiver<Gap>, open: &mut bool) -> Result<(), Failure> {
        tracing::info!(exchange = %self.config.exchange, product = %gap.product, after_id = gap.after_id, before_id = gap.before_id,
            missing = gap.missing(), "backfilling a trade gap");
        let limit = self.protocol.trades_page_limit();
        let mut cursor = gap.before_id;
        let mut pages = 0;
        let max_pages = if gap.is_warm_start() { self.config.warm_start_pages } else { self.config.max_pages_per_gap };
        loop {
            if pages == max_pages {
                if gap.is_warm_start() {
                    // History reaches further back than a warm start needs.
                    tracing::info!(exchange = %self.config.exchange, product = %gap.product, pages, "warm start reached its page cap");
                    break;
                }
                return Err(Failure::GiveUp { reason: "page_limit", detail: format!("{pages} pages fetched, stopped at cursor {cursor}") });
            }
            pages += 1;
            let url = self.protocol.trades_page_url(&self.config.rest_url, &gap.product, Some(cursor));
            let body = self.fetch(&url).await?;
            let page = self.protocol.read_trades_page(&body);
            // Forwarded whatever it holds: everything received is archived,
            // and the decoder counts a page it cannot use.
            self.emitter.emit(now(), LiveBody::Rest { url, body }, &mut self.shutdown).await.map_err(Failure::Stop)?;
            self.counters.page();
            *open &= self.drain(requests);
            let page = page.map_err(|e| Failure::GiveUp { reason: "bad_page", detail: e.to_string() })?;
            match page.oldest {
                // The page reaches the hole's start, or the exchange's
                // history ends here: done.
                Some(oldest) if oldest <= gap.after_id.saturating_add(1) => break,
                None => break,
                Some(_) if page.count < limit => break,
                Some(oldest) if oldest >= cursor => {
                    return Err(Failure::GiveUp { reason: "no_progress", detail: format!("page at cursor {cursor} starts at {oldest}") });
                }
                Some(oldest) => cursor = oldest,
            }
        }
        self.counters.gap_completed();
        Ok(())
    }

    /// One page, retried per the rules above.
    async fn fetch(&mut self, url: &str) -> Result<String, Failure> {
        self.backoff.reset();
        let mut attempts = 0;
        loop {
            self.pace().await?;
            self.counters.request();
            attempts += 1;
            let verdict = tokio::select! {
                _ = signalled(&mut self.shutdown) => return Err(Failure::Stop(Stopped::Shutdown)),
                result = get(&self.client, url) => match result {
                    Ok(body) => return Ok(body),
                    Err(verdict) => verdict,
                },
            };
            let (reason, detail, wait) = match verdict {
                Verdict::GiveUp { reason, detail } => return Err(Failure::GiveUp { reason, detail }),
                Verdict::Retry { reason, detail, wait } => (reason, detail, wait),
            };
            if attempts >= self.config.max_attempts {
                return Err(Failure::GiveUp {
                    reason: "retries_exhausted",
                    detail: format!("{attempts} attempts, last: {reason}: {detail}"),
                });
            }
            self.counters.retry(reason);
            let delay = wait.map_or_else(|| self.backoff.next_delay(), |w| w.min(self.config.backoff.max));
            tracing::debug!(exchange = %self.config.exchange, url, reason, error = %detail, ?delay, "retrying a backfill request");
            tokio::select! {
                _ = signalled(&mut self.shutdown) => return Err(Failure::Stop(Stopped::Shutdown)),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Waits for the rate limiter's next slot.
    async fn pace(&mut self) -> Result<(), Failure> {
        let at = self.next_request;
        tokio::select! {
            _ = signalled(&mut self.shutdown) => return Err(Failure::Stop(Stopped::Shutdown)),
            _ = tokio::time::sleep_until(at) => {}
        }
        self.next_request = Instant::now().max(at) + self.min_interval;
        Ok(())
    }
}
