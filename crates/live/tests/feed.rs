//! Websocket sessions against in-test servers over loopback.

mod support;

use std::{sync::Arc, time::Duration};

use marketpipe_live::{spawn_feed, FeedConfig, FeedHandle, LiveBody, LiveRecord, RestClient};
use marketpipe_model::Exchange;
use marketpipe_venues::coinbase::session::CoinbaseSession;
use support::*;
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

fn config(url: &str, products: &[&str], channels: &[&str]) -> FeedConfig {
    let mut c = FeedConfig::new(&CoinbaseSession, products.iter().map(|p| (*p).to_owned()).collect());
    c.ws_url = url.to_owned();
    c.channels = channels.iter().map(|c| (*c).to_owned()).collect();
    c.ack_timeout = Duration::from_millis(200);
    c.watchdog = Duration::from_millis(300);
    c.connect_timeout = Duration::from_millis(500);
    c.backoff = fast_backoff();
    c
}

struct Running {
    feed: FeedHandle,
    rx: mpsc::Receiver<LiveRecord>,
    stop: watch::Sender<bool>,
}

fn start(config: FeedConfig, capacity: usize) -> Running {
    let (tx, rx) = mpsc::channel(capacity);
    let (stop, shutdown) = watch::channel(false);
    let feed = spawn_feed(config, Arc::new(CoinbaseSession), RestClient::for_protocol(&CoinbaseSession).unwrap(), tx, shutdown).unwrap();
    Running { feed, rx, stop }
}

impl Running {
    /// Signals shutdown and checks every task ends promptly; returns the
    /// records that were still in flight.
    async fn shutdown(mut self) -> Vec<LiveRecord> {
        let started = Instant::now();
        self.stop.send_replace(true);
        tokio::time::timeout(Duration::from_secs(2), self.feed.join()).await.expect("feed did not stop in time").unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        let mut rest = Vec::new();
        while let Ok(r) = self.rx.try_recv() {
            rest.push(r);
        }
        rest
    }
}

const SECS: Duration = Duration::from_secs(5);

#[tokio::test]
async fn subscribes_with_the_exact_frame_and_forwards_frames_after_the_ack() {
    let server = ws_server(|_| Mode::Normal).await;
    let mut run = start(config(&server.url, &["BTC-USD", "ETH-USD"], &["heartbeat", "level2_batch"]), 64);
    let records = collect_until(&mut run.rx, SECS, |r| r.len() >= 6).await;
    let expected = r#"{"type":"subscribe","product_ids":["BTC-USD","ETH-USD"],"channels":["heartbeat","level2_batch"]}"#;

    let LiveBody::Open { conn, url } = &records[0].body else { panic!("{records:#?}") };
    assert_eq!(url, &server.url);
    let conn = *conn;
    assert_eq!(records[1].body, LiveBody::WsOut { conn, text: expected.to_owned() });
    assert!(matches!(&records[2].body, LiveBody::Ws { conn: c, text } if *c == conn && text.contains("subscriptions")), "{records:#?}");
    assert!(records[3..].iter().all(|r| is_heartbeat_on(r, conn)), "{records:#?}");
    assert!(records.iter().all(|r| r.exchange == Exchange::Coinbase));
    assert!(records.windows(2).all(|w| w[0].recv <= w[1].recv), "receive times are monotonic");
    assert_eq!(server.seen.frames()[0], (0, expected.to_owned()));

    let stats = run.feed.stats();
    assert_eq!((stats.connections, stats.reconnects, stats.binary_ignored), (1, 0, 1));
    assert!(stats.frames >= 4);
    let seen = server.seen.clone();
    let rest = run.shutdown().await;
    // The session said goodbye: a close frame to the server, a Close record.
    assert!(matches!(rest.last().map(|r| &r.body), Some(LiveBody::Close { conn: c, reason }) if *c == conn && reason == "shutdown"));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(*seen.closes.lock().unwrap(), vec![0]);
}

#[tokio::test]
async fn a_missing_ack_times_out_and_reconnects() {
    let server = ws_server(|i| if i == 0 { Mode::NoAck } else { Mode::Normal }).await;
    let mut run = start(config(&server.url, &["BTC-USD"], &["heartbeat"]), 64);
    let records =
        collect_until(&mut run.rx, SECS, |r| opens(r) == 2 && r.last().is_some_and(|l| matches!(l.body, LiveBody::Ws { .. }))).await;
    let conns = open_conns(&records);
    assert!(conns[1] > conns[0]);
    let closes = closes(&records);
    assert_eq!(closes.len(), 1);
    assert_eq!(closes[0].0, conns[0]);
    assert!(closes[0].1.starts_with("ack_timeout"), "{closes:?}");
    let stats = run.feed.stats();
    assert_eq!((stats.ack_timeouts, stats.reconnects, stats.connections), (1, 1, 2));
    run.shutdown().await;
}

