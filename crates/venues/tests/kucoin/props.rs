//! Properties over arbitrary input: nothing panics, a failed frame changes
//! nothing, valid numbers survive exactly, and, against a model exchange
//! that drops, duplicates and delays, a book the decoder calls live is
//! always exactly the exchange's book at that sequence.

use std::collections::BTreeMap;

use marketpipe_model::{BookSide, Decimal, MarketEvent, Side, Timestamp};
use marketpipe_venues::{
    kucoin::{BookSyncState, KucoinDecoder, KucoinStats},
    VenueDecoder,
};
use proptest::prelude::*;

use crate::support::{book_url, fixture, with_symbols, BookModel, RECV, SYMBOLS_URL};

const FRAMES: [&str; 12] = [
    "match.json",
    "match_legacy.json",
    "ticker_all.json",
    "ticker.json",
    "level2.json",
    "welcome.json",
    "ack.json",
    "pong.json",
    "error.json",
    "rest_symbols.json",
    "rest_orderbook_level2_100.json",
    "rest_bullet_public.json",
];

/// Everything a failed decode must leave as it was.
fn fingerprint(d: &KucoinDecoder) -> (usize, KucoinStats, Vec<String>, Vec<Option<BookSyncState>>) {
    let books = ["BTC-USDT", "BCHSV-USDT", "ETH-USDT"].iter().map(|s| d.book_state(s)).collect();
    (d.product_count(), d.stats(), d.awaiting_snapshot().into_iter().map(str::to_owned).collect(), books)
}

/// Decodes `frame` and checks the failure contract.
fn check_ws(d: &mut KucoinDecoder, frame: &str) -> Result<(), TestCaseError> {
    let before = fingerprint(d);
    let mut out = Vec::new();
    if d.decode_ws(frame, RECV, &mut out).is_err() {
        prop_assert!(out.is_empty(), "failed frame emitted {:?}", out);
        prop_assert_eq!(fingerprint(d), before);
    }
    Ok(())
}

/// Decodes `body` as a response to `url` and checks the failure contract.
fn check_rest(d: &mut KucoinDecoder, url: &str, body: &str) -> Result<(), TestCaseError> {
    let before = fingerprint(d);
    let mut out = Vec::new();
    if d.decode_rest(url, body, RECV, &mut out).is_err() {
        prop_assert!(out.is_empty(), "failed response emitted {:?}", out);
        prop_assert_eq!(fingerprint(d), before);
    }
    Ok(())
}

