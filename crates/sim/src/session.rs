//! One websocket connection, whatever the dialect: the loop that reads the
//! client, passes market batches, runs the dialect's timers, and applies
//! this connection's faults (drop, stall, malformed, duplicate). What a
//! request means and which frames go out is the dialect's business
//! ([`Proto`]); how they travel is decided here, once for every exchange.
//!
//! Memory per connection is bounded by the broadcast buffer: a client that
//! falls more than `client_buffer` batches behind is disconnected, as the
//! exchanges disconnect slow consumers, and a send that cannot complete
//! within [`SEND_TIMEOUT`] (a client that stopped reading) ends it too.

use std::{sync::Arc, time::Duration};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use tokio::{
    sync::broadcast::{self, error::RecvError},
    time::Instant,
};

use crate::{
    config::STALL_HOLD,
    dialect::{self, Proto},
    generator::{now_ns, sleep_until_opt},
    hub::{self, Batch, Counters, Hub, SessionGuard},
};

/// Longest a send (or a flush of a batch) may take before the client is
/// deemed to have stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest client message accepted; requests are small (a Binance
/// SUBSCRIBE of 1024 streams is about 30 KiB).
pub(crate) const MAX_CLIENT_MESSAGE: usize = 64 << 10;

/// Why a session ended (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The client closed, or the socket failed.
    Closed,
    /// The simulator is shutting down.
    Shutdown,
    /// The drop fault fired.
    Dropped,
    /// The stall fault fired and the hold ended.
    Stalled,
    /// The client fell behind or stopped reading.
    Slow,
    /// The client sent more than the exchange allows (Binance: 5 messages
    /// a second).
    RateLimited,
    /// The client stopped keeping the connection alive (KuCoin: no `ping`;
    /// Binance: no Pong).
    PingTimeout,
    /// The connection was refused after the upgrade (KuCoin: bad token).
    Refused,
}

/// A websocket-level frame from the client that is not text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A Ping (answered by the websocket layer).
    Ping,
    /// A Pong.
    Pong,
    /// A binary frame (meaningless to every dialect here).
    Binary,
}

/// The sending half, with this connection's fault randomness.
pub(crate) struct Out {
    sink: SplitSink<WebSocket, Message>,
    rng: SmallRng,
    hub: Arc<Hub>,
}

impl Out {
    /// Queues a control frame (ack, error, pong): never duplicated or garbled.
    pub(crate) async fn control(&mut self, text: String) -> Result<(), axum::Error> {
        Counters::bump(&self.hub.counters.frames_sent);
        self.sink.feed(Message::Text(text.into())).await
    }

    /// Queues a data frame, maybe twice, maybe followed by a malformed one
    /// about `product` that names only a trade id the client has seen.
    pub(crate) async fn data(&mut self, text: Utf8Bytes, product: usize, seen_trade_id: u64) -> Result<(), axum::Error> {
        let faults = &self.hub.faults;
        let (dup, mal) = (faults.duplicate_rate, faults.malformed_rate);
        let duplicate = dup > 0.0 && self.rng.random_bool(dup);
        let malformed = mal > 0.0 && self.rng.random_bool(mal);
        let variant = if malformed { self.rng.random_range(0..4) } else { 0 };
        let extra = match self.hub.specs.get(product) {
            Some(spec) if malformed => Some(dialect::malformed(self.hub.exchange, variant, text.as_str(), spec, seen_trade_id, now_ns())),
            _ => None,
        };
        if duplicate {
            Counters::bump(&self.hub.counters.duplicates_sent);
            Counters::bump(&self.hub.counters.frames_sent);
            self.sink.feed(Message::Text(text.clone())).await?;
        }
        Counters::bump(&self.hub.counters.frames_sent);
        self.sink.feed(Message::Text(text)).await?;
        if let Some(bad) = extra {
            Counters::bump(&self.hub.counters.malformed_sent);
            Counters::bump(&self.hub.counters.frames_sent);
            self.sink.feed(Message::Text(bad.into())).await?;
        }
        Ok(())
    }

    /// Queues a websocket Ping.
    pub(crate) async fn ping(&mut self, payload: &'static [u8]) -> Result<(), axum::Error> {
        self.sink.feed(Message::Ping(payload.into())).await
    }

    /// Sends everything queued.
    pub(crate) async fn flush(&mut self) -> Result<(), axum::Error> {
        self.sink.flush().await
    }

    /// A close frame, best effort.
    pub(crate) async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
        let _ = tokio::time::timeout(Duration::from_secs(1), self.sink.send(Message::Close(Some(frame)))).await;
    }
}

