//! The write path: a batch is encoded once, then each attempt sends it in
//! one transaction.
//!
//! Candles, the bulk of a batch (thousands of rows in a replay), are
//! `COPY`-ed into a temporary staging table and merged with
//! `INSERT … SELECT … ON CONFLICT`. Products, books, stats, tickers and
//! positions, a handful of rows per batch, go as one `INSERT … SELECT FROM
//! unnest($1, $2, …)` each, with one array parameter per column, pipelined
//! in one round trip. Measured (tests/throughput.rs): a staging table
//! declared `ON COMMIT DELETE ROWS` is truncated at every commit, at a few
//! milliseconds a table, so staging all six kinds cost ~20 ms per commit and
//! made small live flushes ten times slower than the unnest statements do.
//! The candle staging table is private to the connection and emptied at
//! every commit and by every rollback, so a failed attempt leaves nothing
//! behind for the next.
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
use futures_util::{future::try_join_all, SinkExt};
use marketpipe_model::{BookStats, BookTop, Candle, Decimal, Product, Ticker, Timestamp, TradeId};
use marketpipe_store::{text::levels_json, Checkpoint, LogPosition, StoreError, WriteBatch};
use tokio_postgres::{types::ToSql, Client, Statement, Transaction};

use crate::{conn::backend, schema::Partitions};

/// One target table and how rows are merged into it.
struct Table {
    name: &'static str,
    /// Column names and their SQL types.
    cols: &'static [(&'static str, &'static str)],
    key: &'static [&'static str],
    /// Among rows of one key in a batch, the preferred ones first.
    prefer: &'static str,
    /// When a new row may replace the stored one.
    replace_if: Option<&'static str>,
    /// Extra assignments on update.
    also_set: &'static str,
}

const CANDLES: Table = Table {
    name: "candles",
    cols: &[
        ("exchange", "text"),
        ("symbol", "text"),
        ("\"interval\"", "text"),
        ("start_ns", "bigint"),
        ("open", "numeric"),
        ("high", "numeric"),
        ("low", "numeric"),
        ("close", "numeric"),
        ("volume", "numeric"),
        ("quote_volume", "numeric"),
        ("vwap", "numeric"),
        ("trades", "bigint"),
        ("buy_trades", "bigint"),
        ("sell_trades", "bigint"),
        ("buy_volume", "numeric"),
        ("sell_volume", "numeric"),
        ("first_trade_num", "numeric"),
        ("first_trade_str", "text"),
        ("last_trade_num", "numeric"),
        ("last_trade_str", "text"),
        ("final", "boolean"),
        ("revision", "bigint"),
    ],
    key: &["exchange", "symbol", "\"interval\"", "start_ns"],
    prefer: "revision DESC, final DESC, ord DESC",
    // The highest revision wins; at equal revision a final candle is never
    // replaced by a non-final one (the SQLite store's rule).
    replace_if: Some(
        "excluded.revision > candles.revision OR (excluded.revision = candles.revision AND (NOT candles.final OR excluded.final))",
    ),
    also_set: "",
};

