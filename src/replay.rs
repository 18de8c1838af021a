//! `marketpipe replay`: captures through the pipeline into the store.
//!
//! Two stages in sequence: reading and decoding on one thread, the engine
//! and the store on another, joined by a bounded channel of op batches in
//! capture order. Decoding was about half of replay time and the engine
//! plus store the other half, so on two cores they overlap; the order of
//! events is the capture's either way, so two replays of the same capture
//! leave identical tables, and so does `--single-thread` (one thread doing
//! both, the same code path the live pipeline uses).

use std::{
    io::IsTerminal,
    path::{Path, PathBuf},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use marketpipe_capture::CaptureReader;
use marketpipe_engine::{Engine, EngineConfig, EngineCounters, EngineOutput};
use marketpipe_store::{sqlite::SqliteStore, WriteBatch};

use crate::ingest::{EngineOp, EngineSink, Ingest, IngestCounters};

/// Records between two drains of the engine into the store. Large enough
/// that store writes are a rounding error, small enough that a replay's
/// memory does not grow with the capture (only changed rows are held).
const DRAIN_EVERY: u64 = 1 << 17;

/// Records per batch handed from the decoding thread to the engine thread:
/// large enough that the hand-off costs nothing per record, small enough
/// that both threads stay busy.
const BATCH_RECORDS: u64 = 2048;

/// Batches in flight between the threads (bounded: a slow engine holds
/// the reader back instead of growing memory).
const BATCHES_IN_FLIGHT: usize = 4;

/// One capture to replay: a local file, or a remote object (an S3 archive
/// segment) fetched only when its turn comes.
pub struct Capture {
    name: PathBuf,
    size: u64,
    fetch: Option<Fetch>,
}

/// Opens a remote capture (downloads it first).
type Fetch = Box<dyn Fn() -> Result<CaptureReader> + Send + Sync>;

impl Capture {
    /// A local capture file.
    pub fn file(path: PathBuf) -> Capture {
        let size = std::fs::metadata(&path).map_or(0, |m| m.len());
        Capture { name: path, size, fetch: None }
    }

    /// A remote capture named `name` (a URL), `size` bytes, opened by `fetch`.
    // Only S3 makes remote captures.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub fn remote(name: String, size: u64, fetch: impl Fn() -> Result<CaptureReader> + Send + Sync + 'static) -> Capture {
        Capture { name: PathBuf::from(name), size, fetch: Some(Box::new(fetch)) }
    }

    fn open(&self) -> Result<CaptureReader> {
        match &self.fetch {
            Some(fetch) => fetch(),
            None => CaptureReader::open(&self.name).with_context(|| format!("cannot open capture {}", self.name.display())),
        }
    }
}

