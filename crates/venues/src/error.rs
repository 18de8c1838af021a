//! Why a frame or REST response could not be decoded.

use marketpipe_model::{NumberError, TimestampError};

/// Why a frame or response was skipped. Every variant maps to a short stable
/// label ([`DecodeError::reason`]) that the pipeline counts by.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not valid JSON, or not the JSON shape the message type requires
    /// (a string where an object belongs, a field of the wrong type).
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// A required field is absent.
    #[error("missing field {0:?}")]
    MissingField(&'static str),
    /// A field is present but its value is unusable (an unknown side, an
    /// empty product id...).
    #[error("bad field {field:?}: {detail}")]
    BadField {
        /// The field.
        field: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A price or size that is not an exact, plausible decimal.
    #[error("bad number in {field:?}: {error}")]
    BadNumber {
        /// The field.
        field: &'static str,
        /// What was wrong with it.
        error: NumberError,
    },
    /// A time that is not a valid, plausible timestamp.
    #[error("bad time in {field:?}: {detail}")]
    BadTime {
        /// The field.
        field: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A symbol the exchange's instrument metadata never listed, on an
    /// exchange whose symbols cannot be split into base and quote without
    /// it (Binance's `BTCBUSD` is `BTC-BUSD` or `BTCB-USD`).
    #[error("unknown symbol {0:?} (not in the exchange's instrument list)")]
    UnknownSymbol(String),
    /// A well-formed message of a type this decoder does not handle.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A REST URL whose path is not an endpoint this decoder knows.
    #[error("unknown REST endpoint {0:?}")]
    UnknownEndpoint(String),
}

impl DecodeError {
    /// A short stable label for counters and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::InvalidJson(_) => "invalid_json",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::BadField { .. } => "bad_field",
            DecodeError::BadNumber { error, .. } => error.reason(),
            DecodeError::BadTime { .. } => "bad_time",
            DecodeError::UnknownSymbol(_) => "unknown_symbol",
            DecodeError::UnknownType(_) => "unknown_type",
            DecodeError::UnknownEndpoint(_) => "unknown_endpoint",
        }
    }

    /// A time-field error.
    pub fn time(field: &'static str, e: TimestampError) -> Self {
        DecodeError::BadTime { field, detail: e.to_string() }
    }
}
