//! Tickers: the `/market/ticker:all` and `/market/ticker:{symbol}` topics.

use serde::Deserialize;

use super::de::{self, OptStr, OptU64};
use crate::{wire::body::TickerBody, DecodeError};

/// KuCoin's best bid/offer and last trade, pushed on every match. On
/// `/market/ticker:all` the `subject` is the native symbol; on
/// `/market/ticker:{symbol}` it is `trade.ticker` and the symbol is the
/// topic's suffix. `time` is the latest match time in **milliseconds**
/// (the newer docs spell it `Time` in one example; both are accepted).
///
/// It becomes a [`Ticker`] only (the match topic carries the trades). Every
/// number is optional (absent or `null` is `None`), but one that is present
/// must be valid, or the frame is rejected. There are no 24-hour fields on
/// this topic, so those stay `None`. `sequence` is not needed and not
/// declared.
///
/// See <https://www.kucoin.com/docs-new/3470063w0> (Ticker) and
/// <https://www.kucoin.com/docs/websocket/spot-trading/public-channels/all-symbols-ticker>.
///
/// ```json
/// {
///   "topic": "/market/ticker:all",
///   "type": "message",
///   "subject": "BTC-USDT",
///   "data": {
///     "bestAsk": "67218.7",
///     "bestAskSize": "1.92318539",
///     "bestBid": "67218.6",
///     "bestBidSize": "0.01045638",
///     "price": "67220",
///     "sequence": "14691455768",
///     "size": "0.00004316",
///     "time": 1729757723612
///   }
/// }
/// ```
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TickerData<'a> {
    /// Last trade price.
    #[serde(borrow, default)]
    price: OptStr<'a>,
    /// Last trade size.
    #[serde(borrow, default)]
    size: OptStr<'a>,
    /// Best bid price.
    #[serde(borrow, default)]
    best_bid: OptStr<'a>,
    /// Size at the best bid.
    #[serde(borrow, default)]
    best_bid_size: OptStr<'a>,
    /// Best ask price.
    #[serde(borrow, default)]
    best_ask: OptStr<'a>,
    /// Size at the best ask.
    #[serde(borrow, default)]
    best_ask_size: OptStr<'a>,
    /// Latest match time, milliseconds.
    #[serde(default, alias = "Time")]
    time: OptU64,
}

impl TickerData<'_> {
    /// Checks every field, without touching decoder state.
    pub(crate) fn validate(&self) -> Result<TickerBody, DecodeError> {
        Ok(TickerBody {
            time: de::opt_millis(self.time, "time")?,
            last_price: de::opt_price(self.price.get(), "price")?,
            last_size: de::opt_size(self.size.get(), "size")?,
            best_bid: de::opt_price(self.best_bid.get(), "bestBid")?,
            best_bid_size: de::opt_size(self.best_bid_size.get(), "bestBidSize")?,
            best_ask: de::opt_price(self.best_ask.get(), "bestAsk")?,
            best_ask_size: de::opt_size(self.best_ask_size.get(), "bestAskSize")?,
            ..TickerBody::default()
        })
    }
}
