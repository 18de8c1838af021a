//! marketpipe's pure, deterministic engine.
//!
//! [`Engine`] turns normalized [`marketpipe_model::MarketEvent`]s into
//! event-time OHLCV candles (watermark, allowed lateness, revisions of final
//! candles, bounded retention), level-2 order books with their statistics,
//! and the latest ticker and metadata of every product. It is synchronous
//! and reads no clock: wall time comes in through
//! [`Engine::advance_clock`], so a replay of a capture reproduces a live run
//! exactly. [`Engine::checkpoint`] and [`Engine::restore`] carry the whole
//! state across processes, so that a consumer taking over a partition can
//! resume from a stored checkpoint instead of replaying the log.
//!
//! ```
//! use marketpipe_engine::{Engine, EngineConfig, EngineOutput};
//!
//! let mut engine = Engine::new(EngineConfig::default()).expect("default config is valid");
//! let mut out = EngineOutput::default();
//! engine.drain(&mut out);
//! assert!(out.is_empty());
//! ```

#![warn(missing_docs)]

mod book;
mod candles;
mod checkpoint;
mod config;
mod counters;
mod dedup;
mod engine;
mod num;
mod output;
mod stats;
mod window;

pub use checkpoint::{CheckpointError, CHECKPOINT_VERSION};
pub use config::{ConfigError, EngineConfig, MAX_MID_MA_WINDOW};
pub use counters::EngineCounters;
pub use engine::{Engine, EngineMemory};
pub use output::EngineOutput;
