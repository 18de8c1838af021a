//! UTC time as integer nanoseconds since the Unix epoch.
//!
//! Exchange times arrive as RFC 3339 strings (Coinbase) or epoch
//! milliseconds (Binance, KuCoin); both become a [`Timestamp`], an `i64` of
//! nanoseconds that covers 1677..2262 and sorts, subtracts and floors without
//! time-zone surprises. Parsing is hand-written because it runs once per frame
//! on the replay hot path; it is checked against chrono in the tests.

use std::fmt;

/// Nanoseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// Why a time string was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`).
    #[error("not an RFC 3339 time")]
    Syntax,
    /// A field out of range (month 13, hour 25, February 30...).
    #[error("time field out of range")]
    Range,
    /// Outside what an i64 of nanoseconds can hold (before 1677 or after 2262).
    #[error("time outside the representable range")]
    Overflow,
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    /// Earliest time a market event can plausibly carry: 2009-01-03, the
    /// Bitcoin genesis block. Anything earlier is a corrupt field.
    pub const PLAUSIBLE_MIN: Timestamp = Timestamp(1_230_940_800 * NANOS_PER_SEC);
    /// Latest plausible event time: 2100-01-01.
    pub const PLAUSIBLE_MAX: Timestamp = Timestamp(4_102_444_800 * NANOS_PER_SEC);

    /// From nanoseconds since the epoch.
    pub const fn from_nanos(ns: i64) -> Self {
        Timestamp(ns)
    }

    /// From milliseconds since the epoch (Binance, KuCoin), if representable.
    pub const fn from_millis(ms: i64) -> Option<Self> {
        match ms.checked_mul(1_000_000) {
            Some(ns) => Some(Timestamp(ns)),
            None => None,
        }
    }

    /// From whole seconds since the epoch, if representable.
    pub const fn from_secs(s: i64) -> Option<Self> {
        match s.checked_mul(NANOS_PER_SEC) {
            Some(ns) => Some(Timestamp(ns)),
            None => None,
        }
    }

    /// Nanoseconds since the epoch.
    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// The start of the `width_ns`-wide epoch-aligned window containing `self`.
    pub const fn floor(self, width_ns: i64) -> Timestamp {
        Timestamp(self.0 - self.0.rem_euclid(width_ns))
    }

    /// Whether a market event could really carry this time.
    pub fn is_plausible(self) -> bool {
        (Self::PLAUSIBLE_MIN..=Self::PLAUSIBLE_MAX).contains(&self)
    }

    /// Parses RFC 3339: `2026-01-01T00:00:00.123456Z`, any number of fraction
    /// digits (beyond nanoseconds truncated), `Z` or a numeric offset.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimestampError> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(TimestampError::Syntax);
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, TimestampError> {
            let mut v = 0i64;
            for &c in &b[range] {
                if !c.is_ascii_digit() {
                    return Err(TimestampError::Syntax);
                }
                v = v * 10 + i64::from(c - b'0');
            }
            Ok(v)
        };
        if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
            return Err(TimestampError::Syntax);
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60 {
            return Err(TimestampError::Range);
        }
        let mut i = 19;
        let mut nanos = 0i64;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 9 {
                    nanos = nanos * 10 + i64::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 {
                return Err(TimestampError::Syntax);
            }
            for _ in digits..9 {
                nanos *= 10;
            }
        }
        let offset_secs = match b.get(i..) {
            Some([b'Z' | b'z']) => 0,
            Some([sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]) => {
                let two = |a: u8, b: u8| -> Result<i64, TimestampError> {
                    if a.is_ascii_digit() && b.is_ascii_digit() {
                        Ok(i64::from(a - b'0') * 10 + i64::from(b - b'0'))
                    } else {
                        Err(TimestampError::Syntax)
                    }
                };
                let (oh, om) = (two(*h1, *h2)?, two(*m1, *m2)?);
                if oh > 23 || om > 59 {
                    return Err(TimestampError::Range);
                }
                let off = oh * 3600 + om * 60;
                if *sign == b'+' {
                    off
                } else {
                    -off
                }
            }
            _ => return Err(TimestampError::Syntax),
        };
        // A leap second (:60) is folded onto the next second, as POSIX time does.
        let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
        secs.checked_mul(NANOS_PER_SEC).and_then(|ns| ns.checked_add(nanos)).map(Timestamp).ok_or(TimestampError::Overflow)
    }

    /// Parses a user-supplied time (API parameters, CLI flags): RFC 3339, or
    /// Unix seconds as an integer (`1767225600`) or a decimal with up to nine
    /// fraction digits (`1767225600.25`). Anything else, and anything outside
    /// the representable range, is rejected.
    pub fn parse_user(s: &str) -> Result<Timestamp, TimestampError> {
        let b = s.as_bytes();
        if b.first().is_some_and(|c| c.is_ascii_digit() || *c == b'-') && !s.contains(['T', 't', ' ', ':']) {
            let (neg, digits) = match s.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, s),
            };
            let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
            let all_digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
            if int.is_empty()
                || int.len() > 12
                || frac.len() > 9
                || !all_digits(int)
                || !all_digits(frac)
                || (digits.contains('.') && frac.is_empty())
            {
                return Err(TimestampError::Syntax);
            }
            let secs: i64 = int.parse().map_err(|_| TimestampError::Syntax)?;
            let mut nanos: i64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| TimestampError::Syntax)? };
            for _ in frac.len()..9 {
                nanos *= 10;
            }
            let total = secs.checked_mul(NANOS_PER_SEC).and_then(|n| n.checked_add(nanos)).ok_or(TimestampError::Overflow)?;
            return Ok(Timestamp(if neg { -total } else { total }));
        }
        Self::parse_rfc3339(s)
    }

    /// Renders RFC 3339 in UTC with `Z`, with 0, 3, 6 or 9 fraction digits,
    /// as few as represent the value exactly.
    pub fn to_rfc3339(self) -> String {
        chrono::DateTime::from_timestamp_nanos(self.0).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
}

