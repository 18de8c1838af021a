//! The three endpoints, from their fixtures, and URL recognition.

use marketpipe_model::{Exchange, MarketEvent, Side, Timestamp, TradeId};
use marketpipe_venues::{coinbase_advanced::CoinbaseAdvancedDecoder, decoder_for, DecodeError, Decoded};

use crate::support::{dec, fixture, rest, with_products, BTC_TRADES_URL, PRODUCTS_URL, RECV};

#[test]
fn decoder_for_knows_coinbase_advanced() {
    let d = decoder_for(Exchange::CoinbaseAdvanced).expect("registered");
    assert_eq!(d.exchange(), Exchange::CoinbaseAdvanced);
}

#[test]
fn product_list_becomes_spot_products_in_order() {
    let mut d = CoinbaseAdvancedDecoder::new();
    let (r, out) = rest(&mut d, PRODUCTS_URL, &fixture("rest_products.json"));
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
            (Exchange::CoinbaseAdvanced, "BTC-USD", "BTC-USD", "BTC", "USD"),
            // The quote is the currency id, not the display symbol ("USD").
            (Exchange::CoinbaseAdvanced, "BTC-USDC", "BTC-USDC", "BTC", "USDC"),
            // Delisted and disabled products keep their name.
            (Exchange::CoinbaseAdvanced, "1INCH-EUR", "1INCH-EUR", "1INCH", "EUR"),
        ]
    );
    assert_eq!(d.product_count(), 3);
    assert_eq!(d.skipped_products(), 1, "the future is skipped and counted");
    assert_eq!(d.product("BTC-USDC").map(|p| p.quote.as_str()), Some("USDC"));
}

#[test]
fn unusable_product_entries_are_skipped_and_counted() {
    let mut d = CoinbaseAdvancedDecoder::new();
    let body = r#"{"products":[
        {"product_id":"BTC-USD","base_currency_id":"BTC","quote_currency_id":"USD","product_type":"SPOT"},
        {"product_id":"NOBASE-USD","quote_currency_id":"USD"},
        42,
        {"product_id":"A B","base_currency_id":"A","quote_currency_id":"B"},
        {"product_id":"X-Y","base_currency_id":"X$","quote_currency_id":"Y"},
        {"product_id":"ETH-USD","base_currency_id":"eth","quote_currency_id":"usd"},
        {"product_id":7,"base_currency_id":"A","quote_currency_id":"B"},
        {"product_id":"Q-R","base_currency_id":"Q","quote_currency_id":"R","alias":"not an id"},
        {"product_id":"P-E","base_currency_id":"P","quote_currency_id":"E","product_type":"FUTURE"}
    ],"num_products":9}"#;
    let (r, out) = rest(&mut d, "/api/v3/brokerage/market/products", body);
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "products" }));
    let symbols: Vec<_> = out.iter().map(|e| e.instrument().symbol.as_str().to_owned()).collect();
    assert_eq!(symbols, ["BTC-USD", "ETH-USD"]);
    assert_eq!(d.skipped_products(), 7);
    let (r, _) = rest(&mut d, "/api/v3/brokerage/market/products", r#"{"products":[{"product_id":""}]}"#);
    assert!(r.is_ok());
    assert_eq!(d.skipped_products(), 8, "the count accumulates over responses");
}

