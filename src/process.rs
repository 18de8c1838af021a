//! The `process` role: a member of a consumer group on the events topic,
//! running the engine for the partitions it is assigned and writing their
//! results to the store.
//!
//! **Exactly-once results without Kafka transactions.** Each partition has
//! its own engine, driven only by the partition's messages (the clock is
//! each message's receive time), so its results are a function of the
//! partition's log alone, whoever computes them. Results are written
//! together with the partition's position (the next offset) in one store
//! transaction. A partition newly assigned (at start, after a rebalance or
//! a crash) is read from its beginning (positions are never committed to
//! Kafka): up to its stored position the engine only rebuilds its state
//! (open windows, books, trade-id dedup) and nothing is written, then
//! results flow again from exactly where the store stands. Duplicates in
//! the log (producer retries) are dropped by trade-id dedup; a stale member
//! that writes after losing a partition writes the same rows (upserts keep
//! the highest revision) and cannot move the position back.
//!
//! Reading a partition from its beginning costs time proportional to the
//! retention; checkpoints of the engine state stored with the position
//! (the store has the column) would bound it, and are the next step.

use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use marketpipe_bus::{
    kafka::{Assignment, KafkaSettings, Received, Subscriber},
    BusEvent, BusOp,
};
use marketpipe_engine::{Engine, EngineConfig, EngineOutput};
use marketpipe_store::{LogPosition, WriteBatch};

/// The consumer group `process` joins unless told otherwise.
pub const DEFAULT_GROUP: &str = "marketpipe-process";

/// Pause between attempts at what an assignment cannot do without.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// How often results are written.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// One assigned partition.
struct Partition {
    engine: Engine,
    /// The offset the store stands at: results before it are stored.
    stored: i64,
    /// The next offset to apply.
    next: i64,
}

impl Partition {
    /// Whether the engine is still catching up with the store.
    fn rebuilding(&self) -> bool {
        self.next < self.stored
    }
}

/// What `process` needs.
#[derive(Debug, Clone)]
pub struct ProcessSettings {
    /// The brokers.
    pub kafka: KafkaSettings,
    /// The consumer group.
    pub group: String,
    /// Engine settings (every partition's engine).
    pub engine: EngineConfig,
}

/// Counters, for the log at the end.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    applied: u64,
    rebuilt: u64,
    undecodable: u64,
    writes: u64,
}

/// Receive → stored latencies of trades, for the summary at the end.
#[derive(Debug, Default)]
struct Latencies {
    /// Receive times of trades applied since the last write.
    pending: Vec<i64>,
    /// Milliseconds, one per trade written (the first million).
    done: Vec<f64>,
}

impl Latencies {
    const MAX: usize = 1_000_000;

    fn written(&mut self) {
        let now = marketpipe_live::now().0;
        for recv in self.pending.drain(..) {
            if self.done.len() < Self::MAX {
                self.done.push((now - recv) as f64 / 1e6);
            }
        }
    }

    fn percentile(&mut self, p: f64) -> Option<f64> {
        if self.done.is_empty() {
            return None;
        }
        self.done.sort_by(f64::total_cmp);
        let i = ((self.done.len() - 1) as f64 * p).round() as usize;
        self.done.get(i).copied()
    }
}

