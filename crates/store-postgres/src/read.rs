//! Queries, prepared once per connection, and the decoding of rows back into
//! model types.
//!
//! Decimals are selected as `::text` and must render back to the very same
//! string (what the write path stored always does); anything else, like an
//! unknown exchange or book state, is [`StoreError::Corrupt`] naming the
//! table, the row and the column. Reading never panics on what is stored.

use std::{fmt, str::FromStr, sync::Arc};

use marketpipe_model::{
    BookStats, BookTop, Candle, Decimal, Exchange, InstrumentKey, Interval, Level, Product, Symbol, Ticker, Timestamp, TradeId,
};
use marketpipe_store::{
    text::{exact_decimal, levels_from_json},
    CandleQuery, Checkpoint, LogPosition, StoreError,
};
use tokio_postgres::{types::FromSql, Client, Row, Statement};

use crate::conn::backend;

/// Both bounds inclusive (the caller turns the exclusive `end` into
/// `end - 1`); either order is a scan of the primary key of each partition.
macro_rules! select_candles {
    ($order:literal) => {
        concat!(
            "SELECT start_ns, open::text, high::text, low::text, close::text, volume::text, quote_volume::text, vwap::text, \
             trades, buy_trades, sell_trades, buy_volume::text, sell_volume::text, first_trade_num::text, first_trade_str, \
             last_trade_num::text, last_trade_str, final, revision \
             FROM candles WHERE exchange = $1 AND symbol = $2 AND \"interval\" = $3 AND start_ns >= $4 AND start_ns <= $5 \
             ORDER BY start_ns ",
            $order,
            " LIMIT $6"
        )
    };
}

const SELECT_TICKERS: &str = "SELECT exchange, symbol, time_ns, recv_ns, last_price::text, last_size::text, best_bid::text, \
     best_bid_size::text, best_ask::text, best_ask_size::text, open_24h::text, high_24h::text, low_24h::text, volume_24h::text \
     FROM tickers";

/// The reader's connection and its prepared statements.
pub(crate) struct Reader {
    pub(crate) client: Client,
    health: Statement,
    products: Statement,
    product: Statement,
    candles_asc: Statement,
    candles_desc: Statement,
    book: Statement,
    stats: Statement,
    ticker: Statement,
    tickers: Statement,
    positions: Statement,
}

impl Reader {
    /// Prepares every query on a fresh connection.
    pub(crate) async fn prepare(client: Client) -> Result<Reader, tokio_postgres::Error> {
        let products = "SELECT exchange, symbol, native_symbol, base, quote FROM products";
        Ok(Reader {
            health: client.prepare("SELECT 1").await?,
            products: client.prepare(&format!("{products} ORDER BY exchange, symbol")).await?,
            product: client.prepare(&format!("{products} WHERE exchange = $1 AND symbol = $2")).await?,
            candles_asc: client.prepare(select_candles!("ASC")).await?,
            candles_desc: client.prepare(select_candles!("DESC")).await?,
            book: client
                .prepare("SELECT state, sequence::text, time_ns, bids::text, asks::text FROM books WHERE exchange = $1 AND symbol = $2")
                .await?,
            stats: client
                .prepare(
                    "SELECT time_ns, best_bid::text, best_bid_size::text, best_ask::text, best_ask_size::text, spread::text, \
                     mid::text, mid_ma::text, mid_ma_window, mid_ma_samples, max_spread::text, last_price::text, last_trade_ns, \
                     book_state FROM stats WHERE exchange = $1 AND symbol = $2",
                )
                .await?,
            ticker: client.prepare(&format!("{SELECT_TICKERS} WHERE exchange = $1 AND symbol = $2")).await?,
            tickers: client.prepare(&format!("{SELECT_TICKERS} WHERE exchange = $1 ORDER BY symbol")).await?,
            positions: client
                .prepare(
                    "SELECT p.partition, p.next_offset, c.next_offset, c.state FROM consumer_positions p \
                     LEFT JOIN consumer_checkpoints c USING (group_id, topic, partition) \
                     WHERE p.group_id = $1 AND p.topic = $2 ORDER BY p.partition",
                )
                .await?,
            client,
        })
    }

