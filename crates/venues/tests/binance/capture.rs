//! A whole generated Binance capture (exchangeInfo, one REST depth
//! snapshot per symbol, then combined-stream frames), decoded record by
//! record as replay does: no record may be skipped, no book may lose sync,
//! and the book built from the events must agree with every bookTicker.
//!
//! Runs `shared/bench/gen_capture.py` when python3 and the shared folder
//! exist (next to the repository), and is skipped otherwise.

use std::{collections::BTreeMap, path::PathBuf, process::Command};

use marketpipe_model::{BookSide, Decimal, MarketEvent, Timestamp};
use marketpipe_venues::{binance::BinanceDecoder, VenueDecoder};
use serde::Deserialize;
use serde_json::value::RawValue;

/// One capture record (see shared/DESIGN.md, "Capture format").
#[derive(Deserialize)]
struct Record<'a> {
    recv_ns: i64,
    exchange: String,
    kind: String,
    url: Option<String>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

fn generator() -> Option<PathBuf> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/gen_capture.py");
    let python = Command::new("python3").arg("--version").output().is_ok_and(|o| o.status.success());
    (python && script.is_file()).then_some(script)
}

/// Decodes every `ws` and `rest` record; panics on any decode error.
/// Returns the events and the number of frames by decoded label.
fn decode(capture: &str) -> (Vec<MarketEvent>, BTreeMap<&'static str, usize>, BinanceDecoder) {
    let mut d = BinanceDecoder::new();
    let mut events = Vec::new();
    let mut labels = BTreeMap::new();
    for (n, line) in capture.lines().enumerate() {
        let record: Record<'_> = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        assert_eq!(record.exchange, "binance");
        let recv = Timestamp::from_nanos(record.recv_ns);
        let decoded = match (record.kind.as_str(), record.data) {
            ("rest", Some(data)) => d.decode_rest(record.url.as_deref().expect("rest url"), data.get(), recv, &mut events),
            ("ws", Some(data)) => d.decode_ws(data.get(), recv, &mut events),
            ("open" | "close" | "ws_out", _) => continue,
            (kind, _) => panic!("line {}: unexpected record kind {kind}", n + 1),
        };
        let decoded = decoded.unwrap_or_else(|e| panic!("line {}: {} ({e}): {line:.200}", n + 1, e.reason()));
        *labels.entry(decoded.label()).or_insert(0) += 1;
    }
    (events, labels, d)
}

#[derive(Default)]
struct Book {
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

#[test]
fn generated_capture_decodes_with_zero_skips_and_books_in_sync() {
    let Some(script) = generator() else {
        eprintln!("skipped: python3 or shared/bench/gen_capture.py not found");
        return;
    };
    let path = std::env::temp_dir().join(format!("marketpipe-venues-binance-{}.jsonl", std::process::id()));
    let status = Command::new("python3")
        .arg(&script)
        .args(["--exchange", "binance", "--frames", "20000", "--symbols", "5", "--out"])
        .arg(&path)
        .status()
        .expect("run the generator");
    assert!(status.success(), "generator failed: {status}");
    let capture = std::fs::read_to_string(&path).expect("read the capture");
    let _ = std::fs::remove_file(&path);

    let (events, labels, decoder) = decode(&capture);
    assert_eq!(labels.get("exchangeInfo"), Some(&1), "{labels:?}");
    assert_eq!(labels.get("depth"), Some(&5), "{labels:?}");
    let frames: usize = ["depthUpdate", "aggTrade", "bookTicker"].iter().map(|l| labels.get(l).copied().unwrap_or(0)).sum();
    assert!(frames >= 20_000, "{labels:?}");

    // Nothing dropped, nothing out of sync.
    let stats = decoder.stats();
    assert_eq!(stats, Default::default(), "{stats:?}");
    assert_eq!(decoder.needs_snapshot().count(), 0);
    let mut kinds = BTreeMap::new();
    for e in &events {
        *kinds.entry(e.kind()).or_insert(0usize) += 1;
    }
    assert_eq!(kinds.get("book_reset"), None, "{kinds:?}");
    assert_eq!(kinds.get("product"), Some(&5));
    assert_eq!(kinds.get("book_snapshot"), Some(&5));
    assert_eq!(kinds.get("book_delta"), labels.get("depthUpdate"), "every depth frame applied");
    assert_eq!(kinds.get("trade"), labels.get("aggTrade"));
    assert_eq!(kinds.get("ticker"), labels.get("bookTicker"));

    // The book built from the events agrees with every bookTicker, and is
    // never crossed.
    let mut books: BTreeMap<String, Book> = BTreeMap::new();
    let mut checked = 0;
    for e in &events {
        let book = books.entry(e.instrument().symbol.as_str().to_owned()).or_default();
        match e {
            MarketEvent::BookSnapshot(s) => {
                book.bids = s.bids.iter().map(|l| (l.price, l.size)).collect();
                book.asks = s.asks.iter().map(|l| (l.price, l.size)).collect();
            }
            MarketEvent::BookDelta(delta) => {
                for c in &delta.changes {
                    let side = if c.side == BookSide::Bid { &mut book.bids } else { &mut book.asks };
                    if c.size.is_zero() {
                        side.remove(&c.price);
                    } else {
                        side.insert(c.price, c.size);
                    }
                }
                let (bid, ask) = (book.bids.keys().next_back(), book.asks.keys().next());
                assert!(bid < ask || bid.is_none() || ask.is_none(), "crossed after {:?}: {bid:?} >= {ask:?}", delta.sequence);
            }
            MarketEvent::Ticker(t) => {
                let best_bid = book.bids.iter().next_back().map(|(p, s)| (*p, *s));
                let best_ask = book.asks.iter().next().map(|(p, s)| (*p, *s));
                assert_eq!(t.best_bid.zip(t.best_bid_size), best_bid, "{}", t.instrument);
                assert_eq!(t.best_ask.zip(t.best_ask_size), best_ask, "{}", t.instrument);
                checked += 1;
            }
            _ => {}
        }
    }
    assert!(checked > 1_000, "{checked}");

    // Replaying the same capture reproduces the same events.
    let (again, _, _) = decode(&capture);
    assert!(again == events, "a replay differs");
}
