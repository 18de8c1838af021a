//! The per-product set of trade ids already counted.
//!
//! Numeric ids (Coinbase, Binance) are consecutive per product, so the set
//! is kept as ranges of ids: a whole gap-free stream is one range, memory
//! stays proportional to the number of gaps rather than of trades, and the
//! next id of the stream is accepted by two comparisons on the "hot" range
//! (a hash set of every id was a cache miss per trade once it outgrew the
//! cache). Opaque string ids (KuCoin) go to a hash map.
//!
//! Ids are forgotten once they fall behind the retention horizon: a trade
//! that old is refused as too late before its id is looked up, so
//! remembering it is useless. Each range and string id keeps the newest
//! trade time it covers, and a periodic sweep drops those older than the
//! horizon; one pass every `sweep_every` of watermark progress costs a few
//! visits per entry in total.

use std::{collections::BTreeMap, sync::Arc};

use marketpipe_model::TradeId;
use rustc_hash::FxHashMap;

/// A run of consecutive ids `[start, end]` (start is the map key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Run {
    end: u64,
    /// Newest trade time among the run's ids.
    newest: i64,
}

/// Trade ids seen for one product.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct TradeIds {
    /// Disjoint runs by start, the hot run excluded.
    runs: BTreeMap<u64, Run>,
    /// The run the stream is currently extending, kept out of `runs` and
    /// disjoint from them.
    hot: Option<(u64, Run)>,
    /// Start of the first run in `runs` above the hot run (`u64::MAX` if
    /// none, or lower when that run was swept): the hot run may grow up to
    /// just below it without touching the map.
    hot_limit: u64,
    /// String ids with their trade time (sorted in a checkpoint, whose
    /// bytes must not depend on the table's history).
    #[serde(with = "sorted")]
    strings: FxHashMap<Arc<str>, i64>,
    /// The watermark at which the next sweep is due; `i64::MAX` when empty.
    sweep_at: i64,
}

impl TradeIds {
    pub(crate) fn new() -> Self {
        TradeIds { runs: BTreeMap::new(), hot: None, hot_limit: u64::MAX, strings: FxHashMap::default(), sweep_at: i64::MAX }
    }

    /// Whether `id` was already counted.
    #[inline]
    pub(crate) fn contains(&self, id: &TradeId) -> bool {
        match id {
            TradeId::Num(n) => self.contains_num(*n),
            TradeId::Str(s) => self.strings.contains_key(&**s),
        }
    }

    fn contains_num(&self, id: u64) -> bool {
        if let Some((start, run)) = &self.hot {
            if (*start..=run.end).contains(&id) {
                return true;
            }
            // Between the hot run and the next run of the map: absent.
            if id > run.end && id < self.hot_limit {
                return false;
            }
        }
        self.runs.range(..=id).next_back().is_some_and(|(_, run)| id <= run.end)
    }

    /// Records `id` (which [`TradeIds::contains`] said is new) with its
    /// trade time.
    #[inline]
    pub(crate) fn insert(&mut self, id: &TradeId, time: i64) {
        match id {
            TradeId::Num(n) => self.insert_num(*n, time),
            TradeId::Str(s) => {
                self.strings.insert(s.clone(), time);
            }
        }
    }

    fn insert_num(&mut self, id: u64, time: i64) {
        if let Some((_, run)) = &mut self.hot {
            if run.end.checked_add(1) == Some(id) && id < self.hot_limit {
                run.end = id;
                run.newest = run.newest.max(time);
                return;
            }
        }
        self.insert_num_slow(id, time);
    }

    /// Starts a new hot run at `id`, merged with the runs it touches.
    fn insert_num_slow(&mut self, id: u64, time: i64) {
        if let Some((start, run)) = self.hot.take() {
            self.runs.insert(start, run);
        }
        let (mut start, mut run) = (id, Run { end: id, newest: time });
        let left = self.runs.range(..id).next_back().map(|(&s, &r)| (s, r));
        if let Some((s, r)) = left.filter(|(_, r)| r.end.checked_add(1) == Some(id)) {
            self.runs.remove(&s);
            start = s;
            run.newest = run.newest.max(r.newest);
        }
        if let Some(next) = id.checked_add(1) {
            if let Some(r) = self.runs.remove(&next) {
                run = Run { end: r.end, newest: run.newest.max(r.newest) };
            }
        }
        self.hot_limit = run.end.checked_add(1).and_then(|n| self.runs.range(n..).next()).map_or(u64::MAX, |(&s, _)| s);
        self.hot = Some((start, run));
    }

