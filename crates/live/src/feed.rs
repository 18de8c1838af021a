//! Starting a feed: products split across connections, one task each, and
//! the handle the pipeline keeps (resync, stats, join).

use std::{collections::BTreeMap, sync::Arc};

use marketpipe_venues::session::SessionProtocol;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use crate::{
    backoff::BackoffState,
    config::FeedConfig,
    emit::Emitter,
    metrics::{FeedCounters, FeedStats},
    record::now,
    rest::RestClient,
    session::{Session, SessionControl},
    LiveError, LiveRecord,
};

/// A running feed.
#[derive(Debug)]
pub struct FeedHandle {
    /// Products of each connection slot, in slot order.
    slots: Vec<Vec<String>>,
    resyncer: Resyncer,
    tasks: Vec<JoinHandle<()>>,
    counters: Arc<FeedCounters>,
}

/// Requests book resyncs from a running feed; cheap to clone, so the
/// pipeline that detects an inconsistent book can hold one while the feed
/// itself is owned (and finally joined) elsewhere.
#[derive(Debug, Clone, Default)]
pub struct Resyncer {
    /// Native product id -> its session's control.
    routes: Arc<BTreeMap<String, Arc<SessionControl>>>,
}

impl Resyncer {
    /// Asks the session carrying `product` (a native id) to resubscribe its
    /// book channel, which makes the exchange send a fresh snapshot.
    /// Returns `false` for a product this feed does not carry.
    pub fn resync(&self, product: &str) -> bool {
        match self.routes.get(product) {
            Some(control) => {
                control.request_resync(product);
                true
            }
            None => false,
        }
    }
}

/// Splits `products` (deduplicated, first occurrence kept) into chunks of at
/// most `per_connection` (at least 1).
pub fn split_products(products: &[String], per_connection: usize) -> Vec<Vec<String>> {
    let mut seen = std::collections::BTreeSet::new();
    let unique: Vec<String> = products.iter().filter(|p| seen.insert(p.as_str())).cloned().collect();
    unique.chunks(per_connection.max(1)).map(<[String]>::to_vec).collect()
}

/// Starts one session task per connection slot. Must be called inside a
/// tokio runtime. Records go to `tx` (bounded: sessions wait when it is
/// full, they never drop a frame); `shutdown` set to `true` stops every
/// session after it sends a close frame and emits `Close` (dropping the
/// sender of `shutdown` counts as the signal too). `rest` serves the
/// connection tokens some exchanges require (share it with the feed's
/// backfiller: they draw on one request budget).
pub fn spawn_feed(
    config: FeedConfig,
    protocol: Arc<dyn SessionProtocol>,
    rest: RestClient,
    tx: mpsc::Sender<LiveRecord>,
    shutdown: watch::Receiver<bool>,
) -> Result<FeedHandle, LiveError> {
    config.validate()?;
    crate::install_crypto_provider();
    let per_connection = config.max_products_per_connection.min(protocol.max_products_per_connection());
    let slots = split_products(&config.products, per_connection);
    let full = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counters = Arc::new(FeedCounters::new(config.exchange, full.clone()));
    let emitter = Emitter::new(tx, config.exchange, "live", full);
    let config = Arc::new(config);
    let mut handle = FeedHandle { slots: slots.clone(), resyncer: Resyncer::default(), tasks: Vec::new(), counters: counters.clone() };
    let mut routes = BTreeMap::new();
    let base_seed = u64::try_from(now().0).unwrap_or_default();
    for (slot, products) in slots.into_iter().enumerate() {
        let control = Arc::new(SessionControl::default());
        for p in &products {
            routes.insert(p.clone(), control.clone());
        }
        let session = Session {
            config: config.clone(),
            protocol: protocol.clone(),
            products,
            all_market: slot == 0,
            rest: rest.clone(),
            control: control.clone(),
            counters: counters.clone(),
            emitter: emitter.clone(),
            shutdown: shutdown.clone(),
            backoff: BackoffState::new(config.backoff, base_seed ^ (slot as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            next_id: 1,
            last_send: None,
            retiring: None,
        };
        handle.tasks.push(tokio::spawn(session.run()));
    }
    handle.resyncer = Resyncer { routes: Arc::new(routes) };
    tracing::info!(exchange = %config.exchange, connections = handle.tasks.len(), products = handle.resyncer.routes.len(), url = %config.ws_url, "feed started");
    Ok(handle)
}

impl FeedHandle {
    /// Asks the session owning `product` to re-subscribe its book channels,
    /// so a fresh snapshot arrives. Cheap and non-blocking; repeated calls
    /// before the session acts are merged. Returns `false` if no session
    /// owns `product`.
    pub fn resync(&self, product: &str) -> bool {
        self.resyncer.resync(product)
    }

    /// A handle that requests resyncs and outlives borrows of this one.
    pub fn resyncer(&self) -> Resyncer {
        self.resyncer.clone()
    }

    /// The products of each connection, in connection-slot order.
    pub fn connections(&self) -> &[Vec<String>] {
        &self.slots
    }

    /// Current counters.
    pub fn stats(&self) -> FeedStats {
        self.counters.snapshot()
    }

    /// Waits for every session task to end (after shutdown is signalled).
    pub async fn join(self) -> Result<(), LiveError> {
        let mut first_error = None;
        for (slot, task) in self.tasks.into_iter().enumerate() {
            if let Err(e) = task.await {
                tracing::error!(slot, error = %e, "feed session task failed");
                first_error.get_or_insert(LiveError::Task { task: format!("session {slot}"), detail: e.to_string() });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_split_in_order_without_duplicates() {
        let p = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(split_products(&p(&["a", "b", "c", "b", "d", "e"]), 2), vec![p(&["a", "b"]), p(&["c", "d"]), p(&["e"])]);
        assert_eq!(split_products(&p(&["a", "b"]), 0), vec![p(&["a"]), p(&["b"])]);
        assert!(split_products(&[], 3).is_empty());
    }
}
