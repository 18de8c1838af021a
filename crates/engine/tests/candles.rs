//! Candle semantics (DESIGN "Candles"): windows, open/close order,
//! dedup, sums, lateness, revisions, finalization, retention.

mod common;

use common::*;
use marketpipe_engine::EngineConfig;
use marketpipe_model::{Decimal, Interval, MarketEvent, Side, Timestamp, TradeId};

#[test]
fn windows_are_epoch_aligned_and_1d_is_the_utc_day() {
    let k = key("BTC-USD");
    let mut e = engine(&[Interval::S1, Interval::M1, Interval::M15, Interval::H1, Interval::H6, Interval::D1]);
    let t = Timestamp::parse_rfc3339("2026-03-14T13:47:12.5Z").unwrap().nanos();
    e.apply(trade(&k, 1, t, "100", "1", Side::Buy));
    let out = drain(&mut e);
    let starts: Vec<(Interval, String)> = out.candles.iter().map(|c| (c.interval, c.start.to_rfc3339())).collect();
    assert_eq!(
        starts,
        vec![
            (Interval::S1, "2026-03-14T13:47:12Z".to_owned()),
            (Interval::M1, "2026-03-14T13:47:00Z".to_owned()),
            (Interval::M15, "2026-03-14T13:45:00Z".to_owned()),
            (Interval::H1, "2026-03-14T13:00:00Z".to_owned()),
            (Interval::H6, "2026-03-14T12:00:00Z".to_owned()),
            (Interval::D1, "2026-03-14T00:00:00Z".to_owned()),
        ]
    );
}

#[test]
fn a_trade_on_a_boundary_opens_the_next_window() {
    let k = key("BTC-USD");
    let mut e = engine(&[Interval::S1, Interval::D1]);
    let midnight = Timestamp::parse_rfc3339("2026-03-15T00:00:00Z").unwrap().nanos();
    e.apply(trade(&k, 1, midnight - 1, "100", "1", Side::Buy));
    e.apply(trade(&k, 2, midnight, "101", "1", Side::Buy));
    let out = drain(&mut e);
    let day1 = find(&out, Interval::D1, midnight - 86_400 * S).expect("day before midnight");
    let day2 = find(&out, Interval::D1, midnight).expect("day from midnight");
    assert_eq!((day1.trades, day1.close), (1, d("100")));
    assert_eq!((day2.trades, day2.open), (1, d("101")));
    assert!(find(&out, Interval::S1, midnight - S).is_some());
    assert!(find(&out, Interval::S1, midnight).is_some());
}

#[test]
fn open_and_close_follow_time_then_id_whatever_the_arrival_order() {
    let k = key("BTC-USD");
    // (id, seconds, price). By (time, id): id 7 @5s opens (beats id 9 @5s),
    // id 2 @20s closes (beats id 1 @20s).
    let trades = [(5u64, 10, "101"), (2, 20, "103"), (9, 5, "99"), (1, 20, "104"), (7, 5, "98")];
    let orders: [[usize; 5]; 4] = [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 3, 0, 4, 2], [2, 4, 0, 3, 1]];
    let mut seen = Vec::new();
    for order in orders {
        let mut e = engine(&[Interval::M1]);
        for i in order {
            let (id, secs, price) = trades[i];
            e.apply(trade(&k, id, T0 + secs * S, price, "1", Side::Buy));
        }
        let out = drain(&mut e);
        let c = find(&out, Interval::M1, T0).expect("candle").clone();
        assert_eq!((c.open, c.first_trade_id.clone()), (d("98"), TradeId::Num(7)));
        assert_eq!((c.close, c.last_trade_id.clone()), (d("103"), TradeId::Num(2)));
        assert_eq!((c.high, c.low, c.trades), (d("104"), d("98"), 5));
        seen.push(c);
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "arrival order changed the candle");
}

