//! Engine configuration and its validation.

use marketpipe_model::Interval;

const SECOND_NS: i64 = 1_000_000_000;

/// The largest accepted `mid_ma_window`. The engine keeps the last N mids of
/// every product in memory, so N is what bounds that memory (16 bytes each).
pub const MAX_MID_MA_WINDOW: u32 = 100_000;

/// How the engine aggregates: candle widths, lateness, retention, statistics.
///
/// Every duration is in nanoseconds of event time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Candle widths to build for every product. Default [`Interval::DEFAULT`]
    /// (`1m 1h 1d`); any of `1s 1m 5m 15m 1h 6h 1d`, each at most once.
    pub intervals: Vec<Interval>,
    /// How far behind a product's newest trade time its watermark trails:
    /// trades up to this much out of order still land in open windows.
    /// Default 5 s.
    pub allowed_lateness_ns: i64,
    /// Extra wait, on top of the lateness, before the injected wall clock
    /// closes windows of a product whose trades stopped. Default 2 s.
    pub quiet_close_margin_ns: i64,
    /// How far behind the watermark a late trade is still accepted (it then
    /// revises a final candle); older trades are dropped and counted, and
    /// windows and trade ids older than that are forgotten. Default 1 h.
    pub retention_ns: i64,
    /// How many mids the `mid_ma` moving average spans. Default 10.
    pub mid_ma_window: u32,
    /// Levels per side in [`marketpipe_model::BookTop`] outputs. Default 50.
    pub book_depth: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            intervals: Interval::DEFAULT.to_vec(),
            allowed_lateness_ns: 5 * SECOND_NS,
            quiet_close_margin_ns: 2 * SECOND_NS,
            retention_ns: 3600 * SECOND_NS,
            mid_ma_window: 10,
            book_depth: 50,
        }
    }
}

/// Why an [`EngineConfig`] was refused. Configuration errors are never
/// retryable: the same config fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `intervals` is empty: the engine would build no candles at all.
    #[error("no candle intervals configured")]
    NoIntervals,
    /// The same interval is listed twice.
    #[error("candle interval {0} is listed more than once")]
    DuplicateInterval(Interval),
    /// A duration is negative.
    #[error("{field} must not be negative (got {value} ns)")]
    NegativeDuration {
        /// The config field.
        field: &'static str,
        /// The value given.
        value: i64,
    },
    /// `mid_ma_window` is 0 or above [`MAX_MID_MA_WINDOW`].
    #[error("mid_ma_window must be between 1 and {MAX_MID_MA_WINDOW} (got {0})")]
    MidMaWindow(u32),
    /// `book_depth` is 0.
    #[error("book_depth must be at least 1")]
    ZeroBookDepth,
}

impl ConfigError {
    /// Always false: the same configuration fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl EngineConfig {
    /// Checks the configuration; [`crate::Engine::new`] calls this.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.intervals.is_empty() {
            return Err(ConfigError::NoIntervals);
        }
        for (i, interval) in self.intervals.iter().enumerate() {
            if self.intervals[..i].contains(interval) {
                return Err(ConfigError::DuplicateInterval(*interval));
            }
        }
        for (field, value) in [
            ("allowed_lateness_ns", self.allowed_lateness_ns),
            ("quiet_close_margin_ns", self.quiet_close_margin_ns),
            ("retention_ns", self.retention_ns),
        ] {
            if value < 0 {
                return Err(ConfigError::NegativeDuration { field, value });
            }
        }
        if self.mid_ma_window == 0 || self.mid_ma_window > MAX_MID_MA_WINDOW {
            return Err(ConfigError::MidMaWindow(self.mid_ma_window));
        }
        if self.book_depth == 0 {
            return Err(ConfigError::ZeroBookDepth);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_matches_the_design() {
        let c = EngineConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.intervals, vec![Interval::M1, Interval::H1, Interval::D1]);
        assert_eq!(c.allowed_lateness_ns, 5_000_000_000);
        assert_eq!(c.quiet_close_margin_ns, 2_000_000_000);
        assert_eq!(c.retention_ns, 3_600_000_000_000);
        assert_eq!((c.mid_ma_window, c.book_depth), (10, 50));
    }

    #[test]
    fn refuses_bad_values() {
        let ok = EngineConfig::default();
        let cases = [
            (EngineConfig { intervals: vec![], ..ok.clone() }, ConfigError::NoIntervals),
            (
                EngineConfig { intervals: vec![Interval::M1, Interval::S1, Interval::M1], ..ok.clone() },
                ConfigError::DuplicateInterval(Interval::M1),
            ),
            (
                EngineConfig { allowed_lateness_ns: -1, ..ok.clone() },
                ConfigError::NegativeDuration { field: "allowed_lateness_ns", value: -1 },
            ),
            (
                EngineConfig { quiet_close_margin_ns: -5, ..ok.clone() },
                ConfigError::NegativeDuration { field: "quiet_close_margin_ns", value: -5 },
            ),
            (
                EngineConfig { retention_ns: i64::MIN, ..ok.clone() },
                ConfigError::NegativeDuration { field: "retention_ns", value: i64::MIN },
            ),
            (EngineConfig { mid_ma_window: 0, ..ok.clone() }, ConfigError::MidMaWindow(0)),
            (EngineConfig { mid_ma_window: MAX_MID_MA_WINDOW + 1, ..ok.clone() }, ConfigError::MidMaWindow(MAX_MID_MA_WINDOW + 1)),
            (EngineConfig { book_depth: 0, ..ok.clone() }, ConfigError::ZeroBookDepth),
        ];
        for (config, expected) in cases {
            assert_eq!(config.validate(), Err(expected));
        }
    }

    #[test]
    fn accepts_every_interval_once_and_zero_durations() {
        let c = EngineConfig {
            intervals: Interval::ALL.iter().rev().copied().collect(),
            allowed_lateness_ns: 0,
            quiet_close_margin_ns: 0,
            retention_ns: 0,
            mid_ma_window: 1,
            book_depth: 1,
        };
        assert_eq!(c.validate(), Ok(()));
    }
}
