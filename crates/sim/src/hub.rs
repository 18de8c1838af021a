//! State shared by the generator, the websocket sessions and REST.
//!
//! The generator applies each batch of events to the [`Market`] under its
//! lock, then broadcasts the rendered frames. A session reads a snapshot
//! and the current event number under the same lock; frames numbered after
//! it are exactly the ones the snapshot does not reflect, and they are all
//! still to come on the session's receiver (created before it subscribed).
//! That is what makes a snapshot plus the following updates consistent
//! without stopping the market.

use std::sync::{
    atomic::{AtomicU64, Ordering::Relaxed},
    Arc, Mutex, MutexGuard,
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{broadcast, watch};

use crate::{config::Faults, market::Market, products::ProductSpec};

/// What a market frame is, for routing to subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// `l2update`.
    L2Update,
    /// `match`.
    Match,
    /// `ticker`.
    Ticker,
}

/// One rendered market frame.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    /// The event's global number.
    pub(crate) seq: u64,
    /// Product index.
    pub(crate) product: usize,
    /// The product's sequence after it.
    pub(crate) product_seq: u64,
    /// The trade id, for a `match`.
    pub(crate) trade_id: Option<u64>,
    /// What it is.
    pub(crate) kind: FrameKind,
    /// The text, shared by every connection (cloning is a reference bump).
    pub(crate) text: Utf8Bytes,
}

/// The frames of one generator tick, in generation order.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Wall-clock time of the tick, Unix nanoseconds.
    pub(crate) time_ns: i64,
    /// The frames.
    pub(crate) frames: Vec<Frame>,
}

/// Counters behind [`crate::SimStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) trades: AtomicU64,
    pub(crate) market_frames: AtomicU64,
    pub(crate) frames_sent: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) active_connections: AtomicU64,
    pub(crate) drops: AtomicU64,
    pub(crate) stalls: AtomicU64,
    pub(crate) malformed_sent: AtomicU64,
    pub(crate) duplicates_sent: AtomicU64,
    pub(crate) acks_sent: AtomicU64,
    pub(crate) acks_withheld: AtomicU64,
    pub(crate) acks_delayed: AtomicU64,
    pub(crate) request_errors: AtomicU64,
    pub(crate) slow_disconnects: AtomicU64,
    pub(crate) rest_requests: AtomicU64,
    pub(crate) capture_records: AtomicU64,
    pub(crate) capture_errors: AtomicU64,
}

impl Counters {
    /// Adds one.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}

/// Everything the tasks share.
#[derive(Debug)]
pub(crate) struct Hub {
    /// The market; the lock also orders snapshots against broadcasts.
    market: Mutex<Market>,
    /// The products, by index.
    pub(crate) specs: Vec<ProductSpec>,
    /// Native ids, by index.
    pub(crate) ids: Vec<String>,
    /// The `GET /products` body.
    pub(crate) products_json: String,
    /// Market frames to every session.
    pub(crate) tx: broadcast::Sender<Arc<Batch>>,
    /// Counters.
    pub(crate) counters: Counters,
    /// Fault switches.
    pub(crate) faults: Faults,
    /// Seeds per-connection fault randomness.
    pub(crate) seed: u64,
    /// Turns true on shutdown.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Connection ids.
    next_conn: AtomicU64,
    /// Live session count, for shutdown to wait on.
    sessions: watch::Sender<usize>,
    /// Turns true when a client's subscription first takes effect (see
    /// `SimConfig::wait_for_subscriber`).
    pub(crate) subscribed: watch::Sender<bool>,
}

impl Hub {
    /// Assembles the shared state.
    pub(crate) fn new(
        market: Market,
        specs: Vec<ProductSpec>,
        faults: Faults,
        seed: u64,
        client_buffer: usize,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let ids = specs.iter().map(|s| s.id.clone()).collect();
        let products_json = crate::products::products_json(&specs);
        let (tx, _) = broadcast::channel(client_buffer);
        Hub {
            market: Mutex::new(market),
            specs,
            ids,
            products_json,
            tx,
            counters: Counters::default(),
            faults,
            seed,
            shutdown,
            next_conn: AtomicU64::new(1),
            sessions: watch::channel(0).0,
            subscribed: watch::channel(false).0,
        }
    }

    /// Locks the market. A panic while holding the lock cannot leave the
    /// market half-updated in a way that matters more than stopping would,
    /// so a poisoned lock is used as is.
    pub(crate) fn market(&self) -> MutexGuard<'_, Market> {
        self.market.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The index of a native product id.
    pub(crate) fn product_index(&self, id: &str) -> Option<usize> {
        self.ids.iter().position(|p| p == id)
    }

    /// A new connection id.
    pub(crate) fn next_conn(&self) -> u64 {
        self.next_conn.fetch_add(1, Relaxed)
    }

    /// Registers a session; it counts as live until the guard is dropped.
    pub(crate) fn session_guard(self: &Arc<Self>) -> SessionGuard {
        self.sessions.send_modify(|n| *n += 1);
        Counters::bump(&self.counters.connections);
        Counters::bump(&self.counters.active_connections);
        SessionGuard(self.clone())
    }

    /// Waits until no session is live.
    pub(crate) async fn sessions_done(&self) {
        let mut rx = self.sessions.subscribe();
        // The sender lives in self, so this cannot fail.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// Keeps a session counted while it runs.
#[derive(Debug)]
pub(crate) struct SessionGuard(Arc<Hub>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.sessions.send_modify(|n| *n = n.saturating_sub(1));
        self.0.counters.active_connections.fetch_sub(1, Relaxed);
    }
}

/// Resolves once `flag` is true, or its sender is gone (nothing can set it
/// any more, which callers treat the same). Returns nothing, so no borrow of
/// the channel outlives it.
pub(crate) async fn signalled(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|set| *set).await;
}
