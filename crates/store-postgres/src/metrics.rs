//! The names of the metrics this store records (through the `metrics`
//! facade; the binary installs the exporter).

/// Connections opened (label `role`: `writer` or `reader`), the first ones
/// included: more than two per store means it has reconnected.
pub const CONNECTIONS: &str = "marketpipe_store_postgres_connections_total";

/// Failed attempts that were retried (label `op`: `write`, `read` or
/// `connect`).
pub const RETRIES: &str = "marketpipe_store_postgres_retries_total";
