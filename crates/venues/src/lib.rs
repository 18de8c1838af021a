//! Exchange wire protocols, decoded into marketpipe's normalized events.
//!
//! One folder per exchange. Each holds the documented wire types (every one
//! with a raw payload example and a link to the exchange doc it follows),
//! the decoder, and fixture tests. Decoders are pure: they read no clock and
//! no socket; a frame and its receive time go in, [`MarketEvent`]s come out.
//! The runtime (sockets, timers, retries) and replay both drive the same
//! decoder, which is why a replay reproduces a live run exactly.

pub mod binance;
pub mod coinbase;
pub mod coinbase_advanced;
mod error;
pub mod kucoin;
mod route;
pub mod session;
mod wire;

pub use error::DecodeError;
pub use route::{product_hash, product_key};

use marketpipe_model::{Exchange, InstrumentKey, MarketEvent, Timestamp};

/// What a decoded frame or REST response was, beyond the events it produced.
///
/// The runtime acts on the control variants (acknowledgements, heartbeats,
/// exchange errors); replay only counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Market data. Any events were pushed to the output vector. `msg` is
    /// the wire message type (`match`, `l2update`, ...), for counters.
    Market {
        /// Wire message type.
        msg: &'static str,
    },
    /// The exchange acknowledged a subscription.
    Subscriptions {
        /// Channel name and the native product ids subscribed on it.
        channels: Vec<(String, Vec<String>)>,
    },
    /// A per-product heartbeat: proof the connection is alive even when the
    /// product is quiet, and (on Coinbase) the last trade id, for gap checks.
    Heartbeat {
        /// The product.
        instrument: InstrumentKey,
        /// The exchange's sequence number at the heartbeat.
        sequence: Option<u64>,
        /// The id of the product's last trade.
        last_trade_id: Option<u64>,
        /// Exchange time.
        time: Option<Timestamp>,
    },
    /// The exchange reported an error (a bad subscribe, a rate limit...).
    ExchangeError {
        /// The exchange's message.
        message: String,
        /// The exchange's reason, where it gives one.
        reason: Option<String>,
    },
    /// A connection-level message with no market data (KuCoin's `welcome`
    /// and `pong`): proof the connection is alive, nothing else.
    Control {
        /// Wire message type.
        msg: &'static str,
    },
    /// A REST response was decoded. `endpoint` names which one
    /// (`products`, `trades`, ...), for counters.
    Rest {
        /// Which endpoint the URL was recognized as.
        endpoint: &'static str,
    },
}

impl Decoded {
    /// A short stable label: the wire message type or endpoint.
    pub fn label(&self) -> &'static str {
        match self {
            Decoded::Market { msg } | Decoded::Control { msg } => msg,
            Decoded::Subscriptions { .. } => "subscriptions",
            Decoded::Heartbeat { .. } => "heartbeat",
            Decoded::ExchangeError { .. } => "error",
            Decoded::Rest { endpoint } => endpoint,
        }
    }
}

/// A pure decoder of one exchange's protocol.
///
/// It keeps what it learns across frames (the product list from REST
/// metadata, interned symbols, sequencing state) and nothing else. A frame
/// that fails to decode leaves that state as it was and produces no events:
/// one bad frame never poisons the next one or another product.
pub trait VenueDecoder: Send {
    /// The exchange this decoder speaks.
    fn exchange(&self) -> Exchange;

    /// Decodes one websocket frame, given as its text.
    fn decode_ws(&mut self, frame: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError>;

    /// Decodes one REST response body. The endpoint is recognized by the
    /// URL's path and query, never its host, so captures made against older
    /// API hosts or a simulator decode the same.
    fn decode_rest(&mut self, url: &str, body: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError>;

    /// Appends the native ids of the products whose order book waits for a
    /// REST snapshot (see [`session::SessionProtocol::snapshot_url`]).
    /// Level-triggered: a product stays listed until a snapshot joins its
    /// stream, so a runtime polling this must pace its requests. Exchanges
    /// whose websocket sends snapshots list nothing.
    fn awaiting_snapshot(&self, _out: &mut Vec<String>) {}

    /// The native id of `key`'s product, as the exchange's requests name it
    /// (Binance `NKNUSDT` for `NKN-USDT`), if the decoder knows it.
    fn native_id(&self, key: &InstrumentKey) -> Option<String> {
        Some(key.symbol.as_str().to_owned())
    }
}

/// A fresh decoder for `exchange`, or `None` where marketpipe does not speak
/// that exchange's protocol yet.
pub fn decoder_for(exchange: Exchange) -> Option<Box<dyn VenueDecoder>> {
    match exchange {
        Exchange::Coinbase => Some(Box::new(coinbase::CoinbaseDecoder::new())),
        Exchange::Binance => Some(Box::new(binance::BinanceDecoder::new())),
        Exchange::Kucoin => Some(Box::new(kucoin::KucoinDecoder::new())),
        Exchange::CoinbaseAdvanced => Some(Box::new(coinbase_advanced::CoinbaseAdvancedDecoder::new())),
    }
}
