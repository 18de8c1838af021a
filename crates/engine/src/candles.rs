//! Event-time candle aggregation for one product: windows, watermark,
//! lateness, revisions, retention.

use std::collections::VecDeque;

use marketpipe_model::{Candle, InstrumentKey, Interval, Trade};

use crate::{
    checkpoint::stored,
    dedup::TradeIds,
    num::{is_positive, mul_dec, ExactSum},
    window::{Amounts, NewSums, Window},
    EngineConfig, EngineCounters,
};

/// Trade times outside `±2^62` ns (years 1823..2116) are refused: inside it,
/// window starts, ends and watermark arithmetic cannot overflow an `i64`.
const TIME_LIMIT: i64 = 1 << 62;

/// The candle settings every product shares, derived once from the config.
#[derive(Debug, Clone)]
pub(crate) struct CandleParams {
    /// Configured intervals, narrowest first, so that series order is the
    /// output order.
    pub(crate) intervals: Vec<Interval>,
    pub(crate) lateness: i64,
    pub(crate) retention: i64,
    /// Watermark progress between two sweeps of the trade-id set.
    pub(crate) sweep_every: i64,
}

impl CandleParams {
    pub(crate) fn new(config: &EngineConfig) -> Self {
        let mut intervals = config.intervals.clone();
        intervals.sort_unstable();
        CandleParams {
            intervals,
            lateness: config.allowed_lateness_ns,
            retention: config.retention_ns,
            // A quarter of the retention keeps the set within 1.25 × the
            // retention's worth of ids at a cost of ~5 visits per id; the
            // floor keeps a zero retention from sweeping on every trade.
            sweep_every: (config.retention_ns / 4).max(1_000_000_000),
        }
    }
}

/// What became of one trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TradeOutcome {
    /// Counted in its windows; `late` if one of them was already final.
    Accepted { late: bool },
    /// Its id was already counted.
    Duplicate,
    /// Older than the watermark minus the retention.
    TooLate,
    /// Non-positive price or size, or a time outside the supported range.
    Invalid,
    /// A sum would leave the exact decimal range.
    Overflow,
}

/// The windows of one interval, ascending by start. Windows before
/// `final_upto` are final, the rest are not: finality follows the window
/// end and the watermark only grows, so the final ones are always a prefix.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Series {
    #[serde(with = "stored")]
    interval: Interval,
    width: i64,
    windows: VecDeque<Window>,
    final_upto: usize,
}

impl Series {
    /// The start of the window holding time `t`, and where that window is
    /// (`Ok`) or would go (`Err`). Trades mostly land in the newest window,
    /// which is tried first and spares the division.
    fn locate_time(&self, t: i64) -> (i64, Result<usize, usize>) {
        if let Some(last) = self.windows.back() {
            if last.start <= t && t < last.end {
                return (last.start, Ok(self.windows.len() - 1));
            }
        }
        let start = t - t.rem_euclid(self.width);
        (start, self.locate(start))
    }

    /// Where the window starting at `start` is (`Ok`) or would go (`Err`).
    fn locate(&self, start: i64) -> Result<usize, usize> {
        match self.windows.back() {
            None => Err(0),
            Some(last) if last.start == start => Ok(self.windows.len() - 1),
            Some(last) if last.start < start => Err(self.windows.len()),
            Some(_) => self.windows.binary_search_by_key(&start, |w| w.start),
        }
    }
}

/// All candle state of one product.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct CandleAggregator {
    series: Vec<Series>,
    ids: TradeIds,
    /// Newest trade time accepted; `i64::MIN` before the first.
    max_event: i64,
    /// The watermark at which [`CandleAggregator::advance`] next has work:
    /// a window to finalize, a window to evict or an id sweep.
    next_action: i64,
    /// Windows changed since the last drain, as (series index, start). A
    /// checkpoint stores this list and sets the windows' flags from it.
    dirty: Vec<(u8, i64)>,
}

/// Flags a window for the next drain, once.
fn mark_dirty(dirty: &mut Vec<(u8, i64)>, series: usize, w: &mut Window) {
    if !w.dirty {
        w.dirty = true;
        // At most 7 series, so the index fits a u8.
        dirty.push((series as u8, w.start));
    }
}

