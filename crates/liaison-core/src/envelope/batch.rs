//! Batch signatures (format v2): the envelopes sealed together are the leaves of a
//! Merkle tree ([`super::merkle`]) and the origin signs its root once. Each envelope
//! carries the root, the signature and its own inclusion proof, so it verifies alone
//! and can be forwarded alone; a receiver verifies each root's signature once
//! ([`VerifiedRoots`]).
//!
//! [`BatchSigner`] closes batches adaptively: a batch is signed as soon as the sealing
//! stage is idle — no other thread is still encrypting an envelope it announced with
//! [`BatchSigner::begin`] — or the batch reached its cap, or the oldest leaf has waited
//! [`MAX_WAIT`]. A lone bulletin is therefore signed at once, and a burst of concurrent
//! publishes shares one signature.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::merkle::{Hash, Tree};
use crate::crypto::{SigningKey, VerifyingKey, domain};
use crate::ids::KeyId;

/// The signed message of a batch: `u32be(format_version) || u32be(signature_scheme)
/// || u64be(tree_size) || root`, under the `liaison/v2/envelope-batch` domain.
pub(crate) fn root_message(version: u32, scheme: i32, size: u64, root: &Hash) -> [u8; 48] {
    let mut m = [0u8; 48];
    m[..4].copy_from_slice(&version.to_be_bytes());
    m[4..8].copy_from_slice(&scheme.to_be_bytes());
    m[8..16].copy_from_slice(&size.to_be_bytes());
    m[16..].copy_from_slice(root);
    m
}

/// A tree of envelope leaves and its root's signature.
#[derive(Debug)]
pub struct SignedBatch {
    tree: Tree,
    key_id: KeyId,
    signature: [u8; 64],
}

impl SignedBatch {
    /// Builds the tree over `leaves` and signs its root. `None` for no leaves.
    pub fn sign(leaves: Vec<Hash>, key: &SigningKey) -> Option<Self> {
        let tree = Tree::new(leaves)?;
        let message = root_message(
            super::FORMAT_VERSION_BATCH,
            super::SCHEME_BATCH,
            tree.size(),
            &tree.root(),
        );
        let signature = key.sign(domain::ENVELOPE_BATCH, &[&message]);
        Some(Self {
            tree,
            key_id: key.verifying_key().key_id('s'),
            signature,
        })
    }

    /// The tree.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// The signing key's id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The root's signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}

type Slot = Arc<OnceLock<(Arc<SignedBatch>, usize)>>;

struct Waiting {
    key_id: KeyId,
    leaf: Hash,
    slot: Slot,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    signing: bool,
    /// Threads between [`BatchSigner::begin`] and submitting their leaf.
    preparing: usize,
    /// When the oldest waiting leaf arrived.
    oldest: Option<Instant>,
}

/// The longest a leaf waits for sealers still preparing before its batch is signed
/// anyway (a slow sealer, e.g. one starting a new epoch, holds back no one for long).
pub const MAX_WAIT: Duration = Duration::from_millis(2);

/// A sealing thread's announcement that a leaf is coming (see [`BatchSigner::begin`]).
/// Dropping it without signing (an error while sealing) withdraws it.
pub struct Sealing<'a> {
    signer: &'a BatchSigner,
    submitted: bool,
}

impl std::fmt::Debug for Sealing<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealing").finish_non_exhaustive()
    }
}

impl Drop for Sealing<'_> {
    fn drop(&mut self) {
        if !self.submitted {
            let mut queue = self.signer.lock();
            queue.preparing = queue.preparing.saturating_sub(1);
            drop(queue);
            self.signer.signed.notify_all();
        }
    }
}

/// Signs concurrently sealed envelopes in adaptive batches. Shared by every sealing
/// thread of a node.
pub struct BatchSigner {
    cap: usize,
    queue: Mutex<Queue>,
    signed: Condvar,
    batches: AtomicU64,
    leaves: AtomicU64,
}

impl std::fmt::Debug for BatchSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchSigner")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

impl Default for BatchSigner {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl BatchSigner {
    /// A signer whose batches hold at most `cap` envelopes (at least 1, at most
    /// [`super::merkle::MAX_TREE_SIZE`]).
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.clamp(1, super::merkle::MAX_TREE_SIZE as usize),
            queue: Mutex::default(),
            signed: Condvar::new(),
            batches: AtomicU64::new(0),
            leaves: AtomicU64::new(0),
        }
    }

    /// Batches signed and leaves signed in them, since start (mean batch size).
    pub fn signed_so_far(&self) -> (u64, u64) {
        (
            self.batches.load(Ordering::Relaxed),
            self.leaves.load(Ordering::Relaxed),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Announces that this thread is sealing an envelope whose leaf it will pass to
    /// [`Sealing::sign`]; batches wait for it (up to [`MAX_WAIT`]).
    pub fn begin(&self) -> Sealing<'_> {
        self.lock().preparing += 1;
        Sealing {
            signer: self,
            submitted: false,
        }
    }
}

