//! The pipeline's metrics, defined in one place, and the Prometheus
//! exporter behind `/metrics`.
//!
//! The websocket runtime and the backfiller count their own events (see
//! `marketpipe_live::metrics`); this module adds what the consumer sees:
//! decoded and skipped frames, engine outcomes, store and archive writes,
//! channel depth and the receive-to-candle latency. Ingest and engine
//! counters are plain integers on the hot path and are published as
//! absolute values at every flush, so counting costs nothing per frame.

use std::time::Duration;

use anyhow::{Context, Result};
use marketpipe_engine::EngineCounters;
use marketpipe_model::Exchange;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::ingest::IngestCounters;

/// Decoded frames and REST responses, by exchange and message type.
pub const FRAMES_DECODED: &str = "marketpipe_frames_decoded_total";
/// Skipped records and frames, by exchange (`unknown` for an unreadable
/// record) and reason.
pub const FRAMES_SKIPPED: &str = "marketpipe_frames_skipped_total";
/// Normalized events applied, by kind.
pub const EVENTS: &str = "marketpipe_events_total";
/// Trades seen by the engine (duplicates included).
pub const TRADES: &str = "marketpipe_trades_total";
/// Trades dropped because their id was already counted.
pub const DUPLICATE_TRADES: &str = "marketpipe_duplicate_trades_total";
/// Trades that revised a final candle.
pub const LATE_TRADES: &str = "marketpipe_late_trades_total";
/// Trades beyond the retention horizon, dropped.
pub const TOO_LATE_TRADES: &str = "marketpipe_too_late_trades_total";
/// Books found crossed or locked (each leads to a resync).
pub const CROSSED_BOOKS: &str = "marketpipe_crossed_books_total";
/// Books a decoder found out of sequence (each waits for a new snapshot).
pub const BOOK_RESETS: &str = "marketpipe_book_resets_total";
/// Trades that arrived in backfill responses and were new.
pub const BACKFILLED_TRADES: &str = "marketpipe_backfilled_trades_total";
/// Candle upserts written to the store.
pub const CANDLES_WRITTEN: &str = "marketpipe_candles_written_total";
/// Store writes that failed (retried with the next flush).
pub const STORE_ERRORS: &str = "marketpipe_store_write_errors_total";
/// Bytes written to the raw archive.
pub const ARCHIVE_BYTES: &str = "marketpipe_archive_bytes_total";
/// Archive writes, flushes or closes that failed.
pub const ARCHIVE_ERRORS: &str = "marketpipe_archive_errors_total";
/// Items waiting in a channel, by channel.
pub const CHANNEL_DEPTH: &str = "marketpipe_channel_depth";
/// Items dropped at a full channel, by channel (the live runtime counts
/// its own blocked sends as `marketpipe_channel_full_total`).
pub const CHANNEL_DROPS: &str = "marketpipe_channel_drops_total";
/// Seconds from receiving a trade to its candle being in the store.
pub const RECEIVE_TO_CANDLE: &str = "marketpipe_receive_to_candle_seconds";
/// Messages `ingest` could not publish (the raw archive still has them).
#[cfg(feature = "kafka")]
pub const BUS_PUBLISH_FAILURES: &str = "marketpipe_bus_publish_failures_total";
/// Times `ingest` waited for room in its publishing queue.
#[cfg(feature = "kafka")]
pub const BUS_QUEUE_WAITS: &str = "marketpipe_bus_queue_full_waits_total";

/// Installs the process-wide Prometheus recorder (once) and returns the
/// handle that renders `/metrics`.
pub fn install() -> Result<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(RECEIVE_TO_CANDLE.to_owned()),
            &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
        )
        .context("invalid histogram buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    Ok(HANDLE.get_or_init(|| handle).clone())
}

/// Running totals the pipeline keeps itself.
#[derive(Debug, Clone, Copy)]
pub struct Totals {
    /// Candle upserts written.
    pub candles_written: u64,
    /// New trades from backfill responses.
    pub backfilled_trades: u64,
    /// Archive bytes written.
    pub archive_bytes: u64,
}

/// Publishes the counters as absolute values.
pub fn export(ingest: &IngestCounters, engine: &EngineCounters, totals: Totals) {
    for ((exchange, message), n) in ingest.messages.iter() {
        metrics::counter!(FRAMES_DECODED, "exchange" => exchange.as_str(), "message" => message).absolute(n);
    }
    for ((exchange, reason), n) in ingest.skipped.iter() {
        let exchange = exchange.map_or("unknown", Exchange::as_str);
        metrics::counter!(FRAMES_SKIPPED, "exchange" => exchange, "reason" => reason).absolute(n);
    }
    for (kind, n) in ingest.events.iter() {
        metrics::counter!(EVENTS, "kind" => kind).absolute(n);
    }
    metrics::counter!(TRADES).absolute(engine.trades);
    metrics::counter!(DUPLICATE_TRADES).absolute(engine.duplicate_trades);
    metrics::counter!(LATE_TRADES).absolute(engine.late_trades);
    metrics::counter!(TOO_LATE_TRADES).absolute(engine.too_late_trades);
    metrics::counter!(CROSSED_BOOKS).absolute(engine.crossed_books);
    metrics::counter!(BOOK_RESETS).absolute(engine.book_resets);
    metrics::counter!(BACKFILLED_TRADES).absolute(totals.backfilled_trades);
    metrics::counter!(CANDLES_WRITTEN).absolute(totals.candles_written);
    metrics::counter!(ARCHIVE_BYTES).absolute(totals.archive_bytes);
}

/// Records the depth of a channel.
pub fn channel_depth(channel: &'static str, depth: usize) {
    metrics::gauge!(CHANNEL_DEPTH, "channel" => channel).set(depth as f64);
}

/// Counts an item dropped at a full channel.
pub fn channel_drop(channel: &'static str) {
    metrics::counter!(CHANNEL_DROPS, "channel" => channel).increment(1);
}

/// Counts a message that could not be published.
#[cfg(feature = "kafka")]
pub fn bus_publish_failure() {
    metrics::counter!(BUS_PUBLISH_FAILURES).increment(1);
}

/// Counts a wait for room in the publishing queue (nothing is dropped).
#[cfg(feature = "kafka")]
pub fn bus_queue_wait() {
    metrics::counter!(BUS_QUEUE_WAITS).increment(1);
}

/// Counts a failed store write.
pub fn store_error() {
    metrics::counter!(STORE_ERRORS).increment(1);
}

/// Counts a failed archive operation.
pub fn archive_error() {
    metrics::counter!(ARCHIVE_ERRORS).increment(1);
}

/// Observes one trade's receive-to-stored latency.
pub fn receive_to_candle(latency: Duration) {
    metrics::histogram!(RECEIVE_TO_CANDLE).record(latency.as_secs_f64());
}