impl CandleAggregator {
    pub(crate) fn new(params: &CandleParams) -> Self {
        CandleAggregator {
            series: params
                .intervals
                .iter()
                .map(|&interval| Series { interval, width: interval.nanos(), windows: VecDeque::new(), final_upto: 0 })
                .collect(),
            ids: TradeIds::new(),
            max_event: i64::MIN,
            next_action: i64::MAX,
            dirty: Vec::new(),
        }
    }

    /// The effective watermark: the newest trade time minus the lateness, or
    /// the clock's watermark (`clock − lateness − margin`) if that is later.
    pub(crate) fn watermark(&self, params: &CandleParams, clock_wm: i64) -> i64 {
        self.max_event.saturating_sub(params.lateness).max(clock_wm)
    }

    /// The watermark at which [`CandleAggregator::advance`] next has work.
    pub(crate) fn next_action(&self) -> i64 {
        self.next_action
    }

    /// Adds one trade to every interval, or refuses it untouched.
    pub(crate) fn add_trade(&mut self, params: &CandleParams, clock_wm: i64, trade: &Trade, counters: &mut EngineCounters) -> TradeOutcome {
        let t = trade.time.nanos();
        if !(-TIME_LIMIT..=TIME_LIMIT).contains(&t) || !is_positive(&trade.price) || !is_positive(&trade.size) {
            return TradeOutcome::Invalid;
        }
        let wm = self.watermark(params, clock_wm);
        if t < wm.saturating_sub(params.retention) {
            return TradeOutcome::TooLate;
        }
        let Some(notional) = mul_dec(&trade.price, &trade.size) else {
            return TradeOutcome::Overflow;
        };
        let amounts = Amounts { size: ExactSum::of(&trade.size), notional: ExactSum::of(&notional) };
        let CandleAggregator { series, ids, dirty, .. } = self;
        if ids.contains(&trade.id) {
            return TradeOutcome::Duplicate;
        }
        // Locate every window and compute every sum before changing
        // anything, so that a trade that would overflow one window changes
        // none.
        let first = NewSums::first(&amounts);
        let mut plan = [(0i64, Err(0), first); Interval::ALL.len()];
        for (s, step) in series.iter().zip(plan.iter_mut()) {
            let (start, slot) = s.locate_time(t);
            let sums = match slot.ok().and_then(|i| s.windows.get(i)) {
                Some(w) => match w.sums_with(trade.taker_side, &amounts) {
                    Some(sums) => sums,
                    None => return TradeOutcome::Overflow,
                },
                None => first,
            };
            *step = (start, slot, sums);
        }
        ids.insert(&trade.id, t);

        let mut late = false;
        let mut created = false;
        // Series go narrowest first and each window lies inside the wider
        // ones, which hold a superset of its trades: once a trade is not a
        // new high (low) of one window it is not one of any wider window.
        let mut extremes = (true, true);
        for (index, (s, &(start, slot, sums))) in series.iter_mut().zip(plan.iter()).enumerate() {
            match slot {
                Ok(i) => {
                    if let Some(w) = s.windows.get_mut(i) {
                        extremes = w.add(trade, sums, extremes);
                        if w.is_final {
                            late = true;
                            w.revision = w.revision.saturating_add(1);
                        }
                        mark_dirty(dirty, index, w);
                    }
                }
                Err(i) => {
                    let end = start + s.width;
                    // A window first opened by a late trade is final from
                    // the start; no earlier version of it was ever emitted,
                    // so it starts at revision 0.
                    let is_final = end <= wm;
                    let mut w = Window::new(start, end, trade, sums, is_final);
                    mark_dirty(dirty, index, &mut w);
                    s.windows.insert(i, w);
                    if is_final {
                        late = true;
                        s.final_upto += 1;
                    }
                    created = true;
                }
            }
        }

        self.max_event = self.max_event.max(t);
        let wm = self.watermark(params, clock_wm);
        self.ids.schedule(wm, params.sweep_every);
        if created {
            self.recompute_next_action(params);
        } else {
            self.next_action = self.next_action.min(self.ids.sweep_at());
        }
        if wm >= self.next_action {
            self.advance(params, wm, counters);
        }
        TradeOutcome::Accepted { late }
    }

