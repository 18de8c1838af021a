//! Choosing the store: the embedded SQLite database in the data directory
//! (the default), or PostgreSQL (`--store postgres://...`).

use std::{path::Path, sync::Arc};

use anyhow::{Context, Result};
use marketpipe_store::{sqlite::SqliteStore, MarketReader, MarketWriter, PositionStore};
use marketpipe_store_postgres::{PgOptions, PgStore};

/// Everything a role needs of a store.
pub trait Store: MarketReader + MarketWriter + PositionStore {}

impl<T: MarketReader + MarketWriter + PositionStore> Store for T {}

/// Opens `url` (`postgres://...` or `postgresql://...`), or without one the
/// SQLite store in `data_dir` (created if `create`).
pub async fn open(url: Option<&str>, data_dir: &Path, create: bool) -> Result<Arc<dyn Store>> {
    match url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let (url, schema) = split_schema(url);
            let options = PgOptions { schema, ..PgOptions::default() };
            let store = PgStore::connect_with(&url, options).await.context("cannot open the PostgreSQL store")?;
            tracing::info!(target = store.target(), "using the PostgreSQL store");
            Ok(Arc::new(store))
        }
        Some(other) => anyhow::bail!(
            "unsupported store {other:?}: give postgres://USER@HOST:PORT/DB, or omit --store for SQLite in the data directory"
        ),
        None if create => {
            std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
            Ok(Arc::new(SqliteStore::open(data_dir).with_context(|| format!("cannot open the store in {}", data_dir.display()))?))
        }
        None => {
            Ok(Arc::new(SqliteStore::open_existing(data_dir).with_context(|| format!("no marketpipe store in {}", data_dir.display()))?))
        }
    }
}

/// Takes marketpipe's own `schema=NAME` parameter out of a PostgreSQL URL
/// (the driver would refuse it): the namespace marketpipe's tables live in,
/// so several deployments (or test runs) can share one database.
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_owned(), None) };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("schema=") {
            Some(name) => {
                schema = Some(name.to_owned());
                false
            }
            None => !kv.is_empty(),
        })
        .collect();
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
    (url, schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parameter_is_marketpipes() {
        assert_eq!(split_schema("postgres://u@h:1/db"), ("postgres://u@h:1/db".into(), None));
        assert_eq!(split_schema("postgres://u@h:1/db?schema=mp"), ("postgres://u@h:1/db".into(), Some("mp".into())));
        assert_eq!(
            split_schema("postgres://u@h:1/db?connect_timeout=5&schema=mp&sslmode=disable"),
            ("postgres://u@h:1/db?connect_timeout=5&sslmode=disable".into(), Some("mp".into()))
        );
    }
}
