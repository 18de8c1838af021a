//! The normalized events venue decoders emit and the engine consumes.

use crate::{BookDelta, BookReset, BookSnapshot, InstrumentKey, Product, Ticker, Trade};

/// One normalized market event.
///
/// Decoders turn exchange frames and REST responses into these; the engine
/// is driven by nothing else, which is what makes live runs and replays agree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MarketEvent {
    /// Instrument metadata (from REST product lists).
    Product(Product),
    /// An executed trade.
    Trade(Trade),
    /// A full book replacement.
    BookSnapshot(BookSnapshot),
    /// An incremental book update.
    BookDelta(BookDelta),
    /// The book lost its sequence and waits for a new snapshot.
    BookReset(BookReset),
    /// An exchange ticker. Boxed: with ten optional decimals it is twice
    /// the size of any other event, and every event is moved a few times
    /// on its way to the engine (decoder, batch, engine thread), each move
    /// a `memcpy` of the largest variant's size.
    Ticker(Box<Ticker>),
}

impl MarketEvent {
    /// The product the event is about.
    pub fn instrument(&self) -> &InstrumentKey {
        match self {
            MarketEvent::Product(p) => &p.key,
            MarketEvent::Trade(t) => &t.instrument,
            MarketEvent::BookSnapshot(s) => &s.instrument,
            MarketEvent::BookDelta(d) => &d.instrument,
            MarketEvent::BookReset(r) => &r.instrument,
            MarketEvent::Ticker(t) => &t.instrument,
        }
    }

    /// A short stable label for counters: `product`, `trade`, `book_snapshot`,
    /// `book_delta`, `book_reset`, `ticker`.
    pub const fn kind(&self) -> &'static str {
        match self {
            MarketEvent::Product(_) => "product",
            MarketEvent::Trade(_) => "trade",
            MarketEvent::BookSnapshot(_) => "book_snapshot",
            MarketEvent::BookDelta(_) => "book_delta",
            MarketEvent::BookReset(_) => "book_reset",
            MarketEvent::Ticker(_) => "ticker",
        }
    }
}
