//! Level-2 order book wire types: the websocket increment
//! (`/market/level2:{symbol}`, subject `trade.l2update`) and the REST
//! snapshot (`GET /api/v1/market/orderbook/level2_100` and friends).
//! How the two are stitched together is in [`super::sync`].
//!
//! Level arrays are kept as borrowed raw JSON by the frame parse and read by
//! [`super::scan`], converting each level as it goes.

use marketpipe_model::{BookSide, Level, LevelChange, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    de::{self, MapOnly, OptSeq, OptStr, OptU64},
    scan,
};
use crate::DecodeError;

/// An order book increment. `changes` holds `[price, size, sequence]`
/// triples (all strings) per book side; `size` is the new total at the
/// price (`"0"` removes the level); a price of `"0"` is KuCoin's
/// sequence-only marker, skipped but advancing the sequence. The message
/// covers sequences `sequenceStart..=sequenceEnd` (integers); each change's
/// own sequence is the last modification of its price, used to drop
/// changes already in a snapshot, never to judge continuity. `time` is in
/// milliseconds.
///
/// See <https://www.kucoin.com/docs-new/3470068w0> (Orderbook - Increment)
/// and <https://www.kucoin.com/docs/websocket/spot-trading/public-channels/level2-market-data>.
///
/// ```json
/// {
///   "topic": "/market/level2:BTC-USDT",
///   "type": "message",
///   "subject": "trade.l2update",
///   "data": {
///     "changes": {
///       "asks": [["67993.3", "1.21427407", "14701689783"]],
///       "bids": []
///     },
///     "sequenceEnd": 14701689783,
///     "sequenceStart": 14701689783,
///     "symbol": "BTC-USDT",
///     "time": 1729816425625
///   }
/// }
/// ```
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct L2Data<'a> {
    /// Native symbol.
    #[serde(borrow, default)]
    symbol: OptStr<'a>,
    /// First sequence the message covers.
    #[serde(borrow, default)]
    sequence_start: OptSeq<'a>,
    /// Last sequence the message covers.
    #[serde(borrow, default)]
    sequence_end: OptSeq<'a>,
    /// The changes, per side.
    #[serde(borrow, default)]
    changes: Option<MapOnly<ChangesWire<'a>>>,
    /// Exchange time, milliseconds.
    #[serde(default)]
    time: OptU64,
}

/// `changes` of an increment. A side that is absent or `null` has no
/// changes (KuCoin sends `[]`, but nothing is lost by accepting either).
#[derive(Debug, Deserialize)]
pub(crate) struct ChangesWire<'a> {
    /// Ask changes, unparsed.
    #[serde(borrow, default)]
    asks: Option<&'a RawValue>,
    /// Bid changes, unparsed.
    #[serde(borrow, default)]
    bids: Option<&'a RawValue>,
}

/// The scalar fields of an increment, validated; its changes stay raw until
/// the sync state says how to keep them.
#[derive(Debug)]
pub(crate) struct L2Header<'d, 'a> {
    /// Native symbol.
    pub(crate) symbol: &'d str,
    /// First sequence covered.
    pub(crate) start: u64,
    /// Last sequence covered.
    pub(crate) end: u64,
    /// Exchange time.
    pub(crate) time: Option<Timestamp>,
    asks: Option<&'a RawValue>,
    bids: Option<&'a RawValue>,
}

impl<'a> L2Data<'a> {
    /// Checks the scalar fields, without touching decoder state.
    pub(crate) fn header(&self) -> Result<L2Header<'_, 'a>, DecodeError> {
        let symbol = de::required_str(&self.symbol, "symbol")?;
        let start = self.sequence_start.required("sequenceStart")?;
        let end = self.sequence_end.required("sequenceEnd")?;
        if start > end {
            return Err(DecodeError::BadField {
                field: "sequenceStart",
                detail: format!("sequenceStart {start} is after sequenceEnd {end}"),
            });
        }
        let changes = &de::required(self.changes.as_ref(), "changes")?.0;
        let time = de::opt_millis(self.time, "time")?;
        Ok(L2Header { symbol, start, end, time, asks: changes.asks, bids: changes.bids })
    }
}

/// A level change with the sequence of its price's last modification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeqChange {
    /// The change.
    pub(crate) change: LevelChange,
    /// Its sequence.
    pub(crate) seq: u64,
}

