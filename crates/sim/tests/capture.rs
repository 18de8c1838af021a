//! `write_capture`: determinism across runs, and replay of the file as the
//! ground truth.

mod common;

use std::path::Path;

use common::{fast, http, rest_history, sim, strip, Books, TradeIds};
use marketpipe_capture::{parse_record, CaptureReader, Line, RecordKind};
use marketpipe_model::{MarketEvent, Trade};
use marketpipe_sim::SimConfig;
use marketpipe_venues::{coinbase::CoinbaseDecoder, VenueDecoder};

/// A capture file's records as JSON, minus what legitimately differs
/// between runs: receive times, URLs (the port) and exchange times.
fn records_without_times(path: &Path) -> Vec<serde_json::Value> {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(line) = reader.next_line().unwrap() {
        let Line::Data(bytes) = line else { panic!("overlong line") };
        let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.remove("recv_ns");
        obj.remove("url");
        if let Some(data) = obj.get_mut("data").and_then(|d| d.as_object_mut()) {
            data.remove("time");
        }
        out.push(v);
    }
    out
}

async fn run_with_capture(seed: u64, path: &Path) -> marketpipe_sim::SimStats {
    let sim = sim(SimConfig { write_capture: Some(path.to_owned()), ..fast(seed, 3, 300) }).await;
    sim.generation_done().await;
    let stats = sim.stats();
    sim.shutdown().await.unwrap();
    stats
}

#[tokio::test]
async fn one_seed_one_market() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl.zst"), dir.path().join("c.jsonl"));
    let stats = run_with_capture(7, &a).await;
    run_with_capture(7, &b).await;
    run_with_capture(8, &c).await;
    let (a, b, c) = (records_without_times(&a), records_without_times(&b), records_without_times(&c));
    // 1 REST + open + subscribe + ack + 3 snapshots, then every market frame.
    assert_eq!(a.len() as u64, 7 + stats.market_frames);
    assert_eq!(stats.capture_records, a.len() as u64);
    assert!(a.len() > 5_000);
    assert_eq!(a, b, "same seed, same market (and .zst reads the same)");
    assert_ne!(a[7..], c[7..], "another seed, another market");
}

/// Replays a capture through the real decoder, as `marketpipe replay` does:
/// REST records through `decode_rest`, frames through `decode_ws`.
fn replay(path: &Path) -> (Vec<Trade>, Books) {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut decoder = CoinbaseDecoder::new();
    let (mut books, mut ids) = (Books::default(), TradeIds::default());
    let mut first = true;
    while let Some(Line::Data(bytes)) = reader.next_line().unwrap() {
        let record = parse_record(bytes).unwrap();
        assert_eq!(record.exchange, "coinbase");
        let payload = record.payload();
        let mut events = Vec::new();
        match record.kind {
            RecordKind::Rest => {
                decoder.decode_rest(record.url.as_deref().unwrap(), &payload.unwrap(), record.recv, &mut events).unwrap();
            }
            RecordKind::Ws => {
                decoder.decode_ws(&payload.unwrap(), record.recv, &mut events).unwrap();
            }
            RecordKind::Open | RecordKind::WsOut => {}
            RecordKind::Close => panic!("the market capture never closes its connection"),
        }
        if first {
            assert_eq!(record.kind, RecordKind::Rest, "the product list comes first");
            assert!(events.iter().all(|e| matches!(e, MarketEvent::Product(_))) && events.len() == 3);
            first = false;
        }
        for e in &events {
            books.apply(e);
            if let MarketEvent::Trade(t) = e {
                ids.observe(t);
            }
        }
    }
    (ids.trades, books)
}

#[tokio::test]
async fn the_capture_replays_to_the_rest_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("market.jsonl.zst");
    let sim = sim(SimConfig { write_capture: Some(path.clone()), ..fast(9, 3, 300) }).await;
    sim.generation_done().await;
    // Flushed at generation_done: readable before shutdown completes the zstd frame.
    assert!(std::fs::metadata(&path).unwrap().len() > 0);
    let http = http();
    let mut from_rest = Vec::new();
    for product in sim.products() {
        from_rest.extend(rest_history(&http, &sim.rest_url(), &product, 1000).await);
    }
    let stats = sim.stats();
    sim.shutdown().await.unwrap();

    let (replayed, books) = replay(&path);
    assert_eq!(replayed.len() as u64, stats.trades);
    assert_eq!(books.snapshots, 3);
    let key = |t: &Trade| (t.instrument.symbol.to_string(), t.id.as_u64());
    let mut replayed: Vec<Trade> = replayed.iter().map(strip).collect();
    let mut from_rest: Vec<Trade> = from_rest.iter().map(strip).collect();
    replayed.sort_by_key(key);
    from_rest.sort_by_key(key);
    assert_eq!(replayed, from_rest, "the capture is the market the REST history describes");
}
