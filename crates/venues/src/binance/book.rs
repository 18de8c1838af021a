//! The order book on the wire: the `depthUpdate` event of the diff depth
//! streams and the REST depth snapshot, read into the plain values the
//! sync logic in [`super::sync`] orders.
//!
//! Level arrays are kept as raw JSON by the frame parse and read by the
//! fast scanner in [`crate::wire::scan`] when they have the usual form, or by
//! serde when they do not. Both agree on errors: JSON-shape errors (a
//! number where a string belongs, a level of the wrong length) are
//! [`DecodeError::InvalidJson`] and win over semantic ones (a bad price), of
//! which the first is reported. A side's levels are all or nothing.

use marketpipe_model::{BookSide, Level, LevelChange, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    de::{self, json_error, OptStr, OptU64, Str},
    sync::{DepthUpdate, SnapshotBody},
};
use crate::{wire::scan, DecodeError};

/// One diff depth event: every level whose quantity changed between update
/// ids `U` and `u` (inclusive), with its new **absolute** quantity; `"0"`
/// removes the level. Sent on `<symbol>@depth` (every 1000 ms) and
/// `<symbol>@depth@100ms`.
///
/// See <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md#diff-depth-stream>
///
/// ```json
/// {
///   "e": "depthUpdate",
///   "E": 1633998512568,
///   "s": "NKNUSDT",
///   "U": 499869753,
///   "u": 499869754,
///   "b": [["0.35170000", "4265.00000000"]],
///   "a": []
/// }
/// ```
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DepthUpdateMsg<'a> {
    /// Event type, `depthUpdate` (absent when a bare frame's dispatch
    /// already consumed it).
    #[serde(borrow, default)]
    pub(crate) e: OptStr<'a>,
    /// Event time, epoch milliseconds.
    #[serde(rename = "E", default)]
    pub(crate) event_time: OptU64,
    /// Native symbol, upper case.
    #[serde(borrow, default)]
    pub(crate) s: OptStr<'a>,
    /// First update id in the event.
    #[serde(rename = "U", default)]
    pub(crate) first_update_id: OptU64,
    /// Final update id in the event.
    #[serde(rename = "u", default)]
    pub(crate) final_update_id: OptU64,
    /// Bid levels to update, unparsed.
    #[serde(borrow, rename = "b")]
    pub(crate) bids: Option<RawJson<'a>>,
    /// Ask levels to update, unparsed.
    #[serde(borrow, rename = "a")]
    pub(crate) asks: Option<RawJson<'a>>,
}

/// A JSON value kept as its text (checked to be valid JSON by whoever
/// produced it: serde_json's `RawValue`, or the fast path's scanner).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawJson<'a>(pub(crate) &'a str);

impl<'de: 'a, 'a> Deserialize<'de> for RawJson<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(deserializer).map(|raw| RawJson(raw.get()))
    }
}

impl DepthUpdateMsg<'_> {
    /// The native symbol.
    pub(crate) fn symbol(&self) -> Result<&str, DecodeError> {
        de::required(self.s.get(), "s")
    }

    /// Checks every field, without touching decoder state. `scanned` is
    /// the level arrays as the fast scanner already converted them (see
    /// [`ScannedLevels`]); without it they are read from `b` and `a`.
    pub(crate) fn validate(&self, recv: Timestamp, scanned: Option<ScannedLevels>) -> Result<DepthUpdate, DecodeError> {
        if let Some(e) = self.e.get() {
            if e != "depthUpdate" {
                return Err(DecodeError::BadField { field: "e", detail: format!("{} on a depth stream", de::snippet(e)) });
            }
        }
        let time = de::millis(de::required(self.event_time.0, "E")?, "E")?;
        let first = de::required(self.first_update_id.0, "U")?;
        let last = de::required(self.final_update_id.0, "u")?;
        if first > last {
            return Err(DecodeError::BadField { field: "U", detail: format!("first update id {first} is after the final one {last}") });
        }
        let bids = de::required(self.bids, "b")?.0;
        let asks = de::required(self.asks, "a")?.0;
        let changes = match scanned {
            Some(scanned) => scanned.into_changes()?,
            None => {
                let mut changes = Vec::with_capacity(capacity_for(bids.len() + asks.len()));
                read_changes(bids, BookSide::Bid, BID_FIELDS, &mut changes)?;
                read_changes(asks, BookSide::Ask, ASK_FIELDS, &mut changes)?;
                changes
            }
        };
        Ok(DepthUpdate { first, last, time, recv, changes })
    }
}