impl L2Header<'_, '_> {
    /// Validates every change (asks first, then bids, each in wire order)
    /// and hands each real one (not a price-`0` marker) to `keep`, which
    /// decides what goes into `out`. All or nothing: one bad change fails
    /// the message.
    pub(crate) fn changes<T>(&self, out: &mut Vec<T>, mut keep: impl FnMut(&mut Vec<T>, LevelChange, u64)) -> Result<(), DecodeError> {
        for (side, raw) in [(BookSide::Ask, self.asks), (BookSide::Bid, self.bids)] {
            let Some(raw) = raw else { continue };
            scan::for_each_tuple::<3, T>(raw.get(), out, |out, [price, size, seq]| {
                let price = de::change_price(price, "changes.price")?;
                let size = de::size(size, "changes.size")?;
                let seq = de::sequence(seq, "changes.sequence")?;
                if let Some(price) = price {
                    keep(out, LevelChange { side, price, size }, seq);
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// A capacity guess for this message's changes, so vectors rarely regrow.
    pub(crate) fn capacity(&self) -> usize {
        let len = self.asks.map_or(0, |r| r.get().len()) + self.bids.map_or(0, |r| r.get().len());
        (len / 24).min(1024)
    }
}

/// The `data` of a REST level-2 snapshot. `sequence` is a string (accepted
/// as an integer too); `time` is milliseconds; levels are `[price, size]`
/// strings, asks from low to high, bids from high to low. The symbol is not
/// in the body: it comes from the request's `symbol` query parameter.
///
/// See <https://www.kucoin.com/docs/rest/spot-trading/market-data/get-part-order-book-aggregated->
/// (`GET /api/v1/market/orderbook/level2_20` and `level2_100`, public) and
/// <https://www.kucoin.com/docs/rest/spot-trading/market-data/get-full-order-book-aggregated->
/// (`GET /api/v3/market/orderbook/level2`, which requires an API key).
///
/// ```json
/// {
///   "code": "200000",
///   "data": {
///     "time": 1729176273859,
///     "sequence": "14610502970",
///     "bids": [["66976.4", "0.69109872"], ["66976.3", "0.14377"]],
///     "asks": [["66976.5", "0.05408199"], ["66976.8", "0.0005"]]
///   }
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct SnapshotData<'a> {
    /// Book sequence the snapshot reflects.
    #[serde(borrow, default)]
    sequence: OptSeq<'a>,
    /// Exchange time, milliseconds.
    #[serde(default)]
    time: OptU64,
    /// Bid levels, unparsed.
    #[serde(borrow, default)]
    bids: Option<&'a RawValue>,
    /// Ask levels, unparsed.
    #[serde(borrow, default)]
    asks: Option<&'a RawValue>,
}

/// A validated snapshot, waiting for its product key.
#[derive(Debug)]
pub(crate) struct SnapshotBody {
    /// Book sequence.
    pub(crate) sequence: u64,
    /// Exchange time.
    pub(crate) time: Option<Timestamp>,
    /// Bid levels (size-zero levels dropped).
    pub(crate) bids: Vec<Level>,
    /// Ask levels (size-zero levels dropped).
    pub(crate) asks: Vec<Level>,
}

impl SnapshotData<'_> {
    /// Checks every field, without touching decoder state.
    pub(crate) fn validate(&self) -> Result<SnapshotBody, DecodeError> {
        let sequence = self.sequence.required("sequence")?;
        let bids = levels::<false>(de::required(self.bids, "bids")?)?;
        let asks = levels::<true>(de::required(self.asks, "asks")?)?;
        let time = de::opt_millis(self.time, "time")?;
        Ok(SnapshotBody { sequence, time, bids, asks })
    }
}

/// Reads one side of a snapshot; a level of size zero carries nothing and
/// is dropped.
fn levels<const ASK: bool>(raw: &RawValue) -> Result<Vec<Level>, DecodeError> {
    let (price_field, size_field) = if ASK { ("asks.price", "asks.size") } else { ("bids.price", "bids.size") };
    let mut out = Vec::with_capacity((raw.get().len() / 20).min(8192));
    scan::for_each_tuple::<2, Level>(raw.get(), &mut out, |out, [price, size]| {
        let level = Level::new(de::price(price, price_field)?, de::size(size, size_field)?);
        if !level.size.is_zero() {
            out.push(level);
        }
        Ok(())
    })?;
    Ok(out)
}
