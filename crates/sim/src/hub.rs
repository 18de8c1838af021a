//! State shared by the generator, the websocket sessions and REST.
//!
//! The generator applies each batch of events to the [`Market`] under its
//! lock, then broadcasts the rendered frames. A session reads a snapshot
//! and the current event number under the same lock; frames numbered after
//! it are exactly the ones the snapshot does not reflect, and they are all
//! still to come on the session's receiver (created before it subscribed).
//! That is what makes a snapshot plus the following updates consistent
//! without stopping the market.

use std::{
    collections::{HashSet, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex, MutexGuard,
    },
    time::Duration,
};

use axum::extract::ws::Utf8Bytes;
use marketpipe_model::Exchange;
use tokio::sync::{broadcast, watch};

use crate::{config::Faults, market::Market, products::ProductSpec};

/// What a market frame is, for routing to subscribers. Each dialect renders
/// the kinds its exchange has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    /// Book changes: Coinbase `l2update`, Binance `depthUpdate`, KuCoin
    /// `trade.l2update`.
    L2Update,
    /// A trade: Coinbase `match`, Binance `aggTrade`, KuCoin `trade.l3match`.
    Match,
    /// The summary after a trade: Coinbase `ticker`, KuCoin `/market/ticker`.
    Ticker,
    /// A best bid/ask change: Binance `bookTicker`.
    BookTicker,
    /// Every product's session statistics: Binance `!miniTicker@arr`. Not
    /// a market event (it has no event number of its own).
    MiniTickers,
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
    /// Where the payload starts in `text`, for dialects that wrap it
    /// (`{"stream":"…","data":PAYLOAD}`): the payload runs from here to the
    /// byte before the closing brace. 0 when the frame is not wrapped.
    pub(crate) data_at: usize,
}

impl Frame {
    /// The wrapped payload (the whole text when it is not wrapped).
    pub(crate) fn payload(&self) -> &str {
        let text = self.text.as_str();
        match self.data_at {
            0 => text,
            at => text.get(at..text.len().saturating_sub(1)).unwrap_or(text),
        }
    }
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
    pub(crate) rate_limited: AtomicU64,
    pub(crate) ping_timeouts: AtomicU64,
    pub(crate) refused: AtomicU64,
}

/// Keepalive timing: KuCoin's `pingInterval`/`pingTimeout` (announced in
/// the bullet, enforced on the client) and Binance's server ping period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// KuCoin `pingInterval`.
    pub(crate) ping_interval: Duration,
    /// KuCoin `pingTimeout`.
    pub(crate) ping_timeout: Duration,
    /// Binance: how often the server pings.
    pub(crate) server_ping: Duration,
}

/// The KuCoin connect tokens issued by `bullet-public`, bounded: past
/// [`Tokens::CAP`] the oldest are forgotten (a client that asks that often
/// does not keep old tokens), so a client in a loop cannot grow memory.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    issued: HashSet<String>,
    order: VecDeque<String>,
    next: u64,
}

impl Tokens {
    /// Most tokens remembered.
    pub(crate) const CAP: usize = 10_000;

    /// A fresh token, remembered. Derived from the seed and a counter:
    /// unpredictable enough to look real, reproducible for a seed.
    pub(crate) fn issue(&mut self, seed: u64) -> String {
        self.next += 1;
        let (a, b) = (crate::text::mix(seed ^ self.next), crate::text::mix(seed.rotate_left(17) ^ self.next));
        let token = format!("2neAiuYvAU6{a:016x}{b:016x}.sim{:04}==", self.next % 10_000);
        if self.order.len() >= Self::CAP {
            if let Some(old) = self.order.pop_front() {
                self.issued.remove(&old);
            }
        }
        self.issued.insert(token.clone());
        self.order.push_back(token.clone());
        token
    }

    /// Whether `token` was issued (and not yet forgotten).
    pub(crate) fn valid(&self, token: &str) -> bool {
        self.issued.contains(token)
    }
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
    /// The protocol spoken.
    pub(crate) exchange: Exchange,
    /// The websocket URL clients connect to (for KuCoin, the bullet's
    /// `endpoint`).
    pub(crate) ws_url: String,
    /// Keepalive timing.
    pub(crate) timing: Timing,
    /// KuCoin connect tokens.
    pub(crate) tokens: Mutex<Tokens>,
    /// The products, by index.
    pub(crate) specs: Vec<ProductSpec>,
    /// Native ids, by index.
    pub(crate) ids: Vec<String>,
    /// The product list REST body (Coinbase `GET /products`, KuCoin
    /// `GET /api/v2/symbols`; Binance renders exchangeInfo per request).
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
    pub(crate) fn new(market: Market, specs: Vec<ProductSpec>, setup: HubSetup, shutdown: watch::Receiver<bool>) -> Self {
        let HubSetup { exchange, ws_url, timing, faults, seed, client_buffer } = setup;
        let ids = specs.iter().map(|s| s.id.clone()).collect();
        let products_json = crate::dialect::products_json(exchange, &specs);
        let (tx, _) = broadcast::channel(client_buffer);
        Hub {
            market: Mutex::new(market),
            exchange,
            ws_url,
            timing,
            tokens: Mutex::new(Tokens::default()),
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

    /// The token book. A poisoned lock is used as is (a set of strings
    /// cannot be left inconsistent in a way that matters).
    pub(crate) fn tokens(&self) -> MutexGuard<'_, Tokens> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
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

/// The settings [`Hub::new`] takes besides the market.
#[derive(Debug, Clone)]
pub(crate) struct HubSetup {
    /// The protocol spoken.
    pub(crate) exchange: Exchange,
    /// The websocket URL.
    pub(crate) ws_url: String,
    /// Keepalive timing.
    pub(crate) timing: Timing,
    /// Fault switches.
    pub(crate) faults: Faults,
    /// The market seed (also seeds fault randomness and tokens).
    pub(crate) seed: u64,
    /// Broadcast buffer, in batches.
    pub(crate) client_buffer: usize,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_bounded() {
        let mut t = Tokens::default();
        let a = t.issue(1);
        let b = t.issue(1);
        assert_ne!(a, b);
        assert!(t.valid(&a) && t.valid(&b) && !t.valid("nope"));
        assert!(a.bytes().all(|c| c.is_ascii_graphic()));
        for _ in 0..Tokens::CAP {
            t.issue(1);
        }
        assert!(!t.valid(&a), "the oldest token is forgotten past the cap");
        assert_eq!(t.order.len(), Tokens::CAP);
    }
}
