//! `Deliver`: a pipeline per stream, so one partner's payloads are checked in parallel
//! but stored and answered in the order they arrived. Three tasks joined by bounded
//! channels:
//!
//! 1. [`read_and_check`]: read a payload (size-limited by tonic), slow down a partner
//!    over its rate, reserve its size from the stream's memory budget and start its
//!    checks on a blocking thread (crypto never runs on the async threads);
//! 2. [`store_in_order`]: in arrival order, hand each verdict to the log (accepted: a
//!    `Received` entry that claims the bulletin id, so a duplicate is answered as one
//!    and stored once, with its ingress decision in the same batch; refused: an entry
//!    recording the refusal, its code and reason);
//! 3. [`receipt_when_durable`]: in the same order, wait until the entry is durable,
//!    then sign and send the receipt. Nothing is acknowledged before it is on disk.

use std::sync::Arc;

use bytes::Bytes;
use liaison_core::receipt::{Outcome, Receipt, RejectCode, SignedReceipt};
use liaison_core::{AgencyId, BulletinId};
use liaison_proto::format::v1 as fmt;
use liaison_proto::v1 as pb;
use liaison_store::{Effect, PendingAppend};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tonic::{Status, Streaming};

use super::checks::{self, Checked, Rejection};
use crate::node::journal::{self, LogEvent};
use crate::node::state::{Admission, NodeState};

/// Payloads of one stream being checked or stored at once.
pub const DELIVERY_WINDOW: usize = 64;
/// Bytes of payloads one stream may hold in memory at once.
const STREAM_MEMORY_BUDGET: usize = 64 * 1024 * 1024;

/// Receipts (or the stream's end) on their way back to the partner.
pub(super) type ReceiptSender = mpsc::Sender<Result<fmt::SignedReceipt, Status>>;

/// One of the checks in [`checks`].
type Check = fn(&NodeState, &AgencyId, Bytes) -> Checked;

/// A payload being checked on a blocking thread, with the SHA-256 of its bytes.
type CheckTask = JoinHandle<(Checked, [u8; 32])>;

/// A stored (or refused) payload waiting for durability before its receipt.
struct Pending {
    append: PendingAppend,
    bulletin_id: Option<BulletinId>,
    envelope_sha256: [u8; 32],
    verdict: Verdict,
    /// Delivery workers to wake once it is durable (a recall relayed onward).
    wake: Vec<AgencyId>,
}

impl Pending {
    fn split(self) -> (PendingAppend, PendingRest) {
        let Pending {
            append,
            bulletin_id,
            envelope_sha256,
            verdict,
            wake,
        } = self;
        (
            append,
            PendingRest {
                bulletin_id,
                envelope_sha256,
                verdict,
                wake,
            },
        )
    }
}

/// A [`Pending`] apart from its append: what its receipt needs.
struct PendingRest {
    bulletin_id: Option<BulletinId>,
    envelope_sha256: [u8; 32],
    verdict: Verdict,
    wake: Vec<AgencyId>,
}

/// What the receipt will say once the entry is durable.
enum Verdict {
    Accepted,
    Purged,
    Rejected { code: RejectCode, reason: String },
}

/// Starts the three stages for one `Deliver` stream from `partner`.
pub(super) fn start(
    state: Arc<NodeState>,
    partner: AgencyId,
    inbound: Streaming<pb::SealedBulletin>,
    receipts: ReceiptSender,
) {
    let (checked_tx, checked_rx) = mpsc::channel(DELIVERY_WINDOW);
    let (stored_tx, stored_rx) = mpsc::channel(DELIVERY_WINDOW);
    tokio::spawn(read_and_check(
        state.clone(),
        partner.clone(),
        inbound,
        checked_tx,
        receipts.clone(),
    ));
    tokio::spawn(store_in_order(
        state.clone(),
        partner.clone(),
        checked_rx,
        stored_tx,
    ));
    tokio::spawn(receipt_when_durable(state, partner, stored_rx, receipts));
}

