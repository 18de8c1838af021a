//! Field-level helpers of the KuCoin wire types: the shared readers of
//! [`crate::wire::de`], and what only KuCoin needs: objects that must be
//! objects ([`MapOnly`]), sequences in two JSON forms, the price-`0` marker
//! of level-2 changes, nanosecond trade times and its symbol rules.
//!
//! As in the other decoders, wire structs declare every field optional
//! and presence is checked here, so a missing field is reported as
//! [`DecodeError::MissingField`] with its name rather than as a serde
//! message. A JSON `null` counts as absent.
//!
//! KuCoin sends the same kind of value in different JSON types depending on
//! the message: sequences are strings in tickers, trades, REST snapshots and
//! level-2 changes, but integers in `sequenceStart`/`sequenceEnd`; times are
//! integer milliseconds except the trade `time`, a string of nanoseconds.
//! [`OptSeq`] takes a sequence in either form; times are typed per field.

use std::{borrow::Cow, fmt};

use marketpipe_model::{parse_decimal, parse_price, NumberError, Price, Side, Timestamp};
use serde::de::{value::MapAccessDeserializer, Deserialize, Deserializer, MapAccess, Visitor};

pub(crate) use crate::wire::{
    de::{
        bounded, json_error, millis, opt_price, opt_size, price, push_json_string, required, required_str, size, snippet, trade_size,
        OptStr, OptU64, Str,
    },
    symbol::is_currency_code,
};
use crate::{wire::de::plausible, DecodeError};

/// A struct that must be a JSON object. serde's derived structs also
/// accept an array, matched to the fields by position, which would let
/// `"data":["BTC-USDT","buy",...]` through; this wrapper refuses it.
#[derive(Debug)]
pub(crate) struct MapOnly<T>(pub(crate) T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
            type Value = MapOnly<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(MapOnly)
            }
        }

        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// Parses `text` as the object `T` (see [`MapOnly`]).
pub(crate) fn from_object<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, DecodeError> {
    serde_json::from_str::<MapOnly<T>>(text).map(|m| m.0).map_err(json_error)
}

/// A sequence number as sent: a JSON integer or a string of digits (still
/// unchecked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeqRepr<'a> {
    /// `1545896669105`.
    Num(u64),
    /// `"1545896669105"`.
    Text(Str<'a>),
}

/// An optional sequence number in either of KuCoin's forms; `None` when
/// absent or `null`. Anything else (a float, a negative number, an object)
/// is a type error.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct OptSeq<'a>(pub(crate) Option<SeqRepr<'a>>);

impl OptSeq<'_> {
    /// The value: absent is `None`, present must be an unsigned integer.
    pub(crate) fn value(&self, field: &'static str) -> Result<Option<u64>, DecodeError> {
        match &self.0 {
            None => Ok(None),
            Some(SeqRepr::Num(n)) => Ok(Some(*n)),
            Some(SeqRepr::Text(s)) => sequence(s.as_str(), field).map(Some),
        }
    }

    /// The value of a required sequence field.
    pub(crate) fn required(&self, field: &'static str) -> Result<u64, DecodeError> {
        self.value(field)?.ok_or(DecodeError::MissingField(field))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for OptSeq<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeqVisitor;

        impl<'de> Visitor<'de> for SeqVisitor {
            type Value = OptSeq<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence number (unsigned integer or string of digits) or null")
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(OptSeq(Some(SeqRepr::Num(v))))
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(OptSeq(Some(SeqRepr::Text(Str(Cow::Borrowed(v))))))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OptSeq(Some(SeqRepr::Text(Str(Cow::Owned(v.to_owned()))))))
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptSeq(None))
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(OptSeq(None))
            }
        }

        deserializer.deserialize_any(SeqVisitor)
    }
}

/// A sequence number written as a string: one to twenty ASCII digits that
/// fit a `u64`. No sign, no spaces, no exponent.
pub(crate) fn sequence(s: &str, field: &'static str) -> Result<u64, DecodeError> {
    let mut n: u64 = 0;
    let ok = !s.is_empty()
        && s.bytes().all(|b| {
            let d = b.wrapping_sub(b'0');
            match n.checked_mul(10).and_then(|m| m.checked_add(u64::from(d))) {
                Some(m) if d < 10 => {
                    n = m;
                    true
                }
                _ => false,
            }
        });
    if !ok {
        return Err(DecodeError::BadField { field, detail: format!("{} is not an unsigned integer sequence", snippet(s)) });
    }
    Ok(n)
}

/// The price of a level-2 change, or `None` for KuCoin's price-`0` marker:
/// a change that only advances the sequence (see `book.rs`). Anything else
/// must be a valid price.
pub(crate) fn change_price(s: &str, field: &'static str) -> Result<Option<Price>, DecodeError> {
    match parse_price(s) {
        Ok(p) => Ok(Some(p)),
        Err(NumberError::NotPositive) if parse_decimal(s).is_ok_and(|d| d.is_zero()) => Ok(None),
        Err(error) => Err(DecodeError::BadNumber { field, error }),
    }
}

