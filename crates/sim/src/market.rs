//! The market model: pure and deterministic given the seed.
//!
//! Per product, a fair price random-walks on the tick grid and a book of
//! about 50 levels per side follows it: takers hit the touch (mostly on the
//! side the fair price is moving towards), makers improve the touch inside
//! the spread, resize and cancel levels, and the far end is replenished. No
//! operation can cross the book: trades only remove size at the touch, new
//! levels go strictly inside the spread or beyond the worst level.
//!
//! Prices are integer ticks and sizes integer units of 1e-8, so nothing is
//! ever rounded; [`crate::wire`] renders them as exact decimal strings. The
//! caller supplies the wall-clock time of each step: it stamps events but
//! never influences which events happen.

use std::collections::{BTreeMap, VecDeque};

use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::products::ProductSpec;

/// Levels per side the book keeps, give or take [`LEVEL_SLACK`].
const TARGET_LEVELS: usize = 50;
/// How far a side may drift from [`TARGET_LEVELS`] before the far end is
/// trimmed or replenished.
const LEVEL_SLACK: usize = 5;

/// A side of the book, named as Coinbase does on the wire (`buy` = bids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// Bids.
    Buy,
    /// Asks.
    Sell,
}

impl Side {
    /// `"buy"` or `"sell"`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }

    /// The other side.
    pub(crate) fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

/// One side of a book as `(price ticks, size units)`, best first.
pub(crate) type Levels = Vec<(u64, u64)>;

/// One executed trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TradeRec {
    /// Per-product trade id, consecutive.
    pub(crate) id: u64,
    /// Exchange time, Unix nanoseconds.
    pub(crate) time_ns: i64,
    /// Price in ticks.
    pub(crate) price: u64,
    /// Size in units of 1e-8.
    pub(crate) size: u64,
    /// The resting (maker) order's side: Coinbase's `side` convention.
    pub(crate) maker: Side,
}

/// One level change of an `l2update`: the new total size at a price (0
/// removes the level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Change {
    /// Book side.
    pub(crate) side: Side,
    /// Price in ticks.
    pub(crate) price: u64,
    /// New size in units.
    pub(crate) size: u64,
}

/// The product summary a `ticker` carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TickerRec {
    /// The trade that prompted it.
    pub(crate) last: TradeRec,
    /// Best bid price and size.
    pub(crate) best_bid: (u64, u64),
    /// Best ask price and size.
    pub(crate) best_ask: (u64, u64),
    /// Opening price of the session (stands in for the 24 h open).
    pub(crate) open: u64,
    /// Session high.
    pub(crate) high: u64,
    /// Session low.
    pub(crate) low: u64,
    /// Session volume in units.
    pub(crate) volume: u128,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventBody {
    /// A trade (`match`).
    Match(TradeRec),
    /// Book changes (`l2update`).
    L2(Vec<Change>),
    /// A summary after a trade (`ticker`).
    Ticker(TickerRec),
}

/// The best bid and ask, `(price ticks, size units)` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Top {
    /// Best bid.
    pub(crate) bid: (u64, u64),
    /// Best ask.
    pub(crate) ask: (u64, u64),
}

/// One market event, in generation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// Global event number, from 1, gapless across products.
    pub(crate) seq: u64,
    /// Index of the product.
    pub(crate) product: usize,
    /// The product's own sequence after this event (Coinbase `sequence`).
    pub(crate) product_seq: u64,
    /// The product's book update id after this event: it grows by one per
    /// level change, so an `L2` event with `n` changes covers ids
    /// `book_seq - n + 1 ..= book_seq` (Binance `U`/`u`, KuCoin
    /// `sequenceStart`/`sequenceEnd`). Other events leave it as it was.
    pub(crate) book_seq: u64,
    /// The product's best bid and ask once this step is applied (for
    /// dialects that push top-of-book changes).
    pub(crate) top: Top,
    /// Exchange time, Unix nanoseconds.
    pub(crate) time_ns: i64,
    /// The event.
    pub(crate) body: EventBody,
}

