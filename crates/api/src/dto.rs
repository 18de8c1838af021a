//! The JSON shapes of API v1 responses.
//!
//! These are separate from the model types on purpose: the wire format is a
//! published contract (DESIGN.md, "HTTP API (v1)") and must not change when
//! a model type grows a field or its serde attributes change. Decimals are
//! rendered with `Decimal`'s `Display`, which keeps the stored scale
//! (`"0.00120000"` stays `"0.00120000"`), written straight into the output
//! as JSON strings (no intermediate `String` per field: a 10 000-candle
//! response has 100 000 of them); times are RFC 3339 with `Z`.

use marketpipe_model::{
    BookStats, BookTop, Candle, Decimal, Exchange, InstrumentKey, Interval, Level, Product, Ticker, Timestamp, TradeId,
};
use serde::{Serialize, Serializer};

use crate::fill::Slot;

/// Serializes a decimal as a JSON string of its `Display` form.
fn dec<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

/// Serializes an optional decimal as a JSON string or null.
fn opt_dec<S: Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(d),
        None => s.serialize_none(),
    }
}

fn time(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339)
}

/// A trade id: a JSON number for numeric ids, a string for opaque ones.
fn trade_id(id: &TradeId) -> serde_json::Value {
    match id {
        TradeId::Num(n) => serde_json::Value::from(*n),
        TradeId::Str(s) => serde_json::Value::from(&**s),
    }
}

/// `GET /api/v1/health`.
#[derive(Debug, Serialize)]
pub(crate) struct Health {
    pub status: &'static str,
    pub version: &'static str,
    pub store: &'static str,
}

/// One entry of `GET /api/v1/products`.
#[derive(Debug, Serialize)]
pub(crate) struct ProductDto {
    exchange: &'static str,
    symbol: String,
    native_symbol: String,
    base: String,
    quote: String,
}

impl From<Product> for ProductDto {
    fn from(p: Product) -> Self {
        ProductDto {
            exchange: p.key.exchange.as_str(),
            symbol: p.key.symbol.to_string(),
            native_symbol: p.native_symbol,
            base: p.base,
            quote: p.quote,
        }
    }
}

/// `GET /api/v1/products`.
#[derive(Debug, Serialize)]
pub(crate) struct Products {
    pub products: Vec<ProductDto>,
}

/// One candle as served. `vwap` and the trade ids are null only on filled
/// candles; `filled` is present only when the request asked for filling.
#[derive(Debug, Serialize)]
pub struct CandleDto {
    start: String,
    #[serde(serialize_with = "dec")]
    open: Decimal,
    #[serde(serialize_with = "dec")]
    high: Decimal,
    #[serde(serialize_with = "dec")]
    low: Decimal,
    #[serde(serialize_with = "dec")]
    close: Decimal,
    #[serde(serialize_with = "dec")]
    volume: Decimal,
    #[serde(serialize_with = "dec")]
    quote_volume: Decimal,
    #[serde(serialize_with = "opt_dec")]
    vwap: Option<Decimal>,
    trades: u64,
    #[serde(serialize_with = "dec")]
    buy_volume: Decimal,
    #[serde(serialize_with = "dec")]
    sell_volume: Decimal,
    buy_trades: u64,
    sell_trades: u64,
    first_trade_id: serde_json::Value,
    last_trade_id: serde_json::Value,
    #[serde(rename = "final")]
    is_final: bool,
    revision: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    filled: Option<bool>,
}

impl CandleDto {
    /// A stored candle; `fill_mode` adds `"filled": false`.
    pub(crate) fn real(c: &Candle, fill_mode: bool) -> Self {
        CandleDto {
            start: c.start.to_rfc3339(),
            open: c.open,
            high: c.high,
            low: c.low,
            close: c.close,
            volume: c.volume,
            quote_volume: c.quote_volume,
            vwap: Some(c.vwap),
            trades: c.trades,
            buy_volume: c.buy_volume,
            sell_volume: c.sell_volume,
            buy_trades: c.buy_trades,
            sell_trades: c.sell_trades,
            first_trade_id: trade_id(&c.first_trade_id),
            last_trade_id: trade_id(&c.last_trade_id),
            is_final: c.is_final,
            revision: c.revision,
            filled: fill_mode.then_some(false),
        }
    }

    /// An empty window: flat at `price`, zero volumes and counts, no trade
    /// ids, no vwap (0/0 has no value).
    pub(crate) fn filled(start: Timestamp, price: Decimal, is_final: bool) -> Self {
        CandleDto {
            start: start.to_rfc3339(),
            open: price,
            high: price,
            low: price,
            close: price,
            volume: Decimal::ZERO,
            quote_volume: Decimal::ZERO,
            vwap: None,
            trades: 0,
            buy_volume: Decimal::ZERO,
            sell_volume: Decimal::ZERO,
            buy_trades: 0,
            sell_trades: 0,
            first_trade_id: serde_json::Value::Null,
            last_trade_id: serde_json::Value::Null,
            is_final,
            revision: 0,
            filled: Some(true),
        }
    }

    /// Renders one slot of a candles response.
    pub(crate) fn slot(slot: &Slot<'_>, fill_mode: bool) -> Self {
        match *slot {
            Slot::Real(c) => Self::real(c, fill_mode),
            Slot::Filled { start, price, is_final } => Self::filled(start, price, is_final),
        }
    }
}

/// `GET /api/v1/candles`: also what `marketpipe candles --format json`
/// prints, so the CLI and the API never disagree on the shape.
#[derive(Debug, Serialize)]
pub struct Candles {
    exchange: &'static str,
    symbol: String,
    interval: &'static str,
    candles: Vec<CandleDto>,
}

