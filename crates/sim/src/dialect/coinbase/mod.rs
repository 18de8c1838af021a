//! The Coinbase Exchange dialect: the websocket feed (`subscribe` →
//! `subscriptions` → `snapshot`, `last_match` → `l2update` / `match` /
//! `ticker` / `heartbeat`) and REST `/products`, `/products/{id}`,
//! `/products/{id}/trades`, all on one port (any websocket path).
//!
//! - `wire.rs`: frames and REST bodies.
//! - `subscribe.rs`: requests and one connection's subscriptions.
//! - `rest.rs`: the REST endpoints.
//!
//! This file holds one connection's session and what the generator and
//! the capture need from the dialect.

pub(crate) mod advanced;
pub(crate) mod rest;
pub(crate) mod subscribe;
pub(crate) mod wire;

use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::time::Instant;

use self::subscribe::{Op, Subscriptions};
use super::{ack_fault, Opening};
use crate::{
    generator::now_ns,
    hub::{Counters, Frame, FrameKind, Hub},
    market::{Event, EventBody, Market},
    session::{Conn, End},
};

/// Heartbeat period, per product.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Where the connection is in the market stream, per product: the last
/// trade id and sequence of the frames it has passed. Heartbeats report
/// these, not the market's latest, so a heartbeat never announces a trade
/// the client has not yet been sent.
#[derive(Debug, Clone, Copy)]
struct Position {
    last_trade_id: Option<u64>,
    sequence: u64,
}

/// One Coinbase connection's state.
#[derive(Debug)]
pub(crate) struct Session {
    subs: Subscriptions,
    /// The last event number passed on the stream.
    pos: u64,
    positions: Vec<Position>,
    /// When the next round of heartbeats is due.
    next_heartbeat: Instant,
}

impl Session {
    /// A session for `products` products, not yet connected.
    pub(crate) fn new(products: usize) -> Self {
        Session { subs: Subscriptions::new(products), pos: 0, positions: Vec::new(), next_heartbeat: Instant::now() }
    }

    /// Reads where the market stands, under its lock, at connect.
    pub(crate) fn connected(&mut self, hub: &Hub, market: &Market) {
        self.positions = (0..hub.specs.len())
            .map(|p| {
                let (last, sequence) = market.last_trade(p);
                Position { last_trade_id: last.map(|t| t.id), sequence }
            })
            .collect();
        self.pos = market.seq();
        self.next_heartbeat = Instant::now();
    }

