//! The websocket protocol over real loopback sockets, checked with the real
//! Coinbase decoder.

mod common;

use std::time::Duration;

use common::{decode, fast, sim, Books, Client, Next, TradeIds};
use marketpipe_model::MarketEvent;
use marketpipe_sim::SimConfig;
use marketpipe_venues::{coinbase::CoinbaseDecoder, Decoded};

const IDLE: Duration = Duration::from_millis(400);

#[tokio::test]
async fn clean_feed_decodes_books_never_cross_and_trade_ids_are_consecutive() {
    let sim = sim(fast(1, 3, 400)).await;
    let products = sim.products();
    assert_eq!(products, ["BTC-USD", "ETH-USD", "SOL-USD"]);
    let mut client = Client::connect(&sim.ws_url()).await;
    client.subscribe(&["BTC-USD", "ETH-USD", "SOL-USD"], &["level2_batch", "matches", "ticker"]).await;

    let mut decoder = CoinbaseDecoder::new();
    let ack = decode(&mut decoder, &client.expect().await).unwrap();
    let Decoded::Subscriptions { channels } = ack.decoded else { panic!("first frame is not the ack: {ack:?}") };
    let names: Vec<&str> = channels.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["level2_batch", "matches", "ticker"]);
    assert!(channels.iter().all(|(_, p)| p.len() == 3));

    sim.generation_done().await;
    let frames = client.drain(IDLE).await;
    let (mut books, mut ids) = (Books::default(), TradeIds::default());
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for frame in &frames {
        let d = decode(&mut decoder, frame).unwrap_or_else(|e| panic!("{e}: {frame}"));
        *kinds.entry(d.decoded.label()).or_default() += 1;
        for e in &d.events {
            books.apply(e);
            if let MarketEvent::Trade(t) = e {
                ids.observe(t);
            }
        }
    }
    assert_eq!(books.snapshots, 3, "{kinds:?}");
    let (matches, l2, tickers) = (kinds["match"], kinds["l2update"], kinds["ticker"]);
    assert!(matches > 200, "{kinds:?}");
    assert_eq!(matches, tickers, "a ticker follows each match");
    let ratio = l2 as f64 / matches as f64;
    assert!((3.0..5.0).contains(&ratio), "l2update : match = {ratio}");
    // Nearly the whole market reached the client (it subscribed right after start).
    let stats = sim.stats();
    assert!(stats.market_frames as usize >= matches + l2 + tickers);
    assert!((matches + l2 + tickers) as u64 * 10 >= stats.market_frames * 9, "{stats:?}");
    assert!(stats.trades as usize >= matches && stats.trades * 3 <= stats.market_frames, "{stats:?}");
    client.close().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_requests_get_error_frames_and_the_connection_stays_open() {
    let sim = sim(fast(2, 2, 200)).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    let mut decoder = CoinbaseDecoder::new();
    for (request, reason) in [
        ("this is not json", "malformed JSON"),
        (r#"{"product_ids":["BTC-USD"],"channels":["matches"]}"#, "missing \"type\""),
        (r#"{"type":"subscribe","product_ids":["BTC-XYZ"],"channels":["matches"]}"#, "BTC-XYZ is not a valid product"),
        (r#"{"type":"subscribe","product_ids":["BTC-USD"],"channels":["level3"]}"#, "level3 is not a valid channel"),
        (r#"{"type":"subscribe","product_ids":["BTC-USD"],"channels":[]}"#, "No channels provided"),
    ] {
        client.send(request).await;
        let frame = client.expect().await;
        match decode(&mut decoder, &frame).unwrap().decoded {
            Decoded::ExchangeError { message, reason: Some(r) } => {
                assert_eq!(message, "Failed to subscribe");
                assert!(r.contains(reason), "{r:?} lacks {reason:?}");
            }
            other => panic!("{request}: expected an error, got {other:?}"),
        }
    }
    client.subscribe(&["ETH-USD"], &["matches"]).await;
    let ack = decode(&mut decoder, &client.expect().await).unwrap();
    assert!(matches!(ack.decoded, Decoded::Subscriptions { .. }), "{ack:?}");
    assert_eq!(sim.stats().request_errors, 5);
    client.close().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn unsubscribe_then_subscribe_gives_a_fresh_snapshot() {
    let sim = sim(SimConfig { rate: 5_000.0, ..fast(3, 2, 1_500) }).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    let mut decoder = CoinbaseDecoder::new();
    let mut books = Books::default();
    client.subscribe(&["BTC-USD", "ETH-USD"], &["level2_batch"]).await;
    let apply = |decoder: &mut CoinbaseDecoder, books: &mut Books, frame: &str| {
        let d = decode(decoder, frame).unwrap();
        d.events.iter().for_each(|e| books.apply(e));
        d
    };
    for _ in 0..50 {
        let frame = client.expect().await;
        apply(&mut decoder, &mut books, &frame);
    }
    assert!(books.has("ETH-USD") && books.has("BTC-USD"));

    client.send(r#"{"type":"unsubscribe","product_ids":["ETH-USD"],"channels":["level2_batch"]}"#).await;
    // Frames already on their way may precede the ack; none for ETH after it.
    let mut acked = false;
    let mut eth_after_ack = 0;
    for _ in 0..200 {
        let frame = client.expect().await;
        let d = apply(&mut decoder, &mut books, &frame);
        match d.decoded {
            Decoded::Subscriptions { channels } => {
                assert_eq!(channels, vec![("level2_batch".to_owned(), vec!["BTC-USD".to_owned()])]);
                acked = true;
            }
            _ if acked => eth_after_ack += usize::from(frame.contains("ETH-USD")),
            _ => {}
        }
    }
    assert!(acked);
    assert_eq!(eth_after_ack, 0, "ETH updates after unsubscribing");

    let snapshots_before = books.snapshots;
    client.subscribe(&["ETH-USD"], &["level2_batch"]).await;
    let mut saw_snapshot = false;
    for _ in 0..300 {
        let frame = client.expect().await;
        let d = apply(&mut decoder, &mut books, &frame);
        saw_snapshot |= d.events.iter().any(|e| matches!(e, MarketEvent::BookSnapshot(s) if s.instrument.symbol.as_str() == "ETH-USD"));
    }
    assert!(saw_snapshot, "no fresh ETH snapshot");
    assert_eq!(books.snapshots, snapshots_before + 1);
    client.close().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn heartbeats_report_the_last_trade_sent() {
    let sim = sim(SimConfig { rate: 2_000.0, ..fast(4, 1, 300) }).await;
    let mut client = Client::connect(&format!("ws://{}/any/path/works", sim.local_addr())).await;
    let mut decoder = CoinbaseDecoder::new();
    client.subscribe(&["BTC-USD"], &["matches", "heartbeat"]).await;
    let mut last_match = None;
    let mut heartbeats_after_done = 0;
    {
        let done = sim.generation_done();
        tokio::pin!(done);
        let mut finished = false;
        while heartbeats_after_done < 1 {
            tokio::select! {
                _ = &mut done, if !finished => finished = true,
                next = client.next(Duration::from_secs(3)) => {
                    let Next::Text(frame) = next else { panic!("no heartbeat: {next:?}") };
                    let d = decode(&mut decoder, &frame).unwrap_or_else(|e| panic!("{e}: {frame}"));
                    match d.decoded {
                        Decoded::Heartbeat { instrument, sequence, last_trade_id, time } => {
                            assert_eq!(instrument.symbol.as_str(), "BTC-USD");
                            assert!(sequence.is_some() && time.is_some());
                            if last_match.is_some() {
                                assert_eq!(last_trade_id, last_match, "heartbeat disagrees with the matches sent");
                            }
                            if finished {
                                heartbeats_after_done += 1;
                            }
                        }
                        _ => {
                            for e in &d.events {
                                if let MarketEvent::Trade(t) = e {
                                    last_match = t.id.as_u64();
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(last_match.is_some());
    client.close().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_late_subscriber_gets_last_match_then_consecutive_matches() {
    let sim = sim(SimConfig { rate: 5_000.0, ..fast(5, 1, 600) }).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    let mut decoder = CoinbaseDecoder::new();
    client.subscribe(&["BTC-USD"], &["matches"]).await;
    let _ack = client.expect().await;
    let first = decode(&mut decoder, &client.expect().await).unwrap();
    assert_eq!(first.decoded.label(), "last_match");
    let mut ids = TradeIds::default();
    first.events.iter().for_each(|e| {
        if let MarketEvent::Trade(t) = e {
            ids.observe(t)
        }
    });
    sim.generation_done().await;
    for frame in client.drain(IDLE).await {
        for e in decode(&mut decoder, &frame).unwrap().events {
            if let MarketEvent::Trade(t) = e {
                ids.observe(&t);
            }
        }
    }
    assert!(ids.trades.len() > 50);
    client.close().await;
    sim.shutdown().await.unwrap();
}
