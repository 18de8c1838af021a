//! The Binance spot decoder, from the outside: one fixture test per wire
//! type and REST endpoint, malformed input, the order book sync across
//! frames and snapshots, properties over arbitrary input, and a whole
//! generated capture decoded with zero skips.
//!
//! Expected values are written out by hand (times computed independently of
//! the decoder, decimals compared by their exact string form), never taken
//! from the code under test.

#[path = "binance/capture.rs"]
mod capture;
#[path = "binance/malformed.rs"]
mod malformed;
#[path = "binance/props.rs"]
mod props;
#[path = "binance/rest.rs"]
mod rest;
#[path = "binance/support.rs"]
mod support;
#[path = "binance/sync.rs"]
mod sync;
#[path = "binance/ws.rs"]
mod ws;
