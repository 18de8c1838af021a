//! marketpipe's raw archive in S3-compatible object storage (AWS S3, MinIO,
//! Cloudflare R2, ...).
//!
//! The live pipeline writes capture segments to a local directory
//! (`marketpipe_capture::ArchiveWriter`); with an S3 archive configured that
//! directory is the **spool**: [`Uploader`] uploads each *closed* segment
//! under the key `<prefix>/<exchange>/YYYY/MM/DD/HH-<n>.jsonl.zst` (the
//! segment's path relative to the spool) with a create-only put, and
//! truncates the local file to an empty marker once S3 has confirmed it.
//! An outage only makes the spool grow: uploads are retried with backoff for
//! as long as it takes.
//!
//! [`S3Archive`] is the bucket-and-prefix client both sides use; its
//! [`S3Archive::list_segments`] and [`S3Archive::download`] read segments
//! back for `marketpipe replay s3://bucket/prefix/...`.
//!
//! Endpoint and credentials come from the standard AWS environment
//! variables (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, ...) through
//! `object_store`'s `AmazonS3Builder::from_env`; the `s3://bucket/prefix`
//! URL picks the bucket and prefix.

mod archive;
mod layout;
pub mod metrics;
mod uploader;
mod url;

pub use archive::{PutOutcome, RemoteSegment, S3Archive, S3Options};
pub use layout::{compare_keys, hour_path, is_segment_path, relative_segment_path, scan_spool, sweep_markers, SpooledSegment};
/// The `object_store` crate, for callers that configure the client themselves
/// ([`S3Archive::with_builder`]).
pub use object_store;
pub use uploader::{FlushReport, SegmentClosedHook, Uploader, UploaderConfig, UploaderStats};
pub use url::{is_s3_url, S3Url};

use std::{path::PathBuf, time::Duration};

/// What can go wrong talking to the archive. Every variant keeps its cause;
/// [`Error::is_retryable`] says whether trying again may help.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not `s3://bucket[/prefix]`.
    #[error("invalid S3 URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The client could not be built (a malformed endpoint or option).
    #[error("cannot configure the S3 client for {url}: {source}")]
    Config {
        /// The archive URL.
        url: String,
        /// The client's complaint.
        #[source]
        source: object_store::Error,
    },
    /// A request failed (network, server error, credentials, a missing bucket).
    #[error("S3 {op} of {key} failed: {source}")]
    Request {
        /// `put`, `get`, `head` or `list`.
        op: &'static str,
        /// The object key or prefix.
        key: String,
        /// The client's error.
        #[source]
        source: object_store::Error,
    },
    /// A request did not finish within its time limit.
    #[error("S3 {op} of {key} timed out after {after:?}")]
    Timeout {
        /// `put`, `get`, `head` or `list`.
        op: &'static str,
        /// The object key or prefix.
        key: String,
        /// The limit.
        after: Duration,
    },
    /// The key already holds a different object: create-only puts never
    /// overwrite, so this segment cannot be uploaded under its key.
    #[error("{key} already holds a different object ({remote_size} bytes, ours {local_size}); it is not overwritten")]
    Conflict {
        /// The object key.
        key: String,
        /// Size of the object in S3.
        remote_size: u64,
        /// Size of the local segment.
        local_size: u64,
    },
    /// Nothing to read under a URL.
    #[error("no capture segments under {url}")]
    NoSegments {
        /// The URL listed.
        url: String,
    },
    /// Local file I/O (the spool, a download's temporary file).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether trying the same thing again may succeed: requests and
    /// timeouts may (an outage ends, credentials get fixed, a bucket gets
    /// created), a conflict, a bad URL or a local I/O error will not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Request { .. } | Error::Timeout { .. })
    }
}
