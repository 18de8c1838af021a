//! The uploader: closed segments from the local spool to S3, confirmed one
//! by one, and only then emptied (truncated to a marker).
//!
//! Which segments are closed: everything in the spool when the uploader
//! starts (the process that wrote them has ended; the archive writer of
//! this process opens nothing before the uploader has scanned), and then
//! every segment the archive writer reports through [`SegmentClosedHook`].
//! A segment still being written is never read.
//!
//! Uploads go one at a time, oldest first (key order), each a create-only
//! put bounded by [`UploaderConfig::attempt_timeout`]. A failure backs off
//! (exponentially, with jitter, up to [`UploaderConfig::backoff_max`]) and
//! retries, forever: during an S3 outage the spool grows on disk and
//! nothing is lost. One at a time because a failure almost always means
//! the endpoint is down for every segment alike, and one segment in memory
//! bounds what the uploader holds.
//!
//! A confirmed segment's file is truncated to an empty marker rather than
//! kept or moved to an `uploaded/` folder: S3 now holds the archive, and a
//! second local copy would fill the disk and need a retention policy of its
//! own. It is not simply removed because the archive writer picks a new
//! segment's `<n>` by which files exist: after a restart within the hour it
//! would reuse an uploaded number, whose key S3 already holds. Markers of
//! hours the writer can no longer open are swept ([`crate::sweep_markers`]).
//! A confirmed upload is idempotent to redo (create-only put, same bytes)
//! should a truncation fail.

use std::{
    cmp::Ordering,
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};

use rand::{rngs::SmallRng, Rng, SeedableRng};
use tokio::{
    sync::{watch, Notify},
    task::JoinHandle,
    time::{timeout, Instant},
};

use crate::{
    compare_keys, hour_path, metrics as m, relative_segment_path, scan_spool, sweep_markers, Error, PutOutcome, S3Archive, SpooledSegment,
};

/// Markers of uploaded segments are kept this long past their hour: the
/// archive writer opens segments in the current hour only, and this
/// covers a wall clock that steps back a little.
const MARKER_KEEP: Duration = Duration::from_secs(2 * 3600);

/// How often old markers are swept while uploading.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// How the uploader paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploaderConfig {
    /// Longest one upload attempt (read, put, and on a conflict the read
    /// back) may take before it is abandoned and retried. Default 180 s:
    /// above the client's own request timeout, so its quick retries of a
    /// transient error run inside one attempt.
    pub attempt_timeout: Duration,
    /// First backoff after a failure. Default 1 s.
    pub backoff_min: Duration,
    /// Longest backoff. Default 60 s: an outage is noticed to be over
    /// within a minute, while a long one costs one request a minute.
    pub backoff_max: Duration,
}

