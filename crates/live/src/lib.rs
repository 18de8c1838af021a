//! Live exchange connectivity: websocket sessions that subscribe, check the
//! acknowledgement, watch for silence, resync books and reconnect with
//! jittered backoff forever; a REST backfiller that fills trade-id gaps; and
//! a REST poller for sources without a websocket (Coinbase Advanced Trade).
//!
//! Everything exchange-specific comes from a
//! [`marketpipe_venues::session::SessionProtocol`]; this crate owns the
//! sockets, timers and retries. Its output is a stream of [`LiveRecord`]s on
//! a bounded channel, one per thing that happened on the wire, in receive
//! order, mapping 1:1 onto capture records: the pipeline archives them and
//! decodes them with the same decoder replay uses.
//!
//! ```no_run
//! # async fn demo() -> Result<(), marketpipe_live::LiveError> {
//! use std::sync::Arc;
//! use marketpipe_live::{spawn_feed, FeedConfig, RestClient};
//! use marketpipe_venues::coinbase::session::CoinbaseSession;
//!
//! let protocol = Arc::new(CoinbaseSession);
//! let config = FeedConfig::new(protocol.as_ref(), vec!["BTC-USD".into()]);
//! let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
//! let (stop, shutdown) = tokio::sync::watch::channel(false);
//! let rest = RestClient::for_protocol(protocol.as_ref())?;
//! let feed = spawn_feed(config, protocol, rest, tx, shutdown)?;
//! while let Some(record) = rx.recv().await {
//!     println!("{record:?}");
//! #   break;
//! }
//! stop.send_replace(true);
//! feed.join().await
//! # }
//! ```

mod backfill;
mod backoff;
mod config;
mod emit;
mod error;
mod feed;
mod gap;
pub mod metrics;
mod poll;
mod record;
mod rest;
mod session;

pub use backfill::{spawn_backfiller, BackfillHandle, RestRequest};
pub use backoff::{backoff_cap, full_jitter, BackoffState};
pub use config::{
    BackfillConfig, Backoff, ConfigError, FeedConfig, DEFAULT_ACK_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAGES_PER_GAP, DEFAULT_REQUEST_TIMEOUT, DEFAULT_WARM_START_PAGES, DEFAULT_WATCHDOG,
};
pub use error::LiveError;
pub use feed::{spawn_feed, split_products, FeedHandle, Resyncer};
pub use gap::{Gap, GapDetector};
pub use metrics::{BackfillStats, FeedStats, PollStats};
pub use poll::{
    spawn_poller, PollConfig, PollHandle, DEFAULT_POLL_INTERVAL, DEFAULT_POLL_LIMIT, DEFAULT_POLL_MAX_ATTEMPTS,
    DEFAULT_POLL_REQUESTS_PER_SECOND,
};
pub use record::{now, LiveBody, LiveRecord};
pub use rest::{RestClient, RestError, RestMethod, RestPolicy};

/// Installs rustls' ring crypto provider as the process default, once.
/// reqwest and tokio-tungstenite are built without a provider of their own;
/// an error means one is already installed, which is just as good.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
