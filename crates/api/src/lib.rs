//! marketpipe's HTTP API, version 1: candles, books, statistics and
//! products from any [`MarketReader`], as JSON.
//!
//! # Endpoints
//!
//! All are `GET` (and `HEAD`); all answer JSON. Decimals are strings exactly
//! as stored (`"0.00120000"`), times RFC 3339 with `Z`.
//!
//! - `GET /api/v1/health` → `{"status":"ok","version","store":"ok"}`;
//!   503 `{"status":"degraded",...,"store":"unavailable"}` when the
//!   store's health check fails.
//! - `GET /api/v1/products[?exchange=]` →
//!   `{"products":[{"exchange","symbol","native_symbol","base","quote"}]}`.
//! - `GET /api/v1/candles?exchange=&symbol=&interval=[&start=][&end=][&limit=][&fill=]`
//!   → `{"exchange","symbol","interval","candles":[...]}` ascending by
//!   `start`. `start` inclusive, `end` exclusive (on the window start);
//!   with `start` the first `limit` candles from it, without it the latest
//!   `limit` before `end`. `limit` defaults to [`ApiConfig::default_limit`],
//!   larger values are capped at [`ApiConfig::max_limit`]. Times are RFC
//!   3339 or Unix seconds (`1767225600`, `1767225600.5`). Each candle has
//!   `start, open, high, low, close, volume, quote_volume, vwap, trades,
//!   buy_volume, sell_volume, buy_trades, sell_trades, first_trade_id,
//!   last_trade_id` (a number for numeric ids, a string for opaque ones),
//!   `final, revision`. With `fill=true` missing windows come back as empty
//!   candles (`open=high=low=close` = the previous close, zero volumes and
//!   counts, `vwap` and trade ids null, `"filled": true`; stored candles
//!   then carry `"filled": false`): between returned candles, and after the
//!   last one up to `end` when `end` is given; never before the first
//!   returned candle. `limit` bounds the total.
//! - `GET /api/v1/candles/latest?exchange=&symbol=&interval=` →
//!   `{"exchange","symbol","interval","candle":{...}}`, the newest candle,
//!   final or not; 404 `no_data` when the product has none yet.
//! - `GET /api/v1/book?exchange=&symbol=[&depth=]` →
//!   `{"exchange","symbol","state","sequence","time","bids":[[price,size]],"asks":[...]}`,
//!   best first, `depth` levels per side (default
//!   [`ApiConfig::default_depth`], capped at [`ApiConfig::max_depth`]); 404
//!   `no_data` before the first book is stored.
//! - `GET /api/v1/stats?exchange=&symbol=` → `{"exchange","symbol",
//!   "best_bid","best_bid_size","best_ask","best_ask_size","spread","mid",
//!   "mid_ma","mid_ma_window","mid_ma_samples","max_spread","last_price",
//!   "last_trade_time","book_state","time"}`; 404 `no_data` before the first
//!   statistics are stored.
//!
//! # Errors
//!
//! `{"error":{"code":"...","message":"..."}}`; see [`ApiError`] for the
//! codes. Bad input is always a 4xx whose message names what was wrong:
//! missing, unknown, repeated or empty parameters, bad percent-encoding,
//! unknown exchanges and intervals (the valid ones are listed), malformed or
//! out-of-range times, `start >= end`, counts that are not positive
//! integers. `exchange` is case-insensitive; `symbol` is the normalized
//! `BASE-QUOTE` form, upper-cased if given in lower case. A product the
//! store does not know is 404 `unknown_product`. Only server faults are
//! 5xx: store failures (503 when retrying may help, else 500), a request
//! exceeding [`ApiConfig::request_timeout`] (503), a panic (500).

mod dto;
mod error;
mod fill;
mod handlers;
mod middleware;
mod params;

use std::{future::Future, sync::Arc, time::Duration};

use axum::{routing::get, Router};
use marketpipe_store::MarketReader;
use tokio::{net::TcpListener, sync::Semaphore};
use tower_http::catch_panic::CatchPanicLayer;

