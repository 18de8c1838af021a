//! The raw archive: everything the live pipeline receives, written as
//! rotating zstd capture segments at
//! `ROOT/<exchange>/YYYY/MM/DD/HH-<n>.jsonl.zst`.
//!
//! The directory and hour come from the record's receive time (UTC); `<n>`
//! counts segments within the hour from 0. A segment is rotated when its hour
//! is over or when it reaches [`ArchiveConfig::max_segment_bytes`]. Hourly
//! segments keep each file small enough to replay or delete one at a time and
//! bound what a crash can leave truncated.

use std::{
    fs::{self, OpenOptions},
    io,
    path::{Path, PathBuf},
};

use marketpipe_model::Timestamp;

use crate::{CaptureWriter, OutRecord};

const NANOS_PER_SEC: i64 = 1_000_000_000;
const HOUR_NS: i64 = 3_600 * NANOS_PER_SEC;

/// How the archive rotates and compresses its segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveConfig {
    /// A segment is rotated once this many **uncompressed** bytes (the JSON
    /// lines) have been written to it; it may exceed the cap by one line.
    /// Uncompressed because that count is exact the moment a line is written,
    /// while the compressed size is only known after the encoder flushes. On
    /// disk a segment is typically several times smaller. Default 256 MiB.
    pub max_segment_bytes: u64,
    /// zstd compression level. Default 3: cheap enough to keep up with live
    /// feeds on one core, and most of the ratio the higher levels give.
    pub zstd_level: i32,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig { max_segment_bytes: 256 << 20, zstd_level: 3 }
    }
}

/// One exchange's archive position. It outlives its writer: after an error
/// or [`ArchiveWriter::close_all`] the hour and sequence number still decide
/// where the next segment goes.
struct Segment {
    exchange: String,
    /// Start of the segment's hour, Unix nanoseconds.
    hour: i64,
    /// Sequence number within the hour of the current (or next) segment.
    n: u32,
    /// The open segment and its path; `None` until the next write opens one.
    writer: Option<CaptureWriter>,
    path: PathBuf,
}

/// Writes the raw archive: one open zstd segment per exchange, rotated hourly
/// (by receive time) and at a size cap. See the module docs for the layout.
///
/// Segments are opened with create-new semantics: a restart within the hour
/// continues at the next free `<n>` and never overwrites a segment.
///
/// Errors are returned, never panicked on, and leave the writer usable: the
/// segment that failed is abandoned (finished on a best-effort basis, since a
/// failing disk may not take even that) and the next write opens a new one.
///
/// Dropping the writer finishes its segments on a best-effort basis; call
/// [`ArchiveWriter::close`] to see errors.
///
/// [`ArchiveWriter::on_segment_closed`] tells another component (the S3
/// uploader) which segments are complete and will not be written again.
pub struct ArchiveWriter {
    root: PathBuf,
    config: ArchiveConfig,
    /// A handful of exchanges: a linear scan beats hashing the name.
    segments: Vec<Segment>,
    bytes_written: u64,
    segments_opened: u64,
    on_closed: Option<ClosedHook>,
}

/// Called with the path of each segment the writer is done with.
type ClosedHook = Box<dyn FnMut(&Path) + Send>;

impl ArchiveWriter {
    /// An archive under `root` (typically `DATA_DIR/archive`). Nothing is
    /// created until the first write.
    pub fn new(root: PathBuf, config: ArchiveConfig) -> ArchiveWriter {
        ArchiveWriter { root, config, segments: Vec::new(), bytes_written: 0, segments_opened: 0, on_closed: None }
    }

    /// Calls `hook` with the path of every segment this writer closes
    /// (rotated, closed by [`ArchiveWriter::close_all`] or on drop, or
    /// abandoned after an error), once the file is finished and will never
    /// be written again: from then on another component may read, upload
    /// or remove it. The hook runs on the writer's thread, so it must be
    /// quick and must not block (queue the path and return).
    pub fn on_segment_closed(mut self, hook: impl FnMut(&Path) + Send + 'static) -> ArchiveWriter {
        self.on_closed = Some(Box::new(hook));
        self
    }

