//! The generator task: paces the market model to the configured rate,
//! renders each event once, broadcasts it to the sessions and hands it to
//! the capture writer.
//!
//! Pacing is by count, not by sleeping per frame: every 10 ms tick emits as
//! many steps as bring the total up to `rate × elapsed`, so high rates cost
//! one wake-up per tick and the sequence of events never depends on timing.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use marketpipe_capture::{CaptureWriter, OutRecord};
use marketpipe_model::Timestamp;
use tokio::{
    sync::{mpsc, oneshot, watch},
    time::{Instant, MissedTickBehavior},
};

use crate::{
    dialect::{self, Opening, Renderer, StatsMark},
    hub::{self, Counters, Hub},
    market::EventBody,
};

/// Generator tick.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// The most a tick may emit, in seconds of market at the configured rate:
/// after a long pause (a suspended process, a starved CPU) the backlog is
/// skipped instead of burst out.
const MAX_CATCH_UP_SECS: f64 = 0.5;

/// Capture writer queue, in messages (batches).
const CAPTURE_QUEUE: usize = 256;

/// The wall clock, Unix nanoseconds (the simulator is an I/O edge; the
/// market model itself never reads it).
pub(crate) fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A message to the capture writer.
pub(crate) enum CaptureMsg {
    /// The opening records (see [`dialect::opening`]): the product list,
    /// the connection(s) and subscriptions a client subscribed to
    /// everything would record, and what it needs to build the books.
    Opening {
        /// Time of the records.
        time_ns: i64,
        /// The records, in order.
        records: Vec<Opening>,
    },
    /// Market frames, each written as a `ws` record.
    Batch(Arc<hub::Batch>),
    /// Flush, then answer.
    Flush(oneshot::Sender<()>),
}

/// Runs the capture writer (blocking I/O, on a blocking thread) until the
/// generator drops its sender; then completes the file. The first error is
/// returned (later records are counted as lost, never block the market).
fn capture_writer(path: PathBuf, writer: CaptureWriter, mut rx: mpsc::Receiver<CaptureMsg>, hub: Arc<Hub>) -> std::io::Result<()> {
    let mut writer = Some(writer);
    let mut first_error: Option<std::io::Error> = None;
    let exchange = hub.exchange.as_str();
    while let Some(msg) = rx.blocking_recv() {
        let Some(w) = writer.as_mut() else {
            if let CaptureMsg::Batch(_) = msg {
                Counters::bump(&hub.counters.capture_errors);
            }
            continue;
        };
        let result = match &msg {
            CaptureMsg::Opening { time_ns, records } => {
                let t = Timestamp(*time_ns);
                records.iter().try_for_each(|r| {
                    let record = match r {
                        Opening::Rest { url, body } => OutRecord::Rest { url, data: body },
                        Opening::Open { conn, url } => OutRecord::Open { conn: *conn, url },
                        Opening::WsOut { conn, data } => OutRecord::WsOut { conn: *conn, data },
                        Opening::Ws { conn, data } => OutRecord::Ws { conn: *conn, data },
                    };
                    write_one(w, t, exchange, record, &hub)
                })
            }
            CaptureMsg::Batch(batch) => batch.frames.iter().try_for_each(|f| {
                let conn = dialect::capture_conn(hub.exchange, f);
                write_one(w, Timestamp(batch.time_ns), exchange, OutRecord::Ws { conn, data: f.text.as_str() }, &hub)
            }),
            CaptureMsg::Flush(_) => w.flush(),
        };
        if let CaptureMsg::Flush(done) = msg {
            // The waiter may be gone (shutdown); nothing to tell then.
            let _ = done.send(());
        }
        if let Err(e) = result {
            tracing::error!(path = %path.display(), error = %e, "capture write failed; the rest of the market is not recorded");
            Counters::bump(&hub.counters.capture_errors);
            first_error = Some(e);
            writer = None;
        }
    }
    match (writer, first_error) {
        (_, Some(e)) => Err(e),
        (Some(w), None) => w.finish(),
        (None, None) => Ok(()),
    }
}

fn write_one(w: &mut CaptureWriter, t: Timestamp, exchange: &str, r: OutRecord<'_>, hub: &Hub) -> std::io::Result<()> {
    w.write(t, exchange, r)?;
    Counters::bump(&hub.counters.capture_records);
    Ok(())
}

/// The opening capture records for a market that has not moved yet.
pub(crate) fn opening(hub: &Hub, rest_url: &str, time_ns: i64) -> CaptureMsg {
    CaptureMsg::Opening { time_ns, records: dialect::opening(hub, rest_url, time_ns) }
}

