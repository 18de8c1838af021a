//! Metric names (all in one place) and the counters the runtime keeps.
//!
//! Every count goes both to the `metrics` facade (the binary installs the
//! Prometheus recorder; without one these are no-ops) and to in-process
//! atomics that [`crate::FeedHandle::stats`] and
//! [`crate::BackfillHandle::stats`] expose, so tests and the binary's logs
//! can read them without a recorder.

use std::sync::{
    atomic::{AtomicU64, Ordering::Relaxed},
    Arc,
};

use marketpipe_model::Exchange;

/// Websocket connections established (`exchange`).
pub const CONNECTIONS_OPENED: &str = "marketpipe_ws_connections_opened_total";
/// Connections ended and to be replaced (`exchange`, `reason`).
pub const RECONNECTS: &str = "marketpipe_ws_reconnects_total";
/// Connection attempts that failed before opening (`exchange`, `reason`).
pub const CONNECT_FAILURES: &str = "marketpipe_ws_connect_failures_total";
/// Subscriptions not acknowledged in time (`exchange`).
pub const ACK_TIMEOUTS: &str = "marketpipe_ws_ack_timeouts_total";
/// `error` frames from the exchange (`exchange`).
pub const EXCHANGE_ERRORS: &str = "marketpipe_ws_exchange_errors_total";
/// Connections replaced for silence (`exchange`).
pub const WATCHDOG_TRIPS: &str = "marketpipe_ws_watchdog_trips_total";
/// Text frames received (`exchange`).
pub const FRAMES_RECEIVED: &str = "marketpipe_ws_frames_received_total";
/// Binary frames ignored (`exchange`).
pub const BINARY_IGNORED: &str = "marketpipe_ws_binary_frames_ignored_total";
/// Book resyncs requested and sent (`exchange`).
pub const RESYNCS: &str = "marketpipe_ws_resyncs_total";
/// Connections replaced ahead of the exchange's age limit.
pub const ROTATIONS: &str = "marketpipe_ws_rotations_total";
/// Sends that found the downstream channel full (`stage`).
pub const CHANNEL_FULL: &str = "marketpipe_channel_full_total";
/// Time spent blocked on a full downstream channel, seconds (`stage`).
pub const CHANNEL_BLOCKED_SECONDS: &str = "marketpipe_channel_blocked_seconds";
/// Trade-id gaps detected (`exchange`).
pub const GAPS_DETECTED: &str = "marketpipe_trade_gaps_total";
/// Trade ids missing in detected gaps (`exchange`).
pub const GAP_TRADES_MISSING: &str = "marketpipe_trade_gap_missing_ids_total";
/// Backfill HTTP requests sent, retries included (`exchange`).
pub const BACKFILL_REQUESTS: &str = "marketpipe_backfill_requests_total";
/// Backfill pages received and forwarded (`exchange`).
pub const BACKFILL_PAGES: &str = "marketpipe_backfill_pages_total";
/// Backfill requests retried (`exchange`, `reason`).
pub const BACKFILL_RETRIES: &str = "marketpipe_backfill_retries_total";
/// Gaps given up (`exchange`, `reason`).
pub const BACKFILL_FAILURES: &str = "marketpipe_backfill_failures_total";
/// Gaps fully backfilled (`exchange`).
pub const BACKFILL_GAPS_DONE: &str = "marketpipe_backfill_gaps_completed_total";
/// Gap requests merged into a pending one (`exchange`).
pub const BACKFILL_GAPS_MERGED: &str = "marketpipe_backfill_gaps_merged_total";
/// REST book snapshots fetched.
pub const SNAPSHOTS_FETCHED: &str = "marketpipe_snapshots_fetched_total";
/// REST book snapshots given up, by reason.
pub const SNAPSHOT_FAILURES: &str = "marketpipe_snapshot_failures_total";
/// Poller HTTP requests sent, retries included (`exchange`).
pub const POLL_REQUESTS: &str = "marketpipe_poll_requests_total";
/// Poller responses received and forwarded: trades pages and product lists (`exchange`).
pub const POLL_PAGES: &str = "marketpipe_poll_pages_total";
/// Poller requests retried (`exchange`, `reason`).
pub const POLL_RETRIES: &str = "marketpipe_poll_retries_total";
/// Polls that produced no page (`exchange`, `reason`: `client_error`,
/// `retries_exhausted`...); the product is polled again next round.
pub const POLL_FAILURES: &str = "marketpipe_poll_failures_total";
/// Trades on polled pages newer than any seen before (`exchange`).
pub const POLL_TRADES_NEW: &str = "marketpipe_poll_trades_new_total";
/// Trades on polled pages already seen on an earlier poll (`exchange`).
pub const POLL_TRADES_SEEN: &str = "marketpipe_poll_trades_already_seen_total";
/// Polls whose oldest trade came after a hole behind the newest trade seen
/// before: trades were missed, the interval is too long for the page size
/// (`exchange`).
pub const POLL_MISSED_WINDOWS: &str = "marketpipe_poll_missed_windows_total";

