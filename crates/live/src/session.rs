//! One websocket connection's life, over and over: fetch a token if the
//! exchange wants one, connect, wait for the greeting, subscribe (paced),
//! wait for every acknowledgement, forward frames under the watchdog (with
//! client pings where the exchange requires them), resync books on
//! request; on any failure emit `Close` and reconnect after a jittered
//! backoff; never give up until shutdown.
//!
//! A connection the exchange will close at a known age (Binance, 24 h) is
//! replaced ahead of time, make-before-break: the new connection is opened
//! and subscribed while the old one is still read, and the old one closes
//! only once the new one is acknowledged. Frames of both are forwarded in
//! the meantime; the overlap is harmless downstream (trades are deduplicated
//! by id, book updates already applied are dropped by sequence).

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};

use futures_util::{SinkExt, StreamExt};
use marketpipe_venues::session::{ConnectTarget, FrameClass, Request, SessionProtocol};
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
    rest::{RestClient, RestError, RestMethod},
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
    /// The connection reached its planned age: open its replacement
    /// before closing it.
    Rotate,
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
    /// Whether this slot also carries the all-market channels (one slot
    /// of a feed does, so they arrive once).
    pub(crate) all_market: bool,
    /// The exchange's REST client (connection tokens), shared with the
    /// rest of the feed's REST traffic.
    pub(crate) rest: RestClient,
    pub(crate) control: Arc<SessionControl>,
    pub(crate) counters: Arc<FeedCounters>,
    pub(crate) emitter: Emitter,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) backoff: BackoffState,
    /// Request ids, increasing over the session's connections.
    pub(crate) next_id: u64,
    /// When the last frame was sent, for the exchange's send rate limit.
    pub(crate) last_send: Option<Instant>,
    /// A connection being replaced: read alongside its successor until
    /// the successor is acknowledged.
    pub(crate) retiring: Option<(u64, Ws)>,
}