/// The generator task.
pub(crate) struct Generator {
    pub(crate) hub: Arc<Hub>,
    pub(crate) rate: f64,
    pub(crate) duration: Option<Duration>,
    /// Start the market only once a client has subscribed.
    pub(crate) wait_for_subscriber: bool,
    pub(crate) capture: Option<mpsc::Sender<CaptureMsg>>,
    /// Set once generation has ended and the capture is flushed.
    pub(crate) done: watch::Sender<bool>,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Generator {
    /// Runs until the duration ends or shutdown. Dropping the capture
    /// sender on return lets the writer complete the file.
    pub(crate) async fn run(mut self) {
        if self.wait_for_subscriber {
            let mut subscribed = self.hub.subscribed.subscribe();
            tokio::select! {
                _ = hub::signalled(&mut self.shutdown) => return,
                _ = subscribed.wait_for(|s| *s) => {}
            }
        }
        let start = Instant::now();
        let mut renderer = Renderer::new(&self.hub, &self.hub.market());
        // Binance's `!miniTicker@arr` comes once per second of market: one
        // mark every `rate` events, so it is as deterministic as the rest.
        let stats_every = if renderer.wants_stats() && self.rate > 0.0 { self.rate.max(1.0) as u64 } else { 0 };
        let mut next_stats = stats_every;
        let mut marks: Vec<StatsMark> = Vec::new();
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut emitted: u64 = 0;
        let mut events = Vec::with_capacity(256);
        let max_batch = (self.rate * MAX_CATCH_UP_SECS).ceil() as u64 + 3;
        loop {
            if self.rate > 0.0 {
                tokio::select! {
                    _ = hub::signalled(&mut self.shutdown) => return,
                    _ = ticker.tick() => {}
                }
            } else {
                let end = self.duration.and_then(|d| start.checked_add(d));
                tokio::select! {
                    _ = hub::signalled(&mut self.shutdown) => return,
                    _ = sleep_until_opt(end) => {}
                }
            }
            let elapsed = start.elapsed();
            let finished = self.duration.is_some_and(|d| elapsed >= d);
            let active = self.duration.map_or(elapsed, |d| elapsed.min(d));
            let target = (self.rate * active.as_secs_f64()) as u64;
            if target > emitted.saturating_add(max_batch) {
                // Skip a backlog rather than burst it (see MAX_CATCH_UP_SECS).
                emitted = target - max_batch;
            }
            if target > emitted {
                events.clear();
                marks.clear();
                let time_ns = now_ns();
                {
                    let mut market = self.hub.market();
                    while emitted < target {
                        emitted += market.step(time_ns, &mut events) as u64;
                        if stats_every > 0 && emitted >= next_stats {
                            // Skipped backlogs skip their marks too.
                            next_stats = (emitted / stats_every + 1) * stats_every;
                            let stats = (0..self.hub.specs.len()).filter_map(|p| market.stats(p)).collect();
                            marks.push(StatsMark { after: events.len().saturating_sub(1), seq: market.seq(), stats });
                        }
                    }
                }
                let trades = events.iter().filter(|e| matches!(e.body, EventBody::Match(_))).count() as u64;
                self.hub.counters.trades.fetch_add(trades, std::sync::atomic::Ordering::Relaxed);
                let batch = Arc::new(renderer.render(&self.hub, time_ns, &events, &marks));
                self.hub.counters.market_frames.fetch_add(batch.frames.len() as u64, std::sync::atomic::Ordering::Relaxed);
                // No receivers is fine: the market runs whether or not anyone listens.
                let _ = self.hub.tx.send(batch.clone());
                if let Some(capture) = &self.capture {
                    if capture.send(CaptureMsg::Batch(batch)).await.is_err() {
                        self.capture = None;
                    }
                }
            }
            if finished {
                break;
            }
        }
        if let Some(capture) = &self.capture {
            let (tx, rx) = oneshot::channel();
            if capture.send(CaptureMsg::Flush(tx)).await.is_ok() {
                let _ = rx.await;
            }
        }
        tracing::info!(frames = emitted, "simulated market finished generating");
        self.done.send_replace(true);
        // Keep the capture file open until shutdown, so that shutdown is the
        // one place it is completed.
        hub::signalled(&mut self.shutdown).await;
    }
}

/// Sleeps until `at`, or forever without one.
pub(crate) async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A running capture writer.
pub(crate) type CaptureTask = tokio::task::JoinHandle<std::io::Result<()>>;

/// Creates the capture file (zstd-compressed if its name ends in `.zst`)
/// and starts its writer on a blocking thread.
pub(crate) fn spawn_capture(path: &Path, hub: Arc<Hub>) -> std::io::Result<(mpsc::Sender<CaptureMsg>, CaptureTask)> {
    let zstd = path.extension().is_some_and(|e| e == "zst").then_some(3);
    let writer = CaptureWriter::create(path, zstd)?;
    let (tx, rx) = mpsc::channel(CAPTURE_QUEUE);
    let path = path.to_owned();
    let handle = tokio::task::spawn_blocking(move || capture_writer(path, writer, rx, hub));
    Ok((tx, handle))
}
