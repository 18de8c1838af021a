//! REST responses of the Binance spot public API: exchangeInfo, the depth
//! snapshot and aggregate trades, recognized by URL path and query alone,
//! so captures made against `api.binance.com`, its mirrors
//! (`api1.binance.com`, `data-api.binance.vision`) or the simulator on
//! loopback decode the same. The `/api/v1/` paths of the retired API
//! version return the same shapes and are accepted too.

use std::borrow::Cow;

use marketpipe_model::{Exchange, Product};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::de::{self, json_error, OptStr};
use crate::DecodeError;

/// A REST endpoint this decoder understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint<'u> {
    /// `GET /api/v3/exchangeInfo`, with or without a symbol filter.
    ExchangeInfo,
    /// `GET /api/v3/depth?symbol=X`.
    Depth(Cow<'u, str>),
    /// `GET /api/v3/aggTrades?symbol=X`.
    AggTrades(Cow<'u, str>),
}

/// Recognizes the endpoint from the path and query of `url` (absolute,
/// from any host, or a bare path). A trailing slash and the fragment are
/// ignored.
pub(crate) fn route(url: &str) -> Result<Endpoint<'_>, DecodeError> {
    let url = url.split('#').next().unwrap_or_default();
    let (path_and_host, query) = url.split_once('?').unwrap_or((url, ""));
    let path = match path_and_host.split_once("://") {
        Some((_, after_scheme)) => after_scheme.find('/').map_or("/", |i| &after_scheme[i..]),
        None => path_and_host,
    };
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    let trimmed = trimmed.strip_prefix('/').unwrap_or(trimmed);
    let name = match trimmed.strip_prefix("api/v3/").or_else(|| trimmed.strip_prefix("api/v1/")) {
        Some(name) => name,
        None => return Err(DecodeError::UnknownEndpoint(de::bounded(path))),
    };
    match name {
        "exchangeInfo" => Ok(Endpoint::ExchangeInfo),
        "depth" => Ok(Endpoint::Depth(symbol_param(query)?)),
        "aggTrades" => Ok(Endpoint::AggTrades(symbol_param(query)?)),
        _ => Err(DecodeError::UnknownEndpoint(de::bounded(path))),
    }
}

/// The `symbol` query parameter, percent-decoded.
fn symbol_param(query: &str) -> Result<Cow<'_, str>, DecodeError> {
    let raw = query.split('&').find_map(|kv| kv.strip_prefix("symbol=")).ok_or(DecodeError::MissingField("symbol"))?;
    let value = percent_decode(raw).ok_or_else(|| DecodeError::BadField {
        field: "symbol",
        detail: format!("{} is not a percent-encoded query value", de::snippet(raw)),
    })?;
    if value.is_empty() {
        return Err(DecodeError::MissingField("symbol"));
    }
    Ok(value)
}

/// Percent-decodes a query value (`+` is a space), borrowing when there is
/// nothing to decode. `None` for a bad escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.contains(['%', '+']) {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The exchangeInfo response; only `symbols` is used (rate limits and
/// filters are not market data).
///
/// See <https://github.com/binance/binance-spot-api-docs/blob/master/rest-api.md#exchange-information>
///
/// ```json
/// {
///   "timezone": "UTC",
///   "serverTime": 1565246363776,
///   "rateLimits": [],
///   "exchangeFilters": [],
///   "symbols": [
///     {
///       "symbol": "NKNUSDT",
///       "status": "TRADING",
///       "baseAsset": "NKN",
///       "baseAssetPrecision": 8,
///       "quoteAsset": "USDT",
///       "quotePrecision": 8,
///       "quoteAssetPrecision": 8,
///       "orderTypes": ["LIMIT", "MARKET"],
///       "isSpotTradingAllowed": true,
///       "filters": [],
///       "permissions": ["SPOT"]
///     }
///   ]
/// }
/// ```
#[derive(Debug, Deserialize)]
pub(crate) struct ExchangeInfo<'a> {
    /// Symbol entries, parsed one by one so a bad one does not spoil the rest.
    #[serde(borrow)]
    symbols: Option<Vec<&'a RawValue>>,
}

/// One symbol of exchangeInfo. Only the identity fields are used; `status`
/// is ignored (a symbol in `BREAK` still names its history).
#[derive(Debug, Deserialize)]
struct SymbolWire<'a> {
    #[serde(borrow, default)]
    symbol: OptStr<'a>,
    #[serde(borrow, rename = "baseAsset", default)]
    base_asset: OptStr<'a>,
    #[serde(borrow, rename = "quoteAsset", default)]
    quote_asset: OptStr<'a>,
}

