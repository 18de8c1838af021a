//! The uploader and reader against a real S3 server (moto) over loopback.
//!
//! These run when `MARKETPIPE_TEST_S3_ENDPOINT` names the server
//! (`scripts/test.sh` starts one with `scripts/services/s3.sh` and sets it);
//! without it they fail, saying how to start one. Each test makes its
//! own bucket. The outage test starts and kills a moto of its own, so the
//! shared one stays up for the others.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use marketpipe_archive_s3::{
    object_store::aws::AmazonS3Builder, scan_spool, PutOutcome, S3Archive, S3Options, S3Url, Uploader, UploaderConfig, UploaderStats,
};
use marketpipe_capture::{ArchiveConfig, ArchiveWriter, OutRecord};
use marketpipe_model::Timestamp;

/// The shared test server, or `None` (and a note) to skip.
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

/// A client for `endpoint` with moto's dummy credentials. Built explicitly
/// rather than from the environment: tests run in parallel threads, and
/// process environment is not theirs to change.
fn client(endpoint: &str, url: &S3Url) -> S3Archive {
    let builder = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id("marketpipe-test")
        .with_secret_access_key("marketpipe-test");
    // Short timeouts: everything is on loopback, and the outage test wants
    // refusals to come back fast.
    let options = S3Options { connect_timeout: Duration::from_secs(1), request_timeout: Duration::from_secs(5), max_retries: 1 };
    S3Archive::with_builder(url, builder, options).expect("client builds")
}

/// A bucket name unique to this test process and `name`.
fn bucket(name: &str) -> String {
    format!("mp-{}-{name}", std::process::id())
}

/// Creates `bucket` with a plain HTTP PUT (moto needs no signature for it;
/// object_store has no bucket API, and production buckets are made by
/// their owners, not by marketpipe).
fn create_bucket(endpoint: &str, bucket: &str) {
    let addr = endpoint.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect to moto");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "PUT /{bucket} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 200"), "create bucket {bucket}: {resp}");
}

fn fast_config() -> UploaderConfig {
    UploaderConfig {
        attempt_timeout: Duration::from_secs(5),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(300),
    }
}

/// Polls `cond` until it holds, failing after `limit` with `what`.
async fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

/// Closed segments' bytes by relative path, as read when they closed.
type Closed = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

/// An archive writer over `spool` whose closed segments go to `uploader`,
/// keeping each one's bytes (read when it closed) for later comparison.
fn writer(spool: &Path, uploader: &Uploader, max_segment_bytes: u64) -> (ArchiveWriter, Closed) {
    let closed = Arc::new(Mutex::new(BTreeMap::new()));
    let (seen, hook, root) = (closed.clone(), uploader.closed_hook(), spool.to_path_buf());
    let config = ArchiveConfig { max_segment_bytes, ..ArchiveConfig::default() };
    let w = ArchiveWriter::new(spool.to_path_buf(), config).on_segment_closed(move |p: &Path| {
        let relative = p.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        seen.lock().unwrap().insert(relative, std::fs::read(p).unwrap());
        hook.closed(p);
    });
    (w, closed)
}

