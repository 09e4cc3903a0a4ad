//! A TAXII query string comes from any client with a certificate: reading it must never
//! panic, and a query it yields keeps the page limit and the filters' bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liaison_core::taxii::{MAX_MATCH_VALUES, MAX_PAGE, OBJECTS_PARAMETERS, parse_query};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = parse_query(text, &OBJECTS_PARAMETERS) else {
        return;
    };
    assert!((1..=MAX_PAGE).contains(&query.limit));
    for list in [&query.types, &query.ids, &query.spec_versions] {
        assert!(list.len() <= MAX_MATCH_VALUES);
        assert!(list.iter().all(|v| !v.is_empty()));
    }
    if let Some(next) = query.next {
        assert_eq!(next.to_string().parse(), Ok(next));
    }
});
