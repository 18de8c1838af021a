//! The shared store suite against `SqliteStore`, plus what only SQLite has:
//! files and directories, schema versions, WAL, locking, corruption.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use marketpipe_model::{Candle, Exchange, InstrumentKey, Interval, Product, Ticker, Timestamp};
use marketpipe_store::{
    sqlite::{SqliteOptions, SqliteStore, DB_FILE_NAME, SCHEMA_VERSION},
    testsuite::{self, key, sample_book, sample_candle, sample_stats, sample_ticker},
    CandleQuery, MarketReader, MarketWriter, PositionStore, StoreError, WriteBatch,
};
use rusqlite::Connection;
use tempfile::TempDir;

const T0: i64 = 1_767_225_600_000_000_000;
const MIN: i64 = 60_000_000_000;

fn fresh() -> (TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open a fresh store");
    (dir, store)
}

/// A plain connection to the store's file, as another process would have.
fn raw(dir: &Path) -> Connection {
    let conn = Connection::open(dir.join(DB_FILE_NAME)).expect("raw connection");
    conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
    conn
}

fn all_candles(k: &InstrumentKey, interval: Interval) -> CandleQuery {
    CandleQuery { instrument: k.clone(), interval, start: None, end: None, limit: usize::MAX }
}

fn open_error(result: Result<SqliteStore, StoreError>) -> String {
    match result {
        Err(StoreError::Open(message)) => message,
        Err(other) => panic!("expected StoreError::Open, got {other:?}"),
        Ok(store) => panic!("expected an open error, but opened {store:?}"),
    }
}

// ------------------------------------------------------ the shared suite

macro_rules! shared_suite {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let (_dir, store) = fresh();
            testsuite::$check(&store).await;
        }
    )*};
}

shared_suite!(
    fresh_store_is_empty,
    products_upsert_and_order,
    open_candle_is_overwritten,
    highest_revision_wins,
    final_not_replaced_by_non_final,
    double_write_is_idempotent,
    candle_query_ranges,
    candle_query_latest_without_start,
    candles_are_isolated_by_product_and_interval,
    latest_candle_is_newest,
    decimals_round_trip_exactly,
    trade_ids_round_trip,
    book_depth_and_order,
    book_and_stats_are_replaced,
    stats_round_trip,
);

/// `run_all` as another backend would call it, each check on a new directory.
#[tokio::test]
async fn run_all_passes() {
    let root = tempfile::tempdir().expect("temp dir");
    let next = AtomicUsize::new(0);
    testsuite::run_all(|| {
        let dir = root.path().join(next.fetch_add(1, Ordering::Relaxed).to_string());
        async move { SqliteStore::open(&dir).expect("open") }
    })
    .await;
    assert!(next.load(Ordering::Relaxed) >= 15, "run_all ran only {} checks", next.load(Ordering::Relaxed));
}

macro_rules! position_suite {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let (_dir, store) = fresh();
            testsuite::$check(&store).await;
        }
    )*};
}

position_suite!(positions_round_trip, positions_only_move_as_written, positions_are_isolated_by_group_and_topic);

/// `run_positions` as another backend would call it.
#[tokio::test]
async fn run_positions_passes() {
    let root = tempfile::tempdir().expect("temp dir");
    let next = AtomicUsize::new(0);
    testsuite::run_positions(|| {
        let dir = root.path().join(next.fetch_add(1, Ordering::Relaxed).to_string());
        async move { SqliteStore::open(&dir).expect("open") }
    })
    .await;
    assert_eq!(next.load(Ordering::Relaxed), 3, "run_positions ran {} checks", next.load(Ordering::Relaxed));
}

/// Positions and results are one transaction: rigged to reject the poison
/// symbol's candles and the poison group's positions.
#[tokio::test]
async fn positions_commit_with_results_when_rigged() {
    let (dir, store) = fresh();
    let poison = testsuite::POISON_SYMBOL;
    raw(dir.path())
        .execute_batch(&format!(
            "CREATE TRIGGER poison_candles BEFORE INSERT ON candles WHEN NEW.symbol = '{poison}' \
             BEGIN SELECT RAISE(ABORT, 'rigged failure'); END;
             CREATE TRIGGER poison_positions BEFORE INSERT ON consumer_positions WHEN NEW.group_id = '{poison}' \
             BEGIN SELECT RAISE(ABORT, 'rigged failure'); END;"
        ))
        .expect("install triggers");
    testsuite::positions_commit_with_results(&store).await;
}

