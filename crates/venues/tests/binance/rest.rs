//! REST responses: exchangeInfo, the depth snapshot, aggregate trades, and
//! URL recognition.

use marketpipe_model::{Exchange, MarketEvent, Side, Timestamp, TradeId};
use marketpipe_venues::{
    binance::{BinanceDecoder, BookSyncState},
    DecodeError, Decoded,
};

use crate::support::{dec, depth, fixture, rest, snapshot, trace, with_products, ws, DEPTH_URL, INFO_URL, RECV};

const TRADES_URL: &str = "https://api.binance.com/api/v3/aggTrades?symbol=NKNUSDT&fromId=28457910&limit=1000";

#[test]
fn exchange_info_becomes_products_named_by_their_assets() {
    let mut d = BinanceDecoder::new();
    let (r, out) = rest(&mut d, INFO_URL, &fixture("rest_exchange_info.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "exchangeInfo" }));
    let products: Vec<_> = out
        .iter()
        .map(|e| match e {
            MarketEvent::Product(p) => (p.key.exchange, p.key.symbol.as_str(), p.native_symbol.as_str(), p.base.as_str(), p.quote.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        products,
        [
            (Exchange::Binance, "NKN-USDT", "NKNUSDT", "NKN", "USDT"),
            (Exchange::Binance, "BTC-USDT", "BTCUSDT", "BTC", "USDT"),
            (Exchange::Binance, "ETH-BTC", "ETHBTC", "ETH", "BTC"),
            // A symbol in BREAK keeps its name: its history still needs it.
            (Exchange::Binance, "BTC-BUSD", "BTCBUSD", "BTC", "BUSD"),
        ]
    );
    assert_eq!(d.product_count(), 4);
    assert_eq!(d.stats().skipped_symbols, 0);
    assert_eq!(d.product("nknusdt").map(|p| p.native_symbol.as_str()), Some("NKNUSDT"));
}

#[test]
fn unusable_exchange_info_entries_are_skipped_and_counted() {
    let mut d = BinanceDecoder::new();
    let body = r#"{"symbols":[
        {"symbol":"NKNUSDT","baseAsset":"NKN","quoteAsset":"USDT"},
        {"symbol":"NOBASE","quoteAsset":"USDT"},
        42,
        {"symbol":"A B","baseAsset":"A","quoteAsset":"B"},
        {"symbol":"XY","baseAsset":"X$","quoteAsset":"Y"},
        {"symbol":"ethbtc","baseAsset":"eth","quoteAsset":"btc","status":"TRADING"},
        {"symbol":7,"baseAsset":"A","quoteAsset":"B"},
        {"symbol":"","baseAsset":"A","quoteAsset":"B"}
    ]}"#;
    let (r, out) = rest(&mut d, "/api/v3/exchangeInfo", body);
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "exchangeInfo" }));
    let symbols: Vec<_> = out.iter().map(|e| e.instrument().symbol.as_str().to_owned()).collect();
    assert_eq!(symbols, ["NKN-USDT", "ETH-BTC"]);
    assert_eq!(d.stats().skipped_symbols, 6);
    assert_eq!(d.instrument("ETHBTC").map(|k| k.symbol.as_str()), Some("ETH-BTC"), "upper-case alias of a lower-case symbol");
}

