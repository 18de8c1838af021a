//! The KuCoin dialect over real loopback sockets, checked with the real
//! KuCoin decoder.

mod common;

use std::time::{Duration, Instant};

use common::{fast_on, http, side_of, sim, Books, Client, Next};
use marketpipe_model::{MarketEvent, Timestamp};
use marketpipe_sim::{AckFault, Exchange, Faults, SimConfig, SimHandle};
use marketpipe_venues::{
    kucoin::{bullet, ping_request, snapshot_url, subscribe_request, topic, unsubscribe_request, BookSyncState, Bullet, KucoinDecoder},
    Decoded, VenueDecoder,
};

const IDLE: Duration = Duration::from_millis(400);

fn kucoin(seed: u64, products: usize, duration_ms: u64) -> SimConfig {
    fast_on(Exchange::Kucoin, seed, products, duration_ms)
}

/// A fresh bullet.
async fn fetch_bullet(sim: &SimHandle) -> Bullet {
    let resp = http().post(format!("{}/api/v1/bullet-public", sim.rest_url())).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    bullet(&resp.text().await.unwrap()).unwrap()
}

/// A decoder that knows the simulator's symbols.
async fn decoder(sim: &SimHandle) -> KucoinDecoder {
    let url = format!("{}/api/v2/symbols", sim.rest_url());
    let body = http().get(&url).send().await.unwrap().text().await.unwrap();
    let mut d = KucoinDecoder::new();
    let mut out = Vec::new();
    d.decode_rest(&url, &body, Timestamp(0), &mut out).unwrap();
    assert_eq!(out.len(), sim.products().len());
    d
}

fn decode(d: &mut KucoinDecoder, frame: &str) -> (Decoded, Vec<MarketEvent>) {
    let mut out = Vec::new();
    let decoded = d.decode_ws(frame, Timestamp(0), &mut out).unwrap_or_else(|e| panic!("{e}: {frame}"));
    (decoded, out)
}

