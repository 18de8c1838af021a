//! A fast path for the one nested shape on every exchange's hot path: book
//! level arrays, `[["43521.16","0.5123"], ...]` (Coinbase snapshots,
//! Binance depth, KuCoin REST) or `[["buy","43521.16","0.5123"], ...]` and
//! `[["67993.3","1.21427407","14701689783"], ...]` (Coinbase and KuCoin
//! updates).
//!
//! Walking these through serde costs a visitor call per array and per
//! string, which was most of a book update's decode time. The frame parse
//! captures them as raw JSON (already checked to be valid JSON), and this
//! scanner reads the common form (arrays of `N` escape-free strings)
//! directly. Anything else, an escape, a number, a tuple of another length,
//! makes it decline, and the exchange's caller re-reads the same text with
//! serde ([`StrTuple`] is the shared piece of that), which handles every
//! case; each exchange's tests check both paths agree.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

use super::de::Str;
use crate::DecodeError;

/// Calls `f` with each `N`-string tuple of `text`, a JSON array of arrays
/// of exactly `N` strings without escapes. Returns `None` as soon as `text`
/// is not of that form; `f` may then have seen some tuples, so callers must
/// discard what they built.
#[inline]
pub(crate) fn for_each_tuple<'a, const N: usize>(text: &'a str, mut f: impl FnMut(&[&'a str; N])) -> Option<()> {
    let mut sc = Scanner { bytes: text.as_bytes(), text, pos: 0 };
    if !sc.eat(b'[') {
        return None;
    }
    if !sc.eat(b']') {
        loop {
            if !sc.eat(b'[') {
                return None;
            }
            let mut items = [""; N];
            for (k, slot) in items.iter_mut().enumerate() {
                if k > 0 && !sc.eat(b',') {
                    return None;
                }
                *slot = sc.string()?;
            }
            if !sc.eat(b']') {
                return None;
            }
            f(&items);
            if sc.eat(b',') {
                continue;
            }
            if sc.eat(b']') {
                break;
            }
            return None;
        }
    }
    sc.skip_ws();
    (sc.pos == text.len()).then_some(())
}

/// What [`convert_tuples`] made of a level array.
#[derive(Debug)]
pub(crate) enum Scanned {
    /// The plain form, and every tuple converted.
    Done,
    /// The plain form, and this was the first conversion error (the rest of
    /// the array was still scanned, so it is known to hold no shape error,
    /// which would have won).
    Failed(DecodeError),
    /// Not the plain form: the caller must re-read the text with serde,
    /// discarding or keeping what was converted as its error rules say.
    NotPlain {
        /// The first conversion error among the tuples scanned before the
        /// scanner declined.
        error: Option<DecodeError>,
        /// How many tuples converted successfully before that (they are a
        /// prefix of what serde reads: escape-free strings read alike).
        seen: usize,
    },
}

/// Runs `convert` on each tuple the fast scanner reads from `text`, in
/// order, until one fails; later tuples are still scanned (not converted),
/// so that a shape error further on is noticed. The bookkeeping every
/// exchange's level reader used to repeat around [`for_each_tuple`].
#[inline]
pub(crate) fn convert_tuples<'a, const N: usize>(
    text: &'a str,
    mut convert: impl FnMut(&[&'a str; N]) -> Result<(), DecodeError>,
) -> Scanned {
    let mut error = None;
    let mut seen = 0usize;
    let scanned = for_each_tuple::<N>(text, |tuple| {
        if error.is_none() {
            match convert(tuple) {
                Ok(()) => seen += 1,
                Err(e) => error = Some(e),
            }
        }
    });
    match (scanned, error) {
        (Some(()), None) => Scanned::Done,
        (Some(()), Some(e)) => Scanned::Failed(e),
        (None, error) => Scanned::NotPlain { error, seen },
    }
}

/// A cursor over JSON text.
struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Consumes `c` (after whitespace) if it is next.
    #[inline]
    fn eat(&mut self, c: u8) -> bool {
        // The compact form has no whitespace: test the byte first.
        match self.bytes.get(self.pos) {
            Some(&b) if b == c => {
                self.pos += 1;
                true
            }
            Some(b' ' | b'\t' | b'\n' | b'\r') => {
                self.skip_ws();
                if self.bytes.get(self.pos) == Some(&c) {
                    self.pos += 1;
                    true
                } else {
                    false
                }
            }
            _ => false,
        }
    }

    /// Consumes a string without escapes or control characters and returns
    /// its contents.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let (body, end) = string_body_at(self.text, self.pos)?;
        self.pos = end;
        Some(body)
    }
}

/// The contents of a JSON string in `text` whose opening quote ends just
/// before `start`, and the position after its closing quote: plain
/// characters only (no escape or control character), else `None`.
#[inline]
pub(crate) fn string_body_at(text: &str, start: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    let len = find_string_special(bytes.get(start..)?)?;
    if bytes.get(start + len) != Some(&b'"') {
        return None;
    }
    // Both ends sit next to an ASCII quote, so they are char boundaries.
    Some((text.get(start..start + len)?, start + len + 1))
}

