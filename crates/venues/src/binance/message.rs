//! Dispatch of a websocket frame, in one pass of serde_json.
//!
//! A combined-stream frame is `{"stream":"<name>","data":<payload>}`, and
//! Binance sends `stream` first. The visitor reads the stream name, picks
//! the payload type from it, and deserializes `data` straight into that
//! borrowed struct: no intermediate tree, no second pass. A raw-stream
//! (`/ws/<name>`) payload is accepted bare; when its first key is the
//! event type `e`, the rest of the same map goes straight to the struct
//! too. Everything else (control replies, a wrapper with `data` first, a
//! bare `bookTicker`, which has no `e`) is kept as raw entries and decided
//! by [`super::BinanceDecoder`] on a slower path with the same results.
//!
//! The payload is validated where it is parsed, and what it yields goes to
//! a [`Sink`]: trades and tickers straight onto the output (the caller
//! truncates it back if the frame then fails), a depth update aside until
//! the frame has parsed to its end (the book sync must only see whole,
//! valid frames). Nothing bigger than a validated body is moved around,
//! which matters: moving the borrowed wire structs (up to 200 bytes)
//! through enums and results was a sixth of the decode time.

use std::fmt;

use marketpipe_model::{MarketEvent, Timestamp};
use serde::de::{
    value::MapAccessDeserializer, Deserialize, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;

use super::{
    book::{DepthUpdateMsg, ScannedLevels},
    de::{self, Str},
    registry::Registry,
    sync::DepthUpdate,
    ticker::{BookTickerMsg, MiniTickerMsg},
    trade::AggTradeMsg,
};
use crate::DecodeError;

/// The payload type a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `<symbol>@aggTrade`, event `aggTrade`.
    AggTrade,
    /// `<symbol>@bookTicker` (no event type on spot).
    BookTicker,
    /// `<symbol>@depth`, `<symbol>@depth@100ms`, event `depthUpdate`.
    Depth,
    /// `<symbol>@miniTicker`, event `24hrMiniTicker`.
    MiniTicker,
    /// `!miniTicker@arr`: an array of `24hrMiniTicker` events.
    MiniTickerArr,
}

impl Kind {
    /// The wire message name, for [`crate::Decoded::Market`].
    pub(crate) fn label(self) -> &'static str {
        match self {
            Kind::AggTrade => "aggTrade",
            Kind::BookTicker => "bookTicker",
            Kind::Depth => "depthUpdate",
            Kind::MiniTicker | Kind::MiniTickerArr => "24hrMiniTicker",
        }
    }

    /// The kind of a bare payload from its event type `e`.
    pub(crate) fn from_event(e: &str) -> Option<Kind> {
        match e {
            "aggTrade" => Some(Kind::AggTrade),
            "depthUpdate" => Some(Kind::Depth),
            "24hrMiniTicker" => Some(Kind::MiniTicker),
            "bookTicker" => Some(Kind::BookTicker),
            _ => None,
        }
    }
}

/// Reads a stream name into the kind of payload it carries. A stream this
/// decoder does not handle (`@trade`, `@kline_1m`, the partial book
/// `@depth5`, `!ticker@arr`...) is [`DecodeError::UnknownType`].
pub(crate) fn stream_kind(name: &str) -> Result<Kind, DecodeError> {
    if name == "!miniTicker@arr" {
        return Ok(Kind::MiniTickerArr);
    }
    if name.starts_with('!') {
        return Err(DecodeError::UnknownType(de::bounded(name)));
    }
    let Some((symbol, channel)) = name.bytes().position(|b| b == b'@').and_then(|at| Some((name.get(..at)?, name.get(at + 1..)?))) else {
        return Err(DecodeError::BadField { field: "stream", detail: format!("{} is not <symbol>@<channel>", de::snippet(name)) });
    };
    let kind = match channel {
        "aggTrade" => Kind::AggTrade,
        "bookTicker" => Kind::BookTicker,
        "miniTicker" => Kind::MiniTicker,
        "depth" => Kind::Depth,
        c if c.strip_prefix("depth@").is_some_and(is_update_speed) => Kind::Depth,
        other => return Err(DecodeError::UnknownType(de::bounded(other))),
    };
    if symbol.is_empty() {
        return Err(DecodeError::BadField { field: "stream", detail: format!("{} names no symbol", de::snippet(name)) });
    }
    Ok(kind)
}

