//! What the PostgreSQL tests share: finding the server, a fresh empty store
//! per check (each in a schema of its own), and a plain admin connection.

#![allow(dead_code)] // each test binary uses its own subset

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use marketpipe_store_postgres::{PgOptions, PgStore};
use tokio_postgres::{Client, NoTls};

/// The environment variable naming the test server.
pub const URL_VAR: &str = "MARKETPIPE_TEST_POSTGRES_URL";

/// The test server's URL. These tests need a real PostgreSQL and fail,
/// rather than skip, without one, saying how to get one.
pub fn server_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set, and the PostgreSQL store tests need a real server. Run the tests through \
             scripts/test.sh, which starts one and sets it, or start one yourself:\n    \
             export {URL_VAR}=$(scripts/services/postgres.sh start)\n\
             (any PostgreSQL 15+ URL where the user may create schemas works too)"
        ),
    }
}

/// A schema name no other check (in this run or another) uses.
pub fn unique_schema(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("mpt_{prefix}_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A store in a new, empty schema.
pub struct Fresh {
    pub store: PgStore,
    pub schema: String,
}

impl Fresh {
    pub async fn new() -> Fresh {
        Self::with(PgOptions::default()).await
    }

    pub async fn with(options: PgOptions) -> Fresh {
        let schema = unique_schema("s");
        let store = PgStore::connect_with(&server_url(), PgOptions { schema: Some(schema.clone()), ..options })
            .await
            .unwrap_or_else(|e| panic!("cannot open a PostgreSQL store: {e}"));
        Fresh { store, schema }
    }

    /// A plain connection whose search path is this store's schema.
    pub async fn admin(&self) -> Client {
        let client = admin().await;
        client.batch_execute(&format!("SET search_path TO \"{}\"", self.schema)).await.expect("set search_path");
        client
    }

    /// Drops the schema (tests call this at the end, so passing runs leave
    /// nothing behind in a long-lived server).
    pub async fn cleanup(self) {
        drop(self.store);
        admin().await.batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", self.schema)).await.expect("drop schema");
    }
}

/// A plain connection to the test server.
pub async fn admin() -> Client {
    let (client, connection) = tokio_postgres::connect(&server_url(), NoTls).await.expect("admin connection to the test server");
    tokio::spawn(connection);
    client
}

/// Makes the store's tables reject any row of `testsuite::POISON_SYMBOL`
/// (and positions of that group), as `batch_is_atomic` and
/// `positions_commit_with_results` need.
pub async fn rig(fresh: &Fresh) {
    let poison = marketpipe_store::testsuite::POISON_SYMBOL;
    let admin = fresh.admin().await;
    admin
        .batch_execute(
            "CREATE FUNCTION reject_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'rigged failure'; END $$",
        )
        .await
        .expect("create function");
    for table in ["products", "candles", "books", "stats", "tickers"] {
        admin
            .batch_execute(&format!(
                "CREATE TRIGGER poison BEFORE INSERT ON {table} FOR EACH ROW WHEN (NEW.symbol = '{poison}') EXECUTE FUNCTION reject_poison()"
            ))
            .await
            .expect("create trigger");
    }
    admin
        .batch_execute(&format!(
            "CREATE TRIGGER poison BEFORE INSERT ON consumer_positions FOR EACH ROW WHEN (NEW.group_id = '{poison}') \
             EXECUTE FUNCTION reject_poison()"
        ))
        .await
        .expect("create trigger");
}