/// A version 1 database (before consumer positions) is upgraded in place,
/// keeping its data.
#[tokio::test]
async fn version_1_database_is_migrated() {
    let root = tempfile::tempdir().expect("temp dir");
    {
        let conn = Connection::open(root.path().join(DB_FILE_NAME)).expect("create");
        conn.execute_batch(include_str!("fixtures/schema_v1.sql")).expect("v1 schema");
        conn.execute_batch("INSERT INTO products VALUES ('binance', 'NKN-USDT', 'NKNUSDT', 'NKN', 'USDT'); PRAGMA user_version = 1;")
            .expect("v1 data");
    }
    let store = SqliteStore::open_existing(root.path()).expect("open and migrate");
    assert_eq!(store.products().await.expect("products").len(), 1, "data kept");
    let positions = [testsuite::position("g", "t", 0, 1, None)];
    store.write_at(&WriteBatch::default(), &positions).await.expect("positions after migration");
    assert_eq!(store.positions("g", "t").await.expect("positions"), positions);
    let version: i64 = raw(root.path()).pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
    assert_eq!(version, SCHEMA_VERSION);
}

/// A version 2 database (checkpoints in the positions table) is upgraded
/// in place: each stored checkpoint becomes one taken at its position.
#[tokio::test]
async fn version_2_checkpoints_are_migrated() {
    let root = tempfile::tempdir().expect("temp dir");
    {
        let conn = Connection::open(root.path().join(DB_FILE_NAME)).expect("create");
        conn.execute_batch(include_str!("fixtures/schema_v1.sql")).expect("v1 schema");
        conn.execute_batch(
            "CREATE TABLE consumer_positions (group_id TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL, \
             next_offset INTEGER NOT NULL, checkpoint BLOB, PRIMARY KEY (group_id, topic, partition)) WITHOUT ROWID, STRICT;
             INSERT INTO consumer_positions VALUES ('g', 't', 0, 10, X'00ff'), ('g', 't', 1, 20, NULL);
             PRAGMA user_version = 2;",
        )
        .expect("v2 data");
    }
    let store = SqliteStore::open_existing(root.path()).expect("open and migrate");
    assert_eq!(
        store.positions("g", "t").await.expect("positions"),
        [testsuite::position("g", "t", 0, 10, Some(&[0, 0xff])), testsuite::position("g", "t", 1, 20, None)]
    );
    let version: i64 = raw(root.path()).pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
    assert_eq!(version, SCHEMA_VERSION);
}

