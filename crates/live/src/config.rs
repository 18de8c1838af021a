//! Configuration of a feed (websocket sessions) and of a backfiller (REST),
//! with named defaults.

use std::time::Duration;

use marketpipe_model::Exchange;
use marketpipe_venues::session::SessionProtocol;

use crate::rest::RestPolicy;

/// Default wait for the subscription acknowledgement.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Default silence after which a heartbeat-subscribed connection is dead
/// (Coinbase sends a heartbeat per product every second).
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(5);
/// Default limit on establishing a websocket connection (TCP, TLS, upgrade).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default limit on one REST request, body included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on pages fetched for one gap (1,000 trades a page on
/// Coinbase): beyond that the hole is too old to matter for live candles
/// and would starve other gaps.
pub const DEFAULT_MAX_PAGES_PER_GAP: u32 = 100;
/// Default cap on pages fetched for a warm start (the trades before the
/// first one seen): about 10,000 trades per product on Coinbase, enough to
/// complete the open minute and hour windows of all but the busiest
/// products without holding up real gaps for long.
pub const DEFAULT_WARM_START_PAGES: u32 = 10;
/// Default attempts at one REST page before the gap is given up.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// Reconnect and retry delays: exponential growth from `initial` up to
/// `max`, with full jitter; the attempt count resets once a connection has
/// stayed up for `reset_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The cap of the first delay.
    pub initial: Duration,
    /// The largest cap.
    pub max: Duration,
    /// How long a connection must stay up before the attempt count resets.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_millis(250), max: Duration::from_secs(30), reset_after: Duration::from_secs(30) }
    }
}

/// Everything a feed needs: where to connect, what to subscribe, and the
/// timing of acknowledgements, the watchdog and reconnects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// The exchange (labels records and metrics).
    pub exchange: Exchange,
    /// The websocket URL (`ws://` or `wss://`).
    pub ws_url: String,
    /// The REST base URL, for backfills.
    pub rest_url: String,
    /// Native product ids.
    pub products: Vec<String>,
    /// Channel names.
    pub channels: Vec<String>,
    /// Products per connection; the protocol's limit applies if lower.
    pub max_products_per_connection: usize,
    /// Wait for the subscription acknowledgement.
    pub ack_timeout: Duration,
    /// Silence that marks a heartbeat-subscribed connection dead. Without
    /// the heartbeat channel a quiet product cannot be told from a dead
    /// connection, so no watchdog runs.
    pub watchdog: Duration,
    /// Limit on establishing a connection.
    pub connect_timeout: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// Replace each connection after this long (make-before-break), ahead
    /// of the exchange closing it; `None` keeps connections as long as
    /// they last.
    pub max_connection_age: Option<Duration>,
}

impl FeedConfig {
    /// A configuration for `products` with the protocol's URLs, channels
    /// and limit, and the default timings.
    pub fn new(protocol: &dyn SessionProtocol, products: Vec<String>) -> Self {
        FeedConfig {
            exchange: protocol.exchange(),
            ws_url: protocol.default_ws_url().to_owned(),
            rest_url: protocol.default_rest_url().to_owned(),
            products,
            channels: protocol.default_channels().iter().map(|c| (*c).to_owned()).collect(),
            max_products_per_connection: protocol.max_products_per_connection(),
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            watchdog: DEFAULT_WATCHDOG,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            backoff: Backoff::default(),
            max_connection_age: protocol.max_connection_age(),
        }
    }

    /// Checks what would otherwise fail forever at run time.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_connection_age.is_some_and(|a| a < Duration::from_secs(1)) {
            return Err(ConfigError("max_connection_age must be at least 1s".into()));
        }
        if !(self.ws_url.starts_with("ws://") || self.ws_url.starts_with("wss://")) {
            return Err(ConfigError(format!("websocket URL {:?} must start with ws:// or wss://", self.ws_url)));
        }
        if self.channels.is_empty() {
            return Err(ConfigError("no channels to subscribe".into()));
        }
        if self.products.iter().any(String::is_empty) {
            return Err(ConfigError("an empty product id".into()));
        }
        check_timings(&[("ack_timeout", self.ack_timeout), ("watchdog", self.watchdog), ("connect_timeout", self.connect_timeout)])?;
        check_backoff(&self.backoff)
    }
}