/// A decoder with symbols and a buffering BTC-USDT book, so failures are
/// checked against non-trivial state.
fn busy() -> KucoinDecoder {
    let mut d = with_symbols();
    let mut out = Vec::new();
    d.decode_ws(&fixture("level2.json"), RECV, &mut out).unwrap();
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(frame in ".{0,300}", url in ".{0,60}") {
        let mut d = busy();
        check_ws(&mut d, &frame)?;
        check_rest(&mut d, &url, &frame)?;
        check_rest(&mut d, SYMBOLS_URL, &frame)?;
        check_rest(&mut d, &book_url("BTC-USDT"), &frame)?;
        check_rest(&mut d, "/api/v1/bullet-public", &frame)?;
    }

    #[test]
    fn json_shaped_noise_never_panics(
        data in r#"\{("[a-zA-Z]{1,14}":("[-a-zA-Z0-9.:/]{0,14}"|[0-9]{1,14}|null|\[(\["[a-z0-9.]{0,6}"(,"[a-z0-9.]{0,6}"){0,3}\],?){0,3}\]),?){0,6}\}"#,
        topic in prop::sample::select(vec!["/market/match:BTC-USDT", "/market/level2:BTC-USDT", "/market/ticker:all", "/market/ticker:BTC-USDT", "/market/x:y"]),
    ) {
        let mut d = busy();
        check_ws(&mut d, &data)?;
        let framed = format!(r#"{{"type":"message","topic":"{topic}","subject":"BTC-USDT","data":{data}}}"#);
        check_ws(&mut d, &framed)?;
        let changes = format!(r#"{{"type":"message","topic":"/market/level2:BTC-USDT","data":{{"symbol":"BTC-USDT","sequenceStart":1,"sequenceEnd":2,"changes":{data}}}}}"#);
        check_ws(&mut d, &changes)?;
        check_rest(&mut d, &book_url("BTC-USDT"), &format!(r#"{{"code":"200000","data":{data}}}"#))?;
    }

    #[test]
    fn mutated_fixtures_never_panic_and_fail_cleanly(
        which in 0..FRAMES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = fixture(FRAMES[which]).into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut d = busy();
        check_ws(&mut d, &text)?;
        check_rest(&mut d, SYMBOLS_URL, &text)?;
        check_rest(&mut d, &book_url("BTC-USDT"), &text)?;
    }

    #[test]
    fn valid_trades_keep_exact_numbers(
        int in 1u64..10_000_000,
        frac in 0u64..100_000_000,
        scale in 0usize..=8,
        size_frac in 1u64..100_000_000,
        buy in any::<bool>(),
        nanos in 0u64..1_000_000_000,
        id in "[0-9a-f]{24}",
    ) {
        let price = if scale == 0 { int.to_string() } else { format!("{int}.{:0scale$}", frac % 10u64.pow(scale as u32)) };
        let size = format!("0.{size_frac:08}");
        let side = if buy { "buy" } else { "sell" };
        let time = 1_767_621_787_000_000_000u64 + nanos;
        let frame = format!(
            r#"{{"type":"message","topic":"/market/match:BTC-USDT","subject":"trade.l3match","data":{{"sequence":"1","symbol":"BTC-USDT","side":"{side}","price":"{price}","size":"{size}","tradeId":"{id}","time":"{time}","type":"match"}}}}"#
        );
        let mut d = KucoinDecoder::new();
        let mut out = Vec::new();
        d.decode_ws(&frame, RECV, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Some(MarketEvent::Trade(t)) = out.last() else { return Err(TestCaseError::fail("no trade")) };
        prop_assert_eq!(t.price.to_string(), price);
        prop_assert_eq!(t.size.to_string(), size);
        prop_assert_eq!(t.id.to_string(), id);
        prop_assert_eq!(t.taker_side, if buy { Side::Buy } else { Side::Sell });
        prop_assert_eq!(t.time, Timestamp::from_nanos(time as i64));
    }
}

/// One step of the model exchange.
#[derive(Debug, Clone)]
enum Op {
    /// The exchange changes its book; the message is delivered or lost.
    Update {
        /// `(bid, price index, size, marker)` per change.
        changes: Vec<(bool, u8, u8, bool)>,
        /// Whether the message reaches the decoder.
        delivered: bool,
    },
    /// A message already sent arrives again.
    Duplicate(prop::sample::Index),
    /// A REST snapshot taken `lag` sequences ago arrives.
    Snapshot {
        /// How far behind the exchange's sequence it was taken.
        lag: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (prop::collection::vec((any::<bool>(), 0u8..6, 0u8..4, prop::bool::weighted(0.1)), 1..5), prop::bool::weighted(0.9))
            .prop_map(|(changes, delivered)| Op::Update { changes, delivered }),
        1 => any::<prop::sample::Index>().prop_map(Op::Duplicate),
        2 => (0u8..8).prop_map(|lag| Op::Snapshot { lag }),
    ]
}

type Levels = BTreeMap<(BookSide, Decimal), Decimal>;

/// The price of level `idx` on a side, in cents: bids below 3300, asks above.
fn cents(bid: bool, idx: u8) -> i64 {
    if bid {
        329_995 - 5 * i64::from(idx)
    } else {
        330_005 + 5 * i64::from(idx)
    }
}

/// Runs `ops` against a fresh decoder, checking after every step that a
/// book the decoder calls live is the exchange's book at its sequence, and
/// that the events tell the engine the same. Returns every event.
fn run_exchange(ops: &[Op], buffer: usize) -> Result<Vec<MarketEvent>, TestCaseError> {
    const FIRST: u64 = 5_000;
    let mut d = KucoinDecoder::with_book_buffer(buffer);
    let mut seq = FIRST;
    let mut truth = Levels::new();
    let mut history = BTreeMap::from([(FIRST, truth.clone())]);
    let mut sent: Vec<String> = Vec::new();
    let mut model = BookModel::default();
    let mut all = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let recv = Timestamp::from_nanos(1_767_621_787_000_000_000 + step as i64);
        let mut out = Vec::new();
        match op {
            Op::Update { changes, delivered } => {
                let start = seq + 1;
                let (mut asks, mut bids) = (Vec::new(), Vec::new());
                let mut seen = Vec::new();
                for &(bid, idx, size, marker) in changes {
                    // KuCoin lists each price once per message.
                    if seen.contains(&(bid, idx)) {
                        continue;
                    }
                    seen.push((bid, idx));
                    seq += 1;
                    let entry = if marker {
                        format!(r#"["0","0","{seq}"]"#)
                    } else {
                        let price = Decimal::new(cents(bid, idx), 2);
                        let side = if bid { BookSide::Bid } else { BookSide::Ask };
                        if size == 0 {
                            truth.remove(&(side, price));
                        } else {
                            truth.insert((side, price), Decimal::from(size));
                        }
                        format!(r#"["{price}","{size}","{seq}"]"#)
                    };
                    history.insert(seq, truth.clone());
                    if bid {
                        bids.push(entry)
                    } else {
                        asks.push(entry)
                    }
                }
                let frame = format!(
                    r#"{{"type":"message","topic":"/market/level2:ETH-USDT","subject":"trade.l2update","data":{{"changes":{{"asks":[{}],"bids":[{}]}},"sequenceEnd":{seq},"sequenceStart":{start},"symbol":"ETH-USDT","time":1767621787125}}}}"#,
                    asks.join(","),
                    bids.join(",")
                );
                if *delivered {
                    d.decode_ws(&frame, recv, &mut out).map_err(|e| TestCaseError::fail(format!("{frame}: {e}")))?;
                }
                sent.push(frame);
            }
            Op::Duplicate(i) if !sent.is_empty() => {
                let frame = &sent[i.index(sent.len())];
                d.decode_ws(frame, recv, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            Op::Duplicate(_) => continue,
            Op::Snapshot { lag } => {
                let at = seq.saturating_sub(u64::from(*lag)).max(FIRST);
                let levels = &history[&at];
                let render = |side| {
                    levels
                        .iter()
                        .filter(|((s, _), _)| *s == side)
                        .map(|((_, p), q)| format!(r#"["{p}","{q}"]"#))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let body = format!(
                    r#"{{"code":"200000","data":{{"time":1767621787100,"sequence":"{at}","bids":[{}],"asks":[{}]}}}}"#,
                    render(BookSide::Bid),
                    render(BookSide::Ask)
                );
                d.decode_rest(&book_url("ETH-USDT"), &body, recv, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
        out.iter().for_each(|e| model.apply(e));
        match d.book_state("ETH-USDT") {
            Some(BookSyncState::Live { sequence }) => {
                prop_assert!(model.live, "step {}: decoder live at {} but the events say resyncing", step, sequence);
                prop_assert_eq!(model.sequence, Some(sequence), "step {}", step);
                prop_assert_eq!(&model.levels, &history[&sequence], "step {}: book at {}", step, sequence);
            }
            _ => prop_assert!(!model.live, "step {}: events say live, decoder does not", step),
        }
        all.extend(out);
    }
    Ok(all)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn a_live_book_is_always_the_exchanges_book(ops in prop::collection::vec(op(), 1..60), buffer in 1usize..12) {
        let first = run_exchange(&ops, buffer)?;
        // Deterministic: the same input gives the same events.
        prop_assert_eq!(run_exchange(&ops, buffer)?, first);
    }
}

#[test]
fn without_losses_the_book_goes_live_and_stays_live() {
    let ops: Vec<Op> = (0..40)
        .map(|i| match i {
            5 => Op::Snapshot { lag: 3 },
            _ => Op::Update { changes: vec![(i % 2 == 0, (i % 6) as u8, (i % 4) as u8, i % 7 == 0)], delivered: true },
        })
        .collect();
    let events = run_exchange(&ops, 64).unwrap();
    assert!(!events.iter().any(|e| matches!(e, MarketEvent::BookReset(_))), "{events:?}");
    assert_eq!(events.iter().filter(|e| matches!(e, MarketEvent::BookSnapshot(_))).count(), 1);
}
