//! The write path: one IMMEDIATE transaction per batch, cached statements,
//! and values bound one by one from a reused text buffer, so writing a
//! candle allocates nothing.

use marketpipe_model::{push_decimal, BookStats, BookTop, Candle, Decimal, Product, Ticker, TradeId};
use rusqlite::{CachedStatement, Connection, Transaction, TransactionBehavior};

use super::{backend, u64_to_sql};
use crate::{text::levels_json, Checkpoint, LogPosition, StoreError, WriteBatch};

const UPSERT_PRODUCT: &str = "
INSERT INTO products (exchange, symbol, native_symbol, base, quote) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (exchange, symbol) DO UPDATE SET
    native_symbol = excluded.native_symbol, base = excluded.base, quote = excluded.quote";

/// The candle upsert: the highest revision wins, and at equal revision a
/// final candle is never replaced by a non-final one. This is what makes a
/// replay, a retry or an out-of-order write leave the newest state.
const UPSERT_CANDLE: &str = "
INSERT INTO candles (
    exchange, symbol, interval, start_ns, open, high, low, close, volume, quote_volume, vwap,
    trades, buy_trades, sell_trades, buy_volume, sell_volume, first_trade_id, last_trade_id, final, revision
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)
ON CONFLICT (exchange, symbol, interval, start_ns) DO UPDATE SET
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, quote_volume = excluded.quote_volume, vwap = excluded.vwap,
    trades = excluded.trades, buy_trades = excluded.buy_trades, sell_trades = excluded.sell_trades,
    buy_volume = excluded.buy_volume, sell_volume = excluded.sell_volume,
    first_trade_id = excluded.first_trade_id, last_trade_id = excluded.last_trade_id,
    final = excluded.final, revision = excluded.revision
WHERE excluded.revision > candles.revision
   OR (excluded.revision = candles.revision AND (candles.final = 0 OR excluded.final = 1))";

const REPLACE_BOOK: &str = "
INSERT OR REPLACE INTO books (exchange, symbol, state, sequence, time_ns, bids, asks)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

