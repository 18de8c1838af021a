//! The Coinbase Advanced Trade poller over real loopback sockets: against
//! the exchange simulator (every polled page decoded by the real decoder,
//! every trade of the simulated history accounted for), and against small
//! scripted servers for retries, `Retry-After` and shutdown.

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use marketpipe_live::{spawn_poller, Backoff, LiveBody, LiveRecord, PollConfig};
use marketpipe_model::{Exchange, MarketEvent, Timestamp};
use marketpipe_sim::SimConfig;
use marketpipe_venues::{coinbase_advanced::CoinbaseAdvancedDecoder, Decoded, VenueDecoder};
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

/// Quick retries; `max` stays high, since it also caps `Retry-After`.
fn fast_backoff() -> Backoff {
    Backoff { initial: Duration::from_millis(20), max: Duration::from_secs(60), reset_after: Duration::from_secs(30) }
}

/// A poller configuration for tests: fast retries, a generous rate cap.
fn config(rest_url: &str, products: &[&str], interval_ms: u64) -> PollConfig {
    let mut c = PollConfig::new(products.iter().map(|p| (*p).to_owned()).collect());
    c.rest_url = rest_url.to_owned();
    c.interval = Duration::from_millis(interval_ms);
    c.requests_per_second = 100;
    c.backoff = fast_backoff();
    c
}

async fn sim(config: SimConfig) -> marketpipe_sim::SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    marketpipe_sim::start(config, listener).await.unwrap()
}

/// Receives records until `until` resolves, then for `linger` more.
async fn collect(rx: &mut mpsc::Receiver<LiveRecord>, until: impl std::future::Future<Output = ()>, linger: Duration) -> Vec<LiveRecord> {
    let mut out = Vec::new();
    tokio::pin!(until);
    let mut deadline: Option<Instant> = None;
    loop {
        let stop_at = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            r = rx.recv() => match r {
                Some(r) => out.push(r),
                None => return out,
            },
            () = &mut until, if deadline.is_none() => deadline = Some(Instant::now() + linger),
            _ = tokio::time::sleep_until(stop_at), if deadline.is_some() => return out,
        }
    }
}

