//! `BASE-QUOTE` symbols, the form Coinbase product ids and KuCoin spot
//! symbols share, which lets a decoder derive a product from a frame naming
//! a symbol its metadata never listed.

/// Splits a `^[A-Za-z0-9]+-[A-Za-z0-9]+$` symbol into base and quote.
pub(crate) fn split_base_quote(native: &str) -> Option<(&str, &str)> {
    let (base, quote) = native.split_once('-')?;
    (is_currency_code(base) && is_currency_code(quote)).then_some((base, quote))
}

/// Whether `s` is a plausible currency code: ASCII letters and digits only
/// (there are codes such as `1INCH`, `3KM` and `00`), and at most 32 of
/// them, so a garbage id cannot become a product.
pub(crate) fn is_currency_code(s: &str) -> bool {
    !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_only_base_quote_symbols() {
        for (symbol, parts) in
            [("BTC-USD", ("BTC", "USD")), ("1inch-usd", ("1inch", "usd")), ("BTC-USDT", ("BTC", "USDT")), ("1INCH-USDT", ("1INCH", "USDT"))]
        {
            assert_eq!(split_base_quote(symbol), Some(parts), "{symbol:?}");
        }
        for bad in [
            "",
            "BTC",
            "BTCUSDT",
            "BTC-",
            "-USD",
            "-USDT",
            "BTC-USD-X",
            "BTC-USDT-X",
            "BTC_USD",
            "BTC_USDT",
            "BTC-US D",
            "BTC-US DT",
            "ÄBC-USD",
            "ÄBC-USDT",
            "all",
        ] {
            assert_eq!(split_base_quote(bad), None, "{bad:?}");
        }
    }
}
