//! Client misbehaviour and shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{fast, sim, Client, Next};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn misbehaving_clients_do_not_disturb_the_simulator() {
    let sim = sim(fast(41, 2, 2_000)).await;
    // An oversized message ends that connection only.
    let mut big = Client::connect(&sim.ws_url()).await;
    big.send(&"x".repeat(200_000)).await;
    assert_eq!(big.next(Duration::from_secs(3)).await, Next::Closed);
    // Garbage on a raw socket, and a socket closed mid-handshake.
    let mut raw = tokio::net::TcpStream::connect(sim.local_addr()).await.unwrap();
    raw.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n").await.unwrap();
    drop(raw);
    let mut raw = tokio::net::TcpStream::connect(sim.local_addr()).await.unwrap();
    raw.write_all(&[0xff; 4096]).await.unwrap();
    drop(raw);
    // A client that vanishes without a close frame.
    let mut gone = Client::connect(&sim.ws_url()).await;
    gone.subscribe(&["BTC-USD"], &["level2_batch"]).await;
    drop(gone);
    // Everyone else is still served.
    let mut fine = Client::connect(&sim.ws_url()).await;
    fine.subscribe(&["ETH-USD"], &["matches"]).await;
    assert!(fine.expect().await.contains("subscriptions"));
    assert!(matches!(fine.next(Duration::from_secs(2)).await, Next::Text(_)));
    let deadline = Instant::now() + Duration::from_secs(3);
    while sim.stats().active_connections != 1 {
        assert!(Instant::now() < deadline, "sessions leak: {:?}", sim.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_closes_sessions_promptly() {
    let sim = sim(fast(42, 2, 10_000)).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(&sim.ws_url()).await;
        c.subscribe(&["BTC-USD", "ETH-USD"], &["level2_batch", "matches", "heartbeat"]).await;
        c.expect().await;
        clients.push(c);
    }
    let t = Instant::now();
    let waiter = tokio::spawn(async move {
        let mut ends = Vec::new();
        for mut c in clients {
            loop {
                match c.next(Duration::from_secs(3)).await {
                    Next::Text(_) => continue,
                    other => {
                        ends.push(other);
                        break;
                    }
                }
            }
        }
        ends
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    sim.shutdown().await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "shutdown took {:?}", t.elapsed());
    assert_eq!(waiter.await.unwrap(), vec![Next::Closed, Next::Closed, Next::Closed]);
}

#[tokio::test]
async fn a_market_waiting_for_a_subscriber_stays_still_until_one_subscribes() {
    let sim = sim(marketpipe_sim::SimConfig { wait_for_subscriber: true, ..fast(43, 2, 300) }).await;
    // A connection alone does not start it: only a subscription does.
    let mut c = Client::connect(&sim.ws_url()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sim.stats().trades, 0, "{:?}", sim.stats());
    c.subscribe(&["BTC-USD", "ETH-USD"], &["matches"]).await;
    assert!(c.expect().await.contains("subscriptions"));
    // The whole 300 ms of market reaches this client: the first trade it
    // sees is each product's first.
    let frames = c.drain(Duration::from_millis(600)).await;
    let ids: Vec<u64> = frames
        .iter()
        .filter(|f| f.contains(r#""type":"match""#))
        .filter_map(|f| serde_json::from_str::<serde_json::Value>(f).ok()?["trade_id"].as_u64())
        .collect();
    assert!(!ids.is_empty() && sim.stats().trades > 0, "{:?}", sim.stats());
    assert_eq!(ids.len() as u64, sim.stats().trades, "every trade of the market was delivered");
    sim.shutdown().await.unwrap();
}
