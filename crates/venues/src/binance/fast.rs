//! A fast path for the frames that make up nearly all of a Binance feed:
//! combined-stream `aggTrade`, `bookTicker` and `depthUpdate` payloads in
//! the compact layout Binance sends, for instance
//!
//! ```json
//! {"stream":"nknusdt@aggTrade","data":{"e":"aggTrade","E":1672515782136,"s":"NKNUSDT","a":12345,"p":"0.001","q":"100","f":100,"l":105,"T":1672515782136,"m":true,"M":true}}
//! ```
//!
//! serde_json spends most of a frame's decode time tokenizing a dozen
//! short strings and numbers through its generic machinery. This scanner
//! reads the one layout directly into the same borrowed wire structs the
//! serde path fills, and hands them to the same validation, so the two
//! cannot disagree on anything the scanner accepts. It accepts a strict
//! subset of JSON: no whitespace inside the frame, no escapes, strings
//! without control characters, unsigned integers, booleans, and
//! level arrays of string pairs; known fields of the expected JSON type,
//! each at most once; `stream` first and `data` last. Anything else
//! returns `None` before touching the sink, and the caller parses the
//! frame with serde from the start, which reports every error exactly.
//!
//! Within that, the payload's fields in Binance's own order are read in
//! one straight line (the `*_in_order` readers), and any other order by a
//! loop over the fields: replaying a Binance capture, the straight line
//! took 11% fewer instructions overall (callgrind, 100k records).

use std::borrow::Cow;

use marketpipe_model::{leading_u64, BookSide, LevelChange};

use crate::{wire::scan::string_body_at, DecodeError};

use super::{
    book::{capacity_for, level_change, DepthUpdateMsg, RawJson, ScannedLevels, ASK_FIELDS, BID_FIELDS},
    de::{OptBool, OptStr, OptU64, Str},
    message::{stream_kind, Kind, Sink, Stream},
    ticker::BookTickerMsg,
    trade::AggTradeMsg,
};