/// Stage 1: read each payload and start its checks, in parallel.
async fn read_and_check(
    state: Arc<NodeState>,
    partner: AgencyId,
    mut inbound: Streaming<pb::SealedBulletin>,
    checked: mpsc::Sender<CheckTask>,
    receipts: ReceiptSender,
) {
    let memory = Arc::new(Semaphore::new(STREAM_MEMORY_BUDGET / 1024));
    loop {
        let message = match inbound.message().await {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(status) => {
                let _ = receipts.send(Err(stream_error(&partner, status))).await;
                return;
            }
        };
        // Throttle, do not refuse: a partner over its rate is read more slowly.
        let per_minute = state
            .policy
            .snapshot()
            .partner(&partner)
            .map_or(60, |r| r.max_receive_per_minute);
        let wait = state.rates.take(&partner, per_minute);
        if !wait.is_zero() {
            tracing::debug!(%partner, wait_ms = wait.as_millis() as u64, "partner over its rate");
            tokio::time::sleep(wait).await;
        }
        let (check, payload) = which_check(message);
        let kib = (payload.len() / 1024 + 1).min(STREAM_MEMORY_BUDGET / 1024) as u32;
        let Ok(permit) = memory.clone().acquire_many_owned(kib).await else {
            return;
        };
        let (state, partner) = (state.clone(), partner.clone());
        let task = tokio::task::spawn_blocking(move || {
            let digest = liaison_core::crypto::sha256(&payload);
            let verdict = check(&state, &partner, payload);
            drop(permit);
            (verdict, digest)
        });
        if checked.send(task).await.is_err() {
            return;
        }
    }
}

/// The check for the one field of a `SealedBulletin` that carries the payload.
fn which_check(message: pb::SealedBulletin) -> (Check, Bytes) {
    if !message.recall.is_empty() {
        (checks::check_recall, message.recall)
    } else if !message.forwarded.is_empty() {
        (checks::check_forwarded, message.forwarded)
    } else if !message.notice.is_empty() {
        (checks::check_notice, message.notice)
    } else {
        (checks::check_envelope, message.envelope)
    }
}

/// The status that ends a stream whose reading failed. tonic reports a message over
/// the decoding limit as OUT_OF_RANGE; to a partner it is a limit it exceeded.
fn stream_error(partner: &AgencyId, status: Status) -> Status {
    if status.code() == tonic::Code::OutOfRange {
        tracing::warn!(%partner, %status, "refused an oversized envelope");
        Status::resource_exhausted(format!(
            "envelope exceeds the limit of {} bytes",
            liaison_core::limits::MAX_ENVELOPE_BYTES
        ))
    } else {
        tracing::debug!(%partner, %status, "delivery stream ended");
        status
    }
}

/// Stage 2: submit each verdict to the log in arrival order (group commit makes
/// consecutive submits share one flush).
async fn store_in_order(
    state: Arc<NodeState>,
    partner: AgencyId,
    mut checked: mpsc::Receiver<CheckTask>,
    stored: mpsc::Sender<Pending>,
) {
    while let Some(task) = checked.recv().await {
        let Ok((verdict, envelope_sha256)) = task.await else {
            return;
        };
        let pending = submit(&state, &partner, verdict, envelope_sha256);
        if stored.send(pending).await.is_err() {
            return;
        }
    }
}

