//! Order book sync: KuCoin's level-2 "calibration procedure", as pure
//! per-symbol state.
//!
//! KuCoin sends no book snapshot on the websocket. Its procedure
//! (<https://www.kucoin.com/docs/websocket/spot-trading/public-channels/level2-market-data>):
//!
//! 1. cache the level-2 increments received after subscribing;
//! 2. fetch a REST snapshot (sequence `S`);
//! 3. play the cache back: drop messages already in the snapshot, and
//! 4. apply the rest so that `sequenceStart(new) <= sequenceEnd(old) + 1`
//!    and `sequenceEnd(new) > sequenceEnd(old)`; the sequence on each
//!    change is only the last modification of its price, not a basis for
//!    continuity;
//! 5. a change of price `0` is skipped but advances the sequence; size `0`
//!    removes the price; anything else sets it.
//!
//! Here, per symbol ([`BookSync`]):
//!
//! - **Idle** until the first increment or snapshot.
//! - **Buffering**: increments are validated and queued (at most the
//!   decoder's buffer limit; past it the oldest is dropped, counted, and the
//!   first overflow of an episode emits `BookReset{reason:"buffer_overflow"}`
//!   and asks for a new snapshot, since one requested earlier may now be
//!   too old to join the queue).
//! - On a snapshot `S`: queued messages with `sequenceEnd <= S` are dropped;
//!   if the next one starts after `S + 1` the snapshot is too old to join
//!   the stream (`BookReset{reason:"stale_snapshot"}`, keep buffering, ask
//!   again); otherwise emit `BookSnapshot{sequence:S}`, go **Live** at `S`
//!   and play the queue through the live rule.
//! - **Live** at `last`: a message with `sequenceEnd <= last` is stale
//!   (skipped, counted); one with `sequenceStart > last + 1` is a hole
//!   (`BookReset{reason:"sequence_gap"}`, and buffering starts again with
//!   that message); otherwise its changes whose own sequence is `> last`
//!   are applied as one `BookDelta{sequence: sequenceEnd}` and `last`
//!   becomes `sequenceEnd`. Filtering by the change sequence is what makes
//!   a message straddling the snapshot (or overlapping the previous one)
//!   safe: a change at or below `last` is already in the book.
//! - A snapshot arriving while Live is adopted if `S >= last` (the stream
//!   then continues from `S` by the same rule) and ignored (counted) if
//!   older than what was already applied.
//!
//! Every applied message yields one delta, even when all its changes were
//! filtered or markers: the delta still carries the book's new sequence.
//! Nothing here reads a clock; the same input gives the same events.

use std::collections::{BTreeSet, VecDeque};

use marketpipe_model::{BookDelta, BookReset, BookSnapshot, InstrumentKey, LevelChange, MarketEvent, Timestamp};

use super::{book::SeqChange, book::SnapshotBody, KucoinStats};

/// Where one symbol's book stands.
#[derive(Debug, Default)]
pub(crate) enum BookSync {
    /// No increment or snapshot seen yet.
    #[default]
    Idle,
    /// Waiting for a snapshot that joins the queued increments.
    Buffering(Buffer),
    /// In sync: every message up to `last` is in the book.
    Live {
        /// The last sequence applied.
        last: u64,
    },
}

/// Increments queued while waiting for a snapshot, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    queue: VecDeque<Pending>,
    /// Whether the queue overflowed in this episode (reported once).
    overflowed: bool,
}

/// A validated increment kept for later.
#[derive(Debug)]
pub(crate) struct Pending {
    /// First sequence covered.
    pub(crate) start: u64,
    /// Last sequence covered.
    pub(crate) end: u64,
    /// Exchange time.
    pub(crate) time: Option<Timestamp>,
    /// When it was received.
    pub(crate) recv: Timestamp,
    /// Its real changes (markers already dropped) with their sequences.
    pub(crate) changes: Vec<SeqChange>,
}

/// What the state says to do with an increment covering `start..=end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Live and contiguous: apply the changes whose sequence is `> after`.
    Apply {
        /// The last sequence already in the book.
        after: u64,
    },
    /// Live, and entirely at or below the book's sequence: skip.
    Stale,
    /// Not live (or a hole after `last`): keep it, with its sequences.
    Buffer,
}

