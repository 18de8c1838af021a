//! Order-book statistics.

use crate::{BookState, Decimal, InstrumentKey, Price, Qty, Timestamp};

/// Statistics of one product's book and trades, as of its last update.
///
/// Top-of-book fields are `None` while the book is not live or a side is
/// empty. `mid_ma` is the mean of the last `mid_ma_window` mids, where a new
/// mid enters whenever the best bid or best ask price changes; until the
/// window fills it is the mean of the `mid_ma_samples` seen so far.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BookStats {
    /// The product.
    pub instrument: InstrumentKey,
    /// Exchange time of the last book update or trade that changed these stats.
    pub time: Option<Timestamp>,
    /// Best bid price.
    pub best_bid: Option<Price>,
    /// Size at the best bid.
    pub best_bid_size: Option<Qty>,
    /// Best ask price.
    pub best_ask: Option<Price>,
    /// Size at the best ask.
    pub best_ask_size: Option<Qty>,
    /// `best_ask - best_bid`.
    pub spread: Option<Decimal>,
    /// `(best_bid + best_ask) / 2`.
    pub mid: Option<Decimal>,
    /// Moving average of the last `mid_ma_window` mids.
    pub mid_ma: Option<Decimal>,
    /// The configured moving-average window N.
    pub mid_ma_window: u32,
    /// How many mids the average currently holds (at most N).
    pub mid_ma_samples: u32,
    /// The largest spread seen while the book was live.
    pub max_spread: Option<Decimal>,
    /// Price of the last trade.
    pub last_price: Option<Price>,
    /// Exchange time of the last trade.
    pub last_trade_time: Option<Timestamp>,
    /// Whether the book behind these numbers is trustworthy.
    pub book_state: BookState,
}
