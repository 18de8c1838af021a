//! Queries, and the decoding of rows back into model types.
//!
//! A value that is not what the write path stores (a wrong type, a decimal
//! that does not render back to the same string, an unknown exchange or
//! book state) is reported as [`StoreError::Corrupt`] naming the table, the
//! row and the column; reading never panics on what is in the file.

use std::{fmt, str::FromStr, sync::Arc};

use marketpipe_model::{
    BookStats, BookTop, Candle, Decimal, Exchange, InstrumentKey, Interval, Level, Product, Symbol, Ticker, Timestamp, TradeId,
};
use rusqlite::{types::ValueRef, Connection, Row};

use super::{backend, u64_from_sql};
use crate::{
    text::{exact_decimal, levels_from_json},
    CandleQuery, Checkpoint, LogPosition, StoreError,
};

/// A candle query with both bounds inclusive (the caller turns the
/// exclusive `end` into `end - 1`), in the given order of start. Either
/// order is a range scan of the primary key, which is also the sort order.
macro_rules! select_candles {
    ($order:literal) => {
        concat!(
            "SELECT start_ns, open, high, low, close, volume, quote_volume, vwap, trades, buy_trades, sell_trades, \
             buy_volume, sell_volume, first_trade_id, last_trade_id, final, revision \
             FROM candles WHERE exchange = ?1 AND symbol = ?2 AND interval = ?3 AND start_ns >= ?4 AND start_ns <= ?5 \
             ORDER BY start_ns ",
            $order,
            " LIMIT ?6"
        )
    };
}

/// Oldest first from a lower bound: the first `limit` candles.
const CANDLES_ASC: &str = select_candles!("ASC");
/// Newest first below an upper bound: the latest `limit` candles.
const CANDLES_DESC: &str = select_candles!("DESC");

macro_rules! select_products {
    () => {
        "SELECT exchange, symbol, native_symbol, base, quote FROM products"
    };
}

const PRODUCTS_ALL: &str = concat!(select_products!(), " ORDER BY exchange, symbol");
const PRODUCT_BY_KEY: &str = concat!(select_products!(), " WHERE exchange = ?1 AND symbol = ?2");

const BOOK_BY_KEY: &str = "SELECT state, sequence, time_ns, bids, asks FROM books WHERE exchange = ?1 AND symbol = ?2";

const STATS_BY_KEY: &str = "
SELECT time_ns, best_bid, best_bid_size, best_ask, best_ask_size, spread, mid, mid_ma, mid_ma_window,
       mid_ma_samples, max_spread, last_price, last_trade_ns, book_state
FROM stats WHERE exchange = ?1 AND symbol = ?2";

macro_rules! select_tickers {
    () => {
        "SELECT exchange, symbol, time_ns, recv_ns, last_price, last_size, best_bid, best_bid_size, best_ask, \
         best_ask_size, open_24h, high_24h, low_24h, volume_24h FROM tickers"
    };
}

const TICKERS_OF_EXCHANGE: &str = concat!(select_tickers!(), " WHERE exchange = ?1 ORDER BY symbol");
const TICKER_BY_KEY: &str = concat!(select_tickers!(), " WHERE exchange = ?1 AND symbol = ?2");

const POSITIONS: &str = "
SELECT p.partition, p.next_offset, c.next_offset, c.state FROM consumer_positions p
LEFT JOIN consumer_checkpoints c USING (group_id, topic, partition)
WHERE p.group_id = ?1 AND p.topic = ?2 ORDER BY p.partition";

/// The positions of one group on one topic, by partition.
pub(super) fn positions(conn: &Connection, group: &str, topic: &str) -> Result<Vec<LogPosition>, StoreError> {
    collect(conn, POSITIONS, [group, topic], "consumer_positions", None, |f| {
        let partition = f.int(0)?;
        Ok(LogPosition {
            group: group.to_owned(),
            topic: topic.to_owned(),
            partition: i32::try_from(partition).map_err(|_| f.corrupt(0, format_args!("partition {partition} is out of range")))?,
            next_offset: f.int(1)?,
            checkpoint: match (f.opt_int(2)?, f.opt_blob(3)?) {
                (Some(next_offset), Some(state)) => Some(Checkpoint { next_offset, state }),
                _ => None,
            },
        })
    })
}

