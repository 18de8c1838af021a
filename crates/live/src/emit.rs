//! Handing records downstream over the bounded channel without ever
//! dropping one: when the channel is full the sender waits (so memory stays
//! bounded and a slow consumer slows the socket reads, which is visible to
//! the exchange as a slow client), and each wait is counted and timed.

use std::{sync::Arc, time::Instant};

use marketpipe_model::{Exchange, Timestamp};
use tokio::sync::{mpsc, watch};

use crate::{
    metrics::{CHANNEL_BLOCKED_SECONDS, CHANNEL_FULL},
    LiveBody, LiveRecord,
};

/// How long a final record (a `Close` at shutdown) may wait for room.
const FINAL_SEND_LIMIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a record could not be handed on; either way the task stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// Shutdown was signalled while waiting for room.
    Shutdown,
    /// The receiver is gone: nobody wants records any more.
    Downstream,
}

/// One task's sending half, labelled for metrics.
#[derive(Debug, Clone)]
pub(crate) struct Emitter {
    tx: mpsc::Sender<LiveRecord>,
    exchange: Exchange,
    stage: &'static str,
    full: Arc<std::sync::atomic::AtomicU64>,
}

impl Emitter {
    pub(crate) fn new(
        tx: mpsc::Sender<LiveRecord>,
        exchange: Exchange,
        stage: &'static str,
        full: Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        Emitter { tx, exchange, stage, full }
    }

    /// Sends a record stamped `recv`, waiting for room if need be.
    pub(crate) async fn emit(&self, recv: Timestamp, body: LiveBody, shutdown: &mut watch::Receiver<bool>) -> Result<(), Stopped> {
        let record = LiveRecord { recv, exchange: self.exchange, body };
        match self.tx.try_send(record) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Stopped::Downstream),
            Err(mpsc::error::TrySendError::Full(record)) => {
                self.full.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics::counter!(CHANNEL_FULL, "stage" => self.stage).increment(1);
                let started = Instant::now();
                let result = tokio::select! {
                    sent = self.tx.send(record) => sent.map_err(|_| Stopped::Downstream),
                    _ = signalled(shutdown) => Err(Stopped::Shutdown),
                };
                metrics::histogram!(CHANNEL_BLOCKED_SECONDS, "stage" => self.stage).record(started.elapsed().as_secs_f64());
                result
            }
        }
    }

    /// Sends a last record during shutdown: waits for room a bounded time
    /// (the consumer is normally still draining), then gives up.
    pub(crate) async fn emit_final(&self, recv: Timestamp, body: LiveBody) -> Result<(), Stopped> {
        let record = LiveRecord { recv, exchange: self.exchange, body };
        match tokio::time::timeout(FINAL_SEND_LIMIT, self.tx.send(record)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stopped::Downstream),
            Err(_) => {
                tracing::warn!(exchange = %self.exchange, stage = self.stage, "downstream did not take the final record in time");
                Err(Stopped::Shutdown)
            }
        }
    }
}

/// Resolves once shutdown is signalled (`true`), or its sender is gone (the
/// owner is gone, so nothing could ever signal it).
pub(crate) async fn signalled(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Whether shutdown is signalled now (or can no longer be).
pub(crate) fn is_signalled(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}
