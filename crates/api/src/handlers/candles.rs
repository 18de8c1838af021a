//! `GET /api/v1/candles` and `GET /api/v1/candles/latest`.

use axum::{extract::RawQuery, Json};
use marketpipe_model::InstrumentKey;
use marketpipe_store::CandleQuery;

use super::{known_product, no_data, Shared};
use crate::{
    dto::{CandleDto, Candles, LatestCandle},
    error::ApiError,
    fill::{arrange, Keep},
    params::Params,
};

const PARAMS: &[&str] = &["exchange", "symbol", "interval", "start", "end", "limit", "fill"];
const LATEST_PARAMS: &[&str] = &["exchange", "symbol", "interval"];

/// Candles of one product and interval, ascending by start. `start` is
/// inclusive, `end` exclusive (both bound the window start); with `start`
/// the first `limit` candles from there, without it the latest `limit`
/// before `end` (or overall). `fill=true` adds empty candles for missing
/// windows as [`crate::fill`] describes.
pub(crate) async fn candles(axum::extract::State(app): Shared, RawQuery(query): RawQuery) -> Result<Json<Candles>, ApiError> {
    let params = Params::parse(query.as_deref(), "/api/v1/candles", PARAMS)?;
    params.require(&["exchange", "symbol", "interval"])?;
    let key = InstrumentKey::new(params.exchange()?, params.symbol()?);
    let interval = params.interval()?;
    let start = params.time("start")?;
    let end = params.time("end")?;
    if let (Some(s), Some(e)) = (start, end) {
        if s >= e {
            return Err(ApiError::bad_request("invalid_range", format!("start ({s}) must be before end ({e}); end is exclusive")));
        }
    }
    let limit = params.count("limit", app.config.default_limit, app.config.max_limit)?;
    let fill = params.flag("fill")?;

    known_product(&*app.store, &key).await?;
    let query = CandleQuery { instrument: key.clone(), interval, start, end, limit };
    let real = app.store.candles(&query).await.map_err(ApiError::store)?;
    let keep = if start.is_some() { Keep::First } else { Keep::Last };
    let slots = arrange(&real, interval, end, limit, keep, fill);
    let candles = slots.iter().map(|s| CandleDto::slot(s, fill)).collect();
    Ok(Json(Candles::new(&key, interval, candles)))
}

/// The newest candle of one product and interval, final or not; 404
/// `no_data` when the product has none yet.
pub(crate) async fn latest(axum::extract::State(app): Shared, RawQuery(query): RawQuery) -> Result<Json<LatestCandle>, ApiError> {
    let params = Params::parse(query.as_deref(), "/api/v1/candles/latest", LATEST_PARAMS)?;
    params.require(&["exchange", "symbol", "interval"])?;
    let key = InstrumentKey::new(params.exchange()?, params.symbol()?);
    let interval = params.interval()?;
    known_product(&*app.store, &key).await?;
    match app.store.latest_candle(&key, interval).await.map_err(ApiError::store)? {
        Some(candle) => Ok(Json(LatestCandle::new(&key, interval, &candle))),
        None => Err(no_data(&format!("{interval} candle"), &key)),
    }
}
