//! Trades.

use std::{cmp::Ordering, fmt, sync::Arc};

use crate::{InstrumentKey, Price, Qty, Timestamp};

/// The taker's (aggressor's) side of a trade: `Buy` lifted an ask, `Sell`
/// hit a bid. Decoders translate each exchange's convention into this one
/// (Coinbase `match.side` is the maker's side, so it is inverted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The taker bought.
    Buy,
    /// The taker sold.
    Sell,
}

impl Side {
    /// `"buy"` or `"sell"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// An exchange's identifier of a trade, unique per product.
///
/// Coinbase and Binance use consecutive integers (which is what makes gap
/// detection possible); KuCoin uses opaque strings. Integers sort before
/// strings, and each kind sorts naturally, so `(event time, trade id)` is a
/// total order for open/close selection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum TradeId {
    /// A numeric id.
    Num(u64),
    /// An opaque string id.
    Str(Arc<str>),
}

impl TradeId {
    /// The numeric id, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            TradeId::Num(n) => Some(*n),
            TradeId::Str(_) => None,
        }
    }
}

impl Ord for TradeId {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (TradeId::Num(a), TradeId::Num(b)) => a.cmp(b),
            (TradeId::Num(_), TradeId::Str(_)) => Ordering::Less,
            (TradeId::Str(_), TradeId::Num(_)) => Ordering::Greater,
            (TradeId::Str(a), TradeId::Str(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for TradeId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for TradeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TradeId::Num(n) => write!(f, "{n}"),
            TradeId::Str(s) => f.write_str(s),
        }
    }
}

/// One executed trade, normalized.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trade {
    /// The product traded.
    pub instrument: InstrumentKey,
    /// The exchange's trade id.
    pub id: TradeId,
    /// Execution price.
    pub price: Price,
    /// Executed size in base currency; always positive.
    pub size: Qty,
    /// The taker's side.
    pub taker_side: Side,
    /// When the exchange says the trade happened: candles bucket by this.
    pub time: Timestamp,
    /// When marketpipe received the frame that carried it.
    pub recv_time: Timestamp,
}
