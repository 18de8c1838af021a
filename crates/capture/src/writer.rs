//! Writing capture records in the canonical field order.

use std::{
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
};

use marketpipe_model::Timestamp;

/// One record to write. Payloads are given as the text received; JSON
/// payloads are embedded verbatim (compacted onto one line if they span
/// several), anything else as a JSON string.
#[derive(Debug, Clone, Copy)]
pub enum OutRecord<'a> {
    /// A websocket connection opened.
    Open {
        /// Connection id.
        conn: u64,
        /// The websocket URL.
        url: &'a str,
    },
    /// A websocket frame received.
    Ws {
        /// Connection id.
        conn: u64,
        /// The frame text.
        data: &'a str,
    },
    /// A websocket frame sent.
    WsOut {
        /// Connection id.
        conn: u64,
        /// The frame text.
        data: &'a str,
    },
    /// A REST response received.
    Rest {
        /// The request URL.
        url: &'a str,
        /// The response body.
        data: &'a str,
    },
    /// A websocket connection closed.
    Close {
        /// Connection id.
        conn: u64,
    },
}

enum Sink {
    Plain(BufWriter<File>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

/// Writes a capture file, zstd-compressed or plain.
///
/// Call [`CaptureWriter::finish`] to complete a compressed file; a writer
/// dropped without it leaves a truncated zstd stream, whose complete lines
/// [`crate::CaptureReader`] still reads.
pub struct CaptureWriter {
    sink: Sink,
    line: Vec<u8>,
    bytes: u64,
}

impl CaptureWriter {
    /// Creates (truncates) `path`; compressed at the given zstd level if `zstd_level` is set.
    pub fn create(path: &Path, zstd_level: Option<i32>) -> io::Result<Self> {
        Self::from_file(File::create(path)?, zstd_level)
    }

    /// Writes to an already opened file (the archive opens its segments with
    /// `create_new` so that a restart never overwrites one).
    pub(crate) fn from_file(file: File, zstd_level: Option<i32>) -> io::Result<Self> {
        let file = BufWriter::with_capacity(1 << 16, file);
        let sink = match zstd_level {
            Some(level) => Sink::Zstd(zstd::stream::write::Encoder::new(file, level)?),
            None => Sink::Plain(file),
        };
        Ok(CaptureWriter { sink, line: Vec::with_capacity(4096), bytes: 0 })
    }

    /// Uncompressed bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Appends one record.
    pub fn write(&mut self, recv: Timestamp, exchange: &str, record: OutRecord<'_>) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        encode_line(line, recv, exchange, record);
        self.bytes += line.len() as u64;
        match &mut self.sink {
            Sink::Plain(w) => w.write_all(line),
            Sink::Zstd(w) => w.write_all(line),
        }
    }

    /// Flushes buffered records to the file (a compressed stream stays open).
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Plain(w) => w.flush(),
            Sink::Zstd(w) => w.flush(),
        }
    }

    /// Completes the file (the zstd frame epilogue) and syncs it to disk.
    pub fn finish(self) -> io::Result<()> {
        let file = match self.sink {
            Sink::Plain(w) => w.into_inner().map_err(|e| e.into_error())?,
            Sink::Zstd(w) => w.finish()?.into_inner().map_err(|e| e.into_error())?,
        };
        file.sync_all()
    }
}

fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // serde_json's string escaping is exactly JSON's; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Embeds a payload: valid JSON verbatim (compacted to one line if needed),
/// anything else as a JSON string.
fn push_payload(out: &mut Vec<u8>, data: &str) {
    if serde_json::from_str::<&serde_json::value::RawValue>(data).is_ok() {
        let trimmed = data.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.bytes().any(|b| b == b'\n' || b == b'\r') {
            compact_json(out, trimmed);
        } else {
            out.extend_from_slice(trimmed.as_bytes());
        }
    } else {
        push_json_string(out, data);
    }
}

