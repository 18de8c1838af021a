//! One websocket connection: subscribe handling, market frames routed by
//! subscription, heartbeats, and this connection's faults.
//!
//! Memory per connection is bounded by the broadcast buffer: a client that
//! falls more than `client_buffer` batches behind is disconnected, as
//! Coinbase disconnects slow consumers, and a send that cannot complete
//! within [`SEND_TIMEOUT`] (a client that stopped reading) ends it too.

use std::{sync::Arc, time::Duration};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{stream::SplitSink, SinkExt, StreamExt};
use rand::{rngs::SmallRng, Rng, SeedableRng};
use tokio::{
    sync::broadcast::{self, error::RecvError},
    time::{Instant, MissedTickBehavior},
};

use crate::{
    config::{AckFault, STALL_HOLD},
    generator::{now_ns, sleep_until_opt},
    hub::{self, Batch, Counters, FrameKind, Hub, SessionGuard},
    subscribe::{self, Op, Subscriptions},
    wire,
};

/// Longest a send (or a flush of a batch) may take before the client is
/// deemed to have stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Heartbeat period, per product.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Largest client message accepted; subscribe requests are tiny.
pub(crate) const MAX_CLIENT_MESSAGE: usize = 64 << 10;

/// Why a session ended (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
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
}

/// Where the connection is in the market stream, per product: the last
/// trade id and sequence of the frames it has passed. Heartbeats report
/// these, not the market's latest, so a heartbeat never announces a trade
/// the client has not yet been sent.
#[derive(Debug, Clone, Copy)]
struct Position {
    last_trade_id: Option<u64>,
    sequence: u64,
}

/// The sending half, with this connection's fault randomness.
struct Out {
    sink: SplitSink<WebSocket, Message>,
    rng: SmallRng,
    hub: Arc<Hub>,
}

impl Out {
    /// Queues a control frame (ack, error): never duplicated or garbled.
    async fn control(&mut self, text: String) -> Result<(), axum::Error> {
        Counters::bump(&self.hub.counters.frames_sent);
        self.sink.feed(Message::Text(text.into())).await
    }

    /// Queues a data frame, maybe twice, maybe followed by a malformed one.
    async fn data(&mut self, text: Utf8Bytes, product: usize, seen_trade_id: u64) -> Result<(), axum::Error> {
        let faults = &self.hub.faults;
        let (dup, mal) = (faults.duplicate_rate, faults.malformed_rate);
        let duplicate = dup > 0.0 && self.rng.random_bool(dup);
        let malformed = mal > 0.0 && self.rng.random_bool(mal);
        let variant = if malformed { self.rng.random_range(0..4) } else { 0 };
        let extra = match self.hub.specs.get(product) {
            Some(spec) if malformed => Some(wire::malformed(variant, text.as_str(), spec, seen_trade_id, now_ns())),
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

    async fn flush(&mut self) -> Result<(), axum::Error> {
        self.sink.flush().await
    }

    /// A close frame, best effort.
    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
        let _ = tokio::time::timeout(Duration::from_secs(1), self.sink.send(Message::Close(Some(frame)))).await;
    }
}

/// A session's state apart from the socket's reading half and its timers.
struct Session {
    hub: Arc<Hub>,
    out: Out,
    subs: Subscriptions,
    /// The last event number passed on the stream.
    pos: u64,
    positions: Vec<Position>,
}

/// Serves one connection until it ends.
pub(crate) async fn run(hub: Arc<Hub>, socket: WebSocket, guard: SessionGuard) {
    let _guard = guard;
    let conn = hub.next_conn();
    let (sink, mut stream) = socket.split();
    // Subscribing to the broadcast and reading the market's position under
    // the market lock: every frame after `pos` will arrive on `rx`.
    let (mut rx, pos, positions) = {
        let market = hub.market();
        let positions = (0..hub.specs.len())
            .map(|p| {
                let (last, sequence) = market.last_trade(p);
                Position { last_trade_id: last.map(|t| t.id), sequence }
            })
            .collect();
        (Some(hub.tx.subscribe()), market.seq(), positions)
    };
    let rng = SmallRng::seed_from_u64(hub.seed ^ conn.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut session =
        Session { hub: hub.clone(), out: Out { sink, rng, hub: hub.clone() }, subs: Subscriptions::new(hub.specs.len()), pos, positions };
    let opened = Instant::now();
    let drop_at = hub.faults.drop_every.and_then(|d| opened.checked_add(d));
    let stall_at = hub.faults.stall_after.and_then(|d| opened.checked_add(d));
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut shutdown = hub.shutdown.clone();
    tracing::debug!(conn, "websocket session opened");
    let end = loop {
        let step = tokio::select! {
            _ = hub::signalled(&mut shutdown) => {
                session.out.close(1001, "simulator shutting down").await;
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
                Some(Ok(Message::Text(text))) => session.request(text.as_str()).await,
                // Pings are answered by the websocket layer; binary frames mean nothing here.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_))) => Ok(()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Err(End::Closed),
            },
            batch = recv(&mut rx) => match batch {
                Ok(batch) => session.deliver(&batch).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::info!(conn, missed, "disconnecting a slow websocket client");
                    Counters::bump(&hub.counters.slow_disconnects);
                    session.out.close(1008, "slow consumer").await;
                    Err(End::Slow)
                }
                Err(RecvError::Closed) => {
                    rx = None;
                    Ok(())
                }
            },
            _ = heartbeat.tick(), if session.subs.any_heartbeat() => session.heartbeats().await,
        };
        if let Err(end) = step {
            break end;
        }
    };
    tracing::debug!(conn, ?end, "websocket session ended");
}

/// The next batch, or never without a receiver.
async fn recv(rx: &mut Option<broadcast::Receiver<Arc<Batch>>>) -> Result<Arc<Batch>, RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Runs a send operation under [`SEND_TIMEOUT`]; failures end the session.
async fn timed<F: std::future::Future<Output = Result<(), axum::Error>>>(hub: &Hub, f: F) -> Result<(), End> {
    match tokio::time::timeout(SEND_TIMEOUT, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Closed),
        Err(_) => {
            Counters::bump(&hub.counters.slow_disconnects);
            Err(End::Slow)
        }
    }
}

