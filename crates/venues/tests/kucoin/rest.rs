//! REST responses: the websocket token, the symbol list, one symbol, book
//! snapshots, error envelopes, and URL recognition.

use std::time::Duration;

use marketpipe_model::{Exchange, MarketEvent};
use marketpipe_venues::{
    kucoin::{self, KucoinDecoder},
    DecodeError, Decoded,
};

use crate::support::{book_url, fixture, rest, rest_fails, with_symbols, RECV, SYMBOLS_URL};

#[test]
fn bullet_gives_token_server_and_ping_timing() {
    let b = kucoin::bullet(&fixture("rest_bullet_public.json")).unwrap();
    assert!(b.token.starts_with("2neAiuYvAU61ZDXANAGAsiL4") && b.token.ends_with(".mvnekBb8DJegZIgYLs2FBQ=="), "{}", b.token);
    assert_eq!(b.endpoint, "wss://ws-api-spot.kucoin.com/");
    assert_eq!(b.ping_interval, Duration::from_millis(18_000));
    assert_eq!(b.ping_timeout, Duration::from_millis(10_000));
    let url = b.ws_url("7");
    assert!(url.starts_with("wss://ws-api-spot.kucoin.com/?token=2neAiuYvAU61ZDXANAGAsiL4"), "{url}");
    assert!(url.ends_with(".mvnekBb8DJegZIgYLs2FBQ%3D%3D&connectId=7"), "{url}");

    // Through decode_rest it is counted, and emits nothing.
    let mut d = KucoinDecoder::new();
    let (r, out) = rest(&mut d, "https://api.kucoin.com/api/v1/bullet-public", &fixture("rest_bullet_public.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "bullet" }));
    assert!(out.is_empty());
}

#[test]
fn bullet_rejects_what_a_connection_cannot_use() {
    let good = fixture("rest_bullet_public.json");
    for (body, reason) in [
        (good.replace("\"200000\"", "\"400003\""), "bad_field"),
        (good.replace("\"token\":", "\"tokn\":"), "missing_field"),
        (good.replace("wss://ws-api-spot.kucoin.com/", "https://api.kucoin.com"), "bad_field"),
        (good.replace("\"pingInterval\":18000", "\"pingInterval\":0"), "bad_field"),
        (good.replace("\"pingTimeout\":10000", "\"pingTimeout\":\"10000\""), "invalid_json"),
        (good.replace("\"protocol\":\"websocket\"", "\"protocol\":\"mqtt\""), "missing_field"),
        (r#"{"code":"200000","data":{"token":"t","instanceServers":[]}}"#.to_owned(), "missing_field"),
        ("".to_owned(), "invalid_json"),
    ] {
        assert_eq!(kucoin::bullet(&body).map_err(|e| e.reason()), Err(reason), "{body}");
    }
}

#[test]
fn symbol_list_names_products_by_their_currencies() {
    let mut d = KucoinDecoder::new();
    let (r, out) = rest(&mut d, "https://api.kucoin.com/api/v2/symbols", &fixture("rest_symbols.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "symbols" }));
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
            (Exchange::Kucoin, "BTC-USDT", "BTC-USDT", "BTC", "USDT"),
            // Native BCHSV-USDT is BSV-USDT: from baseCurrency, not the id.
            (Exchange::Kucoin, "BSV-USDT", "BCHSV-USDT", "BSV", "USDT"),
            // Trading disabled, but its history still needs a name.
            (Exchange::Kucoin, "1INCH-USDT", "1INCH-USDT", "1INCH", "USDT"),
        ]
    );
    assert_eq!(d.product_count(), 3);
    assert_eq!(d.stats().skipped_symbols, 0);
    assert_eq!(d.product("BCHSV-USDT").map(|p| p.key.symbol.as_str()), Some("BSV-USDT"));
    // The v1 path has the same shape.
    let mut d1 = KucoinDecoder::new();
    assert_eq!(rest(&mut d1, "/api/v1/symbols", &fixture("rest_symbols.json")), (r, out));
}

#[test]
fn unusable_symbol_entries_are_skipped_and_counted() {
    let mut d = KucoinDecoder::new();
    let body = r#"{"code":"200000","data":[
        {"symbol":"BTC-USDT","baseCurrency":"BTC","quoteCurrency":"USDT"},
        {"symbol":"NOBASE-USDT","quoteCurrency":"USDT"},
        42,
        ["ETH-USDT","ETH","USDT"],
        {"symbol":"A B","baseCurrency":"A","quoteCurrency":"B"},
        {"symbol":"X-Y","baseCurrency":"X$","quoteCurrency":"Y"},
        {"symbol":"eth-usdt","baseCurrency":"eth","quoteCurrency":"usdt"},
        {"symbol":7,"baseCurrency":"A","quoteCurrency":"B"}
    ]}"#;
    let (r, out) = rest(&mut d, SYMBOLS_URL, body);
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "symbols" }));
    let symbols: Vec<_> = out.iter().map(|e| e.instrument().symbol.as_str().to_owned()).collect();
    assert_eq!(symbols, ["BTC-USDT", "ETH-USDT"]);
    assert_eq!(d.stats().skipped_symbols, 6);
    let (r, _) = rest(&mut d, SYMBOLS_URL, r#"{"code":"200000","data":[{"symbol":""}]}"#);
    assert!(r.is_ok());
    assert_eq!(d.stats().skipped_symbols, 7, "the counter accumulates");
}

