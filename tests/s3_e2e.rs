//! End-to-end tests of the S3 archive with the real binary and a real S3
//! server (moto) on loopback: `replay s3://...` gives the candles a replay
//! of the same segments from disk gives, and `demo --archive s3://...`
//! uploads its whole archive by the time it exits.
//!
//! They run when `MARKETPIPE_TEST_S3_ENDPOINT` names the server
//! (`scripts/test.sh` starts one); without it they fail, saying how to start one.

#![cfg(feature = "s3")]

mod support;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use marketpipe_archive_s3::{object_store::aws::AmazonS3Builder, scan_spool, S3Archive, S3Options, S3Url, Uploader, UploaderConfig};
use marketpipe_capture::{parse_record, ArchiveConfig, ArchiveWriter, CaptureReader, Line, OutRecord, RecordKind};
use support::{bin, bin_s3, create_bucket, run};

/// Candle columns compared (`final` and `revision` depend on when the wall
/// clock closed a window).
const CANDLE_VALUES: &str = "exchange, symbol, interval, start_ns, open, high, low, close, volume, quote_volume, vwap, \
     trades, buy_trades, sell_trades, buy_volume, sell_volume, first_trade_id, last_trade_id";

fn endpoint() -> Option<String> {
    match std::env::var("MARKETPIPE_TEST_S3_ENDPOINT") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        // These tests need a real S3 server and fail without one rather
        // than pass without testing anything.
        _ => panic!(
            "MARKETPIPE_TEST_S3_ENDPOINT is not set: run the tests through scripts/test.sh, which starts moto, \
             or `scripts/services/s3.sh start` and `eval \"$(scripts/services/s3.sh env)\"`"
        ),
    }
}

fn client(endpoint: &str, url: &str) -> S3Archive {
    let builder = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("marketpipe-test")
        .with_secret_access_key("marketpipe-test");
    S3Archive::with_builder(&S3Url::parse(url).unwrap(), builder, S3Options::default()).unwrap()
}

fn candles(data_dir: &Path) -> Vec<Vec<String>> {
    query(data_dir, &format!("SELECT {CANDLE_VALUES} FROM candles ORDER BY exchange, symbol, interval, start_ns"))
}

fn books(data_dir: &Path) -> Vec<Vec<String>> {
    query(data_dir, "SELECT exchange, symbol, sequence, bids, asks FROM books ORDER BY exchange, symbol")
}

fn query(data_dir: &Path, sql: &str) -> Vec<Vec<String>> {
    let db = rusqlite::Connection::open(data_dir.join("marketpipe.db")).expect("store opens");
    let mut stmt = db.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |row| (0..n).map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}"))).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `marketpipe replay ARGS --data-dir DIR`, returning the JSON summary.
fn replay(mut cmd: Command, args: &[&str], data_dir: &Path) -> serde_json::Value {
    let summary = data_dir.with_extension("summary.json");
    run(cmd.arg("replay").args(args).arg("--data-dir").arg(data_dir).args(["--intervals", "1s,1m,1h,1d", "--summary-json"]).arg(&summary));
    serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap()
}

/// Splits the repository's sample capture into archive segments under
/// `root` (small ones, so one hour holds more than ten: `HH-10` must
/// replay after `HH-9`, not after `HH-1`).
fn split_sample(root: &Path) {
    let mut reader = CaptureReader::open(&support::repo().join("samples/coinbase-sample.jsonl")).unwrap();
    let mut w = ArchiveWriter::new(root.to_path_buf(), ArchiveConfig { max_segment_bytes: 48 << 10, ..ArchiveConfig::default() });
    while let Some(line) = reader.next_line().unwrap() {
        let Line::Data(line) = line else { continue };
        // Lines that are not records cannot be archived; both replays below
        // read the same segments, so leaving them out changes nothing.
        let Ok(rec) = parse_record(line) else { continue };
        let payload = rec.payload();
        let data = payload.as_deref().unwrap_or("");
        let url = rec.url.as_deref().unwrap_or("");
        let conn = rec.conn.unwrap_or(0);
        let out = match rec.kind {
            RecordKind::Open => OutRecord::Open { conn, url },
            RecordKind::Ws => OutRecord::Ws { conn, data },
            RecordKind::WsOut => OutRecord::WsOut { conn, data },
            RecordKind::Rest => OutRecord::Rest { url, data },
            RecordKind::Close => OutRecord::Close { conn },
        };
        w.write(rec.recv, &rec.exchange, out).unwrap();
    }
    w.close().unwrap();
}

