//! One product's level-2 order book.
//!
//! Each side is one `Vec` of levels sorted from worst to best price, so the
//! best level is the last element, each level stored with an integer sort
//! key (its price's mantissa at the side's scale). Updates concentrate near
//! the top of the book, which makes them cheap overwrites, appends and
//! removals at the end of the vector, with no per-level allocation, and
//! comparing integer keys costs a fraction of comparing decimals. A
//! `BTreeMap<Decimal, _>` costs a pointer chase and a decimal comparison per
//! step and an allocation per node.

use std::cmp::Ordering;

use marketpipe_model::{BookDelta, BookSide, BookSnapshot, BookState, BookTop, Decimal, InstrumentKey, Level, Price, Qty, Timestamp};

use crate::{
    checkpoint::stored,
    num::{cmp_dec, is_positive, pow10},
    EngineCounters,
};

/// What [`Ladder::set`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetOutcome {
    /// Applied; `top` if the best level changed.
    Done { top: bool },
    /// A deletion of a price that is not in the book.
    MissingDelete,
    /// A price too large to key at the ladder's scale (beyond any market).
    Unkeyable,
}

/// The sort key of `price` at `scale` on the bid or ask side, if it fits.
#[inline]
fn key_of(bid: bool, price: &Price, scale: u32) -> Option<i128> {
    let m = price.mantissa();
    let m = match scale.checked_sub(price.scale())? {
        0 => m,
        diff => m.checked_mul(pow10(diff)?)?,
    };
    Some(if bid { m } else { -m })
}

/// A level with its sort key: the price's mantissa at the ladder's scale,
/// negated for asks, so ascending keys run from worst to best price. Key
/// and level share one vector so an insertion or removal moves one block.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: i128,
    level: Level,
}

/// One side of the book, worst price first, best last.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Ladder {
    /// Levels with their sort keys, ascending: worst price first. A
    /// checkpoint stores the levels only; restore computes the keys again.
    #[serde(with = "levels")]
    entries: Vec<Entry>,
    /// The scale keys are expressed at: the largest price scale seen since
    /// the last snapshot (exchanges use one tick scale, so it rarely moves).
    scale: u32,
    /// Bids (best = highest) or asks (best = lowest): set by the book.
    #[serde(skip)]
    bid: bool,
}

impl Ladder {
    fn new(bid: bool) -> Self {
        Ladder { entries: Vec::new(), scale: 0, bid }
    }

    /// The sort key of `price` at `scale`, if it fits.
    #[inline]
    fn key_at(&self, price: &Price, scale: u32) -> Option<i128> {
        key_of(self.bid, price, scale)
    }

    /// Re-keys the ladder at a larger scale; false (and unchanged) if a key
    /// would not fit.
    fn raise_scale(&mut self, scale: u32) -> bool {
        if scale <= self.scale {
            return true;
        }
        let Some(factor) = pow10(scale - self.scale) else { return false };
        if self.entries.iter().any(|e| e.key.checked_mul(factor).is_none()) {
            return false;
        }
        for e in &mut self.entries {
            e.key *= factor;
        }
        self.scale = scale;
        true
    }

    /// Where `key` is (`Ok`) or would be inserted (`Err`).
    ///
    /// Gallops down from the best level (1, 2, 4, 8... levels deep), then
    /// binary-searches the last gap: most updates land near the top, and
    /// a hit within the first levels costs a couple of well-predicted
    /// comparisons instead of a full, mispredicting binary search.
    #[inline]
    fn search(&self, key: i128) -> Result<usize, usize> {
        let entries = &self.entries;
        // Invariant: every key at or above `hi` is greater than `key`.
        let mut hi = entries.len();
        let mut step = 1;
        let lo = loop {
            let Some(probe) = hi.checked_sub(step) else { break 0 };
            match entries.get(probe).map(|e| e.key.cmp(&key)) {
                Some(Ordering::Equal) => return Ok(probe),
                Some(Ordering::Greater) => {
                    hi = probe;
                    step *= 2;
                }
                Some(Ordering::Less) | None => break probe + 1,
            }
        };
        match entries.get(lo..hi) {
            Some(gap) => gap.binary_search_by(|e| e.key.cmp(&key)).map(|i| i + lo).map_err(|i| i + lo),
            None => Err(lo),
        }
    }

