//! marketpipe's shared vocabulary.
//!
//! Every crate of the pipeline speaks in these types: exact decimal prices and
//! sizes ([`Price`], [`Qty`], never `f64`), UTC nanosecond [`Timestamp`]s,
//! [`Product`]s named by [`InstrumentKey`], and the normalized
//! [`MarketEvent`]s that venue decoders produce and the engine consumes, plus
//! the engine's outputs ([`Candle`], [`BookTop`], [`BookStats`]).
//!
//! The crate is pure data: no I/O, no clocks, and it builds in seconds.

mod book;
mod candle;
mod decimal;
mod event;
mod instrument;
mod stats;
mod ticker;
mod time;
mod trade;

pub use book::{BookDelta, BookReset, BookSide, BookSnapshot, BookState, BookTop, Level, LevelChange};
pub use candle::{Candle, Interval, ParseIntervalError};
pub use decimal::{leading_u64, parse_decimal, parse_price, parse_size, push_decimal, Decimal, NumberError, Price, Qty};
pub use event::MarketEvent;
pub use instrument::{Exchange, InstrumentKey, ParseExchangeError, Product, Symbol};
pub use stats::BookStats;
pub use ticker::Ticker;
pub use time::{Timestamp, TimestampError, UtcParts};
pub use trade::{Side, Trade, TradeId};
