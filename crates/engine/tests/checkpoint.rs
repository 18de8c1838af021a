//! Checkpoints: an engine restored from a checkpoint continues exactly as
//! the engine it was taken of would have; damaged, foreign or mismatched
//! checkpoints are refused, never with a panic; trade-id dedup survives.

mod common;

use common::*;
use marketpipe_engine::{CheckpointError, Engine, EngineConfig, EngineOutput, CHECKPOINT_VERSION};
use marketpipe_model::{
    BookReset, BookSide, BookSnapshot, Decimal, Exchange, InstrumentKey, Interval, LevelChange, MarketEvent, Product, Side, Symbol, Ticker,
    Timestamp, Trade, TradeId,
};
use proptest::prelude::*;

/// Everything the engine can be asked to do.
#[derive(Debug, Clone)]
enum Op {
    Event(Box<MarketEvent>),
    Clock(Timestamp),
    Resyncing(InstrumentKey),
    Stale(InstrumentKey),
    Drain,
}

/// Products on three exchanges (the exchange is part of what is stored).
const PRODUCTS: [(Exchange, &str, &str); 3] =
    [(Exchange::Coinbase, "btc", "usd"), (Exchange::Kucoin, "eth", "usdt"), (Exchange::Binance, "sol", "usdt")];

fn product_key(i: usize) -> InstrumentKey {
    let (exchange, base, quote) = PRODUCTS[i % PRODUCTS.len()];
    InstrumentKey::new(exchange, Symbol::from_parts(base, quote))
}

/// Narrow windows, short lateness and retention: windows finalize, get
/// revised, are evicted and ids are swept within a few minutes of input.
/// Intervals deliberately not sorted.
fn small_config() -> EngineConfig {
    EngineConfig {
        intervals: vec![Interval::M1, Interval::S1],
        allowed_lateness_ns: 2 * S,
        quiet_close_margin_ns: S,
        retention_ns: 30 * S,
        mid_ma_window: 3,
        book_depth: 4,
    }
}

fn config() -> impl Strategy<Value = EngineConfig> {
    prop_oneof![Just(small_config()), Just(EngineConfig::default())]
}

/// How a trade's id is chosen.
#[derive(Debug, Clone)]
enum IdPick {
    /// The product's next consecutive id.
    Next,
    /// A jump ahead, leaving a gap.
    Gap(u64),
    /// An id this product already had: a duplicate.
    Repeat(prop::sample::Index),
    /// One of a few opaque string ids (KuCoin style), so repeats happen.
    Str(u8),
}

/// One op before times and ids are assigned.
#[derive(Debug, Clone)]
enum Raw {
    Trade { product: usize, id: IdPick, back_ms: i64, cents: i64, sats: i64, buy: bool, invalid: bool },
    Snapshot { product: usize, bids: Vec<marketpipe_model::Level>, asks: Vec<marketpipe_model::Level> },
    Delta { product: usize, changes: Vec<LevelChange> },
    Reset(usize),
    Ticker { product: usize, last: Option<i64>, bid: Option<i64>, negative_zero: bool },
    Product { product: usize, variant: u8 },
    Clock { ahead_ms: i64 },
    Resyncing(usize),
    Stale(usize),
    Drain,
}

fn raw() -> impl Strategy<Value = Raw> {
    let product = 0..PRODUCTS.len();
    let id = prop_oneof![8 => Just(IdPick::Next), 1 => (1u64..5).prop_map(IdPick::Gap), 2 => any::<prop::sample::Index>().prop_map(IdPick::Repeat), 2 => (0u8..6).prop_map(IdPick::Str)];
    // Mostly in order, sometimes far behind: late revisions and too-late drops.
    let back = prop_oneof![6 => 0i64..500, 1 => 0i64..120_000];
    let trade = (product.clone(), id, back, 1i64..20_000, 1i64..5_000_000, any::<bool>(), prop::bool::weighted(0.03))
        .prop_map(|(product, id, back_ms, cents, sats, buy, invalid)| Raw::Trade { product, id, back_ms, cents, sats, buy, invalid });
    let snapshot = (product.clone(), prop::collection::vec(level(true), 0..6), prop::collection::vec(level(false), 0..6))
        .prop_map(|(product, bids, asks)| Raw::Snapshot { product, bids, asks });
    let change = (any::<bool>(), any::<bool>(), level(true), level(false)).prop_map(|(bid, cross, low, high)| {
        let own = if bid != cross { low } else { high };
        LevelChange { side: if bid { BookSide::Bid } else { BookSide::Ask }, price: own.price, size: own.size }
    });
    let delta = (product.clone(), prop::collection::vec(change, 1..4)).prop_map(|(product, changes)| Raw::Delta { product, changes });
    let ticker = (product.clone(), prop::option::of(1i64..20_000), prop::option::of(1i64..20_000), any::<bool>())
        .prop_map(|(product, last, bid, negative_zero)| Raw::Ticker { product, last, bid, negative_zero });
    prop_oneof![
        12 => trade,
        2 => snapshot,
        6 => delta,
        1 => product.clone().prop_map(Raw::Reset),
        1 => ticker,
        1 => (product.clone(), 0u8..3).prop_map(|(product, variant)| Raw::Product { product, variant }),
        3 => (0i64..10_000).prop_map(|ahead_ms| Raw::Clock { ahead_ms }),
        1 => product.clone().prop_map(Raw::Resyncing),
        1 => product.prop_map(Raw::Stale),
        2 => Just(Raw::Drain),
    ]
}

