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

use crate::{
    readahead::{Block, Bytes, Entry, LineBlocks},
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

/// Reads a capture file line by line in constant memory, decompressing
/// zstd transparently (recognized by its magic bytes, not the file name).
///
/// The reading, line splitting and envelope parsing happen on a thread of
/// their own (see `readahead.rs`); lines are handed out in place.
pub struct CaptureReader {
    blocks: LineBlocks,
    /// The block lines are handed out from, and the index of its next line.
    block: Option<(Block, usize)>,
    /// Set once the blocks ran out (or ended in an error, reported once).
    done: bool,
    file_bytes_read: Arc<AtomicU64>,
    file_len: u64,
    compressed: bool,
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

impl CaptureReader {
    /// Opens a capture file.
    pub fn open(path: &Path) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let file_len = file.metadata()?.len();
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
        let counted = Counting { inner: head.chain(file), read: read.clone() };
        let compressed = got == 4 && magic == ZSTD_MAGIC;
        // Reading and decompressing run on their own thread, ahead of the
        // consumer (see `readahead`).
        let blocks = if compressed {
            let decoder = zstd::stream::read::Decoder::new(counted)?;
            LineBlocks::new(decoder, BUF_BYTES)?
        } else {
            LineBlocks::new(counted, BUF_BYTES)?
        };
        Ok(CaptureReader { blocks, block: None, done: false, file_bytes_read: read, file_len, compressed })
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
    /// parsed ahead on the reading thread.
    pub fn next_record(&mut self) -> io::Result<Option<(Line<'_>, Option<CaptureRecord<'_>>)>> {
        let Some((bytes, entry)) = self.next_entry()? else { return Ok(None) };
        let (range, envelope) = match entry {
            Entry::TooLong(n) => return Ok(Some((Line::TooLong(*n), None))),
            Entry::Data { line, envelope } => (line.clone(), envelope),
        };
        Ok(Some(match bytes {
            Bytes::Text(text) => {
                let line = text.get(range).unwrap_or_default();
                (Line::Data(line.as_bytes()), envelope.as_ref().and_then(|e| e.record(line)))
            }
            // A block that is not all UTF-8: its lines are parsed here.
            Bytes::Raw(raw) => {
                let line = raw.get(range).unwrap_or_default();
                (Line::Data(line), parse_record_unchecked(line))
            }
        }))
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

    /// Makes sure the current block has a line left, fetching the next
    /// block if needed; `false` at the end (after an error, reported once).
    fn advance(&mut self) -> io::Result<bool> {
        loop {
            match &self.block {
                Some((block, next)) if *next < block.lines.len() => return Ok(true),
                _ => {}
            }
            if let Some((spent, _)) = self.block.take() {
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
