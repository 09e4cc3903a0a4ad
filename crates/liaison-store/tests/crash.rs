//! Crash test: a child process appends from several threads and prints every sequence
//! number the log acknowledged; the parent kills it with SIGKILL at random moments,
//! reopens the log each time and checks that every acknowledged entry is there, that
//! its body reads back, and that the whole chain and its checkpoints verify.
//!
//! A plain `main` (harness = false): the same binary is the child when
//! `LIAISON_CRASH_CHILD_DIR` is set.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use liaison_core::crypto::SigningKey;
use liaison_store::log::CheckpointSigner;
use liaison_store::{EntryKind, Log, LogOptions, NewEntry, VerifyReport};
use rand::Rng as _;

const CHILD_ENV: &str = "LIAISON_CRASH_CHILD_DIR";
const ROUNDS: usize = 24;
const APPENDERS: usize = 8;

fn open(dir: &Path) -> Log {
    Log::open(
        dir,
        LogOptions {
            checkpoint_signer: Some(CheckpointSigner {
                agency: "NL-NP".parse().unwrap(),
                key: SigningKey::from_seed([9; 32]).unwrap(),
            }),
            checkpoint_every: 64,
            observer: None,
            indexer: None,
            cache_bytes: 0,
        },
    )
    .unwrap()
}

/// Appends until killed (or a minute passes), printing each acknowledged sequence number.
fn child(dir: &Path) {
    let log = Arc::new(open(dir));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let threads: Vec<_> = (0..APPENDERS)
        .map(|t| {
            let (log, out) = (log.clone(), out.clone());
            std::thread::spawn(move || {
                let mut rng = rand::rng();
                while Instant::now() < deadline {
                    // Mostly small entries; some above the inline limit (own files);
                    // a few above sled's blob threshold.
                    let size = match rng.random_range(0..100) {
                        0..=89 => rng.random_range(10..2000),
                        90..=97 => rng.random_range(20_000..60_000),
                        _ => rng.random_range(130_000..300_000),
                    };
                    let body: Vec<u8> = (0..size).map(|i| (i as u8) ^ (t as u8)).collect();
                    let appended = log
                        .append(NewEntry::new(EntryKind::Received, body))
                        .unwrap();
                    let mut out = out.lock().unwrap();
                    writeln!(out, "{} {}", appended.seq, size).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Opens the log after a kill and checks that every acknowledged entry is there with
/// its body, and that the whole log verifies.
fn check_survivors(dir: &Path, round: usize, acknowledged: &[(u64, usize)]) -> VerifyReport {
    let log = open(dir);
    let head = log.head().seq;
    for &(seq, size) in acknowledged {
        assert!(
            seq <= head,
            "round {round}: acknowledged entry {seq} lost (head is {head})"
        );
        let entry = log
            .get(seq)
            .unwrap()
            .unwrap_or_else(|| panic!("entry {seq} missing"));
        let body = log.body(&entry).unwrap().unwrap();
        assert_eq!(body.len(), size, "entry {seq} has the wrong body");
    }
    log.verify(
        &[SigningKey::from_seed([9; 32]).unwrap().verifying_key()],
        liaison_store::VerifyOptions {
            since_checkpoint: false,
            indexes: true,
        },
        &mut |_| {},
    )
    .unwrap_or_else(|e| panic!("round {round}: log does not verify: {e}"))
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    let mut acknowledged: Vec<(u64, usize)> = Vec::new();
    for round in 1..=ROUNDS {
        let mut child = Command::new(&exe)
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (first_tx, first_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acks = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // A line cut by the kill has no size: it was not fully reported.
                let parsed = line.split_once(' ').and_then(|(seq, size)| {
                    Some((seq.parse::<u64>().ok()?, size.parse::<usize>().ok()?))
                });
                if let Some(ack) = parsed {
                    acks.push(ack);
                    let _ = first_tx.send(());
                }
            }
            acks
        });
        // Kill at a random moment after the child has started acknowledging.
        first_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child acknowledged nothing");
        std::thread::sleep(Duration::from_millis(rng.random_range(0..250)));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "child was not killed by SIGKILL: {status}"
        );
        let acks = reader.join().unwrap();
        acknowledged.extend(&acks);

        let report = check_survivors(dir.path(), round, &acknowledged);
        println!(
            "round {round:2}: killed after {:4} acknowledgements; log holds {} entries, {} checkpoints, all acknowledged present",
            acks.len(),
            report.entries,
            report.checkpoints
        );
    }
    println!(
        "crash test: {ROUNDS} kill -9 rounds, {} acknowledged entries, none lost",
        acknowledged.len()
    );
    println!("1 passed, 0 failed");
}
