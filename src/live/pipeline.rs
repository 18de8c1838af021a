//! The live pipeline's single consumer: every [`LiveRecord`] is archived,
//! decoded and applied to the engine, and the engine's changes reach the
//! store at least every [`FLUSH_EVERY`].
//!
//! One task owns the decoder state and the engine, as in replay: one order
//! of events, so replaying the archive recomputes what this task stored.
//! Store writes run on the blocking pool (the `MarketWriter` impl), so the
//! task keeps consuming while SQLite commits.

use std::time::{Duration, Instant};

use marketpipe_capture::ArchiveWriter;
use marketpipe_live::{Gap, GapDetector, LiveBody, LiveRecord, RestRequest, Resyncer};
use marketpipe_model::{Exchange, InstrumentKey, MarketEvent};
use rustc_hash::FxHashMap;
use tokio::sync::mpsc;

use super::{output::Output, telemetry};
use crate::ingest::Ingest;

/// Longest time between two store writes: with it, a trade shows in
/// `/api/v1/candles/latest` well within 100 ms of its receipt.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// How often open archive segments are flushed to disk: often enough that a
/// crash loses at most this much raw data, rarely enough that zstd still
/// sees whole blocks to compress.
const ARCHIVE_FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How long a requested book snapshot is waited for before it is asked
/// for again (the request failed, or the snapshot was too old to join the
/// stream): a few round trips, and well within the exchange's budget.
const SNAPSHOT_RETRY: Duration = Duration::from_secs(3);

/// How the pipeline serves one exchange.
#[derive(Debug, Clone, Copy)]
pub struct FeedOptions {
    /// Whether the first trade of each product triggers a warm start.
    pub warm_start: bool,
    /// Whether books start from (and resync with) REST snapshots the
    /// pipeline requests when the decoder waits for one (Binance, KuCoin),
    /// rather than websocket snapshots after a re-subscription (Coinbase).
    pub snapshots_via_rest: bool,
}

/// What the pipeline holds for one connected exchange.
struct FeedLink {
    /// Trade-id gap detection, fed by websocket trades only (backfill pages
    /// arrive in pages and would look like jumps).
    gaps: GapDetector,
    /// Where gaps, warm starts and snapshot requests go.
    rest: mpsc::Sender<RestRequest>,
    /// Asks the feed for a fresh snapshot of an inconsistent book.
    resyncer: Resyncer,
    options: FeedOptions,
    /// Snapshots requested recently, by native id, so a book that waits is
    /// not asked for again before [`SNAPSHOT_RETRY`].
    snapshots_asked: FxHashMap<String, Instant>,
}

impl FeedLink {
    /// Queues a request for the REST worker; a full queue is counted and
    /// logged (a gap is then not backfilled; a snapshot is asked again).
    fn request(&self, exchange: Exchange, request: RestRequest) {
        if let Err(e) = self.rest.try_send(request) {
            telemetry::channel_drop("rest_requests");
            tracing::warn!(%exchange, request = ?e.into_inner(), "REST request queue full; request dropped");
        }
    }

    /// Asks for a snapshot of `product` unless one was asked recently.
    fn request_snapshot(&mut self, exchange: Exchange, product: String) {
        if self.snapshots_asked.get(&product).is_some_and(|at| at.elapsed() < SNAPSHOT_RETRY) {
            return;
        }
        self.snapshots_asked.insert(product.clone(), Instant::now());
        self.request(exchange, RestRequest::Snapshot { product });
    }
}

/// Everything the consumer task owns.
pub struct Pipeline {
    ingest: Ingest,
    output: Output,
    archive: Option<ArchiveWriter>,
    /// Each connected exchange's gap detector, backfiller and resync handle.
    feeds: FxHashMap<Exchange, FeedLink>,
    /// Books found inconsistent at the last flush (scratch).
    resyncs: Vec<InstrumentKey>,
    /// Gaps found in the record being handled, by instrument (scratch).
    found_gaps: Vec<(InstrumentKey, Gap)>,
    /// Products awaiting a snapshot (scratch).
    awaiting: Vec<String>,
    backfilled_trades: u64,
    last_archive_flush: Instant,
}

impl Pipeline {
    /// A pipeline handing events to `output` and records, if given, to the archive.
    pub fn new(output: Output, archive: Option<ArchiveWriter>) -> Self {
        Pipeline {
            ingest: Ingest::new(),
            output,
            archive,
            feeds: FxHashMap::default(),
            resyncs: Vec::new(),
            found_gaps: Vec::new(),
            awaiting: Vec::new(),
            backfilled_trades: 0,
            last_archive_flush: Instant::now(),
        }
    }

    /// Connects an exchange's feed (for book resyncs) and REST worker (for
    /// trade-id gaps, book snapshots and, with `warm_start`, the trades
    /// before the first one seen of each product).
    pub fn attach(&mut self, exchange: Exchange, resyncer: Resyncer, rest: mpsc::Sender<RestRequest>, options: FeedOptions) {
        let link = FeedLink { gaps: GapDetector::new(exchange), rest, resyncer, options, snapshots_asked: FxHashMap::default() };
        self.feeds.insert(exchange, link);
    }

