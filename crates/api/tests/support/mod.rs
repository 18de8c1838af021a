//! Shared by the HTTP-level tests: a `MarketReader` test double over fixed
//! data (with switchable faults), a real server on a loopback socket, and
//! clients for it (reqwest, and raw TCP for bytes reqwest will not send).
//!
//! The double is a stand-in for the trait, not for a database: it
//! implements the trait's documented semantics over vectors so the API's
//! own behaviour can be pinned. The SQLite store is exercised end to end
//! elsewhere.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use async_trait::async_trait;
use marketpipe_api::ApiConfig;
use marketpipe_model::{
    parse_decimal, BookState, BookStats, BookTop, Candle, Decimal, Exchange, InstrumentKey, Interval, Level, Product, Symbol, Ticker,
    Timestamp, TradeId,
};
use marketpipe_store::{CandleQuery, MarketReader, StoreError};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
};

/// 2026-01-01T00:00:00Z in nanoseconds.
pub const T0: i64 = 1_767_225_600_000_000_000;
/// One minute in nanoseconds.
pub const MIN: i64 = 60_000_000_000;

/// A decimal from a literal.
pub fn d(s: &str) -> Decimal {
    parse_decimal(s).unwrap()
}

/// A product key.
pub fn key(exchange: Exchange, symbol: &str) -> InstrumentKey {
    InstrumentKey::new(exchange, Symbol::new(symbol))
}

/// What the double does besides answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer from the data.
    None,
    /// Fail every call with a retryable backend error.
    Busy,
    /// Fail every call with a non-retryable backend error.
    Broken,
    /// Fail every call as if a row were corrupt.
    Corrupt,
    /// Panic in `stats` (the other calls answer normally).
    PanicInStats,
}

/// The store double.
pub struct FixtureStore {
    pub products: Vec<Product>,
    pub candles: Vec<Candle>,
    pub books: Vec<BookTop>,
    pub stats: Vec<BookStats>,
    pub tickers: Vec<Ticker>,
    pub fault: Fault,
    /// How long every call takes.
    pub delay: Duration,
    /// Every candle query received, in order.
    pub queries: Mutex<Vec<CandleQuery>>,
    /// Every book depth requested, in order.
    pub depths: Mutex<Vec<usize>>,
    /// Calls running now.
    pub in_flight: AtomicUsize,
    /// The most calls ever running at once.
    pub max_in_flight: AtomicUsize,
}

struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl FixtureStore {
    /// The standard fixture (see [`fixture`]) without faults.
    pub fn new() -> Self {
        fixture()
    }

    /// The standard fixture with a fault.
    pub fn with_fault(fault: Fault) -> Self {
        FixtureStore { fault, ..fixture() }
    }

    /// The candle queries received so far.
    pub fn queries(&self) -> Vec<CandleQuery> {
        self.queries.lock().unwrap().clone()
    }

    async fn enter(&self) -> Result<InFlight<'_>, StoreError> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let guard = InFlight(&self.in_flight);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        match self.fault {
            Fault::Busy => Err(StoreError::Backend { message: "database is locked (SQLITE_BUSY)".into(), retryable: true }),
            Fault::Broken => Err(StoreError::Backend { message: "disk I/O error at /secret/path".into(), retryable: false }),
            Fault::Corrupt => Err(StoreError::Corrupt("candles.open = 'x1'".into())),
            Fault::None | Fault::PanicInStats => Ok(guard),
        }
    }
}

#[async_trait]
impl MarketReader for FixtureStore {
    async fn health(&self) -> Result<(), StoreError> {
        self.enter().await.map(drop)
    }

    async fn products(&self) -> Result<Vec<Product>, StoreError> {
        let _g = self.enter().await?;
        Ok(self.products.clone())
    }

    async fn product(&self, key: &InstrumentKey) -> Result<Option<Product>, StoreError> {
        let _g = self.enter().await?;
        Ok(self.products.iter().find(|p| &p.key == key).cloned())
    }

