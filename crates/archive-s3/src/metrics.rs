//! Metric names (all in one place). The uploader counts into the `metrics`
//! facade (the binary installs the Prometheus recorder; without one these
//! are no-ops) and into atomics that [`crate::Uploader::stats`] reads.

/// Segments confirmed in S3 (created, or found already there identical).
pub const UPLOADS: &str = "marketpipe_archive_uploads_total";
/// Bytes of the segments confirmed in S3 (compressed, as stored).
pub const UPLOADED_BYTES: &str = "marketpipe_archive_uploaded_bytes_total";
/// Create-only puts that found the same object already there (a retry
/// after a lost response): counted in [`UPLOADS`] too.
pub const ALREADY_PRESENT: &str = "marketpipe_archive_uploads_already_present_total";
/// Upload attempts that failed (`reason`: `timeout`, `error`, `local_io`);
/// each is retried after a backoff.
pub const UPLOAD_FAILURES: &str = "marketpipe_archive_upload_failures_total";
/// Upload attempts that were retries of a failed one.
pub const UPLOAD_RETRIES: &str = "marketpipe_archive_upload_retries_total";
/// Segments whose key already holds a different object: never overwritten,
/// kept in the spool for a person to look at.
pub const UPLOAD_CONFLICTS: &str = "marketpipe_archive_upload_conflicts_total";
/// Closed segments in the spool not yet confirmed in S3 (conflicts included).
pub const SPOOLED_SEGMENTS: &str = "marketpipe_archive_spooled_segments";
/// Bytes of those segments.
pub const SPOOLED_BYTES: &str = "marketpipe_archive_spooled_bytes";
