//! One pass of serde_json over a websocket frame: the envelope keys, and the
//! `data` payload parsed straight into the typed struct its topic calls for.
//!
//! Every KuCoin frame is an object with a `type` (`welcome`, `ack`, `pong`,
//! `error`, `message`, ...); `message` frames add `topic`, `subject` and a
//! `data` object whose shape depends on the topic:
//!
//! ```json
//! {"type":"message","topic":"/market/match:BTC-USDT","subject":"trade.l3match","data":{...}}
//! ```
//!
//! KuCoin sends `data` last (the docs show `type` or `topic` first), so by
//! the time the visitor reaches `data` it knows the topic and hands the
//! value to that topic's struct through a [`DeserializeSeed`], with no
//! intermediate tree. Should `data` ever come before `topic`, the visitor
//! keeps it as a borrowed `&RawValue` ([`Data::Raw`]) and the decoder parses
//! it once the topic is known: slower, same result. Duplicate envelope keys
//! are rejected as ambiguous.

use std::fmt;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{
    de::{MapOnly, OptStr, Str},
    ticker::TickerData,
};

/// The market-data topics this decoder reads, from a `topic` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicKind {
    /// `/market/match:{symbol}`: trades.
    Match,
    /// `/market/level2:{symbol}`: order book increments.
    Level2,
    /// `/market/ticker:all`: every symbol's ticker; `subject` is the symbol.
    TickerAll,
    /// `/market/ticker:{symbol}`: one symbol's ticker.
    Ticker,
    /// Anything else (`/market/snapshot:...`, `/spotMarket/level2Depth5:...`).
    Other,
}

impl TopicKind {
    /// Classifies a topic by its prefix.
    pub(crate) fn of(topic: &str) -> Self {
        if topic.starts_with("/market/match:") {
            TopicKind::Match
        } else if topic.starts_with("/market/level2:") {
            TopicKind::Level2
        } else if topic == "/market/ticker:all" {
            TopicKind::TickerAll
        } else if topic.starts_with("/market/ticker:") {
            TopicKind::Ticker
        } else {
            TopicKind::Other
        }
    }
}

/// The `data` of a frame, as far as the visitor could take it.
#[derive(Debug, Default)]
pub(crate) enum Data<'a> {
    /// No `data` key (or `null`).
    #[default]
    Absent,
    /// Kept unparsed: the topic was not known yet, or not one we read, or the
    /// frame is not a `message`.
    Raw(&'a RawValue),
    /// A trade.
    Match(super::trade::MatchData<'a>),
    /// A level-2 increment.
    Level2(super::book::L2Data<'a>),
    /// A ticker.
    Ticker(TickerData<'a>),
}

/// One websocket frame: the envelope, and its payload.
#[derive(Debug, Default)]
pub(crate) struct WsFrame<'a> {
    /// `type`.
    pub(crate) kind: OptStr<'a>,
    /// `topic`, on `message` frames.
    pub(crate) topic: OptStr<'a>,
    /// `subject`, on `message` frames (the symbol on `/market/ticker:all`).
    pub(crate) subject: OptStr<'a>,
    /// `id`: the connection id on `welcome`, the request id on `ack`, `pong`
    /// and `error`. A string, though any JSON value is kept.
    pub(crate) id: Option<&'a RawValue>,
    /// `code`, on `error` frames (a number, though any JSON value is kept).
    pub(crate) code: Option<&'a RawValue>,
    /// `data`.
    pub(crate) data: Data<'a>,
}

impl<'de> Deserialize<'de> for WsFrame<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FrameVisitor)
    }
}

struct FrameVisitor;

