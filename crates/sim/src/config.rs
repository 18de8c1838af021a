//! What a simulator run looks like: the market, its pace, and the faults it
//! injects. Plain data with named defaults and parse helpers for the CLI.

use std::{fmt, path::PathBuf, str::FromStr, time::Duration};

use marketpipe_model::Exchange;

use crate::SimError;

/// Most products one simulator serves: the product list and every snapshot
/// are sent whole, and nobody needs more to test a pipeline.
pub const MAX_PRODUCTS: usize = 500;

/// Highest configurable rate, in market frames per second.
pub const MAX_RATE: f64 = 1_000_000.0;

/// Largest slow-consumer allowance, in batches (about 3 hours of market):
/// beyond it a stuck client would hold unbounded memory in practice.
pub const MAX_CLIENT_BUFFER: usize = 1_000_000;

/// A simulator run.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The exchange protocol spoken: Coinbase Exchange (the default),
    /// Binance spot or KuCoin spot. The market is the same in every
    /// dialect; only its names and wire formats differ.
    /// [`Exchange::CoinbaseAdvanced`] is not spoken and fails validation.
    pub exchange: Exchange,
    /// Seeds the market model: one seed, one sequence of market events.
    pub seed: u64,
    /// How many products: BTC, ETH, SOL, ... then synthetic `X<n>` coins,
    /// quoted in USD on Coinbase (`BTC-USD`) and in USDT on Binance
    /// (`BTCUSDT`) and KuCoin (`BTC-USDT`; the 4th is `BCHSV-USDT`, base
    /// `BSV`). At least 1, at most [`MAX_PRODUCTS`].
    pub products: usize,
    /// Market frames per second in total (matches + l2updates + tickers,
    /// roughly 1 : 4 : 1). Zero serves a still market.
    pub rate: f64,
    /// Stop generating new activity after this long; websocket, REST and
    /// heartbeats keep being served. `None` generates until shutdown.
    pub duration: Option<Duration>,
    /// Hold the market still until the first client subscription takes
    /// effect (then `duration` starts): the client sees the market's whole
    /// history, so its results can equal a replay of `write_capture`
    /// exactly. Without it the market runs from the start, as a real one.
    pub wait_for_subscriber: bool,
    /// Per-connection fault injection.
    pub faults: Faults,
    /// Write the complete market history to this capture file (zstd if the
    /// name ends in `.zst`).
    pub write_capture: Option<PathBuf>,
    /// Trades kept per product for `GET /products/{id}/trades` (older ones
    /// are forgotten, which bounds memory).
    pub trade_history: usize,
    /// How many generator batches (one per 10 ms tick) a connection may fall
    /// behind before it is disconnected as a slow consumer, as Coinbase
    /// does. Bounds memory per connection. At least 1.
    pub client_buffer: usize,
    /// KuCoin: the `pingInterval` the bullet announces. A client must send
    /// a `ping` at least every `ping_interval + ping_timeout` or it is
    /// disconnected, as KuCoin does.
    pub ping_interval: Duration,
    /// KuCoin: the `pingTimeout` the bullet announces.
    pub ping_timeout: Duration,
    /// Binance: how often the server sends a websocket Ping; a client that
    /// has not answered with a Pong within [`BINANCE_PONG_PERIODS`] periods
    /// is disconnected.
    pub server_ping: Duration,
}

/// How many Binance server ping periods a client may take to answer with a
/// Pong (Binance: a ping every 20 s, disconnected after a minute without a pong).
pub const BINANCE_PONG_PERIODS: u32 = 3;

impl SimConfig {
    /// Default seed.
    pub const DEFAULT_SEED: u64 = 42;
    /// Default number of products.
    pub const DEFAULT_PRODUCTS: usize = 3;
    /// Default rate, frames per second.
    pub const DEFAULT_RATE: f64 = 100.0;
    /// Default trades kept per product for REST.
    pub const DEFAULT_TRADE_HISTORY: usize = 100_000;
    /// Default slow-consumer allowance: 500 batches, about 5 s of market.
    pub const DEFAULT_CLIENT_BUFFER: usize = 500;
    /// Default KuCoin `pingInterval` (KuCoin's own: 18 s).
    pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_millis(18_000);
    /// Default KuCoin `pingTimeout` (KuCoin's own: 10 s).
    pub const DEFAULT_PING_TIMEOUT: Duration = Duration::from_millis(10_000);
    /// Default Binance server ping period (Binance's own: 20 s).
    pub const DEFAULT_SERVER_PING: Duration = Duration::from_secs(20);

