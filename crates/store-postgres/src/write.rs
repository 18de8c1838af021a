//! The write path: a batch is encoded once into `COPY` text, then each
//! attempt streams it into temporary staging tables and upserts from there,
//! all in one transaction.
//!
//! Staging then `INSERT … SELECT … ON CONFLICT` costs a few round trips per
//! batch whatever its size, where one `INSERT` per row costs one per row.
//! The staging tables are the connection's own temporary tables, emptied at
//! every commit (`ON COMMIT DELETE ROWS`) and by every rollback, so a failed
//! attempt leaves nothing behind for the next.
//!
//! A batch may name the same key twice (an open candle and then its final
//! state; a product listed twice). `ON CONFLICT DO UPDATE` cannot touch a
//! row twice in one statement, so `DISTINCT ON` first keeps, per key, the
//! row that writing them one after another would have left: for candles the
//! highest revision, then a final one over a non-final one, then the later
//! one; for positions the highest offset, then the later one; for the rest
//! the later one. The `ON CONFLICT … WHERE` then applies the same rule
//! against the stored row.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::SinkExt;
use marketpipe_model::{BookStats, BookTop, Candle, Decimal, Level, Product, Ticker, Timestamp, TradeId};
use marketpipe_store::{LogPosition, StoreError, WriteBatch};
use tokio_postgres::{Client, Statement, Transaction};

use crate::{conn::backend, schema::Partitions};

/// One target table and how its staged rows are merged in.
struct Table {
    name: &'static str,
    cols: &'static [&'static str],
    key: &'static [&'static str],
    /// Among staged rows of one key, the preferred ones first.
    prefer: &'static str,
    /// When a staged row may replace the stored one.
    replace_if: Option<&'static str>,
    /// Extra assignments on update.
    also_set: &'static str,
}

/// The tables in write order; the index is the part's index in [`Encoded`].
const TABLES: [Table; 6] = [
    Table {
        name: "products",
        cols: &["exchange", "symbol", "native_symbol", "base", "quote"],
        key: &["exchange", "symbol"],
        prefer: "ord DESC",
        replace_if: None,
        also_set: "",
    },
    Table {
        name: "candles",
        cols: &[
            "exchange",
            "symbol",
            "\"interval\"",
            "start_ns",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "quote_volume",
            "vwap",
            "trades",
            "buy_trades",
            "sell_trades",
            "buy_volume",
            "sell_volume",
            "first_trade_num",
            "first_trade_str",
            "last_trade_num",
            "last_trade_str",
            "final",
            "revision",
        ],
        key: &["exchange", "symbol", "\"interval\"", "start_ns"],
        prefer: "revision DESC, final DESC, ord DESC",
        // The highest revision wins; at equal revision a final candle is
        // never replaced by a non-final one (the SQLite store's rule).
        replace_if: Some(
            "excluded.revision > candles.revision OR (excluded.revision = candles.revision AND (NOT candles.final OR excluded.final))",
        ),
        also_set: "",
    },
    Table {
        name: "books",
        cols: &["exchange", "symbol", "state", "sequence", "time_ns", "bids", "asks"],
        key: &["exchange", "symbol"],
        prefer: "ord DESC",
        replace_if: None,
        also_set: "",
    },
    Table {
        name: "stats",
        cols: &[
            "exchange",
            "symbol",
            "time_ns",
            "best_bid",
            "best_bid_size",
            "best_ask",
            "best_ask_size",
            "spread",
            "mid",
            "mid_ma",
            "mid_ma_window",
            "mid_ma_samples",
            "max_spread",
            "last_price",
            "last_trade_ns",
            "book_state",
        ],
        key: &["exchange", "symbol"],
        prefer: "ord DESC",
        replace_if: None,
        also_set: "",
    },
    Table {
        name: "tickers",
        cols: &[
            "exchange",
            "symbol",
            "time_ns",
            "recv_ns",
            "last_price",
            "last_size",
            "best_bid",
            "best_bid_size",
            "best_ask",
            "best_ask_size",
            "open_24h",
            "high_24h",
            "low_24h",
            "volume_24h",
        ],
        key: &["exchange", "symbol"],
        prefer: "ord DESC",
        replace_if: None,
        also_set: "",
    },
    Table {
        name: "consumer_positions",
        cols: &["group_id", "topic", "partition", "next_offset", "checkpoint"],
        key: &["group_id", "topic", "partition"],
        prefer: "next_offset DESC, ord DESC",
        // Never backwards (see `PositionStore`).
        replace_if: Some("excluded.next_offset >= consumer_positions.next_offset"),
        also_set: ", updated_at = now()",
    },
];

impl Table {
    fn staging(&self) -> String {
        format!("stage_{}", self.name)
    }