/// Up to `max` ops; event time moves on by 0..2 s per op.
fn ops(max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec((raw(), 0i64..2_000), 1..max).prop_map(|raws| {
        let mut now = T0;
        let mut next_id = [1_000u64; PRODUCTS.len()];
        let mut seen: [Vec<TradeId>; PRODUCTS.len()] = Default::default();
        let mut seq = 0u64;
        raws.into_iter()
            .map(|(raw, dt_ms)| {
                now += dt_ms * 1_000_000;
                seq += 1;
                match raw {
                    Raw::Trade { product, id, back_ms, cents, sats, buy, invalid } => {
                        let id = match id {
                            IdPick::Repeat(i) if !seen[product].is_empty() => seen[product][i.index(seen[product].len())].clone(),
                            IdPick::Str(n) => TradeId::Str(format!("k{n}").into()),
                            IdPick::Gap(g) => {
                                next_id[product] += g;
                                TradeId::Num(next_id[product])
                            }
                            IdPick::Next | IdPick::Repeat(_) => TradeId::Num(next_id[product]),
                        };
                        if id == TradeId::Num(next_id[product]) {
                            next_id[product] += 1;
                        }
                        seen[product].push(id.clone());
                        let t = now - back_ms * 1_000_000;
                        Op::Event(Box::new(MarketEvent::Trade(Trade {
                            instrument: product_key(product),
                            id,
                            price: Decimal::new(cents, 2),
                            size: if invalid { Decimal::ZERO } else { Decimal::new(sats, 8) },
                            taker_side: if buy { Side::Buy } else { Side::Sell },
                            time: Timestamp(t),
                            recv_time: Timestamp(now),
                        })))
                    }
                    Raw::Snapshot { product, bids, asks } => Op::Event(Box::new(MarketEvent::BookSnapshot(BookSnapshot {
                        instrument: product_key(product),
                        sequence: Some(seq),
                        time: Some(Timestamp(now)),
                        recv_time: Timestamp(now),
                        bids,
                        asks,
                    }))),
                    Raw::Delta { product, changes } => {
                        let mut e = delta(&product_key(product), seq, changes);
                        if let MarketEvent::BookDelta(d) = &mut e {
                            d.time = Some(Timestamp(now));
                        }
                        Op::Event(Box::new(e))
                    }
                    Raw::Reset(product) => Op::Event(Box::new(MarketEvent::BookReset(BookReset {
                        instrument: product_key(product),
                        recv_time: Timestamp(now),
                        reason: "sequence_gap".into(),
                    }))),
                    Raw::Ticker { product, last, bid, negative_zero } => {
                        let mut t = Ticker::empty(product_key(product), Timestamp(now));
                        t.last_price = last.map(|c| Decimal::new(c, 2));
                        t.best_bid = bid.map(|c| Decimal::new(c, 3));
                        if negative_zero {
                            // Equal to zero, but not the same bytes: restore
                            // must keep the sign for the checkpoints to agree.
                            let mut z = Decimal::new(0, 4);
                            z.set_sign_negative(true);
                            t.volume_24h = Some(z);
                        }
                        Op::Event(Box::new(MarketEvent::Ticker(Box::new(t))))
                    }
                    Raw::Product { product, variant } => {
                        let (exchange, base, quote) = PRODUCTS[product];
                        Op::Event(Box::new(MarketEvent::Product(Product::new(exchange, &format!("N{variant}"), base, quote))))
                    }
                    Raw::Clock { ahead_ms } => Op::Clock(Timestamp(now + ahead_ms * 1_000_000)),
                    Raw::Resyncing(product) => Op::Resyncing(product_key(product)),
                    Raw::Stale(product) => Op::Stale(product_key(product)),
                    Raw::Drain => Op::Drain,
                }
            })
            .collect()
    })
}