    /// Consumes records until every sender is gone, writing at least every
    /// [`FLUSH_EVERY`]; then writes what is left and closes the archive.
    pub async fn run(mut self, mut records: mpsc::Receiver<LiveRecord>) {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Biased towards the tick: under a flood of records the store
            // still gets its write every FLUSH_EVERY.
            tokio::select! {
                biased;
                _ = tick.tick() => {
                    // Sampled per flush rather than per record: the gauge is
                    // read far less often than records arrive.
                    telemetry::channel_depth("records", records.max_capacity() - records.capacity());
                    self.flush().await;
                }
                record = records.recv() => match record {
                    Some(record) => self.handle(&record),
                    None => break,
                },
            }
        }
        // Windows still open are stored as they stand (final: false).
        self.flush().await;
        let candles_written = self.output.candles_written();
        self.output.finish().await;
        if let Some(archive) = self.archive.take() {
            if let Err(e) = archive.close() {
                telemetry::archive_error();
                tracing::error!(error = %e, "closing the archive failed");
            }
        }
        tracing::info!(records = self.ingest.counters().records, candles_written, "pipeline drained");
    }

    fn handle(&mut self, record: &LiveRecord) {
        if let Some(archive) = &mut self.archive {
            if let Err(e) = archive.write(record.recv, record.exchange.as_str(), record.as_out_record()) {
                telemetry::archive_error();
                tracing::warn!(error = %e, "archive write failed; the record is still processed");
            }
        }
        let from_ws = matches!(record.body, LiveBody::Ws { .. });
        let from_rest = matches!(record.body, LiveBody::Rest { .. });
        let mut feed = self.feeds.get_mut(&record.exchange);
        let found = &mut self.found_gaps;
        let mut observe = |event: &MarketEvent| {
            let MarketEvent::Trade(trade) = event else { return };
            let (Some(feed), Some(id)) = (feed.as_deref_mut(), trade.id.as_u64()) else { return };
            if !from_ws {
                return;
            }
            // Keyed by the normalized symbol here; the request names the
            // native id, looked up once the record is handled.
            let symbol = trade.instrument.symbol.as_str();
            let first = feed.gaps.last_id(symbol).is_none();
            let gap = match feed.gaps.observe(symbol, id) {
                Some(gap) => gap,
                None if first && feed.options.warm_start => Gap::warm_start(symbol, id),
                None => return,
            };
            found.push((trade.instrument.clone(), gap));
        };
        let new_trades = self.output.handle(&mut self.ingest, record, &mut observe);
        for (key, mut gap) in self.found_gaps.drain(..) {
            if let Some(native) = self.ingest.native_id(&key) {
                gap.product = native;
            }
            tracing::info!(instrument = %key, missing = gap.missing(), warm_start = gap.is_warm_start(), "backfilling trades");
            if let Some(feed) = self.feeds.get(&record.exchange) {
                feed.request(record.exchange, gap.into());
            }
        }
        if from_rest {
            self.backfilled_trades += new_trades;
        }
    }

    /// Moves the engine's changes into the store (or publishes them), asks
    /// for the snapshots books need, flushes the archive now and then.
    async fn flush(&mut self) {
        self.output.flush(&mut self.resyncs).await;
        self.request_snapshots();
        if self.last_archive_flush.elapsed() >= ARCHIVE_FLUSH_EVERY {
            self.last_archive_flush = Instant::now();
            if let Some(archive) = &mut self.archive {
                if let Err(e) = archive.flush() {
                    telemetry::archive_error();
                    tracing::warn!(error = %e, "archive flush failed");
                }
            }
        }
        let archive_bytes = self.archive.as_ref().map_or(0, ArchiveWriter::bytes_written);
        telemetry::export(
            self.ingest.counters(),
            &self.output.engine_counters(),
            telemetry::Totals { candles_written: self.output.candles_written(), backfilled_trades: self.backfilled_trades, archive_bytes },
        );
    }

    /// Asks for the snapshots books need: those the engine found
    /// inconsistent, and those their decoder waits for.
    fn request_snapshots(&mut self) {
        for key in self.resyncs.drain(..) {
            let native = self.ingest.native_id(&key);
            let Some(feed) = self.feeds.get_mut(&key.exchange) else { continue };
            let Some(native) = native else {
                tracing::warn!(instrument = %key, "book inconsistent, but its native id is unknown; not resynced");
                continue;
            };
            tracing::warn!(instrument = %key, "book inconsistent; resyncing from a fresh snapshot");
            if feed.options.snapshots_via_rest {
                // Forces a new request even if one went out recently: the
                // book was found broken after it.
                feed.snapshots_asked.remove(&native);
                feed.request_snapshot(key.exchange, native);
            } else {
                feed.resyncer.resync(&native);
            }
        }
        for (exchange, feed) in &mut self.feeds {
            if !feed.options.snapshots_via_rest {
                continue;
            }
            feed.snapshots_asked.retain(|_, at| at.elapsed() < SNAPSHOT_RETRY);
            self.awaiting.clear();
            self.ingest.awaiting_snapshot(*exchange, &mut self.awaiting);
            for product in self.awaiting.drain(..) {
                feed.request_snapshot(*exchange, product);
            }
        }
    }
}
