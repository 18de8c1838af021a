//! Exact decimal numbers, parsed strictly from exchange strings.
//!
//! Exchanges send prices and sizes as decimal strings ("60123.45",
//! "0.00120000"). They go straight into [`Decimal`] (96-bit mantissa, scale up
//! to 28) without passing through binary floating point, and keep the scale the
//! exchange used, so they render back exactly as received.

use std::str::FromStr;

pub use rust_decimal::Decimal;

/// A price in quote currency per unit of base currency.
pub type Price = Decimal;
/// A size (quantity) in base currency.
pub type Qty = Decimal;

/// Why a decimal string was rejected. The variants double as metric labels
/// through [`NumberError::reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// The string was empty.
    #[error("empty number")]
    Empty,
    /// Not a plain decimal: letters, exponents, `NaN`, `inf`, several dots...
    #[error("not a plain decimal number")]
    NotNumeric,
    /// More digits than the 28 a [`Decimal`] holds exactly.
    #[error("too many digits for an exact decimal")]
    TooPrecise,
    /// A negative value where only non-negative ones make sense (sizes).
    #[error("negative value")]
    Negative,
    /// Zero or negative where a strictly positive value is required (prices).
    #[error("value must be positive")]
    NotPositive,
    /// Outside the range any real market could produce.
    #[error("value out of plausible range")]
    Absurd,
}

impl NumberError {
    /// A short stable label for counters and logs.
    pub fn reason(self) -> &'static str {
        match self {
            NumberError::Empty | NumberError::NotNumeric | NumberError::TooPrecise => "bad_number",
            NumberError::Negative => "negative_size",
            // Prices must be positive, and so must a trade's size.
            NumberError::NotPositive => "not_positive",
            NumberError::Absurd => "absurd_value",
        }
    }
}

/// Largest magnitude accepted for a price or size: 10^15. Nothing traded on
/// a spot market comes near it; a value beyond it is corruption, not data.
/// (Checked as a power of ten by [`exceeds_plausible`].)
const MAX_PLAUSIBLE_EXP: usize = 15;

/// 10^[`MAX_PLAUSIBLE_EXP`] as a decimal, for the tests.
#[cfg(test)]
const MAX_PLAUSIBLE: Decimal = Decimal::from_parts(2_764_472_320, 232_830, 0, false, 0);

/// Parses a plain decimal string (`-?digits[.digits]`) exactly.
///
/// Unlike `Decimal::from_str` this refuses exponents, `NaN`/`inf`, leading
/// `+`, whitespace and anything that would be rounded to fit.
pub fn parse_decimal(s: &str) -> Result<Decimal, NumberError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(NumberError::Empty);
    }
    let digits = if bytes[0] == b'-' { &bytes[1..] } else { bytes };
    if digits.len() <= SHORT_MAX_LEN {
        return parse_short(digits, bytes[0] == b'-');
    }
    let mut seen_digit = false;
    let mut seen_dot = false;
    let mut significant = 0usize;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                seen_digit = true;
                if significant > 0 || b != b'0' {
                    significant += 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            _ => return Err(NumberError::NotNumeric),
        }
    }
    if !seen_digit || digits.first() == Some(&b'.') || digits.last() == Some(&b'.') {
        return Err(NumberError::NotNumeric);
    }
    // Decimal holds 28 significant digits exactly (29 for small leading
    // values, which we do not need); from_str would silently round beyond.
    if significant > 28 || digits.len() > 40 {
        return Err(NumberError::TooPrecise);
    }
    Decimal::from_str(s).map_err(|_| NumberError::TooPrecise)
}

/// The ASCII digits at the start of `bytes`: how many there are, and their
/// value if it fits a `u64` (JSON integers in frames and capture lines).
///
/// Nineteen digits always fit, so the loop does no overflow checks and only
/// a longer run is read again with them: checking every digit cost 3% of a
/// replay's decoding thread, where every frame carries several 9- to
/// 19-digit ids and times.
#[inline]
pub fn leading_u64(bytes: &[u8]) -> (usize, Option<u64>) {
    let mut n: u64 = 0;
    let mut len = 0;
    while let Some(d @ b'0'..=b'9') = bytes.get(len) {
        n = n.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        len += 1;
    }
    if len > 19 {
        let checked = bytes[..len].iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')));
        return (len, checked);
    }
    (len, Some(n))
}

