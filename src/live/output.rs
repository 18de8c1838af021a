//! Where the live pipeline's decoded events go: the engine and the store in
//! this process (`run`, `demo`), or the message bus, for `process` to pick
//! up (`ingest`).

use std::{sync::Arc, time::Duration};

use marketpipe_engine::{Engine, EngineCounters, EngineOutput};
use marketpipe_live::{now, LiveRecord};
use marketpipe_model::{InstrumentKey, MarketEvent, Timestamp};
use marketpipe_store::WriteBatch;

use super::telemetry;
use crate::ingest::Ingest;

/// Receive times kept for the latency histogram between two writes; beyond
/// it (a store outage) the oldest are not measured rather than held.
const MAX_PENDING_LATENCIES: usize = 100_000;

/// The destination of decoded events.
pub enum Output {
    /// The engine and the store, here.
    Local(Box<LocalOutput>),
    /// The bus.
    #[cfg(feature = "kafka")]
    Bus(super::bus_output::BusOutput),
}

/// The engine and the store of a single-process pipeline.
pub struct LocalOutput {
    engine: Engine,
    store: Arc<dyn crate::stores::Store>,
    output: EngineOutput,
    /// Rows not yet written: a failed write is retried with the next one,
    /// so a store hiccup loses nothing.
    batch: WriteBatch,
    /// Receive times of trade-carrying records not yet written.
    pending_latency: Vec<Timestamp>,
    candles_written: u64,
}

impl LocalOutput {
    /// Events go to `engine`, its changes to `store`.
    pub fn new(engine: Engine, store: Arc<dyn crate::stores::Store>) -> Self {
        LocalOutput {
            engine,
            store,
            output: EngineOutput::default(),
            batch: WriteBatch::default(),
            pending_latency: Vec::new(),
            candles_written: 0,
        }
    }

    /// Candle upserts written so far.
    pub fn candles_written(&self) -> u64 {
        self.candles_written
    }

    fn rows(&self) -> usize {
        let b = &self.batch;
        b.products.len() + b.candles.len() + b.books.len() + b.stats.len() + b.tickers.len()
    }

    /// Moves the engine's changes into the store; returns the books the
    /// engine found inconsistent.
    async fn flush(&mut self, resyncs: &mut Vec<InstrumentKey>) {
        // The wall clock closes windows of quiet products.
        self.engine.advance_clock(now());
        self.engine.drain(&mut self.output);
        resyncs.append(&mut self.output.resync_requests);
        move_rows(&mut self.output, &mut self.batch);
        if self.batch.is_empty() {
            return;
        }
        match self.store.write(&self.batch).await {
            Ok(()) => {
                self.candles_written += self.batch.candles.len() as u64;
                self.batch.clear();
                let written = now();
                for recv in self.pending_latency.drain(..) {
                    telemetry::receive_to_candle(Duration::from_nanos(u64::try_from(written.0 - recv.0).unwrap_or(0)));
                }
            }
            Err(e) => {
                telemetry::store_error();
                tracing::warn!(error = %e, rows = self.rows(), "store write failed; retrying with the next flush");
            }
        }
    }
}

impl Output {
    /// Decodes `record` through `ingest` into this output; `observe` sees
    /// every event first. Returns how many trades were new (duplicates
    /// excluded), where this output can tell.
    pub fn handle(&mut self, ingest: &mut Ingest, record: &LiveRecord, observe: &mut dyn FnMut(&MarketEvent)) -> u64 {
        match self {
            Output::Local(local) => {
                let before = new_trades(local.engine.counters());
                let mut carried_trade = false;
                ingest.live(record, &mut local.engine, &mut |e: &MarketEvent| {
                    carried_trade |= matches!(e, MarketEvent::Trade(_));
                    observe(e);
                });
                if carried_trade && local.pending_latency.len() < MAX_PENDING_LATENCIES {
                    local.pending_latency.push(record.recv);
                }
                new_trades(local.engine.counters()) - before
            }
            #[cfg(feature = "kafka")]
            Output::Bus(bus) => {
                bus.handle(ingest, record, observe);
                0
            }
        }
    }

    /// Writes (or publishes) what is pending; appends the books found
    /// inconsistent to `resyncs`.
    pub async fn flush(&mut self, resyncs: &mut Vec<InstrumentKey>) {
        match self {
            Output::Local(local) => local.flush(resyncs).await,
            #[cfg(feature = "kafka")]
            Output::Bus(bus) => bus.flush().await,
        }
    }

    /// The engine's counters, for the metrics (none when the engine runs
    /// elsewhere).
    pub fn engine_counters(&self) -> EngineCounters {
        match self {
            Output::Local(local) => local.engine.counters().clone(),
            #[cfg(feature = "kafka")]
            Output::Bus(_) => EngineCounters::default(),
        }
    }

    /// Candle upserts written so far (0 when the store is elsewhere).
    pub fn candles_written(&self) -> u64 {
        match self {
            Output::Local(local) => local.candles_written(),
            #[cfg(feature = "kafka")]
            Output::Bus(_) => 0,
        }
    }

    /// After the last flush: reports what could not be written.
    pub async fn finish(self) {
        match self {
            Output::Local(local) => {
                if !local.batch.is_empty() {
                    tracing::error!(
                        rows = local.rows(),
                        "the store refused the last write; those rows are lost, the archive still has them"
                    );
                }
            }
            #[cfg(feature = "kafka")]
            Output::Bus(bus) => bus.finish().await,
        }
    }
}

/// Moves the engine's rows into a store batch, leaving `out` empty (its
/// allocations kept).
pub fn move_rows(out: &mut EngineOutput, batch: &mut WriteBatch) {
    batch.products.append(&mut out.products);
    batch.candles.append(&mut out.candles);
    batch.books.append(&mut out.books);
    batch.stats.append(&mut out.stats);
    batch.tickers.append(&mut out.tickers);
    out.clear();
}

/// Trades the engine counted once (duplicates excluded).
fn new_trades(c: &EngineCounters) -> u64 {
    c.trades - c.duplicate_trades
}
