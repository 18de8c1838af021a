//! Order book sync, end to end over a hand-written capture
//! (`book_sync.jsonl`): messages before, straddling and after the
//! snapshot, the price-0 marker, a duplicate, a sequence gap, a snapshot
//! too old to use, and recovery; plus the runtime's view (snapshot
//! requests, resync) and the `BCHSV-USDT` -> `BSV-USDT` mapping.

use marketpipe_model::{BookSide, MarketEvent, Timestamp};
use marketpipe_venues::{
    kucoin::{BookSyncState, KucoinDecoder},
    Decoded,
};

use crate::support::{book_url, fixture, replay, rest, with_symbols, ws, BookModel, Step, SYMBOLS_URL};

/// Sequence `n` of the capture (its sequences are 9300000100 + n).
const fn seq(n: u64) -> u64 {
    9_300_000_100 + n
}

/// A step's events as short labels: `snapshot@S`, `delta@S[side price size,...]`, `reset:reason`.
fn labels(out: &[MarketEvent]) -> Vec<String> {
    out.iter()
        .map(|e| match e {
            MarketEvent::BookSnapshot(s) => format!("snapshot@{}", s.sequence.unwrap() - 9_300_000_100),
            MarketEvent::BookDelta(d) => {
                let changes: Vec<String> = d
                    .changes
                    .iter()
                    .map(|c| format!("{} {} {}", if c.side == BookSide::Bid { "bid" } else { "ask" }, c.price, c.size))
                    .collect();
                format!("delta@{}[{}]", d.sequence.unwrap() - 9_300_000_100, changes.join(","))
            }
            MarketEvent::BookReset(r) => format!("reset:{}", r.reason),
            MarketEvent::Product(p) => format!("product:{}", p.key.symbol),
            other => other.kind().to_owned(),
        })
        .collect()
}

fn by_line(steps: &[Step], line: usize) -> &Step {
    steps.iter().find(|s| s.0 == line).unwrap_or_else(|| panic!("no step for line {line}"))
}

#[test]
fn capture_replays_the_calibration_procedure() {
    let mut d = KucoinDecoder::new();
    let steps = replay(&mut d, "book_sync.jsonl");
    for (line, r, _) in &steps {
        assert!(r.is_ok(), "line {line}: {r:?}");
    }
    let got: Vec<(usize, Vec<String>)> = steps.iter().map(|(line, _, out)| (*line, labels(out))).collect();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        got,
        vec![
            (2, s(&[])),                   // welcome
            (4, s(&[])),                   // ack
            (5, s(&["product:ETH-USDT"])), // 101..=102: buffered (the symbol is announced)
            (6, s(&[])),                   // 103..=105: buffered
            // Snapshot 104: 101..=102 is in it; of 103..=105 only 105 is not.
            (7, s(&["snapshot@104", "delta@105[bid 3299.8 0]"])),
            (8, s(&["delta@106[]"])),                                 // the price-0 marker only advances
            (9, s(&["delta@108[ask 3300.5 0,bid 3299.9 0.25]"])),     // after the snapshot
            (10, s(&[])),                                             // a duplicate: stale
            (11, s(&["reset:sequence_gap"])),                         // 109..=110 missing
            (12, s(&[])),                                             // buffered
            (13, s(&["reset:stale_snapshot"])),                       // 109 cannot join 111
            (14, s(&["snapshot@112", "delta@113[ask 3300.6 0.75]"])), // recovery
            (15, s(&["delta@115[ask 3301 0,bid 3299.5 4]"])),         // live again
        ]
    );
    assert_eq!(
        by_line(&steps, 4).1,
        Ok(Decoded::Subscriptions { channels: vec![("/market/level2".to_owned(), vec!["ETH-USDT".to_owned()])] })
    );
    assert_eq!(by_line(&steps, 7).1, Ok(Decoded::Rest { endpoint: "orderbook" }));

    // The book the engine would hold, and the decoder's own view.
    let mut book = BookModel::default();
    steps.iter().flat_map(|s| &s.2).for_each(|e| book.apply(e));
    assert!(book.live);
    assert_eq!(book.sequence, Some(seq(115)));
    let row = |side, p: &str, s: &str| (side, p.to_owned(), s.to_owned());
    assert_eq!(
        book.rows(),
        vec![
            row(BookSide::Bid, "3299.5", "4"),
            row(BookSide::Bid, "3299.9", "0.5"),
            row(BookSide::Ask, "3300.6", "0.75"),
            row(BookSide::Ask, "3300.7", "1"),
        ]
    );
    assert_eq!(d.book_state("ETH-USDT"), Some(BookSyncState::Live { sequence: seq(115) }));
    let stats = d.stats();
    assert_eq!((stats.sequence_gaps, stats.stale_updates, stats.stale_snapshots, stats.buffer_overflows), (1, 1, 1, 0));
}