/// The field names a bad bid level's price or size is reported under.
pub(crate) const BID_FIELDS: (&str, &str) = ("b.price", "b.size");
/// The field names a bad ask level's price or size is reported under.
pub(crate) const ASK_FIELDS: (&str, &str) = ("a.price", "a.size");

/// A depth event's level arrays converted in the same pass that checked
/// their shape (the fast scanner's), so they are not scanned twice: what
/// [`read_changes`] gives for both sides, bids then asks, with each side's
/// first conversion error.
#[derive(Debug)]
pub(crate) struct ScannedLevels {
    /// The converted changes, bids first.
    pub(crate) changes: Vec<LevelChange>,
    /// The first bid that failed to convert.
    pub(crate) bid_error: Option<DecodeError>,
    /// The first ask that failed to convert.
    pub(crate) ask_error: Option<DecodeError>,
}

impl ScannedLevels {
    /// The changes, or the error [`read_changes`] would have stopped at.
    fn into_changes(self) -> Result<Vec<LevelChange>, DecodeError> {
        match (self.bid_error, self.ask_error) {
            (Some(e), _) | (None, Some(e)) => Err(e),
            (None, None) => Ok(self.changes),
        }
    }
}

/// One `[price, size]` pair as a change on `side`, reported under `fields`.
#[inline]
pub(crate) fn level_change(
    side: BookSide,
    fields: (&'static str, &'static str),
    price: &str,
    size: &str,
) -> Result<LevelChange, DecodeError> {
    Ok(LevelChange { side, price: de::price(price, fields.0)?, size: de::size(size, fields.1)? })
}

/// The REST order book snapshot, `GET /api/v3/depth?symbol=X&limit=N`:
/// the book as of update id `lastUpdateId`, best levels first. The symbol
/// is only in the request URL.
///
/// See <https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#order-book>
///
/// ```json
/// {
///   "lastUpdateId": 1027024,
///   "bids": [["4.00000000", "431.00000000"]],
///   "asks": [["4.00000200", "12.00000000"]]
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct RestDepth<'a> {
    /// The last update id the snapshot includes.
    #[serde(rename = "lastUpdateId", default)]
    last_update_id: OptU64,
    /// Bid levels, unparsed.
    #[serde(borrow)]
    bids: Option<&'a RawValue>,
    /// Ask levels, unparsed.
    #[serde(borrow)]
    asks: Option<&'a RawValue>,
}

impl RestDepth<'_> {
    /// Checks every field. Levels of size zero carry nothing and are dropped.
    pub(crate) fn validate(&self) -> Result<SnapshotBody, DecodeError> {
        let last_update_id = de::required(self.last_update_id.0, "lastUpdateId")?;
        let bids = read_levels(de::required(self.bids, "bids")?.get(), ("bids.price", "bids.size"))?;
        let asks = read_levels(de::required(self.asks, "asks")?.get(), ("asks.price", "asks.size"))?;
        Ok(SnapshotBody { last_update_id, bids, asks })
    }
}

/// A guess at the number of levels in `len` bytes of level arrays, so the
/// vector rarely regrows (a level is at least ~10 bytes on the wire).
pub(crate) fn capacity_for(len: usize) -> usize {
    (len / 16).min(4096)
}

