//! The Binance REST endpoints the runtime uses, and the websocket upgrade,
//! on one port (<https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md>):
//!
//! - `GET /api/v3/ping`, `GET /api/v3/time`
//! - `GET /api/v3/exchangeInfo[?symbol=X | ?symbols=["X","Y"]]`
//! - `GET /api/v3/depth?symbol=X[&limit=N]`: `limit` default 100, at most
//!   5000 (more is served as 5000); `lastUpdateId` is read with the book
//!   under the market lock, so it joins the `depthUpdate` stream exactly.
//! - `GET /api/v3/aggTrades?symbol=X[&fromId=][&startTime=][&endTime=][&limit=]`:
//!   ascending; from `fromId` on, or within the time range, or else the
//!   most recent `limit` (default 500, at most 1000).
//!
//! Errors are Binance's: HTTP 400 with `{"code":-1121,"msg":"Invalid
//! symbol."}`, `-1102` for a missing mandatory parameter, `-1100` for a
//! malformed number, `-1104` for a parameter the endpoint does not read,
//! `-1130` for an invalid value, `-1127`/`-1128` for bad combinations.
//!
//! Websocket: `/stream[?streams=a/b/c]` (combined: frames wrapped with
//! their stream name) and `/ws[/<stream>]` (raw payloads). Other paths are
//! 404.

use std::{borrow::Cow, sync::Arc};

use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, WebSocketUpgrade},
        RawQuery, State,
    },
    http::{StatusCode, Uri},
    response::Response,
    routing::get,
    Router,
};

use super::{
    request::{self, Target, MAX_STREAMS},
    wire, Session,
};
use crate::{
    dialect::{json, Proto},
    generator::now_ns,
    hub::{Counters, Hub},
    market::TradeRec,
    session,
    text::{millis, param, query_pairs},
};

/// Default depth snapshot size.
const DEPTH_DEFAULT: usize = 100;
/// Largest depth snapshot.
const DEPTH_MAX: usize = 5000;
/// Default aggTrades page.
const AGG_DEFAULT: usize = 500;
/// Largest aggTrades page.
const AGG_MAX: usize = 1000;
/// Longest startTime..endTime range of aggTrades, in milliseconds.
const AGG_MAX_RANGE_MS: u64 = 60 * 60 * 1000;

/// The HTTP service.
pub(crate) fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/api/v3/ping", get(ping))
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/depth", get(depth))
        .route("/api/v3/aggTrades", get(agg_trades))
        .fallback(websocket_or_404)
        .with_state(hub)
}

/// A Binance error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Error(i64, String);

impl Error {
    fn response(&self) -> Response {
        json(StatusCode::BAD_REQUEST, wire::rest_error(self.0, &self.1))
    }
}

type Pairs<'q> = Vec<(Cow<'q, str>, Cow<'q, str>)>;

/// Rejects parameters the endpoint does not read, as Binance does.
fn only(pairs: &Pairs<'_>, known: &[&str]) -> Result<(), Error> {
    let read = pairs.iter().filter(|(k, _)| known.contains(&k.as_ref())).count();
    if read == pairs.len() {
        Ok(())
    } else {
        Err(Error(-1104, format!("Not all sent parameters were read; read '{read}' parameter(s) but was sent '{}'.", pairs.len())))
    }
}

/// A mandatory `symbol`, as a product index.
fn symbol(hub: &Hub, pairs: &Pairs<'_>) -> Result<usize, Error> {
    match param(pairs, "symbol") {
        None | Some("") => Err(Error(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.".into())),
        Some(s) => hub.product_index(s).ok_or_else(|| Error(-1121, "Invalid symbol.".into())),
    }
}

/// An optional unsigned integer parameter.
fn number(pairs: &Pairs<'_>, name: &str) -> Result<Option<u64>, Error> {
    match param(pairs, name) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| Error(-1100, format!("Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."))),
    }
}

/// `limit`: `default` when absent; 0 is invalid; above `max` it is
/// `Err` (aggTrades) or capped (depth).
fn limit(pairs: &Pairs<'_>, default: usize, max: usize, cap: bool) -> Result<usize, Error> {
    let invalid = || Error(-1130, "Data sent for parameter 'limit' is not valid.".into());
    match number(pairs, "limit")? {
        None => Ok(default),
        Some(0) => Err(invalid()),
        Some(n) => match usize::try_from(n).ok().filter(|&n| n <= max) {
            Some(n) => Ok(n),
            None if cap => Ok(max),
            None => Err(invalid()),
        },
    }
}

async fn ping(State(hub): State<Arc<Hub>>) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    json(StatusCode::OK, "{}".into())
}

async fn time(State(hub): State<Arc<Hub>>) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    json(StatusCode::OK, format!(r#"{{"serverTime":{}}}"#, millis(now_ns())))
}

async fn exchange_info(State(hub): State<Arc<Hub>>, RawQuery(query): RawQuery) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    match info_filter(&hub, query.as_deref()) {
        Ok(products) => json(StatusCode::OK, wire::exchange_info(products.iter().filter_map(|&p| hub.specs.get(p)), millis(now_ns()))),
        Err(e) => e.response(),
    }
}