/// What the backfiller needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackfillConfig {
    /// The exchange (labels records and metrics).
    pub exchange: Exchange,
    /// The REST base URL.
    pub rest_url: String,
    /// REST request weight per second the runtime keeps within (a request
    /// costs what [`SessionProtocol::rest_weight`] says; 1 on Coinbase).
    pub weight_per_second: u32,
    /// Pages fetched for one gap at most.
    pub max_pages_per_gap: u32,
    /// Pages fetched for a warm start at most; reaching it ends the warm
    /// start normally (the exchange's history is longer than needed).
    pub warm_start_pages: u32,
    /// Attempts at one page (retrying connect errors, 5xx and 429) before
    /// the gap is given up.
    pub max_attempts: u32,
    /// Limit on one request.
    pub request_timeout: Duration,
    /// Retry delays.
    pub backoff: Backoff,
}

impl BackfillConfig {
    /// A configuration with the protocol's REST URL and the defaults.
    pub fn new(protocol: &dyn SessionProtocol) -> Self {
        BackfillConfig {
            exchange: protocol.exchange(),
            rest_url: protocol.default_rest_url().to_owned(),
            weight_per_second: protocol.rest_weight_per_second(),
            max_pages_per_gap: DEFAULT_MAX_PAGES_PER_GAP,
            warm_start_pages: DEFAULT_WARM_START_PAGES,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            backoff: Backoff::default(),
        }
    }

    /// The backfill settings matching a feed: same exchange and REST URL.
    pub fn for_feed(protocol: &dyn SessionProtocol, feed: &FeedConfig) -> Self {
        BackfillConfig { exchange: feed.exchange, rest_url: feed.rest_url.clone(), ..BackfillConfig::new(protocol) }
    }

    /// The REST client policy these settings describe.
    pub fn rest_policy(&self) -> RestPolicy {
        RestPolicy {
            weight_per_second: self.weight_per_second,
            max_attempts: self.max_attempts,
            request_timeout: self.request_timeout,
            backoff: self.backoff,
        }
    }

    /// Checks what would otherwise fail forever at run time.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.rest_url.starts_with("http://") || self.rest_url.starts_with("https://")) {
            return Err(ConfigError(format!("REST URL {:?} must start with http:// or https://", self.rest_url)));
        }
        if self.weight_per_second == 0 || self.max_pages_per_gap == 0 || self.max_attempts == 0 {
            return Err(ConfigError("weight_per_second, max_pages_per_gap and max_attempts must be positive".into()));
        }
        check_timings(&[("request_timeout", self.request_timeout)])?;
        check_backoff(&self.backoff)
    }
}

fn check_timings(timings: &[(&str, Duration)]) -> Result<(), ConfigError> {
    match timings.iter().find(|(_, d)| d.is_zero()) {
        Some((name, _)) => Err(ConfigError(format!("{name} must be positive"))),
        None => Ok(()),
    }
}

fn check_backoff(b: &Backoff) -> Result<(), ConfigError> {
    if b.initial.is_zero() || b.max < b.initial {
        return Err(ConfigError("backoff needs 0 < initial <= max".into()));
    }
    Ok(())
}

/// A configuration that cannot work; fix it, retrying will not help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid live configuration: {0}")]
pub struct ConfigError(pub String);

#[cfg(test)]
mod tests {
    use marketpipe_venues::coinbase::session::CoinbaseSession;

    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_named() {
        let p = CoinbaseSession;
        let mut c = FeedConfig::new(&p, vec!["BTC-USD".into()]);
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(BackfillConfig::for_feed(&p, &c).validate(), Ok(()));
        c.watchdog = Duration::ZERO;
        assert!(c.validate().unwrap_err().0.contains("watchdog"));
        c.watchdog = DEFAULT_WATCHDOG;
        c.ws_url = "http://x".into();
        assert!(c.validate().is_err());
        let mut b = BackfillConfig::new(&p);
        b.backoff.max = Duration::from_millis(1);
        assert!(b.validate().is_err());
    }
}