/// The small tables, in write order; the index is the part's index in
/// [`Encoded::small`].
const SMALL: [Table; 6] = [
    Table {
        name: "products",
        cols: &[("exchange", "text"), ("symbol", "text"), ("native_symbol", "text"), ("base", "text"), ("quote", "text")],
        key: &["exchange", "symbol"],
        prefer: "ord DESC",
        replace_if: None,
        also_set: "",
    },
    Table {
        name: "books",
        cols: &[
            ("exchange", "text"),
            ("symbol", "text"),
            ("state", "text"),
            ("sequence", "numeric"),
            ("time_ns", "bigint"),
            ("bids", "jsonb"),
            ("asks", "jsonb"),
        ],
        key: &["exchange", "symbol"],
        prefer: "ord DESC",
        replace_if: None,
        also_set: "",
    },
    Table {
        name: "stats",
        cols: &[
            ("exchange", "text"),
            ("symbol", "text"),
            ("time_ns", "bigint"),
            ("best_bid", "numeric"),
            ("best_bid_size", "numeric"),
            ("best_ask", "numeric"),
            ("best_ask_size", "numeric"),
            ("spread", "numeric"),
            ("mid", "numeric"),
            ("mid_ma", "numeric"),
            ("mid_ma_window", "bigint"),
            ("mid_ma_samples", "bigint"),
            ("max_spread", "numeric"),
            ("last_price", "numeric"),
            ("last_trade_ns", "bigint"),
            ("book_state", "text"),
        ],
        key: &["exchange", "symbol"],
        prefer: "ord DESC",
        replace_if: None,
        also_set: "",
    },
    Table {
        name: "tickers",
        cols: &[
            ("exchange", "text"),
            ("symbol", "text"),
            ("time_ns", "bigint"),
            ("recv_ns", "bigint"),
            ("last_price", "numeric"),
            ("last_size", "numeric"),
            ("best_bid", "numeric"),
            ("best_bid_size", "numeric"),
            ("best_ask", "numeric"),
            ("best_ask_size", "numeric"),
            ("open_24h", "numeric"),
            ("high_24h", "numeric"),
            ("low_24h", "numeric"),
            ("volume_24h", "numeric"),
        ],
        key: &["exchange", "symbol"],
        prefer: "ord DESC",
        replace_if: None,
        also_set: "",
    },
    Table {
        name: "consumer_positions",
        cols: &[("group_id", "text"), ("topic", "text"), ("partition", "integer"), ("next_offset", "bigint")],
        key: &["group_id", "topic", "partition"],
        prefer: "next_offset DESC, ord DESC",
        // Never backwards (see `PositionStore`).
        replace_if: Some("excluded.next_offset >= consumer_positions.next_offset"),
        also_set: ", updated_at = now()",
    },
    Table {
        name: "consumer_checkpoints",
        cols: &[("group_id", "text"), ("topic", "text"), ("partition", "integer"), ("next_offset", "bigint"), ("state", "bytea")],
        key: &["group_id", "topic", "partition"],
        prefer: "next_offset DESC, ord DESC",
        // Never backwards either, by the checkpoint's own offset.
        replace_if: Some("excluded.next_offset >= consumer_checkpoints.next_offset"),
        also_set: ", updated_at = now()",
    },
];

impl Table {
    fn names(&self) -> String {
        self.cols.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
    }

    /// `ON CONFLICT …`: every column but the key replaced, if allowed.
    fn on_conflict(&self) -> String {
        let set: Vec<String> =
            self.cols.iter().map(|(c, _)| *c).filter(|c| !self.key.contains(c)).map(|c| format!("{c} = excluded.{c}")).collect();
        let mut sql = format!("ON CONFLICT ({}) DO UPDATE SET {}{}", self.key.join(", "), set.join(", "), self.also_set);
        if let Some(cond) = self.replace_if {
            let _ = write!(sql, " WHERE {cond}");
        }
        sql
    }

    /// `INSERT … SELECT DISTINCT ON (key) … FROM {source} ORDER BY key, prefer ON CONFLICT …`.
    fn upsert_from(&self, source: &str) -> String {
        let (names, key) = (self.names(), self.key.join(", "));
        format!(
            "INSERT INTO {name} ({names}) SELECT DISTINCT ON ({key}) {names} FROM {source} ORDER BY {key}, {prefer} {conflict}",
            name = self.name,
            prefer = self.prefer,
            conflict = self.on_conflict()
        )
    }

    /// The staging table's name.
    fn staging(&self) -> String {
        format!("stage_{}", self.name)
    }

    fn create_staging(&self) -> String {
        // LIKE copies the columns and their NOT NULLs. Temporary, so private
        // to this connection.
        format!("CREATE TEMP TABLE {} (ord integer NOT NULL, LIKE {}) ON COMMIT DELETE ROWS", self.staging(), self.name)
    }

    fn copy(&self) -> String {
        format!("COPY {} (ord, {}) FROM STDIN", self.staging(), self.names())
    }

