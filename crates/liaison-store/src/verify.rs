//! Full verification: re-hash every entry, follow the chain, check every body and index
//! key, and check every checkpoint's signature and its place in the chain.

use liaison_core::crypto::VerifyingKey;

use crate::entry::{self, BodyPlacement};
use crate::error::{Error, Result};
use crate::log::{self, Head, Log};

/// What a successful verification saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of entries.
    pub entries: u64,
    /// The head of the chain.
    pub head: Head,
    /// Number of checkpoints checked.
    pub checkpoints: usize,
    /// Number of bodies read from their own files and checked.
    pub external_bodies: u64,
}

impl Log {
    /// Verifies the whole log. `checkpoint_keys` are the signing keys (current and past)
    /// that may have signed checkpoints; `progress` is called with each sequence number.
    ///
    /// Errors: [`Error::Tampered`] naming the first entry that does not verify (changed,
    /// missing, moved, or a body that does not match), [`Error::BadCheckpoint`].
    pub fn verify(
        &self,
        checkpoint_keys: &[VerifyingKey],
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifyReport> {
        let mut head = Head {
            seq: 0,
            hash: [0; 32],
        };
        let mut external_bodies = 0;
        for item in self.tree()?.scan_prefix(b"e") {
            let (key, stored) = item?;
            let expected = head.seq + 1;
            let seq = key
                .get(1..9)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .filter(|_| key.len() == 9)
                .ok_or_else(|| Error::Tampered {
                    seq: expected,
                    problem: "an entry key is malformed".into(),
                })?;
            if seq != expected {
                return Err(Error::Tampered {
                    seq: expected,
                    problem: format!("entry is missing (the next entry present is {seq})"),
                });
            }
            let entry = entry::decode_stored(seq, &stored)?;
            if entry.prev_hash != head.hash {
                return Err(Error::Tampered {
                    seq,
                    problem: "does not follow from the previous entry: entries were removed, replaced or reordered"
                        .into(),
                });
            }
            if entry.placement == BodyPlacement::External {
                external_bodies += 1;
            }
            log::read_body(self.dir(), &entry)?;
            head = Head {
                seq,
                hash: entry.hash,
            };
            progress(seq);
        }
        self.verify_indexes()?;
        let checkpoints = self.checkpoints()?;
        for checkpoint in &checkpoints {
            verify_checkpoint_signature(checkpoint, checkpoint_keys)?;
            log::check_checkpoint_against_log(&self.tree()?, head, checkpoint)?;
        }
        Ok(VerifyReport {
            entries: head.seq,
            head,
            checkpoints: checkpoints.len(),
            external_bodies,
        })
    }

    /// Every index key must point at an entry about the same bulletin or partner.
    fn verify_indexes(&self) -> Result<()> {
        for prefix in [&b"b"[..], &b"a"[..]] {
            for item in self.tree()?.scan_prefix(prefix) {
                let (key, _) = item?;
                let seq = key
                    .len()
                    .checked_sub(8)
                    .and_then(|at| key[at..].try_into().ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                let entry = self.get(seq)?.ok_or_else(|| Error::Tampered {
                    seq,
                    problem: "an index names this entry but it is missing".into(),
                })?;
                let matches = if prefix == b"b" {
                    entry
                        .bulletin_id
                        .is_some_and(|id| key[1..17] == id.to_bytes())
                } else {
                    entry
                        .agency
                        .as_ref()
                        .is_some_and(|a| key[1..key.len() - 9] == *a.as_str().as_bytes())
                };
                if !matches {
                    return Err(Error::Tampered {
                        seq,
                        problem: "an index key does not match the entry it names".into(),
                    });
                }
            }
        }
        Ok(())
    }
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