impl Default for UploaderConfig {
    fn default() -> Self {
        UploaderConfig {
            attempt_timeout: Duration::from_secs(180),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// The uploader's counters, as read by [`Uploader::stats`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploaderStats {
    /// Segments confirmed in S3 (created, or found already there identical).
    pub uploaded: u64,
    /// Their bytes.
    pub uploaded_bytes: u64,
    /// Of `uploaded`, those found already there.
    pub already_present: u64,
    /// Segments whose key holds a different object (kept in the spool).
    pub conflicts: u64,
    /// Failed attempts (each retried).
    pub failures: u64,
    /// Attempts that were retries.
    pub retries: u64,
    /// Closed segments in the spool not yet confirmed.
    pub spooled_segments: u64,
    /// Their bytes.
    pub spooled_bytes: u64,
}

/// What the final flush left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Segments confirmed during the flush.
    pub uploaded: u64,
    /// Segments still in the spool, in key order: time ran out, S3 did not
    /// answer, or their key holds a different object. The next start
    /// uploads them (conflicts excepted).
    pub remaining: Vec<PathBuf>,
    /// Their bytes.
    pub remaining_bytes: u64,
    /// Of `remaining`, how many are conflicts.
    pub conflicts: usize,
}

#[derive(Default)]
struct Counters {
    uploaded: AtomicU64,
    uploaded_bytes: AtomicU64,
    already_present: AtomicU64,
    conflicts: AtomicU64,
    failures: AtomicU64,
    retries: AtomicU64,
    spooled_segments: AtomicU64,
    spooled_bytes: AtomicU64,
}

/// State shared by the handle, the hook and the task.
struct Shared {
    root: PathBuf,
    /// Segments reported closed, not yet taken by the task. Not a channel:
    /// the archive writer must never block or drop a report, and the task
    /// empties this at once, so it holds at most the few segments closed
    /// since the task last looked (segments close hourly or per 256 MiB).
    inbox: Mutex<Vec<PathBuf>>,
    wake: Notify,
    counters: Counters,
}

/// Tells the uploader that the archive writer closed a segment: give
/// [`SegmentClosedHook::closed`] to `ArchiveWriter::on_segment_closed`.
/// Never blocks; cheap to clone.
#[derive(Clone)]
pub struct SegmentClosedHook(Arc<Shared>);

impl SegmentClosedHook {
    /// Queues the closed segment at `path` for upload.
    pub fn closed(&self, path: &Path) {
        self.0.inbox.lock().unwrap_or_else(|e| e.into_inner()).push(path.to_owned());
        self.0.wake.notify_one();
    }
}

/// A running uploader. Dropping it stops the task at once (what is not
/// uploaded stays in the spool); [`Uploader::shutdown`] flushes first.
pub struct Uploader {
    shared: Arc<Shared>,
    stop: watch::Sender<Option<Instant>>,
    task: Option<JoinHandle<FlushReport>>,
}

impl Uploader {
    /// Scans `spool` (every segment in it counts as closed: call this before
    /// this process's archive writer opens a segment there) and starts
    /// uploading to `archive` on the current Tokio runtime.
    pub async fn start(archive: S3Archive, spool: PathBuf, config: UploaderConfig) -> Result<Uploader, Error> {
        let root = spool.clone();
        let found = tokio::task::spawn_blocking(move || {
            sweep(&root);
            scan_spool(&root)
        })
        .await
        .map_err(|e| Error::Io { path: spool.clone(), source: std::io::Error::other(e) })?
        .map_err(|source| Error::Io { path: spool.clone(), source })?;
        if !found.is_empty() {
            let bytes: u64 = found.iter().map(|s| s.size).sum();
            tracing::info!(segments = found.len(), bytes, spool = %spool.display(), "archive segments left by an earlier run; uploading them");
        }
        let shared = Arc::new(Shared { root: spool, inbox: Mutex::new(Vec::new()), wake: Notify::new(), counters: Counters::default() });
        let pending: BTreeMap<Key, Item> = found.into_iter().map(|s| (Key(s.relative.clone()), Item::new(s))).collect();
        let (stop, stopping) = watch::channel(None);
        let task = Task {
            archive,
            config,
            shared: shared.clone(),
            pending,
            conflicted: BTreeMap::new(),
            rng: seeded_rng(),
            last_sweep: Instant::now(),
        };
        let task = tokio::spawn(task.run(stopping));
        Ok(Uploader { shared, stop, task: Some(task) })
    }

    /// The hook the archive writer calls for each segment it closes.
    pub fn closed_hook(&self) -> SegmentClosedHook {
        SegmentClosedHook(self.shared.clone())
    }

    /// The spool directory.
    pub fn spool(&self) -> &Path {
        &self.shared.root
    }

    /// The counters so far.
    pub fn stats(&self) -> UploaderStats {
        let c = &self.shared.counters;
        UploaderStats {
            uploaded: c.uploaded.load(Relaxed),
            uploaded_bytes: c.uploaded_bytes.load(Relaxed),
            already_present: c.already_present.load(Relaxed),
            conflicts: c.conflicts.load(Relaxed),
            failures: c.failures.load(Relaxed),
            retries: c.retries.load(Relaxed),
            spooled_segments: c.spooled_segments.load(Relaxed),
            spooled_bytes: c.spooled_bytes.load(Relaxed),
        }
    }