/// Answers if the database answers.
pub(super) fn health(conn: &Connection) -> Result<(), StoreError> {
    conn.prepare_cached("SELECT 1").and_then(|mut stmt| stmt.query_row([], |_| Ok(()))).map_err(|e| backend("health check", e))
}

/// Every product, by exchange name then symbol (byte order).
pub(super) fn products(conn: &Connection) -> Result<Vec<Product>, StoreError> {
    collect(conn, PRODUCTS_ALL, [], "products", None, product_row)
}

/// One product.
pub(super) fn product(conn: &Connection, key: &InstrumentKey) -> Result<Option<Product>, StoreError> {
    let params = [key.exchange.as_str(), key.symbol.as_str()];
    Ok(collect(conn, PRODUCT_BY_KEY, params, "products", Some(key), product_row)?.pop())
}

fn product_row(f: &mut Fields<'_, '_>) -> Result<Product, StoreError> {
    Ok(Product {
        key: f.instrument(0, 1)?,
        native_symbol: f.text(2)?.to_owned(),
        base: f.text(3)?.to_owned(),
        quote: f.text(4)?.to_owned(),
    })
}

/// Candles as [`CandleQuery`] describes them, ascending by start.
pub(super) fn candles(conn: &Connection, query: &CandleQuery) -> Result<Vec<Candle>, StoreError> {
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
    let mut out = select_candles(conn, &query.instrument, query.interval, lo, hi, query.limit, newest_first)?;
    if newest_first {
        out.reverse();
    }
    Ok(out)
}

/// The newest candle of one product and interval.
pub(super) fn latest_candle(conn: &Connection, key: &InstrumentKey, interval: Interval) -> Result<Option<Candle>, StoreError> {
    Ok(select_candles(conn, key, interval, i64::MIN, i64::MAX, 1, true)?.pop())
}

fn select_candles(
    conn: &Connection,
    key: &InstrumentKey,
    interval: Interval,
    lo: i64,
    hi: i64,
    limit: usize,
    newest_first: bool,
) -> Result<Vec<Candle>, StoreError> {
    let sql = if newest_first { CANDLES_DESC } else { CANDLES_ASC };
    let err = |e| backend("reading candles", e);
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    // SQLite reads a negative LIMIT as "no limit"; clamping keeps it positive.
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let params = rusqlite::params![key.exchange.as_str(), key.symbol.as_str(), interval.as_str(), lo, hi, limit];
    let mut rows = stmt.query(params).map_err(err)?;
    let mut scratch = String::new();
    // Capped so a huge `limit` does not pre-allocate a huge vector.
    let mut out = Vec::with_capacity(usize::try_from(limit).unwrap_or(usize::MAX).min(1024));
    while let Some(row) = rows.next().map_err(err)? {
        out.push(candle_row(row, key, interval, &mut scratch)?);
    }
    Ok(out)
}

fn candle_row(row: &Row<'_>, key: &InstrumentKey, interval: Interval, scratch: &mut String) -> Result<Candle, StoreError> {
    let mut f = Fields { row, table: "candles", name: RowName::Key(key), scratch };
    let start = f.int(0)?;
    f.name = RowName::Candle(key, interval, start);
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
        first_trade_id: f.trade_id(13)?,
        last_trade_id: f.trade_id(14)?,
        is_final: f.flag(15)?,
        revision: f.small(16)?,
    })
}

/// The latest book of one product, cut to `depth` levels a side.
pub(super) fn book(conn: &Connection, key: &InstrumentKey, depth: usize) -> Result<Option<BookTop>, StoreError> {
    let params = [key.exchange.as_str(), key.symbol.as_str()];
    let mut books = collect(conn, BOOK_BY_KEY, params, "books", Some(key), |f| {
        Ok(BookTop {
            instrument: key.clone(),
            state: f.parse(0)?,
            sequence: f.opt_int(1)?.map(u64_from_sql),
            time: f.opt_int(2)?.map(Timestamp),
            bids: f.levels(3, depth)?,
            asks: f.levels(4, depth)?,
        })
    })?;
    Ok(books.pop())
}

