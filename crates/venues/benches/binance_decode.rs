//! Decode cost per Binance frame. The replay pipeline's budget is at least
//! 1,000,000 capture records/s on one core, so a typical frame must decode
//! in well under 400 ns.
//!
//! Depth frames are stateful (each must follow the previous update id), so
//! they are benchmarked as a ring of contiguous frames; when the ring wraps,
//! a fresh decoder is primed with exchangeInfo and a snapshot (amortized
//! over thousands of frames).
//!
//! Run briefly: `cargo bench -p marketpipe-venues --bench binance_decode -- --warm-up-time 1 --measurement-time 3`.
//! With `BINANCE_CAPTURE=/tmp/bn.jsonl` (from `shared/bench/gen_capture.py
//! --exchange binance`), the whole capture is decoded too, record by record.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use marketpipe_model::Timestamp;
use marketpipe_venues::{binance::BinanceDecoder, VenueDecoder};

const RECV: Timestamp = Timestamp::from_nanos(1_767_621_787_200_000_000);

const SYMBOLS: [(&str, &str); 5] = [("BTC", "USDT"), ("ETH", "USDT"), ("SOL", "USDT"), ("XRP", "USDT"), ("ADA", "USDT")];

const AGG_TRADE: &str = r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1767225601910,"s":"BTCUSDT","a":2845791,"p":"43521.17","q":"0.00120","f":5691582,"l":5691582,"T":1767225601910,"m":true,"M":true}}"#;

const BOOK_TICKER: &str =
    r#"{"stream":"btcusdt@bookTicker","data":{"u":254315509,"s":"BTCUSDT","b":"43521.16","B":"0.51230","a":"43521.18","A":"0.08000"}}"#;

