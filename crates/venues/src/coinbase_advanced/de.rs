//! Field-level helpers of the Advanced Trade wire types: the shared readers
//! of [`crate::wire::de`], and what only this API needs: its upper-case
//! maker sides, its string trade ids, and empty strings standing for
//! absent values.

use std::sync::Arc;

use marketpipe_model::{Side, Timestamp, TradeId};

pub(crate) use crate::wire::de::{json_error, price, required, snippet, trade_size, OptStr};
use crate::{wire::de::plausible, DecodeError};

/// Longest opaque trade id accepted (a UUID is 36 characters).
const MAX_TRADE_ID_LEN: usize = 64;

/// An RFC 3339 exchange time (Advanced Trade sends microseconds or
/// nanoseconds and `Z`) that a market event could really carry.
pub(crate) fn time(s: &str, field: &'static str) -> Result<Timestamp, DecodeError> {
    let t = Timestamp::parse_rfc3339(s).map_err(|e| DecodeError::time(field, e))?;
    plausible(t, field, || snippet(s))
}

/// The taker's side from a public market trade's `side`, which (as on
/// Coinbase Exchange, whose matching engine Advanced Trade fronts) names the
/// **maker's** side: `"SELL"` means a resting sell order was lifted, i.e.
/// the taker bought. Only the documented upper-case `BUY`/`SELL` are
/// accepted; `UNKNOWN_ORDER_SIDE` or anything else is rejected, since a
/// guessed side would corrupt the candles' buy/sell split.
pub(crate) fn taker_side_from_maker(s: &str, field: &'static str) -> Result<Side, DecodeError> {
    match s {
        "SELL" => Ok(Side::Buy),
        "BUY" => Ok(Side::Sell),
        other => Err(DecodeError::BadField { field, detail: format!("unknown side {}", snippet(other)) }),
    }
}

/// A trade id, sent as a string. A canonical decimal that fits a `u64`
/// (`"995098663"`: no sign, no leading zero) is numeric, so the engine's
/// trade-id dedup and ordering treat it as the integer it is; anything else
/// printable (a UUID) is kept as an opaque string. Leading zeros stay
/// strings on purpose: `"007"` and `"7"` must not become the same trade.
pub(crate) fn trade_id(s: &str, field: &'static str) -> Result<TradeId, DecodeError> {
    let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical {
        if let Ok(n) = s.parse::<u64>() {
            return Ok(TradeId::Num(n));
        }
    }
    if s.is_empty() || s.len() > MAX_TRADE_ID_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DecodeError::BadField { field, detail: format!("unusable trade id {}", snippet(s)) });
    }
    Ok(TradeId::Str(Arc::from(s)))
}

/// A string that may be empty: Advanced Trade sends `""` rather than
/// leaving a field out (`best_bid` of a product with no bids).
pub(crate) fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maker_side_is_inverted_and_only_upper_case_is_known() {
        assert_eq!(taker_side_from_maker("SELL", "side"), Ok(Side::Buy));
        assert_eq!(taker_side_from_maker("BUY", "side"), Ok(Side::Sell));
        for bad in ["buy", "sell", "UNKNOWN_ORDER_SIDE", ""] {
            assert_eq!(taker_side_from_maker(bad, "side").unwrap_err().reason(), "bad_field", "{bad}");
        }
    }

    #[test]
    fn numeric_trade_ids_are_numbers_and_others_stay_strings() {
        assert_eq!(trade_id("995098663", "t"), Ok(TradeId::Num(995_098_663)));
        assert_eq!(trade_id("0", "t"), Ok(TradeId::Num(0)));
        assert_eq!(trade_id("18446744073709551615", "t"), Ok(TradeId::Num(u64::MAX)));
        for s in ["18446744073709551616", "007", "+7", "1e3", "2b1d2b0e-0b5c-4c1e-9a0e-6e1f2c3d4e5f"] {
            assert_eq!(trade_id(s, "t"), Ok(TradeId::Str(Arc::from(s))), "{s}");
        }
        for bad in ["", "a b", "é", &"9".repeat(65)] {
            assert_eq!(trade_id(bad, "t").unwrap_err().reason(), "bad_field", "{bad:?}");
        }
    }
}
