//! Verification: re-hash every entry, follow the chain, check every body, and check
//! every checkpoint's signature and its place in the chain; with
//! [`VerifyOptions::indexes`], derive every index again and compare.
//!
//! The log is streamed: one thread reads sled in order and hands chunks of entries to
//! hashing threads (one per core); the chain links are then checked in order. Memory
//! stays at a few chunks however long the log is.
//!
//! Incremental verification ([`VerifyOptions::since_checkpoint`]) starts at the
//! checkpoint the last successful verification reached (recorded in the file
//! `verified` beside sled): it checks that checkpoint's signature and that the entry
//! it names still has the hash it signed, then everything after it. What came before
//! was verified then; a full verification re-checks it.

use std::path::PathBuf;
use std::sync::{Mutex, mpsc};

use liaison_core::crypto::VerifyingKey;

use crate::entry::{self, BodyPlacement};
use crate::error::{Error, Result};
use crate::log::{self, Head, Log};

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of entries in the log.
    pub entries: u64,
    /// Entries re-hashed by this verification (all, or those after the starting
    /// checkpoint).
    pub checked: u64,
    /// The checkpoint it started from (0: the beginning).
    pub from_checkpoint: u64,
    /// The head of the chain.
    pub head: Head,
    /// Number of checkpoints checked.
    pub checkpoints: usize,
    /// Number of bodies read from their own files and checked.
    pub external_bodies: u64,
    /// Index rows derived again and compared (0 unless asked).
    pub index_rows: u64,
}

/// What [`Log::verify`] checks.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// Start from the checkpoint the last successful verification reached.
    pub since_checkpoint: bool,
    /// Also derive every index again and compare it with the stored one.
    pub indexes: bool,
}

/// Entries per chunk handed to a hashing thread.
const CHUNK: usize = 1024;

/// One verified entry's place in the chain.
struct Link {
    seq: u64,
    hash: [u8; 32],
    prev_hash: [u8; 32],
    external: bool,
}

type Chunk = (usize, Vec<(sled::IVec, sled::IVec)>);
type Checked = (usize, Result<Vec<Link>>);