#[test]
fn replay_is_deterministic() {
    let run = || {
        let mut d = KucoinDecoder::new();
        replay(&mut d, "book_sync.jsonl")
    };
    assert_eq!(run(), run());
}

#[test]
fn deltas_keep_the_time_and_receive_time_of_their_message() {
    let mut d = KucoinDecoder::new();
    let steps = replay(&mut d, "book_sync.jsonl");
    // Line 6 (received at ...200 ms, exchange time ...197 ms) was played
    // back when the snapshot of line 7 arrived.
    let MarketEvent::BookDelta(delta) = &by_line(&steps, 7).2[1] else { panic!("delta") };
    assert_eq!(delta.recv_time, Timestamp::from_nanos(1_767_621_787_200_000_000));
    assert_eq!(delta.time, Some(Timestamp::from_nanos(1_767_621_787_197_000_000)));
    let MarketEvent::BookSnapshot(snap) = &by_line(&steps, 7).2[0] else { panic!("snapshot") };
    assert_eq!(snap.recv_time, Timestamp::from_nanos(1_767_621_787_250_000_000));
}

#[test]
fn the_runtime_learns_which_books_need_a_snapshot() {
    let mut d = with_symbols();
    assert!(d.take_snapshot_requests().is_empty());
    let l2 = fixture("level2.json");
    let _ = ws(&mut d, &l2);
    let _ = ws(&mut d, &l2.replace("BTC-USDT", "BCHSV-USDT"));
    assert_eq!(d.awaiting_snapshot(), ["BCHSV-USDT", "BTC-USDT"]);
    assert_eq!(d.take_snapshot_requests(), ["BCHSV-USDT", "BTC-USDT"]);
    assert!(d.take_snapshot_requests().is_empty(), "edge-triggered: reported once");
    assert_eq!(d.awaiting_snapshot(), ["BCHSV-USDT", "BTC-USDT"], "level-triggered: still waiting");
    assert_eq!(d.book_state("BTC-USDT"), Some(BookSyncState::Buffering { buffered: 1 }));

    let (_, out) = rest(&mut d, &book_url("BTC-USDT"), &fixture("rest_orderbook_level2_100.json"));
    assert_eq!(out.len(), 2);
    assert_eq!(d.awaiting_snapshot(), ["BCHSV-USDT"]);

    // A gap puts the symbol back on the list.
    let gap = l2.replace("14701689783", "14701689790").replace("14701689784", "14701689791").replace("14701689785", "14701689792");
    let (_, out) = ws(&mut d, &gap);
    assert!(matches!(out.as_slice(), [MarketEvent::BookReset(r)] if r.reason == "sequence_gap"), "{out:?}");
    assert_eq!(d.take_snapshot_requests(), ["BTC-USDT"]);
}

#[test]
fn a_request_satisfied_before_it_is_taken_is_dropped() {
    let mut d = with_symbols();
    let _ = ws(&mut d, &fixture("level2.json"));
    let _ = rest(&mut d, &book_url("BTC-USDT"), &fixture("rest_orderbook_level2_100.json"));
    assert!(d.take_snapshot_requests().is_empty());
}

