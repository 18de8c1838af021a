//! The shared store test suite: the behaviour every store backend must show,
//! written once against the [`MarketWriter`] and [`MarketReader`] traits.
//!
//! Each check is a `pub async fn` taking a fresh, empty store; [`run_all`]
//! runs every check, each on a new store from the caller's factory. A
//! backend's own tests call `run_all` (or the checks one by one, for finer
//! reports) and add what only that backend can test. [`batch_is_atomic`] is
//! not part of `run_all`: it needs a store rigged to fail mid-batch, which
//! only the backend knows how to arrange.
//!
//! The checks panic with a message naming what went wrong; this is test
//! code. Decimals are compared by their exact rendering (`Decimal`'s `==`
//! ignores scale, so `60000.1 == 60000.10`), via [`assert_exact`].
//!
//! Stores that keep consumer positions ([`PositionStore`]) also run
//! [`run_positions`], and [`positions_commit_with_results`] on a rigged
//! store.
//!
//! Ordering contract the checks pin down: products (and anything else
//! listed "by exchange then symbol") sort by the exchange's name string and
//! then the symbol, both in byte order (PostgreSQL needs `COLLATE "C"`).

use std::{fmt::Debug, future::Future, str::FromStr, sync::Arc};

use marketpipe_model::{
    BookState, BookStats, BookTop, Candle, Decimal, Exchange, InstrumentKey, Interval, Level, Product, Symbol, Ticker, Timestamp, TradeId,
};

use crate::{CandleQuery, MarketReader, MarketWriter, PositionStore, WriteBatch};

/// The symbol of the item [`batch_is_atomic`] expects the backend to reject;
/// [`positions_commit_with_results`] also expects positions of the consumer
/// group of this name to be rejected.
pub const POISON_SYMBOL: &str = "POISON-TEST";

/// 2026-01-01T00:00:00Z, the suite's epoch.
const T0: i64 = 1_767_225_600_000_000_000;
/// One minute in nanoseconds.
const MIN: i64 = 60_000_000_000;

/// Runs every check except [`batch_is_atomic`], each on a fresh store from
/// `make`. Prints each check's name to stderr before it runs, so a failure
/// is easy to place.
pub async fn run_all<S, F, Fut>(mut make: F)
where
    S: MarketWriter + MarketReader,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! run {
        ($($check:ident),* $(,)?) => {$(
            eprintln!("store suite: {}", stringify!($check));
            $check(&make().await).await;
        )*};
    }
    run!(
        fresh_store_is_empty,
        products_upsert_and_order,
        open_candle_is_overwritten,
        highest_revision_wins,
        final_not_replaced_by_non_final,
        double_write_is_idempotent,
        candle_query_ranges,
        candle_query_latest_without_start,
        candles_are_isolated_by_product_and_interval,
        latest_candle_is_newest,
        decimals_round_trip_exactly,
        trade_ids_round_trip,
        book_depth_and_order,
        book_and_stats_are_replaced,
        stats_round_trip,
    );
}

/// Runs every position check except [`positions_commit_with_results`], each
/// on a fresh store from `make`.
pub async fn run_positions<S, F, Fut>(mut make: F)
where
    S: PositionStore + MarketWriter + MarketReader,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! run {
        ($($check:ident),* $(,)?) => {$(
            eprintln!("store suite: {}", stringify!($check));
            $check(&make().await).await;
        )*};
    }
    run!(positions_round_trip, positions_only_move_as_written, positions_are_isolated_by_group_and_topic);
}

mod positions;
pub use positions::{
    position, position_with, positions_are_isolated_by_group_and_topic, positions_commit_with_results, positions_only_move_as_written,
    positions_round_trip,
};

// ---------------------------------------------------------------- fixtures

/// Parses a test decimal, insisting it is held exactly (it renders back to
/// the same string); panics on a typo in the test itself. Unlike the
/// decoders' `parse_decimal` it admits the full 29-digit mantissa, which
/// sums like `quote_volume` can reach.
pub fn dec(s: &str) -> Decimal {
    match Decimal::from_str(s) {
        Ok(d) if d.to_string() == s => d,
        _ => panic!("bad test decimal {s:?}: not held exactly"),
    }
}

/// A product key.
pub fn key(exchange: Exchange, symbol: &str) -> InstrumentKey {
    InstrumentKey::new(exchange, Symbol::new(symbol))
}

