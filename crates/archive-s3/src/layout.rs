//! The archive's layout: which files are segments, their relative paths
//! (which are also their keys under the prefix), and key order.

use std::{
    cmp::Ordering,
    fs, io,
    path::{Component, Path, PathBuf},
};

/// Whether `relative` is a segment's path relative to the archive root,
/// exactly as `ArchiveWriter` names them:
/// `<exchange>/YYYY/MM/DD/HH-<n>.jsonl.zst` (exchange: ASCII letters,
/// digits, `-`, `_`). Anything else in the spool (a stray file, a copy) is
/// not uploaded, so nothing but segments ever lands under the prefix.
pub fn is_segment_path(relative: &str) -> bool {
    let parts: Vec<&str> = relative.split('/').collect();
    let [exchange, year, month, day, file] = parts[..] else { return false };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let exchange_ok = !exchange.is_empty() && exchange.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let Some(stem) = file.strip_suffix(".jsonl.zst") else { return false };
    let Some((hour, n)) = stem.split_once('-') else { return false };
    exchange_ok
        && digits(year, 4)
        && digits(month, 2)
        && digits(day, 2)
        && digits(hour, 2)
        && !n.is_empty()
        && n.len() <= 10
        && n.bytes().all(|b| b.is_ascii_digit())
}

/// The segment path of `path` relative to `root`, `/`-separated, if `path`
/// lies under `root` and is named like a segment.
pub fn relative_segment_path(root: &Path, path: &Path) -> Option<String> {
    let rest = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            _ => return None,
        }
    }
    let relative = parts.join("/");
    is_segment_path(&relative).then_some(relative)
}

/// A closed segment waiting in the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpooledSegment {
    /// Its path relative to the spool root (and key under the prefix).
    pub relative: String,
    /// Its path on disk.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// Every segment under `root` waiting for upload, in key order
/// ([`compare_keys`]). A missing root is an empty spool. Files not named
/// like segments are skipped, and so are empty ones: those are the markers
/// uploaded segments leave (see [`sweep_markers`]), or a segment that never
/// got a byte, and there is nothing in them to upload.
pub fn scan_spool(root: &Path) -> io::Result<Vec<SpooledSegment>> {
    fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<SpooledSegment>) -> io::Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            // exchange/YYYY/MM/DD is four levels: nothing deeper is a segment.
            if kind.is_dir() && depth < 4 {
                walk(root, &path, depth + 1, out)?;
            } else if kind.is_file() {
                if let Some(relative) = relative_segment_path(root, &path) {
                    let size = entry.metadata()?.len();
                    if size > 0 {
                        out.push(SpooledSegment { relative, path, size });
                    }
                } else {
                    tracing::debug!(path = %path.display(), "not a segment; not uploaded");
                }
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, 0, &mut out)?;
    out.sort_by(|a, b| compare_keys(&a.relative, &b.relative));
    Ok(out)
}

/// Removes the markers of uploaded segments whose hour is before `cutoff`
/// (`YYYY/MM/DD/HH`, see [`hour_path`]), then their day directories if
/// that left them empty; returns how many markers went.
///
/// An uploaded segment's file is truncated to a marker rather than removed
/// because the archive writer numbers a new segment with the first `<n>`
/// whose file does not exist: after a restart within the same hour, a
/// removed file would let it reuse a number whose key S3 already holds (a
/// conflict, and the new segment stuck in the spool). The writer only
/// opens segments in the current hour, so markers of earlier hours can go.
/// Only day directories are removed: a year or month directory may be the
/// one the writer is creating its next day in.
pub fn sweep_markers(root: &Path, cutoff: &str) -> io::Result<usize> {
    let mut removed = 0;
    let mut days = Vec::new();
    for exchange in read_dirs(root)? {
        for year in read_dirs(&exchange)? {
            for month in read_dirs(&year)? {
                for day in read_dirs(&month)? {
                    for entry in fs::read_dir(&day)? {
                        let entry = entry?;
                        let path = entry.path();
                        let Some(relative) = relative_segment_path(root, &path) else { continue };
                        // exchange/YYYY/MM/DD/HH-n.jsonl.zst -> YYYY/MM/DD/HH
                        let hour = &relative[relative.find('/').map_or(0, |i| i + 1)..];
                        let hour = &hour[..13.min(hour.len())];
                        if hour < cutoff && entry.metadata()?.len() == 0 {
                            fs::remove_file(&path)?;
                            removed += 1;
                        }
                    }
                    days.push(day);
                }
            }
        }
    }
    for day in days {
        // Fails, as it should, while anything is left in it.
        let _ = fs::remove_dir(&day);
    }
    Ok(removed)
}

