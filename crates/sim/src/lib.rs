//! The exchange simulator: a seeded market served through a real
//! exchange's protocols over loopback, for `marketpipe sim`,
//! `marketpipe demo` and every network test.
//!
//! It speaks one dialect per run ([`SimConfig::exchange`]), on one port
//! serving both the websocket and the REST endpoints the runtime uses:
//!
//! - **Coinbase Exchange** (the default): the websocket feed on any path
//!   (like `wss://ws-feed.exchange.coinbase.com`); REST `/products`,
//!   `/products/{id}`, `/products/{id}/trades`.
//! - **Binance spot**: combined streams at `/stream?streams=…` (raw at
//!   `/ws`), live `SUBSCRIBE`; REST `/api/v3/exchangeInfo`, `/api/v3/depth`,
//!   `/api/v3/aggTrades`. Books are synced from REST depth snapshots.
//! - **KuCoin spot**: `POST /api/v1/bullet-public` gives a token and the
//!   websocket endpoint; topics `/market/match`, `/market/level2`,
//!   `/market/ticker`; REST `/api/v2/symbols`,
//!   `/api/v1/market/orderbook/level2_100`, `/api/v1/market/histories`.
//!   Books are synced from REST level-2 snapshots.
//!
//! - The **market** (a model driven by one generator task) is
//!   deterministic given the seed: the same seed gives the same sequence of
//!   market events; only timestamps come from the wall clock.
//! - **Faults** ([`Faults`]) are per connection: abrupt drops, stalls,
//!   malformed and duplicated frames, late or missing acknowledgements.
//! - **`write_capture`** records the complete market history in the capture
//!   format, as a client subscribed to everything would have received it:
//!   replaying it is the ground truth a live client must reach.
//!
//! ```no_run
//! # async fn demo() -> Result<(), marketpipe_sim::SimError> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(marketpipe_sim::SimError::bind)?;
//! let sim = marketpipe_sim::start(marketpipe_sim::SimConfig::default(), listener).await?;
//! println!("ws {} rest {}", sim.ws_url(), sim.rest_url());
//! sim.shutdown().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod config;
mod dialect;
mod generator;
mod hub;
mod market;
mod products;
mod session;
mod text;

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

pub use marketpipe_model::Exchange;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

pub use config::{
    parse_duration, AckFault, Faults, ParseFaultError, SimConfig, BINANCE_PONG_PERIODS, MAX_CLIENT_BUFFER, MAX_PRODUCTS, MAX_RATE,
    STALL_HOLD,
};

use crate::{
    generator::{CaptureTask, Generator},
    hub::{Hub, HubSetup, Timing},
    market::Market,
};

/// How long shutdown waits for websocket sessions to close before it stops
/// waiting (they are then dropped with the runtime).
const SESSION_DRAIN: Duration = Duration::from_secs(3);

/// Why the simulator could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The configuration cannot be honoured; fix it, retrying will not help.
    #[error("invalid simulator configuration: {0}")]
    Config(String),
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A simulator task panicked or was cancelled.
    #[error("simulator task {task} failed: {detail}")]
    Task {
        /// Which task.
        task: &'static str,
        /// The join error.
        detail: String,
    },
}

impl SimError {
    /// An error binding the listener, for callers that bind it.
    pub fn bind(source: std::io::Error) -> Self {
        SimError::Io { context: "binding the simulator listener".into(), source }
    }

    /// Whether trying again could succeed: I/O errors may be transient
    /// (a port in use, a full disk); bad configuration and failed tasks are not.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SimError::Io { .. })
    }
}

