//! Decode cost per Coinbase frame. The replay pipeline's budget is at least
//! 1,000,000 capture records/s on one core, so a typical frame must decode
//! in well under 400 ns.
//!
//! Run briefly: `cargo bench -p marketpipe-venues -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use marketpipe_model::Timestamp;
use marketpipe_venues::{coinbase::CoinbaseDecoder, VenueDecoder};

const MATCH: &str = r#"{"type":"match","trade_id":627465181,"maker_order_id":"5e8d5c7a-26a9-4a3b-9b7f-3a9b6c1f0e21","taker_order_id":"a1b2c3d4-e5f6-4789-8abc-def012345678","side":"sell","size":"0.00120000","price":"43521.17","product_id":"BTC-USD","sequence":70123456789,"time":"2026-01-05T14:03:07.123456Z"}"#;

const L2UPDATE: &str = r#"{"type":"l2update","product_id":"BTC-USD","changes":[["buy","43521.16","0.51230000"],["sell","43521.18","0.00000000"],["sell","43522.01","1.20000000"]],"time":"2026-01-05T14:03:07.125381Z"}"#;

const TICKER: &str = r#"{"type":"ticker","sequence":70123456790,"product_id":"BTC-USD","price":"43521.17","open_24h":"42987.01","volume_24h":"18234.61530917","low_24h":"42650","high_24h":"43810.5","volume_30d":"512345.12345678","best_bid":"43521.16","best_bid_size":"0.51230000","best_ask":"43521.18","best_ask_size":"0.08000000","side":"buy","time":"2026-01-05T14:03:07.123456Z","trade_id":627465181,"last_size":"0.0012"}"#;

/// A snapshot with `levels` levels on each side.
fn snapshot(levels: usize) -> String {
    let side = |base: u64, step: i64| {
        (0..levels)
            .map(|i| {
                let cents = base as i64 + step * i as i64;
                format!(r#"["{}.{:02}","{}.{:08}"]"#, cents / 100, cents % 100, i % 7, (i * 7919) % 100_000_000)
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"type":"snapshot","product_id":"BTC-USD","bids":[{}],"asks":[{}],"time":"2026-01-05T14:03:07.000001Z"}}"#,
        side(4_352_116, -1),
        side(4_352_118, 1)
    )
}

fn bench_frame(c: &mut Criterion, name: &str, frame: &str) {
    let mut decoder = CoinbaseDecoder::new();
    let mut out = Vec::with_capacity(4);
    let recv = Timestamp::from_nanos(1_767_621_787_200_000_000);
    // Warm the registry, as in steady state: the product is known.
    decoder.decode_ws(frame, recv, &mut out).expect("bench frame decodes");
    let mut group = c.benchmark_group("coinbase_decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            let decoded = decoder.decode_ws(black_box(frame), recv, &mut out);
            black_box(&decoded);
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_frame(c, "match", MATCH);
    bench_frame(c, "l2update_3_changes", L2UPDATE);
    bench_frame(c, "ticker", TICKER);
    bench_frame(c, "snapshot_200x2", &snapshot(200));
}

criterion_group!(coinbase, benches);
criterion_main!(coinbase);