    /// Appends one record to `exchange`'s segment for the hour of `recv`,
    /// rotating first if that hour is later than the open segment's or the
    /// segment is full.
    ///
    /// A record whose hour is *earlier* than the open segment's (receive
    /// clocks jitter, and records from several connections interleave just
    /// after the hour turns) goes into the open segment: reopening a past
    /// hour would scatter one hour over many files and, if the past segment
    /// was already finished, start another segment there. A segment's file
    /// order is receive order, so replay sees records as they arrived.
    ///
    /// `exchange` becomes a directory name, so it must be non-empty ASCII
    /// letters, digits, `-` or `_` (else `InvalidInput`). On error the record
    /// is not archived (or only partly, in an abandoned segment).
    pub fn write(&mut self, recv: Timestamp, exchange: &str, record: OutRecord<'_>) -> io::Result<()> {
        let hour = recv.floor(HOUR_NS).0;
        let i = match self.segments.iter().position(|s| s.exchange == exchange) {
            Some(i) => i,
            None => {
                validate_exchange(exchange)?;
                self.segments.push(Segment { exchange: exchange.to_owned(), hour, n: 0, writer: None, path: PathBuf::new() });
                self.segments.len() - 1
            }
        };
        let seg = &mut self.segments[i];
        let new_hour = hour > seg.hour;
        let full = seg.writer.as_ref().is_some_and(|w| w.bytes_written() >= self.config.max_segment_bytes);
        if new_hour || full {
            // Advance the position before finishing, so that if finishing
            // fails the next write still goes to a fresh segment.
            let old = seg.writer.take();
            if new_hour {
                seg.hour = hour;
                seg.n = 0;
            } else {
                seg.n += 1;
            }
            if let Some(w) = old {
                finish(w, &seg.path, &mut self.on_closed)?;
            }
        }
        let writer = match &mut seg.writer {
            Some(w) => w,
            slot @ None => {
                let (n, path, w) = create_segment(&self.root, exchange, seg.hour, seg.n, self.config.zstd_level)?;
                seg.n = n;
                seg.path = path;
                self.segments_opened += 1;
                slot.insert(w)
            }
        };
        let before = writer.bytes_written();
        match writer.write(recv, exchange, record) {
            Ok(()) => {
                self.bytes_written += writer.bytes_written() - before;
                Ok(())
            }
            Err(e) => {
                abandon(seg, &mut self.on_closed);
                Err(e)
            }
        }
    }

