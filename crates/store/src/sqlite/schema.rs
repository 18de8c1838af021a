//! The SQLite schema, its version, and the connection settings the writer
//! needs.
//!
//! Tables are keyed by their natural keys and declared `STRICT`, so SQLite
//! refuses a value of the wrong type instead of quietly converting it.
//! Decimals are `TEXT` holding exactly what `Decimal::to_string` rendered
//! (scale included). Trade ids are `ANY`: a numeric id is stored as an
//! INTEGER and a string id as TEXT in the same column, and `ANY` in a strict
//! table keeps each as it was given (a plain column with INTEGER or TEXT
//! affinity would turn the string id "123" into the number 123 or back).

use std::{fmt, path::Path};

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// The schema version this build writes and understands, kept in
/// `PRAGMA user_version`. A database with a newer version is refused rather
/// than misread.
pub const SCHEMA_VERSION: i64 = 3;

/// Version 1 of the schema.
pub(super) const CREATE_V1: &str = "
CREATE TABLE products (
    exchange      TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    native_symbol TEXT NOT NULL,
    base          TEXT NOT NULL,
    quote         TEXT NOT NULL,
    PRIMARY KEY (exchange, symbol)
) WITHOUT ROWID, STRICT;

CREATE TABLE candles (
    exchange       TEXT    NOT NULL,
    symbol         TEXT    NOT NULL,
    interval       TEXT    NOT NULL,
    start_ns       INTEGER NOT NULL,
    open           TEXT    NOT NULL,
    high           TEXT    NOT NULL,
    low            TEXT    NOT NULL,
    close          TEXT    NOT NULL,
    volume         TEXT    NOT NULL,
    quote_volume   TEXT    NOT NULL,
    vwap           TEXT    NOT NULL,
    trades         INTEGER NOT NULL,
    buy_trades     INTEGER NOT NULL,
    sell_trades    INTEGER NOT NULL,
    buy_volume     TEXT    NOT NULL,
    sell_volume    TEXT    NOT NULL,
    first_trade_id ANY     NOT NULL,
    last_trade_id  ANY     NOT NULL,
    final          INTEGER NOT NULL,
    revision       INTEGER NOT NULL,
    PRIMARY KEY (exchange, symbol, interval, start_ns)
) WITHOUT ROWID, STRICT;

CREATE TABLE books (
    exchange TEXT NOT NULL,
    symbol   TEXT NOT NULL,
    state    TEXT NOT NULL,
    sequence INTEGER,
    time_ns  INTEGER,
    bids     TEXT NOT NULL,
    asks     TEXT NOT NULL,
    PRIMARY KEY (exchange, symbol)
) WITHOUT ROWID, STRICT;

CREATE TABLE stats (
    exchange        TEXT NOT NULL,
    symbol          TEXT NOT NULL,
    time_ns         INTEGER,
    best_bid        TEXT,
    best_bid_size   TEXT,
    best_ask        TEXT,
    best_ask_size   TEXT,
    spread          TEXT,
    mid             TEXT,
    mid_ma          TEXT,
    mid_ma_window   INTEGER NOT NULL,
    mid_ma_samples  INTEGER NOT NULL,
    max_spread      TEXT,
    last_price      TEXT,
    last_trade_ns   INTEGER,
    book_state      TEXT NOT NULL,
    PRIMARY KEY (exchange, symbol)
) WITHOUT ROWID, STRICT;

CREATE TABLE tickers (
    exchange      TEXT NOT NULL,
    symbol        TEXT NOT NULL,
    time_ns       INTEGER,
    recv_ns       INTEGER NOT NULL,
    last_price    TEXT,
    last_size     TEXT,
    best_bid      TEXT,
    best_bid_size TEXT,
    best_ask      TEXT,
    best_ask_size TEXT,
    open_24h      TEXT,
    high_24h      TEXT,
    low_24h       TEXT,
    volume_24h    TEXT,
    PRIMARY KEY (exchange, symbol)
) WITHOUT ROWID, STRICT;
";