    /// Sets the size at `price`; zero deletes.
    fn set(&mut self, price: Price, size: Qty) -> SetOutcome {
        if self.entries.is_empty() {
            self.scale = price.scale();
        }
        if !self.raise_scale(price.scale()) {
            return SetOutcome::Unkeyable;
        }
        let Some(key) = self.key_at(&price, self.scale) else { return SetOutcome::Unkeyable };
        let len = self.entries.len();
        match (self.search(key), size.is_zero()) {
            (Ok(i), true) => {
                self.entries.remove(i);
                SetOutcome::Done { top: i + 1 == len }
            }
            (Ok(i), false) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.level.size = size;
                }
                SetOutcome::Done { top: i + 1 == len }
            }
            (Err(_), true) => SetOutcome::MissingDelete,
            (Err(i), false) => {
                self.entries.insert(i, Entry { key, level: Level::new(price, size) });
                SetOutcome::Done { top: i == len }
            }
        }
    }

    /// Replaces the ladder with snapshot levels: drops empty and invalid
    /// ones, sorts, and keeps the last size given for a repeated price.
    fn replace(&mut self, mut levels: Vec<Level>, counters: &mut EngineCounters) {
        levels.retain(|l| {
            let valid = is_positive(&l.price) && (l.size.is_zero() || l.size.is_sign_positive());
            if !valid {
                counters.invalid_levels += 1;
            }
            valid && !l.size.is_zero()
        });
        self.scale = levels.iter().map(|l| l.price.scale()).max().unwrap_or(0);
        levels.retain(|l| {
            let keyable = self.key_at(&l.price, self.scale).is_some();
            if !keyable {
                counters.invalid_levels += 1;
            }
            keyable
        });
        // Stable, so repeated prices keep their input order for the dedup.
        levels.sort_by_key(|l| self.key_at(&l.price, self.scale));
        levels.dedup_by(|later, kept| {
            let same = cmp_dec(&later.price, &kept.price) == Ordering::Equal;
            if same {
                kept.size = later.size;
            }
            same
        });
        let (bid, scale) = (self.bid, self.scale);
        self.entries.clear();
        self.entries.extend(levels.iter().filter_map(|&level| Some(Entry { key: key_of(bid, &level.price, scale)?, level })));
    }

    /// Computes the sort keys of levels read from a checkpoint and checks
    /// what [`Ladder::search`] relies on: every level valid and keyable,
    /// prices strictly ascending from worst to best.
    fn rekey(&mut self, bid: bool) -> Result<(), &'static str> {
        self.bid = bid;
        if self.scale > Decimal::MAX_SCALE {
            return Err("book scale out of range");
        }
        let mut prev: Option<i128> = None;
        for e in &mut self.entries {
            if !is_positive(&e.level.price) || !is_positive(&e.level.size) {
                return Err("book level with a non-positive price or size");
            }
            e.key = key_of(bid, &e.level.price, self.scale).ok_or("book level beyond the book's scale")?;
            if prev.is_some_and(|p| p >= e.key) {
                return Err("book levels out of order");
            }
            prev = Some(e.key);
        }
        Ok(())
    }

    fn best(&self) -> Option<&Level> {
        self.entries.last().map(|e| &e.level)
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The top `depth` levels, best first.
    fn top(&self, depth: usize) -> Vec<Level> {
        self.entries.iter().rev().take(depth).map(|e| e.level).collect()
    }
}

/// What a book event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BookOutcome {
    /// Applied; the book is consistent. `top` if a best level may have
    /// changed (always for a snapshot).
    Applied { top: bool },
    /// Applied, and the book came out crossed or locked: it is now
    /// resyncing and a new snapshot is needed.
    Crossed,
    /// Not applied (see the counters for why).
    Ignored,
}

/// A product's order book and its sync state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct OrderBook {
    bids: Ladder,
    asks: Ladder,
    #[serde(with = "stored")]
    state: BookState,
    had_snapshot: bool,
    sequence: Option<u64>,
    #[serde(with = "stored")]
    time: Option<Timestamp>,
}

impl Default for OrderBook {
    fn default() -> Self {
        OrderBook {
            bids: Ladder::new(true),
            asks: Ladder::new(false),
            state: BookState::Resyncing,
            had_snapshot: false,
            sequence: None,
            time: None,
        }
    }
}

impl OrderBook {
    pub(crate) fn state(&self) -> BookState {
        self.state
    }

    /// Time of the last applied update.
    pub(crate) fn time(&self) -> Option<Timestamp> {
        self.time
    }

    /// Best bid and best ask, whatever the state.
    pub(crate) fn best(&self) -> (Option<&Level>, Option<&Level>) {
        (self.bids.best(), self.asks.best())
    }

    /// Levels held, both sides.
    pub(crate) fn level_count(&self) -> usize {
        self.bids.len() + self.asks.len()
    }

    /// Best bid at or above best ask: the book cannot be right.
    fn is_crossed(&self) -> bool {
        match (self.bids.best(), self.asks.best()) {
            (Some(b), Some(a)) => cmp_dec(&b.price, &a.price) != Ordering::Less,
            _ => false,
        }
    }