/// Runs `ops`, collecting every drain's output.
fn run(e: &mut Engine, ops: &[Op], outs: &mut Vec<EngineOutput>) {
    for op in ops {
        match op {
            Op::Event(ev) => e.apply((**ev).clone()),
            Op::Clock(t) => e.advance_clock(*t),
            Op::Resyncing(k) => e.mark_resyncing(k),
            Op::Stale(k) => e.mark_stale(k),
            Op::Drain => outs.push(drain(e)),
        }
    }
}

fn restore(config: &EngineConfig, bytes: &[u8]) -> Engine {
    Engine::restore(config.clone(), bytes).unwrap_or_else(|e| panic!("a fresh checkpoint must restore: {e}"))
}

/// Sets a checkpoint's length and checksum to match its (edited) body, so
/// that the edit reaches the decoder.
fn reseal(bytes: &mut [u8]) {
    let body_end = bytes.len() - 4;
    bytes[8..16].copy_from_slice(&((body_end - 16) as u64).to_le_bytes());
    let crc = crc32fast::hash(&bytes[..body_end]);
    bytes[body_end..].copy_from_slice(&crc.to_le_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The split run drains exactly what the straight run drains, ends with
    /// the same counters, memory and clock, and with the same checkpoint.
    #[test]
    fn a_restored_engine_continues_exactly(config in config(), ops in ops(200), split in any::<prop::sample::Index>()) {
        let k = split.index(ops.len() + 1);
        let mut straight = engine_with(config.clone());
        let mut expected = Vec::new();
        run(&mut straight, &ops, &mut expected);
        expected.push(drain(&mut straight));

        let mut first = engine_with(config.clone());
        let mut got = Vec::new();
        run(&mut first, &ops[..k], &mut got);
        let bytes = first.checkpoint();
        let mut second = restore(&config, &bytes);
        prop_assert_eq!(&second.checkpoint(), &bytes, "a restored engine checkpoints to the same bytes");
        run(&mut second, &ops[k..], &mut got);
        got.push(drain(&mut second));

        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(second.counters(), straight.counters());
        prop_assert_eq!(second.memory(), straight.memory());
        prop_assert_eq!(second.clock(), straight.clock());
        prop_assert_eq!(second.checkpoint(), straight.checkpoint());
    }

    /// The strongest form: a checkpoint and restore between every two ops.
    #[test]
    fn restoring_after_every_op_changes_nothing(config in config(), ops in ops(120)) {
        let mut straight = engine_with(config.clone());
        let mut expected = Vec::new();
        run(&mut straight, &ops, &mut expected);

        let mut e = engine_with(config.clone());
        let mut got = Vec::new();
        for op in ops.chunks(1) {
            e = restore(&config, &e.checkpoint());
            run(&mut e, op, &mut got);
        }
        prop_assert_eq!(got, expected);
        prop_assert_eq!(e.checkpoint(), straight.checkpoint());
    }

    /// Random bytes, with or without a valid frame around them.
    #[test]
    fn garbage_is_refused_without_a_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..600), framed in any::<bool>()) {
        if framed {
            let mut frame = b"MPEC".to_vec();
            frame.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
            frame.extend_from_slice(&[0; 8]);
            frame.append(&mut bytes);
            frame.extend_from_slice(&[0; 4]);
            reseal(&mut frame);
            bytes = frame;
        }
        prop_assert!(Engine::restore(small_config(), &bytes).is_err());
    }

    /// Bytes of a real checkpoint changed behind a valid checksum (what a
    /// buggy writer could produce) are refused, or restore to an engine
    /// that keeps working: never a panic, now or later.
    #[test]
    fn damage_behind_a_valid_checksum_never_panics(
        ops in ops(120),
        edits in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6),
        cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
    ) {
        let config = small_config();
        let mut e = engine_with(config.clone());
        run(&mut e, &ops, &mut Vec::new());
        let mut bytes = e.checkpoint();
        let body = 16..bytes.len() - 4;
        for (at, x) in &edits {
            bytes[body.start + at.index(body.len())] ^= x;
        }
        if let Some(cut) = cut {
            bytes.drain(body.start + cut.index(body.len())..body.end);
        }
        reseal(&mut bytes);
        if let Ok(mut restored) = Engine::restore(config, &bytes) {
            let mut outs = Vec::new();
            run(&mut restored, &ops, &mut outs);
            restored.advance_clock(Timestamp(T0 + 86_400 * S));
            drain(&mut restored);
            prop_assert!(Engine::restore(small_config(), &restored.checkpoint()).is_ok());
        }
    }
}