/// Index of the first byte of `bytes` that ends or complicates a JSON
/// string: `"`, `\\` or a control character (below 0x20, which JSON
/// forbids raw inside strings). Eight bytes at a time (the byte-by-byte
/// loop was the scanner's main cost).
///
/// The control-character test costs nothing measurable and makes the
/// function safe on text serde_json has not validated (Binance's frame fast
/// path); on validated text it finds exactly what a quote-or-backslash
/// search would.
///
/// Deliberately not `#[inline]`: inlined into Binance's frame scanner,
/// which calls it for every key and value, it made those frames ~15%
/// slower (code size on the hot loop); one call per string is cheaper.
pub(crate) fn find_string_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        // A zero byte in `v ^ (c * ONES)` marks a byte equal to `c`, and
        // `v - 0x20 * ONES` borrows into the high bit of a byte below 0x20;
        // `& !v` discards bytes that had their high bit set already (UTF-8).
        // Borrows only run past the first real hit, so that one is exact.
        let q = v ^ (u64::from(b'"') * ONES);
        let bs = v ^ (u64::from(b'\\') * ONES);
        let ctl = v.wrapping_sub(0x20 * ONES) & !v;
        let hits = (q.wrapping_sub(ONES) & !q | bs.wrapping_sub(ONES) & !bs | ctl) & HIGH;
        if hits != 0 {
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|i| offset + i)
}

/// A JSON array of exactly `N` strings: one level, for the serde fallbacks.
/// A wrong length is a serde error ("invalid length 3, expected an array of
/// 2 strings"), i.e. a shape error.
pub(crate) struct StrTuple<'a, const N: usize>(pub(crate) [Str<'a>; N]);

impl<'de, const N: usize> serde::Deserialize<'de> for StrTuple<'de, N> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(StrTupleVisitor::<N>)
    }
}

/// Visits a [`StrTuple`].
struct StrTupleVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for StrTupleVisitor<N> {
    type Value = StrTuple<'de, N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {N} strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items: [Str<'de>; N] = std::array::from_fn(|_| Str(std::borrow::Cow::Borrowed("")));
        for (i, slot) in items.iter_mut().enumerate() {
            *slot = seq.next_element()?.ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(serde::de::Error::invalid_length(N + 1, &self));
        }
        Ok(StrTuple(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use find_string_special as find_quote_or_backslash;

    fn collect(text: &str) -> Option<Vec<(String, String)>> {
        let mut v = Vec::new();
        for_each_tuple::<2>(text, |&[p, s]| v.push((p.to_owned(), s.to_owned())))?;
        Some(v)
    }

    #[test]
    fn reads_the_common_form() {
        let v = collect(r#" [ ["1.5" ,"0"] ,["2",""]] "#).unwrap();
        assert_eq!(v, [("1.5".to_owned(), "0".to_owned()), ("2".to_owned(), String::new())]);
        assert_eq!(collect("[]").unwrap().len(), 0);
        assert_eq!(collect(" [ \n ] ").unwrap().len(), 0);
        assert_eq!(collect(r#"[["é✓","x"]]"#).unwrap()[0].0, "é✓");
    }

    #[test]
    fn finds_the_first_quote_or_backslash_anywhere() {
        for len in 0..40 {
            for at in 0..=len {
                for c in [b'"', b'\\'] {
                    let mut v = vec![b'a'; len];
                    let expected = if at < len {
                        v[at] = c;
                        Some(at)
                    } else {
                        None
                    };
                    for (i, b) in v.iter_mut().enumerate() {
                        if i != at {
                            *b = [b'#', b'!', b']', 0xc3, b'a'][i % 5];
                        }
                    }
                    assert_eq!(find_quote_or_backslash(&v), expected, "len {len} at {at} {c}");
                }
            }
        }
    }

    #[test]
    fn finds_the_first_string_special_byte_anywhere() {
        for len in 0..40 {
            for at in 0..=len {
                for c in [b'"', b'\\', 0x00, 0x0a, 0x1f] {
                    let mut v = vec![b'a'; len];
                    let expected = if at < len {
                        v[at] = c;
                        Some(at)
                    } else {
                        None
                    };
                    // Neighbours of the specials (0x20, 0x21, 0x5b...) and
                    // bytes of 0x80 and above must not be mistaken for one.
                    for (i, b) in v.iter_mut().enumerate() {
                        if i != at {
                            *b = [b' ', b'!', b'#', b']', 0x7f, 0x80, 0x9f, 0xc3, 0xff, b'a'][i % 10];
                        }
                    }
                    assert_eq!(find_string_special(&v), expected, "len {len} at {at} {c}");
                }
            }
        }
    }

    #[test]
    fn declines_everything_else() {
        for text in [
            "",
            "{}",
            "[",
            "[[]]",
            r#"[["a"]]"#,
            r#"[["a","b","c"]]"#,
            r#"[["a",1]]"#,
            r#"[["a","b\"c"]]"#,
            r#"[["a","b\u0041"]]"#,
            r#"[["a","b"],]"#,
            r#"[["a","b"]] x"#,
            r#"[["a","b"]["c","d"]]"#,
            r#"[["a","b"],null]"#,
            r#"[["a","b"#,
        ] {
            assert!(collect(text).is_none(), "{text:?}");
        }
    }
}
