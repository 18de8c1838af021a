//! Reading a capture on a second thread, cut into lines and with each
//! line's envelope already parsed.
//!
//! Why: on replay the consumer is busy decoding and aggregating. The file
//! read itself (the kernel's copy out of the page cache, and zstd for
//! archive segments), finding the line ends, the UTF-8 check and the
//! envelope parse were together about a fifth of its work, and none of it
//! depends on what the consumer does. A thread that does all of that ahead
//! of the consumer moves it to another core without changing what is read:
//! blocks of whole lines arrive in order and are handed out in place.
//!
//! A read can also be split between several consumers (see
//! [`crate::CaptureReader::open_split`]): every consumer gets every block
//! (shared, not copied), with a list per part of the lines that part
//! reads, made here: a consumer never touches the others' lines, not even
//! their entries. All it needs of them is how far they moved the clock,
//! which the list carries.

use std::{
    io::{self, Read},
    ops::Range,
    sync::{mpsc, Arc},
    thread,
};

use marketpipe_model::Timestamp;

use crate::{
    reader::{Router, MAX_LINE_BYTES},
    record::Envelope,
};

/// Blocks in flight: one being read, some ready, one being consumed. The
/// memory held is about `BLOCKS × block size`, whatever the file's size
/// (a block grows past its size only to hold one long line whole).
const BLOCKS: usize = 4;

/// What the reading thread made of one line.
#[derive(Debug)]
pub(crate) enum Entry {
    /// A line of at most [`MAX_LINE_BYTES`]: where it is in the block
    /// (without its `\n`, or a `\r` before it), and its envelope if the
    /// block is text and the line is in the canonical layout.
    Data { line: Range<usize>, envelope: Option<Envelope> },
    /// A longer line, skipped: its length.
    TooLong(usize),
}

/// The bytes of a block: text when they are valid UTF-8 (nearly always),
/// which lets envelopes be parsed ahead; raw bytes otherwise.
#[derive(Debug)]
pub(crate) enum Bytes {
    /// Valid UTF-8.
    Text(String),
    /// Not valid UTF-8 somewhere; no envelope was parsed.
    Raw(Vec<u8>),
}

impl Bytes {
    /// The bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Bytes::Text(s) => s.as_bytes(),
            Bytes::Raw(b) => b,
        }
    }

    fn into_vec(self) -> Vec<u8> {
        match self {
            Bytes::Text(s) => s.into_bytes(),
            Bytes::Raw(b) => b,
        }
    }
}

/// Whole lines of a capture, in order.
#[derive(Debug)]
pub(crate) struct Block {
    /// The lines' bytes, newlines included.
    pub(crate) bytes: Bytes,
    /// The lines, in order.
    pub(crate) lines: Vec<Entry>,
    /// In a split read, the lines each part reads, by part (empty otherwise).
    pub(crate) parts: Vec<Vec<PartItem>>,
    /// In a split read, the latest receive time of a routed line up to
    /// the end of this block.
    pub(crate) clock_end: Option<Timestamp>,
}

impl Block {
    fn empty() -> Block {
        Block { bytes: Bytes::Raw(Vec::new()), lines: Vec::new(), parts: Vec::new(), clock_end: None }
    }
}

/// A line one part of a split read reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartItem {
    /// Its index in the block's lines.
    pub(crate) line: u32,
    /// Whether every part reads it (else it is this part's own).
    pub(crate) shared: bool,
    /// The latest receive time of any routed line before it, in the whole
    /// read: how far the other parts' lines have moved the clock (a
    /// consumer's own lines are in it too, which changes nothing, since
    /// the clock only moves forward).
    pub(crate) clock: Option<Timestamp>,
}