    async fn candles(&self, q: &CandleQuery) -> Result<Vec<Candle>, StoreError> {
        let _g = self.enter().await?;
        self.queries.lock().unwrap().push(q.clone());
        let mut hits: Vec<Candle> = self
            .candles
            .iter()
            .filter(|c| c.instrument == q.instrument && c.interval == q.interval)
            .filter(|c| q.start.is_none_or(|s| c.start >= s) && q.end.is_none_or(|e| c.start < e))
            .cloned()
            .collect();
        hits.sort_by_key(|c| c.start);
        if q.start.is_some() {
            hits.truncate(q.limit);
        } else {
            let skip = hits.len().saturating_sub(q.limit);
            hits.drain(..skip);
        }
        Ok(hits)
    }

    async fn latest_candle(&self, key: &InstrumentKey, interval: Interval) -> Result<Option<Candle>, StoreError> {
        let _g = self.enter().await?;
        Ok(self.candles.iter().filter(|c| &c.instrument == key && c.interval == interval).max_by_key(|c| c.start).cloned())
    }

    async fn book(&self, key: &InstrumentKey, depth: usize) -> Result<Option<BookTop>, StoreError> {
        let _g = self.enter().await?;
        self.depths.lock().unwrap().push(depth);
        Ok(self.books.iter().find(|b| &b.instrument == key).cloned().map(|mut b| {
            b.bids.truncate(depth);
            b.asks.truncate(depth);
            b
        }))
    }

    async fn stats(&self, key: &InstrumentKey) -> Result<Option<BookStats>, StoreError> {
        let _g = self.enter().await?;
        if self.fault == Fault::PanicInStats {
            panic!("stats exploded (test double)");
        }
        Ok(self.stats.iter().find(|s| &s.instrument == key).cloned())
    }

    async fn ticker(&self, key: &InstrumentKey) -> Result<Option<Ticker>, StoreError> {
        let _g = self.enter().await?;
        Ok(self.tickers.iter().find(|t| &t.instrument == key).cloned())
    }

    async fn tickers(&self, exchange: Exchange) -> Result<Vec<Ticker>, StoreError> {
        let _g = self.enter().await?;
        Ok(self.tickers.iter().filter(|t| t.instrument.exchange == exchange).cloned().collect())
    }
}

/// A candle with every field given; the short form for the fixture.
#[allow(clippy::too_many_arguments)]
pub fn candle(
    k: &InstrumentKey,
    interval: Interval,
    start: i64,
    ohlc: [&str; 4],
    volumes: [&str; 5], // volume, quote_volume, vwap, buy_volume, sell_volume
    counts: [u64; 3],   // trades, buy_trades, sell_trades
    ids: (TradeId, TradeId),
    is_final: bool,
    revision: u32,
) -> Candle {
    Candle {
        instrument: k.clone(),
        interval,
        start: Timestamp(start),
        open: d(ohlc[0]),
        high: d(ohlc[1]),
        low: d(ohlc[2]),
        close: d(ohlc[3]),
        volume: d(volumes[0]),
        quote_volume: d(volumes[1]),
        vwap: d(volumes[2]),
        trades: counts[0],
        buy_volume: d(volumes[3]),
        sell_volume: d(volumes[4]),
        buy_trades: counts[1],
        sell_trades: counts[2],
        first_trade_id: ids.0,
        last_trade_id: ids.1,
        is_final,
        revision,
    }
}

