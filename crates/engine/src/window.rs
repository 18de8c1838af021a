//! One candle window's running aggregate.

use std::cmp::Ordering;

use marketpipe_model::{Candle, Decimal, InstrumentKey, Interval, Price, Side, Timestamp, Trade, TradeId};

use crate::{
    checkpoint::stored,
    num::{cmp_dec, ExactSum},
};

/// The aggregate of the trades in `[start, end)` of one interval.
///
/// Open and close are kept with their `(time, id)` so that they are the
/// first and last trade in that order whatever order trades arrive in.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Window {
    pub(crate) start: i64,
    pub(crate) end: i64,
    #[serde(with = "stored")]
    open: Price,
    open_time: i64,
    #[serde(with = "stored")]
    open_id: TradeId,
    #[serde(with = "stored")]
    close: Price,
    close_time: i64,
    #[serde(with = "stored")]
    close_id: TradeId,
    #[serde(with = "stored")]
    high: Price,
    #[serde(with = "stored")]
    low: Price,
    volume: ExactSum,
    quote_volume: ExactSum,
    buy_volume: ExactSum,
    sell_volume: ExactSum,
    trades: u64,
    buy_trades: u64,
    sell_trades: u64,
    /// The watermark passed `end`; never reset.
    pub(crate) is_final: bool,
    /// Changed since the last drain (and listed in the aggregator's dirty
    /// list). Not stored: a checkpoint sets it again from that list.
    #[serde(skip)]
    pub(crate) dirty: bool,
    /// Changes after becoming final.
    pub(crate) revision: u32,
}

/// Whether `(time, id)` sorts before `(other_time, other_id)`.
fn earlier(time: i64, id: &TradeId, other_time: i64, other_id: &TradeId) -> bool {
    match time.cmp(&other_time) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => id < other_id,
    }
}

/// One trade's amounts, converted once for all of its windows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Amounts {
    pub(crate) size: ExactSum,
    /// `price × size`.
    pub(crate) notional: ExactSum,
}

/// A window's sums after adding one trade, computed before anything is
/// changed: (volume, quote volume, volume of the trade's side).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewSums([ExactSum; 3]);

impl NewSums {
    /// The sums of a window holding only a trade of `amounts`.
    pub(crate) fn first(amounts: &Amounts) -> Self {
        NewSums([amounts.size, amounts.notional, amounts.size])
    }
}

impl Window {
    /// A window holding only `trade`, with the sums from [`NewSums::first`].
    pub(crate) fn new(start: i64, end: i64, trade: &Trade, sums: NewSums, is_final: bool) -> Window {
        let t = trade.time.nanos();
        let [volume, quote_volume, side_volume] = sums.0;
        let zero = ExactSum::of(&Decimal::ZERO);
        let (buy_volume, sell_volume, buy_trades, sell_trades) = match trade.taker_side {
            Side::Buy => (side_volume, zero, 1, 0),
            Side::Sell => (zero, side_volume, 0, 1),
        };
        Window {
            start,
            end,
            open: trade.price,
            open_time: t,
            open_id: trade.id.clone(),
            close: trade.price,
            close_time: t,
            close_id: trade.id.clone(),
            high: trade.price,
            low: trade.price,
            volume,
            quote_volume,
            buy_volume,
            sell_volume,
            trades: 1,
            buy_trades,
            sell_trades,
            is_final,
            dirty: false,
            revision: 0,
        }
    }

    /// The sums after adding a trade, or `None` if one would leave the
    /// decimal range.
    #[inline]
    pub(crate) fn sums_with(&self, side: Side, amounts: &Amounts) -> Option<NewSums> {
        let side_volume = match side {
            Side::Buy => self.buy_volume,
            Side::Sell => self.sell_volume,
        };
        Some(NewSums([self.volume.plus(amounts.size)?, self.quote_volume.plus(amounts.notional)?, side_volume.plus(amounts.size)?]))
    }

    /// Adds `trade`, whose sums [`Window::sums_with`] computed.
    ///
    /// `(check_high, check_low)` say whether the trade can still be a new
    /// high (low) here; the result says the same for the next wider window.
    #[inline]
    pub(crate) fn add(&mut self, trade: &Trade, sums: NewSums, (check_high, check_low): (bool, bool)) -> (bool, bool) {
        let t = trade.time.nanos();
        if earlier(t, &trade.id, self.open_time, &self.open_id) {
            self.open = trade.price;
            self.open_time = t;
            self.open_id = trade.id.clone();
        }
        if earlier(self.close_time, &self.close_id, t, &trade.id) {
            self.close = trade.price;
            self.close_time = t;
            self.close_id = trade.id.clone();
        }
        let new_high = check_high && cmp_dec(&trade.price, &self.high) == Ordering::Greater;
        if new_high {
            self.high = trade.price;
        }
        let new_low = check_low && cmp_dec(&trade.price, &self.low) == Ordering::Less;
        if new_low {
            self.low = trade.price;
        }
        let [volume, quote_volume, side_volume] = sums.0;
        self.volume = volume;
        self.quote_volume = quote_volume;
        self.trades = self.trades.saturating_add(1);
        match trade.taker_side {
            Side::Buy => {
                self.buy_volume = side_volume;
                self.buy_trades = self.buy_trades.saturating_add(1);
            }
            Side::Sell => {
                self.sell_volume = side_volume;
                self.sell_trades = self.sell_trades.saturating_add(1);
            }
        }
        (new_high, new_low)
    }