/// Decodes `frame` into `sink` if it is in the fast layout; `None` (with
/// the sink untouched) if it is not.
pub(crate) fn decode(frame: &str, sink: &mut Sink<'_>) -> Option<()> {
    let mut c = Cursor { text: frame, bytes: frame.as_bytes(), pos: 0 };
    c.literal(br#"{"stream":""#)?;
    let stream = c.string_body()?;
    c.literal(br#","data":{"#)?;
    // One lookup of the whole name routes the usual streams; the name is
    // parsed only when it is not one of them.
    let (kind, routed) = match sink.registry.route(stream) {
        Some((kind, idx)) => (kind, Some(idx)),
        None => (stream_kind(stream).ok()?, None),
    };
    let stream = Stream { name: stream, routed };
    let result = match kind {
        Kind::AggTrade => {
            let m = c.either(agg_trade_in_order, agg_trade)?;
            c.end()?;
            sink.trade(&m, Some(stream))
        }
        Kind::BookTicker => {
            let m = c.either(book_ticker_in_order, book_ticker)?;
            c.end()?;
            sink.book_ticker(&m, Some(stream))
        }
        Kind::Depth => {
            let (m, scanned) = c.either(depth_in_order, |c| depth(c).map(|m| (m, None)))?;
            c.end()?;
            sink.depth(&m, Some(stream), scanned)
        }
        Kind::MiniTicker | Kind::MiniTickerArr => return None,
    };
    sink.kind = Some(kind);
    sink.check(result);
    Some(())
}

/// A scalar or level-array value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value<'a> {
    Str(&'a str),
    UInt(u64),
    Bool(bool),
    /// `[["p","q"],...]`, as its text.
    Levels(&'a str),
}

fn opt_str(s: &str) -> OptStr<'_> {
    OptStr(Some(Str(Cow::Borrowed(s))))
}

/// Marks field `bit` seen; `None` if it already was (a duplicate field,
/// which serde reports).
fn once(seen: &mut u32, bit: u32) -> Option<()> {
    if *seen & (1 << bit) != 0 {
        return None;
    }
    *seen |= 1 << bit;
    Some(())
}

// Binance sends every field of a payload in one order. Read in that order,
// a payload needs no key lookups, no duplicate checks and no dispatch on
// the value's first byte, which was most of the field loop's time. Each
// `*_in_order` reader accepts only that exact layout (a subset of what its
// field loop accepts) and fills the message exactly as the field loop
// would, so which of the two read a payload never shows; on anything else
// it returns `None` and the field loop reads the payload from its start.

/// `"e":"aggTrade","E":1,"s":"X","a":1,"p":"1","q":"1","f":1,"l":1,"T":1,"m":true,"M":true}`
fn agg_trade_in_order<'a>(c: &mut Cursor<'a>) -> Option<AggTradeMsg<'a>> {
    c.literal(br#""e":"aggTrade","E":"#)?;
    c.uint()?;
    c.literal(br#","s":""#)?;
    let s = c.string_body()?;
    c.literal(br#","a":"#)?;
    let id = c.uint()?;
    c.literal(br#","p":""#)?;
    let price = c.string_body()?;
    c.literal(br#","q":""#)?;
    let qty = c.string_body()?;
    c.literal(br#","f":"#)?;
    c.uint()?;
    c.literal(br#","l":"#)?;
    c.uint()?;
    c.literal(br#","T":"#)?;
    let time = c.uint()?;
    c.literal(br#","m":"#)?;
    let buyer_is_maker = c.bool()?;
    c.literal(br#","M":"#)?;
    c.bool()?;
    c.literal(b"}")?;
    Some(AggTradeMsg {
        e: opt_str("aggTrade"),
        s: opt_str(s),
        id: OptU64(Some(id)),
        price: opt_str(price),
        qty: opt_str(qty),
        time: OptU64(Some(time)),
        buyer_is_maker: OptBool(Some(buyer_is_maker)),
    })
}

/// `"u":1,"s":"X","b":"1","B":"1","a":"1","A":"1"}`
fn book_ticker_in_order<'a>(c: &mut Cursor<'a>) -> Option<BookTickerMsg<'a>> {
    c.literal(br#""u":"#)?;
    let update_id = c.uint()?;
    c.literal(br#","s":""#)?;
    let s = c.string_body()?;
    c.literal(br#","b":""#)?;
    let bid = c.string_body()?;
    c.literal(br#","B":""#)?;
    let bid_qty = c.string_body()?;
    c.literal(br#","a":""#)?;
    let ask = c.string_body()?;
    c.literal(br#","A":""#)?;
    let ask_qty = c.string_body()?;
    c.literal(b"}")?;
    Some(BookTickerMsg {
        update_id: OptU64(Some(update_id)),
        s: opt_str(s),
        bid: opt_str(bid),
        bid_qty: opt_str(bid_qty),
        ask: opt_str(ask),
        ask_qty: opt_str(ask_qty),
        ..BookTickerMsg::default()
    })
}

/// `"e":"depthUpdate","E":1,"s":"X","U":1,"u":1,"b":[...],"a":[...]}`,
/// with the levels converted as they are read.
fn depth_in_order<'a>(c: &mut Cursor<'a>) -> Option<(DepthUpdateMsg<'a>, Option<ScannedLevels>)> {
    c.literal(br#""e":"depthUpdate","E":"#)?;
    let event_time = c.uint()?;
    c.literal(br#","s":""#)?;
    let s = c.string_body()?;
    c.literal(br#","U":"#)?;
    let first_update_id = c.uint()?;
    c.literal(br#","u":"#)?;
    let final_update_id = c.uint()?;
    // The level arrays hold most of the frame: converting them in this
    // pass saves scanning them a second time in `validate`.
    let mut changes = Vec::with_capacity(capacity_for(c.bytes.len() - c.pos));
    c.literal(br#","b":"#)?;
    let (bids, bid_error) = c.levels_into(BookSide::Bid, BID_FIELDS, &mut changes)?;
    c.literal(br#","a":"#)?;
    let (asks, ask_error) = c.levels_into(BookSide::Ask, ASK_FIELDS, &mut changes)?;
    c.literal(b"}")?;
    let m = DepthUpdateMsg {
        e: opt_str("depthUpdate"),
        event_time: OptU64(Some(event_time)),
        s: opt_str(s),
        first_update_id: OptU64(Some(first_update_id)),
        final_update_id: OptU64(Some(final_update_id)),
        bids: Some(RawJson(bids)),
        asks: Some(RawJson(asks)),
    };
    Some((m, Some(ScannedLevels { changes, bid_error, ask_error })))
}

fn agg_trade<'a>(c: &mut Cursor<'a>) -> Option<AggTradeMsg<'a>> {
    let mut m = AggTradeMsg::default();
    let mut seen = 0;
    c.fields(|key, value| {
        match (key, value) {
            ("e", Value::Str(s)) => {
                once(&mut seen, 0)?;
                m.e = opt_str(s);
            }
            ("s", Value::Str(s)) => {
                once(&mut seen, 1)?;
                m.s = opt_str(s);
            }
            ("a", Value::UInt(n)) => {
                once(&mut seen, 2)?;
                m.id = OptU64(Some(n));
            }
            ("p", Value::Str(s)) => {
                once(&mut seen, 3)?;
                m.price = opt_str(s);
            }
            ("q", Value::Str(s)) => {
                once(&mut seen, 4)?;
                m.qty = opt_str(s);
            }
            ("T", Value::UInt(n)) => {
                once(&mut seen, 5)?;
                m.time = OptU64(Some(n));
            }
            ("m", Value::Bool(b)) => {
                once(&mut seen, 6)?;
                m.buyer_is_maker = OptBool(Some(b));
            }
            ("e" | "s" | "a" | "p" | "q" | "T" | "m", _) => return None,
            _ => {}
        }
        Some(())
    })?;
    Some(m)
}

fn book_ticker<'a>(c: &mut Cursor<'a>) -> Option<BookTickerMsg<'a>> {
    let mut m = BookTickerMsg::default();
    let mut seen = 0;
    c.fields(|key, value| {
        match (key, value) {
            ("e", Value::Str(s)) => {
                once(&mut seen, 0)?;
                m.e = opt_str(s);
            }
            ("E", Value::UInt(n)) => {
                once(&mut seen, 1)?;
                m.event_time = OptU64(Some(n));
            }
            ("u", Value::UInt(n)) => {
                once(&mut seen, 2)?;
                m.update_id = OptU64(Some(n));
            }
            ("s", Value::Str(s)) => {
                once(&mut seen, 3)?;
                m.s = opt_str(s);
            }
            ("b", Value::Str(s)) => {
                once(&mut seen, 4)?;
                m.bid = opt_str(s);
            }
            ("B", Value::Str(s)) => {
                once(&mut seen, 5)?;
                m.bid_qty = opt_str(s);
            }
            ("a", Value::Str(s)) => {
                once(&mut seen, 6)?;
                m.ask = opt_str(s);
            }
            ("A", Value::Str(s)) => {
                once(&mut seen, 7)?;
                m.ask_qty = opt_str(s);
            }
            ("e" | "E" | "u" | "s" | "b" | "B" | "a" | "A", _) => return None,
            _ => {}
        }
        Some(())
    })?;
    Some(m)
}

fn depth<'a>(c: &mut Cursor<'a>) -> Option<DepthUpdateMsg<'a>> {
    let mut m = DepthUpdateMsg::default();
    let mut seen = 0;
    c.fields(|key, value| {
        match (key, value) {
            ("e", Value::Str(s)) => {
                once(&mut seen, 0)?;
                m.e = opt_str(s);
            }
            ("E", Value::UInt(n)) => {
                once(&mut seen, 1)?;
                m.event_time = OptU64(Some(n));
            }
            ("s", Value::Str(s)) => {
                once(&mut seen, 2)?;
                m.s = opt_str(s);
            }
            ("U", Value::UInt(n)) => {
                once(&mut seen, 3)?;
                m.first_update_id = OptU64(Some(n));
            }
            ("u", Value::UInt(n)) => {
                once(&mut seen, 4)?;
                m.final_update_id = OptU64(Some(n));
            }
            ("b", Value::Levels(t)) => {
                once(&mut seen, 5)?;
                m.bids = Some(RawJson(t));
            }
            ("a", Value::Levels(t)) => {
                once(&mut seen, 6)?;
                m.asks = Some(RawJson(t));
            }
            ("e" | "E" | "s" | "U" | "u" | "b" | "a", _) => return None,
            _ => {}
        }
        Some(())
    })?;
    Some(m)
}

/// A cursor over the frame.
struct Cursor<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes exactly `lit` (a short literal: compared inline, which
    /// beats a `memcmp` call).
    #[inline]
    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        let rest = self.bytes.get(self.pos..self.pos + lit.len())?;
        if rest.iter().zip(lit).all(|(a, b)| a == b) {
            self.pos += lit.len();
            Some(())
        } else {
            None
        }
    }

    /// The rest of a string whose opening quote was consumed: plain
    /// characters up to the closing quote, which is consumed.
    fn string_body(&mut self) -> Option<&'a str> {
        let (body, end) = string_body_at(self.text, self.pos)?;
        self.pos = end;
        Some(body)
    }

    /// An unsigned JSON integer that fits a `u64`.
    fn uint(&mut self) -> Option<u64> {
        let start = self.pos;
        let (len, n) = leading_u64(self.bytes.get(start..)?);
        self.pos += len;
        // A leading zero is not JSON; a fraction or exponent is a float.
        if len == 0 || (len > 1 && self.bytes[start] == b'0') || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        n
    }

    /// `[]` or `[["p","q"],...]`, as its text.
    fn levels(&mut self) -> Option<&'a str> {
        self.pairs(|_, _| {})
    }

    /// What [`Cursor::levels`] reads, each pair converted into `out` as a
    /// change on `side` (as `read_changes` would) until one fails: the text
    /// and that first failure. Pairs after a failure are still scanned, so
    /// a shape error anywhere still declines the frame.
    fn levels_into(
        &mut self,
        side: BookSide,
        fields: (&'static str, &'static str),
        out: &mut Vec<LevelChange>,
    ) -> Option<(&'a str, Option<DecodeError>)> {
        let mut error = None;
        let text = self.pairs(|price, size| {
            if error.is_none() {
                match level_change(side, fields, price, size) {
                    Ok(change) => out.push(change),
                    Err(e) => error = Some(e),
                }
            }
        })?;
        Some((text, error))
    }

    /// `[]` or `[["p","q"],...]`: calls `each` with every pair's strings
    /// and returns the array's text.
    #[inline]
    fn pairs(&mut self, mut each: impl FnMut(&'a str, &'a str)) -> Option<&'a str> {
        let start = self.pos;
        if !self.eat(b'[') {
            return None;
        }
        if !self.eat(b']') {
            loop {
                if !(self.eat(b'[') && self.eat(b'"')) {
                    return None;
                }
                let first = self.string_body()?;
                if !(self.eat(b',') && self.eat(b'"')) {
                    return None;
                }
                let second = self.string_body()?;
                if !self.eat(b']') {
                    return None;
                }
                each(first, second);
                if self.eat(b',') {
                    continue;
                }
                if self.eat(b']') {
                    break;
                }
                return None;
            }
        }
        self.text.get(start..self.pos)
    }

    /// `true` or `false`.
    fn bool(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// What `in_order` reads, or else what `fields` reads from the same
    /// place (see the `*_in_order` readers).
    fn either<T>(&mut self, in_order: fn(&mut Self) -> Option<T>, fields: fn(&mut Self) -> Option<T>) -> Option<T> {
        let start = self.pos;
        if let Some(m) = in_order(self) {
            return Some(m);
        }
        self.pos = start;
        fields(self)
    }

    fn value(&mut self) -> Option<Value<'a>> {
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                self.string_body().map(Value::Str)
            }
            b'0'..=b'9' => self.uint().map(Value::UInt),
            b't' | b'f' => self.bool().map(Value::Bool),
            b'[' => self.levels().map(Value::Levels),
            _ => None,
        }
    }

    /// The fields of an object whose `{` was consumed, through its `}`.
    fn fields(&mut self, mut field: impl FnMut(&'a str, Value<'a>) -> Option<()>) -> Option<()> {
        if self.eat(b'}') {
            return Some(());
        }
        loop {
            if !self.eat(b'"') {
                return None;
            }
            let key = self.string_body()?;
            if !self.eat(b':') {
                return None;
            }
            field(key, self.value()?)?;
            if self.eat(b',') {
                continue;
            }
            return self.eat(b'}').then_some(());
        }
    }

    /// The wrapper's closing brace, then nothing but whitespace.
    fn end(&mut self) -> Option<()> {
        if !self.eat(b'}') {
            return None;
        }
        self.bytes.get(self.pos..)?.iter().all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use marketpipe_model::{MarketEvent, Timestamp};
    use proptest::prelude::*;

    use super::*;
    use crate::binance::BinanceDecoder;
    use crate::{DecodeError, Decoded, VenueDecoder};

    const RECV: Timestamp = Timestamp::from_nanos(1_767_621_787_200_000_000);

    const FRAMES: [&str; 4] = [
        r#"{"stream":"nknusdt@aggTrade","data":{"e":"aggTrade","E":1767621787125,"s":"NKNUSDT","a":28457912,"p":"0.35210000","q":"150.00000000","f":41250110,"l":41250112,"T":1767621787123,"m":true,"M":true}}"#,
        r#"{"stream":"nknusdt@bookTicker","data":{"u":499869755,"s":"NKNUSDT","b":"0.35210000","B":"672.00000000","a":"0.35230000","A":"120.50000000"}}"#,
        r#"{"stream":"nknusdt@depth@100ms","data":{"e":"depthUpdate","E":1767621787180,"s":"NKNUSDT","U":11,"u":12,"b":[["0.35170000","4265.00000000"],["0.35160000","0.00000000"]],"a":[["0.35230000","120.50000000"]]}}"#,
        r#"{"stream":"nknusdt@depth","data":{"e":"depthUpdate","E":1767621787180,"s":"NKNUSDT","U":13,"u":13,"b":[],"a":[]}}"#,
    ];

    /// A decoder knowing NKNUSDT, in sync at update id 10.
    fn decoder() -> BinanceDecoder {
        let mut d = BinanceDecoder::new();
        let mut out = Vec::new();
        let info = r#"{"symbols":[{"symbol":"NKNUSDT","baseAsset":"NKN","quoteAsset":"USDT"}]}"#;
        d.decode_rest("/api/v3/exchangeInfo", info, RECV, &mut out).unwrap();
        d.decode_rest("/api/v3/depth?symbol=NKNUSDT", r#"{"lastUpdateId":10,"bids":[],"asks":[]}"#, RECV, &mut out).unwrap();
        d
    }

    /// Whether the fast path takes `frame` (on a scratch decoder).
    fn taken(frame: &str) -> bool {
        let d = decoder();
        let mut out = Vec::new();
        let mut sink = Sink::new(&d.registry, RECV, &mut out);
        decode(frame, &mut sink).is_some()
    }

    type Outcome = (Result<Decoded, DecodeError>, Vec<MarketEvent>);

    /// Decodes `frames` in order with the full decoder (fast path first)
    /// and with serde alone, and returns both.
    fn both(frames: &[String]) -> (Vec<Outcome>, Vec<Outcome>) {
        let (mut fast, mut slow) = (decoder(), decoder());
        let mut a = Vec::new();
        let mut b = Vec::new();
        for f in frames {
            let mut out = Vec::new();
            a.push((fast.decode_ws(f, RECV, &mut out), out));
            let mut out = Vec::new();
            b.push((slow.decode_ws_serde(f, RECV, &mut out), out));
        }
        assert_eq!(fast.stats(), slow.stats());
        (a, b)
    }

    #[test]
    fn takes_the_canonical_frames() {
        for f in FRAMES {
            assert!(taken(f), "{f}");
        }
        let (a, b) = both(&FRAMES.map(String::from));
        assert_eq!(a, b);
        assert!(a.iter().all(|(r, _)| r.is_ok()), "{a:?}");
        assert!(taken(&format!("{}\n", FRAMES[0])), "trailing whitespace");
    }

    /// A cursor at the payload of `frame`.
    fn payload(frame: &str) -> Cursor<'_> {
        let pos = frame.find(r#""data":{"#).unwrap() + r#""data":{"#.len();
        Cursor { text: frame, bytes: frame.as_bytes(), pos }
    }

    /// Binance's own field order is read by the in-order readers, any
    /// other by the field loop, and both give the same events.
    #[test]
    fn field_order_does_not_matter() {
        assert!(agg_trade_in_order(&mut payload(FRAMES[0])).is_some());
        assert!(book_ticker_in_order(&mut payload(FRAMES[1])).is_some());
        assert!(depth_in_order(&mut payload(FRAMES[2])).is_some());
        assert!(depth_in_order(&mut payload(FRAMES[3])).is_some());
        let reordered = [
            FRAMES[0]
                .replace(r#""e":"aggTrade","E":1767621787125,"#, "")
                .replace(r#""M":true}"#, r#""M":true,"E":1767621787125,"e":"aggTrade"}"#),
            FRAMES[1].replace(r#""u":499869755,"s":"NKNUSDT","#, r#""s":"NKNUSDT","u":499869755,"#),
            FRAMES[2].replace(r#""U":11,"u":12,"#, r#""u":12,"U":11,"#),
        ];
        let in_order: [fn(&mut Cursor<'_>) -> bool; 3] =
            [|c| agg_trade_in_order(c).is_some(), |c| book_ticker_in_order(c).is_some(), |c| depth_in_order(c).is_some()];
        for (i, frame) in reordered.iter().enumerate() {
            assert_ne!(frame, FRAMES[i]);
            assert!(!in_order[i](&mut payload(frame)), "{frame}");
            assert!(taken(frame), "the field loop reads {frame}");
            let (fast, serde) = both(std::slice::from_ref(frame));
            assert_eq!(fast, serde);
            // The same outcome as the frame in Binance's order.
            let (canonical, _) = both(&[FRAMES[i].to_owned()]);
            assert!(canonical[0].0.is_ok() && canonical[0].1.len() == 1, "{canonical:?}");
            assert_eq!(fast, canonical);
        }
    }

    #[test]
    fn declines_what_it_does_not_read() {
        let t = FRAMES[0];
        for frame in [
            t.replacen(r#"{"stream""#, r#"{ "stream""#, 1),
            t.replace(r#""p":"0.35210000""#, r#""p":"0.3521\u0030""#),
            t.replace(r#""p":"0.35210000""#, r#""p":0.3521"#),
            t.replace(r#""a":28457912"#, r#""a":-1"#),
            t.replace(r#""a":28457912"#, r#""a":028457912"#),
            t.replace(r#""a":28457912"#, r#""a":2845791.2"#),
            t.replace(r#""a":28457912"#, r#""a":2845791e2"#),
            t.replace(r#""a":28457912"#, r#""a":99999999999999999999"#),
            t.replace(r#""a":28457912"#, r#""a":null"#),
            t.replace(r#""M":true"#, r#""M":{}"#),
            t.replace(r#""M":true"#, r#""M":tru"#),
            t.replace(r#""p":"0.35210000""#, r#""p":"0.35210000","p":"1""#),
            t.replace(r#""s":"NKNUSDT""#, "\"s\":\"NKN\tUSDT\""),
            format!("{t} x"),
            t.trim_end_matches('}').to_owned(),
            t.replace("}}", r#"},"x":1}"#),
            t.replace("@aggTrade", "@trade"),
            r#"{"stream":"!miniTicker@arr","data":[]}"#.to_owned(),
            FRAMES[2].replace(r#"["0.35160000","0.00000000"]"#, r#"["0.35160000","0.00000000","x"]"#),
            FRAMES[2].replace(r#""a":[["0.35230000","120.50000000"]]"#, r#""a":"x""#),
            FRAMES[2].replace(r#""a":[["0.35230000","120.50000000"]]"#, r#""a":[["0.35230000",120.5]]"#),
        ] {
            assert!(!taken(&frame), "{frame}");
            let (a, b) = both(std::slice::from_ref(&frame));
            assert_eq!(a, b, "{frame}");
        }
    }

    #[test]
    fn integers_up_to_u64_max_and_no_further() {
        let read = |text: &str| Cursor { text, bytes: text.as_bytes(), pos: 0 }.uint();
        assert_eq!(read("18446744073709551615,"), Some(u64::MAX));
        assert_eq!(read("9999999999999999999}"), Some(9_999_999_999_999_999_999));
        assert_eq!(read("1767621787123,"), Some(1_767_621_787_123));
        assert_eq!(read("0,"), Some(0));
        for bad in ["18446744073709551616,", "99999999999999999999,", "01,", "1.5,", "1e3,", ",", ""] {
            assert_eq!(read(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// Whatever the bytes, the decoder with its fast path gives exactly
        /// what serde alone gives: same results, events and book state.
        #[test]
        fn fast_and_serde_paths_agree(
            frames in prop::collection::vec(
                (0..FRAMES.len(), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3), any::<prop::sample::Index>(), any::<bool>()),
                1..6,
            )
        ) {
            let texts: Vec<String> = frames
                .into_iter()
                .map(|(which, edits, cut, truncate)| {
                    let mut bytes = FRAMES[which].as_bytes().to_vec();
                    for (at, byte) in edits {
                        let i = at.index(bytes.len());
                        // Mostly JSON-ish bytes, so mutations stay close to valid.
                        bytes[i] = b"\"\\{}[],:0123456789.-eEtrufalsn x"[usize::from(byte) % 32];
                    }
                    if truncate {
                        bytes.truncate(cut.index(bytes.len()));
                    }
                    String::from_utf8_lossy(&bytes).into_owned()
                })
                .collect();
            let (a, b) = both(&texts);
            prop_assert_eq!(a, b);
        }
    }
}
