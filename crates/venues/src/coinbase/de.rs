//! Field-level helpers shared by the Coinbase wire types: a borrowed string
//! type for serde, and the strict conversions from wire strings to model
//! values, each mapping its failure to the [`DecodeError`] naming the field.
//!
//! Wire structs declare every field optional ([`OptStr`], [`OptU64`]) and
//! check presence here rather than letting serde reject a missing field:
//! serde's "missing field" is only a message string, while
//! [`DecodeError::MissingField`] carries the field name the counters and
//! tests rely on. A JSON `null` counts as absent.

use std::{borrow::Cow, fmt, fmt::Write as _};

use marketpipe_model::{parse_price, parse_size, NumberError, Price, Qty, Side, Timestamp};
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
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = Str<'a>;

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

        deserializer.deserialize_str(StrVisitor(std::marker::PhantomData))
    }
}

/// An optional string field: `None` when absent (with `#[serde(default)]`)
/// or `null`. One `deserialize_any` call instead of serde's
/// `Option` layer over `deserialize_str`, on the hot path.
#[derive(Debug, Default)]
pub(crate) struct OptStr<'a>(pub(crate) Option<Str<'a>>);

impl<'a> OptStr<'a> {
    /// The string, if present.
    pub(crate) fn get(&self) -> Option<&Str<'a>> {
        self.0.as_ref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for OptStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OptVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for OptVisitor<'a> {
            type Value = OptStr<'a>;

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

        deserializer.deserialize_any(OptVisitor(std::marker::PhantomData))
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
pub(crate) fn required<T>(value: Option<T>, field: &'static str) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::MissingField(field))
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
pub(crate) fn opt_price(s: Option<&Str<'_>>, field: &'static str) -> Result<Option<Price>, DecodeError> {
    s.map(|s| price(s.as_str(), field)).transpose()
}

/// An optional size: absent is `None`, present must be valid.
pub(crate) fn opt_size(s: Option<&Str<'_>>, field: &'static str) -> Result<Option<Qty>, DecodeError> {
    s.map(|s| size(s.as_str(), field)).transpose()
}

/// An RFC 3339 exchange time that a market event could really carry.
pub(crate) fn time(s: &str, field: &'static str) -> Result<Timestamp, DecodeError> {
    let t = Timestamp::parse_rfc3339(s).map_err(|e| DecodeError::time(field, e))?;
    if !t.is_plausible() {
        return Err(DecodeError::BadTime {
            field,
            detail: format!("{} is outside the plausible range 2009-01-03..2100-01-01", snippet(s)),
        });
    }
    Ok(t)
}

/// An optional exchange time: absent is `None`, present must be valid.
pub(crate) fn opt_time(s: Option<&Str<'_>>, field: &'static str) -> Result<Option<Timestamp>, DecodeError> {
    s.map(|s| time(s.as_str(), field)).transpose()
}

/// The taker's side from a Coinbase trade `side`, which names the *maker's*
/// side: a resting sell order was hit by a buyer, so `"sell"` is a taker buy.
pub(crate) fn taker_side_from_maker(s: &str, field: &'static str) -> Result<Side, DecodeError> {
    match s {
        "sell" => Ok(Side::Buy),
        "buy" => Ok(Side::Sell),
        other => Err(DecodeError::BadField { field, detail: format!("unknown side {}", snippet(other)) }),
    }
}

/// A trade id: Coinbase numbers trades from 1 per product, so 0 is corrupt.
pub(crate) fn trade_id(id: u64, field: &'static str) -> Result<u64, DecodeError> {
    if id == 0 {
        return Err(DecodeError::BadField { field, detail: "trade id must be positive".to_owned() });
    }
    Ok(id)
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

/// Builds the serde error for an array of the wrong length, for the
/// level visitors.
pub(crate) fn wrong_length<E: serde::de::Error>(len: usize, expected: &'static str) -> E {
    E::invalid_length(len, &expected)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_borrows_plain_strings_and_owns_escaped_ones() {
        let s: Str<'_> = serde_json::from_str(r#""BTC-USD""#).unwrap();
        assert!(matches!(s.0, Cow::Borrowed("BTC-USD")));
        let s: Str<'_> = serde_json::from_str(r#""BTC\u002dUSD""#).unwrap();
        assert!(matches!(s.0, Cow::Owned(ref o) if o == "BTC-USD"));
        assert!(serde_json::from_str::<Str<'_>>("12").is_err());
    }

    #[test]
    fn maker_side_is_inverted() {
        assert_eq!(taker_side_from_maker("sell", "side"), Ok(Side::Buy));
        assert_eq!(taker_side_from_maker("buy", "side"), Ok(Side::Sell));
        assert_eq!(taker_side_from_maker("BUY", "side").unwrap_err().reason(), "bad_field");
    }

    #[test]
    fn untrusted_text_is_bounded() {
        let long = "é".repeat(10_000);
        assert_eq!(bounded(&long), format!("{}...", "é".repeat(48)));
        assert_eq!(bounded(&"x".repeat(48)), "x".repeat(48));
        assert_eq!(snippet("ab"), "\"ab\"");
    }
}