    /// The final flush: uploads what is pending (segments reported closed
    /// included) for at most `budget`, then stops and reports what is left
    /// in the spool. Call it after the archive writer closed its segments.
    pub async fn shutdown(mut self, budget: Duration) -> FlushReport {
        let deadline = Instant::now() + budget;
        self.stop.send_replace(Some(deadline));
        let Some(mut task) = self.task.take() else { return FlushReport::default() };
        // The task honours the deadline itself (an attempt in flight is
        // cut off at it); the grace only covers building the report.
        match timeout(budget + Duration::from_millis(100), &mut task).await {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the archive uploader task failed");
                self.left_in_spool(0)
            }
            Err(_) => {
                task.abort();
                self.left_in_spool(0)
            }
        }
    }

    /// A report built from the spool itself, when the task cannot give one.
    fn left_in_spool(&self, uploaded: u64) -> FlushReport {
        let left = scan_spool(&self.shared.root).unwrap_or_default();
        FlushReport {
            uploaded,
            remaining_bytes: left.iter().map(|s| s.size).sum(),
            remaining: left.into_iter().map(|s| s.path).collect(),
            conflicts: 0,
        }
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A segment's key under the prefix, ordered as segments follow each other.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key(String);

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_keys(&self.0, &other.0)
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A segment waiting to be uploaded.
#[derive(Debug, Clone)]
struct Item {
    segment: SpooledSegment,
    /// Failed attempts so far.
    failures: u32,
}

impl Item {
    fn new(segment: SpooledSegment) -> Item {
        Item { segment, failures: 0 }
    }
}

/// How one attempt ended.
enum Attempt {
    Confirmed(PutOutcome),
    Conflict(Error),
    /// The local file is gone (removed by hand): nothing left to upload.
    Vanished,
    Failed {
        reason: &'static str,
        error: String,
    },
}

struct Task {
    archive: S3Archive,
    config: UploaderConfig,
    shared: Arc<Shared>,
    pending: BTreeMap<Key, Item>,
    /// Segments whose key holds a different object: kept in the spool, not
    /// retried by this process (the next start tries, and reports, again).
    conflicted: BTreeMap<Key, Item>,
    rng: SmallRng,
    last_sweep: Instant,
}

impl Task {
    async fn run(mut self, mut stop: watch::Receiver<Option<Instant>>) -> FlushReport {
        // A flush requested meanwhile goes ahead at once (and makes the
        // check moot: the uploads will tell).
        tokio::select! {
            () = self.check() => {}
            _ = stop.changed() => {}
        }
        let mut uploaded_in_flush = 0u64;
        loop {
            self.take_inbox();
            self.publish_spool();
            let deadline = *stop.borrow_and_update();
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
            let Some((key, item)) = self.pending.first_key_value().map(|(k, v)| (k.clone(), v.clone())) else {
                if deadline.is_some() {
                    break;
                }
                // Idle until a segment closes or the flush starts. (A
                // notification that came before this wait is kept by
                // `Notify` as a permit, so none is missed.)
                tokio::select! {
                    () = self.shared.wake.notified() => {}
                    changed = stop.changed() => if changed.is_err() { break },
                }
                continue;
            };
            let limit = deadline.map_or(self.config.attempt_timeout, |d| self.config.attempt_timeout.min(d - Instant::now()));
            if item.failures > 0 {
                self.count(&self.shared.counters.retries, m::UPLOAD_RETRIES, 1);
            }
            let attempt = match timeout(limit, self.attempt(&key.0, &item.segment)).await {
                Ok(attempt) => attempt,
                Err(_) => Attempt::Failed { reason: "timeout", error: format!("no answer within {limit:?}") },
            };
            match attempt {
                Attempt::Confirmed(outcome) => {
                    self.pending.remove(&key);
                    self.confirmed(&item.segment, outcome);
                    if self.last_sweep.elapsed() >= SWEEP_EVERY {
                        self.last_sweep = Instant::now();
                        let root = self.shared.root.clone();
                        // Off the runtime: it walks the spool.
                        let _ = tokio::task::spawn_blocking(move || sweep(&root)).await;
                    }
                    if deadline.is_some() {
                        uploaded_in_flush += 1;
                    }
                }
                Attempt::Conflict(error) => {
                    self.count(&self.shared.counters.conflicts, m::UPLOAD_CONFLICTS, 1);
                    tracing::error!(%error, path = %item.segment.path.display(), "archive segment conflicts with the object under its key; kept in the spool, not overwritten");
                    if let Some(item) = self.pending.remove(&key) {
                        self.conflicted.insert(key, item);
                    }
                }
                Attempt::Vanished => {
                    tracing::warn!(path = %item.segment.path.display(), "archive segment vanished from the spool before it was uploaded");
                    self.pending.remove(&key);
                }
                Attempt::Failed { reason, error } => {
                    self.shared.counters.failures.fetch_add(1, Relaxed);
                    metrics::counter!(m::UPLOAD_FAILURES, "reason" => reason).increment(1);
                    let failures = self.pending.get_mut(&key).map_or(1, |i| {
                        i.failures += 1;
                        i.failures
                    });
                    let wait = self.backoff(failures);
                    tracing::warn!(key = %self.archive.url().key(&key.0), %error, attempt = failures, retry_in = ?wait, spooled = self.pending.len(), "archive upload failed; retrying");
                    let until = Instant::now() + wait;
                    let until = deadline.map_or(until, |d| until.min(d));
                    // Wake early for the flush: it may have less time than the backoff.
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        changed = stop.changed() => if changed.is_err() { break },
                    }
                }
            }
        }
        self.take_inbox();
        self.publish_spool();
        self.report(uploaded_in_flush)
    }

    /// Logs whether the archive is reachable, so a wrong bucket or
    /// credentials show at start rather than at the first upload. Not
    /// fatal: an outage at start must not stop the pipeline.
    async fn check(&self) {
        match timeout(Duration::from_secs(10), self.archive.check()).await {
            Ok(Ok(())) => tracing::info!(archive = %self.archive.url(), "S3 archive reachable"),
            Ok(Err(error)) => {
                tracing::warn!(archive = %self.archive.url(), %error, "S3 archive not reachable yet; segments are spooled meanwhile")
            }
            Err(_) => tracing::warn!(archive = %self.archive.url(), "S3 archive did not answer in 10 s; segments are spooled meanwhile"),
        }
    }

    /// Reads the segment and puts it under its key.
    async fn attempt(&self, relative: &str, segment: &SpooledSegment) -> Attempt {
        let path = segment.path.clone();
        let data = match tokio::task::spawn_blocking(move || std::fs::read(&path)).await {
            Ok(Ok(data)) => data,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Attempt::Vanished,
            Ok(Err(e)) => return Attempt::Failed { reason: "local_io", error: format!("{}: {e}", segment.path.display()) },
            Err(e) => return Attempt::Failed { reason: "local_io", error: e.to_string() },
        };
        match self.archive.put_create(&self.archive.url().key(relative), data).await {
            Ok(outcome) => Attempt::Confirmed(outcome),
            Err(e @ Error::Conflict { .. }) => Attempt::Conflict(e),
            Err(e) => Attempt::Failed { reason: "error", error: e.to_string() },
        }
    }

    /// Counts a confirmed segment and truncates its local file to a marker.
    fn confirmed(&self, segment: &SpooledSegment, outcome: PutOutcome) {
        let c = &self.shared.counters;
        self.count(&c.uploaded, m::UPLOADS, 1);
        self.count(&c.uploaded_bytes, m::UPLOADED_BYTES, segment.size);
        if outcome == PutOutcome::AlreadyPresent {
            self.count(&c.already_present, m::ALREADY_PRESENT, 1);
        }
        let key = self.archive.url().key(&segment.relative);
        tracing::info!(%key, bytes = segment.size, already_present = outcome == PutOutcome::AlreadyPresent, "archive segment uploaded");
        if let Err(e) = std::fs::OpenOptions::new().write(true).open(&segment.path).and_then(|f| f.set_len(0)) {
            // Harmless: the next start uploads it again, finds it identical
            // and tries again.
            tracing::warn!(path = %segment.path.display(), error = %e, "uploaded archive segment could not be truncated in the spool");
        }
    }

    fn count(&self, counter: &AtomicU64, name: &'static str, n: u64) {
        counter.fetch_add(n, Relaxed);
        metrics::counter!(name).increment(n);
    }

    /// Moves segments reported closed into the queue.
    fn take_inbox(&mut self) {
        let paths = std::mem::take(&mut *self.shared.inbox.lock().unwrap_or_else(|e| e.into_inner()));
        for path in paths {
            let Some(relative) = relative_segment_path(&self.shared.root, &path) else {
                tracing::warn!(path = %path.display(), spool = %self.shared.root.display(), "closed segment is not a segment of the spool; not uploaded");
                continue;
            };
            let size = match std::fs::metadata(&path) {
                // Nothing was written to it: nothing to upload.
                Ok(meta) if meta.len() == 0 => continue,
                Ok(meta) => meta.len(),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "closed segment cannot be read; not uploaded");
                    continue;
                }
            };
            let key = Key(relative.clone());
            if !self.conflicted.contains_key(&key) {
                self.pending.entry(key).or_insert_with(|| Item::new(SpooledSegment { relative, path, size }));
            }
        }
    }

    fn publish_spool(&self) {
        let items = self.pending.values().chain(self.conflicted.values());
        let (n, bytes) = items.fold((0u64, 0u64), |(n, b), i| (n + 1, b + i.segment.size));
        let c = &self.shared.counters;
        c.spooled_segments.store(n, Relaxed);
        c.spooled_bytes.store(bytes, Relaxed);
        metrics::gauge!(m::SPOOLED_SEGMENTS).set(n as f64);
        metrics::gauge!(m::SPOOLED_BYTES).set(bytes as f64);
    }

    /// Exponential backoff with jitter: between half and all of
    /// `min * 2^(failures-1)`, capped at the maximum, so many uploaders
    /// coming back after one outage do not all knock at once.
    fn backoff(&mut self, failures: u32) -> Duration {
        let (min, max) = (self.config.backoff_min, self.config.backoff_max.max(self.config.backoff_min));
        let full = min.saturating_mul(1u32 << failures.saturating_sub(1).min(20)).min(max);
        let half = full / 2;
        half + full.saturating_sub(half).mul_f64(self.rng.random::<f64>())
    }

    fn report(&self, uploaded: u64) -> FlushReport {
        let mut remaining: Vec<&Item> = self.pending.values().chain(self.conflicted.values()).collect();
        remaining.sort_by(|a, b| compare_keys(&a.segment.relative, &b.segment.relative));
        FlushReport {
            uploaded,
            remaining_bytes: remaining.iter().map(|i| i.segment.size).sum(),
            remaining: remaining.iter().map(|i| i.segment.path.clone()).collect(),
            conflicts: self.conflicted.len(),
        }
    }
}

/// Sweeps the markers of hours before [`MARKER_KEEP`] ago (best effort: a
/// failure leaves a few empty files, logged).
fn sweep(root: &Path) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let cutoff = hour_path(now.saturating_sub(MARKER_KEEP).as_secs() as i64);
    match sweep_markers(root, &cutoff) {
        Ok(0) => {}
        Ok(n) => tracing::debug!(markers = n, spool = %root.display(), "swept markers of uploaded segments"),
        Err(e) => tracing::warn!(spool = %root.display(), error = %e, "cannot sweep markers of uploaded segments"),
    }
}

/// A jitter source that differs between processes (not for anything secret).
fn seeded_rng() -> SmallRng {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    SmallRng::seed_from_u64(nanos ^ u64::from(std::process::id()).rotate_left(32))
}