/// The REST records' (url, body).
fn rest_records(records: &[LiveRecord]) -> Vec<(&str, &str)> {
    records
        .iter()
        .filter_map(|r| match &r.body {
            LiveBody::Rest { url, body } => Some((url.as_str(), body.as_str())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_simulated_trade_arrives_decoded_and_an_unknown_product_does_not_stop_the_others() {
    let sim = sim(SimConfig { rate: 600.0, products: 3, duration: Some(Duration::from_millis(1500)), ..SimConfig::default() }).await;
    // The unknown product sits between known ones: it must not hold them up.
    let products = ["BTC-USD", "NOPE-USD", "ETH-USD", "SOL-USD"];
    let (tx, mut rx) = mpsc::channel(256);
    let (stop, shutdown) = watch::channel(false);
    let poller = spawn_poller(config(&sim.rest_url(), &products, 200), tx, shutdown).unwrap();
    let mut records = collect(&mut rx, sim.generation_done(), Duration::from_millis(600)).await;

    let started = Instant::now();
    stop.send_replace(true);
    // Generation is over: later polls only repeat trades already counted.
    let stats = poller.stats();
    poller.join().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(500), "shutdown took {:?}", started.elapsed());
    while let Ok(r) = rx.try_recv() {
        records.push(r);
    }

    // Every forwarded page decodes, as the pipeline will decode it.
    let mut decoder = CoinbaseAdvancedDecoder::new();
    let mut polled: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut endpoints = BTreeMap::new();
    for r in &records {
        assert_eq!(r.exchange, Exchange::CoinbaseAdvanced);
        let LiveBody::Rest { url, body } = &r.body else { panic!("{r:?}") };
        let mut events = Vec::new();
        let decoded = decoder.decode_rest(url, body, r.recv, &mut events);
        let Ok(Decoded::Rest { endpoint }) = decoded else { panic!("{url}: {decoded:?}") };
        *endpoints.entry(endpoint).or_insert(0) += 1;
        for e in events {
            if let MarketEvent::Trade(t) = e {
                assert_eq!(t.instrument.exchange, Exchange::CoinbaseAdvanced);
                polled.entry(t.instrument.symbol.to_string()).or_default().insert(t.id.as_u64().unwrap());
            }
        }
    }
    assert_eq!(endpoints.get("products"), Some(&1), "{endpoints:?}");
    assert!(endpoints.get("market_trades").copied().unwrap_or(0) >= 3 * 5, "{endpoints:?}");
    assert!(!rest_records(&records).iter().any(|(url, _)| url.contains("NOPE")), "error bodies are not forwarded");

    // Every trade of the simulated history, per the Exchange endpoint of the same market, was polled.
    let http = reqwest::Client::new();
    let mut total = 0;
    for product in ["BTC-USD", "ETH-USD", "SOL-USD"] {
        let page: Vec<serde_json::Value> =
            http.get(format!("{}/products/{product}/trades?limit=1000", sim.rest_url())).send().await.unwrap().json().await.unwrap();
        let history: BTreeSet<u64> = page.iter().map(|t| t["trade_id"].as_u64().unwrap()).collect();
        assert!(history.len() > 10 && history.len() < 1000, "{product}: {} trades", history.len());
        let got = polled.get(product).cloned().unwrap_or_default();
        let missing: Vec<_> = history.difference(&got).collect();
        assert!(missing.is_empty(), "{product}: {} of {} trades never polled: {missing:?}", missing.len(), history.len());
        total += got.len();
    }

    assert!(stats.client_errors >= 3, "the unknown product is counted each round: {stats:?}");
    assert_eq!((stats.missed_windows, stats.bad_pages, stats.failed_polls), (0, 0, 0), "{stats:?}");
    assert_eq!(stats.new_trades as usize, total, "each trade counted new exactly once: {stats:?}");
    assert!(stats.seen_trades > 0, "overlapping polls: {stats:?}");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_too_long_interval_is_counted_as_missed_windows_and_caught_up() {
    let sim = sim(SimConfig { rate: 4000.0, products: 1, ..SimConfig::default() }).await;
    let (tx, mut rx) = mpsc::channel(256);
    let (stop, shutdown) = watch::channel(false);
    let mut cfg = config(&sim.rest_url(), &["BTC-USD"], 250);
    cfg.limit = 5; // far fewer than the ~170 trades between two polls
    let poller = spawn_poller(cfg, tx, shutdown).unwrap();
    let records = collect(&mut rx, tokio::time::sleep(Duration::from_millis(1600)), Duration::ZERO).await;
    let stats = poller.stats();
    stop.send_replace(true);
    poller.join().await.unwrap();
    assert!(stats.missed_windows >= 2, "{stats:?}");
    let urls: Vec<&str> = rest_records(&records).into_iter().map(|(url, _)| url).collect();
    // After a miss the next poll asks for the largest page, which covers the
    // interval, so misses alternate with catch-ups rather than repeating.
    assert!(urls.iter().any(|u| u.ends_with("ticker?limit=1000")), "{urls:?}");
    assert!(urls.iter().any(|u| u.ends_with("ticker?limit=5")), "{urls:?}");
    assert!(stats.missed_windows < stats.polls, "{stats:?}");
    sim.shutdown().await.unwrap();
}

/// What a scripted server saw: request paths with their arrival times.
#[derive(Default)]
struct Script {
    seen: Mutex<Vec<(String, Instant)>>,
}

impl Script {
    /// Records a request; returns how many of this kind came before.
    fn hit(&self, kind: &str) -> usize {
        let mut seen = self.seen.lock().unwrap();
        let before = seen.iter().filter(|(k, _)| k == kind).count();
        seen.push((kind.to_owned(), Instant::now()));
        before
    }

    fn times(&self, kind: &str) -> Vec<Instant> {
        self.seen.lock().unwrap().iter().filter(|(k, _)| k == kind).map(|(_, t)| *t).collect()
    }
}

const PRODUCTS: &str =
    r#"{"products":[{"product_id":"BTC-USD","base_currency_id":"BTC","quote_currency_id":"USD","product_type":"SPOT"}],"num_products":1}"#;
const PAGE: &str = r#"{"trades":[{"trade_id":"7","product_id":"BTC-USD","price":"1.5","size":"2","time":"2026-04-07T00:00:00Z","side":"SELL"}],"best_bid":"1.4","best_ask":"1.6"}"#;

fn ok(body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Serves `app` on a free loopback port; returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn timeouts_and_5xx_are_retried_and_retry_after_is_honoured() {
    let script = Arc::new(Script::default());
    let app = Router::new()
        .route(
            "/api/v3/brokerage/market/products",
            get(|State(s): State<Arc<Script>>| async move {
                match s.hit("products") {
                    0 => {
                        // Longer than the request timeout.
                        tokio::time::sleep(Duration::from_millis(800)).await;
                        ok(PRODUCTS)
                    }
                    1 => StatusCode::BAD_GATEWAY.into_response(),
                    _ => ok(PRODUCTS),
                }
            }),
        )
        .route(
            "/api/v3/brokerage/market/products/BTC-USD/ticker",
            get(|State(s): State<Arc<Script>>| async move {
                match s.hit("ticker") {
                    0 => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "1")], "{}").into_response(),
                    _ => ok(PAGE),
                }
            }),
        )
        .with_state(script.clone());
    let url = serve(app).await;
    let (tx, mut rx) = mpsc::channel(64);
    let (stop, shutdown) = watch::channel(false);
    let mut cfg = config(&url, &["BTC-USD"], 100);
    cfg.request_timeout = Duration::from_millis(200);
    let poller = spawn_poller(cfg, tx, shutdown).unwrap();
    let records = support::collect_until(&mut rx, Duration::from_secs(10), |r| rest_records(r).len() >= 3).await;
    let stats = poller.stats();
    stop.send_replace(true);
    poller.join().await.unwrap();

    let rest = rest_records(&records);
    assert!(rest[0].0.ends_with("/api/v3/brokerage/market/products"), "{rest:?}");
    assert_eq!(rest[0].1, PRODUCTS);
    assert!(rest[1..].iter().all(|(u, b)| u.ends_with("/BTC-USD/ticker?limit=100") && *b == PAGE), "{rest:?}");
    assert_eq!(script.times("products").len(), 3, "timeout, 502, then the list");
    let ticker = script.times("ticker");
    assert!(ticker[1] - ticker[0] >= Duration::from_millis(950), "Retry-After: 1 was not honoured: {:?}", ticker[1] - ticker[0]);
    assert_eq!((stats.retries, stats.rate_limited, stats.failed_polls), (3, 1, 0), "{stats:?}");
    assert_eq!(stats.product_lists, 1);
    // The page's one trade is new once, then seen on every later poll.
    assert_eq!(stats.new_trades, 1, "{stats:?}");
}

#[tokio::test]
async fn client_errors_are_not_retried_and_shutdown_interrupts_a_long_retry_after() {
    let script = Arc::new(Script::default());
    let app = Router::new()
        .route(
            "/api/v3/brokerage/market/products",
            get(|State(s): State<Arc<Script>>| async move {
                s.hit("products");
                ok(PRODUCTS)
            }),
        )
        .route(
            "/api/v3/brokerage/market/products/{id}/ticker",
            get(|State(s): State<Arc<Script>>, axum::extract::Path(id): axum::extract::Path<String>| async move {
                if id == "GONE-USD" {
                    s.hit("gone");
                    return (StatusCode::NOT_FOUND, r#"{"error":"NOT_FOUND","message":"ProductID GONE-USD could not be found"}"#)
                        .into_response();
                }
                match s.hit("ticker") {
                    0..=4 => ok(PAGE),
                    _ => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "30")], "{}").into_response(),
                }
            }),
        )
        .with_state(script.clone());
    let url = serve(app).await;
    let (tx, mut rx) = mpsc::channel(64);
    let (stop, shutdown) = watch::channel(false);
    let poller = spawn_poller(config(&url, &["GONE-USD", "BTC-USD"], 100), tx, shutdown).unwrap();
    // Five good pages, then a 429 asking for 30 s of quiet.
    let records = support::collect_until(&mut rx, Duration::from_secs(10), |r| rest_records(r).len() >= 6).await;
    while script.times("ticker").len() < 6 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = poller.stats();
    let started = Instant::now();
    stop.send_replace(true);
    poller.join().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(300), "shutdown took {:?}", started.elapsed());

    let gone = script.times("gone").len();
    assert!(gone >= 4, "the bad product keeps being polled, once per round: {gone}");
    assert_eq!(stats.client_errors as usize, gone, "{stats:?}");
    assert_eq!(stats.retries, 1, "a 404 is never retried; the 429 once: {stats:?}");
    assert!(rest_records(&records).iter().all(|(u, _)| !u.contains("GONE")), "error bodies are not forwarded");
    assert!(records[0].recv > Timestamp(0));
}