    /// Flushes every open segment to its file, so that [`crate::CaptureReader`]
    /// reads all lines written so far (then reports the unfinished zstd frame
    /// as an error). Segments stay open. Every segment is flushed even if one
    /// fails; the first error is returned and the failed segment abandoned.
    pub fn flush(&mut self) -> io::Result<()> {
        let mut first_err = None;
        for seg in &mut self.segments {
            let Some(w) = &mut seg.writer else { continue };
            if let Err(e) = w.flush() {
                abandon(seg, &mut self.on_closed);
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Finishes every open segment (completes its zstd frame and syncs it to
    /// disk). The writer stays usable: a later write opens the next segment.
    /// Every segment is finished even if one fails; the first error is returned.
    pub fn close_all(&mut self) -> io::Result<()> {
        let mut first_err = None;
        for seg in &mut self.segments {
            if let Some(w) = seg.writer.take() {
                // A later write in the same hour must not reuse this number.
                seg.n += 1;
                if let Err(e) = finish(w, &seg.path, &mut self.on_closed) {
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Finishes every open segment and drops the writer.
    pub fn close(mut self) -> io::Result<()> {
        self.close_all()
    }

    /// Uncompressed bytes archived so far, over all segments (closed ones too).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }

    /// Segments opened so far.
    pub fn segments_opened(&self) -> u64 {
        self.segments_opened
    }
}

impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        // Unfinished segments are still readable up to the cut, but a
        // complete frame is better; nobody is left to hear about an error.
        let _ = self.close_all();
    }
}

/// Finishes a segment and reports it closed, even if finishing failed: the
/// file holds what it holds and will not be written again either way (a
/// reader gets its complete lines, then the error).
fn finish(w: CaptureWriter, path: &Path, hook: &mut Option<ClosedHook>) -> io::Result<()> {
    let result = w.finish();
    if let Some(hook) = hook {
        hook(path);
    }
    result
}

/// Gives up on a segment after an I/O error: finishing it may still save
/// what the encoder buffered; writing more into it would not be trustworthy.
fn abandon(seg: &mut Segment, hook: &mut Option<ClosedHook>) {
    if let Some(w) = seg.writer.take() {
        let _ = finish(w, &seg.path, hook);
    }
    seg.n += 1;
}

fn validate_exchange(exchange: &str) -> io::Result<()> {
    // The name becomes a path component: nothing that could climb out of ROOT.
    if !exchange.is_empty() && exchange.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::InvalidInput, format!("archive: invalid exchange name {exchange:?}")))
    }
}

/// Creates the first free segment `HH-<n>` with `n >= start`, with
/// create-new semantics so that an existing segment (from before a restart,
/// or another writer) is never truncated.
fn create_segment(root: &Path, exchange: &str, hour: i64, start: u32, level: i32) -> io::Result<(u32, PathBuf, CaptureWriter)> {
    let t = Timestamp(hour).utc_parts();
    let dir = root.join(exchange).join(format!("{:04}", t.year)).join(format!("{:02}", t.month)).join(format!("{:02}", t.day));
    fs::create_dir_all(&dir)?;
    let hh = t.hour;
    let mut n = start;
    loop {
        let path = dir.join(format!("{hh:02}-{n}.jsonl.zst"));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((n, path, CaptureWriter::from_file(file, Some(level))?)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                n = n.checked_add(1).ok_or_else(|| io::Error::other("archive: segment numbers exhausted"))?;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_record, CaptureReader, Line};

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    /// Every file under `root`, as paths relative to it, sorted.
    fn files(root: &Path) -> Vec<String> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for e in fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, root, out);
                } else {
                    out.push(p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let mut out = Vec::new();
        walk(root, root, &mut out);
        out.sort();
        out
    }

    /// (recv_ns, exchange, payload) of each record, and whether the stream
    /// ended in an error (an unfinished segment).
    fn read(path: &Path) -> (Vec<(i64, String, Option<String>)>, bool) {
        let mut r = CaptureReader::open(path).unwrap();
        let mut out = Vec::new();
        loop {
            match r.next_line() {
                Ok(Some(Line::Data(l))) => {
                    let rec = parse_record(l).unwrap();
                    out.push((rec.recv.0, rec.exchange.to_string(), rec.payload().map(|p| p.into_owned())));
                }
                Ok(Some(Line::TooLong(_))) => panic!("no long lines"),
                Ok(None) => return (out, false),
                Err(_) => return (out, true),
            }
        }
    }

    fn ws(data: &str) -> OutRecord<'_> {
        OutRecord::Ws { conn: 1, data }
    }

    #[test]
    fn round_trips_across_hours_days_and_exchanges() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ArchiveWriter::new(dir.path().to_path_buf(), ArchiveConfig::default());
        let (t0, t1) = (ts("2025-12-31T23:59:59.5Z"), ts("2026-01-01T00:00:00.25Z"));
        w.write(t0, "coinbase", OutRecord::Open { conn: 1, url: "wss://x" }).unwrap();
        w.write(t0, "binance", OutRecord::Rest { url: "https://api/depth", data: r#"{"b":[]}"# }).unwrap();
        w.write(Timestamp(t0.0 + 1), "coinbase", ws(r#"{"n":1}"#)).unwrap();
        w.write(t1, "coinbase", ws(r#"{"n":2}"#)).unwrap();
        w.write(Timestamp(t1.0 + 1), "coinbase", ws(r#"{"n":3}"#)).unwrap();
        w.write(t1, "binance", ws("plain text")).unwrap();
        assert_eq!(w.segments_opened(), 4);
        let bytes = w.bytes_written();
        w.close().unwrap();
        assert_eq!(
            files(dir.path()),
            [
                "binance/2025/12/31/23-0.jsonl.zst",
                "binance/2026/01/01/00-0.jsonl.zst",
                "coinbase/2025/12/31/23-0.jsonl.zst",
                "coinbase/2026/01/01/00-0.jsonl.zst",
            ]
        );
        let get = |p: &str| {
            let (recs, err) = read(&dir.path().join(p));
            assert!(!err, "{p} is finished");
            recs
        };
        let s = |x: &str| Some(x.to_string());
        let cb = |t: i64, p: Option<String>| (t, "coinbase".to_string(), p);
        assert_eq!(get("coinbase/2025/12/31/23-0.jsonl.zst"), [cb(t0.0, None), cb(t0.0 + 1, s(r#"{"n":1}"#))]);
        assert_eq!(get("coinbase/2026/01/01/00-0.jsonl.zst"), [cb(t1.0, s(r#"{"n":2}"#)), cb(t1.0 + 1, s(r#"{"n":3}"#))]);
        assert_eq!(get("binance/2025/12/31/23-0.jsonl.zst"), [(t0.0, "binance".into(), s(r#"{"b":[]}"#))]);
        assert_eq!(get("binance/2026/01/01/00-0.jsonl.zst"), [(t1.0, "binance".into(), s("plain text"))]);
        // bytes_written counts the uncompressed lines
        let total: u64 =
            files(dir.path()).iter().map(|p| zstd::decode_all(fs::File::open(dir.path().join(p)).unwrap()).unwrap().len() as u64).sum();
        assert_eq!(bytes, total);
    }

    #[test]
    fn rotates_at_the_size_cap() {
        let dir = tempfile::tempdir().unwrap();
        let config = ArchiveConfig { max_segment_bytes: 200, ..ArchiveConfig::default() };
        let mut w = ArchiveWriter::new(dir.path().to_path_buf(), config);
        let t = ts("2026-03-04T05:06:07Z");
        let payloads: Vec<String> = (0..10).map(|i| format!(r#"{{"n":{i},"pad":"{}"}}"#, "x".repeat(40))).collect();
        for (i, p) in payloads.iter().enumerate() {
            w.write(Timestamp(t.0 + i as i64), "kucoin", ws(p)).unwrap();
        }
        w.close().unwrap();
        let names = files(dir.path());
        let expected: Vec<String> = (0..names.len()).map(|n| format!("kucoin/2026/03/04/05-{n}.jsonl.zst")).collect();
        assert_eq!(names, expected);
        assert!(names.len() >= 3, "{names:?}");
        let mut all = Vec::new();
        for (k, p) in names.iter().enumerate() {
            let path = dir.path().join(p);
            let size = zstd::decode_all(fs::File::open(&path).unwrap()).unwrap().len();
            let recs = read(&path).0;
            // full segments reached the cap, and went over it by less than one line
            if k + 1 < names.len() {
                let line = size / recs.len();
                assert!(size >= 200 && size < 200 + line, "{p}: {size}");
            }
            all.extend(recs.into_iter().map(|r| r.2.unwrap()));
        }
        assert_eq!(all, payloads);
    }

    #[test]
    fn closed_segments_are_reported_once_finished_and_never_while_open() {
        use std::sync::{Arc, Mutex};
        let dir = tempfile::tempdir().unwrap();
        let closed = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = closed.clone();
        let root = dir.path().to_path_buf();
        let config = ArchiveConfig { max_segment_bytes: 100, ..ArchiveConfig::default() };
        let mut w = ArchiveWriter::new(root.clone(), config).on_segment_closed(move |p: &Path| {
            // Reported only once finished: the file reads to its end without error.
            assert!(!read(p).1, "{} is finished when reported", p.display());
            seen.lock().unwrap().push(p.strip_prefix(&root).unwrap().to_string_lossy().into_owned());
        });
        let t = ts("2026-01-02T03:04:05Z");
        let line = format!(r#"{{"pad":"{}"}}"#, "x".repeat(120));
        w.write(t, "coinbase", ws(&line)).unwrap();
        w.write(t, "binance", ws("1")).unwrap();
        assert!(closed.lock().unwrap().is_empty(), "open segments are not reported");
        // the size cap rotates coinbase; a new hour rotates binance
        w.write(t, "coinbase", ws("2")).unwrap();
        w.write(ts("2026-01-02T04:00:00Z"), "binance", ws("3")).unwrap();
        assert_eq!(*closed.lock().unwrap(), ["coinbase/2026/01/02/03-0.jsonl.zst", "binance/2026/01/02/03-0.jsonl.zst"]);
        w.close_all().unwrap();
        w.write(ts("2026-01-02T04:00:01Z"), "binance", ws("4")).unwrap();
        drop(w);
        assert_eq!(
            *closed.lock().unwrap(),
            [
                "coinbase/2026/01/02/03-0.jsonl.zst",
                "binance/2026/01/02/03-0.jsonl.zst",
                "coinbase/2026/01/02/03-1.jsonl.zst",
                "binance/2026/01/02/04-0.jsonl.zst",
                "binance/2026/01/02/04-1.jsonl.zst",
            ],
            "close_all and drop report what they finish"
        );
        let mut all = closed.lock().unwrap().clone();
        all.sort();
        assert_eq!(all, files(dir.path()), "every segment written is reported exactly once");
    }

    #[test]
    fn a_restart_in_the_same_hour_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let t = ts("2026-01-02T03:04:05Z");
        let mut first = ArchiveWriter::new(dir.path().to_path_buf(), ArchiveConfig::default());
        first.write(t, "coinbase", ws("1")).unwrap();
        first.close().unwrap();
        // a second writer after the first closed (a restart), and a third
        // while the second is still open (two processes)
        let mut second = ArchiveWriter::new(dir.path().to_path_buf(), ArchiveConfig::default());
        second.write(Timestamp(t.0 + 1), "coinbase", ws("2")).unwrap();
        second.flush().unwrap();
        let mut third = ArchiveWriter::new(dir.path().to_path_buf(), ArchiveConfig::default());
        third.write(Timestamp(t.0 + 2), "coinbase", ws("3")).unwrap();
        second.close().unwrap();
        third.close().unwrap();
        let names = files(dir.path());
        assert_eq!(
            names,
            ["coinbase/2026/01/02/03-0.jsonl.zst", "coinbase/2026/01/02/03-1.jsonl.zst", "coinbase/2026/01/02/03-2.jsonl.zst"]
        );
        for (n, name) in names.iter().enumerate() {
            let (recs, err) = read(&dir.path().join(name));
            assert!(!err);
            assert_eq!(recs, [(t.0 + n as i64, "coinbase".to_string(), Some((n + 1).to_string()))]);
        }
    }

    #[test]
    fn flushed_lines_are_readable_before_close() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ArchiveWriter::new(dir.path().to_path_buf(), ArchiveConfig::default());
        let t = ts("2026-01-02T03:04:05Z");
        for i in 0..100 {
            w.write(Timestamp(t.0 + i), "binance", ws(&format!(r#"{{"n":{i}}}"#))).unwrap();
        }
        w.flush().unwrap();
        let (recs, err) = read(&dir.path().join("binance/2026/01/02/03-0.jsonl.zst"));
        assert_eq!(recs.len(), 100, "every flushed line is there");
        assert_eq!(recs[99].2.as_deref(), Some(r#"{"n":99}"#));
        assert!(err, "the frame is not finished yet");
        w.close().unwrap();
        let (recs, err) = read(&dir.path().join("binance/2026/01/02/03-0.jsonl.zst"));
        assert_eq!((recs.len(), err), (100, false));
    }

    #[test]
    fn a_late_record_stays_in_the_open_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ArchiveWriter::new(dir.path().to_path_buf(), ArchiveConfig::default());
        w.write(ts("2026-01-02T10:00:00.1Z"), "coinbase", ws("a")).unwrap();
        w.write(ts("2026-01-02T09:59:59.9Z"), "coinbase", ws("b")).unwrap();
        w.close_all().unwrap();
        // also after the segment was closed: the next one is in hour 10, not 9
        w.write(ts("2026-01-02T09:59:59.95Z"), "coinbase", ws("c")).unwrap();
        w.close().unwrap();
        assert_eq!(files(dir.path()), ["coinbase/2026/01/02/10-0.jsonl.zst", "coinbase/2026/01/02/10-1.jsonl.zst"]);
        let payloads = |p: &str| read(&dir.path().join(p)).0.into_iter().map(|r| r.2.unwrap()).collect::<Vec<_>>();
        assert_eq!(payloads("coinbase/2026/01/02/10-0.jsonl.zst"), ["a", "b"]);
        assert_eq!(payloads("coinbase/2026/01/02/10-1.jsonl.zst"), ["c"]);
    }

    #[test]
    fn errors_leave_the_writer_usable() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("archive");
        // ROOT is a file: the segment cannot be created
        fs::write(&root, b"").unwrap();
        let mut w = ArchiveWriter::new(root.clone(), ArchiveConfig::default());
        let t = ts("2026-01-02T03:04:05Z");
        assert!(w.write(t, "coinbase", ws("1")).is_err());
        assert_eq!(w.write(t, "../etc", ws("1")).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        fs::remove_file(&root).unwrap();
        w.write(t, "coinbase", ws("2")).unwrap();
        w.close().unwrap();
        assert_eq!(files(&root), ["coinbase/2026/01/02/03-0.jsonl.zst"]);
    }

    #[test]
    fn a_failed_write_abandons_the_segment_and_the_next_write_opens_a_fresh_one() {
        let dir = tempfile::tempdir().unwrap();
        let closed = std::sync::Arc::new(std::sync::Mutex::new(Vec::<PathBuf>::new()));
        let seen = closed.clone();
        let mut w = ArchiveWriter::new(dir.path().to_path_buf(), ArchiveConfig::default())
            .on_segment_closed(move |p: &Path| seen.lock().unwrap().push(p.to_owned()));
        let t = ts("2026-01-02T03:04:05Z");
        w.write(t, "coinbase", ws("1")).unwrap();
        // Swap in a segment whose file rejects writes (opened read-only).
        w.segments[0].writer.take().unwrap().finish().unwrap();
        let ro = fs::File::open(dir.path().join("coinbase/2026/01/02/03-0.jsonl.zst")).unwrap();
        w.segments[0].writer = Some(CaptureWriter::from_file(ro, Some(3)).unwrap());
        // Incompressible enough to get past the encoder's and BufWriter's buffers.
        let mut x = 1u64;
        let mut big = String::new();
        for _ in 0..400_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            big.push(char::from(b'a' + (x >> 59) as u8));
        }
        assert!(w.write(t, "coinbase", ws(&big)).is_err());
        // the abandoned segment is done with: reported closed
        assert_eq!(*closed.lock().unwrap(), [dir.path().join("coinbase/2026/01/02/03-0.jsonl.zst")]);
        w.write(t, "coinbase", ws("2")).unwrap();
        w.close().unwrap();
        assert_eq!(closed.lock().unwrap().len(), 2);
        assert_eq!(files(dir.path()), ["coinbase/2026/01/02/03-0.jsonl.zst", "coinbase/2026/01/02/03-1.jsonl.zst"]);
        let (recs, err) = read(&dir.path().join("coinbase/2026/01/02/03-1.jsonl.zst"));
        assert_eq!((recs.len(), recs[0].2.as_deref(), err), (1, Some("2"), false));
        assert_eq!(read(&dir.path().join("coinbase/2026/01/02/03-0.jsonl.zst")).0.len(), 1);
    }
}
