//! Each fault switch, observed from a real client.

mod common;

use std::time::{Duration, Instant};

use common::{decode, fast, sim, Client, Next, TradeIds};
use marketpipe_model::MarketEvent;
use marketpipe_sim::{AckFault, Faults, SimConfig};
use marketpipe_venues::{coinbase::CoinbaseDecoder, Decoded};

fn with(faults: Faults, rate: f64, duration_ms: u64) -> SimConfig {
    SimConfig { faults, rate, ..fast(31, 2, duration_ms) }
}

#[tokio::test]
async fn drop_closes_each_connection_after_the_period() {
    let sim = sim(with(Faults { drop_every: Some(Duration::from_millis(300)), ..Faults::default() }, 2_000.0, 5_000)).await;
    for round in 1..=2u64 {
        let opened = Instant::now();
        let mut client = Client::connect(&sim.ws_url()).await;
        client.subscribe(&["BTC-USD"], &["matches"]).await;
        let mut frames = 0;
        loop {
            match client.next(Duration::from_secs(3)).await {
                Next::Text(_) => frames += 1,
                Next::Closed => break,
                Next::Timeout => panic!("connection not dropped"),
            }
        }
        let lived = opened.elapsed();
        assert!(lived >= Duration::from_millis(280) && lived < Duration::from_millis(1_500), "dropped after {lived:?}");
        assert!(frames > 10, "data flowed before the drop");
        assert_eq!(sim.stats().drops, round);
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn stall_stops_frames_but_keeps_the_socket_open() {
    let sim = sim(with(Faults { stall_after: Some(Duration::from_millis(250)), ..Faults::default() }, 2_000.0, 5_000)).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    client.subscribe(&["BTC-USD", "ETH-USD"], &["matches", "level2_batch", "heartbeat"]).await;
    let start = Instant::now();
    let mut last_frame = start;
    loop {
        match client.next(Duration::from_millis(1_500)).await {
            Next::Text(_) => last_frame = Instant::now(),
            Next::Timeout => break,
            Next::Closed => panic!("a stalled connection must stay open"),
        }
    }
    let quiet_from = last_frame - start;
    assert!(quiet_from >= Duration::from_millis(200) && quiet_from < Duration::from_millis(600), "went quiet after {quiet_from:?}");
    // Still open, still silent (heartbeats included) a while later.
    assert_eq!(client.next(Duration::from_millis(300)).await, Next::Timeout);
    assert_eq!(sim.stats().stalls, 1);
    let t = Instant::now();
    sim.shutdown().await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "shutdown waits for no stalled hold");
}

#[tokio::test]
async fn missing_ack_serves_data_without_subscriptions() {
    let sim = sim(with(Faults { ack: AckFault::Missing, ..Faults::default() }, 2_000.0, 300)).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    client.subscribe(&["BTC-USD"], &["level2_batch", "matches"]).await;
    let mut decoder = CoinbaseDecoder::new();
    let first = decode(&mut decoder, &client.expect().await).unwrap();
    assert_eq!(first.decoded.label(), "snapshot");
    sim.generation_done().await;
    let frames = client.drain(Duration::from_millis(300)).await;
    assert!(frames.len() > 50);
    assert!(frames.iter().all(|f| !f.contains("\"subscriptions\"")));
    let stats = sim.stats();
    assert_eq!((stats.acks_withheld, stats.acks_sent), (1, 0));
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn late_ack_arrives_after_the_delay_then_the_snapshot() {
    let delay = Duration::from_millis(300);
    let sim = sim(with(Faults { ack: AckFault::Late(delay), ..Faults::default() }, 2_000.0, 2_000)).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    let sent = Instant::now();
    client.subscribe(&["BTC-USD"], &["level2_batch"]).await;
    let mut decoder = CoinbaseDecoder::new();
    let ack = decode(&mut decoder, &client.expect().await).unwrap();
    assert!(matches!(ack.decoded, Decoded::Subscriptions { .. }));
    assert!(sent.elapsed() >= delay, "ack after {:?}", sent.elapsed());
    assert_eq!(decode(&mut decoder, &client.expect().await).unwrap().decoded.label(), "snapshot");
    assert_eq!(sim.stats().acks_delayed, 1);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn duplicates_resend_identical_frames_and_lose_nothing() {
    let sim = sim(with(Faults { duplicate_rate: 0.3, ..Faults::default() }, 10_000.0, 300)).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    client.subscribe(&["BTC-USD", "ETH-USD"], &["matches"]).await;
    sim.generation_done().await;
    let frames = client.drain(Duration::from_millis(400)).await;
    let repeats = frames.windows(2).filter(|w| w[0] == w[1]).count();
    let stats = sim.stats();
    assert!(repeats > 20, "{repeats} repeats");
    assert_eq!(repeats as u64, stats.duplicates_sent, "every duplicate follows its original");
    // Skipping the copies, trade ids are consecutive: nothing was replaced.
    let mut decoder = CoinbaseDecoder::new();
    let mut ids = TradeIds::default();
    let mut prev: Option<&String> = None;
    for f in &frames {
        if prev != Some(f) {
            for e in decode(&mut decoder, f).unwrap().events {
                if let MarketEvent::Trade(t) = e {
                    ids.observe(&t);
                }
            }
        }
        prev = Some(f);
    }
    assert!(ids.trades.len() > 100);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_frames_are_extra_and_counted() {
    let sim = sim(with(Faults { malformed_rate: 0.1, ..Faults::default() }, 10_000.0, 300)).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    client.subscribe(&["BTC-USD", "ETH-USD"], &["matches", "level2_batch", "ticker"]).await;
    sim.generation_done().await;
    let frames = client.drain(Duration::from_millis(400)).await;
    let mut decoder = CoinbaseDecoder::new();
    let mut ids = TradeIds::default();
    let mut failures = std::collections::BTreeMap::<&str, u64>::new();
    for f in &frames {
        match decode(&mut decoder, f) {
            Ok(d) => {
                for e in d.events {
                    if let MarketEvent::Trade(t) = e {
                        ids.observe(&t);
                    }
                }
            }
            Err(e) => *failures.entry(e.reason()).or_default() += 1,
        }
    }
    let total: u64 = failures.values().sum();
    assert_eq!(total, sim.stats().malformed_sent, "{failures:?}");
    assert!(failures.len() >= 3, "several kinds of malformed frames: {failures:?}");
    assert!(ids.trades.len() > 100, "data intact around the malformed frames");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_is_disconnected() {
    let sim = sim(SimConfig { client_buffer: 4, ..with(Faults::default(), 40_000.0, 10_000) }).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    client.subscribe(&["BTC-USD", "ETH-USD"], &["matches", "level2_batch", "ticker"]).await;
    let deadline = Instant::now() + Duration::from_secs(8);
    while sim.stats().slow_disconnects == 0 {
        assert!(Instant::now() < deadline, "never disconnected: {:?}", sim.stats());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Other clients are unaffected.
    let mut other = Client::connect(&sim.ws_url()).await;
    other.subscribe(&["BTC-USD"], &["matches"]).await;
    assert!(other.expect().await.contains("subscriptions"));
    drop(client);
    sim.shutdown().await.unwrap();
}
