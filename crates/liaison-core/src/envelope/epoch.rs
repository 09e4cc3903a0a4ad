//! Per-epoch recipient keys (format v2). Instead of one HPKE encapsulation per
//! bulletin and recipient, a sender establishes one key-encryption key per (sender,
//! recipient key, epoch) with a single HPKE encapsulation, and wraps each bulletin's
//! content key under it with AES-256-GCM. Every envelope carries the epoch id and the
//! encapsulated key, so it opens on its own; both sides cache the epoch key.
//!
//! An epoch ends after [`EpochLimits`] (time and count, whichever first). Its key is
//! then dropped from the cache and, being an [`EpochSecret`], zeroed. What this
//! changes against format v1 (where every bulletin had its own encapsulation) is set
//! out in docs/DECISIONS.md: a key-encryption key stolen from memory opens the content
//! keys of its one epoch, one sender, one recipient; the recipient's long-term X25519
//! key opens everything sealed to it, exactly as in v1.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::RecipientKey;
use crate::crypto::{EncryptionKey, Entropy, EpochSecret, domain};
use crate::error::Result;
use crate::ids::{AgencyId, BulletinId, KeyId};

/// Length of an epoch id.
pub const EPOCH_ID_LEN: usize = 16;

/// When a sender ends an epoch and starts another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochLimits {
    /// The longest an epoch key is used (and kept).
    pub max_age: Duration,
    /// The most content keys wrapped under one epoch key.
    pub max_wraps: u64,
}

impl Default for EpochLimits {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(600),
            max_wraps: 100_000,
        }
    }
}

/// The HPKE `info` that binds an epoch key to its id, its sender and its recipient.
pub fn epoch_info(epoch_id: &[u8], sender: &AgencyId, recipient: &AgencyId) -> Vec<u8> {
    let mut info = Vec::with_capacity(domain::EPOCH.len() + EPOCH_ID_LEN + 64);
    info.extend_from_slice(domain::EPOCH);
    info.extend_from_slice(epoch_id);
    for agency in [sender, recipient] {
        // Agency ids are short (see `AgencyId`), so the length fits in a u32.
        info.extend_from_slice(&(agency.as_str().len() as u32).to_be_bytes());
        info.extend_from_slice(agency.as_str().as_bytes());
    }
    info
}

/// The associated data of one content key wrapped under an epoch key: binds the
/// wrap to its bulletin, its recipient, its epoch and the signed header (by its
/// SHA-256, computed once per envelope rather than fed to every recipient's AEAD).
pub fn wrap_aad(
    bulletin_id: &BulletinId,
    recipient: &AgencyId,
    epoch_id: &[u8],
    header_sha256: &[u8; 32],
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(domain::EPOCH_WRAP.len() + 96);
    aad.extend_from_slice(domain::EPOCH_WRAP);
    aad.extend_from_slice(&bulletin_id.to_bytes());
    aad.extend_from_slice(&(recipient.as_str().len() as u32).to_be_bytes());
    aad.extend_from_slice(recipient.as_str().as_bytes());
    aad.extend_from_slice(epoch_id);
    aad.extend_from_slice(header_sha256);
    aad
}

/// One sender-side epoch with one recipient key.
#[derive(Debug)]
pub struct SenderEpoch {
    id: [u8; EPOCH_ID_LEN],
    encapsulated: [u8; 32],
    secret: EpochSecret,
    started: Instant,
    wraps: AtomicU64,
}

impl SenderEpoch {
    /// The epoch id carried in each envelope.
    pub fn id(&self) -> &[u8; EPOCH_ID_LEN] {
        &self.id
    }

    /// The HPKE encapsulated key carried in each envelope.
    pub fn encapsulated(&self) -> &[u8; 32] {
        &self.encapsulated
    }

    pub(crate) fn secret(&self) -> &EpochSecret {
        &self.secret
    }

    fn is_over(&self, limits: &EpochLimits, now: Instant) -> bool {
        now.duration_since(self.started) >= limits.max_age
            || self.wraps.load(Ordering::Relaxed) >= limits.max_wraps
    }
}

/// A sender's current epoch with each recipient. Shared by every sealing thread.
#[derive(Debug, Default)]
pub struct SenderEpochs {
    limits: EpochLimits,
    current: Mutex<HashMap<AgencyId, (KeyBytes, Arc<SenderEpoch>)>>,
}

type KeyBytes = [u8; 32];

impl SenderEpochs {
    /// An empty cache whose epochs end at `limits`.
    pub fn new(limits: EpochLimits) -> Self {
        Self {
            limits,
            current: Mutex::default(),
        }
    }