/// Longest digit string (dot included) that [`parse_short`] takes: 19 digits
/// always fit a `u64` mantissa. Nearly every exchange price and size is this
/// short.
const SHORT_MAX_LEN: usize = 19;

/// The hot path of [`parse_decimal`] for at most [`SHORT_MAX_LEN`] bytes:
/// validates and accumulates the mantissa in one pass, instead of validating
/// and then re-parsing with `Decimal::from_str` (decoders call this several
/// times per frame, so it is a large share of decode time). Gives exactly
/// what the general path gives for the same input; the tests check that.
fn parse_short(digits: &[u8], negative: bool) -> Result<Decimal, NumberError> {
    let (mantissa, scale) = short_parts(digits).ok_or(NumberError::NotNumeric)?;
    Ok(short_decimal(mantissa, scale, negative))
}

/// The mantissa and scale of an unsigned plain decimal of at most
/// [`SHORT_MAX_LEN`] bytes (`digits[.digits]`), or `None` if it is not one.
/// The integer part and the fraction are two tight loops: no per-byte
/// test for the dot, no index bookkeeping.
#[inline]
fn short_parts(digits: &[u8]) -> Option<(u64, u32)> {
    debug_assert!(digits.len() <= SHORT_MAX_LEN);
    let mut mantissa = 0u64;
    let mut i = 0;
    while let Some(&b) = digits.get(i) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        mantissa = mantissa * 10 + u64::from(d);
        i += 1;
    }
    if i == digits.len() {
        return (i > 0).then_some((mantissa, 0));
    }
    // A dot between digits, then digits only.
    if i == 0 || digits[i] != b'.' || i + 1 == digits.len() {
        return None;
    }
    for &b in &digits[i + 1..] {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        mantissa = mantissa * 10 + u64::from(d);
    }
    Some((mantissa, (digits.len() - i - 1) as u32))
}

/// The decimal of a short string's parts: the mantissa, below `10^19`,
/// fills the low 64 of the decimal's 96 mantissa bits.
#[inline]
fn short_decimal(mantissa: u64, scale: u32, negative: bool) -> Decimal {
    Decimal::from_parts(mantissa as u32, (mantissa >> 32) as u32, 0, negative, scale)
}

/// [`exceeds_plausible`] for a short decimal's parts: `mantissa` below
/// `10^19` against `10^(MAX_PLAUSIBLE_EXP + scale)`, in `u64`.
#[inline]
fn short_exceeds_plausible(mantissa: u64, scale: u32) -> bool {
    match POW10.get(MAX_PLAUSIBLE_EXP + scale as usize) {
        Some(&limit) => u128::from(mantissa) > limit,
        None => false,
    }
}

/// `10^i` for `i` in `0..=38`, the powers a `u128` holds.
const POW10: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// Whether `|d| > 10^MAX_PLAUSIBLE_EXP`, by integer comparison of the
/// mantissa with `10^(MAX_PLAUSIBLE_EXP + scale)` (a `Decimal` comparison
/// rescales and is several times slower). Past `10^38` the bound exceeds any
/// 96-bit mantissa.
fn exceeds_plausible(d: Decimal) -> bool {
    match POW10.get(MAX_PLAUSIBLE_EXP + d.scale() as usize) {
        Some(&limit) => d.mantissa().unsigned_abs() > limit,
        None => false,
    }
}

