//! Capture records → venue decoders → engine, with every outcome counted.
//!
//! This is the one place a raw record becomes events: replay uses it, and
//! so does anything else that reads captures. A record that cannot be used
//! is skipped with its reason counted and a short sample logged at debug;
//! nothing here can stop the stream.

use std::{collections::BTreeMap, fmt, sync::Arc};

#[cfg(test)]
use marketpipe_capture::parse_record_unchecked;
use marketpipe_capture::{parse_record, CaptureRecord, Line, RecordKind};
use marketpipe_engine::Engine;
use marketpipe_live::{LiveBody, LiveRecord};
use marketpipe_model::{Exchange, InstrumentKey, MarketEvent, Timestamp};
use marketpipe_venues::{decoder_for, DecodeError, Decoded, VenueDecoder};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::parts::PartAssignment;

/// Where ingest sends what it decoded: the engine itself, or the bus
/// output's record of the calls (see `live::bus_output`).
pub trait EngineSink {
    /// Moves the engine's clock (each record's receive time).
    fn advance_clock(&mut self, now: Timestamp);
    /// Applies one event.
    fn apply(&mut self, event: MarketEvent);
    /// Stops applying deltas to a book until its next snapshot.
    fn mark_resyncing(&mut self, key: &InstrumentKey);
    /// Marks a book stale until its next snapshot.
    fn mark_stale(&mut self, key: &InstrumentKey);
}

impl EngineSink for Engine {
    #[inline]
    fn advance_clock(&mut self, now: Timestamp) {
        Engine::advance_clock(self, now);
    }

    #[inline]
    fn apply(&mut self, event: MarketEvent) {
        Engine::apply(self, event);
    }

    fn mark_resyncing(&mut self, key: &InstrumentKey) {
        Engine::mark_resyncing(self, key);
    }

    fn mark_stale(&mut self, key: &InstrumentKey) {
        Engine::mark_stale(self, key);
    }
}

/// Counts by key for the handful of keys a counter here ever sees (record
/// kinds, message types, reasons): a short vector scanned from the front.
/// Counting happens several times per record, and hashing a label cost
/// more than comparing it with the few before it.
///
/// Keys are labels (`&'static str`, alone or with an exchange), matched by
/// identity when counting: comparing a label's address and length is two
/// word compares, where comparing its text was a `memcmp` call (2% of a
/// replay's decoding thread, callgrind). The same text at two addresses (the
/// compiler need not merge equal literals) makes two entries, which every
/// reading merges, so what is read is always by text.
#[derive(Debug, Clone)]
pub struct Tally<K> {
    entries: Vec<(K, u64)>,
}

impl<K> Default for Tally<K> {
    fn default() -> Self {
        Tally { entries: Vec::new() }
    }
}

/// A [`Tally`] key: ordered by text, and matched by identity while counting.
pub trait TallyKey: Copy + Ord {
    /// Whether `self` and `other` are the same key by identity (equal
    /// values may still differ here; never the other way round).
    fn same(self, other: Self) -> bool;
}

