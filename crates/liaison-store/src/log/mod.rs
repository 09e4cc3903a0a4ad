//! [`Log`]: appends through one writer thread with group commit, and reads.
//!
//! Keys (all integers big-endian, so keys sort by sequence):
//!
//! | key                              | value                          |
//! |----------------------------------|--------------------------------|
//! | `e` seq                          | `hash || pb::LogRecord`        |
//! | `b` bulletin id (16) seq         | empty: index by bulletin       |
//! | `a` agency `\0` kind seq         | empty: index by partner, kind  |
//! | `l` seq, `L` origin `\0` seq      | listing: lists and filters     |
//! | `O` partner                      | outbox entries and bytes       |
//! | `t` thread (16) seq, `R` seq     | listing: threads, requests     |
//! | `x` expires seq                  | empty: payloads due to erase   |
//! | `m` name                         | log metadata (index version)   |
//! | `c` seq                          | `pb::SignedCheckpoint`         |
//! | `o` partner `\0` published seq   | its size: the partner's outbox |
//! | `r` bulletin id (16)             | seq of the `Received` entry    |
//! | `p` partner                      | the partner's identity bundle  |
//! | `q` request key                  | seq of the entry it published  |
//! | `k` client name                  | the client's registration      |
//! | `v` partner                      | our identity version it holds  |
//! | `d` partner `\0` its seq         | our queued seq, its entry hash |
//!
//! Families that grow by appending (`o`, `d`, `b`, `a`, `l`, `L`) each live in a sled
//! tree of their own, the rest in the tree `log` (`trees`: sled 0.34's memory grows
//! without bound when one tree takes appends at several points). An entry, its index
//! keys and its [`Effect`](crate::Effect)s go into one transaction across the trees, so
//! they exist together or not at all. The indexes are described in `index`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread::JoinHandle;

use bytes::Bytes;
use liaison_core::crypto::{self, SigningKey};
use liaison_core::{AgencyId, BulletinId};
use tokio::sync::oneshot;

mod index;
mod keys;
mod trees;
mod writer;

use trees::Trees;

pub use index::{
    FeedChange, FeedPosition, IndexInput, IndexReport, Indexer, Listing, ListingPage, ListingRow,
    ListingScope,
};

pub(crate) use keys::entry_key;
use keys::*;
use writer::Writer;

use crate::durability::{self, BODIES_DIR, SLED_DIR, SledSync};
use crate::entry::{self, BodyPlacement, Entry, NewEntry};
use crate::error::{Error, Result};

/// Most requests the writer takes into one batch.
const MAX_REQUESTS_PER_BATCH: usize = 4096;

/// The head of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Sequence number of the last entry (0 when empty).
    pub seq: u64,
    /// Its hash (zeros when empty).
    pub hash: [u8; 32],
}

/// Where an appended entry landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its sequence number.
    pub seq: u64,
    /// Its chain hash.
    pub hash: [u8; 32],
}

/// What a partner's receipt says of its own log: it stored what we queued at
/// `queued_seq` as its entry `receiver_seq`, whose chain hash is `receiver_hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The partner's log entry.
    pub receiver_seq: u64,
    /// Its chain hash, as the partner signed it.
    pub receiver_hash: [u8; 32],
    /// Our outbox entry it answered.
    pub queued_seq: u64,
}

/// A signed statement of the log's head.
pub use liaison_core::checkpoint::Checkpoint;

/// The key that signs checkpoints, and how often.
#[derive(Debug)]
pub struct CheckpointSigner {
    /// This node's agency.
    pub agency: AgencyId,
    /// Its bulletin-signing key.
    pub key: SigningKey,
}

/// How to open a log.
#[derive(Debug, Default)]
pub struct LogOptions {
    /// Signs checkpoints; without one the log writes none.
    pub checkpoint_signer: Option<CheckpointSigner>,
    /// Write a checkpoint automatically once this many entries follow the last one
    /// (0: only when asked with [`Log::checkpoint`]).
    pub checkpoint_every: u64,
    /// Told of every group commit (for metrics).
    pub observer: Option<CommitObserver>,
    /// Reads what lists filter on from listed entries (without one nothing is listed).
    pub indexer: Option<Indexer>,
    /// sled's page cache in bytes (0: [`DEFAULT_CACHE_BYTES`]). The largest part of
    /// a node's memory; sled's own default is 1 GiB.
    pub cache_bytes: u64,
}

