//! The message bus between marketpipe's roles: what is published where,
//! under which key, in which encoding.
//!
//! When one process is not enough, `ingest` (exchange connections and
//! decoders) and `process` (engine and store) run apart and talk over a
//! log: Kafka, or any broker speaking its protocol. This crate holds the
//! contract both sides share, and (with the `kafka` feature) the Kafka
//! client built on librdkafka:
//!
//! - **Topics.** Raw frames of each exchange on `marketpipe.raw.<exchange>`,
//!   as capture records (so a topic can be replayed like a file);
//!   normalized events on `marketpipe.events`.
//! - **Keys.** `exchange:symbol` (`binance:BTC-USDT`): one product's messages
//!   stay in one partition, in order, which is all the engine needs.
//! - **Encoding.** A [`BusEvent`] is JSON: the receive time that drives the
//!   engine's clock, and one engine operation.
//!
//! The bus is chosen by URL ([`BusUrl`]): `memory://` (the default: one
//! process, an in-process channel) or `kafka://HOST:PORT[,HOST:PORT...]`.

#[cfg(feature = "kafka")]
pub mod kafka;

use std::{fmt, str::FromStr};

use marketpipe_model::{Exchange, InstrumentKey, MarketEvent, Timestamp};
use serde::{Deserialize, Serialize};

/// The topic of normalized events.
pub const EVENTS_TOPIC: &str = "marketpipe.events";

/// Partitions of each topic marketpipe creates, unless configured.
pub const DEFAULT_TOPIC_PARTITIONS: i32 = 6;

/// Replication factor of each topic marketpipe creates, unless configured.
pub const DEFAULT_TOPIC_REPLICATION: i32 = 1;

/// How long the broker keeps the messages of topics marketpipe creates,
/// unless configured: 7 days.
pub const DEFAULT_TOPIC_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The topic of `exchange`'s raw frames: `marketpipe.raw.binance`.
pub fn raw_topic(exchange: Exchange) -> String {
    format!("marketpipe.raw.{}", exchange.as_str())
}

/// The message key of a product: `exchange:symbol`.
pub fn product_key(key: &InstrumentKey) -> String {
    format!("{}:{}", key.exchange.as_str(), key.symbol.as_str())
}

/// Where the roles talk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusUrl {
    /// In-process: every role in one process.
    Memory,
    /// A Kafka-protocol broker; the bootstrap servers, comma-separated.
    Kafka {
        /// `host:port[,host:port...]`.
        brokers: String,
    },
}

impl FromStr for BusUrl {
    type Err = BusError;

    /// `memory://` or `kafka://HOST:PORT[,HOST:PORT...]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| BusError::Url(format!("{s:?}: {why}; use memory:// or kafka://HOST:PORT[,HOST:PORT...]"));
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
        match scheme {
            "memory" if rest.is_empty() => Ok(BusUrl::Memory),
            "memory" => Err(bad("memory:// takes no address")),
            "kafka" => {
                let brokers = rest.trim_end_matches('/');
                let valid = !brokers.is_empty()
                    && brokers
                        .split(',')
                        .all(|b| b.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok()));
                if !valid {
                    return Err(bad("each broker must be HOST:PORT"));
                }
                Ok(BusUrl::Kafka { brokers: brokers.to_owned() })
            }
            _ => Err(bad("unknown scheme")),
        }
    }
}

impl fmt::Display for BusUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BusUrl::Memory => f.write_str("memory://"),
            BusUrl::Kafka { brokers } => write!(f, "kafka://{brokers}"),
        }
    }
}

/// Whether this build can talk to Kafka; a clear error names the cargo
/// feature otherwise.
pub fn kafka_supported() -> Result<(), BusError> {
    if cfg!(feature = "kafka") {
        Ok(())
    } else {
        Err(BusError::Unsupported(
            "this marketpipe was built without Kafka support; rebuild with `cargo build --release --features kafka` \
             (needs cmake, a C compiler and libcurl headers)"
                .into(),
        ))
    }
}

