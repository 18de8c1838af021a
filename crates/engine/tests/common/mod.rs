//! Helpers shared by the engine's integration tests.
#![allow(dead_code)] // each test crate uses a different subset

use marketpipe_engine::{Engine, EngineConfig, EngineOutput};
use marketpipe_model::{
    BookDelta, BookSide, BookSnapshot, Candle, Decimal, Exchange, InstrumentKey, Interval, Level, LevelChange, MarketEvent, Side, Symbol,
    Timestamp, Trade, TradeId,
};
use proptest::prelude::*;

/// One second in nanoseconds.
pub const S: i64 = 1_000_000_000;
/// 2026-01-01T00:00:00Z.
pub const T0: i64 = 1_767_225_600 * S;

pub fn key(symbol: &str) -> InstrumentKey {
    InstrumentKey::new(Exchange::Coinbase, Symbol::new(symbol))
}

pub fn d(s: &str) -> Decimal {
    s.parse().expect("test decimal")
}

pub fn engine_with(config: EngineConfig) -> Engine {
    Engine::new(config).expect("valid test config")
}

pub fn engine(intervals: &[Interval]) -> Engine {
    engine_with(EngineConfig { intervals: intervals.to_vec(), ..EngineConfig::default() })
}

pub fn trade_of(key: &InstrumentKey, id: TradeId, t: i64, price: &str, size: &str, side: Side) -> Trade {
    Trade {
        instrument: key.clone(),
        id,
        price: d(price),
        size: d(size),
        taker_side: side,
        time: Timestamp(t),
        recv_time: Timestamp(t.saturating_add(S / 10)),
    }
}

pub fn trade(key: &InstrumentKey, id: u64, t: i64, price: &str, size: &str, side: Side) -> MarketEvent {
    MarketEvent::Trade(trade_of(key, TradeId::Num(id), t, price, size, side))
}

pub fn levels(pairs: &[(&str, &str)]) -> Vec<Level> {
    pairs.iter().map(|(p, s)| Level::new(d(p), d(s))).collect()
}

pub fn snapshot(key: &InstrumentKey, seq: u64, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> MarketEvent {
    MarketEvent::BookSnapshot(BookSnapshot {
        instrument: key.clone(),
        sequence: Some(seq),
        time: Some(Timestamp(T0 + seq as i64)),
        recv_time: Timestamp(T0 + seq as i64 + 1),
        bids: levels(bids),
        asks: levels(asks),
    })
}

pub fn change(side: BookSide, price: &str, size: &str) -> LevelChange {
    LevelChange { side, price: d(price), size: d(size) }
}

pub fn delta(key: &InstrumentKey, seq: u64, changes: Vec<LevelChange>) -> MarketEvent {
    MarketEvent::BookDelta(BookDelta {
        instrument: key.clone(),
        sequence: Some(seq),
        time: Some(Timestamp(T0 + seq as i64)),
        recv_time: Timestamp(T0 + seq as i64 + 1),
        changes,
    })
}

pub fn drain(e: &mut Engine) -> EngineOutput {
    let mut out = EngineOutput::default();
    e.drain(&mut out);
    out
}

/// The candle of `interval` starting at `start` in `out`, if emitted.
pub fn find(out: &EngineOutput, interval: Interval, start: i64) -> Option<&Candle> {
    out.candles.iter().find(|c| c.interval == interval && c.start == Timestamp(start))
}

/// Prices 0..6 in steps of 0.25 at scales 0..2 (so 1, 1.0 and 1.00 all
/// occur), sizes 0..3 (0 deletes); bids mostly low and asks mostly high so
/// that books are live most of the time but do cross now and then.
pub fn level(low: bool) -> impl Strategy<Value = Level> {
    (0i64..25, 0u32..3, 0i64..4).prop_map(move |(q, extra, size)| {
        let q = if low { q / 2 } else { 12 + q / 2 };
        let value = Decimal::new(q * 25, 2);
        let mut price = value;
        price.rescale(value.scale().max(extra)); // same value, varying scale
        Level::new(price, Decimal::from(size))
    })
}