/// Runs until `shutdown` resolves, then writes what it has.
pub async fn run(settings: ProcessSettings, store: Arc<dyn crate::stores::Store>, shutdown: impl Future<Output = ()>) -> Result<()> {
    let topic = settings.kafka.events_topic();
    marketpipe_bus::kafka::ensure_topics(&settings.kafka, std::slice::from_ref(&topic)).await.context("cannot create the events topic")?;
    let subscriber = Subscriber::new(&settings.kafka, &settings.group, &[topic.as_str()]).context("cannot join the consumer group")?;
    let mut worker = Worker {
        settings,
        topic,
        store,
        partitions: BTreeMap::new(),
        batch: WriteBatch::default(),
        out: EngineOutput::default(),
        counts: Counts::default(),
        latencies: Latencies::default(),
    };
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::info!(group = %worker.settings.group, brokers = %worker.settings.kafka.brokers, topic = %worker.topic, "processing the events topic");
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            _ = tick.tick() => {
                worker.rebalance(&subscriber).await?;
                worker.flush().await;
            }
            message = subscriber.recv() => match message {
                Ok(m) => {
                    worker.rebalance(&subscriber).await?;
                    worker.apply(&m);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "consuming failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
    worker.flush().await;
    let c = worker.counts;
    let (p50, p99) = (worker.latencies.percentile(0.5), worker.latencies.percentile(0.99));
    let per_s = c.applied as f64 / started.elapsed().as_secs_f64();
    tracing::info!(applied = c.applied, rebuilt = c.rebuilt, undecodable = c.undecodable, writes = c.writes, "process stopped");
    // One line for scripts (the distributed benchmark reads it).
    println!(
        "process summary: applied {} events ({per_s:.0}/s over the run), rebuilt {}, writes {}, trade receive->stored p50 {} ms p99 {} ms",
        c.applied,
        c.rebuilt,
        c.writes,
        p50.map_or("-".into(), |v| format!("{v:.1}")),
        p99.map_or("-".into(), |v| format!("{v:.1}")),
    );
    Ok(())
}

struct Worker {
    settings: ProcessSettings,
    topic: String,
    store: Arc<dyn crate::stores::Store>,
    partitions: BTreeMap<i32, Partition>,
    /// Rows not yet written (a failed write is retried with the next).
    batch: WriteBatch,
    out: EngineOutput,
    counts: Counts,
    latencies: Latencies,
}

impl Worker {
    /// Takes assignment changes: a revoked partition's results are written
    /// before its engine goes; an assigned one starts rebuilding from the
    /// beginning up to its stored position.
    async fn rebalance(&mut self, subscriber: &Subscriber) -> Result<()> {
        for change in subscriber.assignments() {
            match change {
                Assignment::Revoked(list) => {
                    self.flush().await;
                    for (_, p) in list {
                        self.partitions.remove(&p);
                    }
                    tracing::info!(partitions = ?self.partitions.keys().collect::<Vec<_>>(), "partitions revoked");
                }
                Assignment::Assigned(list) => {
                    // Without the stored positions nothing can be applied
                    // safely: a store or broker outage here is waited out,
                    // not turned into an exit.
                    let stored = loop {
                        match self.store.positions(&self.settings.group, &self.topic).await {
                            Ok(stored) => break stored,
                            Err(e) => tracing::warn!(error = %e, "cannot read stored positions; retrying"),
                        }
                        tokio::time::sleep(RETRY_PAUSE).await;
                    };
                    for (topic, p) in list {
                        let at = stored.iter().find(|s| s.partition == p).map_or(0, |s| s.next_offset);
                        // Reading starts at the oldest message the broker keeps.
                        let low = loop {
                            match subscriber.watermarks(&topic, p) {
                                Ok((low, _)) => break low,
                                Err(e) => tracing::warn!(partition = p, error = %e, "cannot read the partition's offsets; retrying"),
                            }
                            tokio::time::sleep(RETRY_PAUSE).await;
                        };
                        let engine = Engine::new(self.settings.engine.clone()).context("invalid engine settings")?;
                        tracing::info!(
                            partition = p,
                            stored = at,
                            from = low,
                            "partition assigned; rebuilding its state up to the stored position"
                        );
                        self.partitions.insert(p, Partition { engine, stored: at, next: low });
                    }
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, m: &Received) {
        let Some(part) = self.partitions.get_mut(&m.partition) else { return };
        if m.offset < part.next {
            return; // read again after a rebalance: already applied
        }
        part.next = m.offset + 1;
        match BusEvent::decode(&m.payload) {
            Ok(event) => {
                part.engine.advance_clock(event.recv());
                if !part.rebuilding() && matches!(event.op, BusOp::Apply(marketpipe_model::MarketEvent::Trade(_))) {
                    self.latencies.pending.push(event.recv_ns);
                }
                match event.op {
                    BusOp::Apply(e) => part.engine.apply(e),
                    BusOp::MarkResyncing(key) => part.engine.mark_resyncing(&key),
                    BusOp::MarkStale(key) => part.engine.mark_stale(&key),
                }
                if part.rebuilding() {
                    self.counts.rebuilt += 1;
                } else {
                    self.counts.applied += 1;
                }
            }
            Err(e) => {
                self.counts.undecodable += 1;
                tracing::warn!(partition = m.partition, offset = m.offset, error = %e, "skipped an undecodable event");
            }
        }
    }

    /// Drains every engine; results of partitions past their stored
    /// position are written with the new positions, in one transaction.
    async fn flush(&mut self) {
        let mut positions = Vec::new();
        for (&p, part) in &mut self.partitions {
            part.engine.drain(&mut self.out);
            if part.rebuilding() {
                // State being rebuilt: those results are in the store already.
                self.out.clear();
                continue;
            }
            crate::live::move_rows(&mut self.out, &mut self.batch);
            if part.next > part.stored {
                positions.push(LogPosition {
                    group: self.settings.group.clone(),
                    topic: self.topic.clone(),
                    partition: p,
                    next_offset: part.next,
                    checkpoint: None,
                });
            }
        }
        if self.batch.is_empty() && positions.is_empty() {
            return;
        }
        match self.store.write_at(&self.batch, &positions).await {
            Ok(()) => {
                self.counts.writes += 1;
                self.batch.clear();
                self.latencies.written();
                for pos in &positions {
                    if let Some(part) = self.partitions.get_mut(&pos.partition) {
                        part.stored = pos.next_offset;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "store write failed; retrying with the next flush"),
        }
    }
}
