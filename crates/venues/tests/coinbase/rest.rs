//! REST responses: the product list, one product, recent trades, and URL
//! recognition.

use marketpipe_model::{Exchange, MarketEvent, Side, Timestamp, TradeId};
use marketpipe_venues::{coinbase::CoinbaseDecoder, DecodeError, Decoded};

use crate::support::{dec, fixture, rest, with_products, RECV};

#[test]
fn product_list_becomes_products_in_order() {
    let mut d = CoinbaseDecoder::new();
    let (r, out) = rest(&mut d, "https://api.exchange.coinbase.com/products", &fixture("rest_products.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "products" }));
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
            (Exchange::Coinbase, "BTC-USD", "BTC-USD", "BTC", "USD"),
            (Exchange::Coinbase, "ETH-EUR", "ETH-EUR", "ETH", "EUR"),
            // Delisted products keep their name: their history still needs it.
            (Exchange::Coinbase, "1INCH-USD", "1INCH-USD", "1INCH", "USD"),
        ]
    );
    assert_eq!(d.product_count(), 3);
    assert_eq!(d.skipped_products(), 0);
    assert_eq!(d.product("ETH-EUR").map(|p| p.base.as_str()), Some("ETH"));
}

#[test]
fn unusable_product_entries_are_skipped_and_counted() {
    let mut d = CoinbaseDecoder::new();
    let body = r#"[
        {"id":"BTC-USD","base_currency":"BTC","quote_currency":"USD"},
        {"id":"NOBASE-USD","quote_currency":"USD"},
        42,
        {"id":"A B","base_currency":"A","quote_currency":"B"},
        {"id":"X-Y","base_currency":"X$","quote_currency":"Y"},
        {"id":"ETH-USD","base_currency":"eth","quote_currency":"usd","status":"online"},
        {"id":7,"base_currency":"A","quote_currency":"B"}
    ]"#;
    let (r, out) = rest(&mut d, "/products", body);
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "products" }));
    let symbols: Vec<_> = out.iter().map(|e| e.instrument().symbol.as_str().to_owned()).collect();
    assert_eq!(symbols, ["BTC-USD", "ETH-USD"]);
    assert_eq!(d.skipped_products(), 5);
    // The counter accumulates over responses.
    let (r, _) = rest(&mut d, "/products", r#"[{"id":""}]"#);
    assert!(r.is_ok());
    assert_eq!(d.skipped_products(), 6);
}

#[test]
fn an_unusable_product_list_body_is_an_error() {
    let mut d = with_products();
    for body in ["", "{", r#"{"message":"rate limited"}"#, r#""products""#, "[1,"] {
        let (r, out) = rest(&mut d, "/products", body);
        assert_eq!(r.map_err(|e| e.reason()), Err("invalid_json"), "{body:?}");
        assert!(out.is_empty());
    }
    assert_eq!((d.product_count(), d.skipped_products()), (3, 0));
}

