//! The KuCoin spot dialect: a connect token and server from
//! `POST /api/v1/bullet-public`; the websocket (`?token=…&connectId=…`)
//! greets with `welcome`, answers `ping` with `pong`, acknowledges
//! `subscribe`/`unsubscribe` with `ack`; topics `/market/match:<symbols>`,
//! `/market/level2:<symbols>` (sequences consecutive per symbol, one per
//! change), `/market/ticker:all` and `/market/ticker:<symbols>`; REST
//! symbols, level-2 snapshots and trade histories.
//!
//! As on KuCoin: a connection whose token was not issued gets an `error`
//! (401) and is closed; a client that sends no `ping` for
//! `pingInterval + pingTimeout` is disconnected; a topic naming more than
//! 100 symbols is refused (509). KuCoin sends no book over the websocket:
//! a client buffers increments and joins a REST snapshot to them by
//! sequence.
//!
//! - `wire.rs`: frames and REST bodies.
//! - `request.rs`: client messages and one connection's topics.
//! - `rest.rs`: the REST endpoints and the websocket upgrade.
//!
//! This file holds one connection's session and what the generator and
//! the capture need from the dialect.

pub(crate) mod request;
pub(crate) mod rest;
pub(crate) mod wire;

use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::time::Instant;

use self::request::{Message, Topics, MAX_SYMBOLS_PER_TOPIC};
use super::{ack_fault, Opening};
use crate::{
    hub::{Counters, Frame, FrameKind, Hub},
    market::{Event, EventBody, Market},
    session::{Conn, End},
};

/// The connect id the capture's connection uses.
const CAPTURE_CONNECT_ID: &str = "capture";

/// One KuCoin connection's state.
#[derive(Debug)]
pub(crate) struct Session {
    /// The `token` query parameter, if any.
    token: Option<String>,
    /// The `connectId` query parameter, if any (echoed by `welcome`).
    connect_id: Option<String>,
    topics: Topics,
    /// The last event number passed on the stream.
    pos: u64,
    /// Per product, the last trade id passed (malformed frames name it).
    last_trade: Vec<Option<u64>>,
    /// Per product, the symbol (per-symbol ticker topics).
    symbols: Vec<String>,
    /// The last `ping` (or the connect).
    last_ping: Instant,
    /// How long the client may go without a `ping`.
    grace: Duration,
}

impl Session {
    /// A session connecting with `token` and `connect_id`.
    pub(crate) fn new(token: Option<String>, connect_id: Option<String>) -> Self {
        Session {
            token,
            connect_id,
            topics: Topics::new(0),
            pos: 0,
            last_trade: Vec::new(),
            symbols: Vec::new(),
            last_ping: Instant::now(),
            grace: Duration::MAX,
        }
    }

    /// Reads where the market stands, under its lock, at connect.
    pub(crate) fn connected(&mut self, hub: &Hub, market: &Market) {
        let n = hub.specs.len();
        self.topics = Topics::new(n);
        self.pos = market.seq();
        self.last_trade = (0..n).map(|p| market.last_trade(p).0.map(|t| t.id)).collect();
        self.symbols = hub.ids.clone();
        self.last_ping = Instant::now();
        self.grace = hub.timing.ping_interval + hub.timing.ping_timeout;
    }

    /// The id `welcome` and id-less replies echo, as JSON: the client's
    /// connect id, or this connection's number.
    fn connect_id(&self, conn: &Conn) -> String {
        let id = self.connect_id.clone().unwrap_or_else(|| conn.id.to_string());
        serde_json::to_string(&id).unwrap_or_else(|_| "null".into())
    }