/// A small engine with some of everything, a few changes left undrained.
fn sample_engine(config: &EngineConfig) -> Engine {
    let mut e = engine_with(config.clone());
    let (btc, eth) = (product_key(0), product_key(1));
    e.apply(MarketEvent::Product(Product::new(Exchange::Coinbase, "BTC-USD", "btc", "usd")));
    e.apply(snapshot(&btc, 1, &[("100", "1"), ("99.5", "2")], &[("101", "1.5"), ("102.25", "3")]));
    e.apply(delta(&btc, 2, vec![change(BookSide::Bid, "100.5", "0.5"), change(BookSide::Ask, "102.25", "0")]));
    for (i, id) in [1u64, 2, 3, 7].into_iter().enumerate() {
        e.apply(trade(&btc, id, T0 + i as i64 * 20 * S, "100.75", "0.01", if i % 2 == 0 { Side::Buy } else { Side::Sell }));
    }
    e.apply(MarketEvent::Trade(trade_of(&eth, TradeId::Str("5f1c2a".into()), T0 + 3 * S, "3000.5", "0.2", Side::Sell)));
    let mut ticker = Ticker::empty(eth.clone(), Timestamp(T0));
    ticker.last_price = Some(d("3000.5"));
    ticker.volume_24h = Some(d("1234.00000001"));
    e.apply(MarketEvent::Ticker(Box::new(ticker)));
    e.advance_clock(Timestamp(T0 + 65 * S));
    drain(&mut e);
    e.mark_stale(&eth);
    e.apply(trade(&btc, 8, T0 + 66 * S, "101", "0.02", Side::Buy));
    e
}

#[test]
fn trade_ids_seen_before_a_checkpoint_are_still_duplicates_after_it() {
    let config = small_config();
    let k = product_key(0);
    let mut e = engine_with(config.clone());
    // A gap-free run, a gap, ids after it, and string ids.
    for id in (1..=50).chain([60, 61, 70]) {
        e.apply(trade(&k, id, T0 + id as i64 * S / 10, "100", "1", Side::Buy));
    }
    for s in ["a1", "b2"] {
        e.apply(MarketEvent::Trade(trade_of(&k, TradeId::Str(s.into()), T0 + 5 * S, "100", "1", Side::Sell)));
    }
    drain(&mut e);
    let before = e.counters().duplicate_trades;

    let mut r = restore(&config, &e.checkpoint());
    let dups = [TradeId::Num(1), TradeId::Num(25), TradeId::Num(50), TradeId::Num(61), TradeId::Num(70), TradeId::Str("b2".into())];
    for id in &dups {
        // Altered content: only the id makes it a duplicate.
        r.apply(MarketEvent::Trade(trade_of(&k, id.clone(), T0 + 6 * S, "999", "5", Side::Sell)));
    }
    assert_eq!(r.counters().duplicate_trades - before, dups.len() as u64);
    assert!(drain(&mut r).candles.is_empty(), "duplicates change no candle");
    // Ids in the gaps are new.
    for id in [51, 65] {
        r.apply(trade(&k, id, T0 + 6 * S, "100", "1", Side::Buy));
    }
    assert_eq!(r.counters().duplicate_trades - before, dups.len() as u64);
    assert!(!drain(&mut r).candles.is_empty());
}