/// The subdirectories of `dir` (none if it does not exist).
fn read_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// `YYYY/MM/DD/HH` of a Unix time in seconds (UTC): a segment's directory
/// and hour, which compare as strings in time order.
pub fn hour_path(unix_secs: i64) -> String {
    let (days, secs) = (unix_secs.div_euclid(86_400), unix_secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}/{month:02}/{day:02}/{:02}", secs / 3600)
}

/// Orders keys the way segments follow each other: component by component
/// (`/`-separated), and within a component runs of digits by their value,
/// so `14-9.jsonl.zst` comes before `14-10.jsonl.zst`. Date parts are
/// zero-padded, so this is exchange, then time, then sequence order.
pub fn compare_keys(a: &str, b: &str) -> Ordering {
    let mut x = a.split('/');
    let mut y = b.split('/');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => match natural(p, q) {
                Ordering::Equal => continue,
                other => return other,
            },
        }
    }
}

/// Natural order of two path components: digit runs by value (then by
/// length, so `01` and `1` still differ), everything else bytewise.
fn natural(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let (si, sj) = (i, j);
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let (ra, rb) = (&a[si..i], &b[sj..j]);
            let (ta, tb) = (trim_zeros(ra), trim_zeros(rb));
            // More significant digits is a larger number; equal lengths
            // compare lexically, which is numerically.
            let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb)).then_with(|| ra.len().cmp(&rb.len()));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let first = digits.iter().position(|&d| d != b'0').unwrap_or(digits.len());
    &digits[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_paths_are_exactly_the_archive_writers() {
        for ok in [
            "coinbase/2026/01/02/03-0.jsonl.zst",
            "coinbase-advanced/2026/12/31/23-117.jsonl.zst",
            "k_1/1999/00/00/99-4294967295.jsonl.zst",
        ] {
            assert!(is_segment_path(ok), "{ok}");
        }
        for bad in [
            "coinbase/2026/01/02/03-0.jsonl",
            "coinbase/2026/01/02/03.jsonl.zst",
            "coinbase/2026/01/02/3-0.jsonl.zst",
            "coinbase/2026/1/02/03-0.jsonl.zst",
            "coinbase/2026/01/02/03-.jsonl.zst",
            "coinbase/2026/01/02/03-0.jsonl.zst.tmp",
            "2026/01/02/03-0.jsonl.zst",
            "x/coinbase/2026/01/02/03-0.jsonl.zst",
            "../2026/01/02/03-0.jsonl.zst",
            "coin base/2026/01/02/03-0.jsonl.zst",
            "coinbase/2026/01/02/03-1x.jsonl.zst",
        ] {
            assert!(!is_segment_path(bad), "{bad}");
        }
        let root = Path::new("/data/archive");
        assert_eq!(
            relative_segment_path(root, Path::new("/data/archive/binance/2026/01/02/03-4.jsonl.zst")).as_deref(),
            Some("binance/2026/01/02/03-4.jsonl.zst")
        );
        assert_eq!(relative_segment_path(root, Path::new("/elsewhere/binance/2026/01/02/03-4.jsonl.zst")), None);
        assert_eq!(relative_segment_path(root, Path::new("/data/archive/binance/2026/01/02/notes.txt")), None);
    }

    #[test]
    fn keys_sort_by_exchange_then_time_then_number() {
        let mut keys = vec![
            "p/coinbase/2026/01/02/03-10.jsonl.zst",
            "p/coinbase/2026/01/02/03-9.jsonl.zst",
            "p/coinbase-advanced/2026/01/01/00-0.jsonl.zst",
            "p/binance/2026/01/03/00-0.jsonl.zst",
            "p/coinbase/2026/01/02/04-0.jsonl.zst",
            "p/coinbase/2025/12/31/23-2.jsonl.zst",
            "p/coinbase/2026/01/02/03-0.jsonl.zst",
            "p/binance/2026/01/02/23-1.jsonl.zst",
        ];
        keys.sort_by(|a, b| compare_keys(a, b));
        assert_eq!(
            keys,
            [
                "p/binance/2026/01/02/23-1.jsonl.zst",
                "p/binance/2026/01/03/00-0.jsonl.zst",
                "p/coinbase/2025/12/31/23-2.jsonl.zst",
                "p/coinbase/2026/01/02/03-0.jsonl.zst",
                "p/coinbase/2026/01/02/03-9.jsonl.zst",
                "p/coinbase/2026/01/02/03-10.jsonl.zst",
                "p/coinbase/2026/01/02/04-0.jsonl.zst",
                "p/coinbase-advanced/2026/01/01/00-0.jsonl.zst",
            ]
        );
        assert_eq!(natural("a01", "a1"), Ordering::Greater, "equal values still order deterministically");
        assert_eq!(natural("x2y", "x10"), Ordering::Less);
        assert_eq!(compare_keys("a/b", "a/b"), Ordering::Equal);
    }

    #[test]
    fn the_spool_scan_finds_segments_only_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        assert!(scan_spool(&root).unwrap().is_empty(), "a missing spool is empty");
        for (rel, body) in [
            ("coinbase/2026/01/02/03-10.jsonl.zst", &b"ten"[..]),
            ("coinbase/2026/01/02/03-2.jsonl.zst", b"two!"),
            ("binance/2026/01/02/03-0.jsonl.zst", b"0"),
            ("binance/2026/01/02/03-1.jsonl.zst", b""),
            ("coinbase/2026/01/02/notes.txt", b"x"),
            ("coinbase/2026/01/02/03-3.jsonl.zst.partial", b"x"),
        ] {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
        }
        let found = scan_spool(&root).unwrap();
        let got: Vec<(&str, u64)> = found.iter().map(|s| (s.relative.as_str(), s.size)).collect();
        assert_eq!(
            got,
            [
                ("binance/2026/01/02/03-0.jsonl.zst", 1),
                ("coinbase/2026/01/02/03-2.jsonl.zst", 4),
                ("coinbase/2026/01/02/03-10.jsonl.zst", 3)
            ],
            "empty files are markers, not segments"
        );
        assert_eq!(found[1].path, root.join("coinbase/2026/01/02/03-2.jsonl.zst"));
    }

    #[test]
    fn hour_paths_are_utc_calendar_hours() {
        assert_eq!(hour_path(0), "1970/01/01/00");
        assert_eq!(hour_path(1_772_461_769), "2026/03/02/14");
        assert_eq!(hour_path(951_782_400), "2000/02/29/00", "a leap day");
        assert_eq!(hour_path(1_767_225_599), "2025/12/31/23");
        assert_eq!(hour_path(-1), "1969/12/31/23");
    }

    #[test]
    fn old_markers_and_their_empty_days_are_swept_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let put = |rel: &str, body: &[u8]| {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, body).unwrap();
        };
        put("coinbase/2026/01/01/23-0.jsonl.zst", b""); // old marker, alone in its day
        put("coinbase/2026/01/02/02-0.jsonl.zst", b""); // old marker
        put("coinbase/2026/01/02/02-1.jsonl.zst", b"not uploaded yet");
        put("coinbase/2026/01/02/03-0.jsonl.zst", b""); // the cutoff hour: kept
        put("binance/2026/01/02/01-0.jsonl.zst", b""); // old marker
        put("binance/2026/01/02/notes.txt", b""); // not a segment: kept
        assert_eq!(sweep_markers(root, "2026/01/02/03").unwrap(), 3);
        let mut left: Vec<String> = Vec::new();
        for e in ["coinbase/2026/01/01", "coinbase/2026/01/02", "binance/2026/01/02"] {
            if let Ok(d) = fs::read_dir(root.join(e)) {
                left.extend(d.map(|f| format!("{e}/{}", f.unwrap().file_name().to_string_lossy())));
            }
        }
        left.sort();
        assert_eq!(
            left,
            ["binance/2026/01/02/notes.txt", "coinbase/2026/01/02/02-1.jsonl.zst", "coinbase/2026/01/02/03-0.jsonl.zst"],
            "only old markers go"
        );
        assert!(!root.join("coinbase/2026/01/01").exists(), "an emptied day goes too");
        assert!(root.join("coinbase/2026/01").exists(), "months stay");
        assert_eq!(sweep_markers(&root.join("missing"), "2026/01/02/03").unwrap(), 0);
    }
}
