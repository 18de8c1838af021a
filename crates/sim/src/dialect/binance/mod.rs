//! The Binance spot dialect: combined streams (`/stream?streams=a/b/c`)
//! and raw streams (`/ws`, `/ws/<stream>`), live `SUBSCRIBE` /
//! `UNSUBSCRIBE` / `LIST_SUBSCRIPTIONS` / `SET_PROPERTY` / `GET_PROPERTY`,
//! and REST `exchangeInfo`, `depth`, `aggTrades`.
//!
//! Streams: `<symbol>@aggTrade`, `<symbol>@depth@100ms`, `<symbol>@depth`
//! (`depthUpdate`, update ids `U`..`u` consecutive per symbol),
//! `<symbol>@bookTicker` (on every change of the best bid or ask) and
//! `!miniTicker@arr` (every symbol, once per second of market). Binance
//! sends no book over the websocket: a client buffers `depthUpdate`s and
//! joins a REST `depth` snapshot to them by update id.
//!
//! Limits, as on Binance: more than 5 incoming messages (text, Ping or
//! Pong) in a second disconnects; more than 1024 streams on a connection is
//! refused; the server pings every `server_ping` and disconnects a client
//! that has not ponged within three periods.
//!
//! - `wire.rs`: frames and REST bodies.
//! - `request.rs`: requests, stream names, one connection's streams.
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

use self::request::{Method, Streams, Target, MAX_STREAMS, MINI_TICKER_ARR};
use super::{ack_fault, Opening, RateLimit, StatsMark};
use crate::{
    config::BINANCE_PONG_PERIODS,
    hub::{Counters, Frame, FrameKind, Hub},
    market::{Event, EventBody, Market, Top},
    session::{Conn, End, Incoming},
    text::millis,
};

/// Incoming messages allowed per [`RATE_WINDOW`] (Binance: 5 a second).
const RATE_MAX: usize = 5;
/// The rate limit's window.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Products per connection in a capture: 3 streams each (aggTrade, depth,
/// bookTicker) stays under Binance's 1024 streams per connection.
const CAPTURE_PRODUCTS_PER_CONN: usize = 300;

/// The payload of the server's Pings.
const PING_PAYLOAD: &[u8] = b"marketpipe-sim";

/// One Binance connection's state.
#[derive(Debug)]
pub(crate) struct Session {
    streams: Streams,
    /// Streams named in the connect URL, applied at connect.
    url_streams: Vec<(String, Target)>,
    /// Frames wrapped as `{"stream":…,"data":…}` (the combined endpoint)
    /// or bare payloads (`/ws`); `SET_PROPERTY combined` switches.
    combined: bool,
    /// The last event number passed on the stream.
    pos: u64,
    /// Per product, the last trade id passed (malformed frames name it).
    last_trade: Vec<Option<u64>>,
    /// Per product, the lower-case symbol (stream names).
    lower: Vec<String>,
    limit: RateLimit,
    next_ping: Instant,
    /// When an unanswered ping's grace ends.
    pong_due: Option<Instant>,
}

impl Session {
    /// A session for `products` products that connected with `url_streams`
    /// on the combined (`/stream`) or raw (`/ws`) endpoint.
    pub(crate) fn new(products: usize, url_streams: Vec<(String, Target)>, combined: bool) -> Self {
        Session {
            streams: Streams::new(products),
            url_streams,
            combined,
            pos: 0,
            last_trade: Vec::new(),
            lower: Vec::new(),
            limit: RateLimit::new(RATE_MAX, RATE_WINDOW),
            next_ping: Instant::now(),
            pong_due: None,
        }
    }

    /// Reads where the market stands, under its lock, at connect; streams
    /// named in the URL take effect here.
    pub(crate) fn connected(&mut self, hub: &Hub, market: &Market) {
        self.pos = market.seq();
        self.last_trade = (0..hub.specs.len()).map(|p| market.last_trade(p).0.map(|t| t.id)).collect();
        self.lower = hub.ids.iter().map(|id| id.to_ascii_lowercase()).collect();
        self.next_ping = Instant::now() + hub.timing.server_ping;
        if !self.url_streams.is_empty() {
            self.streams.subscribe(std::mem::take(&mut self.url_streams), self.pos);
            // Under the market lock, like a SUBSCRIBE.
            hub.subscribed.send_if_modified(|s| !std::mem::replace(s, true));
        }
    }

