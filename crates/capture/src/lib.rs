//! The capture format (v1): marketpipe's raw archive, `replay` input and
//! recording output.
//!
//! JSON Lines, optionally zstd-compressed, one record per line in receive
//! order (see DESIGN "Capture format"):
//!
//! ```text
//! {"recv_ns":1633998512063356928,"exchange":"coinbase","kind":"open","conn":1,"url":"wss://ws-feed.exchange.coinbase.com"}
//! {"recv_ns":1633998512564784896,"exchange":"coinbase","kind":"ws","conn":1,"data":{"type":"heartbeat",...}}
//! ```
//!
//! [`CaptureReader`] streams lines from plain or compressed files in
//! constant memory, read and cut into lines on a thread of its own (with
//! each canonical line's envelope parsed there too, for
//! [`CaptureReader::next_record`]); [`CaptureReader::open_split`] reads one
//! file for several consumers, each getting the lines a [`Router`] gives it
//! and the lines every consumer reads; [`parse_record`] turns a line into a borrowed
//! [`CaptureRecord`]; [`CaptureWriter`] writes records in the canonical field
//! order. [`ArchiveWriter`] writes the live raw archive: per-exchange zstd
//! segments rotated hourly and at a size cap
//! (`ROOT/<exchange>/YYYY/MM/DD/HH-<n>.jsonl.zst`).

mod archive;
mod readahead;
mod reader;
mod record;
mod writer;

pub use archive::{ArchiveConfig, ArchiveWriter};
pub use reader::{CaptureReader, Line, PartLine, Router, MAX_LINE_BYTES};
pub use record::{parse_record, parse_record_unchecked, CaptureRecord, RecordError, RecordKind};
pub use writer::{encode_line, CaptureWriter, OutRecord};
