//! Order book sync through the public API: depth frames and REST snapshots
//! in receive order, as Binance's "How to manage a local order book
//! correctly" prescribes, and a model check against a true book.

use std::collections::BTreeMap;

use marketpipe_model::{BookSide, MarketEvent};
use marketpipe_venues::{
    binance::{BinanceDecoder, BookSyncState, BufferLimits},
    Decoded,
};
use proptest::prelude::*;

use crate::support::{depth, rest, snapshot, trace, with_products, ws, DEPTH_URL, INFO_URL, RECV};

/// Feeds `frames` (depth `(U, u)`) and returns the trace of all events.
fn feed(d: &mut BinanceDecoder, frames: &[(u64, u64)]) -> Vec<String> {
    let mut all = Vec::new();
    for &(first, last) in frames {
        let (r, out) = ws(d, &depth(first, last));
        assert_eq!(r, Ok(Decoded::Market { msg: "depthUpdate" }));
        all.extend(trace(&out));
    }
    all
}

fn snap(d: &mut BinanceDecoder, id: u64) -> Vec<String> {
    let (r, out) = rest(d, DEPTH_URL, &snapshot(id));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "depth" }));
    trace(&out)
}

#[test]
fn events_before_straddling_and_after_the_snapshot() {
    let mut d = with_products();
    // Before: buffered, and the symbol asks for a snapshot.
    assert!(feed(&mut d, &[(100, 102), (103, 105), (106, 108)]).is_empty());
    assert_eq!(d.needs_snapshot().collect::<Vec<_>>(), ["NKNUSDT"]);
    // The snapshot at 104 falls inside [103, 105]: 100..102 is dropped,
    // 103..105 straddles it and applies, then the rest in order.
    assert_eq!(snap(&mut d, 104), ["S104", "D105", "D108"]);
    assert_eq!(d.needs_snapshot().count(), 0);
    assert_eq!(d.stats().stale_updates, 1);
    // After: each event follows the previous one.
    assert_eq!(feed(&mut d, &[(109, 109), (110, 115)]), ["D109", "D115"]);
    assert_eq!(d.book_state("nknusdt"), Some(BookSyncState::Synced { update_id: 115, joined: true }));
}

#[test]
fn the_first_event_after_a_snapshot_may_straddle_it() {
    // Snapshot first (nothing buffered), then the straddling event.
    let mut d = with_products();
    assert_eq!(snap(&mut d, 104), ["S104"]);
    assert_eq!(feed(&mut d, &[(100, 102), (103, 105), (106, 106)]), ["D105", "D106"]);
    assert_eq!(d.stats().stale_updates, 1);
    // Exactly lastUpdateId+1 = U also joins.
    let mut d = with_products();
    snap(&mut d, 104);
    assert_eq!(feed(&mut d, &[(105, 107)]), ["D107"]);
}

#[test]
fn a_sequence_gap_resets_the_book_until_a_new_snapshot() {
    let mut d = with_products();
    snap(&mut d, 99);
    assert_eq!(feed(&mut d, &[(100, 101), (102, 103)]), ["D101", "D103"]);
    // 104 never arrives.
    let (_, out) = ws(&mut d, &depth(105, 106));
    let [MarketEvent::BookReset(reset)] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!((reset.instrument.symbol.as_str(), reset.reason.as_str(), reset.recv_time), ("NKN-USDT", "sequence_gap", RECV));
    assert_eq!(d.needs_snapshot().collect::<Vec<_>>(), ["NKNUSDT"]);
    // Nothing is applied while out of sync; the stream is buffered.
    assert!(feed(&mut d, &[(107, 108), (109, 110)]).is_empty());
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Buffering { events: 3 }));
    // Recovery: a new snapshot joins the buffered run.
    assert_eq!(snap(&mut d, 108), ["S108", "D110"]);
    assert_eq!(feed(&mut d, &[(111, 111)]), ["D111"]);
    assert_eq!(d.needs_snapshot().count(), 0);
    assert_eq!(d.stats().sequence_gaps, 1);
}

#[test]
fn a_snapshot_older_than_everything_buffered_is_stale() {
    let mut d = with_products();
    feed(&mut d, &[(100, 102), (103, 105)]);
    // lastUpdateId + 1 = 91 < U = 100: updates 91..99 are in neither.
    assert_eq!(snap(&mut d, 90), ["R:stale_snapshot"]);
    assert_eq!(d.needs_snapshot().collect::<Vec<_>>(), ["NKNUSDT"], "still waiting");
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Buffering { events: 2 }), "the buffer is kept");
    assert_eq!(snap(&mut d, 99), ["S99", "D102", "D105"]);
    assert_eq!(d.stats().stale_snapshots, 1);
}

