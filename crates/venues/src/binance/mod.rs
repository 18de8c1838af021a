//! Binance spot: the public market streams
//! (`wss://stream.binance.com:9443/stream?streams=...`, combined or raw) and
//! the public REST API (`https://api.binance.com`).
//!
//! - `<symbol>@aggTrade` -> [`MarketEvent::Trade`] (`m` = the buyer is the
//!   maker, so `true` is a taker **sell**); REST `GET /api/v3/aggTrades`
//!   -> trades too, for gap backfill
//! - `<symbol>@depth` / `<symbol>@depth@100ms` (`depthUpdate`) and REST
//!   `GET /api/v3/depth` -> [`MarketEvent::BookSnapshot`],
//!   [`MarketEvent::BookDelta`] and [`MarketEvent::BookReset`], in the order
//!   Binance's book sync procedure gives them (see `sync.rs`)
//! - `<symbol>@bookTicker` -> [`MarketEvent::Ticker`] with best bid/ask;
//!   `!miniTicker@arr` and `<symbol>@miniTicker` -> [`MarketEvent::Ticker`]
//!   with 24-hour statistics
//! - REST `GET /api/v3/exchangeInfo` -> [`MarketEvent::Product`] per symbol
//! - replies to `SUBSCRIBE`/`LIST_SUBSCRIPTIONS` and errors -> the control
//!   variants of [`Decoded`]
//!
//! Docs followed: <https://github.com/binance/binance-spot-api-docs/blob/master/web-socket-streams.md>
//! and <https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md>
//! (also at <https://developers.binance.com/docs/binance-spot-api-docs>).
//!
//! Symbols: products come from exchangeInfo only. `NKNUSDT` is `NKN-USDT`
//! because exchangeInfo says `baseAsset` `NKN`, `quoteAsset` `USDT`; no
//! suffix rule can split a Binance symbol reliably (`BTCBUSD`: `BTC-BUSD`
//! or `BTCB-USD`?), so a frame for a symbol exchangeInfo never listed is
//! skipped and counted as `unknown_symbol`.
//!
//! Hot path: the frames that make up nearly all of a feed (combined
//! `aggTrade`, `bookTicker`, `depthUpdate` in Binance's compact layout) are
//! read by a strict scanner straight into the borrowed wire structs
//! (`fast.rs`); anything else goes through one pass of serde_json
//! (dispatching on the stream name or `e`, see `message.rs`). Both hand the
//! structs to the same validation: a direct scan of book level arrays,
//! strict decimal and time parsing, and a hash lookup that yields an
//! interned key and the symbol's book sync. Nothing is allocated per frame
//! beyond a book event's level vector.

mod book;
mod control;
mod de;
mod fast;
mod message;
mod registry;
mod rest;
pub mod session;
mod sync;
mod ticker;
mod trade;

use std::collections::BTreeSet;

use marketpipe_model::{BookReset, Exchange, InstrumentKey, MarketEvent, Product, Timestamp};
use serde::de::DeserializeSeed;
use serde_json::value::RawValue;

use self::{
    book::RestDepth,
    control::ErrorBody,
    de::{json_error, Str},
    message::{Frame, FrameSeed, Held, Kind, PayloadSeed, Sink, Stream},
    registry::{Registry, Upsert},
    rest::{Endpoint, ExchangeInfo},
    sync::SyncCounters,
    trade::{AggTradeMsg, TradeBody},
};
pub use self::{
    control::{
        agg_trades_url, depth_snapshot_url, stream_name, subscribe_request, unsubscribe_request, AGG_TRADES_PAGE_LIMIT,
        DEPTH_SNAPSHOT_LIMIT, REST_URL, WS_URL,
    },
    sync::{BookSyncState, BufferLimits},
};
use crate::{DecodeError, Decoded, VenueDecoder};

