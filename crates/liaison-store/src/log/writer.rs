//! The writer thread: the only code that writes to the tree. It drains every waiting
//! request into one sled batch (group commit), makes it durable with one flush plus
//! `fdatasync`, and only then answers the requests.
//!
//! When a write fails (a full disk, an I/O error) the writer answers every request with
//! [`Error::StorageFailing`] — nothing is acknowledged — and retries with backoff. sled
//! 0.34 keeps failing once it has met an I/O error, so recovery reopens it: when a probe
//! file can be written and synced again, the writer drops its sled handles, opens the
//! log afresh (sled recovers what was durable), reads the head back and resumes. What
//! was acknowledged before the failure was durable then and is there after.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use liaison_core::crypto;
use liaison_core::{AgencyId, UnixMillis};
use tokio::sync::oneshot;

use super::index;
use super::keys::*;
use super::trees::Batches;
use super::{
    Appended, Checkpoint, Head, LogOptions, MAX_REQUESTS_PER_BATCH, Request, Shared, StorageFailure,
};
use crate::durability::{self, BODIES_DIR, SledSync};
use crate::entry::{self, BodyPlacement, Effect, MAX_BODY_BYTES, NewEntry};
use crate::error::{Error, Result};

/// The writer thread: owns the head and the only write access to the tree.
pub(super) struct Writer {
    shared: Arc<Shared>,
    /// `None` only between dropping a failed sled and opening it again.
    db: Option<sled::Db>,
    sync: SledSync,
    head: Head,
    /// The time of the last entry: the next is never earlier.
    last_time: UnixMillis,
    last_checkpoint: u64,
    options: LogOptions,
    /// Set while writes fail; cleared by a successful recovery.
    failing: Option<StorageFailure>,
    /// How long to wait before the next recovery attempt.
    retry_in: Duration,
    /// Where sled's files are (the log's own, or a read-only copy's).
    sled_dir: PathBuf,
    /// A read-only copy: every write is refused.
    read_only: bool,
}

/// First wait before retrying a failed write, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// What one group commit is collecting.
#[derive(Default)]
struct PendingBatch {
    batch: Batches,
    /// Whether a body file was written (its directory is fsynced before the batch).
    wrote_body_files: bool,
    /// Claimed keys (received bulletins, request keys) in this batch, with their seq.
    claimed: std::collections::HashMap<Vec<u8>, u64>,
    /// Files of erased bodies, removed once the batch is durable.
    erase_files: Vec<PathBuf>,
    /// Outbox keys this batch queues (`Some(bytes)`) or takes out (`None`).
    outbox: std::collections::HashMap<Vec<u8>, Option<u64>>,
    /// What this batch changes in each partner's outbox count (entries, bytes).
    outbox_deltas: std::collections::HashMap<AgencyId, (i64, i64)>,
}

/// An entry encoded for the tree: its sequence number, stored value, the entry, and
/// its listing.
type Encoded<'e> = (u64, Vec<u8>, &'e NewEntry, Option<index::Listing>);

/// Everything one group commit collected from its requests.
struct Collected {
    pending: PendingBatch,
    /// The head after the last prepared entry.
    head: Head,
    prepared: Vec<Prepared>,
    checkpoint_replies: Vec<oneshot::Sender<Result<Checkpoint>>>,
}

/// Answers every request with the reason the log stopped accepting writes.
fn refuse_all(requests: Vec<Request>, reason: &str) {
    for request in requests {
        match request {
            Request::Append { reply, .. } => {
                drop(reply.send(Err(Error::StorageFailing(reason.into()))))
            }
            Request::Checkpoint { reply } => {
                drop(reply.send(Err(Error::StorageFailing(reason.into()))))
            }
            Request::SetSigner(_) => {}
        }
    }
}

/// An entry, its index rows and its effects, into the batch.
fn add_entry(batch: &mut Batches, encoded: Encoded<'_>, time: UnixMillis) {
    let (seq, stored, entry, listing) = encoded;
    batch.insert(&entry_key(seq)[..], stored);
    for (key, value) in index::rows_for(
        seq,
        entry.kind,
        time,
        entry.bulletin_id.as_ref(),
        entry.agency.as_ref(),
        listing.as_ref(),
    ) {
        batch.insert(key, value);
    }
    for effect in &entry.effects {
        apply_effect(batch, effect, seq);
    }
}

