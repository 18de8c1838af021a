//! Validated message bodies waiting for their product key.
//!
//! Every decoder validates a frame completely before it touches its own
//! state (registering a product, advancing a book), so a ticker or trade
//! is first checked into one of these and only turned into the model event
//! once the symbol has resolved.

use std::sync::Arc;

use marketpipe_model::{InstrumentKey, Price, Qty, Side, Ticker, Timestamp, Trade, TradeId};

/// A validated ticker. Fields an exchange does not send stay `None`
/// (`..TickerBody::default()`).
#[derive(Debug, Default)]
pub(crate) struct TickerBody {
    /// Exchange time.
    pub(crate) time: Option<Timestamp>,
    /// Last trade price.
    pub(crate) last_price: Option<Price>,
    /// Last trade size.
    pub(crate) last_size: Option<Qty>,
    /// Best bid price.
    pub(crate) best_bid: Option<Price>,
    /// Size at the best bid.
    pub(crate) best_bid_size: Option<Qty>,
    /// Best ask price.
    pub(crate) best_ask: Option<Price>,
    /// Size at the best ask.
    pub(crate) best_ask_size: Option<Qty>,
    /// Price 24 hours ago.
    pub(crate) open_24h: Option<Price>,
    /// 24-hour high.
    pub(crate) high_24h: Option<Price>,
    /// 24-hour low.
    pub(crate) low_24h: Option<Price>,
    /// 24-hour volume, in the base currency.
    pub(crate) volume_24h: Option<Qty>,
}

impl TickerBody {
    /// The normalized ticker.
    pub(crate) fn into_ticker(self, instrument: InstrumentKey, recv_time: Timestamp) -> Ticker {
        Ticker {
            instrument,
            time: self.time,
            recv_time,
            last_price: self.last_price,
            last_size: self.last_size,
            best_bid: self.best_bid,
            best_bid_size: self.best_bid_size,
            best_ask: self.best_ask,
            best_ask_size: self.best_ask_size,
            open_24h: self.open_24h,
            high_24h: self.high_24h,
            low_24h: self.low_24h,
            volume_24h: self.volume_24h,
        }
    }
}

/// A trade id as an exchange sends it: a number (Coinbase, Binance) or an
/// opaque string (KuCoin).
pub(crate) trait WireTradeId {
    /// The model's trade id.
    fn into_trade_id(self) -> TradeId;
}

impl WireTradeId for u64 {
    fn into_trade_id(self) -> TradeId {
        TradeId::Num(self)
    }
}

impl WireTradeId for Arc<str> {
    fn into_trade_id(self) -> TradeId {
        TradeId::Str(self)
    }
}

/// A trade's validated fields.
#[derive(Debug)]
pub(crate) struct TradeBody<I> {
    /// The exchange's trade id.
    pub(crate) id: I,
    /// Execution price.
    pub(crate) price: Price,
    /// Executed size, not zero.
    pub(crate) size: Qty,
    /// The side that took liquidity.
    pub(crate) taker_side: Side,
    /// Exchange time.
    pub(crate) time: Timestamp,
}

impl TradeBody<u64> {
    /// The numeric trade id, for ordering backfills.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl<I: WireTradeId> TradeBody<I> {
    /// The normalized trade.
    pub(crate) fn into_trade(self, instrument: InstrumentKey, recv_time: Timestamp) -> Trade {
        Trade {
            instrument,
            id: self.id.into_trade_id(),
            price: self.price,
            size: self.size,
            taker_side: self.taker_side,
            time: self.time,
            recv_time,
        }
    }
}
