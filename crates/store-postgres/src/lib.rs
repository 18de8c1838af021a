//! marketpipe's PostgreSQL store, for the distributed mode: several
//! `process` instances write into one database, `serve` instances read it.
//!
//! [`PgStore`] implements the same traits as the embedded SQLite store
//! ([`MarketWriter`], [`MarketReader`], [`PositionStore`]) and passes the same
//! shared suite (`marketpipe_store::testsuite`).
//!
//! # Connecting
//!
//! [`PgStore::connect`] takes a libpq-style URL,
//! `postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?param=value&…]`, or the
//! `key=value` form; the usual parameters work (`host` may be a Unix socket
//! directory, several hosts may be listed with `target_session_attrs`,
//! `connect_timeout`, `keepalives`, `application_name`, `options`, …). At
//! start it creates the [`PgOptions::schema`] if one is set and brings the
//! tables up to [`SCHEMA_VERSION`] (a `schema_version` table records the
//! numbered migrations, each applied in its own transaction under an
//! advisory lock); a database with a newer schema is refused with
//! [`StoreError::Open`].
//!
//! **TLS** is not compiled in: the crate connects with `NoTls`, and a URL
//! with `sslmode=require` is refused rather than silently sent in clear
//! text (`prefer`, the default, falls back to plain TCP). To add it, depend
//! on `tokio-postgres-rustls` (or `postgres-native-tls`) and pass its
//! `MakeTlsConnect` instead of `NoTls` in `conn::connect`; nothing else
//! changes.
//!
//! # Schema
//!
//! `products`, `books`, `stats`, `tickers`, `consumer_positions` and
//! `consumer_checkpoints` are plain
//! tables keyed by their natural keys. `candles` is range-partitioned by
//! `start_ns` into monthly partitions (`candles_p2026_01`), created on demand
//! before the first write that needs one, with a default partition so no
//! write is ever refused for want of one; its primary key is
//! `(exchange, symbol, "interval", start_ns)`. Decimals are `numeric`, which
//! keeps their scale, so they read back as the strings that were written
//! (see `schema` for the one exception, the sign of a zero).
//!
//! # Writes
//!
//! A batch is one transaction: its candles are `COPY`-ed into a temporary
//! staging table and merged with `INSERT … SELECT … ON CONFLICT DO UPDATE`;
//! products, books, stats, tickers, positions and checkpoints (a few rows
//! each) go as one
//! `INSERT … SELECT … FROM unnest(…) ON CONFLICT` statement per table,
//! pipelined (see `write` for the measurement behind the split). Candles
//! keep the highest revision, and at equal revision a final candle
//! is never replaced by a non-final one; everything else is replaced by the
//! newer row. Consumer positions and checkpoints go in the same transaction
//! and never move backwards.
//!
//! # Failures
//!
//! Errors are [`StoreError::Backend`] with `retryable` set for connection
//! failures and the server restarting or shutting down (see
//! `conn::is_retryable`). A write that fails that way is retried whole on a
//! new connection, with exponential backoff, until
//! [`PgOptions::write_retry_deadline`]; the caller's batch is borrowed, so
//! nothing it buffered is lost even when the store gives up. A retry after a
//! connection lost during `COMMIT` may write a batch that did commit a
//! second time, which the idempotent upserts make harmless. Reads retry the
//! same way until [`PgOptions::read_retry_deadline`].

mod conn;
pub mod metrics;
mod read;
mod schema;
mod write;

use std::{fmt, sync::Arc, time::Duration};

use async_trait::async_trait;
use marketpipe_model::{BookStats, BookTop, Candle, Exchange, InstrumentKey, Interval, Product, Ticker};
use marketpipe_store::{CandleQuery, LogPosition, MarketReader, MarketWriter, PositionStore, StoreError, WriteBatch};
use tokio::sync::{Mutex, RwLock};
use tokio_postgres::Config;

pub use conn::PgCounters;
pub use schema::SCHEMA_VERSION;

use conn::{backend, Counters, Retry};
use read::Reader;
use schema::Partitions;
use write::{Encoded, Writer};

/// How a [`PgStore`] connects and retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The schema (namespace) holding marketpipe's tables, created if
    /// missing; every connection's `search_path` is set to it. `None` uses
    /// the connection's default search path (normally `public`).
    pub schema: Option<String>,
    /// How long a write keeps reconnecting and retrying after a retryable
    /// failure before it returns the error.
    pub write_retry_deadline: Duration,
    /// The same for reads, shorter: someone is waiting for the answer.
    pub read_retry_deadline: Duration,
    /// How long [`PgStore::connect`] keeps trying to reach the server (it
    /// may be starting alongside marketpipe).
    pub startup_deadline: Duration,
    /// The first pause between retries; doubled after each failure.
    pub backoff_initial: Duration,
    /// The longest pause between retries.
    pub backoff_max: Duration,
    /// TCP connect timeout, unless the URL sets `connect_timeout`.
    pub connect_timeout: Duration,
}