    /// Plans the first sweep once the set is no longer empty.
    pub(crate) fn schedule(&mut self, wm: i64, sweep_every: i64) {
        if self.sweep_at == i64::MAX && !self.is_empty() {
            self.sweep_at = wm.saturating_add(sweep_every);
        }
    }

    fn is_empty(&self) -> bool {
        self.hot.is_none() && self.runs.is_empty() && self.strings.is_empty()
    }

    /// The watermark at which [`TradeIds::sweep`] has work to do.
    pub(crate) fn sweep_at(&self) -> i64 {
        self.sweep_at
    }

    /// Forgets ids of trades older than `cutoff` when a sweep is due.
    pub(crate) fn sweep(&mut self, wm: i64, cutoff: i64, sweep_every: i64) {
        if wm < self.sweep_at {
            return;
        }
        self.runs.retain(|_, run| run.newest >= cutoff);
        if self.hot.is_some_and(|(_, run)| run.newest < cutoff) {
            self.hot = None;
        }
        self.strings.retain(|_, time| *time >= cutoff);
        // A burst can leave a large table behind; give memory back once it
        // is mostly empty so a quiet product does not keep its peak forever.
        if self.strings.capacity() > 64 && self.strings.len() < self.strings.capacity() / 4 {
            self.strings.shrink_to(self.strings.len() * 2);
        }
        self.sweep_at = if self.is_empty() { i64::MAX } else { wm.saturating_add(sweep_every) };
    }

    /// Checks a set read from a checkpoint: runs well formed and disjoint,
    /// and the hot run's limit no further than the next run above it.
    pub(crate) fn check_restored(&self) -> Result<(), &'static str> {
        let mut prev_end: Option<u64> = None;
        for (&start, run) in &self.runs {
            if start > run.end || prev_end.is_some_and(|end| end >= start) {
                return Err("trade-id runs overlap");
            }
            prev_end = Some(run.end);
        }
        if let Some((start, run)) = &self.hot {
            if *start > run.end || self.contains_in_runs(*start, run.end) {
                return Err("trade-id runs overlap");
            }
            // Ids between the hot run and its limit are answered "absent"
            // without looking at the map. (A run ending at u64::MAX has
            // nothing above it, and its limit is u64::MAX.)
            let above = run.end.saturating_add(1);
            if self.hot_limit < above || self.runs.range(above..self.hot_limit).next().is_some() {
                return Err("the hot trade-id run's limit is wrong");
            }
        }
        Ok(())
    }

    /// Whether a run of the map overlaps `[start, end]`.
    fn contains_in_runs(&self, start: u64, end: u64) -> bool {
        self.runs.range(..=end).next_back().is_some_and(|(_, run)| run.end >= start)
    }

    /// Entries held: id runs plus string ids.
    pub(crate) fn len(&self) -> usize {
        self.runs.len() + usize::from(self.hot.is_some()) + self.strings.len()
    }
}

/// The string ids in key order, for a checkpoint's canonical bytes.
mod sorted {
    use std::sync::Arc;

