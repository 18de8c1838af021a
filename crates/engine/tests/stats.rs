//! Book statistics: top of book, spread, mid moving average, max spread,
//! last trade; plus tickers and product metadata.

mod common;

use common::*;
use marketpipe_engine::{Engine, EngineConfig};
use marketpipe_model::{BookSide::*, BookState, BookStats, Exchange, Interval, MarketEvent, Product, Side, Ticker, Timestamp};

fn engine_ma(window: u32) -> Engine {
    engine_with(EngineConfig { intervals: vec![Interval::M1], mid_ma_window: window, ..EngineConfig::default() })
}

fn stats(e: &mut Engine) -> Option<BookStats> {
    let mut out = drain(e);
    assert!(out.stats.len() <= 1);
    out.stats.pop()
}

#[test]
fn mid_moving_average_over_the_last_n_top_of_book_changes() {
    let k = key("BTC-USD");
    let mut e = engine_ma(3);
    // Mid 101.
    e.apply(snapshot(&k, 1, &[("100", "1"), ("99", "1")], &[("102", "1")]));
    let s = stats(&mut e).expect("stats");
    assert_eq!((s.mid, s.mid_ma, s.mid_ma_samples, s.mid_ma_window), (Some(d("101")), Some(d("101")), 1, 3));
    assert_eq!((s.best_bid, s.best_bid_size, s.best_ask, s.spread), (Some(d("100")), Some(d("1")), Some(d("102")), Some(d("2"))));
    assert_eq!(s.time, Some(Timestamp(T0 + 1)));

    // Mid 102: ask moves to 104. (101 + 102) / 2 = 101.5.
    e.apply(delta(&k, 2, vec![change(Ask, "104", "1"), change(Ask, "102", "0")]));
    assert_eq!(stats(&mut e).and_then(|s| s.mid_ma), Some(d("101.5")));

    // A size change at the top changes the stats but adds no mid; a change
    // deep in the book changes nothing at all.
    e.apply(delta(&k, 3, vec![change(Bid, "100", "9")]));
    let s = stats(&mut e).expect("stats");
    assert_eq!((s.best_bid_size, s.mid_ma_samples), (Some(d("9")), 2));
    e.apply(delta(&k, 4, vec![change(Bid, "50", "1")]));
    assert!(stats(&mut e).is_none());

    // Mids 103 (bid 102), 104.25 (bid 102.5, ask 106), 104 (bid 102).
    e.apply(delta(&k, 5, vec![change(Bid, "102", "1")]));
    e.apply(delta(&k, 6, vec![change(Ask, "106", "1"), change(Ask, "104", "0"), change(Bid, "102", "0"), change(Bid, "102.5", "1")]));
    e.apply(delta(&k, 7, vec![change(Bid, "102", "1"), change(Bid, "102.5", "0")]));
    let s = stats(&mut e).expect("stats");
    // Mids so far: 101, 102, 103, 104.25, 104; the window holds the last
    // three: (103 + 104.25 + 104) / 3 = 311.25 / 3.
    assert_eq!(s.mid, Some(d("104")));
    assert_eq!(s.mid_ma_samples, 3);
    assert_eq!(s.mid_ma, Some(d("103.75")));
}

#[test]
fn max_spread_is_the_widest_seen_while_live() {
    let k = key("BTC-USD");
    let mut e = engine_ma(10);
    e.apply(snapshot(&k, 1, &[("100", "1")], &[("102", "1")]));
    e.apply(delta(&k, 2, vec![change(Ask, "104", "1"), change(Ask, "102", "0")]));
    e.apply(delta(&k, 3, vec![change(Bid, "101", "1")]));
    assert_eq!(stats(&mut e).map(|s| (s.spread, s.max_spread)), Some((Some(d("3")), Some(d("4")))));
    // Crossing: the book is no longer live; its negative spread never counts
    // and the top-of-book fields go away.
    e.apply(delta(&k, 4, vec![change(Bid, "110", "1")]));
    let s = stats(&mut e).expect("stats");
    assert_eq!(s.book_state, BookState::Resyncing);
    assert_eq!((s.best_bid, s.best_ask, s.spread, s.mid), (None, None, None, None));
    assert_eq!(s.max_spread, Some(d("4")));
    assert_eq!(s.mid_ma_samples, 3);
    // A snapshot with a wider spread counts again.
    e.apply(snapshot(&k, 5, &[("90", "1")], &[("100", "1")]));
    assert_eq!(stats(&mut e).and_then(|s| s.max_spread), Some(d("10")));
}

#[test]
fn an_empty_side_has_no_top_of_book_fields() {
    let k = key("BTC-USD");
    let mut e = engine_ma(10);
    e.apply(snapshot(&k, 1, &[("100", "2")], &[]));
    let s = stats(&mut e).expect("stats");
    assert_eq!((s.best_bid, s.best_bid_size), (Some(d("100")), Some(d("2"))));
    assert_eq!((s.best_ask, s.spread, s.mid, s.mid_ma, s.mid_ma_samples), (None, None, None, None, 0));
    assert_eq!(s.book_state, BookState::Live);
}

#[test]
fn the_last_trade_is_the_newest_by_time_then_id() {
    let k = key("BTC-USD");
    let mut e = engine_ma(10);
    e.apply(trade(&k, 10, T0 + 20 * S, "105", "1", Side::Buy));
    let s = stats(&mut e).expect("stats");
    assert_eq!((s.last_price, s.last_trade_time), (Some(d("105")), Some(Timestamp(T0 + 20 * S))));
    assert_eq!(s.book_state, BookState::Resyncing, "no book yet");
    // Older, arriving later: candles take it, the last price does not.
    e.apply(trade(&k, 11, T0 + 10 * S, "99", "1", Side::Buy));
    assert!(stats(&mut e).is_none());
    // Same time, higher id: newer.
    e.apply(trade(&k, 12, T0 + 20 * S, "106", "1", Side::Buy));
    assert_eq!(stats(&mut e).and_then(|s| s.last_price), Some(d("106")));
    // A duplicate does not count either.
    e.apply(trade(&k, 13, T0 + 30 * S, "107", "1", Side::Buy));
    e.apply(trade(&k, 13, T0 + 40 * S, "1", "1", Side::Buy));
    assert_eq!(stats(&mut e).and_then(|s| s.last_price), Some(d("107")));
}

#[test]
fn tickers_and_products_are_emitted_when_they_change() {
    let k = key("BTC-USD");
    let mut e = engine_ma(10);
    let product = Product::new(Exchange::Coinbase, "BTC-USD", "btc", "usd");
    assert_eq!(product.key, k);
    let mut ticker = Ticker::empty(k.clone(), Timestamp(T0));
    ticker.last_price = Some(d("100"));
    e.apply(MarketEvent::Product(product.clone()));
    e.apply(MarketEvent::Ticker(Box::new(ticker.clone())));
    let out = drain(&mut e);
    assert_eq!((out.products, out.tickers), (vec![product.clone()], vec![ticker.clone()]));
    // Identical again: nothing to emit.
    e.apply(MarketEvent::Product(product));
    e.apply(MarketEvent::Ticker(Box::new(ticker.clone())));
    assert!(drain(&mut e).is_empty());
    ticker.last_price = Some(d("101"));
    e.apply(MarketEvent::Ticker(Box::new(ticker.clone())));
    assert_eq!(drain(&mut e).tickers, vec![ticker]);
    assert_eq!((e.counters().products, e.counters().tickers), (2, 3));
}