#[test]
fn an_unusable_symbol_list_is_an_error() {
    let mut d = with_symbols();
    for (body, reason) in [
        ("", "invalid_json"),
        ("{", "invalid_json"),
        (r#"{"code":"429000","msg":"Too Many Requests"}"#, "bad_field"),
        (r#"{"code":"200000","data":{"symbol":"BTC-USDT"}}"#, "invalid_json"),
        (r#"{"code":"200000"}"#, "missing_field"),
        (r#"[{"symbol":"BTC-USDT","baseCurrency":"BTC","quoteCurrency":"USDT"}]"#, "invalid_json"),
    ] {
        assert_eq!(rest_fails(&mut d, SYMBOLS_URL, body).reason(), reason, "{body:?}");
    }
    assert_eq!((d.product_count(), d.stats().skipped_symbols), (3, 0));
}

#[test]
fn single_symbol_is_a_product() {
    let mut d = KucoinDecoder::new();
    let (r, out) = rest(&mut d, "https://api.kucoin.com/api/v2/symbols/BCHSV-USDT", &fixture("rest_symbol.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "symbol" }));
    let [MarketEvent::Product(p)] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!((p.key.symbol.as_str(), p.native_symbol.as_str()), ("BSV-USDT", "BCHSV-USDT"));
    // The answer must be about the symbol asked for.
    let e = rest_fails(&mut d, "/api/v2/symbols/BTC-USDT", &fixture("rest_symbol.json"));
    assert!(matches!(e, DecodeError::BadField { field: "symbol", .. }), "{e:?}");
}

#[test]
fn snapshot_takes_its_symbol_from_the_query_and_drops_empty_levels() {
    let mut d = with_symbols();
    let (r, out) = rest(&mut d, &book_url("BTC-USDT"), &fixture("rest_orderbook_level2_100.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "orderbook" }));
    let [MarketEvent::BookSnapshot(s)] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!(s.instrument.symbol.as_str(), "BTC-USDT");
    assert_eq!(s.sequence, Some(14_701_689_782));
    assert_eq!(s.time, Some(marketpipe_model::Timestamp::from_nanos(1_767_621_787_100_000_000)));
    assert_eq!(s.recv_time, RECV);
    let levels = |v: &[marketpipe_model::Level]| v.iter().map(|l| (l.price.to_string(), l.size.to_string())).collect::<Vec<_>>();
    // ["94122","0"] carries nothing and is dropped.
    assert_eq!(levels(&s.bids), [("94123.4".into(), "0.8".into()), ("94123.1".into(), "0.01200000".into())]);
    assert_eq!(levels(&s.asks), [("94123.5".into(), "0.5".into()), ("94125".into(), "2.125".into()), ("94126.7".into(), "0.00001".into())]);
    assert_eq!(d.book_state("BTC-USDT"), Some(kucoin::BookSyncState::Live { sequence: 14_701_689_782 }));

    // The full book (v3) and level2_20 decode the same way.
    for url in
        ["https://api.kucoin.com/api/v3/market/orderbook/level2?symbol=BCHSV-USDT", "/api/v1/market/orderbook/level2_20?symbol=BCHSV-USDT"]
    {
        let mut d = with_symbols();
        let (r, out) = rest(&mut d, url, &fixture("rest_orderbook_level2_100.json"));
        assert_eq!(r, Ok(Decoded::Rest { endpoint: "orderbook" }), "{url}");
        assert_eq!(out[0].instrument().symbol.as_str(), "BSV-USDT");
    }
}

#[test]
fn a_snapshot_of_an_unknown_symbol_announces_it() {
    let mut d = KucoinDecoder::new();
    let (r, out) = rest(&mut d, &book_url("ETH-BTC"), &fixture("rest_orderbook_level2_100.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "orderbook" }));
    assert!(matches!(out.as_slice(), [MarketEvent::Product(p), MarketEvent::BookSnapshot(_)] if p.key.symbol.as_str() == "ETH-BTC"));
    let e = rest_fails(&mut d, &book_url("ETHBTC"), &fixture("rest_orderbook_level2_100.json"));
    assert!(matches!(e, DecodeError::BadField { field: "symbol", .. }), "{e:?}");
}

#[test]
fn error_envelopes_and_bad_snapshots_are_errors() {
    let mut d = with_symbols();
    let e = rest_fails(&mut d, &book_url("BTC-USDT"), &fixture("rest_error.json"));
    assert_eq!(e, DecodeError::BadField { field: "code", detail: "KuCoin error 400100: Unsupported trading pair.".to_owned() });
    let good = fixture("rest_orderbook_level2_100.json");
    for (body, reason) in [
        (good.replace(r#""sequence":"14701689782","#, ""), "missing_field"),
        (good.replace(r#""14701689782""#, r#""-1""#), "bad_field"),
        (good.replace(r#""14701689782""#, "1.5"), "invalid_json"),
        (good.replace(r#"["94123.4","0.8"]"#, r#"["94123.4","-0.8"]"#), "negative_size"),
        (good.replace(r#"["94123.5","0.5"]"#, r#"["0","0.5"]"#), "not_positive"),
        (good.replace(r#"["94123.5","0.5"]"#, r#"["94123.5",0.5]"#), "invalid_json"),
        (good.replace(r#"["94123.5","0.5"]"#, r#"["94123.5","0.5","1"]"#), "invalid_json"),
        (good.replace("1767621787100", "17676217871"), "bad_time"),
        (r#"{"code":"200000","data":{"sequence":"1","bids":[]}}"#.to_owned(), "missing_field"),
        (r#"{"code":"200000","data":[]}"#.to_owned(), "invalid_json"),
    ] {
        assert_eq!(rest_fails(&mut d, &book_url("BTC-USDT"), &body).reason(), reason, "{body}");
    }
    assert_eq!(d.book_state("BTC-USDT"), Some(kucoin::BookSyncState::Idle), "failed snapshots changed nothing");
}

#[test]
fn unknown_endpoints_are_skipped() {
    let mut d = with_symbols();
    for url in ["/api/v1/market/histories?symbol=BTC-USDT", "/api/v1/market/allTickers", "/products", "", "/api/v1/bullet-private"] {
        assert_eq!(rest_fails(&mut d, url, "{}").reason(), "unknown_endpoint", "{url}");
    }
    assert_eq!(rest_fails(&mut d, "/api/v1/market/orderbook/level2_100", "{}"), DecodeError::MissingField("symbol"));
}

#[test]
fn snapshot_url_is_the_public_top_100() {
    assert_eq!(
        kucoin::snapshot_url(kucoin::REST_URL, "BTC-USDT"),
        "https://api.kucoin.com/api/v1/market/orderbook/level2_100?symbol=BTC-USDT"
    );
    assert_eq!(kucoin::snapshot_url("http://127.0.0.1:9", "A&B"), "http://127.0.0.1:9/api/v1/market/orderbook/level2_100?symbol=A%26B");
}
