//! Dispatch of a websocket frame on its `type`, in one pass of serde_json.
//!
//! serde's internally tagged enums (`#[serde(tag = "type")]`) buffer the
//! whole object into an intermediate tree before choosing the variant,
//! which costs more than the decoding itself. Coinbase always sends `type`
//! as the first key, so this visitor reads that key, then hands the rest of
//! the same map straight to the typed struct for that message. Should a
//! frame ever put `type` elsewhere, the visitor keeps the raw entries
//! instead ([`WsMessage::TypeNotFirst`]) and the decoder re-parses them with
//! `type` moved to the front: slower, but the same result.

use std::fmt;

use serde::de::{value::MapAccessDeserializer, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{
    book::{L2UpdateMsg, SnapshotMsg},
    control::{ErrorMsg, HeartbeatMsg, SubscriptionsMsg},
    de::{self, Str},
    ticker::TickerMsg,
    trade::MatchMsg,
};

/// One websocket frame, by its `type`.
#[derive(Debug)]
pub(crate) enum WsMessage<'a> {
    /// `match`.
    Match(MatchMsg<'a>),
    /// `last_match`: the product's latest trade, sent on subscribe.
    LastMatch(MatchMsg<'a>),
    /// `ticker` (boxed: it is twice the size of the others, and moving
    /// the whole enum around cost more than the allocation).
    Ticker(Box<TickerMsg<'a>>),
    /// `snapshot`.
    Snapshot(SnapshotMsg<'a>),
    /// `l2update`.
    L2Update(L2UpdateMsg<'a>),
    /// `heartbeat`.
    Heartbeat(HeartbeatMsg<'a>),
    /// `subscriptions`.
    Subscriptions(SubscriptionsMsg),
    /// `error`.
    Error(ErrorMsg),
    /// A well-formed object of another `type` (`received`, `open`, `status`...).
    Unknown(String),
    /// An object with no keys at all.
    Empty,
    /// An object whose first key is not `type`: its entries, unparsed.
    TypeNotFirst(Vec<(Str<'a>, &'a RawValue)>),
}

impl<'de> Deserialize<'de> for WsMessage<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MessageVisitor)
    }
}

struct MessageVisitor;

/// Deserializes the rest of `map` (everything after `type`) as `T`.
fn rest<'de, T: Deserialize<'de>, A: MapAccess<'de>>(map: A) -> Result<T, A::Error> {
    T::deserialize(MapAccessDeserializer::new(map))
}

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = WsMessage<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Coinbase message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(first) = map.next_key::<Str<'de>>()? else {
            return Ok(WsMessage::Empty);
        };
        if first.as_str() != "type" {
            let mut entries = vec![(first, map.next_value::<&'de RawValue>()?)];
            while let Some(entry) = map.next_entry::<Str<'de>, &'de RawValue>()? {
                entries.push(entry);
            }
            return Ok(WsMessage::TypeNotFirst(entries));
        }
        let kind = map.next_value::<Str<'de>>()?;
        Ok(match kind.as_str() {
            "match" => WsMessage::Match(rest(map)?),
            "last_match" => WsMessage::LastMatch(rest(map)?),
            "ticker" => WsMessage::Ticker(Box::new(rest(map)?)),
            "snapshot" => WsMessage::Snapshot(rest(map)?),
            "l2update" => WsMessage::L2Update(rest(map)?),
            "heartbeat" => WsMessage::Heartbeat(rest(map)?),
            "subscriptions" => WsMessage::Subscriptions(rest(map)?),
            "error" => WsMessage::Error(rest(map)?),
            other => {
                // Still walk the rest, so a truncated or broken frame of an
                // unknown type is reported as invalid JSON, not as unknown.
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                WsMessage::Unknown(de::bounded(other))
            }
        })
    }
}

/// Rebuilds a frame from its entries with the first `type` entry moved to
/// the front, or `None` if it has no `type`. Keys are re-escaped; values are
/// copied verbatim.
pub(crate) fn reorder(entries: &[(Str<'_>, &RawValue)]) -> Option<String> {
    let type_at = entries.iter().position(|(k, _)| k.as_str() == "type")?;
    let len: usize = entries.iter().map(|(k, v)| k.as_str().len() + v.get().len() + 8).sum();
    let mut out = String::with_capacity(len + 2);
    out.push('{');
    let ordered = entries.get(type_at).into_iter().chain(entries.iter().enumerate().filter(|&(i, _)| i != type_at).map(|(_, e)| e));
    for (i, (key, value)) in ordered.enumerate() {
        if i > 0 {
            out.push(',');
        }
        de::push_json_string(&mut out, key.as_str());
        out.push(':');
        out.push_str(value.get());
    }
    out.push('}');
    Some(out)
}