impl PgOptions {
    /// Default write deadline: rides out a server restart or a failover.
    pub const DEFAULT_WRITE_RETRY_DEADLINE: Duration = Duration::from_secs(60);
    /// Default read deadline: an API request should fail rather than hang.
    pub const DEFAULT_READ_RETRY_DEADLINE: Duration = Duration::from_secs(5);
    /// Default startup deadline.
    pub const DEFAULT_STARTUP_DEADLINE: Duration = Duration::from_secs(10);
    /// Default first backoff.
    pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(50);
    /// Default longest backoff.
    pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(2);
    /// Default connect timeout.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            schema: None,
            write_retry_deadline: Self::DEFAULT_WRITE_RETRY_DEADLINE,
            read_retry_deadline: Self::DEFAULT_READ_RETRY_DEADLINE,
            startup_deadline: Self::DEFAULT_STARTUP_DEADLINE,
            backoff_initial: Self::DEFAULT_BACKOFF_INITIAL,
            backoff_max: Self::DEFAULT_BACKOFF_MAX,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// The PostgreSQL store. Cheap to clone: clones share the connections.
///
/// It holds two connections: a writer, used by one batch at a time (a batch
/// is one transaction), and a reader whose queries are pipelined, so
/// concurrent API requests share it without waiting for each other's round
/// trips. Either is reopened when it fails.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// The server, for messages (no password).
    target: String,
    options: PgOptions,
    writer: Mutex<Option<Writer>>,
    reader: RwLock<Option<Arc<Reader>>>,
    partitions: Partitions,
    counters: Counters,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").field("target", &self.inner.target).field("schema", &self.inner.options.schema).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects with default options and migrates the schema.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        Self::connect_with(url, PgOptions::default()).await
    }

    /// [`PgStore::connect`] with explicit options.
    pub async fn connect_with(url: &str, options: PgOptions) -> Result<PgStore, StoreError> {
        let config = conn::parse_config(url, &options)?;
        let target = conn::describe(&config);
        let store = PgStore {
            inner: Arc::new(Inner {
                config,
                target,
                options,
                writer: Mutex::new(None),
                reader: RwLock::new(None),
                partitions: Partitions::default(),
                counters: Counters::default(),
            }),
        };
        let inner = &store.inner;
        let schema = inner.options.schema.as_deref();
        let mut retry = Retry::new("connect", inner.options.startup_deadline, &inner.options, &inner.counters);
        let mut client = loop {
            match conn::connect(&inner.config, None).await {
                Ok(client) => break client,
                Err(e) => {
                    let err = backend("connecting", &e);
                    if let Err(e) = retry.wait_or_fail(err).await {
                        return Err(StoreError::Open(format!("cannot connect to {}: {e}", inner.target)));
                    }
                }
            }
        };
        // The schema first (it may not exist yet, so this connection's
        // search path is set only after it does).
        schema::migrate(&mut client, schema, &inner.target).await?;
        drop(client);
        drop(store.writer_slot().await.map_err(|e| StoreError::Open(format!("{}: {e}", inner.target)))?);
        store.reader().await.map_err(|e| StoreError::Open(format!("{}: {e}", inner.target)))?;
        tracing::debug!(target = %inner.target, schema = ?schema, "opened postgres store");
        Ok(store)
    }

    /// The server this store writes to, as `postgres://user@host:port/db`
    /// (never the password).
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    /// How many connections the store has opened and how many failed
    /// attempts it has retried since it was opened.
    pub fn counters(&self) -> PgCounters {
        self.inner.counters.snapshot()
    }

    /// The writer connection, opened (and set up) if there is none or the
    /// last one died.
    async fn writer_slot(&self) -> Result<tokio::sync::MutexGuard<'_, Option<Writer>>, StoreError> {
        let mut slot = self.inner.writer.lock().await;
        if slot.as_ref().is_some_and(|w| w.client.is_closed()) {
            *slot = None;
        }
        if slot.is_none() {
            let client = conn::connect(&self.inner.config, self.inner.options.schema.as_deref())
                .await
                .map_err(|e| backend("connecting the writer", &e))?;
            let writer = Writer::prepare(client).await.map_err(|e| backend("preparing the writer", &e))?;
            self.inner.counters.connected("writer");
            *slot = Some(writer);
        }
        Ok(slot)
    }

    /// One attempt at a write; a connection that failed is dropped, so the
    /// next attempt starts on a new one.
    async fn try_write(&self, encoded: &Encoded) -> Result<(), StoreError> {
        let mut slot = self.writer_slot().await?;
        let Some(writer) = slot.as_mut() else {
            return Err(StoreError::Backend { message: "postgres writer vanished".to_owned(), retryable: true });
        };
        let result = writer.write(encoded, &self.inner.partitions).await;
        if result.as_ref().is_err_and(StoreError::is_retryable) {
            *slot = None;
        }
        result
    }

    /// The reader connection, opened if there is none or the last one died.
    async fn reader(&self) -> Result<Arc<Reader>, StoreError> {
        if let Some(reader) = self.inner.reader.read().await.as_ref().filter(|r| !r.client.is_closed()) {
            return Ok(Arc::clone(reader));
        }
        let mut slot = self.inner.reader.write().await;
        if let Some(reader) = slot.as_ref().filter(|r| !r.client.is_closed()) {
            return Ok(Arc::clone(reader));
        }
        let client = conn::connect(&self.inner.config, self.inner.options.schema.as_deref())
            .await
            .map_err(|e| backend("connecting the reader", &e))?;
        let reader = Arc::new(Reader::prepare(client).await.map_err(|e| backend("preparing the reader", &e))?);
        self.inner.counters.connected("reader");
        *slot = Some(Arc::clone(&reader));
        Ok(reader)
    }

    /// Forgets the reader `failed` (unless another task already replaced it).
    async fn drop_reader(&self, failed: &Arc<Reader>) {
        let mut slot = self.inner.reader.write().await;
        if slot.as_ref().is_some_and(|r| Arc::ptr_eq(r, failed)) {
            *slot = None;
        }
    }
}