impl Candles {
    pub(crate) fn new(key: &InstrumentKey, interval: Interval, candles: Vec<CandleDto>) -> Self {
        Candles { exchange: key.exchange.as_str(), symbol: key.symbol.to_string(), interval: interval.as_str(), candles }
    }

    /// The document for stored candles, without filling.
    pub fn stored(key: &InstrumentKey, interval: Interval, candles: &[Candle]) -> Self {
        Self::new(key, interval, candles.iter().map(|c| CandleDto::real(c, false)).collect())
    }
}

/// `GET /api/v1/candles/latest`.
#[derive(Debug, Serialize)]
pub(crate) struct LatestCandle {
    exchange: &'static str,
    symbol: String,
    interval: &'static str,
    candle: CandleDto,
}

impl LatestCandle {
    pub(crate) fn new(key: &InstrumentKey, interval: Interval, candle: &Candle) -> Self {
        LatestCandle {
            exchange: key.exchange.as_str(),
            symbol: key.symbol.to_string(),
            interval: interval.as_str(),
            candle: CandleDto::real(candle, false),
        }
    }
}

/// `GET /api/v1/book`: levels as `[price, size]` string pairs, best first.
#[derive(Debug, Serialize)]
pub(crate) struct Book {
    exchange: &'static str,
    symbol: String,
    state: &'static str,
    sequence: Option<u64>,
    time: Option<String>,
    bids: Vec<LevelDto>,
    asks: Vec<LevelDto>,
}

/// A book level as `[price, size]`.
#[derive(Debug, Serialize)]
struct LevelDto(#[serde(serialize_with = "dec")] Decimal, #[serde(serialize_with = "dec")] Decimal);

impl Book {
    /// Renders at most `depth` levels per side (the store should already
    /// have cut them; this keeps the response bounded if it did not).
    pub(crate) fn new(key: &InstrumentKey, book: &BookTop, depth: usize) -> Self {
        let side = |levels: &[Level]| levels.iter().take(depth).map(|l| LevelDto(l.price, l.size)).collect();
        Book {
            exchange: key.exchange.as_str(),
            symbol: key.symbol.to_string(),
            state: book.state.as_str(),
            sequence: book.sequence,
            time: time(book.time),
            bids: side(&book.bids),
            asks: side(&book.asks),
        }
    }
}

/// `GET /api/v1/stats`.
#[derive(Debug, Serialize)]
pub(crate) struct Stats {
    exchange: &'static str,
    symbol: String,
    #[serde(serialize_with = "opt_dec")]
    best_bid: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    best_bid_size: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    best_ask: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    best_ask_size: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    spread: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    mid: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    mid_ma: Option<Decimal>,
    mid_ma_window: u32,
    mid_ma_samples: u32,
    #[serde(serialize_with = "opt_dec")]
    max_spread: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    last_price: Option<Decimal>,
    last_trade_time: Option<String>,
    book_state: &'static str,
    time: Option<String>,
}

impl Stats {
    pub(crate) fn new(key: &InstrumentKey, s: &BookStats) -> Self {
        Stats {
            exchange: key.exchange.as_str(),
            symbol: key.symbol.to_string(),
            best_bid: s.best_bid,
            best_bid_size: s.best_bid_size,
            best_ask: s.best_ask,
            best_ask_size: s.best_ask_size,
            spread: s.spread,
            mid: s.mid,
            mid_ma: s.mid_ma,
            mid_ma_window: s.mid_ma_window,
            mid_ma_samples: s.mid_ma_samples,
            max_spread: s.max_spread,
            last_price: s.last_price,
            last_trade_time: time(s.last_trade_time),
            book_state: s.book_state.as_str(),
            time: time(s.time),
        }
    }
}

/// `GET /api/v1/tickers`: the latest ticker per product, by symbol.
#[derive(Debug, Serialize)]
pub(crate) struct Tickers {
    exchange: &'static str,
    tickers: Vec<TickerDto>,
}

impl Tickers {
    pub(crate) fn new(exchange: Exchange, tickers: &[Ticker]) -> Self {
        Tickers { exchange: exchange.as_str(), tickers: tickers.iter().map(TickerDto::new).collect() }
    }
}

/// One ticker. Fields the exchange does not provide are `null` (Binance's
/// mini ticker has no best bid/ask; its book ticker no 24h figures).
#[derive(Debug, Serialize)]
pub(crate) struct TickerDto {
    symbol: String,
    #[serde(serialize_with = "opt_dec")]
    last_price: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    last_size: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    best_bid: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    best_bid_size: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    best_ask: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    best_ask_size: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    open_24h: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    high_24h: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    low_24h: Option<Decimal>,
    #[serde(serialize_with = "opt_dec")]
    volume_24h: Option<Decimal>,
    /// Exchange time of the ticker, where it gives one.
    time: Option<String>,
    /// When marketpipe received it.
    recv_time: Option<String>,
}

impl TickerDto {
    fn new(t: &Ticker) -> Self {
        TickerDto {
            symbol: t.instrument.symbol.to_string(),
            last_price: t.last_price,
            last_size: t.last_size,
            best_bid: t.best_bid,
            best_bid_size: t.best_bid_size,
            best_ask: t.best_ask,
            best_ask_size: t.best_ask_size,
            open_24h: t.open_24h,
            high_24h: t.high_24h,
            low_24h: t.low_24h,
            volume_24h: t.volume_24h,
            time: time(t.time),
            recv_time: time(Some(t.recv_time)),
        }
    }
}
