//! Trades: the websocket `match` / `last_match` messages.

use serde::Deserialize;

use super::de::{self, OptStr, OptU64};
use crate::DecodeError;

/// A Coinbase trade's validated fields, waiting for its product key.
pub(crate) type TradeBody = crate::wire::body::TradeBody<u64>;

/// A trade on the `matches` (or `full`) channel. Right after subscribing,
/// Coinbase sends the product's most recent trade as a `last_match`, with
/// the same fields.
///
/// `side` is the **maker's** side: `"sell"` means a resting sell order was
/// lifted, i.e. the taker bought. `maker_order_id`, `taker_order_id` and
/// `sequence` are documented but not needed for a [`Trade`], so they are not
/// declared (and cost nothing to skip).
///
/// See <https://docs.cdp.coinbase.com/exchange/docs/websocket-channels#match>
///
/// ```json
/// {
///   "type": "match",
///   "trade_id": 10,
///   "sequence": 50,
///   "maker_order_id": "ac928c66-ca53-498f-9c13-a110027a60e8",
///   "taker_order_id": "132fb6ae-456b-4654-b4e0-d681ac05cea1",
///   "time": "2014-11-07T08:19:27.028459Z",
///   "product_id": "BTC-USD",
///   "size": "5.23512",
///   "price": "400.23",
///   "side": "sell"
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct MatchMsg<'a> {
    /// Per-product trade id, counting up from 1.
    #[serde(default)]
    trade_id: OptU64,
    /// The maker's side, `buy` or `sell`.
    #[serde(borrow, default)]
    side: OptStr<'a>,
    /// Executed size, base currency.
    #[serde(borrow, default)]
    size: OptStr<'a>,
    /// Execution price, quote currency.
    #[serde(borrow, default)]
    price: OptStr<'a>,
    /// Native product id, `BASE-QUOTE`.
    #[serde(borrow, default)]
    product_id: OptStr<'a>,
    /// Exchange time, RFC 3339 with microseconds.
    #[serde(borrow, default)]
    time: OptStr<'a>,
}

/// Validates the fields every Coinbase trade (websocket or REST) has.
pub(crate) fn validate_trade(
    trade_id: Option<u64>,
    price: Option<&str>,
    size: Option<&str>,
    side: Option<&str>,
    time: Option<&str>,
) -> Result<TradeBody, DecodeError> {
    Ok(TradeBody {
        id: de::trade_id(de::required(trade_id, "trade_id")?, "trade_id")?,
        price: de::price(de::required(price, "price")?, "price")?,
        size: de::trade_size(de::required(size, "size")?, "size")?,
        taker_side: de::taker_side_from_maker(de::required(side, "side")?, "side")?,
        time: de::time(de::required(time, "time")?, "time")?,
    })
}

impl MatchMsg<'_> {
    /// The native product id.
    pub(crate) fn product_id(&self) -> Result<&str, DecodeError> {
        de::required(self.product_id.get(), "product_id")
    }

    /// Checks every field, without touching decoder state.
    pub(crate) fn validate(&self) -> Result<TradeBody, DecodeError> {
        validate_trade(self.trade_id.0, self.price.get(), self.size.get(), self.side.get(), self.time.get())
    }
}