/// Rigs the store (as another process could) to reject any row of the
/// suite's poison symbol, then runs the shared atomicity check.
#[tokio::test]
async fn batch_is_atomic_when_a_row_fails_mid_batch() {
    let (dir, store) = fresh();
    let conn = raw(dir.path());
    for table in ["products", "candles", "books", "stats", "tickers"] {
        conn.execute_batch(&format!(
            "CREATE TRIGGER poison_{table} BEFORE INSERT ON {table} WHEN NEW.symbol = '{}' \
             BEGIN SELECT RAISE(ABORT, 'rigged failure'); END;",
            testsuite::POISON_SYMBOL
        ))
        .expect("install trigger");
    }
    testsuite::batch_is_atomic(&store).await;

    let poison = key(Exchange::Coinbase, testsuite::POISON_SYMBOL);
    let batch = WriteBatch { candles: vec![sample_candle(&poison, Interval::M1, T0, "1")], ..WriteBatch::default() };
    match store.write(&batch).await {
        Err(e @ StoreError::Backend { .. }) => {
            assert!(!e.is_retryable(), "a constraint failure is not retryable: {e}");
            assert!(e.to_string().contains("rigged failure"), "error keeps the cause: {e}");
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
}

/// A count beyond SQLite's integers fails the write before commit; the rows
/// written before it in the batch are rolled back.
#[tokio::test]
async fn unstorable_value_fails_the_whole_batch() {
    let (_dir, store) = fresh();
    let k = key(Exchange::Coinbase, "BTC-USD");
    let batch = WriteBatch {
        products: vec![Product::new(Exchange::Coinbase, "BTC-USD", "BTC", "USD")],
        candles: vec![
            sample_candle(&k, Interval::M1, T0, "1"),
            Candle { trades: u64::MAX, ..sample_candle(&k, Interval::M1, T0 + MIN, "2") },
        ],
        ..WriteBatch::default()
    };
    let err = store.write(&batch).await.expect_err("a count of u64::MAX cannot be stored");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("trades"), "error names the field: {err}");
    assert!(store.products().await.expect("products").is_empty(), "product of the failed batch was kept");
    assert!(store.candles(&all_candles(&k, Interval::M1)).await.expect("candles").is_empty(), "candle was kept");
}

// ---------------------------------------------------- files and schema

#[test]
fn open_existing_refuses_a_missing_database_and_creates_nothing() {
    let root = tempfile::tempdir().expect("temp dir");
    let missing = root.path().join("typo");
    let message = open_error(SqliteStore::open_existing(&missing));
    assert!(message.contains(&missing.join(DB_FILE_NAME).display().to_string()), "names the path: {message}");
    assert!(message.contains("does not exist"), "says why: {message}");
    assert!(!missing.exists(), "open_existing created the directory");

    let message = open_error(SqliteStore::open_existing(root.path()));
    assert!(message.contains("has no database"), "says why: {message}");
    assert!(!root.path().join(DB_FILE_NAME).exists(), "open_existing created a database");
}

#[tokio::test]
async fn open_creates_nested_directories_and_open_existing_then_works() {
    let root = tempfile::tempdir().expect("temp dir");
    let dir = root.path().join("a").join("b");
    let store = SqliteStore::open(&dir).expect("open creates the directories");
    assert_eq!(store.path(), dir.join(DB_FILE_NAME));
    let product = Product::new(Exchange::Binance, "NKNUSDT", "NKN", "USDT");
    store.write(&WriteBatch { products: vec![product.clone()], ..WriteBatch::default() }).await.expect("write");
    drop(store);
    let again = SqliteStore::open_existing(&dir).expect("open_existing finds it");
    assert_eq!(again.products().await.expect("products"), vec![product]);
}

#[test]
fn newer_schema_is_refused() {
    let (dir, store) = fresh();
    drop(store);
    raw(dir.path()).pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("bump version");
    for message in [open_error(SqliteStore::open(dir.path())), open_error(SqliteStore::open_existing(dir.path()))] {
        assert!(message.contains(&format!("schema version {}", SCHEMA_VERSION + 1)), "names the version: {message}");
        assert!(message.contains(DB_FILE_NAME), "names the file: {message}");
    }
    let version: i64 = raw(dir.path()).pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
    assert_eq!(version, SCHEMA_VERSION + 1, "refusing must not rewrite the version");
}

#[test]
fn foreign_files_are_refused_with_the_path() {
    let root = tempfile::tempdir().expect("temp dir");
    let garbage = root.path().join("garbage");
    std::fs::create_dir(&garbage).expect("mkdir");
    std::fs::write(garbage.join(DB_FILE_NAME), vec![b'x'; 4096]).expect("write garbage");
    let message = open_error(SqliteStore::open(&garbage));
    assert!(message.contains(&garbage.join(DB_FILE_NAME).display().to_string()), "names the path: {message}");

    let other = root.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    Connection::open(other.join(DB_FILE_NAME)).and_then(|c| c.execute_batch("CREATE TABLE t (x)")).expect("other db");
    let message = open_error(SqliteStore::open_existing(&other));
    assert!(message.contains("not a marketpipe database"), "{message}");
}

#[test]
fn database_is_in_wal_mode_with_the_current_schema() {
    let (dir, _store) = fresh();
    let conn = raw(dir.path());
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).expect("journal mode");
    assert_eq!(mode, "wal");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).expect("version");
    assert_eq!(version, SCHEMA_VERSION);
    let mut stmt = conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").expect("prepare");
    let tables: Vec<String> = stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows");
    assert_eq!(tables, ["books", "candles", "consumer_checkpoints", "consumer_positions", "products", "stats", "tickers"]);
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let (dir, store) = fresh();
    let k = key(Exchange::Coinbase, "BTC-USD");
    let batch = WriteBatch {
        products: vec![Product::new(Exchange::Coinbase, "BTC-USD", "BTC", "USD")],
        candles: vec![sample_candle(&k, Interval::M1, T0, "60000.10")],
        books: vec![sample_book(&k, &[("60000.0", "1.50")], &[("60000.10", "0.00120000")])],
        stats: vec![sample_stats(&k)],
        tickers: vec![sample_ticker(&k)],
    };
    store.write(&batch).await.expect("write");
    drop(store);
    let store = SqliteStore::open_existing(dir.path()).expect("reopen");
    testsuite::assert_exact(&store.products().await.expect("products"), &batch.products, "products after reopen");
    let candles = store.candles(&all_candles(&k, Interval::M1)).await.expect("candles");
    testsuite::assert_exact(&candles, &batch.candles, "candles after reopen");
    testsuite::assert_exact(&store.book(&k, 10).await.expect("book"), &batch.books.first().cloned(), "book after reopen");
    testsuite::assert_exact(&store.stats(&k).await.expect("stats"), &batch.stats.first().cloned(), "stats after reopen");
    testsuite::assert_exact(&store.ticker(&k).await.expect("ticker"), &batch.tickers.first().cloned(), "ticker after reopen");
}

