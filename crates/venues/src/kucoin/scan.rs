//! Book level arrays, `[["67993.3","1.21427407","14701689783"], ...]` (or
//! `[[price, size], ...]` in REST snapshots), read without serde on the
//! common form and with serde visitors otherwise.
//!
//! Walking these through serde costs a visitor call per array and per
//! string, most of a level-2 message's decode time. The frame parse keeps
//! each array as a borrowed `&RawValue` (already checked to be valid JSON),
//! and [`for_each_tuple`] reads the usual form, arrays of `N` strings
//! without escapes, directly with the shared scanner of
//! [`crate::wire::scan`]. Anything else (an escape, a number, a short
//! tuple) makes the fast path decline, and the same text is re-read by the
//! serde visitor, which handles every case; the tests check both agree.
//!
//! Errors are treated alike on both paths: a JSON-shape error (a number
//! where a string belongs, a tuple of the wrong length) is
//! [`DecodeError::InvalidJson`] and wins over semantic errors (a bad
//! price), of which the first is reported.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};

use super::de::json_error;
use crate::{
    wire::scan::{convert_tuples, Scanned, StrTuple},
    DecodeError,
};

/// Calls `convert` on each `N`-string tuple of `text` (a JSON array of
/// arrays), in order, pushing into `out` whatever it pushes. Stops converting
/// at the first error, but still reads the whole array so a shape error
/// later on wins. On error, `out` may hold some items: callers discard it.
pub(crate) fn for_each_tuple<const N: usize, T>(
    text: &str,
    out: &mut Vec<T>,
    mut convert: impl FnMut(&mut Vec<T>, &[&str; N]) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let before = out.len();
    match convert_tuples::<N>(text, |tuple| convert(out, tuple)) {
        Scanned::Done => Ok(()),
        Scanned::Failed(e) => Err(e),
        Scanned::NotPlain { .. } => {
            // Not the plain form: forget what the fast path converted and
            // read the same text with serde.
            out.truncate(before);
            let mut error = None;
            let mut de = serde_json::Deserializer::from_str(text);
            TupleSeq::<N, _, _> { out: &mut *out, convert, error: &mut error }.deserialize(&mut de).map_err(json_error)?;
            de.end().map_err(json_error)?;
            error.map_or(Ok(()), Err)
        }
    }
}

/// The serde fallback of [`for_each_tuple`]: visits `[[s, ...], ...]`.
struct TupleSeq<'o, const N: usize, T, F> {
    out: &'o mut Vec<T>,
    convert: F,
    error: &'o mut Option<DecodeError>,
}

impl<'de, const N: usize, T, F> DeserializeSeed<'de> for TupleSeq<'_, N, T, F>
where
    F: FnMut(&mut Vec<T>, &[&str; N]) -> Result<(), DecodeError>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, const N: usize, T, F> Visitor<'de> for TupleSeq<'_, N, T, F>
where
    F: FnMut(&mut Vec<T>, &[&str; N]) -> Result<(), DecodeError>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of arrays of {N} strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(StrTuple::<N>(items)) = seq.next_element()? {
            if self.error.is_none() {
                let strs: [&str; N] = std::array::from_fn(|i| items[i].as_str());
                if let Err(e) = (self.convert)(self.out, &strs) {
                    *self.error = Some(e);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::scan::for_each_tuple as fast_tuples;

    fn fast<const N: usize>(text: &str) -> Option<Vec<[String; N]>> {
        let mut v = Vec::new();
        fast_tuples::<N>(text, |t| v.push(t.map(str::to_owned)))?;
        Some(v)
    }

    fn both<const N: usize>(text: &str) -> Result<Vec<[String; N]>, DecodeError> {
        let mut out = Vec::new();
        for_each_tuple::<N, _>(text, &mut out, |o, t| {
            if t[0] == "bad" {
                return Err(DecodeError::MissingField("bad"));
            }
            o.push(t.map(str::to_owned));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn reads_the_common_form() {
        let v = fast::<3>(r#" [ ["1.5", "2" ,"17"] ,["3","0",""]] "#).unwrap();
        assert_eq!(v, vec![["1.5", "2", "17"].map(String::from), ["3", "0", ""].map(String::from)]);
        assert_eq!(fast::<2>("[]").unwrap().len(), 0);
        assert_eq!(fast::<2>(" [ \n ] ").unwrap().len(), 0);
        assert_eq!(fast::<2>(r#"[["é✓","x"]]"#).unwrap()[0][0], "é✓");
    }

    #[test]
    fn falls_back_to_serde_and_reports_shape_errors_first() {
        assert_eq!(both::<2>(r#"[["a\u0062","c"]]"#).unwrap(), vec![["ab".to_owned(), "c".to_owned()]]);
        assert_eq!(both::<2>(r#"[["bad","c"],["x","y"]]"#), Err(DecodeError::MissingField("bad")));
        // A semantic error first, then a shape error: the shape error wins.
        assert_eq!(both::<2>(r#"[["bad","c"],["x",1]]"#).unwrap_err().reason(), "invalid_json");
        assert_eq!(both::<2>(r#"[["a","b","c"]]"#).unwrap_err().reason(), "invalid_json");
        assert_eq!(both::<3>(r#"[["a","b"]]"#).unwrap_err().reason(), "invalid_json");
        assert_eq!(both::<2>("{}").unwrap_err().reason(), "invalid_json");
    }

    proptest! {
        #[test]
        fn fast_and_slow_paths_agree(
            rows in prop::collection::vec(prop::collection::vec(prop::sample::select(vec!["1", "0", "bad", "x.5", "é"]), 2..4), 0..5),
            ws in prop::sample::select(vec!["", " ", "\n\t"]),
            escape in prop::option::of(0usize..12),
        ) {
            let mut k = 0;
            let rendered: Vec<String> = rows.iter().map(|r| {
                let items: Vec<String> = r.iter().map(|s| {
                    k += 1;
                    if escape == Some(k - 1) { format!("\"{}\"", s.replace('x', "\\u0078").replace('1', "\\u0031")) } else { format!("\"{s}\"") }
                }).collect();
                format!("[{}]", items.join(&format!("{ws},{ws}")))
            }).collect();
            let text = format!("{ws}[{ws}{}{ws}]{ws}", rendered.join(&format!(",{ws}")));
            // The serde path alone, as the oracle.
            let mut slow = Vec::new();
            let mut error = None;
            let mut de = serde_json::Deserializer::from_str(&text);
            let parsed = TupleSeq::<2, _, _> {
                out: &mut slow,
                convert: |o: &mut Vec<[String; 2]>, t: &[&str; 2]| {
                    if t[0] == "bad" { return Err(DecodeError::MissingField("bad")); }
                    o.push(t.map(str::to_owned));
                    Ok(())
                },
                error: &mut error,
            }.deserialize(&mut de).map_err(json_error).and_then(|()| de.end().map_err(json_error));
            let oracle = match (parsed, error) { (Err(e), _) | (Ok(()), Some(e)) => Err(e), (Ok(()), None) => Ok(slow) };
            prop_assert_eq!(both::<2>(&text).map_err(|e| e.reason()), oracle.map_err(|e| e.reason()));
        }
    }
}
