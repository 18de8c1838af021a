//! The REST backfiller against an in-test trades endpoint over loopback.

mod support;

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::{Path, Query, State},
    http::{StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use marketpipe_live::{spawn_backfiller, BackfillConfig, BackfillHandle, Gap, LiveBody, LiveRecord, RestClient, RestRequest};
use marketpipe_venues::coinbase::session::CoinbaseSession;
use support::*;
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

/// A planned failure: the status and an optional `Retry-After` value.
type Planned = (StatusCode, Option<&'static str>);

/// The in-test exchange: `BTC-USD` has trades `1..=newest`; the first
/// requests answer with the planned failures.
#[derive(Clone, Default)]
struct Exchange {
    newest: u64,
    plan: Arc<Mutex<VecDeque<Planned>>>,
    requests: Arc<Mutex<Vec<(Instant, String)>>>,
    hang: bool,
}

async fn trades(State(ex): State<Exchange>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>, uri: Uri) -> Response {
    ex.requests.lock().unwrap().push((Instant::now(), uri.to_string()));
    if ex.hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    if let Some((status, retry_after)) = ex.plan.lock().unwrap().pop_front() {
        return match retry_after {
            Some(v) => (status, [("retry-after", v)], "{\"message\":\"slow down\"}").into_response(),
            None => (status, "{\"message\":\"oops\"}").into_response(),
        };
    }
    if id != "BTC-USD" {
        return (StatusCode::NOT_FOUND, "{\"message\":\"NotFound\"}").into_response();
    }
    let limit: u64 = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    let after: u64 = q.get("after").and_then(|a| a.parse().ok()).unwrap_or(ex.newest + 1);
    let page: Vec<String> = (1..after.min(ex.newest + 1))
        .rev()
        .take(limit as usize)
        .map(|i| format!(r#"{{"time":"2026-01-01T00:00:00Z","trade_id":{i},"price":"1.00","size":"0.1","side":"buy"}}"#))
        .collect();
    format!("[{}]", page.join(",")).into_response()
}

async fn rest_server(ex: Exchange) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route("/products/{id}/trades", get(trades)).with_state(ex);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

struct Running {
    handle: BackfillHandle,
    gaps: mpsc::Sender<RestRequest>,
    rx: mpsc::Receiver<LiveRecord>,
    stop: watch::Sender<bool>,
}

fn start(rest_url: &str, tweak: impl FnOnce(&mut BackfillConfig)) -> Running {
    let mut cfg = BackfillConfig::new(&CoinbaseSession);
    cfg.rest_url = rest_url.to_owned();
    cfg.weight_per_second = 1000;
    cfg.backoff = fast_backoff();
    cfg.request_timeout = Duration::from_secs(2);
    tweak(&mut cfg);
    let (gaps, requests) = mpsc::channel(16);
    let (tx, rx) = mpsc::channel(64);
    let (stop, shutdown) = watch::channel(false);
    let rest = RestClient::new(cfg.exchange, cfg.rest_policy()).unwrap();
    let handle = spawn_backfiller(cfg, Arc::new(CoinbaseSession), rest, requests, tx, shutdown).unwrap();
    Running { handle, gaps, rx, stop }
}

fn gap(product: &str, after_id: u64, before_id: u64) -> Gap {
    Gap { product: product.into(), after_id, before_id }
}

/// Waits until the backfiller has settled `n` gaps (completed or failed).
async fn settled(h: &BackfillHandle, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.stats().gaps_completed + h.stats().gaps_failed < n {
        assert!(Instant::now() < deadline, "{:?}", h.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn rest_records(rx: &mut mpsc::Receiver<LiveRecord>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Ok(r) = rx.try_recv() {
        match r.body {
            LiveBody::Rest { url, body } => out.push((url, body)),
            other => panic!("unexpected {other:?}"),
        }
    }
    out
}

#[tokio::test]
async fn pages_backwards_across_three_pages_until_the_gap_is_covered() {
    let ex = Exchange { newest: 3000, ..Exchange::default() };
    let url = rest_server(ex.clone()).await;
    // Every page request is paced at 20/s: three pages take two intervals.
    let mut run = start(&url, |c| c.weight_per_second = 20);
    let started = Instant::now();
    run.gaps.send(RestRequest::from(gap("BTC-USD", 10, 2500))).await.unwrap();
    settled(&run.handle, 1).await;
    assert!(started.elapsed() >= Duration::from_millis(100), "rate limit not applied: {:?}", started.elapsed());
    let pages = rest_records(&mut run.rx);
    let urls: Vec<&str> = pages.iter().map(|(u, _)| u.as_str()).collect();
    assert_eq!(
        urls,
        vec![
            format!("{url}/products/BTC-USD/trades?limit=1000&after=2500"),
            format!("{url}/products/BTC-USD/trades?limit=1000&after=1500"),
            format!("{url}/products/BTC-USD/trades?limit=1000&after=500"),
        ]
    );
    // The pages together hold every missing id.
    let mut ids = BTreeSet::new();
    for (_, body) in &pages {
        let v: Vec<serde_json::Value> = serde_json::from_str(body).unwrap();
        ids.extend(v.iter().map(|t| t["trade_id"].as_u64().unwrap()));
    }
    assert!((11..2500).all(|i| ids.contains(&i)));
    assert!(!ids.contains(&2500));
    let s = run.handle.stats();
    assert_eq!((s.gaps_completed, s.gaps_failed, s.pages, s.requests, s.retries), (1, 0, 3, 3, 0));
    drop(run.gaps);
    tokio::time::timeout(Duration::from_secs(1), run.handle.join()).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_warm_start_pages_back_to_the_start_of_history_or_its_cap() {
    // History shorter than the cap: paged until the exchange has no more.
    let url = rest_server(Exchange { newest: 2500, ..Exchange::default() }).await;
    let mut run = start(&url, |c| c.warm_start_pages = 10);
    run.gaps.send(RestRequest::from(Gap::warm_start("BTC-USD", 2001))).await.unwrap();
    settled(&run.handle, 1).await;
    let pages = rest_records(&mut run.rx);
    let ids: BTreeSet<u64> = pages
        .iter()
        .flat_map(|(_, body)| serde_json::from_str::<Vec<serde_json::Value>>(body).unwrap())
        .map(|t| t["trade_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..2001).collect(), "every trade before the first one seen");
    assert_eq!((run.handle.stats().gaps_completed, run.handle.stats().pages), (1, 2));

    // Longer history: the cap ends the warm start, which still completes.
    let url = rest_server(Exchange { newest: 100_000, ..Exchange::default() }).await;
    let mut run = start(&url, |c| c.warm_start_pages = 2);
    run.gaps.send(RestRequest::from(Gap::warm_start("BTC-USD", 90_001))).await.unwrap();
    settled(&run.handle, 1).await;
    assert_eq!(rest_records(&mut run.rx).len(), 2);
    let s = run.handle.stats();
    assert_eq!((s.gaps_completed, s.gaps_failed, s.pages), (1, 0, 2));
}

#[tokio::test]
async fn retries_server_errors_and_rate_limits() {
    let ex = Exchange { newest: 3000, ..Exchange::default() };
    ex.plan.lock().unwrap().extend([(StatusCode::INTERNAL_SERVER_ERROR, None), (StatusCode::TOO_MANY_REQUESTS, Some("0"))]);
    let url = rest_server(ex.clone()).await;
    let mut run = start(&url, |_| {});
    run.gaps.send(RestRequest::from(gap("BTC-USD", 2400, 2500))).await.unwrap();
    settled(&run.handle, 1).await;
    let pages = rest_records(&mut run.rx);
    assert_eq!(pages.len(), 1, "failed responses are not forwarded");
    assert!(pages[0].1.contains("\"trade_id\":2401"));
    let s = run.handle.stats();
    assert_eq!((s.gaps_completed, s.requests, s.retries, s.pages), (1, 3, 2, 1));
    assert_eq!(ex.requests.lock().unwrap().len(), 3);
    run.stop.send_replace(true);
    run.handle.join().await.unwrap();
}

#[tokio::test]
async fn respects_retry_after() {
    let ex = Exchange { newest: 3000, ..Exchange::default() };
    ex.plan.lock().unwrap().push_back((StatusCode::TOO_MANY_REQUESTS, Some("1")));
    let url = rest_server(ex.clone()).await;
    let run = start(&url, |c| c.backoff.max = Duration::from_secs(2));
    run.gaps.send(RestRequest::from(gap("BTC-USD", 2400, 2500))).await.unwrap();
    settled(&run.handle, 1).await;
    let times: Vec<Instant> = ex.requests.lock().unwrap().iter().map(|(t, _)| *t).collect();
    assert_eq!(times.len(), 2);
    assert!(times[1] - times[0] >= Duration::from_millis(950), "{:?}", times[1] - times[0]);
}

#[tokio::test]
async fn gives_up_on_not_found_and_carries_on() {
    let ex = Exchange { newest: 3000, ..Exchange::default() };
    let url = rest_server(ex.clone()).await;
    let mut run = start(&url, |_| {});
    run.gaps.send(RestRequest::from(gap("NOPE-USD", 1, 50))).await.unwrap();
    run.gaps.send(RestRequest::from(gap("BTC-USD", 2400, 2500))).await.unwrap();
    settled(&run.handle, 2).await;
    let s = run.handle.stats();
    assert_eq!((s.gaps_failed, s.gaps_completed, s.retries), (1, 1, 0));
    // The 404 is not retried.
    let requests: Vec<String> = ex.requests.lock().unwrap().iter().map(|(_, u)| u.clone()).collect();
    assert_eq!(requests.iter().filter(|u| u.contains("NOPE-USD")).count(), 1);
    assert_eq!(rest_records(&mut run.rx).len(), 1);
}

#[tokio::test]
async fn exhausted_retries_give_up_the_gap() {
    let ex = Exchange { newest: 3000, ..Exchange::default() };
    ex.plan.lock().unwrap().extend([(StatusCode::BAD_GATEWAY, None); 5]);
    let url = rest_server(ex.clone()).await;
    let run = start(&url, |c| c.max_attempts = 3);
    run.gaps.send(RestRequest::from(gap("BTC-USD", 2400, 2500))).await.unwrap();
    settled(&run.handle, 1).await;
    let s = run.handle.stats();
    assert_eq!((s.gaps_failed, s.requests, s.retries), (1, 3, 2));
}

#[tokio::test]
async fn shutdown_interrupts_a_hanging_request() {
    let ex = Exchange { newest: 3000, hang: true, ..Exchange::default() };
    let url = rest_server(ex.clone()).await;
    let run = start(&url, |c| c.request_timeout = Duration::from_secs(60));
    run.gaps.send(RestRequest::from(gap("BTC-USD", 2400, 2500))).await.unwrap();
    while ex.requests.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    run.stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(1), run.handle.join()).await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
}