    /// Rejects settings the simulator cannot honour.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |msg: String| Err(SimError::Config(msg));
        if self.exchange == Exchange::CoinbaseAdvanced {
            return bad("the simulator does not speak coinbase-advanced; use coinbase, binance or kucoin".into());
        }
        for (name, d) in [("ping_interval", self.ping_interval), ("ping_timeout", self.ping_timeout), ("server_ping", self.server_ping)] {
            if d < Duration::from_millis(1) {
                return bad(format!("{name} must be at least 1ms, got {d:?}"));
            }
        }
        if self.products == 0 || self.products > MAX_PRODUCTS {
            return bad(format!("products must be 1..={MAX_PRODUCTS}, got {}", self.products));
        }
        if !self.rate.is_finite() || self.rate < 0.0 || self.rate > MAX_RATE {
            return bad(format!("rate must be 0..={MAX_RATE} frames/s, got {}", self.rate));
        }
        if self.client_buffer == 0 || self.client_buffer > MAX_CLIENT_BUFFER {
            return bad(format!("client_buffer must be 1..={MAX_CLIENT_BUFFER} batches, got {}", self.client_buffer));
        }
        for (name, p) in [("malformed_rate", self.faults.malformed_rate), ("duplicate_rate", self.faults.duplicate_rate)] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{name} must be a probability in 0..=1, got {p}"));
            }
        }
        for (name, d) in [("drop_every", self.faults.drop_every), ("stall_after", self.faults.stall_after)] {
            if d == Some(Duration::ZERO) {
                return bad(format!("{name} must be longer than zero"));
            }
        }
        Ok(())
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            exchange: Exchange::Coinbase,
            seed: Self::DEFAULT_SEED,
            products: Self::DEFAULT_PRODUCTS,
            rate: Self::DEFAULT_RATE,
            duration: None,
            wait_for_subscriber: false,
            faults: Faults::default(),
            write_capture: None,
            trade_history: Self::DEFAULT_TRADE_HISTORY,
            client_buffer: Self::DEFAULT_CLIENT_BUFFER,
            ping_interval: Self::DEFAULT_PING_INTERVAL,
            ping_timeout: Self::DEFAULT_PING_TIMEOUT,
            server_ping: Self::DEFAULT_SERVER_PING,
        }
    }
}

/// Fault switches, applied to every websocket connection independently.
/// The default injects nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Faults {
    /// Close each connection abruptly (no close frame) this long after it opened.
    pub drop_every: Option<Duration>,
    /// Stop sending anything on a connection this long after it opened,
    /// without closing it (the socket is held open, unread, until shutdown
    /// or [`STALL_HOLD`]).
    pub stall_after: Option<Duration>,
    /// Probability per data frame of *also* sending a malformed frame
    /// (truncated JSON, a bad number, non-JSON text...). Never replaces data.
    pub malformed_rate: f64,
    /// Probability per data frame of sending it twice.
    pub duplicate_rate: f64,
    /// How subscription acknowledgements are sent (Coinbase
    /// `subscriptions`, Binance `{"result":null}`, KuCoin `ack`).
    pub ack: AckFault,
}

/// How long a stalled connection is held open before it is dropped, if the
/// simulator is not shut down first: far beyond any client watchdog, short
/// enough that stalled sockets do not pile up over a long run.
pub const STALL_HOLD: Duration = Duration::from_secs(120);

/// Fault on the acknowledgement of a subscribe or unsubscribe request
/// (Coinbase `subscriptions`, Binance `{"result":null,"id":N}`, KuCoin
/// `ack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckFault {
    /// Acknowledge at once (then, on Coinbase, send snapshots).
    #[default]
    Normal,
    /// Wait this long before acknowledging (the connection sends nothing
    /// meanwhile; market frames queue up and follow).
    Late(Duration),
    /// Never acknowledge, but serve the subscription anyway: a client must
    /// not take data for an acknowledgement.
    Missing,
}

