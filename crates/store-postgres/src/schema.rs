//! The schema, its numbered migrations, and the monthly candle partitions.
//!
//! Decimals are `numeric` without a type modifier, which keeps the scale it
//! is given (`60000.10` comes back as `60000.10`), so what the engine wrote
//! reads back as the same string. The one thing `numeric` does not keep is
//! the sign of a zero (`-0.00` reads back as `0.00`, the same number); the
//! engine never produces one in a candle. Trade ids and book sequences are
//! `u64`, so numeric ids are `numeric(20,0)`; a string id goes in the `_str`
//! column beside it, exactly one of the two being set. Identifiers that
//! list by name (`exchange`, `symbol`, groups, topics) use `COLLATE "C"`, so
//! listings come out in byte order whatever the database's locale.

use std::{collections::HashSet, sync::Mutex};

use marketpipe_model::Timestamp;
use marketpipe_store::StoreError;
use tokio_postgres::Client;

use crate::conn::backend;

/// The newest schema version this build writes and understands. A database
/// with a newer one is refused rather than misread.
pub const SCHEMA_VERSION: i32 = 3;

/// One numbered step of the schema, applied in its own transaction.
struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

const MIGRATIONS: [Migration; SCHEMA_VERSION as usize] = [
    Migration { version: 1, description: "products, time-partitioned candles, books, stats, tickers", sql: V1 },
    Migration { version: 2, description: "consumer positions", sql: V2 },
    Migration { version: 3, description: "consumer checkpoints apart from positions", sql: V3 },
];

const V1: &str = r#"
CREATE TABLE products (
    exchange      text COLLATE "C" NOT NULL,
    symbol        text COLLATE "C" NOT NULL,
    native_symbol text NOT NULL,
    base          text NOT NULL,
    quote         text NOT NULL,
    PRIMARY KEY (exchange, symbol)
);

CREATE TABLE candles (
    exchange        text COLLATE "C" NOT NULL,
    symbol          text COLLATE "C" NOT NULL,
    "interval"      text NOT NULL,
    start_ns        bigint NOT NULL,
    open            numeric NOT NULL,
    high            numeric NOT NULL,
    low             numeric NOT NULL,
    close           numeric NOT NULL,
    volume          numeric NOT NULL,
    quote_volume    numeric NOT NULL,
    vwap            numeric NOT NULL,
    trades          bigint NOT NULL CHECK (trades >= 0),
    buy_trades      bigint NOT NULL CHECK (buy_trades >= 0),
    sell_trades     bigint NOT NULL CHECK (sell_trades >= 0),
    buy_volume      numeric NOT NULL,
    sell_volume     numeric NOT NULL,
    first_trade_num numeric(20,0),
    first_trade_str text,
    last_trade_num  numeric(20,0),
    last_trade_str  text,
    final           boolean NOT NULL,
    revision        bigint NOT NULL CHECK (revision >= 0),
    CONSTRAINT candles_first_trade_one_kind CHECK ((first_trade_num IS NULL) <> (first_trade_str IS NULL)),
    CONSTRAINT candles_last_trade_one_kind CHECK ((last_trade_num IS NULL) <> (last_trade_str IS NULL)),
    PRIMARY KEY (exchange, symbol, "interval", start_ns)
) PARTITION BY RANGE (start_ns);

-- Candles outside every monthly partition land here, so no write is ever
-- rejected for want of a partition; creating a month moves its rows out.
CREATE TABLE candles_default PARTITION OF candles DEFAULT;

CREATE TABLE books (
    exchange text COLLATE "C" NOT NULL,
    symbol   text COLLATE "C" NOT NULL,
    state    text NOT NULL,
    sequence numeric(20,0),
    time_ns  bigint,
    bids     jsonb NOT NULL,
    asks     jsonb NOT NULL,
    PRIMARY KEY (exchange, symbol)
);

CREATE TABLE stats (
    exchange       text COLLATE "C" NOT NULL,
    symbol         text COLLATE "C" NOT NULL,
    time_ns        bigint,
    best_bid       numeric,
    best_bid_size  numeric,
    best_ask       numeric,
    best_ask_size  numeric,
    spread         numeric,
    mid            numeric,
    mid_ma         numeric,
    mid_ma_window  bigint NOT NULL,
    mid_ma_samples bigint NOT NULL,
    max_spread     numeric,
    last_price     numeric,
    last_trade_ns  bigint,
    book_state     text NOT NULL,
    PRIMARY KEY (exchange, symbol)
);

