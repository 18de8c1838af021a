//! Choosing which candles a candles response carries, and filling gaps.
//!
//! Candles are sparse (no trades, no candle). With `fill=true` the response
//! also carries an empty candle for every missing window:
//!
//! - between two returned candles, priced at the earlier one's close, and
//!   `final` when the later one is (its watermark passed the gap too);
//! - after the last returned candle up to `end` (exclusive), when `end` was
//!   given, `final: false` (nothing says those windows have closed); without
//!   `end` nothing is filled after the last candle, because the API reads no
//!   clock to know where "now" is;
//! - never before the first returned candle: there is no price to carry.
//!
//! `limit` bounds the total. With `start` the response keeps the first
//! `limit` windows from the first candle; without it, the last `limit`
//! windows (the latest ones, as without filling). Gaps can be enormous (a
//! `1s` interval over a year), so windows are generated lazily and stop at
//! `limit`: the work is O(returned candles + limit), never O(gap width).

use marketpipe_model::{Candle, Interval, Price, Timestamp};

/// One entry of a candles response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot<'a> {
    /// A candle from the store.
    Real(&'a Candle),
    /// An empty window synthesized by filling.
    Filled {
        /// Window start.
        start: Timestamp,
        /// The previous real candle's close.
        price: Price,
        /// Whether the window is known to have closed.
        is_final: bool,
    },
}

/// Which end of the sequence survives the `limit` cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The earliest windows (a query with `start`).
    First,
    /// The latest windows (a query without `start`).
    Last,
}

