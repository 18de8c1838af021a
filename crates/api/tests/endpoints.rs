//! Each endpoint over a real socket: exact JSON shapes, what reaches the
//! store, candle ranges and filling, limits, and the server-fault paths
//! (store errors, panics, timeouts, the concurrency limit, shutdown).

mod support;

use std::{sync::atomic::Ordering, sync::Arc, time::Duration};

use marketpipe_api::ApiConfig;
use marketpipe_model::{Exchange, Interval, Timestamp};
use serde_json::{json, Value};
use support::{error_of, key, Fault, FixtureStore, Server, MIN, T0};

fn starts(body: &Value) -> Vec<String> {
    body["candles"].as_array().unwrap().iter().map(|c| c["start"].as_str().unwrap().to_owned()).collect()
}

const BTC: &str = "exchange=coinbase&symbol=BTC-USD";

#[tokio::test]
async fn health_reports_ok_and_degraded() {
    let (server, _) = Server::fixture().await;
    let body = server.ok("/api/v1/health").await;
    assert_eq!(body, json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "store": "ok"}));

    let sick = Server::start(Arc::new(FixtureStore::with_fault(Fault::Broken)), ApiConfig::default()).await;
    let r = sick.get("/api/v1/health").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json, json!({"status": "degraded", "version": env!("CARGO_PKG_VERSION"), "store": "unavailable"}));
}

#[tokio::test]
async fn products_are_listed_sorted_and_filtered() {
    let (server, _) = Server::fixture().await;
    let body = server.ok("/api/v1/products").await;
    assert_eq!(
        body,
        json!({"products": [
            {"exchange": "binance", "symbol": "NKN-USDT", "native_symbol": "NKNUSDT", "base": "NKN", "quote": "USDT"},
            {"exchange": "coinbase", "symbol": "BTC-USD", "native_symbol": "BTC-USD", "base": "BTC", "quote": "USD"},
            {"exchange": "coinbase", "symbol": "ETH-USD", "native_symbol": "ETH-USD", "base": "ETH", "quote": "USD"},
            {"exchange": "kucoin", "symbol": "BSV-USDT", "native_symbol": "BCHSV-USDT", "base": "BSV", "quote": "USDT"},
        ]})
    );
    let kucoin = server.ok("/api/v1/products?exchange=KuCoin").await;
    assert_eq!(kucoin["products"].as_array().unwrap().len(), 1);
    assert_eq!(kucoin["products"][0]["symbol"], "BSV-USDT");
    let none = server.ok("/api/v1/products?exchange=coinbase-advanced").await;
    assert_eq!(none, json!({"products": []}));
}

#[tokio::test]
async fn candles_have_the_exact_shape() {
    let (server, store) = Server::fixture().await;
    let body = server.ok(&format!("/api/v1/candles?{BTC}&interval=1m")).await;
    assert_eq!(body["exchange"], "coinbase");
    assert_eq!(body["symbol"], "BTC-USD");
    assert_eq!(body["interval"], "1m");
    assert_eq!(body.as_object().unwrap().len(), 4, "{body}");
    assert_eq!(
        body["candles"][0],
        json!({
            "start": "2026-01-01T00:00:00Z",
            "open": "60000.00", "high": "60123.45", "low": "59990.10", "close": "60100.00",
            "volume": "0.00120000", "quote_volume": "72.1234567890", "vwap": "60102.880657500",
            "trades": 3, "buy_volume": "0.00100000", "sell_volume": "0.00020000",
            "buy_trades": 2, "sell_trades": 1,
            "first_trade_id": 1001, "last_trade_id": 1003,
            "final": true, "revision": 0
        })
    );
    assert_eq!(starts(&body), ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:04:00Z"]);
    assert_eq!(body["candles"][1]["revision"], 2);
    assert_eq!(body["candles"][2]["final"], false);
    // Without a range: the latest `limit` (default 1000), no bounds.
    let q = store.queries();
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].start, q[0].end, q[0].limit), (None, None, 1000));
    assert_eq!(q[0].instrument, key(Exchange::Coinbase, "BTC-USD"));
    assert_eq!(q[0].interval, Interval::M1);

    // Opaque trade ids stay strings.
    let bsv = server.ok("/api/v1/candles?exchange=kucoin&symbol=BSV-USDT&interval=1m").await;
    assert_eq!(bsv["candles"][0]["first_trade_id"], "5f1a2b3c4d-77");
    assert_eq!(bsv["candles"][0]["last_trade_id"], "5f1a2b3c4d-77");
    // Another interval is another series.
    let hourly = server.ok(&format!("/api/v1/candles?{BTC}&interval=1h")).await;
    assert_eq!(starts(&hourly), ["2026-01-01T00:00:00Z"]);
    assert_eq!(hourly["candles"][0]["volume"], "2.50120000");
}