/// Stores `value` in `slot` unless it is already set (a duplicate key).
fn set_once<T, E: serde::de::Error>(slot: &mut Option<T>, value: T, key: &'static str) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(key));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = WsFrame<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a KuCoin message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        // Built in place: the payload is the bulk of the frame struct, and
        // moving it around showed up in profiles.
        let mut frame = WsFrame::default();
        // Which keys were seen (a `null` value still counts as seen).
        let (mut kind, mut topic, mut subject, mut data) = (false, false, false, false);
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match key.as_str() {
                "type" => frame.kind = map.next_value_seed(Once(&mut kind, "type"))?,
                "topic" => frame.topic = map.next_value_seed(Once(&mut topic, "topic"))?,
                "subject" => frame.subject = map.next_value_seed(Once(&mut subject, "subject"))?,
                "id" => set_once(&mut frame.id, map.next_value()?, "id")?,
                "code" => set_once(&mut frame.code, map.next_value()?, "code")?,
                "data" => {
                    if std::mem::replace(&mut data, true) {
                        return Err(A::Error::duplicate_field("data"));
                    }
                    let is_message = frame.kind.get().is_none_or(|k| k == "message");
                    frame.data = match frame.topic.get().map(TopicKind::of) {
                        Some(kind) if is_message && kind != TopicKind::Other => map.next_value_seed(DataSeed(kind))?,
                        _ => map.next_value::<Option<&'de RawValue>>()?.map_or(Data::Absent, Data::Raw),
                    };
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(frame)
    }
}

/// Reads an optional string value, refusing a key seen before.
struct Once<'s>(&'s mut bool, &'static str);

impl<'de> DeserializeSeed<'de> for Once<'_> {
    type Value = OptStr<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        if std::mem::replace(self.0, true) {
            return Err(D::Error::duplicate_field(self.1));
        }
        OptStr::deserialize(deserializer)
    }
}

/// Parses a `data` value as the struct for its topic.
pub(crate) struct DataSeed(pub(crate) TopicKind);

impl<'de> DeserializeSeed<'de> for DataSeed {
    type Value = Data<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        Ok(match self.0 {
            TopicKind::Match => Data::Match(MapOnly::deserialize(deserializer)?.0),
            TopicKind::Level2 => Data::Level2(MapOnly::deserialize(deserializer)?.0),
            TopicKind::TickerAll | TopicKind::Ticker => Data::Ticker(MapOnly::<TickerData<'de>>::deserialize(deserializer)?.0),
            TopicKind::Other => {
                IgnoredAny::deserialize(deserializer)?;
                Data::Absent
            }
        })
    }
}

/// Parses a `data` value kept raw (see [`Data::Raw`]) for `kind`.
pub(crate) fn parse_raw(raw: &RawValue, kind: TopicKind) -> Result<Data<'_>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let data = DataSeed(kind).deserialize(&mut de)?;
    de.end()?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_classified_by_prefix() {
        assert_eq!(TopicKind::of("/market/match:BTC-USDT"), TopicKind::Match);
        assert_eq!(TopicKind::of("/market/level2:BTC-USDT"), TopicKind::Level2);
        assert_eq!(TopicKind::of("/market/ticker:all"), TopicKind::TickerAll);
        assert_eq!(TopicKind::of("/market/ticker:BTC-USDT"), TopicKind::Ticker);
        assert_eq!(TopicKind::of("/market/snapshot:BTC-USDT"), TopicKind::Other);
        assert_eq!(TopicKind::of("/spotMarket/level2Depth5:BTC-USDT"), TopicKind::Other);
        assert_eq!(TopicKind::of("/market/level2"), TopicKind::Other);
    }

    #[test]
    fn data_is_parsed_in_place_when_the_topic_comes_first() {
        let f: WsFrame<'_> = serde_json::from_str(
            r#"{"topic":"/market/match:BTC-USDT","type":"message","subject":"trade.l3match","data":{"symbol":"BTC-USDT"}}"#,
        )
        .unwrap();
        assert!(matches!(f.data, Data::Match(_)));
        let f: WsFrame<'_> =
            serde_json::from_str(r#"{"data":{"symbol":"BTC-USDT"},"type":"message","topic":"/market/match:BTC-USDT"}"#).unwrap();
        assert!(matches!(f.data, Data::Raw(_)));
        let f: WsFrame<'_> = serde_json::from_str(r#"{"type":"error","topic":"/market/match:X","data":"bad"}"#).unwrap();
        assert!(matches!(f.data, Data::Raw(r) if r.get() == r#""bad""#));
    }

    #[test]
    fn duplicate_envelope_keys_are_rejected() {
        for frame in [r#"{"type":"ack","type":"ack"}"#, r#"{"topic":"a","topic":"b"}"#, r#"{"data":1,"data":2}"#, r#"{"id":"1","id":"2"}"#]
        {
            assert!(serde_json::from_str::<WsFrame<'_>>(frame).is_err(), "{frame}");
        }
    }

    #[test]
    fn data_must_be_an_object() {
        let frame = r#"{"type":"message","topic":"/market/match:BTC-USDT","data":["BTC-USDT","buy"]}"#;
        assert!(serde_json::from_str::<WsFrame<'_>>(frame).is_err());
        assert!(parse_raw(&RawValue::from_string("[1]".to_owned()).unwrap(), TopicKind::Level2).is_err());
    }
}
