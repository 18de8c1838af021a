//! `marketpipe replay`: captures through the pipeline into the store.
//!
//! A replay is split by product between threads (one per core by default):
//! each part has its own decoders and engine and handles the records of the
//! products dealt to it (see `parts`), reading a plain capture for itself
//! and taking a compressed one's lines from one shared decompressing thread
//! (see `CaptureReader::open_split`). A record that names no one product
//! (product lists, connection events, all-market frames) goes to every
//! part, each keeping only its own products' events; a part still moves
//! its clock by the others' records, so each product sees exactly the
//! events and clock it would see alone. Every table row belongs to one
//! product, so the parts write disjoint rows: the tables are those of
//! `--threads 1`, which does everything on one thread, whatever the
//! interleaving. Before this, decoding ran on one thread beside the
//! engine on another; that moved every event between cores, and the
//! split replay is a fifth faster on two cores (README, "Against
//! cryptofeed").

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use marketpipe_capture::{CaptureReader, PartLine, Router};
use marketpipe_engine::{Engine, EngineConfig, EngineCounters, EngineOutput};
use marketpipe_store::{sqlite::SqliteStore, WriteBatch};

use crate::{
    ingest::{Ingest, IngestCounters, Part},
    parts::{PartAssignment, ProductRouter},
};

/// Lines between two drains of a part's engine into the store. Large
/// enough that store writes are a rounding error, small enough that a
/// replay's memory does not grow with the capture (only changed rows are
/// held).
const DRAIN_EVERY: u64 = 1 << 17;

/// Lines between two looks at whether another part failed.
const CHECK_EVERY: u64 = 1 << 11;

/// The most parts a replay is split into: each part reads the whole file
/// (or, compressed, waits on the one decompressing thread), so past a few
/// that pass is most of each part's work.
pub const MAX_THREADS: usize = 8;

/// One capture to replay: a local file, or a remote object (an S3 archive
/// segment) fetched only when its turn comes.
pub struct Capture {
    name: PathBuf,
    size: u64,
    fetch: Option<Fetch>,
}

/// Opens a local capture file for a number of parts.
pub type Open<'a> = &'a dyn Fn(&Path) -> std::io::Result<Vec<CaptureReader>>;

/// Downloads a remote capture and opens it with the given function.
type Fetch = Box<dyn Fn(Open<'_>) -> Result<Vec<CaptureReader>> + Send + Sync>;

impl Capture {
    /// A local capture file.
    pub fn file(path: PathBuf) -> Capture {
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        Capture { name: path, size, fetch: None }
    }

    /// A remote capture named `name` (a URL), `size` bytes, fetched by
    /// `fetch`, which downloads it and opens the download with the
    /// function it is given.
    // Only S3 makes remote captures.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub fn remote(name: String, size: u64, fetch: impl Fn(Open<'_>) -> Result<Vec<CaptureReader>> + Send + Sync + 'static) -> Capture {
        Capture { name: PathBuf::from(name), size, fetch: Some(Box::new(fetch)) }
    }

    /// One reader per part, routing by `assignment` (no routing for one part).
    fn open(&self, parts: usize, assignment: &Arc<PartAssignment>) -> Result<Vec<CaptureReader>> {
        let open = |path: &Path| match parts {
            // Nothing to route: every line is the one part's.
            1 => CaptureReader::open(path).map(|reader| vec![reader]),
            _ => CaptureReader::open_split(
                path,
                (0..parts).map(|_| Box::new(ProductRouter::new(assignment.clone())) as Box<dyn Router>).collect(),
            ),
        };
        match &self.fetch {
            Some(fetch) => fetch(&open),
            None => open(&self.name).with_context(|| format!("cannot open capture {}", self.name.display())),
        }
    }
}

