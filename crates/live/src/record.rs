//! What the live runtime hands downstream: one record per thing that
//! happened on the wire, in receive order, mapping 1:1 onto capture records.

use marketpipe_capture::OutRecord;
use marketpipe_model::{Exchange, Timestamp};

/// One event of live operation, stamped with its wall-clock receive time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRecord {
    /// Receive (or send, or open/close) time, UTC nanoseconds.
    pub recv: Timestamp,
    /// The exchange.
    pub exchange: Exchange,
    /// What happened.
    pub body: LiveBody,
}

/// The kinds of [`LiveRecord`]: the capture format's `kind`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveBody {
    /// A websocket connection opened (before anything was sent on it).
    Open {
        /// Connection id, unique and increasing across the process.
        conn: u64,
        /// The websocket URL.
        url: String,
    },
    /// A text frame received.
    Ws {
        /// Connection id.
        conn: u64,
        /// The frame, as received.
        text: String,
    },
    /// A text frame sent (subscribe, unsubscribe).
    WsOut {
        /// Connection id.
        conn: u64,
        /// The frame, exactly as sent.
        text: String,
    },
    /// A REST response received (a backfill page).
    Rest {
        /// The request URL.
        url: String,
        /// The response body.
        body: String,
    },
    /// A connection closed or was abandoned. Every `Open` is followed by
    /// exactly one `Close`: the pipeline marks the connection's books
    /// `resyncing` on it.
    Close {
        /// Connection id.
        conn: u64,
        /// Why (`server_closed`, `watchdog`, `ack_timeout`, `shutdown`...,
        /// with details).
        reason: String,
    },
}

impl LiveRecord {
    /// The connection id, for the kinds that have one.
    pub fn conn(&self) -> Option<u64> {
        match &self.body {
            LiveBody::Open { conn, .. } | LiveBody::Ws { conn, .. } | LiveBody::WsOut { conn, .. } | LiveBody::Close { conn, .. } => {
                Some(*conn)
            }
            LiveBody::Rest { .. } => None,
        }
    }

    /// The record as the capture writer takes it (the close reason is not
    /// part of the capture format and is dropped).
    pub fn as_out_record(&self) -> OutRecord<'_> {
        match &self.body {
            LiveBody::Open { conn, url } => OutRecord::Open { conn: *conn, url },
            LiveBody::Ws { conn, text } => OutRecord::Ws { conn: *conn, data: text },
            LiveBody::WsOut { conn, text } => OutRecord::WsOut { conn: *conn, data: text },
            LiveBody::Rest { url, body } => OutRecord::Rest { url, data: body },
            LiveBody::Close { conn, .. } => OutRecord::Close { conn: *conn },
        }
    }
}

/// Wall-clock now, as a [`Timestamp`]. A clock before 1970 or after 2262
/// (a badly broken host) reads as the nearest representable time rather
/// than panicking.
pub fn now() -> Timestamp {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        Err(_) => Timestamp(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_onto_capture_records() {
        let rec = |body| LiveRecord { recv: Timestamp(5), exchange: Exchange::Coinbase, body };
        let r = rec(LiveBody::Ws { conn: 3, text: "{}".into() });
        assert!(matches!(r.as_out_record(), OutRecord::Ws { conn: 3, data: "{}" }));
        assert_eq!(r.conn(), Some(3));
        let r = rec(LiveBody::Rest { url: "u".into(), body: "[]".into() });
        assert!(matches!(r.as_out_record(), OutRecord::Rest { url: "u", data: "[]" }));
        assert_eq!(r.conn(), None);
        let r = rec(LiveBody::Close { conn: 4, reason: "x".into() });
        assert!(matches!(r.as_out_record(), OutRecord::Close { conn: 4 }));
        assert!(matches!(
            rec(LiveBody::Open { conn: 1, url: "ws://a".into() }).as_out_record(),
            OutRecord::Open { conn: 1, url: "ws://a" }
        ));
        assert!(matches!(rec(LiveBody::WsOut { conn: 1, text: "s".into() }).as_out_record(), OutRecord::WsOut { conn: 1, data: "s" }));
    }

    #[test]
    fn now_is_a_plausible_time() {
        assert!(now().is_plausible());
    }
}