    /// Finalizes windows the watermark `wm` has passed, evicts windows and
    /// forgets ids behind the retention horizon. A window is never evicted
    /// while it still waits to be drained (e.g. it became final in this very
    /// call): the drain evicts it afterwards.
    pub(crate) fn advance(&mut self, params: &CandleParams, wm: i64, counters: &mut EngineCounters) {
        let cutoff = wm.saturating_sub(params.retention);
        for (index, s) in self.series.iter_mut().enumerate() {
            while let Some(w) = s.windows.get_mut(s.final_upto) {
                if w.end > wm {
                    break;
                }
                w.is_final = true;
                mark_dirty(&mut self.dirty, index, w);
                s.final_upto += 1;
                counters.finalized_windows += 1;
            }
            while let Some(w) = s.windows.front() {
                if w.end > cutoff || w.dirty {
                    break;
                }
                s.windows.pop_front();
                s.final_upto = s.final_upto.saturating_sub(1);
                counters.evicted_windows += 1;
            }
        }
        self.ids.sweep(wm, cutoff, params.sweep_every);
        self.recompute_next_action(params);
    }

    fn recompute_next_action(&mut self, params: &CandleParams) {
        let mut next = self.ids.sweep_at();
        for s in &self.series {
            if let Some(w) = s.windows.get(s.final_upto) {
                next = next.min(w.end);
            }
            // A dirty front window is evicted by the drain, which then
            // recomputes this; waking up for it earlier would find it still
            // blocked.
            if let Some(w) = s.windows.front().filter(|w| !w.dirty) {
                next = next.min(w.end.saturating_add(params.retention));
            }
        }
        self.next_action = next;
    }

    /// Checks an aggregator read from a checkpoint against the invariants
    /// the code above relies on, and sets the windows' dirty flags from the
    /// pending-drain list.
    pub(crate) fn check_restored(&mut self, params: &CandleParams) -> Result<(), &'static str> {
        if self.series.len() != params.intervals.len() {
            return Err("candle series do not match the configured intervals");
        }
        for (s, &interval) in self.series.iter().zip(&params.intervals) {
            // A wrong width would also break the division in `locate_time`.
            if s.interval != interval || s.width != interval.nanos() {
                return Err("candle series do not match the configured intervals");
            }
            for w in &s.windows {
                w.check_restored(s.width)?;
            }
            if s.windows.iter().zip(s.windows.iter().skip(1)).any(|(a, b)| a.start >= b.start) {
                return Err("candle windows out of order");
            }
            if s.final_upto > s.windows.len() || s.windows.iter().enumerate().any(|(i, w)| w.is_final != (i < s.final_upto)) {
                return Err("final candle windows are not a prefix");
            }
        }
        if self.max_event != i64::MIN && !(-TIME_LIMIT..=TIME_LIMIT).contains(&self.max_event) {
            return Err("newest trade time out of range");
        }
        for &(index, start) in &self.dirty {
            let window = self.series.get_mut(usize::from(index)).and_then(|s| {
                let i = s.locate(start).ok()?;
                s.windows.get_mut(i)
            });
            let Some(w) = window else { return Err("a candle window waiting for the drain is missing") };
            if w.dirty {
                return Err("a candle window is listed twice for the drain");
            }
            w.dirty = true;
        }
        self.ids.check_restored()
    }

    /// Whether any window waits to be drained.
    pub(crate) fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Appends every changed window, by (interval, start), and clears the
    /// change marks.
    pub(crate) fn drain(&mut self, instrument: &InstrumentKey, out: &mut Vec<Candle>) {
        self.dirty.sort_unstable();
        for &(index, start) in &self.dirty {
            let Some(s) = self.series.get_mut(usize::from(index)) else { continue };
            let Some(w) = s.locate(start).ok().and_then(|i| s.windows.get_mut(i)) else { continue };
            w.dirty = false;
            out.push(w.to_candle(instrument, s.interval));
        }
        self.dirty.clear();
    }

    /// Windows held in memory.
    pub(crate) fn window_count(&self) -> usize {
        self.series.iter().map(|s| s.windows.len()).sum()
    }

    /// Entries of the trade-id set (id runs and string ids).
    pub(crate) fn id_count(&self) -> usize {
        self.ids.len()
    }

    /// The newest accepted trade time, if any.
    #[cfg(test)]
    pub(crate) fn max_event(&self) -> Option<marketpipe_model::Timestamp> {
        (self.max_event != i64::MIN).then_some(marketpipe_model::Timestamp(self.max_event))
    }
}

