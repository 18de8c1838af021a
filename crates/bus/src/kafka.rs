//! Kafka over librdkafka: topic creation, an idempotent batching producer,
//! and a group consumer that reports rebalances.
//!
//! Batching is librdkafka's own: a batch goes out when it reaches
//! `batch.size` bytes or when `linger.ms` has passed since its first
//! message, whichever comes first, compressed with zstd. Producer retries
//! cannot duplicate or reorder messages (`enable.idempotence`).
//!
//! Consumer positions live in the database, not in Kafka: `process` stores
//! them in the same transaction as the results they produced (that is what
//! makes results exactly-once). What it commits to Kafka
//! ([`Subscriber::commit`]) is only where a new owner of a partition may
//! start reading: the offset of its latest stored checkpoint of the engine
//! state (lag tools show it too). The database stays the authority: on
//! assignment `process` [`Subscriber::seek`]s to where the state it
//! restored stands. A partition with nothing committed starts from its
//! beginning (`auto.offset.reset=earliest`).

use std::{
    sync::{mpsc as std_mpsc, Arc, Mutex},
    time::Duration,
};

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    config::ClientConfig,
    consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::Message,
    producer::{FutureProducer, FutureRecord, Producer},
    ClientContext, Offset, TopicPartitionList,
};

use crate::BusError;

/// How topics are created and messages batched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    /// Partitions of each topic created (existing topics are left as they are).
    pub partitions: i32,
    /// Replication factor of each topic created.
    pub replication: i32,
    /// How long the broker keeps messages (`retention.ms`).
    pub retention: Duration,
    /// How long the producer waits to fill a batch (`linger.ms`).
    pub linger: Duration,
    /// The largest batch per partition, in bytes (`batch.size`).
    pub batch_bytes: usize,
    /// Prepended to every topic name (`staging.` gives
    /// `staging.marketpipe.events`), so several deployments can share a
    /// cluster. Empty by default.
    pub topic_prefix: String,
}

impl KafkaSettings {
    /// Default settings for `brokers`: 6 partitions, replication 1, 7 days
    /// retention, 5 ms linger, 1 MiB batches.
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaSettings {
            brokers: brokers.into(),
            partitions: crate::DEFAULT_TOPIC_PARTITIONS,
            replication: crate::DEFAULT_TOPIC_REPLICATION,
            retention: crate::DEFAULT_TOPIC_RETENTION,
            linger: Duration::from_millis(5),
            batch_bytes: 1 << 20,
            topic_prefix: String::new(),
        }
    }

    /// The normalized-events topic, prefixed.
    pub fn events_topic(&self) -> String {
        format!("{}{}", self.topic_prefix, crate::EVENTS_TOPIC)
    }

    /// `exchange`'s raw-frames topic, prefixed.
    pub fn raw_topic(&self, exchange: marketpipe_model::Exchange) -> String {
        format!("{}{}", self.topic_prefix, crate::raw_topic(exchange))
    }

    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        c
    }
}

fn kafka_err(what: &str, e: KafkaError) -> BusError {
    BusError::Kafka(format!("{what}: {e}"))
}

/// Creates `topics` with the configured partitions and retention, leaving
/// topics that already exist alone. Auto-creation is never relied on: a
/// broker may not do it, or do it with the wrong partition count.
pub async fn ensure_topics(settings: &KafkaSettings, topics: &[String]) -> Result<(), BusError> {
    let admin: AdminClient<DefaultClientContext> = settings.client().create().map_err(|e| kafka_err("creating an admin client", e))?;
    let retention = settings.retention.as_millis().to_string();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, settings.partitions, TopicReplication::Fixed(settings.replication)).set("retention.ms", &retention))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin.create_topics(&new, &options).await.map_err(|e| kafka_err("creating topics", e))?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(topic, partitions = settings.partitions, "created topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => tracing::debug!(topic, "topic exists"),
            Err((topic, code)) => return Err(BusError::Kafka(format!("creating topic {topic}: {code}"))),
        }
    }
    Ok(())
}

/// An idempotent, batching, zstd-compressing producer. Cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    producer: FutureProducer,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

/// Where a published message landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

impl Publisher {
    /// A producer for `settings`.
    pub fn new(settings: &KafkaSettings) -> Result<Self, BusError> {
        let producer = settings
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", "zstd")
            .set("linger.ms", settings.linger.as_millis().to_string())
            .set("batch.size", settings.batch_bytes.to_string())
            // Delivery is retried by librdkafka (idempotently) for this long.
            .set("message.timeout.ms", "120000")
            .create()
            .map_err(|e| kafka_err("creating a producer", e))?;
        Ok(Publisher { producer })
    }