#[test]
fn an_unusable_product_list_body_is_an_error() {
    let mut d = with_products();
    for (body, reason) in [
        ("", "invalid_json"),
        ("{", "invalid_json"),
        ("[1]", "invalid_json"),
        ("[]", "missing_field"),
        (r#"{"products":{}}"#, "invalid_json"),
        (r#"{"products":null}"#, "missing_field"),
        (&fixture("rest_error.json"), "missing_field"),
    ] {
        let (r, out) = rest(&mut d, PRODUCTS_URL, body);
        assert_eq!(r.map_err(|e| e.reason()), Err(reason), "{body:?}");
        assert!(out.is_empty());
    }
    assert_eq!((d.product_count(), d.skipped_products()), (3, 1));
}

#[test]
fn single_product_is_a_product_about_the_product_asked_for() {
    let mut d = CoinbaseAdvancedDecoder::new();
    let (r, out) = rest(&mut d, "https://api.coinbase.com/api/v3/brokerage/market/products/ETH-EUR", &fixture("rest_product.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "product" }));
    let [MarketEvent::Product(p)] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!((p.key.exchange, p.key.symbol.as_str(), p.native_symbol.as_str()), (Exchange::CoinbaseAdvanced, "ETH-EUR", "ETH-EUR"));
    assert!(d.instrument("ETH-EUR").is_some());

    let (r, out) = rest(&mut d, "/api/v3/brokerage/market/products/BTC-USD", &fixture("rest_product.json"));
    assert!(matches!(r, Err(DecodeError::BadField { field: "product_id", .. })), "{r:?}");
    assert!(out.is_empty());
    let (r, _) = rest(&mut d, "/api/v3/brokerage/market/products/BTC-USD", r#"{"product_id":"BTC-USD","base_currency_id":"BTC"}"#);
    assert_eq!(r, Err(DecodeError::MissingField("quote_currency_id")));
    let (r, _) = rest(&mut d, "/api/v3/brokerage/market/products/XYZ-USD", &fixture("rest_error.json"));
    assert_eq!(r, Err(DecodeError::MissingField("product_id")));
}

#[test]
fn market_trades_are_oldest_first_with_the_taker_side_then_a_ticker() {
    let mut d = with_products();
    let (r, out) = rest(&mut d, BTC_TRADES_URL, &fixture("rest_market_trades.json"));
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "market_trades" }));
    assert_eq!(out.len(), 4, "{out:?}");
    let trades: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            MarketEvent::Trade(t) => Some(t),
            _ => None,
        })
        .collect();
    let ids: Vec<_> = trades.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, [TradeId::Num(995_098_661), TradeId::Num(995_098_662), TradeId::Num(995_098_663)]);
    // Maker "BUY" = taker sell; maker "SELL" = taker buy.
    let sides: Vec<_> = trades.iter().map(|t| t.taker_side).collect();
    assert_eq!(sides, [Side::Sell, Side::Buy, Side::Buy]);
    let t = trades[2];
    assert_eq!((t.instrument.exchange, t.instrument.symbol.as_str()), (Exchange::CoinbaseAdvanced, "BTC-USD"));
    assert_eq!(t.price, dec("68923.67"));
    assert_eq!(t.price.to_string(), "68923.67");
    assert_eq!(t.size.to_string(), "0.00064");
    assert_eq!(t.time, Timestamp::from_nanos(1_775_521_738_544_778_000));
    assert_eq!(t.recv_time, RECV);
    assert_eq!(trades[1].time, Timestamp::from_nanos(1_775_521_738_250_358_000));
    assert_eq!(trades[0].time, Timestamp::from_nanos(1_775_521_737_296_283_000));
    assert_eq!(trades[0].size.to_string(), "0.01450854");

    let MarketEvent::Ticker(ticker) = &out[3] else { panic!("{:?}", out[3]) };
    assert_eq!(ticker.instrument, t.instrument);
    assert_eq!(ticker.best_bid.map(|p| p.to_string()).as_deref(), Some("68923.66"));
    assert_eq!(ticker.best_ask.map(|p| p.to_string()).as_deref(), Some("68923.67"));
    assert_eq!((ticker.last_price, ticker.last_size), (Some(t.price), Some(t.size)));
    assert_eq!((ticker.time, ticker.recv_time), (Some(t.time), RECV));
    assert_eq!((ticker.best_bid_size, ticker.best_ask_size, ticker.volume_24h), (None, None, None));
}

#[test]
fn trades_of_an_unlisted_product_announce_it_first() {
    let mut d = CoinbaseAdvancedDecoder::new();
    let body = fixture("rest_market_trades.json");
    let (r, out) = rest(&mut d, BTC_TRADES_URL, &body);
    assert!(r.is_ok());
    assert!(matches!(&out[0], MarketEvent::Product(p) if p.native_symbol == "BTC-USD" && p.key.exchange == Exchange::CoinbaseAdvanced));
    assert_eq!(out.len(), 5);
    let (_, out) = rest(&mut d, BTC_TRADES_URL, &body);
    assert_eq!(out.len(), 4, "announced once");
}

