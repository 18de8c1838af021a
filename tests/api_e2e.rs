//! The HTTP API over a real store and a real socket: the sample capture
//! replayed, then served; golden output and a battery of malformed queries.

mod support;

use std::ops::Deref;

use support::*;

/// The sample replayed into a fresh store and served. One per test rather
/// than one shared `static`: statics are never dropped, so a shared server
/// would outlive the test binary (the replay takes a fraction of a second).
struct Fixture {
    server: Server,
    _dir: tempfile::TempDir,
}

impl Deref for Fixture {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

fn served_sample() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    replay(&[&repo().join("samples/coinbase-sample.jsonl")], &data);
    let server = Server::start(&data);
    Fixture { server, _dir: dir }
}

/// Everything the API says about the sample, as one JSON document.
fn snapshot(server: &Server) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    doc.insert("products".into(), server.get("/api/v1/products"));
    for symbol in ["BTC-USD", "ETH-USD"] {
        for interval in ["1m", "1h", "1d"] {
            doc.insert(
                format!("candles {symbol} {interval}"),
                server.get(&format!("/api/v1/candles?exchange=coinbase&symbol={symbol}&interval={interval}")),
            );
        }
        doc.insert(format!("book {symbol}"), server.get(&format!("/api/v1/book?exchange=coinbase&symbol={symbol}&depth=5")));
        doc.insert(format!("stats {symbol}"), server.get(&format!("/api/v1/stats?exchange=coinbase&symbol={symbol}")));
    }
    serde_json::Value::Object(doc)
}

/// The sample's full API output is pinned in tests/golden/sample-api.json.
/// Candles and books in it are checked independently by
/// scripts/verify_capture.py (see replay_e2e.rs); this pins the rest (vwap,
/// final, revision, stats) against regressions. `UPDATE_GOLDEN=1` rewrites it.
#[test]
fn sample_api_output_matches_golden() {
    let got = snapshot(&served_sample());
    let path = repo().join("tests/golden/sample-api.json");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("golden file exists")).unwrap();
    assert!(got == want, "API output differs from {}; rerun with UPDATE_GOLDEN=1 after checking why", path.display());
}

