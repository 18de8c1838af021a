//! What a websocket session and a REST backfill need to know about an
//! exchange, without doing any I/O themselves.
//!
//! The live runtime (`marketpipe-live`) owns sockets, timers and retries;
//! everything exchange-specific it needs (the subscribe and unsubscribe
//! frames, how to recognize an acknowledgement, an error or a heartbeat, the
//! REST URL of a page of trades and how to read its cursor) comes from a
//! [`SessionProtocol`]. Classification is deliberately shallow: the frame is
//! forwarded as received and fully decoded later by the pipeline's
//! [`crate::VenueDecoder`], so the session only looks at what it must act on.

use std::time::Duration;

use marketpipe_model::Exchange;

use crate::DecodeError;

/// A frame to send, and how the exchange will answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The frame's text.
    pub text: String,
    /// The id the exchange's reply to it carries ([`FrameClass::Reply`]),
    /// for exchanges that acknowledge each request by id. `None` where
    /// acknowledgements name products instead ([`FrameClass::Ack`]).
    pub reply_id: Option<String>,
}

impl Request {
    /// A frame acknowledged by products, not by id.
    pub fn unnumbered(text: String) -> Self {
        Request { text, reply_id: None }
    }
}

/// Where and how to open one websocket connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTarget {
    /// The URL to connect to.
    pub url: String,
    /// Send [`SessionProtocol::ping_frame`] this often, where the exchange
    /// requires client pings.
    pub ping_interval: Option<Duration>,
    /// How long the exchange waits for a ping beyond the interval before it
    /// drops the connection; the silence after which the client should
    /// give up too.
    pub ping_timeout: Option<Duration>,
}

/// Which way trade pages are walked by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradePaging {
    /// `cursor` asks for the page of trades older than it, newest first
    /// (Coinbase `after=`).
    Backward,
    /// `cursor` asks for the page of trades from it on, oldest first
    /// (Binance `fromId=`).
    Forward,
}

/// How a session treats one incoming text frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameClass {
    /// The exchange acknowledged a subscription; `products` are the native
    /// product ids it lists on any channel (sorted, without duplicates).
    Ack {
        /// Native product ids named in the acknowledgement.
        products: Vec<String>,
    },
    /// The exchange reported an error (a bad subscribe, a rate limit...).
    ExchangeError {
        /// The exchange's message, with its reason where it gives one.
        message: String,
    },
    /// The exchange answered the request whose [`Request::reply_id`] is `id`
    /// without an error.
    Reply {
        /// The request's id.
        id: String,
    },
    /// The exchange greets a new connection (KuCoin `welcome`); requests
    /// sent before it may be ignored.
    Welcome,
    /// A heartbeat (or a pong): proof of life only.
    Heartbeat,
    /// Anything else: market data, or a frame the decoder will judge
    /// (malformed frames land here too and are counted downstream).
    Data,
}

/// What one page of REST trades says about pagination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TradePage {
    /// Number of trades on the page.
    pub count: usize,
    /// The smallest trade id on the page, if any.
    pub oldest: Option<u64>,
    /// The largest trade id on the page, if any.
    pub newest: Option<u64>,
}

/// The exchange-specific, I/O-free half of a websocket session and of a
/// trade backfill.
pub trait SessionProtocol: Send + Sync {
    /// The exchange this protocol speaks.
    fn exchange(&self) -> Exchange;

    /// The public websocket feed URL.
    fn default_ws_url(&self) -> &'static str;

    /// The public REST API base URL (no trailing slash).
    fn default_rest_url(&self) -> &'static str;