/// What a dialect's session gets to work with.
pub(crate) struct Conn {
    /// Shared state.
    pub(crate) hub: Arc<Hub>,
    /// The sending half.
    pub(crate) out: Out,
    /// This connection's id (for logs, and as a default connect id).
    pub(crate) id: u64,
}

impl Conn {
    /// Runs a send operation under [`SEND_TIMEOUT`]; failures end the session.
    pub(crate) async fn timed<F: std::future::Future<Output = Result<(), axum::Error>>>(hub: &Hub, f: F) -> Result<(), End> {
        match tokio::time::timeout(SEND_TIMEOUT, f).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Closed),
            Err(_) => {
                Counters::bump(&hub.counters.slow_disconnects);
                Err(End::Slow)
            }
        }
    }

    /// Sends one control frame now.
    pub(crate) async fn send_control(&mut self, text: String) -> Result<(), End> {
        let hub = self.hub.clone();
        Self::timed(&hub, async {
            self.out.control(text).await?;
            self.out.flush().await
        })
        .await
    }
}

/// Serves one connection, spoken by `proto`, until it ends.
pub(crate) async fn run(hub: Arc<Hub>, socket: WebSocket, guard: SessionGuard, mut proto: Proto) {
    let _guard = guard;
    let conn_id = hub.next_conn();
    let (sink, mut stream) = socket.split();
    // Subscribing to the broadcast and reading the market's position under
    // the market lock: every frame after that position will arrive on `rx`.
    let mut rx = {
        let market = hub.market();
        let rx = hub.tx.subscribe();
        proto.connected(&hub, &market);
        Some(rx)
    };
    let rng = SmallRng::seed_from_u64(hub.seed ^ conn_id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut conn = Conn { hub: hub.clone(), out: Out { sink, rng, hub: hub.clone() }, id: conn_id };
    let opened = Instant::now();
    let drop_at = hub.faults.drop_every.and_then(|d| opened.checked_add(d));
    let stall_at = hub.faults.stall_after.and_then(|d| opened.checked_add(d));
    let mut shutdown = hub.shutdown.clone();
    tracing::debug!(conn = conn_id, exchange = %hub.exchange, "websocket session opened");
    let first = proto.opened(&mut conn).await;
    let end = match first {
        Err(end) => end,
        Ok(()) => loop {
            let deadline = proto.deadline();
            let step = tokio::select! {
                _ = hub::signalled(&mut shutdown) => {
                    conn.out.close(1001, "simulator shutting down").await;
                    Err(End::Shutdown)
                }
                _ = sleep_until_opt(drop_at) => {
                    Counters::bump(&hub.counters.drops);
                    // Abrupt: no close frame, the socket is just dropped.
                    Err(End::Dropped)
                }
                _ = sleep_until_opt(stall_at) => {
                    Counters::bump(&hub.counters.stalls);
                    // Stop everything, reading included (reading would answer
                    // pings), but keep the socket open.
                    rx = None;
                    let mut hold = hub.shutdown.clone();
                    tokio::select! {
                        _ = hub::signalled(&mut hold) => {}
                        _ = tokio::time::sleep(STALL_HOLD) => {}
                    }
                    Err(End::Stalled)
                }
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(text))) => proto.request(&mut conn, text.as_str()).await,
                    Some(Ok(Message::Ping(_))) => proto.incoming(&mut conn, Incoming::Ping).await,
                    Some(Ok(Message::Pong(_))) => proto.incoming(&mut conn, Incoming::Pong).await,
                    Some(Ok(Message::Binary(_))) => proto.incoming(&mut conn, Incoming::Binary).await,
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Err(End::Closed),
                },
                batch = recv(&mut rx) => match batch {
                    Ok(batch) => proto.deliver(&mut conn, &batch).await,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::info!(conn = conn_id, missed, "disconnecting a slow websocket client");
                        Counters::bump(&hub.counters.slow_disconnects);
                        conn.out.close(1008, "slow consumer").await;
                        Err(End::Slow)
                    }
                    Err(RecvError::Closed) => {
                        rx = None;
                        Ok(())
                    }
                },
                _ = sleep_until_opt(deadline) => proto.on_deadline(&mut conn).await,
            };
            if let Err(end) = step {
                break end;
            }
        },
    };
    tracing::debug!(conn = conn_id, ?end, "websocket session ended");
}

/// The next batch, or never without a receiver.
async fn recv(rx: &mut Option<broadcast::Receiver<Arc<Batch>>>) -> Result<Arc<Batch>, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
