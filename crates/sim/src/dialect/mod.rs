//! Exchange dialects: how the one simulated market is spoken.
//!
//! The market model (`market.rs`), its pacing (`generator.rs`), the
//! connection loop and the fault switches (`session.rs`) are shared; a
//! dialect supplies what differs between exchanges:
//!
//! - names: products as the exchange names them (`products.rs`);
//! - rendering: market events as the exchange's frames ([`Renderer`]);
//! - REST: the exchange's endpoints ([`router`]);
//! - sessions: what client requests mean, which frames go to whom, and the
//!   exchange's keepalive and limits ([`Proto`]);
//! - captures: the records a client subscribed to everything would have
//!   made before the first market frame ([`opening`]).
//!
//! One folder per exchange: `coinbase/`, `binance/`, `kucoin/`.

pub(crate) mod binance;
pub(crate) mod coinbase;
pub(crate) mod kucoin;

use std::{collections::VecDeque, sync::Arc, time::Duration};

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use marketpipe_model::Exchange;
use tokio::time::Instant;

use crate::{
    config::AckFault,
    hub::{self, Batch, Counters, Frame, Hub},
    market::{Event, Market, Stats, Top},
    products::ProductSpec,
    session::{Conn, End, Incoming},
};

/// One opening record of a capture (see [`opening`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Opening {
    /// A REST response.
    Rest {
        /// The request URL.
        url: String,
        /// The body.
        body: String,
    },
    /// A websocket connection opened.
    Open {
        /// Connection id.
        conn: u64,
        /// Its URL.
        url: String,
    },
    /// A frame the client sent.
    WsOut {
        /// Connection id.
        conn: u64,
        /// The frame.
        data: String,
    },
    /// A frame the client received.
    Ws {
        /// Connection id.
        conn: u64,
        /// The frame.
        data: String,
    },
}

/// The capture records that precede the first market frame, for a market
/// that has not moved yet: the product list, the connection(s), the
/// subscription to everything, and what a client needs to build the books
/// (Coinbase: websocket snapshots; Binance and KuCoin: REST snapshots,
/// placed where their decoders' sync joins them to the first update).
pub(crate) fn opening(hub: &Hub, rest_url: &str, time_ns: i64) -> Vec<Opening> {
    match hub.exchange {
        Exchange::Binance => binance::opening(hub, rest_url, time_ns),
        Exchange::Kucoin => kucoin::opening(hub, rest_url, time_ns),
        Exchange::Coinbase | Exchange::CoinbaseAdvanced => coinbase::opening(hub, rest_url, time_ns),
    }
}

/// The connection a market frame is recorded on in a capture.
pub(crate) fn capture_conn(exchange: Exchange, frame: &Frame) -> u64 {
    match exchange {
        Exchange::Binance => binance::capture_conn(frame.product),
        _ => 1,
    }
}

/// The product list REST body, rendered once at start.
pub(crate) fn products_json(exchange: Exchange, specs: &[ProductSpec]) -> String {
    match exchange {
        Exchange::Binance => String::new(),
        Exchange::Kucoin => kucoin::wire::symbols(specs),
        Exchange::Coinbase | Exchange::CoinbaseAdvanced => coinbase::wire::products_json(specs),
    }
}

/// The HTTP service: the dialect's REST endpoints, and its websocket.
pub(crate) fn router(hub: Arc<Hub>) -> Router {
    match hub.exchange {
        Exchange::Binance => binance::rest::router(hub),
        Exchange::Kucoin => kucoin::rest::router(hub),
        Exchange::Coinbase | Exchange::CoinbaseAdvanced => coinbase::rest::router(hub),
    }
}

/// A malformed frame to send beside `original` (see
/// [`crate::Faults::malformed_rate`]): `variant` picks the kind, and any
/// trade id in it is `trade_id`, one the client has already seen.
pub(crate) fn malformed(exchange: Exchange, variant: u32, original: &str, spec: &ProductSpec, trade_id: u64, time_ns: i64) -> String {
    match exchange {
        Exchange::Binance => binance::wire::malformed(variant, original, spec, trade_id, time_ns),
        Exchange::Kucoin => kucoin::wire::malformed(variant, original, spec, trade_id, time_ns),
        Exchange::Coinbase | Exchange::CoinbaseAdvanced => coinbase::wire::malformed(variant, original, spec, trade_id, time_ns),
    }
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// Applies the ack fault before a subscription takes effect: waits out a
/// late ack (the connection sends nothing meanwhile), counts a withheld
/// one. Returns whether to send the acknowledgement.
pub(crate) async fn ack_fault(hub: &Hub) -> Result<bool, End> {
    match hub.faults.ack {
        AckFault::Late(delay) => {
            Counters::bump(&hub.counters.acks_delayed);
            let mut shutdown = hub.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => Ok(true),
                _ = hub::signalled(&mut shutdown) => Err(End::Shutdown),
            }
        }
        AckFault::Missing => {
            Counters::bump(&hub.counters.acks_withheld);
            Ok(false)
        }
        AckFault::Normal => Ok(true),
    }
}

/// Every product's statistics at a point in the market, for Binance's
/// once-a-second `!miniTicker@arr`.
#[derive(Debug, Clone)]
pub(crate) struct StatsMark {
    /// Index, in the batch's events, of the event it follows.
    pub(crate) after: usize,
    /// The market's event number at that point.
    pub(crate) seq: u64,
    /// Per product.
    pub(crate) stats: Vec<Stats>,
}

/// Turns market events into a dialect's frames. Holds what rendering needs
/// to remember between batches (Binance pushes `bookTicker` only when the
/// top of the book changed).
#[derive(Debug)]
pub(crate) struct Renderer {
    exchange: Exchange,
    /// Per product, the top of book last rendered.
    tops: Vec<Top>,
    /// Per product, the lower-case symbol (Binance stream names).
    lower: Vec<String>,
}

