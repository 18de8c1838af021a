//! `write_capture` in the Binance and KuCoin dialects: the file replays
//! through the real decoders with nothing skipped, every book synced from
//! its REST snapshot at once, and the trades the simulator's history holds.

mod common;

use std::path::Path;

use common::{fast_on, http, sim, strip, Books, Client};
use marketpipe_capture::{parse_record, CaptureReader, Line, RecordKind};
use marketpipe_model::{MarketEvent, Timestamp, Trade};
use marketpipe_sim::{Exchange, SimConfig, SimHandle, SimStats};
use marketpipe_venues::{
    binance::{BinanceDecoder, BookSyncState},
    kucoin::{self, KucoinDecoder},
    Decoded, VenueDecoder,
};

/// What a replay saw.
#[derive(Debug, Default)]
struct Replayed {
    trades: Vec<Trade>,
    books: Books,
    tickers: usize,
    /// The kinds of the records, run-length encoded, in order.
    kinds: Vec<(RecordKind, usize)>,
}

/// Replays a capture through `decoder`, as `marketpipe replay` does: REST
/// records through `decode_rest`, frames through `decode_ws`. Any decode
/// error, book reset or exchange error fails the test.
fn replay(path: &Path, exchange: &str, decoder: &mut dyn VenueDecoder) -> Replayed {
    let mut reader = CaptureReader::open(path).unwrap();
    let mut r = Replayed::default();
    while let Some(Line::Data(bytes)) = reader.next_line().unwrap() {
        let record = parse_record(bytes).unwrap();
        assert_eq!(record.exchange, exchange);
        match r.kinds.last_mut() {
            Some((k, n)) if *k == record.kind => *n += 1,
            _ => r.kinds.push((record.kind, 1)),
        }
        let payload = record.payload();
        let mut events = Vec::new();
        let decoded = match record.kind {
            RecordKind::Rest => decoder.decode_rest(record.url.as_deref().unwrap(), &payload.unwrap(), record.recv, &mut events),
            RecordKind::Ws => decoder.decode_ws(&payload.unwrap(), record.recv, &mut events),
            RecordKind::Open | RecordKind::WsOut => continue,
            RecordKind::Close => panic!("the market capture never closes its connection"),
        };
        let decoded = decoded.unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)));
        assert!(!matches!(decoded, Decoded::ExchangeError { .. }), "{decoded:?}");
        for e in &events {
            assert!(!matches!(e, MarketEvent::BookReset(_)), "{e:?}");
            r.books.apply(e);
            match e {
                MarketEvent::Trade(t) => r.trades.push(strip(t)),
                MarketEvent::Ticker(_) => r.tickers += 1,
                _ => {}
            }
        }
    }
    r
}

async fn run(config: SimConfig, path: &Path) -> (SimHandle, SimStats) {
    let sim = sim(SimConfig { write_capture: Some(path.to_owned()), ..config }).await;
    sim.generation_done().await;
    let stats = sim.stats();
    (sim, stats)
}

fn key(t: &Trade) -> (String, String) {
    (t.instrument.symbol.to_string(), format!("{:020}", t.id))
}

/// Equal trade lists, reporting the first difference only.
fn same_trades(a: &[Trade], b: &[Trade], what: &str) {
    if let Some(i) = (0..a.len().min(b.len())).find(|&i| a[i] != b[i]) {
        panic!("{what}: trade {i} differs: {:?} vs {:?}", a[i], b[i]);
    }
    assert_eq!(a.len(), b.len(), "{what}");
}