    /// Replaces the book. It goes live unless the snapshot itself is crossed.
    pub(crate) fn apply_snapshot(&mut self, snapshot: BookSnapshot, counters: &mut EngineCounters) -> BookOutcome {
        counters.snapshots += 1;
        self.bids.replace(snapshot.bids, counters);
        self.asks.replace(snapshot.asks, counters);
        self.had_snapshot = true;
        self.sequence = snapshot.sequence;
        self.time = Some(snapshot.time.unwrap_or(snapshot.recv_time));
        if self.is_crossed() {
            counters.crossed_snapshots += 1;
            self.state = BookState::Resyncing;
            BookOutcome::Crossed
        } else {
            self.state = BookState::Live;
            BookOutcome::Applied { top: true }
        }
    }

    /// Applies all changes of a delta to a live book, then checks it.
    pub(crate) fn apply_delta(&mut self, delta: &BookDelta, counters: &mut EngineCounters) -> BookOutcome {
        counters.deltas += 1;
        match (self.state, self.had_snapshot) {
            (_, false) => {
                counters.deltas_before_snapshot += 1;
                return BookOutcome::Ignored;
            }
            (BookState::Resyncing, true) => {
                counters.deltas_while_resyncing += 1;
                return BookOutcome::Ignored;
            }
            (BookState::Stale, true) => {
                // A stale feed may have lost updates: only a snapshot can
                // make the book trustworthy again.
                counters.deltas_while_stale += 1;
                return BookOutcome::Ignored;
            }
            (BookState::Live, true) => {}
        }
        counters.deltas_applied += 1;
        let mut top = false;
        for change in &delta.changes {
            if !is_positive(&change.price) || (change.size.is_sign_negative() && !change.size.is_zero()) {
                counters.invalid_levels += 1;
                continue;
            }
            let ladder = match change.side {
                BookSide::Bid => &mut self.bids,
                BookSide::Ask => &mut self.asks,
            };
            match ladder.set(change.price, change.size) {
                SetOutcome::Done { top: t } => top |= t,
                SetOutcome::MissingDelete => counters.missing_level_deletes += 1,
                SetOutcome::Unkeyable => counters.invalid_levels += 1,
            }
        }
        self.sequence = delta.sequence;
        self.time = Some(delta.time.unwrap_or(delta.recv_time));
        if self.is_crossed() {
            counters.crossed_books += 1;
            self.state = BookState::Resyncing;
            BookOutcome::Crossed
        } else {
            BookOutcome::Applied { top }
        }
    }

    /// Stops applying deltas until the next snapshot. Returns whether the
    /// state changed.
    pub(crate) fn mark_resyncing(&mut self) -> bool {
        let changed = self.state != BookState::Resyncing;
        self.state = BookState::Resyncing;
        changed
    }

    /// Marks a live book stale (a book still waiting for its snapshot stays
    /// resyncing). Returns whether the state changed.
    pub(crate) fn mark_stale(&mut self) -> bool {
        let changed = self.state == BookState::Live;
        if changed {
            self.state = BookState::Stale;
        }
        changed
    }

    /// Rebuilds the sort keys of a book read from a checkpoint and checks
    /// its levels.
    pub(crate) fn check_restored(&mut self) -> Result<(), &'static str> {
        self.bids.rekey(true)?;
        self.asks.rekey(false)
    }

    /// The book as served: top `depth` levels per side, best first.
    pub(crate) fn top(&self, instrument: &InstrumentKey, depth: usize) -> BookTop {
        BookTop {
            instrument: instrument.clone(),
            state: self.state,
            sequence: self.sequence,
            time: self.time,
            bids: self.bids.top(depth),
            asks: self.asks.top(depth),
        }
    }
}

/// A ladder's levels without their sort keys, which follow from the prices
/// and the ladder's scale ([`Ladder::rekey`]).
mod levels {
    use std::fmt;

    use marketpipe_model::Level;
    use serde::{
        de::{Error, SeqAccess, Visitor},
        Deserializer, Serializer,
    };

    use super::Entry;
    use crate::checkpoint::Stored;

