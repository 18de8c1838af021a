//! The Advanced Trade endpoints over real loopback sockets: shapes, errors,
//! limits, and agreement with the Exchange endpoints of the same market,
//! every body checked by the real Advanced Trade decoder.

mod common;

use common::{fast, http, rest_history, sim};
use marketpipe_model::{Exchange, MarketEvent, Timestamp, Trade};
use marketpipe_sim::SimConfig;
use marketpipe_venues::{coinbase_advanced::CoinbaseAdvancedDecoder, Decoded, VenueDecoder};

const MARKET: &str = "/api/v3/brokerage/market/products";

/// Decodes a market trades page: its trades (oldest first) and whether it
/// ended with a ticker.
fn decode_trades(decoder: &mut CoinbaseAdvancedDecoder, url: &str, body: &str) -> (Vec<Trade>, bool) {
    let mut events = Vec::new();
    assert_eq!(decoder.decode_rest(url, body, Timestamp(0), &mut events), Ok(Decoded::Rest { endpoint: "market_trades" }), "{body}");
    let ticker = matches!(events.last(), Some(MarketEvent::Ticker(_)));
    let trades = events
        .into_iter()
        .filter_map(|e| match e {
            MarketEvent::Trade(t) => Some(t),
            _ => None,
        })
        .collect();
    (trades, ticker)
}

#[tokio::test]
async fn products_in_advanced_trade_shape_and_errors_in_its_error_shape() {
    let sim = sim(SimConfig { rate: 0.0, products: 12, ..SimConfig::default() }).await;
    let (http, rest) = (http(), sim.rest_url());
    let url = format!("{rest}{MARKET}");
    let body = http.get(&url).send().await.unwrap().text().await.unwrap();
    let mut decoder = CoinbaseAdvancedDecoder::new();
    let mut events = Vec::new();
    decoder.decode_rest(&url, &body, Timestamp(0), &mut events).unwrap();
    assert_eq!(events.len(), 12);
    assert_eq!(decoder.skipped_products(), 0);
    assert!(events.iter().all(|e| e.instrument().exchange == Exchange::CoinbaseAdvanced));
    let ids: Vec<String> = events.iter().map(|e| e.instrument().symbol.to_string()).collect();
    assert_eq!(ids, sim.products());
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["num_products"], 12);

    let one = http.get(format!("{url}/ETH-USD")).send().await.unwrap();
    assert_eq!(one.status(), 200);
    let one: serde_json::Value = one.json().await.unwrap();
    assert_eq!(one, v["products"][1]);

    for path in ["/NOPE-USD", "/NOPE-USD/ticker?limit=5"] {
        let r = http.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let e: serde_json::Value = r.json().await.unwrap();
        assert_eq!(e["error"], "NOT_FOUND", "{path}");
        assert!(e["message"].as_str().unwrap().contains("NOPE-USD"));
    }
    for query in ["", "?limit=0", "?limit=1001", "?limit=x", "?start=1"] {
        let r = http.get(format!("{url}/BTC-USD/ticker{query}")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "INVALID_ARGUMENT");
    }
    // A still market: no trades, but a quote.
    let url = format!("{url}/BTC-USD/ticker?limit=1000");
    let body = http.get(&url).send().await.unwrap().text().await.unwrap();
    let (trades, ticker) = decode_trades(&mut decoder, &url, &body);
    assert!(trades.is_empty() && ticker, "{body}");
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn market_trades_are_the_newest_trades_and_agree_with_the_exchange_endpoint() {
    let sim = sim(fast(33, 2, 400)).await;
    sim.generation_done().await;
    let (http, rest) = (http(), sim.rest_url());
    let mut decoder = CoinbaseAdvancedDecoder::new();
    for product in ["BTC-USD", "ETH-USD"] {
        let exchange = rest_history(&http, &rest, product, 1000).await;
        assert!(exchange.len() > 50, "{product}: {} trades", exchange.len());
        for limit in [1, 7, 1000] {
            let url = format!("{rest}{MARKET}/{product}/ticker?limit={limit}");
            let body = http.get(&url).send().await.unwrap().text().await.unwrap();
            let wire: serde_json::Value = serde_json::from_str(&body).unwrap();
            let ids: Vec<u64> =
                wire["trades"].as_array().unwrap().iter().map(|t| t["trade_id"].as_str().unwrap().parse().unwrap()).collect();
            assert!(ids.windows(2).all(|w| w[0] == w[1] + 1), "newest first without holes: {ids:?}");
            let (trades, ticker) = decode_trades(&mut decoder, &url, &body);
            assert!(ticker);
            assert_eq!(trades.len(), limit.min(exchange.len()), "{product} limit {limit}");
            // The same trades, taker side and all, as the Exchange endpoint's newest.
            let same = |t: &Trade| (t.id.clone(), t.price, t.size, t.taker_side, t.time);
            let tail = &exchange[exchange.len() - trades.len()..];
            assert_eq!(trades.iter().map(same).collect::<Vec<_>>(), tail.iter().map(same).collect::<Vec<_>>());
            assert!(trades.iter().all(|t| t.instrument.exchange == Exchange::CoinbaseAdvanced && t.instrument.symbol.as_str() == product));
        }
    }
    sim.shutdown().await.unwrap();
}