#[test]
fn an_unusable_exchange_info_body_is_an_error() {
    let mut d = with_products();
    for body in ["", "{", "[]", r#""symbols""#, r#"{"timezone":"UTC"}"#, r#"{"symbols":{}}"#, r#"{"symbols":null}"#] {
        let (r, out) = rest(&mut d, INFO_URL, body);
        assert!(r.is_err(), "{body:?}: {r:?}");
        assert!(out.is_empty());
    }
    assert_eq!(rest(&mut d, INFO_URL, r#"{"timezone":"UTC"}"#).0, Err(DecodeError::MissingField("symbols")));
    assert_eq!((d.product_count(), d.stats().skipped_symbols), (4, 0));
}

#[test]
fn depth_snapshot_is_a_book_snapshot_for_the_symbol_in_the_url() {
    let mut d = with_products();
    let (r, out) = rest(&mut d, DEPTH_URL, &fixture("rest_depth.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "depth" }));
    let [MarketEvent::BookSnapshot(s)] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!(s.instrument.symbol.as_str(), "NKN-USDT");
    assert_eq!(s.sequence, Some(499_869_752));
    assert_eq!((s.time, s.recv_time), (None, RECV));
    let levels = |v: &[marketpipe_model::Level]| v.iter().map(|l| (l.price.to_string(), l.size.to_string())).collect::<Vec<_>>();
    // ["0.35200000","0.00000000"] carries nothing and is dropped.
    assert_eq!(levels(&s.bids), [("0.35210000".into(), "672.00000000".into()), ("0.35170000".into(), "1500.00000000".into())]);
    assert_eq!(levels(&s.asks), [("0.35230000".into(), "88.00000000".into()), ("0.35240000".into(), "3000.00000000".into())]);
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Synced { update_id: 499_869_752, joined: false }));

    // The symbol may be given in lower case, or percent-encoded.
    let mut d = with_products();
    let (_, out) = rest(&mut d, "http://127.0.0.1:9443/api/v3/depth?limit=1000&symbol=%4EKNUSDT", &snapshot(5));
    assert_eq!(trace(&out), ["S5"]);
    let mut d = with_products();
    let (_, out) = rest(&mut d, "/api/v1/depth?symbol=nknusdt", &snapshot(5));
    assert_eq!(trace(&out), ["S5"]);
}

#[test]
fn depth_snapshot_errors() {
    let mut d = with_products();
    let (r, out) = rest(&mut d, "/api/v3/depth?symbol=DOGEUSDT&limit=1000", &snapshot(5));
    assert_eq!(r, Err(DecodeError::UnknownSymbol("DOGEUSDT".into())));
    assert!(out.is_empty());
    let (r, _) = rest(&mut d, "/api/v3/depth?limit=1000", &snapshot(5));
    assert_eq!(r, Err(DecodeError::MissingField("symbol")));
    let (r, _) = rest(&mut d, DEPTH_URL, r#"{"bids":[],"asks":[]}"#);
    assert_eq!(r, Err(DecodeError::MissingField("lastUpdateId")));
    let (r, _) = rest(&mut d, DEPTH_URL, r#"{"lastUpdateId":5,"bids":[["1","-2"]],"asks":[]}"#);
    assert_eq!(r.map_err(|e| e.reason()), Err("negative_size"));
    let (r, _) = rest(&mut d, DEPTH_URL, r#"{"lastUpdateId":5,"bids":[],"asks":[["0","2"]]}"#);
    assert_eq!(r.map_err(|e| e.reason()), Err("not_positive"));
    let (r, _) = rest(&mut d, DEPTH_URL, r#"{"lastUpdateId":"5","bids":[],"asks":[]}"#);
    assert_eq!(r.map_err(|e| e.reason()), Err("invalid_json"));
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Buffering { events: 0 }), "failed responses change nothing");
}

#[test]
fn rest_error_bodies_are_exchange_errors() {
    let mut d = with_products();
    for url in [DEPTH_URL, TRADES_URL, INFO_URL, "/api/v3/depth?symbol=NOSUCH"] {
        let (r, out) = rest(&mut d, url, &fixture("rest_error.json"));
        assert_eq!(r, Ok(Decoded::ExchangeError { message: "Invalid symbol.".to_owned(), reason: Some("code -1121".to_owned()) }), "{url}");
        assert!(out.is_empty());
    }
}

#[test]
fn agg_trades_are_oldest_first_with_the_taker_side() {
    let mut d = with_products();
    let (r, out) = rest(&mut d, TRADES_URL, &fixture("rest_agg_trades.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "aggTrades" }));
    let trades: Vec<_> = out
        .iter()
        .map(|e| match e {
            MarketEvent::Trade(t) => t,
            other => panic!("{other:?}"),
        })
        .collect();
    let ids: Vec<_> = trades.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, [TradeId::Num(28_457_910), TradeId::Num(28_457_911), TradeId::Num(28_457_912)]);
    let sides: Vec<_> = trades.iter().map(|t| t.taker_side).collect();
    assert_eq!(sides, [Side::Buy, Side::Sell, Side::Sell]);
    let t = trades[0];
    assert_eq!(t.instrument.symbol.as_str(), "NKN-USDT");
    assert_eq!(t.price, dec("0.352"));
    assert_eq!(t.price.to_string(), "0.35200000");
    assert_eq!(t.size.to_string(), "10.00000000");
    assert_eq!(t.time, Timestamp::from_nanos(1_767_621_786_950_000_000));
    assert_eq!(t.recv_time, RECV);

    // The same trade on the websocket decodes identically (but for recv).
    let (_, ws_out) = ws(&mut d, &fixture("agg_trade.json"));
    assert_eq!(ws_out[0], out[2]);

    // Listed newest first, still emitted oldest first.
    let v: Vec<serde_json::Value> = serde_json::from_str(&fixture("rest_agg_trades.json")).unwrap();
    let reversed = serde_json::to_string(&v.into_iter().rev().collect::<Vec<_>>()).unwrap();
    let (_, again) = rest(&mut d, TRADES_URL, &reversed);
    assert_eq!(again, out);
    let (r, out) = rest(&mut d, TRADES_URL, "[]");
    assert_eq!((r, out.len()), (Ok(Decoded::Rest { endpoint: "aggTrades" }), 0));
}

#[test]
fn one_bad_agg_trade_fails_the_whole_response() {
    let mut d = with_products();
    let body = fixture("rest_agg_trades.json").replace("\"25.50000000\"", "\"-25.5\"");
    let (r, out) = rest(&mut d, TRADES_URL, &body);
    assert_eq!(r.map_err(|e| e.reason()), Err("negative_size"));
    assert!(out.is_empty());
    let (r, _) = rest(&mut d, TRADES_URL, r#"[{"a":1,"p":"1","q":"1","T":1767621787123}]"#);
    assert_eq!(r, Err(DecodeError::MissingField("m")));
    let (r, _) = rest(&mut d, "/api/v3/aggTrades?symbol=DOGEUSDT", &fixture("rest_agg_trades.json"));
    assert_eq!(r, Err(DecodeError::UnknownSymbol("DOGEUSDT".into())));
    let (r, _) = rest(&mut d, TRADES_URL, r#"{"a":1}"#);
    assert_eq!(r.map_err(|e| e.reason()), Err("invalid_json"));
}

#[test]
fn endpoints_are_recognized_by_path_and_query_from_any_host() {
    let body = fixture("rest_exchange_info.json");
    for url in [
        "https://api.binance.com/api/v3/exchangeInfo",
        "https://api1.binance.com/api/v3/exchangeInfo?symbols=%5B%22NKNUSDT%22%5D",
        "https://data-api.binance.vision/api/v3/exchangeInfo",
        "http://127.0.0.1:38211/api/v3/exchangeInfo/",
        "https://api.binance.com/api/v1/exchangeInfo",
        "/api/v3/exchangeInfo",
    ] {
        let mut d = BinanceDecoder::new();
        let (r, out) = rest(&mut d, url, &body);
        assert_eq!(r, Ok(Decoded::Rest { endpoint: "exchangeInfo" }), "{url}");
        assert_eq!(out.len(), 4, "{url}");
    }
    let mut d = with_products();
    for url in [
        "https://api.binance.com/api/v3/trades?symbol=NKNUSDT",
        "https://api.binance.com/api/v3/ticker/24hr",
        "https://api.binance.com/api/v3/klines?symbol=NKNUSDT&interval=1m",
        "https://fapi.binance.com/fapi/v1/depth?symbol=NKNUSDT",
        "https://api.binance.com/",
        "",
    ] {
        let (r, out) = rest(&mut d, url, &body);
        assert!(matches!(r, Err(DecodeError::UnknownEndpoint(_))), "{url}: {r:?}");
        assert!(out.is_empty());
    }
}

#[test]
fn a_symbol_renamed_by_new_metadata_starts_its_book_over() {
    let mut d = with_products();
    assert_eq!(trace(&rest(&mut d, DEPTH_URL, &snapshot(10)).1), ["S10"]);
    assert_eq!(trace(&ws(&mut d, &depth(11, 12)).1), ["D12"]);
    let body = r#"{"symbols":[{"symbol":"NKNUSDT","baseAsset":"NKN2","quoteAsset":"USDT"}]}"#;
    let (r, out) = rest(&mut d, INFO_URL, body);
    assert!(r.is_ok());
    assert_eq!(trace(&out), ["R:symbol_renamed", "product"]);
    assert_eq!(out[0].instrument().symbol.as_str(), "NKN-USDT", "the old book is reset");
    assert_eq!(out[1].instrument().symbol.as_str(), "NKN2-USDT");
    assert_eq!(d.book_state("NKNUSDT"), Some(BookSyncState::Buffering { events: 0 }));
    let (_, out) = ws(&mut d, &depth(13, 14));
    assert!(out.is_empty());
    assert_eq!(d.needs_snapshot().collect::<Vec<_>>(), ["NKNUSDT"]);
    let (_, out) = rest(&mut d, DEPTH_URL, &snapshot(13));
    assert_eq!(trace(&out), ["S13", "D14"]);
    assert_eq!(out[0].instrument().symbol.as_str(), "NKN2-USDT");

    // The same metadata again changes nothing but announces the product.
    let (_, out) = rest(&mut d, INFO_URL, body);
    assert_eq!(trace(&out), ["product"]);
    assert!(matches!(d.book_state("NKNUSDT"), Some(BookSyncState::Synced { .. })));
}
