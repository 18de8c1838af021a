//! The embedded default store: one SQLite database file in the data directory.
//!
//! One writer connection sits behind a mutex (SQLite allows one writer at a
//! time anyway); a small pool of read-only connections serves the API. The
//! database runs in WAL mode, so readers see the last committed batch and
//! never wait for the writer or for each other. All SQLite calls block, so the
//! async trait methods run them on tokio's blocking pool, which exists on
//! current-thread runtimes too (the replay driver uses one).
//!
//! The schema lives in [`schema`], the write path in [`write`], the queries
//! and row decoding in [`read`].

mod read;
mod schema;
mod write;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use marketpipe_model::{BookStats, BookTop, Candle, Exchange, InstrumentKey, Interval, Product, Ticker};
use rusqlite::{ffi::ErrorCode, Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{CandleQuery, LogPosition, MarketReader, MarketWriter, PositionStore, StoreError, WriteBatch};

pub use schema::SCHEMA_VERSION;

/// The database file's name inside the data directory.
pub const DB_FILE_NAME: &str = "marketpipe.db";

/// How a [`SqliteStore`] opens its database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Read-only connections in the pool (at least one is always opened).
    /// API requests beyond this many wait their turn without blocking a
    /// thread.
    pub read_connections: usize,
    /// How long a statement waits for another process's lock before it fails
    /// with a retryable [`StoreError::Backend`].
    pub busy_timeout: Duration,
}

impl SqliteOptions {
    /// Default size of the read pool: enough for a handful of concurrent API
    /// requests on a small machine.
    pub const DEFAULT_READ_CONNECTIONS: usize = 4;
    /// Default busy timeout: long enough to ride out another process's
    /// checkpoint, short enough that a stuck lock surfaces as an error.
    pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { read_connections: Self::DEFAULT_READ_CONNECTIONS, busy_timeout: Self::DEFAULT_BUSY_TIMEOUT }
    }
}

/// The SQLite store. Cheap to clone: clones share the same connections.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: ReadPool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store in `dir`, creating the directory and an empty
    /// database (`dir/marketpipe.db`) if there is none yet.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, &SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with explicit options.
    pub fn open_with(dir: &Path, options: &SqliteOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open(format!("cannot create data directory {}: {e}", dir.display())))?;
        Self::open_file(dir.join(DB_FILE_NAME), true, options)
    }

    /// Opens the store in `dir` only if a marketpipe database is already
    /// there: for commands that read what an earlier run wrote, so a mistyped
    /// data directory is an error instead of a silently empty store.
    pub fn open_existing(dir: &Path) -> Result<Self, StoreError> {
        Self::open_existing_with(dir, &SqliteOptions::default())
    }

    /// [`SqliteStore::open_existing`] with explicit options.
    pub fn open_existing_with(dir: &Path, options: &SqliteOptions) -> Result<Self, StoreError> {
        let path = dir.join(DB_FILE_NAME);
        if !path.is_file() {
            let why = if dir.is_dir() { "the directory has no database" } else { "the directory does not exist" };
            return Err(StoreError::Open(format!("no marketpipe database at {} ({why}); check the data directory", path.display())));
        }
        Self::open_file(path, false, options)
    }

    fn open_file(path: PathBuf, create: bool, options: &SqliteOptions) -> Result<Self, StoreError> {
        let open_err = |e: rusqlite::Error| schema::open_error(&path, e);
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let mut writer = Connection::open_with_flags(&path, flags).map_err(open_err)?;
        writer.busy_timeout(options.busy_timeout).map_err(open_err)?;
        // Schema first: a database this build refuses is left untouched.
        schema::ensure(&mut writer, &path, create)?;
        schema::configure_writer(&writer, &path)?;

        // Opened after the writer, which has created the file, its schema and
        // the WAL index that read-only connections need.
        let count = options.read_connections.max(1);
        let readers = (0..count).map(|_| open_reader(&path, options.busy_timeout)).collect::<Result<Vec<_>, _>>().map_err(open_err)?;
        tracing::debug!(path = %path.display(), read_connections = count, "opened sqlite store");
        Ok(SqliteStore {
            inner: Arc::new(Inner { path, writer: Mutex::new(writer), readers: ReadPool::new(readers, options.busy_timeout) }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Writes a batch in one transaction on the calling thread, for callers
    /// without an async runtime. [`MarketWriter::write`] runs this on the
    /// blocking pool.
    pub fn write_blocking(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        self.write_at_blocking(batch, &[])
    }

    /// [`PositionStore::write_at`] on the calling thread: the batch and the
    /// positions in one transaction.
    pub fn write_at_blocking(&self, batch: &WriteBatch, positions: &[LogPosition]) -> Result<(), StoreError> {
        if batch.is_empty() && positions.is_empty() {
            return Ok(());
        }
        // A panic while the lock was held cannot have left a transaction
        // open (dropping it rolls back), so the connection is still sound.
        let mut conn = self.inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
        write::write_batch(&mut conn, batch, positions)
    }

    /// Runs `f` on a pooled read connection on the blocking pool. The wait
    /// for a free connection is async, so queued requests hold no thread.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.readers.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend { message: "sqlite read pool closed".to_owned(), retryable: false })?;
        let inner = Arc::clone(&self.inner);
        run_blocking(move || inner.readers.with_conn(&inner.path, permit, f)).await
    }
}

/// Runs blocking SQLite work off the async threads: on the current tokio
/// runtime's blocking pool if there is one, inline otherwise (a caller polling
/// the future from a plain executor still gets an answer).
async fn run_blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .map_err(|e| StoreError::Backend { message: format!("sqlite task failed: {e}"), retryable: false })?,
        Err(_) => f(),
    }
}

