//! Streaming line reader for plain and zstd-compressed captures.

use std::{
    fs::File,
    io::{self, Read},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use marketpipe_model::Timestamp;

use crate::{
    readahead::{Block, Bytes, Entry, InlineBlocks, LineBlocks, Split},
    record::{parse_record_unchecked, CaptureRecord},
};

/// Lines longer than this are skipped rather than buffered: a capture line
/// is one frame or REST response, and nothing an exchange sends comes near
/// it, so a longer line is corruption that must not exhaust memory.
pub const MAX_LINE_BYTES: usize = 16 << 20;

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
const BUF_BYTES: usize = 1 << 20;

/// One line from a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A line's bytes, without the newline (and without a trailing `\r`).
    Data(&'a [u8]),
    /// A line over [`MAX_LINE_BYTES`], skipped; its length.
    TooLong(usize),
}

/// Decides which part of a split read each record belongs to. Called for
/// every line in the canonical layout, in file order, by each reader of a
/// plain file (so the routers of one read must agree) or once by the
/// reading thread of a compressed one; other lines go to every part.
pub trait Router: Send {
    /// The part (`0..parts`) `record` belongs to, or `None` if every part
    /// reads it (as they do a part out of range).
    fn part_of(&mut self, record: &CaptureRecord<'_>) -> Option<u32>;
}

/// A line one part of a split read reads ([`CaptureReader::next_part_line`]).
#[derive(Debug)]
pub struct PartLine<'a> {
    /// The line.
    pub line: Line<'a>,
    /// Its record, as [`CaptureReader::next_record`] gives it.
    pub record: Option<CaptureRecord<'a>>,
    /// Whether every part reads it (else it is this part's own).
    pub shared: bool,
    /// The latest receive time of the other parts' lines before it, if
    /// any: the time a consumer's clock has reached when it comes to this
    /// line. (It may include this part's own earlier lines, which changes
    /// nothing for a clock that only moves forward.)
    pub clock: Option<Timestamp>,
}

/// Reads a capture file line by line in constant memory, decompressing
/// zstd transparently (recognized by its magic bytes, not the file name).
///
/// The reading, line splitting and envelope parsing happen on a thread of
/// their own (see `readahead.rs`), or, for the parts of a split read of a
/// plain file, on each part's own thread as it asks; lines are handed out
/// in place.
pub struct CaptureReader {
    blocks: Blocks,
    /// The block lines are handed out from, and the index of its next line.
    block: Option<(Arc<Block>, usize)>,
    /// Which part of a split read this reader is (`None` when not split).
    part: Option<u32>,
    /// In a split read, the latest receive time of a routed line in the
    /// blocks read to the end.
    clock_end: Option<Timestamp>,
    /// Set once the blocks ran out (or ended in an error, reported once).
    done: bool,
    file_bytes_read: Arc<AtomicU64>,
    file_len: u64,
    compressed: bool,
}

/// Where a reader's blocks come from.
enum Blocks {
    /// A reading thread (shared by the parts of a split read).
    Threaded(LineBlocks),
    /// The reader's own thread, as it asks.
    Inline(InlineBlocks),
}

impl Blocks {
    fn next(&mut self) -> Option<io::Result<Arc<Block>>> {
        match self {
            Blocks::Threaded(blocks) => blocks.next(),
            Blocks::Inline(blocks) => blocks.next(),
        }
    }

    fn recycle(&mut self, block: Arc<Block>) {
        match self {
            Blocks::Threaded(blocks) => blocks.recycle(block),
            Blocks::Inline(blocks) => blocks.recycle(block),
        }
    }
}

/// A capture file opened and sniffed.
struct Opened {
    /// The file from its start, counting what is read.
    source: Counting<Box<dyn Read + Send>>,
    info: FileInfo,
}

/// What the readers of one file report about it.
struct FileInfo {
    len: u64,
    read: Arc<AtomicU64>,
    compressed: bool,
}

impl Opened {
    /// Opens `path`, to be read to its end, or only to its first `limit`
    /// bytes if given.
    fn open(path: &Path, limit: Option<u64>) -> io::Result<Opened> {
        let mut file = File::open(path)?;
        let len = match limit {
            Some(limit) => limit,
            None => file.metadata()?.len(),
        };
        let mut magic = [0u8; 4];
        let mut got = 0;
        while got < magic.len() {
            match file.read(&mut magic[got..])? {
                0 => break,
                n => got += n,
            }
        }
        // The sniffed bytes are put back in front of the file; they are
        // counted when read through the wrapper like every other byte.
        let read = Arc::new(AtomicU64::new(0));
        let head = io::Cursor::new(magic[..got].to_vec());
        let compressed = got == 4 && magic == ZSTD_MAGIC;
        let rest: Box<dyn Read + Send> = match limit {
            Some(limit) => Box::new(head.chain(file.take(limit.saturating_sub(got as u64)))),
            None => Box::new(head.chain(file)),
        };
        Ok(Opened { source: Counting { inner: rest, read: read.clone() }, info: FileInfo { len, read, compressed } })
    }
}

/// Counts bytes read from the file itself, for progress over compressed input.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A line and its record, from its entry in a block of `bytes`.
fn line_and_record<'a>(bytes: &'a Bytes, entry: &Entry) -> (Line<'a>, Option<CaptureRecord<'a>>) {
    let (range, envelope) = match entry {
        Entry::TooLong(n) => return (Line::TooLong(*n), None),
        Entry::Data { line, envelope, .. } => (line.clone(), envelope),
    };
    match bytes {
        Bytes::Text(text) => {
            let line = text.get(range).unwrap_or_default();
            (Line::Data(line.as_bytes()), envelope.as_ref().and_then(|e| e.record(line)))
        }
        // A block that is not all UTF-8: its lines are parsed here.
        Bytes::Raw(raw) => {
            let line = raw.get(range).unwrap_or_default();
            (Line::Data(line), parse_record_unchecked(line))
        }
    }
}

