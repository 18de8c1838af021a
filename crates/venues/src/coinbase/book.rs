//! Level-2 order book: the websocket `snapshot` and `l2update` messages
//! (shared by the `level2`, `level2_batch` and `level2_50` channels).
//!
//! The frame parse keeps the level arrays as raw JSON; they are then read by
//! the fast scanner in [`crate::wire::scan`] when they have the usual form, or by
//! the serde visitors below when they do not. Both convert each level as
//! they go, with no intermediate vector of strings, and both treat errors
//! alike: JSON-shape errors (a number where a string belongs, a level of
//! the wrong length) are [`DecodeError::InvalidJson`] and win over semantic
//! ones (a bad price, an unknown side), of which the first is reported.
//! (serde cannot carry a [`DecodeError`] through its own error type, so the
//! visitors record it beside the parse and keep consuming the array.)

use std::fmt;

use marketpipe_model::{BookDelta, BookSide, BookSnapshot, InstrumentKey, Level, LevelChange, Timestamp};
use serde::{
    de::{Deserializer, SeqAccess, Visitor},
    Deserialize,
};
use serde_json::value::RawValue;

use super::de::{self, json_error, OptStr};
use crate::{
    wire::scan::{self, StrTuple},
    DecodeError,
};

/// The full level-2 book, sent once per product after subscribing to a
/// level-2 channel. Each level is `[price, size]`; Coinbase sends no
/// sequence with it, and only newer feeds send a `time`.
///
/// See <https://docs.cdp.coinbase.com/exchange/docs/websocket-channels#level2-channel>
///
/// ```json
/// {
///   "type": "snapshot",
///   "product_id": "BTC-USD",
///   "bids": [["10101.10", "0.45054140"]],
///   "asks": [["10102.55", "0.57753524"]],
///   "time": "2023-08-01T20:02:31.171918Z"
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct SnapshotMsg<'a> {
    /// Native product id.
    #[serde(borrow, default)]
    product_id: OptStr<'a>,
    /// Bid levels, unparsed.
    #[serde(borrow)]
    bids: Option<&'a RawValue>,
    /// Ask levels, unparsed.
    #[serde(borrow)]
    asks: Option<&'a RawValue>,
    /// Exchange time, where sent.
    #[serde(borrow, default)]
    time: OptStr<'a>,
}

/// An incremental level-2 update: each change is `[side, price, size]` with
/// the side of the *book* (`buy` = bid, `sell` = ask); size `"0"` removes the
/// level. `time` is the exchange time of the update.
///
/// See <https://docs.cdp.coinbase.com/exchange/docs/websocket-channels#level2-channel>
///
/// ```json
/// {
///   "type": "l2update",
///   "product_id": "BTC-USD",
///   "changes": [["buy", "10101.80000000", "0.162567"]],
///   "time": "2019-08-14T20:42:27.265Z"
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct L2UpdateMsg<'a> {
    /// Native product id.
    #[serde(borrow, default)]
    product_id: OptStr<'a>,
    /// The changes, unparsed.
    #[serde(borrow)]
    changes: Option<&'a RawValue>,
    /// Exchange time.
    #[serde(borrow, default)]
    time: OptStr<'a>,
}

/// A validated snapshot, waiting for its product key.
#[derive(Debug)]
pub(crate) struct SnapshotBody {
    time: Option<Timestamp>,
    bids: Vec<Level>,
    asks: Vec<Level>,
}

impl SnapshotBody {
    /// The normalized snapshot.
    pub(crate) fn into_snapshot(self, instrument: InstrumentKey, recv_time: Timestamp) -> BookSnapshot {
        BookSnapshot { instrument, sequence: None, time: self.time, recv_time, bids: self.bids, asks: self.asks }
    }
}

impl SnapshotMsg<'_> {
    /// The native product id.
    pub(crate) fn product_id(&self) -> Result<&str, DecodeError> {
        de::required(self.product_id.get(), "product_id")
    }

    /// Checks every field, without touching decoder state.
    pub(crate) fn validate(&self) -> Result<SnapshotBody, DecodeError> {
        let bids = levels::<false>(de::required(self.bids, "bids")?)?;
        let asks = levels::<true>(de::required(self.asks, "asks")?)?;
        let time = de::opt_time(self.time.get(), "time")?;
        Ok(SnapshotBody { time, bids, asks })
    }
}