    /// The upsert from one array parameter per column. Numbers and JSON
    /// travel as text (exact, and no driver type is needed) and are cast
    /// here; `ord` is the row's position in the batch.
    fn upsert_unnest(&self) -> String {
        let mut params = Vec::new();
        let mut casts = Vec::new();
        for (i, (name, ty)) in self.cols.iter().enumerate() {
            params.push(format!("${}::{}[]", i + 1, param_type(ty)));
            casts.push(format!("u.{name}::{ty} AS {name}"));
        }
        let source = format!(
            "(SELECT {casts}, u.ord FROM unnest({params}) WITH ORDINALITY AS u({names}, ord)) AS s",
            casts = casts.join(", "),
            params = params.join(", "),
            names = self.names()
        );
        self.upsert_from(&source)
    }
}

/// How a column of SQL type `ty` travels as a parameter.
fn param_type(ty: &str) -> &'static str {
    match ty {
        "bigint" | "integer" => "int8",
        "boolean" => "bool",
        "bytea" => "bytea",
        _ => "text",
    }
}

/// The writer's connection with its candle staging table and prepared
/// statements, all of which live and die with the connection.
pub(crate) struct Writer {
    pub(crate) client: Client,
    copy_candles: Statement,
    upsert_candles: Statement,
    upsert_small: Vec<Statement>,
}

impl Writer {
    /// Sets up a fresh connection (already migrated) for writing.
    pub(crate) async fn prepare(client: Client) -> Result<Writer, tokio_postgres::Error> {
        client.batch_execute(&CANDLES.create_staging()).await?;
        let copy_candles = client.prepare(&CANDLES.copy()).await?;
        let upsert_candles = client.prepare(&CANDLES.upsert_from(&CANDLES.staging())).await?;
        let mut upsert_small = Vec::with_capacity(SMALL.len());
        for table in &SMALL {
            upsert_small.push(client.prepare(&table.upsert_unnest()).await?);
        }
        Ok(Writer { client, copy_candles, upsert_candles, upsert_small })
    }

    /// One attempt at writing an encoded batch: its partitions first, then
    /// the batch in one transaction.
    pub(crate) async fn write(&mut self, encoded: &Encoded, partitions: &Partitions) -> Result<(), StoreError> {
        let missing = partitions.missing(encoded.candle_starts.iter().copied());
        if !missing.is_empty() {
            partitions.ensure(&mut self.client, &missing).await.map_err(|e| backend("creating candle partitions", &e))?;
        }
        let tx = self.client.transaction().await.map_err(|e| backend("begin", &e))?;
        if !encoded.candles.is_empty() {
            copy(&tx, &self.copy_candles, encoded.candles.clone()).await.map_err(|e| backend("staging candles", &e))?;
        }
        // Every upsert in flight at once: the driver pipelines them, and the
        // server runs them in the order sent.
        let mut upserts = Vec::new();
        if !encoded.candles.is_empty() {
            upserts.push(run(&tx, &self.upsert_candles, Vec::new(), "candles"));
        }
        for ((columns, stmt), table) in encoded.small.iter().zip(&self.upsert_small).zip(&SMALL) {
            if !columns.is_empty() {
                upserts.push(run(&tx, stmt, columns.params(), table.name));
            }
        }
        try_join_all(upserts).await?;
        // If the connection dies during COMMIT the outcome is unknown; the
        // retry writes the batch again, which is harmless (idempotent upserts).
        tx.commit().await.map_err(|e| backend("commit", &e))
    }
}

async fn run(tx: &Transaction<'_>, stmt: &Statement, params: Vec<&(dyn ToSql + Sync)>, table: &str) -> Result<u64, StoreError> {
    tx.execute(stmt, &params).await.map_err(|e| backend(&format!("upserting {table}"), &e))
}

async fn copy(tx: &Transaction<'_>, stmt: &Statement, data: Bytes) -> Result<(), tokio_postgres::Error> {
    let sink = tx.copy_in::<_, Bytes>(stmt).await?;
    futures_util::pin_mut!(sink);
    sink.send(data).await?;
    sink.finish().await?;
    Ok(())
}