impl Log {
    /// Verifies the log. `checkpoint_keys` are the signing keys (current and past)
    /// that may have signed checkpoints; `progress` is called with sequence numbers as
    /// they are checked.
    ///
    /// Errors: [`Error::Tampered`] naming the first entry that does not verify (changed,
    /// missing, moved, or a body that does not match), [`Error::BadCheckpoint`].
    pub fn verify(
        &self,
        checkpoint_keys: &[VerifyingKey],
        options: VerifyOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport> {
        let checkpoints = self.checkpoints()?;
        for checkpoint in &checkpoints {
            verify_checkpoint_signature(checkpoint, checkpoint_keys)?;
        }
        let start = match options.since_checkpoint {
            true => self.verified_mark().and_then(|seq| {
                checkpoints
                    .iter()
                    .find(|c| c.seq == seq)
                    .map(|c| (c.seq, c.head_hash))
            }),
            false => None,
        };
        let from = match start {
            Some((seq, hash)) => {
                // The entry the checkpoint names must still be the one it signed.
                let entry = self.get(seq)?.ok_or_else(|| Error::Tampered {
                    seq,
                    problem: "entry named by the last verified checkpoint is missing".into(),
                })?;
                if entry.hash != hash {
                    return Err(Error::BadCheckpoint {
                        seq,
                        problem: "the last verified checkpoint names a different hash for this entry: the log was rewritten".into(),
                    });
                }
                Head { seq, hash }
            }
            None => Head {
                seq: 0,
                hash: [0; 32],
            },
        };
        let (head, external_bodies) = self.verify_chain(from, progress)?;
        let tree = self.tree()?;
        for checkpoint in &checkpoints {
            log::check_checkpoint_against_log(&tree, head, checkpoint)?;
        }
        let index_rows = match options.indexes {
            true => self.check_indexes()?.rows,
            false => 0,
        };
        if let Some(last) = checkpoints.last() {
            self.mark_verified(last.seq);
        }
        Ok(VerifyReport {
            entries: head.seq,
            checked: head.seq - from.seq,
            from_checkpoint: from.seq,
            head,
            checkpoints: checkpoints.len(),
            external_bodies,
            index_rows,
        })
    }

    /// Streams the entries after `from` through the hashing threads and checks the
    /// links in order. Returns the head and the number of external bodies.
    fn verify_chain(&self, from: Head, progress: &mut dyn FnMut(u64)) -> Result<(Head, u64)> {
        let tree = self.tree()?;
        let dir = self.dir().to_owned();
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 8);
        let (chunks_tx, chunks_rx) = mpsc::sync_channel::<Chunk>(workers * 2);
        let (checked_tx, checked_rx) = mpsc::channel::<Checked>();
        let chunks_rx = Mutex::new(chunks_rx);
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || -> Result<()> {
                let start = log::entry_key(from.seq + 1);
                let mut chunk = Vec::with_capacity(CHUNK);
                let mut number = 0;
                for item in tree.range(start..log::entry_key(u64::MAX)) {
                    chunk.push(item?);
                    if chunk.len() == CHUNK {
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                        if chunks_tx.send((number, full)).is_err() {
                            return Ok(());
                        }
                        number += 1;
                    }
                }
                if !chunk.is_empty() {
                    let _ = chunks_tx.send((number, chunk));
                }
                Ok(())
            });
            for _ in 0..workers {
                let (chunks_rx, checked_tx, dir) = (&chunks_rx, checked_tx.clone(), &dir);
                scope.spawn(move || {
                    loop {
                        let next = chunks_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok((number, chunk)) = next else {
                            return;
                        };
                        let links = chunk
                            .iter()
                            .map(|(key, stored)| check_entry(dir, key, stored))
                            .collect();
                        if checked_tx.send((number, links)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(checked_tx);
            // Chunks come back in any order; links are checked in log order.
            let mut waiting = std::collections::BTreeMap::new();
            let (mut next, mut head, mut external) = (0, from, 0u64);
            for (number, links) in checked_rx {
                waiting.insert(number, links);
                while let Some(links) = waiting.remove(&next) {
                    for link in links? {
                        let expected = head.seq + 1;
                        if link.seq != expected {
                            return Err(Error::Tampered {
                                seq: expected,
                                problem: format!(
                                    "entry is missing (the next entry present is {})",
                                    link.seq
                                ),
                            });
                        }
                        if link.prev_hash != head.hash {
                            return Err(Error::Tampered {
                                seq: link.seq,
                                problem: "does not follow from the previous entry: entries were removed, replaced or reordered".into(),
                            });
                        }
                        external += u64::from(link.external);
                        head = Head {
                            seq: link.seq,
                            hash: link.hash,
                        };
                    }
                    progress(head.seq);
                    next += 1;
                }
            }
            reader
                .join()
                .map_err(|_| Error::Closed)
                .and_then(|read| read)?;
            Ok((head, external))
        })
    }

    /// Where the last successful verification got to: a checkpoint's sequence number.
    fn verified_mark(&self) -> Option<u64> {
        std::fs::read_to_string(self.verified_path())
            .ok()
            .and_then(|text| text.trim().parse().ok())
    }

    /// Records that the log verified up to checkpoint `seq` (best effort: without the
    /// mark the next incremental verification is a full one).
    fn mark_verified(&self, seq: u64) {
        if self.is_snapshot() {
            return;
        }
        let path = self.verified_path();
        let temporary = path.with_extension("new");
        let written = std::fs::write(&temporary, format!("{seq}\n"))
            .and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), error = %e, "could not record how far the log verified");
        }
    }

    fn verified_path(&self) -> PathBuf {
        self.dir().join("verified")
    }
}

/// One entry: its key, its hash over its record, its body against the recorded hash.
fn check_entry(dir: &std::path::Path, key: &[u8], stored: &[u8]) -> Result<Link> {
    let seq = key
        .get(1..9)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .filter(|_| key.len() == 9)
        .ok_or_else(|| Error::Tampered {
            seq: 0,
            problem: "an entry key is malformed".into(),
        })?;
    let entry = entry::decode_stored(seq, stored)?;
    log::read_body(dir, &entry)?;
    Ok(Link {
        seq,
        hash: entry.hash,
        prev_hash: entry.prev_hash,
        external: entry.placement == BodyPlacement::External,
    })
}

fn verify_checkpoint_signature(checkpoint: &log::Checkpoint, keys: &[VerifyingKey]) -> Result<()> {
    let bad = |problem: &str| Error::BadCheckpoint {
        seq: checkpoint.seq,
        problem: problem.into(),
    };
    let key = keys
        .iter()
        .find(|k| k.key_id('s') == checkpoint.signing_key_id)
        .ok_or_else(|| bad("signed by a key this node does not know"))?;
    checkpoint
        .check_signature(key)
        .map_err(|_| bad("signature does not verify"))
}