const REPLACE_STATS: &str = "
INSERT OR REPLACE INTO stats (
    exchange, symbol, time_ns, best_bid, best_bid_size, best_ask, best_ask_size, spread, mid, mid_ma,
    mid_ma_window, mid_ma_samples, max_spread, last_price, last_trade_ns, book_state
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

const REPLACE_TICKER: &str = "
INSERT OR REPLACE INTO tickers (
    exchange, symbol, time_ns, recv_ns, last_price, last_size, best_bid, best_bid_size, best_ask, best_ask_size,
    open_24h, high_24h, low_24h, volume_24h
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

/// A consumer position: never moves backwards (see `PositionStore`).
const UPSERT_POSITION: &str = "
INSERT INTO consumer_positions (group_id, topic, partition, next_offset) VALUES (?1, ?2, ?3, ?4)
ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = excluded.next_offset
WHERE excluded.next_offset >= consumer_positions.next_offset";

/// A consumer checkpoint: never moves backwards either, by its own offset.
const UPSERT_CHECKPOINT: &str = "
INSERT INTO consumer_checkpoints (group_id, topic, partition, next_offset, state) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = excluded.next_offset, state = excluded.state
WHERE excluded.next_offset >= consumer_checkpoints.next_offset";

/// Writes the whole batch and the positions or, on any error, nothing: the
/// transaction rolls back when it is dropped without a commit.
pub(super) fn write_batch(conn: &mut Connection, batch: &WriteBatch, positions: &[LogPosition]) -> Result<(), StoreError> {
    // IMMEDIATE takes the write lock up front, so waiting for another
    // process's lock happens here, under the busy timeout, rather than
    // failing half way through.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| backend("begin", e))?;
    let mut text = String::with_capacity(64);
    write_rows(&tx, UPSERT_PRODUCT, &batch.products, &mut text, product, |p| format!("product {}", p.key))?;
    write_rows(&tx, UPSERT_CANDLE, &batch.candles, &mut text, candle, |c| {
        format!("candle {} {} start_ns={}", c.instrument, c.interval, c.start.nanos())
    })?;
    write_rows(&tx, REPLACE_BOOK, &batch.books, &mut text, book, |b| format!("book {}", b.instrument))?;
    write_rows(&tx, REPLACE_STATS, &batch.stats, &mut text, stats, |s| format!("stats {}", s.instrument))?;
    write_rows(&tx, REPLACE_TICKER, &batch.tickers, &mut text, ticker, |t| format!("ticker {}", t.instrument))?;
    write_rows(&tx, UPSERT_POSITION, positions, &mut text, position, |p| format!("position {}/{}/{}", p.group, p.topic, p.partition))?;
    let checkpoints: Vec<(&LogPosition, &Checkpoint)> = positions.iter().filter_map(|p| Some((p, p.checkpoint.as_ref()?))).collect();
    write_rows(&tx, UPSERT_CHECKPOINT, &checkpoints, &mut text, checkpoint, |(p, c)| {
        format!("checkpoint {}/{}/{} at {}", p.group, p.topic, p.partition, c.next_offset)
    })?;
    tx.commit().map_err(|e| backend("commit", e))
}

/// Runs one cached statement per row, binding each row with `bind`;
/// `describe` names the failing row in the error.
fn write_rows<T>(
    tx: &Transaction<'_>,
    sql: &str,
    rows: &[T],
    text: &mut String,
    bind: fn(&mut Binder<'_, '_, '_>, &T) -> rusqlite::Result<()>,
    describe: fn(&T) -> String,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(sql).map_err(|e| backend("prepare", e))?;
    for row in rows {
        let mut b = Binder::new(&mut stmt, text);
        bind(&mut b, row).and_then(|()| b.execute()).map_err(|e| backend(&format!("writing {}", describe(row)), e))?;
    }
    Ok(())
}

fn product(b: &mut Binder<'_, '_, '_>, p: &Product) -> rusqlite::Result<()> {
    b.text(p.key.exchange.as_str())?;
    b.text(p.key.symbol.as_str())?;
    b.text(&p.native_symbol)?;
    b.text(&p.base)?;
    b.text(&p.quote)
}

fn candle(b: &mut Binder<'_, '_, '_>, c: &Candle) -> rusqlite::Result<()> {
    b.text(c.instrument.exchange.as_str())?;
    b.text(c.instrument.symbol.as_str())?;
    b.text(c.interval.as_str())?;
    b.int(c.start.nanos())?;
    b.dec(c.open)?;
    b.dec(c.high)?;
    b.dec(c.low)?;
    b.dec(c.close)?;
    b.dec(c.volume)?;
    b.dec(c.quote_volume)?;
    b.dec(c.vwap)?;
    b.count("trades", c.trades)?;
    b.count("buy_trades", c.buy_trades)?;
    b.count("sell_trades", c.sell_trades)?;
    b.dec(c.buy_volume)?;
    b.dec(c.sell_volume)?;
    b.trade_id(&c.first_trade_id)?;
    b.trade_id(&c.last_trade_id)?;
    b.int(i64::from(c.is_final))?;
    b.int(i64::from(c.revision))
}

fn book(b: &mut Binder<'_, '_, '_>, book: &BookTop) -> rusqlite::Result<()> {
    b.text(book.instrument.exchange.as_str())?;
    b.text(book.instrument.symbol.as_str())?;
    b.text(book.state.as_str())?;
    b.opt_int(book.sequence.map(u64_to_sql))?;
    b.opt_int(book.time.map(|t| t.nanos()))?;
    b.text(&levels_json(&book.bids))?;
    b.text(&levels_json(&book.asks))
}

fn stats(b: &mut Binder<'_, '_, '_>, s: &BookStats) -> rusqlite::Result<()> {
    b.text(s.instrument.exchange.as_str())?;
    b.text(s.instrument.symbol.as_str())?;
    b.opt_int(s.time.map(|t| t.nanos()))?;
    b.opt_dec(s.best_bid)?;
    b.opt_dec(s.best_bid_size)?;
    b.opt_dec(s.best_ask)?;
    b.opt_dec(s.best_ask_size)?;
    b.opt_dec(s.spread)?;
    b.opt_dec(s.mid)?;
    b.opt_dec(s.mid_ma)?;
    b.int(i64::from(s.mid_ma_window))?;
    b.int(i64::from(s.mid_ma_samples))?;
    b.opt_dec(s.max_spread)?;
    b.opt_dec(s.last_price)?;
    b.opt_int(s.last_trade_time.map(|t| t.nanos()))?;
    b.text(s.book_state.as_str())
}

fn ticker(b: &mut Binder<'_, '_, '_>, t: &Ticker) -> rusqlite::Result<()> {
    b.text(t.instrument.exchange.as_str())?;
    b.text(t.instrument.symbol.as_str())?;
    b.opt_int(t.time.map(|t| t.nanos()))?;
    b.int(t.recv_time.nanos())?;
    b.opt_dec(t.last_price)?;
    b.opt_dec(t.last_size)?;
    b.opt_dec(t.best_bid)?;
    b.opt_dec(t.best_bid_size)?;
    b.opt_dec(t.best_ask)?;
    b.opt_dec(t.best_ask_size)?;
    b.opt_dec(t.open_24h)?;
    b.opt_dec(t.high_24h)?;
    b.opt_dec(t.low_24h)?;
    b.opt_dec(t.volume_24h)
}

fn position(b: &mut Binder<'_, '_, '_>, p: &LogPosition) -> rusqlite::Result<()> {
    b.text(&p.group)?;
    b.text(&p.topic)?;
    b.int(i64::from(p.partition))?;
    b.int(p.next_offset)
}

fn checkpoint(b: &mut Binder<'_, '_, '_>, &(p, c): &(&LogPosition, &Checkpoint)) -> rusqlite::Result<()> {
    b.text(&p.group)?;
    b.text(&p.topic)?;
    b.int(i64::from(p.partition))?;
    b.int(c.next_offset)?;
    b.bind(c.state.as_slice())
}

/// Binds a statement's parameters in order and executes it, checking that
/// exactly as many values were bound as the statement has placeholders (so
/// a column added to the SQL but not here fails loudly instead of writing
/// a stale value left over from the previous row).
struct Binder<'a, 's, 'c> {
    stmt: &'a mut CachedStatement<'c>,
    text: &'s mut String,
    next: usize,
}

impl<'a, 's, 'c> Binder<'a, 's, 'c> {
    fn new(stmt: &'a mut CachedStatement<'c>, text: &'s mut String) -> Self {
        Binder { stmt, text, next: 1 }
    }

    fn bind<T: rusqlite::ToSql>(&mut self, value: T) -> rusqlite::Result<()> {
        self.stmt.raw_bind_parameter(self.next, value)?;
        self.next += 1;
        Ok(())
    }

    fn text(&mut self, v: &str) -> rusqlite::Result<()> {
        self.bind(v)
    }

    fn int(&mut self, v: i64) -> rusqlite::Result<()> {
        self.bind(v)
    }

    fn opt_int(&mut self, v: Option<i64>) -> rusqlite::Result<()> {
        self.bind(v)
    }

    /// A count: u64 in the model, i64 in SQLite. No market gets near 2^63
    /// trades in a window, so a count beyond it is refused, not wrapped.
    fn count(&mut self, field: &str, v: u64) -> rusqlite::Result<()> {
        let v = i64::try_from(v)
            .map_err(|_| rusqlite::Error::ToSqlConversionFailure(format!("{field} {v} does not fit a 64-bit signed integer").into()))?;
        self.bind(v)
    }

    /// Binds a decimal as the exact string `Decimal::to_string` gives, via
    /// the reused buffer (SQLite copies bound text).
    fn dec(&mut self, v: Decimal) -> rusqlite::Result<()> {
        self.text.clear();
        push_decimal(self.text, v);
        self.stmt.raw_bind_parameter(self.next, self.text.as_str())?;
        self.next += 1;
        Ok(())
    }

    fn opt_dec(&mut self, v: Option<Decimal>) -> rusqlite::Result<()> {
        match v {
            Some(v) => self.dec(v),
            None => self.bind(rusqlite::types::Null),
        }
    }

    /// Numeric ids as INTEGER, string ids as TEXT (see the schema notes).
    fn trade_id(&mut self, id: &TradeId) -> rusqlite::Result<()> {
        match id {
            TradeId::Num(n) => self.bind(u64_to_sql(*n)),
            TradeId::Str(s) => self.bind(&**s),
        }
    }

    fn execute(self) -> rusqlite::Result<()> {
        let expected = self.stmt.parameter_count();
        if self.next - 1 != expected {
            return Err(rusqlite::Error::InvalidParameterCount(self.next - 1, expected));
        }
        self.stmt.raw_execute()?;
        Ok(())
    }
}
