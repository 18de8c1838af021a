//! The symbol registry: native KuCoin symbol -> product and book sync state.
//!
//! Products come from `GET /api/v2/symbols` (or v1), whose `baseCurrency`
//! and `quoteCurrency` name the product: KuCoin's native `BCHSV-USDT` is
//! `BSV-USDT`. A frame naming a symbol never listed there is still usable:
//! KuCoin spot symbols are `BASE-QUOTE`, so the product is derived from the
//! split and announced once. That guess is wrong only for renamed pairs
//! (`BCHSV-USDT` would derive as `BCHSV-USDT`), which is why the runtime
//! loads the symbol list first; metadata arriving later replaces a derived
//! product (and announces the corrected one).
//!
//! Each entry also holds the symbol's [`BookSync`], so a level-2 message
//! costs one hash lookup for both. Every event carries a clone of the
//! interned [`InstrumentKey`] (an `Arc` bump).

use marketpipe_model::{Exchange, MarketEvent, Product};
use rustc_hash::FxHashMap;

use super::{de, sync::BookSync};
use crate::{wire::symbol::split_base_quote, DecodeError};

/// One known symbol.
#[derive(Debug)]
pub(crate) struct Entry {
    /// The product.
    pub(crate) product: Product,
    /// Its order book sync state.
    pub(crate) book: BookSync,
}

/// Native symbol -> entry, for one decoder.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    by_native: FxHashMap<Box<str>, Entry>,
}

impl Registry {
    /// The entry of `native`.
    pub(crate) fn get(&self, native: &str) -> Option<&Entry> {
        self.by_native.get(native)
    }

    /// The entry of `native`, to update.
    pub(crate) fn get_mut(&mut self, native: &str) -> Option<&mut Entry> {
        self.by_native.get_mut(native)
    }

    /// Every entry, in no particular order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.by_native.iter().map(|(k, v)| (&**k, v))
    }

    /// Registers a product derived by [`derive`] once its frame validated,
    /// announcing it on `out` (before the frame's own events, so stores
    /// learn the product first).
    pub(crate) fn insert_derived(&mut self, product: Product, out: &mut Vec<MarketEvent>) -> &mut Entry {
        out.push(MarketEvent::Product(product.clone()));
        self.by_native.entry(product.native_symbol.clone().into_boxed_str()).or_insert(Entry { product, book: BookSync::Idle })
    }

    /// Registers or replaces a product from exchange metadata; a known
    /// symbol keeps its book state.
    pub(crate) fn upsert(&mut self, product: Product) {
        match self.by_native.get_mut(product.native_symbol.as_str()) {
            Some(entry) => entry.product = product,
            None => {
                self.by_native.insert(product.native_symbol.clone().into_boxed_str(), Entry { product, book: BookSync::Idle });
            }
        }
    }

    /// How many symbols are registered.
    pub(crate) fn len(&self) -> usize {
        self.by_native.len()
    }
}

/// The product of a symbol never listed by metadata, from its `BASE-QUOTE`
/// form. `field` names where the symbol came from, for the error.
pub(crate) fn derive(native: &str, field: &'static str) -> Result<Product, DecodeError> {
    match split_base_quote(native) {
        Some((base, quote)) => Ok(Product::new(Exchange::Kucoin, native, base, quote)),
        None => Err(DecodeError::BadField { field, detail: format!("{} is neither a known symbol nor BASE-QUOTE", de::snippet(native)) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_only_base_quote_symbols() {
        let p = derive("eth-usdt", "symbol").unwrap();
        assert_eq!((p.key.symbol.as_str(), p.native_symbol.as_str()), ("ETH-USDT", "eth-usdt"));
        assert_eq!(derive("ETHUSDT", "symbol").unwrap_err().reason(), "bad_field");
    }

    #[test]
    fn metadata_replaces_a_product_but_keeps_its_book() {
        let mut reg = Registry::default();
        let mut out = Vec::new();
        reg.insert_derived(derive("BCHSV-USDT", "symbol").unwrap(), &mut out).book = BookSync::Live { last: 7 };
        assert_eq!(out.len(), 1);
        reg.upsert(Product::new(Exchange::Kucoin, "BCHSV-USDT", "BSV", "USDT"));
        let entry = reg.get("BCHSV-USDT").unwrap();
        assert_eq!(entry.product.key.symbol.as_str(), "BSV-USDT");
        assert!(matches!(entry.book, BookSync::Live { last: 7 }));
        assert_eq!(reg.len(), 1);
    }
}