    /// The channels subscribed when the configuration names none.
    fn default_channels(&self) -> &'static [&'static str];

    /// The most products one connection should carry.
    fn max_products_per_connection(&self) -> usize;

    /// The channel whose frames prove a connection alive while products are
    /// quiet, if the exchange has one. A session subscribed to it can tell a
    /// dead connection by silence alone.
    fn heartbeat_channel(&self) -> Option<&'static str>;

    /// Whether `channel` carries the order book, i.e. re-subscribing to it
    /// makes the exchange send a fresh snapshot.
    fn is_book_channel(&self, channel: &str) -> bool;

    /// Whether the session's subscription to `channels` guarantees regular
    /// traffic, so a silent connection can be declared dead. By default,
    /// when the heartbeat channel is among them.
    fn keeps_alive(&self, channels: &[String]) -> bool {
        self.heartbeat_channel().is_some_and(|hb| channels.iter().any(|c| c == hb))
    }

    /// Whether `channel` covers every product of the exchange at once
    /// (Binance `!miniTicker@arr`, KuCoin `/market/ticker:all`): subscribed
    /// on one connection only, whatever products it carries.
    fn is_all_market_channel(&self, _channel: &str) -> bool {
        false
    }

    /// The frame(s) to send to subscribe `products` (native ids) to
    /// `channels`, in order. Request ids are taken from `next_id`, which is
    /// advanced past them.
    fn subscribe_frames(&self, products: &[&str], channels: &[&str], next_id: &mut u64) -> Vec<Request>;

    /// The frame(s) to send to unsubscribe `products` from `channels`.
    fn unsubscribe_frames(&self, products: &[&str], channels: &[&str], next_id: &mut u64) -> Vec<Request>;

    /// The least time between two frames sent on one connection (Binance
    /// drops a connection that sends more than 5 messages a second).
    fn send_interval(&self) -> Duration {
        Duration::ZERO
    }

    /// How long the exchange keeps a connection open before closing it
    /// (Binance: 24 hours). The session replaces a connection well before
    /// that, opening the new one before closing the old.
    fn max_connection_age(&self) -> Option<Duration> {
        None
    }

    /// The URL to `POST` for a connection token before each connection
    /// (KuCoin `bullet-public`), if the exchange needs one.
    fn token_url(&self, _rest_url: &str) -> Option<String> {
        None
    }

    /// Where to connect: `ws_url` itself, or what the token response
    /// `token_body` says. `conn` is the connection's id, unique in the
    /// process (KuCoin wants a `connectId`).
    fn connect_target(&self, ws_url: &str, _token_body: Option<&str>, _conn: u64) -> Result<ConnectTarget, DecodeError> {
        Ok(ConnectTarget { url: ws_url.to_owned(), ping_interval: None, ping_timeout: None })
    }

    /// Whether the exchange greets each connection ([`FrameClass::Welcome`])
    /// before it accepts requests.
    fn awaits_welcome(&self) -> bool {
        false
    }

    /// The application-level ping frame number `n`, for exchanges that
    /// require client pings ([`ConnectTarget::ping_interval`]).
    fn ping_frame(&self, _n: u64) -> Option<String> {
        None
    }

    /// Classifies an incoming text frame cheaply, without decoding market data.
    fn classify(&self, text: &str) -> FrameClass;

    /// The REST URL of the product list under `rest_url`.
    fn products_url(&self, rest_url: &str) -> String;

    /// The REST URL of `product`'s order book snapshot, for exchanges whose
    /// books start from one fetched over REST and joined to the stream by
    /// sequence (Binance, KuCoin). `None` where the websocket sends
    /// snapshots itself: there a book is resynced by re-subscribing.
    fn snapshot_url(&self, _rest_url: &str, _product: &str) -> Option<String> {
        None
    }

    /// How trade pages are walked, or `None` if the exchange has no trade
    /// history addressable by id (no backfill then).
    fn trades_paging(&self) -> Option<TradePaging> {
        Some(TradePaging::Backward)
    }

    /// The REST URL of a page of `product`'s trades, under `rest_url`:
    /// older than `cursor` (the newest page without one) for
    /// [`TradePaging::Backward`], from `cursor` on for
    /// [`TradePaging::Forward`].
    fn trades_page_url(&self, rest_url: &str, product: &str, cursor: Option<u64>) -> String;

    /// The most trades one page returns, as requested by
    /// [`SessionProtocol::trades_page_url`].
    fn trades_page_limit(&self) -> usize;

    /// What the exchange charges for a request of `url` against its
    /// request budget.
    fn rest_weight(&self, _url: &str) -> u32 {
        1
    }

    /// The request weight per second the exchange allows one IP for public
    /// market data (the runtime stays within it).
    fn rest_weight_per_second(&self) -> u32 {
        10
    }

    /// Reads the trade ids of a trades page body. A body that is not a
    /// page of trades with ids is an error: the backfill cannot tell where
    /// it stands and gives up on that gap.
    fn read_trades_page(&self, body: &str) -> Result<TradePage, DecodeError>;
}

/// Appends `s` to `out` percent-encoded for a URL path segment: unreserved
/// characters (RFC 3986) pass, every other byte is `%XX`. Native product ids
/// are plain (`BTC-USD`), but a configured id must never break the URL.
pub fn push_path_segment(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(s: &str) -> String {
        let mut out = String::new();
        push_path_segment(&mut out, s);
        out
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encoded("BTC-USD"), "BTC-USD");
        assert_eq!(encoded("a/b?c d"), "a%2Fb%3Fc%20d");
        assert_eq!(encoded("é"), "%C3%A9");
    }
}
