//! The feed's REST worker: trade-gap backfill and order book snapshots.
//!
//! For each [`Gap`] it pages the product's trades by id across the hole:
//! backwards from the first id after it until a page reaches the last id
//! before it (Coinbase `after=`), or forwards from the first missing id
//! until a page reaches the id after it (Binance `fromId=`). For each
//! snapshot request it fetches the product's REST book snapshot (Binance,
//! KuCoin). Every response is handed downstream as a `Rest` record; the
//! pipeline decodes it with the same decoder as live frames, and trade-id
//! dedup makes any overlap harmless, so pages are forwarded whole.
//!
//! One request at a time, within the exchange's request budget (shared
//! through the [`RestClient`]); failures are retried per the client's
//! rules, and a gap whose page fails for good is given up. Snapshots go
//! before gaps, even between the pages of a long gap: a book waiting for
//! its snapshot is unusable, while missing trades only delay a candle's
//! revision. Pending gaps of one product that overlap or nearly touch are
//! merged into one range; repeated snapshot requests for one product are
//! merged into one.

use std::{
    collections::{BTreeSet, VecDeque},
    sync::{atomic::AtomicU64, Arc},
};

use marketpipe_venues::session::{SessionProtocol, TradePaging};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use crate::{
    config::BackfillConfig,
    emit::{signalled, Emitter, Stopped},
    gap::Gap,
    metrics::{BackfillCounters, BackfillStats},
    record::now,
    rest::{RestAttempt, RestClient, RestError, RestMethod},
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

/// What the REST worker is asked to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestRequest {
    /// The trades of a gap (or a warm start).
    Gap(Gap),
    /// A fresh REST snapshot of a product's order book (native id), for
    /// exchanges whose books start from one.
    Snapshot {
        /// Native product id.
        product: String,
    },
}

impl From<Gap> for RestRequest {
    fn from(gap: Gap) -> Self {
        RestRequest::Gap(gap)
    }
}

