//! The `process` role: a member of a consumer group on the events topic,
//! running the engine for the partitions it is assigned and writing their
//! results to the store.
//!
//! **Exactly-once results without Kafka transactions.** Each partition has
//! its own engine, driven only by the partition's messages (the clock is
//! each message's receive time), so its results are a function of the
//! partition's log alone, whoever computes them. Results are written
//! together with the partition's position (the next offset) in one store
//! transaction. Duplicates in the log (producer retries) are dropped by
//! trade-id dedup; a stale member that writes after losing a partition
//! writes the same rows (upserts keep the highest revision) and cannot move
//! the position back.
//!
//! **Rebuilding on assignment.** Every `checkpoint_every`, and whenever a
//! partition is revoked or the process stops, the engine's whole state
//! (open windows, books, trade-id dedup, its clock) is serialized and stored
//! with the position in the same transaction, and its offset is committed
//! to Kafka. A member newly assigned the partition (at start, after a
//! rebalance or a crash) restores the engine from the stored checkpoint and
//! reads from its offset: up to the stored position the engine only
//! rebuilds (nothing is written), then results flow again from exactly
//! where the store stands. The engine being deterministic, the restored
//! state is the one a replay from the beginning would have built, so the
//! rebuild costs at most a checkpoint interval of messages instead of the
//! whole retention. The store is the authority on where reading starts:
//! if Kafka's committed offset is ahead of the checkpoint (the commit is
//! asynchronous and the store may have been restored from a backup), the
//! member seeks back; a checkpoint that cannot be restored (another engine
//! configuration, another version) is logged and the partition is rebuilt
//! from its beginning instead.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use marketpipe_bus::{
    kafka::{Assignment, KafkaSettings, Received, Subscriber},
    BusEvent, BusOp,
};
use marketpipe_engine::{Engine, EngineConfig, EngineOutput};
use marketpipe_store::{Checkpoint, LogPosition, WriteBatch};

/// The consumer group `process` joins unless told otherwise.
pub const DEFAULT_GROUP: &str = "marketpipe-process";

/// Pause between attempts at what an assignment cannot do without.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// How often results are written.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// How often the engine state is checkpointed unless told otherwise: the
/// most a newly assigned member replays without writing.
pub const DEFAULT_CHECKPOINT_EVERY: Duration = Duration::from_secs(30);

/// One assigned partition.
struct Partition {
    engine: Engine,
    /// The offset the store stands at: results before it are stored.
    stored: i64,
    /// The next offset to apply.
    next: i64,
    /// The offset of the latest checkpoint stored (or restored).
    checkpointed: i64,
    /// When the latest checkpoint was stored (or the partition assigned).
    checkpointed_at: Instant,
    /// Whether reading was already moved back once to `next` (the consumer
    /// started past it); a second gap is the broker's retention at work.
    sought: bool,
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
    /// How often each partition's engine state is checkpointed.
    pub checkpoint_every: Duration,
}