/// Counters of a running simulator. Every field only grows, except
/// `active_connections`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Trades generated.
    pub trades: u64,
    /// Market frames generated (Coinbase `match` + `l2update` + `ticker`;
    /// Binance `aggTrade` + `depthUpdate` + `bookTicker` + `!miniTicker@arr`;
    /// KuCoin match + level2 + ticker messages).
    pub market_frames: u64,
    /// Text frames written to websocket clients, all kinds (market, control,
    /// heartbeats, snapshots, duplicates and malformed ones).
    pub frames_sent: u64,
    /// Websocket connections accepted.
    pub connections: u64,
    /// Websocket connections open now.
    pub active_connections: u64,
    /// Connections closed by the drop fault.
    pub drops: u64,
    /// Connections stalled by the stall fault.
    pub stalls: u64,
    /// Malformed frames sent.
    pub malformed_sent: u64,
    /// Duplicate frames sent (the second copies).
    pub duplicates_sent: u64,
    /// Subscription acknowledgements sent (Coinbase `subscriptions`,
    /// Binance `{"result":null}` to SUBSCRIBE/UNSUBSCRIBE, KuCoin `ack`).
    pub acks_sent: u64,
    /// Acknowledgements withheld by the missing-ack fault.
    pub acks_withheld: u64,
    /// Acknowledgements delayed by the late-ack fault.
    pub acks_delayed: u64,
    /// Client requests answered with an error frame.
    pub request_errors: u64,
    /// Clients disconnected for falling behind or not reading.
    pub slow_disconnects: u64,
    /// REST requests served.
    pub rest_requests: u64,
    /// Capture records written.
    pub capture_records: u64,
    /// Capture write failures (and batches lost after one).
    pub capture_errors: u64,
    /// Binance connections closed for sending more than 5 messages a second.
    pub rate_limited: u64,
    /// Connections closed for not keeping alive (KuCoin: no `ping` within
    /// `ping_interval + ping_timeout`; Binance: no Pong to the server's Ping).
    pub ping_timeouts: u64,
    /// Connections refused: KuCoin connects without a valid token, Binance
    /// connect URLs with invalid or too many streams.
    pub refused: u64,
}

/// A running simulator.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    hub: Arc<Hub>,
    shutdown: watch::Sender<bool>,
    done: watch::Receiver<bool>,
    generator: JoinHandle<()>,
    server: JoinHandle<std::io::Result<()>>,
    capture: Option<CaptureTask>,
}

/// Starts a simulator serving on `listener` (bind `127.0.0.1:0` for a free
/// port). Returns once it accepts connections; with `write_capture`, the
/// capture file has been created.
pub async fn start(config: SimConfig, listener: TcpListener) -> Result<SimHandle, SimError> {
    config.validate()?;
    let addr = listener.local_addr().map_err(|source| SimError::Io { context: "reading the listener address".into(), source })?;
    let specs = products::product_specs_for(config.exchange, config.products);
    let market = Market::new(config.seed, &specs, config.trade_history);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let rest_url = http_url(addr);
    let setup = HubSetup {
        exchange: config.exchange,
        ws_url: ws_url(config.exchange, addr),
        timing: Timing { ping_interval: config.ping_interval, ping_timeout: config.ping_timeout, server_ping: config.server_ping },
        faults: config.faults.clone(),
        seed: config.seed,
        client_buffer: config.client_buffer,
    };
    let hub = Arc::new(Hub::new(market, specs, setup, shutdown_rx.clone()));

    let (capture_tx, capture) = match &config.write_capture {
        Some(path) => {
            let (tx, task) = generator::spawn_capture(path, hub.clone())
                .map_err(|source| SimError::Io { context: format!("creating capture file {}", path.display()), source })?;
            // Sent before the generator starts: the opening book precedes every update.
            let opening = generator::opening(&hub, &rest_url, generator::now_ns());
            if tx.send(opening).await.is_err() {
                return Err(SimError::Task { task: "capture", detail: "the capture writer stopped at once".into() });
            }
            (Some(tx), Some(task))
        }
        None => (None, None),
    };

    let (done_tx, done) = watch::channel(false);
    let gen = Generator {
        hub: hub.clone(),
        rate: config.rate,
        duration: config.duration,
        wait_for_subscriber: config.wait_for_subscriber,
        capture: capture_tx,
        done: done_tx,
        shutdown: shutdown_rx.clone(),
    };
    let generator = tokio::spawn(gen.run());

    let app = dialect::router(hub.clone());
    let mut server_shutdown = shutdown_rx;
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                hub::signalled(&mut server_shutdown).await;
            })
            .await
    });
    tracing::info!(%addr, exchange = %config.exchange, products = hub.specs.len(), rate = config.rate, seed = config.seed, "exchange simulator listening");
    Ok(SimHandle { addr, hub, shutdown, done, generator, server, capture })
}

/// `host:port` as a URL authority: unspecified addresses become loopback
/// (a client cannot connect to 0.0.0.0), IPv6 gets brackets.
fn authority(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => format!("{}:{}", Ipv4Addr::LOCALHOST, addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => format!("[{}]:{}", Ipv6Addr::LOCALHOST, addr.port()),
        _ => addr.to_string(),
    }
}

fn http_url(addr: SocketAddr) -> String {
    format!("http://{}", authority(addr))
}