/// A plausible non-final, revision-0 candle of `key` starting at `start_ns`,
/// with every field set; trade ids follow from the start so candles differ.
pub fn sample_candle(key: &InstrumentKey, interval: Interval, start_ns: i64, close: &str) -> Candle {
    let first = u64::try_from(start_ns / MIN).unwrap_or(0);
    Candle {
        instrument: key.clone(),
        interval,
        start: Timestamp(start_ns),
        open: dec("100.00"),
        high: dec("105.5"),
        low: dec("99.25"),
        close: dec(close),
        volume: dec("2.00120000"),
        quote_volume: dec("201.563130000"),
        vwap: dec("100.72113232060763541874875075"),
        trades: 7,
        buy_trades: 4,
        sell_trades: 3,
        buy_volume: dec("1.5"),
        sell_volume: dec("0.50120000"),
        first_trade_id: TradeId::Num(first),
        last_trade_id: TradeId::Num(first + 6),
        is_final: false,
        revision: 0,
    }
}

/// `c` with another revision and finality.
pub fn revised(c: &Candle, revision: u32, is_final: bool, close: &str) -> Candle {
    Candle { revision, is_final, close: dec(close), ..c.clone() }
}

/// A live book with the given levels, best first.
pub fn sample_book(key: &InstrumentKey, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> BookTop {
    let levels = |side: &[(&str, &str)]| side.iter().map(|(p, s)| Level::new(dec(p), dec(s))).collect();
    BookTop {
        instrument: key.clone(),
        state: BookState::Live,
        sequence: Some(42),
        time: Some(Timestamp(T0 + 1_500)),
        bids: levels(bids),
        asks: levels(asks),
    }
}

/// Statistics with every field set.
pub fn sample_stats(key: &InstrumentKey) -> BookStats {
    BookStats {
        instrument: key.clone(),
        time: Some(Timestamp(T0 + 7)),
        best_bid: Some(dec("60000.00")),
        best_bid_size: Some(dec("0.00120000")),
        best_ask: Some(dec("60000.10")),
        best_ask_size: Some(dec("1.5")),
        spread: Some(dec("0.10")),
        mid: Some(dec("60000.050")),
        mid_ma: Some(dec("60000.0333333333333333333333")),
        mid_ma_window: 20,
        mid_ma_samples: 7,
        max_spread: Some(dec("2.5")),
        last_price: Some(dec("60000.1")),
        last_trade_time: Some(Timestamp(T0 - 3)),
        book_state: BookState::Live,
    }
}

/// Statistics with every optional field empty.
pub fn empty_stats(key: &InstrumentKey) -> BookStats {
    BookStats {
        instrument: key.clone(),
        time: None,
        best_bid: None,
        best_bid_size: None,
        best_ask: None,
        best_ask_size: None,
        spread: None,
        mid: None,
        mid_ma: None,
        mid_ma_window: 20,
        mid_ma_samples: 0,
        max_spread: None,
        last_price: None,
        last_trade_time: None,
        book_state: BookState::Resyncing,
    }
}

/// A ticker with every field set.
pub fn sample_ticker(key: &InstrumentKey) -> Ticker {
    Ticker {
        time: Some(Timestamp(T0 + 11)),
        last_price: Some(dec("60000.10")),
        last_size: Some(dec("0.00120000")),
        best_bid: Some(dec("60000.0")),
        best_bid_size: Some(dec("3")),
        best_ask: Some(dec("60000.10")),
        best_ask_size: Some(dec("0.5")),
        open_24h: Some(dec("59000")),
        high_24h: Some(dec("61000.5")),
        low_24h: Some(dec("58000.25")),
        volume_24h: Some(dec("12345.67890000")),
        ..Ticker::empty(key.clone(), Timestamp(T0 + 12))
    }
}

/// Asserts two values are equal in their exact rendering: decimals by
/// their strings (scale included), trade ids by kind and value.
#[track_caller]
pub fn assert_exact<T: Debug>(actual: &T, expected: &T, what: &str) {
    let (actual, expected) = (format!("{actual:#?}"), format!("{expected:#?}"));
    assert!(actual == expected, "{what}: store returned\n{actual}\nbut expected\n{expected}");
}

fn query(key: &InstrumentKey, interval: Interval, start: Option<i64>, end: Option<i64>, limit: usize) -> CandleQuery {
    CandleQuery { instrument: key.clone(), interval, start: start.map(Timestamp), end: end.map(Timestamp), limit }
}

async fn write<S: MarketWriter>(store: &S, batch: WriteBatch, what: &str) {
    if let Err(e) = store.write(&batch).await {
        panic!("{what}: write failed: {e}");
    }
}

async fn write_candles<S: MarketWriter>(store: &S, candles: &[Candle], what: &str) {
    write(store, WriteBatch { candles: candles.to_vec(), ..WriteBatch::default() }, what).await;
}

async fn latest<S: MarketReader>(store: &S, key: &InstrumentKey, interval: Interval, what: &str) -> Candle {
    match store.latest_candle(key, interval).await {
        Ok(Some(c)) => c,
        Ok(None) => panic!("{what}: no candle for {key} {interval}"),
        Err(e) => panic!("{what}: latest_candle failed: {e}"),
    }
}

async fn candles<S: MarketReader>(store: &S, q: &CandleQuery) -> Vec<Candle> {
    store.candles(q).await.unwrap_or_else(|e| panic!("candles({q:?}) failed: {e}"))
}

/// The starts of `q`'s result, in minutes after [`T0`], for compact asserts.
async fn minutes<S: MarketReader>(store: &S, q: &CandleQuery) -> Vec<i64> {
    candles(store, q).await.iter().map(|c| (c.start.nanos() - T0) / MIN).collect()
}

async fn book<S: MarketReader>(store: &S, key: &InstrumentKey, depth: usize) -> Option<BookTop> {
    store.book(key, depth).await.unwrap_or_else(|e| panic!("book({key}, {depth}) failed: {e}"))
}

async fn stats<S: MarketReader>(store: &S, key: &InstrumentKey) -> Option<BookStats> {
    store.stats(key).await.unwrap_or_else(|e| panic!("stats({key}) failed: {e}"))
}

async fn products<S: MarketReader>(store: &S) -> Vec<Product> {
    store.products().await.unwrap_or_else(|e| panic!("products() failed: {e}"))
}

/// Everything the read API shows about `keys`, rendered exactly.
async fn snapshot<S: MarketReader>(store: &S, keys: &[InstrumentKey]) -> String {
    let mut out = format!("{:#?}\n", products(store).await);
    for k in keys {
        for interval in Interval::ALL {
            let all = candles(store, &query(k, interval, None, None, usize::MAX)).await;
            out.push_str(&format!("{k} {interval}: {all:#?}\n"));
        }
        out.push_str(&format!("{k} book: {:#?}\n", book(store, k, usize::MAX).await));
        out.push_str(&format!("{k} stats: {:#?}\n", stats(store, k).await));
    }
    out
}

// ------------------------------------------------------------------ checks

/// A new store answers, holds nothing, and accepts an empty batch.
pub async fn fresh_store_is_empty<S: MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Coinbase, "BTC-USD");
    if let Err(e) = store.health().await {
        panic!("health of a fresh store failed: {e}");
    }
    assert!(products(store).await.is_empty(), "fresh store lists products");
    write(store, WriteBatch::default(), "empty batch").await;
    assert!(products(store).await.is_empty(), "empty batch created products");
    assert_eq!(store.product(&k).await.ok(), Some(None), "unknown product must be Ok(None)");
    assert!(candles(store, &query(&k, Interval::M1, None, None, 10)).await.is_empty(), "fresh store has candles");
    assert!(store.latest_candle(&k, Interval::M1).await.ok() == Some(None), "unknown latest candle must be Ok(None)");
    assert!(book(store, &k, 10).await.is_none(), "unknown book must be None");
    assert!(stats(store, &k).await.is_none(), "unknown stats must be None");
}