impl Renderer {
    /// A renderer for the market as it stands.
    pub(crate) fn new(hub: &Hub, market: &Market) -> Self {
        Renderer {
            exchange: hub.exchange,
            tops: (0..hub.specs.len()).map(|p| market.top(p)).collect(),
            lower: hub.ids.iter().map(|id| id.to_ascii_lowercase()).collect(),
        }
    }

    /// Whether the generator should take [`StatsMark`]s (once per second of
    /// market) for this dialect.
    pub(crate) fn wants_stats(&self) -> bool {
        self.exchange == Exchange::Binance
    }

    /// Renders one batch of events, with any stats marks among them.
    pub(crate) fn render(&mut self, hub: &Hub, time_ns: i64, events: &[Event], marks: &[StatsMark]) -> Batch {
        let mut frames = Vec::with_capacity(events.len() + marks.len());
        let mut marks = marks.iter().peekable();
        for (i, e) in events.iter().enumerate() {
            match self.exchange {
                Exchange::Binance => {
                    let top = self.tops.get_mut(e.product);
                    binance::render(hub, self.lower.get(e.product).map_or("", String::as_str), top, e, &mut frames)
                }
                Exchange::Kucoin => frames.extend(kucoin::render(hub, e)),
                Exchange::Coinbase | Exchange::CoinbaseAdvanced => frames.extend(coinbase::render(hub, e)),
            }
            while let Some(mark) = marks.next_if(|m| m.after == i) {
                frames.extend(binance::render_stats(hub, mark, time_ns));
            }
        }
        Batch { time_ns, frames }
    }
}

/// One connection's protocol state: a session of one dialect. The connection
/// loop in `session.rs` calls these in every dialect.
#[derive(Debug)]
pub(crate) enum Proto {
    /// Coinbase Exchange.
    Coinbase(coinbase::Session),
    /// Binance spot.
    Binance(binance::Session),
    /// KuCoin spot.
    Kucoin(kucoin::Session),
}

impl Proto {
    /// At connect, under the market lock: where the market stands.
    pub(crate) fn connected(&mut self, hub: &Hub, market: &Market) {
        match self {
            Proto::Coinbase(s) => s.connected(hub, market),
            Proto::Binance(s) => s.connected(hub, market),
            Proto::Kucoin(s) => s.connected(hub, market),
        }
    }

    /// Right after the upgrade: the frames the exchange sends first.
    pub(crate) async fn opened(&mut self, conn: &mut Conn) -> Result<(), End> {
        match self {
            Proto::Coinbase(_) | Proto::Binance(_) => Ok(()),
            Proto::Kucoin(s) => s.opened(conn).await,
        }
    }

    /// A text frame from the client.
    pub(crate) async fn request(&mut self, conn: &mut Conn, text: &str) -> Result<(), End> {
        match self {
            Proto::Coinbase(s) => s.request(conn, text).await,
            Proto::Binance(s) => s.request(conn, text).await,
            Proto::Kucoin(s) => s.request(conn, text).await,
        }
    }

    /// A Ping, Pong or binary frame from the client.
    pub(crate) async fn incoming(&mut self, conn: &mut Conn, what: Incoming) -> Result<(), End> {
        match self {
            Proto::Coinbase(_) | Proto::Kucoin(_) => Ok(()),
            Proto::Binance(s) => s.incoming(conn, what).await,
        }
    }

    /// A batch of market frames.
    pub(crate) async fn deliver(&mut self, conn: &mut Conn, batch: &Batch) -> Result<(), End> {
        match self {
            Proto::Coinbase(s) => s.deliver(conn, &batch.frames).await,
            Proto::Binance(s) => s.deliver(conn, &batch.frames).await,
            Proto::Kucoin(s) => s.deliver(conn, &batch.frames).await,
        }
    }

    /// When the session's next timer is due (heartbeats, pings, keepalive
    /// checks), if it has one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Proto::Coinbase(s) => s.deadline(),
            Proto::Binance(s) => s.deadline(),
            Proto::Kucoin(s) => s.deadline(),
        }
    }

    /// The timer fired.
    pub(crate) async fn on_deadline(&mut self, conn: &mut Conn) -> Result<(), End> {
        match self {
            Proto::Coinbase(s) => s.on_deadline(conn).await,
            Proto::Binance(s) => s.on_deadline(conn).await,
            Proto::Kucoin(s) => s.on_deadline(conn).await,
        }
    }
}

/// A sliding-window message counter: more than `max` messages within
/// `window` breaks the limit (Binance: 5 a second per connection).
#[derive(Debug)]
pub(crate) struct RateLimit {
    max: usize,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RateLimit {
    /// A limit of `max` messages per `window`.
    pub(crate) fn new(max: usize, window: Duration) -> Self {
        RateLimit { max, window, recent: VecDeque::with_capacity(max + 1) }
    }

    /// Counts a message at `now`; `false` if it breaks the limit.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        while self.recent.front().is_some_and(|&t| now.saturating_duration_since(t) >= self.window) {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent.len() <= self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_slides() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = RateLimit::new(5, Duration::from_secs(1));
        for i in 0..5 {
            assert!(r.allow(t0 + ms(i * 10)), "message {i}");
        }
        assert!(!r.allow(t0 + ms(500)), "the 6th within a second");
        let mut r = RateLimit::new(5, Duration::from_secs(1));
        for i in 0..20 {
            assert!(r.allow(t0 + ms(i * 250)), "4 a second is fine ({i})");
        }
    }
}
