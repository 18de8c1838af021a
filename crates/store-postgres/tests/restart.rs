//! The server restarts while writes are in flight; every batch still ends up
//! stored, exactly once, and the writers never see an error.
//!
//! A test binary of its own: restarting the server would break the checks
//! of other test binaries' admin connections if they ran alongside (cargo
//! runs test binaries one after another). It restarts the cluster through
//! `scripts/services/postgres.sh restart`, so it needs the server that
//! script started (as `scripts/test.sh` arranges).

mod common;

use std::{
    collections::BTreeMap,
    path::Path,
    process::Command,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use common::{server_url, Fresh};
use marketpipe_model::{Candle, Exchange, Interval};
use marketpipe_store::{
    testsuite::{self, key, position, sample_candle, sample_ticker},
    MarketReader, PositionStore, WriteBatch,
};
use marketpipe_store_postgres::{PgOptions, PgStore};

const T0: i64 = 1_767_225_600_000_000_000;
const MIN: i64 = 60_000_000_000;
/// Writer tasks; each writes its own product and log partition.
const WRITERS: usize = 4;
const BATCHES: usize = 80;
const CANDLES_PER_BATCH: usize = 25;
/// The restarts happen after this many batches (of all writers) and again
/// after twice as many.
const RESTART_AFTER: usize = 60;

fn restart_server() -> Duration {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/services/postgres.sh");
    let started = Instant::now();
    let out = Command::new("bash").arg(&script).arg("restart").output().expect("run postgres.sh restart");
    assert!(
        out.status.success(),
        "`{} restart` failed (this test needs the server scripts/services/postgres.sh started, as scripts/test.sh does):\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// Batch `i` of writer `w`: `CANDLES_PER_BATCH` new candles of the writer's
/// product, its latest ticker, and its position after the batch.
fn batch(w: usize, i: usize) -> (WriteBatch, Vec<marketpipe_store::LogPosition>) {
    let k = key(Exchange::Binance, &format!("W{w}-USDT"));
    let candles = (0..CANDLES_PER_BATCH)
        .map(|j| {
            let n = (i * CANDLES_PER_BATCH + j) as i64;
            sample_candle(&k, Interval::M1, T0 + n * MIN, &format!("{w}.{n}"))
        })
        .collect();
    let batch = WriteBatch { candles, tickers: vec![sample_ticker(&k)], ..WriteBatch::default() };
    let checkpoint = format!("state of writer {w} after batch {i}");
    (batch, vec![position("restart", "events", w as i32, i as i64 + 1, Some(checkpoint.as_bytes()))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_mid_stream_loses_and_duplicates_nothing() {
    let fresh = Fresh::new().await;
    let options = PgOptions { schema: Some(fresh.schema.clone()), backoff_max: Duration::from_millis(500), ..PgOptions::default() };
    // Two stores, as two `process` instances would have, two writers each.
    let stores = [fresh.store.clone(), PgStore::connect_with(&server_url(), options).await.expect("second store")];
    let done = Arc::new(AtomicUsize::new(0));

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = stores[w % 2].clone();
        let done = Arc::clone(&done);
        writers.push(tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for i in 0..BATCHES {
                let (batch, positions) = batch(w, i);
                let started = Instant::now();
                if let Err(e) = store.write_at(&batch, &positions).await {
                    panic!("writer {w} batch {i} failed across the restart: {e}");
                }
                slowest = slowest.max(started.elapsed());
                done.fetch_add(1, Ordering::Relaxed);
                // Paced, so the restarts land while writers are mid-stream.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            slowest
        }));
    }

    let mut restarts = Vec::new();
    for threshold in [RESTART_AFTER, 2 * RESTART_AFTER] {
        while done.load(Ordering::Relaxed) < threshold {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let in_flight_at = done.load(Ordering::Relaxed);
        let took = tokio::task::spawn_blocking(restart_server).await.expect("restart task");
        restarts.push((in_flight_at, took));
    }
    let mut slowest = Duration::ZERO;
    for writer in writers {
        slowest = slowest.max(writer.await.expect("writer task"));
    }
    let total = WRITERS * BATCHES;
    assert!(restarts.iter().all(|(at, _)| *at < total), "a restart came after the writers had finished: {restarts:?}");

    // Everything is there, exactly as written, once.
    let store = &stores[0];
    for w in 0..WRITERS {
        let k = key(Exchange::Binance, &format!("W{w}-USDT"));
        let expected: Vec<Candle> = (0..BATCHES).flat_map(|i| batch(w, i).0.candles).collect();
        let q = marketpipe_store::CandleQuery { instrument: k.clone(), interval: Interval::M1, start: None, end: None, limit: usize::MAX };
        let got = store.candles(&q).await.expect("read back");
        assert_eq!(got.len(), expected.len(), "writer {w}: candle count");
        testsuite::assert_exact(&got, &expected, &format!("writer {w}'s candles"));
        assert!(store.ticker(&k).await.expect("ticker").is_some(), "writer {w}: ticker");
    }
    let positions = store.positions("restart", "events").await.expect("positions");
    let expected_positions: Vec<_> = (0..WRITERS).flat_map(|w| batch(w, BATCHES - 1).1).collect();
    assert_eq!(positions, expected_positions, "every partition's position is its last batch's");

    let admin = fresh.admin().await;
    let rows: i64 = admin.query_one("SELECT count(*) FROM candles", &[]).await.expect("count").get(0);
    assert_eq!(rows, (WRITERS * BATCHES * CANDLES_PER_BATCH) as i64, "no duplicate or stray rows");
    let by_partition: BTreeMap<String, i64> = admin
        .query("SELECT tableoid::regclass::text, count(*) FROM candles GROUP BY 1", &[])
        .await
        .expect("placement")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    let counters: Vec<_> = stores.iter().map(PgStore::counters).collect();
    eprintln!(
        "restart test: {total} batches of {CANDLES_PER_BATCH} candles by {WRITERS} writers; restarts after {restarts:?} \
         (batches done, restart took); slowest write {slowest:?}; stores: {} / {}; rows by partition {by_partition:?}",
        counters[0], counters[1]
    );
    for (i, c) in counters.iter().enumerate() {
        assert!(c.retries > 0, "store {i} never retried, so the restart did not hit its writes: {c}");
        assert!(c.connections > 2, "store {i} never reconnected: {c}");
    }
    drop(stores);
    fresh.cleanup().await;
}