/// What one normalized-events message carries: one engine operation and
/// the receive time that moves the engine's clock before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusEvent {
    /// Receive time of the frame the operation came from, UTC ns.
    pub recv_ns: i64,
    /// The operation.
    pub op: BusOp,
}

/// An engine operation, as `ingest` hands it to `process`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum BusOp {
    /// Apply a normalized event.
    Apply(MarketEvent),
    /// Stop applying deltas to a book until its next snapshot (its
    /// connection dropped).
    MarkResyncing(InstrumentKey),
    /// Flag a book as no longer updated (its connection went silent or
    /// was closed on purpose).
    MarkStale(InstrumentKey),
}

impl BusEvent {
    /// The receive time.
    pub fn recv(&self) -> Timestamp {
        Timestamp(self.recv_ns)
    }

    /// The product the operation is about: the message key.
    pub fn instrument(&self) -> &InstrumentKey {
        match &self.op {
            BusOp::Apply(event) => event.instrument(),
            BusOp::MarkResyncing(key) | BusOp::MarkStale(key) => key,
        }
    }

    /// The JSON payload.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain data to a Vec cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a payload; an unreadable one is an error the consumer counts
    /// and skips.
    pub fn decode(payload: &[u8]) -> Result<Self, BusError> {
        serde_json::from_slice(payload).map_err(|e| BusError::Decode(e.to_string()))
    }
}

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus URL cannot be used.
    #[error("invalid bus URL {0}")]
    Url(String),
    /// The build lacks what the URL needs.
    #[error("{0}")]
    Unsupported(String),
    /// A message could not be read.
    #[error("undecodable bus message: {0}")]
    Decode(String),
    /// The broker refused or failed an operation.
    #[error("kafka: {0}")]
    Kafka(String),
}

#[cfg(test)]
mod tests {
    use marketpipe_model::{Side, Symbol, Trade, TradeId};

    use super::*;

    #[test]
    fn bus_urls() {
        assert_eq!("memory://".parse::<BusUrl>().unwrap(), BusUrl::Memory);
        assert_eq!("kafka://127.0.0.1:9092,b:9093/".parse::<BusUrl>().unwrap(), BusUrl::Kafka { brokers: "127.0.0.1:9092,b:9093".into() });
        for bad in ["", "kafka://", "kafka://host", "kafka://h:x", "memory://x", "redis://h:1", "127.0.0.1:9092"] {
            assert!(bad.parse::<BusUrl>().is_err(), "{bad}");
        }
        assert_eq!(BusUrl::Kafka { brokers: "h:1".into() }.to_string(), "kafka://h:1");
    }

    #[test]
    fn events_round_trip_and_are_keyed_by_product() {
        let key = InstrumentKey::new(Exchange::Binance, Symbol::new("BTC-USDT"));
        let trade = Trade {
            instrument: key.clone(),
            id: TradeId::Num(7),
            price: "67000.41".parse().unwrap(),
            size: "0.00341207".parse().unwrap(),
            taker_side: Side::Sell,
            time: Timestamp(1),
            recv_time: Timestamp(2),
        };
        let event = BusEvent { recv_ns: 5, op: BusOp::Apply(MarketEvent::Trade(trade)) };
        let back = BusEvent::decode(&event.encode()).unwrap();
        assert_eq!(back, event);
        assert_eq!(product_key(back.instrument()), "binance:BTC-USDT");
        let stale = BusEvent { recv_ns: 6, op: BusOp::MarkStale(key) };
        assert_eq!(BusEvent::decode(&stale.encode()).unwrap(), stale);
        assert!(BusEvent::decode(b"{").is_err());
        assert_eq!(raw_topic(Exchange::CoinbaseAdvanced), "marketpipe.raw.coinbase-advanced");
    }
}