impl Session {
    /// Runs until shutdown (or until the receiver of records is gone).
    pub(crate) async fn run(mut self) {
        let exchange = self.config.exchange;
        loop {
            if is_signalled(&self.shutdown) {
                self.retire("shutdown").await;
                return;
            }
            let conn = next_conn_id();
            let (mut ws, target) = match self.connect(conn).await {
                Ok(connected) => connected,
                Err(End::Reconnect { reason, detail }) => {
                    self.counters.connect_failed(reason);
                    tracing::warn!(%exchange, reason, error = %detail, url = %self.config.ws_url, "websocket connect failed");
                    // A replacement that cannot connect leaves the old
                    // connection to its fate: it is closed too, and the
                    // usual reconnect path (backfill, resync) takes over.
                    self.retire("replacement failed").await;
                    if self.sleep_backoff().await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(End::Rotate | End::Stop(_)) => {
                    self.retire("shutdown").await;
                    return;
                }
            };
            // A reconnect brings fresh snapshots: older resync requests are moot.
            drop(self.control.take());
            if self.emitter.emit(now(), LiveBody::Open { conn, url: target.url.clone() }, &mut self.shutdown).await.is_err() {
                return;
            }
            self.counters.opened();
            tracing::info!(%exchange, conn, products = self.products.len(), "websocket connected");

            let mut established = None;
            let opened = Instant::now();
            let end = self.serve(conn, &mut ws, &target, opened, &mut established).await;
            if let End::Rotate = end {
                tracing::info!(%exchange, conn, "replacing a connection ahead of the exchange's age limit");
                self.counters.rotation();
                self.retiring = Some((conn, ws));
                continue;
            }
            self.retire("its replacement ended").await;
            let (reason_text, stop) = match &end {
                End::Reconnect { reason, detail } => (format!("{reason}: {detail}"), false),
                End::Rotate => unreachable!("handled above"),
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

    /// Closes the connection being replaced, if any, and records why.
    async fn retire(&mut self, reason: &str) {
        let Some((conn, mut ws)) = self.retiring.take() else { return };
        close(&mut ws).await;
        tracing::info!(exchange = %self.config.exchange, conn, reason, "retired a replaced connection");
        let _ = self.emitter.emit_final(now(), LiveBody::Close { conn, reason: format!("rotated: {reason}") }).await;
    }

    /// Fetches a token if the exchange wants one, then opens the websocket
    /// within the connect timeout, unless shut down.
    async fn connect(&mut self, conn: u64) -> Result<(Ws, ConnectTarget), End> {
        let token = match self.protocol.token_url(&self.config.rest_url) {
            Some(url) => Some(self.fetch_token(url).await?),
            None => None,
        };
        let target = self
            .protocol
            .connect_target(&self.config.ws_url, token.as_deref(), conn)
            .map_err(|e| End::reconnect("bad_token", e.to_string()))?;
        let attempt = tokio::time::timeout(self.config.connect_timeout, tokio_tungstenite::connect_async(target.url.as_str()));
        tokio::select! {
            _ = signalled(&mut self.shutdown) => Err(End::Stop(Stopped::Shutdown)),
            result = attempt => match result {
                Ok(Ok((ws, _response))) => Ok((ws, target)),
                Ok(Err(e)) => Err(End::reconnect("connect_error", e.to_string())),
                Err(_) => Err(End::reconnect("connect_timeout", format!("no connection within {:?}", self.config.connect_timeout))),
            },
        }
    }

    /// `POST`s for a connection token; the response is forwarded (archived
    /// and counted like any REST response).
    async fn fetch_token(&mut self, url: String) -> Result<String, End> {
        let weight = self.protocol.rest_weight(&url);
        let body = match self.rest.fetch(RestMethod::Post, &url, weight, &mut self.shutdown, &|_| {}).await {
            Ok(body) => body,
            Err(RestError::Stopped) => return Err(End::Stop(Stopped::Shutdown)),
            Err(RestError::GiveUp { reason, detail }) => return Err(End::reconnect("token", format!("{reason}: {detail}"))),
        };
        self.emitter.emit(now(), LiveBody::Rest { url, body: body.clone() }, &mut self.shutdown).await?;
        Ok(body)
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

    /// Waits for the greeting if the exchange sends one, subscribes, waits
    /// for the acknowledgements, then forwards frames until the connection
    /// must end. `established` is set once acknowledged.
    async fn serve(&mut self, conn: u64, ws: &mut Ws, target: &ConnectTarget, opened: Instant, established: &mut Option<Instant>) -> End {
        let deadline = Instant::now() + self.config.ack_timeout;
        if self.protocol.awaits_welcome() {
            if let Err(end) = self.establish(conn, ws, deadline, |class| matches!(class, FrameClass::Welcome)).await {
                return end;
            }
        }
        let products: Vec<&str> = self.products.iter().map(String::as_str).collect();
        let channels: Vec<&str> = self
            .config
            .channels
            .iter()
            .filter(|c| self.all_market || !self.protocol.is_all_market_channel(c))
            .map(String::as_str)
            .collect();
        let requests = self.protocol.subscribe_frames(&products, &channels, &mut self.next_id);
        let mut awaited: BTreeSet<String> = requests.iter().filter_map(|r| r.reply_id.clone()).collect();
        let by_products = awaited.is_empty();
        for request in requests {
            if let Err(end) = self.send(conn, ws, request.text).await {
                return end;
            }
        }
        let all_products = self.products.clone();
        let acked = self
            .establish(conn, ws, deadline, |class| match class {
                FrameClass::Reply { id } => {
                    awaited.remove(id);
                    !by_products && awaited.is_empty()
                }
                // Coinbase acks list the whole subscription, so a partial
                // one (to an earlier frame of several) is followed by a
                // complete one.
                FrameClass::Ack { products } => by_products && all_products.iter().all(|p| products.binary_search(p).is_ok()),
                _ => false,
            })
            .await;
        if let Err(end) = acked {
            return end;
        }
        *established = Some(Instant::now());
        self.retire("replacement subscribed").await;
        match self.forward(conn, ws, target, opened).await {
            Ok(never) => match never {},
            Err(end) => end,
        }
    }

    /// Sends a text frame, no sooner than the exchange's send interval
    /// after the previous one, and records it.
    async fn send(&mut self, conn: u64, ws: &mut Ws, text: String) -> Result<(), End> {
        if let Some(last) = self.last_send {
            let at = last + self.protocol.send_interval();
            tokio::select! {
                _ = signalled(&mut self.shutdown) => return Err(End::Stop(Stopped::Shutdown)),
                _ = tokio::time::sleep_until(at) => {}
            }
        }
        self.last_send = Some(Instant::now());
        let at = now();
        ws.send(Message::text(text.clone())).await.map_err(|e| End::reconnect("send_error", e.to_string()))?;
        self.emitter.emit(at, LiveBody::WsOut { conn, text }, &mut self.shutdown).await?;
        Ok(())
    }

    /// Reads until `done` accepts a frame's class, by `deadline`. Frames
    /// before it are forwarded too (they were received), and so are those
    /// of a connection being replaced, which is read alongside.
    async fn establish(&mut self, conn: u64, ws: &mut Ws, deadline: Instant, mut done: impl FnMut(&FrameClass) -> bool) -> Result<(), End> {
        loop {
            let next = tokio::select! {
                _ = signalled(&mut self.shutdown) => return Err(End::Stop(Stopped::Shutdown)),
                next = tokio::time::timeout_at(deadline, ws.next()) => next,
                old = next_retiring(&mut self.retiring) => {
                    self.on_retiring(old).await?;
                    continue;
                }
            };
            let Ok(next) = next else {
                self.counters.ack_timeout();
                return Err(End::reconnect("ack_timeout", format!("no greeting or acknowledgement within {:?}", self.config.ack_timeout)));
            };
            if let Some(class) = self.on_message(conn, next).await? {
                if done(&class) {
                    return Ok(());
                }
            }
        }
    }

    /// Forwards one read of the connection being replaced; an error or an
    /// end of it retires it at once.
    async fn on_retiring(&mut self, next: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>) -> Result<(), End> {
        let Some(conn) = self.retiring.as_ref().map(|(c, _)| *c) else { return Ok(()) };
        match self.on_message(conn, next).await {
            Ok(_) => Ok(()),
            Err(End::Stop(s)) => Err(End::Stop(s)),
            Err(_) => {
                self.retire("ended before its replacement was ready").await;
                Ok(())
            }
        }
    }

    /// Forwards frames, under the watchdog when the subscription or the
    /// pings guarantee traffic, sends the pings, serves resync requests,
    /// and asks for a replacement at the planned connection age. Pings count
    /// from when the connection `opened`: the exchange's ping deadline runs
    /// from then, not from the end of the handshake.
    async fn forward(&mut self, conn: u64, ws: &mut Ws, target: &ConnectTarget, opened: Instant) -> Result<std::convert::Infallible, End> {
        let ping = target.ping_interval.filter(|p| !p.is_zero());
        let watchdog = match (ping, target.ping_timeout) {
            // The exchange answers every ping: silence longer than a ping
            // period plus its timeout is a dead connection.
            (Some(interval), timeout) => Some(self.config.watchdog.max(interval + timeout.unwrap_or(interval))),
            (None, _) if self.protocol.keeps_alive(&self.config.channels) => Some(self.config.watchdog),
            (None, _) => None,
        };
        let mut pings = ping.map(|p| {
            let mut pings = tokio::time::interval_at(opened + p, p);
            // One ping after a hold-up, not a burst: a burst would eat into
            // the exchange's message budget for nothing.
            pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            pings
        });
        let rotate_at = self.config.max_connection_age.map(|age| Instant::now() + age);
        let control = self.control.clone();
        loop {
            let next = tokio::select! {
                biased;
                _ = signalled(&mut self.shutdown) => return Err(End::Stop(Stopped::Shutdown)),
                _ = sleep_until_opt(rotate_at) => return Err(End::Rotate),
                _ = control.notify.notified() => {
                    self.resync(conn, ws).await?;
                    continue;
                }
                _ = tick_opt(&mut pings) => {
                    let n = self.next_id;
                    self.next_id += 1;
                    if let Some(frame) = self.protocol.ping_frame(n) {
                        self.send(conn, ws, frame).await?;
                    }
                    continue;
                }
                next = read(ws, watchdog) => next,
            };
            let Some(next) = next else {
                self.counters.watchdog_trip();
                return Err(End::reconnect("watchdog", format!("no frame for {watchdog:?}")));
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
        let mut frames: Vec<Request> = self.protocol.unsubscribe_frames(&products, &book, &mut self.next_id);
        frames.extend(self.protocol.subscribe_frames(&products, &book, &mut self.next_id));
        for _ in &products {
            self.counters.resync();
        }
        for frame in frames {
            self.send(conn, ws, frame.text).await?;
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

/// The next read of the connection being replaced; never without one.
async fn next_retiring(retiring: &mut Option<(u64, Ws)>) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match retiring {
        Some((_, ws)) => ws.next().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`; never without it.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next tick; never without an interval.
async fn tick_opt(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Sends a close frame, bounded in time; errors are moot (the connection
/// is being abandoned either way).
async fn close(ws: &mut Ws) {
    let _ = tokio::time::timeout(CLOSE_LIMIT, ws.close(None)).await;
}
