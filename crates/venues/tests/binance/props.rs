//! Properties over arbitrary input: nothing panics, a failed frame changes
//! nothing, and valid numbers survive exactly.

use marketpipe_model::{MarketEvent, Side, Timestamp};
use marketpipe_venues::{binance::BinanceDecoder, VenueDecoder};
use proptest::prelude::*;

use crate::support::{fixture, snapshot, with_products, DEPTH_URL, RECV};

const FRAMES: [&str; 11] = [
    "agg_trade.json",
    "book_ticker.json",
    "depth_update.json",
    "mini_ticker.json",
    "mini_ticker_arr.json",
    "subscribe_response.json",
    "list_subscriptions.json",
    "error.json",
    "error_nested.json",
    "rest_depth.json",
    "rest_agg_trades.json",
];

/// Everything a failed frame must leave as it was.
fn state(d: &BinanceDecoder) -> impl PartialEq + std::fmt::Debug {
    (
        d.product_count(),
        d.book_state("NKNUSDT"),
        d.book_state("ETHBTC"),
        d.needs_snapshot().map(str::to_owned).collect::<Vec<_>>(),
        d.stats(),
    )
}

/// Decodes `frame` and checks the failure contract: an error emits nothing
/// and changes nothing.
fn check_ws(d: &mut BinanceDecoder, frame: &str) -> Result<(), TestCaseError> {
    let before = state(d);
    let mut out = Vec::new();
    if d.decode_ws(frame, RECV, &mut out).is_err() {
        prop_assert!(out.is_empty(), "failed frame emitted {:?}", out);
        prop_assert_eq!(state(d), before);
    }
    Ok(())
}

/// The same for a REST body at `url`.
fn check_rest(d: &mut BinanceDecoder, url: &str, body: &str) -> Result<(), TestCaseError> {
    let before = state(d);
    let mut out = Vec::new();
    if d.decode_rest(url, body, RECV, &mut out).is_err() {
        prop_assert!(out.is_empty(), "failed response emitted {:?}", out);
        prop_assert_eq!(state(d), before);
    }
    Ok(())
}

/// A decoder in sync on NKNUSDT at update id 499869752, as the fixtures
/// expect.
fn synced() -> BinanceDecoder {
    let mut d = with_products();
    let mut out = Vec::new();
    d.decode_rest(DEPTH_URL, &snapshot(499_869_752), RECV, &mut out).unwrap();
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(frame in ".{0,300}", url in ".{0,60}") {
        let mut d = synced();
        check_ws(&mut d, &frame)?;
        check_rest(&mut d, &url, &frame)?;
        for url in ["/api/v3/exchangeInfo", DEPTH_URL, "/api/v3/aggTrades?symbol=NKNUSDT"] {
            check_rest(&mut d, url, &frame)?;
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let mut d = BinanceDecoder::new();
        check_ws(&mut d, &text)?;
    }

    #[test]
    fn json_shaped_noise_never_panics(data in r#"\{("[a-zA-Z]{1,2}":("[-a-zA-Z0-9.@!]{0,12}"|[0-9]{1,14}|true|null|\[(\["[0-9.]{0,6}"(,"[0-9.]{0,6}"){0,2}\],?){0,3}\]),?){0,8}\}"#) {
        let mut d = synced();
        check_ws(&mut d, &data)?;
        for stream in ["nknusdt@aggTrade", "nknusdt@depth@100ms", "nknusdt@bookTicker", "ethbtc@miniTicker", "!miniTicker@arr"] {
            check_ws(&mut d, &format!(r#"{{"stream":"{stream}","data":{data}}}"#))?;
        }
        check_ws(&mut d, &format!("[{data}]"))?;
        check_rest(&mut d, DEPTH_URL, &data)?;
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
        let mut d = synced();
        check_ws(&mut d, &text)?;
        check_rest(&mut d, DEPTH_URL, &text)?;
        check_rest(&mut d, "/api/v3/aggTrades?symbol=NKNUSDT", &text)?;
        check_rest(&mut d, "/api/v3/exchangeInfo", &text)?;
    }

    #[test]
    fn valid_trades_keep_exact_numbers(
        int in 1u64..10_000_000,
        frac in 0u64..100_000_000,
        scale in 0usize..=8,
        size_frac in 1u64..100_000_000,
        id in 0u64..u64::MAX,
        buyer_is_maker in any::<bool>(),
        millis in 0i64..1_000_000_000,
    ) {
        let price = if scale == 0 { int.to_string() } else { format!("{int}.{:0scale$}", frac % 10u64.pow(scale as u32)) };
        let size = format!("0.{size_frac:08}");
        let time = 1_767_225_600_000 + millis;
        let frame = format!(
            r#"{{"stream":"nknusdt@aggTrade","data":{{"e":"aggTrade","E":{time},"s":"NKNUSDT","a":{id},"p":"{price}","q":"{size}","f":1,"l":2,"T":{time},"m":{buyer_is_maker},"M":true}}}}"#
        );
        let mut d = with_products();
        let mut out = Vec::new();
        d.decode_ws(&frame, RECV, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let [MarketEvent::Trade(t)] = out.as_slice() else { return Err(TestCaseError::fail("no trade")) };
        prop_assert_eq!(t.price.to_string(), price);
        prop_assert_eq!(t.size.to_string(), size);
        prop_assert_eq!(t.id.as_u64(), Some(id));
        prop_assert_eq!(t.taker_side, if buyer_is_maker { Side::Sell } else { Side::Buy });
        prop_assert_eq!(t.time, Timestamp::from_nanos(time * 1_000_000));
    }
}