/// A batch and its positions, encoded once and reused by every retry:
/// candles as `COPY` text, the rest as column arrays.
pub(crate) struct Encoded {
    candles: Bytes,
    candle_starts: Vec<Timestamp>,
    small: [Columns; 6],
}

impl Encoded {
    /// Encodes everything, or fails (before anything is sent) on a value
    /// PostgreSQL cannot hold.
    pub(crate) fn new(batch: &WriteBatch, positions: &[LogPosition]) -> Result<Encoded, StoreError> {
        let mut candles = BytesMut::with_capacity(batch.candles.len() * 200);
        for (ord, c) in batch.candles.iter().enumerate() {
            let mut row = CopyRow { buf: &mut candles, first: true };
            row.int(i64::try_from(ord).unwrap_or(i64::MAX));
            candle(&mut row, c)?;
            candles.put_u8(b'\n');
        }
        let checkpoints: Vec<(&LogPosition, &Checkpoint)> = positions.iter().filter_map(|p| Some((p, p.checkpoint.as_ref()?))).collect();
        Ok(Encoded {
            candles: candles.freeze(),
            candle_starts: batch.candles.iter().map(|c| c.start).collect(),
            small: [
                Columns::of(&batch.products, product),
                Columns::of(&batch.books, book),
                Columns::of(&batch.stats, stats),
                Columns::of(&batch.tickers, ticker),
                Columns::of(positions, position),
                Columns::of(&checkpoints, checkpoint),
            ],
        })
    }

    /// Rows in the batch, for logs.
    pub(crate) fn rows(&self) -> usize {
        self.candle_starts.len() + self.small.iter().map(|c| c.rows).sum::<usize>()
    }
}

/// Where the row encoders put values: a `COPY` text row, or column arrays.
/// Each column always gets values of one kind, and its NULLs through that
/// kind's method.
trait Out {
    fn text(&mut self, v: &str);
    fn null_text(&mut self);
    fn int(&mut self, v: i64);
    fn null_int(&mut self);
    fn bool(&mut self, v: bool);
    fn bytes(&mut self, v: Option<&[u8]>);

    /// Decimals (and other numbers bound for `numeric`) as their exact text.
    fn number(&mut self, v: impl std::fmt::Display) {
        self.text(&v.to_string());
    }

    fn opt_int(&mut self, v: Option<i64>) {
        match v {
            Some(v) => self.int(v),
            None => self.null_int(),
        }
    }

    fn opt_dec(&mut self, v: Option<Decimal>) {
        match v {
            Some(v) => self.number(v),
            None => self.null_text(),
        }
    }

    fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            Some(v) => self.number(v),
            None => self.null_text(),
        }
    }

    /// A numeric id in the `_num` column, a string id in the `_str` one.
    fn trade_id(&mut self, id: &TradeId) {
        match id {
            TradeId::Num(n) => {
                self.number(n);
                self.null_text();
            }
            TradeId::Str(s) => {
                self.null_text();
                self.text(s);
            }
        }
    }
}

/// A table's rows as one array per column, for `unnest`.
#[derive(Default)]
struct Columns {
    cols: Vec<Column>,
    at: usize,
    rows: usize,
}

enum Column {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<bool>),
    Bytes(Vec<Option<Vec<u8>>>),
}

impl Columns {
    fn of<T>(items: &[T], encode: fn(&mut Columns, &T)) -> Columns {
        let mut out = Columns::default();
        for item in items {
            out.at = 0;
            encode(&mut out, item);
            out.rows += 1;
        }
        out
    }

    fn is_empty(&self) -> bool {
        self.rows == 0
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.cols
            .iter()
            .map(|c| match c {
                Column::Text(v) => v as &(dyn ToSql + Sync),
                Column::Int(v) => v as &(dyn ToSql + Sync),
                Column::Bool(v) => v as &(dyn ToSql + Sync),
                Column::Bytes(v) => v as &(dyn ToSql + Sync),
            })
            .collect()
    }