#[test]
fn happy_paths_have_the_documented_shapes() {
    let s = served_sample();
    let health = s.get("/api/v1/health");
    assert_eq!(health["status"], "ok");
    let products = s.get("/api/v1/products");
    let symbols: Vec<_> = products["products"].as_array().unwrap().iter().map(|p| p["symbol"].as_str().unwrap().to_string()).collect();
    assert_eq!(symbols, ["BTC-USD", "ETH-USD", "SOL-USD"]);
    let p = &products["products"][0];
    for f in ["exchange", "symbol", "native_symbol", "base", "quote"] {
        assert!(p[f].is_string(), "product field {f}: {p}");
    }

    let book = s.get("/api/v1/book?exchange=coinbase&symbol=BTC-USD&depth=10");
    assert_eq!(book["state"], "live");
    let bids = book["bids"].as_array().unwrap();
    let asks = book["asks"].as_array().unwrap();
    assert_eq!((bids.len(), asks.len()), (10, 10));
    let px = |l: &serde_json::Value| l[0].as_str().unwrap().parse::<f64>().unwrap();
    assert!(bids.windows(2).all(|w| px(&w[0]) > px(&w[1])), "bids best first");
    assert!(asks.windows(2).all(|w| px(&w[0]) < px(&w[1])), "asks best first");
    assert!(px(&bids[0]) < px(&asks[0]), "book not crossed");

    let stats = s.get("/api/v1/stats?exchange=coinbase&symbol=BTC-USD");
    for f in
        ["best_bid", "best_bid_size", "best_ask", "best_ask_size", "spread", "mid", "mid_ma", "max_spread", "last_price", "last_trade_time"]
    {
        assert!(stats[f].is_string(), "stats field {f} should be a string: {stats}");
    }
    assert_eq!(stats["book_state"], "live");
    assert_eq!(stats["best_bid"], bids[0][0]);
    assert_eq!(stats["best_ask"], asks[0][0]);

    let latest = s.get("/api/v1/candles/latest?exchange=coinbase&symbol=ETH-USD&interval=1m");
    let all = s.get("/api/v1/candles?exchange=coinbase&symbol=ETH-USD&interval=1m");
    let last = all["candles"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(latest["candle"], last);
    assert_eq!(last["final"], false, "the replay ended inside this minute");

    // a range: start inclusive, end exclusive
    let first = &all["candles"][0]["start"];
    let second = &all["candles"][1]["start"];
    let one = s.get(&format!(
        "/api/v1/candles?exchange=coinbase&symbol=ETH-USD&interval=1m&start={}&end={}",
        first.as_str().unwrap(),
        second.as_str().unwrap()
    ));
    assert_eq!(one["candles"].as_array().unwrap().len(), 1);
    assert_eq!(&one["candles"][0]["start"], first);
    let lim = s.get("/api/v1/candles?exchange=coinbase&symbol=ETH-USD&interval=1m&limit=2");
    assert_eq!(
        lim["candles"].as_array().unwrap().as_slice(),
        &all["candles"].as_array().unwrap()[all["candles"].as_array().unwrap().len() - 2..]
    );
}

#[test]
fn malformed_queries_get_json_4xx_never_5xx() {
    let s = served_sample();
    let ok = "exchange=coinbase&symbol=BTC-USD&interval=1m";
    let cases: Vec<(String, u16)> = vec![
        ("/api/v1/candles".into(), 400),
        ("/api/v1/candles?exchange=coinbase&symbol=BTC-USD".into(), 400),
        ("/api/v1/candles?exchange=kraken&symbol=BTC-USD&interval=1m".into(), 400),
        ("/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval=2m".into(), 400),
        ("/api/v1/candles?exchange=coinbase&symbol=DOGE-EUR&interval=1m".into(), 404),
        (format!("/api/v1/candles?{ok}&start=yesterday"), 400),
        (format!("/api/v1/candles?{ok}&start=2026-13-01T00:00:00Z"), 400),
        (format!("/api/v1/candles?{ok}&start=2026-03-02T14:35:00Z&end=2026-03-02T14:30:00Z"), 400),
        (format!("/api/v1/candles?{ok}&start=1772461800&end=1772461800"), 400),
        (format!("/api/v1/candles?{ok}&start=99999999999999999999"), 400),
        (format!("/api/v1/candles?{ok}&limit=0"), 400),
        (format!("/api/v1/candles?{ok}&limit=-5"), 400),
        (format!("/api/v1/candles?{ok}&limit=abc"), 400),
        (format!("/api/v1/candles?{ok}&limit=1.5"), 400),
        (format!("/api/v1/candles?{ok}&limit=99999999999999999999999"), 400),
        (format!("/api/v1/candles?{ok}&limit="), 400),
        (format!("/api/v1/candles?{ok}&interval=1h"), 400),
        (format!("/api/v1/candles?{ok}&bogus=1"), 400),
        (format!("/api/v1/candles?{ok}&symbol=%ZZ"), 400),
        (format!("/api/v1/candles?{ok}&symbol=%FF%FE"), 400),
        (format!("/api/v1/candles?{ok}&symbol=BTC-USD%00"), 400),
        (format!("/api/v1/candles?{ok}&symbol={}", "A".repeat(5000)), 400),
        ("/api/v1/candles?exchange=coinbase&symbol=BTC/USD&interval=1m".into(), 400),
        ("/api/v1/candles?&&&=&=".into(), 400),
        ("/api/v1/candles/latest?exchange=coinbase&symbol=BTC-USD".into(), 400),
        ("/api/v1/candles/latest?exchange=coinbase&symbol=BTC-USD&interval=1w".into(), 400),
        ("/api/v1/book?exchange=coinbase".into(), 400),
        ("/api/v1/book?exchange=coinbase&symbol=BTC-USD&depth=0".into(), 400),
        ("/api/v1/book?exchange=coinbase&symbol=BTC-USD&depth=ten".into(), 400),
        ("/api/v1/book?exchange=coinbase&symbol=NOPE-USD".into(), 404),
        ("/api/v1/stats?symbol=BTC-USD".into(), 400),
        ("/api/v1/stats?exchange=COINBASE&symbol=BTC-USD&extra=1".into(), 400),
        ("/api/v1/stats?exchange=binance&symbol=BTC-USD".into(), 404),
        ("/api/v1/products?exchange=nasdaq".into(), 400),
        ("/api/v1/nothing".into(), 404),
        ("/api/v2/candles".into(), 404),
        ("/".into(), 404),
    ];
    for (target, want) in &cases {
        let (status, body) = s.raw("GET", target);
        assert_eq!(status, *want, "GET {} -> {status}: {body}", &target[..target.len().min(120)]);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {target}: not JSON ({e}): {body}"));
        assert!(json["error"]["code"].is_string() && json["error"]["message"].is_string(), "GET {target}: {json}");
    }
    // the messages say what was wrong
    let (_, body) = s.raw("GET", &format!("/api/v1/candles?{ok}&interval=2m").replace("interval=1m&", ""));
    assert!(body.contains("1s, 1m, 5m, 15m, 1h, 6h, 1d"), "unknown interval lists the valid ones: {body}");
    let (_, body) = s.raw("GET", "/api/v1/candles?exchange=coinbase&symbol=BTC-USD");
    assert!(body.contains("interval"), "missing parameter is named: {body}");
    // wrong methods
    for method in ["POST", "DELETE", "PUT"] {
        let (status, _) = s.raw(method, "/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval=1m");
        assert_eq!(status, 405, "{method}");
    }
    // requests that are not even valid HTTP targets are refused by the server with a 4xx
    for target in ["/api/v1/candles?symbol=a b", "/api/v1/\u{7f}"] {
        let (status, _) = s.raw("GET", target);
        assert!((400..500).contains(&status), "{target:?} -> {status}");
    }
    // limits above the cap are capped, not refused
    let capped = s.get(&format!("/api/v1/candles?{ok}&limit=50000"));
    assert!(capped["candles"].as_array().unwrap().len() <= 10_000);
}
