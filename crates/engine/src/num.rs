//! Fast paths for exact decimal arithmetic on the hot paths.
//!
//! `Decimal`'s own operators handle any pair of scales and cost an
//! out-of-line call of a general routine each; they dominated the book and
//! candle profiles. Prices and sizes of one product nearly always share one
//! scale (the exchange's tick and lot), and then plain integer arithmetic on
//! the mantissas gives the very same result. Every fast path here returns
//! exactly what `Decimal` would (same value and scale) and falls back to it
//! whenever the fast path does not apply.

use std::cmp::Ordering;

use marketpipe_model::Decimal;

/// `a.cmp(b)`, with a fast path for equal scales.
#[inline]
pub(crate) fn cmp_dec(a: &Decimal, b: &Decimal) -> Ordering {
    if a.scale() == b.scale() {
        a.mantissa().cmp(&b.mantissa())
    } else {
        a.cmp(b)
    }
}

/// `a == b` by value (`1.0 == 1.00`), with a fast path for equal scales.
#[inline]
pub(crate) fn eq_dec(a: &Decimal, b: &Decimal) -> bool {
    cmp_dec(a, b) == Ordering::Equal
}

/// `d > 0` from the sign and mantissa bits alone.
#[inline]
pub(crate) fn is_positive(d: &Decimal) -> bool {
    d.is_sign_positive() && !d.is_zero()
}

/// Mantissas of a `Decimal` are below 2^96.
const MANTISSA_LIMIT: u128 = 1 << 96;

/// `10^n` for the scale differences a `Decimal` can have (0..=28).
const POW10: [i128; 29] = {
    let mut table = [1i128; 29];
    let mut i = 1;
    while i < 29 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// `10^n` for `n` in 0..=28.
#[inline]
pub(crate) fn pow10(n: u32) -> Option<i128> {
    POW10.get(n as usize).copied()
}

/// `m × 10^n`, if it stays a valid mantissa.
#[inline]
fn upscale(m: i128, n: u32) -> Option<i128> {
    let m = m.checked_mul(pow10(n)?)?;
    (m.unsigned_abs() < MANTISSA_LIMIT).then_some(m)
}

/// `a × b` exactly as `Decimal::checked_mul` computes it.
#[inline]
pub(crate) fn mul_dec(a: &Decimal, b: &Decimal) -> Option<Decimal> {
    let scale = a.scale() + b.scale();
    if scale <= Decimal::MAX_SCALE {
        if let Some(m) = a.mantissa().checked_mul(b.mantissa()) {
            if m.unsigned_abs() < MANTISSA_LIMIT {
                return Decimal::try_from_i128_with_scale(m, scale).ok();
            }
        }
    }
    a.checked_mul(*b)
}

/// A running decimal sum with a cheap add: the value is `mantissa ×
/// 10^-scale`, always a valid `Decimal` (|mantissa| < 2^96, scale ≤ 28), and
/// every addition gives exactly what `Decimal::checked_add` would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ExactSum {
    mantissa: i128,
    scale: u32,
}

impl ExactSum {
    /// The sum holding `d`.
    #[inline]
    pub(crate) fn of(d: &Decimal) -> Self {
        ExactSum { mantissa: d.mantissa(), scale: d.scale() }
    }

    /// `self + other`, or `None` beyond the `Decimal` range.
    #[inline]
    pub(crate) fn plus(self, other: ExactSum) -> Option<ExactSum> {
        // The common case: one scale, no carry beyond 96 bits. Zero
        // operands need no care here: at equal scales Decimal's result is
        // the plain sum too.
        if self.scale == other.scale {
            if let Some(sum) = self.mantissa.checked_add(other.mantissa) {
                if sum.unsigned_abs() < MANTISSA_LIMIT {
                    return Some(ExactSum { mantissa: sum, scale: self.scale });
                }
            }
        }
        self.plus_slow(other)
    }

    #[inline(never)]
    fn plus_slow(self, other: ExactSum) -> Option<ExactSum> {
        // Decimal returns the other operand untouched (scale included) when
        // one side is zero.
        if other.mantissa == 0 {
            return Some(self);
        }
        if self.mantissa == 0 {
            return Some(other);
        }
        // Align to the larger scale as Decimal does; while the result fits
        // 96 bits that is exact, and then it is Decimal's result too.
        let (a, b) = if self.scale < other.scale { (other, self) } else { (self, other) };
        let fast = upscale(b.mantissa, a.scale - b.scale).and_then(|m| a.mantissa.checked_add(m));
        match fast {
            Some(sum) if sum.unsigned_abs() < MANTISSA_LIMIT => Some(ExactSum { mantissa: sum, scale: a.scale }),
            _ => self.to_decimal().checked_add(other.to_decimal()).map(|s| ExactSum::of(&s)),
        }
    }

    /// Whether the invariant holds (a restored checkpoint is checked with this).
    pub(crate) fn is_valid(self) -> bool {
        self.mantissa.unsigned_abs() < MANTISSA_LIMIT && self.scale <= Decimal::MAX_SCALE
    }

    /// The sum as a `Decimal`.
    #[inline]
    pub(crate) fn to_decimal(self) -> Decimal {
        // The invariant (|mantissa| < 2^96, scale ≤ 28) makes this infallible.
        Decimal::try_from_i128_with_scale(self.mantissa, self.scale).unwrap_or(Decimal::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn agrees_with_decimal_ord() {
        let values = ["-2.50", "-2.5", "-0.01", "0", "-0", "0.00", "0.001", "0.01", "1", "1.0", "1.00", "1.01", "99999.99", "100000"];
        for a in values {
            for b in values {
                assert_eq!(cmp_dec(&d(a), &d(b)), d(a).cmp(&d(b)), "{a} vs {b}");
                assert_eq!(eq_dec(&d(a), &d(b)), d(a) == d(b), "{a} == {b}");
            }
            assert_eq!(is_positive(&d(a)), d(a) > Decimal::ZERO, "{a} > 0");
        }
    }

    /// Same value *and* same scale as Decimal's own arithmetic.
    fn same(a: Option<Decimal>, b: Option<Decimal>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => a == b && a.scale() == b.scale(),
            (None, None) => true,
            _ => false,
        }
    }

    #[test]
    fn fast_arithmetic_matches_decimal_exactly() {
        let values = [
            "0.00120000",
            "60123.45",
            "1",
            "0.5",
            "123456789012.123456789",
            "0.0000000000000000000000000001",
            "79228162514264337593543950335",
            "7922816251426433759354395033.5",
            "-3.25",
            "1000000000000000",
            "0.35210000",
            "4265.00000000",
        ];
        for a in values {
            for b in values {
                let (x, y) = (d(a), d(b));
                assert!(same(mul_dec(&x, &y), x.checked_mul(y)), "{a} * {b}");
                let sum = ExactSum::of(&x).plus(ExactSum::of(&y)).map(ExactSum::to_decimal);
                assert!(same(sum, x.checked_add(y)), "{a} + {b}: {sum:?} vs {:?}", x.checked_add(y));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn running_sums_match_decimal(parts in proptest::collection::vec((0i64..10_000_000_000, 0u32..12), 1..40)) {
            let mut fast = ExactSum::of(&Decimal::ZERO);
            let mut slow = Decimal::ZERO;
            for (m, scale) in parts {
                let x = Decimal::new(m, scale);
                fast = fast.plus(ExactSum::of(&x)).unwrap();
                slow = slow.checked_add(x).unwrap();
                proptest::prop_assert!(same(Some(fast.to_decimal()), Some(slow)));
            }
        }
    }
}