impl CaptureReader {
    /// Opens a capture file.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut one = Self::start(Opened::open(path, None)?, None)?;
        Ok(one.pop().expect("one reader"))
    }

    /// Opens a capture file for `parts` consumers (threads), one reader
    /// each; [`CaptureReader::next_part_line`] gives each consumer its own
    /// lines by `router`, and the lines every part reads.
    ///
    /// A plain file is read by each consumer for itself, on its own thread
    /// (reading and cutting lines is a small part of a consumer's work, and
    /// lines read on the consumer's core are in its cache when it decodes
    /// them). A compressed one is decompressed once, on a thread of its
    /// own, and its blocks shared by all the consumers.
    pub fn open_split(path: &Path, routers: Vec<Box<dyn Router>>) -> io::Result<Vec<Self>> {
        let parts = u32::try_from(routers.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many parts"))?;
        let mut routers = routers.into_iter();
        let Some(first_router) = routers.next() else { return Ok(Vec::new()) };
        // Every part reads the bytes the file has now, whatever is appended
        // while they read, so that all of them see the same lines.
        let len = std::fs::metadata(path)?.len();
        let first = Opened::open(path, Some(len))?;
        if first.info.compressed {
            return Self::start(first, Some(Split { router: first_router, parts, keep: None }));
        }
        let mut readers = Vec::with_capacity(parts as usize);
        let mut next = Some((first, first_router));
        for part in 0..parts {
            let (opened, router) = match next.take() {
                Some(first) => first,
                None => (Opened::open(path, Some(len))?, routers.next().expect("a router per part")),
            };
            let blocks =
                Blocks::Inline(InlineBlocks::new(Box::new(opened.source), BUF_BYTES, Some(Split { router, parts, keep: Some(part) })));
            readers.push(CaptureReader::new(blocks, Some(part), &opened.info));
        }
        Ok(readers)
    }

    fn start(opened: Opened, split: Option<Split>) -> io::Result<Vec<Self>> {
        // Reading and decompressing run on their own thread, ahead of the
        // consumer (see `readahead`).
        let Opened { source, info } = opened;
        let compressed = info.compressed;
        let parts = split.as_ref().map(|s| s.parts);
        let blocks = if compressed {
            let decoder = zstd::stream::read::Decoder::new(source)?;
            LineBlocks::split(decoder, BUF_BYTES, split)?
        } else {
            LineBlocks::split(source, BUF_BYTES, split)?
        };
        Ok(blocks
            .into_iter()
            .zip(0..)
            .map(|(blocks, part)| CaptureReader::new(Blocks::Threaded(blocks), parts.map(|_| part), &info))
            .collect())
    }

    fn new(blocks: Blocks, part: Option<u32>, info: &FileInfo) -> Self {
        CaptureReader {
            blocks,
            block: None,
            part,
            clock_end: None,
            done: false,
            file_bytes_read: info.read.clone(),
            file_len: info.len,
            compressed: info.compressed,
        }
    }

    /// Whether the file is zstd-compressed.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The file's size in bytes (compressed size for `.zst`).
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// How many bytes of the file have been read so far (for progress).
    pub fn file_position(&self) -> u64 {
        self.file_bytes_read.load(Ordering::Relaxed)
    }

    /// The next line, or `None` at the end of the file. Empty lines are
    /// returned as empty data (the caller counts them). A truncated zstd
    /// stream (a segment cut off by a crash) yields its complete lines and
    /// then an error.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        Ok(self.next_entry()?.map(|(bytes, entry)| match entry {
            Entry::TooLong(n) => Line::TooLong(*n),
            Entry::Data { line, .. } => Line::Data(bytes.as_bytes().get(line.clone()).unwrap_or_default()),
        }))
    }

    /// [`CaptureReader::next_line`], with the line's record if it is in the
    /// canonical layout: what [`parse_record_unchecked`] returns for it,
    /// parsed ahead on the reading thread. In a split read, every line,
    /// whatever part it belongs to.
    pub fn next_record(&mut self) -> io::Result<Option<(Line<'_>, Option<CaptureRecord<'_>>)>> {
        let Some((bytes, entry)) = self.next_entry()? else { return Ok(None) };
        Ok(Some(line_and_record(bytes, entry)))
    }

    /// The next line this part of a split read reads; in a read that is
    /// not split, every line, as shared.
    pub fn next_part_line(&mut self) -> io::Result<Option<PartLine<'_>>> {
        let Some(part) = self.part else {
            return Ok(self.next_record()?.map(|(line, record)| PartLine { line, record, shared: true, clock: None }));
        };
        if !self.advance()? {
            return Ok(None);
        }
        let Some((block, next)) = &mut self.block else { return Ok(None) };
        let item = block.parts[part as usize][*next];
        *next += 1;
        let (line, record) = line_and_record(&block.bytes, &block.lines[item.line as usize]);
        Ok(Some(PartLine { line, record, shared: item.shared, clock: item.clock }))
    }

    /// In a split read, the latest receive time of the other parts' lines
    /// read so far; at the end of the read, the time the clock would have
    /// reached reading every line.
    pub fn clock_end(&self) -> Option<Timestamp> {
        self.clock_end
    }

    /// The next line's entry and the bytes of its block; `None` at the end.
    fn next_entry(&mut self) -> io::Result<Option<(&Bytes, &Entry)>> {
        if !self.advance()? {
            return Ok(None);
        }
        let Some((block, next)) = &mut self.block else { return Ok(None) };
        let entry = &block.lines[*next];
        *next += 1;
        Ok(Some((&block.bytes, entry)))
    }

    /// How many items of `block` this reader hands out: its part's lines in
    /// a split read, else every line.
    fn items(&self, block: &Block) -> usize {
        match self.part {
            Some(part) => block.parts.get(part as usize).map_or(0, Vec::len),
            None => block.lines.len(),
        }
    }

    /// Makes sure the current block has a line left, fetching the next
    /// block if needed; `false` at the end (after an error, reported once).
    fn advance(&mut self) -> io::Result<bool> {
        loop {
            match &self.block {
                Some((block, next)) if *next < self.items(block) => return Ok(true),
                _ => {}
            }
            if let Some((spent, _)) = self.block.take() {
                self.clock_end = self.clock_end.max(spent.clock_end);
                self.blocks.recycle(spent);
            }
            if self.done {
                return Ok(false);
            }
            match self.blocks.next() {
                Some(Ok(block)) => self.block = Some((block, 0)),
                Some(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                None => {
                    self.done = true;
                    return Ok(false);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(r: &mut CaptureReader) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(match l {
                Line::Data(d) => String::from_utf8(d.to_vec()).unwrap(),
                Line::TooLong(n) => format!("<too long {n}>"),
            });
        }
        out
    }

    #[test]
    fn reads_plain_and_compressed_alike() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"{\"a\":1}\r\n\n{\"b\":2}\nlast-without-newline";
        let plain = dir.path().join("c.jsonl");
        std::fs::write(&plain, text).unwrap();
        let packed = dir.path().join("c.data");
        std::fs::write(&packed, zstd::encode_all(&text[..], 3).unwrap()).unwrap();
        let expected = vec!["{\"a\":1}", "", "{\"b\":2}", "last-without-newline"];
        let mut r = CaptureReader::open(&plain).unwrap();
        assert!(!r.is_compressed());
        assert_eq!(lines(&mut r), expected);
        assert_eq!(r.file_position(), text.len() as u64);
        let mut r = CaptureReader::open(&packed).unwrap();
        assert!(r.is_compressed());
        assert_eq!(lines(&mut r), expected);
    }

    /// Routes a record by its `conn`, modulo 3; no conn, every part.
    struct ByConn;

    impl Router for ByConn {
        fn part_of(&mut self, record: &CaptureRecord<'_>) -> Option<u32> {
            record.conn.map(|c| (c % 3) as u32)
        }
    }

    /// Each part of a split read gets its own lines and every shared line,
    /// whole and in file order, each with the latest time of the routed
    /// lines before it; between them the parts read every line exactly
    /// once as their own or as shared, and the blocks (several here) are
    /// reused all along.
    #[test]
    fn a_split_read_gives_each_part_its_lines_and_the_others_times() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("split.jsonl");
        let mut text = String::new();
        // Receive times jump back now and then: the clock is their running maximum.
        let recv = |i: u64| if i % 11 == 3 { i / 2 } else { i };
        for i in 0..60_000u64 {
            let pad = "x".repeat((i % 53) as usize);
            let t = recv(i);
            match i % 7 {
                // no conn: every part
                0 => text.push_str(&format!(r#"{{"recv_ns":{t},"exchange":"x","kind":"rest","url":"u","data":{{"p":"{pad}"}}}}"#)),
                // not a canonical record: every part
                1 => text.push_str("garbage"),
                _ => text.push_str(&format!(r#"{{"recv_ns":{t},"exchange":"x","kind":"ws","conn":{},"data":{{"p":"{pad}"}}}}"#, i % 5)),
            }
            text.push('\n');
        }
        std::fs::write(&p, &text).unwrap();
        assert!(text.len() > 3 * BUF_BYTES);
        // Plain: each part reads for itself; compressed: one thread for all.
        let packed = dir.path().join("split.jsonl.zst");
        std::fs::write(&packed, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
        for path in [&p, &packed] {
            check_split_read(path, &text, recv);
        }
    }

    fn check_split_read(p: &Path, text: &str, recv: impl Fn(u64) -> u64) {
        let parts = CaptureReader::open_split(p, (0..3).map(|_| Box::new(ByConn) as Box<dyn Router>).collect()).unwrap();
        assert_eq!(parts.len(), 3);
        let seen: Vec<(Vec<String>, Option<Timestamp>)> = std::thread::scope(|s| {
            let handles: Vec<_> = parts
                .into_iter()
                .map(|mut reader| {
                    s.spawn(move || {
                        let mut out = Vec::new();
                        while let Some(PartLine { line, record, shared, clock }) = reader.next_part_line().unwrap() {
                            let Line::Data(d) = line else { panic!("{line:?}") };
                            out.push(format!("{shared} {:?} {} {:?}", record.map(|r| r.recv.0), d.len(), clock.map(|c| c.0)));
                        }
                        (out, reader.clock_end())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (part, (got, clock_end)) in seen.iter().enumerate() {
            let mut clock: Option<i64> = None;
            let mut expected = Vec::new();
            for (line, i) in text.lines().zip(0u64..) {
                let t = recv(i) as i64;
                match i % 7 {
                    0 => expected.push(format!("true {:?} {} {clock:?}", Some(t), line.len())),
                    1 => expected.push(format!("true None {} {clock:?}", line.len())),
                    _ => {
                        if (i % 5) % 3 == part as u64 {
                            expected.push(format!("false {:?} {} {clock:?}", Some(t), line.len()));
                        }
                        clock = clock.max(Some(t));
                    }
                }
            }
            assert_eq!(got.len(), expected.len(), "part {part}");
            assert!(
                got == &expected,
                "{} part {part} differs from line {:?}",
                p.display(),
                got.iter().zip(&expected).position(|(a, b)| a != b)
            );
            assert_eq!(clock_end.map(|c| c.0), clock, "part {part}");
        }
    }

    #[test]
    fn lines_across_buffer_boundaries_arrive_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("many.jsonl");
        // Line lengths vary so that lines straddle every refill point.
        let expected: Vec<String> = (0..150_000).map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 37))).collect();
        std::fs::write(&p, expected.join("\r\n") + "\n").unwrap();
        assert!(std::fs::metadata(&p).unwrap().len() > 3 * BUF_BYTES as u64);
        assert_eq!(lines(&mut CaptureReader::open(&p).unwrap()), expected);
    }

    #[test]
    fn empty_and_tiny_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e");
        std::fs::write(&p, b"").unwrap();
        assert_eq!(lines(&mut CaptureReader::open(&p).unwrap()), Vec::<String>::new());
        std::fs::write(&p, b"x").unwrap();
        assert_eq!(lines(&mut CaptureReader::open(&p).unwrap()), vec!["x"]);
    }

    #[test]
    fn overlong_lines_are_skipped_not_buffered() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big");
        let mut f = File::create(&p).unwrap();
        f.write_all(b"before\n").unwrap();
        f.write_all(&vec![b'x'; MAX_LINE_BYTES + 10]).unwrap();
        f.write_all(b"\nafter\n").unwrap();
        drop(f);
        let got = lines(&mut CaptureReader::open(&p).unwrap());
        assert_eq!(got, vec!["before".to_string(), format!("<too long {}>", MAX_LINE_BYTES + 10), "after".to_string()]);
    }

    #[test]
    fn records_parsed_ahead_are_what_the_line_parses_to() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mixed.jsonl");
        let mut body = Vec::new();
        for i in 0..40_000 {
            let line = match i % 5 {
                0 => format!(r#"{{"recv_ns":{i},"exchange":"binance","kind":"ws","conn":{i},"data":{{"n":{i}}}}}"#),
                1 => format!(r#"{{"recv_ns":{i},"exchange":"kucoin","kind":"rest","url":"https://x/{i}","data":[{i}]}}"#),
                2 => format!(r#"{{"exchange":"binance","recv_ns":{i},"kind":"ws","data":{{}}}}"#),
                3 => format!(r#"{{"recv_ns":{i},"exchange":"coinbase","kind":"close","conn":1}}"#),
                _ => format!("garbage {i}"),
            };
            body.extend_from_slice(line.as_bytes());
            body.extend_from_slice(if i % 7 == 0 { b"\r\n" } else { b"\n" });
            // Now and then a byte that is not UTF-8, which keeps its block raw.
            if i % 9_999 == 0 {
                body.extend_from_slice(b"\xff\n");
            }
        }
        std::fs::write(&p, &body).unwrap();
        let mut r = CaptureReader::open(&p).unwrap();
        let (mut lines, mut records) = (0, 0);
        while let Some((line, record)) = r.next_record().unwrap() {
            let Line::Data(bytes) = line else { panic!("no long lines here") };
            let direct = parse_record_unchecked(bytes);
            assert_eq!(format!("{record:?}"), format!("{direct:?}"), "{}", String::from_utf8_lossy(bytes));
            lines += 1;
            records += usize::from(record.is_some());
        }
        assert_eq!(lines, 40_000 + 5);
        assert_eq!(records, 16_000);
    }

    #[test]
    fn truncated_zstd_yields_complete_lines_then_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.zst");
        let body: String = (0..20_000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
        let packed = zstd::encode_all(body.as_bytes(), 1).unwrap();
        std::fs::write(&p, &packed[..packed.len() * 2 / 3]).unwrap();
        let mut r = CaptureReader::open(&p).unwrap();
        let mut n = 0;
        let err = loop {
            match r.next_line() {
                Ok(Some(Line::Data(d))) => {
                    // every line delivered is whole, or the last partial one before the cut
                    assert!(d.starts_with(b"{\"n\":"));
                    n += 1;
                }
                Ok(Some(Line::TooLong(_))) => panic!("no long lines here"),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        assert!(err.is_some(), "truncation must be reported");
        assert!(n > 1000 && n < 20_000, "{n} lines before the cut");
    }
}