#[test]
fn replay_from_s3_gives_the_candles_of_the_same_segments_on_disk() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = create_bucket(&endpoint, "sample");
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    split_sample(&spool);
    let local: Vec<PathBuf> = scan_spool(&spool).unwrap().into_iter().map(|s| s.path).collect();
    assert!(local.len() > 10, "{} segments", local.len());
    // The local copy to compare with: the uploader empties the spool.
    let copy = dir.path().join("local");
    let local_copies: Vec<PathBuf> = local
        .iter()
        .map(|p| {
            let to = copy.join(p.strip_prefix(&spool).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(p, &to).unwrap();
            to
        })
        .collect();

    // Upload through the uploader, as a restarted pipeline would.
    let url = format!("s3://{bucket}/archive/eu");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let uploader = Uploader::start(client(&endpoint, &url), spool.clone(), UploaderConfig::default()).await.unwrap();
        let report = uploader.shutdown(Duration::from_secs(30)).await;
        assert!(report.remaining.is_empty(), "{report:?}");
    });
    assert!(scan_spool(&spool).unwrap().is_empty());

    let args: Vec<&str> = local_copies.iter().map(|p| p.to_str().unwrap()).collect();
    let from_disk = replay(bin(), &args, &dir.path().join("from-disk"));
    let from_s3 = replay(bin_s3(&endpoint), &[&url], &dir.path().join("from-s3"));
    // Every segment, in key order: exchange, hour, then <n> by value.
    let names: Vec<String> = from_s3["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_owned()).collect();
    let expected: Vec<String> =
        local.iter().map(|p| format!("s3://{bucket}/archive/eu/{}", p.strip_prefix(&spool).unwrap().to_str().unwrap())).collect();
    assert_eq!(names, expected);
    assert!(names[10].ends_with("-10.jsonl.zst"), "{names:?}");
    assert_eq!(from_s3["records"], from_disk["records"]);
    assert_eq!(from_s3["engine"], from_disk["engine"]);
    assert_eq!(from_s3["read_errors"], serde_json::json!([]));
    let replayed = candles(&dir.path().join("from-s3"));
    assert!(replayed.len() > 100, "{} candles", replayed.len());
    assert_eq!(replayed, candles(&dir.path().join("from-disk")), "the same candles from S3 as from disk");
    assert_eq!(books(&dir.path().join("from-s3")), books(&dir.path().join("from-disk")));

    // One segment by its key, and a prefix with nothing under it.
    let one = replay(bin_s3(&endpoint), &[&expected[3]], &dir.path().join("one"));
    assert_eq!(one["files"], serde_json::json!([expected[3]]));
    let out = bin_s3(&endpoint)
        .arg("replay")
        .arg(format!("s3://{bucket}/nothing"))
        .arg("--data-dir")
        .arg(dir.path().join("none"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no capture segments"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn demo_uploads_its_archive_by_exit_and_replay_from_s3_gives_its_candles() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = create_bucket(&endpoint, "demo");
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let url = format!("s3://{bucket}/demo");
    let mut demo = bin_s3(&endpoint)
        .args(["demo", "--listen", "127.0.0.1:0", "--rate", "200", "--archive", &url, "--data-dir"])
        .arg(&live)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("demo starts");
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("Ctrl-C"))), "demo came up");
    // A few seconds of three markets.
    std::thread::sleep(Duration::from_secs(3));
    let started = Instant::now();
    run(Command::new("kill").args(["-INT", &demo.id().to_string()]));
    let status = demo.wait().unwrap();
    let took = started.elapsed();
    assert!(status.success(), "demo exits 0: {status}");
    assert!(took < Duration::from_secs(5), "demo took {took:?} to stop, its final upload included");

    // Everything went up and left the spool.
    assert!(scan_spool(&live.join("archive")).unwrap().is_empty(), "nothing left in the spool");
    let listed = replay(bin_s3(&endpoint), &[&url], &dir.path().join("replayed"));
    let files = listed["files"].as_array().unwrap();
    assert_eq!(files.len(), 4, "one segment per exchange: {files:?}");
    for exchange in ["binance", "coinbase", "coinbase-advanced", "kucoin"] {
        let prefix = format!("{url}/{exchange}/");
        assert!(files.iter().any(|f| f.as_str().unwrap().starts_with(&prefix)), "{exchange}: {files:?}");
    }
    assert_eq!(listed["read_errors"], serde_json::json!([]));
    let live_candles = query(
        &live,
        &format!("SELECT {CANDLE_VALUES} FROM candles WHERE interval IN ('1m', '1h', '1d') ORDER BY exchange, symbol, interval, start_ns"),
    );
    let replayed = query(
        &dir.path().join("replayed"),
        &format!("SELECT {CANDLE_VALUES} FROM candles WHERE interval IN ('1m', '1h', '1d') ORDER BY exchange, symbol, interval, start_ns"),
    );
    assert!(!live_candles.is_empty());
    assert_eq!(replayed, live_candles, "a replay of the S3 archive gives the candles the demo stored");
}
