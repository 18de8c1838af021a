//! Properties over arbitrary input: nothing panics, a failed response
//! changes nothing, and valid numbers, ids and sides survive exactly.

use marketpipe_model::{MarketEvent, Side, Timestamp, TradeId};
use marketpipe_venues::{coinbase_advanced::CoinbaseAdvancedDecoder, VenueDecoder};
use proptest::prelude::*;

use crate::support::{fixture, with_products, BTC_TRADES_URL, PRODUCTS_URL, RECV};

const URLS: [&str; 3] = [PRODUCTS_URL, BTC_TRADES_URL, "/api/v3/brokerage/market/products/BTC-USD"];
const FIXTURES: [&str; 4] = ["rest_products.json", "rest_product.json", "rest_market_trades.json", "rest_error.json"];

/// Decodes `body` at `url` and checks the failure contract: an error
/// emits nothing and registers nothing.
fn check(d: &mut CoinbaseAdvancedDecoder, url: &str, body: &str) -> Result<(), TestCaseError> {
    let (before, skipped) = (d.product_count(), d.skipped_products());
    let mut out = Vec::new();
    if d.decode_rest(url, body, RECV, &mut out).is_err() {
        prop_assert!(out.is_empty(), "failed response emitted {:?}", out);
        prop_assert_eq!((d.product_count(), d.skipped_products()), (before, skipped));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(body in ".{0,300}", url in ".{0,80}") {
        let mut d = with_products();
        check(&mut d, &url, &body)?;
        for url in URLS {
            check(&mut d, url, &body)?;
        }
    }

    #[test]
    fn json_shaped_noise_never_panics(body in r#"\{("[a-z_]{1,12}":("[-a-zA-Z0-9.:]{0,12}"|[0-9]{1,5}|null|\[(\{("[a-z_]{1,10}":"[-A-Z0-9.:]{0,10}",?){0,6}\},?){0,3}\]),?){0,6}\}"#) {
        let mut d = with_products();
        for url in URLS {
            check(&mut d, url, &body)?;
            let trades = body.replacen('{', r#"{"trades":[],"#, 1);
            check(&mut d, url, &trades)?;
        }
    }

    #[test]
    fn mutated_fixtures_never_panic_and_fail_cleanly(
        which in 0..FIXTURES.len(),
        url in 0..URLS.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = fixture(FIXTURES[which]).into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut d = CoinbaseAdvancedDecoder::new();
        check(&mut d, URLS[url], &text)?;
        let mut d = with_products();
        check(&mut d, URLS[url], &text)?;
    }

    #[test]
    fn valid_trades_keep_exact_numbers_ids_and_sides(
        int in 1u64..10_000_000,
        frac in 0u64..100_000_000,
        scale in 0usize..=8,
        size_frac in 1u64..100_000_000,
        id in any::<u64>(),
        maker_sells in any::<bool>(),
        micros in 0u32..1_000_000,
    ) {
        let price = if scale == 0 { int.to_string() } else { format!("{int}.{:0scale$}", frac % 10u64.pow(scale as u32)) };
        let size = format!("0.{size_frac:08}");
        let side = if maker_sells { "SELL" } else { "BUY" };
        let body = format!(
            r#"{{"trades":[{{"trade_id":"{id}","product_id":"BTC-USD","price":"{price}","size":"{size}","time":"2026-04-07T00:28:58.{micros:06}Z","side":"{side}","bid":"","ask":"","exchange":"coinbase"}}],"best_bid":"","best_ask":""}}"#
        );
        let mut d = with_products();
        let mut out = Vec::new();
        d.decode_rest(BTC_TRADES_URL, &body, RECV, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Some(MarketEvent::Trade(t)) = out.first() else { return Err(TestCaseError::fail("no trade")) };
        prop_assert_eq!(t.price.to_string(), price);
        prop_assert_eq!(t.size.to_string(), size);
        prop_assert_eq!(&t.id, &TradeId::Num(id));
        prop_assert_eq!(t.taker_side, if maker_sells { Side::Buy } else { Side::Sell });
        prop_assert_eq!(t.time, Timestamp::from_nanos(1_775_521_738_000_000_000 + i64::from(micros) * 1_000));
        prop_assert!(matches!(out.last(), Some(MarketEvent::Ticker(k)) if k.last_price == Some(t.price)));
    }

    #[test]
    fn pages_come_out_oldest_first_whatever_their_order(ids in proptest::collection::btree_set(1u64..1_000_000, 0..20), shuffle in any::<u64>()) {
        let mut ids: Vec<u64> = ids.into_iter().collect();
        // Deterministic scramble of the page order.
        ids.sort_by_key(|id| id.wrapping_mul(shuffle | 1).rotate_left(17));
        let trades: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"trade_id":"{id}","product_id":"BTC-USD","price":"1","size":"1","time":"2026-04-07T00:00:00Z","side":"BUY"}}"#))
            .collect();
        let body = format!(r#"{{"trades":[{}]}}"#, trades.join(","));
        let mut d = with_products();
        let mut out = Vec::new();
        d.decode_rest(BTC_TRADES_URL, &body, RECV, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let got: Vec<u64> = out.iter().filter_map(|e| match e { MarketEvent::Trade(t) => t.id.as_u64(), _ => None }).collect();
        ids.sort_unstable();
        prop_assert_eq!(got, ids);
    }
}
