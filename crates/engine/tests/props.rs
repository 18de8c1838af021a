//! Property tests: order independence within the lateness, roll-ups,
//! duplicates, and the book against a reference model.

mod common;

use std::collections::BTreeMap;

use common::*;
use marketpipe_engine::{Engine, EngineConfig};
use marketpipe_model::{
    BookSide, BookSnapshot, BookState, BookTop, Candle, Decimal, Interval, Level, LevelChange, MarketEvent, Side, Timestamp, Trade, TradeId,
};
use proptest::prelude::*;

const LATENESS: i64 = 5 * S;

/// Trades over `span_secs` from 2026-01-01, sorted by (time, id), with
/// distinct ids, repeated times and both sides.
fn trades(span_secs: i64) -> impl Strategy<Value = Vec<Trade>> {
    let one = (0i64..span_secs, 0usize..4, 1i64..20_000, 1i64..5_000_000, any::<bool>());
    proptest::collection::vec(one, 1..250).prop_map(|raw| {
        let k = key("BTC-USD");
        let sub = [0, 1, S / 2, S - 1];
        let mut trades: Vec<Trade> = raw
            .into_iter()
            .enumerate()
            .map(|(i, (secs, frac, cents, sats, buy))| Trade {
                instrument: k.clone(),
                // Distinct, but not in time order.
                id: TradeId::Num((i as u64 * 7919) % 100_003),
                price: Decimal::new(cents, 2),
                size: Decimal::new(sats, 8),
                taker_side: if buy { Side::Buy } else { Side::Sell },
                time: Timestamp(T0 + secs * S + sub[frac]),
                recv_time: Timestamp(T0),
            })
            .collect();
        trades.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        trades
    })
}

fn engine_for_props() -> Engine {
    engine_with(EngineConfig { intervals: Interval::DEFAULT.to_vec(), allowed_lateness_ns: LATENESS, ..EngineConfig::default() })
}

/// Feeds trades, closes everything with a late clock, and returns the last
/// state of every candle.
fn final_candles(e: &mut Engine, trades: impl IntoIterator<Item = Trade>) -> BTreeMap<(Interval, Timestamp), Candle> {
    let mut all = BTreeMap::new();
    for (i, t) in trades.into_iter().enumerate() {
        e.apply(MarketEvent::Trade(t));
        if i % 50 == 49 {
            for c in drain(e).candles {
                all.insert((c.interval, c.start), c);
            }
        }
    }
    e.advance_clock(Timestamp(T0 + 10 * 86_400 * S));
    for c in drain(e).candles {
        all.insert((c.interval, c.start), c);
    }
    all
}

/// What a roll-up must reproduce: open, high, low, close, the four sums,
/// the three counts, first and last trade id.
type Summary = (Decimal, Decimal, Decimal, Decimal, [Decimal; 4], [u64; 3], TradeId, TradeId);

/// The roll-up of consecutive narrower candles into one wider candle.
fn roll_up(parts: &[&Candle]) -> Option<Summary> {
    let (first, last) = (parts.first()?, parts.last()?);
    let sum = |f: fn(&Candle) -> Decimal| parts.iter().map(|c| f(c)).fold(Decimal::ZERO, |a, b| a + b);
    let count = |f: fn(&Candle) -> u64| parts.iter().map(|c| f(c)).sum::<u64>();
    Some((
        first.open,
        parts.iter().map(|c| c.high).max()?,
        parts.iter().map(|c| c.low).min()?,
        last.close,
        [sum(|c| c.volume), sum(|c| c.quote_volume), sum(|c| c.buy_volume), sum(|c| c.sell_volume)],
        [count(|c| c.trades), count(|c| c.buy_trades), count(|c| c.sell_trades)],
        first.first_trade_id.clone(),
        last.last_trade_id.clone(),
    ))
}

fn summary(c: &Candle) -> Summary {
    (
        c.open,
        c.high,
        c.low,
        c.close,
        [c.volume, c.quote_volume, c.buy_volume, c.sell_volume],
        [c.trades, c.buy_trades, c.sell_trades],
        c.first_trade_id.clone(),
        c.last_trade_id.clone(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Reordering trades by less than the allowed lateness changes nothing:
    /// each trade arrives before any trade more than the lateness newer.
    /// (250 trades in 10 minutes: most are within the lateness of others.)
    #[test]
    fn order_within_the_lateness_does_not_matter(trades in trades(600), jitter in proptest::collection::vec(0i64..LATENESS, 250)) {
        let sorted = final_candles(&mut engine_for_props(), trades.clone());
        let mut shuffled: Vec<(i64, usize, Trade)> = trades
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t.time.nanos() + jitter[i], i, t))
            .collect();
        shuffled.sort_by_key(|(arrival, i, _)| (*arrival, std::cmp::Reverse(*i)));
        let mut e = engine_for_props();
        let reordered = final_candles(&mut e, shuffled.into_iter().map(|(_, _, t)| t));
        prop_assert_eq!(e.counters().late_trades, 0);
        prop_assert!(sorted.values().all(|c| c.is_final && c.revision == 0));
        prop_assert_eq!(sorted, reordered);
    }

    /// Every 1h candle is the roll-up of its 1m candles, every 1d candle of
    /// its 1h candles.
    #[test]
    fn wider_candles_roll_up_from_narrower_ones(trades in trades(3 * 86_400)) {
        let candles = final_candles(&mut engine_for_props(), trades);
        for (wide, narrow) in [(Interval::H1, Interval::M1), (Interval::D1, Interval::H1)] {
            for ((_, start), c) in candles.range((wide, Timestamp(i64::MIN))..=(wide, Timestamp(i64::MAX))) {
                let end = Timestamp(start.nanos() + wide.nanos());
                let parts: Vec<&Candle> = candles.range((narrow, *start)..(narrow, end)).map(|(_, c)| c).collect();
                prop_assert_eq!(Some(summary(c)), roll_up(&parts), "{} at {}", wide, start);
                prop_assert_eq!(c.vwap, c.quote_volume / c.volume);
            }
        }
    }

    /// Re-sent trades (same id, any content) never change a candle.
    #[test]
    fn duplicates_never_change_candles(trades in trades(4 * 3600), picks in proptest::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>()), 0..40)) {
        let clean = final_candles(&mut engine_for_props(), trades.clone());
        let mut stream: Vec<Trade> = trades.clone();
        for (original, position, altered) in &picks {
            let j = original.index(trades.len());
            let mut dup = trades[j].clone();
            if *altered {
                dup.price = Decimal::new(1, 0);
                dup.size = Decimal::new(99, 0);
            }
            // Always after its original: a copy arriving first is simply the
            // original arriving earlier, which is another property.
            let first = stream.iter().position(|t| t.id == dup.id).unwrap_or(0);
            let at = first + 1 + position.index(stream.len() - first);
            stream.insert(at, dup);
        }
        let mut e = engine_for_props();
        let with_dups = final_candles(&mut e, stream);
        let c = e.counters();
        prop_assert_eq!(c.duplicate_trades + c.too_late_trades, picks.len() as u64);
        prop_assert_eq!(clean, with_dups);
    }
}