fn frame(i: usize) -> String {
    format!(r#"{{"type":"match","trade_id":{i},"pad":"{}"}}"#, "x".repeat(60))
}

/// Keys of every object under the archive's prefix, in segment order.
async fn keys(archive: &S3Archive) -> Vec<String> {
    archive.list_segments().await.unwrap().into_iter().map(|s| s.key).collect()
}

fn stats_of(uploader: &Uploader) -> UploaderStats {
    uploader.stats()
}

#[tokio::test]
async fn closed_segments_are_uploaded_under_their_keys_and_leave_the_spool() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket("keys");
    create_bucket(&endpoint, &bucket);
    let url = S3Url::parse(&format!("s3://{bucket}/prod/eu")).unwrap();
    let archive = client(&endpoint, &url);
    let spool = tempfile::tempdir().unwrap();
    let uploader = Uploader::start(archive.clone(), spool.path().to_path_buf(), fast_config()).await.unwrap();
    let (mut w, closed) = writer(spool.path(), &uploader, 400);

    // Rotations by size (coinbase) and by hour (binance) close segments
    // while both exchanges keep one open.
    let t = ts("2026-01-02T03:59:58Z");
    for i in 0..12 {
        w.write(Timestamp(t.0 + i), "coinbase", OutRecord::Ws { conn: 1, data: &frame(i as usize) }).unwrap();
    }
    w.write(t, "binance", OutRecord::Rest { url: "https://api/depth", data: "{}" }).unwrap();
    w.write(ts("2026-01-02T04:00:00Z"), "binance", OutRecord::Ws { conn: 1, data: "{}" }).unwrap();
    let closed_now = closed.lock().unwrap().len();
    assert!(closed_now >= 3, "{closed_now} segments closed");
    wait_for(Duration::from_secs(20), "the closed segments to be uploaded", || stats_of(&uploader).uploaded == closed_now as u64).await;
    let coinbase_closed = closed.lock().unwrap().keys().filter(|k| k.starts_with("coinbase/")).count();
    // Flushed, so the open segments have bytes on disk (an empty file is a marker).
    w.flush().unwrap();
    let open: Vec<String> = scan_spool(spool.path()).unwrap().into_iter().map(|s| s.relative).collect();
    let expected_open = ["binance/2026/01/02/04-0.jsonl.zst".to_owned(), format!("coinbase/2026/01/02/03-{coinbase_closed}.jsonl.zst")];
    assert_eq!(open, expected_open, "only the open segments stay in the spool");
    assert_eq!(keys(&archive).await.len(), closed_now, "open segments are not uploaded");

    w.close().unwrap();
    let all = closed.lock().unwrap().clone();
    wait_for(Duration::from_secs(20), "every segment to be uploaded", || stats_of(&uploader).uploaded == all.len() as u64).await;
    let expected: Vec<String> = {
        let mut k: Vec<String> = all.keys().map(|r| format!("prod/eu/{r}")).collect();
        k.sort_by(|a, b| marketpipe_archive_s3::compare_keys(a, b));
        k
    };
    assert_eq!(keys(&archive).await, expected, "exactly the segments, under <prefix>/<exchange>/YYYY/MM/DD/HH-<n>.jsonl.zst");
    assert!(expected.contains(&"prod/eu/coinbase/2026/01/02/03-0.jsonl.zst".to_owned()), "{expected:?}");
    assert!(expected.contains(&"prod/eu/binance/2026/01/02/04-0.jsonl.zst".to_owned()), "{expected:?}");
    for (relative, bytes) in &all {
        assert_eq!(&archive.get_bytes(&format!("prod/eu/{relative}")).await.unwrap(), bytes, "{relative} uploaded byte for byte");
    }
    assert!(scan_spool(spool.path()).unwrap().is_empty(), "nothing left to upload in the spool");
    let stats = uploader.stats();
    assert_eq!((stats.spooled_segments, stats.conflicts, stats.already_present), (0, 0, 0), "{stats:?}");
    assert_eq!(stats.uploaded_bytes, all.values().map(|b| b.len() as u64).sum::<u64>());
    let report = uploader.shutdown(Duration::from_secs(2)).await;
    assert!(report.remaining.is_empty(), "{report:?}");
}

#[tokio::test]
async fn a_retry_after_the_object_exists_is_harmless() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket("retry");
    create_bucket(&endpoint, &bucket);
    let url = S3Url::parse(&format!("s3://{bucket}/a")).unwrap();
    let archive = client(&endpoint, &url);
    assert_eq!(archive.put_create("a/x.jsonl.zst", b"same".to_vec()).await.unwrap(), PutOutcome::Created);
    assert_eq!(archive.put_create("a/x.jsonl.zst", b"same".to_vec()).await.unwrap(), PutOutcome::AlreadyPresent);

    // An earlier run uploaded the segment but died before removing it (or
    // the put's response was lost): the next start finds it already there.
    let spool = tempfile::tempdir().unwrap();
    let relative = "kucoin/2026/03/04/05-0.jsonl.zst";
    let bytes = zstd_bytes("{\"recv_ns\":1}\n");
    write_file(&spool.path().join(relative), &bytes);
    assert_eq!(archive.put_create(&url.key(relative), bytes.clone()).await.unwrap(), PutOutcome::Created);
    let uploader = Uploader::start(archive.clone(), spool.path().to_path_buf(), fast_config()).await.unwrap();
    wait_for(Duration::from_secs(20), "the segment to be confirmed", || uploader.stats().uploaded == 1).await;
    let stats = uploader.stats();
    assert_eq!((stats.already_present, stats.conflicts, stats.failures), (1, 0, 0), "{stats:?}");
    assert!(scan_spool(spool.path()).unwrap().is_empty(), "confirmed, so emptied to a marker");
    assert_eq!(archive.get_bytes(&url.key(relative)).await.unwrap(), bytes);
    assert!(uploader.shutdown(Duration::from_secs(1)).await.remaining.is_empty());
}

