//! Binance spot frames and REST bodies, rendered by hand.
//!
//! Shapes follow <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md>
//! and `rest-api.md`, and the decoder in `marketpipe-venues`
//! (`binance/*.rs`): combined-stream frames are `{"stream":…,"data":…}`
//! with `stream` first and `data` last (the decoder's fast path reads that
//! layout), payload keys in Binance's order, decimals as strings with 8
//! fraction digits as Binance prints them, times in epoch milliseconds.

use std::fmt::Write as _;

use crate::{
    market::{Change, Side, Stats, Top, TradeRec},
    products::ProductSpec,
    text::{millis, push_fixed, push_json_string, push_size},
};

/// Binance prints prices and quantities with 8 fraction digits.
const DECIMALS: u32 = 8;

/// Appends a price as a quoted decimal with 8 fraction digits.
fn push_price(out: &mut String, spec: &ProductSpec, ticks: u64) {
    out.push('"');
    // Ticks to units of 1e-8: exact, the tick is at least 1e-8.
    let scale = spec.price_scale.min(DECIMALS);
    push_fixed(out, u128::from(ticks) * 10u128.pow(DECIMALS - scale), DECIMALS);
    out.push('"');
}

/// A stream name: `btcusdt@aggTrade`.
pub(crate) fn stream(lower_symbol: &str, channel: &str) -> String {
    format!("{lower_symbol}@{channel}")
}