/// A product's session statistics, for tickers that summarize the market
/// (Binance's 24-hour mini ticker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Opening price (stands in for the price 24 hours ago).
    pub(crate) open: u64,
    /// Session high.
    pub(crate) high: u64,
    /// Session low.
    pub(crate) low: u64,
    /// The last trade price, or the opening price before any trade.
    pub(crate) last: u64,
    /// Base volume in size units.
    pub(crate) volume: u128,
    /// Quote volume: sum of price ticks times size units (scale: price
    /// decimals + size decimals).
    pub(crate) quote_volume: u128,
}

/// One product's state.
#[derive(Debug)]
struct ProductState {
    /// Price ticks -> size units.
    bids: BTreeMap<u64, u64>,
    /// Price ticks -> size units.
    asks: BTreeMap<u64, u64>,
    /// The random-walking fair price, in ticks.
    fair: u64,
    /// Walk bounds: the fair price stays within 1/10..10x the opening price.
    fair_bounds: (u64, u64),
    /// Largest gap between adjacent levels, and largest walk step, in ticks.
    gap: u64,
    /// Size exponent of the smallest typical trade.
    size_exp: u32,
    next_trade_id: u64,
    sequence: u64,
    /// Book update id: one per level change (see [`Event::book_seq`]).
    book_seq: u64,
    last_trade: Option<TradeRec>,
    history: VecDeque<TradeRec>,
    open: u64,
    high: u64,
    low: u64,
    volume: u128,
    quote_volume: u128,
}

/// The whole simulated market.
#[derive(Debug)]
pub(crate) struct Market {
    rng: StdRng,
    products: Vec<ProductState>,
    seq: u64,
    history_cap: usize,
    last_time: i64,
}

impl Market {
    /// A market in its opening state, determined by `seed` alone.
    pub(crate) fn new(seed: u64, specs: &[ProductSpec], history_cap: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let products = specs
            .iter()
            .map(|spec| {
                let start = spec.start_ticks.max(1_000);
                // About 1e-5 of the price per level: BTC levels 1-67 cents apart.
                let gap = (start / 100_000).max(1);
                let next_trade_id = rng.random_range(100_000_000..1_000_000_000);
                let sequence = rng.random_range(1_000_000_000..10_000_000_000);
                let mut p = ProductState {
                    bids: BTreeMap::new(),
                    asks: BTreeMap::new(),
                    fair: start,
                    fair_bounds: (start / 10, start.saturating_mul(10)),
                    gap,
                    size_exp: spec.size_exp,
                    next_trade_id,
                    sequence,
                    // Derived, not drawn: one more draw would change every
                    // seed's market.
                    book_seq: sequence / 2,
                    last_trade: None,
                    history: VecDeque::new(),
                    open: start,
                    high: start,
                    low: start,
                    volume: 0,
                    quote_volume: 0,
                };
                let mut bid = start - rng.random_range(1..=gap);
                let mut ask = start + rng.random_range(1..=gap);
                for _ in 0..TARGET_LEVELS {
                    let size = p.level_size(&mut rng);
                    p.bids.insert(bid, size);
                    let size = p.level_size(&mut rng);
                    p.asks.insert(ask, size);
                    bid -= rng.random_range(1..=gap);
                    ask += rng.random_range(1..=gap);
                }
                p
            })
            .collect();
        Market { rng, products, seq: 0, history_cap, last_time: i64::MIN }
    }

    /// The number of the last event generated (0 before the first).
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Generates the next step's events (one `l2update`, or a `match`, its
    /// `l2update` and a `ticker`) into `out`; returns how many.
    pub(crate) fn step(&mut self, now_ns: i64, out: &mut Vec<Event>) -> usize {
        // Exchange times never go backwards, whatever the wall clock does.
        self.last_time = self.last_time.max(now_ns);
        let time_ns = self.last_time;
        let index = self.rng.random_range(0..self.products.len());
        let Some(p) = self.products.get_mut(index) else { return 0 };
        p.walk(&mut self.rng);
        let bodies = if self.rng.random_ratio(1, 4) {
            let (trade, changes) = p.trade(&mut self.rng, time_ns);
            p.record(trade, self.history_cap);
            let ticker = p.ticker(trade);
            vec![EventBody::Match(trade), EventBody::L2(changes), EventBody::Ticker(ticker)]
        } else {
            vec![EventBody::L2(p.noise(&mut self.rng))]
        };
        let n = bodies.len();
        let top = Top { bid: p.best_bid(), ask: p.best_ask() };
        for body in bodies {
            self.seq += 1;
            p.sequence += 1;
            if let EventBody::L2(changes) = &body {
                p.book_seq += changes.len() as u64;
            }
            out.push(Event { seq: self.seq, product: index, product_seq: p.sequence, book_seq: p.book_seq, top, time_ns, body });
        }
        n
    }

