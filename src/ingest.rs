//! Capture records → venue decoders → engine, with every outcome counted.
//!
//! This is the one place a raw record becomes events: replay uses it, and
//! so does anything else that reads captures. A record that cannot be used
//! is skipped with its reason counted and a short sample logged at debug;
//! nothing here can stop the stream.

use std::{collections::BTreeMap, fmt};

use marketpipe_capture::{parse_record, CaptureRecord, Line, RecordKind};
use marketpipe_engine::Engine;
use marketpipe_model::{Exchange, MarketEvent};
use marketpipe_venues::{decoder_for, DecodeError, Decoded, VenueDecoder};
use rustc_hash::FxHashMap;

/// Counts of everything the ingest saw, by kind and reason.
#[derive(Debug, Default, Clone)]
pub struct IngestCounters {
    /// Lines read.
    pub records: u64,
    /// Records by kind (`ws`, `rest`, `open`, ...).
    pub by_kind: FxHashMap<&'static str, u64>,
    /// Decoded frames and REST responses by exchange and message type.
    pub messages: FxHashMap<(Exchange, &'static str), u64>,
    /// Normalized events by kind (`trade`, `book_delta`, ...).
    pub events: FxHashMap<&'static str, u64>,
    /// Skipped records and frames by reason.
    pub skipped: FxHashMap<&'static str, u64>,
}

impl IngestCounters {
    fn skip(&mut self, reason: &'static str) {
        *self.skipped.entry(reason).or_default() += 1;
    }

    /// Total skipped.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// A map sorted by key, for stable output.
    pub fn sorted<K: Ord + Clone>(map: &FxHashMap<K, u64>) -> BTreeMap<K, u64> {
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// Feeds capture lines through decoders into an engine.
pub struct Ingest {
    decoders: FxHashMap<Exchange, Box<dyn VenueDecoder>>,
    events: Vec<MarketEvent>,
    counters: IngestCounters,
}

impl Default for Ingest {
    fn default() -> Self {
        Self::new()
    }
}

impl Ingest {
    /// A fresh ingest with no decoder state.
    pub fn new() -> Self {
        Ingest { decoders: FxHashMap::default(), events: Vec::with_capacity(64), counters: IngestCounters::default() }
    }

    /// What has been counted so far.
    pub fn counters(&self) -> &IngestCounters {
        &self.counters
    }

    /// Handles one line of a capture.
    pub fn line(&mut self, line: Line<'_>, engine: &mut Engine) {
        self.counters.records += 1;
        let bytes = match line {
            Line::TooLong(len) => {
                tracing::debug!(len, "skipped capture line over the size limit");
                return self.counters.skip("line_too_long");
            }
            Line::Data(d) if d.iter().all(u8::is_ascii_whitespace) => return self.counters.skip("empty_line"),
            Line::Data(d) => d,
        };
        match parse_record(bytes) {
            Ok(record) => self.record(&record, engine),
            Err(e) => {
                tracing::debug!(reason = e.reason(), error = %e, sample = %Sample(bytes), "skipped capture line");
                self.counters.skip(e.reason());
            }
        }
    }

    /// Handles one parsed record.
    pub fn record(&mut self, record: &CaptureRecord<'_>, engine: &mut Engine) {
        *self.counters.by_kind.entry(record.kind.as_str()).or_default() += 1;
        let Ok(exchange) = record.exchange.parse::<Exchange>() else {
            tracing::debug!(exchange = %record.exchange, "skipped record of an unknown exchange");
            return self.counters.skip("unknown_exchange");
        };
        // The record's receive time is the injected clock: windows of quiet
        // products close exactly as they did when the capture was recorded.
        engine.advance_clock(record.recv);
        let (url, payload) = match record.kind {
            RecordKind::Ws | RecordKind::Rest => match record.payload() {
                Some(p) => (record.url.as_deref(), p),
                None => return self.counters.skip("missing_data"),
            },
            // Connection bookkeeping and our own outgoing frames carry no market data.
            RecordKind::Open | RecordKind::Close | RecordKind::WsOut => return,
        };
        let decoder = match self.decoders.entry(exchange) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => match decoder_for(exchange) {
                Some(d) => v.insert(d),
                None => return self.counters.skip("unsupported_exchange"),
            },
        };
        let result = match (record.kind, url) {
            (RecordKind::Rest, Some(url)) => decoder.decode_rest(url, &payload, record.recv, &mut self.events),
            (RecordKind::Rest, None) => return self.counters.skip("rest_without_url"),
            _ => decoder.decode_ws(&payload, record.recv, &mut self.events),
        };
        match result {
            Ok(decoded) => self.decoded(exchange, &decoded),
            Err(e) => self.failed(exchange, &e, &payload),
        }
        for event in self.events.drain(..) {
            *self.counters.events.entry(event.kind()).or_default() += 1;
            engine.apply(event);
        }
    }

    fn decoded(&mut self, exchange: Exchange, decoded: &Decoded) {
        *self.counters.messages.entry((exchange, decoded.label())).or_default() += 1;
        if let Decoded::ExchangeError { message, reason } = decoded {
            tracing::warn!(%exchange, %message, reason = reason.as_deref().unwrap_or(""), "exchange reported an error");
        }
    }

    fn failed(&mut self, exchange: Exchange, e: &DecodeError, payload: &str) {
        tracing::debug!(%exchange, reason = e.reason(), error = %e, sample = %Sample(payload.as_bytes()), "skipped frame");
        self.counters.skip(e.reason());
    }
}

/// The first bytes of a bad input, for a log line that shows what it was
/// without dumping megabytes.
pub struct Sample<'a>(pub &'a [u8]);

impl fmt::Display for Sample<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 160;
        let cut = &self.0[..self.0.len().min(MAX)];
        write!(f, "{}", String::from_utf8_lossy(cut))?;
        if self.0.len() > MAX {
            write!(f, "…({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}