#[tokio::test]
async fn a_restart_in_the_same_hour_never_reuses_an_uploaded_number() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket("restart");
    create_bucket(&endpoint, &bucket);
    let url = S3Url::parse(&format!("s3://{bucket}/r")).unwrap();
    let spool = tempfile::tempdir().unwrap();
    // The current hour: markers of earlier hours are swept at start, as the
    // writer can no longer open segments there.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let t = Timestamp(now.as_nanos() as i64);
    let mut keys_seen = Vec::new();
    for run in 0..2 {
        let uploader = Uploader::start(client(&endpoint, &url), spool.path().to_path_buf(), fast_config()).await.unwrap();
        let (mut w, closed) = writer(spool.path(), &uploader, 1 << 20);
        w.write(Timestamp(t.0 + run), "binance", OutRecord::Ws { conn: 1, data: &frame(run as usize) }).unwrap();
        w.close().unwrap();
        keys_seen.extend(closed.lock().unwrap().keys().cloned());
        let report = uploader.shutdown(Duration::from_secs(10)).await;
        assert!(report.remaining.is_empty(), "run {run}: {report:?}");
    }
    let hour = marketpipe_archive_s3::hour_path(now.as_secs() as i64);
    let expected = [format!("binance/{hour}-0.jsonl.zst"), format!("binance/{hour}-1.jsonl.zst")];
    assert_eq!(keys_seen, expected, "the second run took the next number: the first left a marker");
    assert_eq!(keys(&client(&endpoint, &url)).await, expected.clone().map(|k| format!("r/{k}")));
    assert_eq!(std::fs::metadata(spool.path().join(&expected[0])).unwrap().len(), 0, "an empty marker");

    // Markers of hours the writer cannot open any more are swept at start.
    write_file(&spool.path().join("binance/2020/01/01/00-0.jsonl.zst"), b"");
    let uploader = Uploader::start(client(&endpoint, &url), spool.path().to_path_buf(), fast_config()).await.unwrap();
    assert!(!spool.path().join("binance/2020/01/01").exists());
    assert!(spool.path().join(&expected[1]).exists(), "this hour's markers stay");
    assert_eq!(uploader.stats().spooled_segments, 0);
}

#[tokio::test]
async fn a_conflicting_object_is_never_overwritten() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket("conflict");
    create_bucket(&endpoint, &bucket);
    let url = S3Url::parse(&format!("s3://{bucket}")).unwrap();
    let archive = client(&endpoint, &url);
    let spool = tempfile::tempdir().unwrap();
    let (taken, free) = ("binance/2026/03/04/05-0.jsonl.zst", "binance/2026/03/04/05-1.jsonl.zst");
    let theirs = zstd_bytes("{\"theirs\":true}\n");
    let ours = zstd_bytes("{\"ours\":true}\n");
    // Same size, other bytes: the content is compared, not just the size.
    let same_size = {
        let mut b = ours.clone();
        let last = b.len() - 1;
        b[last] ^= 1;
        b
    };
    archive.put_create(taken, theirs.clone()).await.unwrap();
    archive.put_create(free, same_size.clone()).await.unwrap();
    write_file(&spool.path().join(taken), &ours);
    write_file(&spool.path().join(free), &ours);
    let uploader = Uploader::start(archive.clone(), spool.path().to_path_buf(), fast_config()).await.unwrap();
    wait_for(Duration::from_secs(20), "both conflicts", || uploader.stats().conflicts == 2).await;
    assert_eq!(archive.get_bytes(taken).await.unwrap(), theirs, "not overwritten");
    assert_eq!(archive.get_bytes(free).await.unwrap(), same_size, "not overwritten");
    let stats = uploader.stats();
    assert_eq!((stats.uploaded, stats.spooled_segments), (0, 2), "{stats:?}");
    let report = uploader.shutdown(Duration::from_secs(1)).await;
    assert_eq!(report.conflicts, 2);
    assert_eq!(report.remaining, [spool.path().join(taken), spool.path().join(free)], "kept in the spool");
    assert_eq!(std::fs::read(spool.path().join(taken)).unwrap(), ours, "the local segment is untouched");
}