/// The book rules written the obvious way.
#[derive(Debug, Default)]
struct RefBook {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    synced: bool,
    live: bool,
    incidents: u64,
    missing: u64,
}

impl RefBook {
    fn crossed(&self) -> bool {
        match (self.bids.keys().next_back(), self.asks.keys().next()) {
            (Some(b), Some(a)) => b >= a,
            _ => false,
        }
    }

    fn check(&mut self) {
        self.live = !self.crossed();
        if !self.live {
            self.incidents += 1;
        }
    }

    fn snapshot(&mut self, bids: &[Level], asks: &[Level]) {
        let side = |levels: &[Level]| {
            levels.iter().filter(|l| l.price > Decimal::ZERO && l.size > Decimal::ZERO).fold(BTreeMap::new(), |mut m, l| {
                *m.entry(l.price).or_insert(l.size) = l.size;
                m
            })
        };
        self.bids = side(bids);
        self.asks = side(asks);
        self.synced = true;
        self.check();
    }

    fn delta(&mut self, changes: &[LevelChange]) {
        if !self.synced || !self.live {
            return;
        }
        for c in changes {
            if c.price <= Decimal::ZERO || c.size < Decimal::ZERO {
                continue;
            }
            let side = if c.side == BookSide::Bid { &mut self.bids } else { &mut self.asks };
            if c.size.is_zero() {
                if side.remove(&c.price).is_none() {
                    self.missing += 1;
                }
            } else {
                *side.entry(c.price).or_insert(c.size) = c.size;
            }
        }
        self.check();
    }

    fn top(&self) -> (Vec<Level>, Vec<Level>) {
        (self.bids.iter().rev().map(|(p, s)| Level::new(*p, *s)).collect(), self.asks.iter().map(|(p, s)| Level::new(*p, *s)).collect())
    }
}

#[derive(Debug, Clone)]
enum BookOp {
    Snapshot(Vec<Level>, Vec<Level>),
    Delta(Vec<LevelChange>),
}

fn book_op() -> impl Strategy<Value = BookOp> {
    let snap = (proptest::collection::vec(level(true), 0..8), proptest::collection::vec(level(false), 0..8))
        .prop_map(|(b, a)| BookOp::Snapshot(b, a));
    let change = (any::<bool>(), any::<bool>(), level(true), level(false)).prop_map(|(bid, cross, low, high)| {
        // Usually on its own side, sometimes across (to cross the book).
        let own = if bid != cross { low } else { high };
        LevelChange { side: if bid { BookSide::Bid } else { BookSide::Ask }, price: own.price, size: own.size }
    });
    let delta = proptest::collection::vec(change, 1..4).prop_map(BookOp::Delta);
    prop_oneof![1 => snap, 6 => delta]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_book_agrees_with_a_reference_model(ops in proptest::collection::vec(book_op(), 1..60)) {
        let k = key("BTC-USD");
        let mut e = engine_with(EngineConfig { book_depth: 1000, ..EngineConfig::default() });
        let mut model = RefBook::default();
        let mut shown: Option<BookTop> = None;
        for (seq, op) in ops.into_iter().enumerate() {
            let seq = seq as u64;
            match op {
                BookOp::Snapshot(bids, asks) => {
                    model.snapshot(&bids, &asks);
                    e.apply(MarketEvent::BookSnapshot(BookSnapshot {
                        instrument: k.clone(), sequence: Some(seq), time: None, recv_time: Timestamp(T0), bids, asks,
                    }));
                }
                BookOp::Delta(changes) => {
                    model.delta(&changes);
                    e.apply(delta(&k, seq, changes));
                }
            }
            if let Some(top) = drain(&mut e).books.pop() {
                shown = Some(top);
            }
            let Some(top) = &shown else {
                prop_assert!(!model.synced);
                continue;
            };
            let expected_state = if model.live { BookState::Live } else { BookState::Resyncing };
            prop_assert_eq!(top.state, expected_state);
            prop_assert_eq!((&top.bids, &top.asks), (&model.top().0, &model.top().1));
        }
        let c = e.counters();
        prop_assert_eq!(c.crossed_books + c.crossed_snapshots, model.incidents);
        prop_assert_eq!(c.resync_requests, model.incidents);
        prop_assert_eq!(c.missing_level_deletes, model.missing);
    }
}
