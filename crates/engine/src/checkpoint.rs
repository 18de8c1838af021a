//! The binary format of engine checkpoints ([`crate::Engine::checkpoint`],
//! [`crate::Engine::restore`]).
//!
//! **Why.** The `process` role runs one engine per Kafka partition and gets
//! exactly-once results by making each engine a function of its partition's
//! log alone: a newly assigned partition must rebuild the engine's state up
//! to the position the store stands at before results flow again. Replaying
//! the log from its beginning does that, at a cost proportional to the
//! retention. A checkpoint stored with the position lets the rebuild start
//! from there instead. It is only correct if the restored engine is the same
//! engine: every later input must give the very outputs, counters and
//! checkpoints that the engine that wrote it would have given. So a
//! checkpoint holds *all* the engine's state, not a summary of it.
//!
//! **What is in it.** The configuration it was made under (compared on
//! restore: windows cut at other widths, or another lateness or retention,
//! would silently produce other candles), the clock, the wall-clock
//! schedule (sorted, stale entries included), the dirty list, the counters,
//! and per product in order of first appearance: the key, the product
//! metadata and ticker, every candle window of every interval (sums,
//! open/close with their trade ids, finality, revision) with the
//! watermark's inputs and the pending-drain list, the trade-id sets (id runs
//! and string ids, sorted), the order book (levels of both sides, key scale,
//! state, sequence, time), the statistics (mids of the moving average and
//! their sum, last pair, widest spread, last trade, what was last shown) and
//! every "changed since the last drain" flag. Caches that follow from the
//! rest are rebuilt on restore instead: the key → product index, the
//! last-product shortcut, the candle parameters, the clock's watermark, the
//! book levels' sort keys, and the flags that mirror a list (a window's
//! "waits for the drain", a product's "in the dirty list").
//!
//! **Layout.** All integers of the frame are little-endian:
//!
//! | bytes | content |
//! |-------|---------|
//! | 4 | magic `MPEC` |
//! | 4 | format version, [`CHECKPOINT_VERSION`] |
//! | 8 | body length `n` |
//! | n | body: the state in [postcard](https://docs.rs/postcard) encoding |
//! | 4 | CRC-32 (IEEE) of everything before it |
//!
//! The version is checked before the checksum, so that a checkpoint of
//! another format version is reported as such, whatever its layout. The checksum
//! catches corruption that would still decode (a flipped digit of a price);
//! whatever passes it is validated once more on restore, so that even a
//! checkpoint written by a buggy build gives an error, not a later panic.
//!
//! The body's layout is defined by this crate's serde derives and by the
//! stand-ins below ([`Stored`]), never by the model crate's JSON-oriented
//! serde forms (decimals as strings, untagged trade ids, renamed variants),
//! which a persisted format must not follow silently. Any change to what is
//! stored must bump [`CHECKPOINT_VERSION`]; `tests/checkpoint.rs` holds a
//! golden checkpoint that fails when the layout moves.

use std::{collections::VecDeque, sync::Arc};

use marketpipe_model::{BookState, Decimal, Exchange, InstrumentKey, Interval, Level, Product, Symbol, Ticker, Timestamp, TradeId};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::{ConfigError, EngineConfig, EngineCounters};

/// The checkpoint format this build writes and the only one it reads.
pub const CHECKPOINT_VERSION: u32 = 1;

/// "MarketPipe Engine Checkpoint".
const MAGIC: [u8; 4] = *b"MPEC";
/// Magic, version, body length.
const HEADER: usize = 16;
/// The CRC-32.
const TRAILER: usize = 4;