/// Fills `parts` with the lines of `lines` each part reads (each kept
/// part's, see [`Split::keep`]): a line whose envelope the router gives a
/// key goes to one part, any other to every part. `clock` is the latest
/// receive time of a routed line before the block; returns that after it.
fn assign_parts(
    bytes: &Bytes,
    lines: &[Entry],
    split: &mut Split,
    parts: &mut Vec<Vec<PartItem>>,
    mut clock: Option<Timestamp>,
) -> Option<Timestamp> {
    parts.resize_with(split.parts as usize, Vec::new);
    parts.iter_mut().for_each(Vec::clear);
    for (index, entry) in lines.iter().enumerate() {
        let line = index as u32;
        let routed = match (bytes, entry) {
            (Bytes::Text(text), Entry::Data { line, envelope: Some(envelope) }) => {
                let record = text.get(line.clone()).and_then(|text| envelope.record(text));
                let part = record.and_then(|record| split.router.part_of(&record)).filter(|&part| part < split.parts);
                part.map(|part| (part, envelope.recv()))
            }
            _ => None,
        };
        match routed {
            Some((part, recv)) => {
                if split.keep.is_none_or(|keep| keep == part) {
                    parts[part as usize].push(PartItem { line, shared: false, clock });
                }
                clock = clock.max(Some(recv));
            }
            None => match split.keep {
                Some(keep) => parts[keep as usize].push(PartItem { line, shared: true, clock }),
                None => parts.iter_mut().for_each(|list| list.push(PartItem { line, shared: true, clock })),
            },
        }
    }
    clock
}

/// One filled block, or the error that ended the stream after the blocks
/// before it.
type Filled = io::Result<Arc<Block>>;

/// How a split read tags its lines: the router, the number of parts, and
/// the one part whose list is kept if only one part reads the blocks (a
/// part reading a plain file for itself), else every part's.
pub(crate) struct Split {
    pub(crate) router: Box<dyn Router>,
    pub(crate) parts: u32,
    pub(crate) keep: Option<u32>,
}

/// Blocks of whole lines read from a source on a background thread, as
/// one consumer receives them.
///
/// Dropping it stops the thread at its next block once every consumer of
/// the read has been dropped.
pub(crate) struct LineBlocks {
    filled: mpsc::Receiver<Filled>,
    empty: mpsc::Sender<Arc<Block>>,
}

impl LineBlocks {
    /// Starts reading `source` about `block_bytes` at a time, for one consumer.
    #[cfg(test)]
    pub(crate) fn new<R: Read + Send + 'static>(source: R, block_bytes: usize) -> io::Result<Self> {
        let mut one = Self::split(source, block_bytes, None)?;
        Ok(one.pop().expect("one consumer"))
    }

    /// Starts reading `source` about `block_bytes` at a time, for one
    /// consumer, or for `split.parts` consumers that each get every block,
    /// its lines tagged by `split.router`.
    pub(crate) fn split<R: Read + Send + 'static>(source: R, block_bytes: usize, split: Option<Split>) -> io::Result<Vec<Self>> {
        let consumers = split.as_ref().map_or(1, |s| s.parts.max(1) as usize);
        // Every block comes back once from each consumer; only the last
        // return finds it unshared and reuses it, so the channel need not
        // be bounded to stay small: it never holds more than every
        // consumer's returns of the blocks in flight.
        let (empty, empty_rx) = mpsc::channel::<Arc<Block>>();
        for _ in 0..BLOCKS - 1 + consumers {
            empty.send(Arc::new(Block::empty())).expect("receiver is alive");
        }
        let (senders, readers): (Vec<_>, Vec<_>) = (0..consumers)
            .map(|_| {
                let (filled_tx, filled) = mpsc::sync_channel::<Filled>(BLOCKS);
                (filled_tx, LineBlocks { filled, empty: empty.clone() })
            })
            .unzip();
        thread::Builder::new().name("capture-read".into()).spawn(move || fill(source, block_bytes, split, &empty_rx, senders))?;
        Ok(readers)
    }

    /// The next block; `None` at the end of the source.
    pub(crate) fn next(&mut self) -> Option<Filled> {
        self.filled.recv().ok()
    }

    /// Hands a consumed block back for reuse.
    pub(crate) fn recycle(&mut self, block: Arc<Block>) {
        // The thread may have finished; then the block is not needed.
        let _ = self.empty.send(block);
    }
}

/// The consumers of a read, each dropped from the list when it hangs up.
struct Consumers(Vec<Option<mpsc::SyncSender<Filled>>>);