    pub(crate) async fn health(&self) -> Result<(), StoreError> {
        self.client.query_one(&self.health, &[]).await.map(drop).map_err(|e| backend("health check", &e))
    }

    pub(crate) async fn products(&self) -> Result<Vec<Product>, StoreError> {
        let rows = self.client.query(&self.products, &[]).await.map_err(|e| backend("reading products", &e))?;
        rows.iter().enumerate().map(|(i, row)| product_row(&mut Fields::new(row, "products", &format_args!("#{i}")))).collect()
    }

    pub(crate) async fn product(&self, key: &InstrumentKey) -> Result<Option<Product>, StoreError> {
        let rows = self.query(&self.product, key, "products").await?;
        rows.first().map(|row| product_row(&mut Fields::new(row, "products", key))).transpose()
    }

    /// Candles as [`CandleQuery`] describes them, ascending by start.
    pub(crate) async fn candles(&self, query: &CandleQuery) -> Result<Vec<Candle>, StoreError> {
        let lo = query.start.map_or(i64::MIN, Timestamp::nanos);
        let hi = match query.end {
            None => i64::MAX,
            // `end` is exclusive; nothing starts before the earliest instant.
            Some(end) => match end.nanos().checked_sub(1) {
                Some(hi) => hi,
                None => return Ok(Vec::new()),
            },
        };
        if query.limit == 0 || lo > hi {
            return Ok(Vec::new());
        }
        // With a start: the first `limit` from there. Without: the latest
        // `limit`, fetched newest first and turned around.
        let newest_first = query.start.is_none();
        let mut out = self.select_candles(&query.instrument, query.interval, lo, hi, query.limit, newest_first).await?;
        if newest_first {
            out.reverse();
        }
        Ok(out)
    }

    pub(crate) async fn latest_candle(&self, key: &InstrumentKey, interval: Interval) -> Result<Option<Candle>, StoreError> {
        Ok(self.select_candles(key, interval, i64::MIN, i64::MAX, 1, true).await?.pop())
    }

    async fn select_candles(
        &self,
        key: &InstrumentKey,
        interval: Interval,
        lo: i64,
        hi: i64,
        limit: usize,
        newest_first: bool,
    ) -> Result<Vec<Candle>, StoreError> {
        let stmt = if newest_first { &self.candles_desc } else { &self.candles_asc };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client
            .query(stmt, &[&key.exchange.as_str(), &key.symbol.as_str(), &interval.as_str(), &lo, &hi, &limit])
            .await
            .map_err(|e| backend("reading candles", &e))?;
        let mut scratch = String::new();
        rows.iter()
            .map(|row| {
                let start = Fields::new(row, "candles", key).get::<i64>(0)?;
                let name = CandleName { key, interval, start };
                candle_row(&mut Fields::new(row, "candles", &name).with_scratch(&mut scratch), key, interval, start)
            })
            .collect()
    }

    pub(crate) async fn book(&self, key: &InstrumentKey, depth: usize) -> Result<Option<BookTop>, StoreError> {
        let rows = self.query(&self.book, key, "books").await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let mut f = Fields::new(row, "books", key);
        Ok(Some(BookTop {
            instrument: key.clone(),
            state: f.parse(0)?,
            sequence: f.opt_u64(1)?,
            time: f.get::<Option<i64>>(2)?.map(Timestamp),
            bids: f.levels(3, depth)?,
            asks: f.levels(4, depth)?,
        }))
    }

    pub(crate) async fn stats(&self, key: &InstrumentKey) -> Result<Option<BookStats>, StoreError> {
        let rows = self.query(&self.stats, key, "stats").await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let mut f = Fields::new(row, "stats", key);
        Ok(Some(BookStats {
            instrument: key.clone(),
            time: f.get::<Option<i64>>(0)?.map(Timestamp),
            best_bid: f.opt_dec(1)?,
            best_bid_size: f.opt_dec(2)?,
            best_ask: f.opt_dec(3)?,
            best_ask_size: f.opt_dec(4)?,
            spread: f.opt_dec(5)?,
            mid: f.opt_dec(6)?,
            mid_ma: f.opt_dec(7)?,
            mid_ma_window: f.small(8)?,
            mid_ma_samples: f.small(9)?,
            max_spread: f.opt_dec(10)?,
            last_price: f.opt_dec(11)?,
            last_trade_time: f.get::<Option<i64>>(12)?.map(Timestamp),
            book_state: f.parse(13)?,
        }))
    }