#[test]
fn an_empty_page_is_a_quote_or_nothing() {
    let mut d = with_products();
    let (r, out) = rest(&mut d, BTC_TRADES_URL, r#"{"trades":[],"best_bid":"","best_ask":""}"#);
    assert_eq!(r, Ok(Decoded::Rest { endpoint: "market_trades" }));
    assert!(out.is_empty(), "{out:?}");
    let (_, out) = rest(&mut d, BTC_TRADES_URL, r#"{"trades":[],"best_bid":"1.5"}"#);
    let [MarketEvent::Ticker(t)] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!((t.best_bid.map(|p| p.to_string()), t.best_ask, t.last_price, t.time), (Some("1.5".to_owned()), None, None, None));
}

#[test]
fn alias_trades_belong_to_the_page_asked_for() {
    let mut d = with_products();
    // BTC-USDC shares BTC-USD's book: its page may name BTC-USD.
    let url = "/api/v3/brokerage/market/products/BTC-USDC/ticker?limit=3";
    let (r, out) = rest(&mut d, url, &fixture("rest_market_trades.json"));
    assert!(r.is_ok(), "{r:?}");
    assert!(out.iter().all(|e| e.instrument().symbol.as_str() == "BTC-USDC"));
    // Without the product list the alias is unknown, and a foreign trade fails the page.
    let mut d = CoinbaseAdvancedDecoder::new();
    let (r, out) = rest(&mut d, url, &fixture("rest_market_trades.json"));
    assert!(matches!(r, Err(DecodeError::BadField { field: "product_id", .. })), "{r:?}");
    assert!(out.is_empty());
}

#[test]
fn non_numeric_trade_ids_stay_strings() {
    let mut d = with_products();
    let body = r#"{"trades":[
        {"trade_id":"2b1d2b0e-0b5c-4c1e-9a0e-6e1f2c3d4e5f","product_id":"BTC-USD","price":"1","size":"2","time":"2026-04-07T00:28:58Z","side":"BUY"},
        {"trade_id":"17","product_id":"BTC-USD","price":"1","size":"2","time":"2026-04-07T00:28:58Z","side":"BUY"}
    ]}"#;
    let (r, out) = rest(&mut d, BTC_TRADES_URL, body);
    assert!(r.is_ok(), "{r:?}");
    let ids: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            MarketEvent::Trade(t) => Some(t.id.to_string()),
            _ => None,
        })
        .collect();
    // Same time: numeric ids sort before strings.
    assert_eq!(ids, ["17", "2b1d2b0e-0b5c-4c1e-9a0e-6e1f2c3d4e5f"]);
    assert!(matches!(&out[0], MarketEvent::Trade(t) if t.id == TradeId::Num(17)));
}

#[test]
fn endpoints_are_recognized_by_path_from_any_host() {
    let body = fixture("rest_products.json");
    for url in [
        "https://api.coinbase.com/api/v3/brokerage/market/products",
        "https://api.coinbase.com/api/v3/brokerage/products",
        "http://127.0.0.1:38211/api/v3/brokerage/market/products",
        "http://localhost:8080/api/v3/brokerage/market/products/?x=1",
        "/api/v3/brokerage/market/products",
    ] {
        let mut d = CoinbaseAdvancedDecoder::new();
        let (r, out) = rest(&mut d, url, &body);
        assert_eq!(r, Ok(Decoded::Rest { endpoint: "products" }), "{url}");
        assert_eq!(out.len(), 3, "{url}");
    }
    let mut d = CoinbaseAdvancedDecoder::new();
    for url in [
        "https://api.exchange.coinbase.com/products",
        "https://api.exchange.coinbase.com/products/BTC-USD/trades",
        "https://api.coinbase.com/api/v3/brokerage/market/product_book?product_id=BTC-USD",
        "https://api.coinbase.com/api/v3/brokerage/market/products/BTC-USD/candles",
        "https://api.coinbase.com/",
        "",
    ] {
        let (r, out) = rest(&mut d, url, &body);
        assert!(matches!(r, Err(DecodeError::UnknownEndpoint(_))), "{url}: {r:?}");
        assert!(out.is_empty());
    }
}
