//! `marketpipe candles`: candles from the store as a table, JSON or CSV.

use std::io::Write;

use anyhow::{Context, Result};
use marketpipe_model::{Candle, Exchange, InstrumentKey, Interval, Symbol, Timestamp};
use marketpipe_store::CandleQuery;

use crate::{
    cli::{CandlesArgs, OutputFormat},
    config::FileConfig,
};

const COLUMNS: [&str; 18] = [
    "start",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "vwap",
    "trades",
    "buy_volume",
    "sell_volume",
    "buy_trades",
    "sell_trades",
    "first_trade_id",
    "last_trade_id",
    "final",
    "revision",
    "interval",
];

/// Queries and prints candles.
pub fn candles(args: CandlesArgs, file: &FileConfig) -> Result<()> {
    let data_dir = file.data_dir(args.data.data_dir);
    let exchange: Exchange = args.exchange.parse()?;
    let interval: Interval = args.interval.parse()?;
    let time = |name: &str, v: &Option<String>| -> Result<Option<Timestamp>> {
        v.as_deref()
            .map(|s| Timestamp::parse_user(s).with_context(|| format!("--{name} {s:?} is not RFC 3339 or Unix seconds")))
            .transpose()
    };
    let (start, end) = (time("start", &args.start)?, time("end", &args.end)?);
    if let (Some(s), Some(e)) = (start, end) {
        anyhow::ensure!(s < e, "--start must be before --end");
    }
    anyhow::ensure!(args.limit > 0, "--limit must be at least 1");
    let key = InstrumentKey::new(exchange, Symbol::new(&args.symbol.to_ascii_uppercase()));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let rows = runtime.block_on(async {
        let store = crate::stores::open(args.store.as_deref(), &data_dir, false).await?;
        if store.product(&key).await?.is_none() {
            anyhow::bail!("unknown product {key} (see GET /api/v1/products)");
        }
        Ok(store.candles(&CandleQuery { instrument: key.clone(), interval, start, end, limit: args.limit }).await?)
    })?;
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &marketpipe_api::Candles::stored(&key, interval, &rows))?;
            writeln!(out)?;
        }
        OutputFormat::Csv => {
            writeln!(out, "{}", COLUMNS.join(","))?;
            for c in &rows {
                writeln!(out, "{}", cells(c).join(","))?;
            }
        }
        OutputFormat::Table => write_table(&mut out, &rows)?,
    }
    Ok(())
}

fn cells(c: &Candle) -> Vec<String> {
    vec![
        c.start.to_rfc3339(),
        c.open.to_string(),
        c.high.to_string(),
        c.low.to_string(),
        c.close.to_string(),
        c.volume.to_string(),
        c.quote_volume.to_string(),
        c.vwap.to_string(),
        c.trades.to_string(),
        c.buy_volume.to_string(),
        c.sell_volume.to_string(),
        c.buy_trades.to_string(),
        c.sell_trades.to_string(),
        c.first_trade_id.to_string(),
        c.last_trade_id.to_string(),
        c.is_final.to_string(),
        c.revision.to_string(),
        c.interval.to_string(),
    ]
}

/// A compact aligned table of the columns people read first.
fn write_table(out: &mut impl Write, rows: &[Candle]) -> Result<()> {
    const SHOWN: [usize; 10] = [0, 1, 2, 3, 4, 5, 8, 9, 10, 15];
    let mut table: Vec<Vec<String>> = vec![SHOWN.iter().map(|&i| COLUMNS[i].to_string()).collect()];
    for c in rows {
        let all = cells(c);
        table.push(SHOWN.iter().map(|&i| all[i].clone()).collect());
    }
    let widths: Vec<usize> = (0..SHOWN.len()).map(|col| table.iter().map(|r| r[col].len()).max().unwrap_or(0)).collect();
    for row in &table {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:>w$}")).collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    if rows.is_empty() {
        writeln!(out, "(no candles)")?;
    }
    Ok(())
}