#[test]
fn a_snapshot_newer_than_the_buffered_events_waits_for_the_stream() {
    let mut d = with_products();
    feed(&mut d, &[(100, 102), (103, 105)]);
    // Newer than every buffered event: all dropped, the book is the snapshot.
    assert_eq!(snap(&mut d, 110), ["S110"]);
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Synced { update_id: 110, joined: false }));
    assert!(feed(&mut d, &[(106, 109)]).is_empty(), "already in the snapshot");
    assert_eq!(feed(&mut d, &[(110, 112), (113, 113)]), ["D112", "D113"]);
    assert_eq!(d.stats().stale_updates, 3);
}

#[test]
fn a_snapshot_the_stream_never_reaches_is_stale() {
    let mut d = with_products();
    assert_eq!(snap(&mut d, 50), ["S50"]);
    // The stream starts at 60: 51..59 are lost between snapshot and stream.
    assert_eq!(feed(&mut d, &[(60, 61)]), ["R:stale_snapshot"]);
    assert_eq!(d.needs_snapshot().collect::<Vec<_>>(), ["NKNUSDT"]);
    assert_eq!(snap(&mut d, 60), ["S60", "D61"]);
}

#[test]
fn snapshots_while_in_sync_only_move_the_book_forward() {
    let mut d = with_products();
    snap(&mut d, 10);
    feed(&mut d, &[(11, 20)]);
    assert!(snap(&mut d, 15).is_empty(), "older than the book: ignored");
    assert_eq!(d.stats().ignored_snapshots, 1);
    assert_eq!(snap(&mut d, 20), ["S20"], "the same point: a refresh");
    assert_eq!(feed(&mut d, &[(21, 21)]), ["D21"]);
    assert_eq!(snap(&mut d, 30), ["S30"]);
    assert_eq!(feed(&mut d, &[(22, 29), (25, 32), (33, 33)]), ["D32", "D33"]);
}

#[test]
fn duplicates_are_dropped_not_gaps() {
    let mut d = with_products();
    snap(&mut d, 10);
    assert_eq!(feed(&mut d, &[(11, 12), (11, 12), (13, 14), (9, 12), (15, 15)]), ["D12", "D14", "D15"]);
    assert_eq!(d.stats().stale_updates, 2);
    assert_eq!(d.stats().sequence_gaps, 0);
}

#[test]
fn the_buffer_is_bounded_and_keeps_the_newest_run() {
    let mut d = BinanceDecoder::with_buffer_limits(BufferLimits { max_events: 4, max_changes: 1_000 });
    assert!(rest(&mut d, INFO_URL, &crate::support::fixture("rest_exchange_info.json")).0.is_ok());
    let frames: Vec<(u64, u64)> = (0..10).map(|i| (10 * i + 1, 10 * i + 10)).collect();
    assert!(feed(&mut d, &frames).is_empty());
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Buffering { events: 4 }));
    assert_eq!(d.stats().buffer_overflows, 6);
    // A snapshot from before the kept run cannot join it...
    assert_eq!(snap(&mut d, 30), ["R:stale_snapshot"]);
    // ...a newer one can.
    assert_eq!(snap(&mut d, 65), ["S65", "D70", "D80", "D90", "D100"]);
}

#[test]
fn a_gap_before_any_snapshot_restarts_the_buffer() {
    let mut d = with_products();
    feed(&mut d, &[(1, 5), (6, 8), (20, 21)]);
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Buffering { events: 1 }));
    assert_eq!(d.stats().buffer_restarts, 1);
    assert_eq!(snap(&mut d, 7), ["R:stale_snapshot"]);
    assert_eq!(snap(&mut d, 19), ["S19", "D21"]);
}

#[test]
fn books_sync_independently_per_symbol() {
    let mut d = with_products();
    let btc = |first: u64, last: u64| depth(first, last).replace("nknusdt", "btcusdt").replace("NKNUSDT", "BTCUSDT");
    assert!(ws(&mut d, &btc(500, 501)).0.is_ok());
    feed(&mut d, &[(10, 11)]);
    assert_eq!(d.needs_snapshot().collect::<Vec<_>>(), ["NKNUSDT", "BTCUSDT"], "exchangeInfo order");
    assert_eq!(snap(&mut d, 9), ["S9", "D11"]);
    assert_eq!(d.needs_snapshot().collect::<Vec<_>>(), ["BTCUSDT"]);
    let (_, out) = ws(&mut d, &btc(503, 504));
    assert!(out.is_empty(), "BTCUSDT still buffers (and restarted at the gap)");
    let (_, out) = rest(&mut d, "/api/v3/depth?symbol=BTCUSDT&limit=1000", &snapshot(502));
    assert_eq!(trace(&out), ["S502", "D504"]);
    assert!(out.iter().all(|e| e.instrument().symbol.as_str() == "BTC-USDT"));
    assert_eq!(d.needs_snapshot().count(), 0);
}

