//! Engine hot-path costs: trades into three intervals, 3-change deltas on a
//! ~200-level book (deep and top-of-book change distributions), the fixed
//! cost of any delta event, and a mixed stream with clock and drains. Also
//! the cost and size of a checkpoint of a realistic state, and of its
//! restore.
//!
//! Brief run: `cargo bench -p marketpipe-engine --bench engine -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use marketpipe_engine::{Engine, EngineConfig, EngineOutput};
use marketpipe_model::{
    BookDelta, BookSide, BookSnapshot, Decimal, Exchange, InstrumentKey, Level, LevelChange, MarketEvent, Product, Side, Symbol, Ticker,
    Timestamp, Trade, TradeId,
};

const BASE_NS: i64 = 1_767_225_600_000_000_000; // 2026-01-01
const EVENTS: usize = 100_000;

/// xorshift64*: deterministic input without a rand dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn key(symbol: &str) -> InstrumentKey {
    InstrumentKey::new(Exchange::Coinbase, Symbol::new(symbol))
}

/// A trade every ~20 ms with prices like "60123.45" and sizes like "0.00123000".
fn trades(key: &InstrumentKey, n: usize, rng: &mut Rng) -> Vec<MarketEvent> {
    let mut t = BASE_NS;
    (0..n)
        .map(|i| {
            t += 1_000_000 + rng.below(40_000_000) as i64;
            MarketEvent::Trade(Trade {
                instrument: key.clone(),
                id: TradeId::Num(1_000_000 + i as u64),
                price: Decimal::new(6_000_000 + rng.below(20_000) as i64, 2),
                size: Decimal::new(1 + rng.below(5_000_000) as i64, 8),
                taker_side: if rng.below(2) == 0 { Side::Buy } else { Side::Sell },
                time: Timestamp(t),
                recv_time: Timestamp(t + 30_000_000),
            })
        })
        .collect()
}

/// Bids on ticks below 10000.00, asks above, 200 ticks each side, so the book
/// never crosses; a snapshot fills 80% of the ticks.
fn snapshot(key: &InstrumentKey, rng: &mut Rng) -> MarketEvent {
    let mut bids = Vec::new();
    let mut asks = Vec::new();
    for d in 1..=200i64 {
        if rng.below(5) != 0 {
            bids.push(Level::new(Decimal::new(1_000_000 - d, 2), Decimal::new(1 + rng.below(10_000) as i64, 4)));
        }
        if rng.below(5) != 0 {
            asks.push(Level::new(Decimal::new(1_000_000 + d, 2), Decimal::new(1 + rng.below(10_000) as i64, 4)));
        }
    }
    MarketEvent::BookSnapshot(BookSnapshot {
        instrument: key.clone(),
        sequence: Some(1),
        time: Some(Timestamp(BASE_NS)),
        recv_time: Timestamp(BASE_NS),
        bids,
        asks,
    })
}

/// How deep below the best tick a change lands.
#[derive(Clone, Copy)]
enum Depth {
    /// Skewed to the top but with a long tail: median 14 ticks, p90 67.
    Deep,
    /// Uniform over the top 10 ticks.
    Top10,
}

/// Deltas of 3 changes each, a fifth of them deletions.
fn deltas(key: &InstrumentKey, n: usize, rng: &mut Rng, depth: Depth) -> Vec<MarketEvent> {
    (0..n)
        .map(|i| {
            let changes = (0..3)
                .map(|_| {
                    let depth = match depth {
                        Depth::Deep => 1 + (rng.below(200) * rng.below(200) * rng.below(200) / 40_000) as i64,
                        Depth::Top10 => 1 + rng.below(10) as i64,
                    };
                    let side = if rng.below(2) == 0 { BookSide::Bid } else { BookSide::Ask };
                    let price = match side {
                        BookSide::Bid => Decimal::new(1_000_000 - depth, 2),
                        BookSide::Ask => Decimal::new(1_000_000 + depth, 2),
                    };
                    let size = if rng.below(5) == 0 { Decimal::ZERO } else { Decimal::new(1 + rng.below(10_000) as i64, 4) };
                    LevelChange { side, price, size }
                })
                .collect();
            let t = BASE_NS + i as i64 * 1_000_000;
            MarketEvent::BookDelta(BookDelta {
                instrument: key.clone(),
                sequence: Some(2 + i as u64),
                time: Some(Timestamp(t)),
                recv_time: Timestamp(t),
                changes,
            })
        })
        .collect()
}