    fn create_staging(&self) -> String {
        // LIKE copies the columns and their NOT NULLs; defaults too (for
        // `updated_at`). Temporary, so private to this connection.
        format!("CREATE TEMP TABLE {} (ord integer NOT NULL, LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS", self.staging(), self.name)
    }

    fn copy(&self) -> String {
        format!("COPY {} (ord, {}) FROM STDIN", self.staging(), self.cols.join(", "))
    }

    fn upsert(&self) -> String {
        let (cols, key) = (self.cols.join(", "), self.key.join(", "));
        let set: Vec<String> = self.cols.iter().filter(|c| !self.key.contains(c)).map(|c| format!("{c} = excluded.{c}")).collect();
        let mut sql = format!(
            "INSERT INTO {name} ({cols}) SELECT DISTINCT ON ({key}) {cols} FROM {staging} ORDER BY {key}, {prefer} \
             ON CONFLICT ({key}) DO UPDATE SET {set}{also}",
            name = self.name,
            staging = self.staging(),
            prefer = self.prefer,
            set = set.join(", "),
            also = self.also_set,
        );
        if let Some(cond) = self.replace_if {
            let _ = write!(sql, " WHERE {cond}");
        }
        sql
    }
}

/// The writer's connection with its staging tables and prepared `COPY`
/// statements, all of which live and die with the connection.
pub(crate) struct Writer {
    pub(crate) client: Client,
    copy: Vec<Statement>,
    upsert: Vec<String>,
}

impl Writer {
    /// Sets up a fresh connection (already migrated) for writing.
    pub(crate) async fn prepare(client: Client) -> Result<Writer, tokio_postgres::Error> {
        let ddl: Vec<String> = TABLES.iter().map(Table::create_staging).collect();
        client.batch_execute(&ddl.join(";\n")).await?;
        let mut copy = Vec::with_capacity(TABLES.len());
        for table in &TABLES {
            copy.push(client.prepare(&table.copy()).await?);
        }
        Ok(Writer { client, copy, upsert: TABLES.iter().map(Table::upsert).collect() })
    }

    /// One attempt at writing an encoded batch: its partitions first, then
    /// the batch in one transaction.
    pub(crate) async fn write(&mut self, encoded: &Encoded, partitions: &Partitions) -> Result<(), StoreError> {
        let missing = partitions.missing(encoded.candle_starts.iter().copied());
        if !missing.is_empty() {
            partitions.ensure(&mut self.client, &missing).await.map_err(|e| backend("creating candle partitions", &e))?;
        }
        let tx = self.client.transaction().await.map_err(|e| backend("begin", &e))?;
        let mut upserts = String::new();
        for (i, data) in encoded.parts.iter().enumerate() {
            if data.is_empty() {
                continue;
            }
            copy(&tx, &self.copy[i], data.clone()).await.map_err(|e| backend(&format!("staging {}", TABLES[i].name), &e))?;
            upserts.push_str(&self.upsert[i]);
            upserts.push_str(";\n");
        }
        // Every upsert in one round trip (the simple query protocol runs
        // them in order inside the open transaction).
        tx.batch_execute(&upserts).await.map_err(|e| backend("upserting the batch", &e))?;
        // If the connection dies during COMMIT the outcome is unknown; the
        // retry writes the batch again, which is harmless (idempotent upserts).
        tx.commit().await.map_err(|e| backend("commit", &e))
    }
}

async fn copy(tx: &Transaction<'_>, stmt: &Statement, data: Bytes) -> Result<(), tokio_postgres::Error> {
    let sink = tx.copy_in::<_, Bytes>(stmt).await?;
    futures_util::pin_mut!(sink);
    sink.send(data).await?;
    sink.finish().await?;
    Ok(())
}

/// A batch and its positions as `COPY` text, one part per table; encoded
/// once and reused by every retry.
pub(crate) struct Encoded {
    parts: [Bytes; 6],
    candle_starts: Vec<Timestamp>,
}

impl Encoded {
    /// Encodes everything, or fails (before anything is sent) on a value
    /// PostgreSQL cannot hold.
    pub(crate) fn new(batch: &WriteBatch, positions: &[LogPosition]) -> Result<Encoded, StoreError> {
        let parts = [
            encode(&batch.products, product)?,
            encode(&batch.candles, candle)?,
            encode(&batch.books, book)?,
            encode(&batch.stats, stats)?,
            encode(&batch.tickers, ticker)?,
            encode(positions, position)?,
        ];
        Ok(Encoded { parts, candle_starts: batch.candles.iter().map(|c| c.start).collect() })
    }

    /// Bytes of `COPY` text in all parts.
    pub(crate) fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }
}