/// A validated update, waiting for its product key.
#[derive(Debug)]
pub(crate) struct DeltaBody {
    time: Option<Timestamp>,
    changes: Vec<LevelChange>,
}

impl DeltaBody {
    /// The normalized delta.
    pub(crate) fn into_delta(self, instrument: InstrumentKey, recv_time: Timestamp) -> BookDelta {
        BookDelta { instrument, sequence: None, time: self.time, recv_time, changes: self.changes }
    }
}

impl L2UpdateMsg<'_> {
    /// The native product id.
    pub(crate) fn product_id(&self) -> Result<&str, DecodeError> {
        de::required(self.product_id.get(), "product_id")
    }

    /// Checks every field, without touching decoder state. A frame's changes
    /// are all or nothing: one bad change fails the whole frame.
    pub(crate) fn validate(&self) -> Result<DeltaBody, DecodeError> {
        let changes = changes(de::required(self.changes, "changes")?)?;
        let time = de::opt_time(self.time.get(), "time")?;
        Ok(DeltaBody { time, changes })
    }
}

/// Reads one side of a snapshot.
fn levels<const ASK: bool>(raw: &RawValue) -> Result<Vec<Level>, DecodeError> {
    read_tuples(raw.get(), level::<ASK>, || Ok(serde_json::from_str::<Levels<ASK>>(raw.get()).map_err(json_error)?.0))
}

/// Reads the changes of an update.
fn changes(raw: &RawValue) -> Result<Vec<LevelChange>, DecodeError> {
    read_tuples(raw.get(), |t| change(t).map(Some), || Ok(serde_json::from_str::<Changes>(raw.get()).map_err(json_error)?.0))
}

/// Converts every `N`-string tuple of `text` with `convert` (keeping the
/// `Some`s) on the fast path, or calls `fallback` when `text` is not in the
/// form the fast path reads.
fn read_tuples<'a, const N: usize, T>(
    text: &'a str,
    convert: impl Fn(&[&'a str; N]) -> Result<Option<T>, DecodeError>,
    fallback: impl FnOnce() -> Result<Result<Vec<T>, DecodeError>, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut items = Vec::with_capacity(capacity_for(text.len()));
    let scanned = scan::convert_tuples::<N>(text, |tuple| {
        if let Some(item) = convert(tuple)? {
            items.push(item);
        }
        Ok(())
    });
    match scanned {
        scan::Scanned::Done => Ok(items),
        scan::Scanned::Failed(e) => Err(e),
        scan::Scanned::NotPlain { .. } => fallback()?,
    }
}

/// A guess at the number of levels in `len` bytes of level array, so the
/// vector rarely regrows (a level is at least ~20 bytes on the wire).
fn capacity_for(len: usize) -> usize {
    (len / 20).min(4096)
}

/// Converts one `[price, size]` snapshot level; a size of zero carries
/// nothing and gives `None`.
fn level<const ASK: bool>([price, size]: &[&str; 2]) -> Result<Option<Level>, DecodeError> {
    let (price_field, size_field) = if ASK { ("asks.price", "asks.size") } else { ("bids.price", "bids.size") };
    let level = Level::new(de::price(price, price_field)?, de::size(size, size_field)?);
    Ok((!level.size.is_zero()).then_some(level))
}

/// One side of a snapshot, `[[price, size], ...]`, converted while parsed:
/// the fallback for [`levels`]. Levels of size zero are dropped. `ASK`
/// picks the field names for errors.
#[derive(Debug)]
pub(crate) struct Levels<const ASK: bool>(Result<Vec<Level>, DecodeError>);

impl<'de, const ASK: bool> Deserialize<'de> for Levels<ASK> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(LevelsVisitor::<ASK>)
    }
}

struct LevelsVisitor<const ASK: bool>;

impl<'de, const ASK: bool> Visitor<'de> for LevelsVisitor<ASK> {
    type Value = Levels<ASK>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of [price, size] levels")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut levels = Vec::new();
        let mut error = None;
        while let Some(StrTuple::<2>([p, s])) = seq.next_element()? {
            if error.is_some() {
                continue;
            }
            match level::<ASK>(&[p.as_str(), s.as_str()]) {
                Ok(Some(level)) => levels.push(level),
                Ok(None) => {}
                Err(e) => error = Some(e),
            }
        }
        Ok(Levels(error.map_or(Ok(levels), Err)))
    }
}