/// Wraps a payload for the combined endpoint. Returns the frame and where
/// the payload starts in it.
pub(crate) fn wrap(stream: &str, payload: &str) -> (String, usize) {
    let mut s = String::with_capacity(stream.len() + payload.len() + 22);
    s.push_str(r#"{"stream":""#);
    s.push_str(stream);
    s.push_str(r#"","data":"#);
    let at = s.len();
    s.push_str(payload);
    s.push('}');
    (s, at)
}

/// `aggTrade`: one trade. `m` is "the buyer is the maker": a resting bid
/// was hit, so the taker sold. The sim's trades are single fills, so the
/// first and last raw trade ids (`f`, `l`) are the aggregate id itself.
pub(crate) fn agg_trade(spec: &ProductSpec, t: &TradeRec, event_ms: u64) -> String {
    let mut s = String::with_capacity(200);
    let _ = write!(s, r#"{{"e":"aggTrade","E":{event_ms},"s":"{}","a":{},"p":"#, spec.id, t.id);
    push_price(&mut s, spec, t.price);
    s.push_str(r#","q":"#);
    push_size(&mut s, t.size);
    let _ = write!(s, r#","f":{id},"l":{id},"T":{},"m":{},"M":true}}"#, millis(t.time_ns), t.maker == Side::Buy, id = t.id);
    s
}

/// The entries of `GET /api/v3/aggTrades`, oldest first.
pub(crate) fn agg_trades(spec: &ProductSpec, trades: &[TradeRec]) -> String {
    let mut s = String::with_capacity(2 + 140 * trades.len());
    s.push('[');
    for (i, t) in trades.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, r#"{{"a":{},"p":"#, t.id);
        push_price(&mut s, spec, t.price);
        s.push_str(r#","q":"#);
        push_size(&mut s, t.size);
        let _ = write!(s, r#","f":{id},"l":{id},"T":{},"m":{},"M":true}}"#, millis(t.time_ns), t.maker == Side::Buy, id = t.id);
    }
    s.push(']');
    s
}

/// Appends `[["price","qty"],...]`.
fn push_levels<'a>(s: &mut String, spec: &ProductSpec, levels: impl Iterator<Item = (u64, u64)> + 'a) {
    s.push('[');
    for (i, (price, size)) in levels.enumerate() {
        s.push_str(if i == 0 { "[" } else { ",[" });
        push_price(s, spec, price);
        s.push(',');
        push_size(s, size);
        s.push(']');
    }
    s.push(']');
}

/// `depthUpdate`: the changes of update ids `first..=last`, bids then asks,
/// each with its new absolute quantity (`0` removes the level).
pub(crate) fn depth_update(spec: &ProductSpec, changes: &[Change], first: u64, last: u64, event_ms: u64) -> String {
    let mut s = String::with_capacity(120 + 48 * changes.len());
    let _ = write!(s, r#"{{"e":"depthUpdate","E":{event_ms},"s":"{}","U":{first},"u":{last},"b":"#, spec.id);
    let side = |side: Side| changes.iter().filter(move |c| c.side == side).map(|c| (c.price, c.size));
    push_levels(&mut s, spec, side(Side::Buy));
    s.push_str(r#","a":"#);
    push_levels(&mut s, spec, side(Side::Sell));
    s.push('}');
    s
}

/// The body of `GET /api/v3/depth`: the book as of `last_update_id`, best
/// levels first.
pub(crate) fn depth_snapshot(spec: &ProductSpec, last_update_id: u64, bids: &[(u64, u64)], asks: &[(u64, u64)]) -> String {
    let mut s = String::with_capacity(64 + 48 * (bids.len() + asks.len()));
    let _ = write!(s, r#"{{"lastUpdateId":{last_update_id},"bids":"#);
    push_levels(&mut s, spec, bids.iter().copied());
    s.push_str(r#","asks":"#);
    push_levels(&mut s, spec, asks.iter().copied());
    s.push('}');
    s
}

/// `bookTicker`: the best bid and ask as of book update id `update_id`
/// (spot sends no event type and no time).
pub(crate) fn book_ticker(spec: &ProductSpec, top: &Top, update_id: u64) -> String {
    let mut s = String::with_capacity(140);
    let _ = write!(s, r#"{{"u":{update_id},"s":"{}","b":"#, spec.id);
    push_price(&mut s, spec, top.bid.0);
    s.push_str(r#","B":"#);
    push_size(&mut s, top.bid.1);
    s.push_str(r#","a":"#);
    push_price(&mut s, spec, top.ask.0);
    s.push_str(r#","A":"#);
    push_size(&mut s, top.ask.1);
    s.push('}');
    s
}

/// The payload of `!miniTicker@arr`: a `24hrMiniTicker` per product.
pub(crate) fn mini_tickers<'a>(items: impl Iterator<Item = (&'a ProductSpec, &'a Stats)>, event_ms: u64) -> String {
    let mut s = String::from("[");
    for (i, (spec, st)) in items.enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, r#"{{"e":"24hrMiniTicker","E":{event_ms},"s":"{}","c":"#, spec.id);
        push_price(&mut s, spec, st.last);
        for (key, ticks) in [(r#","o":"#, st.open), (r#","h":"#, st.high), (r#","l":"#, st.low)] {
            s.push_str(key);
            push_price(&mut s, spec, ticks);
        }
        s.push_str(r#","v":"#);
        push_size(&mut s, st.volume);
        // Ticks × units has price_scale + 8 decimals; Binance shows 8.
        s.push_str(r#","q":""#);
        let quote = st.quote_volume / 10u128.pow(spec.price_scale);
        push_fixed(&mut s, quote, DECIMALS);
        s.push_str("\"}");
    }
    s.push(']');
    s
}

/// The body of `GET /api/v3/exchangeInfo` for `specs`.
pub(crate) fn exchange_info<'a>(specs: impl Iterator<Item = &'a ProductSpec>, server_ms: u64) -> String {
    let mut s = format!(
        concat!(
            r#"{{"timezone":"UTC","serverTime":{},"rateLimits":["#,
            r#"{{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000}},"#,
            r#"{{"rateLimitType":"ORDERS","interval":"SECOND","intervalNum":10,"limit":100}},"#,
            r#"{{"rateLimitType":"RAW_REQUESTS","interval":"MINUTE","intervalNum":5,"limit":61000}}],"#,
            r#""exchangeFilters":[],"symbols":["#
        ),
        server_ms
    );
    for (i, spec) in specs.enumerate() {
        if i > 0 {
            s.push(',');
        }
        let mut tick = String::new();
        push_fixed(&mut tick, 10u64.pow(DECIMALS - spec.price_scale.min(DECIMALS)), DECIMALS);
        let _ = write!(
            s,
            concat!(
                r#"{{"symbol":"{id}","status":"TRADING","baseAsset":"{base}","baseAssetPrecision":8,"#,
                r#""quoteAsset":"{quote}","quotePrecision":8,"quoteAssetPrecision":8,"#,
                r#""baseCommissionPrecision":8,"quoteCommissionPrecision":8,"#,
                r#""orderTypes":["LIMIT","LIMIT_MAKER","MARKET","STOP_LOSS_LIMIT","TAKE_PROFIT_LIMIT"],"#,
                r#""icebergAllowed":true,"ocoAllowed":true,"otoAllowed":true,"quoteOrderQtyMarketAllowed":true,"#,
                r#""allowTrailingStop":true,"cancelReplaceAllowed":true,"isSpotTradingAllowed":true,"#,
                r#""isMarginTradingAllowed":false,"filters":["#,
                r#"{{"filterType":"PRICE_FILTER","minPrice":"{tick}","maxPrice":"1000000.00000000","tickSize":"{tick}"}},"#,
                r#"{{"filterType":"LOT_SIZE","minQty":"0.00000001","maxQty":"9000000.00000000","stepSize":"0.00000001"}},"#,
                r#"{{"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"#,
                r#""maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5}}],"#,
                r#""permissions":[],"permissionSets":[["SPOT"]],"defaultSelfTradePreventionMode":"EXPIRE_MAKER","#,
                r#""allowedSelfTradePreventionModes":["EXPIRE_TAKER","EXPIRE_MAKER","EXPIRE_BOTH"]}}"#
            ),
            id = spec.id,
            base = spec.base,
            quote = spec.quote,
            tick = tick,
        );
    }
    s.push_str("]}");
    s
}

/// The reply to a request: `{"result":RESULT,"id":ID}`; `result` and `id`
/// are JSON text (`null`, `true`, a list; the request's id verbatim).
pub(crate) fn reply(result: &str, id: &str) -> String {
    format!(r#"{{"result":{result},"id":{id}}}"#)
}

/// The `result` of `LIST_SUBSCRIPTIONS`.
pub(crate) fn stream_list<'a>(streams: impl Iterator<Item = &'a str>) -> String {
    let mut s = String::from("[");
    for (i, name) in streams.enumerate() {
        if i > 0 {
            s.push(',');
        }
        push_json_string(&mut s, name);
    }
    s.push(']');
    s
}

/// A request's error: `{"error":{"code":2,"msg":"…"},"id":ID}`.
pub(crate) fn ws_error(code: i64, msg: &str, id: &str) -> String {
    let mut s = format!(r#"{{"error":{{"code":{code},"msg":"#);
    push_json_string(&mut s, msg);
    let _ = write!(s, r#"}},"id":{id}}}"#);
    s
}

/// A REST error body: `{"code":-1121,"msg":"Invalid symbol."}`.
pub(crate) fn rest_error(code: i64, msg: &str) -> String {
    let mut s = format!(r#"{{"code":{code},"msg":"#);
    push_json_string(&mut s, msg);
    s.push('}');
    s
}

/// A malformed frame to send beside a real one; `variant` picks the kind.
/// Any trade id in it is `trade_id`, one the client has already seen, and
/// nothing in it can pass for a book update (a decoder rejects the whole
/// frame before its book sync sees it).
pub(crate) fn malformed(variant: u32, original: &str, spec: &ProductSpec, trade_id: u64, time_ns: i64) -> String {
    let lower = spec.id.to_ascii_lowercase();
    let ms = millis(time_ns);
    match variant % 4 {
        0 => {
            // Truncated JSON: the frame cut in half (frames are ASCII).
            let cut = (original.len() / 2).max(1);
            original.get(..cut).unwrap_or("{").to_owned()
        }
        1 => format!(
            r#"{{"stream":"{lower}@aggTrade","data":{{"e":"aggTrade","E":{ms},"s":"{}","a":{trade_id},"p":"NaN","q":"1.00000000","f":{trade_id},"l":{trade_id},"T":{ms},"m":true,"M":true}}}}"#,
            spec.id
        ),
        2 => "<html><body><h1>502 Bad Gateway</h1></body></html>".to_owned(),
        _ => format!(
            r#"{{"stream":"{lower}@depth@100ms","data":{{"e":"depthUpdate","E":{ms},"s":"{}","U":1,"u":1,"b":[["-1.00","abc"]],"a":[]}}}}"#,
            spec.id
        ),
    }
}

#[cfg(test)]
mod tests {
    use marketpipe_model::{MarketEvent, Side as TakerSide, Timestamp};
    use marketpipe_venues::{binance::BinanceDecoder, Decoded, VenueDecoder};

    use super::*;
    use crate::products::product_specs_for;

    fn decoder(specs: &[ProductSpec]) -> BinanceDecoder {
        let mut d = BinanceDecoder::new();
        let mut out = Vec::new();
        d.decode_rest("http://127.0.0.1:1/api/v3/exchangeInfo", &exchange_info(specs.iter(), 0), Timestamp(0), &mut out).unwrap();
        d
    }

    /// A plausible event time.
    const MS: u64 = 1_767_225_600_000;

    fn ws(d: &mut BinanceDecoder, frame: &str) -> (Decoded, Vec<MarketEvent>) {
        let mut out = Vec::new();
        let decoded = d.decode_ws(frame, Timestamp(0), &mut out).unwrap_or_else(|e| panic!("{e}: {frame}"));
        (decoded, out)
    }

    #[test]
    fn products_come_from_exchange_info() {
        let specs = product_specs_for(marketpipe_model::Exchange::Binance, 12);
        let mut d = BinanceDecoder::new();
        let mut out = Vec::new();
        d.decode_rest("/api/v3/exchangeInfo", &exchange_info(specs.iter(), 1), Timestamp(0), &mut out).unwrap();
        assert_eq!(out.len(), 12);
        let p = d.product("BTCUSDT").unwrap();
        assert_eq!((p.key.symbol.as_str(), p.base.as_str(), p.quote.as_str()), ("BTC-USDT", "BTC", "USDT"));
        assert_eq!(d.product("x12usdt").unwrap().key.symbol.as_str(), "X12-USDT");
        let v: serde_json::Value = serde_json::from_str(&exchange_info(specs[9..].iter(), 1)).unwrap();
        assert_eq!(v["symbols"][0]["filters"][0]["tickSize"], "0.00001000", "DOGE ticks");
        assert_eq!(v["symbols"][0]["filters"][1]["stepSize"], "0.00000001");
    }

    #[test]
    fn the_book_joins_its_snapshot_and_trades_have_the_taker_side() {
        let specs = product_specs_for(marketpipe_model::Exchange::Binance, 2);
        let spec = &specs[0];
        let mut d = decoder(&specs);
        // A depth event before the snapshot is buffered; the snapshot joins it.
        let change = |side, price, size| Change { side, price, size };
        let (first, at) = wrap("btcusdt@depth@100ms", &depth_update(spec, &[change(Side::Buy, 6_699_990, 5)], 101, 101, MS));
        assert_eq!(&first[at..first.len() - 1], depth_update(spec, &[change(Side::Buy, 6_699_990, 5)], 101, 101, MS));
        assert!(ws(&mut d, &first).1.is_empty(), "buffered until a snapshot");
        assert_eq!(d.needs_snapshot().collect::<Vec<_>>(), ["BTCUSDT"]);
        let mut out = Vec::new();
        let snapshot = depth_snapshot(spec, 100, &[(6_699_999, 100_000_000)], &[(6_700_001, 2)]);
        d.decode_rest("/api/v3/depth?symbol=BTCUSDT&limit=1000", &snapshot, Timestamp(0), &mut out).unwrap();
        assert!(
            matches!(&out[..], [MarketEvent::BookSnapshot(s), MarketEvent::BookDelta(_)] if s.sequence == Some(100) && s.bids[0].price.to_string() == "66999.99000000")
        );
        let next =
            wrap("btcusdt@depth@100ms", &depth_update(spec, &[change(Side::Sell, 6_700_001, 0), change(Side::Buy, 1, 3)], 102, 103, MS)).0;
        let (_, events) = ws(&mut d, &next);
        let MarketEvent::BookDelta(delta) = &events[0] else { panic!("{events:?}") };
        assert_eq!((delta.sequence, delta.changes.len()), (Some(103), 2));
        assert!(matches!(d.book_state("BTCUSDT"), Some(marketpipe_venues::binance::BookSyncState::Synced { update_id: 103, .. })));

        let t = TradeRec { id: 42, time_ns: 1_767_225_600_123_456_789, price: 6_700_000, size: 150_000_000, maker: Side::Buy };
        let (decoded, events) = ws(&mut d, &wrap("btcusdt@aggTrade", &agg_trade(spec, &t, MS)).0);
        assert_eq!(decoded, Decoded::Market { msg: "aggTrade" });
        let MarketEvent::Trade(trade) = &events[0] else { panic!("{events:?}") };
        assert_eq!(trade.taker_side, TakerSide::Sell, "m=true: the buyer was the maker");
        assert_eq!(
            (trade.id.as_u64(), trade.price.to_string(), trade.size.to_string()),
            (Some(42), "67000.00000000".into(), "1.50000000".into())
        );
        assert_eq!(trade.time, Timestamp(1_767_225_600_123_000_000));
        let mut out = Vec::new();
        let page = agg_trades(spec, &[t, TradeRec { id: 43, maker: Side::Sell, ..t }]);
        d.decode_rest("/api/v3/aggTrades?symbol=BTCUSDT&fromId=42&limit=1000", &page, Timestamp(0), &mut out).unwrap();
        assert!(
            matches!(&out[..], [MarketEvent::Trade(a), MarketEvent::Trade(b)] if a.taker_side == TakerSide::Sell && b.taker_side == TakerSide::Buy)
        );
    }

    #[test]
    fn tickers_decode() {
        let specs = product_specs_for(marketpipe_model::Exchange::Binance, 2);
        let mut d = decoder(&specs);
        let top = Top { bid: (6_699_999, 3), ask: (6_700_001, 4) };
        let (_, events) = ws(&mut d, &wrap("btcusdt@bookTicker", &book_ticker(&specs[0], &top, 9)).0);
        let MarketEvent::Ticker(t) = &events[0] else { panic!("{events:?}") };
        assert_eq!(
            (t.best_bid.map(|p| p.to_string()), t.best_ask_size.map(|q| q.to_string())),
            (Some("66999.99000000".into()), Some("0.00000004".into()))
        );
        let stats = Stats {
            open: 6_700_000,
            high: 6_800_000,
            low: 6_600_000,
            last: 6_750_000,
            volume: 300_000_000,
            quote_volume: 6_750_000 * 300_000_000,
        };
        let arr = mini_tickers(specs.iter().zip([stats, stats].iter()), MS);
        let (decoded, events) = ws(&mut d, &wrap(crate::dialect::binance::request::MINI_TICKER_ARR, &arr).0);
        assert!(matches!(decoded, Decoded::Market { .. }), "{decoded:?}");
        assert_eq!(events.len(), 2);
        let MarketEvent::Ticker(t) = &events[0] else { panic!("{events:?}") };
        assert_eq!(t.last_price.map(|p| p.to_string()), Some("67500.00000000".into()));
        assert_eq!(t.volume_24h.map(|q| q.to_string()), Some("3.00000000".into()));
        let v: serde_json::Value = serde_json::from_str(&arr).unwrap();
        assert_eq!(v[0]["q"], "202500.00000000", "3 BTC at 67500");
    }

    #[test]
    fn control_replies_and_errors_decode() {
        let specs = product_specs_for(marketpipe_model::Exchange::Binance, 1);
        let mut d = decoder(&specs);
        assert_eq!(ws(&mut d, &reply("null", "1")).0, Decoded::Subscriptions { channels: vec![] });
        let listed = reply(&stream_list(["btcusdt@aggTrade", "!miniTicker@arr"].into_iter()), "3");
        let Decoded::Subscriptions { channels } = ws(&mut d, &listed).0 else { panic!() };
        assert_eq!(channels[0], ("aggTrade".to_owned(), vec!["BTCUSDT".to_owned()]));
        let Decoded::ExchangeError { message, reason } = ws(&mut d, &ws_error(2, "Invalid request: invalid stream x", "4")).0 else {
            panic!()
        };
        assert_eq!((message.as_str(), reason.as_deref()), ("Invalid request: invalid stream x", Some("code 2")));
        let mut out = Vec::new();
        let decoded = d.decode_rest("/api/v3/depth?symbol=NOPE", &rest_error(-1121, "Invalid symbol."), Timestamp(0), &mut out).unwrap();
        assert_eq!(decoded, Decoded::ExchangeError { message: "Invalid symbol.".into(), reason: Some("code -1121".into()) });
    }

    #[test]
    fn malformed_frames_fail_without_touching_the_book() {
        let specs = product_specs_for(marketpipe_model::Exchange::Binance, 1);
        let mut d = decoder(&specs);
        let mut out = Vec::new();
        d.decode_rest("/api/v3/depth?symbol=BTCUSDT", &depth_snapshot(&specs[0], 10, &[(1, 1)], &[(3, 1)]), Timestamp(0), &mut out)
            .unwrap();
        let t = TradeRec { id: 42, time_ns: 0, price: 6_700_000, size: 1, maker: Side::Buy };
        let original = wrap("btcusdt@aggTrade", &agg_trade(&specs[0], &t, MS)).0;
        for v in 0..4 {
            let bad = malformed(v, &original, &specs[0], 42, 0);
            assert!(d.decode_ws(&bad, Timestamp(0), &mut out).is_err(), "{bad}");
        }
        assert!(matches!(d.book_state("BTCUSDT"), Some(marketpipe_venues::binance::BookSyncState::Synced { update_id: 10, .. })));
    }
}