// ------------------------------------------------------------- tickers

#[tokio::test]
async fn tickers_are_replaced_and_listed_in_order() {
    let (_dir, store) = fresh();
    let a = key(Exchange::Kucoin, "BSV-USDT");
    let b = key(Exchange::Coinbase, "BTC-USD");
    let first = vec![sample_ticker(&a), sample_ticker(&b)];
    store.write(&WriteBatch { tickers: first, ..WriteBatch::default() }).await.expect("write");
    let bare = Ticker::empty(a.clone(), Timestamp(T0 + 99));
    store.write(&WriteBatch { tickers: vec![bare.clone()], ..WriteBatch::default() }).await.expect("replace");
    testsuite::assert_exact(&store.ticker(&a).await.expect("ticker"), &Some(bare.clone()), "replaced ticker");
    testsuite::assert_exact(&store.tickers(Exchange::Kucoin).await.expect("tickers"), &vec![bare], "kucoin tickers");
    testsuite::assert_exact(&store.tickers(Exchange::Coinbase).await.expect("tickers"), &vec![sample_ticker(&b)], "coinbase tickers");
    assert!(store.tickers(Exchange::Binance).await.expect("tickers").is_empty());
    assert_eq!(store.ticker(&key(Exchange::Binance, "BTC-USDT")).await.expect("ticker"), None);
}

// --------------------------------------------------------- concurrency

/// Readers run while a batch is being written, never see half of one, and
/// never go back in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reads_see_whole_batches() {
    let (_dir, store) = fresh();
    let k = key(Exchange::Coinbase, "BTC-USD");
    let batch = move |n: u64| WriteBatch {
        candles: (0..20).map(|i| Candle { trades: n, ..sample_candle(&k, Interval::M1, T0 + i * MIN, "1") }).collect(),
        ..WriteBatch::default()
    };
    store.write(&batch(0)).await.expect("first batch");
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (store, done) = (store.clone(), Arc::clone(&done));
            let q = all_candles(&key(Exchange::Coinbase, "BTC-USD"), Interval::M1);
            tokio::spawn(async move {
                let (mut last, mut reads) = (0, 0u32);
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let got = store.candles(&q).await.expect("read during writes");
                    let seen: Vec<u64> = got.iter().map(|c| c.trades).collect();
                    assert_eq!(seen.len(), 20, "a read saw {} candles", seen.len());
                    assert!(seen.iter().all(|&n| n == seen[0]), "a read saw a torn batch: {seen:?}");
                    assert!(seen[0] >= last, "a read went back in time: {} after {last}", seen[0]);
                    (last, reads) = (seen[0], reads + 1);
                    if finished {
                        return (last, reads);
                    }
                }
            })
        })
        .collect();
    for n in 1..=150 {
        store.write(&batch(n)).await.expect("write");
    }
    done.store(true, Ordering::Release);
    for reader in readers {
        let (last, reads) = reader.await.expect("reader task");
        assert_eq!(last, 150, "the final read must see the last batch");
        assert!(reads > 1, "a reader read only {reads} times");
    }
}