/// What the sync steps need from the decoder beyond one symbol's state.
pub(crate) struct Ctx<'c> {
    /// Most increments queued per symbol.
    pub(crate) limit: usize,
    /// Counters.
    pub(crate) stats: &'c mut KucoinStats,
    /// Native symbols that need a new snapshot, not yet taken by the runtime.
    pub(crate) requests: &'c mut BTreeSet<Box<str>>,
}

impl Ctx<'_> {
    fn request(&mut self, native: &str) {
        if !self.requests.contains(native) {
            self.requests.insert(native.into());
        }
    }
}

/// A reset event.
fn reset(instrument: &InstrumentKey, recv_time: Timestamp, reason: &str) -> MarketEvent {
    MarketEvent::BookReset(BookReset { instrument: instrument.clone(), recv_time, reason: reason.to_owned() })
}

impl BookSync {
    /// How to treat an increment covering `start..=end` (`start <= end`).
    pub(crate) fn plan(&self, start: u64, end: u64) -> Plan {
        match *self {
            BookSync::Live { last } if end <= last => Plan::Stale,
            BookSync::Live { last } if start <= last.saturating_add(1) => Plan::Apply { after: last },
            _ => Plan::Buffer,
        }
    }

    /// Applies an increment planned as [`Plan::Apply`], whose changes were
    /// already filtered.
    pub(crate) fn apply(
        &mut self,
        instrument: &InstrumentKey,
        end: u64,
        time: Option<Timestamp>,
        recv_time: Timestamp,
        changes: Vec<LevelChange>,
        out: &mut Vec<MarketEvent>,
    ) {
        out.push(MarketEvent::BookDelta(BookDelta { instrument: instrument.clone(), sequence: Some(end), time, recv_time, changes }));
        *self = BookSync::Live { last: end };
    }

    /// Keeps an increment planned as [`Plan::Buffer`]: starts buffering
    /// (after a reset if the book was live), or queues it.
    pub(crate) fn buffer(
        &mut self,
        native: &str,
        instrument: &InstrumentKey,
        pending: Pending,
        ctx: &mut Ctx<'_>,
        out: &mut Vec<MarketEvent>,
    ) {
        match self {
            BookSync::Buffering(buffer) => {
                let recv = pending.recv;
                buffer.queue.push_back(pending);
                if buffer.queue.len() > ctx.limit.max(1) {
                    buffer.queue.pop_front();
                    ctx.stats.buffer_overflows += 1;
                    if !buffer.overflowed {
                        buffer.overflowed = true;
                        out.push(reset(instrument, recv, "buffer_overflow"));
                        ctx.request(native);
                    }
                }
            }
            BookSync::Live { .. } => {
                ctx.stats.sequence_gaps += 1;
                out.push(reset(instrument, pending.recv, "sequence_gap"));
                *self = BookSync::Buffering(Buffer { queue: VecDeque::from([pending]), overflowed: false });
                ctx.request(native);
            }
            BookSync::Idle => {
                *self = BookSync::Buffering(Buffer { queue: VecDeque::from([pending]), overflowed: false });
                ctx.request(native);
            }
        }
    }

    /// Feeds a queued increment through the live rule.
    fn feed(&mut self, native: &str, instrument: &InstrumentKey, pending: Pending, ctx: &mut Ctx<'_>, out: &mut Vec<MarketEvent>) {
        match self.plan(pending.start, pending.end) {
            Plan::Stale => ctx.stats.stale_updates += 1,
            Plan::Apply { after } => {
                let changes = pending.changes.iter().filter(|c| c.seq > after).map(|c| c.change).collect();
                self.apply(instrument, pending.end, pending.time, pending.recv, changes, out);
            }
            Plan::Buffer => self.buffer(native, instrument, pending, ctx, out),
        }
    }