/// The `changes` of an `l2update`, `[[side, price, size], ...]`, converted
/// while parsed: the fallback for [`changes`].
#[derive(Debug)]
pub(crate) struct Changes(Result<Vec<LevelChange>, DecodeError>);

impl<'de> Deserialize<'de> for Changes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ChangesVisitor)
    }
}

struct ChangesVisitor;

impl<'de> Visitor<'de> for ChangesVisitor {
    type Value = Changes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of [side, price, size] changes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut changes = Vec::new();
        let mut error = None;
        while let Some(StrTuple::<3>([side, price, size])) = seq.next_element()? {
            if error.is_some() {
                continue;
            }
            match change(&[side.as_str(), price.as_str(), size.as_str()]) {
                Ok(c) => changes.push(c),
                Err(e) => error = Some(e),
            }
        }
        Ok(Changes(error.map_or(Ok(changes), Err)))
    }
}

/// Converts one `[side, price, size]` change.
fn change([side, price, size]: &[&str; 3]) -> Result<LevelChange, DecodeError> {
    let side = match *side {
        "buy" => BookSide::Bid,
        "sell" => BookSide::Ask,
        other => return Err(DecodeError::BadField { field: "changes.side", detail: format!("unknown side {}", de::snippet(other)) }),
    };
    Ok(LevelChange { side, price: de::price(price, "changes.price")?, size: de::size(size, "changes.size")? })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The serde visitors alone: what [`read_tuples`] falls back to.
    fn slow<T: for<'de> Deserialize<'de>, U>(
        text: &str,
        get: impl FnOnce(T) -> Result<Vec<U>, DecodeError>,
    ) -> Result<Vec<U>, DecodeError> {
        get(serde_json::from_str::<T>(text).map_err(json_error)?)
    }

    /// Renders tuples as JSON with the chosen separators, escaping the
    /// `k`-th string if `escape` says so.
    fn render(tuples: &[Vec<&str>], ws: &str, escape: Option<usize>) -> String {
        let mut k = 0;
        let rows: Vec<String> = tuples
            .iter()
            .map(|t| {
                let items: Vec<String> = t
                    .iter()
                    .map(|s| {
                        k += 1;
                        if escape == Some(k - 1) {
                            format!("\"{}\"", s.replace('e', "\\u0065").replace('.', "\\u002e"))
                        } else {
                            format!("\"{s}\"")
                        }
                    })
                    .collect();
                format!("[{}]", items.join(&format!("{ws},{ws}")))
            })
            .collect();
        format!("{ws}[{ws}{}{ws}]{ws}", rows.join(&format!(",{ws}")))
    }

    fn number() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["1", "43521.16", "0", "0.00000000", "-1", "1e5", "x", "0.00000001", "1000000000000001"])
    }

    proptest! {
        #[test]
        fn fast_and_slow_changes_agree(
            rows in prop::collection::vec((prop::sample::select(vec!["buy", "sell", "bid", ""]), number(), number()), 0..5),
            ws in prop::sample::select(vec!["", " ", "\n\t"]),
            escape in prop::option::of(0usize..15),
        ) {
            let tuples: Vec<Vec<&str>> = rows.iter().map(|(a, b, c)| vec![*a, *b, *c]).collect();
            let text = render(&tuples, ws, escape);
            let raw: &RawValue = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(changes(raw), slow::<Changes, _>(raw.get(), |c| c.0));
        }

        #[test]
        fn fast_and_slow_levels_agree(
            rows in prop::collection::vec((number(), number()), 0..5),
            ws in prop::sample::select(vec!["", " ", "\r\n"]),
            escape in prop::option::of(0usize..10),
            wrong_arity in any::<bool>(),
        ) {
            let mut tuples: Vec<Vec<&str>> = rows.iter().map(|(a, b)| vec![*a, *b]).collect();
            if wrong_arity {
                if let Some(t) = tuples.last_mut() {
                    t.push("1");
                }
            }
            let text = render(&tuples, ws, escape);
            let raw: &RawValue = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(levels::<true>(raw), slow::<Levels<true>, _>(raw.get(), |l| l.0));
        }
    }
}