/// Connects with a fresh token; the first frame must be the `welcome`.
async fn connect(sim: &SimHandle, connect_id: &str) -> Client {
    let b = fetch_bullet(sim).await;
    let mut client = Client::connect(&b.ws_url(connect_id)).await;
    assert_eq!(client.expect().await, format!(r#"{{"id":"{connect_id}","type":"welcome"}}"#));
    client
}

#[tokio::test]
async fn bullet_welcome_subscribe_ack_ping_pong() {
    let sim = sim(kucoin(1, 4, 600)).await;
    assert_eq!(sim.products(), ["BTC-USDT", "ETH-USDT", "SOL-USDT", "BCHSV-USDT"]);
    let (a, b) = (fetch_bullet(&sim).await, fetch_bullet(&sim).await);
    assert_ne!(a.token, b.token, "each bullet issues a fresh token");
    assert_eq!(
        (a.endpoint.as_str(), a.ping_interval, a.ping_timeout),
        (sim.ws_url().as_str(), Duration::from_secs(18), Duration::from_secs(10))
    );
    let mut d = decoder(&sim).await;
    assert_eq!(d.product("BCHSV-USDT").unwrap().key.symbol.as_str(), "BSV-USDT");
    let mut client = connect(&sim, "c-1").await;
    let t = topic("/market/match", &["BTC-USDT", "BCHSV-USDT"]);
    client.send(&subscribe_request(1, &t)).await;
    let ack = client.expect().await;
    assert_eq!(ack, format!(r#"{{"id":"1{t}","type":"ack"}}"#));
    let Decoded::Subscriptions { channels } = decode(&mut d, &ack).0 else { panic!("{ack}") };
    assert_eq!(channels, [("/market/match".to_owned(), vec!["BTC-USDT".to_owned(), "BCHSV-USDT".to_owned()])]);
    client.send(&ping_request(42)).await;
    client.send(&subscribe_request(2, "/market/ticker:all")).await;
    let (mut pong, mut trades, mut tickers, mut bsv) = (false, 0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !pong || trades < 50 || tickers < 50 || bsv == 0 {
        assert!(Instant::now() < deadline, "pong {pong} trades {trades} tickers {tickers} bsv {bsv}");
        let frame = client.expect().await;
        let (decoded, events) = decode(&mut d, &frame);
        pong |= frame == r#"{"id":"42","type":"pong"}"#;
        for e in events {
            match e {
                MarketEvent::Trade(t) => {
                    trades += 1;
                    bsv += usize::from(t.instrument.symbol.as_str() == "BSV-USDT");
                    assert!(["BTC-USDT", "BSV-USDT"].contains(&t.instrument.symbol.as_str()), "only subscribed symbols");
                }
                MarketEvent::Ticker(_) => tickers += 1,
                _ => {}
            }
        }
        assert!(!matches!(decoded, Decoded::ExchangeError { .. }), "{frame}");
    }
    // Unsubscribing stops the trades of that symbol, with an ack.
    client.send(&unsubscribe_request(3, &topic("/market/match", &["BTC-USDT"]))).await;
    sim.generation_done().await;
    let mut after_ack = false;
    for frame in client.drain(IDLE).await {
        if after_ack {
            assert!(!frame.contains(r#""topic":"/market/match:BTC-USDT""#), "{frame}");
        }
        after_ack |= frame.contains(r#""type":"ack""#);
    }
    assert!(after_ack);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_that_never_pings_is_disconnected() {
    let sim =
        sim(SimConfig { ping_interval: Duration::from_millis(200), ping_timeout: Duration::from_millis(100), ..kucoin(2, 1, 100) }).await;
    let b = fetch_bullet(&sim).await;
    assert_eq!((b.ping_interval, b.ping_timeout), (Duration::from_millis(200), Duration::from_millis(100)));
    // Timed from before the silent client connects: the server's deadline
    // starts once it accepts, so `lived` cannot come out short of it
    // however long the connects take (timed after both, a slow second
    // connect under load once made it 279 ms).
    let opened = Instant::now();
    let mut silent = connect(&sim, "silent").await;
    let mut pinger = connect(&sim, "pinger").await;
    let mut n = 0;
    let lived = loop {
        pinger.send(&ping_request(n)).await;
        assert_eq!(pinger.expect().await, format!(r#"{{"id":"{n}","type":"pong"}}"#));
        n += 1;
        if let Next::Closed = silent.next(Duration::from_millis(150)).await {
            break opened.elapsed();
        }
        assert!(opened.elapsed() < Duration::from_secs(2), "the silent client was never disconnected");
    };
    assert!(lived >= Duration::from_millis(280) && lived < Duration::from_millis(800), "disconnected after {lived:?}");
    // The client that pings every ~150 ms is still there.
    pinger.send(&ping_request(999)).await;
    assert_eq!(pinger.expect().await, r#"{"id":"999","type":"pong"}"#);
    assert_eq!(sim.stats().ping_timeouts, 1);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_connection_without_an_issued_token_is_refused() {
    let sim = sim(kucoin(3, 1, 100)).await;
    for url in [format!("{}?token=made-up&connectId=x", sim.ws_url()), format!("{}?connectId=x", sim.ws_url())] {
        let mut client = Client::connect(&url).await;
        let frame = client.expect().await;
        assert_eq!(frame, r#"{"id":"x","type":"error","code":401,"data":"token is invalid"}"#);
        let mut d = KucoinDecoder::new();
        assert_eq!(decode(&mut d, &frame).0, Decoded::ExchangeError { message: "token is invalid".into(), reason: Some("401".into()) });
        assert_eq!(client.next(Duration::from_secs(2)).await, Next::Closed);
    }
    assert_eq!(sim.stats().refused, 2);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_topics_get_error_frames() {
    let sim = sim(kucoin(4, 2, 100)).await;
    let mut client = connect(&sim, "e").await;
    let many = vec!["BTC-USDT"; 101];
    for (req, code) in [
        (subscribe_request(1, &topic("/market/match", &many)), 509),
        (subscribe_request(2, "/market/match:BTC-XYZ"), 404),
        (subscribe_request(3, "/market/snapshot:BTC-USDT"), 404),
        (r#"{"id":"4","type":"hello"}"#.to_owned(), 400),
    ] {
        client.send(&req).await;
        let frame = client.expect().await;
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!((v["type"].as_str(), v["code"].as_u64()), (Some("error"), Some(code)), "{req}: {frame}");
    }
    client.send(&subscribe_request(5, &topic("/market/match", &vec!["BTC-USDT"; 100]))).await;
    assert!(client.expect().await.contains(r#""type":"ack""#), "100 symbols is fine");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_level2_snapshot_joins_the_stream_by_sequence() {
    let sim = sim(kucoin(5, 3, 700)).await;
    let mut d = decoder(&sim).await;
    let mut client = connect(&sim, "books").await;
    let products = sim.products();
    let ids: Vec<&str> = products.iter().map(String::as_str).collect();
    client.send(&subscribe_request(1, &topic("/market/level2", &ids))).await;
    let mut books = Books::default();
    let apply = |events: Vec<MarketEvent>, books: &mut Books| {
        for e in &events {
            assert!(!matches!(e, MarketEvent::BookReset(_)), "{e:?}");
            books.apply(e);
        }
    };
    // KuCoin's calibration: cache increments, fetch a snapshot for each
    // symbol the decoder asks for, play the cache back.
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(150) {
        let frame = client.expect().await;
        apply(decode(&mut d, &frame).1, &mut books);
    }
    let mut waiting = d.take_snapshot_requests();
    waiting.sort();
    let mut expected = products.clone();
    expected.sort();
    assert_eq!(waiting, expected);
    for symbol in &waiting {
        let url = snapshot_url(&sim.rest_url(), symbol);
        let body = http().get(&url).send().await.unwrap().text().await.unwrap();
        let mut out = Vec::new();
        d.decode_rest(&url, &body, Timestamp(0), &mut out).unwrap();
        apply(out, &mut books);
    }
    assert_eq!(books.snapshots, 3);
    sim.generation_done().await;
    for frame in client.drain(IDLE).await {
        apply(decode(&mut d, &frame).1, &mut books);
    }
    assert!(books.deltas > 100);
    assert_eq!((d.stats().sequence_gaps, d.stats().stale_snapshots), (0, 0), "{:?}", d.stats());
    for symbol in &products {
        let Some(BookSyncState::Live { sequence }) = d.book_state(symbol) else { panic!("{symbol} not live") };
        let url = snapshot_url(&sim.rest_url(), symbol);
        let body: serde_json::Value = http().get(&url).send().await.unwrap().json().await.unwrap();
        assert_eq!(body["data"]["sequence"].as_str(), Some(sequence.to_string().as_str()), "{symbol}");
        // The market is still now: the book built from the stream is the book.
        let mut fresh = decoder(&sim).await;
        let mut out = Vec::new();
        fresh.decode_rest(&url, &body.to_string(), Timestamp(0), &mut out).unwrap();
        let Some(MarketEvent::BookSnapshot(now)) = out.into_iter().find(|e| matches!(e, MarketEvent::BookSnapshot(_))) else { panic!() };
        let (bids, asks) = books.book(now.instrument.symbol.as_str()).unwrap();
        assert_eq!((bids, asks), (&side_of(&now.bids), &side_of(&now.asks)), "{symbol}");
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn rest_symbols_histories_and_errors() {
    let sim = sim(kucoin(6, 4, 300)).await;
    sim.generation_done().await;
    let http = http();
    let get = |path: &str| http.get(format!("{}{path}", sim.rest_url())).send();
    let symbols: serde_json::Value = get("/api/v1/symbols").await.unwrap().json().await.unwrap();
    assert_eq!(symbols["data"][3]["symbol"], "BCHSV-USDT");
    assert_eq!(symbols["data"][3]["baseCurrency"], "BSV");
    let one: serde_json::Value = get("/api/v2/symbols/ETH-USDT").await.unwrap().json().await.unwrap();
    assert_eq!(one["data"]["baseCurrency"], "ETH");
    let h: serde_json::Value = get("/api/v1/market/histories?symbol=BTC-USDT").await.unwrap().json().await.unwrap();
    let trades = h["data"].as_array().unwrap();
    assert_eq!(trades.len(), 100, "the last 100 trades");
    let seqs: Vec<u64> = trades.iter().map(|t| t["sequence"].as_str().unwrap().parse().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "oldest first, consecutive");
    let book: serde_json::Value = get("/api/v1/market/orderbook/level2_20?symbol=SOL-USDT").await.unwrap().json().await.unwrap();
    assert_eq!(book["data"]["bids"].as_array().unwrap().len(), 20);
    for path in [
        "/api/v1/market/orderbook/level2_100?symbol=BTC-XYZ",
        "/api/v1/market/orderbook/level2_100",
        "/api/v1/market/histories?symbol=NOPE",
    ] {
        let resp = get(path).await.unwrap();
        assert_eq!(resp.status(), 400, "{path}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "400100", "{path}");
    }
    assert_eq!(get("/api/v1/bullet-public").await.unwrap().status(), 405, "the bullet is a POST");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn faults_apply_to_kucoin_too() {
    let faults = Faults { malformed_rate: 0.05, duplicate_rate: 0.05, ack: AckFault::Missing, ..Faults::default() };
    let sim = sim(SimConfig { faults, ..kucoin(7, 2, 300) }).await;
    let mut d = decoder(&sim).await;
    let mut client = connect(&sim, "f").await;
    let products = sim.products();
    let ids: Vec<&str> = products.iter().map(String::as_str).collect();
    client.send(&subscribe_request(1, &topic("/market/match", &ids))).await;
    sim.generation_done().await;
    let frames = client.drain(IDLE).await;
    assert!(frames.iter().all(|f| !f.contains(r#""type":"ack""#)), "the missing-ack fault withholds the ack");
    let mut failures = 0;
    let mut trades = std::collections::BTreeMap::<String, Vec<String>>::new();
    for f in &frames {
        let mut out = Vec::new();
        match d.decode_ws(f, Timestamp(0), &mut out) {
            Ok(_) => {
                for e in out {
                    if let MarketEvent::Trade(t) = e {
                        trades.entry(t.instrument.symbol.to_string()).or_default().push(t.id.to_string());
                    }
                }
            }
            Err(_) => failures += 1,
        }
    }
    let stats = sim.stats();
    assert_eq!(failures, stats.malformed_sent);
    assert!(stats.malformed_sent > 3 && stats.duplicates_sent > 3, "{stats:?}");
    for (symbol, mut ids) in trades {
        ids.dedup();
        let n: Vec<u64> = ids.iter().map(|id| id.parse().unwrap()).collect();
        assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "{symbol}: nothing lost around faults");
    }
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn drop_and_stall_faults_apply_to_kucoin_too() {
    let faults = Faults { drop_every: Some(Duration::from_millis(300)), ..Faults::default() };
    let dropper = sim(SimConfig { faults, ..kucoin(8, 1, 3_000) }).await;
    let opened = Instant::now();
    let mut client = connect(&dropper, "d").await;
    client.send(&subscribe_request(1, "/market/ticker:all")).await;
    let mut frames = 0;
    while let Next::Text(_) = client.next(Duration::from_secs(3)).await {
        frames += 1;
    }
    let lived = opened.elapsed();
    assert!(lived >= Duration::from_millis(280) && lived < Duration::from_millis(1_500), "dropped after {lived:?}");
    assert!(frames > 10);
    assert_eq!(dropper.stats().drops, 1);
    dropper.shutdown().await.unwrap();

    let faults = Faults { stall_after: Some(Duration::from_millis(250)), ..Faults::default() };
    let sim = sim(SimConfig { faults, ..kucoin(8, 1, 3_000) }).await;
    let mut client = connect(&sim, "s").await;
    client.send(&subscribe_request(1, "/market/ticker:all")).await;
    let start = Instant::now();
    while let Next::Text(_) = client.next(Duration::from_millis(600)).await {}
    assert!(start.elapsed() < Duration::from_millis(1_200));
    // Stalled: pings go unanswered, but the socket stays open.
    client.send(&ping_request(1)).await;
    assert_eq!(client.next(Duration::from_millis(300)).await, Next::Timeout);
    assert_eq!(sim.stats().stalls, 1);
    sim.shutdown().await.unwrap();
}
