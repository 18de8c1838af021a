//! REST over real loopback sockets: product metadata, trade pagination, and
//! agreement with the websocket.

mod common;

use std::time::Duration;

use common::{decode, fast, http, rest_history, sim, strip, Client, TradeIds};
use marketpipe_model::{MarketEvent, Timestamp};
use marketpipe_sim::SimConfig;
use marketpipe_venues::{coinbase::CoinbaseDecoder, VenueDecoder};

#[tokio::test]
async fn products_in_coinbase_shape_and_errors_for_bad_requests() {
    let sim = sim(SimConfig { rate: 0.0, products: 12, ..SimConfig::default() }).await;
    let http = http();
    let rest = sim.rest_url();
    let url = format!("{rest}/products");
    let body = http.get(&url).send().await.unwrap().text().await.unwrap();
    let mut decoder = CoinbaseDecoder::new();
    let mut events = Vec::new();
    decoder.decode_rest(&url, &body, Timestamp(0), &mut events).unwrap();
    assert_eq!(events.len(), 12);
    assert_eq!(decoder.skipped_products(), 0);
    let ids: Vec<String> = events.iter().map(|e| e.instrument().symbol.to_string()).collect();
    assert_eq!(ids, sim.products());
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    for field in ["quote_increment", "base_increment", "display_name", "status"] {
        assert!(v[0][field].is_string(), "{field}");
    }

    let one = http.get(format!("{rest}/products/ETH-USD")).send().await.unwrap();
    assert_eq!(one.status(), 200);
    let one: serde_json::Value = one.json().await.unwrap();
    assert_eq!(one, v[1]);

    for path in ["/products/NOPE-USD", "/products/NOPE-USD/trades", "/nothing/here"] {
        let r = http.get(format!("{rest}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        if path.starts_with("/products") {
            assert_eq!(r.json::<serde_json::Value>().await.unwrap(), serde_json::json!({"message": "NotFound"}));
        }
    }
    for query in ["limit=0", "limit=1001", "limit=x", "after=-5", "after=1&before=2"] {
        let r = http.get(format!("{rest}/products/BTC-USD/trades?{query}")).send().await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        assert!(r.json::<serde_json::Value>().await.unwrap()["message"].is_string());
    }
    // A still market has no trades: an empty page without cursors.
    let r = http.get(format!("{rest}/products/BTC-USD/trades")).send().await.unwrap();
    assert!(r.headers().get("cb-after").is_none());
    assert_eq!(r.text().await.unwrap(), "[]");
    assert!(sim.stats().rest_requests >= 10);
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn pagination_walks_back_without_holes_and_agrees_with_the_websocket() {
    let sim = sim(fast(21, 2, 400)).await;
    let mut client = Client::connect(&sim.ws_url()).await;
    client.subscribe(&["BTC-USD", "ETH-USD"], &["matches"]).await;
    let mut decoder = CoinbaseDecoder::new();
    let mut ws = TradeIds::default();
    sim.generation_done().await;
    for frame in client.drain(Duration::from_millis(400)).await {
        for e in decode(&mut decoder, &frame).unwrap().events {
            if let MarketEvent::Trade(t) = e {
                ws.observe(&t);
            }
        }
    }
    let http = http();
    for product in ["BTC-USD", "ETH-USD"] {
        let history = rest_history(&http, &sim.rest_url(), product, 100).await;
        assert!(history.len() > 300, "{product}: {} trades, want several pages", history.len());
        let from_ws: Vec<_> = ws.trades.iter().filter(|t| t.instrument.symbol.as_str() == product).map(strip).collect();
        let from_rest: Vec<_> = history.iter().map(strip).collect();
        // The client subscribed a moment after the market started: the
        // websocket has a suffix of the full history, identical trade for trade.
        assert!(from_ws.len() * 10 >= from_rest.len() * 9);
        assert_eq!(from_rest[from_rest.len() - from_ws.len()..], from_ws[..], "{product}");
    }
    client.close().await;
    sim.shutdown().await.unwrap();
}

#[tokio::test]
async fn history_is_bounded_and_before_pages_forward() {
    let sim = sim(SimConfig { trade_history: 250, ..fast(22, 1, 300) }).await;
    sim.generation_done().await;
    assert!(sim.stats().trades > 500);
    let http = http();
    let rest = sim.rest_url();
    let history = rest_history(&http, &rest, "BTC-USD", 1000).await;
    assert_eq!(history.len(), 250, "only the newest trades are kept");
    let oldest = history[0].id.as_u64().unwrap();
    let r = http.get(format!("{rest}/products/BTC-USD/trades?before={oldest}&limit=3")).send().await.unwrap();
    assert_eq!(r.headers()["cb-after"].to_str().unwrap(), (oldest + 1).to_string());
    let ids: Vec<u64> = r.json::<Vec<serde_json::Value>>().await.unwrap().iter().map(|t| t["trade_id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [oldest + 3, oldest + 2, oldest + 1], "the next newer trades, newest first");
    sim.shutdown().await.unwrap();
}