/// Appends the changes of one side of a depth event to `out`; on error,
/// `out` is left with whatever it had before this side.
fn read_changes(text: &str, side: BookSide, fields: (&'static str, &'static str), out: &mut Vec<LevelChange>) -> Result<(), DecodeError> {
    let mark = out.len();
    let result = read_pairs(text, |p, s| {
        out.push(level_change(side, fields, p, s)?);
        Ok(())
    });
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// Reads one side of a snapshot.
fn read_levels(text: &str, fields: (&'static str, &'static str)) -> Result<Vec<Level>, DecodeError> {
    let mut levels = Vec::with_capacity(capacity_for(text.len()));
    let result = read_pairs(text, |p, s| {
        let level = Level::new(de::price(p, fields.0)?, de::size(s, fields.1)?);
        if !level.size.is_zero() {
            levels.push(level);
        }
        Ok(())
    });
    result.map(|()| levels)
}

/// Calls `convert` on every `[price, size]` pair of `text` until it fails.
/// The fast scanner runs first; when `text` is not in its form, whatever
/// `convert` built must be discarded by the caller on error, and the serde
/// path re-reads the text (shape errors first, then semantic ones).
fn read_pairs(text: &str, mut convert: impl FnMut(&str, &str) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
    match scan::convert_tuples::<2>(text, |&[p, s]| convert(p, s)) {
        scan::Scanned::Done => Ok(()),
        scan::Scanned::Failed(e) => Err(e),
        scan::Scanned::NotPlain { error, seen } => {
            // Not the usual form. The pairs the scan yielded are the same
            // prefix serde reads (escape-free strings read alike); the
            // serde pass checks the shape of everything first, then the
            // scan's semantic error stands, or the rest is converted.
            let pairs: Vec<(Str<'_>, Str<'_>)> = serde_json::from_str(text).map_err(json_error)?;
            if let Some(e) = error {
                return Err(e);
            }
            pairs.iter().skip(seen).try_for_each(|(p, s)| convert(p.as_str(), s.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The serde path alone: what `read_pairs` falls back to.
    fn slow(text: &str) -> Result<Vec<Level>, DecodeError> {
        let pairs: Vec<(Str<'_>, Str<'_>)> = serde_json::from_str(text).map_err(json_error)?;
        let mut out = Vec::new();
        for (p, s) in &pairs {
            let level = Level::new(de::price(p.as_str(), "bids.price")?, de::size(s.as_str(), "bids.size")?);
            if !level.size.is_zero() {
                out.push(level);
            }
        }
        Ok(out)
    }

    /// Renders pairs as JSON with the chosen separators, escaping the
    /// `k`-th string if `escape` says so.
    fn render(pairs: &[Vec<&str>], ws: &str, escape: Option<usize>) -> String {
        let mut k = 0;
        let rows: Vec<String> = pairs
            .iter()
            .map(|t| {
                let items: Vec<String> = t
                    .iter()
                    .map(|s| {
                        k += 1;
                        if escape == Some(k - 1) {
                            format!("\"{}\"", s.replace('.', "\\u002e").replace('1', "\\u0031"))
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
        fn fast_and_slow_levels_agree(
            rows in prop::collection::vec((number(), number()), 0..5),
            ws in prop::sample::select(vec!["", " ", "\r\n"]),
            escape in prop::option::of(0usize..10),
            wrong_arity in any::<bool>(),
        ) {
            let mut pairs: Vec<Vec<&str>> = rows.iter().map(|(a, b)| vec![*a, *b]).collect();
            if wrong_arity {
                if let Some(t) = pairs.last_mut() {
                    t.push("1");
                }
            }
            let text = render(&pairs, ws, escape);
            prop_assert_eq!(read_levels(&text, ("bids.price", "bids.size")), slow(&text));
        }
    }

    #[test]
    fn changes_keep_zero_sizes_and_sides() {
        let mut out = Vec::new();
        read_changes(r#"[["1.5","0"],["1.4","2"]]"#, BookSide::Bid, BID_FIELDS, &mut out).unwrap();
        read_changes(r#"[ ["1\u002e6", "3"] ]"#, BookSide::Ask, ASK_FIELDS, &mut out).unwrap();
        let got: Vec<_> = out.iter().map(|c| (c.side, c.price.to_string(), c.size.to_string())).collect();
        assert_eq!(
            got,
            [
                (BookSide::Bid, "1.5".to_owned(), "0".to_owned()),
                (BookSide::Bid, "1.4".to_owned(), "2".to_owned()),
                (BookSide::Ask, "1.6".to_owned(), "3".to_owned())
            ]
        );
        // A failing side leaves what came before it.
        let e = read_changes(r#"[["1","1"],["x","1"]]"#, BookSide::Ask, ASK_FIELDS, &mut out).unwrap_err();
        assert_eq!(e.reason(), "bad_number");
        assert_eq!(out.len(), 3);
    }
}