    /// A product's book update id (see [`Event::book_seq`]): read with
    /// [`Market::book`] under the same lock, it is the id the book reflects.
    pub(crate) fn book_seq(&self, product: usize) -> u64 {
        self.products.get(product).map_or(0, |p| p.book_seq)
    }

    /// A product's best bid and ask.
    pub(crate) fn top(&self, product: usize) -> Top {
        self.products.get(product).map_or(Top::default(), |p| Top { bid: p.best_bid(), ask: p.best_ask() })
    }

    /// A product's session statistics.
    pub(crate) fn stats(&self, product: usize) -> Option<Stats> {
        let p = self.products.get(product)?;
        Some(Stats {
            open: p.open,
            high: p.high,
            low: p.low,
            last: p.last_trade.map_or(p.open, |t| t.price),
            volume: p.volume,
            quote_volume: p.quote_volume,
        })
    }

    /// A product's kept trades, oldest first (ids consecutive).
    pub(crate) fn history(&self, product: usize) -> Option<&VecDeque<TradeRec>> {
        self.products.get(product).map(|p| &p.history)
    }

    /// A product's book: bids best (highest) first, asks best (lowest) first.
    pub(crate) fn book(&self, product: usize) -> (Levels, Levels) {
        match self.products.get(product) {
            Some(p) => (p.bids.iter().rev().map(|(&k, &v)| (k, v)).collect(), p.asks.iter().map(|(&k, &v)| (k, v)).collect()),
            None => (Vec::new(), Vec::new()),
        }
    }

    /// A product's latest trade and current sequence.
    pub(crate) fn last_trade(&self, product: usize) -> (Option<TradeRec>, u64) {
        self.products.get(product).map_or((None, 0), |p| (p.last_trade, p.sequence))
    }

    /// Up to `limit` of a product's kept trades with `after_excl < id <
    /// before_excl`, newest first, taking the newest such trades when
    /// `newest` and the oldest otherwise.
    pub(crate) fn trades(&self, product: usize, after_excl: u64, before_excl: u64, limit: usize, newest: bool) -> Vec<TradeRec> {
        let Some(p) = self.products.get(product) else { return Vec::new() };
        let Some(first) = p.history.front().map(|t| t.id) else { return Vec::new() };
        // Ids in the history are consecutive, so positions are arithmetic.
        let lo = after_excl.saturating_add(1).saturating_sub(first).min(p.history.len() as u64) as usize;
        let hi = before_excl.saturating_sub(first).min(p.history.len() as u64) as usize;
        if lo >= hi {
            return Vec::new();
        }
        let (lo, hi) = if newest { (hi.saturating_sub(limit).max(lo), hi) } else { (lo, (lo + limit).min(hi)) };
        p.history.range(lo..hi).rev().copied().collect()
    }
}

impl ProductState {
    /// A size drawn log-uniformly over four decades from `10^exp` units,
    /// smaller decades likelier: integer arithmetic only.
    fn size(rng: &mut StdRng, exp: u32) -> u64 {
        let decade = match rng.random_range(0..10) {
            0..=3 => 0,
            4..=6 => 1,
            7..=8 => 2,
            _ => 3,
        };
        let lo = 10u64.pow(exp + decade);
        rng.random_range(lo..lo * 10)
    }

    /// A resting level's size: a decade above a typical trade.
    fn level_size(&self, rng: &mut StdRng) -> u64 {
        Self::size(rng, self.size_exp + 1)
    }

    fn best_bid(&self) -> (u64, u64) {
        self.bids.last_key_value().map_or((0, 0), |(&k, &v)| (k, v))
    }

    fn best_ask(&self) -> (u64, u64) {
        self.asks.first_key_value().map_or((0, 0), |(&k, &v)| (k, v))
    }

    /// Twice the mid price (stays an integer).
    fn mid2(&self) -> u64 {
        self.best_bid().0 + self.best_ask().0
    }