/// Products upsert by exchange + symbol and list by exchange name, then symbol.
pub async fn products_upsert_and_order<S: MarketWriter + MarketReader>(store: &S) {
    let first = vec![
        Product::new(Exchange::Kucoin, "BCHSV-USDT", "BSV", "USDT"),
        Product::new(Exchange::Coinbase, "ETH-USD", "ETH", "USD"),
        Product::new(Exchange::Binance, "NKNUSDT", "NKN", "USDT"),
        Product::new(Exchange::CoinbaseAdvanced, "BTC-USD", "BTC", "USD"),
        Product::new(Exchange::Coinbase, "BTC-USD", "BTC", "USD"),
    ];
    write(store, WriteBatch { products: first, ..WriteBatch::default() }, "products").await;
    let listed: Vec<String> = products(store).await.iter().map(|p| format!("{} {} {}", p.key, p.native_symbol, p.base)).collect();
    assert_eq!(
        listed,
        [
            "binance:NKN-USDT NKNUSDT NKN",
            "coinbase:BTC-USD BTC-USD BTC",
            "coinbase:ETH-USD ETH-USD ETH",
            "coinbase-advanced:BTC-USD BTC-USD BTC",
            "kucoin:BSV-USDT BCHSV-USDT BSV",
        ],
        "products must list by exchange name, then symbol"
    );

    // Same key again, twice in one batch: the last one wins, nothing is duplicated.
    let renamed =
        vec![Product::new(Exchange::Coinbase, "BTC-USD-OLD", "BTC", "USD"), Product::new(Exchange::Coinbase, "BTC-USD-NEW", "BTC", "USD")];
    write(store, WriteBatch { products: renamed, ..WriteBatch::default() }, "product upsert").await;
    let all = products(store).await;
    assert_eq!(all.len(), 5, "an upsert must not add a product: {all:#?}");
    let k = key(Exchange::Coinbase, "BTC-USD");
    let got = store.product(&k).await.unwrap_or_else(|e| panic!("product({k}) failed: {e}"));
    assert_exact(&got, &Some(Product::new(Exchange::Coinbase, "BTC-USD-NEW", "BTC", "USD")), "upserted product");
    let other = store.product(&key(Exchange::CoinbaseAdvanced, "BTC-USD")).await.ok().flatten();
    assert_eq!(other.map(|p| p.native_symbol), Some("BTC-USD".to_owned()), "same symbol on another exchange changed");
    let unknown = store.product(&key(Exchange::Kucoin, "BTC-USD")).await.ok();
    assert_eq!(unknown, Some(None), "unknown product must be Ok(None)");
}

