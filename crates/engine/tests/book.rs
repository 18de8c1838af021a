//! Order book: snapshots, deltas, deletes, sync state, resync requests,
//! BookTop depth and order.

mod common;

use common::*;
use marketpipe_engine::EngineConfig;
use marketpipe_model::{BookDelta, BookReset, BookSide::*, BookState, BookTop, Interval, Level, MarketEvent, Timestamp};

fn engine_depth(depth: usize) -> marketpipe_engine::Engine {
    engine_with(EngineConfig { intervals: vec![Interval::M1], book_depth: depth, ..EngineConfig::default() })
}

fn book(e: &mut marketpipe_engine::Engine) -> Option<BookTop> {
    let mut out = drain(e);
    assert!(out.books.len() <= 1);
    out.books.pop()
}

fn prices(levels: &[Level]) -> Vec<String> {
    levels.iter().map(|l| l.price.to_string()).collect()
}

#[test]
fn snapshot_then_deltas_best_first_and_cut_to_depth() {
    let k = key("BTC-USD");
    let mut e = engine_depth(3);
    e.apply(snapshot(
        &k,
        10,
        &[("98", "1"), ("100", "2"), ("97", "1"), ("99", "1"), ("96", "0")],
        &[("103", "1"), ("101", "3"), ("104", "1"), ("102", "1")],
    ));
    let top = book(&mut e).expect("book after snapshot");
    assert_eq!(top.state, BookState::Live);
    assert_eq!((top.sequence, top.time), (Some(10), Some(Timestamp(T0 + 10))));
    assert_eq!(prices(&top.bids), ["100", "99", "98"]);
    assert_eq!(prices(&top.asks), ["101", "102", "103"]);
    assert_eq!(top.bids[0].size, d("2"));

    e.apply(delta(&k, 11, vec![change(Bid, "100.5", "4"), change(Ask, "101", "0"), change(Ask, "102", "7")]));
    let top = book(&mut e).expect("book after delta");
    assert_eq!(prices(&top.bids), ["100.5", "100", "99"]);
    assert_eq!(prices(&top.asks), ["102", "103", "104"]);
    assert_eq!(top.asks[0].size, d("7"));
    assert_eq!(top.sequence, Some(11));
    assert_eq!(e.counters().deltas_applied, 1);
    assert_eq!(e.memory().book_levels, 5 + 3);
}

#[test]
fn deleting_a_missing_level_is_counted_not_fatal() {
    let k = key("BTC-USD");
    let mut e = engine_depth(50);
    e.apply(snapshot(&k, 1, &[("100", "1")], &[("101", "1")]));
    e.apply(delta(&k, 2, vec![change(Bid, "99", "0"), change(Ask, "105", "0"), change(Bid, "100", "3")]));
    let top = book(&mut e).expect("book");
    assert_eq!(top.state, BookState::Live);
    assert_eq!(top.bids, vec![Level::new(d("100"), d("3"))]);
    assert_eq!(e.counters().missing_level_deletes, 2);
    assert!(drain(&mut e).resync_requests.is_empty());
}

#[test]
fn deltas_before_the_first_snapshot_are_not_applied() {
    let k = key("BTC-USD");
    let mut e = engine_depth(50);
    e.apply(delta(&k, 1, vec![change(Bid, "100", "1")]));
    assert!(drain(&mut e).books.is_empty());
    assert_eq!(e.counters().deltas_before_snapshot, 1);
    e.apply(snapshot(&k, 2, &[("99", "1")], &[("101", "1")]));
    let top = book(&mut e).expect("book");
    assert_eq!(prices(&top.bids), ["99"]);
}

#[test]
fn a_crossed_book_resyncs_once_and_ignores_deltas_until_a_snapshot() {
    let k = key("BTC-USD");
    let mut e = engine_depth(50);
    e.apply(snapshot(&k, 1, &[("100", "1")], &[("101", "1")]));
    drain(&mut e);
    // Bid at the ask: locked, which is just as wrong as crossed.
    e.apply(delta(&k, 2, vec![change(Bid, "101", "1")]));
    e.apply(delta(&k, 3, vec![change(Bid, "102", "1")]));
    e.apply(delta(&k, 4, vec![change(Ask, "110", "1")]));
    let out = drain(&mut e);
    assert_eq!(out.resync_requests, vec![k.clone()]);
    let top = out.books.first().expect("book");
    assert_eq!(top.state, BookState::Resyncing);
    assert_eq!(top.sequence, Some(2), "the crossing delta was the last applied");
    let c = e.counters();
    assert_eq!((c.crossed_books, c.resync_requests, c.deltas_while_resyncing), (1, 1, 2));
    assert!(drain(&mut e).is_empty(), "one request per incident");

    e.apply(snapshot(&k, 5, &[("100", "1")], &[("102", "1")]));
    e.apply(delta(&k, 6, vec![change(Ask, "101.5", "2")]));
    let top = book(&mut e).expect("book");
    assert_eq!(top.state, BookState::Live);
    assert_eq!(prices(&top.asks), ["101.5", "102"]);
}