impl TallyKey for &'static str {
    #[inline]
    fn same(self, other: Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl<E: Copy + Ord> TallyKey for (E, &'static str) {
    #[inline]
    fn same(self, other: Self) -> bool {
        self.0 == other.0 && self.1.same(other.1)
    }
}

impl<K: TallyKey> Tally<K> {
    /// Adds one to `key`.
    #[inline]
    pub fn add(&mut self, key: K) {
        self.add_n(key, 1);
    }

    #[inline]
    fn add_n(&mut self, key: K, n: u64) {
        match self.entries.iter_mut().find(|(k, _)| k.same(key)) {
            Some((_, total)) => *total += n,
            None => self.entries.push((key, n)),
        }
    }

    /// The count of `key`, if it was ever counted.
    #[cfg(test)]
    pub fn get(&self, key: K) -> Option<u64> {
        self.sorted().get(&key).copied()
    }

    /// Every key and count, sorted by key (each key once).
    pub fn iter(&self) -> impl Iterator<Item = (K, u64)> {
        self.sorted().into_iter()
    }

    /// Adds every count of `other` to this one.
    pub fn add_all(&mut self, other: &Tally<K>) {
        for &(key, n) in &other.entries {
            self.add_n(key, n);
        }
    }

    /// The sum of all counts.
    pub fn total(&self) -> u64 {
        self.entries.iter().map(|(_, n)| n).sum()
    }

    /// Every key and count, sorted by key, for stable output.
    pub fn sorted(&self) -> BTreeMap<K, u64> {
        let mut out = BTreeMap::new();
        for &(key, n) in &self.entries {
            *out.entry(key).or_default() += n;
        }
        out
    }
}

/// Counts of everything the ingest saw, by kind and reason.
#[derive(Debug, Default, Clone)]
pub struct IngestCounters {
    /// Lines read.
    pub records: u64,
    /// Records by kind (`ws`, `rest`, `open`, ...).
    pub by_kind: Tally<&'static str>,
    /// Decoded frames and REST responses by exchange and message type.
    pub messages: Tally<(Exchange, &'static str)>,
    /// Normalized events by kind (`trade`, `book_delta`, ...).
    pub events: Tally<&'static str>,
    /// Skipped records and frames by exchange (`None` where the record is
    /// unreadable before its exchange is known) and reason.
    pub skipped: Tally<(Option<Exchange>, &'static str)>,
}

impl IngestCounters {
    /// Adds `other`'s counts to these (the parts of a split replay).
    pub fn add(&mut self, other: &IngestCounters) {
        let IngestCounters { records, by_kind, messages, events, skipped } = other;
        self.records += records;
        self.by_kind.add_all(by_kind);
        self.messages.add_all(messages);
        self.events.add_all(events);
        self.skipped.add_all(skipped);
    }

    fn skip(&mut self, exchange: Option<Exchange>, reason: &'static str) {
        self.skipped.add((exchange, reason));
    }

    /// Skipped records and frames by reason, over all exchanges, sorted.
    pub fn skipped_by_reason(&self) -> BTreeMap<&'static str, u64> {
        let mut out = BTreeMap::new();
        for ((_, reason), n) in self.skipped.iter() {
            *out.entry(reason).or_default() += n;
        }
        out
    }

    /// Total skipped.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.total()
    }
}

/// Feeds capture lines (replay) or live records through decoders into an
/// engine: one code path for both, so a replay of the archive reproduces
/// what the live run computed.
pub struct Ingest {
    /// Each exchange's decoder, made on its first record, by
    /// `Exchange as usize`: the exchanges are a closed set, and indexing
    /// costs less than the two hash lookups per record a map took.
    decoders: [Option<Box<dyn VenueDecoder>>; Exchange::ALL.len()],
    events: Vec<MarketEvent>,
    counters: IngestCounters,
    /// Products whose book snapshot arrived on each open connection: when
    /// the connection closes, their books miss updates until a new snapshot
    /// arrives on the next one, so they are marked resyncing.
    books_by_conn: FxHashMap<(Exchange, u64), FxHashSet<InstrumentKey>>,
    /// The products this ingest keeps, in a replay split by product.
    part: Option<Part>,
    /// Whether the line being handled is shared by every part.
    shared_line: bool,
    /// Whether each product seen so far is this part's.
    mine: FxHashMap<InstrumentKey, bool>,
}

/// One of the parts a replay is split into by product: the products the
/// shared assignment gives to `index`.
#[derive(Debug, Clone)]
pub struct Part {
    /// This part.
    pub index: u32,
    /// Every product's part.
    pub assignment: Arc<PartAssignment>,
}

impl Default for Ingest {
    fn default() -> Self {
        Self::new()
    }
}

impl Ingest {
    /// A fresh ingest with no decoder state.
    pub fn new() -> Self {
        Ingest {
            decoders: Default::default(),
            events: Vec::with_capacity(64),
            counters: IngestCounters::default(),
            books_by_conn: FxHashMap::default(),
            part: None,
            shared_line: false,
            mine: FxHashMap::default(),
        }
    }

    /// An ingest for one part of a replay split by product: it is given
    /// its own lines (those of its products) and the shared ones, applies
    /// only its own products' events, and counts a shared line only in
    /// part 0, so that the parts' counters add up to one ingest's.
    pub fn for_part(part: Part) -> Self {
        Ingest { part: Some(part), ..Self::new() }
    }

    /// Handles a line that every part of a split replay reads (see
    /// [`Ingest::for_part`]); the same as [`Ingest::line_with_record`]
    /// otherwise.
    pub fn shared_line_with_record<E: EngineSink>(&mut self, line: Line<'_>, record: Option<CaptureRecord<'_>>, engine: &mut E) {
        self.shared_line = true;
        // Parts other than 0 leave the counting to part 0. Shared lines are
        // few (product lists, connection events, all-market frames), so
        // keeping a copy of the counters costs nothing that shows.
        let saved = (self.part.as_ref().is_some_and(|p| p.index != 0)).then(|| self.counters.clone());
        self.line_with_record(line, record, engine);
        if let Some(saved) = saved {
            self.counters = saved;
        }
        self.shared_line = false;
    }

    /// Whether `key`'s events are this ingest's to apply.
    fn is_mine(&mut self, key: &InstrumentKey) -> bool {
        let Some(part) = &self.part else { return true };
        if let Some(&mine) = self.mine.get(key) {
            return mine;
        }
        // Routing reads native ids off the wire, so the product's native
        // id (its normalized symbol where the decoder has no other) decides.
        let native = self.native_id(key);
        let mine = part.assignment.part_of_native(native.as_deref().unwrap_or(key.symbol.as_str())) == part.index;
        self.mine.insert(key.clone(), mine);
        mine
    }

    /// What has been counted so far.
    pub fn counters(&self) -> &IngestCounters {
        &self.counters
    }

    /// Appends the native ids of `exchange`'s products whose books wait for
    /// a REST snapshot (see [`VenueDecoder::awaiting_snapshot`]).
    pub fn awaiting_snapshot(&self, exchange: Exchange, out: &mut Vec<String>) {
        if let Some(decoder) = &self.decoders[exchange as usize] {
            decoder.awaiting_snapshot(out);
        }
    }

    /// The native id of `key`'s product, as its exchange's requests name it.
    pub fn native_id(&self, key: &InstrumentKey) -> Option<String> {
        self.decoders[key.exchange as usize].as_ref()?.native_id(key)
    }

    /// Handles one line of a capture, reading its envelope here (replay
    /// gets envelopes read ahead: [`Ingest::line_with_record`]).
    #[cfg(test)]
    pub fn line<E: EngineSink>(&mut self, line: Line<'_>, engine: &mut E) {
        let record = match line {
            Line::Data(bytes) => parse_record_unchecked(bytes),
            Line::TooLong(_) => None,
        };
        self.line_with_record(line, record, engine);
    }

    /// Handles one line of a capture whose canonical envelope was already
    /// read: `record` is what [`parse_record_unchecked`] gives for `line`
    /// (as [`marketpipe_capture::CaptureReader::next_record`] hands out).
    pub fn line_with_record<E: EngineSink>(&mut self, line: Line<'_>, record: Option<CaptureRecord<'_>>, engine: &mut E) {
        self.counters.records += 1;
        let bytes = match line {
            Line::TooLong(len) => {
                tracing::debug!(len, "skipped capture line over the size limit");
                return self.counters.skip(None, "line_too_long");
            }
            Line::Data(d) if d.iter().all(u8::is_ascii_whitespace) => return self.counters.skip(None, "empty_line"),
            Line::Data(d) => d,
        };
        // Most lines are in the canonical layout: try the fast path, which
        // parses the payload once (in the decoder) instead of twice. Any
        // doubt sends the line through the strict path below, so the
        // outcome and its counted reason never depend on which path ran.
        let envelope_recv = record.as_ref().map(|r| r.recv);
        if let Some(record) = record {
            if self.unchecked_record(&record, engine) {
                return;
            }
        }
        match parse_record(bytes) {
            Ok(record) => self.record(&record, engine),
            Err(e) => {
                // A line whose envelope reads has a receive time even if the
                // rest of it does not: the clock moves by it, as it does in
                // the other parts of a split replay, which read only that.
                if let Some(recv) = envelope_recv {
                    engine.advance_clock(recv);
                }
                tracing::debug!(reason = e.reason(), error = %e, sample = %Sample(bytes), "skipped capture line");
                self.counters.skip(None, e.reason());
            }
        }
    }

    /// Handles a record from [`parse_record_unchecked`] if it is a market
    /// data record that decodes cleanly; returns whether it did. On `false`
    /// nothing was counted, applied or changed, and the caller takes the
    /// strict path.
    fn unchecked_record<E: EngineSink>(&mut self, record: &CaptureRecord<'_>, engine: &mut E) -> bool {
        let (Some(payload), Ok(exchange)) = (record.data, record.exchange.parse::<Exchange>()) else {
            return false;
        };
        // Only the plain cases: anything that would be counted as skipped
        // before decoding (and the first record of each exchange, which
        // creates its decoder) goes the strict way, so nothing is counted twice.
        let decodable = match record.kind {
            RecordKind::Ws => true,
            RecordKind::Rest => record.url.is_some(),
            RecordKind::Open | RecordKind::Close | RecordKind::WsOut => false,
        };
        if !decodable || self.decoders[exchange as usize].is_none() {
            return false;
        }
        // Decoders accept only text that is exactly one JSON value and
        // leave their state untouched on error, so an `Ok` here is the
        // verdict the strict path would reach on the validated payload.
        match self.decode(exchange, record.kind, record.url.as_deref(), payload, record.recv) {
            Some(Ok(decoded)) => {
                self.counters.by_kind.add(record.kind.as_str());
                engine.advance_clock(record.recv);
                self.decoded(exchange, &decoded);
                self.apply(engine, exchange, record.conn, &mut |_| {});
                true
            }
            Some(Err(_)) | None => {
                self.events.clear();
                false
            }
        }
    }

    /// Handles one parsed record.
    pub fn record<E: EngineSink>(&mut self, record: &CaptureRecord<'_>, engine: &mut E) {
        self.counters.by_kind.add(record.kind.as_str());
        let Ok(exchange) = record.exchange.parse::<Exchange>() else {
            tracing::debug!(exchange = %record.exchange, "skipped record of an unknown exchange");
            return self.counters.skip(None, "unknown_exchange");
        };
        // The record's receive time is the injected clock: windows of quiet
        // products close exactly as they did when the capture was recorded.
        engine.advance_clock(record.recv);
        let payload = match record.kind {
            RecordKind::Ws | RecordKind::Rest => match record.payload() {
                Some(p) => p,
                None => return self.counters.skip(Some(exchange), "missing_data"),
            },
            RecordKind::Close => return self.connection_closed(exchange, record.conn, None, engine),
            // Connection bookkeeping and our own outgoing frames carry no market data.
            RecordKind::Open | RecordKind::WsOut => return,
        };
        self.payload(exchange, record.kind, record.conn, record.url.as_deref(), &payload, record.recv, engine, &mut |_| {});
    }

    /// Handles one record of live operation, exactly as [`Ingest::record`]
    /// would handle it read back from the archive; `observe` sees every
    /// event before the engine does (the live pipeline watches trade ids).
    pub fn live<E: EngineSink>(&mut self, record: &LiveRecord, engine: &mut E, observe: &mut dyn FnMut(&MarketEvent)) {
        self.counters.records += 1;
        let (kind, conn, url, payload) = match &record.body {
            LiveBody::Ws { conn, text } => (RecordKind::Ws, Some(*conn), None, text.as_str()),
            LiveBody::Rest { url, body } => (RecordKind::Rest, None, Some(url.as_str()), body.as_str()),
            LiveBody::Open { .. } => (RecordKind::Open, None, None, ""),
            LiveBody::WsOut { .. } => (RecordKind::WsOut, None, None, ""),
            LiveBody::Close { conn, reason } => (RecordKind::Close, Some(*conn), None, reason.as_str()),
        };
        self.counters.by_kind.add(kind.as_str());
        engine.advance_clock(record.recv);
        match kind {
            RecordKind::Ws | RecordKind::Rest => self.payload(record.exchange, kind, conn, url, payload, record.recv, engine, observe),
            RecordKind::Close => self.connection_closed(record.exchange, conn, Some(payload), engine),
            RecordKind::Open | RecordKind::WsOut => {}
        }
    }

    /// Decodes a `ws` or `rest` payload and applies its events.
    #[allow(clippy::too_many_arguments)]
    fn payload<E: EngineSink, F: FnMut(&MarketEvent) + ?Sized>(
        &mut self,
        exchange: Exchange,
        kind: RecordKind,
        conn: Option<u64>,
        url: Option<&str>,
        payload: &str,
        recv: Timestamp,
        engine: &mut E,
        observe: &mut F,
    ) {
        match self.decode(exchange, kind, url, payload, recv) {
            Some(Ok(decoded)) => self.decoded(exchange, &decoded),
            Some(Err(e)) => self.failed(exchange, &e, payload),
            None => return,
        }
        self.apply(engine, exchange, conn, observe);
    }

    /// A connection closed: books that were synced over it miss updates
    /// from now on, until a snapshot arrives on another connection. When
    /// the feed went silent (the live runtime's reason starts with
    /// `watchdog`) or was stopped on purpose (`shutdown`), and in a replay
    /// (a capture does not record why), they are marked `stale`: their last
    /// levels stay visible, flagged as no longer updated. Any other close
    /// (the exchange dropped us, an error) is followed by an immediate
    /// reconnect, and they are marked `resyncing`.
    fn connection_closed<E: EngineSink>(&mut self, exchange: Exchange, conn: Option<u64>, reason: Option<&str>, engine: &mut E) {
        let Some(books) = conn.and_then(|c| self.books_by_conn.remove(&(exchange, c))) else { return };
        let stale = reason.is_none_or(|r| r.starts_with("watchdog") || r.starts_with("shutdown"));
        for key in &books {
            if stale {
                engine.mark_stale(key);
            } else {
                engine.mark_resyncing(key);
            }
        }
    }

    /// Decodes a `ws` or `rest` payload into `self.events`. `None` when the
    /// record cannot be decoded at all; that reason is already counted.
    fn decode(
        &mut self,
        exchange: Exchange,
        kind: RecordKind,
        url: Option<&str>,
        payload: &str,
        recv: Timestamp,
    ) -> Option<Result<Decoded, DecodeError>> {
        let slot = &mut self.decoders[exchange as usize];
        if slot.is_none() {
            *slot = decoder_for(exchange);
        }
        let Some(decoder) = slot else {
            self.counters.skip(Some(exchange), "unsupported_exchange");
            return None;
        };
        Some(match (kind, url) {
            (RecordKind::Rest, Some(url)) => decoder.decode_rest(url, payload, recv, &mut self.events),
            (RecordKind::Rest, None) => {
                self.counters.skip(Some(exchange), "rest_without_url");
                return None;
            }
            _ => decoder.decode_ws(payload, recv, &mut self.events),
        })
    }

    /// Applies the decoded events. Generic over `observe` so that replay's
    /// no-op observer compiles away (a call per event otherwise).
    fn apply<E: EngineSink, F: FnMut(&MarketEvent) + ?Sized>(
        &mut self,
        engine: &mut E,
        exchange: Exchange,
        conn: Option<u64>,
        observe: &mut F,
    ) {
        let mut events = std::mem::take(&mut self.events);
        for event in events.drain(..) {
            self.counters.events.add(event.kind());
            if !self.is_mine(event.instrument()) {
                // Another part applies it, from its own copy of a shared
                // line. On a line routed here it has no other taker: the
                // frame named one product and carried another's events.
                if !self.shared_line {
                    tracing::debug!(%exchange, instrument = %event.instrument(), "event of a product outside its frame's route; skipped");
                    self.counters.skip(Some(exchange), "misrouted_event");
                }
                continue;
            }
            if let (MarketEvent::BookSnapshot(snapshot), Some(conn)) = (&event, conn) {
                self.books_by_conn.entry((exchange, conn)).or_default().insert(snapshot.instrument.clone());
            }
            observe(&event);
            engine.apply(event);
        }
        self.events = events;
    }

    fn decoded(&mut self, exchange: Exchange, decoded: &Decoded) {
        self.counters.messages.add((exchange, decoded.label()));
        if let Decoded::ExchangeError { message, reason } = decoded {
            tracing::warn!(%exchange, %message, reason = reason.as_deref().unwrap_or(""), "exchange reported an error");
        }
    }

    fn failed(&mut self, exchange: Exchange, e: &DecodeError, payload: &str) {
        tracing::debug!(%exchange, reason = e.reason(), error = %e, sample = %Sample(payload.as_bytes()), "skipped frame");
        self.counters.skip(Some(exchange), e.reason());
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

#[cfg(test)]
mod tests {
    use super::*;
    use marketpipe_engine::EngineConfig;

    const PRODUCTS: &str = r#"{"recv_ns":1,"exchange":"coinbase","kind":"rest","url":"https://api.exchange.coinbase.com/products","data":[{"id":"BTC-USD","base_currency":"BTC","quote_currency":"USD","quote_increment":"0.01","base_increment":"0.00000001","status":"online"}]}"#;

    fn matched(id: u64, tail: &str) -> String {
        format!(
            r#"{{"recv_ns":2,"exchange":"coinbase","kind":"ws","conn":1,"data":{{"type":"match","trade_id":{id},"side":"buy","size":"1","price":"100","product_id":"BTC-USD","time":"2026-01-01T00:00:00Z"}}{tail}"#
        )
    }

    fn run(lines: &[String]) -> (IngestCounters, u64) {
        let mut ingest = Ingest::new();
        let mut engine = Engine::new(EngineConfig::default()).unwrap();
        for line in lines {
            ingest.line(Line::Data(line.as_bytes()), &mut engine);
        }
        (ingest.counters().clone(), engine.counters().trades)
    }

    /// Lines the fast path reads past (a second key after `data`, a
    /// duplicate `data`, a broken payload) must get exactly the strict
    /// path's verdict, counted once.
    #[test]
    fn the_fast_path_never_accepts_what_the_strict_path_rejects() {
        let lines = [
            PRODUCTS.to_string(),
            matched(1, "}"),
            matched(2, r#","extra":1}"#),
            matched(3, r#","data":{}}"#),
            matched(4, "} "),
            matched(5, "}}"),
            matched(6, "").replace(r#""price":"100""#, r#""price":"1e999""#) + "}",
        ];
        let (counters, trades) = run(&lines);
        assert_eq!(counters.records, 7);
        // 1 and 4 (trailing space is still one JSON value) and 2 (an unknown
        // envelope key is allowed by the strict reader) are trades.
        assert_eq!(trades, 3, "{counters:?}");
        let skipped = counters.skipped_by_reason();
        assert_eq!(skipped.get("malformed_record"), Some(&2), "{counters:?}"); // 3 (duplicate field), 5
        assert_eq!(counters.skipped_total(), 3, "{counters:?}");
        assert_eq!(counters.skipped.get((Some(Exchange::Coinbase), "bad_number")), Some(1), "{counters:?}"); // 6
                                                                                                             // Six ws lines, two of which are not records at all: each counted once.
        assert_eq!(counters.by_kind.get("ws"), Some(4), "{counters:?}");
    }

    /// Counting goes by identity; every reading goes by text.
    #[test]
    fn a_tally_merges_equal_labels_at_different_addresses() {
        let elsewhere: &'static str = Box::leak(String::from("trade").into_boxed_str());
        assert!(!std::ptr::eq("trade", elsewhere));
        let mut tally = Tally::default();
        tally.add("trade");
        tally.add(elsewhere);
        tally.add("trade");
        tally.add("book_delta");
        assert_eq!(tally.get("trade"), Some(3));
        assert_eq!(tally.iter().collect::<Vec<_>>(), vec![("book_delta", 1), ("trade", 3)]);
        assert_eq!(tally.sorted().len(), 2);
        assert_eq!(tally.total(), 4);
        let mut pairs = Tally::default();
        pairs.add((Some(Exchange::Binance), "bad_number"));
        pairs.add((Some(Exchange::Binance), &*Box::leak(String::from("bad_number").into_boxed_str())));
        pairs.add((Some(Exchange::Kucoin), "bad_number"));
        assert_eq!(pairs.get((Some(Exchange::Binance), "bad_number")), Some(2));
        assert_eq!(pairs.iter().count(), 2);
    }

    /// A part applies only its products' events: of a shared line, the
    /// others' silently (their part applies them) and counted only by part
    /// 0; of a line routed to it, another part's product is a frame that
    /// contradicts its route, skipped and counted.
    #[test]
    fn a_part_applies_only_its_products_and_counts_shared_lines_once() {
        let assignment = crate::parts::PartAssignment::new(2);
        // BTC-USD is dealt out first, to part 0; ETH-USD to part 1.
        assert_eq!(assignment.part_of_native("BTC-USD"), 0);
        assert_eq!(assignment.part_of_native("ETH-USD"), 1);
        let matched = |product: &str| {
            format!(
                r#"{{"recv_ns":2,"exchange":"coinbase","kind":"ws","conn":1,"data":{{"type":"match","trade_id":1,"side":"buy","size":"1","price":"100","product_id":"{product}","time":"2026-01-01T00:00:00Z"}}}}"#
            )
        };
        let (btc, eth) = (matched("BTC-USD"), matched("ETH-USD"));
        let mut totals = IngestCounters::default();
        let mut trades = 0;
        for index in 0..2 {
            let mut ingest = Ingest::for_part(Part { index, assignment: assignment.clone() });
            let mut engine = Engine::new(EngineConfig::default()).unwrap();
            for line in [PRODUCTS, &btc, &eth] {
                let bytes = line.as_bytes();
                ingest.shared_line_with_record(Line::Data(bytes), parse_record_unchecked(bytes), &mut engine);
            }
            // ETH's frame routed to part 0 by mistake: not applied there.
            if index == 0 {
                ingest.line(Line::Data(eth.as_bytes()), &mut engine);
            }
            assert_eq!(engine.counters().trades, 1, "part {index}");
            totals.add(ingest.counters());
            trades += engine.counters().trades;
        }
        assert_eq!(trades, 2);
        assert_eq!(totals.records, 4, "{totals:?}");
        assert_eq!(totals.messages.get((Exchange::Coinbase, "match")), Some(3), "{totals:?}");
        assert_eq!(totals.skipped.get((Some(Exchange::Coinbase), "misrouted_event")), Some(1), "{totals:?}");
    }

    fn book_state_after(ingest: &mut Ingest, engine: &mut Engine, record: &LiveRecord) -> Option<marketpipe_model::BookState> {
        ingest.live(record, engine, &mut |_| {});
        let mut out = marketpipe_engine::EngineOutput::default();
        engine.drain(&mut out);
        out.books.last().map(|b| b.state)
    }

    #[test]
    fn a_closed_connection_takes_its_books_out_of_live() {
        use marketpipe_model::BookState;
        let rec = |body| LiveRecord { recv: Timestamp(1_767_225_600_000_000_000), exchange: Exchange::Coinbase, body };
        let snapshot = |conn| {
            rec(LiveBody::Ws {
                conn,
                text: r#"{"type":"snapshot","product_id":"BTC-USD","bids":[["99","1"]],"asks":[["101","1"]]}"#.into(),
            })
        };
        let mut ingest = Ingest::new();
        let mut engine = Engine::new(EngineConfig::default()).unwrap();
        assert_eq!(book_state_after(&mut ingest, &mut engine, &snapshot(1)), Some(BookState::Live));
        // Another connection closing does not touch this book.
        assert_eq!(book_state_after(&mut ingest, &mut engine, &rec(LiveBody::Close { conn: 2, reason: "server_closed".into() })), None);
        let dropped = rec(LiveBody::Close { conn: 1, reason: "server_closed: no close frame".into() });
        assert_eq!(book_state_after(&mut ingest, &mut engine, &dropped), Some(BookState::Resyncing));
        assert_eq!(book_state_after(&mut ingest, &mut engine, &snapshot(3)), Some(BookState::Live));
        let silent = rec(LiveBody::Close { conn: 3, reason: "watchdog: no frame for 5s".into() });
        assert_eq!(book_state_after(&mut ingest, &mut engine, &silent), Some(BookState::Stale));
    }
}