/// One thing received, in order.
#[derive(Debug, Clone)]
enum Action {
    /// The true event with this index.
    Event(usize),
    /// A snapshot of the true book at this update id.
    Snapshot(u64),
}

/// A true event: one frame covering one update id per entry of `updates`;
/// each update sets some bid levels (price index, size index) to absolute
/// sizes. A frame carries each changed level's final size.
#[derive(Debug, Clone)]
struct TrueEvent {
    updates: Vec<Vec<(u8, u8)>>,
}

const SIZES: [&str; 4] = ["0", "1", "2.5", "3"];
const START: u64 = 1_000;

fn price(i: u8) -> String {
    format!("1.{i}")
}

/// The true book at every update id from `START` on, and each event's
/// `(U, u)`.
struct Truth {
    books: BTreeMap<u64, BTreeMap<String, String>>,
    ranges: Vec<(u64, u64)>,
}

impl Truth {
    fn new(events: &[TrueEvent]) -> Self {
        let mut books = BTreeMap::from([(START, BTreeMap::new())]);
        let mut ranges = Vec::new();
        let (mut id, mut book) = (START, BTreeMap::new());
        for e in events {
            let first = id + 1;
            for update in &e.updates {
                for &(p, s) in update {
                    if SIZES[s as usize] == "0" {
                        book.remove(&price(p));
                    } else {
                        book.insert(price(p), SIZES[s as usize].to_owned());
                    }
                }
                id += 1;
                books.insert(id, book.clone());
            }
            ranges.push((first, id));
        }
        Truth { books, ranges }
    }

    fn last_id(&self) -> u64 {
        self.ranges.last().map_or(START, |r| r.1)
    }