/// The products an exchangeInfo request asks for: all, `symbol=X`, or
/// `symbols=["X","Y"]`.
fn info_filter(hub: &Hub, query: Option<&str>) -> Result<Vec<usize>, Error> {
    let pairs = query_pairs(query);
    only(&pairs, &["symbol", "symbols", "permissions", "showPermissionSets", "symbolStatus"])?;
    let one = param(&pairs, "symbol");
    let many = param(&pairs, "symbols");
    match (one, many) {
        (Some(_), Some(_)) => Err(Error(-1128, "Combination of optional parameters invalid.".into())),
        (Some(_), None) => symbol(hub, &pairs).map(|p| vec![p]),
        (None, Some(list)) => {
            let names: Vec<String> = serde_json::from_str(list)
                .map_err(|_| Error(-1100, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.".into()))?;
            names.iter().map(|n| hub.product_index(n).ok_or_else(|| Error(-1121, "Invalid symbol.".into()))).collect()
        }
        (None, None) => Ok((0..hub.specs.len()).collect()),
    }
}

async fn depth(State(hub): State<Arc<Hub>>, RawQuery(query): RawQuery) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    let pairs = query_pairs(query.as_deref());
    let parsed =
        only(&pairs, &["symbol", "limit"]).and_then(|()| Ok((symbol(&hub, &pairs)?, limit(&pairs, DEPTH_DEFAULT, DEPTH_MAX, true)?)));
    let (p, limit) = match parsed {
        Ok(v) => v,
        Err(e) => return e.response(),
    };
    let Some(spec) = hub.specs.get(p) else { return Error(-1121, "Invalid symbol.".into()).response() };
    // The book and its update id at one point of the market.
    let (id, mut bids, mut asks) = {
        let market = hub.market();
        let (bids, asks) = market.book(p);
        (market.book_seq(p), bids, asks)
    };
    bids.truncate(limit);
    asks.truncate(limit);
    json(StatusCode::OK, wire::depth_snapshot(spec, id, &bids, &asks))
}

/// An aggTrades request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AggQuery {
    product: usize,
    from_id: Option<u64>,
    start_ms: Option<u64>,
    end_ms: Option<u64>,
    limit: usize,
}

fn agg_query(hub: &Hub, query: Option<&str>) -> Result<AggQuery, Error> {
    let pairs = query_pairs(query);
    only(&pairs, &["symbol", "fromId", "startTime", "endTime", "limit"])?;
    let q = AggQuery {
        product: symbol(hub, &pairs)?,
        from_id: number(&pairs, "fromId")?,
        start_ms: number(&pairs, "startTime")?,
        end_ms: number(&pairs, "endTime")?,
        limit: limit(&pairs, AGG_DEFAULT, AGG_MAX, false)?,
    };
    if q.from_id.is_some() && (q.start_ms.is_some() || q.end_ms.is_some()) {
        return Err(Error(-1128, "Combination of optional parameters invalid.".into()));
    }
    if let (Some(start), Some(end)) = (q.start_ms, q.end_ms) {
        if end < start || end - start > AGG_MAX_RANGE_MS {
            return Err(Error(-1127, "More than 1 hours between startTime and endTime.".into()));
        }
    }
    Ok(q)
}

/// The trades a query selects from the kept history (oldest first, ids
/// consecutive), ascending.
fn select(history: impl DoubleEndedIterator<Item = TradeRec> + Clone, q: &AggQuery) -> Vec<TradeRec> {
    let in_range = |t: &TradeRec| {
        let ms = millis(t.time_ns);
        q.start_ms.is_none_or(|s| ms >= s) && q.end_ms.is_none_or(|e| ms <= e)
    };
    match (q.from_id, q.start_ms) {
        (Some(from), _) => history.filter(|t| t.id >= from).take(q.limit).collect(),
        (None, Some(_)) => history.filter(in_range).take(q.limit).collect(),
        (None, None) => {
            let mut newest: Vec<TradeRec> = history.rev().filter(in_range).take(q.limit).collect();
            newest.reverse();
            newest
        }
    }
}

async fn agg_trades(State(hub): State<Arc<Hub>>, RawQuery(query): RawQuery) -> Response {
    Counters::bump(&hub.counters.rest_requests);
    let q = match agg_query(&hub, query.as_deref()) {
        Ok(q) => q,
        Err(e) => return e.response(),
    };
    let Some(spec) = hub.specs.get(q.product) else { return Error(-1121, "Invalid symbol.".into()).response() };
    let page = {
        let market = hub.market();
        match market.history(q.product) {
            // Ids are consecutive: skip straight to `fromId`.
            Some(h) => {
                let skip = q.from_id.and_then(|from| h.front().map(|t| from.saturating_sub(t.id))).unwrap_or(0);
                let skip = usize::try_from(skip).unwrap_or(usize::MAX).min(h.len());
                select(h.range(skip..).copied(), &q)
            }
            None => Vec::new(),
        }
    };
    json(StatusCode::OK, wire::agg_trades(spec, &page))
}