/// An open (non-final) candle is replaced by each newer state of itself, and
/// by its final state.
pub async fn open_candle_is_overwritten<S: MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Coinbase, "BTC-USD");
    let c = sample_candle(&k, Interval::M1, T0, "100");
    write_candles(store, std::slice::from_ref(&c), "first state").await;
    assert_exact(&latest(store, &k, Interval::M1, "first state").await, &c, "first state");

    let grown = Candle { trades: 8, buy_trades: 5, last_trade_id: TradeId::Num(99), ..revised(&c, 0, false, "101.5") };
    write_candles(store, std::slice::from_ref(&grown), "open update").await;
    assert_exact(&latest(store, &k, Interval::M1, "open update").await, &grown, "open candle must be overwritten");

    let closed = revised(&grown, 0, true, "101.5");
    write_candles(store, std::slice::from_ref(&closed), "finalize").await;
    assert_exact(&latest(store, &k, Interval::M1, "finalize").await, &closed, "final state must replace the open one");
    let all = candles(store, &query(&k, Interval::M1, None, None, 10)).await;
    assert_eq!(all.len(), 1, "upserts must not add rows: {all:#?}");
}

/// The highest revision wins, whatever order the writes arrive in, final or not.
pub async fn highest_revision_wins<S: MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Binance, "NKN-USDT");
    let base = sample_candle(&k, Interval::M1, T0, "100");
    let rev2 = revised(&base, 2, true, "102");
    write_candles(store, std::slice::from_ref(&rev2), "rev 2").await;
    write_candles(store, &[revised(&base, 1, true, "101")], "older final rev 1").await;
    assert_exact(&latest(store, &k, Interval::M1, "after rev 1").await, &rev2, "an older revision replaced a newer one");
    write_candles(store, &[revised(&base, 0, false, "100")], "older open rev 0").await;
    assert_exact(&latest(store, &k, Interval::M1, "after rev 0").await, &rev2, "an older open state replaced rev 2");

    let rev3 = revised(&base, 3, true, "103");
    write_candles(store, std::slice::from_ref(&rev3), "rev 3").await;
    assert_exact(&latest(store, &k, Interval::M1, "rev 3").await, &rev3, "a newer revision must replace");
    let rev4_open = revised(&base, 4, false, "104");
    write_candles(store, std::slice::from_ref(&rev4_open), "rev 4 open").await;
    assert_exact(&latest(store, &k, Interval::M1, "rev 4").await, &rev4_open, "a higher revision wins even if not final");

    // Within one batch too: the later, older write does not win.
    let rev6 = revised(&base, 6, true, "106");
    write_candles(store, &[rev6.clone(), revised(&base, 5, true, "105")], "rev 6 then 5").await;
    assert_exact(&latest(store, &k, Interval::M1, "rev 6 then 5").await, &rev6, "in-batch older revision won");
}

/// At equal revision a final candle is never replaced by a non-final one,
/// but is by another final one; across batches and within one.
pub async fn final_not_replaced_by_non_final<S: MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Kucoin, "BSV-USDT");
    let base = sample_candle(&k, Interval::M5, T0, "50");
    let done = revised(&base, 0, true, "50.5");
    write_candles(store, std::slice::from_ref(&done), "final").await;
    write_candles(store, &[revised(&base, 0, false, "999")], "stale open state").await;
    assert_exact(&latest(store, &k, Interval::M5, "after stale open").await, &done, "non-final replaced final");
    let redone = revised(&base, 0, true, "50.75");
    write_candles(store, std::slice::from_ref(&redone), "final again").await;
    assert_exact(&latest(store, &k, Interval::M5, "final again").await, &redone, "final must replace final");

    let start = T0 + 5 * MIN;
    let next = sample_candle(&k, Interval::M5, start, "60");
    let next_final = revised(&next, 0, true, "61");
    write_candles(store, &[next_final.clone(), revised(&next, 0, false, "62")], "final then open").await;
    assert_exact(&latest(store, &k, Interval::M5, "final then open").await, &next_final, "in-batch open replaced final");
    let third = sample_candle(&k, Interval::M5, start + 5 * MIN, "70");
    let third_final = revised(&third, 0, true, "71");
    write_candles(store, &[revised(&third, 0, false, "72"), third_final.clone()], "open then final").await;
    assert_exact(&latest(store, &k, Interval::M5, "open then final").await, &third_final, "in-batch final lost");
}

