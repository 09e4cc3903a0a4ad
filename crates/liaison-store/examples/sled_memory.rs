//! `cargo run --release -p liaison-store --example sled_memory -- one|same|two|tx`:
//! how sled 0.34's memory grows when a tree has more than one point where keys are
//! appended (BENCHMARKS, "Scale: memory"). 400,000 entries of 600 bytes in batches of
//! 2,000, flushed after each batch, with the log's sled settings:
//!
//! - `one`: entry keys only, one tree;
//! - `same`: an index key per entry in the same tree (a second append point);
//! - `two`: the index key in its own tree, each tree its own batch;
//! - `tx`: the same two trees written together in one sled transaction (atomic).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use sled::Transactional as _;

fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
        .unwrap_or(0)
        / 1024
}

fn key(prefix: u8, seq: u64) -> Vec<u8> {
    [&[prefix][..], &seq.to_be_bytes()].concat()
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "same".into());
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .flush_every_ms(None)
        .cache_capacity(64 << 20)
        .mode(sled::Mode::HighThroughput)
        .open()
        .unwrap();
    let (entries, index) = (db.open_tree("log").unwrap(), db.open_tree("index").unwrap());
    let body = vec![0x5au8; 600];
    let started = std::time::Instant::now();
    let mut seq = 0u64;
    for round in 0..200u64 {
        let first = seq + 1;
        seq += 2000;
        let (mut own, mut other) = (sled::Batch::default(), sled::Batch::default());
        for s in first..=seq {
            own.insert(key(b'e', s), body.clone());
            match mode.as_str() {
                "same" => own.insert(key(b'y', s), &[][..]),
                "two" => other.insert(key(b'y', s), &[][..]),
                _ => {}
            }
        }
        if mode == "tx" {
            (&entries, &index)
                .transaction(|(e, i)| {
                    for s in first..=seq {
                        e.insert(key(b'e', s), body.clone())?;
                        i.insert(key(b'y', s), &[][..])?;
                    }
                    Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
                })
                .unwrap();
        } else {
            entries.apply_batch(own).unwrap();
            index.apply_batch(other).unwrap();
        }
        db.flush().unwrap();
        if round % 50 == 49 {
            println!(
                "{mode}: {seq} entries: RSS {} MiB, {:.0} entries/s",
                rss_mib(),
                seq as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
}