/// sled's page cache when [`LogOptions::cache_bytes`] is 0: 64 MiB.
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What one group commit was: how long applying and flushing took, how many entries
/// it made durable, and whether it succeeded.
#[derive(Debug, Clone, Copy)]
pub struct Commit {
    /// Apply, flush and sync.
    pub took: std::time::Duration,
    /// Entries in the batch.
    pub entries: usize,
    /// Whether it became durable.
    pub ok: bool,
}

/// A function told of every group commit, on the writer thread: keep it quick.
#[derive(Clone)]
pub struct CommitObserver(pub Arc<dyn Fn(Commit) + Send + Sync>);

impl std::fmt::Debug for CommitObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitObserver")
    }
}

enum Request {
    Append {
        entries: Vec<NewEntry>,
        reply: oneshot::Sender<Result<Vec<Appended>>>,
    },
    Checkpoint {
        reply: oneshot::Sender<Result<Checkpoint>>,
    },
    SetSigner(CheckpointSigner),
}

struct Shared {
    dir: PathBuf,
    /// Reads listings (see [`Indexer`]).
    indexer: Option<Indexer>,
    /// sled's page cache.
    cache_bytes: u64,
    /// The tree; `None` only while the writer reopens sled after a storage failure.
    tree: RwLock<Option<Trees>>,
    head: Mutex<Head>,
    /// Durable commits (one flush each) since open.
    commits: AtomicU64,
    /// Set while writes fail (a full disk, an I/O error): why, and since when.
    failure: Mutex<Option<StorageFailure>>,
}

impl Shared {
    /// A handle on the tree (cheap: sled trees are reference-counted).
    ///
    /// Errors: [`Error::StorageFailing`] while sled is being reopened.
    fn tree(&self) -> Result<Trees> {
        self.tree
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::StorageFailing("the log is being reopened".into()))
    }

    fn set_tree(&self, tree: Option<Trees>) {
        *self.tree.write().unwrap_or_else(|p| p.into_inner()) = tree;
    }

    fn set_failure(&self, failure: Option<StorageFailure>) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = failure;
    }
}

/// Why the log cannot write at the moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFailure {
    /// The error of the last attempt.
    pub reason: String,
    /// When writes first failed.
    pub since: liaison_core::UnixMillis,
    /// Attempts to recover so far.
    pub attempts: u64,
}

/// The append-only log. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Log {
    shared: Arc<Shared>,
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    /// The scratch directory of a read-only copy, removed on drop.
    snapshot: Option<PathBuf>,
}

/// An append that has been handed to the writer. Wait on it to learn when (and where)
/// it became durable.
#[must_use = "an append is durable only once waited on"]
pub struct PendingAppend(oneshot::Receiver<Result<Vec<Appended>>>);

impl PendingAppend {
    /// Blocks until the entries are durable. Not for use on an async runtime thread:
    /// use [`PendingAppend::durable`] there.
    pub fn wait(self) -> Result<Vec<Appended>> {
        self.0.blocking_recv().map_err(|_| Error::Closed)?
    }

    /// An append that was already made (answering a repeat of a request whose entry
    /// is on disk, with that entry's real hash: receipts sign it).
    pub fn ready(appended: Appended) -> Self {
        let (reply, receiver) = oneshot::channel();
        let _ = reply.send(Ok(vec![appended]));
        Self(receiver)
    }

    /// Waits, without blocking a thread, until the entries are durable.
    pub async fn durable(self) -> Result<Vec<Appended>> {
        self.0.await.map_err(|_| Error::Closed)?
    }

    /// The outcome if the entries' group commit has already finished; `Err(self)`
    /// (to wait on later) if not. Lets a caller gather what is already durable
    /// without waiting for what is not.
    pub fn now_durable(mut self) -> std::result::Result<Result<Vec<Appended>>, Self> {
        match self.0.try_recv() {
            Ok(outcome) => Ok(outcome),
            Err(oneshot::error::TryRecvError::Empty) => Err(self),
            Err(oneshot::error::TryRecvError::Closed) => Ok(Err(Error::Closed)),
        }
    }
}

impl Log {
    /// Opens (or creates) the log in `dir`, checks its tail entry and latest checkpoint,
    /// and starts the writer thread.
    ///
    /// Errors: [`Error::Sled`] or [`Error::Io`] if the files cannot be opened (for
    /// example another process holds the log); [`Error::Tampered`] or
    /// [`Error::BadCheckpoint`] if the tail does not check.
    pub fn open(dir: &Path, options: LogOptions) -> Result<Self> {
        std::fs::create_dir_all(dir.join(BODIES_DIR))
            .map_err(Error::io(format!("create {}", dir.display())))?;
        crate::compact::recover(dir)?;
        Self::open_at(dir, &dir.join(SLED_DIR), options, None)
    }