/// The streams named in a connect URL, and whether frames are wrapped
/// (`/stream`) or bare (`/ws`).
type UrlStreams = (Vec<(String, Target)>, bool);

/// The streams of a websocket URL. `None` for a path that is not a stream
/// endpoint; `Err` for streams the connection cannot have.
fn ws_streams(hub: &Hub, path: &str, query: Option<&str>) -> Option<Result<UrlStreams, Error>> {
    let (names, combined): (Vec<&str>, bool) = match path.trim_end_matches('/') {
        "/stream" => {
            let pairs = query_pairs(query);
            let list = param(&pairs, "streams").unwrap_or_default().to_owned();
            return Some(parse_names(hub, list.split('/').filter(|s| !s.is_empty()).collect(), true));
        }
        "/ws" => (Vec::new(), false),
        p => (p.strip_prefix("/ws/")?.split('/').filter(|s| !s.is_empty()).collect(), false),
    };
    Some(parse_names(hub, names, combined))
}

fn parse_names(hub: &Hub, names: Vec<&str>, combined: bool) -> Result<UrlStreams, Error> {
    let mut parsed = Vec::with_capacity(names.len());
    for name in names {
        parsed.push(request::parse_stream(name, |id| hub.product_index(id)).map_err(|msg| Error(-1100, msg))?);
    }
    parsed.sort_by(|a, b| a.0.cmp(&b.0));
    parsed.dedup_by(|a, b| a.0 == b.0);
    if parsed.len() > MAX_STREAMS {
        return Err(Error(-1100, format!("Too many streams: at most {MAX_STREAMS} per connection")));
    }
    Ok((parsed, combined))
}

async fn websocket_or_404(State(hub): State<Arc<Hub>>, uri: Uri, ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    let not_found = || json(StatusCode::NOT_FOUND, wire::rest_error(-1, "Not found."));
    let Ok(ws) = ws else { return not_found() };
    match ws_streams(&hub, uri.path(), uri.query()) {
        None => not_found(),
        Some(Err(e)) => {
            Counters::bump(&hub.counters.refused);
            e.response()
        }
        Some(Ok((streams, combined))) => {
            let guard = hub.session_guard();
            let proto = Proto::Binance(Session::new(hub.specs.len(), streams, combined));
            ws.max_message_size(session::MAX_CLIENT_MESSAGE).on_upgrade(move |socket| session::run(hub, socket, guard, proto))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::Side;

    fn trades(ids: std::ops::RangeInclusive<u64>) -> Vec<TradeRec> {
        ids.map(|id| TradeRec { id, time_ns: id as i64 * 1_000_000, price: 1, size: 1, maker: Side::Buy }).collect()
    }

    fn ids(v: &[TradeRec]) -> Vec<u64> {
        v.iter().map(|t| t.id).collect()
    }

    #[test]
    fn agg_trade_selection() {
        let h = trades(10..=19);
        let q = |from_id, start_ms, end_ms, limit| AggQuery { product: 0, from_id, start_ms, end_ms, limit };
        assert_eq!(ids(&select(h.iter().copied(), &q(None, None, None, 3))), [17, 18, 19], "most recent, ascending");
        assert_eq!(ids(&select(h.iter().copied(), &q(Some(12), None, None, 3))), [12, 13, 14]);
        assert_eq!(ids(&select(h.iter().copied(), &q(Some(99), None, None, 3))), Vec::<u64>::new());
        assert_eq!(ids(&select(h.iter().copied(), &q(None, Some(15), None, 2))), [15, 16]);
        assert_eq!(ids(&select(h.iter().copied(), &q(None, Some(15), Some(16), 9))), [15, 16]);
        assert_eq!(ids(&select(h.iter().copied(), &q(None, None, Some(12), 2))), [11, 12]);
    }

    #[test]
    fn parameters_fail_as_on_binance() {
        let pairs = query_pairs(Some("symbol=BTCUSDT&limit=abc&x=1"));
        assert_eq!(only(&pairs, &["symbol", "limit"]).unwrap_err().0, -1104);
        assert_eq!(limit(&pairs, 100, 5000, true).unwrap_err().0, -1100);
        let lim = |q: &str, max, cap| limit(&query_pairs(Some(q)), 100, max, cap);
        assert_eq!(lim("limit=0", 1000, false).unwrap_err().0, -1130);
        assert_eq!(lim("limit=1001", 1000, false).unwrap_err().0, -1130);
        assert_eq!(lim("limit=9999", 5000, true), Ok(5000));
        assert_eq!(lim("", 5000, true), Ok(100));
        assert_eq!(number(&query_pairs(Some("fromId=-1")), "fromId").unwrap_err().0, -1100);
    }
}