/// Counts `name` for `exchange`.
pub(crate) fn count(name: &'static str, exchange: Exchange) {
    metrics::counter!(name, "exchange" => exchange.as_str()).increment(1);
}

/// Counts `name` for `exchange` with a `reason`.
pub(crate) fn count_reason(name: &'static str, exchange: Exchange, reason: &'static str) {
    metrics::counter!(name, "exchange" => exchange.as_str(), "reason" => reason).increment(1);
}

/// A snapshot of a feed's counters (all only grow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Connections opened.
    pub connections: u64,
    /// Connections ended and replaced (shutdown excluded), any reason.
    pub reconnects: u64,
    /// Connection attempts that failed before opening.
    pub connect_failures: u64,
    /// Acknowledgement timeouts.
    pub ack_timeouts: u64,
    /// Exchange `error` frames.
    pub exchange_errors: u64,
    /// Watchdog trips.
    pub watchdog_trips: u64,
    /// Text frames received.
    pub frames: u64,
    /// Binary frames ignored.
    pub binary_ignored: u64,
    /// Resyncs sent.
    pub resyncs: u64,
    /// Connections replaced ahead of the exchange's age limit.
    pub rotations: u64,
    /// Sends that found the downstream channel full.
    pub channel_full: u64,
}

/// The live counters behind [`FeedStats`].
#[derive(Debug)]
pub(crate) struct FeedCounters {
    exchange: Exchange,
    connections: AtomicU64,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
    ack_timeouts: AtomicU64,
    exchange_errors: AtomicU64,
    watchdog_trips: AtomicU64,
    frames: AtomicU64,
    binary_ignored: AtomicU64,
    resyncs: AtomicU64,
    rotations: AtomicU64,
    /// Shared with the feed's emitter, which counts the waits.
    channel_full: Arc<AtomicU64>,
}

impl FeedCounters {
    pub(crate) fn new(exchange: Exchange, channel_full: Arc<AtomicU64>) -> Self {
        FeedCounters {
            exchange,
            connections: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            ack_timeouts: AtomicU64::new(0),
            exchange_errors: AtomicU64::new(0),
            watchdog_trips: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            binary_ignored: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            channel_full,
        }
    }

    pub(crate) fn snapshot(&self) -> FeedStats {
        FeedStats {
            connections: self.connections.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            ack_timeouts: self.ack_timeouts.load(Relaxed),
            exchange_errors: self.exchange_errors.load(Relaxed),
            watchdog_trips: self.watchdog_trips.load(Relaxed),
            frames: self.frames.load(Relaxed),
            binary_ignored: self.binary_ignored.load(Relaxed),
            resyncs: self.resyncs.load(Relaxed),
            rotations: self.rotations.load(Relaxed),
            channel_full: self.channel_full.load(Relaxed),
        }
    }

    pub(crate) fn opened(&self) {
        self.connections.fetch_add(1, Relaxed);
        count(CONNECTIONS_OPENED, self.exchange);
    }

    pub(crate) fn reconnect(&self, reason: &'static str) {
        self.reconnects.fetch_add(1, Relaxed);
        count_reason(RECONNECTS, self.exchange, reason);
    }

    pub(crate) fn connect_failed(&self, reason: &'static str) {
        self.connect_failures.fetch_add(1, Relaxed);
        count_reason(CONNECT_FAILURES, self.exchange, reason);
    }

    pub(crate) fn ack_timeout(&self) {
        self.ack_timeouts.fetch_add(1, Relaxed);
        count(ACK_TIMEOUTS, self.exchange);
    }

    pub(crate) fn exchange_error(&self) {
        self.exchange_errors.fetch_add(1, Relaxed);
        count(EXCHANGE_ERRORS, self.exchange);
    }

    pub(crate) fn watchdog_trip(&self) {
        self.watchdog_trips.fetch_add(1, Relaxed);
        count(WATCHDOG_TRIPS, self.exchange);
    }

    pub(crate) fn frame(&self) {
        self.frames.fetch_add(1, Relaxed);
        count(FRAMES_RECEIVED, self.exchange);
    }