impl Sealing<'_> {
    /// Has `leaf` signed in a batch by `key`: the batch and the leaf's index in it.
    /// Blocks until its batch is signed: at once if no other sealer is preparing,
    /// otherwise at most [`MAX_WAIT`] plus the signatures ahead of it.
    pub fn sign(mut self, key: &SigningKey, leaf: Hash) -> (Arc<SignedBatch>, usize) {
        self.submitted = true;
        let signer = self.signer;
        let key_id = key.verifying_key().key_id('s');
        let slot: Slot = Arc::default();
        let mut queue = signer.lock();
        queue.preparing = queue.preparing.saturating_sub(1);
        queue.oldest.get_or_insert_with(Instant::now);
        queue.waiting.push(Waiting {
            key_id: key_id.clone(),
            leaf,
            slot: slot.clone(),
        });
        signer.signed.notify_all();
        loop {
            if let Some(done) = slot.get() {
                return done.clone();
            }
            let waited = queue.oldest.map_or(Duration::ZERO, |t| t.elapsed());
            let ready =
                queue.preparing == 0 || queue.waiting.len() >= signer.cap || waited >= MAX_WAIT;
            if !queue.signing && ready {
                // Lead: sign everything waiting under this key (a key rotation can
                // leave leaves for the other key; their own threads lead for them).
                queue.signing = true;
                let mut batch = Vec::new();
                let mut rest = Vec::new();
                for w in queue.waiting.drain(..) {
                    if w.key_id == key_id && batch.len() < signer.cap {
                        batch.push(w);
                    } else {
                        rest.push(w);
                    }
                }
                queue.oldest = (!rest.is_empty()).then(Instant::now);
                queue.waiting = rest;
                drop(queue);
                let leaves = batch.iter().map(|w| w.leaf).collect();
                // `batch` holds at least this thread's own leaf unless the cap was
                // reached by earlier ones; then the loop leads again.
                if let Some(signed) = SignedBatch::sign(leaves, key) {
                    signer.batches.fetch_add(1, Ordering::Relaxed);
                    signer
                        .leaves
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    let signed = Arc::new(signed);
                    for (index, w) in batch.iter().enumerate() {
                        let _ = w.slot.set((signed.clone(), index));
                    }
                }
                queue = signer.lock();
                queue.signing = false;
                signer.signed.notify_all();
                continue;
            }
            let timeout = MAX_WAIT
                .saturating_sub(waited)
                .max(Duration::from_micros(50));
            queue = signer
                .signed
                .wait_timeout(queue, timeout)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The most verified roots a receiver remembers; beyond it the set starts afresh.
const VERIFIED_ROOTS_CAPACITY: usize = 8192;

/// Batch roots whose signature this node has verified (envelope batches, receipt
/// batches), so the other members of a batch skip the Ed25519 verification. Keyed by the exact (key, size, root,
/// signature), so any bit changed in a later envelope's signature misses the cache and
/// fails verification like any forged signature. Key status (revocation, retirement,
/// validity) is still checked for every envelope, before the cache.
#[derive(Debug, Default)]
pub struct VerifiedRoots {
    roots: Mutex<HashSet<Hash>>,
}

impl VerifiedRoots {
    fn fingerprint(key_id: &KeyId, domain: &[u8], message: &[u8], signature: &[u8]) -> Hash {
        crate::crypto::digest_parts(&[
            &(domain.len() as u32).to_be_bytes(),
            domain,
            key_id.as_str().as_bytes(),
            &[0],
            &(message.len() as u32).to_be_bytes(),
            message,
            signature,
        ])
    }

    /// Whether this exact signature was verified before (no verification here).
    pub(crate) fn contains(
        &self,
        key_id: &KeyId,
        domain: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        let fingerprint = Self::fingerprint(key_id, domain, message, signature);
        self.roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&fingerprint)
    }

    /// Verifies `signature` over `domain || message` with `key` (whose id is
    /// `key_id`) unless this exact signature was verified before.
    pub(crate) fn verify(
        &self,
        key: &VerifyingKey,
        key_id: &KeyId,
        domain: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        if self.contains(key_id, domain, message, signature) {
            return true;
        }
        let fingerprint = Self::fingerprint(key_id, domain, message, signature);
        if key.verify(domain, &[message], signature).is_err() {
            return false;
        }
        let mut roots = self.roots.lock().unwrap_or_else(PoisonError::into_inner);
        if roots.len() >= VERIFIED_ROOTS_CAPACITY {
            roots.clear();
        }
        roots.insert(fingerprint);
        true
    }

    /// How many roots are remembered.
    pub fn len(&self) -> usize {
        self.roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