/// Counters, for the log at the end.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    applied: u64,
    rebuilt: u64,
    undecodable: u64,
    writes: u64,
    checkpoints: u64,
    /// Partitions whose state came from a checkpoint.
    restored: u64,
    /// Checkpoints that could not be restored.
    unrestorable: u64,
    /// Messages missing between the offset to read and the first one
    /// delivered, after seeking back (the broker no longer holds them).
    skipped: u64,
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
                worker.flush(&subscriber, false).await;
            }
            message = subscriber.recv() => match message {
                Ok(m) => {
                    // A message delivered with its partition's assignment was
                    // fetched before the seek to where the restored state
                    // stands: the seek delivers it again if it is needed.
                    if !worker.rebalance(&subscriber).await?.contains(&m.partition) {
                        worker.apply(&subscriber, &m);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "consuming failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            },
        }
    }
    // The next owner of these partitions starts from here.
    worker.flush(&subscriber, true).await;
    let c = worker.counts;
    let (p50, p99) = (worker.latencies.percentile(0.5), worker.latencies.percentile(0.99));
    let per_s = c.applied as f64 / started.elapsed().as_secs_f64();
    tracing::info!(
        applied = c.applied,
        rebuilt = c.rebuilt,
        undecodable = c.undecodable,
        writes = c.writes,
        checkpoints = c.checkpoints,
        restored = c.restored,
        unrestorable = c.unrestorable,
        skipped = c.skipped,
        "process stopped"
    );
    // One line for scripts (the distributed benchmark and tests read it).
    println!(
        "process summary: applied {} events ({per_s:.0}/s over the run), rebuilt {}, writes {}, checkpoints {}, restored {}, \
         unrestorable {}, trade receive->stored p50 {} ms p99 {} ms",
        c.applied,
        c.rebuilt,
        c.writes,
        c.checkpoints,
        c.restored,
        c.unrestorable,
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
    /// Takes assignment changes: a revoked partition's results (and a
    /// checkpoint) are written before its engine goes; an assigned one
    /// starts from its stored checkpoint, or from its beginning.
    /// Returns the partitions newly assigned.
    async fn rebalance(&mut self, subscriber: &Subscriber) -> Result<Vec<i32>> {
        let mut newly = Vec::new();
        for change in subscriber.assignments() {
            match change {
                Assignment::Revoked(list) => {
                    self.flush(subscriber, true).await;
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
                    let (mut restored, mut assigned) = (0, Vec::new());
                    for (topic, p) in list {
                        let position = stored.iter().find(|s| s.partition == p);
                        // The oldest message the broker keeps.
                        let low = loop {
                            match subscriber.watermarks(&topic, p) {
                                Ok((low, _)) => break low,
                                Err(e) => tracing::warn!(partition = p, error = %e, "cannot read the partition's offsets; retrying"),
                            }
                            tokio::time::sleep(RETRY_PAUSE).await;
                        };
                        let (mut partition, from_checkpoint) =
                            self.assigned(p, position.map_or(0, |s| s.next_offset), position.and_then(|s| s.checkpoint.as_ref()), low)?;
                        restored += usize::from(from_checkpoint);
                        // Read from where the engine's state stands, not from
                        // Kafka's committed offset; should this fail, the
                        // first message delivered tells (see `apply`).
                        match subscriber.seek(&topic, p, partition.next) {
                            Ok(()) => partition.sought = true,
                            Err(e) => tracing::warn!(partition = p, error = %e, "cannot seek at assignment"),
                        }
                        self.partitions.insert(p, partition);
                        assigned.push(p);
                    }
                    // For operators and tests: when a member is ready.
                    println!(
                        "process: assigned partitions {assigned:?}: {restored} from checkpoints, {} from the beginning",
                        assigned.len() - restored
                    );
                    newly.extend(assigned);
                }
            }
        }
        Ok(newly)
    }

    /// A newly assigned partition: its engine from the checkpoint if there
    /// is one that restores (and then `true`), else empty and read from `low`.
    fn assigned(&mut self, p: i32, stored: i64, checkpoint: Option<&Checkpoint>, low: i64) -> Result<(Partition, bool)> {
        let config = &self.settings.engine;
        let restored = checkpoint.and_then(|c| match Engine::restore(config.clone(), &c.state) {
            Ok(engine) => Some((engine, c.next_offset)),
            Err(e) => {
                self.counts.unrestorable += 1;
                tracing::warn!(partition = p, at = c.next_offset, error = %e, "cannot restore the stored checkpoint; rebuilding from the beginning");
                None
            }
        });
        let from_checkpoint = restored.is_some();
        let (engine, from) = match restored {
            Some((engine, at)) => {
                self.counts.restored += 1;
                (engine, at)
            }
            None => (Engine::new(config.clone()).context("invalid engine settings")?, low),
        };
        if from < low {
            tracing::warn!(
                partition = p,
                checkpoint = from,
                low,
                "the broker no longer holds the messages after the checkpoint; results may miss them"
            );
        }
        tracing::info!(partition = p, stored, from, "partition assigned; rebuilding its state up to the stored position");
        Ok((Partition { engine, stored, next: from, checkpointed: from, checkpointed_at: Instant::now(), sought: false }, from_checkpoint))
    }

    fn apply(&mut self, subscriber: &Subscriber, m: &Received) {
        let Some(part) = self.partitions.get_mut(&m.partition) else { return };
        if m.offset < part.next {
            return; // before the restored state or already applied
        }
        if m.offset > part.next {
            // Reading started past what the engine holds: Kafka's commit
            // is ahead of the stored checkpoint, or there was none to use.
            if !part.sought {
                part.sought = true;
                match subscriber.seek(&m.topic, m.partition, part.next) {
                    Ok(()) => {
                        tracing::info!(
                            partition = m.partition,
                            from = part.next,
                            got = m.offset,
                            "reading moved back to the engine's state"
                        );
                        return;
                    }
                    Err(e) => tracing::warn!(partition = m.partition, error = %e, "cannot seek back; going on from here"),
                }
            }
            self.counts.skipped += (m.offset - part.next) as u64;
            tracing::warn!(partition = m.partition, expected = part.next, got = m.offset, "messages missing from the log; going on");
        }
        // Whether this message's results are in the store already (decided
        // before `next` moves past it).
        let rebuilding = m.offset < part.stored;
        part.next = m.offset + 1;
        match BusEvent::decode(&m.payload) {
            Ok(event) => {
                part.engine.advance_clock(event.recv());
                if !rebuilding && matches!(event.op, BusOp::Apply(marketpipe_model::MarketEvent::Trade(_))) {
                    self.latencies.pending.push(event.recv_ns);
                }
                match event.op {
                    BusOp::Apply(e) => part.engine.apply(e),
                    BusOp::MarkResyncing(key) => part.engine.mark_resyncing(&key),
                    BusOp::MarkStale(key) => part.engine.mark_stale(&key),
                }
                if rebuilding {
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
    /// position are written with the new positions, in one transaction,
    /// with a checkpoint of each engine whose checkpoint is due (all of them
    /// with `checkpoint_all`, for partitions about to go). The offsets of
    /// stored checkpoints are then committed to Kafka.
    async fn flush(&mut self, subscriber: &Subscriber, checkpoint_all: bool) {
        let mut positions = Vec::new();
        for (&p, part) in &mut self.partitions {
            part.engine.drain(&mut self.out);
            if part.rebuilding() {
                // State being rebuilt: those results are in the store already.
                self.out.clear();
                continue;
            }
            crate::live::move_rows(&mut self.out, &mut self.batch);
            let checkpoint_due =
                part.next > part.checkpointed && (checkpoint_all || part.checkpointed_at.elapsed() >= self.settings.checkpoint_every);
            if part.next > part.stored || checkpoint_due {
                positions.push(LogPosition {
                    group: self.settings.group.clone(),
                    topic: self.topic.clone(),
                    partition: p,
                    next_offset: part.next,
                    // Taken right after the drain: the state the results
                    // written with it leave behind.
                    checkpoint: checkpoint_due.then(|| Checkpoint { next_offset: part.next, state: part.engine.checkpoint() }),
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
                    let Some(part) = self.partitions.get_mut(&pos.partition) else { continue };
                    part.stored = pos.next_offset;
                    let Some(checkpoint) = &pos.checkpoint else { continue };
                    part.checkpointed = checkpoint.next_offset;
                    part.checkpointed_at = Instant::now();
                    self.counts.checkpoints += 1;
                    tracing::debug!(
                        partition = pos.partition,
                        at = checkpoint.next_offset,
                        bytes = checkpoint.state.len(),
                        "checkpoint stored"
                    );
                    // Only where to start reading: the store stays the
                    // authority, so a failed commit costs a longer rebuild.
                    if let Err(e) = subscriber.commit(&self.topic, pos.partition, checkpoint.next_offset) {
                        tracing::warn!(partition = pos.partition, error = %e, "cannot commit the checkpoint's offset to Kafka");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "store write failed; retrying with the next flush"),
        }
    }
}
