//! The live pipeline behind `run` and `demo`: exchange feeds and backfillers
//! → one bounded channel → archive, decoders, engine → SQLite, with the API
//! and `/metrics` served from the same process.
//!
//! Shutdown (SIGINT/SIGTERM, or the end of `demo --run-for`) is ordered so
//! nothing received is lost: the feeds and backfillers stop and emit their
//! last records, the pipeline drains the channel, writes the store and
//! closes the archive, then the API stops. The whole sequence is bounded
//! by [`SHUTDOWN_BUDGET`] so the process exits well within 5 s even if an
//! exchange connection hangs.

#[cfg(feature = "kafka")]
mod bus_output;
mod output;
mod pipeline;

#[cfg(feature = "kafka")]
pub use output::move_rows;
pub mod telemetry;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use axum::{routing::get, Router};
use marketpipe_api::{router, ApiConfig};
use marketpipe_capture::{ArchiveConfig, ArchiveWriter};
use marketpipe_engine::{Engine, EngineConfig};
use marketpipe_live::{
    now, spawn_backfiller, spawn_feed, spawn_poller, BackfillConfig, BackfillHandle, FeedConfig, FeedHandle, LiveBody, LiveRecord,
    PollConfig, PollHandle, RestClient, RestMethod,
};
use marketpipe_model::Exchange;
use marketpipe_venues::{
    binance::session::BinanceSession, coinbase::session::CoinbaseSession, kucoin::session::KucoinSession, session::SessionProtocol,
};
use tokio::{
    sync::{mpsc, oneshot, watch},
    time::timeout,
};

/// Records buffered between the feeds and the pipeline: about two seconds
/// at a busy 5,000 frames/s. When it is full, feeds wait (and count it);
/// the socket buffers upstream absorb the rest.
const RECORD_CHANNEL: usize = 8192;
/// Gaps queued for one backfiller.
const GAP_CHANNEL: usize = 1024;
/// How long the whole shutdown may take before the process gives up
/// waiting on a component.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_millis(4500);
/// Attempts at fetching product metadata at start.
const PRODUCT_FETCH_ATTEMPTS: u32 = 3;
/// Limit on the product-list request at start: Binance's `exchangeInfo`
/// lists every symbol and runs to megabytes.
const PRODUCT_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// One exchange to connect to.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// The exchange.
    pub exchange: Exchange,
    /// Native product ids.
    pub products: Vec<String>,
    /// Websocket URL; `None` is the exchange's public feed.
    pub ws_url: Option<String>,
    /// REST base URL; `None` is the exchange's public API.
    pub rest_url: Option<String>,
    /// Pages of trades fetched before the first one seen of each product
    /// (0: none), so the candles open at start are complete.
    pub warm_start_pages: u32,
}

/// Everything `run` and `demo` configure.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    /// Data directory (store, and the archive under `archive/`).
    pub data_dir: PathBuf,
    /// API listen address.
    pub listen: SocketAddr,
    /// Engine settings.
    pub engine: EngineConfig,
    /// The raw archive, or `None` to keep none.
    pub archive: Option<ArchiveConfig>,
    /// Where closed archive segments are uploaded (`s3://bucket/prefix`);
    /// the local archive is then the spool they wait in.
    pub archive_upload: Option<String>,
    /// The exchanges.
    pub feeds: Vec<FeedSettings>,
    /// Where decoded events go: `memory://` (the engine and the store in
    /// this process) or a Kafka broker.
    pub bus: marketpipe_bus::BusUrl,
    /// With a Kafka bus: only publish (`ingest`), or also consume and
    /// store in this process (`run --bus kafka://`: every role in one).
    pub ingest_only: bool,
    /// The store: `postgres://...`, or `None` for SQLite in the data directory.
    pub store: Option<String>,
    /// Kafka topic names and creation settings.
    pub topics: crate::cli::TopicArgs,
}