    /// Heartbeats are due only while some product is subscribed to them.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.subs.any_heartbeat().then_some(self.next_heartbeat)
    }

    /// One heartbeat per product subscribed to the channel.
    pub(crate) async fn on_deadline(&mut self, conn: &mut Conn) -> Result<(), End> {
        // Like a tokio interval with `MissedTickBehavior::Delay`: on time,
        // the next round is a period after this one's slot; late (the
        // channel was just subscribed, or the task was starved), a period
        // from now, never a burst.
        let now = Instant::now();
        self.next_heartbeat =
            if now > self.next_heartbeat + Duration::from_millis(5) { now + HEARTBEAT } else { self.next_heartbeat + HEARTBEAT };
        let hub = conn.hub.clone();
        let now = now_ns();
        Conn::timed(&hub, async {
            for (p, spec) in hub.specs.iter().enumerate() {
                let Some(pos) = self.positions.get(p).copied() else { continue };
                if self.subs.feeds(p).heartbeat {
                    let text = wire::heartbeat(spec, pos.last_trade_id, pos.sequence, now);
                    conn.out.data(text.into(), p, pos.last_trade_id.unwrap_or(1)).await?;
                }
            }
            conn.out.flush().await
        })
        .await
    }

    /// Passes a batch's frames the client subscribed to.
    pub(crate) async fn deliver(&mut self, conn: &mut Conn, frames: &[Frame]) -> Result<(), End> {
        let hub = conn.hub.clone();
        Conn::timed(&hub, async {
            let mut sent = false;
            for f in frames {
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
                    // Not rendered in this dialect.
                    FrameKind::BookTicker | FrameKind::MiniTickers => None,
                };
                if from.is_some_and(|from| f.seq > from) {
                    conn.out.data(f.text.clone(), f.product, seen).await?;
                    sent = true;
                }
            }
            if sent {
                conn.out.flush().await?;
            }
            Ok(())
        })
        .await
    }

    /// Handles a client frame: `subscribe`, `unsubscribe`, or an error.
    pub(crate) async fn request(&mut self, conn: &mut Conn, text: &str) -> Result<(), End> {
        let hub = conn.hub.clone();
        let req = match subscribe::parse(text, |id| hub.product_index(id)) {
            Ok(req) => req,
            Err(reason) => {
                Counters::bump(&hub.counters.request_errors);
                let msg = if text.contains("unsubscribe") { "Failed to unsubscribe" } else { "Failed to subscribe" };
                return conn.send_control(wire::error(msg, &reason)).await;
            }
        };
        let send_ack = ack_fault(&hub).await?;
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
        let ack = send_ack.then(|| wire::subscriptions(&self.subs.listing(&hub.ids)));
        Conn::timed(&hub, async {
            if let Some(ack) = ack {
                Counters::bump(&hub.counters.acks_sent);
                conn.out.control(ack).await?;
            }
            if req.op == Op::Subscribe {
                for (p, text) in snapshots.into_iter().chain(last_matches) {
                    let seen = self.positions.get(p).and_then(|pos| pos.last_trade_id).unwrap_or(1);
                    conn.out.data(text.into(), p, seen).await?;
                }
            }
            conn.out.flush().await
        })
        .await
    }
}

/// Renders one market event as its Coinbase frame.
pub(crate) fn render(hub: &Hub, e: &Event) -> Option<Frame> {
    let spec = hub.specs.get(e.product)?;
    let (kind, text, trade_id) = match &e.body {
        EventBody::L2(changes) => (FrameKind::L2Update, wire::l2update(spec, changes, e.time_ns), None),
        EventBody::Match(t) => (FrameKind::Match, wire::trade(spec, e.product, t, e.product_seq, false), Some(t.id)),
        EventBody::Ticker(t) => (FrameKind::Ticker, wire::ticker(spec, t, e.product_seq), None),
    };
    Some(Frame { seq: e.seq, product: e.product, product_seq: e.product_seq, trade_id, kind, text: Utf8Bytes::from(text), data_at: 0 })
}

/// The opening capture records for a market that has not moved yet: the
/// product list, the connection, the subscription to everything and its
/// acknowledgement, and one snapshot per product.
pub(crate) fn opening(hub: &Hub, rest_url: &str, time_ns: i64) -> Vec<Opening> {
    let market = hub.market();
    let snapshots: Vec<String> = hub
        .specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let (bids, asks) = market.book(i);
            wire::snapshot(spec, &bids, &asks, time_ns)
        })
        .collect();
    drop(market);
    let ids: Vec<&str> = hub.ids.iter().map(String::as_str).collect();
    let channels = ["level2_batch", "matches", "ticker"];
    let subscribe = format!(
        r#"{{"type":"subscribe","product_ids":{},"channels":{}}}"#,
        serde_json::to_string(&ids).unwrap_or_default(),
        serde_json::to_string(&channels).unwrap_or_default()
    );
    let ack = wire::subscriptions(&channels.iter().map(|c| (*c, ids.clone())).collect::<Vec<_>>());
    let mut records = vec![
        Opening::Rest { url: format!("{rest_url}/products"), body: hub.products_json.clone() },
        Opening::Open { conn: 1, url: hub.ws_url.clone() },
        Opening::WsOut { conn: 1, data: subscribe },
        Opening::Ws { conn: 1, data: ack },
    ];
    records.extend(snapshots.into_iter().map(|data| Opening::Ws { conn: 1, data }));
    records
}
