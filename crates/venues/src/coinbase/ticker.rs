//! The websocket `ticker` message (`ticker` and `ticker_batch` channels).

use serde::Deserialize;

use super::de::{self, OptStr};
use crate::{wire::body::TickerBody, DecodeError};

/// Coinbase's summary of a product after a match: last price and size,
/// best bid/ask, 24-hour open/high/low/volume. It becomes a
/// [`Ticker`] only, never a trade (the `match` message carries the trade).
///
/// Every number is optional (a field absent, or `null`, is `None`), but a
/// number that is present must be valid, or the frame is rejected:
/// nothing is guessed. `volume_30d` has no place in [`Ticker`] and is only
/// checked. `sequence`, `side` and `trade_id` are not needed and not declared.
///
/// See <https://docs.cdp.coinbase.com/exchange/docs/websocket-channels#ticker-channel>
///
/// ```json
/// {
///   "type": "ticker",
///   "sequence": 37475248783,
///   "product_id": "ETH-USD",
///   "price": "1285.22",
///   "open_24h": "1310.79",
///   "volume_24h": "245532.79269678",
///   "low_24h": "1280.52",
///   "high_24h": "1313.8",
///   "volume_30d": "9788783.60117027",
///   "best_bid": "1285.04",
///   "best_bid_size": "0.46688654",
///   "best_ask": "1285.27",
///   "best_ask_size": "1.56637040",
///   "side": "buy",
///   "time": "2022-10-19T23:28:22.061769Z",
///   "trade_id": 370843401,
///   "last_size": "11.4396987"
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct TickerMsg<'a> {
    /// Native product id.
    #[serde(borrow, default)]
    product_id: OptStr<'a>,
    /// Last trade price.
    #[serde(borrow, default)]
    price: OptStr<'a>,
    /// Last trade size.
    #[serde(borrow, default)]
    last_size: OptStr<'a>,
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
    /// Price 24 hours ago.
    #[serde(borrow, default)]
    open_24h: OptStr<'a>,
    /// 24-hour high.
    #[serde(borrow, default)]
    high_24h: OptStr<'a>,
    /// 24-hour low.
    #[serde(borrow, default)]
    low_24h: OptStr<'a>,
    /// 24-hour volume, base currency.
    #[serde(borrow, default)]
    volume_24h: OptStr<'a>,
    /// 30-day volume, base currency (validated, not kept).
    #[serde(borrow, default)]
    volume_30d: OptStr<'a>,
    /// Exchange time.
    #[serde(borrow, default)]
    time: OptStr<'a>,
}

impl TickerMsg<'_> {
    /// The native product id.
    pub(crate) fn product_id(&self) -> Result<&str, DecodeError> {
        de::required(self.product_id.get(), "product_id")
    }

    /// Checks every field, without touching decoder state.
    pub(crate) fn validate(&self) -> Result<TickerBody, DecodeError> {
        de::opt_size(self.volume_30d.get(), "volume_30d")?;
        Ok(TickerBody {
            time: de::opt_time(self.time.get(), "time")?,
            last_price: de::opt_price(self.price.get(), "price")?,
            last_size: de::opt_size(self.last_size.get(), "last_size")?,
            best_bid: de::opt_price(self.best_bid.get(), "best_bid")?,
            best_bid_size: de::opt_size(self.best_bid_size.get(), "best_bid_size")?,
            best_ask: de::opt_price(self.best_ask.get(), "best_ask")?,
            best_ask_size: de::opt_size(self.best_ask_size.get(), "best_ask_size")?,
            open_24h: de::opt_price(self.open_24h.get(), "open_24h")?,
            high_24h: de::opt_price(self.high_24h.get(), "high_24h")?,
            low_24h: de::opt_price(self.low_24h.get(), "low_24h")?,
            volume_24h: de::opt_size(self.volume_24h.get(), "volume_24h")?,
        })
    }
}