/// The latest statistics of one product.
pub(super) fn stats(conn: &Connection, key: &InstrumentKey) -> Result<Option<BookStats>, StoreError> {
    let params = [key.exchange.as_str(), key.symbol.as_str()];
    let mut stats = collect(conn, STATS_BY_KEY, params, "stats", Some(key), |f| {
        Ok(BookStats {
            instrument: key.clone(),
            time: f.opt_int(0)?.map(Timestamp),
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
            last_trade_time: f.opt_int(12)?.map(Timestamp),
            book_state: f.parse(13)?,
        })
    })?;
    Ok(stats.pop())
}

/// The latest ticker of one product.
pub(super) fn ticker(conn: &Connection, key: &InstrumentKey) -> Result<Option<Ticker>, StoreError> {
    let params = [key.exchange.as_str(), key.symbol.as_str()];
    Ok(collect(conn, TICKER_BY_KEY, params, "tickers", Some(key), ticker_row)?.pop())
}

/// The latest ticker of every product of `exchange`, by symbol.
pub(super) fn tickers(conn: &Connection, exchange: Exchange) -> Result<Vec<Ticker>, StoreError> {
    collect(conn, TICKERS_OF_EXCHANGE, [exchange.as_str()], "tickers", None, ticker_row)
}

fn ticker_row(f: &mut Fields<'_, '_>) -> Result<Ticker, StoreError> {
    Ok(Ticker {
        instrument: f.instrument(0, 1)?,
        time: f.opt_int(2)?.map(Timestamp),
        recv_time: Timestamp(f.int(3)?),
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

/// Runs a query and decodes every row with `decode`; `key` is the product
/// the query is about, if it is about one (for corruption reports).
fn collect<T, P: rusqlite::Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    table: &'static str,
    key: Option<&InstrumentKey>,
    mut decode: impl FnMut(&mut Fields<'_, '_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let err = |e| backend(&format!("reading {table}"), e);
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let mut rows = stmt.query(params).map_err(err)?;
    let mut scratch = String::new();
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(err)? {
        let name = key.map_or(RowName::Index(out.len()), RowName::Key);
        out.push(decode(&mut Fields { row, table, name, scratch: &mut scratch })?);
    }
    Ok(out)
}

/// Names a row in corruption reports.
#[derive(Clone, Copy)]
enum RowName<'k> {
    /// The row of one product.
    Key(&'k InstrumentKey),
    /// One candle.
    Candle(&'k InstrumentKey, Interval, i64),
    /// A row of a listing, by position.
    Index(usize),
}

impl fmt::Display for RowName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowName::Key(key) => write!(f, "{key}"),
            RowName::Candle(key, interval, start) => write!(f, "{key} {interval} start_ns={start}"),
            RowName::Index(i) => write!(f, "#{i}"),
        }
    }
}

/// Typed access to one row's columns. Anything that is not what the write
/// path stores becomes [`StoreError::Corrupt`] naming table, row and column.
struct Fields<'a, 'stmt> {
    row: &'a Row<'stmt>,
    table: &'static str,
    name: RowName<'a>,
    /// Reused buffer for checking that decimals render back unchanged.
    scratch: &'a mut String,
}

impl<'a> Fields<'a, '_> {
    fn corrupt(&self, idx: usize, problem: impl fmt::Display) -> StoreError {
        let column = self.row.as_ref().column_name(idx).unwrap_or("?");
        StoreError::Corrupt(format!("{} row {}: column {column}: {problem}", self.table, self.name))
    }

    fn value(&self, idx: usize) -> Result<ValueRef<'a>, StoreError> {
        self.row.get_ref(idx).map_err(|e| self.corrupt(idx, e))
    }

    fn text(&self, idx: usize) -> Result<&'a str, StoreError> {
        match self.value(idx)? {
            ValueRef::Text(bytes) => std::str::from_utf8(bytes).map_err(|e| self.corrupt(idx, e)),
            other => Err(self.corrupt(idx, format_args!("expected text, found {}", other.data_type()))),
        }
    }

    fn int(&self, idx: usize) -> Result<i64, StoreError> {
        self.opt_int(idx)?.ok_or_else(|| self.corrupt(idx, "expected an integer, found NULL"))
    }

    fn opt_int(&self, idx: usize) -> Result<Option<i64>, StoreError> {
        match self.value(idx)? {
            ValueRef::Integer(v) => Ok(Some(v)),
            ValueRef::Null => Ok(None),
            other => Err(self.corrupt(idx, format_args!("expected an integer, found {}", other.data_type()))),
        }
    }

    fn opt_blob(&self, idx: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.value(idx)? {
            ValueRef::Blob(bytes) => Ok(Some(bytes.to_vec())),
            ValueRef::Null => Ok(None),
            other => Err(self.corrupt(idx, format_args!("expected a blob, found {}", other.data_type()))),
        }
    }

    /// A count (trades): never negative.
    fn count(&self, idx: usize) -> Result<u64, StoreError> {
        let v = self.int(idx)?;
        u64::try_from(v).map_err(|_| self.corrupt(idx, format_args!("negative count {v}")))
    }

    /// A u32 field (revision, moving-average window).
    fn small(&self, idx: usize) -> Result<u32, StoreError> {
        let v = self.int(idx)?;
        u32::try_from(v).map_err(|_| self.corrupt(idx, format_args!("{v} is out of range")))
    }

    fn flag(&self, idx: usize) -> Result<bool, StoreError> {
        match self.int(idx)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(self.corrupt(idx, format_args!("expected 0 or 1, found {v}"))),
        }
    }

    /// A value with a string form (`BookState`, `Exchange`).
    fn parse<T>(&self, idx: usize) -> Result<T, StoreError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        self.text(idx)?.parse().map_err(|e| self.corrupt(idx, e))
    }

    fn instrument(&self, exchange: usize, symbol: usize) -> Result<InstrumentKey, StoreError> {
        let exchange: Exchange = self.parse(exchange)?;
        Ok(InstrumentKey::new(exchange, Symbol::new(self.text(symbol)?)))
    }

    fn dec(&mut self, idx: usize) -> Result<Decimal, StoreError> {
        let text = self.text(idx)?;
        exact_decimal(text, self.scratch).ok_or_else(|| self.corrupt(idx, format_args!("{text:?} is not an exact decimal")))
    }

    fn opt_dec(&mut self, idx: usize) -> Result<Option<Decimal>, StoreError> {
        match self.value(idx)? {
            ValueRef::Null => Ok(None),
            _ => self.dec(idx).map(Some),
        }
    }

    fn trade_id(&self, idx: usize) -> Result<TradeId, StoreError> {
        match self.value(idx)? {
            ValueRef::Integer(v) => Ok(TradeId::Num(u64_from_sql(v))),
            ValueRef::Text(bytes) => {
                let s = std::str::from_utf8(bytes).map_err(|e| self.corrupt(idx, e))?;
                Ok(TradeId::Str(Arc::from(s)))
            }
            other => Err(self.corrupt(idx, format_args!("expected a trade id, found {}", other.data_type()))),
        }
    }

    /// A JSON array of `[price, size]` strings, best first; only the first
    /// `depth` levels are decoded.
    fn levels(&mut self, idx: usize, depth: usize) -> Result<Vec<Level>, StoreError> {
        let text = self.text(idx)?;
        levels_from_json(text, depth, self.scratch).map_err(|e| self.corrupt(idx, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
        let details = stmt.query_map(rusqlite::params![0, 0, 0, 0, 0, 0], |row| row.get::<_, String>(3));
        details.expect("plan rows").collect::<Result<Vec<_>, _>>().expect("plan").join("; ")
    }

    /// Both candle queries must be a range scan of the primary key in its
    /// own order: no full scan, no sort, whatever the table's size.
    #[test]
    fn candle_queries_are_primary_key_range_scans() {
        let conn = Connection::open_in_memory().expect("memory db");
        conn.execute_batch(super::super::schema::CREATE_V1).expect("schema");
        for sql in [CANDLES_ASC, CANDLES_DESC] {
            let plan = plan(&conn, sql);
            assert!(plan.contains("SEARCH candles USING PRIMARY KEY"), "{plan}");
            assert!(plan.contains("start_ns>? AND start_ns<?"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "sorts instead of scanning in order: {plan}");
        }
    }
}
