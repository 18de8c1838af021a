//! What the engine did with its input, counted.

/// Running totals of every outcome of [`crate::Engine::apply`] and of the
/// engine's own housekeeping. Every input ends up in exactly one "what
/// happened to it" bucket, so nothing is lost silently; the caller exports
/// these as metrics and logs the drops.
///
/// Trades: `trades` = accepted + `duplicate_trades` + `too_late_trades` +
/// `invalid_trades` + `overflowed_trades`; `late_trades` is a subset of the
/// accepted ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Trade events received.
    pub trades: u64,
    /// Trades whose id had already been counted for the product: ignored.
    pub duplicate_trades: u64,
    /// Accepted trades that landed in an already final window and revised it.
    pub late_trades: u64,
    /// Trades older than the watermark minus the retention: dropped.
    pub too_late_trades: u64,
    /// Trades with a non-positive price or size, or a time outside the
    /// range windows can be computed for: dropped.
    pub invalid_trades: u64,
    /// Trades whose sums would overflow the exact decimal range: dropped.
    pub overflowed_trades: u64,
    /// Book snapshots received.
    pub snapshots: u64,
    /// Book snapshots that were crossed or locked (the book stays resyncing).
    pub crossed_snapshots: u64,
    /// Book deltas received.
    pub deltas: u64,
    /// Book deltas applied to a live book.
    pub deltas_applied: u64,
    /// Deltas for a product that never had a snapshot: not applied.
    pub deltas_before_snapshot: u64,
    /// Deltas while the book waits for a new snapshot: not applied.
    pub deltas_while_resyncing: u64,
    /// Deltas while the book is marked stale: not applied.
    pub deltas_while_stale: u64,
    /// Deltas that left the book crossed or locked (each starts a resync).
    pub crossed_books: u64,
    /// Level deletions for a price that was not in the book (harmless with
    /// depth-limited feeds such as Coinbase `level2_50`).
    pub missing_level_deletes: u64,
    /// Snapshot levels or delta changes with a non-positive price or a
    /// negative size: skipped.
    pub invalid_levels: u64,
    /// Resync requests raised (one per crossed-book incident).
    pub resync_requests: u64,
    /// Books a decoder reported out of sequence (`BookReset` events).
    pub book_resets: u64,
    /// Ticker events received.
    pub tickers: u64,
    /// Product metadata events received.
    pub products: u64,
    /// Candle windows that became final.
    pub finalized_windows: u64,
    /// Candle windows dropped from memory behind the retention horizon.
    pub evicted_windows: u64,
}

impl EngineCounters {
    /// Adds `other`'s counts to these: the engines of a replay split by
    /// product, summed.
    pub fn add(&mut self, other: &EngineCounters) {
        use crate::checkpoint::Stored;
        // The checkpoint's array of every counter, so that a new counter
        // cannot be left out of the sum.
        let (mine, theirs) = (self.to_repr(), other.to_repr());
        if let Some(sum) = EngineCounters::from_repr(std::array::from_fn(|i| mine[i] + theirs[i])) {
            *self = sum;
        }
    }
}
