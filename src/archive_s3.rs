//! The binary's S3 archive wiring: `--archive s3://bucket/prefix` on `run`
//! and `demo` (the local archive directory becomes the upload spool) and
//! `marketpipe replay s3://bucket/prefix/...`.
//!
//! Support is the `s3` cargo feature (on by default). Built without it,
//! every function here that would need it fails with an error naming the
//! feature, so the rest of the binary needs no `cfg`.

use std::{path::Path, time::Duration};

use anyhow::Result;
use marketpipe_capture::ArchiveWriter;

use crate::replay::Capture;

/// Whether a command-line capture or archive argument is an S3 URL.
pub fn is_s3_url(arg: &str) -> bool {
    arg.starts_with("s3://")
}

#[cfg(feature = "s3")]
pub use enabled::*;

#[cfg(not(feature = "s3"))]
pub use disabled::*;

#[cfg(feature = "s3")]
mod enabled {
    use std::sync::Arc;

    use anyhow::Context;
    use marketpipe_archive_s3::{S3Archive, S3Url, UploaderConfig};

    use super::*;

    /// A running uploader.
    pub type Uploader = marketpipe_archive_s3::Uploader;

    /// Checks an `--archive` URL, so a typo fails at start.
    pub fn check_url(url: &str) -> Result<()> {
        S3Url::parse(url)?;
        Ok(())
    }

    /// Starts uploading closed segments from `spool` to `url`. Must run
    /// before the archive writer opens a segment in `spool`: everything
    /// the scan finds there is taken as closed.
    pub async fn start_uploader(url: &str, spool: &Path) -> Result<Uploader> {
        let url = S3Url::parse(url)?;
        let archive = S3Archive::from_env(&url).with_context(|| format!("cannot set up the S3 archive {url}"))?;
        let uploader = marketpipe_archive_s3::Uploader::start(archive, spool.to_path_buf(), UploaderConfig::default())
            .await
            .with_context(|| format!("cannot start uploading {} to {url}", spool.display()))?;
        tracing::info!(archive = %url, spool = %spool.display(), "uploading closed archive segments to S3");
        Ok(uploader)
    }

    /// The archive writer, telling `uploader` (if any) of every segment it closes.
    pub fn hook(writer: ArchiveWriter, uploader: Option<&Uploader>) -> ArchiveWriter {
        match uploader {
            Some(uploader) => {
                let hook = uploader.closed_hook();
                writer.on_segment_closed(move |path| hook.closed(path))
            }
            None => writer,
        }
    }

    /// Longest final flush. The process must exit within 5 s of a signal,
    /// and `demo` still stops its simulators after the pipeline: a couple of
    /// seconds uploads the last hour's segments of a healthy S3, and
    /// anything more (a slow link, an outage) is what the spool is for.
    const FINAL_FLUSH_MAX: Duration = Duration::from_secs(2);

    /// The final flush: uploads what is spooled for at most `budget` (and at
    /// most [`FINAL_FLUSH_MAX`]) and logs what is left for the next start.
    pub async fn finish(uploader: Option<Uploader>, budget: Duration) {
        let Some(uploader) = uploader else { return };
        let spool = uploader.spool().to_path_buf();
        let report = uploader.shutdown(budget.min(FINAL_FLUSH_MAX)).await;
        if report.remaining.is_empty() {
            tracing::info!(uploaded = report.uploaded, "archive flushed: every closed segment is in S3");
        } else {
            tracing::warn!(
                uploaded = report.uploaded,
                remaining = report.remaining.len(),
                bytes = report.remaining_bytes,
                conflicts = report.conflicts,
                spool = %spool.display(),
                "archive segments remain spooled; the next start uploads them"
            );
        }
    }

    /// The segments under an `s3://bucket/prefix` URL, in order, each
    /// downloaded to a temporary file when replay reaches it (so a day of
    /// archive never needs its size in local disk).
    pub fn captures(url: &str) -> Result<Vec<Capture>> {
        let parsed = S3Url::parse(url)?;
        let archive = S3Archive::from_env(&parsed).with_context(|| format!("cannot set up the S3 client for {url}"))?;
        // One worker: downloads are awaited one at a time from the replay's
        // decoding thread, which blocks on them.
        let runtime = Arc::new(
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().context("cannot start the async runtime")?,
        );
        let segments = runtime.block_on(archive.list_segments()).with_context(|| format!("cannot list {url}"))?;
        anyhow::ensure!(!segments.is_empty(), "no capture segments (.jsonl.zst, .jsonl) under {url}");
        Ok(segments
            .into_iter()
            .map(|segment| {
                let (archive, runtime) = (archive.clone(), runtime.clone());
                let name = parsed.with_key(&segment.key);
                let key = segment.key;
                Capture::remote(name.clone(), segment.size, move |open| {
                    let file = runtime.block_on(archive.download_temp(&key)).with_context(|| format!("cannot download {name}"))?;
                    // The readers keep the file open; dropping the handle
                    // unlinks it, so nothing is left behind.
                    let readers = open(file.path()).with_context(|| format!("cannot read {name}"))?;
                    drop(file);
                    Ok(readers)
                })
            })
            .collect())
    }
}

#[cfg(not(feature = "s3"))]
mod disabled {
    use super::*;

    const MISSING: &str = "s3:// archives need marketpipe built with the `s3` cargo feature (cargo build --features s3)";

    /// Never constructed without the `s3` feature.
    pub enum Uploader {}

    /// Refuses: no S3 support compiled in.
    pub fn check_url(_url: &str) -> Result<()> {
        anyhow::bail!(MISSING)
    }

    /// Refuses: no S3 support compiled in.
    pub async fn start_uploader(_url: &str, _spool: &Path) -> Result<Uploader> {
        anyhow::bail!(MISSING)
    }

    /// The writer as it is.
    pub fn hook(writer: ArchiveWriter, _uploader: Option<&Uploader>) -> ArchiveWriter {
        writer
    }

    /// Nothing to flush.
    pub async fn finish(_uploader: Option<Uploader>, _budget: Duration) {}

    /// Refuses: no S3 support compiled in.
    pub fn captures(_url: &str) -> Result<Vec<Capture>> {
        anyhow::bail!(MISSING)
    }
}