#[tokio::test]
async fn a_binance_capture_replays_with_books_synced_at_the_first_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("binance.jsonl.zst");
    // Two seconds of market at 5000 frames/s: mini tickers too.
    let (sim, stats) = run(SimConfig { rate: 5_000.0, ..fast_on(Exchange::Binance, 11, 4, 2_100) }, &path).await;
    // Every trade, from REST, page by page from the oldest.
    let mut from_rest = Vec::new();
    let mut decoder = BinanceDecoder::new();
    let info = format!("{}/api/v3/exchangeInfo", sim.rest_url());
    decoder.decode_rest(&info, &http().get(&info).send().await.unwrap().text().await.unwrap(), Timestamp(0), &mut Vec::new()).unwrap();
    for symbol in sim.products() {
        let mut next = 0;
        loop {
            let url = marketpipe_venues::binance::agg_trades_url(&sim.rest_url(), &symbol, next);
            let body = http().get(&url).send().await.unwrap().text().await.unwrap();
            let mut out = Vec::new();
            decoder.decode_rest(&url, &body, Timestamp(0), &mut out).unwrap();
            let page: Vec<Trade> = out.iter().filter_map(|e| if let MarketEvent::Trade(t) = e { Some(strip(t)) } else { None }).collect();
            let Some(last) = page.last() else { break };
            next = last.id.as_u64().unwrap() + 1;
            from_rest.extend(page);
        }
    }
    sim.shutdown().await.unwrap();

    let mut d = BinanceDecoder::new();
    let r = replay(&path, "binance", &mut d);
    // exchangeInfo, the connection, the 4 depth snapshots, then frames only.
    assert_eq!(r.kinds.len(), 4, "{:?}", r.kinds);
    assert_eq!(r.kinds[..3], [(RecordKind::Rest, 1), (RecordKind::Open, 1), (RecordKind::Rest, 4)]);
    assert_eq!(r.books.snapshots, 4, "one REST snapshot per symbol, joined at once");
    assert!(r.books.deltas > 1000);
    for symbol in ["BTCUSDT", "ETHUSDT", "SOLUSDT", "LTCUSDT"] {
        assert!(matches!(d.book_state(symbol), Some(BookSyncState::Synced { joined: true, .. })), "{symbol}");
    }
    assert_eq!(d.stats().stale_updates + d.stats().sequence_gaps + d.stats().stale_snapshots, 0, "{:?}", d.stats());
    assert_eq!(r.trades.len() as u64, stats.trades);
    assert!(r.tickers > 100, "bookTicker and miniTicker frames");
    let (mut replayed, mut from_rest) = (r.trades, from_rest);
    replayed.sort_by_key(key);
    from_rest.sort_by_key(key);
    same_trades(&replayed, &from_rest, "the capture is the market the REST history describes");
}

#[tokio::test]
async fn a_kucoin_capture_replays_with_books_synced_at_the_first_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kucoin.jsonl");
    // Wait for a subscriber so a live client sees the whole market too.
    let (sim, stats) = {
        let config = SimConfig { wait_for_subscriber: true, write_capture: Some(path.clone()), ..fast_on(Exchange::Kucoin, 12, 4, 400) };
        let sim = sim(config).await;
        let body = http().post(format!("{}/api/v1/bullet-public", sim.rest_url())).send().await.unwrap().text().await.unwrap();
        let b = kucoin::bullet(&body).unwrap();
        let mut client = Client::connect(&b.ws_url("live")).await;
        client.expect().await;
        let products = sim.products();
        let ids: Vec<&str> = products.iter().map(String::as_str).collect();
        client.send(&kucoin::subscribe_request(1, &kucoin::topic("/market/match", &ids))).await;
        sim.generation_done().await;
        let mut live = KucoinDecoder::new();
        let symbols = format!("{}/api/v2/symbols", sim.rest_url());
        live.decode_rest(&symbols, &http().get(&symbols).send().await.unwrap().text().await.unwrap(), Timestamp(0), &mut Vec::new())
            .unwrap();
        let mut live_trades = Vec::new();
        for frame in client.drain(std::time::Duration::from_millis(400)).await {
            let mut out = Vec::new();
            live.decode_ws(&frame, Timestamp(0), &mut out).unwrap();
            live_trades.extend(out.iter().filter_map(|e| if let MarketEvent::Trade(t) = e { Some(strip(t)) } else { None }));
        }
        let stats = sim.stats();
        assert_eq!(live_trades.len() as u64, stats.trades, "the live client saw every trade");
        (sim, (stats, live_trades))
    };
    let (stats, live_trades) = stats;
    sim.shutdown().await.unwrap();

    let mut d = KucoinDecoder::new();
    let r = replay(&path, "kucoin", &mut d);
    // Symbols and bullet, the connection, welcome, 3 subscriptions and their
    // acks, the 4 level-2 snapshots, then frames only.
    let expected = [(RecordKind::Rest, 2), (RecordKind::Open, 1), (RecordKind::Ws, 1)]
        .into_iter()
        .chain([(RecordKind::WsOut, 1), (RecordKind::Ws, 1)].repeat(3))
        .chain([(RecordKind::Rest, 4)])
        .collect::<Vec<_>>();
    assert_eq!(r.kinds[..expected.len()], expected[..], "{:?}", r.kinds);
    assert_eq!(r.kinds.len(), expected.len() + 1);
    assert_eq!(r.books.snapshots, 4);
    assert!(r.books.deltas > 1000);
    for symbol in ["BTC-USDT", "ETH-USDT", "SOL-USDT", "BCHSV-USDT"] {
        assert!(matches!(d.book_state(symbol), Some(kucoin::BookSyncState::Live { .. })), "{symbol}");
    }
    assert_eq!(d.stats(), kucoin::KucoinStats::default(), "nothing skipped, stale or reset");
    assert!(r.trades.iter().any(|t| t.instrument.symbol.as_str() == "BSV-USDT"), "the renamed pair is normalized");
    assert_eq!(r.trades.len() as u64, stats.trades);
    let (mut replayed, mut live) = (r.trades, live_trades);
    replayed.sort_by_key(key);
    live.sort_by_key(key);
    same_trades(&replayed, &live, "the capture is what a client subscribed from the start received");
}
