//! Field-level helpers shared by every exchange's wire types: a borrowed
//! string type and optional scalars for serde, and the strict conversions
//! from wire values to model values, each mapping its failure to the
//! [`DecodeError`] naming the field.
//!
//! Wire structs declare every field optional ([`OptStr`], [`OptU64`]) and
//! check presence here rather than letting serde reject a missing field:
//! serde's "missing field" is only a message string, while
//! [`DecodeError::MissingField`] carries the field name the counters and
//! tests rely on. A JSON `null` counts as absent. A wrong JSON type (a
//! number where a string belongs) is a serde error, i.e.
//! [`DecodeError::InvalidJson`].
//!
//! These run once or more per field of every frame. The accessors and
//! `required` are `#[inline]` so moving them out of each exchange's module
//! costs no call; the number readers are left to the compiler, which
//! measured faster on Binance's level arrays than forcing them inline.

use std::{borrow::Cow, fmt, fmt::Write as _};

use marketpipe_model::{parse_price, parse_size, NumberError, Price, Qty, Timestamp};
use serde::de::{Deserialize, Deserializer, Visitor};

use crate::DecodeError;

/// A JSON string, borrowed from the frame when it has no escapes (always,
/// in practice) and owned when it does.
///
/// serde's own `Cow<str>` impl always allocates unless the field itself is
/// `#[serde(borrow)] Cow<str>`, which does not extend to `Option<Cow<str>>`;
/// this newtype borrows wherever it appears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl Str<'_> {
    /// The string.
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Visits a string into a [`Str`], borrowing when serde can.
struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Str<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Str(Cow::Owned(v)))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor)
    }
}

/// An optional string field: `None` when absent (with `#[serde(default)]`)
/// or `null`. One `deserialize_any` call instead of serde's
/// `Option` layer over `deserialize_str`, on the hot path.
#[derive(Debug, Default)]
pub(crate) struct OptStr<'a>(pub(crate) Option<Str<'a>>);

impl OptStr<'_> {
    /// The string, if present.
    #[inline]
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_ref().map(Str::as_str)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for OptStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OptVisitor;

        impl<'de> Visitor<'de> for OptVisitor {
            type Value = OptStr<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or null")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(OptStr(Some(Str(Cow::Borrowed(v)))))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OptStr(Some(Str(Cow::Owned(v.to_owned())))))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(OptStr(Some(Str(Cow::Owned(v)))))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptStr(None))
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptStr(None))
            }
        }

        deserializer.deserialize_any(OptVisitor)
    }
}

/// An optional unsigned integer field, like [`OptStr`]: `None` when absent
/// (with `#[serde(default)]`) or `null`; a negative, fractional or string
/// value is a type error.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OptU64(pub(crate) Option<u64>);

impl<'de> Deserialize<'de> for OptU64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OptVisitor;

        impl<'de> Visitor<'de> for OptVisitor {
            type Value = OptU64;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an unsigned integer or null")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(OptU64(Some(v)))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptU64(None))
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptU64(None))
            }
        }

        deserializer.deserialize_any(OptVisitor)
    }
}

/// The value of a required field, or [`DecodeError::MissingField`]. A JSON
/// `null` counts as absent.
#[inline]
pub(crate) fn required<T>(value: Option<T>, field: &'static str) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::MissingField(field))
}

/// A required string field.
#[inline]
pub(crate) fn required_str<'s>(value: &'s OptStr<'_>, field: &'static str) -> Result<&'s str, DecodeError> {
    required(value.get(), field)
}

/// A strictly positive, plausible price.
pub(crate) fn price(s: &str, field: &'static str) -> Result<Price, DecodeError> {
    parse_price(s).map_err(|error| DecodeError::BadNumber { field, error })
}

/// A non-negative, plausible size (zero is meaningful: it deletes a level).
pub(crate) fn size(s: &str, field: &'static str) -> Result<Qty, DecodeError> {
    parse_size(s).map_err(|error| DecodeError::BadNumber { field, error })
}

/// The size of an executed trade: like [`size`], and also not zero, since
/// nothing was traded in a trade of size zero.
pub(crate) fn trade_size(s: &str, field: &'static str) -> Result<Qty, DecodeError> {
    let q = size(s, field)?;
    if q.is_zero() {
        return Err(DecodeError::BadNumber { field, error: NumberError::NotPositive });
    }
    Ok(q)
}

/// An optional price: absent is `None`, present must be valid.
pub(crate) fn opt_price(s: Option<&str>, field: &'static str) -> Result<Option<Price>, DecodeError> {
    s.map(|s| price(s, field)).transpose()
}

/// An optional size: absent is `None`, present must be valid.
pub(crate) fn opt_size(s: Option<&str>, field: &'static str) -> Result<Option<Qty>, DecodeError> {
    s.map(|s| size(s, field)).transpose()
}

/// Rejects a time no market event could carry; `shown` renders the wire
/// value for the error (only then: this runs once per frame).
#[inline]
pub(crate) fn plausible(t: Timestamp, field: &'static str, shown: impl FnOnce() -> String) -> Result<Timestamp, DecodeError> {
    if !t.is_plausible() {
        return Err(DecodeError::BadTime { field, detail: format!("{} is outside the plausible range 2009-01-03..2100-01-01", shown()) });
    }
    Ok(t)
}

/// An exchange time in integer milliseconds since the epoch (Binance and
/// KuCoin), that a market event could really carry.
#[inline]
pub(crate) fn millis(ms: u64, field: &'static str) -> Result<Timestamp, DecodeError> {
    match i64::try_from(ms).ok().and_then(Timestamp::from_millis) {
        Some(t) => plausible(t, field, || format!("{ms} ms")),
        None => Err(DecodeError::BadTime { field, detail: format!("{ms} ms is not representable") }),
    }
}

/// At most the first 48 characters of untrusted text (marked with `...` when
/// cut), so a megabyte-long garbage field cannot flood error details.
pub(crate) fn bounded(s: &str) -> String {
    const MAX_CHARS: usize = 48;
    match s.char_indices().nth(MAX_CHARS) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}...", s.get(..cut).unwrap_or_default()),
    }
}

/// [`bounded`], quoted, for error details that embed the text in a sentence.
pub(crate) fn snippet(s: &str) -> String {
    format!("{:?}", bounded(s))
}

/// Maps a serde_json failure (syntax, wrong shape, wrong field type) to
/// [`DecodeError::InvalidJson`].
pub(crate) fn json_error(e: serde_json::Error) -> DecodeError {
    DecodeError::InvalidJson(e.to_string())
}

/// Appends `s` as a JSON string literal. Hand-written because
/// `serde_json::to_string` returns a `Result` that cannot fail for a string,
/// and unwrapping it anyway is what the house rules forbid.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
