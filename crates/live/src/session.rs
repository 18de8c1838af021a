//! One websocket connection's life, over and over: connect, subscribe,
//! wait for the acknowledgement, forward frames under the watchdog, resync
//! books on request; on any failure emit `Close` and reconnect after a
//! jittered backoff; never give up until shutdown.

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use marketpipe_venues::session::{FrameClass, SessionProtocol};
use tokio::{
    net::TcpStream,
    sync::{watch, Notify},
    time::Instant,
};
use tokio_tungstenite::{tungstenite::Message, MaybeTlsStream, WebSocketStream};

use crate::{
    backoff::BackoffState,
    config::FeedConfig,
    emit::{is_signalled, signalled, Emitter, Stopped},
    metrics::FeedCounters,
    record::now,
    LiveBody,
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long closing a socket may take before it is just dropped (a stalled
/// peer may never read the close frame).
const CLOSE_LIMIT: Duration = Duration::from_millis(500);

/// Connection ids: unique and increasing across the process, so records of
/// every feed and every reconnect can be told apart in one archive.
static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

fn next_conn_id() -> u64 {
    NEXT_CONN.fetch_add(1, Relaxed)
}

/// What the feed handle and a session share: resync requests.
#[derive(Debug, Default)]
pub(crate) struct SessionControl {
    /// Products whose books must be re-subscribed; a set, so repeated
    /// requests before the session gets to them cost one resync.
    pending: Mutex<BTreeSet<String>>,
    notify: Notify,
}

impl SessionControl {
    /// Queues a resync of `product` and wakes the session.
    pub(crate) fn request_resync(&self, product: &str) {
        // A poisoned lock only means another thread panicked mid-insert;
        // the set itself is still usable.
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.insert(product.to_owned());
        drop(pending);
        self.notify.notify_one();
    }

    fn take(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// Replace the connection. `reason` is a metric label; `detail` is for
    /// the `Close` record and the log.
    Reconnect { reason: &'static str, detail: String },
    /// Shutdown, or nobody downstream: stop for good.
    Stop(Stopped),
}

impl End {
    fn reconnect(reason: &'static str, detail: impl Into<String>) -> Self {
        End::Reconnect { reason, detail: detail.into() }
    }
}

impl From<Stopped> for End {
    fn from(s: Stopped) -> Self {
        End::Stop(s)
    }
}

/// One connection slot of a feed: a fixed share of the products.
pub(crate) struct Session {
    pub(crate) config: Arc<FeedConfig>,
    pub(crate) protocol: Arc<dyn SessionProtocol>,
    pub(crate) products: Vec<String>,
    pub(crate) control: Arc<SessionControl>,
    pub(crate) counters: Arc<FeedCounters>,
    pub(crate) emitter: Emitter,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) backoff: BackoffState,
}

impl Session {
    /// Runs until shutdown (or until the receiver of records is gone).
    pub(crate) async fn run(mut self) {
        let exchange = self.config.exchange;
        loop {
            if is_signalled(&self.shutdown) {
                return;
            }
            let ws = match self.connect().await {
                Ok(ws) => ws,
                Err(End::Stop(_)) => return,
                Err(End::Reconnect { reason, detail }) => {
                    self.counters.connect_failed(reason);
                    tracing::warn!(%exchange, reason, error = %detail, url = %self.config.ws_url, "websocket connect failed");
                    if self.sleep_backoff().await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let conn = next_conn_id();
            // A reconnect brings fresh snapshots: older resync requests are moot.
            drop(self.control.take());
            if self.emitter.emit(now(), LiveBody::Open { conn, url: self.config.ws_url.clone() }, &mut self.shutdown).await.is_err() {
                return;
            }
            self.counters.opened();
            tracing::info!(%exchange, conn, products = self.products.len(), "websocket connected");

            let mut ws = ws;
            let mut established = None;
            let end = self.serve(conn, &mut ws, &mut established).await;
            let (reason_text, stop) = match &end {
                End::Reconnect { reason, detail } => (format!("{reason}: {detail}"), false),
                End::Stop(Stopped::Shutdown) => ("shutdown".to_owned(), true),
                End::Stop(Stopped::Downstream) => ("downstream closed".to_owned(), true),
            };
            close(&mut ws).await;
            drop(ws);
            if let End::Reconnect { reason, .. } = &end {
                self.counters.reconnect(reason);
                tracing::warn!(%exchange, conn, reason = %reason_text, "websocket connection lost; reconnecting");
            } else {
                tracing::info!(%exchange, conn, reason = %reason_text, "websocket connection closed");
            }
            // The pipeline marks this connection's books resyncing on Close:
            // it must be emitted even at shutdown.
            let closed = self.emitter.emit_final(now(), LiveBody::Close { conn, reason: reason_text }).await;
            if stop || closed.is_err() {
                return;
            }
            if let Some(at) = established {
                self.backoff.connection_lasted(Instant::now().saturating_duration_since(at));
            }
            if self.sleep_backoff().await.is_err() {
                return;
            }
        }
    }

    /// Opens the websocket, within the connect timeout, unless shut down.
    async fn connect(&mut self) -> Result<Ws, End> {
        let attempt = tokio::time::timeout(self.config.connect_timeout, tokio_tungstenite::connect_async(self.config.ws_url.as_str()));
        tokio::select! {
            _ = signalled(&mut self.shutdown) => Err(End::Stop(Stopped::Shutdown)),
            result = attempt => match result {
                Ok(Ok((ws, _response))) => Ok(ws),
                Ok(Err(e)) => Err(End::reconnect("connect_error", e.to_string())),
                Err(_) => Err(End::reconnect("connect_timeout", format!("no connection within {:?}", self.config.connect_timeout))),
            },
        }
    }

    /// Sleeps the next backoff delay; `Err` if shut down meanwhile.
    async fn sleep_backoff(&mut self) -> Result<(), ()> {
        let delay = self.backoff.next_delay();
        tracing::debug!(exchange = %self.config.exchange, ?delay, attempt = self.backoff.attempt(), "backing off");
        tokio::select! {
            _ = signalled(&mut self.shutdown) => Err(()),
            _ = tokio::time::sleep(delay) => Ok(()),
        }
    }

    /// Subscribes, waits for the acknowledgement, then forwards frames until
    /// the connection must end. `established` is set once acknowledged.
    async fn serve(&mut self, conn: u64, ws: &mut Ws, established: &mut Option<Instant>) -> End {
        let products: Vec<&str> = self.products.iter().map(String::as_str).collect();
        let channels: Vec<&str> = self.config.channels.iter().map(String::as_str).collect();
        for frame in self.protocol.subscribe_frames(&products, &channels) {
            if let Err(end) = self.send(conn, ws, frame).await {
                return end;
            }
        }
        if let Err(end) = self.await_ack(conn, ws).await {
            return end;
        }
        *established = Some(Instant::now());
        match self.forward(conn, ws).await {
            Ok(never) => match never {},
            Err(end) => end,
        }
    }

    /// Sends a text frame and records it.
    async fn send(&mut self, conn: u64, ws: &mut Ws, text: String) -> Result<(), End> {
        let at = now();
        ws.send(Message::text(text.clone())).await.map_err(|e| End::reconnect("send_error", e.to_string()))?;
        self.emitter.emit(at, LiveBody::WsOut { conn, text }, &mut self.shutdown).await?;
        Ok(())
    }

    /// Reads until an acknowledgement names every product of this session.
    /// Frames before it are forwarded too (they were received).
    async fn await_ack(&mut self, conn: u64, ws: &mut Ws) -> Result<(), End> {
        let deadline = Instant::now() + self.config.ack_timeout;
        loop {
            let next = tokio::select! {
                _ = signalled(&mut self.shutdown) => return Err(End::Stop(Stopped::Shutdown)),
                next = tokio::time::timeout_at(deadline, ws.next()) => next,
            };
            let Ok(next) = next else {
                self.counters.ack_timeout();
                return Err(End::reconnect("ack_timeout", format!("no subscription acknowledgement within {:?}", self.config.ack_timeout)));
            };
            if let Some(FrameClass::Ack { products }) = self.on_message(conn, next).await? {
                // Coinbase acks list the whole subscription, so a partial
                // one (to an earlier frame of several) is followed by a
                // complete one.
                if self.products.iter().all(|p| products.binary_search(p).is_ok()) {
                    return Ok(());
                }
            }
        }
    }

    /// Forwards frames, under the watchdog when heartbeats are subscribed,
    /// and serves resync requests.
    async fn forward(&mut self, conn: u64, ws: &mut Ws) -> Result<std::convert::Infallible, End> {
        let heartbeats = self.protocol.heartbeat_channel().is_some_and(|hb| self.config.channels.iter().any(|c| c == hb));
        let watchdog = heartbeats.then_some(self.config.watchdog);
        let control = self.control.clone();
        loop {
            let next = tokio::select! {
                biased;
                _ = signalled(&mut self.shutdown) => return Err(End::Stop(Stopped::Shutdown)),
                _ = control.notify.notified() => {
                    self.resync(conn, ws).await?;
                    continue;
                }
                next = read(ws, watchdog) => next,
            };
            let Some(next) = next else {
                self.counters.watchdog_trip();
                return Err(End::reconnect("watchdog", format!("no frame for {:?}", self.config.watchdog)));
            };
            self.on_message(conn, next).await?;
        }
    }

    /// Handles one read result: forwards text frames and classifies them.
    async fn on_message(
        &mut self,
        conn: u64,
        next: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<Option<FrameClass>, End> {
        let msg = match next {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => return Err(End::reconnect("ws_error", e.to_string())),
            None => return Err(End::reconnect("eof", "the server ended the stream")),
        };
        match msg {
            Message::Text(text) => {
                let recv = now();
                self.counters.frame();
                let class = self.protocol.classify(text.as_str());
                self.emitter.emit(recv, LiveBody::Ws { conn, text: text.as_str().to_owned() }, &mut self.shutdown).await?;
                if let FrameClass::ExchangeError { message } = &class {
                    self.counters.exchange_error();
                    // The exchange may have dropped part of the subscription;
                    // a fresh connection (and fresh snapshots) is the one
                    // state known to be whole.
                    return Err(End::reconnect("exchange_error", message.clone()));
                }
                Ok(Some(class))
            }
            Message::Binary(_) => {
                self.counters.binary();
                Ok(None)
            }
            Message::Close(frame) => {
                let detail = frame.map_or_else(|| "no close frame".to_owned(), |f| format!("code {} {}", u16::from(f.code), f.reason));
                Err(End::reconnect("server_closed", detail))
            }
            // tungstenite answers pings itself; pongs and raw frames only
            // prove the connection alive (the watchdog already reset).
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(None),
        }
    }

    /// Re-subscribes the book channels of the products queued for resync,
    /// so the exchange sends fresh snapshots.
    async fn resync(&mut self, conn: u64, ws: &mut Ws) -> Result<(), End> {
        let pending = self.control.take();
        let products: Vec<&str> = self.products.iter().filter(|p| pending.contains(*p)).map(String::as_str).collect();
        let book: Vec<&str> = self.config.channels.iter().filter(|c| self.protocol.is_book_channel(c)).map(String::as_str).collect();
        if products.is_empty() || book.is_empty() {
            tracing::debug!(exchange = %self.config.exchange, conn, "resync requested with no book channel subscribed");
            return Ok(());
        }
        tracing::info!(exchange = %self.config.exchange, conn, products = ?products, "resyncing books");
        let frames: Vec<String> = self
            .protocol
            .unsubscribe_frames(&products, &book)
            .into_iter()
            .chain(self.protocol.subscribe_frames(&products, &book))
            .collect();
        for _ in &products {
            self.counters.resync();
        }
        for frame in frames {
            self.send(conn, ws, frame).await?;
        }
        Ok(())
    }
}

/// The next message; `None` if the watchdog period passed without one.
async fn read(ws: &mut Ws, watchdog: Option<Duration>) -> Option<Option<Result<Message, tokio_tungstenite::tungstenite::Error>>> {
    match watchdog {
        Some(period) => tokio::time::timeout(period, ws.next()).await.ok(),
        None => Some(ws.next().await),
    }
}

/// Sends a close frame, bounded in time; errors are moot (the connection
/// is being abandoned either way).
async fn close(ws: &mut Ws) {
    let _ = tokio::time::timeout(CLOSE_LIMIT, ws.close(None)).await;
}