    /// Checks the token, then greets; a token the simulator did not issue
    /// gets an error and the connection is closed, as on KuCoin.
    pub(crate) async fn opened(&mut self, conn: &mut Conn) -> Result<(), End> {
        let id = self.connect_id(conn);
        let valid = self.token.as_deref().is_some_and(|t| conn.hub.tokens().valid(t));
        if !valid {
            tracing::info!(conn = conn.id, "refusing a KuCoin connection without a valid token");
            Counters::bump(&conn.hub.counters.refused);
            let _ = conn.send_control(wire::error(&id, 401, "token is invalid")).await;
            conn.out.close(1008, "token is invalid").await;
            return Err(End::Refused);
        }
        // `welcome` takes the connect id as a string, not as JSON text.
        let plain = self.connect_id.clone().unwrap_or_else(|| conn.id.to_string());
        conn.send_control(wire::welcome(&plain)).await
    }

    /// When the client's keepalive runs out: `pingInterval + pingTimeout`
    /// after its last `ping`.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.last_ping.checked_add(self.grace)
    }

    /// The client sent no `ping` in time: disconnect it.
    pub(crate) async fn on_deadline(&mut self, conn: &mut Conn) -> Result<(), End> {
        tracing::info!(conn = conn.id, "disconnecting a KuCoin client that stopped pinging");
        Counters::bump(&conn.hub.counters.ping_timeouts);
        conn.out.close(1000, "ping timeout").await;
        Err(End::PingTimeout)
    }

    /// Handles a client message.
    pub(crate) async fn request(&mut self, conn: &mut Conn, text: &str) -> Result<(), End> {
        let hub = conn.hub.clone();
        let fallback = self.connect_id(conn);
        let req = match request::parse(text, &fallback, |id| hub.product_index(id)) {
            Ok(req) => req,
            Err(e) => {
                Counters::bump(&hub.counters.request_errors);
                return conn.send_control(wire::error(&e.id, e.code, &e.data)).await;
            }
        };
        let (topic, on, ack) = match req.message {
            Message::Ping => {
                self.last_ping = Instant::now();
                return conn.send_control(wire::reply("pong", &req.id)).await;
            }
            Message::Subscribe { topic, ack } => (topic, true, ack),
            Message::Unsubscribe { topic, ack } => (topic, false, ack),
        };
        let send_ack = ack_fault(&hub).await? && ack;
        {
            // The change takes effect at one event number, under the lock.
            let market = hub.market();
            self.topics.apply(&topic, on, market.seq());
            if on {
                hub.subscribed.send_if_modified(|s| !std::mem::replace(s, true));
            }
        }
        if send_ack {
            Counters::bump(&hub.counters.acks_sent);
            conn.send_control(wire::reply("ack", &req.id)).await?;
        }
        Ok(())
    }

    /// Passes a batch's frames the client has topics for.
    pub(crate) async fn deliver(&mut self, conn: &mut Conn, frames: &[Frame]) -> Result<(), End> {
        let hub = conn.hub.clone();
        let start = self.pos;
        Conn::timed(&hub, async {
            let mut sent = false;
            for f in frames.iter().filter(|f| f.seq > start) {
                self.pos = self.pos.max(f.seq);
                if let (Some(id), Some(last)) = (f.trade_id, self.last_trade.get_mut(f.product)) {
                    *last = Some(id);
                }
                let seen = self.last_trade.get(f.product).copied().flatten().unwrap_or(1);
                let after = |from: Option<u64>| from.is_some_and(|from| f.seq > from);
                let feeds = self.topics.feeds(f.product);
                let mut out: [Option<Utf8Bytes>; 2] = [None, None];
                match f.kind {
                    FrameKind::Match if after(feeds.matches) => out[0] = Some(f.text.clone()),
                    FrameKind::L2Update if after(feeds.level2) => out[0] = Some(f.text.clone()),
                    FrameKind::Ticker => {
                        if after(self.topics.ticker_all()) {
                            out[0] = Some(f.text.clone());
                        }
                        if after(feeds.ticker) {
                            let symbol = self.symbols.get(f.product).map_or("", String::as_str);
                            let topic = format!("/market/ticker:{symbol}");
                            out[1] = Some(Utf8Bytes::from(wire::message(&topic, "trade.ticker", f.payload())));
                        }
                    }
                    _ => {}
                }
                for text in out.into_iter().flatten() {
                    conn.out.data(text, f.product, seen).await?;
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
}

/// Renders one market event as its KuCoin message.
pub(crate) fn render(hub: &Hub, e: &Event) -> Option<Frame> {
    let spec = hub.specs.get(e.product)?;
    let ((text, data_at), kind, trade_id) = match &e.body {
        EventBody::Match(t) => (wire::trade(spec, e.product, t), FrameKind::Match, Some(t.id)),
        // An event without changes covers no sequence: nothing to send.
        EventBody::L2(changes) if changes.is_empty() => return None,
        EventBody::L2(changes) => {
            (wire::level2(spec, changes, e.book_seq + 1 - changes.len() as u64, e.time_ns), FrameKind::L2Update, None)
        }
        EventBody::Ticker(t) => (wire::ticker(spec, t, e.book_seq), FrameKind::Ticker, None),
    };
    Some(Frame { seq: e.seq, product: e.product, product_seq: e.product_seq, trade_id, kind, text: Utf8Bytes::from(text), data_at })
}

/// The opening capture records: the symbol list, a bullet, the connection
/// and its `welcome`, a subscription to every topic (at most 100 symbols
/// each) with its `ack`, then each symbol's REST level-2 snapshot at the
/// market's opening sequence, so the first increment
/// (`sequenceStart` = the snapshot's `sequence` + 1) joins it at once.
pub(crate) fn opening(hub: &Hub, rest_url: &str, time_ns: i64) -> Vec<Opening> {
    let token = hub.tokens().issue(hub.seed);
    let t = hub.timing;
    let mut records = vec![
        Opening::Rest { url: format!("{rest_url}/api/v2/symbols"), body: hub.products_json.clone() },
        Opening::Rest {
            url: format!("{rest_url}/api/v1/bullet-public"),
            body: wire::bullet(&token, &hub.ws_url, t.ping_interval.as_millis(), t.ping_timeout.as_millis()),
        },
        Opening::Open {
            conn: 1,
            url: format!("{}?token={}&connectId={CAPTURE_CONNECT_ID}", hub.ws_url, crate::text::percent_encode(&token)),
        },
        Opening::Ws { conn: 1, data: wire::welcome(CAPTURE_CONNECT_ID) },
    ];
    let mut n = 0;
    let mut subscribe = |topic: String, records: &mut Vec<Opening>| {
        n += 1;
        // The id embeds the topic, as marketpipe's runtime does, so the
        // decoder can tell what each ack acknowledges.
        let id = serde_json::to_string(&format!("{n}{topic}")).unwrap_or_default();
        let topic_json = serde_json::to_string(&topic).unwrap_or_default();
        records.push(Opening::WsOut {
            conn: 1,
            data: format!(r#"{{"id":{id},"type":"subscribe","topic":{topic_json},"privateChannel":false,"response":true}}"#),
        });
        records.push(Opening::Ws { conn: 1, data: wire::reply("ack", &id) });
    };
    for channel in ["/market/match", "/market/level2"] {
        for chunk in hub.ids.chunks(MAX_SYMBOLS_PER_TOPIC) {
            subscribe(format!("{channel}:{}", chunk.join(",")), &mut records);
        }
    }
    subscribe("/market/ticker:all".to_owned(), &mut records);
    let market = hub.market();
    for (p, spec) in hub.specs.iter().enumerate() {
        let (bids, asks) = market.book(p);
        let body = wire::orderbook(spec, market.book_seq(p), time_ns, &bids, &asks);
        records.push(Opening::Rest { url: format!("{rest_url}/api/v1/market/orderbook/level2_100?symbol={}", spec.id), body });
    }
    records
}
