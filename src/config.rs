//! Settings resolved from the config file, the environment and flags.
//!
//! The file is TOML with unknown keys refused (a typo must not silently fall
//! back to a default). Precedence is file < env < flag: clap already merges
//! env and flags into `Option`s, so each setting here is `flag_or_env`, else
//! the file, else a named default.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{bail, Context, Result};
use marketpipe_engine::EngineConfig;
use marketpipe_model::Interval;
use serde::Deserialize;

use crate::cli::{EngineArgs, LogFormat};

/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Default API listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// API listen address.
    pub listen: Option<SocketAddr>,
    /// Engine settings.
    #[serde(default)]
    pub engine: EngineFile,
    /// Logging.
    #[serde(default)]
    pub log: LogFile,
    /// Exchanges for `run`, by name: `[exchanges.coinbase]`.
    #[serde(default)]
    pub exchanges: std::collections::BTreeMap<String, ExchangeFile>,
    /// The raw archive.
    #[serde(default)]
    pub archive: ArchiveFile,
}

/// `[exchanges.<name>]` in the config file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeFile {
    /// Native product ids to subscribe, e.g. `["BTC-USD", "ETH-USD"]`.
    #[serde(default)]
    pub products: Vec<String>,
    /// Websocket URL (default: the exchange's public feed).
    pub ws_url: Option<String>,
    /// REST base URL (default: the exchange's public API).
    pub rest_url: Option<String>,
    /// Pages of recent trades fetched per product at start (0 disables).
    pub warm_start_pages: Option<u32>,
}

/// `[archive]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveFile {
    /// Write the raw archive (default true).
    pub enabled: Option<bool>,
    /// Segment size cap in bytes before rotation (default 256 MiB).
    pub max_segment_bytes: Option<u64>,
    /// Upload closed segments to `s3://bucket/prefix` (the local archive is the spool).
    pub url: Option<String>,
}

/// `[engine]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineFile {
    /// Candle intervals, e.g. `["1m", "1h", "1d"]`.
    pub intervals: Option<Vec<String>>,
    /// Allowed lateness, e.g. `"5s"`.
    pub lateness: Option<String>,
    /// Retention for late trades, e.g. `"1h"`.
    pub retention: Option<String>,
    /// Wall-clock margin for closing quiet products' windows, e.g. `"2s"`.
    pub quiet_margin: Option<String>,
    /// Moving-average window of mid prices.
    pub mid_ma_window: Option<u32>,
    /// Book levels per side kept in the store.
    pub book_depth: Option<usize>,
}

/// `[log]` in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    /// `human` or `json`.
    pub format: Option<LogFormat>,
    /// Filter, e.g. `info`.
    pub filter: Option<String>,
}

impl FileConfig {
    /// Loads the file if one was named; no file means all defaults.
    pub fn load(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else { return Ok(FileConfig::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// The data directory: flag/env, else file, else `./data`.
    pub fn data_dir(&self, flag: Option<PathBuf>) -> PathBuf {
        flag.or_else(|| self.data_dir.clone()).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// The listen address: flag/env, else file, else `127.0.0.1:8080`.
    pub fn listen(&self, flag: Option<SocketAddr>) -> SocketAddr {
        flag.or(self.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default listen address is valid"))
    }

    /// The engine configuration, validated.
    pub fn engine(&self, args: &EngineArgs) -> Result<EngineConfig> {
        let file = &self.engine;
        let mut config = EngineConfig::default();
        if let Some(list) = args.intervals.as_ref().or(file.intervals.as_ref()) {
            config.intervals = parse_intervals(list)?;
        }
        let duration = |flag: &Option<String>, file: &Option<String>, name: &str| -> Result<Option<i64>> {
            match flag.as_ref().or(file.as_ref()) {
                None => Ok(None),
                Some(text) => parse_duration_ns(text).with_context(|| format!("invalid {name}")).map(Some),
            }
        };
        if let Some(ns) = duration(&args.lateness, &file.lateness, "lateness")? {
            config.allowed_lateness_ns = ns;
        }
        if let Some(ns) = duration(&args.retention, &file.retention, "retention")? {
            config.retention_ns = ns;
        }
        if let Some(ns) = duration(&args.quiet_margin, &file.quiet_margin, "quiet margin")? {
            config.quiet_close_margin_ns = ns;
        }
        if let Some(n) = args.mid_ma_window.or(file.mid_ma_window) {
            config.mid_ma_window = n;
        }
        if let Some(n) = args.book_depth.or(file.book_depth) {
            config.book_depth = n;
        }
        config.validate().context("invalid engine settings")?;
        Ok(config)
    }
}

/// Parses interval names, refusing unknown and repeated ones.
pub fn parse_intervals(list: &[String]) -> Result<Vec<Interval>> {
    let mut out = Vec::with_capacity(list.len());
    for name in list {
        let interval: Interval = name.trim().parse()?;
        if out.contains(&interval) {
            bail!("interval {interval} is listed twice");
        }
        out.push(interval);
    }
    if out.is_empty() {
        bail!("at least one candle interval is required");
    }
    out.sort();
    Ok(out)
}

/// Parses a human duration (`5s`, `500ms`, `1h`, `1h 30m`) into nanoseconds.
pub fn parse_duration_ns(text: &str) -> Result<i64> {
    let d: Duration = humantime::parse_duration(text.trim()).with_context(|| format!("{text:?} is not a duration like 5s, 500ms or 1h"))?;
    i64::try_from(d.as_nanos()).with_context(|| format!("duration {text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_flags() -> EngineArgs {
        EngineArgs { intervals: None, lateness: None, retention: None, quiet_margin: None, mid_ma_window: None, book_depth: None }
    }

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file: FileConfig =
            toml::from_str("data_dir = \"/from/file\"\n[engine]\nintervals = [\"1h\", \"1m\"]\nlateness = \"2s\"\nmid_ma_window = 4\n")
                .unwrap();
        assert_eq!(file.data_dir(None), PathBuf::from("/from/file"));
        assert_eq!(file.data_dir(Some("/flag".into())), PathBuf::from("/flag"));
        let engine = file.engine(&no_flags()).unwrap();
        assert_eq!(engine.intervals, vec![Interval::M1, Interval::H1]);
        assert_eq!(engine.allowed_lateness_ns, 2_000_000_000);
        assert_eq!(engine.mid_ma_window, 4);
        let mut flags = no_flags();
        flags.lateness = Some("250ms".into());
        flags.intervals = Some(vec!["1s".into()]);
        let engine = file.engine(&flags).unwrap();
        assert_eq!(engine.allowed_lateness_ns, 250_000_000);
        assert_eq!(engine.intervals, vec![Interval::S1]);
        assert_eq!(FileConfig::default().listen(None).to_string(), DEFAULT_LISTEN);
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        assert!(toml::from_str::<FileConfig>("data_dri = \"x\"").unwrap_err().to_string().contains("unknown field"));
        let err = parse_intervals(&["1m".into(), "2m".into()]).unwrap_err().to_string();
        assert!(err.contains("valid intervals are"), "{err}");
        assert!(parse_intervals(&["1m".into(), "1m".into()]).is_err());
        assert!(parse_duration_ns("five seconds").is_err());
        let mut flags = no_flags();
        flags.mid_ma_window = Some(0);
        assert!(FileConfig::default().engine(&flags).is_err());
    }
}