impl fmt::Display for AckFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AckFault::Normal => f.write_str("normal"),
            AckFault::Missing => f.write_str("missing"),
            AckFault::Late(d) => write!(f, "late:{}ms", d.as_millis()),
        }
    }
}

/// A fault switch or duration that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseFaultError(String);

impl FromStr for AckFault {
    type Err = ParseFaultError;

    /// `normal`, `missing`, or `late:<duration>` (`late:2s`, `late:500ms`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "normal" => Ok(AckFault::Normal),
            "missing" => Ok(AckFault::Missing),
            _ => match s.strip_prefix("late:") {
                Some(d) => parse_duration(d).map(AckFault::Late),
                None => Err(ParseFaultError(format!("unknown ack fault {s:?}; use normal, missing or late:<duration> (late:2s)"))),
            },
        }
    }
}

/// Parses a short duration: an integer with a unit `ms`, `s` or `m`
/// (`250ms`, `2s`, `1m`); a bare integer is seconds.
pub fn parse_duration(s: &str) -> Result<Duration, ParseFaultError> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| ParseFaultError(format!("bad duration {s:?}; use e.g. 250ms, 2s, 1m")))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs).ok_or_else(|| ParseFaultError(format!("duration {s:?} too long"))),
        _ => Err(ParseFaultError(format!("bad duration unit in {s:?}; use ms, s or m"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_faults_parse_and_display() {
        assert_eq!("normal".parse::<AckFault>().unwrap(), AckFault::Normal);
        assert_eq!("missing".parse::<AckFault>().unwrap(), AckFault::Missing);
        assert_eq!("late:2s".parse::<AckFault>().unwrap(), AckFault::Late(Duration::from_secs(2)));
        assert_eq!("late:250ms".parse::<AckFault>().unwrap(), AckFault::Late(Duration::from_millis(250)));
        for bad in ["", "late", "late:", "late:2h", "late:-1s", "sometimes", "late:1.5s"] {
            assert!(bad.parse::<AckFault>().is_err(), "{bad:?} accepted");
        }
        let late = AckFault::Late(Duration::from_millis(1500));
        assert_eq!(late.to_string().parse::<AckFault>().unwrap(), late);
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("99999999999999999999m").is_err());
    }

    #[test]
    fn validation_rejects_impossible_settings() {
        assert!(SimConfig::default().validate().is_ok());
        let with = |f: fn(&mut SimConfig)| {
            let mut c = SimConfig::default();
            f(&mut c);
            c.validate()
        };
        assert!(with(|c| c.products = 0).is_err());
        assert!(with(|c| c.products = MAX_PRODUCTS + 1).is_err());
        assert!(with(|c| c.rate = f64::NAN).is_err());
        assert!(with(|c| c.rate = -1.0).is_err());
        assert!(with(|c| c.faults.malformed_rate = 1.5).is_err());
        assert!(with(|c| c.faults.duplicate_rate = f64::NAN).is_err());
        assert!(with(|c| c.faults.drop_every = Some(Duration::ZERO)).is_err());
        assert!(with(|c| c.client_buffer = 0).is_err());
        assert!(with(|c| c.client_buffer = usize::MAX).is_err());
        assert!(with(|c| c.ping_interval = Duration::ZERO).is_err());
        assert!(with(|c| c.server_ping = Duration::ZERO).is_err());
        for exchange in [Exchange::Coinbase, Exchange::Binance, Exchange::Kucoin] {
            assert!(with_exchange(exchange).is_ok(), "{exchange}");
        }
        let err = with_exchange(Exchange::CoinbaseAdvanced).unwrap_err().to_string();
        assert!(err.contains("coinbase-advanced"), "{err}");
    }

    fn with_exchange(exchange: Exchange) -> Result<(), SimError> {
        SimConfig { exchange, ..SimConfig::default() }.validate()
    }
}