pub use dto::Candles;
pub use error::ApiError;

/// Every path this crate serves, for error messages.
pub(crate) const ENDPOINTS: &[&str] =
    &["/api/v1/health", "/api/v1/products", "/api/v1/candles", "/api/v1/candles/latest", "/api/v1/book", "/api/v1/stats"];

/// Limits and defaults of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Largest number of candles one response carries; larger `limit`s are
    /// capped to it, not refused.
    pub max_limit: usize,
    /// Number of candles when the request gives no `limit`.
    pub default_limit: usize,
    /// Book levels per side when the request gives no `depth`.
    pub default_depth: usize,
    /// Largest `depth`; larger ones are capped to it.
    pub max_depth: usize,
    /// Longest a request may take, queueing for a permit included, before
    /// it is answered 503 `timeout`.
    pub request_timeout: Duration,
    /// How many requests are handled at once; more wait for a permit.
    pub max_concurrent_requests: usize,
}

impl Default for ApiConfig {
    /// `limit` 1000 (max 10000), `depth` 10 (max 50), 10 s per request, 64
    /// requests at once.
    fn default() -> Self {
        ApiConfig {
            max_limit: 10_000,
            default_limit: 1_000,
            default_depth: 10,
            max_depth: 50,
            request_timeout: Duration::from_secs(10),
            max_concurrent_requests: 64,
        }
    }
}

impl ApiConfig {
    /// Makes the limits consistent rather than failing on them: every cap at
    /// least 1, defaults within their caps, a concurrency the semaphore can
    /// hold.
    fn normalized(mut self) -> Self {
        self.max_limit = self.max_limit.max(1);
        self.default_limit = self.default_limit.clamp(1, self.max_limit);
        self.max_depth = self.max_depth.max(1);
        self.default_depth = self.default_depth.clamp(1, self.max_depth);
        self.max_concurrent_requests = self.max_concurrent_requests.clamp(1, Semaphore::MAX_PERMITS);
        self
    }
}

/// The v1 API as a [`Router`] with its JSON 404 fallback, JSON 405s, and a
/// timeout, concurrency limit and panic catcher around every endpoint.
///
/// Later features add their own routes by merging routers *without* a
/// fallback into this one (`router(store, config).merge(push_routes)`;
/// axum refuses to merge two fallbacks). Merged routes get neither these
/// layers nor JSON 405s, which is deliberate for long-lived websocket
/// connections that must not hit the request timeout.
pub fn router(store: Arc<dyn MarketReader>, config: ApiConfig) -> Router {
    let config = config.normalized();
    let guard = middleware::Guard { permits: Arc::new(Semaphore::new(config.max_concurrent_requests)), timeout: config.request_timeout };
    let app = Arc::new(handlers::App { store, config });
    Router::new()
        .route("/api/v1/health", get(handlers::health::health))
        .route("/api/v1/products", get(handlers::products::products))
        .route("/api/v1/candles", get(handlers::candles::candles))
        .route("/api/v1/candles/latest", get(handlers::candles::latest))
        .route("/api/v1/book", get(handlers::book::book))
        .route("/api/v1/stats", get(handlers::stats::stats))
        .route("/api/v1/tickers", get(handlers::tickers::tickers))
        // Must follow the routes: it applies to the routes present.
        .method_not_allowed_fallback(error::method_not_allowed)
        .fallback(error::not_found)
        .with_state(app)
        // Layers apply outside-in from the last one: a panic anywhere in the
        // guard or a handler is caught.
        .layer(axum::middleware::from_fn_with_state(guard, middleware::guard))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting connections and waits for in-flight requests to finish (every
/// API request is bounded by [`ApiConfig::request_timeout`]; routes merged
/// in from elsewhere must bound themselves, or shutdown waits for them).
pub async fn serve<F>(listener: TcpListener, router: Router, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    use axum::serve::ListenerExt;
    // Responses are small and written whole; Nagle would only add latency.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}
