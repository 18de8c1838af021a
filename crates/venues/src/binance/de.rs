//! Field readers shared by the Binance wire types: borrowed strings,
//! optional integers and booleans that treat `null` as absent, strict
//! decimal and epoch-millisecond parsing, and the error helpers.
//!
//! Every wire struct declares its fields optional and checks presence
//! itself, so a missing field is [`DecodeError::MissingField`] with the
//! field's name rather than a serde message. A wrong JSON type (a number
//! where a string belongs) is a serde error, i.e. [`DecodeError::InvalidJson`].
//!
//! (The Coinbase decoder has the same readers; they are private to its
//! module, and this module keeps Binance self-contained.)

use std::{borrow::Cow, fmt, fmt::Write as _};

use marketpipe_model::{parse_price, parse_size, NumberError, Price, Qty, Timestamp};
use serde::de::{Deserialize, Deserializer, Visitor};

use crate::DecodeError;

/// A JSON string, borrowed from the frame when it has no escapes (always,
/// in practice) and owned when it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Str<'a>(pub(crate) Cow<'a, str>);

impl Str<'_> {
    /// The string.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

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

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(StrVisitor(std::marker::PhantomData))
    }
}

/// An optional string field: `None` when absent (with `#[serde(default)]`)
/// or `null`.
#[derive(Debug, Default)]
pub(crate) struct OptStr<'a>(pub(crate) Option<Str<'a>>);

impl<'a> OptStr<'a> {
    /// The string, if present.
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_ref().map(Str::as_str)
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

/// An optional unsigned integer field: `None` when absent or `null`; a
/// negative, fractional or string value is a type error.
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

/// An optional boolean field: `None` when absent or `null`; a string or
/// number is a type error (Binance sends real JSON booleans).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OptBool(pub(crate) Option<bool>);

impl<'de> Deserialize<'de> for OptBool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OptVisitor;

        impl<'de> Visitor<'de> for OptVisitor {
            type Value = OptBool;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean or null")
            }

            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(OptBool(Some(v)))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptBool(None))
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptBool(None))
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

/// The size of an executed trade: like [`size`], and also not zero.
pub(crate) fn trade_size(s: &str, field: &'static str) -> Result<Qty, DecodeError> {
    let q = size(s, field)?;
    if q.is_zero() {
        return Err(DecodeError::BadNumber { field, error: NumberError::NotPositive });
    }
    Ok(q)
}

/// An optional statistics price (ticker fields). Binance reports a price it
/// does not have as zero (`"0.00000000"`: an empty book side, no trade in
/// the window), so zero is `None`, not an error; a negative or malformed
/// price is still rejected.
pub(crate) fn stat_price(s: Option<&str>, field: &'static str) -> Result<Option<Price>, DecodeError> {
    let Some(s) = s else { return Ok(None) };
    match parse_price(s) {
        Ok(p) => Ok(Some(p)),
        Err(NumberError::NotPositive) if parse_size(s).is_ok_and(|d| d.is_zero()) => Ok(None),
        Err(error) => Err(DecodeError::BadNumber { field, error }),
    }
}

/// An optional size: absent is `None`, present must be valid.
pub(crate) fn opt_size(s: Option<&str>, field: &'static str) -> Result<Option<Qty>, DecodeError> {
    s.map(|s| size(s, field)).transpose()
}

/// An epoch-milliseconds exchange time that a market event could really carry.
pub(crate) fn millis(ms: u64, field: &'static str) -> Result<Timestamp, DecodeError> {
    let t = i64::try_from(ms).ok().and_then(Timestamp::from_millis).filter(|t| t.is_plausible());
    t.ok_or_else(|| DecodeError::BadTime { field, detail: format!("{ms} ms is outside the plausible range 2009-01-03..2100-01-01") })
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

/// The error for a frame or response naming a symbol that exchangeInfo
/// never listed. Binance symbols are base and quote glued together
/// (`NKNUSDT`) and no suffix rule splits them reliably (`BTCBUSD` is
/// `BTC-BUSD`, but `BTCB` is an asset too), so such a frame is skipped.
pub(crate) fn unknown_symbol(symbol: &str) -> DecodeError {
    DecodeError::UnknownSymbol(bounded(symbol))
}

/// Appends `s` as a JSON string literal.
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
        let s: Str<'_> = serde_json::from_str(r#""BTCUSDT""#).unwrap();
        assert!(matches!(s.0, Cow::Borrowed("BTCUSDT")));
        let s: Str<'_> = serde_json::from_str(r#""BTC\u0055SDT""#).unwrap();
        assert!(matches!(s.0, Cow::Owned(ref o) if o == "BTCUSDT"));
        assert!(serde_json::from_str::<Str<'_>>("12").is_err());
    }

    #[test]
    fn optional_scalars_treat_null_as_absent() {
        assert_eq!(serde_json::from_str::<OptU64>("null").unwrap().0, None);
        assert_eq!(serde_json::from_str::<OptU64>("7").unwrap().0, Some(7));
        assert!(serde_json::from_str::<OptU64>("-7").is_err());
        assert!(serde_json::from_str::<OptU64>("\"7\"").is_err());
        assert_eq!(serde_json::from_str::<OptBool>("true").unwrap().0, Some(true));
        assert_eq!(serde_json::from_str::<OptBool>("null").unwrap().0, None);
        assert!(serde_json::from_str::<OptBool>("1").is_err());
    }

    #[test]
    fn millis_must_be_plausible() {
        assert_eq!(millis(1_767_225_600_123, "E"), Ok(Timestamp::from_nanos(1_767_225_600_123_000_000)));
        for bad in [0, 1_230_940_799_999, 4_102_444_800_001, u64::MAX] {
            assert_eq!(millis(bad, "E").unwrap_err().reason(), "bad_time", "{bad}");
        }
    }

    #[test]
    fn stat_prices_read_zero_as_absent() {
        assert_eq!(stat_price(Some("0.00000000"), "b"), Ok(None));
        assert_eq!(stat_price(Some("0"), "b"), Ok(None));
        assert_eq!(stat_price(None, "b"), Ok(None));
        assert_eq!(stat_price(Some("1.50"), "b").unwrap().map(|p| p.to_string()).as_deref(), Some("1.50"));
        assert_eq!(stat_price(Some("-1"), "b").unwrap_err().reason(), "not_positive");
        assert_eq!(stat_price(Some("x"), "b").unwrap_err().reason(), "bad_number");
    }

    #[test]
    fn untrusted_text_is_bounded() {
        let long = "é".repeat(10_000);
        assert_eq!(bounded(&long), format!("{}...", "é".repeat(48)));
        assert_eq!(snippet("ab"), "\"ab\"");
    }
}