fn exchange_info() -> String {
    let symbols: Vec<String> = SYMBOLS
        .iter()
        .map(|(b, q)| {
            format!(r#"{{"symbol":"{b}{q}","status":"TRADING","baseAsset":"{b}","quoteAsset":"{q}","filters":[],"permissions":["SPOT"]}}"#)
        })
        .collect();
    format!(r#"{{"timezone":"UTC","serverTime":1767225600000,"rateLimits":[],"exchangeFilters":[],"symbols":[{}]}}"#, symbols.join(","))
}

/// A decoder that knows the symbols and holds each book at update id `at`.
fn primed(at: u64) -> BinanceDecoder {
    let mut d = BinanceDecoder::new();
    let mut out = Vec::new();
    d.decode_rest("https://api.binance.com/api/v3/exchangeInfo", &exchange_info(), RECV, &mut out).expect("exchangeInfo");
    for (b, q) in SYMBOLS {
        let url = format!("https://api.binance.com/api/v3/depth?symbol={b}{q}&limit=1000");
        d.decode_rest(&url, &format!(r#"{{"lastUpdateId":{at},"bids":[],"asks":[]}}"#), RECV, &mut out).expect("snapshot");
    }
    d
}

/// A tiny deterministic generator (no extra dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// A diff depth frame with `n` changes, as the generator writes them.
fn depth_frame(rng: &mut Lcg, symbol: (&str, &str), first: u64, last: u64, n: usize) -> String {
    let level = |rng: &mut Lcg| {
        let (int, cents, lots, frac) = (43_400 + rng.next() % 200, rng.next() % 100, rng.next() % 4, rng.next() % 100_000);
        format!(r#"["{int}.{cents:02}","{lots}.{frac:05}"]"#)
    };
    let bids: Vec<String> = (0..n.div_ceil(2)).map(|_| level(rng)).collect();
    let asks: Vec<String> = (0..n / 2).map(|_| level(rng)).collect();
    let (b, q) = symbol;
    let lower = format!("{b}{q}").to_ascii_lowercase();
    format!(
        r#"{{"stream":"{lower}@depth@100ms","data":{{"e":"depthUpdate","E":1767225601910,"s":"{b}{q}","U":{first},"u":{last},"b":[{}],"a":[{}]}}}}"#,
        bids.join(","),
        asks.join(",")
    )
}

const START: u64 = 254_315_508;

/// The generator's mix: half depth diffs (1-6 changes), 30% bookTicker,
/// 20% aggTrade each followed by its depth diff; update ids contiguous per
/// symbol from `START`.
fn mix(frames: usize) -> Vec<String> {
    let mut rng = Lcg(7);
    let mut seq = [START; 5];
    let mut out = Vec::with_capacity(frames);
    while out.len() < frames {
        let k = (rng.next() % 5) as usize;
        let (b, q) = SYMBOLS[k];
        let lower = format!("{b}{q}").to_ascii_lowercase();
        let r = rng.next() % 10;
        if r < 5 {
            let first = seq[k] + 1;
            seq[k] += 1 + rng.next() % 3;
            let n = 1 + (rng.next() % 6) as usize;
            out.push(depth_frame(&mut rng, SYMBOLS[k], first, seq[k], n));
        } else if r < 8 {
            out.push(format!(
                r#"{{"stream":"{lower}@bookTicker","data":{{"u":{},"s":"{b}{q}","b":"43521.16","B":"0.51230","a":"43521.18","A":"0.08000"}}}}"#,
                seq[k]
            ));
        } else {
            let id = 2_845_791 + out.len();
            out.push(format!(
                r#"{{"stream":"{lower}@aggTrade","data":{{"e":"aggTrade","E":1767225601910,"s":"{b}{q}","a":{id},"p":"43521.17","q":"0.00120","f":{},"l":{},"T":1767225601910,"m":{},"M":true}}}}"#,
                id * 2,
                id * 2,
                rng.next().is_multiple_of(2)
            ));
            seq[k] += 1;
            out.push(depth_frame(&mut rng, SYMBOLS[k], seq[k], seq[k], 1));
        }
    }
    out
}

/// Benchmarks decoding `frames` in order, cycling with a fresh primed
/// decoder at each wrap.
fn bench_ring(c: &mut Criterion, name: &str, frames: &[String]) {
    let mut decoder = primed(START);
    let mut out = Vec::with_capacity(16);
    // Check the ring decodes cleanly, and in sync.
    for f in frames {
        decoder.decode_ws(f, RECV, &mut out).expect("bench frame decodes");
    }
    assert!(!out.iter().any(|e| e.kind() == "book_reset"), "the ring must stay in sync");
    let mut group = c.benchmark_group("binance_decode");
    group.throughput(Throughput::Elements(1));
    let mut i = 0;
    decoder = primed(START);
    group.bench_function(name, |b| {
        b.iter(|| {
            if i == frames.len() {
                i = 0;
                decoder = primed(START);
            }
            out.clear();
            let decoded = decoder.decode_ws(black_box(&frames[i]), RECV, &mut out);
            i += 1;
            black_box(&decoded);
        })
    });
    group.finish();
}

fn bench_frame(c: &mut Criterion, name: &str, frame: &str) {
    let mut decoder = primed(START);
    let mut out = Vec::with_capacity(128);
    decoder.decode_ws(frame, RECV, &mut out).expect("bench frame decodes");
    let mut group = c.benchmark_group("binance_decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function(name, |b| {
        b.iter(|| {
            out.clear();
            let decoded = decoder.decode_ws(black_box(frame), RECV, &mut out);
            black_box(&decoded);
        })
    });
    group.finish();
}

/// A REST depth snapshot of `levels` levels a side, and a decoder in sync
/// past it (so it is decoded, validated and ignored as older than the book:
/// the whole parse, without the state change).
fn bench_snapshot(c: &mut Criterion, levels: usize) {
    let side = |base: u64, step: i64| {
        (0..levels)
            .map(|i| {
                let cents = base as i64 + step * i as i64;
                format!(r#"["{}.{:02}","{}.{:05}"]"#, cents / 100, cents % 100, i % 7, (i * 7919) % 100_000)
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let body = format!(r#"{{"lastUpdateId":{},"bids":[{}],"asks":[{}]}}"#, START - 1, side(4_352_116, -1), side(4_352_118, 1));
    let mut decoder = primed(START);
    let mut out = Vec::new();
    let url = "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000";
    let mut group = c.benchmark_group("binance_decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("rest_depth_{levels}x2"), |b| {
        b.iter(|| {
            out.clear();
            black_box(decoder.decode_rest(url, black_box(&body), RECV, &mut out)).expect("snapshot decodes");
        })
    });
    group.finish();
}

/// The records of a capture file, as (kind is rest, url, payload text).
fn capture_records(path: &str) -> Vec<(Option<String>, String)> {
    #[derive(serde::Deserialize)]
    struct Record<'a> {
        kind: &'a str,
        url: Option<String>,
        #[serde(borrow)]
        data: Option<&'a serde_json::value::RawValue>,
    }
    let text = std::fs::read_to_string(path).expect("read BINANCE_CAPTURE");
    text.lines()
        .filter_map(|line| {
            let r: Record<'_> = serde_json::from_str(line).expect("capture record");
            match (r.kind, r.data) {
                ("rest", Some(d)) => Some((r.url, d.get().to_owned())),
                ("ws", Some(d)) => Some((None, d.get().to_owned())),
                _ => None,
            }
        })
        .collect()
}

fn bench_capture(c: &mut Criterion) {
    let Ok(path) = std::env::var("BINANCE_CAPTURE") else { return };
    let records = capture_records(&path);
    let mut group = c.benchmark_group("binance_decode");
    group.throughput(Throughput::Elements(records.len() as u64));
    group.sample_size(10);
    let mut out = Vec::with_capacity(4096);
    group.bench_function("capture_file", |b| {
        b.iter(|| {
            let mut d = BinanceDecoder::new();
            for (url, payload) in &records {
                out.clear();
                let r = match url {
                    Some(url) => d.decode_rest(url, payload, RECV, &mut out),
                    None => d.decode_ws(payload, RECV, &mut out),
                };
                black_box(r).expect("capture record decodes");
            }
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_frame(c, "aggTrade", AGG_TRADE);
    bench_frame(c, "bookTicker", BOOK_TICKER);
    let mut rng = Lcg(1);
    let depth: Vec<String> = (0..8192u64).map(|i| depth_frame(&mut rng, SYMBOLS[0], START + 1 + 2 * i, START + 2 + 2 * i, 3)).collect();
    bench_ring(c, "depthUpdate_3_changes", &depth);
    let tickers: Vec<String> = (0..100)
        .map(|i| {
            let (b, q) = SYMBOLS[i % 5];
            format!(r#"{{"e":"24hrMiniTicker","E":1767225601910,"s":"{b}{q}","c":"43521.17","o":"42987.01","h":"43810.50","l":"42650.00","v":"18234.61530","q":"793457812.12"}}"#)
        })
        .collect();
    bench_frame(c, "miniTicker_arr_100", &format!(r#"{{"stream":"!miniTicker@arr","data":[{}]}}"#, tickers.join(",")));
    bench_ring(c, "generator_mix", &mix(16_384));
    bench_snapshot(c, 1000);
    bench_capture(c);
}

criterion_group!(binance, benches);
criterion_main!(binance);
