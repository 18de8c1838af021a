//! Order book synchronization, per symbol, as Binance documents it in "How
//! to manage a local order book correctly":
//! <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md#how-to-manage-a-local-order-book-correctly>
//!
//! 1. Buffer the diff depth events of a symbol until a REST snapshot
//!    (`lastUpdateId`) arrives.
//! 2. Drop buffered events with `u` <= `lastUpdateId`.
//! 3. The first event applied must have `U` <= `lastUpdateId`+1 <= `u`.
//! 4. Each next event's `U` must be the previous event's `u`+1.
//!
//! This module is that procedure as a pure state machine: depth events and
//! snapshots go in (in receive order), normalized events come out, and
//! nothing else (no clock, no I/O), so a replay of a capture holding the
//! frames and the REST bodies reproduces the live run exactly.
//!
//! Decisions beyond the four rules, each the conservative choice:
//!
//! - An event whose `u` is at or below the book's update id is already in
//!   the book (a duplicate, or an overlap after a reconnect): it is dropped
//!   and counted, never treated as a gap.
//! - Any other break of rule 3 or 4 emits [`BookReset`] (`stale_snapshot`
//!   when the first event after a snapshot does not reach it, else
//!   `sequence_gap`) and goes back to buffering, starting with the event
//!   that broke the sequence (it is valid for the next snapshot).
//! - A snapshot older than everything buffered (`lastUpdateId`+1 < `U` of
//!   the first event) cannot be joined to the stream: [`BookReset`]
//!   (`stale_snapshot`), and the buffer is kept for the next snapshot.
//! - A snapshot newer than everything buffered is applied at once (step 6
//!   of the procedure: the local book *is* the snapshot); the next event
//!   must then reach it (rule 3), or the book is reset.
//! - A snapshot that arrives while the book is synced is applied if it is
//!   at or past the book's update id (the book jumps forward; rule 3 holds
//!   again for the next event), and ignored if it is older (applying it
//!   would rewind the book past updates that cannot be replayed).
//! - The buffer holds one contiguous run: an event that does not follow the
//!   buffered ones starts the run over (the older part can never be joined
//!   to a snapshot fetched from now on), and the buffer is bounded; when
//!   full, the oldest events go (a snapshot requested now is newer than
//!   them anyway).

use std::collections::VecDeque;

use marketpipe_model::{BookDelta, BookReset, BookSnapshot, InstrumentKey, Level, LevelChange, MarketEvent, Timestamp};

/// One validated diff depth event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DepthUpdate {
    /// `U`: first update id in the event.
    pub(crate) first: u64,
    /// `u`: final update id in the event.
    pub(crate) last: u64,
    /// `E`: event time.
    pub(crate) time: Timestamp,
    /// When the frame was received.
    pub(crate) recv: Timestamp,
    /// Bid changes, then ask changes, in wire order.
    pub(crate) changes: Vec<LevelChange>,
}

/// One validated REST snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotBody {
    /// The last update id the snapshot includes.
    pub(crate) last_update_id: u64,
    /// Bid levels (size zero dropped).
    pub(crate) bids: Vec<Level>,
    /// Ask levels (size zero dropped).
    pub(crate) asks: Vec<Level>,
}

/// How much one symbol may buffer while it waits for a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    /// Most depth events held.
    pub max_events: usize,
    /// Most level changes held, over all held events.
    pub max_changes: usize,
}

impl BufferLimits {
    /// 1024 events (over 100 s of `@depth@100ms`, far longer than a
    /// snapshot request takes) and 65,536 level changes (about 2.4 MB).
    pub const DEFAULT: BufferLimits = BufferLimits { max_events: 1024, max_changes: 65_536 };
}

impl Default for BufferLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What the sync logic counted, over all symbols.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SyncCounters {
    pub(crate) stale_updates: u64,
    pub(crate) buffer_overflows: u64,
    pub(crate) buffer_restarts: u64,
    pub(crate) sequence_gaps: u64,
    pub(crate) stale_snapshots: u64,
    pub(crate) ignored_snapshots: u64,
}