/// One effect of the entry at `seq`, into the batch.
fn apply_effect(batch: &mut Batches, effect: &Effect, seq: u64) {
    match effect {
        Effect::ClaimReceived(_) | Effect::ClaimRequestKey(_) => {
            if let Some(key) = claim_key(effect) {
                batch.insert(key, &seq.to_be_bytes()[..]);
            }
        }
        Effect::PutPeer { agency, bundle } => batch.insert(peer_key(agency), bundle.to_vec()),
        Effect::RemovePeer(agency) => batch.remove(peer_key(agency)),
        Effect::PutClient { name, record } => batch.insert(client_key(name), record.to_vec()),
        Effect::RemoveClient(name) => batch.remove(client_key(name)),
        Effect::PutRoster { operation, record } => {
            batch.insert(roster_key(operation), record.to_vec());
        }
        // Applied before the entries, in `prepare`, with the outbox counts.
        Effect::EraseBody { .. }
        | Effect::WithdrawQueryable { .. }
        | Effect::Enqueue(_)
        | Effect::Dequeue { .. }
        | Effect::Requeue { .. } => {}
        Effect::IdentityAcknowledged { partner, version } => {
            batch.insert(identity_ack_key(partner), &version.to_be_bytes()[..])
        }
        Effect::Delivered {
            partner,
            receiver_seq,
            receiver_hash,
            queued_seq,
        } => batch.insert(
            delivered_key(partner, *receiver_seq),
            [&queued_seq.to_be_bytes()[..], &receiver_hash[..]].concat(),
        ),
        Effect::ForgetDelivered {
            partner,
            receiver_seq,
        } => batch.remove(delivered_key(partner, *receiver_seq)),
        Effect::IndexSelectors(tags) => {
            for tag in tags {
                batch.insert(selector_key(tag, seq), &[][..]);
            }
            batch.insert(&entry_selectors_key(seq)[..], tags.concat());
        }
        Effect::IndexQueryable(pairs) => {
            for (index, (partner, fingerprint)) in (0..).zip(pairs) {
                batch.insert(
                    query_feed_key(partner, seq, index),
                    [&[FEED_ADD][..], fingerprint].concat(),
                );
            }
            batch.insert(&entry_queryable_key(seq)[..], encode_queryable(pairs));
        }
        Effect::CountQueries {
            partner,
            day,
            count,
        } => batch.insert(query_count_key(partner, *day), &count.to_be_bytes()[..]),
    }
}

/// An entry whose body goes: its sequence number, its blanked stored value, and the
/// listing rows that go with it.
type Erasure = (u64, Vec<u8>, Vec<Vec<u8>>, Vec<Row>);

/// A key to set to a value, or (`None`) to remove.
type Row = (Vec<u8>, Option<Vec<u8>>);

/// A query feed row's first byte: the fingerprint joins the filter, or leaves it.
pub(crate) const FEED_ADD: u8 = 1;
/// See [`FEED_ADD`].
pub(crate) const FEED_REMOVE: u8 = 0;

/// Feed rows written for erasures start at this index within the erasing entry, so
/// they never meet the rows of an addition by the same entry.
const ERASURE_FEED_INDEX: u32 = 1 << 31;

/// The batch rows that withdraw what entry `withdrawn` offered to private queries,
/// written by entry `seq` from feed index `first` on: a removal per fingerprint in
/// each partner's feed (the querier keeps counts, so a selector another bulletin still
/// offers stays), and the `Q` row removed (a value of `None`).
fn withdraw_queryable(
    tree: &super::trees::Trees,
    withdrawn: u64,
    seq: u64,
    first: u32,
) -> Result<Vec<Row>> {
    let Some(row) = tree.get(entry_queryable_key(withdrawn))? else {
        return Ok(Vec::new());
    };
    let mut rows: Vec<Row> = (first..)
        .zip(decode_queryable(&row))
        .map(|(index, (partner, fingerprint))| {
            (
                query_feed_key(&partner, seq, index),
                Some([&[FEED_REMOVE][..], &fingerprint].concat()),
            )
        })
        .collect();
    rows.push((entry_queryable_key(withdrawn).to_vec(), None));
    Ok(rows)
}

/// Sets each key with a value, removes each without.
fn put_rows(batch: &mut Batches, rows: Vec<Row>) {
    for (key, value) in rows {
        match value {
            Some(value) => batch.insert(key, value),
            None => batch.remove(key),
        }
    }
}

