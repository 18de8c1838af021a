//! Level-2 order book events and views.

use std::fmt;

use crate::{InstrumentKey, Price, Qty, Timestamp};

/// Which side of the book a level rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BookSide {
    /// Resting buy orders.
    Bid,
    /// Resting sell orders.
    Ask,
}

/// One aggregated price level: the total size resting at a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Level {
    /// The level's price.
    pub price: Price,
    /// Total size at that price.
    pub size: Qty,
}

impl Level {
    /// Builds a level.
    pub const fn new(price: Price, size: Qty) -> Self {
        Level { price, size }
    }
}

/// A full replacement of a product's book.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookSnapshot {
    /// The product.
    pub instrument: InstrumentKey,
    /// The exchange's book sequence (update id) the snapshot reflects, where it has one.
    pub sequence: Option<u64>,
    /// Exchange time of the snapshot, where it gives one.
    pub time: Option<Timestamp>,
    /// When marketpipe received it.
    pub recv_time: Timestamp,
    /// Bid levels, in any order.
    pub bids: Vec<Level>,
    /// Ask levels, in any order.
    pub asks: Vec<Level>,
}

/// The decoder lost the book's sequence (an update id gap, an update that
/// does not follow its snapshot): the book must not be updated until a new
/// snapshot arrives. Exchanges whose books are synced by sequence numbers
/// (Binance, KuCoin) need it; the engine marks the book `resyncing`, and the
/// live runtime fetches a fresh snapshot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookReset {
    /// The product.
    pub instrument: InstrumentKey,
    /// When marketpipe received the frame that broke the sequence.
    pub recv_time: Timestamp,
    /// Why, as a short stable label (`sequence_gap`, `stale_snapshot`...).
    pub reason: String,
}

/// One level change inside a [`BookDelta`]: set the size at a price; size 0
/// deletes the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LevelChange {
    /// Bid or ask.
    pub side: BookSide,
    /// The level's price.
    pub price: Price,
    /// The new total size; zero removes the level.
    pub size: Qty,
}

/// An incremental update to a product's book, already placed in order by the
/// venue's sync logic. The changes of one delta apply atomically: the book is
/// checked for consistency only after all of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookDelta {
    /// The product.
    pub instrument: InstrumentKey,
    /// The exchange's sequence (last update id) after this delta, where it has one.
    pub sequence: Option<u64>,
    /// Exchange time of the update, where it gives one.
    pub time: Option<Timestamp>,
    /// When marketpipe received it.
    pub recv_time: Timestamp,
    /// The level changes, in the exchange's order.
    pub changes: Vec<LevelChange>,
}

/// Whether a book can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BookState {
    /// Built from a snapshot and every update since: trustworthy.
    Live,
    /// Waiting for a snapshot: never had one, or the last one was invalidated
    /// (a crossed book, a sequence gap, a reconnect). Updates are not applied.
    #[default]
    Resyncing,
    /// The feed behind it went quiet or dropped: the levels are as they last were.
    Stale,
}

impl BookState {
    /// `"live"`, `"resyncing"` or `"stale"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            BookState::Live => "live",
            BookState::Resyncing => "resyncing",
            BookState::Stale => "stale",
        }
    }
}

impl fmt::Display for BookState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BookState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "live" => Ok(BookState::Live),
            "resyncing" => Ok(BookState::Resyncing),
            "stale" => Ok(BookState::Stale),
            other => Err(format!("unknown book state {other:?}")),
        }
    }
}

/// The top levels of a book as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookTop {
    /// The product.
    pub instrument: InstrumentKey,
    /// Whether the levels can be trusted.
    pub state: BookState,
    /// The exchange sequence of the last applied update, where it has one.
    pub sequence: Option<u64>,
    /// Exchange time of the last applied update (or receive time where the
    /// exchange gives none).
    pub time: Option<Timestamp>,
    /// Best (highest) bid first.
    pub bids: Vec<Level>,
    /// Best (lowest) ask first.
    pub asks: Vec<Level>,
}