/// Appends `d` exactly as its `Display` writes it: every digit of its
/// scale, a `0` before a leading dot, `-` for a negative sign (negative
/// zero included).
///
/// The store writes every decimal of every changed candle, stat and
/// ticker as text; through `fmt` that was a tenth of the replay's engine
/// thread. The 96-bit mantissa is written as two `u64` halves (below and
/// above `10^19`), so no digit needs a 128-bit division.
pub fn push_decimal(out: &mut String, d: Decimal) {
    const HALF: u128 = 10_000_000_000_000_000_000;
    let mantissa = d.mantissa().unsigned_abs();
    // Below 2^96, so the upper half is below 10^10. Most mantissas fit a
    // u64, where the split needs no 128-bit division.
    let (upper, lower) = match u64::try_from(mantissa) {
        Ok(m) => (m / HALF as u64, m % HALF as u64),
        Err(_) => ((mantissa / HALF) as u64, (mantissa % HALF) as u64),
    };
    let scale = d.scale() as usize;
    // 29 digits of a 96-bit mantissa at most, behind leading zeros enough
    // for any scale (at most 28) and a `0` before the dot.
    let mut digits = [b'0'; 30];
    let end = digits.len();
    // Writes `n`'s digits to end at `at`; where they start.
    let mut put = |mut n: u64, mut at: usize| {
        while n > 0 {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        at
    };
    let mut start = put(lower, end);
    if upper > 0 {
        // The lower half's leading zeros are digits now.
        start = put(upper, end - 19);
    }
    // At least the scale's digits and one before the dot.
    let start = start.min(end - scale - 1);
    let text = std::str::from_utf8(&digits[start..]).expect("ASCII digits");
    let (whole, fraction) = text.split_at(text.len() - scale);
    if d.is_sign_negative() {
        out.push('-');
    }
    out.push_str(whole);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
}

/// Parses a price: strictly positive and plausible.
pub fn parse_price(s: &str) -> Result<Price, NumberError> {
    // The usual case, an unsigned short string, checked on its parts (the
    // same checks, in the same order, as below on the decimal).
    if s.len() <= SHORT_MAX_LEN && s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let (mantissa, scale) = short_parts(s.as_bytes()).ok_or(NumberError::NotNumeric)?;
        if mantissa == 0 {
            return Err(NumberError::NotPositive);
        }
        if short_exceeds_plausible(mantissa, scale) {
            return Err(NumberError::Absurd);
        }
        return Ok(short_decimal(mantissa, scale, false));
    }
    let d = parse_decimal(s)?;
    if d.is_sign_negative() || d.is_zero() {
        return Err(NumberError::NotPositive);
    }
    if exceeds_plausible(d) {
        return Err(NumberError::Absurd);
    }
    Ok(d)
}