/// One hand-off: ops in capture order, and how many records they came from.
struct Batch {
    ops: Vec<EngineOp>,
    records: u64,
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

/// Replays `files` in order into the store at `data_dir`, on two threads
/// unless `single_thread`.
pub fn run(files: &[Capture], data_dir: &Path, config: EngineConfig, progress: bool, single_thread: bool) -> Result<ReplaySummary> {
    let started = Instant::now();
    let mut engine = Engine::new(config).context("invalid engine settings")?;
    let open_store = || -> Result<Sink> {
        let store = SqliteStore::open(data_dir).with_context(|| format!("cannot open the store in {}", data_dir.display()))?;
        Ok(Sink { store, output: EngineOutput::default(), batch: WriteBatch::default(), written: WrittenCounts::default() })
    };
    let total_bytes: u64 = files.iter().map(|f| f.size).sum();
    let bar = progress_bar(progress, total_bytes);

    let (decoded, mut sink) = if single_thread {
        let mut sink = open_store()?;
        let mut since_drain = 0u64;
        let mut drain_error = None;
        let decoded = decode(files, bar.as_ref(), &mut engine, |engine, records| {
            since_drain += records;
            if since_drain >= DRAIN_EVERY && drain_error.is_none() {
                since_drain = 0;
                drain_error = sink.drain(engine).err();
            }
            drain_error.is_none()
        })?;
        if let Some(e) = drain_error {
            return Err(e);
        }
        (decoded, sink)
    } else {
        std::thread::scope(|scope| -> Result<(Decoded, Sink)> {
            let (full_tx, full_rx) = mpsc::sync_channel::<Batch>(BATCHES_IN_FLIGHT);
            let (empty_tx, empty_rx) = mpsc::channel::<Vec<EngineOp>>();
            let bar = bar.as_ref();
            let decoder = scope.spawn(move || {
                let mut ops = Vec::new();
                decode(files, bar, &mut ops, |ops, records| {
                    // A vector the engine thread handed back keeps its
                    // capacity; a new one starts at the last one's size
                    // rather than growing (and copying) its way there.
                    let next = empty_rx.try_recv().unwrap_or_else(|_| Vec::with_capacity(ops.capacity()));
                    // A send fails only if the engine thread stopped (a store
                    // error): stop reading, the error is reported from there.
                    full_tx.send(Batch { ops: std::mem::replace(ops, next), records }).is_ok()
                })
            });
            // Opening the store (schema checks, a few fsyncs) overlaps the
            // first batches' decoding. If it fails, returning drops the
            // receiver, which stops the decoder.
            let mut sink = open_store()?;
            let mut since_drain = 0u64;
            let mut result = Ok(());
            for mut batch in full_rx.iter() {
                for op in batch.ops.drain(..) {
                    op.replay_on(&mut engine);
                }
                let _ = empty_tx.send(batch.ops);
                since_drain += batch.records;
                if since_drain >= DRAIN_EVERY {
                    since_drain = 0;
                    result = sink.drain(&mut engine);
                    if result.is_err() {
                        break;
                    }
                }
            }
            // Dropping the receiver unblocks a decoder waiting to send.
            drop(full_rx);
            let decoded = decoder.join().map_err(|_| anyhow::anyhow!("the decoding thread panicked"))??;
            result.map(|()| (decoded, sink))
        })?
    };
    // Windows still open at the end are stored as they stand, final: false.
    sink.drain(&mut engine)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(ReplaySummary {
        files: files.iter().map(|f| f.name.clone()).collect(),
        ingest: decoded.counters,
        engine: engine.counters().clone(),
        written: sink.written,
        read_errors: decoded.read_errors,
        elapsed: started.elapsed(),
    })
}

/// What the decoding stage reports.
struct Decoded {
    counters: IngestCounters,
    read_errors: Vec<(PathBuf, String)>,
}

/// Reads and decodes every file into `out`, calling `flush(out, records)`
/// every [`BATCH_RECORDS`] records and at the end; stops early when `flush`
/// returns `false`.
fn decode<E: EngineSink>(
    files: &[Capture],
    bar: Option<&ProgressBar>,
    out: &mut E,
    mut flush: impl FnMut(&mut E, u64) -> bool,
) -> Result<Decoded> {
    let mut ingest = Ingest::new();
    let mut read_errors = Vec::new();
    let mut done_bytes = 0u64;
    let mut pending = 0u64;
    'files: for file in files {
        let mut reader = file.open()?;
        loop {
            match reader.next_record() {
                Ok(Some((line, record))) => ingest.line_with_record(line, record, out),
                Ok(None) => break,
                Err(e) => {
                    // A segment cut off by a crash: keep everything before the cut.
                    tracing::warn!(file = %file.name.display(), error = %e, "capture ends in a read error; records before it were replayed");
                    read_errors.push((file.name.clone(), e.to_string()));
                    break;
                }
            }
            pending += 1;
            if pending == BATCH_RECORDS {
                if !flush(out, std::mem::take(&mut pending)) {
                    break 'files;
                }
                if let Some(bar) = bar.filter(|_| ingest.counters().records % DRAIN_EVERY < BATCH_RECORDS) {
                    bar.set_position(done_bytes + reader.file_position());
                    bar.set_message(format!("{} records", ingest.counters().records));
                }
            }
        }
        done_bytes += reader.file_len();
    }
    flush(out, pending);
    Ok(Decoded { counters: ingest.counters().clone(), read_errors })
}

struct Sink {
    store: SqliteStore,
    output: EngineOutput,
    batch: WriteBatch,
    written: WrittenCounts,
}

impl Sink {
    fn drain(&mut self, engine: &mut Engine) -> Result<()> {
        engine.drain(&mut self.output);
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
            return Ok(());
        }
        self.store.write_blocking(batch).context("writing to the store failed")?;
        let w = &mut self.written;
        w.candles += batch.candles.len() as u64;
        w.books += batch.books.len() as u64;
        w.stats += batch.stats.len() as u64;
        w.products += batch.products.len() as u64;
        w.tickers += batch.tickers.len() as u64;
        w.batches += 1;
        batch.clear();
        Ok(())
    }
}

fn progress_bar(enabled: bool, total_bytes: u64) -> Option<ProgressBar> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg} ({eta})")
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
