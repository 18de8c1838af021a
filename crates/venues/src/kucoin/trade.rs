//! Trades: the `/market/match:{symbol}` topic.

use std::sync::Arc;

use serde::Deserialize;

use super::de::{self, OptStr};
use crate::DecodeError;

/// A KuCoin trade's validated fields (its id is an opaque string),
/// waiting for its product key.
pub(crate) type TradeBody = crate::wire::body::TradeBody<Arc<str>>;

/// One trade (subject `trade.l3match`). `side` is the **taker's** side
/// ("The filled side is set to the taker by default"), so it maps to
/// [`Trade::taker_side`] unchanged. `time` is a string of **nanoseconds**.
/// `tradeId` is an opaque string (older ids are hex object ids, newer ones
/// digits), kept as [`TradeId::Str`]. `sequence`, `type`, `makerOrderId`
/// and `takerOrderId` are not needed and not declared.
///
/// See <https://www.kucoin.com/docs-new/3470072w0> (Spot websocket, public
/// channels, Trade).
///
/// ```json
/// {
///   "topic": "/market/match:BTC-USDT",
///   "type": "message",
///   "subject": "trade.l3match",
///   "data": {
///     "makerOrderId": "671b5007389355000701b1d3",
///     "price": "67523",
///     "sequence": "11067996711960577",
///     "side": "buy",
///     "size": "0.003",
///     "symbol": "BTC-USDT",
///     "takerOrderId": "671b50161777ff00074c168d",
///     "time": "1729843222921000000",
///     "tradeId": "11067996711960577",
///     "type": "match"
///   }
/// }
/// ```
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MatchData<'a> {
    /// Native symbol.
    #[serde(borrow, default)]
    symbol: OptStr<'a>,
    /// The taker's side, `buy` or `sell`.
    #[serde(borrow, default)]
    side: OptStr<'a>,
    /// Execution price, quote currency.
    #[serde(borrow, default)]
    price: OptStr<'a>,
    /// Executed size, base currency.
    #[serde(borrow, default)]
    size: OptStr<'a>,
    /// Opaque trade id.
    #[serde(borrow, default)]
    trade_id: OptStr<'a>,
    /// Match time, nanoseconds since the epoch, as a string.
    #[serde(borrow, default)]
    time: OptStr<'a>,
}

impl MatchData<'_> {
    /// The native symbol.
    pub(crate) fn symbol(&self) -> Result<&str, DecodeError> {
        de::required_str(&self.symbol, "symbol")
    }

    /// Checks every field, without touching decoder state.
    pub(crate) fn validate(&self) -> Result<TradeBody, DecodeError> {
        let id = de::required_str(&self.trade_id, "tradeId")?;
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DecodeError::BadField { field: "tradeId", detail: format!("unusable trade id {}", de::snippet(id)) });
        }
        Ok(TradeBody {
            price: de::price(de::required_str(&self.price, "price")?, "price")?,
            size: de::trade_size(de::required_str(&self.size, "size")?, "size")?,
            taker_side: de::taker_side(de::required_str(&self.side, "side")?, "side")?,
            time: de::nanos_text(de::required_str(&self.time, "time")?, "time")?,
            id: Arc::from(id),
        })
    }
}
