//! The `ingest` role's output: every record goes to its exchange's raw
//! topic as a capture line, and every engine operation the decoders
//! produce goes to the events topic as a [`BusEvent`], keyed by product.
//!
//! Publishing is handed to a task that keeps many deliveries in flight
//! (librdkafka batches them by `linger.ms` and `batch.size`); the pipeline
//! waits only when that task's bounded queue is full, which shows up as
//! the records channel filling, counted like any other backpressure.

use std::sync::{
    atomic::{AtomicU64, Ordering::Relaxed},
    Arc,
};

use futures_util::stream::{FuturesUnordered, StreamExt};
use marketpipe_bus::{
    kafka::{KafkaSettings, Publisher},
    product_key, BusEvent, BusOp,
};
use marketpipe_capture::encode_line;
use marketpipe_live::LiveRecord;
use marketpipe_model::{InstrumentKey, MarketEvent, Timestamp};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::ingest::{EngineSink, Ingest};

/// Messages queued for the publishing task.
const QUEUE: usize = 16_384;
/// Deliveries awaited at once.
const IN_FLIGHT: usize = 8_192;
/// How long the last deliveries may take at shutdown.
const FINAL_FLUSH: std::time::Duration = std::time::Duration::from_secs(3);

/// One message to publish.
struct Outgoing {
    topic: String,
    key: String,
    payload: Vec<u8>,
}

/// The engine operations of one record, collected for publishing.
#[derive(Default)]
struct Ops {
    now: Timestamp,
    events: Vec<BusEvent>,
}

impl EngineSink for Ops {
    fn advance_clock(&mut self, now: Timestamp) {
        self.now = now;
    }

    fn apply(&mut self, event: MarketEvent) {
        self.events.push(BusEvent { recv_ns: self.now.0, op: BusOp::Apply(event) });
    }

    fn mark_resyncing(&mut self, key: &InstrumentKey) {
        self.events.push(BusEvent { recv_ns: self.now.0, op: BusOp::MarkResyncing(key.clone()) });
    }

    fn mark_stale(&mut self, key: &InstrumentKey) {
        self.events.push(BusEvent { recv_ns: self.now.0, op: BusOp::MarkStale(key.clone()) });
    }
}

/// Publishes what the pipeline decodes.
pub struct BusOutput {
    settings: KafkaSettings,
    events_topic: String,
    queue: mpsc::Sender<Outgoing>,
    task: JoinHandle<()>,
    ops: Ops,
    line: Vec<u8>,
    failures: Arc<AtomicU64>,
}

impl BusOutput {
    /// Creates the topics and starts publishing to `settings`' brokers.
    pub async fn start(settings: &KafkaSettings) -> anyhow::Result<Self> {
        let mut topics: Vec<String> = marketpipe_model::Exchange::ALL.iter().map(|e| settings.raw_topic(*e)).collect();
        topics.push(settings.events_topic());
        marketpipe_bus::kafka::ensure_topics(settings, &topics).await?;
        let publisher = Publisher::new(settings)?;
        let (queue, rx) = mpsc::channel(QUEUE);
        let failures = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(publish(publisher, rx, failures.clone()));
        Ok(BusOutput {
            settings: settings.clone(),
            events_topic: settings.events_topic(),
            queue,
            task,
            ops: Ops::default(),
            line: Vec::new(),
            failures,
        })
    }

    /// Publishes `record` raw and its decoded operations.
    pub fn handle(&mut self, ingest: &mut Ingest, record: &LiveRecord, observe: &mut dyn FnMut(&MarketEvent)) {
        self.line.clear();
        encode_line(&mut self.line, record.recv, record.exchange.as_str(), record.as_out_record());
        self.line.pop(); // the newline: a message is one record already
        let raw = Outgoing {
            topic: self.settings.raw_topic(record.exchange),
            key: record.exchange.as_str().to_owned(),
            payload: self.line.clone(),
        };
        self.enqueue(raw);
        ingest.live(record, &mut self.ops, observe);
        for event in std::mem::take(&mut self.ops.events) {
            let key = product_key(event.instrument());
            self.enqueue(Outgoing { topic: self.events_topic.clone(), key, payload: event.encode() });
        }
    }

    fn enqueue(&mut self, message: Outgoing) {
        // The pipeline task is synchronous per record; a full queue is
        // waited out here (bounded: the publisher drains it continuously).
        if let Err(mpsc::error::TrySendError::Full(message)) = self.queue.try_send(message) {
            super::telemetry::bus_queue_wait();
            let queue = self.queue.clone();
            let _ = tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(queue.send(message)));
        }
    }

    /// Nothing is buffered here: the publishing task flushes continuously.
    pub async fn flush(&mut self) {
        let failed = self.failures.swap(0, Relaxed);
        if failed > 0 {
            tracing::error!(failed, "messages could not be published; the archive still has the raw frames");
        }
    }

    /// Publishes what is queued, within a bounded time.
    pub async fn finish(self) {
        drop(self.queue);
        if tokio::time::timeout(FINAL_FLUSH, self.task).await.is_err() {
            tracing::error!("the last messages were not delivered in time");
        }
    }
}

/// The publishing task: many deliveries in flight, failures counted.
async fn publish(publisher: Publisher, mut rx: mpsc::Receiver<Outgoing>, failures: Arc<AtomicU64>) {
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            message = rx.recv(), if in_flight.len() < IN_FLIGHT => match message {
                Some(m) => {
                    let publisher = publisher.clone();
                    in_flight.push(async move { publisher.send(&m.topic, &m.key, &m.payload).await });
                }
                None => break,
            },
            Some(result) = in_flight.next(), if !in_flight.is_empty() => {
                if let Err(e) = result {
                    failures.fetch_add(1, Relaxed);
                    super::telemetry::bus_publish_failure();
                    tracing::warn!(error = %e, "publishing failed");
                }
            }
        }
    }
    while let Some(result) = in_flight.next().await {
        if let Err(e) = result {
            failures.fetch_add(1, Relaxed);
            super::telemetry::bus_publish_failure();
            tracing::warn!(error = %e, "publishing failed");
        }
    }
    if let Err(e) = publisher.flush(FINAL_FLUSH) {
        tracing::warn!(error = %e, "flushing the producer failed");
    }
}
