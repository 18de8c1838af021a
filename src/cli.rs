//! The command line: one binary, clap subcommands.
//!
//! Every setting can come from a TOML config file (`--config`), a
//! `MARKETPIPE_*` environment variable or a flag, in that order of
//! precedence (file < env < flag). Flags and env vars are parsed here, as
//! `Option`s so that [`crate::config`] can tell "not given" from a default.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

/// marketpipe: exchange feeds turned into exact candles and order-book statistics.
#[derive(Debug, Parser)]
#[command(name = "marketpipe", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// TOML config file (settings in it are overridden by env vars and flags).
    #[arg(long, global = true, env = "MARKETPIPE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log format: `human` (the default) or `json` (one object per line).
    #[arg(long, global = true, env = "MARKETPIPE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,

    /// Log filter in tracing's env-filter syntax, e.g. `info` or `info,marketpipe=debug`.
    #[arg(long, global = true, env = "MARKETPIPE_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (colours on a terminal).
    Human,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run captures through the pipeline into the store, as fast as the machine allows.
    Replay(ReplayArgs),
    /// Serve the HTTP API over an existing data directory.
    Serve(ServeArgs),
    /// Query candles from the store.
    Candles(CandlesArgs),
    /// Run the live pipeline: exchange feeds -> archive, candles, books -> store, with the API.
    Run(RunArgs),
    /// Run the live pipeline against the built-in exchange simulator (no internet needed).
    Demo(DemoArgs),
    /// Run the exchange simulator alone (Coinbase, Binance or KuCoin protocol over loopback).
    Sim(SimArgs),
    /// Run the exchange connections and publish raw frames and normalized events to Kafka (needs the `kafka` feature).
    Ingest(RunArgs),
    /// Consume normalized events from Kafka as a member of a consumer group: engine -> store (needs the `kafka` feature).
    Process(ProcessArgs),
}

/// Where the embedded store lives.
#[derive(Debug, Args)]
pub struct DataDirArgs {
    /// Data directory holding the SQLite store (default `./data`).
    #[arg(long, env = "MARKETPIPE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Engine settings.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Candle intervals, comma-separated, from 1s 1m 5m 15m 1h 6h 1d (default `1m,1h,1d`).
    #[arg(long, env = "MARKETPIPE_INTERVALS", value_delimiter = ',', value_name = "LIST")]
    pub intervals: Option<Vec<String>>,
    /// How late (in event time) a trade may arrive before its window closes (default `5s`).
    #[arg(long, env = "MARKETPIPE_LATENESS", value_name = "DURATION")]
    pub lateness: Option<String>,
    /// How far behind the watermark late trades still revise final candles (default `1h`).
    #[arg(long, env = "MARKETPIPE_RETENTION", value_name = "DURATION")]
    pub retention: Option<String>,
    /// Extra wall-clock margin after which windows of quiet products close (default `2s`).
    #[arg(long, env = "MARKETPIPE_QUIET_MARGIN", value_name = "DURATION")]
    pub quiet_margin: Option<String>,
    /// How many mid prices the moving average spans (default 10).
    #[arg(long, env = "MARKETPIPE_MID_MA_WINDOW", value_name = "N")]
    pub mid_ma_window: Option<u32>,
    /// Book levels per side kept in the store (default 50).
    #[arg(long, env = "MARKETPIPE_BOOK_DEPTH", value_name = "N")]
    pub book_depth: Option<usize>,
}

/// `marketpipe replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture files (`.jsonl` or `.jsonl.zst`) or `s3://bucket/prefix` URLs
    /// (every archive segment under the prefix, in exchange, time and
    /// sequence order), replayed in the order given.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    #[command(flatten)]
    pub data: DataDirArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Never draw a progress bar (it is drawn only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Split the replay by product into this many threads (1 to 8; by
    /// default one per available core). The tables are identical whatever
    /// the number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=8), conflicts_with = "single_thread")]
    pub threads: Option<u64>,
    /// The same as `--threads 1`.
    #[arg(long)]
    pub single_thread: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
}

/// `marketpipe serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataDirArgs,
    /// The store to serve: `postgres://USER@HOST:PORT/DB`; by default the SQLite store in the data directory.
    #[arg(long, env = "MARKETPIPE_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Address to listen on (default `127.0.0.1:8080`).
    #[arg(long, env = "MARKETPIPE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// Output format of `marketpipe candles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns for people.
    Table,
    /// The API's JSON candle objects, one array.
    Json,
    /// CSV with a header row.
    Csv,
}