    /// The next column of this row, created (with `make`) on the first row.
    fn next(&mut self, make: fn() -> Column) -> &mut Column {
        if self.at == self.cols.len() {
            self.cols.push(make());
        }
        self.at += 1;
        &mut self.cols[self.at - 1]
    }
}

impl Out for Columns {
    fn text(&mut self, v: &str) {
        if let Column::Text(c) = self.next(|| Column::Text(Vec::new())) {
            c.push(Some(v.to_owned()));
        }
    }

    fn null_text(&mut self) {
        if let Column::Text(c) = self.next(|| Column::Text(Vec::new())) {
            c.push(None);
        }
    }

    fn int(&mut self, v: i64) {
        if let Column::Int(c) = self.next(|| Column::Int(Vec::new())) {
            c.push(Some(v));
        }
    }

    fn null_int(&mut self) {
        if let Column::Int(c) = self.next(|| Column::Int(Vec::new())) {
            c.push(None);
        }
    }

    fn bool(&mut self, v: bool) {
        if let Column::Bool(c) = self.next(|| Column::Bool(Vec::new())) {
            c.push(v);
        }
    }

    fn bytes(&mut self, v: Option<&[u8]>) {
        if let Column::Bytes(c) = self.next(|| Column::Bytes(Vec::new())) {
            c.push(v.map(<[u8]>::to_vec));
        }
    }
}

/// One row of `COPY … FROM STDIN` text format: tab-separated fields, `\N`
/// for NULL, backslash escapes for backslash, tab, newline and carriage
/// return.
struct CopyRow<'a> {
    buf: &'a mut BytesMut,
    first: bool,
}

impl CopyRow<'_> {
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
}

impl Out for CopyRow<'_> {
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

    fn null_text(&mut self) {
        self.null();
    }

    /// Numbers need no escaping, and go straight into the buffer.
    fn number(&mut self, v: impl std::fmt::Display) {
        self.sep();
        let _ = write!(Fmt(self.buf), "{v}");
    }

    fn int(&mut self, v: i64) {
        self.number(v);
    }

    fn null_int(&mut self) {
        self.null();
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
}

/// `fmt::Write` into a `BytesMut`.
struct Fmt<'a>(&'a mut BytesMut);

impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

/// A count: `u64` in the model, `bigint` here. No market gets near 2^63
/// trades in a window, so a count beyond it is refused, not wrapped.
fn count(c: &Candle, field: &str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend {
        message: format!(
            "postgres: cannot write candle {} {} start_ns={}: {field} {v} does not fit a 64-bit signed integer",
            c.instrument,
            c.interval,
            c.start.nanos()
        ),
        retryable: false,
    })
}

fn product(r: &mut impl Out, p: &Product) {
    r.text(p.key.exchange.as_str());
    r.text(p.key.symbol.as_str());
    r.text(&p.native_symbol);
    r.text(&p.base);
    r.text(&p.quote);
}

fn candle(r: &mut impl Out, c: &Candle) -> Result<(), StoreError> {
    r.text(c.instrument.exchange.as_str());
    r.text(c.instrument.symbol.as_str());
    r.text(c.interval.as_str());
    r.int(c.start.nanos());
    for d in [c.open, c.high, c.low, c.close, c.volume, c.quote_volume, c.vwap] {
        r.number(d);
    }
    r.int(count(c, "trades", c.trades)?);
    r.int(count(c, "buy_trades", c.buy_trades)?);
    r.int(count(c, "sell_trades", c.sell_trades)?);
    r.number(c.buy_volume);
    r.number(c.sell_volume);
    r.trade_id(&c.first_trade_id);
    r.trade_id(&c.last_trade_id);
    r.bool(c.is_final);
    r.int(i64::from(c.revision));
    Ok(())
}