/// Where one symbol's book stands.
#[derive(Debug)]
enum State {
    /// No usable snapshot: buffering a contiguous run of events.
    Buffering {
        events: VecDeque<DepthUpdate>,
        /// Level changes over `events`.
        changes: usize,
    },
    /// The book was emitted and is at update id `id`. `joined` is whether
    /// an event has been applied since the snapshot (rule 3 was met).
    Synced { id: u64, joined: bool },
}

/// One symbol's book sync.
#[derive(Debug)]
pub(crate) struct BookSync {
    state: State,
}

impl Default for BookSync {
    fn default() -> Self {
        BookSync { state: State::Buffering { events: VecDeque::new(), changes: 0 } }
    }
}

/// A public view of one symbol's book sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookSyncState {
    /// Waiting for a snapshot, with this many depth events buffered.
    Buffering {
        /// Depth events buffered.
        events: usize,
    },
    /// In sync: the book emitted so far is at this update id.
    Synced {
        /// The update id (`lastUpdateId`, then each applied `u`).
        update_id: u64,
        /// Whether an event has been applied since the last snapshot.
        joined: bool,
    },
}

impl BookSync {
    /// Whether the book cannot be built without a new snapshot: it has
    /// seen depth events but holds no snapshot they join.
    pub(crate) fn needs_snapshot(&self) -> bool {
        matches!(&self.state, State::Buffering { events, .. } if !events.is_empty())
    }

    /// The public view.
    pub(crate) fn view(&self) -> BookSyncState {
        match &self.state {
            State::Buffering { events, .. } => BookSyncState::Buffering { events: events.len() },
            State::Synced { id, joined } => BookSyncState::Synced { update_id: *id, joined: *joined },
        }
    }

    /// Forgets everything (the symbol was renamed by new metadata).
    pub(crate) fn clear(&mut self) {
        *self = BookSync::default();
    }

    /// Takes one depth event, in receive order.
    pub(crate) fn on_update(
        &mut self,
        update: DepthUpdate,
        key: &InstrumentKey,
        limits: BufferLimits,
        counters: &mut SyncCounters,
        out: &mut Vec<MarketEvent>,
    ) {
        match &mut self.state {
            State::Synced { id, joined } => {
                if update.last <= *id {
                    counters.stale_updates += 1;
                    return;
                }
                // Rule 4 once joined; rule 3 (the event reaches the
                // snapshot) for the first one.
                let next = id.saturating_add(1);
                let follows = if *joined { update.first == next } else { update.first <= next };
                if follows {
                    *id = update.last;
                    *joined = true;
                    out.push(MarketEvent::BookDelta(BookDelta {
                        instrument: key.clone(),
                        sequence: Some(update.last),
                        time: Some(update.time),
                        recv_time: update.recv,
                        changes: update.changes,
                    }));
                    return;
                }
                let reason = if *joined {
                    counters.sequence_gaps += 1;
                    "sequence_gap"
                } else {
                    counters.stale_snapshots += 1;
                    "stale_snapshot"
                };
                out.push(reset(key, update.recv, reason));
                let changes = update.changes.len();
                self.state = State::Buffering { events: VecDeque::from([update]), changes };
            }
            State::Buffering { events, changes } => {
                if let Some(back) = events.back() {
                    if update.last <= back.last {
                        counters.stale_updates += 1;
                        return;
                    }
                    if update.first > back.last.saturating_add(1) {
                        counters.buffer_restarts += 1;
                        events.clear();
                        *changes = 0;
                    }
                }
                *changes += update.changes.len();
                events.push_back(update);
                while events.len() > limits.max_events.max(1) || (*changes > limits.max_changes && events.len() > 1) {
                    if let Some(dropped) = events.pop_front() {
                        *changes -= dropped.changes.len();
                        counters.buffer_overflows += 1;
                    }
                }
            }
        }
    }

