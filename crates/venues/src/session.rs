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

use marketpipe_model::Exchange;

use crate::DecodeError;

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
    /// A heartbeat: proof of life only.
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

    /// The frame(s) to send to subscribe `products` (native ids) to
    /// `channels`, in order.
    fn subscribe_frames(&self, products: &[&str], channels: &[&str]) -> Vec<String>;

    /// The frame(s) to send to unsubscribe `products` from `channels`.
    fn unsubscribe_frames(&self, products: &[&str], channels: &[&str]) -> Vec<String>;

    /// Classifies an incoming text frame cheaply, without decoding market data.
    fn classify(&self, text: &str) -> FrameClass;

    /// The REST URL of the page of `product`'s trades older than `cursor`
    /// (the newest page without one), under `rest_url`.
    fn trades_page_url(&self, rest_url: &str, product: &str, cursor: Option<u64>) -> String;

    /// The most trades one page returns, as requested by
    /// [`SessionProtocol::trades_page_url`].
    fn trades_page_limit(&self) -> usize;

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