/// The session protocol of an exchange, or why there is none.
pub fn protocol_for(exchange: Exchange) -> Result<Arc<dyn SessionProtocol>> {
    match exchange {
        Exchange::Coinbase => Ok(Arc::new(CoinbaseSession)),
        Exchange::Binance => Ok(Arc::new(BinanceSession)),
        Exchange::Kucoin => Ok(Arc::new(KucoinSession)),
        other => anyhow::bail!("{other} has no websocket feed; websocket exchanges: coinbase, binance, kucoin"),
    }
}

/// A running exchange connection, joined at shutdown.
enum Running {
    /// A websocket feed and its REST worker.
    Feed { feed: FeedHandle, backfill: BackfillHandle },
    /// A REST poller (Coinbase Advanced Trade).
    Poller(PollHandle),
}

impl Running {
    async fn join(self) {
        let (what, result) = match self {
            Running::Feed { feed, backfill } => {
                if let Err(e) = feed.join().await {
                    tracing::warn!(error = %e, "a feed ended with an error");
                }
                ("backfiller", backfill.join().await)
            }
            Running::Poller(poller) => ("poller", poller.join().await),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "a {what} ended with an error");
        }
    }
}

/// Runs the live pipeline until `shutdown` resolves. `on_ready` receives
/// the API's bound address once everything is up.
pub async fn run(settings: LiveSettings, shutdown: impl Future<Output = ()>, on_ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let mut shutdown = std::pin::pin!(shutdown);
    marketpipe_live::install_crypto_provider();
    let metrics = telemetry::install()?;
    std::fs::create_dir_all(&settings.data_dir).with_context(|| format!("cannot create data directory {}", settings.data_dir.display()))?;
    let archive_root = settings.data_dir.join("archive");
    // Started before the archive writer opens anything: whatever the
    // uploader finds in the spool now was closed by an earlier run.
    let uploader = match &settings.archive_upload {
        Some(url) => Some(crate::archive_s3::start_uploader(url, &archive_root).await?),
        None => None,
    };
    let archive = settings.archive.map(|config| crate::archive_s3::hook(ArchiveWriter::new(archive_root, config), uploader.as_ref()));

    // The API first: a port in use should fail before any connection is made.
    let listener = tokio::net::TcpListener::bind(settings.listen).await.with_context(|| format!("cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let metrics_route = Router::new().route("/metrics", get(move || std::future::ready(metrics.render())));
    let (process_stop, process_stopping) = oneshot::channel::<()>();
    let mut process = None;
    let (app, output) = match &settings.bus {
        marketpipe_bus::BusUrl::Memory => {
            let store = crate::stores::open(settings.store.as_deref(), &settings.data_dir, true).await?;
            let engine = Engine::new(settings.engine.clone()).context("invalid engine settings")?;
            let app = router(store.clone(), ApiConfig::default()).merge(metrics_route);
            (app, output::Output::Local(Box::new(output::LocalOutput::new(engine, store))))
        }
        // Ingest only: the engine and the store are `process`'s; this
        // process serves its metrics.
        marketpipe_bus::BusUrl::Kafka { brokers } if settings.ingest_only => (metrics_route, bus_output(brokers, &settings.topics).await?),
        // Every role: publish, consume our own topic, serve the store.
        marketpipe_bus::BusUrl::Kafka { brokers } => {
            let store = crate::stores::open(settings.store.as_deref(), &settings.data_dir, true).await?;
            let app = router(store.clone(), ApiConfig::default()).merge(metrics_route);
            let output = bus_output(brokers, &settings.topics).await?;
            process = Some(spawn_process(brokers, &settings.topics, &settings.engine, store, process_stopping));
            (app, output)
        }
    };
    let (api_stop, api_stopped) = oneshot::channel::<()>();
    let api = tokio::spawn(marketpipe_api::serve(listener, app, async {
        let _ = api_stopped.await;
    }));

    let (records_tx, records_rx) = mpsc::channel(RECORD_CHANNEL);
    let (stop, stopping) = watch::channel(false);
    let mut pipeline = pipeline::Pipeline::new(output, archive);
    let mut running = Vec::new();
    for feed in &settings.feeds {
        if feed.exchange == Exchange::CoinbaseAdvanced {
            // A REST source: no websocket, no book; its trades go through
            // the same decoder and engine as everything else.
            if feed.products.is_empty() {
                anyhow::bail!("no products configured for {0}; give --products or [exchanges.{0}] products", feed.exchange);
            }
            let mut config = PollConfig::new(feed.products.clone());
            if let Some(url) = &feed.rest_url {
                config.rest_url = url.trim_end_matches('/').to_owned();
            }
            running.push(Running::Poller(spawn_poller(config, records_tx.clone(), stopping.clone())?));
            continue;
        }
        let protocol = protocol_for(feed.exchange)?;
        let mut config = FeedConfig::new(protocol.as_ref(), feed.products.clone());
        if let Some(url) = &feed.ws_url {
            config.ws_url.clone_from(url);
        }
        if let Some(url) = &feed.rest_url {
            config.rest_url = url.trim_end_matches('/').to_owned();
        }
        if config.products.is_empty() {
            anyhow::bail!("no products configured for {}; give --products or [exchanges.{}] products", feed.exchange, feed.exchange);
        }
        let backfill_config =
            BackfillConfig { warm_start_pages: feed.warm_start_pages, ..BackfillConfig::for_feed(protocol.as_ref(), &config) };
        // One client per exchange: the feed's tokens, the product list,
        // snapshots and backfill draw on one request budget.
        let rest = RestClient::new(feed.exchange, backfill_config.rest_policy())?;
        // Product metadata goes through the channel like everything else,
        // so it is archived and decoded in order, before any frame.
        // An unreachable REST host can take its full timeout, three times:
        // a stop requested meanwhile is honoured at once (nothing has been
        // received yet, so there is nothing to flush).
        tokio::select! {
            () = fetch_products(protocol.as_ref(), &config, &records_tx) => {}
            () = &mut shutdown => {
                tracing::info!("stopped during start-up");
                let _ = api_stop.send(());
                return Ok(());
            }
        }
        let (rest_tx, rest_rx) = mpsc::channel(GAP_CHANNEL);
        let snapshots_via_rest = protocol.snapshot_url(&config.rest_url, "").is_some();
        let feed_handle = spawn_feed(config, protocol.clone(), rest.clone(), records_tx.clone(), stopping.clone())?;
        let backfill = spawn_backfiller(backfill_config, protocol, rest, rest_rx, records_tx.clone(), stopping.clone())?;
        pipeline.attach(
            feed.exchange,
            feed_handle.resyncer(),
            rest_tx,
            pipeline::FeedOptions { warm_start: feed.warm_start_pages > 0, snapshots_via_rest },
        );
        running.push(Running::Feed { feed: feed_handle, backfill });
    }
    // From here only the feeds and backfillers hold senders: the pipeline
    // ends when they have all stopped.
    drop(records_tx);
    let pipeline = tokio::spawn(pipeline.run(records_rx));
    on_ready(addr);

    shutdown.await;
    let started = tokio::time::Instant::now();
    tracing::info!("shutting down: stopping feeds, draining the pipeline");
    stop.send_replace(true);
    let stopped = timeout(SHUTDOWN_BUDGET, async {
        for r in running {
            r.join().await;
        }
        if let Err(e) = pipeline.await {
            tracing::error!(error = %e, "the pipeline task failed");
        }
    })
    .await;
    if stopped.is_err() {
        tracing::error!(budget = ?SHUTDOWN_BUDGET, "shutdown budget exhausted; exiting without waiting further");
    }
    if let Some(process) = process {
        // What was just published is consumed within the remaining budget;
        // anything later is taken up by the next start, from the store's
        // position.
        tokio::time::sleep(PROCESS_TAIL).await;
        let _ = process_stop.send(());
        match timeout(SHUTDOWN_BUDGET.saturating_sub(started.elapsed()).max(Duration::from_millis(200)), process).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the process role ended with an error"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the process task failed"),
            Err(_) => tracing::warn!("the process role did not stop in time"),
        }
    }
    // The archive is closed: upload what is spooled in the time left,
    // keeping half a second for the API. The rest waits for the next start.
    crate::archive_s3::finish(uploader, SHUTDOWN_BUDGET.saturating_sub(started.elapsed() + Duration::from_millis(500))).await;
    let _ = api_stop.send(());
    let left = SHUTDOWN_BUDGET.saturating_sub(started.elapsed()).max(Duration::from_millis(200));
    match timeout(left, api).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the API server ended with an error"),
        Ok(Err(e)) => tracing::warn!(error = %e, "the API task failed"),
        Err(_) => tracing::warn!("the API did not stop in time"),
    }
    tracing::info!(elapsed = ?started.elapsed(), "stopped");
    Ok(())
}