    pub(crate) fn binary(&self) {
        self.binary_ignored.fetch_add(1, Relaxed);
        count(BINARY_IGNORED, self.exchange);
    }

    pub(crate) fn resync(&self) {
        self.resyncs.fetch_add(1, Relaxed);
        count(RESYNCS, self.exchange);
    }

    pub(crate) fn rotation(&self) {
        self.rotations.fetch_add(1, Relaxed);
        count(ROTATIONS, self.exchange);
    }
}

/// A snapshot of a backfiller's counters (all only grow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackfillStats {
    /// Gap requests received.
    pub gaps_received: u64,
    /// Gap requests merged into one already pending.
    pub gaps_merged: u64,
    /// Gaps fully backfilled (or as far as the exchange's history goes).
    pub gaps_completed: u64,
    /// Gaps given up.
    pub gaps_failed: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Pages forwarded downstream.
    pub pages: u64,
    /// Requests retried.
    pub retries: u64,
    /// Sends that found the downstream channel full.
    /// REST book snapshots fetched.
    pub snapshots_fetched: u64,
    /// REST book snapshots given up.
    pub snapshots_failed: u64,
    pub channel_full: u64,
}

/// The live counters behind [`BackfillStats`].
#[derive(Debug)]
pub(crate) struct BackfillCounters {
    exchange: Exchange,
    gaps_received: AtomicU64,
    gaps_merged: AtomicU64,
    gaps_completed: AtomicU64,
    gaps_failed: AtomicU64,
    requests: AtomicU64,
    pages: AtomicU64,
    retries: AtomicU64,
    /// Shared with the backfiller's emitter, which counts the waits.
    snapshots_fetched: AtomicU64,
    snapshots_failed: AtomicU64,
    channel_full: Arc<AtomicU64>,
}

impl BackfillCounters {
    pub(crate) fn new(exchange: Exchange, channel_full: Arc<AtomicU64>) -> Self {
        BackfillCounters {
            exchange,
            gaps_received: AtomicU64::new(0),
            gaps_merged: AtomicU64::new(0),
            gaps_completed: AtomicU64::new(0),
            gaps_failed: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            pages: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            snapshots_fetched: AtomicU64::new(0),
            snapshots_failed: AtomicU64::new(0),
            channel_full,
        }
    }

    pub(crate) fn snapshot(&self) -> BackfillStats {
        BackfillStats {
            gaps_received: self.gaps_received.load(Relaxed),
            gaps_merged: self.gaps_merged.load(Relaxed),
            gaps_completed: self.gaps_completed.load(Relaxed),
            gaps_failed: self.gaps_failed.load(Relaxed),
            requests: self.requests.load(Relaxed),
            pages: self.pages.load(Relaxed),
            retries: self.retries.load(Relaxed),
            snapshots_fetched: self.snapshots_fetched.load(Relaxed),
            snapshots_failed: self.snapshots_failed.load(Relaxed),
            channel_full: self.channel_full.load(Relaxed),
        }
    }

    pub(crate) fn gap_received(&self) {
        self.gaps_received.fetch_add(1, Relaxed);
    }

    pub(crate) fn gap_merged(&self) {
        self.gaps_merged.fetch_add(1, Relaxed);
        count(BACKFILL_GAPS_MERGED, self.exchange);
    }

    pub(crate) fn gap_completed(&self) {
        self.gaps_completed.fetch_add(1, Relaxed);
        count(BACKFILL_GAPS_DONE, self.exchange);
    }

    pub(crate) fn gap_failed(&self, reason: &'static str) {
        self.gaps_failed.fetch_add(1, Relaxed);
        count_reason(BACKFILL_FAILURES, self.exchange, reason);
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Relaxed);
        count(BACKFILL_REQUESTS, self.exchange);
    }

    pub(crate) fn page(&self) {
        self.pages.fetch_add(1, Relaxed);
        count(BACKFILL_PAGES, self.exchange);
    }

    pub(crate) fn retry(&self, reason: &'static str) {
        self.retries.fetch_add(1, Relaxed);
        count_reason(BACKFILL_RETRIES, self.exchange, reason);
    }

    pub(crate) fn snapshot_fetched(&self) {
        self.snapshots_fetched.fetch_add(1, Relaxed);
        count(SNAPSHOTS_FETCHED, self.exchange);
    }

    pub(crate) fn snapshot_failed(&self, reason: &'static str) {
        self.snapshots_failed.fetch_add(1, Relaxed);
        count_reason(SNAPSHOT_FAILURES, self.exchange, reason);
    }
}