    /// Takes one REST snapshot, in receive order.
    pub(crate) fn on_snapshot(
        &mut self,
        snapshot: SnapshotBody,
        key: &InstrumentKey,
        recv: Timestamp,
        limits: BufferLimits,
        counters: &mut SyncCounters,
        out: &mut Vec<MarketEvent>,
    ) {
        let s = snapshot.last_update_id;
        match &mut self.state {
            State::Synced { id, joined } => {
                if s < *id {
                    counters.ignored_snapshots += 1;
                    return;
                }
                let joined = *joined && s == *id;
                out.push(snapshot_event(key, recv, snapshot));
                self.state = State::Synced { id: s, joined };
            }
            State::Buffering { events, changes } => {
                // Rule 2.
                while events.front().is_some_and(|e| e.last <= s) {
                    if let Some(dropped) = events.pop_front() {
                        *changes -= dropped.changes.len();
                        counters.stale_updates += 1;
                    }
                }
                if events.front().is_some_and(|e| e.first > s.saturating_add(1)) {
                    // Older than the whole run: it cannot be joined.
                    counters.stale_snapshots += 1;
                    out.push(reset(key, recv, "stale_snapshot"));
                    return;
                }
                let buffered = std::mem::take(events);
                out.push(snapshot_event(key, recv, snapshot));
                self.state = State::Synced { id: s, joined: false };
                // The run is contiguous, so all of it applies; on_update
                // checks each event all the same.
                for update in buffered {
                    self.on_update(update, key, limits, counters, out);
                }
            }
        }
    }
}

fn reset(key: &InstrumentKey, recv: Timestamp, reason: &str) -> MarketEvent {
    MarketEvent::BookReset(BookReset { instrument: key.clone(), recv_time: recv, reason: reason.to_owned() })
}

fn snapshot_event(key: &InstrumentKey, recv: Timestamp, snapshot: SnapshotBody) -> MarketEvent {
    MarketEvent::BookSnapshot(BookSnapshot {
        instrument: key.clone(),
        sequence: Some(snapshot.last_update_id),
        time: None,
        recv_time: recv,
        bids: snapshot.bids,
        asks: snapshot.asks,
    })
}

#[cfg(test)]
mod tests {
    use marketpipe_model::{BookSide, Exchange, Symbol};

    use super::*;

    fn key() -> InstrumentKey {
        InstrumentKey::new(Exchange::Binance, Symbol::new("NKN-USDT"))
    }

    fn upd(first: u64, last: u64) -> DepthUpdate {
        let change = LevelChange { side: BookSide::Bid, price: 1.into(), size: last.into() };
        DepthUpdate { first, last, time: Timestamp(last as i64), recv: Timestamp(last as i64), changes: vec![change] }
    }

    fn snap(id: u64) -> SnapshotBody {
        SnapshotBody { last_update_id: id, bids: vec![], asks: vec![] }
    }