/// The websocket URL of each dialect: Coinbase's feed (any path works),
/// Binance's combined-stream endpoint (append `?streams=a/b`), KuCoin's
/// instance server (the bullet's `endpoint`; connect with `?token=`).
fn ws_url(exchange: Exchange, addr: SocketAddr) -> String {
    match exchange {
        Exchange::Binance => format!("ws://{}/stream", authority(addr)),
        Exchange::Kucoin => format!("ws://{}/", authority(addr)),
        Exchange::Coinbase | Exchange::CoinbaseAdvanced => format!("ws://{}/ws", authority(addr)),
    }
}

impl SimHandle {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The exchange protocol spoken.
    pub fn exchange(&self) -> Exchange {
        self.hub.exchange
    }

    /// The websocket URL:
    ///
    /// - Coinbase: the feed, `ws://127.0.0.1:PORT/ws` (any path works);
    /// - Binance: the combined-stream endpoint, `ws://127.0.0.1:PORT/stream`
    ///   (append `?streams=btcusdt@aggTrade/…`, or SUBSCRIBE after
    ///   connecting; `/ws` serves raw payloads);
    /// - KuCoin: the instance server `ws://127.0.0.1:PORT/`, the same as the
    ///   `endpoint` of `POST {rest_url}/api/v1/bullet-public`, which also
    ///   gives the token it must be opened with (`?token=…&connectId=…`).
    pub fn ws_url(&self) -> String {
        self.hub.ws_url.clone()
    }

    /// The REST base URL, `http://127.0.0.1:PORT`.
    pub fn rest_url(&self) -> String {
        http_url(self.addr)
    }

    /// The native product ids served, in order (`BTC-USD`, `BTCUSDT`,
    /// `BTC-USDT`: as the exchange spoken names them).
    pub fn products(&self) -> Vec<String> {
        self.hub.ids.clone()
    }

    /// Current counters.
    pub fn stats(&self) -> SimStats {
        let c = &self.hub.counters;
        SimStats {
            trades: c.trades.load(Relaxed),
            market_frames: c.market_frames.load(Relaxed),
            frames_sent: c.frames_sent.load(Relaxed),
            connections: c.connections.load(Relaxed),
            active_connections: c.active_connections.load(Relaxed),
            drops: c.drops.load(Relaxed),
            stalls: c.stalls.load(Relaxed),
            malformed_sent: c.malformed_sent.load(Relaxed),
            duplicates_sent: c.duplicates_sent.load(Relaxed),
            acks_sent: c.acks_sent.load(Relaxed),
            acks_withheld: c.acks_withheld.load(Relaxed),
            acks_delayed: c.acks_delayed.load(Relaxed),
            request_errors: c.request_errors.load(Relaxed),
            slow_disconnects: c.slow_disconnects.load(Relaxed),
            rest_requests: c.rest_requests.load(Relaxed),
            capture_records: c.capture_records.load(Relaxed),
            capture_errors: c.capture_errors.load(Relaxed),
            rate_limited: c.rate_limited.load(Relaxed),
            ping_timeouts: c.ping_timeouts.load(Relaxed),
            refused: c.refused.load(Relaxed),
        }
    }

    /// Resolves once `duration` has elapsed, the last frame has been
    /// generated and broadcast, and the capture file is flushed. Without a
    /// `duration` it never resolves (until shutdown, which also ends it).
    pub async fn generation_done(&self) {
        let mut done = self.done.clone();
        let mut shutdown = self.shutdown.subscribe();
        tokio::select! {
            // An error means the generator is gone: nothing more will come.
            _ = hub::signalled(&mut done) => {}
            _ = hub::signalled(&mut shutdown) => {}
        }
    }

    /// Stops everything: the generator, the server, every session (with a
    /// close frame); then completes and closes the capture file.
    pub async fn shutdown(self) -> Result<(), SimError> {
        self.shutdown.send_replace(true);
        let gen = self.generator.await;
        let server = self.server.await;
        if tokio::time::timeout(SESSION_DRAIN, self.hub.sessions_done()).await.is_err() {
            tracing::warn!("simulator sessions did not close in time");
        }
        let capture = match self.capture {
            Some(task) => Some(task.await),
            None => None,
        };
        gen.map_err(|e| SimError::Task { task: "generator", detail: e.to_string() })?;
        server
            .map_err(|e| SimError::Task { task: "server", detail: e.to_string() })?
            .map_err(|source| SimError::Io { context: "serving".into(), source })?;
        match capture {
            Some(Err(e)) => Err(SimError::Task { task: "capture", detail: e.to_string() }),
            Some(Ok(Err(source))) => Err(SimError::Io { context: "writing the capture file".into(), source }),
            Some(Ok(Ok(()))) | None => Ok(()),
        }
    }
}