CREATE TABLE tickers (
    exchange      text COLLATE "C" NOT NULL,
    symbol        text COLLATE "C" NOT NULL,
    time_ns       bigint,
    recv_ns       bigint NOT NULL,
    last_price    numeric,
    last_size     numeric,
    best_bid      numeric,
    best_bid_size numeric,
    best_ask      numeric,
    best_ask_size numeric,
    open_24h      numeric,
    high_24h      numeric,
    low_24h       numeric,
    volume_24h    numeric,
    PRIMARY KEY (exchange, symbol)
);
"#;

const V2: &str = r#"
CREATE TABLE consumer_positions (
    group_id    text COLLATE "C" NOT NULL,
    topic       text COLLATE "C" NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    checkpoint  bytea,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
"#;

/// Checkpoints apart from positions, each with its own offset (a position
/// is written with every batch, a checkpoint now and then). A checkpoint
/// stored by version 2 was taken at its position's offset.
const V3: &str = r#"
CREATE TABLE consumer_checkpoints (
    group_id    text COLLATE "C" NOT NULL,
    topic       text COLLATE "C" NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    state       bytea NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);
INSERT INTO consumer_checkpoints (group_id, topic, partition, next_offset, state)
    SELECT group_id, topic, partition, next_offset, checkpoint FROM consumer_positions WHERE checkpoint IS NOT NULL;
ALTER TABLE consumer_positions DROP COLUMN checkpoint;
"#;

/// Serializes schema changes between processes sharing a database (two
/// `process` instances starting at once): taken inside each migration's and
/// each partition's transaction.
const MIGRATION_LOCK: i64 = 0x6d61_726b_6574_0001;
const PARTITION_LOCK: i64 = 0x6d61_726b_6574_0002;

/// Creates `schema` if it does not exist, then brings the tables up to
/// [`SCHEMA_VERSION`], one migration per transaction; refuses a database
/// whose schema is newer than this build.
pub(crate) async fn migrate(client: &mut Client, schema: Option<&str>, target: &str) -> Result<(), StoreError> {
    let open = |e: tokio_postgres::Error| StoreError::Open(format!("{target}: {}", backend("migrating the schema", &e)));
    if let Some(schema) = schema {
        let exists =
            client.query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&crate::conn::quote_ident(schema)]).await.map_err(open)?;
        if !exists.get::<_, bool>(0) {
            // IF NOT EXISTS still races a concurrent creator on the catalog's
            // unique index; the loser's error is harmless, so look again.
            if let Err(e) = client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", crate::conn::quote_ident(schema))).await {
                let again = client.query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&crate::conn::quote_ident(schema)]).await;
                if !again.map(|r| r.get::<_, bool>(0)).unwrap_or(false) {
                    return Err(open(e));
                }
            }
        }
        client.batch_execute(&format!("SET search_path TO {}", crate::conn::quote_ident(schema))).await.map_err(open)?;
    }
    for migration in &MIGRATIONS {
        let tx = client.transaction().await.map_err(open)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(open)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version     integer PRIMARY KEY,
                 description text NOT NULL,
                 applied_at  timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(open)?;
        let current: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM schema_version", &[]).await.map_err(open)?.get(0);
        if current > SCHEMA_VERSION {
            return Err(StoreError::Open(format!(
                "{target}: the database has marketpipe schema version {current}, newer than version {SCHEMA_VERSION} \
                 that this marketpipe understands; use a newer marketpipe or another database or schema"
            )));
        }
        if current >= migration.version {
            continue; // dropping the transaction rolls it back
        }
        tx.batch_execute(migration.sql).await.map_err(open)?;
        tx.execute("INSERT INTO schema_version (version, description) VALUES ($1, $2)", &[&migration.version, &migration.description])
            .await
            .map_err(open)?;
        tx.commit().await.map_err(open)?;
        tracing::info!(target = %target, version = migration.version, description = migration.description, "applied postgres migration");
    }
    Ok(())
}

/// The months that have a candle partition, as far as this process knows:
/// a month not in the set is looked up (and created if missing) once, before
/// the first write that needs it.
#[derive(Debug, Default)]
pub(crate) struct Partitions {
    known: Mutex<HashSet<i32>>,
}