impl Session {
    /// Passes a batch's frames the client subscribed to.
    async fn deliver(&mut self, batch: &Batch) -> Result<(), End> {
        let hub = self.hub.clone();
        timed(&hub, async {
            let mut sent = false;
            for f in &batch.frames {
                if f.seq <= self.pos {
                    continue;
                }
                self.pos = f.seq;
                let Some(position) = self.positions.get_mut(f.product) else { continue };
                position.sequence = f.product_seq;
                if f.trade_id.is_some() {
                    position.last_trade_id = f.trade_id;
                }
                let seen = position.last_trade_id.unwrap_or(1);
                let feeds = self.subs.feeds(f.product);
                let from = match f.kind {
                    FrameKind::L2Update => feeds.book_from,
                    FrameKind::Match => feeds.matches_from,
                    FrameKind::Ticker => feeds.ticker_from,
                };
                if from.is_some_and(|from| f.seq > from) {
                    self.out.data(f.text.clone(), f.product, seen).await?;
                    sent = true;
                }
            }
            if sent {
                self.out.flush().await?;
            }
            Ok(())
        })
        .await
    }

    /// One heartbeat per product subscribed to the channel.
    async fn heartbeats(&mut self) -> Result<(), End> {
        let hub = self.hub.clone();
        let now = now_ns();
        timed(&hub, async {
            for (p, spec) in hub.specs.iter().enumerate() {
                let Some(pos) = self.positions.get(p).copied() else { continue };
                if self.subs.feeds(p).heartbeat {
                    let text = wire::heartbeat(spec, pos.last_trade_id, pos.sequence, now);
                    self.out.data(text.into(), p, pos.last_trade_id.unwrap_or(1)).await?;
                }
            }
            self.out.flush().await
        })
        .await
    }

    /// Handles a client frame: `subscribe`, `unsubscribe`, or an error.
    async fn request(&mut self, text: &str) -> Result<(), End> {
        let hub = self.hub.clone();
        let req = match subscribe::parse(text, |id| hub.product_index(id)) {
            Ok(req) => req,
            Err(reason) => {
                Counters::bump(&hub.counters.request_errors);
                let msg = if text.contains("unsubscribe") { "Failed to unsubscribe" } else { "Failed to subscribe" };
                return timed(&hub, async {
                    self.out.control(wire::error(msg, &reason)).await?;
                    self.out.flush().await
                })
                .await;
            }
        };
        match hub.faults.ack {
            AckFault::Late(delay) => {
                Counters::bump(&hub.counters.acks_delayed);
                let mut shutdown = hub.shutdown.clone();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = hub::signalled(&mut shutdown) => return Err(End::Shutdown),
                }
            }
            AckFault::Missing => Counters::bump(&hub.counters.acks_withheld),
            AckFault::Normal => {}
        }
        // The subscription takes effect, and its snapshots are read, at one
        // event number under the market lock.
        let (snapshots, last_matches) = {
            let market = hub.market();
            let seq = market.seq();
            let (books, matches) = self.subs.apply(&req, seq);
            let now = now_ns();
            let snapshots: Vec<(usize, String)> = books
                .into_iter()
                .filter_map(|p| {
                    let (bids, asks) = market.book(p);
                    Some((p, wire::snapshot(hub.specs.get(p)?, &bids, &asks, now)))
                })
                .collect();
            let last_matches: Vec<(usize, String)> = matches
                .into_iter()
                .filter_map(|p| {
                    let (last, sequence) = market.last_trade(p);
                    Some((p, wire::trade(hub.specs.get(p)?, p, &last?, sequence, true)))
                })
                .collect();
            if req.op == Op::Subscribe {
                // Under the market lock: no market event falls between this
                // subscription's snapshots and a waiting generator's start.
                hub.subscribed.send_if_modified(|s| !std::mem::replace(s, true));
            }
            (snapshots, last_matches)
        };
        let ack = (hub.faults.ack != AckFault::Missing).then(|| wire::subscriptions(&self.subs.listing(&hub.ids)));
        timed(&hub, async {
            if let Some(ack) = ack {
                Counters::bump(&hub.counters.acks_sent);
                self.out.control(ack).await?;
            }
            if req.op == Op::Subscribe {
                for (p, text) in snapshots.into_iter().chain(last_matches) {
                    let seen = self.positions.get(p).and_then(|pos| pos.last_trade_id).unwrap_or(1);
                    self.out.data(text.into(), p, seen).await?;
                }
            }
            self.out.flush().await
        })
        .await
    }
}
