//! `marketpipe process --bus kafka://HOST:PORT [--group G] [--store URL]`.

use anyhow::{Context, Result};

use crate::{cli::ProcessArgs, config::FileConfig};

/// Consumes the events topic until SIGINT/SIGTERM.
pub fn process(args: ProcessArgs, file: &FileConfig) -> Result<()> {
    let brokers = match &args.bus {
        marketpipe_bus::BusUrl::Kafka { brokers } => brokers.clone(),
        marketpipe_bus::BusUrl::Memory => anyhow::bail!("process reads from Kafka: give --bus kafka://HOST:PORT"),
    };
    marketpipe_bus::kafka_supported()?;
    let data_dir = file.data_dir(args.data.data_dir.clone());
    let engine = file.engine(&args.engine)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let store = crate::stores::open(args.store.as_deref(), &data_dir, true).await?;
        run(brokers, args.topics, args.group, args.checkpoint_interval, engine, store).await
    })
}

#[cfg(feature = "kafka")]
async fn run(
    brokers: String,
    topics: crate::cli::TopicArgs,
    group: String,
    checkpoint_every: std::time::Duration,
    engine: marketpipe_engine::EngineConfig,
    store: std::sync::Arc<dyn crate::stores::Store>,
) -> Result<()> {
    let settings = crate::process::ProcessSettings { kafka: topics.kafka(&brokers), group, engine, checkpoint_every };
    println!("marketpipe process consuming {} as group {}", settings.kafka.events_topic(), settings.group);
    // Every log line names the member's process: members of one group
    // running side by side (on one machine, or in the tests) are then told
    // apart in a shared log.
    let member = tracing::info_span!("member", pid = std::process::id());
    tracing::Instrument::instrument(crate::process::run(settings, store, super::serve::shutdown_signal()), member).await
}

#[cfg(not(feature = "kafka"))]
async fn run(
    _: String,
    _: crate::cli::TopicArgs,
    _: String,
    _: std::time::Duration,
    _: marketpipe_engine::EngineConfig,
    _: std::sync::Arc<dyn crate::stores::Store>,
) -> Result<()> {
    unreachable!("kafka_supported fails without the feature")
}