    /// Opens a copy of the log for reading, when the log's own disk is so full that
    /// sled cannot open it (sled 0.34 writes when it opens): sled's files are copied to
    /// `scratch` (on another filesystem), bodies are read in place, every write is
    /// refused with [`Error::ReadOnly`], and `scratch` is removed when the log is
    /// dropped.
    ///
    /// Errors: the copy or the open failed.
    pub fn open_snapshot(dir: &Path, scratch: &Path, indexer: Option<Indexer>) -> Result<Self> {
        let _ = std::fs::remove_dir_all(scratch);
        let copy = scratch.join(SLED_DIR);
        durability::copy_dir(&dir.join(SLED_DIR), &copy)?;
        let options = LogOptions {
            indexer,
            ..LogOptions::default()
        };
        Self::open_at(dir, &copy, options, Some(scratch.to_owned()))
    }

    fn open_at(
        dir: &Path,
        sled_dir: &Path,
        options: LogOptions,
        snapshot: Option<PathBuf>,
    ) -> Result<Self> {
        let cache = match options.cache_bytes {
            0 => DEFAULT_CACHE_BYTES,
            n => n,
        };
        let db = open_sled(sled_dir, cache)?;
        let tree = Trees::open(&db)?;
        let head = read_head(&tree)?;
        check_latest_checkpoint(&tree, head)?;
        if snapshot.is_none() && index_version(&tree)? < index::INDEX_VERSION {
            // Written before the current index layout: index it now, once.
            let started = std::time::Instant::now();
            let rows = Self::rebuild_indexes_in(&tree, &db, dir, options.indexer.as_ref())?;
            tracing::info!(
                entries = head.seq,
                rows,
                took_ms = started.elapsed().as_millis() as u64,
                "log reindexed for the current index layout"
            );
        }
        let sync = SledSync::new(sled_dir)?;
        let last_checkpoint = last_checkpoint(&tree)?.map_or(0, |c| c.seq);
        let shared = Arc::new(Shared {
            indexer: options.indexer.clone(),
            cache_bytes: cache,
            dir: dir.to_owned(),
            tree: RwLock::new(Some(tree)),
            head: Mutex::new(head),
            commits: AtomicU64::new(0),
            failure: Mutex::new(None),
        });
        let (sender, receiver) = mpsc::channel();
        let read_only = snapshot.is_some();
        let writer = Writer::new(
            shared.clone(),
            db,
            sync,
            (head, last_checkpoint),
            options,
            (sled_dir.to_owned(), read_only),
        );
        let handle = std::thread::Builder::new()
            .name("liaison-log-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(Error::io("start log writer thread"))?;
        Ok(Self {
            shared,
            requests: Some(sender),
            writer: Some(handle),
            snapshot,
        })
    }

    /// Whether this is a read-only copy ([`Log::open_snapshot`]).
    pub fn is_snapshot(&self) -> bool {
        self.snapshot.is_some()
    }

    /// The files of attachments sent beside their envelopes, in this log's directory.
    ///
    /// Errors: the directory cannot be created.
    pub fn attachments(&self) -> Result<crate::Attachments> {
        crate::Attachments::open(self.dir())
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Hands entries to the writer; they become durable together, in order, with
    /// consecutive sequence numbers.
    pub fn submit(&self, entries: Vec<NewEntry>) -> PendingAppend {
        let (reply, receiver) = oneshot::channel();
        if let Some(requests) = &self.requests {
            // If the writer is gone, `reply` is dropped and waiting yields Closed.
            let _ = requests.send(Request::Append { entries, reply });
        }
        PendingAppend(receiver)
    }

    /// Appends one entry and returns once it is durable.
    pub fn append(&self, entry: NewEntry) -> Result<Appended> {
        self.submit(vec![entry]).wait()?.pop().ok_or(Error::Closed)
    }

    /// Writes a signed checkpoint of the current head, durably.
    ///
    /// Errors: [`Error::BadCheckpoint`] if the log was opened without a signer.
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let (reply, receiver) = oneshot::channel();
        if let Some(requests) = &self.requests {
            let _ = requests.send(Request::Checkpoint { reply });
        }
        receiver.blocking_recv().map_err(|_| Error::Closed)?
    }

    /// Signs later checkpoints with `signer` (after a key rotation). Takes effect in
    /// order with the appends already handed to the writer.
    pub fn set_checkpoint_signer(&self, signer: CheckpointSigner) {
        if let Some(requests) = &self.requests {
            let _ = requests.send(Request::SetSigner(signer));
        }
    }

    /// The identity version `partner` confirmed it holds (0: none pushed yet).
    pub fn identity_acknowledged(&self, partner: &AgencyId) -> Result<u64> {
        Ok(self
            .shared
            .tree()?
            .get(identity_ack_key(partner))?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// The head of the chain: the last durable entry.
    pub fn head(&self) -> Head {
        *self.shared.head.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many durable commits (each one flush, however many entries it carried)
    /// the log has made since it was opened.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// Entry `seq`, checked against its hash.
    pub fn get(&self, seq: u64) -> Result<Option<Entry>> {
        match self.shared.tree()?.get(entry_key(seq))? {
            Some(stored) => entry::decode_stored(seq, &stored).map(Some),
            None => Ok(None),
        }
    }

    /// The record of entry `seq` exactly as its chain hash covers it (for evidence an
    /// outsider verifies: [`crate::evidence`]).
    pub fn record(&self, seq: u64) -> Result<Option<Bytes>> {
        match self.shared.tree()?.get(entry_key(seq))? {
            Some(stored) => entry::stored_record(&stored)
                .map(|r| Some(Bytes::copy_from_slice(r)))
                .ok_or_else(|| Error::Tampered {
                    seq,
                    problem: "stored value is truncated or malformed".into(),
                }),
            None => Ok(None),
        }
    }

    /// Entries from `from` (inclusive) in order, at most `limit`.
    pub fn range(&self, from: u64, limit: usize) -> Result<Vec<Entry>> {
        self.shared
            .tree()?
            .range(entry_key(from)..entry_key(u64::MAX))
            .take(limit)
            .map(|item| {
                let (key, stored) = item?;
                let seq = seq_suffix(&key).ok_or_else(|| Error::Tampered {
                    seq: 0,
                    problem: "entry key is malformed".into(),
                })?;
                entry::decode_stored(seq, &stored)
            })
            .collect()
    }

    /// Every entry about `bulletin_id`, in log order.
    pub fn entries_for_bulletin(&self, bulletin_id: &BulletinId) -> Result<Vec<Entry>> {
        let prefix = [&b"b"[..], &bulletin_id.to_bytes()].concat();
        self.entries_by_index(&prefix)
    }

    fn entries_by_index(&self, prefix: &[u8]) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in self.shared.tree()?.scan_prefix(prefix) {
            let (key, _) = item?;
            if let Some(entry) = seq_suffix(&key)
                .map(|seq| self.get(seq))
                .transpose()?
                .flatten()
            {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// The body of `entry`: inline, or read from its file and checked against its hash.
    /// `None` if it was erased.
    pub fn body(&self, entry: &Entry) -> Result<Option<Bytes>> {
        read_body(&self.shared.dir, entry)
    }

    /// Every stored checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        self.shared
            .tree()?
            .scan_prefix(b"c")
            .map(|item| {
                let (key, value) = item?;
                decode_checkpoint(seq_suffix(&key).unwrap_or(0), &value)
            })
            .collect()
    }

    /// Sequence numbers of the `Published` entries queued for `partner`, oldest first,
    /// after `after` (exclusive), at most `limit`.
    pub fn outbox(&self, partner: &AgencyId, after: u64, limit: usize) -> Result<Vec<u64>> {
        let prefix = outbox_prefix(partner);
        let start = [
            prefix.clone(),
            (after.saturating_add(1)).to_be_bytes().to_vec(),
        ]
        .concat();
        let end = [prefix, u64::MAX.to_be_bytes().to_vec()].concat();
        self.shared
            .tree()?
            .range(start..end)
            .take(limit)
            .map(|item| Ok(seq_suffix(&item?.0).unwrap_or(0)))
            .collect()
    }

    /// The partner's statements about its log, from its receipts, for its entries in
    /// `range` (oldest first, at most `limit`).
    pub fn delivered(
        &self,
        partner: &AgencyId,
        range: std::ops::RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<Delivered>> {
        self.shared
            .tree()?
            .range(delivered_key(partner, *range.start())..=delivered_key(partner, *range.end()))
            .take(limit)
            .map(|item| decode_delivered(&item?))
            .collect()
    }

    /// The partner's statement about its newest entry at or before `seq`.
    pub fn delivered_at_or_before(
        &self,
        partner: &AgencyId,
        seq: u64,
    ) -> Result<Option<Delivered>> {
        self.shared
            .tree()?
            .range(delivered_key(partner, 0)..=delivered_key(partner, seq))
            .next_back()
            .map(|item| decode_delivered(&item?))
            .transpose()
    }

    /// How many bulletins are queued for `partner` (0 if the log cannot be read).
    pub fn outbox_len(&self, partner: &AgencyId) -> usize {
        self.outbox_size(partner)
            .map_or(0, |(entries, _)| entries as usize)
    }

    /// Rebuilds every index of the log in `dir` from its entries, durably, with no
    /// node running (`liaison log reindex`): after [`Log::check_indexes`] found them
    /// wrong. Returns the rows written.
    ///
    /// Errors: [`Error::Locked`] while a node holds the log; read errors.
    pub fn reindex(dir: &Path, indexer: Option<&Indexer>) -> Result<u64> {
        let db = open_sled(&dir.join(SLED_DIR), DEFAULT_CACHE_BYTES)?;
        let tree = Trees::open(&db)?;
        Self::rebuild_indexes_in(&tree, &db, dir, indexer)
    }

    /// Why writes fail at the moment, if they do. The writer retries by itself and
    /// clears this once a write succeeds again.
    pub fn storage_failure(&self) -> Option<StorageFailure> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The `Received` entry of a bulletin, if it was received.
    pub fn received(&self, id: &BulletinId) -> Result<Option<u64>> {
        Ok(self
            .shared
            .tree()?
            .get(received_key(id))?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
    }

    /// The entry published under a client's idempotency key, if the key was used.
    pub fn request_key(&self, key: &str) -> Result<Option<u64>> {
        Ok(self
            .shared
            .tree()?
            .get(request_key(key))?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
    }

    /// Every registered local client: name and registration record.
    pub fn clients(&self) -> Result<Vec<(String, Bytes)>> {
        self.named_records(b"k")
    }

    /// Every imported federation roster: operation name and the node's record.
    pub fn rosters(&self) -> Result<Vec<(String, Bytes)>> {
        self.named_records(b"G")
    }

    /// Every record under a one-byte `prefix` whose key's rest is a name.
    fn named_records(&self, prefix: &[u8]) -> Result<Vec<(String, Bytes)>> {
        self.shared
            .tree()?
            .scan_prefix(prefix)
            .map(|item| {
                let (key, value) = item?;
                Ok((
                    String::from_utf8_lossy(&key[1..]).into_owned(),
                    Bytes::copy_from_slice(&value),
                ))
            })
            .collect()
    }

    /// The stored identity bundle of every partner.
    pub fn peers(&self) -> Result<Vec<(AgencyId, Bytes)>> {
        self.shared
            .tree()?
            .scan_prefix(b"p")
            .map(|item| {
                let (key, value) = item?;
                let agency = std::str::from_utf8(&key[1..])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| Error::Tampered {
                        seq: 0,
                        problem: "a partner key is malformed".into(),
                    })?;
                Ok((agency, Bytes::copy_from_slice(&value)))
            })
            .collect()
    }

    pub(crate) fn tree(&self) -> Result<Trees> {
        self.shared.tree()
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish what is queued, then exit.
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        if let Some(scratch) = self.snapshot.take() {
            // The writer has let go of sled; the copy goes.
            let _ = std::fs::remove_dir_all(scratch);
        }
    }
}

pub(crate) fn read_body(dir: &Path, entry: &Entry) -> Result<Option<Bytes>> {
    let body = match entry.placement {
        BodyPlacement::Erased => return Ok(None),
        BodyPlacement::Inline => entry.inline_body.clone().unwrap_or_default(),
        BodyPlacement::External => {
            let path = durability::body_path(dir, &entry.body_sha256);
            Bytes::from(std::fs::read(&path).map_err(|e| Error::Tampered {
                seq: entry.seq,
                problem: format!("body file {} cannot be read: {e}", path.display()),
            })?)
        }
    };
    if body.len() as u64 != entry.body_len || crypto::sha256(&body) != entry.body_sha256 {
        return Err(Error::Tampered {
            seq: entry.seq,
            problem: "body does not match its recorded hash".into(),
        });
    }
    Ok(Some(body))
}

/// How long `open` waits for another holder of the log to let go (a log closed a
/// moment ago in this process can keep its lock for a few milliseconds while sled's
/// background threads finish).
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

pub(crate) fn open_sled(sled_dir: &Path, cache_bytes: u64) -> Result<sled::Db> {
    let started = std::time::Instant::now();
    loop {
        let opened = sled::Config::new()
            .path(sled_dir)
            // The writer flushes after every batch; a background flusher would only
            // compete with it.
            .flush_every_ms(None)
            .cache_capacity(cache_bytes)
            // Measured (BENCHMARKS, "Scale"): 8-20% faster appends and catch-up than
            // the default LowSpace, for no more disk per entry at a million entries.
            .mode(sled::Mode::HighThroughput)
            .open();
        match opened {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                if started.elapsed() > LOCK_WAIT {
                    return Err(Error::Locked(sled_dir.to_owned()));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The time of the entry at `head` (0 for an empty log).
fn tail_time(tree: &Trees, head: Head) -> Result<liaison_core::UnixMillis> {
    Ok(match tree.get(entry_key(head.seq))? {
        Some(stored) => entry::decode_stored(head.seq, &stored)?.time,
        None => liaison_core::UnixMillis(0),
    })
}

/// The index layout the log was written with (0: before versions were recorded).
fn index_version(tree: &Trees) -> Result<u32> {
    Ok(tree
        .get(index::INDEX_VERSION_KEY)?
        .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
        .unwrap_or(0))
}

fn read_head(tree: &Trees) -> Result<Head> {
    match tree.scan_prefix(b"e").next_back() {
        None => Ok(Head {
            seq: 0,
            hash: [0; 32],
        }),
        Some(item) => {
            let (key, stored) = item?;
            let seq = seq_suffix(&key).unwrap_or(0);
            let entry = entry::decode_stored(seq, &stored)?;
            Ok(Head {
                seq,
                hash: entry.hash,
            })
        }
    }
}

pub(crate) fn decode_checkpoint(seq: u64, value: &[u8]) -> Result<Checkpoint> {
    Checkpoint::decode(Bytes::copy_from_slice(value)).map_err(|e| Error::BadCheckpoint {
        seq,
        problem: e.to_string(),
    })
}

fn decode_delivered((key, value): &(sled::IVec, sled::IVec)) -> Result<Delivered> {
    let bad = || Error::Tampered {
        seq: 0,
        problem: "a delivery record does not decode".into(),
    };
    let (queued, hash) = value.split_at_checked(8).ok_or_else(bad)?;
    Ok(Delivered {
        receiver_seq: seq_suffix(key).ok_or_else(bad)?,
        receiver_hash: hash.try_into().map_err(|_| bad())?,
        queued_seq: u64::from_be_bytes(queued.try_into().map_err(|_| bad())?),
    })
}

fn last_checkpoint(tree: &Trees) -> Result<Option<Checkpoint>> {
    match tree.scan_prefix(b"c").next_back() {
        None => Ok(None),
        Some(item) => {
            let (key, value) = item?;
            decode_checkpoint(seq_suffix(&key).unwrap_or(0), &value).map(Some)
        }
    }
}

/// The latest checkpoint must not lie beyond the head (entries lost) and must name the
/// hash the entry at its sequence has.
pub(crate) fn check_checkpoint_against_log(
    tree: &Trees,
    head: Head,
    checkpoint: &Checkpoint,
) -> Result<()> {
    if checkpoint.seq > head.seq {
        return Err(Error::Tampered {
            seq: head.seq + 1,
            problem: format!(
                "the log ends at entry {} but a checkpoint covers entries up to {}: entries were removed",
                head.seq, checkpoint.seq
            ),
        });
    }
    if checkpoint.seq == 0 {
        return Ok(());
    }
    let stored = tree
        .get(entry_key(checkpoint.seq))?
        .ok_or_else(|| Error::Tampered {
            seq: checkpoint.seq,
            problem: "entry named by a checkpoint is missing".into(),
        })?;
    let entry = entry::decode_stored(checkpoint.seq, &stored)?;
    if entry.hash != checkpoint.head_hash {
        return Err(Error::BadCheckpoint {
            seq: checkpoint.seq,
            problem: "checkpoint names a different hash for this entry: the log was rewritten"
                .into(),
        });
    }
    Ok(())
}

fn check_latest_checkpoint(tree: &Trees, head: Head) -> Result<()> {
    match last_checkpoint(tree)? {
        Some(checkpoint) => check_checkpoint_against_log(tree, head, &checkpoint),
        None => Ok(()),
    }
}
