//! Coinbase's book level arrays, `[["buy","43521.16","0.5123"], ...]` (or
//! `[[price, size], ...]`), are read by the shared fast scanner of
//! [`crate::wire::scan`]; what it declines is re-read by the serde
//! visitors in [`super::book`], which handle every case. The tests here pin
//! down the forms the scanner must take and decline for Coinbase's frames.

pub(crate) use crate::wire::scan::{convert_tuples, Scanned, StrTuple};

#[cfg(test)]
mod tests {
    // The scanner also stops at control characters, which valid JSON
    // (all it is given) never holds raw inside a string.
    use crate::wire::scan::{find_string_special as find_quote_or_backslash, for_each_tuple};

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