/// `marketpipe candles`.
#[derive(Debug, Args)]
pub struct CandlesArgs {
    #[command(flatten)]
    pub data: DataDirArgs,
    /// The store to read: `postgres://USER@HOST:PORT/DB[?schema=NAME]`; by default SQLite in the data directory.
    #[arg(long, env = "MARKETPIPE_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// Exchange (`coinbase`, `binance`, `kucoin`, `coinbase-advanced`).
    #[arg(long)]
    pub exchange: String,
    /// Normalized symbol, e.g. `BTC-USD`.
    #[arg(long)]
    pub symbol: String,
    /// Candle interval (1s 1m 5m 15m 1h 6h 1d).
    #[arg(long, default_value = "1m")]
    pub interval: String,
    /// First candle start to include (RFC 3339 or Unix seconds).
    #[arg(long)]
    pub start: Option<String>,
    /// Candle starts before this time (RFC 3339 or Unix seconds).
    #[arg(long)]
    pub end: Option<String>,
    /// At most this many candles (without --start: the latest ones).
    #[arg(long, default_value_t = 1000)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// The simulated market and its fault switches (`sim` and `demo`).
#[derive(Debug, Args, Clone)]
pub struct MarketArgs {
    /// Seed of the market model: one seed, one market history.
    #[arg(long, default_value_t = marketpipe_sim::SimConfig::DEFAULT_SEED)]
    pub seed: u64,
    /// Number of products (BTC-USD, ETH-USD, SOL-USD, ...).
    #[arg(long = "products", default_value_t = marketpipe_sim::SimConfig::DEFAULT_PRODUCTS, value_name = "N")]
    pub product_count: usize,
    /// Market frames per second in total (matches, l2updates and tickers).
    #[arg(long, default_value_t = marketpipe_sim::SimConfig::DEFAULT_RATE, value_name = "FRAMES_PER_S")]
    pub rate: f64,
    /// Stop generating new activity after this long (e.g. `60s`); the simulator keeps serving.
    #[arg(long, value_parser = marketpipe_sim::parse_duration, value_name = "DURATION")]
    pub duration: Option<std::time::Duration>,
    /// Hold the market still until the first client subscribes, so the client sees its whole history.
    #[arg(long)]
    pub wait_for_subscriber: bool,
    /// Fault: drop every websocket connection this long after it opened (e.g. `10s`).
    #[arg(long, value_parser = marketpipe_sim::parse_duration, value_name = "DURATION")]
    pub drop_every: Option<std::time::Duration>,
    /// Fault: stop sending on a connection this long after it opened, without closing it.
    #[arg(long, value_parser = marketpipe_sim::parse_duration, value_name = "DURATION")]
    pub stall_after: Option<std::time::Duration>,
    /// Fault: probability per data frame of also sending a malformed frame (0..1).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub malformed_rate: f64,
    /// Fault: probability per data frame of sending it twice (0..1).
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub duplicate_rate: f64,
    /// Fault: subscription acknowledgements `normal`, `missing` or `late:<duration>` (e.g. `late:2s`).
    #[arg(long, default_value = "normal", value_name = "MODE")]
    pub ack: marketpipe_sim::AckFault,
}

impl MarketArgs {
    /// The simulator configuration these flags describe.
    pub fn sim_config(&self, write_capture: Option<PathBuf>) -> marketpipe_sim::SimConfig {
        marketpipe_sim::SimConfig {
            seed: self.seed,
            products: self.product_count,
            rate: self.rate,
            duration: self.duration,
            wait_for_subscriber: self.wait_for_subscriber,
            faults: marketpipe_sim::Faults {
                drop_every: self.drop_every,
                stall_after: self.stall_after,
                malformed_rate: self.malformed_rate,
                duplicate_rate: self.duplicate_rate,
                ack: self.ack,
            },
            write_capture,
            ..marketpipe_sim::SimConfig::default()
        }
    }
}

/// `marketpipe sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Exchange protocol to speak: `coinbase`, `binance` or `kucoin`.
    #[arg(long, default_value = "coinbase", value_parser = parse_sim_exchange, value_name = "EXCHANGE")]
    pub exchange: marketpipe_model::Exchange,
    /// Address to listen on; websocket and REST share it (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9100", value_name = "ADDR")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub market: MarketArgs,
    /// Record the complete market history to this capture file (`.zst` compresses).
    #[arg(long, value_name = "FILE")]
    pub write_capture: Option<PathBuf>,
}

