//! Book statistics of one product: top of book, spread, mid and its moving
//! average, the widest spread, the last trade.

use std::collections::VecDeque;

use marketpipe_model::{BookState, BookStats, Decimal, InstrumentKey, Level, Price, Timestamp, Trade, TradeId};

use crate::{book::OrderBook, checkpoint::stored, num::eq_dec};

/// What the stats show of the book: best levels while live, and the state.
type VisibleTop = (Option<Level>, Option<Level>, BookState);

/// Whether two views of the top of book show the same values.
fn same_top(a: &VisibleTop, b: &VisibleTop) -> bool {
    let same = |x: &Option<Level>, y: &Option<Level>| match (x, y) {
        (Some(x), Some(y)) => eq_dec(&x.price, &y.price) && eq_dec(&x.size, &y.size),
        (None, None) => true,
        _ => false,
    };
    a.2 == b.2 && same(&a.0, &b.0) && same(&a.1, &b.1)
}

/// `(bid + ask) / 2`; `None` only for prices beyond any real market.
fn mid_of(bid: Price, ask: Price) -> Option<Decimal> {
    bid.checked_add(ask).and_then(|s| s.checked_div(Decimal::TWO))
}

/// The statistics state of one product.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct StatsTracker {
    /// The last mids, oldest first, at most the configured window, each
    /// kept doubled (`bid + ask`): halving is deferred to the one division
    /// made when emitting, which keeps the hot path division-free.
    #[serde(with = "stored")]
    mids: VecDeque<Decimal>,
    /// Exact sum of `mids`.
    #[serde(with = "stored")]
    sum: Decimal,
    /// The (best bid, best ask) prices last seen while live: a new mid enters
    /// when they change.
    #[serde(with = "stored")]
    last_pair: (Option<Price>, Option<Price>),
    #[serde(with = "stored")]
    max_spread: Option<Decimal>,
    /// The greatest `(time, id)` trade seen, with its price.
    #[serde(with = "stored")]
    last_trade: Option<(i64, TradeId, Price)>,
    /// What the last emitted-or-pending stats showed of the book, to tell
    /// whether a book update changed the stats at all.
    #[serde(with = "stored")]
    shown: VisibleTop,
    #[serde(with = "stored")]
    time: Option<Timestamp>,
    pub(crate) dirty: bool,
}

impl StatsTracker {
    pub(crate) fn new() -> Self {
        StatsTracker {
            mids: VecDeque::new(),
            sum: Decimal::ZERO,
            last_pair: (None, None),
            max_spread: None,
            last_trade: None,
            shown: (None, None, BookState::Resyncing),
            time: None,
            dirty: false,
        }
    }

    /// Takes in the book after it changed (levels or state). `time` is the
    /// update's time, `None` for a state change the runtime made.
    pub(crate) fn on_book(&mut self, book: &OrderBook, time: Option<Timestamp>, window: u32) {
        let state = book.state();
        let (bid, ask) = book.best();
        let visible = if state == BookState::Live { (bid.copied(), ask.copied(), state) } else { (None, None, state) };
        if !same_top(&visible, &self.shown) {
            self.shown = visible;
            self.dirty = true;
            self.time = time.or(self.time);
        }
        if state != BookState::Live {
            return;
        }
        let pair = (bid.map(|l| l.price), ask.map(|l| l.price));
        let same_price = |x: Option<Price>, y: Option<Price>| match (x, y) {
            (Some(x), Some(y)) => eq_dec(&x, &y),
            (None, None) => true,
            _ => false,
        };
        if same_price(pair.0, self.last_pair.0) && same_price(pair.1, self.last_pair.1) {
            return;
        }
        self.last_pair = pair;
        if let (Some(b), Some(a)) = pair {
            self.add_mid(b, a, window);
        }
    }

    fn add_mid(&mut self, bid: Price, ask: Price, window: u32) {
        let (Some(double_mid), Some(spread)) = (bid.checked_add(ask), ask.checked_sub(bid)) else { return };
        if self.max_spread.is_none_or(|m| spread > m) {
            self.max_spread = Some(spread);
        }
        let full = self.mids.len() >= window as usize;
        let leaving = if full { self.mids.front().copied().unwrap_or(Decimal::ZERO) } else { Decimal::ZERO };
        // Out of range only for absurd prices; the sample is then skipped
        // rather than corrupting the sum.
        let Some(sum) = self.sum.checked_sub(leaving).and_then(|s| s.checked_add(double_mid)) else { return };
        if full {
            self.mids.pop_front();
        }
        self.mids.push_back(double_mid);
        self.sum = sum;
    }

    /// Takes in an accepted trade: it becomes the last trade unless a later
    /// one (by time, then id) was already seen.
    pub(crate) fn on_trade(&mut self, trade: &Trade) {
        let t = trade.time.nanos();
        let newer = match &self.last_trade {
            None => true,
            Some((time, id, _)) => (t, &trade.id) > (*time, id),
        };
        if newer {
            self.last_trade = Some((t, trade.id.clone(), trade.price));
            self.time = Some(trade.time);
            self.dirty = true;
        }
    }

    /// Checks statistics read from a checkpoint: no more mids than the
    /// moving average spans.
    pub(crate) fn check_restored(&self, window: u32) -> Result<(), &'static str> {
        if self.mids.len() > window as usize {
            return Err("more mids than the moving average spans");
        }
        Ok(())
    }

    /// The statistics as served.
    pub(crate) fn to_stats(&self, instrument: &InstrumentKey, window: u32) -> BookStats {
        let (bid, ask, state) = self.shown;
        let (spread, mid) = match (bid, ask) {
            (Some(b), Some(a)) => (a.price.checked_sub(b.price), mid_of(b.price, a.price)),
            _ => (None, None),
        };
        let samples = self.mids.len();
        let mid_ma = if samples == 0 { None } else { self.sum.checked_div(Decimal::from(samples.saturating_mul(2))) };
        BookStats {
            instrument: instrument.clone(),
            time: self.time,
            best_bid: bid.map(|l| l.price),
            best_bid_size: bid.map(|l| l.size),
            best_ask: ask.map(|l| l.price),
            best_ask_size: ask.map(|l| l.size),
            spread,
            mid,
            mid_ma,
            mid_ma_window: window,
            mid_ma_samples: u32::try_from(samples).unwrap_or(u32::MAX),
            max_spread: self.max_spread,
            last_price: self.last_trade.as_ref().map(|(_, _, p)| *p),
            last_trade_time: self.last_trade.as_ref().map(|(t, _, _)| Timestamp(*t)),
            book_state: state,
        }
    }
}