#[cfg(test)]
mod tests {
    use marketpipe_model::{Decimal, Exchange, Side, Symbol, Timestamp, TradeId};

    use super::*;

    const S: i64 = 1_000_000_000;

    fn params(retention: i64) -> CandleParams {
        CandleParams::new(&EngineConfig { intervals: vec![Interval::M1, Interval::S1], retention_ns: retention, ..EngineConfig::default() })
    }

    fn add(agg: &mut CandleAggregator, p: &CandleParams, t: &Trade) -> TradeOutcome {
        agg.add_trade(p, i64::MIN, t, &mut EngineCounters::default())
    }

    fn trade(id: u64, time: i64) -> Trade {
        Trade {
            instrument: InstrumentKey::new(Exchange::Binance, Symbol::new("NKN-USDT")),
            id: TradeId::Num(id),
            price: Decimal::ONE,
            size: Decimal::ONE,
            taker_side: Side::Buy,
            time: Timestamp(time),
            recv_time: Timestamp(time),
        }
    }

    #[test]
    fn series_are_sorted_narrowest_first() {
        let p = params(3600 * S);
        assert_eq!(p.intervals, vec![Interval::S1, Interval::M1]);
    }

    #[test]
    fn final_windows_stay_a_prefix_when_a_late_window_opens() {
        let p = params(3600 * S);
        let mut agg = CandleAggregator::new(&p);
        let base = 1_700_000_000 * S;
        assert_eq!(add(&mut agg, &p, &trade(1, base)), TradeOutcome::Accepted { late: false });
        assert_eq!(add(&mut agg, &p, &trade(2, base + 10 * S)), TradeOutcome::Accepted { late: false });
        // 1s window of `base + 2 s` has no trades and is behind the watermark.
        assert_eq!(add(&mut agg, &p, &trade(3, base + 2 * S)), TradeOutcome::Accepted { late: true });
        let s1 = &agg.series[0];
        let finals: Vec<bool> = s1.windows.iter().map(|w| w.is_final).collect();
        assert_eq!(finals, vec![true, true, false]);
        assert_eq!(s1.final_upto, 2);
        assert_eq!(agg.max_event(), Some(Timestamp(base + 10 * S)));
        // The next action is the first non-final window's end.
        assert_eq!(agg.next_action(), base + 11 * S);
    }

    #[test]
    fn refused_trades_change_nothing() {
        let p = params(10 * S);
        let mut agg = CandleAggregator::new(&p);
        let base = 1_700_000_000 * S;
        add(&mut agg, &p, &trade(1, base + 100 * S));
        let mut bad = trade(2, base + 200 * S);
        bad.size = Decimal::ZERO;
        assert_eq!(add(&mut agg, &p, &bad), TradeOutcome::Invalid);
        assert_eq!(add(&mut agg, &p, &trade(3, TIME_LIMIT + 1)), TradeOutcome::Invalid);
        assert_eq!(add(&mut agg, &p, &trade(4, base)), TradeOutcome::TooLate);
        assert_eq!(add(&mut agg, &p, &trade(1, base + 100 * S)), TradeOutcome::Duplicate);
        let mut huge = trade(5, base + 100 * S);
        huge.price = Decimal::MAX;
        huge.size = Decimal::TWO;
        assert_eq!(add(&mut agg, &p, &huge), TradeOutcome::Overflow);
        assert_eq!(agg.max_event(), Some(Timestamp(base + 100 * S)));
        assert_eq!((agg.window_count(), agg.id_count()), (2, 1));
    }

    #[test]
    fn overflow_in_one_window_refuses_the_trade_everywhere() {
        let p = params(3600 * S);
        let mut agg = CandleAggregator::new(&p);
        let base = 1_700_000_000 * S;
        let mut big = trade(1, base);
        big.size = Decimal::MAX;
        assert_eq!(add(&mut agg, &p, &big), TradeOutcome::Accepted { late: false });
        // Same minute, other second: the 1s window is new (fine), the 1m
        // window's volume would overflow.
        let mut next = trade(2, base + 3 * S);
        next.size = Decimal::MAX;
        assert_eq!(add(&mut agg, &p, &next), TradeOutcome::Overflow);
        assert_eq!(agg.window_count(), 2);
        assert_eq!(agg.id_count(), 1);
    }
}
