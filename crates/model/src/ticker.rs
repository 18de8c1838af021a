//! Tickers: the exchange's own summary of a product's recent activity.

use crate::{InstrumentKey, Price, Qty, Timestamp};

/// The latest ticker of a product. Every field the exchange does not provide
/// is `None`; nothing is derived or guessed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Ticker {
    /// The product.
    pub instrument: InstrumentKey,
    /// Exchange time of the ticker, where it gives one.
    pub time: Option<Timestamp>,
    /// When marketpipe received it.
    pub recv_time: Timestamp,
    /// Last traded price.
    pub last_price: Option<Price>,
    /// Size of the last trade.
    pub last_size: Option<Qty>,
    /// Best bid price.
    pub best_bid: Option<Price>,
    /// Size at the best bid.
    pub best_bid_size: Option<Qty>,
    /// Best ask price.
    pub best_ask: Option<Price>,
    /// Size at the best ask.
    pub best_ask_size: Option<Qty>,
    /// Price 24 hours ago.
    pub open_24h: Option<Price>,
    /// 24 hour high.
    pub high_24h: Option<Price>,
    /// 24 hour low.
    pub low_24h: Option<Price>,
    /// 24 hour volume in base currency.
    pub volume_24h: Option<Qty>,
}

impl Ticker {
    /// A ticker with only its identity and receive time set.
    pub fn empty(instrument: InstrumentKey, recv_time: Timestamp) -> Self {
        Ticker {
            instrument,
            time: None,
            recv_time,
            last_price: None,
            last_size: None,
            best_bid: None,
            best_bid_size: None,
            best_ask: None,
            best_ask_size: None,
            open_24h: None,
            high_24h: None,
            low_24h: None,
            volume_24h: None,
        }
    }
}