    fn walk(&mut self, rng: &mut StdRng) {
        let step = rng.random_range(0..=2 * self.gap);
        self.fair = (self.fair + step).saturating_sub(self.gap).clamp(self.fair_bounds.0, self.fair_bounds.1);
    }

    /// The side the fair price pulls towards: `Buy` when it is above the mid.
    /// Seven times in ten the pull wins, otherwise a coin toss.
    fn pressure(&self, rng: &mut StdRng) -> Side {
        let up = match (2 * self.fair).cmp(&self.mid2()) {
            std::cmp::Ordering::Greater => rng.random_ratio(7, 10),
            std::cmp::Ordering::Less => rng.random_ratio(3, 10),
            std::cmp::Ordering::Equal => rng.random_bool(0.5),
        };
        if up {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<u64, u64> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn side(&self, side: Side) -> &BTreeMap<u64, u64> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// A taker trade at the touch: the taker buys from the asks or sells to
    /// the bids, taking part of the best level or all of it.
    fn trade(&mut self, rng: &mut StdRng, time_ns: i64) -> (TradeRec, Vec<Change>) {
        let maker = self.pressure(rng).opposite();
        let (price, avail) = match maker {
            Side::Sell => self.best_ask(),
            Side::Buy => self.best_bid(),
        };
        let size = if rng.random_ratio(1, 4) { avail } else { Self::size(rng, self.size_exp).min(avail) };
        let left = avail - size;
        let mut changes = vec![Change { side: maker, price, size: left }];
        if left == 0 {
            self.side_mut(maker).remove(&price);
        } else {
            self.side_mut(maker).insert(price, left);
        }
        self.keep_depth(rng, maker, &mut changes);
        let trade = TradeRec { id: self.next_trade_id, time_ns, price, size, maker };
        self.next_trade_id += 1;
        (trade, changes)
    }

    /// Maker activity: resize a level, improve the touch, or cancel a level.
    fn noise(&mut self, rng: &mut StdRng) -> Vec<Change> {
        let mut changes = Vec::with_capacity(2);
        match rng.random_range(0..10) {
            0..=4 => {
                let side = if rng.random_bool(0.5) { Side::Buy } else { Side::Sell };
                let book = self.side(side);
                // Activity concentrates near the touch, as on real books.
                let depth = rng.random_range(0..book.len().clamp(1, 10));
                let level = match side {
                    Side::Buy => book.keys().rev().nth(depth),
                    Side::Sell => book.keys().nth(depth),
                };
                if let Some(&price) = level {
                    let size = self.level_size(rng);
                    self.side_mut(side).insert(price, size);
                    changes.push(Change { side, price, size });
                }
            }
            5..=7 => {
                let side = self.pressure(rng);
                let (bid, ask) = (self.best_bid().0, self.best_ask().0);
                let offset = rng.random_range(1..=self.gap);
                // Strictly inside the spread, so the book cannot cross.
                let price = match side {
                    Side::Buy => (bid + offset).min(ask.saturating_sub(1)),
                    Side::Sell => ask.saturating_sub(offset).max(bid + 1),
                };
                let size = self.level_size(rng);
                self.side_mut(side).insert(price, size);
                changes.push(Change { side, price, size });
                self.keep_depth(rng, side, &mut changes);
            }
            _ => {
                let side = if rng.random_bool(0.5) { Side::Buy } else { Side::Sell };
                let book = self.side(side);
                // Never the touch: only trades remove it.
                let depth = rng.random_range(1..book.len().max(2));
                let level = match side {
                    Side::Buy => book.keys().rev().nth(depth),
                    Side::Sell => book.keys().nth(depth),
                };
                if let Some(&price) = level {
                    self.side_mut(side).remove(&price);
                    changes.push(Change { side, price, size: 0 });
                    self.keep_depth(rng, side, &mut changes);
                }
            }
        }
        changes
    }

    /// Trims or replenishes the far end of `side` to stay near
    /// [`TARGET_LEVELS`] levels.
    fn keep_depth(&mut self, rng: &mut StdRng, side: Side, changes: &mut Vec<Change>) {
        let len = self.side(side).len();
        if len > TARGET_LEVELS + LEVEL_SLACK {
            let worst = match side {
                Side::Buy => self.bids.pop_first(),
                Side::Sell => self.asks.pop_last(),
            };
            if let Some((price, _)) = worst {
                changes.push(Change { side, price, size: 0 });
            }
        } else if len < TARGET_LEVELS - LEVEL_SLACK {
            let step = rng.random_range(1..=self.gap);
            let price = match side {
                Side::Buy => self.bids.first_key_value().map(|(&k, _)| k).and_then(|k| k.checked_sub(step)).filter(|&k| k > 0),
                Side::Sell => self.asks.last_key_value().map(|(&k, _)| k + step),
            };
            if let Some(price) = price {
                let size = self.level_size(rng);
                self.side_mut(side).insert(price, size);
                changes.push(Change { side, price, size });
            }
        }
    }

    /// Keeps a trade for REST and the ticker's session statistics.
    fn record(&mut self, trade: TradeRec, cap: usize) {
        self.last_trade = Some(trade);
        self.high = self.high.max(trade.price);
        self.low = self.low.min(trade.price);
        self.volume += u128::from(trade.size);
        self.quote_volume += u128::from(trade.price) * u128::from(trade.size);
        if cap > 0 {
            if self.history.len() >= cap {
                self.history.pop_front();
            }
            self.history.push_back(trade);
        }
    }

    fn ticker(&self, last: TradeRec) -> TickerRec {
        TickerRec {
            last,
            best_bid: self.best_bid(),
            best_ask: self.best_ask(),
            open: self.open,
            high: self.high,
            low: self.low,
            volume: self.volume,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::products::product_specs;

    fn run(seed: u64, steps: usize) -> (Market, Vec<Event>) {
        let mut m = Market::new(seed, &product_specs(4), 1_000);
        let mut out = Vec::new();
        for i in 0..steps {
            m.step(1_700_000_000_000_000_000 + i as i64, &mut out);
        }
        (m, out)
    }

    #[test]
    fn books_never_cross_and_stay_deep() {
        let (mut m, _) = run(7, 0);
        let mut out = Vec::new();
        for i in 0..60_000 {
            out.clear();
            m.step(i, &mut out);
            for p in 0..4 {
                let (bids, asks) = m.book(p);
                let (bb, ba) = (bids[0].0, asks[0].0);
                assert!(bb < ba, "crossed at step {i}: {bb} >= {ba}");
                assert!(bids.len() >= TARGET_LEVELS - LEVEL_SLACK && bids.len() <= TARGET_LEVELS + LEVEL_SLACK);
                assert!(asks.len() >= TARGET_LEVELS - LEVEL_SLACK && asks.len() <= TARGET_LEVELS + LEVEL_SLACK);
                assert!(bids.iter().chain(&asks).all(|&(price, size)| price > 0 && size > 0));
            }
        }
    }

    #[test]
    fn updates_replay_onto_the_opening_book() {
        let (m0, _) = run(11, 0);
        let (m, events) = run(11, 20_000);
        for p in 0..4 {
            let (b, a) = m0.book(p);
            let mut bids: BTreeMap<u64, u64> = b.into_iter().collect();
            let mut asks: BTreeMap<u64, u64> = a.into_iter().collect();
            for e in events.iter().filter(|e| e.product == p) {
                if let EventBody::L2(changes) = &e.body {
                    for c in changes {
                        let side = if c.side == Side::Buy { &mut bids } else { &mut asks };
                        if c.size == 0 {
                            assert!(side.remove(&c.price).is_some(), "removed a level that was not there");
                        } else {
                            side.insert(c.price, c.size);
                        }
                    }
                }
            }
            let (b, a) = m.book(p);
            assert_eq!(bids.into_iter().rev().collect::<Vec<_>>(), b);
            assert_eq!(asks.into_iter().collect::<Vec<_>>(), a);
        }
    }

    #[test]
    fn trades_are_consecutive_at_the_touch_and_the_mix_is_one_four_one() {
        let (_, events) = run(3, 30_000);
        let mut last: [Option<u64>; 4] = [None; 4];
        let (mut matches, mut l2, mut tickers) = (0, 0, 0);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1);
            match &e.body {
                EventBody::Match(t) => {
                    matches += 1;
                    if let Some(prev) = last[e.product] {
                        assert_eq!(t.id, prev + 1);
                    }
                    last[e.product] = Some(t.id);
                    // the next event takes the traded size off the maker's level
                    let EventBody::L2(changes) = &events[i + 1].body else { panic!("match without l2update") };
                    assert_eq!((changes[0].side, changes[0].price), (t.maker, t.price));
                    assert!(t.size > 0);
                }
                EventBody::L2(_) => l2 += 1,
                EventBody::Ticker(_) => tickers += 1,
            }
        }
        assert_eq!(matches, tickers);
        let ratio = l2 as f64 / matches as f64;
        assert!((3.5..4.5).contains(&ratio), "l2/match ratio {ratio}");
    }

    #[test]
    fn same_seed_same_market_other_seed_other_market() {
        let strip = |events: Vec<Event>| events.into_iter().map(|e| (e.product, e.body)).collect::<Vec<_>>();
        let (_, a) = run(5, 5_000);
        let mut m = Market::new(5, &product_specs(4), 1_000);
        let mut b = Vec::new();
        for i in 0..5_000 {
            // other times, same events
            m.step(2_000_000_000_000_000_000 + 7 * i, &mut b);
        }
        let (_, c) = run(6, 5_000);
        let (a, b, c) = (strip(a), strip(b), strip(c));
        let times_free = |v: &[(usize, EventBody)]| {
            v.iter()
                .map(|(p, body)| match body {
                    EventBody::Match(t) => (*p, EventBody::Match(TradeRec { time_ns: 0, ..*t })),
                    EventBody::Ticker(t) => (*p, EventBody::Ticker(TickerRec { last: TradeRec { time_ns: 0, ..t.last }, ..*t })),
                    other => (*p, other.clone()),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(times_free(&a), times_free(&b));
        assert_ne!(times_free(&a), times_free(&c));
    }

    #[test]
    fn trade_pages_are_arithmetic_over_the_kept_history() {
        let mut m = Market::new(9, &product_specs(1), 50);
        let mut out = Vec::new();
        while m.trades(0, 0, u64::MAX, 1_000, true).len() < 50 {
            m.step(0, &mut out);
        }
        for _ in 0..200 {
            m.step(0, &mut out);
        }
        let all = m.trades(0, 0, u64::MAX, 1_000, true);
        assert_eq!(all.len(), 50, "history is capped");
        let newest = all[0].id;
        assert!(all.windows(2).all(|w| w[0].id == w[1].id + 1), "newest first, consecutive");
        let page = m.trades(0, 0, newest - 9, 5, true);
        assert_eq!(page.iter().map(|t| t.id).collect::<Vec<_>>(), (newest - 14..newest - 9).rev().collect::<Vec<_>>());
        let older = m.trades(0, newest - 3, u64::MAX, 2, false);
        assert_eq!(older.iter().map(|t| t.id).collect::<Vec<_>>(), vec![newest - 1, newest - 2]);
        assert!(m.trades(0, 0, all[49].id, 10, true).is_empty(), "nothing older than the history");
        assert!(m.trades(3, 0, u64::MAX, 10, true).is_empty(), "unknown product");
    }

    #[test]
    fn book_update_ids_count_level_changes_and_tops_follow_the_book() {
        let (m0, _) = run(13, 0);
        let (m, events) = run(13, 5_000);
        for p in 0..4 {
            let mut id = m0.book_seq(p);
            for e in events.iter().filter(|e| e.product == p) {
                if let EventBody::L2(changes) = &e.body {
                    id += changes.len() as u64;
                }
                assert_eq!(e.book_seq, id, "event {}", e.seq);
            }
            assert_eq!(m.book_seq(p), id);
            let last = events.iter().rev().find(|e| e.product == p).unwrap();
            assert_eq!(last.top, m.top(p));
            let (bids, asks) = m.book(p);
            assert_eq!((last.top.bid, last.top.ask), (bids[0], asks[0]));
        }
        let stats = m.stats(0).unwrap();
        let trades: Vec<TradeRec> = m.history(0).unwrap().iter().copied().collect();
        assert_eq!(stats.volume, trades.iter().map(|t| u128::from(t.size)).sum::<u128>());
        assert_eq!(stats.quote_volume, trades.iter().map(|t| u128::from(t.price) * u128::from(t.size)).sum::<u128>());
        assert_eq!(stats.last, trades.last().unwrap().price);
    }
}