/// Applies every event. The emptied iterator is handed back so that freeing
/// the 100k-event buffer (and the allocator consolidating behind it) falls
/// outside the measurement: it is an artifact of batching, not engine work.
fn run(e: &mut Engine, events: Vec<MarketEvent>) -> std::vec::IntoIter<MarketEvent> {
    let mut it = events.into_iter();
    for ev in it.by_ref() {
        e.apply(ev);
    }
    it
}

fn engine() -> Engine {
    Engine::new(EngineConfig::default()).expect("default config is valid")
}

fn bench(c: &mut Criterion) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let btc = key("BTC-USD");
    let trade_events = trades(&btc, EVENTS, &mut rng);
    let snap = snapshot(&btc, &mut rng);
    let delta_events = deltas(&btc, EVENTS, &mut rng, Depth::Deep);
    let top_delta_events = deltas(&btc, EVENTS, &mut rng, Depth::Top10);

    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(EVENTS as u64));

    group.bench_function("trade_3_intervals", |b| {
        b.iter_batched(
            || (engine(), trade_events.clone()),
            |(mut e, events)| {
                let rest = run(&mut e, events);
                (e, rest)
            },
            BatchSize::LargeInput,
        )
    });

    group.bench_function("delta_3_changes_200_levels", |b| {
        b.iter_batched(
            || {
                let mut e = engine();
                e.apply(snap.clone());
                (e, delta_events.clone())
            },
            |(mut e, events)| {
                let rest = run(&mut e, events);
                (e, rest)
            },
            BatchSize::LargeInput,
        )
    });

    group.bench_function("delta_3_changes_200_levels_top10", |b| {
        b.iter_batched(
            || {
                let mut e = engine();
                e.apply(snap.clone());
                (e, top_delta_events.clone())
            },
            |(mut e, events)| {
                let rest = run(&mut e, events);
                (e, rest)
            },
            BatchSize::LargeInput,
        )
    });

    // The fixed cost of a delta event (move, product lookup, freeing its
    // changes) without touching a book: the baseline of the one above.
    group.bench_function("delta_ignored_before_snapshot", |b| {
        b.iter_batched(
            || (engine(), delta_events.clone()),
            |(mut e, events)| {
                let rest = run(&mut e, events);
                (e, rest)
            },
            BatchSize::LargeInput,
        )
    });

    // Ten products interleaved, trades and deltas half and half, the clock
    // advanced on every event and a drain every 1000 events, as a replay does.
    let keys: Vec<InstrumentKey> = (0..10).map(|i| key(&format!("C{i}-USD"))).collect();
    let mut streams: Vec<_> = keys
        .iter()
        .map(|k| (trades(k, EVENTS / 20, &mut rng).into_iter(), deltas(k, EVENTS / 20, &mut rng, Depth::Deep).into_iter()))
        .collect();
    let snaps: Vec<MarketEvent> = keys.iter().map(|k| snapshot(k, &mut rng)).collect();
    let mut mixed = Vec::with_capacity(EVENTS);
    for _ in 0..EVENTS / 20 {
        for (tr, de) in streams.iter_mut() {
            mixed.extend(tr.next());
            mixed.extend(de.next());
        }
    }
    group.bench_function("mixed_10_products_with_drain", |b| {
        b.iter_batched(
            || {
                let mut e = engine();
                for s in &snaps {
                    e.apply(s.clone());
                }
                (e, mixed.clone(), EngineOutput::default())
            },
            |(mut e, events, mut out)| {
                let mut now = BASE_NS;
                let mut it = events.into_iter();
                for (i, ev) in it.by_ref().enumerate() {
                    now += 100_000;
                    e.advance_clock(Timestamp(now));
                    e.apply(ev);
                    if i % 1000 == 999 {
                        out.clear();
                        e.drain(&mut out);
                        black_box(&out);
                    }
                }
                (e, it)
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// What `process` would checkpoint after two hours of a busy feed: 20
/// products with books of 1000 levels a side, a trade a second each
/// (three quarters with numeric ids, KuCoin-style string ids for the rest),
/// 1m/1h/1d candles over the default 1 h retention, tickers and metadata.
fn checkpoint_state() -> Engine {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut e = engine();
    let hours = 2;
    for p in 0..20u64 {
        let exchange = if p < 15 { Exchange::Coinbase } else { Exchange::Kucoin };
        let product = Product::new(exchange, &format!("C{p}-USDT"), &format!("c{p}"), "usdt");
        let k = product.key.clone();
        e.apply(MarketEvent::Product(product));
        let mut bids = Vec::new();
        let mut asks = Vec::new();
        for d in 1..=1000i64 {
            bids.push(Level::new(Decimal::new(1_000_000 - d, 2), Decimal::new(1 + rng.below(100_000_000) as i64, 8)));
            asks.push(Level::new(Decimal::new(1_000_000 + d, 2), Decimal::new(1 + rng.below(100_000_000) as i64, 8)));
        }
        e.apply(MarketEvent::BookSnapshot(BookSnapshot {
            instrument: k.clone(),
            sequence: Some(1),
            time: Some(Timestamp(BASE_NS)),
            recv_time: Timestamp(BASE_NS),
            bids,
            asks,
        }));
        for (i, mut ev) in trades(&k, hours * 3600, &mut rng).into_iter().enumerate() {
            if let MarketEvent::Trade(t) = &mut ev {
                t.time = Timestamp(BASE_NS + i as i64 * 1_000_000_000 + rng.below(1_000_000_000) as i64);
                t.recv_time = t.time;
                if exchange == Exchange::Kucoin {
                    t.id = TradeId::Str(format!("{:024x}", rng.next() as u128 * 0x1_0000 + i as u128).into());
                }
            }
            e.apply(ev);
        }
        let mut ticker = Ticker::empty(k, Timestamp(BASE_NS));
        ticker.last_price = Some(Decimal::new(6_000_000, 2));
        ticker.volume_24h = Some(Decimal::new(123_456_789_012, 8));
        e.apply(MarketEvent::Ticker(Box::new(ticker)));
    }
    e.advance_clock(Timestamp(BASE_NS + hours as i64 * 3600 * 1_000_000_000));
    e.drain(&mut EngineOutput::default());
    e
}

fn bench_checkpoint(c: &mut Criterion) {
    let e = checkpoint_state();
    let bytes = e.checkpoint();
    let m = e.memory();
    println!(
        "checkpoint: {} bytes for {} products, {} book levels, {} candle windows, {} trade-id entries",
        bytes.len(),
        m.products,
        m.book_levels,
        m.windows,
        m.trade_id_entries
    );
    let mut group = c.benchmark_group("checkpoint");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("checkpoint_20_products_1000_levels", |b| b.iter(|| black_box(e.checkpoint())));
    group.bench_function("restore_20_products_1000_levels", |b| {
        // Freeing the restored engine is not part of restoring it.
        b.iter_with_large_drop(|| Engine::restore(EngineConfig::default(), black_box(&bytes)).expect("the checkpoint restores"))
    });
    group.finish();
}

criterion_group!(benches, bench, bench_checkpoint);
criterion_main!(benches);
