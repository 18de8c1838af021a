//! The simulated product list: real coins first, with their price grids,
//! then synthetic ones. One market, named the way each exchange names it.

use marketpipe_model::Exchange;

/// Every size on the simulated market has 8 decimals (`base_increment`
/// 0.00000001), like Coinbase.
pub(crate) const SIZE_SCALE: u32 = 8;

/// One simulated product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProductSpec {
    /// Native id: `BTC-USD` (Coinbase), `BTCUSDT` (Binance), `BTC-USDT`
    /// (KuCoin).
    pub(crate) id: String,
    /// Base currency.
    pub(crate) base: String,
    /// Quote currency.
    pub(crate) quote: String,
    /// Decimals of the price grid: the tick is `10^-price_scale`.
    pub(crate) price_scale: u32,
    /// Opening price in ticks.
    pub(crate) start_ticks: u64,
    /// Decimal exponent of the smallest typical trade size in size units
    /// (1e-8): BTC trades start around 10^4 units (0.0001 BTC).
    pub(crate) size_exp: u32,
}

/// Real products: base, price scale, opening price in ticks, size exponent.
const KNOWN: [(&str, u32, u64, u32); 10] = [
    ("BTC", 2, 6_700_000, 4),
    ("ETH", 2, 350_000, 5),
    ("SOL", 2, 15_000, 6),
    ("LTC", 2, 8_000, 6),
    ("AVAX", 2, 3_000, 7),
    ("LINK", 3, 15_000, 7),
    ("DOT", 3, 7_000, 7),
    ("ADA", 4, 4_500, 8),
    ("XRP", 4, 5_000, 8),
    ("DOGE", 5, 15_000, 9),
];

/// KuCoin's renamed pair: native `BCHSV-USDT`, base currency `BSV`. The
/// 4th product takes this name on KuCoin (any `--products 4` or more), so
/// that normalization from `baseCurrency` rather than from the native id is
/// exercised, as on the real exchange.
const KUCOIN_RENAMED: (usize, &str, &str) = (3, "BCHSV-USDT", "BSV");

/// The first `n` products as `exchange` names them: Coinbase quotes in USD
/// (`BTC-USD`); Binance (`BTCUSDT`) and KuCoin (`BTC-USDT`) in USDT. The
/// market behind them (price grids, opening prices, sizes) is the same.
pub(crate) fn product_specs_for(exchange: Exchange, n: usize) -> Vec<ProductSpec> {
    let mut specs = product_specs(n);
    match exchange {
        Exchange::Binance => {
            for s in &mut specs {
                s.quote = "USDT".into();
                s.id = format!("{}{}", s.base, s.quote);
            }
        }
        Exchange::Kucoin => {
            for (i, s) in specs.iter_mut().enumerate() {
                s.quote = "USDT".into();
                s.id = format!("{}-{}", s.base, s.quote);
                if i == KUCOIN_RENAMED.0 {
                    s.id = KUCOIN_RENAMED.1.into();
                    s.base = KUCOIN_RENAMED.2.into();
                }
            }
        }
        Exchange::Coinbase | Exchange::CoinbaseAdvanced => {}
    }
    specs
}

/// The first `n` products, Coinbase names.
pub(crate) fn product_specs(n: usize) -> Vec<ProductSpec> {
    (0..n)
        .map(|i| {
            let (base, price_scale, start_ticks, size_exp) = match KNOWN.get(i) {
                Some(&(base, scale, start, exp)) => (base.to_owned(), scale, start, exp),
                // Synthetic coins, priced around 10-60 USD so books look alike.
                None => (format!("X{}", i + 1), 2, 1_000 + 500 * (i as u64 % 11), 7),
            };
            ProductSpec { id: format!("{base}-USD"), base, quote: "USD".into(), price_scale, start_ticks, size_exp }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_products_first_then_synthetic_with_unique_ids() {
        let specs = product_specs(14);
        assert_eq!(specs[0].id, "BTC-USD");
        assert_eq!(specs[1].id, "ETH-USD");
        assert_eq!(specs[2].id, "SOL-USD");
        assert_eq!(specs[13].id, "X14-USD");
        let mut ids: Vec<&str> = specs.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 14);
    }

    #[test]
    fn each_exchange_names_the_same_market() {
        let cb = product_specs_for(Exchange::Coinbase, 5);
        let bn = product_specs_for(Exchange::Binance, 5);
        let kc = product_specs_for(Exchange::Kucoin, 5);
        assert_eq!(cb, product_specs(5));
        assert_eq!(bn[0].id, "BTCUSDT");
        assert_eq!((bn[3].id.as_str(), bn[3].base.as_str(), bn[3].quote.as_str()), ("LTCUSDT", "LTC", "USDT"));
        assert_eq!(kc[0].id, "BTC-USDT");
        assert_eq!((kc[3].id.as_str(), kc[3].base.as_str(), kc[3].quote.as_str()), ("BCHSV-USDT", "BSV", "USDT"));
        for specs in [&bn, &kc] {
            for (a, b) in specs.iter().zip(&cb) {
                assert_eq!((a.price_scale, a.start_ticks, a.size_exp), (b.price_scale, b.start_ticks, b.size_exp));
            }
        }
    }
}
