//! Field-level helpers of the Coinbase wire types: the shared readers of
//! [`crate::wire::de`], and what only Coinbase needs: RFC 3339 times, the
//! maker-side convention of its trades, and its trade-id rule.
//!
//! Wire structs declare every field optional ([`OptStr`], [`OptU64`]) and
//! check presence here rather than letting serde reject a missing field:
//! serde's "missing field" is only a message string, while
//! [`DecodeError::MissingField`] carries the field name the counters and
//! tests rely on. A JSON `null` counts as absent.

use marketpipe_model::{Side, Timestamp};

pub(crate) use crate::wire::de::{
    bounded, json_error, opt_price, opt_size, price, push_json_string, required, size, snippet, trade_size, OptStr, OptU64, Str,
};
use crate::{wire::de::plausible, DecodeError};

/// An RFC 3339 exchange time that a market event could really carry.
pub(crate) fn time(s: &str, field: &'static str) -> Result<Timestamp, DecodeError> {
    let t = Timestamp::parse_rfc3339(s).map_err(|e| DecodeError::time(field, e))?;
    plausible(t, field, || snippet(s))
}

/// An optional exchange time: absent is `None`, present must be valid.
pub(crate) fn opt_time(s: Option<&str>, field: &'static str) -> Result<Option<Timestamp>, DecodeError> {
    s.map(|s| time(s, field)).transpose()
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

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