/// Drops the whitespace between tokens of valid JSON, leaving every token
/// (numbers included) byte for byte as it was.
fn compact_json(out: &mut Vec<u8>, json: &str) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(b);
        }
    }
}

/// Appends `record` to `line` as one capture line (newline included), the
/// exact bytes a [`CaptureWriter`] writes: for anything else that carries
/// capture records (a raw-frames topic on a message bus).
pub fn encode_line(line: &mut Vec<u8>, recv: Timestamp, exchange: &str, record: OutRecord<'_>) {
    line.extend_from_slice(b"{\"recv_ns\":");
    line.extend_from_slice(recv.0.to_string().as_bytes());
    line.extend_from_slice(b",\"exchange\":");
    push_json_string(line, exchange);
    let (kind, conn, url, data) = match record {
        OutRecord::Open { conn, url } => ("open", Some(conn), Some(url), None),
        OutRecord::Ws { conn, data } => ("ws", Some(conn), None, Some(data)),
        OutRecord::WsOut { conn, data } => ("ws_out", Some(conn), None, Some(data)),
        OutRecord::Rest { url, data } => ("rest", None, Some(url), Some(data)),
        OutRecord::Close { conn } => ("close", Some(conn), None, None),
    };
    line.extend_from_slice(b",\"kind\":\"");
    line.extend_from_slice(kind.as_bytes());
    line.push(b'"');
    if let Some(conn) = conn {
        line.extend_from_slice(b",\"conn\":");
        line.extend_from_slice(conn.to_string().as_bytes());
    }
    if let Some(url) = url {
        line.extend_from_slice(b",\"url\":");
        push_json_string(line, url);
    }
    if let Some(data) = data {
        line.extend_from_slice(b",\"data\":");
        push_payload(line, data);
    }
    line.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_record, CaptureReader, Line, RecordKind};

    #[test]
    fn round_trips_every_kind_through_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        for level in [None, Some(3)] {
            let p = dir.path().join(format!("rt-{level:?}"));
            let mut w = CaptureWriter::create(&p, level).unwrap();
            let pretty = "{\n  \"price\": 1.10000000000000000001,\n  \"s\": \"a b\\n\"\n}";
            let recs = [
                OutRecord::Open { conn: 1, url: "wss://ws-feed.exchange.coinbase.com" },
                OutRecord::WsOut { conn: 1, data: r#"{"type":"subscribe"}"# },
                OutRecord::Ws { conn: 1, data: r#"{"type":"heartbeat"}"# },
                OutRecord::Ws { conn: 1, data: "not json \"at all\"" },
                OutRecord::Rest { url: "https://api.exchange.coinbase.com/products", data: pretty },
                OutRecord::Close { conn: 1 },
            ];
            for (i, r) in recs.iter().enumerate() {
                w.write(Timestamp(i as i64), "coinbase", *r).unwrap();
            }
            w.finish().unwrap();
            let mut reader = CaptureReader::open(&p).unwrap();
            let mut got = Vec::new();
            while let Some(Line::Data(l)) = reader.next_line().unwrap() {
                let r = parse_record(l).unwrap();
                let payload = r.payload().map(|p| p.into_owned());
                got.push((r.recv.0, r.kind, r.conn, r.url.map(|u| u.into_owned()), payload));
            }
            assert_eq!(got.len(), recs.len());
            assert_eq!(got[0], (0, RecordKind::Open, Some(1), Some("wss://ws-feed.exchange.coinbase.com".into()), None));
            assert_eq!(got[2].4.as_deref(), Some(r#"{"type":"heartbeat"}"#));
            assert_eq!(got[3].4.as_deref(), Some("not json \"at all\""));
            // numbers keep their exact digits; whitespace inside strings survives
            assert_eq!(got[4].4.as_deref(), Some("{\"price\":1.10000000000000000001,\"s\":\"a b\\n\"}"));
            assert_eq!(got[5].1, RecordKind::Close);
        }
    }
}