/// While another connection holds the write lock, reads still answer with
/// the committed state, and a write fails with a retryable error once the
/// busy timeout runs out.
#[tokio::test]
async fn reads_do_not_wait_for_a_held_write_lock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = SqliteOptions { busy_timeout: Duration::from_millis(100), ..SqliteOptions::default() };
    let store = SqliteStore::open_with(dir.path(), &options).expect("open");
    let p = Product::new(Exchange::Coinbase, "BTC-USD", "BTC", "USD");
    store.write(&WriteBatch { products: vec![p.clone()], ..WriteBatch::default() }).await.expect("write");

    let mut other = raw(dir.path());
    let tx = other.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).expect("lock");
    tx.execute("INSERT INTO products VALUES ('binance', 'NKN-USDT', 'NKNUSDT', 'NKN', 'USDT')", []).expect("insert");

    // Were reads to wait for the lock, they would fail once the 100 ms busy
    // timeout ran out instead of answering.
    assert_eq!(store.products().await.expect("read under a write lock"), vec![p.clone()], "uncommitted row seen");
    let blocked = WriteBatch { products: vec![Product::new(Exchange::Kucoin, "BTC-USDT", "BTC", "USDT")], ..WriteBatch::default() };
    let err = store.write(&blocked).await.expect_err("the write lock is held");
    assert!(err.is_retryable(), "a busy database is retryable: {err}");

    tx.commit().expect("commit");
    store.write(&blocked).await.expect("retry succeeds once the lock is gone");
    assert_eq!(store.products().await.expect("products").len(), 3);
}

/// The replay driver writes from a current-thread runtime (no I/O or time
/// drivers) in a tight loop; callers without any runtime use write_blocking.
#[test]
fn writes_work_on_a_current_thread_runtime_and_without_one() {
    let (_dir, store) = fresh();
    let k = key(Exchange::Binance, "NKN-USDT");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    runtime.block_on(async {
        for i in 0..300 {
            let batch = WriteBatch { candles: vec![sample_candle(&k, Interval::S1, T0 + i, "1")], ..WriteBatch::default() };
            store.write(&batch).await.expect("write in a tight loop");
        }
    });
    let extra = WriteBatch { candles: vec![sample_candle(&k, Interval::S1, T0 + 300, "1")], ..WriteBatch::default() };
    store.write_blocking(&extra).expect("write without a runtime");
    let count = runtime.block_on(store.candles(&all_candles(&k, Interval::S1))).expect("read").len();
    assert_eq!(count, 301);
}

// ---------------------------------------------------------- corruption

fn expect_corrupt<T: std::fmt::Debug>(result: Result<T, StoreError>, column: &str, what: &str) {
    match result {
        Err(StoreError::Corrupt(message)) => assert!(message.contains(column), "{what}: {message} does not name {column}"),
        other => panic!("{what}: expected StoreError::Corrupt, got {other:?}"),
    }
}

