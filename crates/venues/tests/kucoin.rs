//! The KuCoin spot decoder, from the outside: one fixture test per message
//! type and REST endpoint, order book sync over a hand-written capture,
//! malformed input, and properties over arbitrary input (including a model
//! exchange checking book sync against the true book).
//!
//! KuCoin has no capture generator here, so the fixtures are written by hand
//! from KuCoin's documented payloads. Expected values are written out by
//! hand (times computed independently of the decoder, decimals compared by
//! their exact string form), never taken from the code under test.

#[path = "kucoin/book.rs"]
mod book;
#[path = "kucoin/malformed.rs"]
mod malformed;
#[path = "kucoin/perf.rs"]
mod perf;
#[path = "kucoin/props.rs"]
mod props;
#[path = "kucoin/rest.rs"]
mod rest;
#[path = "kucoin/support.rs"]
mod support;
#[path = "kucoin/ws.rs"]
mod ws;
