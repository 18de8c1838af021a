//! The simulated product list: real Coinbase products first, with their
//! price grids, then synthetic ones.

use crate::wire::push_fixed;

/// Every size on the simulated market has 8 decimals (`base_increment`
/// 0.00000001), like Coinbase.
pub(crate) const SIZE_SCALE: u32 = 8;

/// One simulated product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProductSpec {
    /// Native id, `BASE-QUOTE`.
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

/// The first `n` products.
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

impl ProductSpec {
    /// The product object of `GET /products` and `GET /products/{id}`, in
    /// Coinbase's shape.
    pub(crate) fn rest_json(&self) -> String {
        let mut quote_increment = String::new();
        push_fixed(&mut quote_increment, 1u64, self.price_scale);
        format!(
            concat!(
                r#"{{"id":"{id}","base_currency":"{base}","quote_currency":"{quote}","quote_increment":"{qi}","#,
                r#""base_increment":"0.00000001","display_name":"{base}/{quote}","min_market_funds":"1","#,
                r#""margin_enabled":false,"post_only":false,"limit_only":false,"cancel_only":false,"#,
                r#""status":"online","status_message":"","auction_mode":false,"trading_disabled":false,"#,
                r#""fx_stablecoin":false,"max_slippage_percentage":"0.02000000"}}"#
            ),
            id = self.id,
            base = self.base,
            quote = self.quote,
            qi = quote_increment,
        )
    }
}

/// The body of `GET /products`.
pub(crate) fn products_json(specs: &[ProductSpec]) -> String {
    let items: Vec<String> = specs.iter().map(ProductSpec::rest_json).collect();
    format!("[{}]", items.join(","))
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
    fn product_json_is_coinbase_shaped() {
        let v: serde_json::Value = serde_json::from_str(&products_json(&product_specs(10))).unwrap();
        let doge = &v[9];
        assert_eq!(doge["id"], "DOGE-USD");
        assert_eq!(doge["base_currency"], "DOGE");
        assert_eq!(doge["quote_increment"], "0.00001");
        assert_eq!(doge["status"], "online");
        assert_eq!(v[0]["quote_increment"], "0.01");
    }
}