fn book(r: &mut impl Out, b: &BookTop) {
    r.text(b.instrument.exchange.as_str());
    r.text(b.instrument.symbol.as_str());
    r.text(b.state.as_str());
    r.opt_u64(b.sequence);
    r.opt_int(b.time.map(Timestamp::nanos));
    r.text(&levels_json(&b.bids));
    r.text(&levels_json(&b.asks));
}

fn stats(r: &mut impl Out, s: &BookStats) {
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

fn ticker(r: &mut impl Out, t: &Ticker) {
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

fn position(r: &mut impl Out, p: &LogPosition) {
    r.text(&p.group);
    r.text(&p.topic);
    r.int(i64::from(p.partition));
    r.int(p.next_offset);
}

fn checkpoint(r: &mut impl Out, &(p, c): &(&LogPosition, &Checkpoint)) {
    r.text(&p.group);
    r.text(&p.topic);
    r.int(i64::from(p.partition));
    r.int(c.next_offset);
    r.bytes(Some(&c.state));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(f: impl FnOnce(&mut CopyRow<'_>)) -> String {
        let mut buf = BytesMut::new();
        f(&mut CopyRow { buf: &mut buf, first: true });
        String::from_utf8(buf.to_vec()).expect("utf8")
    }

    #[test]
    fn copy_text_escapes_what_copy_would_misread() {
        assert_eq!(row(|r| r.text("a\\b\tc\nd\re")), "a\\\\b\\tc\\nd\\re");
        assert_eq!(row(|r| r.text("\\N")), "\\\\N", "the text \\N is not NULL");
        assert_eq!(row(|r| r.null_text()), "\\N");
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
    fn columns_keep_one_kind_per_column() {
        let t = |s: &str| Some(s.to_owned());
        let items = [(Some(1), None, "a"), (None, Some(&b"x"[..]), "b")];
        let cols = Columns::of(&items, |out, (i, b, s)| {
            out.opt_int(*i);
            out.bytes(*b);
            out.text(s);
        });
        assert_eq!(cols.rows, 2);
        assert!(matches!(&cols.cols[0], Column::Int(v) if v == &[Some(1), None]));
        assert!(matches!(&cols.cols[1], Column::Bytes(v) if v == &[None, Some(b"x".to_vec())]));
        assert!(matches!(&cols.cols[2], Column::Text(v) if v == &[t("a"), t("b")]));
    }

    #[test]
    fn upserts_read_as_intended() {
        let sql = CANDLES.upsert_from("stage_candles");
        assert!(sql.starts_with("INSERT INTO candles (exchange, symbol, \"interval\", start_ns, open,"), "{sql}");
        assert!(sql.contains("SELECT DISTINCT ON (exchange, symbol, \"interval\", start_ns)"), "{sql}");
        assert!(
            sql.contains("FROM stage_candles ORDER BY exchange, symbol, \"interval\", start_ns, revision DESC, final DESC, ord DESC"),
            "{sql}"
        );
        assert!(sql.contains("revision = excluded.revision"), "{sql}");
        assert!(!sql.contains("start_ns = excluded"), "key columns are not updated: {sql}");
        assert!(sql.ends_with("(NOT candles.final OR excluded.final))"), "{sql}");
        assert_eq!(
            SMALL[0].upsert_unnest(),
            "INSERT INTO products (exchange, symbol, native_symbol, base, quote) SELECT DISTINCT ON (exchange, symbol) \
             exchange, symbol, native_symbol, base, quote FROM (SELECT u.exchange::text AS exchange, u.symbol::text AS symbol, \
             u.native_symbol::text AS native_symbol, u.base::text AS base, u.quote::text AS quote, u.ord \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u(exchange, symbol, \
             native_symbol, base, quote, ord)) AS s ORDER BY exchange, symbol, ord DESC \
             ON CONFLICT (exchange, symbol) DO UPDATE SET native_symbol = excluded.native_symbol, base = excluded.base, \
             quote = excluded.quote"
        );
        assert!(SMALL[4].upsert_unnest().contains("$3::int8[]") && SMALL[4].upsert_unnest().contains("u.partition::integer"));
    }
}
