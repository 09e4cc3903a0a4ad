//! The node's durable, tamper-evident, append-only log, kept in sled.
//!
//! Layout:
//! - [`log`]: [`Log`], the append path (one writer thread, group commit) and reads.
//! - [`entry`]: what an entry holds ([`NewEntry`], [`Entry`], [`EntryKind`]) and its
//!   stored form.
//! - [`verify`]: re-hashes the whole chain and checks the signed checkpoints.
//! - [`durability`]: what it takes to make sled 0.34 keep what it acknowledged.
//! - [`error`]: the crate's one error type.
//!
//! # The chain
//!
//! Entry `n` is stored as `hash || u32be(len) || record || body state || body`, with
//! hash = `SHA-256("liaison/v1/log-entry\0" || record)`; `record` (a `pb::LogRecord`)
//! holds the hash of entry `n-1` and the SHA-256 of the body, not the body itself, so a
//! recalled or expired body can be erased (`Effect::EraseBody`) and the chain still
//! verifies. Changing, removing or
//! reordering any entry breaks the chain at that entry; [`Log::verify`] names the first
//! bad sequence number. Signed checkpoints (sequence, head hash, time) are stored beside
//! the entries so that truncating the tail is caught too, and so that partners can hold
//! the node to what it showed them.
//!
//! # Durability
//!
//! [`Log::append`] returns only after the entry is on disk. Appends from many threads
//! are grouped: one writer thread takes every request waiting, writes them as one sled
//! batch and makes them durable with one flush (group commit), so durability costs one
//! flush per batch, not per entry.
//!
//! sled 0.34.7 needs help to make "flushed" mean "on disk" (see [`durability`]):
//!
//! 1. `Db::flush` writes with `sync_file_range`, which neither flushes the disk's write
//!    cache nor persists the file's metadata (its new length). After every flush the
//!    writer calls `fdatasync` (`File::sync_data`) on sled's data file.
//! 2. sled stores a page larger than a quarter of a segment (128 KiB by default) as a
//!    separate "blob" file that it never fsyncs. Bodies larger than
//!    [`INLINE_BODY_LIMIT`] never reach sled: they go to our own content-addressed files
//!    under `bodies/`, written to a temporary name, fsynced, renamed and the directory
//!    fsynced, *before* the entry that names them is written. The writer also fsyncs any
//!    blob file sled creates anyway, and its directory.
//! 3. sled has had crash-recovery bugs (spacejam/sled #1452, #1509, #1533). On open the
//!    log checks its tail entry and its latest checkpoint; `liaison log verify` re-hashes
//!    everything, including every external body. A chain that does not verify is
//!    reported with the first bad sequence number, never silently repaired.
//!
//! The crash test (`tests/crash.rs`) kills a writing process with SIGKILL at random
//! moments and checks that every acknowledged entry survives and the chain verifies.

#![forbid(unsafe_code)]

pub mod attachments;
pub mod compact;
pub mod durability;
pub mod entry;
pub mod error;
pub mod evidence;
pub mod log;
pub mod verify;

pub use attachments::{Attachments, StoredAttachment};
pub use compact::CompactReport;
pub use entry::{BodyPlacement, Effect, Entry, EntryKind, INLINE_BODY_LIMIT, NewEntry};
pub use error::{Error, Result};
pub use log::{
    Appended, Checkpoint, Commit, CommitObserver, Delivered, FeedChange, FeedPosition, Head,
    IndexInput, IndexReport, Indexer, Listing, ListingPage, ListingRow, ListingScope, Log,
    LogOptions, PendingAppend,
};
pub use verify::{VerifyOptions, VerifyReport};