/// The first and last (exclusive) years that get monthly partitions; a
/// candle outside them (a test's year 1970, a garbled timestamp) goes to
/// the default partition instead of creating a table.
const FIRST_YEAR: i64 = 2000;
const END_YEAR: i64 = 2100;

/// A month as a number: `year * 12 + (month - 1)`.
pub(crate) fn month_of(t: Timestamp) -> Option<i32> {
    let parts = t.utc_parts();
    if !(FIRST_YEAR..END_YEAR).contains(&parts.year) {
        return None;
    }
    i32::try_from(parts.year * 12 + i64::from(parts.month) - 1).ok()
}

/// The partition's name and its `[from, to)` bounds in nanoseconds.
pub(crate) fn month_partition(month: i32) -> (String, i64, i64) {
    let (year, m0) = (i64::from(month.div_euclid(12)), month.rem_euclid(12) as u32);
    let next = month + 1;
    let (next_year, next_m0) = (i64::from(next.div_euclid(12)), next.rem_euclid(12) as u32);
    const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;
    let from = days_from_civil(year, m0 + 1, 1) * NS_PER_DAY;
    let to = days_from_civil(next_year, next_m0 + 1, 1) * NS_PER_DAY;
    (format!("candles_p{year:04}_{:02}", m0 + 1), from, to)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Partitions {
    /// The months among `starts` that may lack a partition.
    pub(crate) fn missing(&self, starts: impl Iterator<Item = Timestamp>) -> Vec<i32> {
        let known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut missing: Vec<i32> = starts.filter_map(month_of).filter(|m| !known.contains(m)).collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// Makes sure each month has its partition, each in its own short
    /// transaction ahead of the batch that needs it (an empty partition left
    /// by a batch that then fails is harmless).
    ///
    /// A new partition is created detached, filled with the rows of its
    /// range that were in the default partition, then attached: attaching a
    /// range while the default partition still holds rows of it would fail.
    pub(crate) async fn ensure(&self, client: &mut Client, months: &[i32]) -> Result<(), tokio_postgres::Error> {
        for &month in months {
            let (name, from, to) = month_partition(month);
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK]).await?;
            let exists: bool = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&name]).await?.get(0);
            if !exists {
                tx.batch_execute(&format!(
                    "CREATE TABLE {name} (LIKE candles INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
                     WITH moved AS (DELETE FROM candles_default WHERE start_ns >= {from} AND start_ns < {to} RETURNING *)
                     INSERT INTO {name} SELECT * FROM moved;
                     ALTER TABLE candles ATTACH PARTITION {name} FOR VALUES FROM ({from}) TO ({to});"
                ))
                .await?;
                tracing::info!(partition = %name, from, to, "created candle partition");
            }
            tx.commit().await?;
            self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(month);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_their_bounds() {
        // 2026-01-01T00:00:00Z and 2026-02-01T00:00:00Z.
        let jan = 1_767_225_600_000_000_000;
        let feb = jan + 31 * 86_400 * 1_000_000_000;
        let m = month_of(Timestamp(jan)).expect("2026 is partitioned");
        assert_eq!(month_partition(m), ("candles_p2026_01".to_owned(), jan, feb));
        assert_eq!(month_of(Timestamp(feb - 1)), Some(m), "the last nanosecond of January");
        assert_eq!(month_of(Timestamp(feb)), Some(m + 1));
        // December rolls over into the next year; February of a leap year.
        let (name, from, to) = month_partition(2027 * 12 + 11);
        assert_eq!((name.as_str(), to - from), ("candles_p2027_12", 31 * 86_400 * 1_000_000_000));
        let (name, from, to) = month_partition(2028 * 12 + 1);
        assert_eq!((name.as_str(), to - from), ("candles_p2028_02", 29 * 86_400 * 1_000_000_000));
        assert_eq!(month_partition(2000 * 12).1, 946_684_800_000_000_000, "2000-01-01");
    }

    #[test]
    fn implausible_times_go_to_the_default_partition() {
        for ns in [i64::MIN, -1, 0, 946_684_799_999_999_999, i64::MAX] {
            assert_eq!(month_of(Timestamp(ns)), None, "{ns}");
        }
    }
}