/// `100ms`, `1000ms`: a diff depth update speed.
fn is_update_speed(s: &str) -> bool {
    s.strip_suffix("ms").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The combined stream a payload came on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream<'s> {
    /// The stream's name.
    pub(crate) name: &'s str,
    /// The registry entry the name routes to, if it is one of a symbol's
    /// usual stream names (see `Registry::route`).
    pub(crate) routed: Option<u32>,
}

impl<'s> Stream<'s> {
    /// A stream whose name was not looked up in the registry.
    pub(crate) fn unrouted(name: &'s str) -> Self {
        Stream { name, routed: None }
    }
}

/// Where a payload's validated content goes while the frame is parsed.
pub(crate) struct Sink<'r> {
    pub(crate) registry: &'r Registry,
    pub(crate) recv: Timestamp,
    /// Trades and tickers, pushed as parsed.
    pub(crate) out: &'r mut Vec<MarketEvent>,
    /// The kind of payload handled, if one was.
    pub(crate) kind: Option<Kind>,
    /// The first semantic error (serde's error type cannot carry it).
    pub(crate) error: Option<DecodeError>,
    /// A depth update for registry entry `.0`, for the book sync once the
    /// frame has parsed whole.
    pub(crate) depth: Option<(u32, DepthUpdate)>,
    /// `!miniTicker@arr` entries skipped: exchangeInfo never listed their
    /// symbol (it may have been fetched for a subset of symbols).
    pub(crate) skipped: u64,
}

/// What a [`Sink`] held once its frame was parsed.
pub(crate) struct Held {
    pub(crate) kind: Option<Kind>,
    pub(crate) error: Option<DecodeError>,
    pub(crate) depth: Option<(u32, DepthUpdate)>,
    pub(crate) skipped: u64,
}

impl<'r> Sink<'r> {
    /// Gives up the output, keeping what the sink held.
    pub(crate) fn into_held(self) -> Held {
        Held { kind: self.kind, error: self.error, depth: self.depth, skipped: self.skipped }
    }

    pub(crate) fn new(registry: &'r Registry, recv: Timestamp, out: &'r mut Vec<MarketEvent>) -> Self {
        Sink { registry, recv, out, kind: None, error: None, depth: None, skipped: 0 }
    }

    /// Records `result`'s error if it is the first.
    pub(crate) fn check(&mut self, result: Result<(), DecodeError>) {
        if let (Err(e), None) = (result, &self.error) {
            self.error = Some(e);
        }
    }

    /// The registry index of payload symbol `s`, checked against the
    /// stream name's symbol part where the frame had one.
    fn symbol(&self, s: &str, stream: Option<Stream<'_>>) -> Result<u32, DecodeError> {
        // A routed stream's own symbol resolves to the route's entry and
        // matches the stream name (the registry checked both once).
        if let Some(idx) = stream.and_then(|st| st.routed) {
            if self.registry.native(idx) == s {
                return Ok(idx);
            }
        }
        if let Some(Stream { name, .. }) = stream {
            // The stream's symbol part (before its first `@`) must be `s`.
            let at = name.bytes().position(|b| b == b'@').unwrap_or(name.len());
            if !name.get(..at).is_some_and(|part| part.eq_ignore_ascii_case(s)) {
                return Err(DecodeError::BadField {
                    field: "s",
                    detail: format!("{} in a frame of stream {}", de::snippet(s), de::snippet(name)),
                });
            }
        }
        self.registry.lookup(s).ok_or_else(|| de::unknown_symbol(s))
    }

    pub(crate) fn trade(&mut self, m: &AggTradeMsg<'_>, stream: Option<Stream<'_>>) -> Result<(), DecodeError> {
        let idx = self.symbol(m.symbol()?, stream)?;
        let body = m.validate()?;
        self.out.push(MarketEvent::Trade(body.into_trade(self.registry.key(idx).clone(), self.recv)));
        Ok(())
    }