#[test]
fn a_trade_id_counts_once_across_intervals() {
    let k = key("BTC-USD");
    let mut e = engine(&Interval::DEFAULT);
    e.apply(trade(&k, 42, T0 + S, "100", "2", Side::Buy));
    // A replayed copy, and one with different content: both ignored.
    e.apply(trade(&k, 42, T0 + S, "100", "2", Side::Buy));
    e.apply(trade(&k, 42, T0 + 2 * S, "999", "5", Side::Sell));
    e.apply(trade(&k, 43, T0 + 3 * S, "101", "1", Side::Sell));
    let out = drain(&mut e);
    for interval in Interval::DEFAULT {
        let c = find(&out, interval, interval.window_start(Timestamp(T0)).nanos()).expect("candle");
        assert_eq!((c.trades, c.volume, c.high), (2, d("3"), d("101")), "{interval}");
    }
    assert_eq!((e.counters().trades, e.counters().duplicate_trades), (4, 2));
    // The same id on another product is a different trade.
    e.apply(trade(&key("ETH-USD"), 42, T0 + S, "10", "1", Side::Buy));
    assert_eq!(e.counters().duplicate_trades, 2);
}

#[test]
fn sums_are_exact_and_split_by_taker_side() {
    let k = key("BTC-USD");
    let mut e = engine(&[Interval::M1]);
    e.apply(trade(&k, 1, T0 + S, "100.01", "0.1", Side::Buy));
    e.apply(trade(&k, 2, T0 + 2 * S, "100.02", "0.2", Side::Sell));
    e.apply(trade(&k, 3, T0 + 3 * S, "100.03", "0.3", Side::Buy));
    let out = drain(&mut e);
    let c = find(&out, Interval::M1, T0).expect("candle");
    // By hand: 10.001 + 20.004 + 30.009.
    assert_eq!(c.quote_volume, d("60.014"));
    assert_eq!(c.volume.to_string(), "0.6");
    assert_eq!((c.buy_volume, c.sell_volume), (d("0.4"), d("0.2")));
    assert_eq!((c.buy_trades, c.sell_trades), (2, 1));
    // vwap = 60.014 / 0.6 = 100.0233..., rounded to Decimal's precision.
    assert_eq!(c.vwap.round_dp(10), d("100.0233333333"));
    assert!((c.vwap * d("0.6") - d("60.014")).abs() < d("0.000000000000000000001"));
}

#[test]
fn sums_keep_every_digit_where_floats_would_not() {
    let k = key("NKN-USDT");
    let mut e = engine(&[Interval::H1]);
    for i in 0..1000 {
        e.apply(trade(&k, i, T0 + i as i64 * S, "0.35210000", "0.10000000", Side::Sell));
    }
    let out = drain(&mut e);
    let c = find(&out, Interval::H1, T0).expect("candle");
    assert_eq!(c.volume, d("100"));
    assert_eq!(c.quote_volume, d("35.21"));
    assert_eq!(c.vwap, d("0.3521"));
}

#[test]
fn a_late_trade_revises_a_final_candle_which_stays_final() {
    let k = key("BTC-USD");
    let mut e = engine(&[Interval::M1, Interval::H1]);
    e.apply(trade(&k, 1, T0 + 10 * S, "100", "1", Side::Buy));
    // Watermark 70 s − 5 s = 65 s passes the first minute's end.
    e.apply(trade(&k, 2, T0 + 70 * S, "100", "1", Side::Buy));
    let out = drain(&mut e);
    let first = find(&out, Interval::M1, T0).expect("first minute");
    assert!(first.is_final);
    assert_eq!(first.revision, 0);
    assert!(!find(&out, Interval::H1, T0).expect("hour").is_final);

    e.apply(trade(&k, 3, T0 + 30 * S, "90", "2", Side::Sell));
    let out = drain(&mut e);
    let revised = find(&out, Interval::M1, T0).expect("revised minute");
    assert!(revised.is_final);
    assert_eq!((revised.revision, revised.trades, revised.low, revised.close), (1, 2, d("90"), d("90")));
    let hour = find(&out, Interval::H1, T0).expect("hour");
    assert_eq!((hour.revision, hour.is_final, hour.trades), (0, false, 3));
    assert_eq!(e.counters().late_trades, 1);

    e.apply(trade(&k, 4, T0 + 40 * S, "95", "1", Side::Buy));
    let out = drain(&mut e);
    assert_eq!(find(&out, Interval::M1, T0).map(|c| c.revision), Some(2));
    assert_eq!(e.counters().late_trades, 2);
}