    /// Checks a window read from a checkpoint: `[start, end)` of `width`,
    /// open and close inside it, valid sums.
    pub(crate) fn check_restored(&self, width: i64) -> Result<(), &'static str> {
        if self.start.checked_add(width) != Some(self.end) || self.start.rem_euclid(width) != 0 {
            return Err("a window does not span its interval");
        }
        if !(self.start..self.end).contains(&self.open_time) || !(self.start..self.end).contains(&self.close_time) {
            return Err("a window's open or close lies outside it");
        }
        if ![self.volume, self.quote_volume, self.buy_volume, self.sell_volume].into_iter().all(ExactSum::is_valid) {
            return Err("a window's sum is not a valid decimal");
        }
        Ok(())
    }

    /// The window as a [`Candle`].
    pub(crate) fn to_candle(&self, instrument: &InstrumentKey, interval: Interval) -> Candle {
        // Volume is a sum of strictly positive sizes, so the division cannot
        // fail; the fallback only keeps this total.
        let (volume, quote_volume) = (self.volume.to_decimal(), self.quote_volume.to_decimal());
        let vwap = quote_volume.checked_div(volume).unwrap_or(self.close);
        Candle {
            instrument: instrument.clone(),
            interval,
            start: Timestamp(self.start),
            open: self.open,
            high: self.high,
            low: self.low,
            close: self.close,
            volume,
            quote_volume,
            vwap,
            trades: self.trades,
            buy_volume: self.buy_volume.to_decimal(),
            sell_volume: self.sell_volume.to_decimal(),
            buy_trades: self.buy_trades,
            sell_trades: self.sell_trades,
            first_trade_id: self.open_id.clone(),
            last_trade_id: self.close_id.clone(),
            is_final: self.is_final,
            revision: self.revision,
        }
    }
}

#[cfg(test)]
mod tests {
    use marketpipe_model::{Exchange, Symbol};

    use super::*;

    fn trade(id: u64, time: i64, price: &str, size: &str, side: Side) -> Trade {
        Trade {
            instrument: InstrumentKey::new(Exchange::Coinbase, Symbol::new("BTC-USD")),
            id: TradeId::Num(id),
            price: price.parse().unwrap(),
            size: size.parse().unwrap(),
            taker_side: side,
            time: Timestamp(time),
            recv_time: Timestamp(time),
        }
    }

    fn amounts(t: &Trade) -> Amounts {
        Amounts { size: ExactSum::of(&t.size), notional: ExactSum::of(&(t.price * t.size)) }
    }

    fn open(t: &Trade) -> Window {
        Window::new(0, 1000, t, NewSums::first(&amounts(t)), false)
    }

    fn add(w: &mut Window, t: &Trade) {
        let sums = w.sums_with(t.taker_side, &amounts(t)).unwrap();
        w.add(t, sums, (true, true));
    }

    #[test]
    fn equal_times_order_by_id() {
        let first = trade(7, 100, "10", "1", Side::Buy);
        let mut w = open(&first);
        add(&mut w, &trade(5, 100, "11", "1", Side::Sell));
        add(&mut w, &trade(9, 100, "12", "1", Side::Buy));
        add(&mut w, &trade(8, 100, "13", "1", Side::Buy));
        let c = w.to_candle(&first.instrument, Interval::S1);
        assert_eq!((c.open, c.first_trade_id), ("11".parse().unwrap(), TradeId::Num(5)));
        assert_eq!((c.close, c.last_trade_id), ("12".parse().unwrap(), TradeId::Num(9)));
        assert_eq!((c.high, c.low), ("13".parse().unwrap(), "10".parse().unwrap()));
    }

    #[test]
    fn string_ids_sort_after_numbers_at_equal_time() {
        let mut s = trade(1, 100, "10", "1", Side::Buy);
        s.id = TradeId::Str("a".into());
        let mut w = open(&s);
        add(&mut w, &trade(99, 100, "20", "1", Side::Buy));
        let c = w.to_candle(&s.instrument, Interval::S1);
        assert_eq!(c.first_trade_id, TradeId::Num(99));
        assert_eq!(c.last_trade_id, TradeId::Str("a".into()));
    }

    #[test]
    fn overflow_is_reported_not_panicked() {
        let big = trade(1, 0, "1", "79228162514264337593543950335", Side::Buy);
        let w = open(&big);
        assert!(w.sums_with(Side::Buy, &amounts(&big)).is_none());
    }
}