fn encode<T, R: IntoResult>(rows: &[T], mut write: impl FnMut(&mut Row<'_>, &T) -> R) -> Result<Bytes, StoreError> {
    let mut buf = BytesMut::with_capacity(rows.len() * 160);
    for (ord, item) in rows.iter().enumerate() {
        let mut row = Row { buf: &mut buf, first: true };
        row.int(i64::try_from(ord).unwrap_or(i64::MAX));
        write(&mut row, item).into_result()?;
        buf.put_u8(b'\n');
    }
    Ok(buf.freeze())
}

/// Lets row encoders that cannot fail return `()`.
trait IntoResult {
    fn into_result(self) -> Result<(), StoreError>;
}

impl IntoResult for () {
    fn into_result(self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl IntoResult for Result<(), StoreError> {
    fn into_result(self) -> Result<(), StoreError> {
        self
    }
}

/// One row of `COPY … FROM STDIN` text format: tab-separated fields, `\N`
/// for NULL, backslash escapes for backslash, tab, newline and carriage
/// return.
struct Row<'a> {
    buf: &'a mut BytesMut,
    first: bool,
}

impl Row<'_> {
    fn sep(&mut self) {
        if !self.first {
            self.buf.put_u8(b'\t');
        }
        self.first = false;
    }

    fn null(&mut self) {
        self.sep();
        self.buf.put_slice(b"\\N");
    }

    fn text(&mut self, s: &str) {
        self.sep();
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escaped: &[u8] = match b {
                b'\\' => b"\\\\",
                b'\t' => b"\\t",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                _ => continue,
            };
            self.buf.put_slice(&bytes[start..i]);
            self.buf.put_slice(escaped);
            start = i + 1;
        }
        self.buf.put_slice(&bytes[start..]);
    }

    /// A value whose `Display` needs no escaping (numbers, decimals).
    fn plain(&mut self, v: impl std::fmt::Display) {
        self.sep();
        let _ = write!(Fmt(self.buf), "{v}");
    }

    fn int(&mut self, v: i64) {
        self.plain(v);
    }

    fn opt_int(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    fn dec(&mut self, v: Decimal) {
        self.plain(v);
    }

    fn opt_dec(&mut self, v: Option<Decimal>) {
        match v {
            Some(v) => self.dec(v),
            None => self.null(),
        }
    }

    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.plain(v),
            None => self.null(),
        }
    }

    fn bool(&mut self, v: bool) {
        self.sep();
        self.buf.put_u8(if v { b't' } else { b'f' });
    }

    /// `bytea` in hex form, `\x…`, its backslash escaped for `COPY`.
    fn bytes(&mut self, v: Option<&[u8]>) {
        let Some(v) = v else { return self.null() };
        self.sep();
        self.buf.reserve(3 + 2 * v.len());
        self.buf.put_slice(b"\\\\x");
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for &b in v {
            self.buf.put_u8(HEX[usize::from(b >> 4)]);
            self.buf.put_u8(HEX[usize::from(b & 15)]);
        }
    }

    /// A numeric id in the `_num` column, a string id in the `_str` one.
    fn trade_id(&mut self, id: &TradeId) {
        match id {
            TradeId::Num(n) => {
                self.plain(n);
                self.null();
            }
            TradeId::Str(s) => {
                self.null();
                self.text(s);
            }
        }
    }

    /// A count: `u64` in the model, `bigint` here. No market gets near
    /// 2^63 trades in a window, so a count beyond it is refused, not wrapped.
    fn count(&mut self, what: &dyn Fn() -> String, field: &str, v: u64) -> Result<(), StoreError> {
        let v = i64::try_from(v).map_err(|_| StoreError::Backend {
            message: format!("postgres: cannot write {}: {field} {v} does not fit a 64-bit signed integer", what()),
            retryable: false,
        })?;
        self.int(v);
        Ok(())
    }
}

/// `fmt::Write` into a `BytesMut`.
struct Fmt<'a>(&'a mut BytesMut);

impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

fn product(r: &mut Row<'_>, p: &Product) {
    r.text(p.key.exchange.as_str());
    r.text(p.key.symbol.as_str());
    r.text(&p.native_symbol);
    r.text(&p.base);
    r.text(&p.quote);
}

fn candle(r: &mut Row<'_>, c: &Candle) -> Result<(), StoreError> {
    let what = || format!("candle {} {} start_ns={}", c.instrument, c.interval, c.start.nanos());
    r.text(c.instrument.exchange.as_str());
    r.text(c.instrument.symbol.as_str());
    r.text(c.interval.as_str());
    r.int(c.start.nanos());
    for d in [c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.vwap] {
        r.dec(d);
    }
    r.count(&what, "trades", c.trades)?;
    r.count(&what, "buy_trades", c.buy_trades)?;
    r.count(&what, "sell_trades", c.sell_trades)?;
    r.dec(c.buy_volume);
    r.dec(c.sell_volume);
    r.trade_id(&c.first_trade_id);
    r.trade_id(&c.last_trade_id);
    r.bool(c.is_final);
    r.int(i64::from(c.revision));
    Ok(())
}