/// `Q` rows: each pair as the partner's length (1 byte), the partner, the fingerprint.
fn encode_queryable(pairs: &[(AgencyId, [u8; 8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (partner, fingerprint) in pairs {
        let name = partner.as_str().as_bytes();
        out.push(name.len().min(255) as u8);
        out.extend_from_slice(&name[..name.len().min(255)]);
        out.extend_from_slice(fingerprint);
    }
    out
}

/// The pairs of a `Q` row (a damaged tail is dropped: the row is ours, not a partner's).
fn decode_queryable(mut row: &[u8]) -> Vec<(AgencyId, [u8; 8])> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = row.split_first() {
        let len = usize::from(len);
        let (Some(name), Some(fingerprint)) = (rest.get(..len), rest.get(len..len + 8)) else {
            break;
        };
        let (Ok(name), Ok(fingerprint)) = (std::str::from_utf8(name), fingerprint.try_into())
        else {
            break;
        };
        if let Ok(partner) = name.parse() {
            out.push((partner, fingerprint));
        }
        row = &rest[len + 8..];
    }
    out
}

/// A change to an outbox: the key goes in (with the entry's size) or out.
struct OutboxChange {
    partner: AgencyId,
    key: Vec<u8>,
    /// `Some(bytes)`: queued; `None`: taken out.
    queued: Option<u64>,
    /// The size of what was queued before (`None`: nothing was).
    was: Option<u64>,
}

/// One request's entries, ready to go into the batch.
struct Prepared {
    reply: oneshot::Sender<Result<Vec<Appended>>>,
    appended: Vec<Appended>,
}

impl Writer {
    pub(super) fn new(
        shared: Arc<Shared>,
        db: sled::Db,
        sync: SledSync,
        (head, last_checkpoint): (Head, u64),
        options: LogOptions,
        (sled_dir, read_only): (PathBuf, bool),
    ) -> Self {
        let last_time = shared
            .tree()
            .and_then(|tree| super::tail_time(&tree, head))
            .unwrap_or(UnixMillis(0));
        Self {
            shared,
            db: Some(db),
            sync,
            head,
            last_time,
            last_checkpoint,
            options,
            failing: None,
            retry_in: RETRY_FIRST,
            sled_dir,
            read_only,
        }
    }

    pub(super) fn run(mut self, requests: mpsc::Receiver<Request>) {
        loop {
            let first = if self.failing.is_some() {
                // Retry on a timer as well: a node with nothing to write must still
                // notice that the disk has room again.
                match requests.recv_timeout(self.retry_in) {
                    Ok(first) => Some(first),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match requests.recv() {
                    Ok(first) => Some(first),
                    Err(_) => return,
                }
            };
            if self.failing.is_some() {
                self.try_recover();
            }
            let Some(first) = first else {
                continue;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_REQUESTS_PER_BATCH {
                match requests.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            self.commit(batch);
        }
    }

    fn commit(&mut self, requests: Vec<Request>) {
        if self.read_only {
            for request in requests {
                match request {
                    Request::Append { reply, .. } => drop(reply.send(Err(Error::ReadOnly))),
                    Request::Checkpoint { reply } => drop(reply.send(Err(Error::ReadOnly))),
                    Request::SetSigner(_) => {}
                }
            }
            return;
        }
        if let Some(failure) = &self.failing {
            refuse_all(requests, &failure.reason);
            return;
        }
        // Entry times never go backwards (a clock stepped back would otherwise break
        // the time order the lists' time filters rely on).
        let time = UnixMillis::now().max(self.last_time);
        let mut collected = self.collect(requests, time);
        let checkpoint = self.checkpoint_if_asked_or_due(&mut collected, time);
        let counted = self
            .count_outboxes(&mut collected.pending)
            .map_err(|e| format!("outbox counts cannot be read: {e}"));
        let Collected {
            pending,
            head,
            prepared,
            checkpoint_replies,
        } = collected;
        let started = std::time::Instant::now();
        let outcome = match counted {
            Ok(()) => self.write(pending.batch, pending.wrote_body_files),
            Err(e) => Err(e),
        };
        if let Some(observer) = &self.options.observer {
            (observer.0)(super::Commit {
                took: started.elapsed(),
                entries: head.seq.saturating_sub(self.head.seq) as usize,
                ok: outcome.is_ok(),
            });
        }
        if outcome.is_ok() {
            for file in &pending.erase_files {
                if let Err(e) = std::fs::remove_file(file) {
                    tracing::warn!(file = %file.display(), error = %e, "could not remove an erased body's file");
                }
            }
            self.shared.commits.fetch_add(1, Ordering::Relaxed);
            self.last_time = time;
            self.head = head;
            *self.shared.head.lock().unwrap_or_else(|p| p.into_inner()) = head;
            if let Some(Ok(c)) = &checkpoint {
                self.last_checkpoint = c.seq;
            }
        }
        for p in prepared {
            let _ = p.reply.send(match &outcome {
                Ok(()) => Ok(p.appended),
                Err(e) => Err(Error::StorageFailing(e.clone())),
            });
        }
        for reply in checkpoint_replies {
            let _ = reply.send(match (&outcome, &checkpoint) {
                (Ok(()), Some(Ok(c))) => Ok(c.clone()),
                (Err(e), _) => Err(Error::StorageFailing(e.clone())),
                (_, Some(Err(e))) => Err(Error::BadCheckpoint {
                    seq: head.seq,
                    problem: e.to_string(),
                }),
                (_, None) => Err(Error::Closed),
            });
        }
    }

    /// Prepares every request into one batch; a request that cannot be prepared is
    /// answered at once and leaves the batch untouched.
    fn collect(&mut self, requests: Vec<Request>, time: UnixMillis) -> Collected {
        let mut collected = Collected {
            pending: PendingBatch::default(),
            head: self.head,
            prepared: Vec::new(),
            checkpoint_replies: Vec::new(),
        };
        for request in requests {
            match request {
                Request::Append { entries, reply } => {
                    match self.prepare(&entries, collected.head, time, &mut collected.pending) {
                        Ok(appended) => {
                            if let Some(last) = appended.last() {
                                collected.head = Head {
                                    seq: last.seq,
                                    hash: last.hash,
                                };
                            }
                            collected.prepared.push(Prepared { reply, appended });
                        }
                        Err(e) => drop(reply.send(Err(e))),
                    }
                }
                Request::Checkpoint { reply } => collected.checkpoint_replies.push(reply),
                Request::SetSigner(signer) => self.options.checkpoint_signer = Some(signer),
            }
        }
        collected
    }

    /// Signs a checkpoint of the batch's head, into the batch, when one was asked for
    /// or `checkpoint_every` entries passed since the last.
    fn checkpoint_if_asked_or_due(
        &self,
        collected: &mut Collected,
        time: UnixMillis,
    ) -> Option<Result<Checkpoint>> {
        let head = collected.head;
        let due = self.options.checkpoint_every > 0
            && head.seq >= self.last_checkpoint + self.options.checkpoint_every;
        if collected.checkpoint_replies.is_empty() && !due {
            return None;
        }
        let checkpoint = self.sign_checkpoint(head, time);
        if let Ok(checkpoint) = &checkpoint {
            collected.pending.batch.insert(
                &checkpoint_key(checkpoint.seq)[..],
                checkpoint.signed.to_vec(),
            );
        }
        Some(checkpoint)
    }

    /// Puts one request's entries into the batch. External bodies are written (and
    /// fsynced) now, before the entries that name them; nothing touches the batch until
    /// every check has passed, so a refused request leaves it as it was.
    fn prepare(
        &self,
        entries: &[NewEntry],
        head: Head,
        time: UnixMillis,
        pending: &mut PendingBatch,
    ) -> Result<Vec<Appended>> {
        let claims = self.check_claims(entries, head, &pending.claimed)?;
        if let Some(big) = entries.iter().find(|e| e.body.len() > MAX_BODY_BYTES) {
            return Err(Error::TooLarge {
                size: big.body.len(),
                limit: MAX_BODY_BYTES,
            });
        }
        let (inserts, appended) = self.encode_entries(entries, head, time, pending)?;
        let (erasures, withdrawals) = self.prepare_erasures(entries, head, pending)?;
        let outbox = self.prepare_outbox(entries, head, pending)?;
        // Claimed only once the request is sure to go in: a refused request must not
        // make a later one in the same batch look like a duplicate.
        pending.claimed.extend(claims);
        for change in outbox {
            let delta = pending.outbox_deltas.entry(change.partner).or_default();
            let was = change.was.map_or(0, |b| b as i64);
            match change.queued {
                Some(bytes) => {
                    delta.0 += 1 - i64::from(change.was.is_some());
                    delta.1 += bytes as i64 - was;
                    pending
                        .batch
                        .insert(change.key.clone(), &bytes.to_be_bytes()[..]);
                }
                None => {
                    delta.0 -= i64::from(change.was.is_some());
                    delta.1 -= was;
                    pending.batch.remove(change.key.clone());
                }
            }
            pending.outbox.insert(change.key, change.queued);
        }
        let batch = &mut pending.batch;
        for (erased, blank, unlisted, feed) in erasures {
            batch.insert(&entry_key(erased)[..], blank);
            for key in unlisted {
                batch.remove(key);
            }
            put_rows(batch, feed);
        }
        put_rows(batch, withdrawals);
        // Only now, with every body file in place, does the request touch the batch.
        for encoded in inserts {
            add_entry(batch, encoded, time);
        }
        Ok(appended)
    }

    /// A bulletin is received once, a request key used once: checks claims against the
    /// tree, against earlier requests in this same batch and within the request, and
    /// returns this request's claims with the sequence number of each.
    fn check_claims(
        &self,
        entries: &[NewEntry],
        head: Head,
        claimed: &std::collections::HashMap<Vec<u8>, u64>,
    ) -> Result<Vec<(Vec<u8>, u64)>> {
        let mut claims: Vec<(Vec<u8>, u64)> = Vec::new();
        for (offset, entry) in (1..).zip(entries) {
            for key in entry.effects.iter().filter_map(claim_key) {
                let earlier = claims.iter().find(|(k, _)| *k == key).map(|(_, seq)| *seq);
                let existing = match earlier.or_else(|| claimed.get(&key).copied()) {
                    Some(seq) => Some(seq),
                    None => self
                        .shared
                        .tree()?
                        .get(&key)?
                        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)),
                };
                if let Some(seq) = existing {
                    return Err(Error::Duplicate { seq });
                }
                claims.push((key, head.seq + offset));
            }
        }
        Ok(claims)
    }

    /// Chains the entries after `head` and encodes them; large bodies go to their own
    /// fsynced files now.
    fn encode_entries<'e>(
        &self,
        entries: &'e [NewEntry],
        mut head: Head,
        time: UnixMillis,
        pending: &mut PendingBatch,
    ) -> Result<(Vec<Encoded<'e>>, Vec<Appended>)> {
        let mut appended = Vec::with_capacity(entries.len());
        let mut inserts = Vec::with_capacity(entries.len());
        for entry in entries {
            let body_sha256 = crypto::sha256(&entry.body);
            let external = entry.body.len() > entry::INLINE_BODY_LIMIT;
            if external {
                pending.wrote_body_files |=
                    durability::write_body(&self.shared.dir, &body_sha256, &entry.body)?;
            }
            let seq = head.seq + 1;
            let record = entry::record_for(entry, seq, head.hash, time, body_sha256);
            let inline: &[u8] = if external { &[] } else { &entry.body };
            let (stored, hash) = entry::encode_stored(&record, inline);
            let listing = self.options.indexer.as_ref().and_then(|indexer| {
                (indexer.0)(&index::IndexInput {
                    kind: entry.kind,
                    agency: entry.agency.as_ref(),
                    body: &entry.body,
                })
            });
            inserts.push((seq, stored, entry, listing));
            head = Head { seq, hash };
            appended.push(Appended { seq, hash });
        }
        Ok((inserts, appended))
    }

    /// Reads and blanks the entries whose bodies these entries erase, now, so that
    /// touching the batch later cannot fail half-way through a request.
    fn prepare_erasures(
        &self,
        entries: &[NewEntry],
        head: Head,
        pending: &mut PendingBatch,
    ) -> Result<(Vec<Erasure>, Vec<Row>)> {
        let mut erasures = Vec::new();
        let mut withdrawals = Vec::new();
        let erasing = (1..).zip(entries).flat_map(|(offset, entry)| {
            (ERASURE_FEED_INDEX..)
                .zip(entry.effects.iter().filter(|e| {
                    matches!(
                        e,
                        Effect::EraseBody { .. } | Effect::WithdrawQueryable { .. }
                    )
                }))
                .map(move |(index, effect)| (head.seq + offset, index, effect))
        });
        for (seq, first_index, effect) in erasing {
            let first = ERASURE_FEED_INDEX
                .wrapping_add((first_index - ERASURE_FEED_INDEX).wrapping_mul(0x1_0000));
            let erased = match effect {
                Effect::WithdrawQueryable { seq: withdrawn } => {
                    let tree = self.shared.tree()?;
                    withdrawals.extend(withdraw_queryable(&tree, *withdrawn, seq, first)?);
                    continue;
                }
                Effect::EraseBody { seq: erased } => erased,
                _ => continue,
            };
            let missing = || Error::Tampered {
                seq: *erased,
                problem: "the entry to erase is missing or malformed".into(),
            };
            let stored = self
                .shared
                .tree()?
                .get(entry_key(*erased))?
                .ok_or_else(missing)?;
            let current = entry::decode_stored(*erased, &stored)?;
            if current.placement == BodyPlacement::External {
                // The body's own file goes once the batch is durable.
                pending.erase_files.push(durability::body_path(
                    &self.shared.dir,
                    &current.body_sha256,
                ));
            }
            // An erased bulletin leaves the lists with its body.
            let tree = self.shared.tree()?;
            let mut unlisted = Vec::new();
            if let Some(row) = tree.get(index::listing_key(*erased))? {
                let row = index::decode_listing(*erased, &row)?;
                unlisted.extend(index::listing_keys(*erased, &row.listing));
                if let Some(expires) = row.listing.expires {
                    unlisted.push(index::expiry_key(expires, *erased).to_vec());
                }
            }
            // ...and the selector index.
            if let Some(tags) = tree.get(entry_selectors_key(*erased))? {
                for tag in tags.chunks_exact(16) {
                    if let Ok(tag) = <[u8; 16]>::try_from(tag) {
                        unlisted.push(selector_key(&tag, *erased));
                    }
                }
                unlisted.push(entry_selectors_key(*erased).to_vec());
            }
            // ...and partners' query filters: each fingerprint it offered leaves, by a
            // removal in the partner's feed (the querier keeps counts, so a selector
            // another bulletin still offers stays).
            let feed = withdraw_queryable(&tree, *erased, seq, first)?;
            erasures.push((
                *erased,
                entry::erase_stored(&stored).ok_or_else(missing)?,
                unlisted,
                feed,
            ));
        }
        Ok((erasures, withdrawals))
    }

    /// The outbox changes of these entries, each with what was queued before (from
    /// earlier requests of this batch, or the tree), so that the counts stay exact
    /// when an entry is queued twice or taken out of an outbox it is not in.
    fn prepare_outbox(
        &self,
        entries: &[NewEntry],
        head: Head,
        pending: &PendingBatch,
    ) -> Result<Vec<OutboxChange>> {
        let mut changes: Vec<OutboxChange> = Vec::new();
        let tree = self.shared.tree()?;
        for (offset, entry) in (1..).zip(entries) {
            let seq = head.seq + offset;
            for effect in &entry.effects {
                let (partner, queued_seq, queue) = match effect {
                    Effect::Enqueue(partner) => (partner, seq, true),
                    Effect::Requeue {
                        partner,
                        queued_seq,
                    } => (partner, *queued_seq, true),
                    Effect::Dequeue {
                        partner,
                        published_seq,
                    } => (partner, *published_seq, false),
                    _ => continue,
                };
                let key = [outbox_prefix(partner), queued_seq.to_be_bytes().to_vec()].concat();
                let earlier = changes
                    .iter()
                    .rev()
                    .find(|c| c.key == key)
                    .map(|c| c.queued)
                    .or_else(|| pending.outbox.get(&key).copied());
                let was = match earlier {
                    Some(state) => state,
                    None => match tree.get(&key)? {
                        Some(value) => Some(index::queued_bytes(&tree, &value, queued_seq)?),
                        None => None,
                    },
                };
                let queued = if !queue {
                    None
                } else if queued_seq == seq {
                    Some(entry.body.len() as u64)
                } else {
                    Some(match tree.get(entry_key(queued_seq))? {
                        Some(stored) => entry::decode_stored(queued_seq, &stored)?.body_len,
                        None => 0,
                    })
                };
                changes.push(OutboxChange {
                    partner: partner.clone(),
                    key,
                    queued,
                    was,
                });
            }
        }
        Ok(changes)
    }

    /// The outbox counts after this batch, into the batch.
    fn count_outboxes(&self, pending: &mut PendingBatch) -> Result<()> {
        let tree = self.shared.tree()?;
        for (partner, (entries, bytes)) in pending.outbox_deltas.drain() {
            if entries == 0 && bytes == 0 {
                continue;
            }
            let key = index::outbox_count_key(&partner);
            let (held_entries, held_bytes) = tree
                .get(&key)?
                .map(|v| index::decode_count(&v))
                .unwrap_or((0, 0));
            let entries = (held_entries as i64 + entries).max(0) as u64;
            let bytes = (held_bytes as i64 + bytes).max(0) as u64;
            if entries == 0 {
                pending.batch.remove(key);
            } else {
                pending
                    .batch
                    .insert(key, index::encode_count((entries, bytes)).to_vec());
            }
        }
        Ok(())
    }

    fn sign_checkpoint(&self, head: Head, time: UnixMillis) -> Result<Checkpoint> {
        let signer =
            self.options
                .checkpoint_signer
                .as_ref()
                .ok_or_else(|| Error::BadCheckpoint {
                    seq: head.seq,
                    problem: "this log was opened without a checkpoint signer".into(),
                })?;
        Ok(Checkpoint::sign(
            &signer.agency,
            head.seq,
            head.hash,
            time,
            &signer.key,
        ))
    }

    /// Applies the batch and makes it durable. A failure leaves the batch's durability
    /// unknown (sled may have written part of it), so the writer refuses everything
    /// until [`Writer::try_recover`] has reopened the log and read back what is there.
    fn write(&mut self, batch: Batches, wrote_body_files: bool) -> Result<(), String> {
        let outcome = self.apply_and_flush(batch, wrote_body_files);
        if let Err(reason) = &outcome {
            tracing::error!(%reason, "log writes failing: nothing more is acknowledged until a write succeeds; retrying by itself (free space or fix the disk)");
            let failure = StorageFailure {
                reason: reason.clone(),
                since: UnixMillis::now(),
                attempts: 0,
            };
            self.shared.set_failure(Some(failure.clone()));
            self.failing = Some(failure);
            self.retry_in = RETRY_FIRST;
        }
        outcome
    }

    fn apply_and_flush(&mut self, batch: Batches, wrote_body_files: bool) -> Result<(), String> {
        if wrote_body_files {
            durability::fsync_dir(&self.shared.dir.join(BODIES_DIR)).map_err(|e| e.to_string())?;
        }
        let db = self.db.as_ref().ok_or("the log is being reopened")?;
        self.shared
            .tree()
            .and_then(|trees| trees.apply(&batch))
            .map_err(|e| e.to_string())?;
        db.flush()
            .map_err(Error::from)
            .and_then(|_| self.sync.after_flush())
            .map_err(|e| format!("flush failed: {e}"))
    }

    /// One recovery attempt: if a probe file can be written and synced in the log's
    /// directory, drop sled and open it again, then read the head back from what sled
    /// recovered. On failure the log stays failing and the wait before the next attempt
    /// doubles.
    fn try_recover(&mut self) {
        let Some(mut failure) = self.failing.take() else {
            return;
        };
        failure.attempts += 1;
        match self.reopen() {
            Ok(()) => {
                tracing::info!(
                    failed_since = %failure.since,
                    attempts = failure.attempts,
                    head = self.head.seq,
                    "log writes work again; resuming"
                );
                self.shared.set_failure(None);
                self.retry_in = RETRY_FIRST;
            }
            Err(e) => {
                failure.reason = e.to_string();
                self.shared.set_failure(Some(failure.clone()));
                self.failing = Some(failure);
                self.retry_in = (self.retry_in * 2).min(RETRY_MAX);
            }
        }
    }

    fn reopen(&mut self) -> Result<()> {
        durability::probe_writable(&self.shared.dir)?;
        // Every handle on the failed sled must go before it can be opened again;
        // readers get `StorageFailing` for these few milliseconds.
        self.shared.set_tree(None);
        self.db = None;
        let sled_dir = self.sled_dir.clone();
        let db = super::open_sled(&sled_dir, self.shared.cache_bytes)?;
        let tree = super::trees::Trees::open(&db)?;
        let head = super::read_head(&tree)?;
        let last_checkpoint = super::last_checkpoint(&tree)?.map_or(0, |c| c.seq);
        self.sync = SledSync::new(&sled_dir)?;
        self.last_time = super::tail_time(&tree, head)?;
        self.head = head;
        self.last_checkpoint = last_checkpoint;
        *self.shared.head.lock().unwrap_or_else(|p| p.into_inner()) = head;
        self.db = Some(db);
        self.shared.set_tree(Some(tree));
        Ok(())
    }
}