/// Writing the same batch twice leaves exactly what writing it once did.
pub async fn double_write_is_idempotent<S: MarketWriter + MarketReader>(store: &S) {
    let a = key(Exchange::Coinbase, "BTC-USD");
    let b = key(Exchange::Binance, "NKN-USDT");
    let c0 = sample_candle(&a, Interval::M1, T0, "100");
    let batch = WriteBatch {
        products: vec![Product::new(Exchange::Coinbase, "BTC-USD", "BTC", "USD")],
        candles: vec![
            revised(&c0, 0, true, "100.5"),
            revised(&c0, 1, true, "100.75"),
            sample_candle(&a, Interval::M1, T0 + MIN, "101"),
            sample_candle(&a, Interval::H1, T0, "101"),
            sample_candle(&b, Interval::M1, T0, "0.35210000"),
        ],
        books: vec![sample_book(&a, &[("100", "1")], &[("101", "2")])],
        stats: vec![sample_stats(&a)],
        tickers: vec![sample_ticker(&a)],
    };
    write(store, batch.clone(), "first write").await;
    let once = snapshot(store, &[a.clone(), b.clone()]).await;
    write(store, batch, "second write").await;
    let twice = snapshot(store, &[a.clone(), b]).await;
    assert!(once == twice, "writing a batch twice changed the store:\nonce:\n{once}\ntwice:\n{twice}");
    assert_eq!(latest(store, &a, Interval::M1, "idempotent").await.start, Timestamp(T0 + MIN), "latest 1m candle");
    let first = candles(store, &query(&a, Interval::M1, Some(T0), None, 1)).await;
    assert_eq!(first.first().map(|c| (c.revision, c.is_final)), Some((1, true)), "rev 1 must win in the batch");
}

/// Candles at minutes 0 1 2 3 5 8 9 after T0 (with gaps) of one product and interval.
async fn write_query_fixture<S: MarketWriter>(store: &S, k: &InstrumentKey) {
    let candles: Vec<Candle> = [0, 1, 2, 3, 5, 8, 9].iter().map(|m| sample_candle(k, Interval::M1, T0 + m * MIN, "100")).collect();
    write_candles(store, &candles, "query fixture").await;
}

/// With `start`: the first `limit` candles from `start` (inclusive) up to
/// `end` (exclusive), ascending.
pub async fn candle_query_ranges<S: MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Coinbase, "ETH-USD");
    write_query_fixture(store, &k).await;
    let q = |start: i64, end: Option<i64>, limit: usize| query(&k, Interval::M1, Some(T0 + start), end.map(|e| T0 + e), limit);
    let cases: [(&str, CandleQuery, Vec<i64>); 10] = [
        ("from minute 1, limit 3", q(MIN, None, 3), vec![1, 2, 3]),
        ("start is inclusive", q(9 * MIN, None, 10), vec![9]),
        ("start between candles", q(4 * MIN, None, 10), vec![5, 8, 9]),
        ("end is exclusive", q(2 * MIN, Some(8 * MIN), 10), vec![2, 3, 5]),
        ("end just past a candle includes it", q(2 * MIN, Some(8 * MIN + 1), 10), vec![2, 3, 5, 8]),
        ("limit cuts from the start", q(0, Some(9 * MIN), 2), vec![0, 1]),
        ("start equals end", q(3 * MIN, Some(3 * MIN), 10), vec![]),
        ("start after end", q(5 * MIN, Some(2 * MIN), 10), vec![]),
        ("start after the last candle", q(10 * MIN, None, 10), vec![]),
        ("limit 0", q(0, None, 0), vec![]),
    ];
    for (what, q, expected) in cases {
        assert_eq!(minutes(store, &q).await, expected, "{what}: {q:?}");
    }
    let huge = query(&k, Interval::M1, Some(i64::MIN), None, usize::MAX);
    assert_eq!(minutes(store, &huge).await, [0, 1, 2, 3, 5, 8, 9], "earliest start, unlimited");
    let got = candles(store, &q(5 * MIN, Some(6 * MIN), 1)).await;
    assert_exact(&got, &vec![sample_candle(&k, Interval::M1, T0 + 5 * MIN, "100")], "a queried candle");
}

