//! The Coinbase **Advanced Trade** public market endpoints, serving the same
//! simulated market as the Exchange endpoints beside them (same products,
//! same trade ids), in Advanced Trade's shapes
//! (<https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/public/get-public-market-trades>):
//!
//! - `GET /api/v3/brokerage/market/products`: `{"products": [...],
//!   "num_products": N, "pagination": ...}`
//! - `GET /api/v3/brokerage/market/products/{id}`: one product object
//! - `GET /api/v3/brokerage/market/products/{id}/ticker?limit=N`: the
//!   newest `limit` trades (1..=1000, required), newest first, and the
//!   current best bid and ask. `start`/`end` are accepted and ignored (the
//!   poller does not use them). Trade ids are decimal strings and `side` is
//!   the maker's, upper case.
//!
//! Errors use Advanced Trade's gRPC-gateway shape, `{"error": "NOT_FOUND",
//! "error_details": "...", "message": "..."}`: 404 for an unknown product,
//! 400 `INVALID_ARGUMENT` for a bad `limit`.
//!
//! Kept apart from `rest.rs` (which hooks these routes in with one line) so
//! the Exchange dialect and this one evolve independently.

use std::{fmt::Write as _, sync::Arc};

use axum::{
    extract::{Path, RawQuery, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};

use crate::{
    hub::{Counters, Hub},
    market::TradeRec,
    products::{ProductSpec, SIZE_SCALE},
    text::{push_fixed, push_json_string, push_price},
};

use super::wire::push_time;

/// Largest `limit` of a market trades request, as on Advanced Trade.
pub(crate) const MAX_LIMIT: usize = 1000;

/// The Advanced Trade routes, to merge into the simulator's router.
pub(crate) fn routes() -> Router<Arc<Hub>> {
    Router::new()
        .route("/api/v3/brokerage/market/products", get(products))
        .route("/api/v3/brokerage/market/products/{id}", get(product))
        .route("/api/v3/brokerage/market/products/{id}/ticker", get(market_trades))
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

/// An error in Advanced Trade's shape.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut body = String::from(r#"{"error":"#);
    push_json_string(&mut body, code);
    body.push_str(r#","error_details":"#);
    push_json_string(&mut body, message);
    body.push_str(r#","message":"#);
    push_json_string(&mut body, message);
    body.push('}');
    json(status, body)
}

fn not_found(id: &str) -> Response {
    error(StatusCode::NOT_FOUND, "NOT_FOUND", &format!("ProductID {id} could not be found"))
}

/// A product object, with the fields Advanced Trade lists for a spot
/// product (24-hour figures zero: the simulator does not keep them).
pub(crate) fn product_json(spec: &ProductSpec, last_price: Option<u64>) -> String {
    let mut increment = String::new();
    push_fixed(&mut increment, 1u64, spec.price_scale);
    let mut price = String::new();
    push_fixed(&mut price, last_price.unwrap_or(spec.start_ticks), spec.price_scale);
    let mut s = String::with_capacity(900);
    let _ = write!(
        s,
        concat!(
            r#"{{"product_id":"{id}","price":"{price}","price_percentage_change_24h":"0","volume_24h":"0","#,
            r#""volume_percentage_change_24h":"0","base_increment":"0.00000001","quote_increment":"{inc}","#,
            r#""quote_min_size":"1","quote_max_size":"10000000","base_min_size":"0.00000001","base_max_size":"10000","#,
            r#""base_name":"{base}","quote_name":"{quote}","watched":false,"is_disabled":false,"new":false,"#,
            r#""status":"online","cancel_only":false,"limit_only":false,"post_only":false,"trading_disabled":false,"#,
            r#""auction_mode":false,"product_type":"SPOT","quote_currency_id":"{quote}","base_currency_id":"{base}","#,
            r#""fcm_trading_session_details":null,"mid_market_price":"","alias":"","alias_to":[],"#,
            r#""base_display_symbol":"{base}","quote_display_symbol":"{quote}","view_only":false,"#,
            r#""price_increment":"{inc}","display_name":"{id}","product_venue":"CBE"}}"#
        ),
        id = spec.id,
        price = price,
        inc = increment,
        base = spec.base,
        quote = spec.quote,
    );
    s
}

/// The body of the market trades endpoint: `trades` as given (newest
/// first) and the best bid and ask (`""` for an empty side).
pub(crate) fn market_trades_json(spec: &ProductSpec, trades: &[TradeRec], best_bid: Option<u64>, best_ask: Option<u64>) -> String {
    let mut s = String::with_capacity(64 + 220 * trades.len());
    s.push_str(r#"{"trades":["#);
    for (i, t) in trades.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, r#"{{"trade_id":"{}","product_id":"{}","price":"#, t.id, spec.id);
        push_price(&mut s, spec, t.price);
        s.push_str(r#","size":""#);
        push_fixed(&mut s, t.size, SIZE_SCALE);
        s.push_str(r#"","time":""#);
        push_time(&mut s, t.time_ns);
        s.push_str(r#"","side":""#);
        s.push_str(&t.maker.as_str().to_ascii_uppercase());
        s.push_str(r#"","bid":"","ask":"","exchange":"coinbase"}"#);
    }
    s.push_str(r#"],"best_bid":"#);
    match best_bid {
        Some(p) => push_price(&mut s, spec, p),
        None => s.push_str("\"\""),
    }
    s.push_str(r#","best_ask":"#);
    match best_ask {
        Some(p) => push_price(&mut s, spec, p),
        None => s.push_str("\"\""),
    }
    s.push('}');
    s
}

async fn products(State(hub): State<Arc<Hub>>) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    let last: Vec<Option<u64>> = {
        let market = hub.market();
        (0..hub.specs.len()).map(|p| market.last_trade(p).0.map(|t| t.price)).collect()
    };
    let items: Vec<String> = hub.specs.iter().zip(last).map(|(spec, last)| product_json(spec, last)).collect();
    json(StatusCode::OK, format!(r#"{{"products":[{}],"num_products":{},"pagination":null}}"#, items.join(","), items.len()))
}

async fn product(State(hub): State<Arc<Hub>>, Path(id): Path<String>) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    match hub.product_index(&id).and_then(|p| Some((p, hub.specs.get(p)?))) {
        Some((p, spec)) => {
            let last = hub.market().last_trade(p).0.map(|t| t.price);
            json(StatusCode::OK, product_json(spec, last))
        }
        None => not_found(&id),
    }
}

/// Reads the required `limit` (1..=[`MAX_LIMIT`]); other parameters are
/// ignored.
pub(crate) fn limit(query: Option<&str>) -> Result<usize, String> {
    let value =
        query.unwrap_or_default().split('&').find_map(|pair| pair.strip_prefix("limit=")).ok_or_else(|| "limit is required".to_owned())?;
    value
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| format!("limit must be an integer from 1 to {MAX_LIMIT}"))
}

async fn market_trades(State(hub): State<Arc<Hub>>, Path(id): Path<String>, RawQuery(query): RawQuery) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    let Some((p, spec)) = hub.product_index(&id).and_then(|p| Some((p, hub.specs.get(p)?))) else {
        return not_found(&id);
    };
    let limit = match limit(query.as_deref()) {
        Ok(n) => n,
        Err(msg) => return error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", &msg),
    };
    let (trades, bid, ask) = {
        let market = hub.market();
        let (bids, asks) = market.book(p);
        (market.trades(p, 0, u64::MAX, limit, true), bids.first().map(|l| l.0), asks.first().map(|l| l.0))
    };
    json(StatusCode::OK, market_trades_json(spec, &trades, bid, ask))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{market::Side, products::product_specs};

    #[test]
    fn limit_is_required_and_bounded() {
        assert_eq!(limit(Some("limit=1")), Ok(1));
        assert_eq!(limit(Some("start=1&limit=1000&end=2")), Ok(1000));
        for bad in [None, Some(""), Some("limit=0"), Some("limit=1001"), Some("limit=x"), Some("limit="), Some("nolimit=5")] {
            assert!(limit(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bodies_are_advanced_trade_shaped_json() {
        let spec = &product_specs(1)[0];
        let p: serde_json::Value = serde_json::from_str(&product_json(spec, Some(6_700_123))).unwrap();
        assert_eq!(
            (p["product_id"].as_str(), p["base_currency_id"].as_str(), p["quote_currency_id"].as_str()),
            (Some("BTC-USD"), Some("BTC"), Some("USD"))
        );
        assert_eq!(
            (p["price"].as_str(), p["quote_increment"].as_str(), p["product_type"].as_str()),
            (Some("67001.23"), Some("0.01"), Some("SPOT"))
        );
        let t = TradeRec { id: 42, time_ns: 1_767_225_600_123_456_000, price: 6_700_000, size: 150_000_000, maker: Side::Sell };
        let v: serde_json::Value = serde_json::from_str(&market_trades_json(spec, &[t], Some(6_699_999), None)).unwrap();
        let t0 = &v["trades"][0];
        assert_eq!(t0["trade_id"], "42");
        assert_eq!((t0["price"].as_str(), t0["size"].as_str(), t0["side"].as_str()), (Some("67000.00"), Some("1.50000000"), Some("SELL")));
        assert_eq!(t0["time"], "2026-01-01T00:00:00.123456Z");
        assert_eq!((v["best_bid"].as_str(), v["best_ask"].as_str()), (Some("66999.99"), Some("")));
        let empty: serde_json::Value = serde_json::from_str(&market_trades_json(spec, &[], None, None)).unwrap();
        assert_eq!(empty["trades"], serde_json::json!([]));
    }
}