/// Runs one read on the reader connection, reconnecting and retrying on a
/// retryable failure until the read deadline.
macro_rules! read {
    ($store:ident, |$reader:ident| $call:expr) => {{
        let inner = &$store.inner;
        let mut retry = Retry::new("read", inner.options.read_retry_deadline, &inner.options, &inner.counters);
        loop {
            let result = match $store.reader().await {
                Ok($reader) => {
                    let result = $call.await;
                    if result.as_ref().is_err_and(StoreError::is_retryable) {
                        $store.drop_reader(&$reader).await;
                    }
                    result
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(value) => break Ok(value),
                Err(e) => retry.wait_or_fail(e).await?,
            }
        }
    }};
}

#[async_trait]
impl MarketWriter for PgStore {
    async fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        self.write_at(batch, &[]).await
    }
}

#[async_trait]
impl PositionStore for PgStore {
    async fn write_at(&self, batch: &WriteBatch, positions: &[LogPosition]) -> Result<(), StoreError> {
        if batch.is_empty() && positions.is_empty() {
            return Ok(());
        }
        let encoded = Encoded::new(batch, positions)?;
        let inner = &self.inner;
        let mut retry = Retry::new("write", inner.options.write_retry_deadline, &inner.options, &inner.counters);
        loop {
            match self.try_write(&encoded).await {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::debug!(rows = encoded.rows(), error = %e, "postgres write attempt failed");
                    retry.wait_or_fail(e).await?;
                }
            }
        }
    }

    async fn positions(&self, group: &str, topic: &str) -> Result<Vec<LogPosition>, StoreError> {
        read!(self, |r| r.positions(group, topic))
    }
}

#[async_trait]
impl MarketReader for PgStore {
    async fn health(&self) -> Result<(), StoreError> {
        read!(self, |r| r.health())
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        read!(self, |r| r.products())
    }

    async fn product(&self, key: &InstrumentKey) -> Result<Option<Product>, StoreError> {
        read!(self, |r| r.product(key))
    }

    async fn candles(&self, query: &CandleQuery) -> Result<Vec<Candle>, StoreError> {
        read!(self, |r| r.candles(query))
    }

    async fn latest_candle(&self, key: &InstrumentKey, interval: Interval) -> Result<Option<Candle>, StoreError> {
        read!(self, |r| r.latest_candle(key, interval))
    }

    async fn book(&self, key: &InstrumentKey, depth: usize) -> Result<Option<BookTop>, StoreError> {
        read!(self, |r| r.book(key, depth))
    }

    async fn stats(&self, key: &InstrumentKey) -> Result<Option<BookStats>, StoreError> {
        read!(self, |r| r.stats(key))
    }

    async fn ticker(&self, key: &InstrumentKey) -> Result<Option<Ticker>, StoreError> {
        read!(self, |r| r.ticker(key))
    }

    async fn tickers(&self, exchange: Exchange) -> Result<Vec<Ticker>, StoreError> {
        read!(self, |r| r.tickers(exchange))
    }
}