/// Version 2: consumer positions in the log, written in the same
/// transaction as the results they cover (see `PositionStore`).
pub(super) const MIGRATE_V2: &str = "
CREATE TABLE consumer_positions (
    group_id    TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    checkpoint  BLOB,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID, STRICT;
";

/// Version 3: checkpoints apart from positions, each with its own offset
/// (a position is written with every batch, a checkpoint now and then).
/// A checkpoint stored by version 2 was taken at its position's offset.
pub(super) const MIGRATE_V3: &str = "
CREATE TABLE consumer_checkpoints (
    group_id    TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    partition   INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    state       BLOB    NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
) WITHOUT ROWID, STRICT;
INSERT INTO consumer_checkpoints (group_id, topic, partition, next_offset, state)
    SELECT group_id, topic, partition, next_offset, checkpoint FROM consumer_positions WHERE checkpoint IS NOT NULL;
ALTER TABLE consumer_positions DROP COLUMN checkpoint;
";

/// The migration that takes a database from version `n - 1` to `n` is
/// `MIGRATIONS[n - 1]`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [CREATE_V1, MIGRATE_V2, MIGRATE_V3];

/// Puts the writer connection in WAL mode with `synchronous=NORMAL`.
///
/// WAL lets the read pool read while a batch is being written; NORMAL syncs
/// at checkpoints rather than at every commit, which in WAL mode can lose
/// the last batches on power loss but never corrupts the file (a replay or
/// the live feed rewrites them, since every write is an idempotent upsert).
pub(super) fn configure_writer(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0)).map_err(|e| open_error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Concurrent reads depend on WAL; failing loudly beats serving the
        // API from a database that blocks readers during every write.
        return Err(open_error(path, format_args!("cannot switch to WAL journal mode (got {mode:?}); is the file system local?")));
    }
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| open_error(path, e))?;
    // Room for every statement the store prepares, so none is re-parsed.
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// A [`StoreError::Open`] that names the database file.
pub(super) fn open_error(path: &Path, e: impl fmt::Display) -> StoreError {
    StoreError::Open(format!("{}: {e}", path.display()))
}

/// Checks the schema version and creates the tables in a fresh database.
///
/// Anything but a current schema is looked at again inside an IMMEDIATE
/// transaction, so two processes opening the same new directory at once
/// cannot both create the schema. With `create` false (the
/// `open_existing` path) a database without a schema is refused too.
pub(super) fn ensure(conn: &mut Connection, path: &Path, create: bool) -> Result<(), StoreError> {
    let open_err = |e: rusqlite::Error| open_error(path, e);
    let user_version = |conn: &Connection| conn.pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0)).map_err(open_err);
    // The common case, a current schema, needs no write lock: `serve` can
    // open a store that a running pipeline is busy writing to.
    if user_version(conn)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(open_err)?;
    let version = user_version(&tx)?;
    match version {
        0 if !create => Err(StoreError::Open(format!("{} is not a marketpipe database (it has no schema)", path.display()))),
        SCHEMA_VERSION => Ok(()),
        // A fresh database, or an older schema this build knows how to
        // upgrade: every missing step in the one transaction, so a failure
        // leaves the version it had.
        v if (0..SCHEMA_VERSION).contains(&v) => {
            for sql in &MIGRATIONS[v as usize..] {
                tx.execute_batch(sql).map_err(open_err)?;
            }
            tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(open_err)?;
            tx.commit().map_err(open_err)?;
            tracing::info!(path = %path.display(), from = v, to = SCHEMA_VERSION, "migrated store schema");
            Ok(())
        }
        v if v > SCHEMA_VERSION => Err(StoreError::Open(format!(
            "{} has schema version {v}, newer than version {SCHEMA_VERSION} that this marketpipe understands; \
             use a newer marketpipe or another data directory",
            path.display()
        ))),
        v => Err(StoreError::Open(format!(
            "{} has unknown schema version {v} (this marketpipe understands version {SCHEMA_VERSION})",
            path.display()
        ))),
    }
}
