//! The shared store suite against a real PostgreSQL, plus what only this
//! backend has: migrations, partitions, connection loss, error classes.
//!
//! Needs `MARKETPIPE_TEST_POSTGRES_URL` (scripts/test.sh sets it); fails
//! without it. Each check runs in a schema of its own.

mod common;

use std::time::{Duration, Instant};

use common::{admin, rig, server_url, unique_schema, Fresh};
use marketpipe_model::{Candle, Exchange, Interval, Product};
use marketpipe_store::{
    testsuite::{self, key, position, sample_book, sample_candle, sample_stats, sample_ticker},
    CandleQuery, MarketReader, MarketWriter, PositionStore, StoreError, WriteBatch,
};
use marketpipe_store_postgres::{PgOptions, PgStore, SCHEMA_VERSION};

const T0: i64 = 1_767_225_600_000_000_000;
const MIN: i64 = 60_000_000_000;
const DAY: i64 = 86_400_000_000_000;

fn all_candles(k: &marketpipe_model::InstrumentKey, interval: Interval) -> CandleQuery {
    CandleQuery { instrument: k.clone(), interval, start: None, end: None, limit: usize::MAX }
}

// ------------------------------------------------------ the shared suite

macro_rules! shared_suite {
    ($($check:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $check() {
            let fresh = Fresh::new().await;
            testsuite::$check(&fresh.store).await;
            fresh.cleanup().await;
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
    positions_round_trip,
    positions_only_move_as_written,
    positions_are_isolated_by_group_and_topic,
);

/// `run_all` and `run_positions` as written, each check on a new schema.
#[tokio::test]
async fn run_all_and_run_positions_pass() {
    let mut made = Vec::new();
    testsuite::run_all(|| {
        let schema = unique_schema("all");
        made.push(schema.clone());
        async move { PgStore::connect_with(&server_url(), PgOptions { schema: Some(schema), ..PgOptions::default() }).await.expect("open") }
    })
    .await;
    assert!(made.len() >= 15, "run_all ran only {} checks", made.len());
    let before = made.len();
    testsuite::run_positions(|| {
        let schema = unique_schema("pos");
        made.push(schema.clone());
        async move { PgStore::connect_with(&server_url(), PgOptions { schema: Some(schema), ..PgOptions::default() }).await.expect("open") }
    })
    .await;
    assert_eq!(made.len() - before, 3, "run_positions checks");
    let admin = admin().await;
    for schema in made {
        admin.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await.expect("drop schema");
    }
}

/// A batch is all or nothing, whichever of its parts fails; the trigger's
/// exception is not retryable and its message is kept.
#[tokio::test]
async fn batch_is_atomic_when_a_row_fails_mid_batch() {
    let fresh = Fresh::new().await;
    rig(&fresh).await;
    testsuite::batch_is_atomic(&fresh.store).await;

    let poison = key(Exchange::Coinbase, testsuite::POISON_SYMBOL);
    let batch = WriteBatch { candles: vec![sample_candle(&poison, Interval::M1, T0, "1")], ..WriteBatch::default() };
    let started = Instant::now();
    match fresh.store.write(&batch).await {
        Err(e @ StoreError::Backend { .. }) => {
            assert!(!e.is_retryable(), "a trigger's exception is not retryable: {e}");
            assert!(e.to_string().contains("rigged failure"), "error keeps the cause: {e}");
            assert!(e.to_string().contains("P0001"), "error names the SQLSTATE: {e}");
        }
        other => panic!("expected a backend error, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2), "a non-retryable error must not be retried");
    assert_eq!(fresh.store.counters().retries, 0, "nothing was retried");
    fresh.cleanup().await;
}

/// Positions and results commit together (rigged like the batch check).
#[tokio::test]
async fn positions_commit_with_results_when_rigged() {
    let fresh = Fresh::new().await;
    rig(&fresh).await;
    testsuite::positions_commit_with_results(&fresh.store).await;
    fresh.cleanup().await;
}

/// A count beyond `bigint` fails the write before anything is sent.
#[tokio::test]
async fn unstorable_value_fails_the_whole_batch() {
    let fresh = Fresh::new().await;
    let store = &fresh.store;
    let k = key(Exchange::Coinbase, "BTC-USD");
    let batch = WriteBatch {
        products: vec![Product::new(Exchange::Coinbase, "BTC-USD", "BTC", "USD")],
        candles: vec![
            sample_candle(&k, Interval::M1, T0, "1"),
            Candle { trades: u64::MAX, ..sample_candle(&k, Interval::M1, T0 + MIN, "2") },
        ],
        ..WriteBatch::default()
    };
    let err = store.write_at(&batch, &[position("g", "t", 0, 1, None)]).await.expect_err("a count of u64::MAX cannot be stored");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("trades"), "error names the field: {err}");
    assert!(store.products().await.expect("products").is_empty(), "product of the failed batch was kept");
    assert!(store.candles(&all_candles(&k, Interval::M1)).await.expect("candles").is_empty(), "candle was kept");
    assert!(store.positions("g", "t").await.expect("positions").is_empty(), "position was kept");
    fresh.cleanup().await;
}

// ------------------------------------------------- schema and partitions

/// Migrations are recorded, a reconnect finds them applied, and a newer
/// schema is refused with the version in the message.
#[tokio::test]
async fn migrations_are_recorded_and_a_newer_schema_is_refused() {
    let fresh = Fresh::new().await;
    let admin = fresh.admin().await;
    let versions: Vec<i32> =
        admin.query("SELECT version FROM schema_version ORDER BY version", &[]).await.expect("versions").iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());

    let options = || PgOptions { schema: Some(fresh.schema.clone()), ..PgOptions::default() };
    let again = PgStore::connect_with(&server_url(), options()).await.expect("reopen a current schema");
    drop(again);
    let count: i64 = admin.query_one("SELECT count(*) FROM schema_version", &[]).await.expect("count").get(0);
    assert_eq!(count, i64::from(SCHEMA_VERSION), "reopening applied nothing twice");

    admin
        .execute("INSERT INTO schema_version (version, description) VALUES ($1, 'from the future')", &[&(SCHEMA_VERSION + 1)])
        .await
        .expect("bump version");
    match PgStore::connect_with(&server_url(), options()).await {
        Err(StoreError::Open(message)) => {
            assert!(message.contains(&format!("schema version {}", SCHEMA_VERSION + 1)), "names the version: {message}");
            assert!(message.contains("127.0.0.1") || message.contains("postgres://"), "names the server: {message}");
        }
        other => panic!("expected StoreError::Open, got {other:?}"),
    }
    fresh.cleanup().await;
}

async fn partitions_of_candles(admin: &tokio_postgres::Client) -> Vec<String> {
    let rows = admin
        .query(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'candles'::regclass ORDER BY c.relname",
            &[],
        )
        .await
        .expect("partitions");
    rows.iter().map(|r| r.get(0)).collect()
}

/// Candles land in monthly partitions created on demand; times outside the
/// partitioned years land in the default partition; a month whose rows are
/// already in the default partition gets them moved into its new partition.
#[tokio::test]
async fn candles_are_partitioned_by_month_on_demand() {
    let fresh = Fresh::new().await;
    let admin = fresh.admin().await;
    let k = key(Exchange::Binance, "NKN-USDT");
    assert_eq!(partitions_of_candles(&admin).await, ["candles_default"]);

    let feb = T0 + 31 * DAY;
    let old = 631_152_000_000_000_000; // 1990-01-01: not partitioned
    let written = vec![
        sample_candle(&k, Interval::M1, old, "1"),
        sample_candle(&k, Interval::M1, T0, "2"),
        sample_candle(&k, Interval::M1, feb, "3"),
    ];
    fresh.store.write(&WriteBatch { candles: written.clone(), ..WriteBatch::default() }).await.expect("write");
    assert_eq!(partitions_of_candles(&admin).await, ["candles_default", "candles_p2026_01", "candles_p2026_02"]);
    let placed: Vec<(String, i64)> = admin
        .query("SELECT tableoid::regclass::text, start_ns FROM candles ORDER BY start_ns", &[])
        .await
        .expect("placement")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(placed, [("candles_default".to_owned(), old), ("candles_p2026_01".to_owned(), T0), ("candles_p2026_02".to_owned(), feb)]);

    // A March row that reached the default partition before March had a
    // partition (written by hand here, as an older build without on-demand
    // partitions would have): the first write for March moves it.
    let march = feb + 28 * DAY;
    admin
        .batch_execute(&format!(
            "INSERT INTO candles SELECT exchange, symbol, \"interval\", {march}, open, high, low, close, volume, quote_volume, vwap, \
             trades, buy_trades, sell_trades, buy_volume, sell_volume, first_trade_num, first_trade_str, last_trade_num, \
             last_trade_str, final, revision FROM candles WHERE start_ns = {T0}"
        ))
        .await
        .expect("hand-written row");
    let later = sample_candle(&k, Interval::M1, march + MIN, "4");
    fresh.store.write(&WriteBatch { candles: vec![later.clone()], ..WriteBatch::default() }).await.expect("write march");
    let in_default: i64 =
        admin.query_one("SELECT count(*) FROM candles_default WHERE start_ns >= $1", &[&march]).await.expect("count").get(0);
    assert_eq!(in_default, 0, "march rows left in the default partition");
    let got = fresh.store.candles(&all_candles(&k, Interval::M1)).await.expect("candles");
    let starts: Vec<i64> = got.iter().map(|c| c.start.nanos()).collect();
    assert_eq!(starts, [old, T0, feb, march, march + MIN], "every candle readable wherever it lives");
    testsuite::assert_exact(&got[4], &later, "candle in a new partition");

    // A second store (another process) finds the partitions already there.
    let other = PgStore::connect_with(&server_url(), PgOptions { schema: Some(fresh.schema.clone()), ..PgOptions::default() })
        .await
        .expect("second store");
    other.write(&WriteBatch { candles: vec![sample_candle(&k, Interval::H1, T0, "5")], ..WriteBatch::default() }).await.expect("write");
    assert_eq!(partitions_of_candles(&admin).await.len(), 4, "no duplicate partition");
    drop(other);
    fresh.cleanup().await;
}

/// Candle queries are index scans of the partitions, pruned to the range
/// asked for (no sequential scan, no sort of the whole range).
#[tokio::test]
async fn candle_queries_use_the_primary_key_and_prune_partitions() {
    let fresh = Fresh::new().await;
    let k = key(Exchange::Coinbase, "BTC-USD");
    let candles: Vec<Candle> = (0..3).map(|m| sample_candle(&k, Interval::M1, T0 + m * 31 * DAY, "1")).collect();
    fresh.store.write(&WriteBatch { candles, ..WriteBatch::default() }).await.expect("write");
    let admin = fresh.admin().await;
    admin.batch_execute("SET enable_seqscan = off").await.expect("planner setting");
    let plan: Vec<String> = admin
        .query(
            &format!(
                "EXPLAIN SELECT start_ns FROM candles WHERE exchange = 'coinbase' AND symbol = 'BTC-USD' AND \"interval\" = '1m' \
                 AND start_ns >= {T0} AND start_ns <= {} ORDER BY start_ns LIMIT 10",
                T0 + DAY
            ),
            &[],
        )
        .await
        .expect("explain")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("candles_p2026_01"), "{plan}");
    assert!(!plan.contains("candles_p2026_02") && !plan.contains("candles_p2026_03"), "partitions not pruned:\n{plan}");
    assert!(plan.contains("Index"), "not an index scan:\n{plan}");
    fresh.cleanup().await;
}

// ------------------------------------------------------------ connections

/// Bad URLs, unreachable servers and TLS demands fail to open, clearly,
/// and never echo a password.
#[tokio::test]
async fn connect_failures_are_open_errors() {
    let open_err = |r: Result<PgStore, StoreError>| match r {
        Err(StoreError::Open(message)) => message,
        other => panic!("expected StoreError::Open, got {other:?}"),
    };
    let message = open_err(PgStore::connect("postgres://user:secret@127.0.0.1:1:2/db").await);
    assert!(message.contains("invalid PostgreSQL URL") && !message.contains("secret"), "{message}");

    let quick = PgOptions { startup_deadline: Duration::from_millis(300), ..PgOptions::default() };
    let started = Instant::now();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let message = open_err(PgStore::connect_with("postgres://user:secret@127.0.0.1:1/db", quick.clone()).await);
    assert!(message.contains("cannot connect to postgres://user@127.0.0.1:1/db"), "{message}");
    assert!(!message.contains("secret"), "password leaked: {message}");
    assert!(started.elapsed() < Duration::from_secs(5), "the startup deadline was not kept");

    let message = open_err(PgStore::connect_with(&format!("{}?sslmode=require", server_url()), quick).await);
    assert!(message.contains("sslmode=require") && message.contains("TLS"), "{message}");
}

/// When the server drops the store's connections (an administrator, a
/// failover, an idle timeout), the next write and read reconnect and succeed.
#[tokio::test]
async fn writes_and_reads_survive_terminated_connections() {
    let app = unique_schema("kill");
    let url = format!("{}?application_name={app}", server_url());
    let schema = unique_schema("s");
    let store = PgStore::connect_with(&url, PgOptions { schema: Some(schema.clone()), ..PgOptions::default() }).await.expect("open");
    let k = key(Exchange::Coinbase, "BTC-USD");
    let admin = admin().await;
    for round in 0..3i64 {
        let killed: i64 = admin
            .query_one(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) t",
                &[&app],
            )
            .await
            .expect("terminate")
            .get(0);
        assert_eq!(killed, 2, "the store keeps a writer and a reader");
        let c = sample_candle(&k, Interval::M1, T0 + round * MIN, "1");
        let batch = WriteBatch {
            candles: vec![c.clone()],
            books: vec![sample_book(&k, &[("1", "1")], &[])],
            stats: vec![sample_stats(&k)],
            tickers: vec![sample_ticker(&k)],
            ..WriteBatch::default()
        };
        store.write_at(&batch, &[position("g", "t", 0, round, None)]).await.expect("write after the connection was killed");
        testsuite::assert_exact(&store.latest_candle(&k, Interval::M1).await.expect("read").expect("candle"), &c, "read after kill");
    }
    // A killed connection is noticed either by a failed attempt (retried)
    // or, when the driver saw it close first, before the attempt: either
    // way both connections were opened anew every round.
    let counters = store.counters();
    assert!(counters.connections >= 2 + 2 * 3, "reconnected each round: {counters}");
    drop(store);
    admin.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await.expect("drop schema");
}

/// Two stores (two `process` instances) writing the same candles at once:
/// no conflicts surface as errors, and the highest revision wins.
#[tokio::test]
async fn concurrent_writers_converge_on_the_highest_revision() {
    let fresh = Fresh::new().await;
    let other = PgStore::connect_with(&server_url(), PgOptions { schema: Some(fresh.schema.clone()), ..PgOptions::default() })
        .await
        .expect("second store");
    let k = key(Exchange::Kucoin, "BTC-USDT");
    let base: Vec<Candle> = (0..50).map(|m| sample_candle(&k, Interval::M1, T0 + m * MIN, "1")).collect();
    let writer = |store: PgStore, revisions: Vec<u32>| {
        let base = base.clone();
        tokio::spawn(async move {
            for rev in revisions {
                let candles = base.iter().map(|c| testsuite::revised(c, rev, true, "2")).collect();
                store.write(&WriteBatch { candles, ..WriteBatch::default() }).await.expect("concurrent write");
            }
        })
    };
    let a = writer(fresh.store.clone(), (0..20).step_by(2).collect());
    let b = writer(other.clone(), (0..20).rev().collect());
    a.await.expect("writer a");
    b.await.expect("writer b");
    let got = fresh.store.candles(&all_candles(&k, Interval::M1)).await.expect("candles");
    assert_eq!(got.len(), 50);
    assert!(got.iter().all(|c| c.revision == 19), "every candle at the highest revision");
    drop(other);
    fresh.cleanup().await;
}
