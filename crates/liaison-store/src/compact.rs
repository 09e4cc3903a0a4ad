//! Compaction: after recalls and expiry have erased bodies, sled's files still hold the
//! old pages (sled 0.34 never gives space back). [`Log::compact`] copies every key into
//! a fresh database beside the log, makes it durable, and swaps it in. The entries, and
//! so the hash chain, are copied byte for byte: only the garbage is left behind.
//!
//! The swap survives a crash at any point: `sled` → `sled.old`, `sled.compacting` →
//! `sled`, then `sled.old` is removed, with the directory synced after each step.
//! `recover` (run whenever the log is opened) rolls back a swap that stopped between
//! the two renames and removes whatever a crash left behind.

use std::path::Path;

use crate::durability::{self, SLED_DIR, SledSync};
use crate::error::{Error, Result};
use crate::log::Log;

/// The fresh copy while it is written.
const COMPACTING_DIR: &str = "sled.compacting";
/// The old files between the two renames of the swap.
const OLD_DIR: &str = "sled.old";

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactReport {
    /// Keys copied (entries, indexes and state).
    pub keys: u64,
    /// Size of sled's files before, bytes.
    pub before_bytes: u64,
    /// And after.
    pub after_bytes: u64,
}

/// Finishes what an interrupted compaction left in `dir` (the log's directory): the
/// old files come back if the new ones were not yet in place, and leftovers go.
///
/// Errors: [`Error::Io`] if a rename or removal fails.
pub(crate) fn recover(dir: &Path) -> Result<()> {
    let (live, old, fresh) = (
        dir.join(SLED_DIR),
        dir.join(OLD_DIR),
        dir.join(COMPACTING_DIR),
    );
    let mut changed = false;
    if !live.exists() && old.exists() {
        // Stopped between the renames: the old files are complete; use them.
        std::fs::rename(&old, &live).map_err(Error::io("restore the log's files"))?;
        tracing::warn!(dir = %dir.display(), "an interrupted compaction was rolled back");
        changed = true;
    }
    for leftover in [old, fresh] {
        if leftover.exists() {
            std::fs::remove_dir_all(&leftover).map_err(Error::io(format!(
                "remove {} left by an interrupted compaction",
                leftover.display()
            )))?;
            changed = true;
        }
    }
    if changed {
        durability::fsync_dir(dir)?;
    }
    Ok(())
}

impl Log {
    /// Compacts the log in `dir` (no node may hold it): every key is copied to a fresh
    /// database, which replaces the old one once it is durable.
    ///
    /// Errors: [`Error::Locked`] while a node holds the log; [`Error::Tampered`] if the
    /// copy does not hold what the original holds (the original is then kept); I/O
    /// errors (a full disk: the copy needs room for the live data).
    pub fn compact(dir: &Path) -> Result<CompactReport> {
        recover(dir)?;
        let (live, fresh) = (dir.join(SLED_DIR), dir.join(COMPACTING_DIR));
        let before_bytes = durability::dir_size(&live);
        let keys = {
            let source = crate::log::open_sled(&live, crate::log::DEFAULT_CACHE_BYTES)?;
            let copy = crate::log::open_sled(&fresh, crate::log::DEFAULT_CACHE_BYTES)?;
            let mut keys = 0u64;
            for name in source.tree_names() {
                let (from, to) = (source.open_tree(&name)?, copy.open_tree(&name)?);
                let mut batch = sled::Batch::default();
                let mut in_batch = 0;
                for item in from.iter() {
                    let (key, value) = item?;
                    batch.insert(key, value);
                    in_batch += 1;
                    keys += 1;
                    if in_batch == 10_000 {
                        to.apply_batch(std::mem::take(&mut batch))?;
                        in_batch = 0;
                    }
                }
                to.apply_batch(batch)?;
                if to.len() != from.len() {
                    drop(copy);
                    let _ = std::fs::remove_dir_all(&fresh);
                    return Err(Error::Tampered {
                        seq: 0,
                        problem:
                            "the compacted copy does not hold every key: the log was left as it was"
                                .into(),
                    });
                }
            }
            copy.flush()?;
            SledSync::new(&fresh)?.after_flush()?;
            keys
        };
        durability::fsync_dir(&fresh)?;
        durability::fsync_dir(dir)?;
        let old = dir.join(OLD_DIR);
        std::fs::rename(&live, &old).map_err(Error::io("move the old log files aside"))?;
        durability::fsync_dir(dir)?;
        std::fs::rename(&fresh, &live).map_err(Error::io("put the compacted log in place"))?;
        durability::fsync_dir(dir)?;
        std::fs::remove_dir_all(&old).map_err(Error::io("remove the old log files"))?;
        durability::fsync_dir(dir)?;
        Ok(CompactReport {
            keys,
            before_bytes,
            after_bytes: durability::dir_size(&live),
        })
    }
}
