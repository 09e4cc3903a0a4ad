//! What the benchmarks of this crate share.

use std::time::{Duration, Instant};

/// Runs `f` repeatedly for about `budget` and prints operations per second.
pub fn measure(name: &str, budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            f();
        }
        n += 16;
    }
    let secs = start.elapsed().as_secs_f64();
    let per_sec = n as f64 / secs;
    println!("{name:<52} {per_sec:>12.0} /s {:>10.2} µs", 1e6 / per_sec);
    per_sec
}
