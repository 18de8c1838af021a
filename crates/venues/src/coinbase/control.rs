//! Control messages: `subscriptions` acknowledgements, `heartbeat`s and
//! `error`s from the feed, and the `subscribe` request sent to it.

use marketpipe_model::Timestamp;
use serde::Deserialize;

use super::de::{self, OptStr, OptU64};
use crate::DecodeError;

/// The feed's acknowledgement of a subscribe (or unsubscribe): the full set
/// of channels now subscribed. A channel is either a plain name or an object
/// with the product ids subscribed on it.
///
/// See <https://docs.cdp.coinbase.com/exchange/docs/websocket-overview#subscribe>
///
/// ```json
/// {
///   "type": "subscriptions",
///   "channels": [
///     {"name": "level2_batch", "product_ids": ["ETH-USD", "ETH-EUR"]},
///     {"name": "heartbeat", "product_ids": ["ETH-USD", "ETH-EUR"]},
///     "status"
///   ]
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct SubscriptionsMsg {
    /// Subscribed channels.
    channels: Option<Vec<ChannelEntry>>,
}

/// One entry of [`SubscriptionsMsg::channels`]. Untagged (so buffered by
/// serde), which is fine for a message sent once per subscribe.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ChannelEntry {
    /// `"heartbeat"`.
    Name(String),
    /// `{"name": "heartbeat", "product_ids": ["BTC-USD"]}`.
    Full {
        /// Channel name.
        name: String,
        /// Native product ids (absent or `null` means none).
        #[serde(default)]
        product_ids: Option<Vec<String>>,
    },
}

impl SubscriptionsMsg {
    /// Channel name and product ids, in the order the exchange listed them.
    pub(crate) fn into_channels(self) -> Result<Vec<(String, Vec<String>)>, DecodeError> {
        Ok(de::required(self.channels, "channels")?
            .into_iter()
            .map(|c| match c {
                ChannelEntry::Name(name) => (name, Vec::new()),
                ChannelEntry::Full { name, product_ids } => (name, product_ids.unwrap_or_default()),
            })
            .collect())
    }
}

/// Sent once a second per product on the `heartbeat` channel, so a quiet
/// product is told apart from a dead connection; `last_trade_id` lets the
/// runtime notice missed trades.
///
/// See <https://docs.cdp.coinbase.com/exchange/docs/websocket-channels#heartbeat-channel>
///
/// ```json
/// {
///   "type": "heartbeat",
///   "sequence": 90,
///   "last_trade_id": 20,
///   "product_id": "BTC-USD",
///   "time": "2014-11-07T08:19:28.464459Z"
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct HeartbeatMsg<'a> {
    /// The product's sequence number.
    #[serde(default)]
    pub(crate) sequence: OptU64,
    /// The product's last trade id.
    #[serde(default)]
    pub(crate) last_trade_id: OptU64,
    /// Native product id.
    #[serde(borrow, default)]
    product_id: OptStr<'a>,
    /// Exchange time.
    #[serde(borrow, default)]
    time: OptStr<'a>,
}

impl HeartbeatMsg<'_> {
    /// The native product id.
    pub(crate) fn product_id(&self) -> Result<&str, DecodeError> {
        de::required(self.product_id.get(), "product_id")
    }

    /// The exchange time, if sent (and then valid).
    pub(crate) fn time(&self) -> Result<Option<Timestamp>, DecodeError> {
        de::opt_time(self.time.get(), "time")
    }
}

/// The feed reporting a problem, typically with a subscribe request; the
/// feed may close the connection after it.
///
/// See <https://docs.cdp.coinbase.com/exchange/docs/websocket-overview#errors>
///
/// ```json
/// {
///   "type": "error",
///   "message": "Failed to subscribe",
///   "reason": "ETH-XYZ is not a valid product"
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorMsg {
    /// Short description.
    message: Option<String>,
    /// Details, where given.
    reason: Option<String>,
}

impl ErrorMsg {
    /// The message and the optional reason.
    pub(crate) fn into_parts(self) -> Result<(String, Option<String>), DecodeError> {
        Ok((de::required(self.message, "message")?, self.reason))
    }
}

/// The `subscribe` request for `channels` on `product_ids`, as the text of
/// one websocket frame.
///
/// See <https://docs.cdp.coinbase.com/exchange/docs/websocket-overview#subscribe>
///
/// ```json
/// {"type":"subscribe","product_ids":["BTC-USD"],"channels":["matches","level2_batch","heartbeat"]}
/// ```
pub fn subscribe_request(product_ids: &[&str], channels: &[&str]) -> String {
    let mut s = String::with_capacity(64 + 16 * (product_ids.len() + channels.len()));
    s.push_str(r#"{"type":"subscribe","product_ids":"#);
    push_json_array(&mut s, product_ids);
    s.push_str(r#","channels":"#);
    push_json_array(&mut s, channels);
    s.push('}');
    s
}

/// Appends `items` as a JSON array of strings.
fn push_json_array(out: &mut String, items: &[&str]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        de::push_json_string(out, item);
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_request_is_valid_json_with_escapes() {
        let s = subscribe_request(&["BTC-USD", "we\"ird\n"], &["matches"]);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["type"], "subscribe");
        assert_eq!(v["product_ids"][1], "we\"ird\n");
        assert_eq!(v["channels"][0], "matches");
        assert_eq!(subscribe_request(&[], &[]), r#"{"type":"subscribe","product_ids":[],"channels":[]}"#);
    }
}
