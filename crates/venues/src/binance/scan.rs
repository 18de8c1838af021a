//! Binance's book level arrays, `[["0.35170000","4265.00000000"], ...]`,
//! are read by the shared fast scanner of [`crate::wire::scan`] (the
//! frame fast path in [`super::fast`] uses its string search too); what it
//! declines is re-read by serde in [`super::book`]. The tests here pin down
//! the forms the scanner must take and decline for Binance's frames.

pub(crate) use crate::wire::scan::{convert_tuples, find_string_special, Scanned};

/// Calls `f` with each `[price, size]` pair of `text`, the way
/// [`super::book`] reads depth levels; `None` when `text` is not of the
/// plain form.
#[cfg(test)]
fn for_each_pair<'a>(text: &'a str, mut f: impl FnMut(&'a str, &'a str)) -> Option<()> {
    crate::wire::scan::for_each_tuple::<2>(text, |&[p, s]| f(p, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::scan::find_string_special as find_quote_or_backslash;

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