/// What a [`BinanceDecoder`] counted since it was created: things it
/// skipped or dropped without failing a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BinanceStats {
    /// exchangeInfo entries skipped as unusable.
    pub skipped_symbols: u64,
    /// `!miniTicker@arr` entries skipped because exchangeInfo never listed
    /// their symbol.
    pub unknown_symbol_tickers: u64,
    /// Depth events dropped because the book (or the buffer) already
    /// reflects them: `u` at or below its update id.
    pub stale_updates: u64,
    /// Buffered depth events dropped, oldest first, to keep a symbol's
    /// buffer within its [`BufferLimits`].
    pub buffer_overflows: u64,
    /// Times a symbol's buffer started over because the stream skipped
    /// update ids before any snapshot joined it.
    pub buffer_restarts: u64,
    /// Books reset because an event did not follow the previous one.
    pub sequence_gaps: u64,
    /// Snapshots that could not be joined to the stream (older than every
    /// buffered event, or not reached by the next event).
    pub stale_snapshots: u64,
    /// Snapshots ignored because the synced book was already past them.
    pub ignored_snapshots: u64,
}

/// The Binance spot decoder: pure, I/O-free, one per replay stream or
/// live pipeline.
///
/// It remembers the symbols exchangeInfo listed and, per symbol, where the
/// order book sync stands (see [`BookSyncState`]). A frame that fails
/// leaves both as they were and emits nothing.
///
/// **Snapshots.** The book of a symbol is built from a REST depth snapshot
/// joined to the diff stream. The runtime learns which symbols need one
/// from [`BinanceDecoder::needs_snapshot`], a query rather than a
/// [`Decoded`] variant because the need is state, not an event: it starts
/// when depth events arrive for a symbol without a usable snapshot (at
/// subscribe, after a [`MarketEvent::BookReset`], after a stale snapshot)
/// and lasts until a snapshot joins, however many frames that takes, so
/// the runtime can poll it after any frame (it costs nothing when no book
/// waits) and rate-limit its requests without tracking the sync itself.
/// The edge is visible through `dyn VenueDecoder` too: every lost sync
/// emits a `BookReset` for the product.
#[derive(Debug, Default)]
pub struct BinanceDecoder {
    registry: Registry,
    /// Registry indices of symbols that need a snapshot, ordered.
    pending: BTreeSet<u32>,
    limits: BufferLimits,
    sync: SyncCounters,
    skipped_symbols: u64,
    unknown_symbol_tickers: u64,
}

impl BinanceDecoder {
    /// A decoder that knows no symbols yet, with the default
    /// [`BufferLimits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder whose per-symbol pre-snapshot buffer is bounded by `limits`.
    pub fn with_buffer_limits(limits: BufferLimits) -> Self {
        BinanceDecoder { limits, ..Self::default() }
    }

    /// The key of the symbol named `symbol` (native `NKNUSDT` or stream
    /// name `nknusdt`), if exchangeInfo listed it.
    pub fn instrument(&self, symbol: &str) -> Option<&InstrumentKey> {
        self.registry.lookup(symbol).map(|i| self.registry.key(i))
    }

    /// The product named `symbol` (native or stream name), if known.
    pub fn product(&self, symbol: &str) -> Option<&Product> {
        self.registry.lookup(symbol).map(|i| &self.registry.entry(i).product)
    }

    /// How many symbols are known.
    pub fn product_count(&self) -> usize {
        self.registry.len()
    }