#[test]
fn a_delta_is_checked_only_after_all_its_changes() {
    let k = key("BTC-USD");
    let mut e = engine_depth(50);
    e.apply(snapshot(&k, 1, &[("100", "1")], &[("101", "1")]));
    // Transiently crossed (bid 102 before the asks move up), fine at the end.
    e.apply(delta(&k, 2, vec![change(Bid, "102", "1"), change(Ask, "101", "0"), change(Ask, "103", "1")]));
    let top = book(&mut e).expect("book");
    assert_eq!(top.state, BookState::Live);
    assert_eq!(e.counters().crossed_books, 0);
}

#[test]
fn a_crossed_snapshot_leaves_the_book_resyncing() {
    let k = key("BTC-USD");
    let mut e = engine_depth(50);
    e.apply(snapshot(&k, 1, &[("101", "1")], &[("100", "1")]));
    let out = drain(&mut e);
    assert_eq!(out.books.first().map(|b| b.state), Some(BookState::Resyncing));
    assert_eq!(out.resync_requests, vec![k.clone()]);
    e.apply(delta(&k, 2, vec![change(Ask, "105", "1")]));
    assert_eq!(e.counters().deltas_while_resyncing, 1);
    assert_eq!(e.counters().crossed_snapshots, 1);
}

#[test]
fn the_runtime_can_mark_books_resyncing_or_stale() {
    let k = key("BTC-USD");
    let mut e = engine_depth(50);
    // Never synced: stale does not apply, it stays resyncing.
    e.mark_stale(&k);
    assert!(drain(&mut e).books.is_empty());
    e.apply(snapshot(&k, 1, &[("100", "1")], &[("101", "1")]));
    drain(&mut e);

    e.mark_stale(&k);
    let top = book(&mut e).expect("book");
    assert_eq!(top.state, BookState::Stale);
    assert_eq!(prices(&top.bids), ["100"], "levels kept as they were");
    e.apply(delta(&k, 2, vec![change(Bid, "100", "5")]));
    assert_eq!(e.counters().deltas_while_stale, 1);

    e.mark_resyncing(&k);
    let out = drain(&mut e);
    assert_eq!(out.books.first().map(|b| b.state), Some(BookState::Resyncing));
    assert!(out.resync_requests.is_empty(), "the runtime is already resyncing");
    e.apply(delta(&k, 3, vec![change(Bid, "100", "5")]));
    assert_eq!(e.counters().deltas_while_resyncing, 1);

    e.apply(snapshot(&k, 4, &[("100", "2")], &[("101", "1")]));
    assert_eq!(book(&mut e).map(|b| b.state), Some(BookState::Live));
}

#[test]
fn a_decoder_reset_takes_the_book_out_of_live_until_a_snapshot() {
    let k = key("BTC-USD");
    let mut e = engine_depth(50);
    e.apply(snapshot(&k, 1, &[("100", "1")], &[("101", "1")]));
    drain(&mut e);
    e.apply(MarketEvent::BookReset(BookReset { instrument: k.clone(), recv_time: Timestamp(5), reason: "sequence_gap".into() }));
    let out = drain(&mut e);
    assert_eq!(out.books.first().map(|b| b.state), Some(BookState::Resyncing));
    assert!(out.resync_requests.is_empty(), "the decoder's runtime is already resyncing");
    assert_eq!(e.counters().book_resets, 1);
    e.apply(delta(&k, 2, vec![change(Bid, "100", "5")]));
    assert_eq!(e.counters().deltas_while_resyncing, 1);
    e.apply(snapshot(&k, 3, &[("100", "2")], &[("101", "1")]));
    assert_eq!(book(&mut e).map(|b| b.state), Some(BookState::Live));
}

#[test]
fn update_time_falls_back_to_receive_time() {
    let k = key("BTC-USD");
    let mut e = engine_depth(50);
    e.apply(snapshot(&k, 1, &[("100", "1")], &[("101", "1")]));
    e.apply(MarketEvent::BookDelta(BookDelta {
        instrument: k.clone(),
        sequence: None,
        time: None,
        recv_time: Timestamp(T0 + 77),
        changes: vec![change(Bid, "99", "1")],
    }));
    let top = book(&mut e).expect("book");
    assert_eq!((top.sequence, top.time), (None, Some(Timestamp(T0 + 77))));
}

#[test]
fn invalid_levels_are_skipped_and_counted() {
    let k = key("BTC-USD");
    let mut e = engine_depth(50);
    e.apply(snapshot(&k, 1, &[("100", "1"), ("0", "1"), ("99", "-1")], &[("101", "1")]));
    e.apply(delta(&k, 2, vec![change(Bid, "-5", "1"), change(Ask, "102", "-2"), change(Ask, "103", "1")]));
    let top = book(&mut e).expect("book");
    assert_eq!(prices(&top.bids), ["100"]);
    assert_eq!(prices(&top.asks), ["101", "103"]);
    assert_eq!(e.counters().invalid_levels, 4);
}