/// Read-only connections handed out one request at a time. The semaphore
/// has exactly as many permits as there are connections, so a permit holder
/// normally finds one idle.
struct ReadPool {
    permits: Arc<Semaphore>,
    idle: Mutex<Vec<Connection>>,
    busy_timeout: Duration,
}

impl ReadPool {
    fn new(conns: Vec<Connection>, busy_timeout: Duration) -> Self {
        ReadPool { permits: Arc::new(Semaphore::new(conns.len())), idle: Mutex::new(conns), busy_timeout }
    }

    /// Runs `f` on an idle connection while `_permit` is held, then puts the
    /// connection back. Should `f` ever panic, its connection is dropped with
    /// the unwinding stack and the next caller opens a replacement.
    fn with_conn<T>(
        &self,
        path: &Path,
        _permit: OwnedSemaphorePermit,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(path, self.busy_timeout).map_err(|e| backend("opening a read connection", e))?,
        };
        let result = f(&conn);
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
        result
    }
}

/// Opens one read-only connection. Read-only, so a bug in a query can never
/// write; it needs the file and its WAL index, which the writer creates.
fn open_reader(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

/// Maps a SQLite failure to [`StoreError::Backend`]: a busy or locked
/// database is worth retrying, everything else (a full disk, a constraint,
/// a corrupt file) is not.
fn backend(context: &str, e: rusqlite::Error) -> StoreError {
    let retryable = matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked));
    StoreError::Backend { message: format!("sqlite {context}: {e}"), retryable }
}

/// Exchange-given `u64`s (trade ids, book sequences) are stored bit for bit
/// in SQLite's signed 64-bit integer: every value round-trips exactly, and
/// all real ids (far below 2^63) read naturally in the database.
const fn u64_to_sql(v: u64) -> i64 {
    v as i64
}

/// The inverse of [`u64_to_sql`].
const fn u64_from_sql(v: i64) -> u64 {
    v as u64
}

#[async_trait]
impl MarketWriter for SqliteStore {
    async fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        // The blocking pool needs owned data; a batch is cheap to clone next
        // to writing it (shared symbols, inline decimals).
        let store = self.clone();
        let batch = batch.clone();
        run_blocking(move || store.write_blocking(&batch)).await
    }
}

#[async_trait]
impl PositionStore for SqliteStore {
    async fn write_at(&self, batch: &WriteBatch, positions: &[LogPosition]) -> Result<(), StoreError> {
        if batch.is_empty() && positions.is_empty() {
            return Ok(());
        }
        let store = self.clone();
        let (batch, positions) = (batch.clone(), positions.to_vec());
        run_blocking(move || store.write_at_blocking(&batch, &positions)).await
    }

    async fn positions(&self, group: &str, topic: &str) -> Result<Vec<LogPosition>, StoreError> {
        let (group, topic) = (group.to_owned(), topic.to_owned());
        self.read(move |conn| read::positions(conn, &group, &topic)).await
    }
}

#[async_trait]
impl MarketReader for SqliteStore {
    async fn health(&self) -> Result<(), StoreError> {
        self.read(read::health).await
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        self.read(read::products).await
    }

    async fn product(&self, key: &InstrumentKey) -> Result<Option<Product>, StoreError> {
        let key = key.clone();
        self.read(move |conn| read::product(conn, &key)).await
    }

    async fn candles(&self, query: &CandleQuery) -> Result<Vec<Candle>, StoreError> {
        let query = query.clone();
        self.read(move |conn| read::candles(conn, &query)).await
    }

    async fn latest_candle(&self, key: &InstrumentKey, interval: Interval) -> Result<Option<Candle>, StoreError> {
        let key = key.clone();
        self.read(move |conn| read::latest_candle(conn, &key, interval)).await
    }

    async fn book(&self, key: &InstrumentKey, depth: usize) -> Result<Option<BookTop>, StoreError> {
        let key = key.clone();
        self.read(move |conn| read::book(conn, &key, depth)).await
    }

    async fn stats(&self, key: &InstrumentKey) -> Result<Option<BookStats>, StoreError> {
        let key = key.clone();
        self.read(move |conn| read::stats(conn, &key)).await
    }

    async fn ticker(&self, key: &InstrumentKey) -> Result<Option<Ticker>, StoreError> {
        let key = key.clone();
        self.read(move |conn| read::ticker(conn, &key)).await
    }

    async fn tickers(&self, exchange: Exchange) -> Result<Vec<Ticker>, StoreError> {
        self.read(move |conn| read::tickers(conn, exchange)).await
    }
}
