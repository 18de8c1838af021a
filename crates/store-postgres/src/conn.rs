//! Connections: parsing the URL, connecting, telling retryable failures from
//! the others, and the backoff between retries.

use std::{
    error::Error as _,
    fmt, io,
    str::FromStr,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use marketpipe_store::StoreError;
use tokio::time::Instant;
use tokio_postgres::{config::SslMode, Client, Config, NoTls};

use crate::{metrics, PgOptions};

/// Parses a `postgres://` (or `postgresql://`) URL or a `key=value`
/// connection string, and fills in what marketpipe wants by default.
pub(crate) fn parse_config(url: &str, options: &PgOptions) -> Result<Config, StoreError> {
    // tokio-postgres's parse errors never echo the input, so a password in
    // the URL cannot leak into a log line through this error.
    let mut config = Config::from_str(url).map_err(|e| StoreError::Open(format!("invalid PostgreSQL URL: {e}")))?;
    if config.get_ssl_mode() == SslMode::Require {
        // Built without TLS on purpose (see the crate docs): refusing beats
        // silently connecting in clear text when TLS was asked for.
        return Err(StoreError::Open(format!(
            "{} asks for sslmode=require, but this build of marketpipe has no TLS support for PostgreSQL; \
             connect over a trusted network or a Unix socket, or build with TLS (see the marketpipe-store-postgres docs)",
            describe(&config)
        )));
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(options.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name("marketpipe");
    }
    // Dead peers (a server host that vanished without closing the socket)
    // are noticed by TCP keepalives instead of hanging a write forever.
    config.keepalives(true).keepalives_idle(Duration::from_secs(30));
    Ok(config)
}

/// The server a config points at, for messages: user, hosts, ports and
/// database, never the password.
pub(crate) fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
    format!("postgres://{}@{}:{}/{}", config.get_user().unwrap_or(""), hosts.join(","), ports.join(","), config.get_dbname().unwrap_or(""))
}

/// Opens one connection, spawns the task that drives it, and points its
/// `search_path` at `schema` (quoted) if one is given.
pub(crate) async fn connect(config: &Config, schema: Option<&str>) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        // The client side sees the failure too (every pending and later
        // call fails with a closed-connection error), so this is only a log.
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres connection ended");
        }
    });
    if let Some(schema) = schema {
        client.batch_execute(&format!("SET search_path TO {}", quote_ident(schema))).await?;
    }
    Ok(client)
}

/// Quotes an SQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Maps a driver error to [`StoreError::Backend`], saying whether trying
/// again (on a new connection) may help; `context` says what was being done.
pub(crate) fn backend(context: &str, e: &tokio_postgres::Error) -> StoreError {
    let message = match e.as_db_error() {
        // The server's own words, with its SQLSTATE for searching.
        Some(db) => {
            let detail = db.detail().map(|d| format!(" ({d})")).unwrap_or_default();
            format!("postgres {context}: {}: {}{detail} [SQLSTATE {}]", db.severity(), db.message(), db.code().code())
        }
        None => match e.source() {
            Some(cause) => format!("postgres {context}: {e}: {cause}"),
            None => format!("postgres {context}: {e}"),
        },
    };
    StoreError::Backend { message, retryable: is_retryable(e) }
}

/// Whether a failure is about the connection or the server's state rather
/// than about what was sent: those are worth a retry on a new connection.
///
/// Retryable: connection exceptions (SQLSTATE class 08), the server shutting
/// down, restarting or starting up (57P01..57P05), too many connections
/// (53300), serialization failures and deadlocks (40001, 40P01), a lock not
/// available (55P03), and any failure below SQL (refused, reset, closed,
/// timed out). Not retryable: everything about the data or the statement
/// (constraints, types, a trigger's exception), authentication, a full disk.
pub(crate) fn is_retryable(e: &tokio_postgres::Error) -> bool {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return code.starts_with("08") || code.starts_with("57P") || matches!(code, "53300" | "40001" | "40P01" | "55P03");
    }
    // Not the server's answer: the connection itself failed (I/O errors,
    // connect timeouts) or was closed under us.
    e.is_closed() || e.source().is_some_and(|s| s.is::<io::Error>())
}

/// Retries of one operation: exponential backoff with a deadline.
pub(crate) struct Retry<'a> {
    what: &'static str,
    deadline: Instant,
    delay: Duration,
    max_delay: Duration,
    counters: &'a Counters,
}

impl<'a> Retry<'a> {
    /// Starts retrying `what` (for logs and metrics), giving up `budget`
    /// from now.
    pub(crate) fn new(what: &'static str, budget: Duration, options: &PgOptions, counters: &'a Counters) -> Self {
        Retry {
            what,
            deadline: Instant::now() + budget,
            delay: options.backoff_initial,
            max_delay: options.backoff_max.max(options.backoff_initial),
            counters,
        }
    }

    /// After a failed attempt: returns the error if it is not retryable or
    /// the deadline is near, else sleeps the backoff so the caller can try
    /// again.
    pub(crate) async fn wait_or_fail(&mut self, error: StoreError) -> Result<(), StoreError> {
        if !error.is_retryable() {
            return Err(error);
        }
        let now = Instant::now();
        if now + self.delay >= self.deadline {
            tracing::warn!(op = self.what, error = %error, "postgres: giving up after retrying until the deadline");
            return Err(error);
        }
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
        ::metrics::counter!(metrics::RETRIES, "op" => self.what).increment(1);
        tracing::warn!(op = self.what, error = %error, retry_in_ms = self.delay.as_millis() as u64, "postgres: retrying");
        tokio::time::sleep(self.delay).await;
        self.delay = (self.delay * 2).min(self.max_delay);
        Ok(())
    }
}

/// What the store has had to do to keep going, since it was opened.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// Connections opened, the first ones included.
    pub(crate) connections: AtomicU64,
    /// Failed attempts that were tried again.
    pub(crate) retries: AtomicU64,
}

/// A snapshot of a [`crate::PgStore`]'s reconnect and retry counts (also
/// exported as metrics; see [`crate::metrics`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PgCounters {
    /// Connections opened since the store was opened, the first ones
    /// included (a store opens two: one writer, one reader).
    pub connections: u64,
    /// Failed attempts (writes, reads, connects) that were tried again.
    pub retries: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> PgCounters {
        PgCounters { connections: self.connections.load(Ordering::Relaxed), retries: self.retries.load(Ordering::Relaxed) }
    }

    pub(crate) fn connected(&self, role: &'static str) {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ::metrics::counter!(metrics::CONNECTIONS, "role" => role).increment(1);
    }
}

impl fmt::Display for PgCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} connections, {} retries", self.connections, self.retries)
    }
}
