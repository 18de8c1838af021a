//! Write throughput, measured by hand (ignored in the normal run):
//!
//! ```text
//! export MARKETPIPE_TEST_POSTGRES_URL=$(scripts/services/postgres.sh start)
//! cargo test -p marketpipe-store-postgres --test throughput -- --ignored --nocapture
//! ```
//!
//! Numbers depend on the server's durability settings: the test cluster of
//! `scripts/services/postgres.sh` runs with `fsync=off`.

mod common;

use std::time::{Duration, Instant};

use common::Fresh;
use marketpipe_model::{Exchange, Interval};
use marketpipe_store::{
    testsuite::{key, position, revised, sample_book, sample_candle, sample_stats, sample_ticker},
    MarketWriter, PositionStore, WriteBatch,
};

const T0: i64 = 1_767_225_600_000_000_000;
const MIN: i64 = 60_000_000_000;

fn report(what: &str, batches: usize, rows_per_batch: usize, took: Duration) {
    let rows = (batches * rows_per_batch) as f64;
    eprintln!(
        "{what}: {batches} batches x {rows_per_batch} rows in {took:.2?}: {:.0} rows/s, {:.2} ms/batch",
        rows / took.as_secs_f64(),
        took.as_secs_f64() * 1000.0 / batches as f64
    );
}

#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn write_throughput() {
    let fresh = Fresh::new().await;
    let store = &fresh.store;
    let products: Vec<_> = (0..50).map(|i| key(Exchange::Binance, &format!("P{i}-USDT"))).collect();

    // Large batches of new candles (a replay or backfill): inserts.
    let (batches, per) = (40, 2000);
    let all: Vec<Vec<_>> = (0..batches)
        .map(|b| (0..per).map(|j| sample_candle(&products[j % 50], Interval::M1, T0 + ((b * per + j) / 50) as i64 * MIN, "1.5")).collect())
        .collect();
    let started = Instant::now();
    for candles in &all {
        store.write(&WriteBatch { candles: candles.clone(), ..WriteBatch::default() }).await.expect("insert");
    }
    report("new candles", batches, per, started.elapsed());

    // The same candles again at a higher revision: updates.
    let started = Instant::now();
    for candles in &all {
        let candles = candles.iter().map(|c| revised(c, 1, true, "1.75")).collect();
        store.write(&WriteBatch { candles, ..WriteBatch::default() }).await.expect("update");
    }
    report("revised candles", batches, per, started.elapsed());

    // Small mixed batches, as the live pipeline flushes them: for 10
    // products, the open 1m/1h/1d candles, book, stats and ticker, plus the
    // consumer position.
    let flushes = 500;
    let started = Instant::now();
    for f in 0..flushes {
        let ps = &products[(f % 5) * 10..(f % 5) * 10 + 10];
        let mut batch = WriteBatch::default();
        for k in ps {
            for interval in Interval::DEFAULT {
                batch.candles.push(sample_candle(k, interval, interval.window_start(marketpipe_model::Timestamp(T0)).nanos(), "2"));
            }
            batch.books.push(sample_book(k, &[("100", "1"), ("99", "2"), ("98", "3")], &[("101", "1"), ("102", "2")]));
            batch.stats.push(sample_stats(k));
            batch.tickers.push(sample_ticker(k));
        }
        store.write_at(&batch, &[position("g", "events", 0, f as i64, Some(&[7; 256]))]).await.expect("flush");
    }
    report("live flushes (10 products: 3 candles, book, stats, ticker each + position)", flushes, 60, started.elapsed());
    fresh.cleanup().await;
}