    fn frame(&self, events: &[TrueEvent], i: usize) -> String {
        let (first, last) = self.ranges[i];
        // Final size per level over the event's updates, in first-seen order.
        let mut levels: Vec<(u8, u8)> = Vec::new();
        for &(p, s) in events[i].updates.iter().flatten() {
            match levels.iter_mut().find(|(q, _)| *q == p) {
                Some(level) => level.1 = s,
                None => levels.push((p, s)),
            }
        }
        let bids: Vec<String> = levels.iter().map(|&(p, s)| format!(r#"["{}","{}"]"#, price(p), SIZES[s as usize])).collect();
        format!(
            r#"{{"stream":"nknusdt@depth@100ms","data":{{"e":"depthUpdate","E":1767621787180,"s":"NKNUSDT","U":{first},"u":{last},"b":[{}],"a":[]}}}}"#,
            bids.join(",")
        )
    }

    fn snapshot(&self, id: u64) -> String {
        let bids: Vec<String> = self.books[&id].iter().map(|(p, s)| format!(r#"["{p}","{s}"]"#)).collect();
        format!(r#"{{"lastUpdateId":{id},"bids":[{}],"asks":[]}}"#, bids.join(","))
    }
}

/// Runs `actions` and checks every book event against the true book;
/// returns all events.
fn run(events: &[TrueEvent], actions: &[Action]) -> Result<Vec<MarketEvent>, TestCaseError> {
    let truth = Truth::new(events);
    let mut d = with_products();
    let mut local: Option<BTreeMap<String, String>> = None;
    let mut all = Vec::new();
    for action in actions {
        let (r, out) = match *action {
            Action::Event(i) => ws(&mut d, &truth.frame(events, i)),
            Action::Snapshot(id) => rest(&mut d, DEPTH_URL, &truth.snapshot(id)),
        };
        prop_assert!(r.is_ok(), "{:?}", r);
        for e in &out {
            match e {
                MarketEvent::BookSnapshot(s) => {
                    local = Some(s.bids.iter().map(|l| (l.price.to_string(), l.size.to_string())).collect());
                }
                MarketEvent::BookDelta(delta) => {
                    let book = local.as_mut().ok_or_else(|| TestCaseError::fail("a delta without a snapshot"))?;
                    for c in &delta.changes {
                        prop_assert_eq!(c.side, BookSide::Bid);
                        if c.size.is_zero() {
                            book.remove(&c.price.to_string());
                        } else {
                            book.insert(c.price.to_string(), c.size.to_string());
                        }
                    }
                    let seq = delta.sequence.unwrap();
                    prop_assert_eq!(Some(&*book), truth.books.get(&seq), "book after delta {}", seq);
                }
                MarketEvent::BookReset(_) => local = None,
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            }
        }
        all.extend(out);
    }
    // Whatever happened, a snapshot of the final state syncs the book.
    let (_, out) = rest(&mut d, DEPTH_URL, &truth.snapshot(truth.last_id()));
    prop_assert!(matches!(out.as_slice(), [MarketEvent::BookSnapshot(_)]), "{:?}", out);
    let last = truth.last_id();
    let synced_at_last = matches!(d.book_state("NKNUSDT"), Some(BookSyncState::Synced { update_id, .. }) if update_id == last);
    prop_assert!(synced_at_last, "{:?}", d.book_state("NKNUSDT"));
    Ok(all)
}

fn true_events() -> impl Strategy<Value = Vec<TrueEvent>> {
    let update = prop::collection::vec((0u8..6, 0u8..4), 0..3);
    prop::collection::vec(prop::collection::vec(update, 1..4).prop_map(|updates| TrueEvent { updates }), 1..40)
}

/// Receive order: each true event delivered (or lost, or twice), with
/// snapshots of the true book at nearby update ids slipped in.
fn deliveries(events: &[TrueEvent]) -> impl Strategy<Value = Vec<Action>> {
    let truth = Truth::new(events);
    let (ranges, last) = (truth.ranges.clone(), truth.last_id());
    prop::collection::vec((0u8..20, prop::option::of(-12i64..12)), ranges.len()).prop_map(move |plan| {
        let mut actions = Vec::new();
        for (i, (fate, snapshot_at)) in plan.into_iter().enumerate() {
            match fate {
                0 => {}
                1 => actions.extend([Action::Event(i), Action::Event(i)]),
                _ => actions.push(Action::Event(i)),
            }
            if let Some(offset) = snapshot_at.filter(|_| fate % 3 == 0) {
                let id = (ranges[i].1 as i64 + offset).clamp(START as i64, last as i64);
                actions.push(Action::Snapshot(id as u64));
            }
        }
        actions
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Every delta the decoder emits leaves a book built from its events
    /// equal to the true book at that update id, whatever was lost,
    /// duplicated or snapshotted out of step (snapshots fall inside
    /// events too, so straddling is exercised); and a replay of the same
    /// input gives the same events.
    #[test]
    fn emitted_books_always_match_the_true_book(
        (events, actions) in true_events().prop_flat_map(|e| { let d = deliveries(&e); (Just(e), d) })
    ) {
        let first = run(&events, &actions)?;
        let again = run(&events, &actions)?;
        prop_assert_eq!(first, again);
    }

    /// With nothing lost, one snapshot at any update id, arriving at any
    /// point, syncs the book, and it never resets.
    #[test]
    fn a_lossless_stream_syncs_without_resets(events in true_events(), at in any::<prop::sample::Index>(), arrives in any::<prop::sample::Index>()) {
        let truth = Truth::new(&events);
        let n = events.len();
        let id = START + at.index((truth.last_id() - START + 1) as usize) as u64;
        let j = arrives.index(n + 1);
        let mut actions: Vec<Action> = (0..j).map(Action::Event).collect();
        actions.push(Action::Snapshot(id));
        actions.extend((j..n).map(Action::Event));
        let all = run(&events, &actions)?;
        prop_assert!(!all.iter().any(|e| matches!(e, MarketEvent::BookReset(_))), "{:?}", trace(&all));
        // Every event ending after the snapshot is applied.
        let deltas = all.iter().filter(|e| matches!(e, MarketEvent::BookDelta(_))).count();
        prop_assert_eq!(deltas, truth.ranges.iter().filter(|r| r.1 > id).count());
    }
}

#[test]
fn a_lost_connection_resets_the_book_until_a_new_snapshot() {
    let mut d = with_products();
    snap(&mut d, 10);
    feed(&mut d, &[(11, 12)]);
    let key = d.instrument("NKNUSDT").unwrap().clone();
    let mut out = Vec::new();
    assert!(d.reset_book(&key, RECV, &mut out));
    assert_eq!(trace(&out), ["R:connection_lost"]);
    // Even a stream that continues the old one's ids waits for a snapshot.
    assert!(feed(&mut d, &[(13, 14)]).is_empty());
    assert_eq!(d.needs_snapshot().collect::<Vec<_>>(), ["NKNUSDT"]);
    assert_eq!(snap(&mut d, 13), ["S13", "D14"]);
    // A book not in sync is reset silently; an unknown product is refused.
    let mut out = Vec::new();
    let eth = d.instrument("ETHBTC").unwrap().clone();
    assert!(d.reset_book(&eth, RECV, &mut out));
    assert!(out.is_empty());
    let unknown = marketpipe_model::InstrumentKey::new(marketpipe_model::Exchange::Binance, marketpipe_model::Symbol::new("DOGE-USDT"));
    assert!(!d.reset_book(&unknown, RECV, &mut out));
}