    /// The next server ping, or the end of an unanswered one's grace.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        Some(self.pong_due.map_or(self.next_ping, |due| due.min(self.next_ping)))
    }

    /// Pings, or disconnects a client that did not answer in time.
    pub(crate) async fn on_deadline(&mut self, conn: &mut Conn) -> Result<(), End> {
        let now = Instant::now();
        if self.pong_due.is_some_and(|due| now >= due) {
            Counters::bump(&conn.hub.counters.ping_timeouts);
            conn.out.close(1008, "pong timeout").await;
            return Err(End::PingTimeout);
        }
        if now >= self.next_ping {
            let period = conn.hub.timing.server_ping;
            self.next_ping = now + period;
            self.pong_due.get_or_insert(now + period * BINANCE_PONG_PERIODS);
            let hub = conn.hub.clone();
            Conn::timed(&hub, async {
                conn.out.ping(PING_PAYLOAD).await?;
                conn.out.flush().await
            })
            .await?;
        }
        Ok(())
    }

    /// Counts an incoming message against the rate limit.
    async fn count(&mut self, conn: &mut Conn) -> Result<(), End> {
        if self.limit.allow(Instant::now()) {
            return Ok(());
        }
        tracing::info!(conn = conn.id, "disconnecting a Binance client over 5 messages a second");
        Counters::bump(&conn.hub.counters.rate_limited);
        conn.out.close(1008, "too many requests").await;
        Err(End::RateLimited)
    }

    /// A Ping, Pong or binary frame: counted; a Pong answers our ping.
    pub(crate) async fn incoming(&mut self, conn: &mut Conn, what: Incoming) -> Result<(), End> {
        self.count(conn).await?;
        if what == Incoming::Pong {
            self.pong_due = None;
        }
        Ok(())
    }

    /// Handles a request.
    pub(crate) async fn request(&mut self, conn: &mut Conn, text: &str) -> Result<(), End> {
        self.count(conn).await?;
        let hub = conn.hub.clone();
        let req = match request::parse(text) {
            Ok(req) => req,
            Err(e) => {
                Counters::bump(&hub.counters.request_errors);
                return conn.send_control(wire::ws_error(e.code, &e.msg, &e.id)).await;
            }
        };
        let (names, subscribe) = match &req.method {
            Method::Subscribe(names) => (names, true),
            Method::Unsubscribe(names) => (names, false),
            Method::List => return conn.send_control(wire::reply(&wire::stream_list(self.streams.names()), &req.id)).await,
            Method::GetCombined => return conn.send_control(wire::reply(if self.combined { "true" } else { "false" }, &req.id)).await,
            Method::SetCombined(on) => {
                self.combined = *on;
                return conn.send_control(wire::reply("null", &req.id)).await;
            }
        };
        let parsed: Result<Vec<_>, String> = names.iter().map(|n| request::parse_stream(n, |id| hub.product_index(id))).collect();
        let parsed = match parsed {
            Ok(p) => p,
            Err(msg) => {
                Counters::bump(&hub.counters.request_errors);
                return conn.send_control(wire::ws_error(2, &msg, &req.id)).await;
            }
        };
        if subscribe && self.streams.len() + self.streams.new_count(&parsed) > MAX_STREAMS {
            Counters::bump(&hub.counters.request_errors);
            let msg = format!("Invalid request: too many streams; at most {MAX_STREAMS} per connection");
            return conn.send_control(wire::ws_error(2, &msg, &req.id)).await;
        }
        let send_ack = ack_fault(&hub).await?;
        {
            // The change takes effect at one event number, under the lock.
            let market = hub.market();
            if subscribe {
                self.streams.subscribe(parsed, market.seq());
                hub.subscribed.send_if_modified(|s| !std::mem::replace(s, true));
            } else {
                self.streams.unsubscribe(&parsed);
            }
        }
        if send_ack {
            Counters::bump(&hub.counters.acks_sent);
            conn.send_control(wire::reply("null", &req.id)).await?;
        }
        Ok(())
    }

    /// The text of `f` for this connection: as rendered (combined, its own
    /// stream), rewrapped for another stream name, or bare.
    fn text(&self, f: &Frame, stream: Option<&str>) -> Utf8Bytes {
        match (self.combined, stream) {
            (true, None) => f.text.clone(),
            (true, Some(name)) => Utf8Bytes::from(wire::wrap(name, f.payload()).0),
            (false, _) => Utf8Bytes::from(f.payload().to_owned()),
        }
    }

    /// Passes a batch's frames the client has streams for.
    pub(crate) async fn deliver(&mut self, conn: &mut Conn, frames: &[Frame]) -> Result<(), End> {
        let hub = conn.hub.clone();
        // One event can render several frames (depthUpdate + bookTicker),
        // all with its number: everything after the position at the start
        // of the batch is new.
        let start = self.pos;
        Conn::timed(&hub, async {
            let mut sent = false;
            for f in frames.iter().filter(|f| f.seq > start) {
                self.pos = self.pos.max(f.seq);
                let after = |from: Option<u64>| from.is_some_and(|from| f.seq > from);
                if f.kind == FrameKind::MiniTickers {
                    if after(self.streams.mini_tickers()) {
                        conn.out.data(self.text(f, None), f.product, 1).await?;
                        sent = true;
                    }
                    continue;
                }
                if let (Some(id), Some(last)) = (f.trade_id, self.last_trade.get_mut(f.product)) {
                    *last = Some(id);
                }
                let seen = self.last_trade.get(f.product).copied().flatten().unwrap_or(1);
                let feeds = self.streams.feeds(f.product);
                let mut out: [Option<Utf8Bytes>; 2] = [None, None];
                match f.kind {
                    FrameKind::Match if after(feeds.agg_trade) => out[0] = Some(self.text(f, None)),
                    FrameKind::BookTicker if after(feeds.book_ticker) => out[0] = Some(self.text(f, None)),
                    FrameKind::L2Update => {
                        if after(feeds.depth_100ms) {
                            out[0] = Some(self.text(f, None));
                        }
                        if after(feeds.depth) {
                            let name = wire::stream(self.lower.get(f.product).map_or("", String::as_str), "depth");
                            out[1] = Some(self.text(f, Some(&name)));
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

/// Renders one market event: `aggTrade` for a trade; `depthUpdate` for
/// book changes, and `bookTicker` when they moved the top of the book
/// (`top` is the product's last rendered top, updated). The ticker after a
/// trade has no per-trade counterpart on Binance and renders nothing.
pub(crate) fn render(hub: &Hub, lower: &str, top: Option<&mut Top>, e: &Event, frames: &mut Vec<Frame>) {
    let Some(spec) = hub.specs.get(e.product) else { return };
    let event_ms = millis(e.time_ns);
    let frame = |kind, stream: &str, payload: String, trade_id| {
        let (text, data_at) = wire::wrap(stream, &payload);
        Frame { seq: e.seq, product: e.product, product_seq: e.product_seq, trade_id, kind, text: Utf8Bytes::from(text), data_at }
    };
    match &e.body {
        EventBody::Match(t) => {
            frames.push(frame(FrameKind::Match, &wire::stream(lower, "aggTrade"), wire::agg_trade(spec, t, event_ms), Some(t.id)));
        }
        // An event without changes moves no update id: nothing to send.
        EventBody::L2(changes) if !changes.is_empty() => {
            let first = e.book_seq + 1 - changes.len() as u64;
            let payload = wire::depth_update(spec, changes, first, e.book_seq, event_ms);
            frames.push(frame(FrameKind::L2Update, &wire::stream(lower, "depth@100ms"), payload, None));
            if let Some(top) = top.filter(|t| **t != e.top) {
                *top = e.top;
                let payload = wire::book_ticker(spec, &e.top, e.book_seq);
                frames.push(frame(FrameKind::BookTicker, &wire::stream(lower, "bookTicker"), payload, None));
            }
        }
        EventBody::L2(_) | EventBody::Ticker(_) => {}
    }
}

/// Renders `!miniTicker@arr` at a stats mark.
pub(crate) fn render_stats(hub: &Hub, mark: &StatsMark, time_ns: i64) -> Option<Frame> {
    let payload = wire::mini_tickers(hub.specs.iter().zip(&mark.stats), millis(time_ns));
    let (text, data_at) = wire::wrap(MINI_TICKER_ARR, &payload);
    Some(Frame {
        seq: mark.seq,
        product: usize::MAX,
        product_seq: 0,
        trade_id: None,
        kind: FrameKind::MiniTickers,
        text: Utf8Bytes::from(text),
        data_at,
    })
}

/// The capture connection of product `p`'s streams.
pub(crate) fn capture_conn(p: usize) -> u64 {
    if p == usize::MAX {
        return 1;
    }
    1 + (p / CAPTURE_PRODUCTS_PER_CONN) as u64
}

/// The opening capture records: exchangeInfo, the connection(s) with every
/// stream in their URLs, then each symbol's REST depth snapshot at the
/// market's opening update id, so the first `depthUpdate` (`U` = the
/// snapshot's `lastUpdateId` + 1) joins it at once.
pub(crate) fn opening(hub: &Hub, rest_url: &str, time_ns: i64) -> Vec<Opening> {
    let mut records = vec![Opening::Rest {
        url: format!("{rest_url}/api/v3/exchangeInfo"),
        body: wire::exchange_info(hub.specs.iter(), millis(time_ns)),
    }];
    let lower: Vec<String> = hub.ids.iter().map(|id| id.to_ascii_lowercase()).collect();
    for (chunk, symbols) in lower.chunks(CAPTURE_PRODUCTS_PER_CONN).enumerate() {
        let mut streams: Vec<String> = Vec::with_capacity(3 * symbols.len() + 1);
        if chunk == 0 {
            streams.push(MINI_TICKER_ARR.to_owned());
        }
        for s in symbols {
            streams.extend(["aggTrade", "depth@100ms", "bookTicker"].map(|c| wire::stream(s, c)));
        }
        records.push(Opening::Open { conn: 1 + chunk as u64, url: format!("{}?streams={}", hub.ws_url, streams.join("/")) });
    }
    let market = hub.market();
    for (p, spec) in hub.specs.iter().enumerate() {
        let (bids, asks) = market.book(p);
        let body = wire::depth_snapshot(spec, market.book_seq(p), &bids, &asks);
        records.push(Opening::Rest { url: format!("{rest_url}/api/v3/depth?symbol={}&limit=1000", spec.id), body });
    }
    records
}
