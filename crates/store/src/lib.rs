//! Where marketpipe keeps what it computed, and how it reads it back.
//!
//! Two traits split the roles: [`MarketWriter`] takes the engine's output in
//! atomic batches; [`MarketReader`] answers the API and the query CLI. The
//! embedded default is [`sqlite::SqliteStore`]; other backends (PostgreSQL)
//! implement the same traits and pass the same shared suite in
//! [`testsuite`].
//!
//! Every write is an upsert by natural key, so writing a batch twice (a
//! replay, a retry after a crash) leaves the same tables. Candles keep the
//! highest revision: a write never replaces a candle with an older state of
//! itself.
//!
//! [`PositionStore`] is the store side of exactly-once processing: a
//! consumer of the log writes its results and its position in the log (plus
//! now and then an opaque checkpoint of its state) in one transaction, and resumes from
//! the stored position after a crash or a rebalance.

pub mod sqlite;
pub mod testsuite;
pub mod text;

use async_trait::async_trait;
use marketpipe_model::{BookStats, BookTop, Candle, Exchange, InstrumentKey, Interval, Product, Ticker, Timestamp};

/// What the engine produced since the last write, written atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// Instrument metadata (upserted by exchange + symbol).
    pub products: Vec<Product>,
    /// Changed candles (upserted by exchange, symbol, interval, start; the
    /// highest revision wins, and a final candle is never replaced by a
    /// non-final one of the same revision).
    pub candles: Vec<Candle>,
    /// Latest books (one row per product, replaced).
    pub books: Vec<BookTop>,
    /// Latest book statistics (one row per product, replaced).
    pub stats: Vec<BookStats>,
    /// Latest tickers (one row per product, replaced).
    pub tickers: Vec<Ticker>,
}

impl WriteBatch {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty() && self.candles.is_empty() && self.books.is_empty() && self.stats.is_empty() && self.tickers.is_empty()
    }

    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.products.clear();
        self.candles.clear();
        self.books.clear();
        self.stats.clear();
        self.tickers.clear();
    }
}

/// A range query over one product's candles of one interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandleQuery {
    /// The product.
    pub instrument: InstrumentKey,
    /// The interval.
    pub interval: Interval,
    /// Inclusive lower bound on `start`. With it, the first `limit` candles
    /// from there; without it, the latest `limit` before `end`.
    pub start: Option<Timestamp>,
    /// Exclusive upper bound on `start`.
    pub end: Option<Timestamp>,
    /// At most this many candles.
    pub limit: usize,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed; `retryable` says whether trying again may help
    /// (a busy database, a dropped connection) or not (a full disk, a schema
    /// mismatch).
    #[error("store backend error: {message}")]
    Backend {
        /// What the backend said.
        message: String,
        /// Whether a retry may succeed.
        retryable: bool,
    },
    /// The store holds data it cannot read back (a corrupted decimal, an
    /// unknown interval): a bug or tampering, never the caller's input.
    #[error("corrupt row in store: {0}")]
    Corrupt(String),
    /// The store cannot be opened at all (bad path, permissions, a newer schema).
    #[error("cannot open store: {0}")]
    Open(String),
}

impl StoreError {
    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Backend { retryable: true, .. })
    }
}

/// The write side of a store.
#[async_trait]
pub trait MarketWriter: Send + Sync {
    /// Writes a batch in one transaction: all of it or none of it.
    async fn write(&self, batch: &WriteBatch) -> Result<(), StoreError>;
}

/// A consumer's progress in one partition of the log, stored in the same
/// transaction as the results it produced.
///
/// `next_offset` is the offset of the first message *not* yet reflected in
/// the store (Kafka's convention for committed offsets). `checkpoint`, when
/// present, is the consumer's own serialization of its state (open candle
/// windows, books, dedup sets) at some offset at or before `next_offset`, so
/// that a consumer taking over the partition rebuilds its state from there
/// instead of replaying from the beginning. Checkpoints are large and
/// written now and then; positions are small and written with every batch,
/// so the store keeps the latest of each independently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPosition {
    /// The consumer group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition of the topic.
    pub partition: i32,
    /// The next offset to consume.
    pub next_offset: i64,
    /// A checkpoint to store with this position (on write), or the stored
    /// one (on read).
    pub checkpoint: Option<Checkpoint>,
}

/// A consumer's state at one offset of a partition, opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The state covers exactly the messages before this offset; never
    /// above the position it is written with.
    pub next_offset: i64,
    /// The serialized state.
    pub state: Vec<u8>,
}

/// Where consumers keep their positions, atomically with their results.
///
/// Rules every implementation follows (the shared suite checks them):
/// - [`PositionStore::write_at`] writes the batch and the positions in one
///   transaction: after a failure neither is stored.
/// - A position only changes through `write_at`, and only the partitions it
///   names change; groups and topics are independent.
/// - A position never moves backwards: a write with a lower `next_offset`
///   than the stored one leaves the stored position as it is (its batch is
///   still written; every write is an idempotent upsert). This keeps a
///   stale consumer (one that lost its partition in a rebalance but has not
///   noticed yet) from rewinding the new owner. To reprocess from an earlier
///   offset, delete the group's positions. At an equal offset the later
///   write wins; within one call, the highest offset, then the last.
/// - A checkpoint follows the same rules by its own `next_offset`, apart
///   from the position's: a position written without one leaves the stored
///   checkpoint as it is, and an older checkpoint never replaces a newer
///   one. (A stale consumer's checkpoint is still a true state of the log
///   at its offset, so storing it would be harmless, but it is not needed.)
#[async_trait]
pub trait PositionStore: Send + Sync {
    /// Writes `batch` and `positions` in one transaction.
    async fn write_at(&self, batch: &WriteBatch, positions: &[LogPosition]) -> Result<(), StoreError>;
    /// The stored positions of `group` on `topic`, by partition.
    async fn positions(&self, group: &str, topic: &str) -> Result<Vec<LogPosition>, StoreError>;
}

/// The read side of a store.
#[async_trait]
pub trait MarketReader: Send + Sync {
    /// Whether the store answers at all.
    async fn health(&self) -> Result<(), StoreError>;
    /// Every known product, ordered by exchange then symbol.
    async fn products(&self) -> Result<Vec<Product>, StoreError>;
    /// One product, if known.
    async fn product(&self, key: &InstrumentKey) -> Result<Option<Product>, StoreError>;
    /// Candles of one product and interval, ascending by start (see [`CandleQuery`]).
    async fn candles(&self, query: &CandleQuery) -> Result<Vec<Candle>, StoreError>;
    /// The newest candle of one product and interval, final or not.
    async fn latest_candle(&self, key: &InstrumentKey, interval: Interval) -> Result<Option<Candle>, StoreError>;
    /// The latest book, at most `depth` levels per side, best first.
    async fn book(&self, key: &InstrumentKey, depth: usize) -> Result<Option<BookTop>, StoreError>;
    /// The latest book statistics.
    async fn stats(&self, key: &InstrumentKey) -> Result<Option<BookStats>, StoreError>;
    /// The latest ticker of one product, if any was stored.
    async fn ticker(&self, key: &InstrumentKey) -> Result<Option<Ticker>, StoreError>;
    /// The latest ticker of every product of `exchange`, by symbol.
    async fn tickers(&self, exchange: Exchange) -> Result<Vec<Ticker>, StoreError>;
}
