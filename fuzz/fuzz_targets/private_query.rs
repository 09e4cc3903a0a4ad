//! What partners send in private hit/no-hit queries: a holder evaluates a querier's
//! blinded elements, a querier applies a holder's filter changes and unblinds its
//! evaluated elements. None may panic; a refused run of changes leaves the filter as it
//! was; an element accepted evaluates to 32 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liaison_core::private_query::{self, QueryFilter, QueryKey};
use liaison_core::selector::Selector;

fuzz_target!(|data: &[u8]| {
    let seed = QueryKey::from_bytes(&[7u8; 32]).unwrap();
    let key = seed.for_partner(&"NL-NP".parse().unwrap()).unwrap();
    // A holder: every prefix length up to 40 bytes as a blinded element.
    for len in [0, 31, 32, 33, data.len().min(40)] {
        if let Some(element) = data.get(..len) {
            if let Ok(evaluated) = key.evaluate_blinded(element) {
                assert_eq!(evaluated.len(), 32);
            }
        }
    }
    // A querier: the bytes as filter changes, and as an evaluated element.
    let mut filter = QueryFilter::default();
    filter.apply(&[1, 1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    let before = filter.clone();
    if filter.apply(data).is_err() {
        assert_eq!(filter, before);
    }
    let selector = Selector::parse("phone", "+40712345678").unwrap();
    let query = private_query::blind(&selector).unwrap();
    let _ = query.finish(data.get(..32).unwrap_or(data));
    if let Ok(decoded) = QueryFilter::decode(data) {
        assert_eq!(QueryFilter::decode(&decoded.encode()).unwrap(), decoded);
    }
});