    /// The native symbols (as REST wants them: `NKNUSDT`) whose order book
    /// waits for a REST depth snapshot: depth events arrived, and no
    /// snapshot they join has. In the order exchangeInfo listed them.
    /// [`depth_snapshot_url`] builds the request.
    pub fn needs_snapshot(&self) -> impl Iterator<Item = &str> + '_ {
        self.pending.iter().map(|&i| self.registry.entry(i).product.native_symbol.as_str())
    }

    /// Where the book sync of `symbol` (native or stream name) stands.
    pub fn book_state(&self, symbol: &str) -> Option<BookSyncState> {
        self.registry.lookup(symbol).map(|i| self.registry.entry(i).book.view())
    }

    /// Takes `instrument`'s book out of sync, as when the connection that
    /// carried its diff stream closed: updates may be missed until a new
    /// snapshot joins the new connection's stream. Emits a
    /// [`MarketEvent::BookReset`] (`connection_lost`) if the book was in
    /// sync; the symbol is listed by [`BinanceDecoder::needs_snapshot`]
    /// once depth events arrive again. Returns whether `instrument` is known.
    ///
    /// The decoder sees frames, not connections, so whoever does (the
    /// runtime, or replay on a `close` record) must call this; otherwise a
    /// quiet symbol whose new stream happens to continue the old one's
    /// update ids would stay in sync here while the engine, which marks
    /// books resyncing on close, waits for a snapshot nobody requests.
    pub fn reset_book(&mut self, instrument: &InstrumentKey, recv: Timestamp, out: &mut Vec<MarketEvent>) -> bool {
        let Some(idx) = self.registry.find_key(instrument) else { return false };
        let book = &self.registry.entry(idx).book;
        let needed_before = book.needs_snapshot();
        if matches!(book.view(), BookSyncState::Synced { .. }) {
            out.push(MarketEvent::BookReset(BookReset {
                instrument: instrument.clone(),
                recv_time: recv,
                reason: "connection_lost".to_owned(),
            }));
        }
        self.registry.entry_mut(idx).book.clear();
        self.track(idx, needed_before);
        true
    }

    /// What was skipped or dropped so far without failing a frame.
    pub fn stats(&self) -> BinanceStats {
        let s = self.sync;
        BinanceStats {
            skipped_symbols: self.skipped_symbols,
            unknown_symbol_tickers: self.unknown_symbol_tickers,
            stale_updates: s.stale_updates,
            buffer_overflows: s.buffer_overflows,
            buffer_restarts: s.buffer_restarts,
            sequence_gaps: s.sequence_gaps,
            stale_snapshots: s.stale_snapshots,
            ignored_snapshots: s.ignored_snapshots,
        }
    }

    /// Keeps [`BinanceDecoder::needs_snapshot`] in step with symbol `idx`.
    fn track(&mut self, idx: u32, needed_before: bool) {
        let needed = self.registry.entry(idx).book.needs_snapshot();
        if needed != needed_before {
            if needed {
                self.pending.insert(idx);
            } else {
                self.pending.remove(&idx);
            }
        }
    }

    /// Parses `text` with `seed`, which hands any payload to a [`Sink`]
    /// over `out`, then settles the outcome (see [`BinanceDecoder::settle`]).
    fn parse<'t, T>(
        &mut self,
        text: &'t str,
        recv: Timestamp,
        out: &mut Vec<MarketEvent>,
        seed: impl for<'s, 'r> FnOnce(&'s mut Sink<'r>, &mut serde_json::Deserializer<serde_json::de::StrRead<'t>>) -> serde_json::Result<T>,
    ) -> Result<(T, Option<Kind>), DecodeError> {
        let mark = out.len();
        let mut sink = Sink::new(&self.registry, recv, &mut *out);
        let mut d = serde_json::Deserializer::from_str(text);
        let parsed = seed(&mut sink, &mut d).and_then(|v| d.end().map(|()| v));
        let held = sink.into_held();
        match parsed {
            Ok(value) => Ok((value, self.settle(held, mark, out)?)),
            Err(e) => {
                out.truncate(mark);
                Err(json_error(e))
            }
        }
    }

    /// Settles a frame that parsed whole: a semantic error truncates `out`
    /// back to `mark` (dropping what the sink pushed) and changes nothing;
    /// otherwise counters are taken and a depth update goes to the book
    /// sync. Returns the kind of payload handled, if any.
    fn settle(&mut self, held: Held, mark: usize, out: &mut Vec<MarketEvent>) -> Result<Option<Kind>, DecodeError> {
        let Held { kind, error, depth, skipped } = held;
        if let Some(e) = error {
            out.truncate(mark);
            return Err(e);
        }
        self.unknown_symbol_tickers += skipped;
        if let Some((idx, update)) = depth {
            let entry = self.registry.entry_mut(idx);
            let needed_before = entry.book.needs_snapshot();
            entry.book.on_update(update, &entry.product.key, self.limits, &mut self.sync, out);
            self.track(idx, needed_before);
        }
        Ok(kind)
    }

    /// [`VenueDecoder::decode_ws`] without the fast path: serde_json only.
    fn decode_ws_serde(&mut self, frame: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        if frame.trim_start().starts_with('[') {
            // A raw `!miniTicker@arr` stream: the array alone.
            return self.payload(frame, Kind::MiniTickerArr, None, recv, out);
        }
        match self.parse(frame, recv, out, |sink, d| FrameSeed(sink).deserialize(d))? {
            (Frame::Done, Some(kind)) => Ok(Decoded::Market { msg: kind.label() }),
            // Cannot happen: a parsed payload always sets its kind.
            (Frame::Done, None) => Err(DecodeError::MissingField("data")),
            (Frame::BadStream(e), _) => Err(e),
            (Frame::UnknownEvent(e), _) => Err(DecodeError::UnknownType(e)),
            (Frame::Entries { stream, entries }, _) => self.entries(frame, stream, &entries, recv, out),
        }
    }

    /// Parses `text` whole as a payload of `kind`.
    fn payload(
        &mut self,
        text: &str,
        kind: Kind,
        stream: Option<&str>,
        recv: Timestamp,
        out: &mut Vec<MarketEvent>,
    ) -> Result<Decoded, DecodeError> {
        self.parse(text, recv, out, |sink, d| PayloadSeed { sink, kind, stream: stream.map(Stream::unrouted) }.deserialize(d))?;
        Ok(Decoded::Market { msg: kind.label() })
    }

    /// The slow path: a frame the one-pass visitor could not finish, given
    /// as its entries (and the stream name, if that came first).
    fn entries(
        &mut self,
        frame: &str,
        stream: Option<Str<'_>>,
        entries: &[(Str<'_>, &RawValue)],
        recv: Timestamp,
        out: &mut Vec<MarketEvent>,
    ) -> Result<Decoded, DecodeError> {
        let get = |key: &'static str| -> Result<Option<&RawValue>, DecodeError> {
            let mut found = entries.iter().filter(|(k, _)| k.as_str() == key).map(|(_, v)| *v);
            let first = found.next();
            match found.next() {
                Some(_) => Err(DecodeError::InvalidJson(format!("duplicate field `{key}`"))),
                None => Ok(first),
            }
        };
        let stream = match (stream, get("stream")?) {
            (Some(_), Some(_)) => return Err(DecodeError::InvalidJson("duplicate field `stream`".to_owned())),
            (Some(s), None) => Some(s),
            (None, Some(raw)) => Some(serde_json::from_str::<Str<'_>>(raw.get()).map_err(json_error)?),
            (None, None) => None,
        };
        if let Some(name) = stream {
            let data = get("data")?.ok_or(DecodeError::MissingField("data"))?;
            let kind = message::stream_kind(name.as_str())?;
            return self.payload(data.get(), kind, Some(name.as_str()), recv, out);
        }
        if let Some(e) = get("e")? {
            let e = serde_json::from_str::<Str<'_>>(e.get()).map_err(json_error)?;
            let kind = Kind::from_event(e.as_str()).ok_or_else(|| DecodeError::UnknownType(de::bounded(e.as_str())))?;
            return self.payload(frame, kind, None, recv, out);
        }
        if let Some(error) = get("error")? {
            let (message, reason) = ErrorBody::parse(error)?.into_parts()?;
            return Ok(Decoded::ExchangeError { message, reason });
        }
        if let (Some(code), Some(msg)) = (get("code")?, get("msg")?) {
            let (message, reason) = ErrorBody::from_parts(code, msg)?.into_parts()?;
            return Ok(Decoded::ExchangeError { message, reason });
        }
        if let Some(result) = get("result")? {
            return Ok(Decoded::Subscriptions { channels: control::response(result)? });
        }
        if get("u")?.is_some() && get("s")?.is_some() && get("b")?.is_some() && get("a")?.is_some() {
            // A bare bookTicker: the one payload without an event type.
            return self.payload(frame, Kind::BookTicker, None, recv, out);
        }
        Err(DecodeError::MissingField("stream"))
    }
}

impl VenueDecoder for BinanceDecoder {
    fn exchange(&self) -> Exchange {
        Exchange::Binance
    }

    fn awaiting_snapshot(&self, out: &mut Vec<String>) {
        out.extend(self.needs_snapshot().map(str::to_owned));
    }

    fn native_id(&self, key: &InstrumentKey) -> Option<String> {
        self.registry.find_key(key).map(|i| self.registry.entry(i).product.native_symbol.clone())
    }

    fn decode_ws(&mut self, frame: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        let mark = out.len();
        let mut sink = Sink::new(&self.registry, recv, &mut *out);
        if fast::decode(frame, &mut sink).is_some() {
            let held = sink.into_held();
            let kind = self.settle(held, mark, out)?;
            // The fast path always sets the kind of what it decoded.
            return kind.map(|k| Decoded::Market { msg: k.label() }).ok_or(DecodeError::MissingField("data"));
        }
        self.decode_ws_serde(frame, recv, out)
    }

    fn decode_rest(&mut self, url: &str, body: &str, recv: Timestamp, out: &mut Vec<MarketEvent>) -> Result<Decoded, DecodeError> {
        match rest::route(url)? {
            Endpoint::ExchangeInfo => {
                let info = match ExchangeInfo::parse(body) {
                    Ok(info) => info,
                    Err(e) => return exchange_error(body, e),
                };
                for product in info.products() {
                    match product {
                        Ok(product) => self.upsert(product, recv, out),
                        Err(e) => {
                            self.skipped_symbols += 1;
                            tracing::debug!(reason = e.reason(), error = %e, "skipped a Binance exchangeInfo symbol");
                        }
                    }
                }
                Ok(Decoded::Rest { endpoint: "exchangeInfo" })
            }
            Endpoint::Depth(symbol) => {
                let snapshot = match serde_json::from_str::<RestDepth<'_>>(body).map_err(json_error).and_then(|d| d.validate()) {
                    Ok(snapshot) => snapshot,
                    Err(e) => return exchange_error(body, e),
                };
                let idx = self.registry.lookup(&symbol).ok_or_else(|| de::unknown_symbol(&symbol))?;
                let entry = self.registry.entry_mut(idx);
                let needed_before = entry.book.needs_snapshot();
                entry.book.on_snapshot(snapshot, &entry.product.key, recv, self.limits, &mut self.sync, out);
                self.track(idx, needed_before);
                Ok(Decoded::Rest { endpoint: "depth" })
            }
            Endpoint::AggTrades(symbol) => {
                let bodies = match agg_trades(body) {
                    Ok(bodies) => bodies,
                    Err(e) => return exchange_error(body, e),
                };
                let idx = self.registry.lookup(&symbol).ok_or_else(|| de::unknown_symbol(&symbol))?;
                let key = self.registry.key(idx);
                out.extend(bodies.into_iter().map(|b| MarketEvent::Trade(b.into_trade(key.clone(), recv))));
                Ok(Decoded::Rest { endpoint: "aggTrades" })
            }
        }
    }
}