/// Why [`crate::Engine::restore`] refused a checkpoint. None is retryable:
/// the same bytes and config fail the same way; the caller falls back to
/// rebuilding the state from the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Fewer bytes than the frame says there are.
    #[error("engine checkpoint truncated: {len} bytes, {expected} expected")]
    Truncated {
        /// Bytes given.
        len: usize,
        /// Bytes the frame needs.
        expected: usize,
    },
    /// The bytes do not start like a checkpoint.
    #[error("not an engine checkpoint (wrong magic bytes)")]
    NotACheckpoint,
    /// A checkpoint of another format version.
    #[error("engine checkpoint format version {found} is not supported (this build reads version {supported})")]
    UnsupportedVersion {
        /// The version in the checkpoint.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The checksum does not match: the bytes were damaged.
    #[error("engine checkpoint is corrupt: checksum {computed:#010x} where {stored:#010x} was stored")]
    Checksum {
        /// The checksum in the checkpoint.
        stored: u32,
        /// The checksum of the bytes given.
        computed: u32,
    },
    /// The checksum matches but the body does not decode (or has bytes
    /// after its end): written by another encoder, or by a buggy one.
    #[error("engine checkpoint body does not decode: {0}")]
    Malformed(String),
    /// The configuration given to restore with is itself invalid.
    #[error("invalid engine config: {0}")]
    InvalidConfig(#[from] ConfigError),
    /// The checkpoint was made under another configuration: its windows,
    /// lateness or retention would not match what this engine must do.
    #[error("engine checkpoint was made under a different config: {0}")]
    ConfigMismatch(String),
    /// The body decodes but breaks an invariant the engine relies on.
    #[error("engine checkpoint is inconsistent: {0}")]
    Inconsistent(String),
}

impl CheckpointError {
    /// Always false: the same checkpoint fails the same way every time.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Frames `body` as a checkpoint.
pub(crate) fn write<T: Serialize>(body: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&CHECKPOINT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 8]); // the length, once known
    let mut out = match postcard::serialize_with_flavor(body, VecFlavor(out)) {
        Ok(out) => out,
        // Cannot happen: a Vec never runs out of room and every sequence
        // written has a known length. Should it ever, the empty result
        // fails restore with `Truncated`, and the caller replays the log.
        Err(_) => return Vec::new(),
    };
    let len = (out.len() - HEADER) as u64;
    out[8..HEADER].copy_from_slice(&len.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The body of the checkpoint `bytes`, after checking its frame.
pub(crate) fn read<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CheckpointError> {
    let truncated = |expected| CheckpointError::Truncated { len: bytes.len(), expected };
    let (Some(magic), Some(version), Some(body_len)) = (bytes.get(..4), le_bytes::<4>(bytes, 4), le_bytes::<8>(bytes, 8)) else {
        return Err(truncated(HEADER + TRAILER));
    };
    if magic != MAGIC {
        return Err(CheckpointError::NotACheckpoint);
    }
    let version = u32::from_le_bytes(version);
    if version != CHECKPOINT_VERSION {
        return Err(CheckpointError::UnsupportedVersion { found: version, supported: CHECKPOINT_VERSION });
    }
    let end = usize::try_from(u64::from_le_bytes(body_len)).ok().and_then(|n| n.checked_add(HEADER)).unwrap_or(usize::MAX);
    let Some(stored) = le_bytes::<4>(bytes, end) else {
        return Err(truncated(end.saturating_add(TRAILER)));
    };
    if bytes.len() > end + TRAILER {
        return Err(CheckpointError::Malformed(format!("{} bytes after the checksum", bytes.len() - end - TRAILER)));
    }
    let (stored, computed) = (u32::from_le_bytes(stored), crc32fast::hash(&bytes[..end]));
    if stored != computed {
        return Err(CheckpointError::Checksum { stored, computed });
    }
    match postcard::take_from_bytes(&bytes[HEADER..end]) {
        Ok((body, [])) => Ok(body),
        Ok((_, rest)) => Err(CheckpointError::Malformed(format!("{} bytes after the end of the body", rest.len()))),
        Err(e) => Err(CheckpointError::Malformed(e.to_string())),
    }
}

/// `N` bytes at `at`, if there are.
fn le_bytes<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// What differs between the configuration a checkpoint was made under and
/// the one given, field by field, for [`CheckpointError::ConfigMismatch`].
pub(crate) fn config_differences(stored: &EngineConfig, given: &EngineConfig) -> String {
    // Destructured in full so that a new field fails to compile here.
    let EngineConfig { intervals, allowed_lateness_ns, quiet_close_margin_ns, retention_ns, mid_ma_window, book_depth } = stored;
    let list = |intervals: &[Interval]| intervals.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(" ");
    let pairs = [
        ("intervals", list(intervals), list(&given.intervals)),
        ("allowed_lateness_ns", allowed_lateness_ns.to_string(), given.allowed_lateness_ns.to_string()),
        ("quiet_close_margin_ns", quiet_close_margin_ns.to_string(), given.quiet_close_margin_ns.to_string()),
        ("retention_ns", retention_ns.to_string(), given.retention_ns.to_string()),
        ("mid_ma_window", mid_ma_window.to_string(), given.mid_ma_window.to_string()),
        ("book_depth", book_depth.to_string(), given.book_depth.to_string()),
    ];
    let differences: Vec<String> =
        pairs.iter().filter(|(_, a, b)| a != b).map(|(field, a, b)| format!("{field} is {a} in the checkpoint, {b} given")).collect();
    differences.join("; ")
}

/// postcard's output into a `Vec` that already holds the header.
struct VecFlavor(Vec<u8>);

impl postcard::ser_flavors::Flavor for VecFlavor {
    type Output = Vec<u8>;

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        // Varints come through here a few bytes at a time, and a call to
        // memcpy for each took most of the time of a checkpoint.
        if data.len() <= 16 {
            for &byte in data {
                self.0.push(byte);
            }
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// A value the checkpoint stores through a stand-in of its own rather than
/// through its serde form, for fields marked
/// `#[serde(with = "crate::checkpoint::stored")]`.
///
/// The model's decimals deserialize through `deserialize_any`, which a
/// compact format without type tags cannot serve (and as strings they would
/// triple the size of a book); its trade ids are untagged, which has the
/// same problem; and its enums are tagged by names meant for JSON. The
/// stand-ins are compact, tagged by numbers fixed here, and rebuild each
/// value exactly (a decimal keeps its scale and the sign of a zero).
pub(crate) trait Stored: Sized {
    /// What is written.
    type Repr: Serialize + DeserializeOwned;
    /// The stand-in of `self`.
    fn to_repr(&self) -> Self::Repr;
    /// The value back, or `None` if the stand-in holds no valid value.
    fn from_repr(repr: Self::Repr) -> Option<Self>;
}

/// `#[serde(with = ...)]` adapter for [`Stored`] values.
pub(crate) mod stored {
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    use super::Stored;

    pub(crate) fn serialize<T: Stored, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        value.to_repr().serialize(serializer)
    }

    pub(crate) fn deserialize<'de, T: Stored, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        T::from_repr(T::Repr::deserialize(deserializer)?).ok_or_else(|| D::Error::custom("invalid value"))
    }
}

macro_rules! stored_as_itself {
    ($($t:ty),*) => {$(
        impl Stored for $t {
            type Repr = $t;
            fn to_repr(&self) -> $t {
                *self
            }
            fn from_repr(repr: $t) -> Option<$t> {
                Some(repr)
            }
        }
    )*};
}

stored_as_itself!(i64, u64);

impl<T: Stored> Stored for Option<T> {
    type Repr = Option<T::Repr>;
    fn to_repr(&self) -> Self::Repr {
        self.as_ref().map(T::to_repr)
    }
    fn from_repr(repr: Self::Repr) -> Option<Self> {
        match repr {
            None => Some(None),
            Some(r) => T::from_repr(r).map(Some),
        }
    }
}

impl<A: Stored, B: Stored> Stored for (A, B) {
    type Repr = (A::Repr, B::Repr);
    fn to_repr(&self) -> Self::Repr {
        (self.0.to_repr(), self.1.to_repr())
    }
    fn from_repr((a, b): Self::Repr) -> Option<Self> {
        Some((A::from_repr(a)?, B::from_repr(b)?))
    }
}

impl<A: Stored, B: Stored, C: Stored> Stored for (A, B, C) {
    type Repr = (A::Repr, B::Repr, C::Repr);
    fn to_repr(&self) -> Self::Repr {
        (self.0.to_repr(), self.1.to_repr(), self.2.to_repr())
    }
    fn from_repr((a, b, c): Self::Repr) -> Option<Self> {
        Some((A::from_repr(a)?, B::from_repr(b)?, C::from_repr(c)?))
    }
}

impl<T: Stored> Stored for VecDeque<T> {
    type Repr = Vec<T::Repr>;
    fn to_repr(&self) -> Self::Repr {
        self.iter().map(T::to_repr).collect()
    }
    fn from_repr(repr: Self::Repr) -> Option<Self> {
        repr.into_iter().map(T::from_repr).collect()
    }
}

/// A decimal: its scale with the sign in the top bit, then the magnitude
/// of its mantissa (a varint: a price like `60123.45` takes 4 bytes).
pub(crate) type DecRepr = (u8, u128);

/// Mantissas of a `Decimal` are below 2^96.
const MANTISSA_LIMIT: u128 = 1 << 96;

impl Stored for Decimal {
    type Repr = DecRepr;
    fn to_repr(&self) -> DecRepr {
        // The scale is at most 28, so it leaves the top bit free.
        let sign = if self.is_sign_negative() { 0x80 } else { 0 };
        (sign | self.scale() as u8, self.mantissa().unsigned_abs())
    }
    fn from_repr((flags, magnitude): DecRepr) -> Option<Decimal> {
        let scale = u32::from(flags & 0x7f);
        if scale > Decimal::MAX_SCALE || magnitude >= MANTISSA_LIMIT {
            return None;
        }
        // Decimal's own 16-byte form keeps a negative zero as it is, where
        // the constructors from parts turn it positive.
        let mut raw = [0u8; 16];
        raw[..4].copy_from_slice(&((scale << 16) | (u32::from(flags >> 7) << 31)).to_le_bytes());
        raw[4..].copy_from_slice(&magnitude.to_le_bytes()[..12]);
        Some(Decimal::deserialize(raw))
    }
}

impl Stored for Timestamp {
    type Repr = i64;
    fn to_repr(&self) -> i64 {
        self.nanos()
    }
    fn from_repr(repr: i64) -> Option<Self> {
        Some(Timestamp(repr))
    }
}

/// A trade id, tagged by kind (the model's serde form is untagged).
#[derive(Serialize, Deserialize)]
pub(crate) enum TradeIdRepr {
    Num(u64),
    Str(Arc<str>),
}

impl Stored for TradeId {
    type Repr = TradeIdRepr;
    fn to_repr(&self) -> TradeIdRepr {
        match self {
            TradeId::Num(n) => TradeIdRepr::Num(*n),
            TradeId::Str(s) => TradeIdRepr::Str(s.clone()),
        }
    }
    fn from_repr(repr: TradeIdRepr) -> Option<Self> {
        Some(match repr {
            TradeIdRepr::Num(n) => TradeId::Num(n),
            TradeIdRepr::Str(s) => TradeId::Str(s),
        })
    }
}

impl Stored for Level {
    type Repr = (DecRepr, DecRepr);
    fn to_repr(&self) -> Self::Repr {
        (self.price.to_repr(), self.size.to_repr())
    }
    fn from_repr((price, size): Self::Repr) -> Option<Self> {
        Some(Level::new(Decimal::from_repr(price)?, Decimal::from_repr(size)?))
    }
}

/// Enums stored as a number fixed by an exhaustive `match`, so a new variant
/// in the model fails to compile here rather than shifting the codes.
macro_rules! stored_as_code {
    ($t:ty, $all:expr, { $($variant:path => $code:literal),* $(,)? }) => {
        impl Stored for $t {
            type Repr = u8;
            fn to_repr(&self) -> u8 {
                match self {
                    $($variant => $code),*
                }
            }
            fn from_repr(code: u8) -> Option<Self> {
                $all.into_iter().find(|v| v.to_repr() == code)
            }
        }
    };
}

stored_as_code!(Interval, Interval::ALL, {
    Interval::S1 => 0, Interval::M1 => 1, Interval::M5 => 2, Interval::M15 => 3,
    Interval::H1 => 4, Interval::H6 => 5, Interval::D1 => 6,
});
stored_as_code!(Exchange, Exchange::ALL, {
    Exchange::Coinbase => 0, Exchange::Binance => 1, Exchange::Kucoin => 2, Exchange::CoinbaseAdvanced => 3,
});
stored_as_code!(BookState, [BookState::Live, BookState::Resyncing, BookState::Stale], {
    BookState::Live => 0, BookState::Resyncing => 1, BookState::Stale => 2,
});

impl Stored for InstrumentKey {
    type Repr = (u8, String);
    fn to_repr(&self) -> Self::Repr {
        (self.exchange.to_repr(), self.symbol.as_str().to_owned())
    }
    fn from_repr((exchange, symbol): Self::Repr) -> Option<Self> {
        Some(InstrumentKey::new(Exchange::from_repr(exchange)?, Symbol::new(&symbol)))
    }
}

impl Stored for Product {
    type Repr = ((u8, String), String, String, String);
    fn to_repr(&self) -> Self::Repr {
        let Product { key, native_symbol, base, quote } = self;
        (key.to_repr(), native_symbol.clone(), base.clone(), quote.clone())
    }
    fn from_repr((key, native_symbol, base, quote): Self::Repr) -> Option<Self> {
        Some(Product { key: InstrumentKey::from_repr(key)?, native_symbol, base, quote })
    }
}

impl Stored for Ticker {
    /// Key, time, receive time, then the ten optional amounts in field order.
    type Repr = ((u8, String), Option<i64>, i64, [Option<DecRepr>; 10]);
    fn to_repr(&self) -> Self::Repr {
        let Ticker {
            instrument,
            time,
            recv_time,
            last_price,
            last_size,
            best_bid,
            best_bid_size,
            best_ask,
            best_ask_size,
            open_24h,
            high_24h,
            low_24h,
            volume_24h,
        } = self;
        let amounts = [last_price, last_size, best_bid, best_bid_size, best_ask, best_ask_size, open_24h, high_24h, low_24h, volume_24h]
            .map(Stored::to_repr);
        (instrument.to_repr(), time.to_repr(), recv_time.nanos(), amounts)
    }
    fn from_repr((instrument, time, recv_time, amounts): Self::Repr) -> Option<Self> {
        let mut a = [None; 10];
        for (slot, repr) in a.iter_mut().zip(amounts) {
            *slot = Option::<Decimal>::from_repr(repr)?;
        }
        let [last_price, last_size, best_bid, best_bid_size, best_ask, best_ask_size, open_24h, high_24h, low_24h, volume_24h] = a;
        Some(Ticker {
            instrument: InstrumentKey::from_repr(instrument)?,
            time: Option::<Timestamp>::from_repr(time)?,
            recv_time: Timestamp(recv_time),
            last_price,
            last_size,
            best_bid,
            best_bid_size,
            best_ask,
            best_ask_size,
            open_24h,
            high_24h,
            low_24h,
            volume_24h,
        })
    }
}

impl Stored for EngineConfig {
    /// Intervals, lateness, quiet-close margin, retention, mid window, depth.
    type Repr = (Vec<u8>, i64, i64, i64, u32, u64);
    fn to_repr(&self) -> Self::Repr {
        let EngineConfig { intervals, allowed_lateness_ns, quiet_close_margin_ns, retention_ns, mid_ma_window, book_depth } = self;
        let intervals = intervals.iter().map(Interval::to_repr).collect();
        (intervals, *allowed_lateness_ns, *quiet_close_margin_ns, *retention_ns, *mid_ma_window, *book_depth as u64)
    }
    fn from_repr((intervals, lateness, margin, retention, mid_ma_window, depth): Self::Repr) -> Option<Self> {
        Some(EngineConfig {
            intervals: intervals.into_iter().map(Interval::from_repr).collect::<Option<_>>()?,
            allowed_lateness_ns: lateness,
            quiet_close_margin_ns: margin,
            retention_ns: retention,
            mid_ma_window,
            book_depth: usize::try_from(depth).ok()?,
        })
    }
}

impl Stored for EngineCounters {
    /// Every counter, in field order.
    type Repr = [u64; 22];
    fn to_repr(&self) -> Self::Repr {
        // Destructured in full so that a new counter fails to compile here.
        let EngineCounters {
            trades,
            duplicate_trades,
            late_trades,
            too_late_trades,
            invalid_trades,
            overflowed_trades,
            snapshots,
            crossed_snapshots,
            deltas,
            deltas_applied,
            deltas_before_snapshot,
            deltas_while_resyncing,
            deltas_while_stale,
            crossed_books,
            missing_level_deletes,
            invalid_levels,
            resync_requests,
            book_resets,
            tickers,
            products,
            finalized_windows,
            evicted_windows,
        } = *self;
        [
            trades,
            duplicate_trades,
            late_trades,
            too_late_trades,
            invalid_trades,
            overflowed_trades,
            snapshots,
            crossed_snapshots,
            deltas,
            deltas_applied,
            deltas_before_snapshot,
            deltas_while_resyncing,
            deltas_while_stale,
            crossed_books,
            missing_level_deletes,
            invalid_levels,
            resync_requests,
            book_resets,
            tickers,
            products,
            finalized_windows,
            evicted_windows,
        ]
    }
    fn from_repr(repr: Self::Repr) -> Option<Self> {
        let [trades, duplicate_trades, late_trades, too_late_trades, invalid_trades, overflowed_trades, snapshots, crossed_snapshots, deltas, deltas_applied, deltas_before_snapshot, deltas_while_resyncing, deltas_while_stale, crossed_books, missing_level_deletes, invalid_levels, resync_requests, book_resets, tickers, products, finalized_windows, evicted_windows] =
            repr;
        Some(EngineCounters {
            trades,
            duplicate_trades,
            late_trades,
            too_late_trades,
            invalid_trades,
            overflowed_trades,
            snapshots,
            crossed_snapshots,
            deltas,
            deltas_applied,
            deltas_before_snapshot,
            deltas_while_resyncing,
            deltas_while_stale,
            crossed_books,
            missing_level_deletes,
            invalid_levels,
            resync_requests,
            book_resets,
            tickers,
            products,
            finalized_windows,
            evicted_windows,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Through the stand-in and postcard and back.
    fn round_trip<T: Stored>(value: &T) -> Option<T> {
        let bytes = postcard::to_stdvec(&value.to_repr()).ok()?;
        T::from_repr(postcard::from_bytes(&bytes).ok()?)
    }

    #[test]
    fn enum_codes_are_distinct_and_round_trip() {
        for i in Interval::ALL {
            assert_eq!(round_trip(&i), Some(i));
        }
        for e in Exchange::ALL {
            assert_eq!(round_trip(&e), Some(e));
        }
        for s in [BookState::Live, BookState::Resyncing, BookState::Stale] {
            assert_eq!(round_trip(&s), Some(s));
        }
        assert_eq!(Interval::from_repr(7), None);
        assert_eq!(Exchange::from_repr(4), None);
        assert_eq!(BookState::from_repr(3), None);
    }

    #[test]
    fn trade_ids_keep_their_kind() {
        for id in [TradeId::Num(0), TradeId::Num(u64::MAX), TradeId::Str("17".into()), TradeId::Str("".into())] {
            assert_eq!(round_trip(&id), Some(id));
        }
    }

    #[test]
    fn decimals_are_compact_and_invalid_ones_refused() {
        let price: Decimal = "60123.45".parse().unwrap_or_default();
        assert_eq!(postcard::to_stdvec(&price.to_repr()).map(|b| b.len()), Ok(5));
        assert_eq!(Decimal::from_repr((29, 1)), None, "scale beyond 28");
        assert_eq!(Decimal::from_repr((0, MANTISSA_LIMIT)), None, "mantissa beyond 96 bits");
        assert!(Decimal::from_repr((28 | 0x80, MANTISSA_LIMIT - 1)).is_some());
    }

    #[test]
    fn config_differences_name_each_field() {
        let a = EngineConfig::default();
        let b = EngineConfig { intervals: vec![Interval::S1], retention_ns: 1, ..EngineConfig::default() };
        assert_eq!(
            config_differences(&a, &b),
            "intervals is 1m 1h 1d in the checkpoint, 1s given; retention_ns is 3600000000000 in the checkpoint, 1 given"
        );
        assert_eq!(config_differences(&a, &a), "");
    }

    proptest! {
        /// Every decimal, negative zero and every scale included, comes
        /// back with the same 16 bytes (value, scale and sign).
        #[test]
        fn decimals_round_trip_bit_for_bit(mantissa in prop_oneof![Just(0u128), 0u128..100_000, 0u128..MANTISSA_LIMIT], scale in 0u32..=28, negative in any::<bool>()) {
            let mut raw = [0u8; 16];
            raw[..4].copy_from_slice(&((scale << 16) | (u32::from(negative) << 31)).to_le_bytes());
            raw[4..].copy_from_slice(&mantissa.to_le_bytes()[..12]);
            let d = Decimal::deserialize(raw);
            prop_assert_eq!(round_trip(&d).map(|d| d.serialize()), Some(raw));
        }
    }
}