impl Consumers {
    /// Sends `block` to every consumer still listening; `false` once none is.
    fn send(&mut self, block: &Arc<Block>) -> bool {
        for slot in &mut self.0 {
            if slot.as_ref().is_some_and(|tx| tx.send(Ok(block.clone())).is_err()) {
                *slot = None;
            }
        }
        self.0.iter().any(Option::is_some)
    }

    /// Sends the error that ended the read to every consumer.
    fn fail(&mut self, e: &io::Error) {
        for tx in self.0.iter().flatten() {
            let _ = tx.send(Err(io::Error::new(e.kind(), e.to_string())));
        }
    }
}

/// Where the reading thread stands between blocks.
#[derive(Default)]
struct Splitter {
    /// The unfinished last line of the previous block.
    carry: Vec<u8>,
    /// Bytes of a line over [`MAX_LINE_BYTES`] seen so far, while skipping
    /// to its end.
    skipped: Option<usize>,
}

/// Cuts a source into blocks of whole lines, one block at a time.
struct Filler<R> {
    source: R,
    block_bytes: usize,
    split: Option<Split>,
    splitter: Splitter,
    /// The latest receive time of a routed line so far (see `PartItem::clock`).
    clock: Option<Timestamp>,
}

impl<R: Read> Filler<R> {
    fn new(source: R, block_bytes: usize, split: Option<Split>) -> Self {
        Filler { source, block_bytes: block_bytes.max(1), split, splitter: Splitter::default(), clock: None }
    }

    /// Refills `block` with the next whole lines; returns it, whether the
    /// source ended, and the error that ended it. A block may come back
    /// with no line (part of a long line): refill it.
    fn refill(&mut self, block: Block) -> (Block, bool, Option<io::Error>) {
        let mut bytes = block.bytes.into_vec();
        let mut lines = block.lines;
        lines.clear();
        // A long line may have grown the block; keep it from holding on
        // to that memory for the rest of the file.
        if bytes.len() > 4 * self.block_bytes {
            bytes.truncate(2 * self.block_bytes);
            bytes.shrink_to_fit();
        }
        let (end, failure) = read_block(&mut self.source, &mut bytes, &mut self.splitter.carry, self.block_bytes);
        self.splitter.split(&mut bytes, &mut lines, end && failure.is_none());
        let bytes = text_or_raw(bytes, &mut lines);
        let mut parts = block.parts;
        if let Some(split) = &mut self.split {
            self.clock = assign_parts(&bytes, &lines, split, &mut parts, self.clock);
        }
        (Block { bytes, lines, parts, clock_end: self.clock }, end, failure)
    }
}

/// The reading thread: fills each empty block with whole lines, sends it
/// on, ends at the end of the source or an error.
fn fill<R: Read>(
    source: R,
    block_bytes: usize,
    split: Option<Split>,
    empty: &mpsc::Receiver<Arc<Block>>,
    filled: Vec<mpsc::SyncSender<Filled>>,
) {
    let mut consumers = Consumers(filled.into_iter().map(Some).collect());
    let mut filler = Filler::new(source, block_bytes, split);
    let mut spare = None;
    loop {
        // A block that got no whole line (part of a long line) is refilled
        // rather than sent; otherwise an empty one comes back from the
        // consumers (the last of them to let go of it).
        let block = match spare.take() {
            Some(block) => block,
            None => match empty.recv().map(Arc::try_unwrap) {
                Ok(Ok(block)) => block,
                Ok(Err(_still_shared)) => continue,
                Err(_) => return,
            },
        };
        let (block, end, failure) = filler.refill(block);
        if block.lines.is_empty() {
            spare = Some(block);
        // Lines read before an error are delivered before the error.
        } else if !consumers.send(&Arc::new(block)) {
            return;
        }
        if let Some(e) = failure {
            consumers.fail(&e);
        }
        if end {
            return;
        }
    }
}

/// Blocks of whole lines read on the consumer's own thread, as it asks for
/// them: for a part of a split read of a plain file, which reads the file
/// for itself. Its lines are read on the core that decodes them, while
/// they are in that core's cache; blocks another thread filled arrived
/// from another core's cache or from memory, which cost the consumer more
/// than reading and cutting them itself (see `CaptureReader::open_split`).
pub(crate) struct InlineBlocks {
    filler: Filler<Box<dyn Read + Send>>,
    spare: Option<Block>,
    ended: bool,
    failure: Option<io::Error>,
}

