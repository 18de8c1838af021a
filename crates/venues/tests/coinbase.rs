//! The Coinbase Exchange decoder, from the outside: one fixture test per
//! message type and REST endpoint, malformed input, decoder state across
//! frames, and properties over arbitrary input.
//!
//! Expected values are written out by hand (times computed independently of
//! the decoder, decimals compared by their exact string form), never taken
//! from the code under test.

#[path = "coinbase/malformed.rs"]
mod malformed;
#[path = "coinbase/props.rs"]
mod props;
#[path = "coinbase/rest.rs"]
mod rest;
#[path = "coinbase/support.rs"]
mod support;
#[path = "coinbase/ws.rs"]
mod ws;