/// An exchange the simulator speaks (`coinbase-advanced` is not one).
fn parse_sim_exchange(s: &str) -> Result<marketpipe_model::Exchange, String> {
    use marketpipe_model::Exchange;
    match s.parse::<Exchange>() {
        Ok(e @ (Exchange::Coinbase | Exchange::Binance | Exchange::Kucoin)) => Ok(e),
        Ok(Exchange::CoinbaseAdvanced) => Err("the simulator does not speak coinbase-advanced; use coinbase, binance or kucoin".into()),
        Err(_) => Err(format!("unknown exchange {s:?}; the simulator speaks coinbase, binance or kucoin")),
    }
}

/// Settings shared by `run` and `demo`: store, API, engine, archive.
#[derive(Debug, Args)]
pub struct PipelineArgs {
    #[command(flatten)]
    pub data: DataDirArgs,
    /// Address the API listens on (default `127.0.0.1:8080`; port 0 picks a free one).
    #[arg(long, env = "MARKETPIPE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Also archive to S3-compatible storage, `s3://bucket/prefix`: closed segments are
    /// uploaded from DIR/archive (the spool), then truncated there to empty markers.
    /// Endpoint and credentials come from the AWS_* environment variables.
    #[arg(long = "archive", env = "MARKETPIPE_ARCHIVE", value_name = "URL")]
    pub archive_url: Option<String>,
    /// Do not write the raw archive (by default everything received is kept under DIR/archive).
    #[arg(long, env = "MARKETPIPE_NO_ARCHIVE")]
    pub no_archive: bool,
    /// Where decoded events go: `memory://` (engine and store in this process) or
    /// `kafka://HOST:PORT` (publish for `marketpipe process`; needs the `kafka` build feature).
    #[arg(long, env = "MARKETPIPE_BUS", default_value = "memory://", value_name = "URL")]
    pub bus: marketpipe_bus::BusUrl,
    /// The store: `postgres://USER@HOST:PORT/DB[?schema=NAME]`; by default SQLite in the data directory.
    #[arg(long, env = "MARKETPIPE_STORE", value_name = "URL")]
    pub store: Option<String>,
    #[command(flatten)]
    pub topics: TopicArgs,
}

/// Kafka topic names and how topics are created (`ingest`, `process`,
/// `run --bus kafka://`).
#[derive(Debug, Clone, Args)]
pub struct TopicArgs {
    /// Prepended to every Kafka topic name (e.g. `staging.`), for several deployments on one cluster.
    #[arg(long, env = "MARKETPIPE_TOPIC_PREFIX", default_value = "", value_name = "PREFIX")]
    pub topic_prefix: String,
    /// Partitions of each topic marketpipe creates (existing topics are left as they are).
    #[arg(long, env = "MARKETPIPE_TOPIC_PARTITIONS", default_value_t = marketpipe_bus::DEFAULT_TOPIC_PARTITIONS, value_parser = clap::value_parser!(i32).range(1..=10_000), value_name = "N")]
    pub topic_partitions: i32,
    /// Replication factor of each topic marketpipe creates.
    #[arg(long, env = "MARKETPIPE_TOPIC_REPLICATION", default_value_t = marketpipe_bus::DEFAULT_TOPIC_REPLICATION, value_parser = clap::value_parser!(i32).range(1..=100), value_name = "N")]
    pub topic_replication: i32,
    /// How long the broker keeps messages of the topics marketpipe creates (`retention.ms`; e.g. `7days`, `12h`).
    // The default's text is DEFAULT_TOPIC_RETENTION (a unit test holds them equal).
    #[arg(long, env = "MARKETPIPE_TOPIC_RETENTION", default_value = "7days", value_parser = parse_retention, value_name = "DURATION")]
    pub topic_retention: std::time::Duration,
}

impl Default for TopicArgs {
    fn default() -> Self {
        TopicArgs {
            topic_prefix: String::new(),
            topic_partitions: marketpipe_bus::DEFAULT_TOPIC_PARTITIONS,
            topic_replication: marketpipe_bus::DEFAULT_TOPIC_REPLICATION,
            topic_retention: marketpipe_bus::DEFAULT_TOPIC_RETENTION,
        }
    }
}

impl TopicArgs {
    /// Kafka settings for `brokers` with these topics.
    #[cfg(feature = "kafka")]
    pub fn kafka(&self, brokers: &str) -> marketpipe_bus::kafka::KafkaSettings {
        marketpipe_bus::kafka::KafkaSettings {
            topic_prefix: self.topic_prefix.clone(),
            partitions: self.topic_partitions,
            replication: self.topic_replication,
            retention: self.topic_retention,
            ..marketpipe_bus::kafka::KafkaSettings::new(brokers)
        }
    }
}