#[test]
fn single_product_is_a_product() {
    let mut d = CoinbaseDecoder::new();
    let (r, out) = rest(&mut d, "https://api.pro.coinbase.com/products/ETH-EUR", &fixture("rest_product.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "product" }));
    let [MarketEvent::Product(p)] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!((p.key.symbol.as_str(), p.native_symbol.as_str()), ("ETH-EUR", "ETH-EUR"));
    assert!(d.instrument("ETH-EUR").is_some());

    // The answer must be about the product asked for.
    let (r, out) = rest(&mut d, "/products/BTC-USD", &fixture("rest_product.json"));
    assert!(matches!(r, Err(DecodeError::BadField { field: "id", .. })), "{r:?}");
    assert!(out.is_empty());
    let (r, _) = rest(&mut d, "/products/BTC-USD", r#"{"id":"BTC-USD","quote_currency":"USD"}"#);
    assert_eq!(r, Err(DecodeError::MissingField("base_currency")));
}

#[test]
fn trades_are_oldest_first_with_the_taker_side() {
    let mut d = with_products();
    let (r, out) = rest(&mut d, "https://api.exchange.coinbase.com/products/BTC-USD/trades?limit=3", &fixture("rest_trades.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "trades" }));
    let trades: Vec<_> = out
        .iter()
        .map(|e| match e {
            MarketEvent::Trade(t) => t,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(trades.len(), 3);
    let ids: Vec<_> = trades.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, [TradeId::Num(627_465_100), TradeId::Num(627_465_101), TradeId::Num(627_465_102)]);
    // Maker "sell" = taker buy; maker "buy" = taker sell.
    let sides: Vec<_> = trades.iter().map(|t| t.taker_side).collect();
    assert_eq!(sides, [Side::Buy, Side::Buy, Side::Sell]);
    let t = trades[2];
    assert_eq!(t.instrument.symbol.as_str(), "BTC-USD");
    assert_eq!(t.price, dec("43518.90000000"));
    assert_eq!(t.price.to_string(), "43518.90000000");
    assert_eq!(t.size.to_string(), "0.00250000");
    assert_eq!(t.time, Timestamp::from_nanos(1_767_621_779_871_002_000));
    assert_eq!(t.recv_time, RECV);
    assert_eq!(trades[1].time, Timestamp::from_nanos(1_767_621_778_500_000_000));
    assert_eq!(trades[0].time, Timestamp::from_nanos(1_767_621_777_120_034_000));
}

#[test]
fn trades_of_an_unknown_product_announce_it_first() {
    let mut d = CoinbaseDecoder::new();
    let (r, out) = rest(&mut d, "/products/SOL-USD/trades", &fixture("rest_trades.json"));
    assert!(r.is_ok());
    assert!(matches!(&out[0], MarketEvent::Product(p) if p.native_symbol == "SOL-USD"));
    assert_eq!(out.len(), 4);
    let (_, out) = rest(&mut d, "/products/SOL-USD/trades", "[]");
    assert!(out.is_empty(), "announced once, and no trades");
}

#[test]
fn one_bad_trade_fails_the_whole_response() {
    let mut d = CoinbaseDecoder::new();
    let body = fixture("rest_trades.json").replace("\"0.10000000\"", "\"-0.1\"");
    let (r, out) = rest(&mut d, "/products/SOL-USD/trades", &body);
    assert_eq!(r.map_err(|e| e.reason()), Err("negative_size"));
    assert!(out.is_empty());
    assert_eq!(d.product_count(), 0, "nothing registered by a failed response");
    let (r, _) = rest(&mut d, "/products/SOLUSD/trades", "[]");
    assert!(matches!(r, Err(DecodeError::BadField { field: "product_id", .. })));
    let (r, _) = rest(&mut d, "/products/SOL-USD/trades", r#"[{"trade_id":1}]"#);
    assert_eq!(r, Err(DecodeError::MissingField("price")));
}

#[test]
fn endpoints_are_recognized_by_path_from_any_host() {
    let body = fixture("rest_products.json");
    for url in [
        "https://api.exchange.coinbase.com/products",
        "https://api.pro.coinbase.com/products",
        "http://127.0.0.1:38211/products",
        "http://localhost:8080/products/?x=1",
        "/products",
    ] {
        let mut d = CoinbaseDecoder::new();
        let (r, out) = rest(&mut d, url, &body);
        assert_eq!(r, Ok(Decoded::Rest { endpoint: "products" }), "{url}");
        assert_eq!(out.len(), 3, "{url}");
    }
    let mut d = CoinbaseDecoder::new();
    for url in [
        "https://api.exchange.coinbase.com/currencies",
        "https://api.exchange.coinbase.com/products/BTC-USD/book?level=2",
        "https://api.exchange.coinbase.com/products/BTC-USD/candles",
        "https://api.coinbase.com/api/v3/brokerage/market/products",
        "https://api.exchange.coinbase.com/",
        "",
    ] {
        let (r, out) = rest(&mut d, url, &body);
        assert!(matches!(r, Err(DecodeError::UnknownEndpoint(_))), "{url}: {r:?}");
        assert!(out.is_empty());
    }
}