/// The log entries that record one verdict, submitted as one atomic batch.
fn submit(
    state: &NodeState,
    partner: &AgencyId,
    verdict: Checked,
    envelope_sha256: [u8; 32],
) -> Pending {
    match verdict {
        Checked::Recall {
            recall,
            erase,
            onward,
        } => {
            let mut entry = journal::recall_entry(recall.to_bytes(), recall.bulletin_id)
                .about_agency(partner.clone())
                .with_effect(Effect::EraseBody { seq: erase });
            // The recall follows every copy this node forwarded: each forward record
            // (with its plaintext) is erased, a copy not yet delivered leaves the
            // queue, and the origin's signed recall is queued for each partner, whose
            // purge receipt comes back here.
            for (to, forward_seq) in &onward {
                entry = entry
                    .with_effect(Effect::EraseBody { seq: *forward_seq })
                    .with_effect(Effect::Dequeue {
                        partner: to.clone(),
                        published_seq: *forward_seq,
                    })
                    // Its notice to the originator, if still queued, has nothing
                    // left to send.
                    .with_effect(Effect::Dequeue {
                        partner: recall.origin.clone(),
                        published_seq: *forward_seq,
                    })
                    .with_effect(Effect::Enqueue(to.clone()));
            }

            Pending {
                append: state.log.submit(vec![entry]),
                bulletin_id: Some(recall.bulletin_id),
                envelope_sha256,
                verdict: Verdict::Purged,
                wake: onward.into_iter().map(|(to, _)| to).collect(),
            }
        }
        Checked::RecallDone { bulletin_id, done } => Pending {
            append: PendingAppend::ready(done),
            bulletin_id: Some(bulletin_id),
            envelope_sha256,
            verdict: Verdict::Purged,
            wake: Vec::new(),
        },
        Checked::Accepted {
            bulletin_id,
            body,
            decision,
            forwarded_by,
            index,
        } => {
            let mut entry = journal::received_entry(body, bulletin_id, partner)
                .with_effect(Effect::ClaimReceived(bulletin_id));
            for effect in index.effects {
                entry = entry.with_effect(effect);
            }
            // The decision is its own entry, in the same atomic batch, and so is the
            // link the check found to bulletins already held.
            let decision = LogEvent::IngressAllowed {
                decision,
                forwarded_by,
            }
            .entry()
            .about_bulletin(bulletin_id);
            let mut batch = vec![entry, decision];
            batch.extend(index.correlated);
            Pending {
                append: state.log.submit(batch),
                bulletin_id: Some(bulletin_id),
                envelope_sha256,
                verdict: Verdict::Accepted,
                wake: Vec::new(),
            }
        }
        Checked::Notice { bulletin_id, event } => Pending {
            append: state
                .log
                .submit(vec![event.entry().about_bulletin(bulletin_id)]),
            bulletin_id: Some(bulletin_id),
            envelope_sha256,
            verdict: Verdict::Accepted,
            wake: Vec::new(),
        },
        Checked::Rejected(rejection) => {
            record_rejection(state, partner, rejection, envelope_sha256)
        }
    }
}

fn record_rejection(
    state: &NodeState,
    partner: &AgencyId,
    rejection: Rejection,
    envelope_sha256: [u8; 32],
) -> Pending {
    let Rejection {
        bulletin_id,
        code,
        reason,
        decision,
        forwarded_from,
    } = rejection;
    let not_logged = match state.rejections.admit(partner) {
        Admission::Log { not_logged } => not_logged,
        Admission::Count => {
            tracing::debug!(%partner, %code, "rejected an envelope (over the logging budget)");
            return Pending {
                // Nothing stored; a rejection's receipt names no entry.
                append: PendingAppend::ready(liaison_store::Appended {
                    seq: 0,
                    hash: [0; 32],
                }),
                bulletin_id,
                envelope_sha256,
                verdict: Verdict::Rejected { code, reason },
                wake: Vec::new(),
            };
        }
    };
    tracing::warn!(%partner, bulletin = ?bulletin_id.map(|b| b.to_string()), %code, %reason, not_logged, "rejected an envelope");
    let mut entries = Vec::new();
    if code == RejectCode::ForwardingRefused {
        tracing::warn!(%partner, origin = ?forwarded_from.as_ref().map(ToString::to_string), %reason, "a partner forwarded a bulletin its originator's marking keeps from going further");
        entries.push(LogEvent::ForwardingViolation {
            forwarder: partner.clone(),
            origin: forwarded_from,
            reason: reason.clone(),
            decision: decision.clone(),
        });
    }
    entries.push(LogEvent::EnvelopeRejected {
        from: partner.clone(),
        envelope_sha256: data_encoding::HEXLOWER.encode(&envelope_sha256),
        code: code.as_str().to_owned(),
        reason: reason.clone(),
        decision,
    });
    let summary = (not_logged > 0).then(|| {
        LogEvent::RejectionsNotLogged {
            from: partner.clone(),
            count: not_logged,
        }
        .entry()
    });
    let entries = summary
        .into_iter()
        .chain(entries.into_iter().map(|event| match bulletin_id {
            Some(id) => event.entry().about_bulletin(id),
            None => event.entry(),
        }))
        .collect();
    Pending {
        append: state.log.submit(entries),
        bulletin_id,
        envelope_sha256,
        verdict: Verdict::Rejected { code, reason },
        wake: Vec::new(),
    }
}

/// The most receipts signed together.
const RECEIPT_BATCH: usize = 256;

