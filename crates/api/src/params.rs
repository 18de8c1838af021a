//! Query-string parsing and validation.
//!
//! Axum's `Query` extractor answers bad input with a plain-text body and
//! silently keeps one of two duplicated keys; the API promises a JSON error
//! that names exactly what was wrong, so the raw query string is parsed here
//! by hand, strictly:
//!
//! - `name=value` pairs separated by `&`; empty segments (`a=1&&b=2`, a
//!   trailing `&`) are skipped;
//! - percent-escapes are decoded, then the bytes must be UTF-8; a `+` is a
//!   literal plus, not a space (this API takes no HTML forms, and a literal
//!   `+` lets `start=2026-01-01T01:00:00+01:00` work unescaped);
//! - every name must be one the endpoint accepts, at most once, with a
//!   non-empty value of at most [`MAX_VALUE_LEN`] bytes.
//!
//! The typed readers below then turn values into model types; each error
//! message starts with the parameter's name.

use marketpipe_model::{Exchange, Interval, Symbol, Timestamp, TimestampError};

use crate::error::{echo, ApiError};

/// Longest accepted parameter value, in bytes after decoding. The longest
/// legitimate value (an RFC 3339 time with nanoseconds and an offset) is 35.
pub(crate) const MAX_VALUE_LEN: usize = 128;

/// Longest accepted symbol.
pub(crate) const MAX_SYMBOL_LEN: usize = 64;

/// The decoded parameters of one request, checked against the endpoint's
/// accepted names.
#[derive(Debug)]
pub(crate) struct Params {
    endpoint: &'static str,
    allowed: &'static [&'static str],
    /// `values[i]` is the value of `allowed[i]`, if given.
    values: Vec<Option<String>>,
}

impl Params {
    /// Parses a raw query string (`None` when the URL has no `?`) for
    /// `endpoint`, which accepts exactly the names in `allowed`.
    pub(crate) fn parse(raw: Option<&str>, endpoint: &'static str, allowed: &'static [&'static str]) -> Result<Self, ApiError> {
        let mut values = vec![None; allowed.len()];
        for segment in raw.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
            let (raw_name, raw_value) = segment.split_once('=').unwrap_or((segment, ""));
            let name = decode(raw_name)
                .map_err(|why| ApiError::bad_request("bad_encoding", format!("parameter name {}: {why}", echo(raw_name))))?;
            let Some(slot) = allowed.iter().position(|a| *a == name) else {
                return Err(ApiError::bad_request("unknown_parameter", unknown_message(&name, endpoint, allowed)));
            };
            let value = decode(raw_value).map_err(|why| ApiError::bad_request("bad_encoding", format!("{name}: {why}")))?;
            if value.is_empty() {
                return Err(ApiError::bad_request("empty_parameter", format!("{name}: the value is empty")));
            }
            if value.len() > MAX_VALUE_LEN {
                return Err(ApiError::bad_request(
                    "value_too_long",
                    format!("{name}: the value is {} bytes long; at most {MAX_VALUE_LEN} are accepted", value.len()),
                ));
            }
            // `position` found the slot, so the index is in range; `get_mut`
            // keeps that from being a panic path anyway.
            if let Some(entry) = values.get_mut(slot) {
                if entry.is_some() {
                    return Err(ApiError::bad_request("duplicate_parameter", format!("{name}: given more than once")));
                }
                *entry = Some(value);
            }
        }
        Ok(Params { endpoint, allowed, values })
    }

    /// The value of an optional parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let slot = self.allowed.iter().position(|a| *a == name)?;
        self.values.get(slot)?.as_deref()
    }

    /// Fails with one error naming every parameter of `required` that is absent.
    pub(crate) fn require(&self, required: &[&str]) -> Result<(), ApiError> {
        let missing: Vec<&str> = required.iter().copied().filter(|n| self.get(n).is_none()).collect();
        match missing.as_slice() {
            [] => Ok(()),
            [one] => Err(ApiError::bad_request("missing_parameter", format!("missing required parameter {one} (for {})", self.endpoint))),
            many => Err(ApiError::bad_request(
                "missing_parameter",
                format!("missing required parameters {} (for {})", many.join(", "), self.endpoint),
            )),
        }
    }

    /// The value of a parameter [`Params::require`] has checked.
    fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::bad_request("missing_parameter", format!("missing required parameter {name} (for {})", self.endpoint)))
    }

    /// The required `exchange`, case-insensitively.
    pub(crate) fn exchange(&self) -> Result<Exchange, ApiError> {
        parse_exchange(self.required("exchange")?)
    }

    /// The required `symbol`, upper-cased.
    pub(crate) fn symbol(&self) -> Result<Symbol, ApiError> {
        parse_symbol(self.required("symbol")?)
    }

    /// The required `interval`.
    pub(crate) fn interval(&self) -> Result<Interval, ApiError> {
        let v = self.required("interval")?;
        v.parse::<Interval>().map_err(|e| ApiError::invalid("interval", e))
    }

    /// An optional time parameter.
    pub(crate) fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        self.get(name).map(|v| parse_time(name, v)).transpose()
    }

    /// An optional positive count, `default` when absent, at most `cap`.
    pub(crate) fn count(&self, name: &str, default: usize, cap: usize) -> Result<usize, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => Ok(parse_positive(name, v)?.min(cap)),
        }
    }

    /// An optional `true`/`false` flag, `false` when absent.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(ApiError::invalid(name, format!("{} is not a boolean; use true or false", echo(other)))),
        }
    }
}