    use rustc_hash::FxHashMap;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(map: &FxHashMap<Arc<str>, i64>, serializer: S) -> Result<S::Ok, S::Error> {
        // Sorted by string, but through an integer of the first 8 bytes:
        // the same order (the prefix never decreases along it), and a
        // compare of random ids no longer calls memcmp, which made the sort
        // most of the cost of a checkpoint with many string ids.
        let prefix = |s: &str| {
            let mut head = [0u8; 8];
            let n = s.len().min(8);
            head[..n].copy_from_slice(&s.as_bytes()[..n]);
            u64::from_be_bytes(head)
        };
        let mut entries: Vec<(u64, &str, i64)> = map.iter().map(|(s, &time)| (prefix(s), &**s, time)).collect();
        entries.sort_unstable();
        serializer.collect_seq(entries.iter().map(|&(_, s, time)| (s, time)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<FxHashMap<Arc<str>, i64>, D::Error> {
        let entries = Vec::<(Arc<str>, i64)>::deserialize(deserializer)?;
        let len = entries.len();
        let map: FxHashMap<Arc<str>, i64> = entries.into_iter().collect();
        if map.len() != len {
            return Err(D::Error::custom("a string trade id is listed twice"));
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn add(ids: &mut TradeIds, id: u64, time: i64) -> bool {
        let id = TradeId::Num(id);
        if ids.contains(&id) {
            return false;
        }
        ids.insert(&id, time);
        true
    }

    #[test]
    fn a_gap_free_stream_is_one_entry() {
        let mut ids = TradeIds::new();
        for id in 1000..2000 {
            assert!(add(&mut ids, id, id as i64));
        }
        assert_eq!(ids.len(), 1);
        assert!(!add(&mut ids, 1500, 0));
        // Out of order around a gap: runs merge again once it is filled.
        assert!(add(&mut ids, 2002, 1));
        assert!(add(&mut ids, 2001, 1));
        assert!(add(&mut ids, 2000, 1));
        assert_eq!(ids.len(), 1);
    }

    #[test]
    fn string_ids_and_extreme_numbers() {
        let mut ids = TradeIds::new();
        let s = TradeId::Str("5f1c2".into());
        assert!(!ids.contains(&s));
        ids.insert(&s, 1);
        assert!(ids.contains(&s));
        assert!(!ids.contains(&TradeId::Str("5f1c3".into())));
        assert!(add(&mut ids, u64::MAX, 1));
        assert!(add(&mut ids, 0, 1));
        assert!(add(&mut ids, u64::MAX - 1, 1));
        assert!(!add(&mut ids, u64::MAX, 1));
        assert!(!add(&mut ids, 0, 1));
    }

    #[test]
    fn sweeps_only_when_due_and_only_old_entries() {
        let mut ids = TradeIds::new();
        for (id, time) in [(1, 100), (2, 110), (10, 200), (20, 300)] {
            add(&mut ids, id, time);
        }
        ids.insert(&TradeId::Str("a".into()), 150);
        ids.schedule(300, 50);
        assert_eq!(ids.sweep_at(), 350);
        ids.sweep(349, 250, 50);
        assert_eq!(ids.len(), 4, "not due yet");
        ids.sweep(350, 250, 50);
        assert_eq!(ids.len(), 1);
        assert!(ids.contains(&TradeId::Num(20)));
        assert!(!ids.contains(&TradeId::Num(1)));
        assert!(!ids.contains(&TradeId::Str("a".into())));
        // The hot run (20) was kept; extending it still works after the
        // sweep removed the runs around it.
        assert!(add(&mut ids, 21, 320));
        assert!(add(&mut ids, 11, 320));
        assert_eq!(ids.sweep_at(), 400);
        ids.sweep(400, 321, 50);
        assert_eq!((ids.len(), ids.sweep_at()), (0, i64::MAX));
    }

    proptest! {
        /// String ids are written in plain string order, whatever the
        /// prefixes the sort goes through (short ids, shared prefixes, NULs).
        #[test]
        fn string_ids_are_written_in_string_order(strings in proptest::collection::btree_set("[ab\\x00]{0,10}", 0..40)) {
            #[derive(serde::Serialize)]
            struct Strings(#[serde(with = "super::sorted")] FxHashMap<Arc<str>, i64>);
            let map = strings.iter().enumerate().map(|(i, s)| (Arc::from(s.as_str()), i as i64)).collect();
            let bytes = postcard::to_stdvec(&Strings(map)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let written: Vec<(String, i64)> = postcard::from_bytes(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let expected: Vec<(String, i64)> = strings.into_iter().enumerate().map(|(i, s)| (s, i as i64)).collect();
            prop_assert_eq!(written, expected);
        }

        /// Against a plain set: same answers for any order of ids, and runs
        /// stay disjoint.
        #[test]
        fn behaves_like_a_set(stream in proptest::collection::vec(0u64..64, 0..300)) {
            let mut ids = TradeIds::new();
            let mut model = BTreeSet::new();
            for id in stream {
                prop_assert_eq!(add(&mut ids, id, 0), model.insert(id));
                for probe in 0..66 {
                    prop_assert_eq!(ids.contains(&TradeId::Num(probe)), model.contains(&probe));
                }
            }
            let mut covered: Vec<(u64, u64)> = ids.runs.iter().map(|(&s, r)| (s, r.end)).collect();
            covered.extend(ids.hot.map(|(s, r)| (s, r.end)));
            covered.sort_unstable();
            prop_assert!(covered.windows(2).all(|w| w[0].1 < w[1].0));
            let total: u64 = covered.iter().map(|(s, e)| e - s + 1).sum();
            prop_assert_eq!(total, model.len() as u64);
        }
    }
}