#[test]
fn a_late_trade_in_an_empty_final_window_creates_it_final() {
    let k = key("BTC-USD");
    let mut e = engine(&[Interval::M1]);
    e.apply(trade(&k, 1, T0 + 10 * S, "100", "1", Side::Buy));
    e.apply(trade(&k, 2, T0 + 200 * S, "100", "1", Side::Buy));
    drain(&mut e);
    e.apply(trade(&k, 3, T0 + 70 * S, "101", "1", Side::Buy));
    let out = drain(&mut e);
    assert_eq!(out.candles.len(), 1);
    let c = find(&out, Interval::M1, T0 + 60 * S).expect("minute 1");
    assert!(c.is_final);
    assert_eq!((c.revision, c.trades), (0, 1));
    assert_eq!(e.counters().late_trades, 1);
}

#[test]
fn a_trade_behind_the_retention_is_dropped_and_counted() {
    let k = key("BTC-USD");
    let mut e = engine_with(EngineConfig { intervals: vec![Interval::M1], retention_ns: 60 * S, ..EngineConfig::default() });
    e.apply(trade(&k, 1, T0 + 1000 * S, "100", "1", Side::Buy));
    drain(&mut e);
    // Watermark 995 s, cutoff 935 s.
    e.apply(trade(&k, 2, T0 + 934 * S, "1", "1", Side::Buy));
    assert_eq!(e.counters().too_late_trades, 1);
    assert!(drain(&mut e).is_empty());
    e.apply(trade(&k, 3, T0 + 935 * S, "2", "1", Side::Buy));
    assert_eq!((e.counters().too_late_trades, e.counters().late_trades), (1, 1));
    let out = drain(&mut e);
    assert_eq!(find(&out, Interval::M1, T0 + 900 * S).map(|c| (c.is_final, c.trades)), Some((true, 1)));
}

#[test]
fn the_clock_finalizes_a_quiet_product() {
    let quiet = key("QUIET-USD");
    let busy = key("BUSY-USD");
    let mut e = engine(&[Interval::M1, Interval::H1]);
    e.apply(trade(&quiet, 1, T0 + 10 * S, "100", "1", Side::Buy));
    e.apply(trade(&busy, 1, T0 + 10 * S, "5", "1", Side::Buy));
    drain(&mut e);
    // The minute ends at 60 s; the clock needs lateness (5 s) + margin (2 s) more.
    e.advance_clock(Timestamp(T0 + 66 * S));
    assert!(drain(&mut e).is_empty());
    e.advance_clock(Timestamp(T0 + 67 * S));
    let out = drain(&mut e);
    assert_eq!(out.candles.len(), 2, "both products' first minutes, nothing else: {:?}", out.candles);
    assert!(out.candles.iter().all(|c| c.is_final && c.interval == Interval::M1 && c.revision == 0));
    assert_eq!(e.counters().finalized_windows, 2);
    // An earlier clock is ignored; nothing is un-finalized or re-emitted.
    e.advance_clock(Timestamp(T0));
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.clock(), Some(Timestamp(T0 + 67 * S)));
}

#[test]
fn trades_finalize_only_their_own_product() {
    let (a, b) = (key("A-USD"), key("B-USD"));
    let mut e = engine(&[Interval::M1]);
    e.apply(trade(&a, 1, T0 + 10 * S, "1", "1", Side::Buy));
    e.apply(trade(&b, 1, T0 + 10 * S, "1", "1", Side::Buy));
    e.apply(trade(&b, 2, T0 + 300 * S, "1", "1", Side::Buy));
    let out = drain(&mut e);
    let finals: Vec<String> = out.candles.iter().filter(|c| c.is_final).map(|c| c.instrument.to_string()).collect();
    assert_eq!(finals, vec!["coinbase:B-USD".to_owned()]);
}