fn unknown_message(name: &str, endpoint: &str, allowed: &[&str]) -> String {
    if allowed.is_empty() {
        format!("unknown parameter {}; {endpoint} takes no parameters", echo(name))
    } else {
        format!("unknown parameter {}; {endpoint} accepts {}", echo(name), allowed.join(", "))
    }
}

/// Percent-decodes one name or value and checks it is UTF-8.
fn decode(raw: &str) -> Result<String, &'static str> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = bytes.get(i + 1).copied().and_then(hex);
            let lo = bytes.get(i + 2).copied().and_then(hex);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                _ => return Err("invalid percent-encoding (a % must be followed by two hex digits)"),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not valid UTF-8 after percent-decoding")
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// An exchange name, case-insensitively; the error lists the valid ones.
pub(crate) fn parse_exchange(v: &str) -> Result<Exchange, ApiError> {
    v.to_ascii_lowercase().parse::<Exchange>().map_err(|e| ApiError::invalid("exchange", e))
}

/// A normalized symbol (`BTC-USD`), upper-casing lower-case input.
pub(crate) fn parse_symbol(v: &str) -> Result<Symbol, ApiError> {
    let well_formed = v.len() <= MAX_SYMBOL_LEN && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !well_formed {
        return Err(ApiError::invalid(
            "symbol",
            format!(
                "{} is not a symbol; use the normalized BASE-QUOTE form like BTC-USD \
                 (letters, digits and '-', at most {MAX_SYMBOL_LEN} characters)",
                echo(v)
            ),
        ));
    }
    Ok(Symbol::new(&v.to_ascii_uppercase()))
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// A time given as RFC 3339 (`2026-01-01T00:00:00Z`, any fraction, `Z` or
/// a numeric offset) or Unix seconds (`1767225600`, `1767225600.5`; fraction
/// digits beyond nanoseconds are truncated, as RFC 3339 fractions are).
///
/// Accepted range: 1970-01-01T00:00:00Z up to the last nanosecond an `i64`
/// holds (2262-04-11). Nothing earlier than the epoch is market data, and a
/// non-negative range keeps window arithmetic simple.
pub(crate) fn parse_time(name: &str, v: &str) -> Result<Timestamp, ApiError> {
    let parsed = if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') { parse_unix_seconds(v) } else { Timestamp::parse_rfc3339(v) };
    match parsed {
        Ok(t) if t.nanos() >= 0 => Ok(t),
        Ok(_) | Err(TimestampError::Overflow) => Err(ApiError::invalid(
            name,
            format!("{} is out of range; times from 1970-01-01T00:00:00Z to {} are accepted", echo(v), Timestamp(i64::MAX).to_rfc3339()),
        )),
        Err(TimestampError::Range) => {
            Err(ApiError::invalid(name, format!("{} has a field out of range (a month 13, an hour 24, a February 30...)", echo(v))))
        }
        Err(TimestampError::Syntax) => Err(ApiError::invalid(
            name,
            format!("{} is not a time; use RFC 3339 like 2026-01-01T00:00:00Z or Unix seconds like 1767225600 or 1767225600.5", echo(v)),
        )),
    }
}

/// `digits[.digits]` seconds since the epoch.
fn parse_unix_seconds(v: &str) -> Result<Timestamp, TimestampError> {
    let (int, frac) = match v.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (v, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(TimestampError::Syntax);
    }
    let mut secs = 0i64;
    for b in int.bytes() {
        secs = secs.checked_mul(10).and_then(|s| s.checked_add(i64::from(b - b'0'))).ok_or(TimestampError::Overflow)?;
    }
    let mut nanos = 0i64;
    let mut scale = NANOS_PER_SEC;
    for b in frac.unwrap_or("").bytes().take(9) {
        scale /= 10;
        nanos += i64::from(b - b'0') * scale;
    }
    secs.checked_mul(NANOS_PER_SEC).and_then(|ns| ns.checked_add(nanos)).map(Timestamp).ok_or(TimestampError::Overflow)
}

/// A positive integer (`1`, `007`); no sign, no fraction, no exponent, and
/// it must fit in 64 bits.
pub(crate) fn parse_positive(name: &str, v: &str) -> Result<usize, ApiError> {
    if !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(name, format!("{} is not a positive integer", echo(v))));
    }
    let n = v.parse::<u64>().map_err(|_| ApiError::invalid(name, format!("{} is too large to be a count", echo(v))))?;
    if n == 0 {
        return Err(ApiError::invalid(name, "must be at least 1"));
    }
    // Anything beyond usize is far above every cap, so saturate.
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[&str] = &["a", "b"];

    fn code(r: Result<Params, ApiError>) -> &'static str {
        r.map(|_| "ok").unwrap_or_else(|e| e.code)
    }

    #[test]
    fn decodes_names_and_values() {
        let p = Params::parse(Some("a=x%2Dy%20z&b=1+2"), "/t", ALL).unwrap();
        assert_eq!(p.get("a"), Some("x-y z"));
        assert_eq!(p.get("b"), Some("1+2"), "+ is literal");
        let p = Params::parse(Some("%61=%E2%82%AC&&"), "/t", ALL).unwrap();
        assert_eq!(p.get("a"), Some("€"));
        assert_eq!(p.get("b"), None);
        assert!(Params::parse(None, "/t", ALL).unwrap().get("a").is_none());
    }

    #[test]
    fn rejects_bad_queries_with_the_right_code() {
        for (q, want) in [
            ("c=1", "unknown_parameter"),
            ("A=1", "unknown_parameter"),
            ("a=1&a=1", "duplicate_parameter"),
            ("a=", "empty_parameter"),
            ("a", "empty_parameter"),
            ("a=%ZZ", "bad_encoding"),
            ("a=%F", "bad_encoding"),
            ("a=%", "bad_encoding"),
            ("a=%FF", "bad_encoding"),
            ("a=%E2%82", "bad_encoding"),
            ("%ZZ=1", "bad_encoding"),
        ] {
            assert_eq!(code(Params::parse(Some(q), "/t", ALL)), want, "{q}");
        }
        let long = format!("a={}", "x".repeat(MAX_VALUE_LEN + 1));
        assert_eq!(code(Params::parse(Some(&long), "/t", ALL)), "value_too_long");
        let exact = format!("a={}", "x".repeat(MAX_VALUE_LEN));
        assert_eq!(code(Params::parse(Some(&exact), "/t", ALL)), "ok");
    }

    #[test]
    fn unknown_lists_what_is_accepted() {
        let e = Params::parse(Some("zz=1"), "/t", ALL).unwrap_err();
        assert!(e.message.contains("\"zz\"") && e.message.contains("a, b"), "{}", e.message);
        let e = Params::parse(Some("zz=1"), "/h", &[]).unwrap_err();
        assert!(e.message.contains("takes no parameters"), "{}", e.message);
    }

    #[test]
    fn require_names_every_missing_parameter() {
        let p = Params::parse(Some("a=1"), "/t", ALL).unwrap();
        assert!(p.require(&["a"]).is_ok());
        let e = p.require(&["a", "b"]).unwrap_err();
        assert!(e.message.contains("parameter b "), "{}", e.message);
        let p = Params::parse(None, "/t", ALL).unwrap();
        let e = p.require(&["a", "b"]).unwrap_err();
        assert!(e.message.contains("parameters a, b"), "{}", e.message);
    }

    #[test]
    fn times_in_both_forms() {
        let jan1 = 1_767_225_600 * NANOS_PER_SEC;
        assert_eq!(parse_time("t", "2026-01-01T00:00:00Z").unwrap().nanos(), jan1);
        assert_eq!(parse_time("t", "2026-01-01T01:00:00+01:00").unwrap().nanos(), jan1);
        assert_eq!(parse_time("t", "1767225600").unwrap().nanos(), jan1);
        assert_eq!(parse_time("t", "1767225600.5").unwrap().nanos(), jan1 + 500_000_000);
        assert_eq!(parse_time("t", "1767225600.0000000019").unwrap().nanos(), jan1 + 1);
        assert_eq!(parse_time("t", "0").unwrap().nanos(), 0);
        assert_eq!(parse_time("t", "9223372036.854775807").unwrap().nanos(), i64::MAX);
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "1.2.3",
            "1e9",
            "-1",
            "+1",
            "abc",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01",
            "9223372036.854775808",
            "99999999999999999999",
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert!(parse_time("t", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn counts_are_positive_integers() {
        assert_eq!(parse_positive("n", "1").unwrap(), 1);
        assert_eq!(parse_positive("n", "007").unwrap(), 7);
        assert_eq!(parse_positive("n", "18446744073709551615").unwrap() as u64, u64::MAX);
        for bad in ["0", "-1", "+1", "1.5", "abc", "1e3", "18446744073709551616", " 1"] {
            assert!(parse_positive("n", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn symbols_and_exchanges() {
        assert_eq!(parse_symbol("btc-usd").unwrap().as_str(), "BTC-USD");
        assert_eq!(parse_exchange("Coinbase").unwrap(), Exchange::Coinbase);
        for bad in ["BTC/USD", "BTC USD", "BTC_USD", "€", &"A".repeat(MAX_SYMBOL_LEN + 1)] {
            assert!(parse_symbol(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_symbol(&"A".repeat(MAX_SYMBOL_LEN)).is_ok());
        assert!(parse_exchange("kraken").unwrap_err().message.contains("coinbase, binance"));
    }
}