#[tokio::test]
async fn shutdown_flushes_within_its_budget_and_the_next_start_uploads_the_rest() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket("flush");
    create_bucket(&endpoint, &bucket);
    let url = S3Url::parse(&format!("s3://{bucket}/f")).unwrap();
    let spool = tempfile::tempdir().unwrap();
    let t = ts("2026-05-06T07:08:09Z");

    // Closed segments, then the flush: everything is uploaded before it returns.
    let uploader = Uploader::start(client(&endpoint, &url), spool.path().to_path_buf(), fast_config()).await.unwrap();
    let (mut w, closed) = writer(spool.path(), &uploader, 300);
    for i in 0..20 {
        w.write(Timestamp(t.0 + i), "coinbase", OutRecord::Ws { conn: 1, data: &frame(i as usize) }).unwrap();
    }
    w.close().unwrap();
    let n = closed.lock().unwrap().len();
    assert!(n >= 5, "{n}");
    let report = uploader.shutdown(Duration::from_secs(10)).await;
    assert!(report.remaining.is_empty() && report.remaining_bytes == 0, "{report:?}");
    assert_eq!(keys(&client(&endpoint, &url)).await.len(), n, "all uploaded by the flush");
    assert!(scan_spool(spool.path()).unwrap().is_empty());

    // S3 unreachable at shutdown: the flush gives up at its budget and
    // says what is left; the next start (S3 back) uploads it.
    let dead = client(&closed_port_endpoint(), &url);
    let uploader = Uploader::start(dead, spool.path().to_path_buf(), fast_config()).await.unwrap();
    let (mut w, closed) = writer(spool.path(), &uploader, 300);
    for i in 0..10 {
        w.write(Timestamp(t.0 + 3_600_000_000_000 + i), "coinbase", OutRecord::Ws { conn: 2, data: &frame(i as usize) }).unwrap();
    }
    w.close().unwrap();
    let left = closed.lock().unwrap().len();
    let started = Instant::now();
    let report = uploader.shutdown(Duration::from_millis(800)).await;
    assert!(started.elapsed() < Duration::from_millis(1500), "the flush kept to its budget: {:?}", started.elapsed());
    assert_eq!((report.uploaded, report.remaining.len(), report.conflicts), (0, left, 0), "{report:?}");
    assert_eq!(report.remaining_bytes, closed.lock().unwrap().values().map(|b| b.len() as u64).sum::<u64>());
    assert!(report.remaining.iter().all(|p| p.is_file()), "still spooled");
    let uploader = Uploader::start(client(&endpoint, &url), spool.path().to_path_buf(), fast_config()).await.unwrap();
    wait_for(Duration::from_secs(20), "the next start to upload the rest", || uploader.stats().uploaded == left as u64).await;
    assert_eq!(keys(&client(&endpoint, &url)).await.len(), n + left);
    assert!(uploader.shutdown(Duration::from_secs(1)).await.remaining.is_empty());
}

#[tokio::test]
async fn an_s3_outage_loses_nothing() {
    let Some(_) = endpoint() else { return };
    // A moto of this test's own: it is killed and restarted mid-test.
    let mut moto = Moto::start(free_port());
    let endpoint = moto.endpoint();
    let bucket = bucket("outage");
    create_bucket(&endpoint, &bucket);
    let url = S3Url::parse(&format!("s3://{bucket}/o")).unwrap();
    let archive = client(&endpoint, &url);
    let spool = tempfile::tempdir().unwrap();
    let uploader = Uploader::start(archive.clone(), spool.path().to_path_buf(), fast_config()).await.unwrap();
    let (mut w, closed) = writer(spool.path(), &uploader, 300);
    let t = ts("2026-07-08T09:10:11Z");
    let mut i = 0i64;
    let mut write = |w: &mut ArchiveWriter, n: i64| {
        for _ in 0..n {
            w.write(Timestamp(t.0 + i), "kucoin", OutRecord::Ws { conn: 1, data: &frame(i as usize) }).unwrap();
            i += 1;
        }
    };
    write(&mut w, 4);
    w.close_all().unwrap();
    let before = closed.lock().unwrap().len() as u64;
    wait_for(Duration::from_secs(20), "uploads before the outage", || uploader.stats().uploaded == before).await;
    assert_eq!(keys(&archive).await.len() as u64, before);

    moto.kill();
    write(&mut w, 12);
    w.close_all().unwrap();
    let during = closed.lock().unwrap().len() as u64 - before;
    assert!(during >= 3, "{during}");
    wait_for(Duration::from_secs(20), "failed attempts during the outage", || uploader.stats().failures >= 3).await;
    let stats = uploader.stats();
    assert_eq!(stats.uploaded, before, "nothing confirmed while S3 is down: {stats:?}");
    assert_eq!(stats.spooled_segments, during, "{stats:?}");
    assert_eq!(scan_spool(spool.path()).unwrap().len() as u64, during, "everything closed during the outage is spooled");
    assert!(stats.retries >= 2, "{stats:?}");

    // moto keeps nothing across a restart: the bucket comes back empty, and
    // every segment spooled meanwhile must arrive.
    moto = Moto::start(moto.port);
    create_bucket(&endpoint, &bucket);
    wait_for(Duration::from_secs(30), "the spool to drain after the outage", || uploader.stats().uploaded == before + during).await;
    assert!(scan_spool(spool.path()).unwrap().is_empty());
    let all = closed.lock().unwrap().clone();
    let got = keys(&archive).await;
    assert_eq!(got.len() as u64, during, "{got:?}");
    for key in &got {
        let relative = key.strip_prefix("o/").unwrap();
        assert_eq!(&archive.get_bytes(key).await.unwrap(), &all[relative], "{key}");
    }
    let stats = uploader.stats();
    assert_eq!((stats.spooled_segments, stats.spooled_bytes, stats.conflicts), (0, 0, 0), "{stats:?}");
    assert!(uploader.shutdown(Duration::from_secs(1)).await.remaining.is_empty());
    drop(moto);
}