    /// Queues a message; resolves once the broker has it. When librdkafka's
    /// queue is full this waits for room instead of failing: the caller's
    /// own bounded channel then fills, and the wait is counted upstream.
    pub async fn send(&self, topic: &str, key: &str, payload: &[u8]) -> Result<Delivered, BusError> {
        let record = FutureRecord::to(topic).key(key).payload(payload);
        match self.producer.send(record, Duration::from_secs(60)).await {
            Ok(delivery) => Ok(Delivered { partition: delivery.partition, offset: delivery.offset }),
            Err((e, _)) => Err(kafka_err("publishing", e)),
        }
    }

    /// Waits (up to `timeout`) until every queued message is delivered.
    pub fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        self.producer.flush(timeout).map_err(|e| kafka_err("flushing the producer", e))
    }
}

/// A partition assignment change, as the group coordinator decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// These partitions are now this consumer's.
    Assigned(Vec<(String, i32)>),
    /// These partitions were taken away.
    Revoked(Vec<(String, i32)>),
}

fn partitions(list: &TopicPartitionList) -> Vec<(String, i32)> {
    list.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect()
}

/// Hands rebalances to the consumer's owner.
struct Rebalances {
    tx: Mutex<std_mpsc::Sender<Assignment>>,
}

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let _ = self.tx.lock().map(|tx| tx.send(Assignment::Revoked(partitions(list))));
        }
    }

    fn post_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let _ = self.tx.lock().map(|tx| tx.send(Assignment::Assigned(partitions(list))));
        }
    }
}

/// One message read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key, if any.
    pub key: Option<Vec<u8>>,
    /// Payload (empty for a null payload).
    pub payload: Vec<u8>,
}

/// A member of a consumer group, reading each partition it is assigned
/// from the group's committed offset, or from its beginning.
pub struct Subscriber {
    consumer: Arc<StreamConsumer<Rebalances>>,
    /// Behind a mutex only so that a `&Subscriber` can be held across an
    /// await (the receiver alone is not `Sync`).
    assignments: Mutex<std_mpsc::Receiver<Assignment>>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").finish_non_exhaustive()
    }
}

impl Subscriber {
    /// Joins `group` and subscribes to `topics`.
    pub fn new(settings: &KafkaSettings, group: &str, topics: &[&str]) -> Result<Self, BusError> {
        let (tx, assignments) = std_mpsc::channel();
        let consumer: StreamConsumer<Rebalances> = settings
            .client()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            // Latency over fetch efficiency: the broker answers a fetch
            // within 10 ms even when little has arrived (default 500 ms,
            // which would be the candle latency's floor).
            .set("fetch.wait.max.ms", "10")
            // A killed member's partitions move on after this long.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .create_with_context(Rebalances { tx: Mutex::new(tx) })
            .map_err(|e| kafka_err("creating a consumer", e))?;
        consumer.subscribe(topics).map_err(|e| kafka_err("subscribing", e))?;
        Ok(Subscriber { consumer: Arc::new(consumer), assignments: Mutex::new(assignments) })
    }

    /// The next message.
    pub async fn recv(&self) -> Result<Received, BusError> {
        let m = self.consumer.recv().await.map_err(|e| kafka_err("consuming", e))?;
        Ok(Received {
            topic: m.topic().to_owned(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        })
    }

    /// Assignment changes since the last call, in order.
    pub fn assignments(&self) -> Vec<Assignment> {
        self.assignments.lock().map(|rx| rx.try_iter().collect()).unwrap_or_default()
    }

    /// Commits `next_offset` as the group's position in a partition, where a
    /// member newly assigned it starts reading. Asynchronous: a commit lost
    /// to a crash only means reading from an earlier commit.
    pub fn commit(&self, topic: &str, partition: i32, next_offset: i64) -> Result<(), BusError> {
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Offset(next_offset)).map_err(|e| kafka_err("committing", e))?;
        self.consumer.commit(&list, CommitMode::Async).map_err(|e| kafka_err("committing", e))
    }

    /// Moves reading of an assigned partition to `offset`; messages fetched
    /// before the seek are discarded by librdkafka, not delivered.
    pub fn seek(&self, topic: &str, partition: i32, offset: i64) -> Result<(), BusError> {
        self.consumer.seek(topic, partition, Offset::Offset(offset), Duration::from_secs(5)).map_err(|e| kafka_err("seeking", e))
    }

    /// The first offset still held and the end offset (the next to be
    /// written) of a partition, as the broker reports them now.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), BusError> {
        self.consumer.fetch_watermarks(topic, partition, Duration::from_secs(5)).map_err(|e| kafka_err("reading watermarks", e))
    }
}