#[test]
fn resync_takes_a_live_book_out_of_sync() {
    let mut d = with_symbols();
    let _ = rest(&mut d, &book_url("BTC-USDT"), &fixture("rest_orderbook_level2_100.json"));
    let mut out = Vec::new();
    assert!(d.resync("BTC-USDT", Timestamp::from_nanos(1), &mut out));
    assert!(matches!(out.as_slice(), [MarketEvent::BookReset(r)] if r.reason == "resync" && r.instrument.symbol.as_str() == "BTC-USDT"));
    assert_eq!(d.book_state("BTC-USDT"), Some(BookSyncState::Buffering { buffered: 0 }));
    assert_eq!(d.take_snapshot_requests(), ["BTC-USDT"]);
    out.clear();
    assert!(!d.resync("NOPE-USDT", Timestamp::from_nanos(1), &mut out));
    assert!(out.is_empty());
    // The next snapshot brings it back.
    let (_, out) = rest(&mut d, &book_url("BTC-USDT"), &fixture("rest_orderbook_level2_100.json"));
    assert!(matches!(out.as_slice(), [MarketEvent::BookSnapshot(_)]));
}

#[test]
fn the_buffer_is_bounded_per_book() {
    let mut d = KucoinDecoder::with_book_buffer(3);
    let frame = |n: u64| {
        format!(
            r#"{{"type":"message","topic":"/market/level2:ETH-USDT","subject":"trade.l2update","data":{{"changes":{{"asks":[["3300.5","{n}","{n}"]],"bids":[]}},"sequenceEnd":{n},"sequenceStart":{n},"symbol":"ETH-USDT","time":1767621787125}}}}"#
        )
    };
    let mut resets = Vec::new();
    for n in 1..=6 {
        let (r, out) = ws(&mut d, &frame(n));
        assert!(r.is_ok());
        resets.extend(out.into_iter().filter(|e| matches!(e, MarketEvent::BookReset(_))));
    }
    assert_eq!(resets.len(), 1, "overflow is reported once per episode");
    assert_eq!(d.stats().buffer_overflows, 3);
    assert_eq!(d.book_state("ETH-USDT"), Some(BookSyncState::Buffering { buffered: 3 }));
    // The newest three (4..=6) were kept: a snapshot at 3 joins them.
    let body = r#"{"code":"200000","data":{"sequence":"3","time":1767621787100,"bids":[],"asks":[["3300.5","3"]]}}"#;
    let (_, out) = rest(&mut d, &book_url("ETH-USDT"), body);
    assert_eq!(out.len(), 4, "snapshot and three deltas: {out:?}");
    assert_eq!(d.book_state("ETH-USDT"), Some(BookSyncState::Live { sequence: 6 }));
}

#[test]
fn bchsv_usdt_is_bsv_usdt_by_its_metadata() {
    // With the symbol list first, every event carries BSV-USDT.
    let mut d = with_symbols();
    let (_, out) = ws(&mut d, &fixture("ticker_all.json"));
    assert_eq!(out[0].instrument().symbol.as_str(), "BSV-USDT");
    let (_, out) = ws(&mut d, &fixture("match_legacy.json"));
    assert_eq!(out[0].instrument().symbol.as_str(), "BSV-USDT");

    // Without it, the symbol is derived (wrongly, BCHSV-USDT) until the
    // metadata arrives and corrects it, keeping the book in sync meanwhile.
    let mut d = KucoinDecoder::new();
    let (_, out) = ws(&mut d, &fixture("ticker_all.json"));
    assert_eq!(out[0].instrument().symbol.as_str(), "BCHSV-USDT");
    let _ = rest(&mut d, &book_url("BCHSV-USDT"), &fixture("rest_orderbook_level2_100.json"));
    let (_, out) = rest(&mut d, SYMBOLS_URL, &fixture("rest_symbols.json"));
    assert!(out
        .iter()
        .any(|e| matches!(e, MarketEvent::Product(p) if p.native_symbol == "BCHSV-USDT" && p.key.symbol.as_str() == "BSV-USDT")));
    let (_, out) = ws(&mut d, &fixture("ticker_all.json"));
    assert_eq!(out.len(), 1, "no re-announcement");
    assert_eq!(out[0].instrument().symbol.as_str(), "BSV-USDT");
    assert_eq!(d.book_state("BCHSV-USDT"), Some(BookSyncState::Live { sequence: 14_701_689_782 }));
}