    /// Takes a REST snapshot (see the module docs).
    pub(crate) fn snapshot(
        &mut self,
        native: &str,
        instrument: &InstrumentKey,
        body: SnapshotBody,
        recv_time: Timestamp,
        ctx: &mut Ctx<'_>,
        out: &mut Vec<MarketEvent>,
    ) {
        let s = body.sequence;
        let queue = match std::mem::take(self) {
            BookSync::Live { last } if s < last => {
                ctx.stats.stale_snapshots += 1;
                *self = BookSync::Live { last };
                return;
            }
            BookSync::Idle | BookSync::Live { .. } => VecDeque::new(),
            BookSync::Buffering(mut buffer) => {
                while buffer.queue.front().is_some_and(|p| p.end <= s) {
                    buffer.queue.pop_front();
                }
                if buffer.queue.front().is_some_and(|p| p.start > s.saturating_add(1)) {
                    ctx.stats.stale_snapshots += 1;
                    out.push(reset(instrument, recv_time, "stale_snapshot"));
                    *self = BookSync::Buffering(buffer);
                    ctx.request(native);
                    return;
                }
                buffer.queue
            }
        };
        out.push(MarketEvent::BookSnapshot(BookSnapshot {
            instrument: instrument.clone(),
            sequence: Some(s),
            time: body.time,
            recv_time,
            bids: body.bids,
            asks: body.asks,
        }));
        *self = BookSync::Live { last: s };
        ctx.requests.remove(native);
        for pending in queue {
            self.feed(native, instrument, pending, ctx, out);
        }
    }

    /// Drops a live book back to waiting for a snapshot (see
    /// [`super::KucoinDecoder::resync`]).
    pub(crate) fn resync(
        &mut self,
        native: &str,
        instrument: &InstrumentKey,
        recv_time: Timestamp,
        ctx: &mut Ctx<'_>,
        out: &mut Vec<MarketEvent>,
    ) {
        match self {
            BookSync::Live { .. } => {
                out.push(reset(instrument, recv_time, "resync"));
                *self = BookSync::Buffering(Buffer::default());
            }
            BookSync::Idle => *self = BookSync::Buffering(Buffer::default()),
            BookSync::Buffering(_) => {}
        }
        ctx.request(native);
    }

    /// The public view of this state.
    pub(crate) fn state(&self) -> super::BookSyncState {
        match self {
            BookSync::Idle => super::BookSyncState::Idle,
            BookSync::Buffering(b) => super::BookSyncState::Buffering { buffered: b.queue.len() },
            BookSync::Live { last } => super::BookSyncState::Live { sequence: *last },
        }
    }
}

#[cfg(test)]
mod tests {
    use marketpipe_model::{BookSide, Decimal, Exchange, Symbol};

    use super::*;

    fn key() -> InstrumentKey {
        InstrumentKey::new(Exchange::Kucoin, Symbol::new("BTC-USDT"))
    }

    fn change(price: i64, seq: u64) -> SeqChange {
        SeqChange { change: LevelChange { side: BookSide::Bid, price: Decimal::from(price), size: Decimal::ONE }, seq }
    }

    fn pending(start: u64, end: u64) -> Pending {
        Pending {
            start,
            end,
            time: None,
            recv: Timestamp::from_nanos(start as i64),
            changes: (start..=end).map(|s| change(s as i64, s)).collect(),
        }
    }

    fn snapshot(seq: u64) -> SnapshotBody {
        SnapshotBody { sequence: seq, time: None, bids: vec![], asks: vec![] }
    }

    /// (kind, sequence, prices) per event.
    fn summary(out: &[MarketEvent]) -> Vec<(String, Option<u64>, Vec<i64>)> {
        out.iter()
            .map(|e| match e {
                MarketEvent::BookSnapshot(s) => ("snapshot".to_owned(), s.sequence, vec![]),
                MarketEvent::BookDelta(d) => {
                    ("delta".to_owned(), d.sequence, d.changes.iter().map(|c| i64::try_from(c.price.mantissa()).unwrap()).collect())
                }
                MarketEvent::BookReset(r) => (r.reason.clone(), None, vec![]),
                other => (other.kind().to_owned(), None, vec![]),
            })
            .collect()
    }

    struct Harness {
        sync: BookSync,
        stats: KucoinStats,
        requests: BTreeSet<Box<str>>,
        limit: usize,
        out: Vec<MarketEvent>,
    }

    impl Harness {
        fn new(limit: usize) -> Self {
            Harness { sync: BookSync::Idle, stats: KucoinStats::default(), requests: BTreeSet::new(), limit, out: vec![] }
        }

        fn update(&mut self, start: u64, end: u64) {
            let mut ctx = Ctx { limit: self.limit, stats: &mut self.stats, requests: &mut self.requests };
            let p = pending(start, end);
            match self.sync.plan(start, end) {
                Plan::Apply { .. } | Plan::Stale => self.sync.feed("BTC-USDT", &key(), p, &mut ctx, &mut self.out),
                Plan::Buffer => self.sync.buffer("BTC-USDT", &key(), p, &mut ctx, &mut self.out),
            }
        }