/// Arranges the store's candles (ascending by start) into at most `limit`
/// slots, filling gaps when `fill` is set (see the module docs).
pub(crate) fn arrange(real: &[Candle], interval: Interval, end: Option<Timestamp>, limit: usize, keep: Keep, fill: bool) -> Vec<Slot<'_>> {
    let width = i128::from(interval.nanos());
    // The empty windows after candle `i`: how many, and how they look.
    let gap_after = |i: usize| -> (i128, Price, bool) {
        let (Some(c), true) = (real.get(i), fill) else {
            return (0, Price::ZERO, false);
        };
        let next = real.get(i + 1);
        let Some(upper) = next.map(|n| n.start).or(end) else {
            return (0, c.close, false);
        };
        // Windows start + k·width for k >= 1 with start + k·width < upper,
        // i.e. k <= (span - 1) / width; a non-positive span (a store that
        // returned unsorted rows) yields none.
        let span = i128::from(upper.nanos()) - i128::from(c.start.nanos());
        let count = if span > 0 { (span - 1) / width } else { 0 };
        (count, c.close, next.is_some_and(|n| n.is_final))
    };
    let filled = |c: &Candle, k: i128, price: Price, is_final: bool| -> Option<Slot<'static>> {
        // k·width < span <= i64 range, so this fits; checked anyway.
        let start = i64::try_from(i128::from(c.start.nanos()) + k * width).ok()?;
        Some(Slot::Filled { start: Timestamp(start), price, is_final })
    };

    let mut out = Vec::with_capacity(limit.min(real.len().saturating_mul(2)).min(4096));
    match keep {
        Keep::First => {
            'outer: for (i, c) in real.iter().enumerate() {
                if out.len() >= limit {
                    break;
                }
                out.push(Slot::Real(c));
                let (count, price, is_final) = gap_after(i);
                for k in 1..=count {
                    if out.len() >= limit {
                        break 'outer;
                    }
                    out.extend(filled(c, k, price, is_final));
                }
            }
        }
        Keep::Last => {
            // Built newest first, then reversed.
            'outer: for (i, c) in real.iter().enumerate().rev() {
                let (count, price, is_final) = gap_after(i);
                for k in (1..=count).rev() {
                    if out.len() >= limit {
                        break 'outer;
                    }
                    out.extend(filled(c, k, price, is_final));
                }
                if out.len() >= limit {
                    break;
                }
                out.push(Slot::Real(c));
            }
            out.reverse();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use marketpipe_model::{parse_decimal, Exchange, InstrumentKey, Symbol, TradeId};

    const MIN: i64 = 60_000_000_000;

    fn candle(minute: i64, close: &str, is_final: bool) -> Candle {
        let d = |s: &str| parse_decimal(s).unwrap();
        Candle {
            instrument: InstrumentKey::new(Exchange::Coinbase, Symbol::new("BTC-USD")),
            interval: Interval::M1,
            start: Timestamp(minute * MIN),
            open: d(close),
            high: d(close),
            low: d(close),
            close: d(close),
            volume: d("1"),
            quote_volume: d(close),
            vwap: d(close),
            trades: 1,
            buy_volume: d("1"),
            sell_volume: d("0"),
            buy_trades: 1,
            sell_trades: 0,
            first_trade_id: TradeId::Num(minute as u64),
            last_trade_id: TradeId::Num(minute as u64),
            is_final,
            revision: 0,
        }
    }

    /// Renders slots as `R<minute>` / `F<minute>@<price><f if final>` for compact assertions.
    fn show(slots: &[Slot<'_>]) -> Vec<String> {
        slots
            .iter()
            .map(|s| match s {
                Slot::Real(c) => format!("R{}", c.start.nanos() / MIN),
                Slot::Filled { start, price, is_final } => {
                    format!("F{}@{price}{}", start.nanos() / MIN, if *is_final { "f" } else { "" })
                }
            })
            .collect()
    }

    fn fixture() -> Vec<Candle> {
        vec![candle(0, "10", true), candle(1, "11", true), candle(4, "14", true)]
    }

    #[test]
    fn without_fill_only_cuts_to_limit() {
        let real = fixture();
        assert_eq!(show(&arrange(&real, Interval::M1, None, 10, Keep::First, false)), ["R0", "R1", "R4"]);
        assert_eq!(show(&arrange(&real, Interval::M1, None, 2, Keep::First, false)), ["R0", "R1"]);
        assert_eq!(show(&arrange(&real, Interval::M1, None, 2, Keep::Last, false)), ["R1", "R4"]);
    }

    #[test]
    fn fills_between_and_up_to_end() {
        let real = fixture();
        let end = Some(Timestamp(7 * MIN));
        assert_eq!(
            show(&arrange(&real, Interval::M1, end, 100, Keep::First, true)),
            ["R0", "R1", "F2@11f", "F3@11f", "R4", "F5@14", "F6@14"]
        );
        // The same windows whichever end is kept when nothing is cut.
        assert_eq!(arrange(&real, Interval::M1, end, 100, Keep::Last, true), arrange(&real, Interval::M1, end, 100, Keep::First, true));
        // An end inside a window still fills that window (end bounds starts).
        let end = Some(Timestamp(5 * MIN + 1));
        assert_eq!(show(&arrange(&real, Interval::M1, end, 100, Keep::First, true)).last().unwrap(), "F5@14");
    }

    #[test]
    fn a_gap_is_final_only_when_the_candle_after_it_is() {
        let mut real = fixture();
        real[2].is_final = false;
        assert_eq!(show(&arrange(&real, Interval::M1, None, 100, Keep::First, true)), ["R0", "R1", "F2@11", "F3@11", "R4"]);
    }

    #[test]
    fn no_trailing_fill_without_end() {
        assert_eq!(show(&arrange(&fixture(), Interval::M1, None, 100, Keep::First, true)), ["R0", "R1", "F2@11f", "F3@11f", "R4"]);
    }

    #[test]
    fn limit_counts_filled_candles() {
        let real = fixture();
        let end = Some(Timestamp(7 * MIN));
        assert_eq!(show(&arrange(&real, Interval::M1, end, 3, Keep::First, true)), ["R0", "R1", "F2@11f"]);
        assert_eq!(show(&arrange(&real, Interval::M1, end, 3, Keep::Last, true)), ["R4", "F5@14", "F6@14"]);
        assert_eq!(show(&arrange(&real, Interval::M1, None, 3, Keep::Last, true)), ["F2@11f", "F3@11f", "R4"]);
    }

    #[test]
    fn huge_gaps_stop_at_the_limit() {
        // A year of one-second windows between two candles.
        let mut a = candle(0, "1", true);
        a.interval = Interval::S1;
        let mut b = candle(365 * 24 * 60, "2", true);
        b.interval = Interval::S1;
        let real = [a, b];
        let first = arrange(&real, Interval::S1, Some(Timestamp(i64::MAX)), 10_000, Keep::First, true);
        assert_eq!(first.len(), 10_000);
        assert_eq!(first[9_999], Slot::Filled { start: Timestamp(9_999 * 1_000_000_000), price: Price::ONE, is_final: true });
        let last = arrange(&real, Interval::S1, Some(Timestamp(i64::MAX)), 10_000, Keep::Last, true);
        assert_eq!(last.len(), 10_000);
        // The last window starting before i64::MAX ns.
        let top = i64::MAX - i64::MAX % 1_000_000_000;
        assert_eq!(last[9_999], Slot::Filled { start: Timestamp(top), price: Price::TWO, is_final: false });
    }

    #[test]
    fn unsorted_input_does_not_fill_backwards() {
        let real = vec![candle(5, "5", true), candle(1, "1", true)];
        assert_eq!(show(&arrange(&real, Interval::M1, None, 100, Keep::First, true)), ["R5", "R1"]);
    }

    #[test]
    fn empty_input_and_zero_limit() {
        assert!(arrange(&[], Interval::M1, Some(Timestamp(MIN)), 10, Keep::First, true).is_empty());
        assert!(arrange(&fixture(), Interval::M1, None, 0, Keep::Last, true).is_empty());
    }
}