#[test]
fn a_window_final_and_evictable_at_once_is_still_emitted() {
    let k = key("BTC-USD");
    let mut e = engine(&[Interval::M1]);
    e.apply(trade(&k, 1, T0 + 10 * S, "100", "1", Side::Buy));
    e.apply(trade(&k, 2, T0 + 20 * S, "101", "1", Side::Buy));
    drain(&mut e);
    // Ten hours later: final and beyond the 1 h retention in one step.
    e.advance_clock(Timestamp(T0 + 10 * 3600 * S));
    let out = drain(&mut e);
    let c = find(&out, Interval::M1, T0).expect("final candle");
    assert!(c.is_final);
    assert_eq!(c.trades, 2);
    assert_eq!(e.memory().windows, 0, "evicted once emitted");
    assert_eq!(e.memory().trade_id_entries, 0, "ids forgotten");
    // A trade for it now is too late, not a revision.
    e.apply(trade(&k, 3, T0 + 30 * S, "1", "1", Side::Buy));
    assert_eq!(e.counters().too_late_trades, 1);
}

#[test]
fn memory_stays_bounded_over_a_long_stream() {
    let (num, text) = (key("BTC-USD"), key("KCS-USDT"));
    let mut e = engine_with(EngineConfig {
        intervals: vec![Interval::S1, Interval::M1, Interval::H1],
        retention_ns: 120 * S,
        ..EngineConfig::default()
    });
    let mut peak_windows = 0;
    let mut peak_ids = 0;
    // Six hours, a trade every 250 ms on each product, with a gap in the
    // numeric ids every 100 trades.
    for i in 0..86_400u64 {
        let t = T0 + i as i64 * S / 4;
        e.apply(trade(&num, i + i / 100, t, "100", "1", Side::Buy));
        e.apply(MarketEvent::Trade(trade_of(&text, TradeId::Str(format!("k{i}").into()), t, "1", "1", Side::Sell)));
        e.advance_clock(Timestamp(t));
        if i % 1000 == 0 {
            drain(&mut e);
            let m = e.memory();
            peak_windows = peak_windows.max(m.windows);
            peak_ids = peak_ids.max(m.trade_id_entries);
        }
    }
    // Per product: ~130 one-second windows (120 s retention + 5 s lateness
    // + slack), a few minutes, two hours; string ids: 120 s of them plus a
    // 30 s sweep period (600), numeric ids: a handful of runs. Without
    // eviction there would be >21,000 windows and 86,400 ids per product.
    assert!(peak_windows <= 2 * 150, "peak windows {peak_windows}");
    assert!(peak_ids <= 700, "peak id entries {peak_ids}");
    assert!(e.counters().evicted_windows > 40_000);
    assert_eq!(e.counters().too_late_trades + e.counters().duplicate_trades, 0);
}

#[test]
fn invalid_trades_are_counted_and_ignored() {
    let k = key("BTC-USD");
    let mut e = engine(&[Interval::M1]);
    e.apply(trade(&k, 1, T0, "0", "1", Side::Buy));
    e.apply(trade(&k, 2, T0, "100", "0", Side::Buy));
    e.apply(trade(&k, 3, T0, "-1", "1", Side::Buy));
    e.apply(trade(&k, 4, i64::MAX, "100", "1", Side::Buy));
    e.apply(trade(&k, 5, i64::MIN, "100", "1", Side::Buy));
    let big = "79228162514264337593543950335";
    e.apply(trade(&k, 6, T0, big, big, Side::Buy));
    assert_eq!(e.counters().invalid_trades, 5);
    assert_eq!(e.counters().overflowed_trades, 1);
    assert!(drain(&mut e).candles.is_empty());
    // None of them blocked their id or moved the watermark.
    e.apply(trade(&k, 4, T0 + S, "100", "1", Side::Buy));
    let out = drain(&mut e);
    assert_eq!(find(&out, Interval::M1, T0).map(|c| (c.trades, c.is_final)), Some((1, false)));
    assert_eq!(Decimal::from(e.counters().trades), d("7"));
}