/// Without `start`: the latest `limit` candles before `end` (or overall),
/// returned ascending.
pub async fn candle_query_latest_without_start<S: MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Coinbase, "ETH-USD");
    write_query_fixture(store, &k).await;
    let q = |end: Option<i64>, limit: usize| query(&k, Interval::M1, None, end.map(|e| T0 + e), limit);
    let cases: [(&str, CandleQuery, Vec<i64>); 8] = [
        ("latest 3 overall", q(None, 3), vec![5, 8, 9]),
        ("everything when limit exceeds", q(None, 100), vec![0, 1, 2, 3, 5, 8, 9]),
        ("unlimited", q(None, usize::MAX), vec![0, 1, 2, 3, 5, 8, 9]),
        ("latest 2 before an end on a candle", q(Some(8 * MIN), 2), vec![3, 5]),
        ("end just past a candle includes it", q(Some(5 * MIN + 1), 2), vec![3, 5]),
        ("end before the first candle", q(Some(0), 5), vec![]),
        ("limit 1 is the newest", q(None, 1), vec![9]),
        ("limit 0", q(None, 0), vec![]),
    ];
    for (what, q, expected) in cases {
        assert_eq!(minutes(store, &q).await, expected, "{what}: {q:?}");
    }
    let earliest = query(&k, Interval::M1, None, Some(i64::MIN), 5);
    assert!(candles(store, &earliest).await.is_empty(), "nothing starts before the earliest instant");
}

/// Products and intervals never leak into each other's queries, even at the same start.
pub async fn candles_are_isolated_by_product_and_interval<S: MarketWriter + MarketReader>(store: &S) {
    let a = key(Exchange::Coinbase, "BTC-USD");
    let same_symbol = key(Exchange::CoinbaseAdvanced, "BTC-USD");
    let b = key(Exchange::Coinbase, "BTC-USDT");
    let rows = vec![
        sample_candle(&a, Interval::M1, T0, "1"),
        sample_candle(&a, Interval::H1, T0, "2"),
        sample_candle(&same_symbol, Interval::M1, T0, "3"),
        sample_candle(&b, Interval::M1, T0, "4"),
        sample_candle(&b, Interval::M1, T0 + MIN, "5"),
    ];
    write_candles(store, &rows, "isolation").await;
    for (k, interval, expected) in [
        (&a, Interval::M1, vec!["1"]),
        (&a, Interval::H1, vec!["2"]),
        (&same_symbol, Interval::M1, vec!["3"]),
        (&b, Interval::M1, vec!["4", "5"]),
        (&a, Interval::M5, vec![]),
        (&key(Exchange::Kucoin, "BTC-USD"), Interval::M1, vec![]),
    ] {
        let closes: Vec<String> = candles(store, &query(k, interval, None, None, 10)).await.iter().map(|c| c.close.to_string()).collect();
        assert_eq!(closes, expected, "candles of {k} {interval}");
    }
}

/// `latest_candle` is the newest by start, final or not, whatever the write order.
pub async fn latest_candle_is_newest<S: MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Binance, "NKN-USDT");
    let newest = sample_candle(&k, Interval::M1, T0 + 9 * MIN, "9");
    let older = [
        revised(&sample_candle(&k, Interval::M1, T0, "0"), 0, true, "0"),
        revised(&sample_candle(&k, Interval::M1, T0 + 5 * MIN, "5"), 2, true, "5"),
    ];
    write_candles(store, std::slice::from_ref(&newest), "newest first").await;
    write_candles(store, &older, "older after").await;
    assert_exact(&latest(store, &k, Interval::M1, "latest").await, &newest, "latest candle (open, newest start)");
    let hourly = sample_candle(&k, Interval::H1, T0, "60");
    write_candles(store, std::slice::from_ref(&hourly), "hourly").await;
    assert_exact(&latest(store, &k, Interval::H1, "hourly").await, &hourly, "latest hourly candle");
    let none = store.latest_candle(&k, Interval::D1).await.ok();
    assert!(none == Some(None), "no daily candle was written, got {none:?}");
}

/// Decimal strings come back exactly, scale included, in every field.
pub async fn decimals_round_trip_exactly<S: MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Coinbase, "BTC-USD");
    let c = Candle {
        open: dec("60000.1"),
        high: dec("60000.10"),
        low: dec("0.00120000"),
        close: dec("60000.100"),
        volume: dec("0.0000000000000000000000000001"),
        quote_volume: dec("79228162514264337593543950335"),
        vwap: dec("7922816251426433759354395033.5"),
        buy_volume: dec("0"),
        sell_volume: dec("0.000"),
        ..sample_candle(&k, Interval::M1, T0, "1")
    };
    let b = sample_book(&k, &[("60000.10", "0.00120000"), ("60000.0", "1")], &[("60000.100", "2.50")]);
    let s = BookStats { spread: Some(dec("-0.50")), ..sample_stats(&k) };
    let batch = WriteBatch { candles: vec![c.clone()], books: vec![b.clone()], stats: vec![s.clone()], ..WriteBatch::default() };
    write(store, batch, "decimals").await;

    let got = latest(store, &k, Interval::M1, "decimals").await;
    let fields = [
        ("open", got.open, "60000.1"),
        ("high", got.high, "60000.10"),
        ("low", got.low, "0.00120000"),
        ("close", got.close, "60000.100"),
        ("volume", got.volume, "0.0000000000000000000000000001"),
        ("quote_volume", got.quote_volume, "79228162514264337593543950335"),
        ("vwap", got.vwap, "7922816251426433759354395033.5"),
        ("buy_volume", got.buy_volume, "0"),
        ("sell_volume", got.sell_volume, "0.000"),
    ];
    for (name, value, expected) in fields {
        assert_eq!(value.to_string(), expected, "candle {name} must keep its exact string");
    }
    assert_exact(&got, &c, "candle with edge-case decimals");
    assert_exact(&book(store, &k, 10).await, &Some(b), "book decimals");
    let got_stats = stats(store, &k).await;
    assert_eq!(got_stats.as_ref().and_then(|s| s.spread).map(|d| d.to_string()).as_deref(), Some("-0.50"), "negative spread");
    assert_exact(&got_stats, &Some(s), "stats decimals");
}