impl InlineBlocks {
    /// Reads `source` about `block_bytes` at a time.
    pub(crate) fn new(source: Box<dyn Read + Send>, block_bytes: usize, split: Option<Split>) -> Self {
        InlineBlocks { filler: Filler::new(source, block_bytes, split), spare: None, ended: false, failure: None }
    }

    /// The next block; `None` at the end of the source (after the error
    /// that ended it, if any).
    pub(crate) fn next(&mut self) -> Option<Filled> {
        while !self.ended {
            let block = self.spare.take().unwrap_or_else(Block::empty);
            let (block, end, failure) = self.filler.refill(block);
            self.ended = end;
            self.failure = failure;
            if !block.lines.is_empty() {
                return Some(Ok(Arc::new(block)));
            }
            self.spare = Some(block);
        }
        self.failure.take().map(Err)
    }

    /// Hands a consumed block back for reuse.
    pub(crate) fn recycle(&mut self, block: Arc<Block>) {
        if let Ok(block) = Arc::try_unwrap(block) {
            self.spare = Some(block);
        }
    }
}

/// Refills `bytes` with `carry` (emptied) and then up to `want` bytes of
/// `source`; returns whether the source ended, and the error that ended
/// it. What was read before an error is kept.
///
/// The buffer keeps the length it had as the last block: only bytes past
/// it are zeroed before reading (`read_to_end` would zero the whole
/// block every time, 18% of this thread's work).
fn read_block<R: Read>(source: &mut R, bytes: &mut Vec<u8>, carry: &mut Vec<u8>, want: usize) -> (bool, Option<io::Error>) {
    let start = carry.len();
    let full = start + want;
    if bytes.len() < full {
        bytes.resize(full, 0);
    }
    bytes[..start].copy_from_slice(carry);
    carry.clear();
    let mut filled = start;
    let outcome = loop {
        if filled == full {
            break (false, None);
        }
        match source.read(&mut bytes[filled..full]) {
            Ok(0) => break (true, None),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break (true, Some(e)),
        }
    };
    bytes.truncate(filled);
    outcome
}

impl Splitter {
    /// Cuts `bytes` into `lines`. What follows the last newline is the
    /// last line if `last`, else it is carried over to the next block
    /// (moved out of `bytes`).
    fn split(&mut self, bytes: &mut Vec<u8>, lines: &mut Vec<Entry>, last: bool) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', bytes) {
            lines.push(self.line(bytes, start..end));
            start = end + 1;
        }
        let tail = bytes.len() - start;
        if last {
            if tail > 0 || self.skipped.is_some() {
                lines.push(self.line(bytes, start..bytes.len()));
            }
            return;
        }
        if let Some(skipped) = &mut self.skipped {
            *skipped += tail;
        } else if tail > MAX_LINE_BYTES {
            self.skipped = Some(tail);
        } else {
            self.carry.extend_from_slice(&bytes[start..]);
        }
        bytes.truncate(start);
    }

    /// The entry for the line at `range` (without its newline).
    fn line(&mut self, bytes: &[u8], range: Range<usize>) -> Entry {
        if let Some(skipped) = self.skipped.take() {
            return Entry::TooLong(skipped + range.len());
        }
        if range.len() > MAX_LINE_BYTES {
            return Entry::TooLong(range.len());
        }
        let end = if range.end > range.start && bytes[range.end - 1] == b'\r' { range.end - 1 } else { range.end };
        Entry::Data { line: range.start..end, envelope: None }
    }
}

