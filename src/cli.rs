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
    /// Capture files (`.jsonl` or `.jsonl.zst`), replayed in the order given.
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    #[command(flatten)]
    pub data: DataDirArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Never draw a progress bar (it is drawn only when stderr is a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Also write the summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub summary_json: Option<PathBuf>,
}

/// `marketpipe serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataDirArgs,
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