    pub(crate) async fn ticker(&self, key: &InstrumentKey) -> Result<Option<Ticker>, StoreError> {
        let rows = self.query(&self.ticker, key, "tickers").await?;
        rows.first().map(|row| ticker_row(&mut Fields::new(row, "tickers", key))).transpose()
    }

    pub(crate) async fn tickers(&self, exchange: Exchange) -> Result<Vec<Ticker>, StoreError> {
        let rows = self.client.query(&self.tickers, &[&exchange.as_str()]).await.map_err(|e| backend("reading tickers", &e))?;
        rows.iter().enumerate().map(|(i, row)| ticker_row(&mut Fields::new(row, "tickers", &format_args!("#{i}")))).collect()
    }

    pub(crate) async fn positions(&self, group: &str, topic: &str) -> Result<Vec<LogPosition>, StoreError> {
        let rows = self.client.query(&self.positions, &[&group, &topic]).await.map_err(|e| backend("reading positions", &e))?;
        let name = format!("{group}/{topic}");
        rows.iter()
            .map(|row| {
                let f = Fields::new(row, "consumer_positions", &name);
                Ok(LogPosition {
                    group: group.to_owned(),
                    topic: topic.to_owned(),
                    partition: f.get(0)?,
                    next_offset: f.get(1)?,
                    checkpoint: match (f.get::<Option<i64>>(2)?, f.get::<Option<Vec<u8>>>(3)?) {
                        (Some(next_offset), Some(state)) => Some(Checkpoint { next_offset, state }),
                        _ => None,
                    },
                })
            })
            .collect()
    }

    /// A query by product key.
    async fn query(&self, stmt: &Statement, key: &InstrumentKey, table: &str) -> Result<Vec<Row>, StoreError> {
        self.client.query(stmt, &[&key.exchange.as_str(), &key.symbol.as_str()]).await.map_err(|e| backend(&format!("reading {table}"), &e))
    }
}

/// Names one candle in corruption reports.
struct CandleName<'k> {
    key: &'k InstrumentKey,
    interval: Interval,
    start: i64,
}

impl fmt::Display for CandleName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} start_ns={}", self.key, self.interval, self.start)
    }
}

fn product_row(f: &mut Fields<'_>) -> Result<Product, StoreError> {
    Ok(Product { key: f.instrument(0, 1)?, native_symbol: f.get(2)?, base: f.get(3)?, quote: f.get(4)? })
}

fn candle_row(f: &mut Fields<'_>, key: &InstrumentKey, interval: Interval, start: i64) -> Result<Candle, StoreError> {
    Ok(Candle {
        instrument: key.clone(),
        interval,
        start: Timestamp(start),
        open: f.dec(1)?,
        high: f.dec(2)?,
        low: f.dec(3)?,
        close: f.dec(4)?,
        volume: f.dec(5)?,
        quote_volume: f.dec(6)?,
        vwap: f.dec(7)?,
        trades: f.count(8)?,
        buy_trades: f.count(9)?,
        sell_trades: f.count(10)?,
        buy_volume: f.dec(11)?,
        sell_volume: f.dec(12)?,
        first_trade_id: f.trade_id(13, 14)?,
        last_trade_id: f.trade_id(15, 16)?,
        is_final: f.get(17)?,
        revision: f.small(18)?,
    })
}

fn ticker_row(f: &mut Fields<'_>) -> Result<Ticker, StoreError> {
    Ok(Ticker {
        instrument: f.instrument(0, 1)?,
        time: f.get::<Option<i64>>(2)?.map(Timestamp),
        recv_time: Timestamp(f.get(3)?),
        last_price: f.opt_dec(4)?,
        last_size: f.opt_dec(5)?,
        best_bid: f.opt_dec(6)?,
        best_bid_size: f.opt_dec(7)?,
        best_ask: f.opt_dec(8)?,
        best_ask_size: f.opt_dec(9)?,
        open_24h: f.opt_dec(10)?,
        high_24h: f.opt_dec(11)?,
        low_24h: f.opt_dec(12)?,
        volume_24h: f.opt_dec(13)?,
    })
}

