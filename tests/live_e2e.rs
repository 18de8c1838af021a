//! End-to-end tests of live operation: the real `marketpipe` binary as
//! simulator and as pipeline, over loopback sockets.
//!
//! The simulator's `--write-capture` file is the market's complete history,
//! from before the pipeline connected (it warm-starts from REST) through
//! dropped and stalled connections (backfilled), duplicated frames (counted
//! once) and malformed ones (skipped): the live candles must equal a replay
//! of that file, and a replay of the pipeline's own raw archive must equal
//! them too.

mod support;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use support::{bin, dump, last_word, run, word_after, Proc};

/// Candle columns that must match exactly (`final` and `revision` depend on
/// when the wall clock closed a window, so they are left out).
const CANDLE_VALUES: &str = "exchange, symbol, interval, start_ns, open, high, low, close, volume, quote_volume, vwap, \
     trades, buy_trades, sell_trades, buy_volume, sell_volume, first_trade_id, last_trade_id";

const INTERVALS: &str = "1s,1m,1h,1d";

/// GET over plain HTTP/1.1, returning the body of a 200.
fn http_get(base: &str, path: &str) -> String {
    let (status, body) = http(base, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// GET over plain HTTP/1.1, returning status and body.
fn http(base: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, resp.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
}

/// The value of an unlabelled Prometheus counter, 0 if absent; for a
/// labelled one, the sum over its series.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Every candle's values, sorted by key.
fn candles(data_dir: &Path) -> Vec<Vec<String>> {
    candles_where(data_dir, "1")
}

/// The values of the candles matching the SQL `filter`, sorted by key.
fn candles_where(data_dir: &Path, filter: &str) -> Vec<Vec<String>> {
    let db = rusqlite::Connection::open(data_dir.join("marketpipe.db")).expect("store opens");
    let sql = format!("SELECT {CANDLE_VALUES} FROM candles WHERE {filter} ORDER BY exchange, symbol, interval, start_ns");
    let mut stmt = db.prepare(&sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |row| (0..n).map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}"))).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Archive segments under `root`, in name order (exchange, date, hour, n).
fn segments(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut out);
    // `HH-<n>`: numeric order within an hour.
    out.sort_by_key(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let n: u64 = name.split(['-', '.']).nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
        (p.parent().unwrap().to_owned(), name.split('-').next().unwrap_or("").to_owned(), n)
    });
    out
}

fn replay(captures: &[PathBuf], data_dir: &Path) {
    run(bin().arg("replay").args(captures).arg("--data-dir").arg(data_dir).args(["--intervals", INTERVALS]));
}

/// Every book's levels and sequence, sorted by key (the state depends on
/// how each run ended, so it is left out).
fn books(data_dir: &Path) -> Vec<Vec<String>> {
    let db = rusqlite::Connection::open(data_dir.join("marketpipe.db")).expect("store opens");
    let mut stmt = db.prepare("SELECT exchange, symbol, sequence, bids, asks FROM books ORDER BY exchange, symbol").unwrap();
    stmt.query_map([], |row| (0..5).map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}"))).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Runs `marketpipe sim --exchange EXCHANGE` with `sim_args` (faults) for a
/// 6 s market, starts `marketpipe run` against it a second later (so it
/// must warm-start from REST) or, with `--wait-for-subscriber` among the
/// args, at once, waits until the distinct trade count has been still for
/// 2 s after `settle_after`, stops both with SIGINT, and checks that the
/// live candles and final books equal a replay of the simulator's capture,
/// and that a replay of the pipeline's own archive equals them too.
/// Returns the run's last `/metrics`.
fn run_against_the_simulator(exchange: &str, seed: u64, sim_args: &[&str], settle_after: Duration) -> String {
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.jsonl");
    let live_dir = dir.path().join("live");

    let mut sim = Proc::spawn(
        bin()
            .args(["sim", "--exchange", exchange, "--listen", "127.0.0.1:0", "--seed", &seed.to_string(), "--products", "3"])
            .args(["--rate", "300", "--duration", "6s"])
            .args(sim_args)
            .arg("--write-capture")
            .arg(&truth),
    );
    let endpoints = sim.line_with("marketpipe sim:");
    let rest = word_after(&endpoints, "rest").expect("a REST URL");
    let products = last_word(&sim.line_with("products:"));
    if !sim_args.contains(&"--wait-for-subscriber") {
        // The market is already trading when the pipeline connects.
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut run_cmd = bin();
    run_cmd.args(["run", "--exchange", exchange, "--products", &products, "--rest-url", &rest]);
    // KuCoin's websocket endpoint comes from its bullet.
    if let Some(ws) = word_after(&endpoints, "websocket") {
        run_cmd.args(["--ws-url", &ws]);
    }
    let mut live = Proc::spawn(run_cmd.args(["--listen", "127.0.0.1:0", "--intervals", INTERVALS, "--data-dir"]).arg(&live_dir));
    let api = last_word(&live.line_with("listening on"));

    let started = Instant::now();
    let (mut last, mut still_since) = (0, Instant::now());
    let metrics = loop {
        std::thread::sleep(Duration::from_millis(250));
        let text = http_get(&api, "/metrics");
        let distinct = metric(&text, "marketpipe_trades_total") - metric(&text, "marketpipe_duplicate_trades_total");
        if distinct != last {
            (last, still_since) = (distinct, Instant::now());
        }
        if started.elapsed() > settle_after && still_since.elapsed() > Duration::from_secs(2) {
            break text;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "trades never settled:\n{text}");
    };
    assert!(metric(&metrics, "marketpipe_receive_to_candle_seconds_count") > 0, "{metrics}");
    // While running, the API serves live state.
    let tickers = http_get(&api, &format!("/api/v1/tickers?exchange={exchange}"));
    assert!(tickers.contains(r#""last_price":""#), "{tickers}");

    let (status, took) = live.interrupt();
    assert!(status.success(), "run exits 0 on SIGINT: {status}");
    assert!(took < Duration::from_secs(5), "run took {took:?} to stop");
    let (status, _) = sim.interrupt();
    assert!(status.success(), "sim exits 0 on SIGINT: {status}");

    let live_candles = candles(&live_dir);
    assert!(live_candles.len() > 20, "{} candles", live_candles.len());
    let truth_dir = dir.path().join("truth");
    replay(std::slice::from_ref(&truth), &truth_dir);
    assert_eq!(live_candles, candles(&truth_dir), "live candles differ from the simulated market's own history");
    let live_books = books(&live_dir);
    assert_eq!(live_books.len(), 3);
    assert_eq!(live_books, books(&truth_dir), "final books differ from the simulated market's");

    let archive = segments(&live_dir.join("archive"));
    assert!(!archive.is_empty(), "the archive has segments");
    assert!(archive.iter().all(|p| p.to_string_lossy().ends_with(".jsonl.zst")), "{archive:?}");
    let replayed_dir = dir.path().join("replayed");
    replay(&archive, &replayed_dir);
    assert_eq!(live_candles, candles(&replayed_dir), "a replay of the archive gives the candles the live run stored");
    assert_eq!(live_books, books(&replayed_dir), "a replay of the archive gives the books the live run stored");
    metrics
}

#[test]
fn dropped_connections_duplicates_and_garbage_lose_no_trade_and_count_none_twice() {
    let metrics = run_against_the_simulator(
        "coinbase",
        11,
        &["--drop-every", "2s", "--malformed-rate", "0.03", "--duplicate-rate", "0.03"],
        // A reconnect after the market stopped shows any last hole.
        Duration::from_secs(9),
    );
    assert_faults_counted(&metrics);
}

/// What the drop, malformed and duplicate faults must leave in the metrics
/// of a run that warm-started and backfilled.
fn assert_faults_counted(metrics: &str) {
    assert!(metric(metrics, "marketpipe_ws_reconnects_total") >= 2, "{metrics}");
    assert!(metric(metrics, "marketpipe_frames_skipped_total") > 0, "malformed frames are counted: {metrics}");
    assert!(metric(metrics, "marketpipe_duplicate_trades_total") > 0, "duplicates are counted: {metrics}");
    assert!(metric(metrics, "marketpipe_backfill_gaps_completed_total") > 0, "the warm start at least: {metrics}");
    assert!(metric(metrics, "marketpipe_backfilled_trades_total") > 0, "{metrics}");
}

/// Binance over its own protocol: SUBSCRIBE acked by id, books from REST
/// depth snapshots joined to the diff stream (again after every drop that
/// broke the update ids), gaps and the warm start paged forwards with
/// `aggTrades?fromId=`.
#[test]
fn binance_drops_duplicates_and_garbage_lose_no_trade_and_books_resync() {
    let metrics = run_against_the_simulator(
        "binance",
        13,
        &["--drop-every", "2s", "--malformed-rate", "0.03", "--duplicate-rate", "0.03"],
        Duration::from_secs(9),
    );
    assert_faults_counted(&metrics);
    assert!(metric(&metrics, "marketpipe_snapshots_fetched_total") >= 3, "a snapshot per book at least: {metrics}");
}

/// KuCoin over its own protocol: a bullet token per connection, welcome,
/// acked topics, pings. Its trade ids cannot be paged, so the pipeline
/// connects before the market starts and a late acknowledgement (the
/// market runs meanwhile) must lose nothing either.
#[test]
fn kucoin_late_acks_duplicates_and_garbage_lose_no_trade() {
    let metrics = run_against_the_simulator(
        "kucoin",
        14,
        &["--wait-for-subscriber", "--ack", "late:300ms", "--malformed-rate", "0.03", "--duplicate-rate", "0.03"],
        Duration::from_secs(7),
    );
    assert!(metric(&metrics, "marketpipe_frames_skipped_total") > 0, "malformed frames are counted: {metrics}");
    assert!(metric(&metrics, "marketpipe_duplicate_trades_total") > 0, "duplicates are counted: {metrics}");
    assert!(metric(&metrics, "marketpipe_snapshots_fetched_total") >= 3, "a snapshot per book at least: {metrics}");
    assert_eq!(metric(&metrics, "marketpipe_ws_reconnects_total"), 0, "{metrics}");
}

#[test]
fn a_stalled_connection_is_replaced_and_its_hole_backfilled() {
    // Each connection goes silent 1.5 s after opening without closing; the
    // watchdog (5 s) replaces it, and the trades it missed come from REST,
    // found from the next connection's `last_match`.
    let metrics = run_against_the_simulator("coinbase", 12, &["--stall-after", "1500ms"], Duration::from_secs(10));
    assert!(metric(&metrics, "marketpipe_ws_watchdog_trips_total") >= 1, "the stall was detected: {metrics}");
    assert!(metric(&metrics, "marketpipe_trade_gaps_total") >= 1, "{metrics}");
}

#[test]
fn demo_serves_every_exchange_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Proc::spawn(bin().args(["demo", "--listen", "127.0.0.1:0", "--rate", "200", "--data-dir"]).arg(dir.path()));
    let api = last_word(&demo.line_with("listening on"));
    demo.line_with("Ctrl-C");
    // Trades flow into the API while it runs, from every simulated
    // exchange, each over its own protocol.
    let deadline = Instant::now() + Duration::from_secs(20);
    for (exchange, symbol) in [("coinbase", "BTC-USD"), ("binance", "BTC-USDT"), ("kucoin", "BTC-USDT")] {
        let book = loop {
            // 404 until the product's first frame is stored.
            let (_, stats) = http(&api, &format!("/api/v1/stats?exchange={exchange}&symbol={symbol}"));
            if stats.contains(r#""book_state":"live""#) && stats.contains(r#""last_price":""#) {
                break http_get(&api, &format!("/api/v1/book?exchange={exchange}&symbol={symbol}&depth=5"));
            }
            assert!(Instant::now() < deadline, "no live {exchange} book: {stats}");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(book.contains(r#""state":"live""#), "{book}");
    }
    loop {
        let (status, latest) = http(&api, "/api/v1/candles/latest?exchange=coinbase-advanced&symbol=BTC-USD&interval=1m");
        if status == 200 && latest.contains(r#""trades":"#) {
            break;
        }
        assert!(Instant::now() < deadline, "no polled candle: {latest}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SIGTERM (what a service manager sends) here; the other tests send SIGINT.
    let (status, took) = demo.signal("-TERM");
    assert!(status.success(), "demo exits 0 on SIGTERM: {status}");
    assert!(took < Duration::from_secs(5), "demo took {took:?} to stop");
    // Everything was flushed: the store has candles and the archive a complete segment.
    assert!(!candles(dir.path()).is_empty());
    let archive = segments(&dir.path().join("archive"));
    assert_eq!(archive.len(), 4, "one segment per exchange: {archive:?}");
    let summary = run(bin().arg("replay").args(&archive).arg("--data-dir").arg(dir.path().join("replayed")));
    assert!(!summary.contains("read error"), "{summary}");
    // Every exchange's archive, replayed by one thread and split by
    // product between three: the same tables.
    let threads = |n: &str| {
        let data = dir.path().join(format!("replayed-{n}"));
        run(bin().arg("replay").args(&archive).arg("--data-dir").arg(&data).args(["--threads", n]));
        dump(&data)
    };
    assert!(threads("1") == threads("3"), "a split replay of the archive gave other tables");
}

/// Coinbase Advanced Trade polling: every trade of the simulated market
/// arrives through the public market-trades endpoint (overlapping polls
/// counted once), and its candles equal those of the same trades taken from
/// the Exchange protocol, under the `coinbase-advanced` exchange.
#[test]
fn advanced_trade_polling_yields_the_markets_candles() {
    let dir = tempfile::tempdir().unwrap();
    let truth = dir.path().join("truth.jsonl");
    let live_dir = dir.path().join("live");
    // A slow 3 s market: the first poll's 100 trades reach back to its start.
    let mut sim = Proc::spawn(
        bin()
            .args(["sim", "--listen", "127.0.0.1:0", "--seed", "21", "--products", "2", "--rate", "60", "--duration", "3s"])
            .arg("--write-capture")
            .arg(&truth),
    );
    let endpoints = sim.line_with("websocket");
    let rest = endpoints.split_whitespace().nth(5).expect("rest url").to_owned();
    let products = last_word(&sim.line_with("products:"));
    let mut live = Proc::spawn(
        bin()
            .args(["run", "--exchange", "coinbase-advanced", "--products", &products, "--rest-url", &rest])
            .args(["--listen", "127.0.0.1:0", "--intervals", INTERVALS, "--data-dir"])
            .arg(&live_dir),
    );
    let api = last_word(&live.line_with("listening on"));
    // The market ends after 3 s; two more polls see that nothing is left.
    std::thread::sleep(Duration::from_secs(6));
    let metrics = http_get(&api, "/metrics");
    assert!(metric(&metrics, "marketpipe_poll_pages_total") >= 6, "{metrics}");
    assert!(metric(&metrics, "marketpipe_duplicate_trades_total") > 0, "overlapping polls repeat trades: {metrics}");
    let (status, took) = live.interrupt();
    assert!(status.success() && took < Duration::from_secs(5), "{status} after {took:?}");
    let (status, _) = sim.interrupt();
    assert!(status.success(), "{status}");

    let truth_dir = dir.path().join("truth");
    replay(std::slice::from_ref(&truth), &truth_dir);
    let polled = candles_where(&live_dir, "exchange = 'coinbase-advanced'");
    let expected = candles_where(&truth_dir, "exchange = 'coinbase'");
    assert!(!expected.is_empty());
    let relabel = |rows: Vec<Vec<String>>| rows.into_iter().map(|r| r[1..].to_vec()).collect::<Vec<_>>();
    assert_eq!(relabel(polled), relabel(expected), "polled candles differ from the market's own");
}
