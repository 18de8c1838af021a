//! Against the exchange simulator: the real Coinbase protocol over loopback,
//! every frame checked by the real decoder.

mod support;

use std::{sync::Arc, time::Duration};

use marketpipe_live::{spawn_backfiller, spawn_feed, BackfillConfig, FeedConfig, Gap, LiveBody, RestClient, RestRequest};
use marketpipe_model::{Exchange, MarketEvent, Timestamp, TradeId};
use marketpipe_sim::{Faults, SimConfig};
use marketpipe_venues::{
    binance::session::BinanceSession, coinbase::session::CoinbaseSession, kucoin::session::KucoinSession, session::SessionProtocol, Decoded,
};
use support::*;
use tokio::sync::{mpsc, watch};

async fn sim(faults: Faults) -> marketpipe_sim::SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = SimConfig { rate: 400.0, faults, ..SimConfig::default() };
    marketpipe_sim::start(config, listener).await.unwrap()
}

#[tokio::test]
async fn live_frames_and_backfilled_pages_decode_and_reconnects_are_counted() {
    let sim = sim(Faults { drop_every: Some(Duration::from_millis(400)), ..Faults::default() }).await;
    let protocol = Arc::new(CoinbaseSession);
    let mut cfg = FeedConfig::new(protocol.as_ref(), sim.products());
    cfg.ws_url = sim.ws_url();
    cfg.rest_url = sim.rest_url();
    cfg.backoff = fast_backoff();
    let (tx, mut rx) = mpsc::channel(1024);
    let (stop, shutdown) = watch::channel(false);
    let rest = RestClient::for_protocol(protocol.as_ref()).unwrap();
    let feed = spawn_feed(cfg.clone(), protocol.clone(), rest.clone(), tx.clone(), shutdown.clone()).unwrap();

    let (gap_tx, gap_rx) = mpsc::channel(64);
    let backfill = spawn_backfiller(BackfillConfig::for_feed(protocol.as_ref(), &cfg), protocol, rest, gap_rx, tx, shutdown).unwrap();

    let mut decoder = marketpipe_venues::decoder_for(Exchange::Coinbase).unwrap();
    let mut events = Vec::new();
    let (mut matches, mut snapshots, mut closes, mut backfilled) = (0, 0, 0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut asked = false;
    let mut per_product = std::collections::BTreeMap::new();
    while closes < 2 || snapshots < 3 || backfilled == 0 {
        let Ok(Some(record)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            panic!(
                "timed out: closes {closes} snapshots {snapshots} backfilled {backfilled} matches {matches}; {:?} {:?} {:?}",
                feed.stats(),
                backfill.stats(),
                sim.stats()
            );
        };
        events.clear();
        match &record.body {
            LiveBody::Ws { text, .. } => {
                let decoded = decoder.decode_ws(text, record.recv, &mut events);
                assert!(decoded.is_ok(), "{text}: {decoded:?}");
                snapshots += usize::from(matches!(decoded, Ok(Decoded::Market { msg: "snapshot" })));
            }
            LiveBody::Rest { url, body } => {
                decoder.decode_rest(url, body, record.recv, &mut events).unwrap();
                backfilled += events.iter().filter(|e| matches!(e, MarketEvent::Trade(_))).count();
            }
            LiveBody::Close { .. } => closes += 1,
            LiveBody::Open { .. } | LiveBody::WsOut { .. } => {}
        }
        for e in &events {
            if let (MarketEvent::Trade(t), LiveBody::Ws { .. }, TradeId::Num(id)) = (e, &record.body, &t_id(e)) {
                matches += 1;
                let id = *id;
                // Ask once for 19 trades the exchange surely still has:
                // this product's 30th trade seen is at least 30 trades in.
                let seen = per_product.entry(t.instrument.symbol.as_str().to_owned()).or_insert(0);
                *seen += 1;
                if !asked && *seen == 30 {
                    asked = true;
                    gap_tx
                        .send(RestRequest::from(Gap { product: t.instrument.symbol.as_str().to_owned(), after_id: id - 20, before_id: id }))
                        .await
                        .unwrap();
                }
            }
        }
        assert!(record.recv > Timestamp(0));
    }
    assert!(matches > 0);
    let stats = feed.stats();
    assert!(stats.reconnects >= 2 && stats.connections >= 3, "{stats:?}");
    assert_eq!(backfill.stats().gaps_completed, 1);
    assert!(backfilled >= 19, "{backfilled}");
    stop.send_replace(true);
    feed.join().await.unwrap();
    backfill.join().await.unwrap();
    sim.shutdown().await.unwrap();
}

/// The trade id of a trade event (a dummy string id otherwise).
fn t_id(e: &MarketEvent) -> TradeId {
    match e {
        MarketEvent::Trade(t) => t.id.clone(),
        _ => TradeId::Str("".into()),
    }
}

/// A connection past its planned age is replaced make-before-break: the
/// new one is open and acknowledged before the old one closes, so across
/// several rotations every trade of every product arrives (consecutive ids,
/// no hole) and no book loses its feed.
#[tokio::test]
async fn connections_rotated_at_their_age_lose_no_trade() {
    let sim = sim(Faults::default()).await;
    let protocol = Arc::new(CoinbaseSession);
    let mut cfg = FeedConfig::new(protocol.as_ref(), sim.products());
    cfg.ws_url = sim.ws_url();
    cfg.rest_url = sim.rest_url();
    cfg.backoff = fast_backoff();
    cfg.max_connection_age = Some(Duration::from_secs(1));
    let (tx, mut rx) = mpsc::channel(4096);
    let (stop, shutdown) = watch::channel(false);
    let rest = RestClient::for_protocol(protocol.as_ref()).unwrap();
    let feed = spawn_feed(cfg, protocol, rest, tx, shutdown).unwrap();

    let mut decoder = marketpipe_venues::decoder_for(Exchange::Coinbase).unwrap();
    let mut events = Vec::new();
    let mut last_id = std::collections::BTreeMap::new();
    let (mut open, mut max_open, mut rotated) = (0usize, 0usize, 0usize);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while rotated < 3 {
        let Ok(Some(record)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            panic!("timed out after {rotated} rotations: {:?}", feed.stats());
        };
        match &record.body {
            LiveBody::Open { .. } => {
                open += 1;
                max_open = max_open.max(open);
            }
            LiveBody::Close { reason, .. } => {
                open -= 1;
                assert!(reason.starts_with("rotated"), "only rotations close connections here: {reason}");
                rotated += 1;
            }
            LiveBody::Ws { text, .. } => {
                events.clear();
                decoder.decode_ws(text, record.recv, &mut events).unwrap();
                for e in &events {
                    let MarketEvent::Trade(t) = e else { continue };
                    let TradeId::Num(id) = t.id else { continue };
                    let last = last_id.entry(t.instrument.symbol.as_str().to_owned()).or_insert(id);
                    // Overlapping connections repeat trades; none may be skipped.
                    assert!(id <= *last + 1, "{}: trade {id} after {last}", t.instrument.symbol.as_str());
                    *last = (*last).max(id);
                }
            }
            LiveBody::WsOut { .. } | LiveBody::Rest { .. } => {}
        }
    }
    assert_eq!(max_open, 2, "the replacement opens before the old connection closes");
    let stats = feed.stats();
    assert!(stats.rotations >= 3, "{stats:?}");
    assert_eq!(stats.reconnects, 0, "rotations are not reconnects: {stats:?}");
    assert!(last_id.len() == sim.products().len());
    stop.send_replace(true);
    feed.join().await.unwrap();
    sim.shutdown().await.unwrap();
}

/// A feed of `protocol` against `sim`, with fast backoff.
fn feed_config(protocol: &dyn SessionProtocol, sim: &marketpipe_sim::SimHandle) -> FeedConfig {
    let mut cfg = FeedConfig::new(protocol, sim.products());
    cfg.ws_url = sim.ws_url();
    cfg.rest_url = sim.rest_url();
    cfg.backoff = fast_backoff();
    cfg
}

/// KuCoin: every connection starts with a bullet token (archived as a REST
/// record), waits for `welcome`, gets every topic acknowledged, and keeps
/// the connection alive with pings at the bullet's interval: across many
/// ping periods the simulator never drops it for silence.
#[tokio::test]
async fn kucoin_sessions_take_a_token_wait_for_welcome_and_ping() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = SimConfig {
        exchange: Exchange::Kucoin,
        rate: 200.0,
        ping_interval: Duration::from_millis(250),
        ping_timeout: Duration::from_secs(1),
        ..SimConfig::default()
    };
    let sim = marketpipe_sim::start(config, listener).await.unwrap();
    let protocol = Arc::new(KucoinSession);
    let cfg = feed_config(protocol.as_ref(), &sim);
    let (tx, mut rx) = mpsc::channel(4096);
    let (stop, shutdown) = watch::channel(false);
    let rest = RestClient::for_protocol(protocol.as_ref()).unwrap();
    let feed = spawn_feed(cfg, protocol, rest, tx, shutdown).unwrap();

    let records = collect_until(&mut rx, Duration::from_secs(10), |r| {
        r.iter().filter(|r| matches!(&r.body, LiveBody::WsOut { text, .. } if text.contains(r#""type":"ping""#))).count() >= 10
    })
    .await;
    let mut decoder = marketpipe_venues::decoder_for(Exchange::Kucoin).unwrap();
    let (mut events, mut labels) = (Vec::new(), std::collections::BTreeMap::new());
    for r in &records {
        let decoded = match &r.body {
            LiveBody::Rest { url, body } => decoder.decode_rest(url, body, r.recv, &mut events),
            LiveBody::Ws { text, .. } => decoder.decode_ws(text, r.recv, &mut events),
            _ => continue,
        };
        *labels.entry(decoded.unwrap().label()).or_insert(0) += 1;
    }
    // The token came first, then the greeting, then acks for all three topics.
    assert!(matches!(&records[0].body, LiveBody::Rest { url, .. } if url.ends_with("/api/v1/bullet-public")), "{:?}", records[0]);
    assert!(matches!(&records[1].body, LiveBody::Open { url, .. } if url.contains("token=") && url.contains("connectId=")));
    assert_eq!(labels.get("bullet"), Some(&1), "{labels:?}");
    assert_eq!(labels.get("welcome"), Some(&1), "{labels:?}");
    assert_eq!(labels.get("subscriptions"), Some(&3), "{labels:?}");
    assert!(labels.get("pong").is_some_and(|n| *n >= 9), "{labels:?}");
    assert!(labels.get("match").is_some_and(|n| *n > 0), "{labels:?}");
    let (stats, sim_stats) = (feed.stats(), sim.stats());
    assert_eq!((stats.connections, stats.reconnects, sim_stats.ping_timeouts), (1, 0, 0), "{stats:?} {sim_stats:?}");
    stop.send_replace(true);
    feed.join().await.unwrap();
    sim.shutdown().await.unwrap();
}

/// Binance: SUBSCRIBE frames are acknowledged by id and paced under the
/// 5 messages/s limit (the simulator enforces it), and a rotated connection
/// hands over without a hole in any book's update ids: a decoder fed both
/// connections' frames never loses sync.
#[tokio::test]
async fn binance_rotation_keeps_every_book_in_sequence() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = SimConfig { exchange: Exchange::Binance, rate: 300.0, ..SimConfig::default() };
    let sim = marketpipe_sim::start(config, listener).await.unwrap();
    let protocol = Arc::new(BinanceSession);
    let mut cfg = feed_config(protocol.as_ref(), &sim);
    cfg.max_connection_age = Some(Duration::from_secs(1));
    // Two connections, so subscribing takes several paced frames.
    cfg.max_products_per_connection = 2;
    let (tx, mut rx) = mpsc::channel(4096);
    let (stop, shutdown) = watch::channel(false);
    let rest = RestClient::for_protocol(protocol.as_ref()).unwrap();
    let feed = spawn_feed(cfg.clone(), protocol.clone(), rest.clone(), tx.clone(), shutdown.clone()).unwrap();
    let (snap_tx, snap_rx) = mpsc::channel(64);
    let backfill = spawn_backfiller(BackfillConfig::for_feed(protocol.as_ref(), &cfg), protocol, rest, snap_rx, tx, shutdown).unwrap();

    // Product metadata first, as the pipeline does.
    let info = reqwest::get(format!("{}/api/v3/exchangeInfo", sim.rest_url())).await.unwrap().text().await.unwrap();
    let mut decoder = marketpipe_venues::binance::BinanceDecoder::new();
    let mut events = Vec::new();
    use marketpipe_venues::VenueDecoder;
    decoder.decode_rest("/api/v3/exchangeInfo", &info, Timestamp(1), &mut events).unwrap();
    let (mut rotated, mut resets, mut snapshots, mut asked) = (0, 0, 0, std::collections::BTreeSet::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while rotated < 4 {
        let Ok(Some(record)) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            panic!("timed out after {rotated} rotations: {:?} {:?}", feed.stats(), sim.stats());
        };
        events.clear();
        match &record.body {
            LiveBody::Ws { text, .. } => {
                decoder.decode_ws(text, record.recv, &mut events).unwrap();
            }
            LiveBody::Rest { url, body } => {
                decoder.decode_rest(url, body, record.recv, &mut events).unwrap();
            }
            LiveBody::Close { reason, .. } => {
                assert!(reason.starts_with("rotated"), "{reason}");
                rotated += 1;
            }
            LiveBody::Open { .. } | LiveBody::WsOut { .. } => {}
        }
        resets += events.iter().filter(|e| matches!(e, MarketEvent::BookReset(_))).count();
        snapshots += events.iter().filter(|e| matches!(e, MarketEvent::BookSnapshot(_))).count();
        // What the pipeline does: ask for the snapshots the decoder waits for.
        for product in decoder.needs_snapshot().map(str::to_owned).collect::<Vec<_>>() {
            if asked.insert(product.clone()) {
                snap_tx.send(RestRequest::Snapshot { product }).await.unwrap();
            }
        }
    }
    assert_eq!(resets, 0, "no book lost its sequence across {rotated} rotations");
    assert_eq!(snapshots, 3, "one snapshot per book, at start");
    let (stats, sim_stats) = (feed.stats(), sim.stats());
    assert_eq!((stats.reconnects, sim_stats.rate_limited), (0, 0), "{stats:?} {sim_stats:?}");
    assert!(stats.rotations >= 4, "{stats:?}");
    stop.send_replace(true);
    feed.join().await.unwrap();
    backfill.join().await.unwrap();
    sim.shutdown().await.unwrap();
}