#[tokio::test]
async fn lower_case_symbols_are_normalized() {
    let (server, _) = Server::fixture().await;
    let body = server.ok("/api/v1/candles?exchange=Coinbase&symbol=btc-usd&interval=1m&limit=1").await;
    assert_eq!(body["symbol"], "BTC-USD");
    assert_eq!(body["exchange"], "coinbase");
    assert_eq!(body["candles"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn candle_ranges_reach_the_store_as_given() {
    let (server, store) = Server::fixture().await;
    let cases: &[(&str, Option<i64>, Option<i64>, usize)] = &[
        ("start=2026-01-01T00:01:00Z&end=2026-01-01T00:04:00Z", Some(T0 + MIN), Some(T0 + 4 * MIN), 1000),
        ("start=1767225660&end=1767225840", Some(T0 + MIN), Some(T0 + 4 * MIN), 1000),
        ("start=1767225600.5", Some(T0 + 500_000_000), None, 1000),
        ("end=2026-01-01T01:00:00%2B01:00", None, Some(T0), 1000),
        ("end=2026-01-01T01:00:00+01:00&limit=7", None, Some(T0), 7),
        ("start=2026-01-01T00:00:00.123456789Z&limit=20000", Some(T0 + 123_456_789), None, 10_000),
        ("limit=10000", None, None, 10_000),
        ("limit=0010", None, None, 10),
    ];
    for (query, start, end, limit) in cases {
        server.ok(&format!("/api/v1/candles?{BTC}&interval=1m&{query}")).await;
        let got = store.queries().pop().unwrap();
        assert_eq!(got.start, start.map(Timestamp), "{query}");
        assert_eq!(got.end, end.map(Timestamp), "{query}");
        assert_eq!(got.limit, *limit, "{query}");
    }
}

#[tokio::test]
async fn candle_ranges_select_windows() {
    let (server, _) = Server::fixture().await;
    let get = |q: &'static str| {
        let server = &server;
        async move { starts(&server.ok(&format!("/api/v1/candles?{BTC}&interval=1m&{q}")).await) }
    };
    // start inclusive, end exclusive.
    assert_eq!(get("start=2026-01-01T00:01:00Z&end=2026-01-01T00:04:00Z").await, ["2026-01-01T00:01:00Z"]);
    assert_eq!(get("start=2026-01-01T00:01:00Z").await, ["2026-01-01T00:01:00Z", "2026-01-01T00:04:00Z"]);
    assert_eq!(get("end=2026-01-01T00:04:00Z").await, ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"]);
    // Without start the latest `limit`; with it the first.
    assert_eq!(get("limit=1").await, ["2026-01-01T00:04:00Z"]);
    assert_eq!(get("start=0&limit=1").await, ["2026-01-01T00:00:00Z"]);
    assert!(get("start=2026-01-02T00:00:00Z").await.is_empty());
    // ETH-USD is known but has no candles: an empty list, not an error.
    let eth = server.ok("/api/v1/candles?exchange=coinbase&symbol=ETH-USD&interval=1m").await;
    assert_eq!(eth["candles"], json!([]));
}

#[tokio::test]
async fn limits_follow_the_config() {
    let store = Arc::new(FixtureStore::new());
    let config = ApiConfig { max_limit: 2, default_limit: 1, ..ApiConfig::default() };
    let server = Server::start(store.clone(), config).await;
    let body = server.ok(&format!("/api/v1/candles?{BTC}&interval=1m")).await;
    assert_eq!(starts(&body), ["2026-01-01T00:04:00Z"]);
    let body = server.ok(&format!("/api/v1/candles?{BTC}&interval=1m&limit=50")).await;
    assert_eq!(starts(&body), ["2026-01-01T00:01:00Z", "2026-01-01T00:04:00Z"]);
    assert_eq!(store.queries().iter().map(|q| q.limit).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test]
async fn fill_adds_empty_candles_for_gaps() {
    let (server, _) = Server::fixture().await;
    let body = server.ok(&format!("/api/v1/candles?{BTC}&interval=1m&start=2026-01-01T00:00:00Z&end=2026-01-01T00:07:00Z&fill=true")).await;
    let candles = body["candles"].as_array().unwrap();
    let minutes: Vec<&str> = candles.iter().map(|c| &c["start"].as_str().unwrap()[14..16]).collect();
    assert_eq!(minutes, ["00", "01", "02", "03", "04", "05", "06"]);
    let filled: Vec<bool> = candles.iter().map(|c| c["filled"].as_bool().unwrap()).collect();
    assert_eq!(filled, [false, false, true, true, false, true, true]);
    // A gap takes the previous close; it is not final, because the candle
    // after it (T0+4m) is not: nothing says the gap's window has closed.
    assert_eq!(
        candles[2],
        json!({
            "start": "2026-01-01T00:02:00Z",
            "open": "60200.50", "high": "60200.50", "low": "60200.50", "close": "60200.50",
            "volume": "0", "quote_volume": "0", "vwap": null,
            "trades": 0, "buy_volume": "0", "sell_volume": "0", "buy_trades": 0, "sell_trades": 0,
            "first_trade_id": null, "last_trade_id": null,
            "final": false, "revision": 0, "filled": true
        })
    );
    // After the last candle, up to `end`: not known to be closed.
    assert_eq!(candles[6]["close"], "60250.00");
    assert_eq!(candles[6]["final"], false);
    // Real candles are unchanged apart from "filled": false.
    assert_eq!(candles[0]["vwap"], "60102.880657500");

    // Nothing before the first real candle, nothing after the last without `end`.
    let body = server.ok(&format!("/api/v1/candles?{BTC}&interval=1m&start=2025-12-31T23:50:00Z&fill=true")).await;
    assert_eq!(body["candles"].as_array().unwrap().len(), 5);
    assert_eq!(body["candles"][0]["start"], "2026-01-01T00:00:00Z");

    // The limit counts filled candles: first `limit` with start, last without.
    let body = server.ok(&format!("/api/v1/candles?{BTC}&interval=1m&start=2026-01-01T00:00:00Z&limit=3&fill=true")).await;
    assert_eq!(starts(&body), ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]);
    let body = server.ok(&format!("/api/v1/candles?{BTC}&interval=1m&end=2026-01-01T00:07:00Z&limit=3&fill=true")).await;
    assert_eq!(starts(&body), ["2026-01-01T00:04:00Z", "2026-01-01T00:05:00Z", "2026-01-01T00:06:00Z"]);

    // Without fill there is no "filled" field at all.
    let body = server.ok(&format!("/api/v1/candles?{BTC}&interval=1m&fill=false")).await;
    assert!(body["candles"].as_array().unwrap().iter().all(|c| c.get("filled").is_none()));
}

#[tokio::test]
async fn fill_over_a_huge_gap_is_bounded_by_the_limit() {
    let (server, _) = Server::fixture().await;
    // Minute windows from 2026 up to 2255: over a hundred million gaps, yet
    // exactly `limit` come back.
    let body = server.ok(&format!("/api/v1/candles?{BTC}&interval=1m&start=0&end=9000000000&fill=true&limit=10000")).await;
    let candles = body["candles"].as_array().unwrap();
    assert_eq!(candles.len(), 10_000);
    assert_eq!(candles[9_999]["filled"], true);
}

#[tokio::test]
async fn latest_candle_is_the_newest_final_or_not() {
    let (server, _) = Server::fixture().await;
    let body = server.ok(&format!("/api/v1/candles/latest?{BTC}&interval=1m")).await;
    assert_eq!(body["exchange"], "coinbase");
    assert_eq!(body["symbol"], "BTC-USD");
    assert_eq!(body["interval"], "1m");
    assert_eq!(body["candle"]["start"], "2026-01-01T00:04:00Z");
    assert_eq!(body["candle"]["final"], false);
    assert_eq!(body["candle"]["first_trade_id"], 1010);
    assert!(body["candle"].get("filled").is_none());

    let r = server.get("/api/v1/candles/latest?exchange=coinbase&symbol=ETH-USD&interval=1m").await;
    assert_eq!(r.status, 404);
    assert_eq!(error_of(&r).0, "no_data");
    let r = server.get("/api/v1/candles/latest?exchange=coinbase&symbol=DOGE-USD&interval=1m").await;
    assert_eq!(r.status, 404);
    assert_eq!(error_of(&r).0, "unknown_product");
}

#[tokio::test]
async fn book_has_the_exact_shape_and_depth() {
    let (server, store) = Server::fixture().await;
    let body = server.ok(&format!("/api/v1/book?{BTC}")).await;
    assert_eq!(
        body,
        json!({
            "exchange": "coinbase", "symbol": "BTC-USD", "state": "live", "sequence": 123456789,
            "time": "2026-01-01T00:00:01.500Z",
            "bids": [["60100.00", "0.50000000"], ["60099.99", "1.2"], ["60090", "3"]],
            "asks": [["60100.01", "0.25"], ["60101.00", "2.00000000"], ["60150", "7"]]
        })
    );
    let body = server.ok(&format!("/api/v1/book?{BTC}&depth=2")).await;
    assert_eq!(body["bids"].as_array().unwrap().len(), 2);
    assert_eq!(body["asks"][1], json!(["60101.00", "2.00000000"]));
    server.ok(&format!("/api/v1/book?{BTC}&depth=1000000")).await;
    assert_eq!(*store.depths.lock().unwrap(), [10, 2, 50]);

    let nkn = server.ok("/api/v1/book?exchange=binance&symbol=NKN-USDT").await;
    assert_eq!(
        nkn,
        json!({"exchange": "binance", "symbol": "NKN-USDT", "state": "resyncing", "sequence": null, "time": null, "bids": [], "asks": []})
    );
    let r = server.get("/api/v1/book?exchange=coinbase&symbol=ETH-USD").await;
    assert_eq!((r.status, error_of(&r).0.as_str()), (404, "no_data"));
}

#[tokio::test]
async fn stats_have_the_exact_shape() {
    let (server, _) = Server::fixture().await;
    let body = server.ok(&format!("/api/v1/stats?{BTC}")).await;
    assert_eq!(
        body,
        json!({
            "exchange": "coinbase", "symbol": "BTC-USD",
            "best_bid": "60100.00", "best_bid_size": "0.50000000",
            "best_ask": "60100.01", "best_ask_size": "0.25",
            "spread": "0.01", "mid": "60100.005", "mid_ma": "60099.87500",
            "mid_ma_window": 20, "mid_ma_samples": 4, "max_spread": "1.50",
            "last_price": "60100.00", "last_trade_time": "2026-01-01T00:00:00.001Z",
            "book_state": "live", "time": "2026-01-01T00:00:01.500Z"
        })
    );
    let nkn = server.ok("/api/v1/stats?exchange=binance&symbol=NKN-USDT").await;
    for field in ["best_bid", "best_ask", "spread", "mid", "mid_ma", "max_spread", "last_price", "last_trade_time", "time"] {
        assert_eq!(nkn[field], Value::Null, "{field}");
    }
    assert_eq!(nkn["book_state"], "resyncing");
    assert_eq!(nkn["mid_ma_samples"], 0);
    let r = server.get("/api/v1/stats?exchange=coinbase&symbol=ETH-USD").await;
    assert_eq!((r.status, error_of(&r).0.as_str()), (404, "no_data"));
}

#[tokio::test]
async fn tickers_have_the_exact_shape_per_exchange_and_product() {
    let (server, _) = Server::fixture().await;
    let btc = json!({
        "symbol": "BTC-USD", "last_price": "60250.00", "last_size": "0.5",
        "best_bid": "60249.99", "best_bid_size": "1.25", "best_ask": "60250.01", "best_ask_size": "0.75",
        "open_24h": "59000.00", "high_24h": "61000.00", "low_24h": "58500.00", "volume_24h": "1234.5",
        "time": "2026-01-01T00:04:00Z", "recv_time": "2026-01-01T00:04:00.000000005Z"
    });
    assert_eq!(server.ok("/api/v1/tickers?exchange=coinbase").await, json!({"exchange": "coinbase", "tickers": [btc.clone()]}));
    assert_eq!(server.ok(&format!("/api/v1/tickers?{BTC}")).await, json!({"exchange": "coinbase", "tickers": [btc]}));
    // What an exchange does not provide is null.
    let nkn = server.ok("/api/v1/tickers?exchange=binance&symbol=NKN-USDT").await;
    for field in ["last_price", "best_bid", "best_ask", "open_24h", "volume_24h", "time"] {
        assert_eq!(nkn["tickers"][0][field], Value::Null, "{field}");
    }
    // No tickers yet is an empty list, not an error.
    assert_eq!(server.ok("/api/v1/tickers?exchange=kucoin").await, json!({"exchange": "kucoin", "tickers": []}));
    let r = server.get("/api/v1/tickers?exchange=coinbase&symbol=ETH-USD").await;
    assert_eq!((r.status, error_of(&r).0.as_str()), (404, "no_data"));
    let r = server.get("/api/v1/tickers?exchange=coinbase&symbol=DOGE-USD").await;
    assert_eq!((r.status, error_of(&r).0.as_str()), (404, "unknown_product"));
    for bad in ["/api/v1/tickers", "/api/v1/tickers?exchange=nyse", "/api/v1/tickers?exchange=coinbase&depth=3"] {
        let r = server.get(bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.json);
    }
}

#[tokio::test]
async fn head_requests_are_answered() {
    let (server, _) = Server::fixture().await;
    let r = server.request(reqwest::Method::HEAD, "/api/v1/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json, Value::Null);
}

const DATA_PATHS: &[&str] = &[
    "/api/v1/products",
    "/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval=1m",
    "/api/v1/candles/latest?exchange=coinbase&symbol=BTC-USD&interval=1m",
    "/api/v1/book?exchange=coinbase&symbol=BTC-USD",
    "/api/v1/stats?exchange=coinbase&symbol=BTC-USD",
];

#[tokio::test]
async fn store_failures_are_server_errors_without_details() {
    for (fault, status, code) in [(Fault::Busy, 503, "unavailable"), (Fault::Broken, 500, "internal"), (Fault::Corrupt, 500, "internal")] {
        let server = Server::start(Arc::new(FixtureStore::with_fault(fault)), ApiConfig::default()).await;
        for path in DATA_PATHS {
            let r = server.get(path).await;
            assert_eq!(r.status, status, "{fault:?} {path}");
            assert_eq!(r.content_type, "application/json");
            let (got, message) = error_of(&r);
            assert_eq!(got, code, "{fault:?} {path}");
            for secret in ["SQLITE", "/secret", "x1"] {
                assert!(!message.contains(secret), "{path}: backend detail in {message:?}");
            }
        }
    }
}

#[tokio::test]
async fn bad_input_is_rejected_before_the_store_is_asked() {
    // A broken store would turn any store call into a 500: a 400 proves the
    // input was judged first.
    let server = Server::start(Arc::new(FixtureStore::with_fault(Fault::Broken)), ApiConfig::default()).await;
    let r = server.get("/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval=2m").await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn a_panic_becomes_a_json_500_and_the_server_lives_on() {
    let server = Server::start(Arc::new(FixtureStore::with_fault(Fault::PanicInStats)), ApiConfig::default()).await;
    let r = server.get("/api/v1/stats?exchange=coinbase&symbol=BTC-USD").await;
    assert_eq!(r.status, 500);
    assert_eq!(error_of(&r).0, "internal");
    assert_eq!(server.ok("/api/v1/health").await["status"], "ok");
}

#[tokio::test]
async fn slow_requests_time_out_with_503() {
    let store = Arc::new(FixtureStore { delay: Duration::from_secs(5), ..FixtureStore::new() });
    let config = ApiConfig { request_timeout: Duration::from_millis(200), ..ApiConfig::default() };
    let server = Server::start(store, config).await;
    let r = server.get("/api/v1/products").await;
    assert_eq!(r.status, 503);
    let (code, message) = error_of(&r);
    assert_eq!(code, "timeout");
    assert!(message.contains("200 ms"), "{message}");
}

async fn max_in_flight(limit: usize) -> usize {
    let store = Arc::new(FixtureStore { delay: Duration::from_millis(150), ..FixtureStore::new() });
    let config = ApiConfig { max_concurrent_requests: limit, ..ApiConfig::default() };
    let server = Server::start(store.clone(), config).await;
    let requests: Vec<_> = (0..4)
        .map(|_| {
            let (client, url) = (server.client.clone(), format!("{}/api/v1/products", server.base));
            tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for r in requests {
        assert_eq!(r.await.unwrap(), 200, "queued requests are served, not refused");
    }
    store.max_in_flight.load(Ordering::SeqCst)
}

#[tokio::test]
async fn the_concurrency_limit_holds() {
    assert_eq!(max_in_flight(1).await, 1);
    // The control: without a tight limit the same requests do overlap, so
    // the assertion above could have failed.
    assert!(max_in_flight(8).await > 1);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests() {
    let store = Arc::new(FixtureStore { delay: Duration::from_millis(300), ..FixtureStore::new() });
    let mut server = Server::start(store.clone(), ApiConfig::default()).await;
    let url = format!("{}/api/v1/products", server.base);
    let client = server.client.clone();
    let in_flight = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) });
    // Shut down only once the request is inside the store.
    while store.in_flight.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.signal_shutdown();
    assert_eq!(in_flight.await.unwrap().unwrap(), 200);
    let addr = server.addr;
    server.join().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still accepting after shutdown");
}

#[tokio::test]
async fn an_idle_server_stops_promptly() {
    let (server, _) = Server::fixture().await;
    server.ok("/api/v1/health").await;
    // The keep-alive connection from the request above must not hold it up.
    server.stop().await.unwrap();
}