fn book(r: &mut Row<'_>, b: &BookTop) {
    r.text(b.instrument.exchange.as_str());
    r.text(b.instrument.symbol.as_str());
    r.text(b.state.as_str());
    r.opt_u64(b.sequence);
    r.opt_int(b.time.map(Timestamp::nanos));
    r.text(&levels_json(&b.bids));
    r.text(&levels_json(&b.asks));
}

fn stats(r: &mut Row<'_>, s: &BookStats) {
    r.text(s.instrument.exchange.as_str());
    r.text(s.instrument.symbol.as_str());
    r.opt_int(s.time.map(Timestamp::nanos));
    for d in [s.best_bid, s.best_bid_size, s.best_ask, s.best_ask_size, s.spread, s.mid, s.mid_ma] {
        r.opt_dec(d);
    }
    r.int(i64::from(s.mid_ma_window));
    r.int(i64::from(s.mid_ma_samples));
    r.opt_dec(s.max_spread);
    r.opt_dec(s.last_price);
    r.opt_int(s.last_trade_time.map(Timestamp::nanos));
    r.text(s.book_state.as_str());
}

fn ticker(r: &mut Row<'_>, t: &Ticker) {
    r.text(t.instrument.exchange.as_str());
    r.text(t.instrument.symbol.as_str());
    r.opt_int(t.time.map(Timestamp::nanos));
    r.int(t.recv_time.nanos());
    for d in [
        t.last_price,
        t.last_size,
        t.best_bid,
        t.best_bid_size,
        t.best_ask,
        t.best_ask_size,
        t.open_24h,
        t.high_24h,
        t.low_24h,
        t.volume_24h,
    ] {
        r.opt_dec(d);
    }
}

fn position(r: &mut Row<'_>, p: &LogPosition) {
    r.text(&p.group);
    r.text(&p.topic);
    r.int(i64::from(p.partition));
    r.int(p.next_offset);
    r.bytes(p.checkpoint.as_deref());
}

/// A book side as a JSON array of `[price, size]` decimal strings, best
/// first (decimal renderings never need JSON escapes).
fn levels_json(levels: &[Level]) -> String {
    let mut out = String::with_capacity(2 + levels.len() * 32);
    out.push('[');
    for (i, level) in levels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "[\"{}\",\"{}\"]", level.price, level.size);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(f: impl FnOnce(&mut Row<'_>)) -> String {
        let mut buf = BytesMut::new();
        f(&mut Row { buf: &mut buf, first: true });
        String::from_utf8(buf.to_vec()).expect("utf8")
    }

    #[test]
    fn copy_text_escapes_what_copy_would_misread() {
        assert_eq!(row(|r| r.text("a\\b\tc\nd\re")), "a\\\\b\\tc\\nd\\re");
        assert_eq!(row(|r| r.text("\\N")), "\\\\N", "the text \\N is not NULL");
        assert_eq!(row(|r| r.null()), "\\N");
        assert_eq!(row(|r| r.bytes(Some(&[0, 0x5c, 0xff]))), "\\\\x005cff");
        assert_eq!(row(|r| r.bytes(Some(&[]))), "\\\\x", "empty bytes are not NULL");
        assert_eq!(
            row(|r| {
                r.trade_id(&TradeId::Num(u64::MAX));
                r.trade_id(&TradeId::Str("12".into()));
                r.bool(true);
            }),
            "18446744073709551615\t\\N\t\\N\t12\tt"
        );
    }

    #[test]
    fn upserts_read_as_intended() {
        let sql = TABLES.iter().find(|t| t.name == "candles").expect("candles").upsert();
        assert!(sql.starts_with("INSERT INTO candles (exchange, symbol, \"interval\", start_ns, open,"), "{sql}");
        assert!(sql.contains("SELECT DISTINCT ON (exchange, symbol, \"interval\", start_ns)"), "{sql}");
        assert!(sql.contains("ORDER BY exchange, symbol, \"interval\", start_ns, revision DESC, final DESC, ord DESC"), "{sql}");
        assert!(sql.contains("revision = excluded.revision"), "{sql}");
        assert!(!sql.contains("start_ns = excluded"), "key columns are not updated: {sql}");
        assert!(sql.ends_with("(NOT candles.final OR excluded.final))"), "{sql}");
        assert_eq!(
            TABLES[0].upsert(),
            "INSERT INTO products (exchange, symbol, native_symbol, base, quote) SELECT DISTINCT ON (exchange, symbol) \
             exchange, symbol, native_symbol, base, quote FROM stage_products ORDER BY exchange, symbol, ord DESC \
             ON CONFLICT (exchange, symbol) DO UPDATE SET native_symbol = excluded.native_symbol, base = excluded.base, \
             quote = excluded.quote"
        );
    }
}