/// Numeric and string trade ids come back as the same kind and value, over
/// the whole `u64` range; `Num(123)` and `Str("123")` stay distinct.
pub async fn trade_ids_round_trip<S: MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Kucoin, "BTC-USDT");
    let str_id = |s: &str| TradeId::Str(Arc::from(s));
    let pairs = [
        (TradeId::Num(0), TradeId::Num(u64::MAX)),
        (TradeId::Num(123), str_id("123")),
        (str_id("0012"), str_id("5f3c1a2b9d0e-7")),
        (TradeId::Num(1 << 63), TradeId::Num((1 << 63) - 1)),
    ];
    let written: Vec<Candle> = pairs
        .iter()
        .zip(0i64..)
        .map(|((first, last), i)| Candle {
            first_trade_id: first.clone(),
            last_trade_id: last.clone(),
            ..sample_candle(&k, Interval::M1, T0 + i * MIN, "1")
        })
        .collect();
    write_candles(store, &written, "trade ids").await;
    let got = candles(store, &query(&k, Interval::M1, None, None, 10)).await;
    let ids: Vec<(TradeId, TradeId)> = got.iter().map(|c| (c.first_trade_id.clone(), c.last_trade_id.clone())).collect();
    assert_exact(&ids, &pairs.to_vec(), "trade ids (kind and value)");
    assert_exact(&got, &written, "candles with trade ids");
}

/// Books come back best first, cut to the requested depth per side.
pub async fn book_depth_and_order<S: MarketWriter + MarketReader>(store: &S) {
    let k = key(Exchange::Coinbase, "BTC-USD");
    let full = BookTop {
        sequence: Some(u64::MAX),
        ..sample_book(
            &k,
            &[("100", "1"), ("99.5", "2"), ("99", "3.0"), ("98", "4"), ("97", "5")],
            &[("101", "6"), ("101.5", "7"), ("102", "8"), ("103", "9"), ("104", "10")],
        )
    };
    let one_sided = BookTop {
        state: BookState::Stale,
        sequence: None,
        time: None,
        ..sample_book(&key(Exchange::Binance, "NKN-USDT"), &[], &[("0.35", "1"), ("0.36", "2")])
    };
    write(store, WriteBatch { books: vec![full.clone(), one_sided.clone()], ..WriteBatch::default() }, "books").await;

    let cut = |depth: usize| BookTop {
        bids: full.bids.iter().take(depth).copied().collect(),
        asks: full.asks.iter().take(depth).copied().collect(),
        ..full.clone()
    };
    for depth in [0, 1, 3, 5, 50, usize::MAX] {
        assert_exact(&book(store, &k, depth).await, &Some(cut(depth)), &format!("book at depth {depth}"));
    }
    let three = book(store, &k, 3).await.unwrap_or_else(|| panic!("book vanished"));
    let prices: Vec<String> = three.bids.iter().chain(&three.asks).map(|l| l.price.to_string()).collect();
    assert_eq!(prices, ["100", "99.5", "99", "101", "101.5", "102"], "depth 3: best bids then best asks");
    assert_exact(&book(store, &one_sided.instrument, 10).await, &Some(one_sided), "one-sided stale book");
    assert!(book(store, &key(Exchange::Kucoin, "BTC-USDT"), 10).await.is_none(), "unknown book must be None");
}

/// A new book or new statistics replace the old ones entirely, per product.
pub async fn book_and_stats_are_replaced<S: MarketWriter + MarketReader>(store: &S) {
    let a = key(Exchange::Coinbase, "BTC-USD");
    let b = key(Exchange::Coinbase, "ETH-USD");
    let a_book = sample_book(&a, &[("100", "1"), ("99", "2"), ("98", "3")], &[("101", "1"), ("102", "2")]);
    let b_book = sample_book(&b, &[("10", "1")], &[("11", "1")]);
    let first =
        WriteBatch { books: vec![a_book, b_book.clone()], stats: vec![sample_stats(&a), sample_stats(&b)], ..WriteBatch::default() };
    write(store, first, "first books").await;

    let a_book2 = BookTop { state: BookState::Resyncing, sequence: None, time: None, ..sample_book(&a, &[("90", "9")], &[]) };
    let a_stats2 = BookStats { book_state: BookState::Stale, ..empty_stats(&a) };
    let second = WriteBatch { books: vec![a_book2.clone()], stats: vec![a_stats2.clone()], ..WriteBatch::default() };
    write(store, second, "replacement").await;
    assert_exact(&book(store, &a, 10).await, &Some(a_book2), "replaced book (no leftover levels)");
    assert_exact(&stats(store, &a).await, &Some(a_stats2), "replaced stats (emptied fields)");
    assert_exact(&book(store, &b, 10).await, &Some(b_book), "another product's book");
    assert_exact(&stats(store, &b).await, &Some(sample_stats(&b)), "another product's stats");
}

