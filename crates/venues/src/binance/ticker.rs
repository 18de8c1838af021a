//! Tickers: the 24-hour `24hrMiniTicker` event (alone on
//! `<symbol>@miniTicker`, or for every changed symbol on `!miniTicker@arr`)
//! and the best bid/ask of `<symbol>@bookTicker`.
//!
//! Neither carries everything a [`Ticker`] can hold; what a message does
//! not carry stays `None`. A price Binance does not have (an empty book
//! side, no trade in the window) is sent as zero and read as `None` too.

use serde::Deserialize;

use super::de::{self, OptStr, OptU64};
use crate::{wire::body::TickerBody, DecodeError};

/// 24-hour rolling window statistics of one symbol (not the UTC day). `c`
/// is the last price, `o` the price 24 hours ago, `v` the base volume; `q`
/// (quote volume) has no place in a [`Ticker`] and is only checked.
///
/// See <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md#individual-symbol-mini-ticker-stream>
/// and, for the array of every symbol that changed,
/// <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md#all-market-mini-tickers-stream>
///
/// ```json
/// {
///   "e": "24hrMiniTicker",
///   "E": 1672515782136,
///   "s": "BNBBTC",
///   "c": "0.0025",
///   "o": "0.0010",
///   "h": "0.0025",
///   "l": "0.0010",
///   "v": "10000",
///   "q": "18"
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct MiniTickerMsg<'a> {
    /// Event type, `24hrMiniTicker`.
    #[serde(borrow, default)]
    e: OptStr<'a>,
    /// Event time, epoch milliseconds.
    #[serde(rename = "E", default)]
    event_time: OptU64,
    /// Native symbol.
    #[serde(borrow, default)]
    s: OptStr<'a>,
    /// Close (last) price.
    #[serde(borrow, rename = "c", default)]
    close: OptStr<'a>,
    /// Open price, 24 hours ago.
    #[serde(borrow, rename = "o", default)]
    open: OptStr<'a>,
    /// High.
    #[serde(borrow, rename = "h", default)]
    high: OptStr<'a>,
    /// Low.
    #[serde(borrow, rename = "l", default)]
    low: OptStr<'a>,
    /// Base asset volume.
    #[serde(borrow, rename = "v", default)]
    volume: OptStr<'a>,
    /// Quote asset volume (validated, not kept).
    #[serde(borrow, rename = "q", default)]
    quote_volume: OptStr<'a>,
}

impl MiniTickerMsg<'_> {
    /// The native symbol.
    pub(crate) fn symbol(&self) -> Result<&str, DecodeError> {
        de::required(self.s.get(), "s")
    }

    /// Checks every field, without touching decoder state.
    pub(crate) fn validate(&self) -> Result<TickerBody, DecodeError> {
        if let Some(e) = self.e.get() {
            if e != "24hrMiniTicker" {
                return Err(DecodeError::BadField { field: "e", detail: format!("{} on a miniTicker stream", de::snippet(e)) });
            }
        }
        de::opt_size(self.quote_volume.get(), "q")?;
        Ok(TickerBody {
            time: Some(de::millis(de::required(self.event_time.0, "E")?, "E")?),
            last_price: de::stat_price(self.close.get(), "c")?,
            open_24h: de::stat_price(self.open.get(), "o")?,
            high_24h: de::stat_price(self.high.get(), "h")?,
            low_24h: de::stat_price(self.low.get(), "l")?,
            volume_24h: de::opt_size(self.volume.get(), "v")?,
            ..TickerBody::default()
        })
    }
}

/// The best bid and ask of one symbol, pushed on every change. `u` is the
/// order book update id the quote reflects; spot sends no event type and
/// no time (the futures variant's `e`/`E`/`T` are accepted and checked).
///
/// See <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md#individual-symbol-book-ticker-streams>
///
/// ```json
/// {
///   "u": 400900217,
///   "s": "BNBUSDT",
///   "b": "25.35190000",
///   "B": "31.21000000",
///   "a": "25.36520000",
///   "A": "40.66000000"
/// }
/// ```
#[derive(Debug, Default, Deserialize)]
pub(crate) struct BookTickerMsg<'a> {
    /// Event type, where sent: `bookTicker`.
    #[serde(borrow, default)]
    pub(crate) e: OptStr<'a>,
    /// Event time, where sent.
    #[serde(rename = "E", default)]
    pub(crate) event_time: OptU64,
    /// Order book update id.
    #[serde(rename = "u", default)]
    pub(crate) update_id: OptU64,
    /// Native symbol.
    #[serde(borrow, default)]
    pub(crate) s: OptStr<'a>,
    /// Best bid price.
    #[serde(borrow, rename = "b", default)]
    pub(crate) bid: OptStr<'a>,
    /// Best bid quantity.
    #[serde(borrow, rename = "B", default)]
    pub(crate) bid_qty: OptStr<'a>,
    /// Best ask price.
    #[serde(borrow, rename = "a", default)]
    pub(crate) ask: OptStr<'a>,
    /// Best ask quantity.
    #[serde(borrow, rename = "A", default)]
    pub(crate) ask_qty: OptStr<'a>,
}

impl BookTickerMsg<'_> {
    /// The native symbol.
    pub(crate) fn symbol(&self) -> Result<&str, DecodeError> {
        de::required(self.s.get(), "s")
    }

    /// Checks every field, without touching decoder state. A side whose
    /// price is zero (the side is empty) has no price and no size.
    pub(crate) fn validate(&self) -> Result<TickerBody, DecodeError> {
        if let Some(e) = self.e.get() {
            if e != "bookTicker" {
                return Err(DecodeError::BadField { field: "e", detail: format!("{} on a bookTicker stream", de::snippet(e)) });
            }
        }
        de::required(self.update_id.0, "u")?;
        let time = self.event_time.0.map(|ms| de::millis(ms, "E")).transpose()?;
        let best_bid = de::stat_price(Some(de::required(self.bid.get(), "b")?), "b")?;
        let best_bid_size = de::size(de::required(self.bid_qty.get(), "B")?, "B")?;
        let best_ask = de::stat_price(Some(de::required(self.ask.get(), "a")?), "a")?;
        let best_ask_size = de::size(de::required(self.ask_qty.get(), "A")?, "A")?;
        Ok(TickerBody {
            time,
            best_bid_size: best_bid.and(Some(best_bid_size)),
            best_bid,
            best_ask_size: best_ask.and(Some(best_ask_size)),
            best_ask,
            ..TickerBody::default()
        })
    }
}