#[tokio::test]
async fn an_exchange_error_on_subscribe_reconnects_and_is_counted() {
    let server = ws_server(|i| if i == 0 { Mode::Reject } else { Mode::Normal }).await;
    let mut run = start(config(&server.url, &["BTC-USD"], &["heartbeat"]), 64);
    let records = collect_until(&mut run.rx, SECS, |r| opens(r) == 2 && r.iter().any(is_ack)).await;
    let conns = open_conns(&records);
    // The error frame itself was forwarded (it was received).
    assert!(records.iter().any(|r| matches!(&r.body, LiveBody::Ws { conn, text } if *conn == conns[0] && text.contains("\"error\""))));
    let closes = closes(&records);
    assert_eq!(closes[0].0, conns[0]);
    assert!(closes[0].1.starts_with("exchange_error: Failed to subscribe"), "{closes:?}");
    let stats = run.feed.stats();
    assert_eq!((stats.exchange_errors, stats.reconnects, stats.ack_timeouts), (1, 1, 0));
    run.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_are_replaced_with_new_ids_and_paired_records() {
    let server = ws_server(|i| if i < 3 { Mode::DropAfter(Duration::from_millis(60)) } else { Mode::Normal }).await;
    let mut run = start(config(&server.url, &["BTC-USD"], &["heartbeat"]), 256);
    let records = collect_until(&mut run.rx, SECS, |r| opens(r) == 4 && r.iter().filter(|x| is_ack(x)).count() == 4).await;
    let conns = open_conns(&records);
    assert!(conns.windows(2).all(|w| w[0] < w[1]), "{conns:?}");
    let closes = closes(&records);
    assert_eq!(closes.iter().map(|c| c.0).collect::<Vec<_>>(), conns[..3].to_vec());
    // Each Close comes before the next Open, and no frame of a connection follows its Close.
    for (i, (conn, _)) in closes.iter().enumerate() {
        let close_at = records.iter().position(|r| matches!(r.body, LiveBody::Close { conn: c, .. } if c == *conn)).unwrap();
        let next_open = records.iter().position(|r| matches!(r.body, LiveBody::Open { conn: c, .. } if c == conns[i + 1])).unwrap();
        assert!(close_at < next_open);
        assert!(records[close_at..].iter().all(|r| r.conn() != Some(*conn) || matches!(r.body, LiveBody::Close { .. })));
    }
    assert_eq!(run.feed.stats().reconnects, 3);
    run.shutdown().await;
}

#[tokio::test]
async fn a_stalled_connection_is_replaced_within_the_watchdog_period() {
    let server = ws_server(|i| if i == 0 { Mode::Stall } else { Mode::Normal }).await;
    let cfg = config(&server.url, &["BTC-USD"], &["heartbeat", "matches"]);
    let watchdog = cfg.watchdog;
    let mut run = start(cfg, 64);
    let records = collect_until(&mut run.rx, SECS, |r| r.iter().any(|x| matches!(x.body, LiveBody::Close { .. }))).await;
    let ack_at = records.iter().find(|r| matches!(&r.body, LiveBody::Ws { text, .. } if text.contains("subscriptions"))).unwrap().recv;
    let close = records.last().unwrap();
    let LiveBody::Close { reason, .. } = &close.body else { unreachable!() };
    assert!(reason.starts_with("watchdog"), "{reason}");
    let silent_ns = close.recv.0 - ack_at.0;
    let watchdog_ns = i64::try_from(watchdog.as_nanos()).unwrap();
    assert!(silent_ns >= watchdog_ns, "tripped after {silent_ns} ns");
    assert!(silent_ns < watchdog_ns * 2, "tripped only after {silent_ns} ns");
    let more =
        collect_until(&mut run.rx, SECS, |r| r.iter().any(|x| matches!(&x.body, LiveBody::Ws { text, .. } if text.contains("heartbeat"))))
            .await;
    assert_eq!(opens(&more), 1);
    assert_eq!(run.feed.stats().watchdog_trips, 1);
    run.shutdown().await;
}

#[tokio::test]
async fn products_are_split_across_connections() {
    let server = ws_server(|_| Mode::Normal).await;
    let mut cfg = config(&server.url, &["A-USD", "B-USD", "C-USD", "D-USD", "E-USD"], &["heartbeat"]);
    cfg.max_products_per_connection = 2;
    let mut run = start(cfg, 256);
    let slots: Vec<Vec<String>> = run.feed.connections().to_vec();
    assert_eq!(slots, vec![vec!["A-USD", "B-USD"], vec!["C-USD", "D-USD"], vec!["E-USD"]]);
    collect_until(&mut run.rx, SECS, |r| r.iter().filter(|x| is_ack(x)).count() == 3).await;
    let mut subscribed: Vec<Vec<String>> = server.seen.frames().iter().map(|(_, f)| strings(f, "product_ids")).collect();
    subscribed.sort();
    assert_eq!(subscribed, slots);
    assert_eq!(run.feed.stats().connections, 3);
    run.shutdown().await;
}

#[tokio::test]
async fn resync_resubscribes_the_book_channel_of_that_product() {
    let server = ws_server(|_| Mode::Normal).await;
    let mut run = start(config(&server.url, &["BTC-USD", "ETH-USD"], &["heartbeat", "matches", "level2_batch"]), 256);
    let records = collect_until(&mut run.rx, SECS, |r| r.iter().any(is_ack)).await;
    let conn = open_conns(&records)[0];
    assert!(!run.feed.resync("XRP-USD"), "no session owns it");
    assert!(run.feed.resync("ETH-USD"));
    assert!(run.feed.resync("ETH-USD"), "merged with the pending one");
    let records = collect_until(&mut run.rx, SECS, |r| r.iter().filter(|x| matches!(x.body, LiveBody::WsOut { .. })).count() == 2).await;
    let unsub = r#"{"type":"unsubscribe","product_ids":["ETH-USD"],"channels":["level2_batch"]}"#;
    let sub = r#"{"type":"subscribe","product_ids":["ETH-USD"],"channels":["level2_batch"]}"#;
    let sent: Vec<&LiveBody> = records.iter().map(|r| &r.body).filter(|b| matches!(b, LiveBody::WsOut { .. })).collect();
    assert_eq!(sent, vec![&LiveBody::WsOut { conn, text: unsub.into() }, &LiveBody::WsOut { conn, text: sub.into() }]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let frames: Vec<String> = server.seen.frames().into_iter().map(|(_, f)| f).collect();
    assert_eq!(&frames[1..], &[unsub.to_owned(), sub.to_owned()]);
    assert_eq!(run.feed.stats().resyncs, 1);
    assert_eq!(run.feed.stats().reconnects, 0);
    run.shutdown().await;
}

#[tokio::test]
async fn a_full_channel_blocks_and_counts_but_never_drops() {
    let server = ws_server(|_| Mode::Burst(300)).await;
    let mut run = start(config(&server.url, &["BTC-USD"], &["heartbeat", "matches"]), 1);
    // Nobody reads for a while: the session must wait, not drop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let records = collect_until(&mut run.rx, SECS, |r| {
        r.iter().filter(|x| matches!(&x.body, LiveBody::Ws { text, .. } if text.contains("\"match\""))).count() == 300
    })
    .await;
    let ids: Vec<u64> = records
        .iter()
        .filter_map(|r| match &r.body {
            LiveBody::Ws { text, .. } if text.contains("\"match\"") => {
                serde_json::from_str::<serde_json::Value>(text).ok()?["trade_id"].as_u64()
            }
            _ => None,
        })
        .collect();
    assert_eq!(ids, (0..300).collect::<Vec<u64>>());
    assert!(run.feed.stats().channel_full > 0);
    // Blocked on the channel is not silence: the watchdog did not trip.
    assert_eq!(run.feed.stats().watchdog_trips, 0);
    run.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_every_session_promptly_whatever_it_is_doing() {
    // One session stalled, one acked and streaming, one unable to connect.
    let server = ws_server(|i| if i == 0 { Mode::Stall } else { Mode::Normal }).await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ws://{}/ws", l.local_addr().unwrap())
    };
    let mut cfg = config(&server.url, &["A-USD", "B-USD"], &["heartbeat"]);
    cfg.max_products_per_connection = 1;
    cfg.watchdog = Duration::from_secs(60);
    let mut unreachable = config(&dead, &["C-USD"], &["heartbeat"]);
    unreachable.backoff.max = Duration::from_secs(60);
    unreachable.backoff.initial = Duration::from_secs(60);
    let mut a = start(cfg, 256);
    let b = start(unreachable, 16);
    collect_until(&mut a.rx, SECS, |r| r.iter().filter(|x| is_ack(x)).count() == 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(b.feed.stats().connect_failures >= 1);
    let started = Instant::now();
    let (ra, rb) = tokio::join!(a.shutdown(), b.shutdown());
    assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    assert_eq!(closes(&ra).len(), 2, "{ra:#?}");
    assert!(rb.is_empty(), "never connected, nothing to close");
}

#[tokio::test]
async fn invalid_configuration_is_refused() {
    let (tx, _rx) = mpsc::channel(1);
    let (_stop, shutdown) = watch::channel(false);
    let mut cfg = config("http://127.0.0.1:1", &["BTC-USD"], &["heartbeat"]);
    assert!(spawn_feed(
        cfg.clone(),
        Arc::new(CoinbaseSession),
        RestClient::for_protocol(&CoinbaseSession).unwrap(),
        tx.clone(),
        shutdown.clone()
    )
    .is_err());
    cfg.ws_url = "ws://127.0.0.1:1".into();
    cfg.channels.clear();
    assert!(spawn_feed(cfg, Arc::new(CoinbaseSession), RestClient::for_protocol(&CoinbaseSession).unwrap(), tx, shutdown).is_err());
}
