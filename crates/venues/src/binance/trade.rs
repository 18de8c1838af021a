//! Trades: the `aggTrade` event, and the entries of `GET /api/v3/aggTrades`
//! (the same fields, without the event header).
//!
//! marketpipe takes Binance trades from the aggregate stream only, on the
//! websocket and in REST backfills alike: an aggregate trade id (`a`) and a
//! raw trade id (`t` on `@trade`, `id` on `/api/v3/trades`) number
//! different things, and mixing them would defeat the per-product trade-id
//! dedup.

use marketpipe_model::Side;
use serde::Deserialize;

use super::de::{self, OptBool, OptStr, OptU64};
use crate::DecodeError;

/// An aggregate trade's validated fields, waiting for its product key.
pub(crate) type TradeBody = crate::wire::body::TradeBody<u64>;

/// One aggregate trade: the fills of one taker order at one price. `m` is
/// "the buyer is the maker": `true` means a resting buy was hit, so the
/// taker **sold**. `f`/`l` (the raw trade id range) and `M` (ignore) are
/// not needed and not declared.
///
/// Websocket (`<symbol>@aggTrade`), see
/// <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md#aggregate-trade-streams>:
///
/// ```json
/// {
///   "e": "aggTrade",
///   "E": 1672515782136,
///   "s": "BNBBTC",
///   "a": 12345,
///   "p": "0.001",
///   "q": "100",
///   "f": 100,
///   "l": 105,
///   "T": 1672515782136,
///   "m": true,
///   "M": true
/// }
/// ```
///
/// REST (`GET /api/v3/aggTrades`, an array of these, oldest first), see
/// <https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#compressedaggregate-trades-list>:
///
/// ```json
/// {"a": 26129, "p": "0.01633102", "q": "4.70443515", "f": 27781, "l": 27781, "T": 1498793709153, "m": true, "M": true}
/// ```
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AggTradeMsg<'a> {
    /// Event type, `aggTrade` (websocket only; absent when a bare frame's
    /// dispatch already consumed it).
    #[serde(borrow, default)]
    pub(crate) e: OptStr<'a>,
    /// Native symbol (websocket only).
    #[serde(borrow, default)]
    pub(crate) s: OptStr<'a>,
    /// Aggregate trade id.
    #[serde(rename = "a", default)]
    pub(crate) id: OptU64,
    /// Price.
    #[serde(borrow, rename = "p", default)]
    pub(crate) price: OptStr<'a>,
    /// Quantity, base asset.
    #[serde(borrow, rename = "q", default)]
    pub(crate) qty: OptStr<'a>,
    /// Trade time, epoch milliseconds.
    #[serde(rename = "T", default)]
    pub(crate) time: OptU64,
    /// Whether the buyer was the maker.
    #[serde(rename = "m", default)]
    pub(crate) buyer_is_maker: OptBool,
}

impl AggTradeMsg<'_> {
    /// The native symbol (websocket frames).
    pub(crate) fn symbol(&self) -> Result<&str, DecodeError> {
        de::required(self.s.get(), "s")
    }

    /// Checks every field, without touching decoder state.
    pub(crate) fn validate(&self) -> Result<TradeBody, DecodeError> {
        if let Some(e) = self.e.get() {
            if e != "aggTrade" {
                return Err(DecodeError::BadField { field: "e", detail: format!("{} on an aggTrade stream", de::snippet(e)) });
            }
        }
        let buyer_is_maker = de::required(self.buyer_is_maker.0, "m")?;
        Ok(TradeBody {
            id: de::required(self.id.0, "a")?,
            price: de::price(de::required(self.price.get(), "p")?, "p")?,
            size: de::trade_size(de::required(self.qty.get(), "q")?, "q")?,
            // The buyer rested on the book: the seller took liquidity.
            taker_side: if buyer_is_maker { Side::Sell } else { Side::Buy },
            time: de::millis(de::required(self.time.0, "T")?, "T")?,
        })
    }
}
