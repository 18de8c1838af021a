//! The malformed-input battery: every bad request gets a 4xx with the
//! API's JSON error shape and a message that says what was wrong; none gets
//! a 5xx. Table-driven over reqwest, plus raw bytes over TCP for what an
//! HTTP client will not send, plus a seeded fuzz of query strings.

mod support;

use support::{error_of, raw, Server};

const C: &str = "/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval=1m";
const B: &str = "/api/v1/book?exchange=coinbase&symbol=BTC-USD";

/// (path and query, status, code, fragments the message must contain).
fn cases() -> Vec<(String, u16, &'static str, Vec<String>)> {
    let s = |x: &str| x.to_owned();
    let long_symbol = "A".repeat(10_000);
    let long_key = "k".repeat(5_000);
    let mut v: Vec<(String, u16, &'static str, Vec<String>)> = vec![
        // Missing parameters, all named at once.
        (s("/api/v1/candles"), 400, "missing_parameter", vec![s("exchange, symbol, interval")]),
        (s("/api/v1/candles?&&&"), 400, "missing_parameter", vec![s("exchange, symbol, interval")]),
        (s("/api/v1/candles?exchange=coinbase&symbol=BTC-USD"), 400, "missing_parameter", vec![s("parameter interval")]),
        (s("/api/v1/book?symbol=BTC-USD"), 400, "missing_parameter", vec![s("parameter exchange")]),
        (s("/api/v1/stats"), 400, "missing_parameter", vec![s("exchange, symbol")]),
        (s("/api/v1/candles/latest?exchange=coinbase&interval=1m"), 400, "missing_parameter", vec![s("parameter symbol")]),
        // Unknown exchanges and intervals list the valid ones.
        (
            s("/api/v1/candles?exchange=kraken&symbol=BTC-USD&interval=1m"),
            400,
            "invalid_parameter",
            vec![s("exchange"), s("\"kraken\""), s("coinbase, binance, kucoin, coinbase-advanced")],
        ),
        (s("/api/v1/products?exchange=kraken"), 400, "invalid_parameter", vec![s("\"kraken\""), s("coinbase, binance")]),
        (s("/api/v1/stats?exchange=coinbase%00&symbol=BTC-USD"), 400, "invalid_parameter", vec![s("exchange"), s("\\0")]),
        (
            s("/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval=2m"),
            400,
            "invalid_parameter",
            vec![s("\"2m\""), s("1s, 1m, 5m, 15m, 1h, 6h, 1d")],
        ),
        (s("/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval=1M"), 400, "invalid_parameter", vec![s("\"1M\"")]),
        (s("/api/v1/candles/latest?exchange=coinbase&symbol=BTC-USD&interval=60"), 400, "invalid_parameter", vec![s("interval")]),
        (s("/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval="), 400, "empty_parameter", vec![s("interval")]),
        // Symbols.
        (s("/api/v1/book?exchange=coinbase&symbol=BTC/USD"), 400, "invalid_parameter", vec![s("symbol"), s("BASE-QUOTE")]),
        (s("/api/v1/book?exchange=coinbase&symbol=BTC%20USD"), 400, "invalid_parameter", vec![s("symbol")]),
        (s("/api/v1/book?exchange=coinbase&symbol=%F0%9F%98%80"), 400, "invalid_parameter", vec![s("symbol")]),
        (format!("/api/v1/book?exchange=coinbase&symbol={}", "A".repeat(65)), 400, "invalid_parameter", vec![s("at most 64")]),
        (format!("/api/v1/book?exchange=coinbase&symbol={long_symbol}"), 400, "value_too_long", vec![s("symbol"), s("10000 bytes")]),
        // Times.
        (format!("{C}&start=2026-13-01T00:00:00Z"), 400, "invalid_parameter", vec![s("start"), s("out of range")]),
        (format!("{C}&start=2026-02-30T00:00:00Z"), 400, "invalid_parameter", vec![s("start"), s("out of range")]),
        (format!("{C}&end=2026-01-01T24:00:00Z"), 400, "invalid_parameter", vec![s("end"), s("out of range")]),
        (format!("{C}&start=yesterday"), 400, "invalid_parameter", vec![s("start"), s("not a time"), s("RFC 3339")]),
        (format!("{C}&end=1767225600."), 400, "invalid_parameter", vec![s("end"), s("not a time")]),
        (format!("{C}&start=.5"), 400, "invalid_parameter", vec![s("not a time")]),
        (format!("{C}&start=1e9"), 400, "invalid_parameter", vec![s("not a time")]),
        (format!("{C}&start=-5"), 400, "invalid_parameter", vec![s("not a time")]),
        (format!("{C}&start=2026-01-01T00:00:00"), 400, "invalid_parameter", vec![s("not a time")]),
        (format!("{C}&start=2026-01-01"), 400, "invalid_parameter", vec![s("not a time")]),
        (format!("{C}&start=99999999999999999999"), 400, "invalid_parameter", vec![s("out of range")]),
        (format!("{C}&start=9300000000"), 400, "invalid_parameter", vec![s("out of range")]),
        (format!("{C}&start=0001-01-01T00:00:00Z"), 400, "invalid_parameter", vec![s("out of range")]),
        (format!("{C}&end=1969-12-31T23:59:59Z"), 400, "invalid_parameter", vec![s("end"), s("out of range")]),
        // Ranges.
        (format!("{C}&start=1767225600&end=2026-01-01T00:00:00Z"), 400, "invalid_range", vec![s("must be before end")]),
        (format!("{C}&start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z"), 400, "invalid_range", vec![s("start")]),
        // Counts.
        (format!("{C}&limit=0"), 400, "invalid_parameter", vec![s("limit"), s("at least 1")]),
        (format!("{C}&limit=-1"), 400, "invalid_parameter", vec![s("limit"), s("not a positive integer")]),
        (format!("{C}&limit=abc"), 400, "invalid_parameter", vec![s("not a positive integer")]),
        (format!("{C}&limit=1.5"), 400, "invalid_parameter", vec![s("not a positive integer")]),
        (format!("{C}&limit=1e3"), 400, "invalid_parameter", vec![s("not a positive integer")]),
        (format!("{C}&limit=%2B5"), 400, "invalid_parameter", vec![s("not a positive integer")]),
        (format!("{C}&limit=%205"), 400, "invalid_parameter", vec![s("not a positive integer")]),
        (format!("{C}&limit=99999999999999999999"), 400, "invalid_parameter", vec![s("limit"), s("too large")]),
        (format!("{B}&depth=0"), 400, "invalid_parameter", vec![s("depth"), s("at least 1")]),
        (format!("{B}&depth=abc"), 400, "invalid_parameter", vec![s("depth")]),
        (format!("{B}&depth=-3"), 400, "invalid_parameter", vec![s("depth")]),
        (format!("{B}&depth=99999999999999999999"), 400, "invalid_parameter", vec![s("depth"), s("too large")]),
        // Flags.
        (format!("{C}&fill=yes"), 400, "invalid_parameter", vec![s("fill"), s("true or false")]),
        (format!("{C}&fill="), 400, "empty_parameter", vec![s("fill")]),
        (format!("{C}&fill"), 400, "empty_parameter", vec![s("fill")]),
        // Repeated and unknown parameters.
        (format!("{C}&limit=1&limit=2"), 400, "duplicate_parameter", vec![s("limit")]),
        (format!("{C}&exchange=coinbase"), 400, "duplicate_parameter", vec![s("exchange")]),
        (format!("{C}&foo=bar"), 400, "unknown_parameter", vec![s("\"foo\""), s("exchange, symbol, interval, start, end, limit, fill")]),
        (s("/api/v1/candles?Exchange=coinbase"), 400, "unknown_parameter", vec![s("\"Exchange\"")]),
        (s("/api/v1/candles?=coinbase"), 400, "unknown_parameter", vec![s("\"\"")]),
        (format!("{C}&{long_key}=1"), 400, "unknown_parameter", vec![s("kkkk")]),
        (format!("{B}&limit=5"), 400, "unknown_parameter", vec![s("exchange, symbol, depth")]),
        (s("/api/v1/stats?exchange=coinbase&symbol=BTC-USD&depth=5"), 400, "unknown_parameter", vec![s("accepts exchange, symbol")]),
        (s("/api/v1/products?symbol=BTC-USD"), 400, "unknown_parameter", vec![s("accepts exchange")]),
        (s("/api/v1/health?verbose=1"), 400, "unknown_parameter", vec![s("takes no parameters")]),
        (s("/api/v1/candles/latest?exchange=coinbase&symbol=BTC-USD&interval=1m&start=0"), 400, "unknown_parameter", vec![s("\"start\"")]),
        // Encoding.
        (format!("{C}&start=%ZZ"), 400, "bad_encoding", vec![s("start"), s("percent-encoding")]),
        (format!("{C}&start=%FF"), 400, "bad_encoding", vec![s("start"), s("UTF-8")]),
        (format!("{C}&start=%E2%82"), 400, "bad_encoding", vec![s("UTF-8")]),
        (format!("{C}&start=%"), 400, "bad_encoding", vec![s("percent-encoding")]),
        (format!("{C}&start=abc%4"), 400, "bad_encoding", vec![s("percent-encoding")]),
        (s("/api/v1/candles?%ZZ=1"), 400, "bad_encoding", vec![s("parameter name")]),
        // Unknown products: 404, not 400.
        (s("/api/v1/candles?exchange=coinbase&symbol=DOGE-USD&interval=1m"), 404, "unknown_product", vec![s("DOGE-USD"), s("coinbase")]),
        (s("/api/v1/stats?exchange=binance&symbol=BTC-USD"), 404, "unknown_product", vec![s("binance")]),
        (s("/api/v1/book?exchange=kucoin&symbol=BCHSV-USDT"), 404, "unknown_product", vec![s("BCHSV-USDT")]),
        // Unknown paths.
        (s("/api/v1/nope"), 404, "not_found", vec![s("\"/api/v1/nope\""), s("/api/v1/candles")]),
        (s("/api/v2/candles"), 404, "not_found", vec![s("/api/v2/candles")]),
        (s("/api/v1/candles/"), 404, "not_found", vec![]),
        (s("/api/v1/candles/latest/extra"), 404, "not_found", vec![]),
        (s("/api/v1/%ZZ"), 404, "not_found", vec![]),
        (s("/"), 404, "not_found", vec![]),
    ];
    v.shrink_to_fit();
    v
}