impl SymbolWire<'_> {
    fn validate(&self) -> Result<Product, DecodeError> {
        let symbol = de::required(self.symbol.get(), "symbol")?;
        let base = de::required(self.base_asset.get(), "baseAsset")?;
        let quote = de::required(self.quote_asset.get(), "quoteAsset")?;
        if symbol.is_empty() || symbol.len() > 32 || !symbol.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
            return Err(DecodeError::BadField { field: "symbol", detail: format!("unusable symbol {}", de::snippet(symbol)) });
        }
        for (field, code) in [("baseAsset", base), ("quoteAsset", quote)] {
            if code.is_empty() || code.len() > 32 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(DecodeError::BadField { field, detail: format!("unusable asset code {}", de::snippet(code)) });
            }
        }
        Ok(Product::new(Exchange::Binance, symbol, base, quote))
    }
}

impl<'a> ExchangeInfo<'a> {
    /// Parses the body; the entries are checked by [`ExchangeInfo::products`].
    pub(crate) fn parse(body: &'a str) -> Result<Self, DecodeError> {
        let info: ExchangeInfo<'a> = serde_json::from_str(body).map_err(json_error)?;
        de::required(info.symbols.as_ref(), "symbols")?;
        Ok(info)
    }

    /// Every entry, as a product or the reason it is unusable, in
    /// response order.
    pub(crate) fn products(&self) -> impl Iterator<Item = Result<Product, DecodeError>> + '_ {
        self.symbols
            .iter()
            .flatten()
            .map(|raw| serde_json::from_str::<SymbolWire<'_>>(raw.get()).map_err(json_error).and_then(|s| s.validate()))
    }
}

/// A REST error body, which Binance sends with a 4xx/5xx status for any
/// endpoint (a capture records the body whatever the status).
///
/// See <https://github.com/binance/binance-spot-api-docs/blob/master/errors.md>
///
/// ```json
/// {"code": -1121, "msg": "Invalid symbol."}
/// ```
#[derive(Debug, Deserialize)]
struct RestError {
    code: i64,
    msg: String,
}

/// The exchange's error, if `body` is a REST error body.
pub(crate) fn rest_error(body: &str) -> Option<(String, Option<String>)> {
    serde_json::from_str::<RestError>(body).ok().map(|e| (e.msg, Some(format!("code {}", e.code))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_and_query_only() {
        for url in [
            "https://api.binance.com/api/v3/exchangeInfo",
            "https://data-api.binance.vision/api/v3/exchangeInfo?symbols=%5B%22BTCUSDT%22%5D",
            "http://127.0.0.1:9/api/v1/exchangeInfo/",
            "/api/v3/exchangeInfo",
            "api/v3/exchangeInfo#x",
        ] {
            assert_eq!(route(url), Ok(Endpoint::ExchangeInfo), "{url}");
        }
        assert_eq!(route("https://api.binance.com/api/v3/depth?symbol=NKNUSDT&limit=1000"), Ok(Endpoint::Depth("NKNUSDT".into())));
        assert_eq!(route("http://localhost:1/api/v3/depth?limit=5&symbol=nknusdt"), Ok(Endpoint::Depth("nknusdt".into())));
        assert_eq!(route("/api/v3/aggTrades?symbol=BTC%55SDT&fromId=7"), Ok(Endpoint::AggTrades("BTCUSDT".into())));
        assert_eq!(route("/api/v3/depth?limit=5").unwrap_err(), DecodeError::MissingField("symbol"));
        assert_eq!(route("/api/v3/depth?symbol=&limit=5").unwrap_err(), DecodeError::MissingField("symbol"));
        assert_eq!(route("/api/v3/depth?symbol=%zz").unwrap_err().reason(), "bad_field");
        for url in [
            "https://api.binance.com/api/v3/trades?symbol=BTCUSDT",
            "https://api.binance.com/api/v3/ticker/24hr",
            "https://api.binance.com/",
            "https://api.binance.com",
            "/sapi/v1/depth?symbol=BTCUSDT",
            "/fapi/v1/depth?symbol=BTCUSDT",
            "/api/v3/depth/extra?symbol=BTCUSDT",
            "",
        ] {
            assert_eq!(route(url).unwrap_err().reason(), "unknown_endpoint", "{url}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("ABC").as_deref(), Some("ABC"));
        assert_eq!(percent_decode("A%42C+D").as_deref(), Some("ABC D"));
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn reads_rest_errors() {
        assert_eq!(
            rest_error(r#"{"code":-1121,"msg":"Invalid symbol."}"#),
            Some(("Invalid symbol.".to_owned(), Some("code -1121".to_owned())))
        );
        assert_eq!(rest_error(r#"{"lastUpdateId":1}"#), None);
    }
}
