//! A fast path for the one nested shape on the hot path: book level arrays,
//! `[["0.35170000","4265.00000000"], ...]`.
//!
//! Walking them through serde costs a visitor call per array and per
//! string. The frame parse captures them as a `&RawValue` (already checked
//! to be valid JSON), and this scanner reads the common form (arrays of two
//! escape-free strings) directly. Anything else (an escape, a number, a
//! tuple of another length) returns `None` and the caller re-reads the
//! same text with the serde visitors in [`super::book`], which handle every
//! case; the tests check that both paths agree.

/// Calls `f` with each `[price, size]` pair of `text`, a JSON array of
/// arrays of exactly two strings without escapes. Returns `None` as soon as
/// `text` is not of that form; `f` may then have seen some pairs, so
/// callers must discard what they built.
pub(crate) fn for_each_pair<'a>(text: &'a str, mut f: impl FnMut(&'a str, &'a str)) -> Option<()> {
    let mut sc = Scanner { bytes: text.as_bytes(), text, pos: 0 };
    if !sc.eat(b'[') {
        return None;
    }
    if !sc.eat(b']') {
        loop {
            if !sc.eat(b'[') {
                return None;
            }
            let price = sc.string()?;
            if !sc.eat(b',') {
                return None;
            }
            let size = sc.string()?;
            if !sc.eat(b']') {
                return None;
            }
            f(price, size);
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
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
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

    /// Consumes a string without escapes and returns its contents.
    fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        let len = find_quote_or_backslash(rest)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.pos = start + len + 1;
        // Both ends sit next to an ASCII quote, so they are char boundaries.
        self.text.get(start..start + len)
    }
}

/// Index of the first `"` or `\` in `bytes`, eight bytes at a time.
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

/// Index of the first byte of `bytes` that ends or complicates a JSON
/// string: `"`, `\\` or a control character (below 0x20, which JSON
/// forbids raw inside strings). Eight bytes at a time, like
/// [`find_quote_or_backslash`]; for the fast path, whose input serde_json
/// has not validated.
pub(crate) fn find_string_special(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        let q = v ^ (u64::from(b'"') * ONES);
        let bs = v ^ (u64::from(b'\\') * ONES);
        // v - 0x20 borrows out of a byte below 0x20; `& !v` drops bytes
        // of 0x80 and above. Only bits above a real hit can be spurious.
        let ctl = v.wrapping_sub(0x20 * ONES) & !v;
        let hits = (q.wrapping_sub(ONES) & !q | bs.wrapping_sub(ONES) & !bs | ctl) & HIGH;
        if hits != 0 {
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> Option<Vec<(String, String)>> {
        let mut v = Vec::new();
        for_each_pair(text, |p, s| v.push((p.to_owned(), s.to_owned())))?;
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