#[tokio::test]
async fn malformed_queries_get_a_clear_4xx() {
    let (server, _) = Server::fixture().await;
    let cases = cases();
    assert!(cases.len() >= 40);
    for (path, status, code, fragments) in cases {
        let r = server.get(&path).await;
        let shown = path.get(..120).unwrap_or(&path);
        assert_eq!(r.status, status, "{shown}: {}", r.json);
        assert_eq!(r.content_type, "application/json", "{shown}");
        let (got, message) = error_of(&r);
        assert_eq!(got, code, "{shown}: {message}");
        for f in fragments {
            assert!(message.contains(&f), "{shown}: message {message:?} lacks {f:?}");
        }
        assert!(message.len() < 600, "{shown}: message not bounded: {} bytes", message.len());
    }
}

#[tokio::test]
async fn wrong_methods_get_a_json_405() {
    let (server, _) = Server::fixture().await;
    use reqwest::Method;
    for (method, path) in [
        (Method::POST, "/api/v1/candles"),
        (Method::DELETE, "/api/v1/book?exchange=coinbase&symbol=BTC-USD"),
        (Method::PUT, "/api/v1/health"),
        (Method::PATCH, "/api/v1/products"),
        (Method::OPTIONS, "/api/v1/stats"),
        (Method::POST, "/api/v1/candles/latest"),
    ] {
        let r = server.request(method.clone(), path).await;
        assert_eq!(r.status, 405, "{method} {path}");
        let (code, message) = error_of(&r);
        assert_eq!(code, "method_not_allowed");
        assert!(message.contains(method.as_str()) && message.contains("use GET"), "{message}");
        assert!(r.allow.as_deref().unwrap_or("").contains("GET"), "{method} {path}: Allow {:?}", r.allow);
    }
    let r = server.request(Method::POST, "/api/v1/nope").await;
    assert_eq!((r.status, error_of(&r).0.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn raw_garbage_never_gets_a_5xx() {
    let (server, _) = Server::fixture().await;
    let req = |target: &[u8]| {
        let mut r = b"GET ".to_vec();
        r.extend_from_slice(target);
        r.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        r
    };
    let huge = [b"/api/v1/candles?symbol=".as_slice(), &vec![b'A'; 1 << 20]].concat();
    let garbage: Vec<Vec<u8>> = vec![
        req(b"/api/v1/candles?exchange=\xff\xfe&symbol=BTC-USD&interval=1m"),
        req(b"/api/v1/candles?exchange=co\x01inbase"),
        req(b"/api/v1/candles?exchange=coin base"),
        req(b"/api/v1/candles?symbol=\"<>{}|\\^`"),
        req(b"/api/v1/\xc3\x28"),
        // Percent-escaped garbage does reach the API, and gets its JSON 400.
        req(b"/api/v1/candles?exchange=%FF%FE&symbol=BTC-USD&interval=1m"),
        req(&huge),
        b"\x00\x01\x02garbage\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET /api/v1/candles HTTP/9.9\r\n\r\n".to_vec(),
    ];
    for request in garbage {
        let shown = String::from_utf8_lossy(request.get(..80).unwrap_or(&request)).into_owned();
        let (status, body) = raw(server.addr, &request).await.unwrap_or_else(|| panic!("{shown:?}: no reply"));
        assert!((400..500).contains(&status), "{shown:?}: {status} {body}");
        // Most of these die in the HTTP parser (an empty 400 or 431 from
        // hyper); whatever reaches the API is JSON.
        if !body.is_empty() {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{shown:?}: {e}: {body}"));
            assert!(v["error"]["code"].is_string(), "{shown:?}: {body}");
        }
    }
    // And a well-formed raw request still works: `+` in an offset is literal.
    let (status, body) =
        raw(server.addr, &req(b"/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval=1m&end=2026-01-01T01:01:00+01:00"))
            .await
            .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"start\":\"2026-01-01T00:00:00Z\"") && !body.contains("00:01:00Z"), "{body}");
}

#[tokio::test]
async fn fuzzed_queries_never_get_a_5xx() {
    let (server, _) = Server::fixture().await;
    let atoms: &[&str] = &[
        "exchange",
        "symbol",
        "interval",
        "start",
        "end",
        "limit",
        "fill",
        "depth",
        "=",
        "=",
        "&",
        "&",
        "%",
        "%2",
        "%ZZ",
        "%FF",
        "%00",
        "%41",
        "+",
        "-",
        ".",
        ":",
        "coinbase",
        "kucoin",
        "BTC-USD",
        "btc-usd",
        "1m",
        "2m",
        "1767225600",
        "0",
        "9",
        "99999999999999999999",
        "2026-01-01T00:00:00Z",
        "T",
        "Z",
        "true",
        "€",
        "é",
        " ",
        "\"",
        "#",
    ];
    let paths = [
        "/api/v1/candles",
        "/api/v1/candles/latest",
        "/api/v1/book",
        "/api/v1/stats",
        "/api/v1/tickers",
        "/api/v1/products",
        "/api/v1/health",
    ];
    // xorshift64*: deterministic, so a failure reproduces.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    };
    let mut by_status = std::collections::BTreeMap::new();
    for _ in 0..400 {
        let path = paths[next(paths.len())];
        let query: String = (0..next(12) + 1).map(|_| atoms[next(atoms.len())]).collect();
        let r = server.get(&format!("{path}?{query}")).await;
        assert!(r.status < 500, "{path}?{query}: {} {}", r.status, r.json);
        if r.status >= 400 {
            error_of(&r);
        }
        *by_status.entry(r.status).or_insert(0) += 1;
    }
    // The fuzz must reach past the parser sometimes, or it proves little.
    assert!(by_status.len() >= 2, "{by_status:?}");

    // Mutations of valid requests get deeper: one to three characters
    // replaced, inserted or deleted.
    let valid = [
        "/api/v1/candles?exchange=coinbase&symbol=BTC-USD&interval=1m&start=2026-01-01T00:00:00Z&end=1767229200&limit=5&fill=true",
        "/api/v1/candles/latest?exchange=kucoin&symbol=BSV-USDT&interval=1m",
        "/api/v1/book?exchange=coinbase&symbol=BTC-USD&depth=2",
        "/api/v1/stats?exchange=binance&symbol=NKN-USDT",
        "/api/v1/tickers?exchange=coinbase&symbol=BTC-USD",
    ];
    let alphabet = b"%&=+-.:0123456789ZTzAaFf ";
    let mut by_status = std::collections::BTreeMap::new();
    for _ in 0..400 {
        let mut bytes = valid[next(valid.len())].as_bytes().to_vec();
        for _ in 0..next(3) + 1 {
            let at = next(bytes.len());
            let c = alphabet[next(alphabet.len())];
            match next(3) {
                0 => bytes[at] = c,
                1 => bytes.insert(at, c),
                _ => {
                    bytes.remove(at);
                }
            }
        }
        let target = String::from_utf8(bytes).unwrap().replace(' ', "%20");
        if !target.starts_with('/') {
            continue;
        }
        let r = server.get(&target).await;
        assert!(r.status < 500, "{target}: {} {}", r.status, r.json);
        if r.status >= 400 {
            error_of(&r);
        }
        *by_status.entry(r.status).or_insert(0) += 1;
    }
    assert!(by_status.len() >= 3, "{by_status:?}");
}