/// The fixed data every test reads:
///
/// - products, deliberately unsorted: kucoin BSV-USDT (native BCHSV-USDT),
///   coinbase ETH-USD, binance NKN-USDT (native NKNUSDT), coinbase BTC-USD;
/// - coinbase BTC-USD 1m candles at T0, T0+1m and T0+4m (the last not
///   final), one 1h candle at T0; kucoin BSV-USDT one 1m candle with string
///   trade ids; nothing for ETH-USD;
/// - a live BTC-USD book of three levels a side, an empty resyncing
///   NKN-USDT book; BTC-USD stats in full, NKN-USDT stats mostly empty.
pub fn fixture() -> FixtureStore {
    let btc = key(Exchange::Coinbase, "BTC-USD");
    let bsv = key(Exchange::Kucoin, "BSV-USDT");
    let nkn = key(Exchange::Binance, "NKN-USDT");
    let n = TradeId::Num;
    let candles = vec![
        candle(
            &btc,
            Interval::M1,
            T0 + 4 * MIN,
            ["60210.00", "60300.00", "60200.00", "60250.00"],
            ["0.5", "30125.000", "60250", "0.5", "0"],
            [1, 1, 0],
            (n(1010), n(1010)),
            false,
            0,
        ),
        candle(
            &btc,
            Interval::M1,
            T0,
            ["60000.00", "60123.45", "59990.10", "60100.00"],
            ["0.00120000", "72.1234567890", "60102.880657500", "0.00100000", "0.00020000"],
            [3, 2, 1],
            (n(1001), n(1003)),
            true,
            0,
        ),
        candle(
            &btc,
            Interval::M1,
            T0 + MIN,
            ["60100.00", "60200.50", "60100.00", "60200.50"],
            ["2", "120300.50", "60150.25", "1", "1"],
            [2, 1, 1],
            (n(1004), n(1009)),
            true,
            2,
        ),
        candle(
            &btc,
            Interval::H1,
            T0,
            ["60000.00", "60300.00", "59990.10", "60250.00"],
            ["2.50120000", "150497.6234567890", "60170", "1.50100000", "1.00020000"],
            [6, 4, 2],
            (n(1001), n(1010)),
            false,
            0,
        ),
        candle(
            &bsv,
            Interval::M1,
            T0,
            ["45.1", "45.1", "45.1", "45.1"],
            ["10", "451.0", "45.1", "0", "10"],
            [1, 0, 1],
            (TradeId::Str("5f1a2b3c4d-77".into()), TradeId::Str("5f1a2b3c4d-77".into())),
            true,
            0,
        ),
    ];
    let lv = |p: &str, s: &str| Level::new(d(p), d(s));
    let books = vec![
        BookTop {
            instrument: btc.clone(),
            state: BookState::Live,
            sequence: Some(123_456_789),
            time: Some(Timestamp(T0 + 1_500_000_000)),
            bids: vec![lv("60100.00", "0.50000000"), lv("60099.99", "1.2"), lv("60090", "3")],
            asks: vec![lv("60100.01", "0.25"), lv("60101.00", "2.00000000"), lv("60150", "7")],
        },
        BookTop { instrument: nkn.clone(), state: BookState::Resyncing, sequence: None, time: None, bids: vec![], asks: vec![] },
    ];
    let stats = vec![
        BookStats {
            instrument: btc.clone(),
            time: Some(Timestamp(T0 + 1_500_000_000)),
            best_bid: Some(d("60100.00")),
            best_bid_size: Some(d("0.50000000")),
            best_ask: Some(d("60100.01")),
            best_ask_size: Some(d("0.25")),
            spread: Some(d("0.01")),
            mid: Some(d("60100.005")),
            mid_ma: Some(d("60099.87500")),
            mid_ma_window: 20,
            mid_ma_samples: 4,
            max_spread: Some(d("1.50")),
            last_price: Some(d("60100.00")),
            last_trade_time: Some(Timestamp(T0 + 1_000_000)),
            book_state: BookState::Live,
        },
        BookStats {
            instrument: nkn.clone(),
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
        },
    ];
    FixtureStore {
        products: vec![
            Product::new(Exchange::Kucoin, "BCHSV-USDT", "BSV", "USDT"),
            Product::new(Exchange::Coinbase, "ETH-USD", "ETH", "USD"),
            Product::new(Exchange::Binance, "NKNUSDT", "NKN", "USDT"),
            Product::new(Exchange::Coinbase, "BTC-USD", "BTC", "USD"),
        ],
        candles,
        books,
        stats,
        tickers: vec![
            Ticker {
                last_price: Some(d("60250.00")),
                last_size: Some(d("0.5")),
                best_bid: Some(d("60249.99")),
                best_bid_size: Some(d("1.25")),
                best_ask: Some(d("60250.01")),
                best_ask_size: Some(d("0.75")),
                open_24h: Some(d("59000.00")),
                high_24h: Some(d("61000.00")),
                low_24h: Some(d("58500.00")),
                volume_24h: Some(d("1234.5")),
                time: Some(Timestamp(T0 + 4 * MIN)),
                ..Ticker::empty(btc.clone(), Timestamp(T0 + 4 * MIN + 5))
            },
            Ticker::empty(nkn.clone(), Timestamp(T0)),
        ],
        fault: Fault::None,
        delay: Duration::ZERO,
        queries: Mutex::new(Vec::new()),
        depths: Mutex::new(Vec::new()),
        in_flight: AtomicUsize::new(0),
        max_in_flight: AtomicUsize::new(0),
    }
}