impl BinanceDecoder {
    /// Registers one exchangeInfo product and announces it. A symbol whose
    /// base or quote changed is a new product: the book under the old key
    /// is reset, and the sync starts over under the new one.
    fn upsert(&mut self, product: Product, recv: Timestamp, out: &mut Vec<MarketEvent>) {
        let announced = product.clone();
        let (idx, what) = self.registry.upsert(product);
        if let Upsert::Renamed(old) = what {
            let book = &self.registry.entry(idx).book;
            let needed_before = book.needs_snapshot();
            if matches!(book.view(), BookSyncState::Synced { .. }) {
                out.push(MarketEvent::BookReset(BookReset { instrument: old, recv_time: recv, reason: "symbol_renamed".to_owned() }));
            }
            self.registry.entry_mut(idx).book.clear();
            self.track(idx, needed_before);
        }
        out.push(MarketEvent::Product(announced));
    }
}

/// Reads a `GET /api/v3/aggTrades` body into trades in id order (oldest
/// first, whatever order the response lists them). All or nothing: a
/// backfill with a hole in it would look complete.
fn agg_trades(body: &str) -> Result<Vec<TradeBody>, DecodeError> {
    let wire: Vec<AggTradeMsg<'_>> = serde_json::from_str(body).map_err(json_error)?;
    let mut bodies = wire.iter().map(AggTradeMsg::validate).collect::<Result<Vec<_>, _>>()?;
    bodies.sort_by_key(TradeBody::id);
    Ok(bodies)
}

/// A REST body that did not decode: Binance's error object if it is one
/// (`{"code":-1121,"msg":"Invalid symbol."}`), else `error`.
fn exchange_error(body: &str, error: DecodeError) -> Result<Decoded, DecodeError> {
    match rest::rest_error(body) {
        Some((message, reason)) => Ok(Decoded::ExchangeError { message, reason }),
        None => Err(error),
    }
}