    /// A compact trace of the events: `S<id>`, `D<u>`, `R:<reason>`.
    fn trace(out: &[MarketEvent]) -> Vec<String> {
        out.iter()
            .map(|e| match e {
                MarketEvent::BookSnapshot(s) => format!("S{}", s.sequence.unwrap()),
                MarketEvent::BookDelta(d) => format!("D{}", d.sequence.unwrap()),
                MarketEvent::BookReset(r) => format!("R:{}", r.reason),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    struct Run {
        sync: BookSync,
        counters: SyncCounters,
        limits: BufferLimits,
        out: Vec<MarketEvent>,
    }

    impl Run {
        fn new() -> Self {
            Run { sync: BookSync::default(), counters: SyncCounters::default(), limits: BufferLimits::DEFAULT, out: Vec::new() }
        }
        fn u(&mut self, first: u64, last: u64) -> &mut Self {
            self.sync.on_update(upd(first, last), &key(), self.limits, &mut self.counters, &mut self.out);
            self
        }
        fn s(&mut self, id: u64) -> &mut Self {
            self.sync.on_snapshot(snap(id), &key(), Timestamp(0), self.limits, &mut self.counters, &mut self.out);
            self
        }
        fn trace(&mut self) -> Vec<String> {
            trace(&std::mem::take(&mut self.out))
        }
    }

    #[test]
    fn buffered_events_straddling_the_snapshot_apply() {
        let mut r = Run::new();
        r.u(100, 105).u(106, 110).u(111, 111);
        assert!(r.sync.needs_snapshot());
        assert!(r.trace().is_empty());
        r.s(107);
        assert_eq!(r.trace(), ["S107", "D110", "D111"]);
        assert_eq!(r.counters.stale_updates, 1, "u=105 <= 107 dropped");
        assert!(!r.sync.needs_snapshot());
        r.u(112, 115);
        assert_eq!(r.trace(), ["D115"]);
        assert_eq!(r.sync.view(), BookSyncState::Synced { update_id: 115, joined: true });
    }

    #[test]
    fn a_gap_resets_then_a_new_snapshot_recovers() {
        let mut r = Run::new();
        r.s(99).u(100, 101).u(102, 103);
        assert_eq!(r.trace(), ["S99", "D101", "D103"]);
        r.u(105, 106);
        assert_eq!(r.trace(), ["R:sequence_gap"]);
        assert!(r.sync.needs_snapshot());
        r.u(107, 108);
        assert!(r.trace().is_empty(), "buffered");
        r.s(106);
        assert_eq!(r.trace(), ["S106", "D108"]);
        assert_eq!(r.counters.sequence_gaps, 1);
    }

    #[test]
    fn stale_snapshots_are_reset_and_the_buffer_kept() {
        let mut r = Run::new();
        r.u(100, 105);
        r.s(90);
        assert_eq!(r.trace(), ["R:stale_snapshot"]);
        assert_eq!(r.sync.view(), BookSyncState::Buffering { events: 1 });
        r.s(99);
        assert_eq!(r.trace(), ["S99", "D105"]);

        // Applied with nothing buffered, but the stream then starts later.
        let mut r = Run::new();
        r.s(50).u(60, 61);
        assert_eq!(r.trace(), ["S50", "R:stale_snapshot"]);
        r.s(59);
        assert_eq!(r.trace(), ["S59", "D61"]);
        assert_eq!(r.counters.stale_snapshots, 1);
    }

    #[test]
    fn snapshots_newer_than_the_buffer_wait_for_the_stream() {
        let mut r = Run::new();
        r.u(100, 105).s(120);
        assert_eq!(r.trace(), ["S120"]);
        r.u(106, 110).u(111, 120);
        assert!(r.trace().is_empty(), "already in the snapshot");
        r.u(121, 125);
        assert_eq!(r.trace(), ["D125"]);
    }

    #[test]
    fn duplicates_are_dropped_and_overlaps_after_joining_are_gaps() {
        let mut r = Run::new();
        r.s(10).u(11, 12).u(11, 12).u(5, 9);
        assert_eq!(r.trace(), ["S10", "D12"]);
        assert_eq!(r.counters.stale_updates, 2);
        r.u(12, 14);
        assert_eq!(r.trace(), ["R:sequence_gap"]);
    }

    #[test]
    fn snapshots_while_synced_move_forward_only() {
        let mut r = Run::new();
        r.s(10).u(11, 20);
        r.trace();
        r.s(15);
        assert!(r.trace().is_empty());
        assert_eq!(r.counters.ignored_snapshots, 1);
        r.s(20);
        assert_eq!(r.trace(), ["S20"]);
        assert_eq!(r.sync.view(), BookSyncState::Synced { update_id: 20, joined: true });
        r.s(30);
        assert_eq!(r.trace(), ["S30"]);
        r.u(21, 29).u(25, 32);
        assert_eq!(r.trace(), ["D32"]);
    }

    #[test]
    fn the_buffer_keeps_the_newest_contiguous_run_within_bounds() {
        let mut r = Run::new();
        r.limits = BufferLimits { max_events: 3, max_changes: 1000 };
        for i in 0..5 {
            r.u(10 * i + 1, 10 * i + 10);
        }
        assert_eq!(r.sync.view(), BookSyncState::Buffering { events: 3 });
        assert_eq!(r.counters.buffer_overflows, 2);
        r.s(15);
        assert_eq!(r.trace(), ["R:stale_snapshot"], "its events were dropped");
        r.s(25);
        assert_eq!(r.trace(), ["S25", "D30", "D40", "D50"]);

        let mut r = Run::new();
        r.limits = BufferLimits { max_events: 100, max_changes: 2 };
        r.u(1, 1).u(2, 2).u(3, 3);
        assert_eq!(r.sync.view(), BookSyncState::Buffering { events: 2 });

        // A gap inside the buffer starts the run over.
        let mut r = Run::new();
        r.u(1, 5).u(9, 10);
        assert_eq!(r.sync.view(), BookSyncState::Buffering { events: 1 });
        assert_eq!(r.counters.buffer_restarts, 1);
        r.s(8);
        assert_eq!(r.trace(), ["S8", "D10"]);
    }
}
