//! The Coinbase Advanced Trade decoder, from the outside: one fixture test
//! per REST endpoint, malformed input, decoder state across responses, and
//! properties over arbitrary input.
//!
//! The fixtures follow the documented payloads (the market trades one is a
//! real public response's shape). Expected values are written out by hand
//! (times computed independently of the decoder, decimals compared by their
//! exact string form), never taken from the code under test.

#[path = "coinbase_advanced/malformed.rs"]
mod malformed;
#[path = "coinbase_advanced/props.rs"]
mod props;
#[path = "coinbase_advanced/rest.rs"]
mod rest;
#[path = "coinbase_advanced/support.rs"]
mod support;
