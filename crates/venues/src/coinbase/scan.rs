//! A fast path for the one nested shape on the hot path: book level arrays,
//! `[["buy","43521.16","0.5123"], ...]` (or `[[price, size], ...]`).
//!
//! Walking these through serde costs a visitor call per array and per
//! string, which was most of an `l2update`'s decode time. The frame parse
//! captures them as a `&RawValue` (already checked to be valid JSON), and
//! this scanner reads the common form (arrays of `N` escape-free strings)
//! directly. Anything else, an escape, a number, a short tuple, returns
//! `None` and the caller re-parses the same text with the serde visitors in
//! [`super::book`], which handle every case; the tests check both paths
//! agree.

/// Calls `f` with each `N`-string tuple of `text`, a JSON array of arrays
/// of exactly `N` strings without escapes. Returns `None` as soon as `text`
/// is not of that form; `f` may then have seen some tuples, so callers must
/// discard what they built.
pub(crate) fn for_each_tuple<'a, const N: usize>(text: &'a str, mut f: impl FnMut(&[&'a str; N])) -> Option<()> {
    let mut sc = Scanner { text, pos: 0 };
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

/// A cursor over JSON text.
struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.as_bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    /// Consumes `c` (after whitespace) if it is next.
    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.text.as_bytes().get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes a string without escapes and returns its contents.
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.pos;
        let rest = self.text.as_bytes().get(start..)?;
        let len = find_quote_or_backslash(rest)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.pos = start + len + 1;
        // Both ends sit next to an ASCII quote, so they are char boundaries.
        self.text.get(start..start + len)
    }
}

/// Index of the first `"` or `\` in `bytes`, eight bytes at a time (the
/// byte-by-byte loop was the scanner's main cost).
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        // A zero byte in v ^ (c * ONES) marks a byte equal to c; this test
        // finds the first exactly (borrows only run past a real match).
        let q = v ^ (u64::from(b'"') * ONES);
        let bs = v ^ (u64::from(b'\\') * ONES);
        let hits = (q.wrapping_sub(ONES) & !q | bs.wrapping_sub(ONES) & !bs) & HIGH;
        if hits != 0 {
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&c| c == b'"' || c == b'\\').map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect<const N: usize>(text: &str) -> Option<Vec<[String; N]>> {
        let mut v = Vec::new();
        for_each_tuple::<N>(text, |t| v.push(t.map(str::to_owned)))?;
        Some(v)
    }

    #[test]
    fn reads_the_common_form() {
        let v = collect::<3>(r#" [ ["buy", "1.5" ,"0"] ,["sell","2",""]] "#).unwrap();
        assert_eq!(v, vec![["buy", "1.5", "0"].map(String::from), ["sell", "2", ""].map(String::from)]);
        assert_eq!(collect::<2>("[]").unwrap().len(), 0);
        assert_eq!(collect::<2>(" [ \n ] ").unwrap().len(), 0);
        assert_eq!(collect::<2>(r#"[["é✓","x"]]"#).unwrap()[0][0], "é✓");
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
                    // Bytes that differ from a hit by one bit, or are 0x80+,
                    // must not be mistaken for one.
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
            assert!(collect::<2>(text).is_none(), "{text:?}");
        }
    }
}