#[test]
fn a_different_config_is_refused_and_names_what_differs() {
    let config = small_config();
    let bytes = sample_engine(&config).checkpoint();
    let changes: [(&str, EngineConfig); 6] = [
        ("intervals", EngineConfig { intervals: vec![Interval::S1, Interval::M5], ..config.clone() }),
        ("allowed_lateness_ns", EngineConfig { allowed_lateness_ns: 3 * S, ..config.clone() }),
        ("quiet_close_margin_ns", EngineConfig { quiet_close_margin_ns: 0, ..config.clone() }),
        ("retention_ns", EngineConfig { retention_ns: 3600 * S, ..config.clone() }),
        ("mid_ma_window", EngineConfig { mid_ma_window: 10, ..config.clone() }),
        ("book_depth", EngineConfig { book_depth: 50, ..config.clone() }),
    ];
    for (field, other) in changes {
        match Engine::restore(other, &bytes) {
            Err(CheckpointError::ConfigMismatch(msg)) => assert!(msg.starts_with(field) && !msg.contains(';'), "{field}: {msg}"),
            other => panic!("{field}: expected a config mismatch, got {other:?}"),
        }
    }
    // Interval order is not a difference.
    let reordered = EngineConfig { intervals: vec![Interval::S1, Interval::M1], ..config.clone() };
    assert_eq!(restore(&reordered, &bytes).checkpoint(), bytes);
    // An invalid config is refused as such.
    let invalid = EngineConfig { book_depth: 0, ..config };
    assert!(matches!(Engine::restore(invalid, &bytes), Err(CheckpointError::InvalidConfig(_))));
}

#[test]
fn another_version_or_foreign_bytes_are_refused() {
    let config = small_config();
    let bytes = sample_engine(&config).checkpoint();
    let mut newer = bytes.clone();
    newer[4..8].copy_from_slice(&(CHECKPOINT_VERSION + 1).to_le_bytes());
    // Refused as a version, before its checksum or layout is looked at.
    let err = Engine::restore(config.clone(), &newer).err();
    assert_eq!(err, Some(CheckpointError::UnsupportedVersion { found: CHECKPOINT_VERSION + 1, supported: CHECKPOINT_VERSION }));
    assert!(err.is_some_and(|e| e.to_string().contains("version 2 is not supported") && !e.is_retryable()));

    let mut foreign = bytes.clone();
    foreign[..4].copy_from_slice(b"PK\x03\x04");
    assert_eq!(Engine::restore(config.clone(), &foreign).err(), Some(CheckpointError::NotACheckpoint));

    let mut longer = bytes;
    longer.push(0);
    assert!(matches!(Engine::restore(config, &longer), Err(CheckpointError::Malformed(_))));
}

#[test]
fn truncated_or_damaged_bytes_are_refused() {
    let config = small_config();
    let bytes = sample_engine(&config).checkpoint();
    for len in 0..bytes.len() {
        match Engine::restore(config.clone(), &bytes[..len]) {
            Err(CheckpointError::Truncated { len: l, expected }) => assert!(l == len && expected > len),
            other => panic!("{len} bytes: expected truncated, got {other:?}"),
        }
    }
    // Any flipped bit past the version fails the checksum (or, in the
    // length, the frame).
    for at in 8..bytes.len() {
        for bit in [0x01, 0x80] {
            let mut damaged = bytes.clone();
            damaged[at] ^= bit;
            let err = Engine::restore(config.clone(), &damaged).err();
            let expected = if at < 16 {
                matches!(err, Some(CheckpointError::Truncated { .. } | CheckpointError::Malformed(_)))
            } else {
                matches!(err, Some(CheckpointError::Checksum { .. }))
            };
            assert!(expected, "byte {at} bit {bit:#x}: {err:?}");
        }
    }
}

/// The sample engine's checkpoint as this format version writes it.
const GOLDEN: &str = "tests/data/checkpoint-v1.hex";

/// Old checkpoints must keep restoring, so the layout may only change with
/// [`CHECKPOINT_VERSION`]. Regenerate with
/// `UPDATE_GOLDEN=1 cargo test -p marketpipe-engine --test checkpoint golden`
/// after bumping it (or after a change of engine behaviour that changes the
/// sample state without changing the layout).
#[test]
fn the_golden_checkpoint_still_restores() {
    let config = small_config();
    let fresh = sample_engine(&config).checkpoint();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let hex: String = fresh.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().chunks(48).map(|c| c.concat() + "\n").collect();
        std::fs::write(GOLDEN, hex).expect("write the golden checkpoint");
    }
    let text = std::fs::read_to_string(GOLDEN).expect("golden checkpoint");
    let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
    let golden: Vec<u8> = digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("hex"), 16).expect("hex")).collect();
    let restored = Engine::restore(config, &golden).expect("the golden checkpoint restores");
    assert_eq!(restored.checkpoint(), golden, "the golden checkpoint re-encodes to itself");
    assert_eq!(
        fresh, golden,
        "the sample engine no longer checkpoints to the golden bytes: a layout change needs a new CHECKPOINT_VERSION"
    );
}
