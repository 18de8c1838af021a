//! Field readers of the Binance wire types: the shared readers of
//! [`crate::wire::de`] (borrowed strings, optional integers that treat
//! `null` as absent, strict decimals, epoch milliseconds, the error
//! helpers), and what only Binance needs: optional booleans, statistics
//! prices where zero means "none", and the unknown-symbol error.
//!
//! Every wire struct declares its fields optional and checks presence
//! itself, so a missing field is [`DecodeError::MissingField`] with the
//! field's name rather than a serde message. A wrong JSON type (a number
//! where a string belongs) is a serde error, i.e. [`DecodeError::InvalidJson`].

use std::fmt;

use marketpipe_model::{parse_price, parse_size, NumberError, Price};
use serde::de::{Deserialize, Deserializer, Visitor};

pub(crate) use crate::wire::de::{
    bounded, json_error, millis, opt_size, price, push_json_string, required, size, snippet, trade_size, OptStr, OptU64, Str,
};
use crate::DecodeError;

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

/// The error for a frame or response naming a symbol that exchangeInfo
/// never listed. Binance symbols are base and quote glued together
/// (`NKNUSDT`) and no suffix rule splits them reliably (`BTCBUSD` is
/// `BTC-BUSD`, but `BTCB` is an asset too), so such a frame is skipped.
pub(crate) fn unknown_symbol(symbol: &str) -> DecodeError {
    DecodeError::UnknownSymbol(bounded(symbol))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use marketpipe_model::Timestamp;

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
