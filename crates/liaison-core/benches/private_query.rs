//! `cargo bench -p liaison-core --bench private_query`: the costs of a private hit/no-hit
//! query (docs/PRIVATE-QUERIES.md) on one core: what a holder spends per selector per
//! partner when it stores a bulletin, what one query costs each side, and the size of a
//! filter of 100,000 selectors on the wire and at the querier.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

mod support;
use std::time::{Duration, Instant};
use support::measure;

use liaison_core::private_query::{self, CHANGE_LEN, QueryFilter, QueryKey};
use liaison_core::selector::Selector;

fn phone(n: u64) -> Selector {
    Selector::parse("phone", &format!("+4072{:07}", n % 10_000_000)).unwrap()
}

fn main() {
    let budget = Duration::from_secs(2);
    let seed = QueryKey::generate();
    let key = seed.for_partner(&"NL-NP".parse().unwrap()).unwrap();
    let selector = phone(2_345_678);
    measure(
        "holder: fingerprint (per selector, per partner)",
        budget,
        || {
            black_box(key.fingerprint(black_box(&selector)).unwrap());
        },
    );
    measure(
        "holder: derive a partner's key from the seed",
        budget,
        || {
            black_box(seed.for_partner(&"DE-BKA".parse().unwrap()).unwrap());
        },
    );
    measure("querier: blind", budget, || {
        black_box(private_query::blind(black_box(&selector)).unwrap());
    });
    let query = private_query::blind(&selector).unwrap();
    measure("holder: evaluate a blinded selector", budget, || {
        black_box(key.evaluate_blinded(black_box(&query.message)).unwrap());
    });
    let answer = key.evaluate_blinded(&query.message).unwrap();
    measure("querier: unblind and finalise", budget, || {
        black_box(query.finish(black_box(&answer)).unwrap());
    });

    // A filter of 100,000 selectors.
    let start = Instant::now();
    let mut changes = Vec::with_capacity(100_000 * CHANGE_LEN);
    for n in 0..100_000u64 {
        changes.push(1);
        changes.extend_from_slice(&key.fingerprint(&phone(n * 97)).unwrap());
    }
    let built = start.elapsed();
    let mut filter = QueryFilter::default();
    let start = Instant::now();
    filter.apply(&changes).unwrap();
    let applied = start.elapsed();
    let kept = filter.encode();
    println!(
        "filter of 100,000 selectors: {} bytes on the wire, {} bytes kept by the querier; holder computed it in {:.2} s, querier applied it in {:.1} ms",
        changes.len(),
        kept.len(),
        built.as_secs_f64(),
        applied.as_secs_f64() * 1e3
    );
    let fp = query.finish(&answer).unwrap();
    measure(
        "querier: look up a fingerprint (100,000 in the filter)",
        budget,
        || {
            black_box(filter.contains(black_box(&fp)));
        },
    );
}