/// A retention of at least a second (`retention.ms` is whole milliseconds,
/// and zero would have the broker delete everything at once).
fn parse_retention(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| format!("{text:?} is not a duration like 7days or 12h: {e}"))?;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!("retention {text:?} is shorter than a second"));
    }
    Ok(d)
}

/// `marketpipe run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Exchange to connect to (`coinbase`); the config file can list several.
    #[arg(long, env = "MARKETPIPE_EXCHANGE")]
    pub exchange: Option<String>,
    /// Native product ids, comma-separated (e.g. `BTC-USD,ETH-USD`).
    #[arg(long, env = "MARKETPIPE_PRODUCTS", value_delimiter = ',', value_name = "LIST")]
    pub products: Option<Vec<String>>,
    /// Websocket URL of the exchange (another endpoint: the simulator, a sandbox).
    #[arg(long, env = "MARKETPIPE_WS_URL", value_name = "URL")]
    pub ws_url: Option<String>,
    /// REST base URL of the exchange, for product metadata and trade backfill.
    #[arg(long, env = "MARKETPIPE_REST_URL", value_name = "URL")]
    pub rest_url: Option<String>,
    /// Pages of recent trades fetched per product at start (0 disables; default 10).
    #[arg(long, env = "MARKETPIPE_WARM_START_PAGES", value_name = "N")]
    pub warm_start_pages: Option<u32>,
}

/// `marketpipe process`.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    #[command(flatten)]
    pub data: DataDirArgs,
    /// Where results go: `postgres://USER@HOST:PORT/DB`; by default the SQLite store in the data directory.
    #[arg(long, env = "MARKETPIPE_STORE", value_name = "URL")]
    pub store: Option<String>,
    /// The broker: `kafka://HOST:PORT[,HOST:PORT...]`.
    #[arg(long, env = "MARKETPIPE_BUS", value_name = "URL")]
    pub bus: marketpipe_bus::BusUrl,
    /// The consumer group; members of one group share the partitions.
    #[arg(long, env = "MARKETPIPE_GROUP", default_value = "marketpipe-process", value_name = "NAME")]
    pub group: String,
    /// How often each partition's engine state is checkpointed to the store (e.g. `30s`): the most a member
    /// taking a partition over replays before it writes again.
    #[arg(long, env = "MARKETPIPE_CHECKPOINT_INTERVAL", default_value = "30s", value_parser = marketpipe_sim::parse_duration, value_name = "DURATION")]
    pub checkpoint_interval: std::time::Duration,
    #[command(flatten)]
    pub topics: TopicArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `marketpipe demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub market: MarketArgs,
    /// Stop after this long (e.g. `30s`); by default run until Ctrl-C.
    #[arg(long, value_parser = marketpipe_sim::parse_duration, value_name = "DURATION")]
    pub run_for: Option<std::time::Duration>,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    fn process_args(extra: &[&str]) -> Result<super::ProcessArgs, clap::Error> {
        let args = ["marketpipe", "process", "--bus", "kafka://127.0.0.1:9092"].iter().chain(extra);
        match Cli::try_parse_from(args)?.command {
            Command::Process(p) => Ok(p),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn topic_settings_default_to_six_partitions_and_seven_days() {
        let p = process_args(&[]).expect("defaults parse");
        assert_eq!((p.topics.topic_partitions, p.topics.topic_replication), (6, 1));
        assert_eq!(p.topics.topic_retention, std::time::Duration::from_secs(7 * 24 * 3600));
        let d = super::TopicArgs::default();
        assert_eq!(
            (d.topic_partitions, d.topic_replication, d.topic_retention),
            (6, 1, p.topics.topic_retention),
            "Default and clap agree"
        );
        let p = process_args(&["--topic-partitions", "12", "--topic-retention", "36h", "--topic-prefix", "staging."]).expect("parse");
        assert_eq!(p.topics.topic_partitions, 12);
        assert_eq!(p.topics.topic_retention, std::time::Duration::from_secs(36 * 3600));
        assert_eq!(p.topics.topic_prefix, "staging.");
    }

    #[test]
    fn bad_topic_settings_are_refused_with_a_reason() {
        for (flag, value, says) in [
            ("--topic-partitions", "0", "0"),
            ("--topic-partitions", "many", "many"),
            ("--topic-replication", "0", "0"),
            ("--topic-retention", "0s", "shorter than a second"),
            ("--topic-retention", "forever", "not a duration"),
        ] {
            let err = process_args(&[flag, value]).expect_err(&format!("{flag} {value} accepted"));
            let text = err.to_string();
            assert!(text.contains(flag) && text.contains(says), "{flag} {value}: {text}");
        }
    }
}