/// A snapshot of a poller's counters (all only grow).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Product list responses forwarded.
    pub product_lists: u64,
    /// Market trades pages forwarded.
    pub polls: u64,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Requests retried (429, 5xx, timeouts, connection errors).
    pub retries: u64,
    /// 429 responses retried (a subset of `retries`).
    pub rate_limited: u64,
    /// Polls answered with a 4xx other than 429 (an unknown product...).
    pub client_errors: u64,
    /// Polls given up after the last retry.
    pub failed_polls: u64,
    /// Forwarded pages whose trade ids could not be read (the decoder will
    /// reject them too).
    pub bad_pages: u64,
    /// Trades newer than any seen before on the same product.
    pub new_trades: u64,
    /// Trades seen on an earlier poll (overlap, harmless: dedup drops them).
    pub seen_trades: u64,
    /// Polls that found a hole between the newest trade seen before and the
    /// page's oldest: trades missed.
    pub missed_windows: u64,
    /// Sends that found the downstream channel full.
    pub channel_full: u64,
}

/// The live counters behind [`PollStats`].
#[derive(Debug)]
pub(crate) struct PollCounters {
    exchange: Exchange,
    product_lists: AtomicU64,
    polls: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    client_errors: AtomicU64,
    failed_polls: AtomicU64,
    bad_pages: AtomicU64,
    new_trades: AtomicU64,
    seen_trades: AtomicU64,
    missed_windows: AtomicU64,
    /// Shared with the poller's emitter, which counts the waits.
    channel_full: Arc<AtomicU64>,
}

impl PollCounters {
    pub(crate) fn new(exchange: Exchange, channel_full: Arc<AtomicU64>) -> Self {
        let zero = || AtomicU64::new(0);
        PollCounters {
            exchange,
            product_lists: zero(),
            polls: zero(),
            requests: zero(),
            retries: zero(),
            rate_limited: zero(),
            client_errors: zero(),
            failed_polls: zero(),
            bad_pages: zero(),
            new_trades: zero(),
            seen_trades: zero(),
            missed_windows: zero(),
            channel_full,
        }
    }

    pub(crate) fn snapshot(&self) -> PollStats {
        PollStats {
            product_lists: self.product_lists.load(Relaxed),
            polls: self.polls.load(Relaxed),
            requests: self.requests.load(Relaxed),
            retries: self.retries.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            client_errors: self.client_errors.load(Relaxed),
            failed_polls: self.failed_polls.load(Relaxed),
            bad_pages: self.bad_pages.load(Relaxed),
            new_trades: self.new_trades.load(Relaxed),
            seen_trades: self.seen_trades.load(Relaxed),
            missed_windows: self.missed_windows.load(Relaxed),
            channel_full: self.channel_full.load(Relaxed),
        }
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Relaxed);
        count(POLL_REQUESTS, self.exchange);
    }

    pub(crate) fn retry(&self, reason: &'static str) {
        self.retries.fetch_add(1, Relaxed);
        count_reason(POLL_RETRIES, self.exchange, reason);
    }

    /// A 429 response about to be retried.
    pub(crate) fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Relaxed);
    }

    pub(crate) fn product_list(&self) {
        self.product_lists.fetch_add(1, Relaxed);
        count(POLL_PAGES, self.exchange);
    }

    pub(crate) fn poll(&self) {
        self.polls.fetch_add(1, Relaxed);
        count(POLL_PAGES, self.exchange);
    }

    /// A poll that produced no page, for `reason`.
    pub(crate) fn failed(&self, reason: &'static str) {
        if reason == "client_error" {
            self.client_errors.fetch_add(1, Relaxed);
        } else {
            self.failed_polls.fetch_add(1, Relaxed);
        }
        count_reason(POLL_FAILURES, self.exchange, reason);
    }

    pub(crate) fn bad_page(&self) {
        self.bad_pages.fetch_add(1, Relaxed);
        count_reason(POLL_FAILURES, self.exchange, "bad_page");
    }

    pub(crate) fn trades(&self, new: u64, seen: u64) {
        self.new_trades.fetch_add(new, Relaxed);
        self.seen_trades.fetch_add(seen, Relaxed);
        metrics::counter!(POLL_TRADES_NEW, "exchange" => self.exchange.as_str()).increment(new);
        metrics::counter!(POLL_TRADES_SEEN, "exchange" => self.exchange.as_str()).increment(seen);
    }

    pub(crate) fn missed_window(&self) {
        self.missed_windows.fetch_add(1, Relaxed);
        count(POLL_MISSED_WINDOWS, self.exchange);
    }
}
