//! The REST endpoints the runtime uses, on the websocket's port, in the
//! Coinbase Exchange shapes
//! (<https://docs.cdp.coinbase.com/exchange/reference/exchangerestapi_getproducttrades>):
//!
//! - `GET /products`, `GET /products/{id}`
//! - `GET /products/{id}/trades?limit=&after=&before=`: newest first;
//!   `limit` 1..=1000 (default 100); `after=X` pages to trades older than
//!   X (id < X), `before=Y` to trades newer than Y (id > Y); headers
//!   `CB-AFTER` (smallest id in the page: the cursor for the next older
//!   page) and `CB-BEFORE` (largest).
//!
//! Unknown products are 404 `{"message":"NotFound"}`, bad parameters 400
//! `{"message":"..."}`. Any other path upgrades to the websocket if asked
//! to, else 404.

use std::sync::Arc;

use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        Path, RawQuery, State,
    },
    http::{HeaderValue, StatusCode},
    response::Response,
    routing::get,
    Router,
};

use super::{wire, Session};
use crate::{
    dialect::{json, Proto},
    hub::{Counters, Hub},
    session,
};

/// Default page size.
const DEFAULT_LIMIT: usize = 100;
/// Largest page size.
const MAX_LIMIT: usize = 1000;

/// The simulator's HTTP service: REST plus the websocket on any other path.
pub(crate) fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/products", get(products))
        .route("/products/{id}", get(product))
        .route("/products/{id}/trades", get(trades))
        .merge(super::advanced::routes())
        .fallback(websocket_or_404)
        .with_state(hub)
}

fn message(status: StatusCode, msg: &str) -> Response {
    let mut body = String::from(r#"{"message":"#);
    wire::push_json_string(&mut body, msg);
    body.push('}');
    json(status, body)
}

fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "NotFound")
}

async fn products(State(hub): State<Arc<Hub>>) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    json(StatusCode::OK, hub.products_json.clone())
}

async fn product(State(hub): State<Arc<Hub>>, Path(id): Path<String>) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    match hub.product_index(&id).and_then(|p| hub.specs.get(p)) {
        Some(spec) => json(StatusCode::OK, wire::product_json(spec)),
        None => not_found(),
    }
}

/// A trades page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PageQuery {
    limit: usize,
    after: Option<u64>,
    before: Option<u64>,
}

/// Parses `limit`, `after` and `before`; other parameters are ignored, as
/// Coinbase ignores them.
fn page_query(query: Option<&str>) -> Result<PageQuery, String> {
    let mut q = PageQuery { limit: DEFAULT_LIMIT, after: None, before: None };
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let number = |what: &str| value.parse::<u64>().map_err(|_| format!("Invalid {what}: must be a positive integer"));
        match key {
            "limit" => {
                q.limit = number("limit")
                    .ok()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("Invalid limit: must be 1 to {MAX_LIMIT}"))?;
            }
            "after" => q.after = Some(number("after")?),
            "before" => q.before = Some(number("before")?),
            _ => {}
        }
    }
    if q.after.is_some() && q.before.is_some() {
        return Err("Use either after or before, not both".into());
    }
    Ok(q)
}

async fn trades(State(hub): State<Arc<Hub>>, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    let Some((p, spec)) = hub.product_index(&id).and_then(|p| Some((p, hub.specs.get(p)?))) else {
        return not_found();
    };
    let q = match page_query(query.as_deref()) {
        Ok(q) => q,
        Err(msg) => return message(StatusCode::BAD_REQUEST, &msg),
    };
    let page = {
        let market = hub.market();
        match q.before {
            Some(before) => market.trades(p, before, u64::MAX, q.limit, false),
            None => market.trades(p, 0, q.after.unwrap_or(u64::MAX), q.limit, true),
        }
    };
    let mut response = json(StatusCode::OK, wire::rest_trades(spec, &page));
    // Newest first: the last entry is the smallest id, the first the largest.
    if let (Some(newest), Some(oldest)) = (page.first(), page.last()) {
        let headers = response.headers_mut();
        headers.insert("cb-after", HeaderValue::from(oldest.id));
        headers.insert("cb-before", HeaderValue::from(newest.id));
    }
    response
}

async fn websocket_or_404(State(hub): State<Arc<Hub>>, ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    match ws {
        Ok(ws) => {
            let guard = hub.session_guard();
            let proto = Proto::Coinbase(Session::new(hub.specs.len()));
            ws.max_message_size(session::MAX_CLIENT_MESSAGE).on_upgrade(move |socket| session::run(hub, socket, guard, proto))
        }
        Err(_) => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_queries() {
        assert_eq!(page_query(None), Ok(PageQuery { limit: 100, after: None, before: None }));
        assert_eq!(page_query(Some("limit=1000&after=55&x=1")), Ok(PageQuery { limit: 1000, after: Some(55), before: None }));
        assert_eq!(page_query(Some("before=9")).map(|q| q.before), Ok(Some(9)));
        for bad in ["limit=0", "limit=1001", "limit=abc", "limit=", "after=-1", "after=1.5", "before=x", "after=1&before=2"] {
            assert!(page_query(Some(bad)).is_err(), "{bad}");
        }
    }
}