#[tokio::test]
async fn segments_are_listed_in_order_and_read_back() {
    let Some(endpoint) = endpoint() else { return };
    let bucket = bucket("list");
    create_bucket(&endpoint, &bucket);
    let root = client(&endpoint, &S3Url::parse(&format!("s3://{bucket}")).unwrap());
    let names = [
        "p/coinbase/2026/01/02/03-10.jsonl.zst",
        "p/coinbase/2026/01/02/03-9.jsonl.zst",
        "p/binance/2026/01/02/04-0.jsonl.zst",
        "p/notes.txt",
        "q/coinbase/2026/01/02/03-0.jsonl.zst",
    ];
    for (i, name) in names.iter().enumerate() {
        root.put_create(name, format!("object {i}").into_bytes()).await.unwrap();
    }
    let under = |prefix: &str| client(&endpoint, &S3Url::parse(&format!("s3://{bucket}/{prefix}")).unwrap());
    assert_eq!(
        keys(&under("p")).await,
        ["p/binance/2026/01/02/04-0.jsonl.zst", "p/coinbase/2026/01/02/03-9.jsonl.zst", "p/coinbase/2026/01/02/03-10.jsonl.zst"],
        "segments only, numeric <n>"
    );
    assert_eq!(keys(&under("p/coinbase/2026")).await.len(), 2);
    assert_eq!(
        keys(&under("p/coinbase/2026/01/02/03-10.jsonl.zst")).await,
        ["p/coinbase/2026/01/02/03-10.jsonl.zst"],
        "one object by its key"
    );
    assert!(keys(&under("p/kucoin")).await.is_empty());
    let mut out = Vec::new();
    let n = root.download("p/coinbase/2026/01/02/03-10.jsonl.zst", &mut out).await.unwrap();
    assert_eq!((n, out), (8, b"object 0".to_vec()));
    assert!(root.download("p/none.jsonl.zst", &mut Vec::new()).await.is_err());
}

fn write_file(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn zstd_bytes(text: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jsonl.zst");
    let mut w = marketpipe_capture::CaptureWriter::create(&path, Some(3)).unwrap();
    for (i, line) in text.lines().enumerate() {
        w.write(Timestamp(i as i64), "coinbase", OutRecord::Ws { conn: 1, data: line }).unwrap();
    }
    w.finish().unwrap();
    std::fs::read(path).unwrap()
}

/// A loopback port nothing listens on.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn closed_port_endpoint() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

/// A moto server of the test's own, killed on drop.
struct Moto {
    child: Option<Child>,
    port: u16,
}

impl Moto {
    fn start(port: u16) -> Moto {
        let args = ["-H", "127.0.0.1", "-p", &port.to_string()].map(str::to_owned);
        let spawn = |program: &str, pre: &[&str]| {
            Command::new(program).args(pre).args(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn()
        };
        let child = spawn("moto_server", &[]).or_else(|_| spawn("python3", &["-m", "moto.server"])).expect("moto starts");
        let moto = Moto { child: Some(child), port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}