/// Stage 3: once each entry is durable, sign its receipt and send it, in order. The
/// receipts of every entry already durable when one is signed are signed together,
/// with one signature over their Merkle root (a lone one is signed alone, so nothing
/// waits to fill a batch).
async fn receipt_when_durable(
    state: Arc<NodeState>,
    partner: AgencyId,
    mut stored: mpsc::Receiver<Pending>,
    receipts: ReceiptSender,
) {
    let me = state.node().config().agency.clone();
    let mut next: Option<(PendingAppend, PendingRest)> = None;
    loop {
        let (append, rest) = match next.take() {
            Some(pending) => pending,
            None => match stored.recv().await {
                Some(pending) => pending.split(),
                None => return,
            },
        };
        let mut batch = vec![(append.durable().await, rest)];
        // Whatever is queued behind it and already durable joins this batch; the
        // first not yet durable starts the next one.
        while batch.len() < RECEIPT_BATCH {
            let Ok(pending) = stored.try_recv() else {
                break;
            };
            let (append, rest) = pending.split();
            match append.now_durable() {
                Ok(durable) => batch.push((durable, rest)),
                Err(append) => {
                    next = Some((append, rest));
                    break;
                }
            }
        }
        let mut signing = Vec::with_capacity(batch.len());
        for (durable, rest) in batch {
            match answer(&state, &partner, &me, durable, rest) {
                Some(receipt) => signing.push(receipt),
                None => {
                    // Not durable: no receipt for it or anything after it. The sender
                    // keeps them queued and retries; what was durable is answered.
                    send_signed(&state, signing, &receipts).await;
                    let _ = receipts
                        .send(Err(Status::unavailable(
                            "the receiver cannot store right now",
                        )))
                        .await;
                    return;
                }
            }
        }
        if !send_signed(&state, signing, &receipts).await {
            return;
        }
    }
}

/// Signs `receipts` as one batch and sends them in order; false once the stream is
/// gone.
async fn send_signed(state: &NodeState, receipts: Vec<Receipt>, out: &ReceiptSender) -> bool {
    if receipts.is_empty() {
        return true;
    }
    // Signing (Ed25519, and the tree's hashes) runs off the async threads.
    let node = state.node();
    let signed = match tokio::task::spawn_blocking(move || {
        SignedReceipt::sign_batch(receipts, &node.keys().signing)
    })
    .await
    {
        Ok(signed) => signed,
        Err(e) => {
            tracing::error!(error = %e, "signing receipts failed");
            let _ = out
                .send(Err(Status::internal(
                    "the receiver could not sign receipts",
                )))
                .await;
            return false;
        }
    };
    for receipt in signed {
        let message = prost::Message::decode(receipt.to_bytes()).map_err(|e| {
            tracing::error!(error = %e, "a receipt this node signed does not decode");
            Status::internal("the receiver could not encode a receipt")
        });
        if out.send(message).await.is_err() {
            return false;
        }
    }
    true
}

/// The receipt `me` gives for one stored (or refused) payload, once its append has
/// an outcome; `None` if it could not be made durable.
fn answer(
    state: &NodeState,
    partner: &AgencyId,
    me: &AgencyId,
    durable: liaison_store::Result<Vec<liaison_store::Appended>>,
    pending: PendingRest,
) -> Option<Receipt> {
    // Accepted and purged receipts name the entry and its chain hash: the
    // receiver's signed statement of its log so far (see `ops::continuity`).
    if durable.is_ok() {
        for partner in &pending.wake {
            state.wake(partner);
        }
    }
    let (outcome, entry) = match (durable, pending.verdict) {
        (Ok(appended), Verdict::Purged) => {
            // Subscribers learn of the recall from the log.
            state.received.notify_waiters();
            let entry = appended.first().copied();
            let log_seq = entry.map_or(0, |a| a.seq);
            (Outcome::Purged { log_seq }, entry)
        }
        (Ok(appended), Verdict::Accepted) => {
            state.received.notify_waiters();
            let entry = appended.first().copied();
            let log_seq = entry.map_or(0, |a| a.seq);
            (Outcome::Accepted { log_seq }, entry)
        }
        (Err(liaison_store::Error::Duplicate { seq }), Verdict::Accepted) => {
            (Outcome::Duplicate { log_seq: seq }, None)
        }
        (Ok(_), Verdict::Rejected { code, reason }) => (Outcome::Rejected { code, reason }, None),
        (Err(e), _) => {
            tracing::error!(error = %e, "could not store a delivered envelope");
            return None;
        }
    };
    state.metrics.answered(partner, &outcome);
    Some(Receipt {
        bulletin_id: pending.bulletin_id,
        receiver: me.clone(),
        envelope_sha256: pending.envelope_sha256,
        outcome,
        log_hash: entry.map(|a| a.hash),
        time: state.clock.now(),
    })
}
