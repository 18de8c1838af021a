//! Wire-reading pieces every exchange decoder uses alike: serde field
//! helpers ([`de`]), the fast scanner for book level arrays ([`scan`]), and
//! the Coinbase decoders' product registry ([`registry`]).
//!
//! The exchange modules started as copies of one another's private
//! helpers; what was the same logic lives here once (with its tests), and
//! each exchange's own `de.rs` re-exports it next to what really is specific
//! to that exchange (Coinbase's RFC 3339 times and maker sides, Binance's
//! zero-means-absent statistics, KuCoin's two forms of sequence number...;
//! KuCoin alone keeps a `scan.rs`, for its own serde fallback).
//! Nothing here is reachable from outside the crate.

pub(crate) mod body;
pub(crate) mod de;
pub(crate) mod registry;
pub(crate) mod scan;
pub(crate) mod symbol;
