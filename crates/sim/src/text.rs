//! Text helpers every dialect renders with: exact decimals, JSON strings,
//! query strings.
//!
//! Frames are rendered by hand because rendering runs for every frame on the
//! generator's hot path; each dialect's tests parse the output back with the
//! project's own decoders.

use std::{borrow::Cow, fmt::Write as _};

/// Appends a price in `spec`'s ticks as a quoted exact decimal
/// (`"67000.41"`).
pub(crate) fn push_price(out: &mut String, spec: &crate::products::ProductSpec, ticks: u64) {
    out.push('"');
    push_fixed(out, ticks, spec.price_scale);
    out.push('"');
}

/// Appends a size in units of 1e-8 as a quoted exact decimal
/// (`"0.00341207"`).
pub(crate) fn push_size(out: &mut String, units: impl Into<u128>) {
    out.push('"');
    push_fixed(out, units, crate::products::SIZE_SCALE);
    out.push('"');
}

/// Appends `units × 10^-scale` as a plain decimal with exactly `scale`
/// fraction digits (`push_fixed(s, 12345, 2)` gives `123.45`).
pub(crate) fn push_fixed(out: &mut String, units: impl Into<u128>, scale: u32) {
    let units: u128 = units.into();
    let p = 10u128.pow(scale);
    // Writing to a String cannot fail.
    if scale == 0 {
        let _ = write!(out, "{units}");
    } else {
        let _ = write!(out, "{}.{:0width$}", units / p, units % p, width = scale as usize);
    }
}

/// Appends `s` as a JSON string, escaped.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    // serde_json's escaping is JSON's; serializing a str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// A deterministic 64-bit mix of `x` (splitmix64's finalizer): made-up ids
/// that only have to look right are derived from real ones with it.
pub(crate) fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Unix nanoseconds as whole milliseconds (the unit Binance and KuCoin use
/// for most times); times before 1970 clamp to 0.
pub(crate) fn millis(ns: i64) -> u64 {
    u64::try_from(ns.div_euclid(1_000_000)).unwrap_or(0)
}

/// The `key=value` pairs of a query string, percent-decoded (`+` is a
/// space). A pair whose escape is broken keeps its raw text, so a bad value
/// is reported as bad rather than silently dropped.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The first value of `name` in `pairs`.
pub(crate) fn param<'a>(pairs: &'a [(Cow<'_, str>, Cow<'_, str>)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
}

/// Percent-decodes `s`; the raw text if an escape is broken or the result
/// is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'%', _, _) => return Cow::Borrowed(s),
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_or(Cow::Borrowed(s), Cow::Owned)
}

/// Percent-encodes `s` for a query value: everything but unreserved
/// characters (RFC 3986) is escaped.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// At most 64 characters of client input, for an error message.
pub(crate) fn bounded(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_decimals_are_exact() {
        let f = |units: u64, scale| {
            let mut s = String::new();
            push_fixed(&mut s, units, scale);
            s
        };
        assert_eq!(f(6_700_001, 2), "67000.01");
        assert_eq!(f(5, 8), "0.00000005");
        assert_eq!(f(0, 8), "0.00000000");
        assert_eq!(f(42, 0), "42");
        assert_eq!(f(u64::MAX, 8), "184467440737.09551615");
    }

    #[test]
    fn queries_decode() {
        let pairs = query_pairs(Some("symbol=BTC%2DUSDT&limit=5&x&a+b=c%zz"));
        assert_eq!(param(&pairs, "symbol"), Some("BTC-USDT"));
        assert_eq!(param(&pairs, "limit"), Some("5"));
        assert_eq!(param(&pairs, "x"), Some(""));
        assert_eq!(param(&pairs, "a b"), Some("c%zz"), "a broken escape is kept raw");
        assert_eq!(param(&pairs, "nope"), None);
        assert!(query_pairs(None).is_empty());
        assert_eq!(millis(1_700_000_000_123_456_789), 1_700_000_000_123);
        assert_eq!(millis(-5), 0);
        assert_ne!(mix(1), mix(2));
        assert_eq!(percent_encode("a b=/é"), "a%20b%3D%2F%C3%A9");
        assert_eq!(percent_decode(&percent_encode("tok+en==")), "tok+en==");
    }
}
