//! `GET /api/v3/brokerage/market/products/{product_id}/ticker?limit=N`
//! ("Get Public Market Trades"): a product's most recent trades, newest
//! first, and its best bid and ask.

use marketpipe_model::{InstrumentKey, MarketEvent, Price, Qty, Side, Ticker, Timestamp, Trade, TradeId};
use serde::Deserialize;

use super::de::{self, json_error, OptStr};
use crate::{wire::registry::Registry, DecodeError};

/// The response: up to `limit` trades (newest first) and the product's
/// current best bid and ask (`""` when a side is empty).
///
/// See <https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/public/get-public-market-trades>
///
/// ```json
/// {
///   "trades": [
///     {
///       "trade_id": "995098663",
///       "product_id": "BTC-USD",
///       "price": "68923.67",
///       "size": "0.00064",
///       "time": "2026-04-07T00:28:58.544778Z",
///       "side": "SELL",
///       "bid": "",
///       "ask": "",
///       "exchange": "coinbase"
///     }
///   ],
///   "best_bid": "68923.66",
///   "best_ask": "68923.67"
/// }
/// ```
#[derive(Debug, Deserialize)]
struct MarketTradesWire<'a> {
    /// The trades, newest first. Required: a body without it is not a
    /// trades page (an error object, say).
    #[serde(borrow, default)]
    trades: Option<Vec<MarketTradeWire<'a>>>,
    /// Best bid price, or `""`.
    #[serde(borrow, default)]
    best_bid: OptStr<'a>,
    /// Best ask price, or `""`.
    #[serde(borrow, default)]
    best_ask: OptStr<'a>,
}

/// One trade of the page.
///
/// `side` is the **maker's** side, as on Coinbase Exchange (both APIs
/// report the same matching engine's trades): `"SELL"` means a resting
/// sell order was lifted by a buyer, so the taker side is `Buy`. The docs
/// list only `BUY`/`SELL` without saying whose side it is; see the module
/// docs of [`super`] for the evidence behind this reading. The per-trade
/// `bid`/`ask` (always `""` on public trades) and `exchange` are not needed
/// and not declared.
#[derive(Debug, Deserialize)]
struct MarketTradeWire<'a> {
    /// Trade id: a decimal string on spot products.
    #[serde(borrow, default)]
    trade_id: OptStr<'a>,
    /// Native product id; must be the one requested (or its alias).
    #[serde(borrow, default)]
    product_id: OptStr<'a>,
    /// Execution price.
    #[serde(borrow, default)]
    price: OptStr<'a>,
    /// Executed size, base currency.
    #[serde(borrow, default)]
    size: OptStr<'a>,
    /// Exchange time, RFC 3339.
    #[serde(borrow, default)]
    time: OptStr<'a>,
    /// The maker's side, `BUY` or `SELL`.
    #[serde(borrow, default)]
    side: OptStr<'a>,
}

/// A validated trade, waiting for its product key.
#[derive(Debug)]
struct TradeBody {
    id: TradeId,
    price: Price,
    size: Qty,
    taker_side: Side,
    time: Timestamp,
}

impl MarketTradeWire<'_> {
    /// Checks every field; `same_book` says whether the named product
    /// belongs to the page requested.
    fn validate(&self, same_book: impl Fn(&str) -> bool) -> Result<TradeBody, DecodeError> {
        let named = de::required(self.product_id.get(), "product_id")?;
        if !same_book(named) {
            return Err(DecodeError::BadField { field: "product_id", detail: format!("a trade of {} on this page", de::snippet(named)) });
        }
        Ok(TradeBody {
            id: de::trade_id(de::required(self.trade_id.get(), "trade_id")?, "trade_id")?,
            price: de::price(de::required(self.price.get(), "price")?, "price")?,
            size: de::trade_size(de::required(self.size.get(), "size")?, "size")?,
            taker_side: de::taker_side_from_maker(de::required(self.side.get(), "side")?, "side")?,
            time: de::time(de::required(self.time.get(), "time")?, "time")?,
        })
    }
}

impl TradeBody {
    fn into_trade(self, instrument: InstrumentKey, recv_time: Timestamp) -> Trade {
        Trade { instrument, id: self.id, price: self.price, size: self.size, taker_side: self.taker_side, time: self.time, recv_time }
    }
}

/// Decodes a market trades page into its trades, oldest first by (time,
/// trade id) whatever order the page lists them in, followed by a
/// [`Ticker`] with the best bid and ask and the newest trade's price and
/// size (the response gives no time for its quote, so the ticker's `time`
/// is the newest trade's, or `None` on a page without trades; no ticker at
/// all when the page has neither trades nor a quote).
///
/// All or nothing, like Coinbase Exchange's REST trades: a page with one
/// unusable trade is rejected whole, since forwarding the rest would make a
/// hole look like a quiet moment.
pub(crate) fn market_trades(
    path_id: &str,
    body: &str,
    recv: Timestamp,
    registry: &mut Registry,
    out: &mut Vec<MarketEvent>,
) -> Result<(), DecodeError> {
    let resolved = registry.resolve(path_id)?;
    let wire: MarketTradesWire<'_> = serde_json::from_str(body).map_err(json_error)?;
    let trades = de::required(wire.trades.as_ref(), "trades")?;
    let mut bodies = trades.iter().map(|t| t.validate(|named| registry.same_book(path_id, named))).collect::<Result<Vec<_>, _>>()?;
    let best_bid = de::non_empty(wire.best_bid.get()).map(|s| de::price(s, "best_bid")).transpose()?;
    let best_ask = de::non_empty(wire.best_ask.get()).map(|s| de::price(s, "best_ask")).transpose()?;
    bodies.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    let last = bodies.last().map(|b| (b.time, b.price, b.size));

    let key = registry.commit(resolved, out);
    out.extend(bodies.into_iter().map(|b| MarketEvent::Trade(b.into_trade(key.clone(), recv))));
    if last.is_some() || best_bid.is_some() || best_ask.is_some() {
        let mut ticker = Ticker::empty(key, recv);
        ticker.time = last.map(|(t, _, _)| t);
        ticker.last_price = last.map(|(_, p, _)| p);
        ticker.last_size = last.map(|(_, _, s)| s);
        ticker.best_bid = best_bid;
        ticker.best_ask = best_ask;
        out.push(MarketEvent::Ticker(Box::new(ticker)));
    }
    Ok(())
}

/// Just the trade ids of a page, for a poller's bookkeeping.
#[derive(Debug, Deserialize)]
struct IdsWire<'a> {
    #[serde(borrow, default)]
    trades: Option<Vec<IdWire<'a>>>,
}

/// One trade's id.
#[derive(Debug, Deserialize)]
struct IdWire<'a> {
    #[serde(borrow, default)]
    trade_id: OptStr<'a>,
}

/// The trade ids of a market trades page, in page order, checked as the
/// decoder checks them. Cheap: nothing else of the page is read or
/// validated, so a page that passes here may still fail to decode.
pub(crate) fn market_trade_ids(body: &str) -> Result<Vec<TradeId>, DecodeError> {
    let wire: IdsWire<'_> = serde_json::from_str(body).map_err(json_error)?;
    de::required(wire.trades, "trades")?.iter().map(|t| de::trade_id(de::required(t.trade_id.get(), "trade_id")?, "trade_id")).collect()
}
