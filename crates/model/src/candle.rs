//! Candle intervals and OHLCV candles.

use std::{fmt, str::FromStr};

use crate::{Decimal, InstrumentKey, Price, Qty, Timestamp, TradeId};

/// A candle width. Windows are `[start, start + width)` aligned to the Unix
/// epoch, so `1d` is the UTC day. Every width divides the next, which is what
/// lets a wider candle be rolled up from narrower ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Interval {
    /// One second.
    #[serde(rename = "1s")]
    S1,
    /// One minute.
    #[serde(rename = "1m")]
    M1,
    /// Five minutes.
    #[serde(rename = "5m")]
    M5,
    /// Fifteen minutes.
    #[serde(rename = "15m")]
    M15,
    /// One hour.
    #[serde(rename = "1h")]
    H1,
    /// Six hours.
    #[serde(rename = "6h")]
    H6,
    /// One UTC day.
    #[serde(rename = "1d")]
    D1,
}

impl Interval {
    /// Every interval, narrowest first.
    pub const ALL: [Interval; 7] = [Interval::S1, Interval::M1, Interval::M5, Interval::M15, Interval::H1, Interval::H6, Interval::D1];
    /// The default set: `1m 1h 1d`.
    pub const DEFAULT: [Interval; 3] = [Interval::M1, Interval::H1, Interval::D1];

    /// The width in nanoseconds.
    pub const fn nanos(self) -> i64 {
        const S: i64 = 1_000_000_000;
        match self {
            Interval::S1 => S,
            Interval::M1 => 60 * S,
            Interval::M5 => 300 * S,
            Interval::M15 => 900 * S,
            Interval::H1 => 3600 * S,
            Interval::H6 => 6 * 3600 * S,
            Interval::D1 => 86_400 * S,
        }
    }

    /// The short name (`1m`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Interval::S1 => "1s",
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::H1 => "1h",
            Interval::H6 => "6h",
            Interval::D1 => "1d",
        }
    }

    /// The start of the window containing `t`.
    pub const fn window_start(self, t: Timestamp) -> Timestamp {
        t.floor(self.nanos())
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An interval name that is not one of `1s 1m 5m 15m 1h 6h 1d`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown interval {0:?}; valid intervals are 1s, 1m, 5m, 15m, 1h, 6h, 1d")]
pub struct ParseIntervalError(pub String);

impl FromStr for Interval {
    type Err = ParseIntervalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Interval::ALL.into_iter().find(|i| i.as_str() == s).ok_or_else(|| ParseIntervalError(s.to_owned()))
    }
}

/// One OHLCV candle of one product and interval.
///
/// Built from trades by event time: open and close are the first and last
/// trade by `(time, trade id)`; each trade id counts once. `buy_*`/`sell_*`
/// split by the taker's side. A candle becomes `final` when the product's
/// watermark passes its end; a late trade that changes a final candle bumps
/// `revision`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Candle {
    /// The product.
    pub instrument: InstrumentKey,
    /// The width.
    pub interval: Interval,
    /// Window start (inclusive).
    pub start: Timestamp,
    /// First trade's price.
    pub open: Price,
    /// Highest trade price.
    pub high: Price,
    /// Lowest trade price.
    pub low: Price,
    /// Last trade's price.
    pub close: Price,
    /// Σ size (base currency).
    pub volume: Qty,
    /// Σ price × size (quote currency), exact.
    pub quote_volume: Decimal,
    /// `quote_volume / volume`, the one rounded field (28 significant digits).
    pub vwap: Decimal,
    /// Number of trades.
    pub trades: u64,
    /// Σ size of taker buys.
    pub buy_volume: Qty,
    /// Σ size of taker sells.
    pub sell_volume: Qty,
    /// Number of taker buys.
    pub buy_trades: u64,
    /// Number of taker sells.
    pub sell_trades: u64,
    /// Id of the opening trade.
    pub first_trade_id: TradeId,
    /// Id of the closing trade.
    pub last_trade_id: TradeId,
    /// Whether the window has closed (the watermark passed its end).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// How many times the candle changed after it became final.
    pub revision: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_lists_valid() {
        for i in Interval::ALL {
            assert_eq!(i.as_str().parse::<Interval>().unwrap(), i);
        }
        let err = "2m".parse::<Interval>().unwrap_err().to_string();
        assert!(err.contains("1s, 1m, 5m, 15m, 1h, 6h, 1d"), "{err}");
    }

    #[test]
    fn each_interval_divides_the_next() {
        for w in Interval::ALL.windows(2) {
            assert_eq!(w[1].nanos() % w[0].nanos(), 0, "{} does not divide {}", w[0], w[1]);
        }
    }
}