    pub(super) fn serialize<S: Serializer>(entries: &[Entry], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(entries.iter().map(|e| e.level.to_repr()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Entry>, D::Error> {
        deserializer.deserialize_seq(Levels)
    }

    /// Reads levels straight into entries (keys still to compute): books
    /// are most of a checkpoint, and a vector of stand-ins first would
    /// double the allocation.
    struct Levels;

    impl<'de> Visitor<'de> for Levels {
        type Value = Vec<Entry>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a sequence of book levels")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Entry>, A::Error> {
            // The length comes from the input: trust it only so far.
            let mut entries = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(repr) = seq.next_element::<<Level as Stored>::Repr>()? {
                let level = Level::from_repr(repr).ok_or_else(|| A::Error::custom("invalid book level"))?;
                entries.push(Entry { key: 0, level });
            }
            Ok(entries)
        }
    }
}

#[cfg(test)]
mod tests {
    use marketpipe_model::Decimal;

    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn ladder(bid: bool, prices: &[&str]) -> Ladder {
        let mut l = Ladder::new(bid);
        for p in prices {
            assert!(matches!(l.set(d(p), Decimal::ONE), SetOutcome::Done { .. }));
        }
        l
    }

    fn prices(l: &Ladder) -> Vec<Decimal> {
        l.entries.iter().map(|e| e.level.price).collect()
    }

    #[test]
    fn search_agrees_with_decimal_order_at_every_position() {
        let given: Vec<String> = (1..=20).map(|i| format!("{}.5", i * 2)).collect();
        let refs: Vec<&str> = given.iter().map(String::as_str).collect();
        for bid in [true, false] {
            let l = ladder(bid, &refs);
            let sorted = prices(&l);
            let worse = |a: &Decimal, b: &Decimal| if bid { a < b } else { a > b };
            assert!(sorted.windows(2).all(|w| worse(&w[0], &w[1])), "worst first: {sorted:?}");
            for probe in 0..=44 {
                let p = Decimal::from(probe) + d("0.5");
                let expected = match sorted.iter().position(|x| *x == p) {
                    Some(i) => Ok(i),
                    None => Err(sorted.iter().filter(|x| worse(x, &p)).count()),
                };
                let key = l.key_at(&p, l.scale).unwrap();
                assert_eq!(l.search(key), expected, "bid={bid} probe={p}");
            }
        }
    }

    #[test]
    fn best_is_last_on_both_sides() {
        let bids = ladder(true, &["10", "12", "11"]);
        let asks = ladder(false, &["13", "15", "14"]);
        assert_eq!(bids.best().map(|l| l.price), Some(d("12")));
        assert_eq!(asks.best().map(|l| l.price), Some(d("13")));
        assert_eq!(asks.top(2).iter().map(|l| l.price).collect::<Vec<_>>(), vec![d("13"), d("14")]);
    }

    #[test]
    fn prices_of_different_scales_share_one_order() {
        let mut l = ladder(true, &["10.0", "9.5"]);
        // A finer price re-keys the ladder at scale 2.
        assert_eq!(l.set(d("9.75"), d("3")), SetOutcome::Done { top: false });
        assert_eq!(l.scale, 2);
        assert_eq!(l.set(d("10.00"), d("3")), SetOutcome::Done { top: true });
        assert_eq!(prices(&l), vec![d("9.5"), d("9.75"), d("10.0")]);
        assert_eq!(l.best().map(|x| x.size), Some(d("3")));
        assert_eq!(l.set(d("9.5"), d("2")), SetOutcome::Done { top: false });
        assert_eq!(l.set(d("10.5"), d("2")), SetOutcome::Done { top: true });
        assert_eq!(l.set(d("10.5"), Decimal::ZERO), SetOutcome::Done { top: true });
        assert_eq!(l.set(d("10"), Decimal::ZERO), SetOutcome::Done { top: true });
        assert_eq!(prices(&l), vec![d("9.5"), d("9.75")]);
        assert_eq!(l.set(d("10"), Decimal::ZERO), SetOutcome::MissingDelete);
    }

    #[test]
    fn prices_too_large_to_key_are_refused_without_damage() {
        let mut l = ladder(false, &["79228162514264337593543950335"]);
        // Keying at scale 28 would multiply the existing key by 10^28.
        assert_eq!(l.set(d("0.0000000000000000000000000001"), Decimal::ONE), SetOutcome::Unkeyable);
        assert_eq!(l.len(), 1);
        assert_eq!(l.scale, 0);
    }

    #[test]
    fn snapshot_keeps_the_last_size_of_a_repeated_price() {
        let mut l = Ladder::new(false);
        let mut c = EngineCounters::default();
        l.replace(
            vec![
                Level::new(d("5"), d("1")),
                Level::new(d("4"), d("2")),
                Level::new(d("5.0"), d("7")),
                Level::new(d("6"), Decimal::ZERO),
                Level::new(d("-1"), d("1")),
            ],
            &mut c,
        );
        assert_eq!(l.top(10), vec![Level::new(d("4"), d("2")), Level::new(d("5"), d("7"))]);
        assert_eq!(l.len(), 2);
        assert_eq!(c.invalid_levels, 1);
    }
}