/// How long `run --bus kafka://` lets its process role consume after the
/// feeds stopped.
const PROCESS_TAIL: Duration = Duration::from_millis(1000);

/// The process role, in this process.
#[cfg(feature = "kafka")]
fn spawn_process(
    brokers: &str,
    topics: &crate::cli::TopicArgs,
    engine: &marketpipe_engine::EngineConfig,
    store: Arc<dyn crate::stores::Store>,
    stop: oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<Result<()>> {
    let settings = crate::process::ProcessSettings {
        kafka: topics.kafka(brokers),
        group: crate::process::DEFAULT_GROUP.to_owned(),
        engine: engine.clone(),
        checkpoint_every: crate::process::DEFAULT_CHECKPOINT_EVERY,
    };
    tokio::spawn(crate::process::run(settings, store, async {
        let _ = stop.await;
    }))
}

#[cfg(not(feature = "kafka"))]
fn spawn_process(
    _: &str,
    _: &crate::cli::TopicArgs,
    _: &marketpipe_engine::EngineConfig,
    _: Arc<dyn crate::stores::Store>,
    _: oneshot::Receiver<()>,
) -> tokio::task::JoinHandle<Result<()>> {
    unreachable!("bus_output fails first without the kafka feature")
}

/// The `ingest` output: topics created, the producer started.
#[cfg(feature = "kafka")]
async fn bus_output(brokers: &str, topics: &crate::cli::TopicArgs) -> Result<output::Output> {
    let settings = topics.kafka(brokers);
    let bus = bus_output::BusOutput::start(&settings).await.with_context(|| format!("cannot start publishing to kafka://{brokers}"))?;
    Ok(output::Output::Bus(bus))
}

/// Without Kafka support compiled in, says which feature to build.
#[cfg(not(feature = "kafka"))]
async fn bus_output(_brokers: &str, _topics: &crate::cli::TopicArgs) -> Result<output::Output> {
    marketpipe_bus::kafka_supported()?;
    unreachable!("kafka_supported fails without the feature")
}

/// Fetches the exchange's product list and hands the response to the
/// pipeline. Without it products are derived from their ids where the
/// exchange allows (Coinbase, KuCoin; Binance symbols cannot be split and
/// are skipped as unknown), so a failure is logged and the pipeline goes on.
async fn fetch_products(protocol: &dyn SessionProtocol, config: &FeedConfig, tx: &mpsc::Sender<LiveRecord>) {
    let url = protocol.products_url(&config.rest_url);
    let policy = marketpipe_live::RestPolicy {
        weight_per_second: protocol.rest_weight_per_second(),
        max_attempts: PRODUCT_FETCH_ATTEMPTS,
        request_timeout: PRODUCT_FETCH_TIMEOUT,
        backoff: config.backoff,
    };
    let client = match RestClient::new(config.exchange, policy) {
        Ok(c) => c,
        Err(e) => return tracing::warn!(error = %e, "cannot build an HTTP client; skipping product metadata"),
    };
    // Never signalled: the caller stops this future by dropping it.
    let (_keep, mut never) = tokio::sync::watch::channel(false);
    match client.request(RestMethod::Get, &url, protocol.rest_weight(&url), &mut never).await {
        Ok(body) => {
            let record = LiveRecord { recv: now(), exchange: config.exchange, body: LiveBody::Rest { url, body } };
            let _ = tx.send(record).await;
        }
        Err(e) => tracing::warn!(%url, error = %e, "no product metadata; products are derived from their ids where possible"),
    }
}
