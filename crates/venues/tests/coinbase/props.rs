//! Properties over arbitrary input: nothing panics, a failed frame changes
//! nothing, and valid numbers survive exactly.

use marketpipe_model::{MarketEvent, Side, Timestamp};
use marketpipe_venues::{coinbase::CoinbaseDecoder, VenueDecoder};
use proptest::prelude::*;

use crate::support::{fixture, with_products, RECV};

const FRAMES: [&str; 10] = [
    "match.json",
    "last_match.json",
    "ticker.json",
    "snapshot.json",
    "l2update.json",
    "heartbeat.json",
    "subscriptions.json",
    "error.json",
    "received.json",
    "rest_trades.json",
];

/// Decodes `frame` and checks the failure contract: an error emits nothing
/// and registers nothing.
fn check_ws(d: &mut CoinbaseDecoder, frame: &str) -> Result<(), TestCaseError> {
    let before = d.product_count();
    let mut out = Vec::new();
    if d.decode_ws(frame, RECV, &mut out).is_err() {
        prop_assert!(out.is_empty(), "failed frame emitted {:?}", out);
        prop_assert_eq!(d.product_count(), before);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(frame in ".{0,300}", url in ".{0,60}") {
        let mut d = with_products();
        check_ws(&mut d, &frame)?;
        let mut out = Vec::new();
        let _ = d.decode_rest(&url, &frame, RECV, &mut out);
        let _ = d.decode_rest("/products", &frame, RECV, &mut out);
        let _ = d.decode_rest("/products/BTC-USD/trades", &frame, RECV, &mut out);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let mut d = CoinbaseDecoder::new();
        check_ws(&mut d, &text)?;
    }

    #[test]
    fn json_shaped_noise_never_panics(frame in r#"\{("[a-z_]{1,12}":("[-a-zA-Z0-9.:]{0,12}"|[0-9]{1,5}|null|\[(\["[a-z0-9.]{0,6}"(,"[a-z0-9.]{0,6}"){0,3}\],?){0,3}\]),?){0,6}\}"#) {
        let mut d = with_products();
        check_ws(&mut d, &frame)?;
        let typed = frame.replacen('{', r#"{"type":"l2update","#, 1);
        check_ws(&mut d, &typed)?;
        let typed = frame.replacen('{', r#"{"type":"snapshot","#, 1);
        check_ws(&mut d, &typed)?;
    }

    #[test]
    fn mutated_fixtures_never_panic_and_fail_cleanly(
        which in 0..FRAMES.len(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = fixture(FRAMES[which]).into_bytes();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut d = CoinbaseDecoder::new();
        check_ws(&mut d, &text)?;
        let mut out = Vec::new();
        if d.decode_rest("/products", &text, RECV, &mut out).is_err() {
            prop_assert!(out.is_empty());
        }
    }

    #[test]
    fn valid_trades_keep_exact_numbers(
        int in 1u64..10_000_000,
        frac in 0u64..100_000_000,
        scale in 0usize..=8,
        size_frac in 1u64..100_000_000,
        id in 1u64..u64::MAX,
        maker_sells in any::<bool>(),
        micros in 0u32..1_000_000,
    ) {
        let price = if scale == 0 { int.to_string() } else { format!("{int}.{:0scale$}", frac % 10u64.pow(scale as u32)) };
        let size = format!("0.{size_frac:08}");
        let side = if maker_sells { "sell" } else { "buy" };
        let frame = format!(
            r#"{{"type":"match","trade_id":{id},"side":"{side}","size":"{size}","price":"{price}","product_id":"BTC-USD","sequence":1,"time":"2026-01-05T14:03:07.{micros:06}Z"}}"#
        );
        let mut d = CoinbaseDecoder::new();
        let mut out = Vec::new();
        d.decode_ws(&frame, RECV, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let Some(MarketEvent::Trade(t)) = out.last() else { return Err(TestCaseError::fail("no trade")) };
        prop_assert_eq!(t.price.to_string(), price);
        prop_assert_eq!(t.size.to_string(), size);
        prop_assert_eq!(t.id.as_u64(), Some(id));
        prop_assert_eq!(t.taker_side, if maker_sells { Side::Buy } else { Side::Sell });
        prop_assert_eq!(t.time, Timestamp::from_nanos(1_767_621_787_000_000_000 + i64::from(micros) * 1_000));
    }
}
