//! How values are kept as text in every backend: book sides as JSON
//! arrays of `[price, size]` decimal strings, and decimals accepted back
//! only in exactly the rendering that was stored.
//!
//! SQLite (`TEXT`) and PostgreSQL (`jsonb`, `numeric` read as text) keep
//! the same renderings, so both read and write them through these.

use std::str::FromStr;

use marketpipe_model::{push_decimal, Decimal, Level};

/// A book side as a JSON array of `[price, size]` decimal strings, in the
/// order given (best first). Decimal renderings are digits, `-` and `.`
/// only, so nothing needs escaping.
pub fn levels_json(levels: &[Level]) -> String {
    let mut out = String::with_capacity(2 + levels.len() * 32);
    out.push('[');
    for (i, level) in levels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("[\"");
        push_decimal(&mut out, level.price);
        out.push_str("\",\"");
        push_decimal(&mut out, level.size);
        out.push_str("\"]");
    }
    out.push(']');
    out
}

/// The first `depth` levels of a side written by [`levels_json`]; the
/// error says what is wrong with the text. `scratch` is reused by
/// [`exact_decimal`].
pub fn levels_from_json(text: &str, depth: usize, scratch: &mut String) -> Result<Vec<Level>, String> {
    // Borrowed strings: what the write path stores never needs escapes.
    let pairs: Vec<(&str, &str)> = serde_json::from_str(text).map_err(|e| format!("bad level list: {e}"))?;
    let mut levels = Vec::with_capacity(pairs.len().min(depth));
    for (price, size) in pairs.into_iter().take(depth) {
        match (exact_decimal(price, scratch), exact_decimal(size, scratch)) {
            (Some(price), Some(size)) => levels.push(Level::new(price, size)),
            _ => return Err(format!("level [{price:?}, {size:?}] is not two exact decimals")),
        }
    }
    Ok(levels)
}

/// Parses a decimal and accepts it only if it renders back to the very same
/// string: what the write path stored always does, and anything else (a
/// value that would be rounded, `+1`, `1_000`) is not ours. `scratch` holds
/// the rendering, so no call allocates once it has grown.
pub fn exact_decimal(text: &str, scratch: &mut String) -> Option<Decimal> {
    let value = Decimal::from_str(text).ok()?;
    scratch.clear();
    push_decimal(scratch, value);
    (scratch == text).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_decimal_accepts_only_what_renders_back_identically() {
        let mut scratch = String::new();
        for good in ["0", "-1.50", "0.00120000", "60000.10", "79228162514264337593543950335", "0.0000000000000000000000000001"] {
            let d = exact_decimal(good, &mut scratch);
            assert_eq!(d.map(|d| d.to_string()).as_deref(), Some(good), "{good:?} must be accepted");
        }
        for extreme in [Decimal::MAX, Decimal::MIN, Decimal::from_parts(0, 0, 0, true, 5), Decimal::new(1, 28)] {
            let text = extreme.to_string();
            assert_eq!(exact_decimal(&text, &mut scratch).map(|d| d.to_string()), Some(text), "{extreme:?}");
        }
        for bad in ["", "abc", "+1", "1_000", "1e5", " 1", "00.1", ".5", "1.", "0.50000000000000000000000000001"] {
            assert_eq!(exact_decimal(bad, &mut scratch), None, "{bad:?} must be refused");
        }
    }
}
