//! Which product a raw record is about, read off its text without decoding
//! it: what lets a replay split a capture between threads by product (see
//! `CaptureReader::open_split` in the capture crate), each thread decoding
//! and aggregating its own products with its own decoder and engine.
//!
//! The contract is one-sided. A key, when one is given, must be the native
//! id of the product of *every* event the record decodes to, because no one
//! else will see that record; `None` is always safe (the record goes to
//! every thread, each keeping only its own products' events, see
//! [`product_hash`]). So each rule below accepts only the layouts it is
//! sure of, and anything unusual gets `None`.

use marketpipe_model::Exchange;

/// The native id of the one product a record is about, if its text says
/// so plainly: `url` is a REST request's URL (`None` for a websocket
/// frame), `payload` its body or the frame.
pub fn product_key<'a>(exchange: Exchange, url: Option<&'a str>, payload: &'a str) -> Option<&'a str> {
    let key = match (exchange, url) {
        // `/api/v3/depth?symbol=BTCUSDT&limit=1000`, `/api/v3/aggTrades?symbol=BTCUSDT&fromId=1`
        (Exchange::Binance | Exchange::Kucoin, Some(url)) => query_symbol(url)?,
        // `/products/BTC-USD/book?level=2`, `/api/v3/brokerage/market/products/BTC-USD/ticker`
        (Exchange::Coinbase | Exchange::CoinbaseAdvanced, Some(url)) => products_segment(url)?,
        // `{"stream":"btcusdt@aggTrade","data":{...}}`; the all-market
        // `!miniTicker@arr` names no one product.
        (Exchange::Binance, None) => {
            let stream = payload.strip_prefix(r#"{"stream":""#)?;
            // A byte loop: the name is a dozen bytes, and `split_once`'s
            // searcher cost more than the rest of the routing together.
            let at = stream.bytes().take_while(|&b| b != b'"').position(|b| b == b'@')?;
            let symbol = &stream[..at];
            symbol.strip_prefix('!').map_or(Some(symbol), |_| None)?
        }
        // `{"type":"message","topic":"/market/match:BTC-USDT","subject":"trade.l3match",...}`;
        // `/market/ticker:all` carries one symbol per frame, as its subject.
        (Exchange::Kucoin, None) => {
            let topic = string_field(payload, r#""topic":""#)?;
            let (_, symbols) = topic.strip_prefix("/market/")?.split_once(':')?;
            match symbols {
                "all" => string_field(payload, r#""subject":""#)?,
                one => one,
            }
        }
        // `{"type":"match",...,"product_id":"BTC-USD",...}`: every product
        // frame names its one product so (a subscriptions frame lists
        // several, as `product_ids`, which this does not match).
        (Exchange::Coinbase, None) => string_field(payload, r#""product_id":""#)?,
        (Exchange::CoinbaseAdvanced, None) => return None,
    };
    // A plain id only: one that is percent-encoded, or a list, may hash
    // apart from the id its events carry.
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    plain.then_some(key)
}

/// The hash by which products are divided between threads: of a native
/// id's ASCII letters and digits, letter case ignored, so that the
/// different spellings of one product agree (`btcusdt` in a Binance stream
/// name, `BTCUSDT` in its REST query, `BTC-USDT` as its normalized symbol).
/// Two products whose ids hash alike share a thread, which is harmless.
pub fn product_hash(native_id: &str) -> u64 {
    // FNV-1a: tiny, and stable across runs and builds (unlike std's
    // seeded hasher), so that a split never depends on the process.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in native_id.bytes().filter(u8::is_ascii_alphanumeric) {
        hash ^= u64::from(b.to_ascii_lowercase());
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The value of a `symbol=` query parameter.
fn query_symbol(url: &str) -> Option<&str> {
    let (_, query) = url.split_once('?')?;
    let query = query.split('#').next()?;
    query.split('&').find_map(|pair| pair.strip_prefix("symbol="))
}

/// The path segment after `/products/`.
fn products_segment(url: &str) -> Option<&str> {
    let path = url.split(['?', '#']).next()?;
    let (_, rest) = path.split_once("/products/")?;
    rest.split('/').next()
}

/// The text of the string value after `prefix`, the first time it occurs
/// (no escapes: a value with one is not a plain id anyway).
fn string_field<'a>(payload: &'a str, prefix: &str) -> Option<&'a str> {
    let at = payload.find(prefix)? + prefix.len();
    let rest = &payload[at..];
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_layouts_each_exchange_uses() {
        let cases: &[(Exchange, Option<&str>, &str, Option<&str>)] = &[
            (Exchange::Binance, None, r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade"}}"#, Some("btcusdt")),
            (Exchange::Binance, None, r#"{"stream":"nknusdt@depth@100ms","data":{}}"#, Some("nknusdt")),
            (Exchange::Binance, None, r#"{"stream":"!miniTicker@arr","data":[]}"#, None),
            (Exchange::Binance, None, r#"{"result":null,"id":1}"#, None),
            (Exchange::Binance, None, r#"{"e":"aggTrade","s":"BTCUSDT"}"#, None),
            (Exchange::Binance, Some("https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000"), "{}", Some("BTCUSDT")),
            (Exchange::Binance, Some("https://api.binance.com/api/v3/aggTrades?fromId=5&symbol=ETHUSDT"), "[]", Some("ETHUSDT")),
            (Exchange::Binance, Some("https://api.binance.com/api/v3/exchangeInfo"), "{}", None),
            (Exchange::Binance, Some("https://api.binance.com/api/v3/exchangeInfo?symbols=%5B%22A%22%5D"), "{}", None),
            (
                Exchange::Kucoin,
                None,
                r#"{"type":"message","topic":"/market/match:BTC-USDT","subject":"trade.l3match","data":{}}"#,
                Some("BTC-USDT"),
            ),
            (Exchange::Kucoin, None, r#"{"type":"message","topic":"/market/ticker:all","subject":"ETH-USDT","data":{}}"#, Some("ETH-USDT")),
            (Exchange::Kucoin, None, r#"{"type":"message","topic":"/market/level2:A-B,C-D","data":{}}"#, None),
            (Exchange::Kucoin, None, r#"{"id":"1","type":"welcome"}"#, None),
            (Exchange::Kucoin, Some("https://api.kucoin.com/api/v1/market/orderbook/level2_100?symbol=BTC%2DUSDT"), "{}", None),
            (Exchange::Kucoin, Some("https://api.kucoin.com/api/v1/market/orderbook/level2_100?symbol=BTC-USDT"), "{}", Some("BTC-USDT")),
            (Exchange::Kucoin, Some("https://api.kucoin.com/api/v1/symbols"), "{}", None),
            (Exchange::Coinbase, None, r#"{"type":"match","trade_id":1,"product_id":"BTC-USD","price":"1"}"#, Some("BTC-USD")),
            (
                Exchange::Coinbase,
                None,
                r#"{"type":"subscriptions","channels":[{"name":"full","product_ids":["BTC-USD","ETH-USD"]}]}"#,
                None,
            ),
            (Exchange::Coinbase, Some("https://api.exchange.coinbase.com/products/BTC-USD/book?level=2"), "{}", Some("BTC-USD")),
            (Exchange::Coinbase, Some("https://api.exchange.coinbase.com/products"), "[]", None),
            (
                Exchange::CoinbaseAdvanced,
                Some("https://api.coinbase.com/api/v3/brokerage/market/products/ETH-USD/ticker?limit=100"),
                "{}",
                Some("ETH-USD"),
            ),
            (Exchange::CoinbaseAdvanced, Some("https://api.coinbase.com/api/v3/brokerage/market/products?limit=5"), "{}", None),
        ];
        for (exchange, url, payload, want) in cases {
            assert_eq!(product_key(*exchange, *url, payload), *want, "{exchange} {url:?} {payload}");
        }
    }

    #[test]
    fn spellings_of_one_product_hash_alike() {
        assert_eq!(product_hash("btcusdt"), product_hash("BTCUSDT"));
        assert_eq!(product_hash("BTCUSDT"), product_hash("BTC-USDT"));
        assert_ne!(product_hash("BTC-USDT"), product_hash("ETH-USDT"));
        // Stable across builds: a split must not depend on the process.
        assert_eq!(product_hash(""), 0xcbf2_9ce4_8422_2325);
    }
}