/// Every statistics field round-trips, set or empty.
pub async fn stats_round_trip<S: MarketWriter + MarketReader>(store: &S) {
    let full = sample_stats(&key(Exchange::Kucoin, "BSV-USDT"));
    let empty = empty_stats(&key(Exchange::Binance, "NKN-USDT"));
    write(store, WriteBatch { stats: vec![full.clone(), empty.clone()], ..WriteBatch::default() }, "stats").await;
    assert_exact(&stats(store, &full.instrument).await, &Some(full), "stats with every field");
    assert_exact(&stats(store, &empty.instrument).await, &Some(empty), "stats with empty fields");
    assert!(stats(store, &key(Exchange::Kucoin, "BTC-USDT")).await.is_none(), "unknown stats must be None");
}

/// Adds one row of the poisoned product to one part of a batch.
type AddPoison = fn(&mut WriteBatch, &InstrumentKey);

/// A batch is all or nothing.
///
/// The store must be rigged beforehand (e.g. with triggers) to reject any
/// product, candle, book, stats or ticker row whose symbol is
/// [`POISON_SYMBOL`]. The check writes a baseline, then, for each part of
/// the batch in turn, a batch that changes everything and carries one
/// poisoned row at the end of that part: the write must fail and leave the
/// baseline untouched. Finally the same batch without poison must succeed
/// and change what is read, which shows the failed batches had something to
/// undo.
pub async fn batch_is_atomic<S: MarketWriter + MarketReader>(store: &S) {
    let a = key(Exchange::Coinbase, "BTC-USD");
    let b = key(Exchange::Binance, "NKN-USDT");
    let poison = key(Exchange::Coinbase, POISON_SYMBOL);
    let base = sample_candle(&a, Interval::M1, T0, "100");
    let baseline = WriteBatch {
        products: vec![Product::new(Exchange::Coinbase, "BTC-USD", "BTC", "USD")],
        candles: vec![base.clone()],
        books: vec![sample_book(&a, &[("100", "1")], &[("101", "1")])],
        stats: vec![empty_stats(&a)],
        tickers: vec![],
    };
    write(store, baseline, "baseline").await;
    let keys = [a.clone(), b.clone(), poison.clone()];
    let before = snapshot(store, &keys).await;

    let change = WriteBatch {
        products: vec![
            Product::new(Exchange::Coinbase, "BTC-USD-V2", "BTC", "USD"),
            Product::new(Exchange::Binance, "NKNUSDT", "NKN", "USDT"),
        ],
        candles: vec![revised(&base, 1, true, "111"), sample_candle(&b, Interval::M1, T0, "0.35")],
        books: vec![sample_book(&a, &[("99", "9")], &[]), sample_book(&b, &[("0.34", "1")], &[("0.36", "1")])],
        stats: vec![sample_stats(&a), sample_stats(&b)],
        tickers: vec![sample_ticker(&a), sample_ticker(&b)],
    };
    let poisoned_parts: [(&str, AddPoison); 5] = [
        ("products", |w, k| w.products.push(Product { key: k.clone(), native_symbol: "X".into(), base: "X".into(), quote: "Y".into() })),
        ("candles", |w, k| w.candles.push(sample_candle(k, Interval::M1, T0, "1"))),
        ("books", |w, k| w.books.push(sample_book(k, &[("1", "1")], &[]))),
        ("stats", |w, k| w.stats.push(sample_stats(k))),
        ("tickers", |w, k| w.tickers.push(sample_ticker(k))),
    ];
    for (part, add_poison) in poisoned_parts {
        let mut batch = change.clone();
        add_poison(&mut batch, &poison);
        let result = store.write(&batch).await;
        assert!(result.is_err(), "a batch with a rejected row in {part} must fail (is the store rigged?)");
        let after = snapshot(store, &keys).await;
        assert!(after == before, "a failed batch (poison in {part}) left changes:\nbefore:\n{before}\nafter:\n{after}");
    }
    write(store, change, "unpoisoned batch").await;
    assert!(snapshot(store, &keys).await != before, "the unpoisoned batch changed nothing; the check proves nothing");
}