/// The block's bytes as text if they are valid UTF-8, with every line's
/// envelope parsed; else as they are.
fn text_or_raw(bytes: Vec<u8>, lines: &mut [Entry]) -> Bytes {
    match String::from_utf8(bytes) {
        Ok(text) => {
            for entry in lines.iter_mut() {
                if let Entry::Data { line, envelope } = entry {
                    *envelope = text.get(line.clone()).and_then(Envelope::parse);
                }
            }
            Bytes::Text(text)
        }
        Err(e) => Bytes::Raw(e.into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that returns at most `step` bytes per read, then fails
    /// after `fail_at` bytes if set.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        fail_at: Option<usize>,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(io::Error::other("disk on fire"));
            }
            let limit = self.fail_at.unwrap_or(self.data.len()).min(self.data.len());
            let n = buf.len().min(self.step).min(limit - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Every line the blocks hold, as text, and the error that ended them.
    fn drain(mut blocks: LineBlocks) -> (Vec<String>, Option<String>) {
        let mut out = Vec::new();
        while let Some(block) = blocks.next() {
            let block = match block {
                Ok(b) => b,
                Err(e) => return (out, Some(e.to_string())),
            };
            for entry in &block.lines {
                out.push(match entry {
                    Entry::Data { line, .. } => String::from_utf8_lossy(&block.bytes.as_bytes()[line.clone()]).into_owned(),
                    Entry::TooLong(n) => format!("<too long {n}>"),
                });
            }
            blocks.recycle(block);
        }
        (out, None)
    }

    /// What splitting `text` at its newlines gives, the way the reader
    /// hands lines out.
    fn expected(text: &str) -> Vec<String> {
        let mut lines: Vec<String> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l).to_owned()).collect();
        if text.is_empty() || text.ends_with('\n') {
            lines.pop();
        }
        lines
    }

    #[test]
    fn delivers_every_line_in_order_whatever_the_block_size() {
        let many: String = (0..3000).map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}\r\n", "x".repeat(i % 41))).collect();
        let texts = ["", "x", "\n", "\n\n", "a\r\nb", "a\nb\n", "é\nü\r\n\r\n", &many];
        for text in texts {
            for (block, step) in [(1, 1), (2, 3), (7, 5), (64, 1000), (4096, 333), (1 << 20, 1 << 20)] {
                let src = Trickle { data: text.as_bytes().to_vec(), at: 0, step, fail_at: None };
                let (got, error) = drain(LineBlocks::new(src, block).unwrap());
                assert_eq!(error, None);
                assert_eq!(got, expected(text), "block {block} step {step} text {:?}", &text[..text.len().min(40)]);
            }
        }
    }

    #[test]
    fn delivers_whole_lines_before_the_error_then_the_error() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let src = Trickle { data: text.into_bytes(), at: 0, step: 300, fail_at: Some(5_005) };
        let (got, error) = drain(LineBlocks::new(src, 1024).unwrap());
        assert_eq!(error.as_deref(), Some("disk on fire"));
        // Every whole line before the failure, and not the cut one after them.
        let whole = expected(&(0..1000).map(|i| format!("line {i}\n")).collect::<String>()[..5_005]);
        assert_eq!(got, whole[..whole.len() - 1]);
    }

    #[test]
    fn envelopes_are_parsed_ahead_in_text_blocks_only() {
        let canonical = r#"{"recv_ns":5,"exchange":"binance","kind":"ws","conn":1,"data":{"a":1}}"#;
        let text = format!("{canonical}\nnot a record\n{canonical}\n");
        let blocks = LineBlocks::new(io::Cursor::new(text.clone().into_bytes()), 1 << 20).unwrap();
        let mut blocks = blocks;
        let block = blocks.next().unwrap().unwrap();
        assert!(matches!(block.bytes, Bytes::Text(_)));
        let parsed: Vec<bool> = block.lines.iter().map(|e| matches!(e, Entry::Data { envelope: Some(_), .. })).collect();
        assert_eq!(parsed, [true, false, true]);
        // One invalid byte anywhere: the block stays raw and nothing is parsed ahead.
        let mut raw = text.into_bytes();
        raw.extend_from_slice(b"\xff\n");
        let mut blocks = LineBlocks::new(io::Cursor::new(raw), 1 << 20).unwrap();
        let block = blocks.next().unwrap().unwrap();
        assert!(matches!(block.bytes, Bytes::Raw(_)));
        assert_eq!(block.lines.len(), 4);
        assert!(block.lines.iter().all(|e| matches!(e, Entry::Data { envelope: None, .. })));
    }
}