/// Starts the backfiller. Must be called inside a tokio runtime.
/// `requests` is the bounded queue the pipeline sends [`RestRequest`]s on;
/// `rest` is the exchange's client (shared with its feed, for one request
/// budget); `shutdown` set to `true` (or its sender dropped) stops it,
/// even mid-request.
pub fn spawn_backfiller(
    config: BackfillConfig,
    protocol: Arc<dyn SessionProtocol>,
    rest: RestClient,
    requests: mpsc::Receiver<RestRequest>,
    tx: mpsc::Sender<LiveRecord>,
    shutdown: watch::Receiver<bool>,
) -> Result<BackfillHandle, LiveError> {
    config.validate()?;
    let full = Arc::new(AtomicU64::new(0));
    let counters = Arc::new(BackfillCounters::new(config.exchange, full.clone()));
    let backfiller = Backfiller {
        emitter: Emitter::new(tx, config.exchange, "backfill", full),
        pending: PendingGaps::new(protocol.trades_page_limit() as u64),
        snapshots: VecDeque::new(),
        config,
        protocol,
        rest,
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

impl From<RestError> for Failure {
    fn from(f: RestError) -> Self {
        match f {
            RestError::GiveUp { reason, detail } => Failure::GiveUp { reason, detail },
            RestError::Stopped => Failure::Stop(Stopped::Shutdown),
        }
    }
}

struct Backfiller {
    config: BackfillConfig,
    protocol: Arc<dyn SessionProtocol>,
    rest: RestClient,
    emitter: Emitter,
    counters: Arc<BackfillCounters>,
    shutdown: watch::Receiver<bool>,
    pending: PendingGaps,
    /// Products waiting for a book snapshot, in request order, each once.
    snapshots: VecDeque<String>,
}

impl Backfiller {
    async fn run(mut self, mut requests: mpsc::Receiver<RestRequest>) {
        let mut open = true;
        loop {
            if self.pending.is_empty() && self.snapshots.is_empty() {
                if !open {
                    return;
                }
                tokio::select! {
                    _ = signalled(&mut self.shutdown) => return,
                    request = requests.recv() => match request {
                        Some(request) => self.add(request),
                        None => open = false,
                    },
                }
            }
            open &= self.drain(&mut requests);
            if self.snapshots().await.is_err() {
                return;
            }
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
    fn drain(&mut self, requests: &mut mpsc::Receiver<RestRequest>) -> bool {
        loop {
            match requests.try_recv() {
                Ok(request) => self.add(request),
                Err(mpsc::error::TryRecvError::Empty) => return true,
                Err(mpsc::error::TryRecvError::Disconnected) => return false,
            }
        }
    }

    /// Queues a request: a gap merged with pending ones where they
    /// overlap, a snapshot unless one is already queued for the product.
    fn add(&mut self, request: RestRequest) {
        match request {
            RestRequest::Gap(gap) => {
                self.counters.gap_received();
                if self.pending.add(gap) {
                    self.counters.gap_merged();
                }
            }
            RestRequest::Snapshot { product } => {
                if !self.snapshots.contains(&product) {
                    self.snapshots.push_back(product);
                }
            }
        }
    }

    /// Fetches every queued snapshot. A snapshot that fails for good is
    /// counted and dropped: the pipeline asks again while the book waits.
    async fn snapshots(&mut self) -> Result<(), Stopped> {
        let mut seen = BTreeSet::new();
        while let Some(product) = self.snapshots.pop_front() {
            if !seen.insert(product.clone()) {
                continue;
            }
            let Some(url) = self.protocol.snapshot_url(&self.config.rest_url, &product) else {
                tracing::debug!(exchange = %self.config.exchange, product, "snapshot requested from an exchange without REST snapshots");
                continue;
            };
            match self.fetch(&url).await {
                Ok(body) => {
                    self.emitter.emit(now(), LiveBody::Rest { url, body }, &mut self.shutdown).await?;
                    self.counters.snapshot_fetched();
                }
                Err(Failure::Stop(why)) => return Err(why),
                Err(Failure::GiveUp { reason, detail }) => {
                    self.counters.snapshot_failed(reason);
                    tracing::warn!(exchange = %self.config.exchange, product, reason, error = %detail, "could not fetch a book snapshot");
                }
            }
        }
        Ok(())
    }

    /// Pages across the gap until a page reaches its far side.
    async fn backfill(&mut self, gap: &Gap, requests: &mut mpsc::Receiver<RestRequest>, open: &mut bool) -> Result<(), Failure> {
        let Some(paging) = self.protocol.trades_paging() else {
            return Err(Failure::GiveUp { reason: "no_trade_history", detail: "the exchange has no trade history by id".into() });
        };
        tracing::info!(exchange = %self.config.exchange, product = %gap.product, after_id = gap.after_id, before_id = gap.before_id,
            missing = gap.missing(), "backfilling a trade gap");
        let limit = self.protocol.trades_page_limit();
        let max_pages = if gap.is_warm_start() { self.config.warm_start_pages } else { self.config.max_pages_per_gap };
        let mut cursor = match paging {
            TradePaging::Backward => gap.before_id,
            // A warm start reaches as far back as its page budget: the
            // pages then walk forward to the first trade seen.
            TradePaging::Forward if gap.is_warm_start() => {
                gap.before_id.saturating_sub(u64::from(max_pages).saturating_mul(limit as u64)).max(1)
            }
            TradePaging::Forward => gap.after_id + 1,
        };
        let mut pages = 0;
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
            self.snapshots().await.map_err(Failure::Stop)?;
            let page = page.map_err(|e| Failure::GiveUp { reason: "bad_page", detail: e.to_string() })?;
            if paging == TradePaging::Forward {
                match page.newest {
                    // The page reaches the hole's far side, or the
                    // exchange's history ends here: done.
                    Some(newest) if newest.saturating_add(1) >= gap.before_id => break,
                    None => break,
                    Some(_) if page.count < limit => break,
                    Some(newest) if newest < cursor => {
                        return Err(Failure::GiveUp { reason: "no_progress", detail: format!("page from {cursor} ends at {newest}") });
                    }
                    Some(newest) => cursor = newest + 1,
                }
                continue;
            }
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

    /// One response body, retried per the client's rules.
    async fn fetch(&mut self, url: &str) -> Result<String, Failure> {
        let counters = self.counters.clone();
        let observe = move |attempt: RestAttempt| match attempt {
            RestAttempt::Request => counters.request(),
            RestAttempt::Retry(reason) => counters.retry(reason),
        };
        let weight = self.protocol.rest_weight(url);
        Ok(self.rest.fetch(RestMethod::Get, url, weight, &mut self.shutdown, &observe).await?)
    }
}
