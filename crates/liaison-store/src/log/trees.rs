//! One sled tree per key family, written together in one transaction.
//!
//! sled 0.34 keeps memory for every page it splits while more than one point of a tree
//! takes appends (BENCHMARKS, "Scale: memory"; `examples/sled_memory.rs`): with the
//! entries and every index in one tree a node grew by ~3 KB per entry written. So each
//! family that grows by appending lives in its own tree, and a group commit writes all
//! of them in one sled transaction, atomic across trees, then flushes once. Keys keep
//! their one-byte prefixes (the table in `log`), which pick the tree.

use std::ops::{Bound, RangeBounds};

use sled::IVec;
use sled::Transactional as _;

use crate::error::{Error, Result};

/// The families with a tree of their own: prefix and tree name. Everything else (the
/// entries, checkpoints, claims, partners, clients, counts, metadata) is in `log`.
const FAMILIES: [(u8, &str); 13] = [
    (b'o', "outbox"),
    (b'd', "delivered"),
    (b'b', "bulletins"),
    (b'a', "agencies"),
    (b'l', "listings"),
    (b'L', "origins"),
    (b't', "threads"),
    (b'R', "requests"),
    (b'x', "expiries"),
    (b'S', "selectors"),
    (b's', "entry-selectors"),
    (b'Q', "entry-queryable"),
    (b'F', "query-feeds"),
];

/// The log's trees: `log` first, then one per family in [`FAMILIES`] order.
#[derive(Clone)]
pub(crate) struct Trees(Vec<sled::Tree>);

/// One batch per tree, filled by key prefix.
pub(crate) struct Batches(Vec<sled::Batch>);

fn slot(key: &[u8]) -> usize {
    key.first()
        .and_then(|p| FAMILIES.iter().position(|(prefix, _)| prefix == p))
        .map_or(0, |i| i + 1)
}

impl Default for Batches {
    fn default() -> Self {
        Self(
            (0..=FAMILIES.len())
                .map(|_| sled::Batch::default())
                .collect(),
        )
    }
}

impl Batches {
    /// Sets `key` (in the tree its prefix picks) to `value`.
    pub(crate) fn insert<K: AsRef<[u8]>, V: Into<IVec>>(&mut self, key: K, value: V) {
        let key = key.as_ref();
        self.0[slot(key)].insert(key, value);
    }

    /// Removes `key`.
    pub(crate) fn remove<K: AsRef<[u8]>>(&mut self, key: K) {
        let key = key.as_ref();
        self.0[slot(key)].remove(key);
    }
}

impl Trees {
    /// Opens (or creates) every tree of the log in `db`.
    pub(crate) fn open(db: &sled::Db) -> Result<Self> {
        let mut trees = vec![db.open_tree("log")?];
        for (_, name) in FAMILIES {
            trees.push(db.open_tree(name)?);
        }
        Ok(Self(trees))
    }

    /// The tree that holds keys starting with `key`'s first byte.
    pub(crate) fn of(&self, key: &[u8]) -> &sled::Tree {
        &self.0[slot(key)]
    }

    /// The tree that holds the entries and the keys without a family of their own.
    pub(crate) fn main(&self) -> &sled::Tree {
        &self.0[0]
    }

    pub(crate) fn get(&self, key: impl AsRef<[u8]>) -> sled::Result<Option<IVec>> {
        let key = key.as_ref();
        self.of(key).get(key)
    }

    pub(crate) fn scan_prefix(&self, prefix: impl AsRef<[u8]>) -> sled::Iter {
        let prefix = prefix.as_ref();
        self.of(prefix).scan_prefix(prefix)
    }

    /// A range of keys of one family (both bounds share a prefix).
    pub(crate) fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> sled::Iter {
        let tree = match (range.start_bound(), range.end_bound()) {
            (Bound::Included(k) | Bound::Excluded(k), _)
            | (Bound::Unbounded, Bound::Included(k) | Bound::Excluded(k)) => self.of(k.as_ref()),
            (Bound::Unbounded, Bound::Unbounded) => self.main(),
        };
        tree.range(range)
    }

    /// Applies every batch in one transaction: all trees change, or none.
    pub(crate) fn apply(&self, batches: &Batches) -> Result<()> {
        self.0
            .as_slice()
            .transaction(|views| {
                for (view, batch) in views.iter().zip(&batches.0) {
                    view.apply_batch(batch)?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(e) => Error::Sled(e),
                sled::transaction::TransactionError::Abort(()) => Error::Closed,
            })
    }

    /// Moves the keys of every family out of the `log` tree into their own trees (a
    /// log written before the trees were split). Safe to repeat after a crash: a key
    /// is copied before it is removed.
    pub(crate) fn split_families(&self) -> Result<u64> {
        let mut moved = 0u64;
        for (i, (prefix, _)) in FAMILIES.iter().enumerate() {
            let target = &self.0[i + 1];
            loop {
                let chunk: Vec<(IVec, IVec)> = self
                    .main()
                    .scan_prefix([*prefix])
                    .take(10_000)
                    .collect::<sled::Result<_>>()?;
                if chunk.is_empty() {
                    break;
                }
                let (mut into, mut out) = (sled::Batch::default(), sled::Batch::default());
                for (key, value) in &chunk {
                    into.insert(key.clone(), value.clone());
                    out.remove(key.clone());
                }
                target.apply_batch(into)?;
                self.main().apply_batch(out)?;
                moved += chunk.len() as u64;
            }
        }
        Ok(moved)
    }
}
