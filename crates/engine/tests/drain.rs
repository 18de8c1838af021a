//! Drain output: deterministic order, each changed item once with its
//! latest state, independent of how often the caller drains.

mod common;

use std::collections::BTreeMap;

use common::*;
use marketpipe_engine::{Engine, EngineOutput};
use marketpipe_model::{BookSide::*, BookStats, BookTop, Candle, InstrumentKey, Interval, MarketEvent, Side, Timestamp};

/// A stream over three products, keys deliberately not in sorted order of
/// first appearance, with trades, books and clock ticks interleaved.
fn stream() -> Vec<(Option<Timestamp>, MarketEvent)> {
    let keys = [key("ZEC-USD"), key("ADA-USD"), key("MKR-USD")];
    let mut events = Vec::new();
    for k in &keys {
        events.push((None, snapshot(k, 1, &[("100", "1"), ("99", "1")], &[("101", "1"), ("102", "1")])));
    }
    for i in 0..300u64 {
        let k = &keys[(i % 3) as usize];
        let t = T0 + (i as i64) * 7 * S / 3;
        events.push((Some(Timestamp(t)), trade(k, i, t, if i % 2 == 0 { "100.5" } else { "100.25" }, "0.1", Side::Buy)));
        if i % 5 == 0 {
            let size = format!("{}", 1 + i % 4);
            events.push((None, delta(k, 2 + i, vec![change(Bid, "100", &size), change(Ask, "101.5", "1")])));
        }
    }
    events
}

fn feed(e: &mut Engine, events: &[(Option<Timestamp>, MarketEvent)], drain_every: usize) -> Vec<EngineOutput> {
    let mut outs = Vec::new();
    for (i, (clock, ev)) in events.iter().enumerate() {
        if let Some(t) = clock {
            e.advance_clock(*t);
        }
        e.apply(ev.clone());
        if (i + 1) % drain_every == 0 {
            outs.push(drain(e));
        }
    }
    e.advance_clock(Timestamp(T0 + 2 * 86_400 * S));
    outs.push(drain(e));
    outs
}

#[derive(Debug, Default, PartialEq)]
struct Latest {
    candles: BTreeMap<(InstrumentKey, Interval, Timestamp), Candle>,
    books: BTreeMap<InstrumentKey, BookTop>,
    stats: BTreeMap<InstrumentKey, BookStats>,
}

fn latest(outs: &[EngineOutput]) -> Latest {
    let mut l = Latest::default();
    for out in outs {
        for c in &out.candles {
            l.candles.insert((c.instrument.clone(), c.interval, c.start), c.clone());
        }
        for b in &out.books {
            l.books.insert(b.instrument.clone(), b.clone());
        }
        for s in &out.stats {
            l.stats.insert(s.instrument.clone(), s.clone());
        }
    }
    l
}

#[test]
fn every_list_is_sorted_and_holds_each_item_once() {
    let mut e = engine(&Interval::DEFAULT);
    let outs = feed(&mut e, &stream(), 40);
    for out in &outs {
        let candle_keys: Vec<_> = out.candles.iter().map(|c| (c.instrument.clone(), c.interval, c.start)).collect();
        assert!(candle_keys.windows(2).all(|w| w[0] < w[1]), "candles sorted, no repeats");
        let book_keys: Vec<_> = out.books.iter().map(|b| b.instrument.clone()).collect();
        assert!(book_keys.windows(2).all(|w| w[0] < w[1]), "books sorted, no repeats");
        let stat_keys: Vec<_> = out.stats.iter().map(|s| s.instrument.clone()).collect();
        assert!(stat_keys.windows(2).all(|w| w[0] < w[1]), "stats sorted, no repeats");
    }
    let first = &outs[0];
    let symbols: Vec<&str> = first.books.iter().map(|b| b.instrument.symbol.as_str()).collect();
    assert_eq!(symbols, ["ADA-USD", "MKR-USD", "ZEC-USD"]);
}

#[test]
fn the_same_input_gives_the_same_output() {
    let events = stream();
    let a = feed(&mut engine(&Interval::DEFAULT), &events, 17);
    let b = feed(&mut engine(&Interval::DEFAULT), &events, 17);
    assert_eq!(a, b);
}

#[test]
fn drain_frequency_does_not_change_the_final_state() {
    let events = stream();
    let mut once = engine(&Interval::DEFAULT);
    let mut often = engine(&Interval::DEFAULT);
    let a = latest(&feed(&mut once, &events, usize::MAX));
    let b = latest(&feed(&mut often, &events, 3));
    assert!(!a.candles.is_empty());
    assert!(a.candles.values().all(|c| c.is_final), "the final clock closed everything");
    assert_eq!(a, b);
    assert_eq!(once.counters(), often.counters());
}

#[test]
fn nothing_changed_means_nothing_drained() {
    let mut e = engine(&Interval::DEFAULT);
    let k = key("BTC-USD");
    e.apply(trade(&k, 1, T0, "1", "1", Side::Buy));
    let mut out = drain(&mut e);
    assert!(!out.is_empty());
    out.clear();
    assert!(out.is_empty());
    e.drain(&mut out);
    assert!(out.is_empty());
    // A clock that finalizes nothing emits nothing.
    e.advance_clock(Timestamp(T0 + S));
    e.drain(&mut out);
    assert!(out.is_empty());
}
