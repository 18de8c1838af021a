//! Reading (and decompressing) a capture on a second thread.
//!
//! Why: on replay the consumer is busy decoding and aggregating, and the
//! file read itself (the kernel's copy out of the page cache, and zstd for
//! archive segments) was a sixth of its time. A thread that fills blocks
//! ahead of the consumer moves that work to another core without changing
//! what is read: the blocks arrive in order and are handed out in place.

use std::{
    io::{self, BufRead, Read},
    sync::mpsc,
    thread,
};

/// Blocks in flight: one being read, some ready, one being consumed. The
/// memory held is `BLOCKS × block size`, whatever the file's size.
const BLOCKS: usize = 4;

/// One filled block, or the error that ended the stream after the blocks
/// before it.
type Filled = io::Result<(Vec<u8>, usize)>;

/// A [`BufRead`] whose bytes are read from `R` on a background thread.
///
/// Dropping it stops the thread at its next block.
pub struct ReadAhead {
    filled: mpsc::Receiver<Filled>,
    empty: mpsc::SyncSender<Vec<u8>>,
    block: Vec<u8>,
    len: usize,
    pos: usize,
    done: bool,
}

impl ReadAhead {
    /// Starts reading `source` in blocks of `block_bytes`.
    pub fn new<R: Read + Send + 'static>(source: R, block_bytes: usize) -> io::Result<Self> {
        let (filled_tx, filled) = mpsc::sync_channel::<Filled>(BLOCKS);
        let (empty, empty_rx) = mpsc::sync_channel::<Vec<u8>>(BLOCKS);
        for _ in 0..BLOCKS - 1 {
            empty.send(vec![0; block_bytes]).expect("receiver is alive");
        }
        thread::Builder::new().name("capture-read".into()).spawn(move || fill(source, &empty_rx, &filled_tx))?;
        Ok(ReadAhead { filled, empty, block: Vec::new(), len: 0, pos: 0, done: false })
    }
}

/// The reader thread: fills each empty block completely (short reads are
/// common on pipes and decompressors), sends it on, ends at EOF or error.
fn fill<R: Read>(mut source: R, empty: &mpsc::Receiver<Vec<u8>>, filled: &mpsc::SyncSender<Filled>) {
    while let Ok(mut block) = empty.recv() {
        let mut len = 0;
        let mut failure = None;
        while len < block.len() {
            match source.read(&mut block[len..]) {
                Ok(0) => break,
                Ok(n) => len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let end = failure.is_some() || len < block.len();
        // Data read before an error is delivered before the error.
        if len > 0 && filled.send(Ok((block, len))).is_err() {
            return;
        }
        if let Some(e) = failure {
            let _ = filled.send(Err(e));
        }
        if end {
            return;
        }
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ReadAhead {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.len && !self.done {
            let spent = std::mem::take(&mut self.block);
            if spent.capacity() > 0 {
                // The thread may have finished; then the block is not needed.
                let _ = self.empty.try_send(spent);
            }
            match self.filled.recv() {
                Ok(Ok((block, len))) => {
                    self.block = block;
                    self.len = len;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    self.len = 0;
                    self.pos = 0;
                    return Err(e);
                }
                // The thread ended at EOF.
                Err(mpsc::RecvError) => {
                    self.done = true;
                    self.len = 0;
                    self.pos = 0;
                }
            }
        }
        Ok(&self.block[self.pos..self.len])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.len);
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

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn delivers_every_byte_in_order() {
        for (len, block, step) in [(0, 8, 3), (1, 8, 3), (8, 8, 8), (1000, 64, 5), (100_003, 4096, 1000)] {
            let src = Trickle { data: data(len), at: 0, step, fail_at: None };
            let mut got = Vec::new();
            ReadAhead::new(src, block).unwrap().read_to_end(&mut got).unwrap();
            assert_eq!(got, data(len), "len {len} block {block} step {step}");
        }
    }

    #[test]
    fn delivers_data_before_the_error_then_the_error() {
        let src = Trickle { data: data(10_000), at: 0, step: 300, fail_at: Some(5_000) };
        let mut r = ReadAhead::new(src, 1024).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 100];
        let err = loop {
            match r.read(&mut buf) {
                Ok(0) => break None,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => break Some(e),
            }
        };
        assert_eq!(err.expect("the error is reported").to_string(), "disk on fire");
        assert_eq!(got, data(5_000));
        assert_eq!(r.read(&mut buf).unwrap(), 0, "after the error, end of stream");
    }

    #[test]
    fn dropping_early_stops_the_thread() {
        let src = Trickle { data: data(1 << 20), at: 0, step: 1 << 20, fail_at: None };
        let mut r = ReadAhead::new(src, 1024).unwrap();
        let mut buf = [0u8; 10];
        r.read_exact(&mut buf).unwrap();
        drop(r); // the thread's next send fails and it returns; nothing hangs
    }
}