/// A [`Timestamp`]'s UTC calendar date and time of day, for paths and
/// wire formats that spell dates out (archive segment names, exchange
/// timestamps) without a date library on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcParts {
    /// Year (proleptic Gregorian).
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Hour, 0–23.
    pub hour: u32,
    /// Minute, 0–59.
    pub minute: u32,
    /// Second, 0–59.
    pub second: u32,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

impl Timestamp {
    /// The UTC calendar parts of this instant.
    pub fn utc_parts(self) -> UtcParts {
        const NS: i64 = 1_000_000_000;
        let secs = self.0.div_euclid(NS);
        let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        // Every value below is in range by construction (rem_euclid).
        let small = |v: i64| u32::try_from(v).unwrap_or(0);
        UtcParts {
            year,
            month: small(month),
            day: small(day),
            hour: small(sod / 3600),
            minute: small(sod % 3600 / 60),
            second: small(sod % 60),
            nanos: small(self.0.rem_euclid(NS)),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`, the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_parts_agree_with_rfc3339_across_the_range() {
        // Every ~37 days and an odd number of seconds, 1677..2262.
        let mut t = i64::MIN / 2;
        while t < i64::MAX / 2 {
            let ts = Timestamp(t);
            let p = ts.utc_parts();
            let expected = ts.to_rfc3339();
            let got = format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", p.year, p.month, p.day, p.hour, p.minute, p.second);
            assert!(expected.starts_with(&got), "{t}: {got} vs {expected}");
            assert_eq!(days_from_civil(p.year, i64::from(p.month), i64::from(p.day)), t.div_euclid(1_000_000_000).div_euclid(86_400));
            t += 3_200_000_123_456_789;
        }
        assert_eq!(Timestamp(-1).utc_parts().nanos, 999_999_999);
    }

    #[test]
    fn parses_coinbase_times() {
        assert_eq!(Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap().0, 1_767_225_600_000_000_000);
        assert_eq!(Timestamp::parse_rfc3339("2026-01-01T00:00:00.123456Z").unwrap().0, 1_767_225_600_123_456_000);
        assert_eq!(Timestamp::parse_rfc3339("2026-01-01T01:00:00.5+01:00").unwrap().0, 1_767_225_600_500_000_000);
        assert_eq!(Timestamp::parse_rfc3339("2026-01-01T00:00:00.1234567891Z").unwrap().0, 1_767_225_600_123_456_789);
    }

    #[test]
    fn rejects_malformed_times() {
        for bad in [
            "",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00ZZ",
            "2026-01-01T00:00:00+0100",
            "20x6-01-01T00:00:00Z",
            "not a time at all!!!",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Timestamp::parse_rfc3339("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn user_times_are_rfc3339_or_unix_seconds() {
        assert_eq!(Timestamp::parse_user("1767225600").unwrap().0, 1_767_225_600_000_000_000);
        assert_eq!(Timestamp::parse_user("1767225600.25").unwrap().0, 1_767_225_600_250_000_000);
        assert_eq!(Timestamp::parse_user("2026-01-01T00:00:00Z").unwrap().0, 1_767_225_600_000_000_000);
        for bad in ["", "-", "1.", ".5", "1e9", "12345678901234", "1.1234567891", "abc", "0x10", "1767225600Z", "+5"] {
            assert!(Timestamp::parse_user(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(Timestamp::parse_user("999999999999"), Err(TimestampError::Overflow));
    }

    #[test]
    fn renders_rfc3339_with_z() {
        assert_eq!(Timestamp(1_767_225_600_000_000_000).to_rfc3339(), "2026-01-01T00:00:00Z");
        assert_eq!(Timestamp(1_767_225_600_123_456_000).to_rfc3339(), "2026-01-01T00:00:00.123456Z");
    }

    #[test]
    fn floors_to_epoch_aligned_windows() {
        let t = Timestamp::parse_rfc3339("2026-01-01T13:47:12.5Z").unwrap();
        assert_eq!(t.floor(60 * NANOS_PER_SEC).to_rfc3339(), "2026-01-01T13:47:00Z");
        assert_eq!(t.floor(86_400 * NANOS_PER_SEC).to_rfc3339(), "2026-01-01T00:00:00Z");
        assert_eq!(Timestamp(-1).floor(NANOS_PER_SEC), Timestamp(-NANOS_PER_SEC));
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_chrono(ns in Timestamp::PLAUSIBLE_MIN.0..Timestamp::PLAUSIBLE_MAX.0, digits in 0usize..=9) {
            let dt = chrono::DateTime::from_timestamp_nanos(ns);
            let fmt = match digits {
                0 => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                3 => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                6 => dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
                _ => dt.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
            };
            let expected = chrono::DateTime::parse_from_rfc3339(&fmt).unwrap().timestamp_nanos_opt().unwrap();
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&fmt).unwrap().0, expected);
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&Timestamp(ns).to_rfc3339()).unwrap().0, ns);
        }
    }
}