/// A running API server on 127.0.0.1.
pub struct Server {
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub allow: Option<String>,
    pub json: Value,
}

impl Server {
    /// Starts `marketpipe_api::serve` over `store` on an ephemeral port.
    pub async fn start(store: Arc<dyn MarketReader>, config: ApiConfig) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let router = marketpipe_api::router(store, config);
        let task = tokio::spawn(marketpipe_api::serve(listener, router, async {
            let _ = rx.await;
        }));
        // reqwest is built without a bundled TLS provider; building a client
        // needs one installed even for plain http.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Server { addr, base: format!("http://{addr}"), client: reqwest::Client::new(), shutdown: Some(tx), task }
    }

    /// Starts a server over the standard fixture with the default config.
    pub async fn fixture() -> (Server, Arc<FixtureStore>) {
        let store = Arc::new(FixtureStore::new());
        (Server::start(store.clone(), ApiConfig::default()).await, store)
    }

    /// Sends `method path_and_query` and decodes the body as JSON (Null if empty).
    pub async fn request(&self, method: reqwest::Method, path: &str) -> Reply {
        let resp = self.client.request(method, format!("{}{path}", self.base)).send().await.unwrap();
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
        let content_type = header("content-type").unwrap_or_default();
        let allow = header("allow");
        let body = resp.bytes().await.unwrap();
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path}: body is not JSON ({e}): {body:?}"))
        };
        Reply { status, content_type, allow, json }
    }

    /// `GET path_and_query`.
    pub async fn get(&self, path: &str) -> Reply {
        self.request(reqwest::Method::GET, path).await
    }

    /// `GET` expecting 200; returns the JSON body.
    pub async fn ok(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.json);
        assert_eq!(r.content_type, "application/json", "{path}");
        r.json
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("serve did not stop").unwrap()
    }

    /// Signals shutdown without waiting.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for `serve` to return after [`Server::signal_shutdown`].
    pub async fn join(self) -> std::io::Result<()> {
        tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("serve did not stop").unwrap()
    }
}

/// Writes raw bytes to the server and returns the status code and body of
/// the response, or `None` if the server closed the connection without one.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    // The server closes after answering (Connection: close or a parse error).
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await.expect("no answer");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((status, body))
}

/// Asserts the API's error shape and returns (code, message).
pub fn error_of(r: &Reply) -> (String, String) {
    let err = r.json.get("error").unwrap_or_else(|| panic!("no error object in {}", r.json));
    let obj = err.as_object().unwrap();
    assert_eq!(obj.len(), 2, "error has exactly code and message: {err}");
    let code = obj["code"].as_str().unwrap().to_owned();
    let message = obj["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty());
    (code, message)
}