    pub(crate) fn book_ticker(&mut self, m: &BookTickerMsg<'_>, stream: Option<Stream<'_>>) -> Result<(), DecodeError> {
        let idx = self.symbol(m.symbol()?, stream)?;
        let body = m.validate()?;
        self.out.push(MarketEvent::Ticker(Box::new(body.into_ticker(self.registry.key(idx).clone(), self.recv))));
        Ok(())
    }

    fn mini_ticker(&mut self, m: &MiniTickerMsg<'_>, stream: Option<Stream<'_>>) -> Result<(), DecodeError> {
        let idx = self.symbol(m.symbol()?, stream)?;
        let body = m.validate()?;
        self.out.push(MarketEvent::Ticker(Box::new(body.into_ticker(self.registry.key(idx).clone(), self.recv))));
        Ok(())
    }

    /// One entry of a `!miniTicker@arr` array: like a single mini ticker,
    /// but an unknown symbol is skipped and counted.
    fn mini_ticker_entry(&mut self, m: &MiniTickerMsg<'_>) -> Result<(), DecodeError> {
        let symbol = m.symbol()?;
        let body = m.validate()?;
        match self.registry.lookup(symbol) {
            Some(idx) => self.out.push(MarketEvent::Ticker(Box::new(body.into_ticker(self.registry.key(idx).clone(), self.recv)))),
            None => self.skipped += 1,
        }
        Ok(())
    }

    /// A depth update, with its levels as the fast scanner converted them
    /// if it did.
    pub(crate) fn depth(
        &mut self,
        m: &DepthUpdateMsg<'_>,
        stream: Option<Stream<'_>>,
        scanned: Option<ScannedLevels>,
    ) -> Result<(), DecodeError> {
        let idx = self.symbol(m.symbol()?, stream)?;
        self.depth = Some((idx, m.validate(self.recv, scanned)?));
        Ok(())
    }
}

/// Deserializes a payload of a known kind into a [`Sink`].
pub(crate) struct PayloadSeed<'s, 'r> {
    pub(crate) sink: &'s mut Sink<'r>,
    pub(crate) kind: Kind,
    /// The combined stream, if the payload came wrapped.
    pub(crate) stream: Option<Stream<'s>>,
}

impl<'de> DeserializeSeed<'de> for PayloadSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let PayloadSeed { sink, kind, stream } = self;
        sink.kind = Some(kind);
        let result = match kind {
            Kind::AggTrade => sink.trade(&AggTradeMsg::deserialize(d)?, stream),
            Kind::BookTicker => sink.book_ticker(&BookTickerMsg::deserialize(d)?, stream),
            Kind::Depth => sink.depth(&DepthUpdateMsg::deserialize(d)?, stream, None),
            Kind::MiniTicker => sink.mini_ticker(&MiniTickerMsg::deserialize(d)?, stream),
            Kind::MiniTickerArr => return d.deserialize_seq(MiniTickerArray(sink)),
        };
        sink.check(result);
        Ok(())
    }
}

/// Reads a `!miniTicker@arr` array one borrowed element at a time.
struct MiniTickerArray<'s, 'r>(&'s mut Sink<'r>);

impl<'de> Visitor<'de> for MiniTickerArray<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of 24hrMiniTicker events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(msg) = seq.next_element::<MiniTickerMsg<'de>>()? {
            if self.0.error.is_none() {
                let result = self.0.mini_ticker_entry(&msg);
                self.0.check(result);
            }
        }
        Ok(())
    }
}

/// What the one-pass parse of a frame (an object) came to.
#[derive(Debug)]
pub(crate) enum Frame<'a> {
    /// A payload was parsed into the sink.
    Done,
    /// A stream this decoder does not handle, or a bad stream name; the
    /// data was skipped.
    BadStream(DecodeError),
    /// A bare payload of an event type this decoder does not handle.
    UnknownEvent(String),
    /// Anything else, for the slow path: the entries, unparsed, and the
    /// stream name if the first key was `stream` (read as a string).
    Entries { stream: Option<Str<'a>>, entries: Vec<(Str<'a>, &'a RawValue)> },
}