/// What a replay did, for the summary.
#[derive(Debug)]
pub struct ReplaySummary {
    /// Files (and object URLs) replayed.
    pub files: Vec<PathBuf>,
    /// Ingest counters.
    pub ingest: IngestCounters,
    /// Engine counters.
    pub engine: EngineCounters,
    /// Rows written to the store.
    pub written: WrittenCounts,
    /// Files that ended in a read error (a truncated archive segment), with the error.
    pub read_errors: Vec<(PathBuf, String)>,
    /// Threads the replay was split into.
    pub threads: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// Rows written to the store.
#[derive(Debug, Default, Clone, Copy)]
pub struct WrittenCounts {
    /// Candle upserts.
    pub candles: u64,
    /// Book rows.
    pub books: u64,
    /// Stats rows.
    pub stats: u64,
    /// Product rows.
    pub products: u64,
    /// Ticker rows.
    pub tickers: u64,
    /// Transactions.
    pub batches: u64,
}

/// The store the parts write to, one transaction at a time.
struct Store {
    store: SqliteStore,
    written: WrittenCounts,
}

/// What the parts share: the store, once open (it opens while the first
/// lines are decoded), and whether any part failed, so that the others stop.
struct Common {
    store: Mutex<Option<Store>>,
    failed: AtomicBool,
}

/// One part of a replay: its products' decoders, engine and pending rows.
struct Worker {
    ingest: Ingest,
    engine: Engine,
    output: EngineOutput,
    batch: WriteBatch,
    since_drain: u64,
    read_errors: Vec<(PathBuf, String)>,
}

/// Replays `files` in order into the store at `data_dir`, split by
/// product into `threads` parts (one thread each).
pub fn run(files: &[Capture], data_dir: &Path, config: EngineConfig, progress: bool, threads: usize) -> Result<ReplaySummary> {
    let started = Instant::now();
    let parts = threads.clamp(1, MAX_THREADS);
    let assignment = PartAssignment::new(parts as u32);
    let mut workers = (0..parts as u32)
        .map(|index| -> Result<Worker> {
            let ingest = if parts == 1 { Ingest::new() } else { Ingest::for_part(Part { index, assignment: assignment.clone() }) };
            Ok(Worker {
                ingest,
                engine: Engine::new(config.clone()).context("invalid engine settings")?,
                output: EngineOutput::default(),
                batch: WriteBatch::default(),
                since_drain: 0,
                read_errors: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let bar = progress_bar(progress, total_bytes);
    let common = Common { store: Mutex::new(None), failed: AtomicBool::new(false) };
    let mut done_bytes = 0u64;
    for file in files {
        let readers = file.open(parts, &assignment)?;
        let common = &common;
        let file_len = std::thread::scope(|scope| -> Result<u64> {
            let (first, rest) = workers.split_first_mut().expect("at least one part");
            let mut readers = readers.into_iter();
            let mut first_reader = readers.next().expect("one reader per part");
            let file_len = first_reader.file_len();
            let others: Vec<_> = rest
                .iter_mut()
                .zip(readers)
                .map(|(worker, mut reader)| scope.spawn(move || worker.replay(file, &mut reader, common, None)))
                .collect();
            // Opening the store (schema checks, a few fsyncs) overlaps the
            // first lines' decoding on the other parts; if it fails, they stop.
            let ours = open_store(common, data_dir)
                .and_then(|()| first.replay(file, &mut first_reader, common, bar.as_ref().map(|b| (b, done_bytes))));
            if ours.is_err() {
                common.failed.store(true, Ordering::Relaxed);
            }
            // A compressed capture's reading thread waits on every reader it
            // feeds: a part that stopped lets go of its reader so that the
            // others can finish.
            drop(first_reader);
            for other in others {
                other.join().map_err(|_| anyhow::anyhow!("a replay thread panicked"))??;
            }
            ours.map(|()| file_len)
        })?;
        done_bytes += file_len;
    }
    // Windows still open at the end are stored as they stand, final: false.
    for worker in &mut workers {
        worker.drain(&common)?;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let written = common.store.into_inner().unwrap_or_else(|e| e.into_inner()).map(|s| s.written).unwrap_or_default();
    let mut ingest = IngestCounters::default();
    let mut engine = EngineCounters::default();
    let mut read_errors = Vec::new();
    for worker in workers {
        ingest.add(worker.ingest.counters());
        engine.add(worker.engine.counters());
        // Every part meets the same read error; one report is enough.
        if read_errors.is_empty() {
            read_errors = worker.read_errors;
        }
    }
    Ok(ReplaySummary {
        files: files.iter().map(|f| f.name.clone()).collect(),
        ingest,
        engine,
        written,
        read_errors,
        threads: parts,
        elapsed: started.elapsed(),
    })
}

/// Opens the store into `common`, once.
fn open_store(common: &Common, data_dir: &Path) -> Result<()> {
    let mut slot = common.store.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_none() {
        let store = SqliteStore::open(data_dir).with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
        *slot = Some(Store { store, written: WrittenCounts::default() });
    }
    Ok(())
}

impl Worker {
    /// Replays this part's lines of `file`; `bar` (with the bytes of the
    /// files before this one) on the part that draws progress.
    fn replay(&mut self, file: &Capture, reader: &mut CaptureReader, common: &Common, bar: Option<(&ProgressBar, u64)>) -> Result<()> {
        let mut lines = 0u64;
        loop {
            match reader.next_part_line() {
                Ok(Some(PartLine { line, record, shared: every_part, clock })) => {
                    // The other parts' lines since this part's last one
                    // moved the clock: one move to the latest of them
                    // closes windows exactly as moving through each did.
                    if let Some(clock) = clock {
                        self.engine.advance_clock(clock);
                    }
                    if every_part {
                        self.ingest.shared_line_with_record(line, record, &mut self.engine);
                    } else {
                        self.ingest.line_with_record(line, record, &mut self.engine);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    // A segment cut off by a crash: keep everything before the cut.
                    tracing::warn!(file = %file.name.display(), error = %e, "capture ends in a read error; records before it were replayed");
                    self.read_errors.push((file.name.clone(), e.to_string()));
                    break;
                }
            }
            lines += 1;
            self.since_drain += 1;
            if lines.is_multiple_of(CHECK_EVERY) {
                if common.failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                if self.since_drain >= DRAIN_EVERY && self.drain(common).inspect_err(|_| common.failed.store(true, Ordering::Relaxed))? {
                    self.since_drain = 0;
                }
                if let Some((bar, done)) = bar.filter(|_| lines.is_multiple_of(DRAIN_EVERY)) {
                    bar.set_position(done + reader.file_position());
                }
            }
        }
        // The other parts' last lines move the clock too.
        if let Some(clock) = reader.clock_end() {
            self.engine.advance_clock(clock);
        }
        Ok(())
    }

    /// Writes what the engine changed to the store; `false` (nothing
    /// written, nothing lost) while the store is still being opened.
    fn drain(&mut self, common: &Common) -> Result<bool> {
        let mut slot = common.store.lock().unwrap_or_else(|e| e.into_inner());
        let Some(store) = slot.as_mut() else { return Ok(false) };
        self.engine.drain(&mut self.output);
        let (out, batch) = (&mut self.output, &mut self.batch);
        for request in out.resync_requests.drain(..) {
            // Nothing to resubscribe to in a replay: the capture's next
            // snapshot (if any) rebuilds the book.
            tracing::debug!(instrument = %request, "book inconsistent; waiting for the next snapshot");
        }
        std::mem::swap(&mut batch.products, &mut out.products);
        std::mem::swap(&mut batch.candles, &mut out.candles);
        std::mem::swap(&mut batch.books, &mut out.books);
        std::mem::swap(&mut batch.stats, &mut out.stats);
        std::mem::swap(&mut batch.tickers, &mut out.tickers);
        out.clear();
        if batch.is_empty() {
            return Ok(true);
        }
        store.store.write_blocking(batch).context("writing to the store failed")?;
        let w = &mut store.written;
        w.candles += batch.candles.len() as u64;
        w.books += batch.books.len() as u64;
        w.stats += batch.stats.len() as u64;
        w.products += batch.products.len() as u64;
        w.tickers += batch.tickers.len() as u64;
        w.batches += 1;
        batch.clear();
        Ok(true)
    }
}

fn progress_bar(enabled: bool, total_bytes: u64) -> Option<ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

impl ReplaySummary {
    /// Records per second of wall time.
    pub fn records_per_sec(&self) -> f64 {
        self.ingest.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The human summary printed at the end of a replay.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let i = &self.ingest;
        let _ = writeln!(
            s,
            "replayed {} file(s): {} records in {:.2} s ({:.0} records/s)",
            self.files.len(),
            i.records,
            self.elapsed.as_secs_f64(),
            self.records_per_sec()
        );
        let list = |pairs: Vec<(String, u64)>| -> String {
            if pairs.is_empty() {
                return "none".into();
            }
            pairs.into_iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
        };
        let _ = writeln!(s, "  records by kind: {}", list(i.by_kind.sorted().into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
        let _ = writeln!(
            s,
            "  messages:        {}",
            list(i.messages.sorted().into_iter().map(|((e, m), v)| (format!("{e}/{m}"), v)).collect())
        );
        let _ = writeln!(s, "  events by type:  {}", list(i.events.sorted().into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
        let _ = writeln!(
            s,
            "  skipped:         {} ({})",
            i.skipped_total(),
            list(i.skipped_by_reason().into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        );
        let e = &self.engine;
        let _ = writeln!(
            s,
            "  engine:          trades {}, duplicate {}, late (revised) {}, too late (dropped) {}, crossed books {}, book resets {}, deltas before snapshot {}",
            e.trades, e.duplicate_trades, e.late_trades, e.too_late_trades, e.crossed_books, e.book_resets, e.deltas_before_snapshot
        );
        let w = &self.written;
        let _ = writeln!(
            s,
            "  written:         candles {}, books {}, stats {}, products {}, tickers {} in {} transactions",
            w.candles, w.books, w.stats, w.products, w.tickers, w.batches
        );
        for (file, err) in &self.read_errors {
            let _ = writeln!(s, "  read error:      {}: {err}", file.display());
        }
        s
    }

    /// The summary as JSON, for scripts and tests.
    pub fn to_json(&self) -> serde_json::Value {
        let i = &self.ingest;
        let e = &self.engine;
        let w = &self.written;
        serde_json::json!({
            "files": self.files,
            "records": i.records,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "threads": self.threads,
            "records_per_s": self.records_per_sec(),
            "records_by_kind": i.by_kind.sorted(),
            "messages": i.messages.sorted().into_iter().map(|((e, m), v)| (format!("{e}/{m}"), v)).collect::<std::collections::BTreeMap<_, _>>(),
            "events": i.events.sorted(),
            "skipped": i.skipped_by_reason(),
            "engine": {
                "trades": e.trades, "duplicate_trades": e.duplicate_trades, "late_trades": e.late_trades,
                "too_late_trades": e.too_late_trades, "crossed_books": e.crossed_books, "book_resets": e.book_resets,
                "deltas_before_snapshot": e.deltas_before_snapshot,
            },
            "written": {"candles": w.candles, "books": w.books, "stats": w.stats, "products": w.products, "tickers": w.tickers, "batches": w.batches},
            "read_errors": self.read_errors.iter().map(|(f, e)| serde_json::json!({"file": f, "error": e})).collect::<Vec<_>>(),
        })
    }
}