/// An optional millisecond time: absent is `None`, present must be valid.
pub(crate) fn opt_millis(ms: OptU64, field: &'static str) -> Result<Option<Timestamp>, DecodeError> {
    ms.0.map(|ms| millis(ms, field)).transpose()
}

/// An exchange time written as a string of nanoseconds since the epoch
/// (the trade `time`).
pub(crate) fn nanos_text(s: &str, field: &'static str) -> Result<Timestamp, DecodeError> {
    let ns = (!s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<i64>().ok()).flatten();
    match ns {
        Some(ns) => plausible(Timestamp::from_nanos(ns), field, || format!("{} ns", snippet(s))),
        None => Err(DecodeError::BadTime { field, detail: format!("{} is not integer nanoseconds", snippet(s)) }),
    }
}

/// The taker's side from a KuCoin trade `side`, which already names the
/// taker's side ("The filled side is set to the taker by default").
pub(crate) fn taker_side(s: &str, field: &'static str) -> Result<Side, DecodeError> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(DecodeError::BadField { field, detail: format!("unknown side {}", snippet(other)) }),
    }
}

/// Whether `s` is usable as a native symbol: short printable ASCII without
/// the separators KuCoin topics and URLs use.
pub(crate) fn is_native_symbol(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b',' | b':' | b'/' | b'?' | b'&' | b'#'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn str_borrows_plain_strings_and_owns_escaped_ones() {
        let s: Str<'_> = serde_json::from_str(r#""BTC-USDT""#).unwrap();
        assert!(matches!(s.0, Cow::Borrowed("BTC-USDT")));
        let s: Str<'_> = serde_json::from_str(r#""BTC\u002dUSDT""#).unwrap();
        assert!(matches!(s.0, Cow::Owned(ref o) if o == "BTC-USDT"));
    }

    #[test]
    fn sequences_come_as_numbers_or_digit_strings() {
        let seq =
            |json: &str| serde_json::from_str::<OptSeq<'_>>(json).map_err(|_| "json").and_then(|s| s.value("s").map_err(|e| e.reason()));
        assert_eq!(seq("14701689783"), Ok(Some(14_701_689_783)));
        assert_eq!(seq(r#""14701689783""#), Ok(Some(14_701_689_783)));
        assert_eq!(seq(r#""18446744073709551615""#), Ok(Some(u64::MAX)));
        assert_eq!(seq("null"), Ok(None));
        for bad in [r#""""#, r#""-1""#, r#""+1""#, r#"" 1""#, r#""1e3""#, r#""18446744073709551616""#, r#""0x10""#] {
            assert_eq!(seq(bad), Err("bad_field"), "{bad}");
        }
        for bad in ["-1", "1.5", "[]", "{}", "true"] {
            assert_eq!(seq(bad), Err("json"), "{bad}");
        }
    }

    #[test]
    fn times_are_checked_for_plausibility() {
        assert_eq!(millis(1_729_816_425_625, "time"), Ok(Timestamp::from_nanos(1_729_816_425_625_000_000)));
        assert_eq!(millis(1_000, "time").unwrap_err().reason(), "bad_time");
        assert_eq!(millis(u64::MAX, "time").unwrap_err().reason(), "bad_time");
        assert_eq!(nanos_text("1729843222921000000", "time"), Ok(Timestamp::from_nanos(1_729_843_222_921_000_000)));
        for bad in ["", "1729843222921", "-1729843222921000000", "1.7e18", "17298432229210000000", " 1729843222921000000"] {
            assert_eq!(nanos_text(bad, "time").unwrap_err().reason(), "bad_time", "{bad:?}");
        }
    }

    #[test]
    fn price_zero_is_a_marker_only_in_changes() {
        assert_eq!(change_price("0", "p"), Ok(None));
        assert_eq!(change_price("0.000", "p"), Ok(None));
        assert_eq!(change_price("-1", "p").unwrap_err().reason(), "not_positive");
        assert_eq!(change_price("abc", "p").unwrap_err().reason(), "bad_number");
        assert_eq!(change_price("1.5", "p").unwrap().map(|d| d.to_string()), Some("1.5".to_owned()));
        assert_eq!(price("0", "p").unwrap_err().reason(), "not_positive");
    }

    #[test]
    fn side_is_the_takers() {
        assert_eq!(taker_side("buy", "side"), Ok(Side::Buy));
        assert_eq!(taker_side("sell", "side"), Ok(Side::Sell));
        assert_eq!(taker_side("BUY", "side").unwrap_err().reason(), "bad_field");
    }
}