/// Parses a frame object, handing its payload to the sink.
pub(crate) struct FrameSeed<'s, 'r>(pub(crate) &'s mut Sink<'r>);

impl<'de> DeserializeSeed<'de> for FrameSeed<'_, '_> {
    type Value = Frame<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Frame<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FrameSeed<'_, '_> {
    type Value = Frame<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Binance stream message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(first) = map.next_key::<Str<'de>>()? else {
            return Ok(Frame::Entries { stream: None, entries: Vec::new() });
        };
        match first.as_str() {
            "stream" => {
                let stream = map.next_value::<Str<'de>>()?;
                let Some(second) = map.next_key::<Str<'de>>()? else {
                    return Ok(Frame::Entries { stream: Some(stream), entries: Vec::new() });
                };
                if second.as_str() != "data" {
                    // Unusual layout: keep everything for the slow path.
                    let mut entries = vec![(second, map.next_value::<&'de RawValue>()?)];
                    while let Some(entry) = map.next_entry::<Str<'de>, &'de RawValue>()? {
                        entries.push(entry);
                    }
                    return Ok(Frame::Entries { stream: Some(stream), entries });
                }
                let frame = match stream_kind(stream.as_str()) {
                    Ok(kind) => {
                        map.next_value_seed(PayloadSeed { sink: self.0, kind, stream: Some(Stream::unrouted(stream.as_str())) })?;
                        Frame::Done
                    }
                    Err(e) => {
                        map.next_value::<IgnoredAny>()?;
                        Frame::BadStream(e)
                    }
                };
                // Nothing else belongs in the wrapper; a repeated key
                // would make the frame ambiguous.
                while let Some(key) = map.next_key::<Str<'de>>()? {
                    if matches!(key.as_str(), "stream" | "data") {
                        return Err(A::Error::custom(format_args!("duplicate field `{}`", key.as_str())));
                    }
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(frame)
            }
            "e" => {
                let event = map.next_value::<Str<'de>>()?;
                match Kind::from_event(event.as_str()) {
                    Some(kind) => {
                        PayloadSeed { sink: self.0, kind, stream: None }.deserialize(MapAccessDeserializer::new(map))?;
                        Ok(Frame::Done)
                    }
                    None => {
                        // Still walk the rest, so a broken frame of an
                        // unknown type is reported as invalid JSON.
                        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        Ok(Frame::UnknownEvent(de::bounded(event.as_str())))
                    }
                }
            }
            _ => {
                let mut entries = vec![(first, map.next_value::<&'de RawValue>()?)];
                while let Some(entry) = map.next_entry::<Str<'de>, &'de RawValue>()? {
                    entries.push(entry);
                }
                Ok(Frame::Entries { stream: None, entries })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        for (name, kind) in [
            ("nknusdt@aggTrade", Kind::AggTrade),
            ("nknusdt@bookTicker", Kind::BookTicker),
            ("nknusdt@depth", Kind::Depth),
            ("nknusdt@depth@100ms", Kind::Depth),
            ("nknusdt@depth@1000ms", Kind::Depth),
            ("nknusdt@miniTicker", Kind::MiniTicker),
            ("!miniTicker@arr", Kind::MiniTickerArr),
        ] {
            assert_eq!(stream_kind(name), Ok(kind), "{name}");
        }
        assert_eq!(stream_kind("nknusdt@depth@ms"), Err(DecodeError::UnknownType("depth@ms".into())));
        assert_eq!(stream_kind("nknusdt@depth20"), Err(DecodeError::UnknownType("depth20".into())));
        assert_eq!(stream_kind("!bookTicker"), Err(DecodeError::UnknownType("!bookTicker".into())));
        assert_eq!(stream_kind("nknusdt").unwrap_err().reason(), "bad_field");
        assert_eq!(stream_kind("@aggTrade").unwrap_err().reason(), "bad_field");
    }
}
