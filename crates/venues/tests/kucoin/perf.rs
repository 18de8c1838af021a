//! Decode cost per KuCoin frame, in steady state (symbols known, book
//! live), with the Coinbase decoder on comparable frames as a baseline from
//! the same machine. The replay budget is at least 1,000,000 capture
//! records/s on one core, so a typical frame must decode well under a
//! microsecond.
//!
//! Ignored by default (timing in a debug build means nothing); run with
//! `cargo test --release -p marketpipe-venues --test kucoin perf -- --ignored --nocapture`.

use std::{hint::black_box, time::Instant};

use marketpipe_model::Timestamp;
use marketpipe_venues::{coinbase::CoinbaseDecoder, kucoin::KucoinDecoder, VenueDecoder};

use crate::support::{book_url, fixture, SYMBOLS_URL};

const RECV: Timestamp = Timestamp::from_nanos(1_767_621_787_200_000_000);

/// Nanoseconds per decode of `frames`, over `passes` passes; `before_pass`
/// runs untimed before each.
fn ns_per_frame<D: VenueDecoder>(d: &mut D, frames: &[String], passes: usize, mut before_pass: impl FnMut(&mut D)) -> f64 {
    let mut out = Vec::with_capacity(8);
    let mut total = 0u128;
    for _ in 0..passes {
        before_pass(d);
        let start = Instant::now();
        for f in frames {
            out.clear();
            let r = d.decode_ws(black_box(f), RECV, &mut out);
            black_box((&r, &out));
        }
        total += start.elapsed().as_nanos();
    }
    total as f64 / (frames.len() * passes) as f64
}

#[test]
#[ignore = "timing: run in release with --ignored"]
fn perf_decode_per_frame() {
    let mut d = KucoinDecoder::new();
    let mut out = Vec::new();
    d.decode_rest(SYMBOLS_URL, &fixture("rest_symbols.json"), RECV, &mut out).unwrap();

    let trade = ns_per_frame(&mut d, &vec![fixture("match.json"); 1000], 500, |_| {});
    let ticker = ns_per_frame(&mut d, &vec![fixture("ticker_all.json"); 1000], 500, |_| {});

    // 1000 contiguous increments with three changes each; before each pass
    // the book is resynced to the snapshot they continue from.
    let base = 14_701_689_782u64;
    let l2: Vec<String> = (0..1000u64)
        .map(|i| {
            let s = base + 1 + 3 * i;
            format!(
                r#"{{"topic":"/market/level2:BTC-USDT","type":"message","subject":"trade.l2update","data":{{"changes":{{"asks":[["94123.5","0.51","{}"],["94125","0","{}"]],"bids":[["94123.4","1.2","{}"]]}},"sequenceEnd":{},"sequenceStart":{},"symbol":"BTC-USDT","time":1767621787125}}}}"#,
                s,
                s + 2,
                s + 1,
                s + 2,
                s
            )
        })
        .collect();
    let snapshot = fixture("rest_orderbook_level2_100.json");
    let level2 = ns_per_frame(&mut d, &l2, 500, |d| {
        let mut out = Vec::new();
        d.resync("BTC-USDT", RECV, &mut out);
        d.decode_rest(&book_url("BTC-USDT"), &snapshot, RECV, &mut out).unwrap();
        d.take_snapshot_requests();
    });
    assert_eq!(
        d.book_state("BTC-USDT"),
        Some(marketpipe_venues::kucoin::BookSyncState::Live { sequence: base + 3000 }),
        "every increment applied"
    );

    let mut cb = CoinbaseDecoder::new();
    let cb_match = r#"{"type":"match","trade_id":627465181,"maker_order_id":"5e8d5c7a-26a9-4a3b-9b7f-3a9b6c1f0e21","taker_order_id":"a1b2c3d4-e5f6-4789-8abc-def012345678","side":"sell","size":"0.00120000","price":"43521.17","product_id":"BTC-USD","sequence":70123456789,"time":"2026-01-05T14:03:07.123456Z"}"#;
    let cb_l2 = r#"{"type":"l2update","product_id":"BTC-USD","changes":[["buy","43521.16","0.51230000"],["sell","43521.18","0.00000000"],["sell","43522.01","1.20000000"]],"time":"2026-01-05T14:03:07.125381Z"}"#;
    let cb_trade = ns_per_frame(&mut cb, &vec![cb_match.to_owned(); 1000], 500, |_| {});
    let cb_level2 = ns_per_frame(&mut cb, &vec![cb_l2.to_owned(); 1000], 500, |_| {});

    println!("kucoin:   match {trade:.0} ns, ticker {ticker:.0} ns, level2 (3 changes) {level2:.0} ns");
    println!("coinbase: match {cb_trade:.0} ns, l2update (3 changes) {cb_level2:.0} ns (baseline, same machine)");
}