        fn snapshot(&mut self, seq: u64) {
            let mut ctx = Ctx { limit: self.limit, stats: &mut self.stats, requests: &mut self.requests };
            self.sync.snapshot("BTC-USDT", &key(), snapshot(seq), Timestamp::from_nanos(0), &mut ctx, &mut self.out);
        }

        fn take(&mut self) -> Vec<(String, Option<u64>, Vec<i64>)> {
            summary(&std::mem::take(&mut self.out))
        }
    }

    fn delta(seq: u64, prices: &[i64]) -> (String, Option<u64>, Vec<i64>) {
        ("delta".to_owned(), Some(seq), prices.to_vec())
    }

    #[test]
    fn buffered_messages_before_straddling_and_after_the_snapshot() {
        let mut h = Harness::new(100);
        h.update(10, 12);
        h.update(13, 15);
        h.update(16, 18);
        assert_eq!(h.take(), vec![]);
        assert_eq!(h.requests.len(), 1);
        h.snapshot(14);
        // 10..=12 dropped; 13..=15 straddles: only 15 applies; 16..=18 whole.
        assert_eq!(h.take(), vec![("snapshot".to_owned(), Some(14), vec![]), delta(15, &[15]), delta(18, &[16, 17, 18])]);
        assert!(h.requests.is_empty());
        h.update(17, 20);
        assert_eq!(h.take(), vec![delta(20, &[19, 20])]);
        h.update(19, 20);
        assert_eq!(h.take(), vec![]);
        assert_eq!(h.stats.stale_updates, 1);
    }

    #[test]
    fn a_hole_resets_and_a_new_snapshot_recovers() {
        let mut h = Harness::new(100);
        h.snapshot(5);
        h.update(6, 7);
        h.update(9, 9);
        assert_eq!(h.take(), vec![("snapshot".to_owned(), Some(5), vec![]), delta(7, &[6, 7]), ("sequence_gap".to_owned(), None, vec![])]);
        assert_eq!(h.sync.state(), crate::kucoin::BookSyncState::Buffering { buffered: 1 });
        h.update(10, 11);
        // Too old: the buffer starts at 9.
        h.snapshot(7);
        assert_eq!(h.take(), vec![("stale_snapshot".to_owned(), None, vec![])]);
        h.snapshot(9);
        assert_eq!(h.take(), vec![("snapshot".to_owned(), Some(9), vec![]), delta(11, &[10, 11])]);
        assert_eq!(h.stats.sequence_gaps, 1);
        assert_eq!(h.stats.stale_snapshots, 1);
    }

    #[test]
    fn a_gap_inside_the_buffer_is_found_on_playback() {
        let mut h = Harness::new(100);
        h.update(3, 4);
        h.update(7, 8);
        h.snapshot(2);
        assert_eq!(h.take(), vec![("snapshot".to_owned(), Some(2), vec![]), delta(4, &[3, 4]), ("sequence_gap".to_owned(), None, vec![])]);
        assert_eq!(h.sync.state(), crate::kucoin::BookSyncState::Buffering { buffered: 1 });
        assert_eq!(h.requests.len(), 1);
    }

    #[test]
    fn the_buffer_is_bounded_and_overflow_is_reported_once() {
        let mut h = Harness::new(2);
        for s in 1..=5 {
            h.update(s, s);
        }
        assert_eq!(h.take(), vec![("buffer_overflow".to_owned(), None, vec![])]);
        assert_eq!(h.stats.buffer_overflows, 3);
        assert_eq!(h.sync.state(), crate::kucoin::BookSyncState::Buffering { buffered: 2 });
        // The window kept the newest messages: a recent snapshot joins them.
        h.snapshot(3);
        assert_eq!(h.take(), vec![("snapshot".to_owned(), Some(3), vec![]), delta(4, &[4]), delta(5, &[5])]);
    }

    #[test]
    fn snapshots_while_live_are_adopted_only_if_not_older() {
        let mut h = Harness::new(10);
        h.snapshot(10);
        h.update(11, 12);
        h.take();
        h.snapshot(11);
        assert_eq!(h.take(), vec![]);
        assert_eq!(h.stats.stale_snapshots, 1);
        h.snapshot(20);
        assert_eq!(h.take(), vec![("snapshot".to_owned(), Some(20), vec![])]);
        h.update(15, 21);
        assert_eq!(h.take(), vec![delta(21, &[21])]);
    }
}