/// Typed access to one row's columns; anything that is not what the write
/// path stores becomes [`StoreError::Corrupt`] naming table, row and column.
struct Fields<'a> {
    row: &'a Row,
    table: &'a str,
    name: &'a dyn fmt::Display,
    scratch: Option<&'a mut String>,
    own_scratch: String,
}

impl<'a> Fields<'a> {
    fn new(row: &'a Row, table: &'a str, name: &'a dyn fmt::Display) -> Self {
        Fields { row, table, name, scratch: None, own_scratch: String::new() }
    }

    /// Reuses a caller's buffer for decimal checks across rows.
    fn with_scratch(mut self, scratch: &'a mut String) -> Self {
        self.scratch = Some(scratch);
        self
    }

    fn corrupt(&self, idx: usize, problem: impl fmt::Display) -> StoreError {
        let column = self.row.columns().get(idx).map_or("?", |c| c.name());
        StoreError::Corrupt(format!("{} row {}: column {column}: {problem}", self.table, self.name))
    }

    fn get<T: FromSql<'a>>(&self, idx: usize) -> Result<T, StoreError> {
        self.row.try_get(idx).map_err(|e| self.corrupt(idx, e))
    }

    /// A count (trades): never negative.
    fn count(&self, idx: usize) -> Result<u64, StoreError> {
        let v: i64 = self.get(idx)?;
        u64::try_from(v).map_err(|_| self.corrupt(idx, format_args!("negative count {v}")))
    }

    /// A u32 field (revision, moving-average window).
    fn small(&self, idx: usize) -> Result<u32, StoreError> {
        let v: i64 = self.get(idx)?;
        u32::try_from(v).map_err(|_| self.corrupt(idx, format_args!("{v} is out of range")))
    }

    fn opt_u64(&self, idx: usize) -> Result<Option<u64>, StoreError> {
        let Some(text) = self.get::<Option<&str>>(idx)? else { return Ok(None) };
        text.parse().map(Some).map_err(|_| self.corrupt(idx, format_args!("{text:?} is not a 64-bit unsigned integer")))
    }

    /// A value with a string form (`BookState`, `Exchange`).
    fn parse<T>(&self, idx: usize) -> Result<T, StoreError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.get::<&str>(idx)?.parse().map_err(|e| self.corrupt(idx, e))
    }

    fn instrument(&self, exchange: usize, symbol: usize) -> Result<InstrumentKey, StoreError> {
        let exchange: Exchange = self.parse(exchange)?;
        Ok(InstrumentKey::new(exchange, Symbol::new(self.get(symbol)?)))
    }

    fn scratch(&mut self) -> &mut String {
        match &mut self.scratch {
            Some(s) => s,
            None => &mut self.own_scratch,
        }
    }

    fn dec(&mut self, idx: usize) -> Result<Decimal, StoreError> {
        let text: &str = self.get(idx)?;
        exact_decimal(text, self.scratch()).ok_or_else(|| self.corrupt(idx, format_args!("{text:?} is not an exact decimal")))
    }

    fn opt_dec(&mut self, idx: usize) -> Result<Option<Decimal>, StoreError> {
        match self.get::<Option<&str>>(idx)? {
            None => Ok(None),
            Some(_) => self.dec(idx).map(Some),
        }
    }

    /// From the `_num` / `_str` column pair, exactly one of which is set.
    fn trade_id(&self, num: usize, string: usize) -> Result<TradeId, StoreError> {
        match (self.opt_u64(num)?, self.get::<Option<&str>>(string)?) {
            (Some(n), None) => Ok(TradeId::Num(n)),
            (None, Some(s)) => Ok(TradeId::Str(Arc::from(s))),
            _ => Err(self.corrupt(num, "expected exactly one of the numeric and the string trade id")),
        }
    }

    /// A JSON array of `[price, size]` strings, best first; only the first
    /// `depth` levels are decoded.
    fn levels(&mut self, idx: usize, depth: usize) -> Result<Vec<Level>, StoreError> {
        let text: &str = self.get(idx)?;
        levels_from_json(text, depth, self.scratch()).map_err(|e| self.corrupt(idx, e))
    }
}
