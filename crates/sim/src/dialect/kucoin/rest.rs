//! The KuCoin REST endpoints the runtime uses, and the websocket upgrade,
//! on one port (<https://www.kucoin.com/docs/rest/spot-trading/market-data/get-symbols-list>
//! and neighbours):
//!
//! - `POST /api/v1/bullet-public`: a fresh token per call, and this
//!   simulator as the one instance server (`pingInterval`/`pingTimeout`
//!   from the configuration).
//! - `GET /api/v2/symbols`, `/api/v1/symbols`, `/api/v2/symbols/{symbol}`.
//! - `GET /api/v1/market/orderbook/level2_20|level2_50|level2_100?symbol=`
//!   (top 20/50/100 levels) and `/api/v3/market/orderbook/level2?symbol=`
//!   (the whole book; KuCoin wants an API key there, the simulator does
//!   not): the book and its `sequence`, read under the market lock, so it
//!   joins the `/market/level2` stream exactly.
//! - `GET /api/v1/market/histories?symbol=`: the last 100 trades.
//! - `GET /api/v1/timestamp`.
//!
//! Errors are KuCoin's envelope with HTTP 400: `{"code":"400100","msg":…}`.
//! Any other path upgrades to the websocket if asked to (the bullet names
//! `/`), else 404.

use std::sync::Arc;

use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        Path, RawQuery, State,
    },
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Router,
};

use super::{wire, Session};
use crate::{
    dialect::{json, Proto},
    generator::now_ns,
    hub::{Counters, Hub},
    session,
    text::{millis, param, query_pairs},
};

/// Trades in a history page (KuCoin: the last 100).
const HISTORY: usize = 100;

/// The HTTP service.
pub(crate) fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/api/v1/bullet-public", post(bullet))
        .route("/api/v1/symbols", get(symbols))
        .route("/api/v2/symbols", get(symbols))
        .route("/api/v2/symbols/{symbol}", get(symbol))
        .route("/api/v1/market/orderbook/level2_20", get(|s, q| orderbook(s, q, 20)))
        .route("/api/v1/market/orderbook/level2_50", get(|s, q| orderbook(s, q, 50)))
        .route("/api/v1/market/orderbook/level2_100", get(|s, q| orderbook(s, q, 100)))
        .route("/api/v3/market/orderbook/level2", get(|s, q| orderbook(s, q, usize::MAX)))
        .route("/api/v1/market/histories", get(histories))
        .route("/api/v1/timestamp", get(timestamp))
        .fallback(websocket_or_404)
        .with_state(hub)
}

fn error(msg: &str) -> Response {
    json(StatusCode::BAD_REQUEST, wire::rest_error("400100", msg))
}

/// The product a `symbol` query parameter names, or the error message.
fn symbol_param(hub: &Hub, query: Option<&str>) -> Result<usize, &'static str> {
    let pairs = query_pairs(query);
    match param(&pairs, "symbol") {
        None | Some("") => Err("symbol is required"),
        Some(s) => hub.product_index(s).ok_or("Unsupported trading pair."),
    }
}

async fn bullet(State(hub): State<Arc<Hub>>) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    let token = hub.tokens().issue(hub.seed);
    let t = hub.timing;
    json(StatusCode::OK, wire::bullet(&token, &hub.ws_url, t.ping_interval.as_millis(), t.ping_timeout.as_millis()))
}

async fn symbols(State(hub): State<Arc<Hub>>) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    json(StatusCode::OK, hub.products_json.clone())
}

async fn symbol(State(hub): State<Arc<Hub>>, Path(id): Path<String>) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    match hub.product_index(&id).and_then(|p| hub.specs.get(p)) {
        Some(spec) => json(StatusCode::OK, wire::ok(&wire::symbol(spec))),
        None => error("Unsupported trading pair."),
    }
}

async fn orderbook(State(hub): State<Arc<Hub>>, RawQuery(query): RawQuery, depth: usize) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    let p = match symbol_param(&hub, query.as_deref()) {
        Ok(p) => p,
        Err(msg) => return error(msg),
    };
    let Some(spec) = hub.specs.get(p) else { return error("Unsupported trading pair.") };
    // The book and its sequence at one point of the market.
    let (sequence, mut bids, mut asks) = {
        let market = hub.market();
        let (bids, asks) = market.book(p);
        (market.book_seq(p), bids, asks)
    };
    bids.truncate(depth);
    asks.truncate(depth);
    json(StatusCode::OK, wire::orderbook(spec, sequence, now_ns(), &bids, &asks))
}

async fn histories(State(hub): State<Arc<Hub>>, RawQuery(query): RawQuery) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    let p = match symbol_param(&hub, query.as_deref()) {
        Ok(p) => p,
        Err(msg) => return error(msg),
    };
    let Some(spec) = hub.specs.get(p) else { return error("Unsupported trading pair.") };
    let trades: Vec<_> = {
        let market = hub.market();
        let h = market.history(p);
        h.map(|h| h.range(h.len().saturating_sub(HISTORY)..).copied().collect()).unwrap_or_default()
    };
    json(StatusCode::OK, wire::histories(spec, &trades))
}

async fn timestamp(State(hub): State<Arc<Hub>>) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    json(StatusCode::OK, wire::ok(&millis(now_ns()).to_string()))
}

async fn websocket_or_404(
    State(hub): State<Arc<Hub>>,
    RawQuery(query): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => {
            let pairs = query_pairs(query.as_deref());
            let token = param(&pairs, "token").map(str::to_owned);
            let connect_id = param(&pairs, "connectId").filter(|c| !c.is_empty()).map(str::to_owned);
            let guard = hub.session_guard();
            let proto = Proto::Kucoin(Session::new(token, connect_id));
            ws.max_message_size(session::MAX_CLIENT_MESSAGE).on_upgrade(move |socket| session::run(hub, socket, guard, proto))
        }
        Err(_) => json(StatusCode::NOT_FOUND, wire::rest_error("404000", "Url Not Found")),
    }
}