    /// The epoch to wrap one more content key under for each of `recipients`, in
    /// order, with that wrap's number in the epoch (from 0; the wrap's nonce);
    /// starts a new epoch (one HPKE encapsulation) for a recipient with none, with a
    /// new key, or whose epoch reached its limits.
    pub fn for_recipients(
        &self,
        sender: &AgencyId,
        recipients: &[RecipientKey],
        rng: &mut impl Entropy,
    ) -> Result<Vec<(Arc<SenderEpoch>, u64)>> {
        let now = Instant::now();
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        recipients
            .iter()
            .map(|r| {
                let key = r.key.to_bytes();
                if let Some((k, epoch)) = current.get(&r.agency)
                    && *k == key
                    && now.duration_since(epoch.started) < self.limits.max_age
                {
                    let wrap = epoch.wraps.fetch_add(1, Ordering::Relaxed);
                    if wrap < self.limits.max_wraps {
                        return Ok((epoch.clone(), wrap));
                    }
                }
                let epoch = Arc::new(Self::start(sender, r, now, rng)?);
                current.insert(r.agency.clone(), (key, epoch.clone()));
                Ok((epoch, 0))
            })
            .collect()
    }

    fn start(
        sender: &AgencyId,
        recipient: &RecipientKey,
        now: Instant,
        rng: &mut impl Entropy,
    ) -> Result<SenderEpoch> {
        let mut id = [0u8; EPOCH_ID_LEN];
        rng.fill_bytes(&mut id);
        let (encapsulated, secret) = recipient
            .key
            .establish_epoch(&epoch_info(&id, sender, &recipient.agency), rng)?;
        Ok(SenderEpoch {
            id,
            encapsulated,
            secret,
            started: now,
            wraps: AtomicU64::new(1),
        })
    }

    /// Drops every epoch past its limits (for a node that has gone quiet: its last
    /// epoch keys must not outlive their age in memory).
    pub fn expire(&self) {
        let now = Instant::now();
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, (_, epoch)| !epoch.is_over(&self.limits, now));
    }

    /// How many epochs are live (for tests and metrics).
    pub fn live(&self) -> usize {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The most epoch keys a receiver keeps; beyond it the oldest half is dropped.
const RECEIVER_CACHE_CAPACITY: usize = 4096;

struct CachedEpoch {
    encapsulated: [u8; 32],
    key_id: KeyId,
    secret: EpochSecret,
    first_seen: Instant,
}

/// A receiver's cache of epoch keys it has derived, keyed by sender and epoch id, so
/// that only the first envelope of an epoch pays for an HPKE decapsulation. An entry
/// is kept for twice the epoch age (a sender's last envelopes of an epoch may arrive
/// late); a miss only costs the decapsulation again, never a failure.
pub struct ReceiverEpochs {
    keep_for: Duration,
    entries: Mutex<HashMap<(AgencyId, [u8; EPOCH_ID_LEN]), CachedEpoch>>,
}

impl std::fmt::Debug for ReceiverEpochs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverEpochs")
            .field("keep_for", &self.keep_for)
            .finish_non_exhaustive()
    }
}

impl Default for ReceiverEpochs {
    fn default() -> Self {
        Self::new(EpochLimits::default())
    }
}

impl ReceiverEpochs {
    /// An empty cache for senders using `limits`.
    pub fn new(limits: EpochLimits) -> Self {
        Self {
            keep_for: limits.max_age.saturating_mul(2),
            entries: Mutex::default(),
        }
    }

    /// The epoch key for `epoch_id` from `sender`, derived with `key` from
    /// `encapsulated` unless cached. The cache entry must match the encapsulated key
    /// and the key id exactly; anything else is derived afresh (and fails there if it
    /// is not genuine).
    pub(crate) fn secret(
        &self,
        sender: &AgencyId,
        recipient: &AgencyId,
        epoch_id: &[u8; EPOCH_ID_LEN],
        encapsulated: &[u8],
        key: &EncryptionKey,
    ) -> Result<EpochSecret> {
        let slot = (sender.clone(), *epoch_id);
        let key_id = key.public_key().key_id();
        {
            let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(hit) = entries.get(&slot)
                && hit.encapsulated.as_slice() == encapsulated
                && hit.key_id == key_id
            {
                return Ok(hit.secret.clone());
            }
        }
        let secret = key.accept_epoch(encapsulated, &epoch_info(epoch_id, sender, recipient))?;
        let mut stored = [0u8; 32];
        stored.copy_from_slice(encapsulated);
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= RECEIVER_CACHE_CAPACITY {
            entries.retain(|_, e| now.duration_since(e.first_seen) < self.keep_for);
            if entries.len() >= RECEIVER_CACHE_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            slot,
            CachedEpoch {
                encapsulated: stored,
                key_id,
                secret: secret.clone(),
                first_seen: now,
            },
        );
        Ok(secret)
    }

    /// Drops every cached key older than twice the epoch age.
    pub fn expire(&self) {
        let now = Instant::now();
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, e| now.duration_since(e.first_seen) < self.keep_for);
    }

    /// How many epoch keys are cached.
    pub fn cached(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