/// Parses a size: non-negative (zero deletes a book level) and plausible.
pub fn parse_size(s: &str) -> Result<Qty, NumberError> {
    // As in `parse_price`: the usual case on its parts.
    if s.len() <= SHORT_MAX_LEN && s.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        let (mantissa, scale) = short_parts(s.as_bytes()).ok_or(NumberError::NotNumeric)?;
        if short_exceeds_plausible(mantissa, scale) {
            return Err(NumberError::Absurd);
        }
        return Ok(short_decimal(mantissa, scale, false));
    }
    let d = parse_decimal(s)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(NumberError::Negative);
    }
    if exceeds_plausible(d) {
        return Err(NumberError::Absurd);
    }
    Ok(d.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_digits_up_to_u64_max_and_no_further() {
        assert_eq!(leading_u64(b"18446744073709551615,"), (20, Some(u64::MAX)));
        assert_eq!(leading_u64(b"18446744073709551616"), (20, None));
        assert_eq!(leading_u64(b"99999999999999999999"), (20, None));
        assert_eq!(leading_u64(b"9999999999999999999}"), (19, Some(9_999_999_999_999_999_999)));
        assert_eq!(leading_u64(b"0012.5"), (4, Some(12)));
        assert_eq!(leading_u64(b"-1"), (0, Some(0)));
        assert_eq!(leading_u64(b""), (0, Some(0)));
    }

    /// The byte-at-a-time reading `leading_u64` replaced.
    fn reference_leading_u64(bytes: &[u8]) -> (usize, Option<u64>) {
        let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
        (len, bytes[..len].iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0'))))
    }

    #[test]
    fn leading_digits_of_every_length_before_every_kind_of_byte() {
        // Every run length from 0 to 24 (either side of the 19 digits read
        // without overflow checks), followed by every possible byte, then
        // more digits that must not be read, cut at every length.
        for len in 0..=24 {
            for stop in 0..=255u8 {
                let mut text: Vec<u8> = (0..len).map(|i| b"9876543210"[i % 10]).collect();
                text.push(stop);
                text.extend_from_slice(b"12345678");
                for cut in 0..=text.len() {
                    let bytes = &text[..cut];
                    assert_eq!(leading_u64(bytes), reference_leading_u64(bytes), "{:?}", String::from_utf8_lossy(bytes));
                }
            }
        }
    }

    #[test]
    fn max_plausible_is_ten_to_the_fifteenth() {
        assert_eq!(MAX_PLAUSIBLE, Decimal::from(1_000_000_000_000_000u64));
    }

    #[test]
    fn keeps_the_exchange_scale() {
        assert_eq!(parse_decimal("0.00120000").unwrap().to_string(), "0.00120000");
        assert_eq!(parse_decimal("60123.45").unwrap().to_string(), "60123.45");
        assert_eq!(parse_decimal("-1.5").unwrap().to_string(), "-1.5");
    }

    #[test]
    fn rejects_what_is_not_a_plain_decimal() {
        for bad in ["", "-", ".", "1.", ".5", "1e5", "NaN", "inf", "-inf", "+1", " 1", "1 ", "1.2.3", "0x10", "1,5"] {
            assert!(parse_decimal(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_decimal("1234567890123456789012345678.9"), Err(NumberError::TooPrecise));
    }

    #[test]
    fn prices_and_sizes_have_their_own_bounds() {
        assert_eq!(parse_price("0"), Err(NumberError::NotPositive));
        assert_eq!(parse_price("-3"), Err(NumberError::NotPositive));
        assert_eq!(parse_price("1000000000000001"), Err(NumberError::Absurd));
        assert!(parse_price("0.00000001").is_ok());
        assert_eq!(parse_size("-0.1"), Err(NumberError::Negative));
        assert_eq!(parse_size("0").unwrap(), Decimal::ZERO);
        assert_eq!(parse_size("-0").unwrap(), Decimal::ZERO);
        assert!(parse_size("0.00000000").unwrap().is_zero());
    }

    /// The general path alone: what `parse_decimal` did before the short
    /// fast path, kept as the reference the fast path must agree with.
    fn reference_parse(s: &str) -> Result<Decimal, NumberError> {
        let bytes = s.as_bytes();
        if bytes.is_empty() {
            return Err(NumberError::Empty);
        }
        let digits = if bytes[0] == b'-' { &bytes[1..] } else { bytes };
        let (mut seen_digit, mut seen_dot, mut significant) = (false, false, 0usize);
        for &b in digits {
            match b {
                b'0'..=b'9' => {
                    seen_digit = true;
                    if significant > 0 || b != b'0' {
                        significant += 1;
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                _ => return Err(NumberError::NotNumeric),
            }
        }
        if !seen_digit || digits.first() == Some(&b'.') || digits.last() == Some(&b'.') {
            return Err(NumberError::NotNumeric);
        }
        if significant > 28 || digits.len() > 40 {
            return Err(NumberError::TooPrecise);
        }
        Decimal::from_str(s).map_err(|_| NumberError::TooPrecise)
    }

    /// Same result, and the same 128-bit representation (so the same scale
    /// and sign) when both succeed.
    fn same(a: Result<Decimal, NumberError>, b: Result<Decimal, NumberError>) -> bool {
        match (a, b) {
            (Ok(x), Ok(y)) => x.serialize() == y.serialize(),
            (x, y) => x == y,
        }
    }

    #[test]
    fn fast_path_agrees_with_the_general_path_on_edge_cases() {
        let cases = "0 -0 -0.000 0.00120000 9999999999999999999 999999999999999999.9 1000000000000000 1000000000000000.0000 \
                     1000000000000000.0001 - . -. 1. .1 1..2 1.2. +1 1e5 \u{661} 0x1 18446744073709551615 00000000000000000001";
        for s in cases.split_whitespace() {
            assert!(same(parse_decimal(s), reference_parse(s)), "{s:?}: {:?} vs {:?}", parse_decimal(s), reference_parse(s));
        }
        assert_eq!(parse_price("1000000000000000.0000").unwrap().to_string(), "1000000000000000.0000");
        assert_eq!(parse_price("1000000000000000.0001"), Err(NumberError::Absurd));
        assert_eq!(parse_size("-0.000").unwrap().to_string(), "0.000");
    }

    /// `parse_price` and `parse_size` as they were before their short
    /// path: the general parse, then the checks on the decimal.
    fn reference_price(s: &str) -> Result<Decimal, NumberError> {
        let d = reference_parse(s)?;
        if d.is_sign_negative() || d.is_zero() {
            return Err(NumberError::NotPositive);
        }
        if d.abs() > MAX_PLAUSIBLE {
            return Err(NumberError::Absurd);
        }
        Ok(d)
    }

    fn reference_size(s: &str) -> Result<Decimal, NumberError> {
        let d = reference_parse(s)?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(NumberError::Negative);
        }
        if d.abs() > MAX_PLAUSIBLE {
            return Err(NumberError::Absurd);
        }
        Ok(d.abs())
    }

    #[test]
    fn prices_and_sizes_agree_with_the_general_path_on_edge_cases() {
        let cases = "0 00 0.0 -0 1 01 1.0 0.00000001 1000000000000000 1000000000000000.0 1000000000000000.1 1000000000000001 \
                     9999999999999999999 999999999999999999.9 0.000000000000000001 1. .1 1..2 -1 +1 1e5 x 12345678901234567890";
        for s in cases.split_whitespace() {
            assert!(same(parse_price(s), reference_price(s)), "price {s:?}: {:?} vs {:?}", parse_price(s), reference_price(s));
            assert!(same(parse_size(s), reference_size(s)), "size {s:?}: {:?} vs {:?}", parse_size(s), reference_size(s));
        }
    }

    proptest::proptest! {
        #[test]
        fn push_decimal_writes_what_display_writes(lo: u32, mid: u32, hi in proptest::prop_oneof![proptest::strategy::Just(0u32), proptest::num::u32::ANY], negative: bool, scale in 0u32..=28) {
            let d = Decimal::from_parts(lo, mid, hi, negative, scale);
            let mut out = String::from("x");
            push_decimal(&mut out, d);
            proptest::prop_assert_eq!(&out[1..], d.to_string());
        }
    }

    #[test]
    fn push_decimal_edge_cases() {
        let ten_to_19 = 10_000_000_000_000_000_000i128;
        let mantissas = [0, 1, 5, 12345, i128::from(u64::MAX), ten_to_19 - 1, ten_to_19, ten_to_19 + 1, 10i128.pow(28), (1i128 << 96) - 1];
        for mantissa in mantissas {
            for scale in [0, 1, 3, 18, 19, 20, 28] {
                for negative in [false, true] {
                    let d = Decimal::from_i128_with_scale(if negative { -mantissa } else { mantissa }, scale);
                    let d = if negative && mantissa == 0 { -d } else { d };
                    let mut out = String::new();
                    push_decimal(&mut out, d);
                    assert_eq!(out, d.to_string(), "{mantissa} {scale} {negative}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn leading_u64_agrees_with_a_byte_loop(bytes in proptest::collection::vec(proptest::prop_oneof![b'0'..=b'9', proptest::num::u8::ANY], 0..40)) {
            proptest::prop_assert_eq!(leading_u64(&bytes), reference_leading_u64(&bytes));
        }
    }

    proptest::proptest! {
        #[test]
        fn prices_and_sizes_agree_with_the_general_path(s in "-?[0-9.]{0,24}|[-0-9.a+e ]{0,21}|[0-9]{1,17}\\.[0-9]{1,3}") {
            proptest::prop_assert!(same(parse_price(&s), reference_price(&s)), "price {:?}", s);
            proptest::prop_assert!(same(parse_size(&s), reference_size(&s)), "size {:?}", s);
        }

        #[test]
        fn fast_path_agrees_with_the_general_path(s in "-?[0-9.]{0,24}|[-0-9.a+e ]{0,21}") {
            proptest::prop_assert!(same(parse_decimal(&s), reference_parse(&s)), "{:?}", s);
        }

        #[test]
        fn plausibility_check_agrees_with_decimal_comparison(s in "-?[0-9]{1,20}(\\.[0-9]{1,12})?") {
            if let Ok(d) = parse_decimal(&s) {
                proptest::prop_assert_eq!(exceeds_plausible(d), d.abs() > MAX_PLAUSIBLE, "{:?}", s);
            }
        }

        #[test]
        fn round_trips_any_plain_decimal(int in 0u64..1_000_000_000_000, frac in 0u32..100_000_000, scale in 0usize..=8) {
            let s = if scale == 0 { int.to_string() } else { format!("{int}.{:0width$}", frac % 10u32.pow(scale as u32), width = scale) };
            proptest::prop_assert_eq!(parse_decimal(&s).unwrap().to_string(), s);
        }
    }
}
