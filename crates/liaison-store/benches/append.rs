//! `cargo bench -p liaison-store --bench append`: durable appends per second (each one
//! acknowledged only after the group flush and fdatasync) at 1, 8 and 64 concurrent
//! appenders, with 1 KiB bodies, on a real directory.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use liaison_store::{EntryKind, Log, LogOptions, NewEntry};

fn main() {
    let budget = Duration::from_millis(
        std::env::var("LIAISON_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000),
    );
    // Benchmark on the same filesystem the project lives on (a tmpfs would lie).
    let base = std::env::var_os("CARGO_TARGET_TMPDIR").map_or_else(std::env::temp_dir, Into::into);
    println!("liaison-store durable append benchmark (1 KiB bodies)");
    println!(
        "{:<12} {:>12} {:>14} {:>14}",
        "appenders", "appends/s", "mean latency", "batches/s"
    );
    for appenders in [1usize, 8, 64] {
        let dir = tempfile::tempdir_in(&base).unwrap();
        let log = Arc::new(Log::open(dir.path(), LogOptions::default()).unwrap());
        let body = bytes::Bytes::from(vec![0x5au8; 1024]);
        let start = Instant::now();
        let threads: Vec<_> = (0..appenders)
            .map(|_| {
                let (log, body) = (log.clone(), body.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    let mut latency = Duration::ZERO;
                    while start.elapsed() < budget {
                        let t = Instant::now();
                        log.append(NewEntry::new(EntryKind::Received, body.clone()))
                            .unwrap();
                        latency += t.elapsed();
                        n += 1;
                    }
                    (n, latency)
                })
            })
            .collect();
        let (total, latency) = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .fold((0u64, Duration::ZERO), |(n, l), (n2, l2)| (n + n2, l + l2));
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{appenders:<12} {:>12.0} {:>12.2}ms {:>14.0}",
            total as f64 / secs,
            latency.as_secs_f64() * 1e3 / total as f64,
            log.commits() as f64 / secs
        );
    }
}