/// Values the write path would never store are reported, not panicked on
/// or silently misread. (STRICT tables already refuse wrong storage types,
/// so the tampering here uses wrong forms of the right type.)
#[tokio::test]
async fn tampered_rows_read_as_corrupt() {
    let (dir, store) = fresh();
    let k = key(Exchange::Coinbase, "BTC-USD");
    let batch = WriteBatch {
        products: vec![Product::new(Exchange::Coinbase, "BTC-USD", "BTC", "USD")],
        candles: vec![sample_candle(&k, Interval::M1, T0, "1")],
        books: vec![sample_book(&k, &[("1", "1")], &[("2", "1")])],
        stats: vec![sample_stats(&k)],
        tickers: vec![sample_ticker(&k)],
    };
    let conn = raw(dir.path());
    let candles = all_candles(&k, Interval::M1);
    let cases: [(&str, &str); 8] = [
        ("UPDATE candles SET open = 'abc'", "open"),
        ("UPDATE candles SET high = '+1.5'", "high"),
        ("UPDATE candles SET vwap = '1_000'", "vwap"),
        ("UPDATE candles SET close = '1e5'", "close"),
        ("UPDATE candles SET first_trade_id = x'01'", "first_trade_id"),
        ("UPDATE candles SET final = 2", "final"),
        ("UPDATE candles SET trades = -1", "trades"),
        ("UPDATE candles SET revision = 4294967296", "revision"),
    ];
    for (tamper, column) in cases {
        // Rewritten from scratch: a tampered revision would win the upsert.
        conn.execute_batch("DELETE FROM candles").expect("clear");
        store.write(&batch).await.expect("rewrite");
        conn.execute_batch(tamper).expect("tamper");
        expect_corrupt(store.candles(&candles).await, column, tamper);
        expect_corrupt(store.latest_candle(&k, Interval::M1).await, column, tamper);
    }

    let other_cases: [(&str, &str); 6] = [
        ("UPDATE books SET bids = 'not json'", "bids"),
        ("UPDATE books SET asks = '[[\"2\",\"x\"]]'", "asks"),
        ("UPDATE books SET state = 'weird'", "state"),
        ("UPDATE stats SET book_state = 'weird'", "book_state"),
        ("UPDATE stats SET mid_ma_window = -1", "mid_ma_window"),
        ("UPDATE stats SET mid = '0.50000000000000000000000000001'", "mid"),
    ];
    for (tamper, column) in other_cases {
        store.write(&batch).await.expect("restore");
        conn.execute_batch(tamper).expect("tamper");
        let result = if tamper.contains("books") { store.book(&k, 10).await.map(|_| ()) } else { store.stats(&k).await.map(|_| ()) };
        expect_corrupt(result, column, tamper);
    }

    store.write(&batch).await.expect("restore");
    conn.execute_batch("UPDATE products SET exchange = 'kraken'").expect("tamper");
    expect_corrupt(store.products().await, "exchange", "unknown exchange");
    conn.execute_batch("UPDATE tickers SET last_price = '00.1'").expect("tamper");
    expect_corrupt(store.ticker(&k).await, "last_price", "non-canonical ticker price");
    expect_corrupt(store.tickers(k.exchange).await, "last_price", "non-canonical ticker price in list");
}

// ---------------------------------------------------------- throughput

/// Measures one 10,000-candle batch: inserting, then upserting the same keys
/// again. Prints the times (run with `--nocapture`); asserts only that
/// everything was written.
#[tokio::test]
async fn ten_thousand_candle_batch() {
    let (_dir, store) = fresh();
    let keys: Vec<InstrumentKey> = (0..10).map(|i| key(Exchange::Binance, &format!("C{i}-USDT"))).collect();
    let candles: Vec<Candle> =
        keys.iter().flat_map(|k| (0..1000).map(move |m| sample_candle(k, Interval::M1, T0 + m * MIN, "60000.10"))).collect();
    let batch = WriteBatch { candles, ..WriteBatch::default() };
    let started = Instant::now();
    store.write(&batch).await.expect("insert batch");
    let insert = started.elapsed();
    let started = Instant::now();
    store.write(&batch).await.expect("upsert batch");
    let upsert = started.elapsed();
    let started = Instant::now();
    store.write_blocking(&batch).expect("blocking upsert batch");
    let blocking = started.elapsed();
    eprintln!("10,000 candles: insert {insert:?}, upsert {upsert:?}, blocking upsert {blocking:?}");
    let started = Instant::now();
    for k in &keys {
        assert_eq!(store.candles(&all_candles(k, Interval::M1)).await.expect("read").len(), 1000, "{k}");
    }
    eprintln!("reading them back (10 queries of 1,000): {:?}", started.elapsed());
}
