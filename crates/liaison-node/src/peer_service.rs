//! The peer API a partner's node calls: `Deliver`, `PushIdentity`, `Ping`.
//!
//! `Deliver` is a pipeline per stream, so one partner's envelopes are checked in
//! parallel but stored and answered in the order they arrived:
//!
//! 1. read an envelope (size-limited by tonic), reserve its size from the stream's
//!    memory budget, and start its checks on a blocking thread (decode with limits and
//!    every `open` check — crypto never runs on the async threads);
//! 2. in arrival order, hand each checked envelope to the log (accepted: a `Received`
//!    entry that claims the bulletin id, so a duplicate is answered as one and stored
//!    once; refused: an entry recording the refusal and its reason);
//! 3. in the same order, wait until the entry is durable, then sign and send the
//!    receipt. Nothing is acknowledged before it is on disk.

use std::sync::Arc;

use bytes::Bytes;
use liaison_core::forward::ForwardedEnvelope;
use liaison_core::receipt::{Outcome, Receipt, SignedReceipt};
use liaison_core::{AgencyId, Receiver, SealedEnvelope, UnixMillis};
use liaison_proto::format::v1 as fmt;
use liaison_proto::v1 as pb;
use liaison_store::{Effect, EntryKind, NewEntry, PendingAppend};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::state::NodeState;

/// Envelopes of one stream being checked or stored at once.
pub const DELIVERY_WINDOW: usize = 64;
/// Bytes of envelopes one stream may hold in memory at once.
const STREAM_MEMORY_BUDGET: usize = 64 * 1024 * 1024;

/// The partner that a connection authenticated as (set by the TLS accept loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedPartner(pub AgencyId);

/// The peer service.
pub struct PeerService {
    state: Arc<NodeState>,
}

impl PeerService {
    /// A service over `state`.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }
}

fn partner_of<T>(request: &Request<T>) -> Result<AgencyId, Status> {
    request
        .extensions()
        .get::<AuthenticatedPartner>()
        .map(|p| p.0.clone())
        .ok_or_else(|| Status::unauthenticated("no authenticated partner on this connection"))
}

/// What the checks made of one envelope.
enum Checked {
    /// A verified recall of the bulletin received at entry `erase`.
    Recall {
        recall: liaison_core::recall::SignedRecall,
        erase: u64,
    },
    /// A recall already carried out, at entry `seq`.
    RecallDone {
        bulletin_id: liaison_core::BulletinId,
        seq: u64,
    },
    Accepted {
        bulletin_id: liaison_core::BulletinId,
        /// What is stored: the envelope (or forwarded envelope) exactly as received.
        body: Bytes,
        /// The ingress decision, with rule and policy version.
        decision: String,
    },
    Rejected {
        bulletin_id: Option<liaison_core::BulletinId>,
        reason: String,
    },
}

fn check(state: &NodeState, partner: &AgencyId, raw: Bytes) -> Checked {
    let envelope = match SealedEnvelope::decode(raw) {
        Ok(e) => e,
        Err(e) => {
            return Checked::Rejected {
                bulletin_id: None,
                reason: e.to_string(),
            };
        }
    };
    let id = envelope.header().bulletin_id;
    let rejected = |reason: String| Checked::Rejected {
        bulletin_id: Some(id),
        reason,
    };
    let now = UnixMillis::now();
    let partners = state.partners.snapshot();
    let verified = match envelope.verify_origin(&*partners, now) {
        Ok(verified) => verified,
        Err(e) => return rejected(e.to_string()),
    };
    // Forwarding by a third party is a later feature: for now only the origin itself
    // may deliver its bulletins.
    if &verified.header().origin != partner {
        return rejected(format!(
            "relayed by {partner}, but the origin is {}; forwarding is not accepted",
            verified.header().origin
        ));
    }
    // Judged on the verified header, before paying for decryption, under one snapshot
    // of the policy.
    let policy = state.policy.snapshot();
    let decision = policy.ingress(partner, &verified.header().marking);
    let allowed = decision.is_allowed();
    let decision = format!("{decision} (policy {})", policy.version());
    if !allowed {
        return rejected(format!("sharing policy: {decision}"));
    }
    let node = state.node();
    let receiver = Receiver {
        agency: &node.config().agency,
        encryption_keys: node.decryption_keys(),
    };
    match verified.open(receiver, now) {
        Ok(_) => Checked::Accepted {
            bulletin_id: id,
            body: envelope.as_bytes().clone(),
            decision,
        },
        Err(e) => rejected(e.to_string()),
    }
}

/// Checks a forwarded envelope: the forwarder is the connection's partner and signed
/// the forwarding, the original verifies under its originator's key and allows onward
/// sharing, our policy accepts it from the forwarder, and it decrypts.
fn check_forwarded(state: &NodeState, partner: &AgencyId, raw: Bytes) -> Checked {
    let forwarded = match ForwardedEnvelope::decode(raw) {
        Ok(f) => f,
        Err(e) => {
            return Checked::Rejected {
                bulletin_id: None,
                reason: e.to_string(),
            };
        }
    };
    let header = forwarded.original().header();
    let id = header.bulletin_id;
    let rejected = |reason: String| Checked::Rejected {
        bulletin_id: Some(id),
        reason,
    };
    let policy = state.policy.snapshot();
    let decision = policy.ingress(partner, &header.marking);
    let allowed = decision.is_allowed();
    let decision = format!(
        "{decision} (policy {}; forwarded by {partner})",
        policy.version()
    );
    if !allowed {
        return rejected(format!("sharing policy: {decision}"));
    }
    let node = state.node();
    let receiver = Receiver {
        agency: &node.config().agency,
        encryption_keys: node.decryption_keys(),
    };
    match forwarded.open(
        receiver,
        &*state.partners.snapshot(),
        partner,
        UnixMillis::now(),
    ) {
        Ok(_) => Checked::Accepted {
            bulletin_id: id,
            body: forwarded.as_bytes().clone(),
            decision,
        },
        Err(e) => rejected(e.to_string()),
    }
}

/// Checks a recall: signed by the origin's key, delivered by the origin itself, about a
/// bulletin received from it. A repeated recall is answered as already done.
fn check_recall(state: &NodeState, partner: &AgencyId, raw: Bytes) -> Checked {
    let rejected = |bulletin_id, reason: String| Checked::Rejected {
        bulletin_id,
        reason,
    };
    let recall = match liaison_core::recall::SignedRecall::verify(raw, &*state.partners.snapshot())
    {
        Ok(recall) => recall,
        Err(e) => return rejected(None, format!("recall: {e}")),
    };
    let id = recall.bulletin_id;
    if &recall.origin != partner {
        return rejected(
            Some(id),
            format!("a recall by {} cannot come from {partner}", recall.origin),
        );
    }
    let entries = match state.log.entries_for_bulletin(&id) {
        Ok(entries) => entries,
        Err(e) => return rejected(Some(id), format!("cannot read the log: {e}")),
    };
    let from_partner = |kind| {
        entries
            .iter()
            .find(|e| e.kind == kind && e.agency.as_ref() == Some(partner))
            .map(|e| e.seq)
    };
    if let Some(seq) = from_partner(EntryKind::Recall) {
        return Checked::RecallDone {
            bulletin_id: id,
            seq,
        };
    }
    match from_partner(EntryKind::Received) {
        Some(seq) => Checked::Recall { recall, erase: seq },
        None => rejected(
            Some(id),
            format!("no bulletin {id} from {partner} here to recall"),
        ),
    }
}

/// A stored (or refused) envelope waiting for durability before its receipt.
struct Pending {
    append: PendingAppend,
    bulletin_id: Option<liaison_core::BulletinId>,
    envelope_sha256: [u8; 32],
    rejected: Option<String>,
    /// A recall: answered with a purge receipt.
    purge: bool,
}

#[tonic::async_trait]
impl pb::peer_server::Peer for PeerService {
    type DeliverStream = ReceiverStream<Result<fmt::SignedReceipt, Status>>;

    async fn deliver(
        &self,
        request: Request<Streaming<pb::SealedBulletin>>,
    ) -> Result<Response<Self::DeliverStream>, Status> {
        let partner = partner_of(&request)?;
        let mut inbound = request.into_inner();
        let state = self.state.clone();
        let (receipts_tx, receipts_rx) = mpsc::channel(DELIVERY_WINDOW);
        let (checked_tx, mut checked_rx) = mpsc::channel(DELIVERY_WINDOW);
        let (stored_tx, mut stored_rx) = mpsc::channel::<Pending>(DELIVERY_WINDOW);
        let memory = Arc::new(Semaphore::new(STREAM_MEMORY_BUDGET / 1024));

        // Stage 1: read and check, in parallel.
        let reader_partner = partner.clone();
        let reader_state = state.clone();
        let reader_receipts = receipts_tx.clone();
        tokio::spawn(async move {
            loop {
                let message = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(status) => {
                        // tonic reports a message over the decoding limit as OUT_OF_RANGE;
                        // to a partner it is a limit it exceeded.
                        let status = if status.code() == tonic::Code::OutOfRange {
                            tracing::warn!(partner = %reader_partner, %status, "refused an oversized envelope");
                            Status::resource_exhausted(format!(
                                "envelope exceeds the limit of {} bytes ({})",
                                liaison_core::limits::MAX_ENVELOPE_BYTES,
                                status.message()
                            ))
                        } else {
                            tracing::debug!(partner = %reader_partner, %status, "delivery stream ended");
                            status
                        };
                        let _ = reader_receipts.send(Err(status)).await;
                        break;
                    }
                };
                // Throttle, do not refuse: a partner over its rate is read more slowly.
                let per_minute = reader_state
                    .policy
                    .snapshot()
                    .partner(&reader_partner)
                    .map_or(60, |r| r.max_receive_per_minute);
                let wait = reader_state.rates.take(&reader_partner, per_minute);
                if !wait.is_zero() {
                    tracing::debug!(partner = %reader_partner, wait_ms = wait.as_millis() as u64, "partner over its rate");
                    tokio::time::sleep(wait).await;
                }
                // Exactly one of the fields carries the payload.
                let (check_fn, payload): (fn(&NodeState, &AgencyId, Bytes) -> Checked, Bytes) =
                    if !message.recall.is_empty() {
                        (check_recall, message.recall)
                    } else if !message.forwarded.is_empty() {
                        (check_forwarded, message.forwarded)
                    } else {
                        (check, message.envelope)
                    };
                let kib = (payload.len() / 1024 + 1).min(STREAM_MEMORY_BUDGET / 1024) as u32;
                let Ok(permit) = memory.clone().acquire_many_owned(kib).await else {
                    break;
                };
                let (state, partner) = (reader_state.clone(), reader_partner.clone());
                let digest = liaison_core::crypto::sha256(&payload);
                let task = tokio::task::spawn_blocking(move || {
                    let checked = check_fn(&state, &partner, payload);
                    drop(permit);
                    (checked, digest)
                });
                if checked_tx.send(task).await.is_err() {
                    break;
                }
            }
        });

        // Stage 2: store in arrival order (group commit makes consecutive submits share
        // one flush).
        let store_state = state.clone();
        let store_partner = partner.clone();
        tokio::spawn(async move {
            while let Some(task) = checked_rx.recv().await {
                let Ok((checked, envelope_sha256)) = task.await else {
                    break;
                };
                let pending = match checked {
                    Checked::Recall { recall, erase } => {
                        let entry = NewEntry::new(EntryKind::Recall, recall.to_bytes())
                            .about_bulletin(recall.bulletin_id)
                            .about_agency(store_partner.clone())
                            .with_effect(Effect::EraseBody { seq: erase });
                        Pending {
                            append: store_state.log.submit(vec![entry]),
                            bulletin_id: Some(recall.bulletin_id),
                            envelope_sha256,
                            rejected: None,
                            purge: true,
                        }
                    }
                    Checked::RecallDone { bulletin_id, seq } => Pending {
                        append: PendingAppend::ready(seq),
                        bulletin_id: Some(bulletin_id),
                        envelope_sha256,
                        rejected: None,
                        purge: true,
                    },
                    Checked::Accepted {
                        bulletin_id: id,
                        body,
                        decision,
                    } => {
                        let entry = NewEntry::new(EntryKind::Received, body)
                            .about_bulletin(id)
                            .about_agency(store_partner.clone())
                            .with_effect(Effect::ClaimReceived(id));
                        // The decision is its own entry, in the same atomic batch.
                        let decision = NewEntry::new(
                            EntryKind::PolicyDecision,
                            Bytes::from(
                                serde_json::json!({
                                    "event": "ingress-allowed",
                                    "from": store_partner.to_string(),
                                    "decision": decision,
                                })
                                .to_string(),
                            ),
                        )
                        .about_bulletin(id)
                        .about_agency(store_partner.clone());
                        Pending {
                            append: store_state.log.submit(vec![entry, decision]),
                            bulletin_id: Some(id),
                            envelope_sha256,
                            rejected: None,
                            purge: false,
                        }
                    }
                    Checked::Rejected {
                        bulletin_id,
                        reason,
                    } => {
                        tracing::warn!(partner = %store_partner, bulletin = ?bulletin_id.map(|b| b.to_string()), %reason, "rejected an envelope");
                        let mut entry = NewEntry::new(
                            EntryKind::PolicyDecision,
                            Bytes::from(
                                serde_json::json!({
                                    "event": "envelope-rejected",
                                    "from": store_partner.to_string(),
                                    "envelope_sha256": data_encoding::HEXLOWER.encode(&envelope_sha256),
                                    "reason": reason,
                                })
                                .to_string(),
                            ),
                        )
                        .about_agency(store_partner.clone());
                        if let Some(id) = bulletin_id {
                            entry = entry.about_bulletin(id);
                        }
                        Pending {
                            append: store_state.log.submit(vec![entry]),
                            bulletin_id,
                            envelope_sha256,
                            rejected: Some(reason),
                            purge: false,
                        }
                    }
                };
                if stored_tx.send(pending).await.is_err() {
                    break;
                }
            }
        });

        // Stage 3: once durable, sign and send the receipt, in order.
        let me = state.node().config().agency.clone();
        tokio::spawn(async move {
            while let Some(pending) = stored_rx.recv().await {
                let outcome = match (pending.append.durable().await, pending.rejected) {
                    (Ok(appended), None) if pending.purge => {
                        // Subscribers learn of the recall from the log.
                        state.received.notify_waiters();
                        Outcome::Purged {
                            log_seq: appended.first().map_or(0, |a| a.seq),
                        }
                    }
                    (Ok(appended), None) => {
                        state.received.notify_waiters();
                        Outcome::Accepted {
                            log_seq: appended.first().map_or(0, |a| a.seq),
                        }
                    }
                    (Err(liaison_store::Error::Duplicate { seq }), None) => {
                        Outcome::Duplicate { log_seq: seq }
                    }
                    (Ok(_), Some(reason)) => Outcome::Rejected { reason },
                    (Err(e), _) => {
                        // Not durable: no receipt. The sender keeps it queued and retries.
                        tracing::error!(error = %e, "could not store a delivered envelope");
                        let _ = receipts_tx
                            .send(Err(Status::unavailable(
                                "the receiver cannot store right now",
                            )))
                            .await;
                        break;
                    }
                };
                let receipt = Receipt {
                    bulletin_id: pending.bulletin_id,
                    receiver: me.clone(),
                    envelope_sha256: pending.envelope_sha256,
                    outcome,
                    time: UnixMillis::now(),
                };
                let signed = SignedReceipt::sign(receipt, &state.node().keys().signing);
                let message = fmt::SignedReceipt::decode_bytes(signed.to_bytes());
                if receipts_tx.send(message).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receipts_rx)))
    }

    async fn push_identity(
        &self,
        request: Request<fmt::SignedIdentity>,
    ) -> Result<Response<pb::PushIdentityResponse>, Status> {
        let partner = partner_of(&request)?;
        let bytes = Bytes::from(prost::Message::encode_to_vec(request.get_ref()));
        let state = self.state.clone();
        let outcome = tokio::task::spawn_blocking(move || accept_identity(&state, &partner, bytes))
            .await
            .map_err(|_| Status::internal("the identity check failed"))?;
        outcome.map(|version| Response::new(pb::PushIdentityResponse { version }))
    }

    async fn ping(
        &self,
        request: Request<pb::PingRequest>,
    ) -> Result<Response<pb::PingResponse>, Status> {
        partner_of(&request)?;
        Ok(Response::new(pb::PingResponse {
            agency: self.state.node().config().agency.to_string(),
            time_unix_ms: UnixMillis::now().0,
        }))
    }
}

/// Decoding helper: a signed receipt's wire message from its stored bytes.
trait DecodeBytes: Sized {
    fn decode_bytes(bytes: Bytes) -> Result<Self, Status>;
}

impl DecodeBytes for fmt::SignedReceipt {
    fn decode_bytes(bytes: Bytes) -> Result<Self, Status> {
        prost::Message::decode(bytes)
            .map_err(|e| Status::internal(format!("receipt encoding: {e}")))
    }
}

/// Takes a newer identity document from `partner`: signed by the same root, for the
/// same agency, with a higher version. A refusal is logged with its reason.
fn accept_identity(state: &NodeState, partner: &AgencyId, bytes: Bytes) -> Result<u64, Status> {
    let refuse = |status: Status| {
        let entry = NewEntry::new(
            EntryKind::PeerChange,
            Bytes::from(
                serde_json::json!({"event": "identity-refused", "from": partner.to_string(), "reason": status.message()})
                    .to_string(),
            ),
        )
        .about_agency(partner.clone());
        if let Err(e) = state.log.append(entry) {
            tracing::error!(error = %e, "could not log a refused identity");
        }
        tracing::warn!(%partner, reason = status.message(), "refused a pushed identity");
        status
    };
    let identity = liaison_core::SignedIdentity::from_bytes(bytes)
        .map_err(|e| refuse(Status::invalid_argument(format!("identity: {e}"))))?;
    let partners = state.partners.snapshot();
    let held = partners
        .get(partner)
        .ok_or_else(|| refuse(Status::permission_denied("not a partner")))?;
    let doc = identity.document();
    if &doc.agency != partner {
        return Err(refuse(Status::permission_denied(format!(
            "the identity of {} cannot be pushed by {partner}",
            doc.agency
        ))));
    }
    if identity.root_key() != held.identity.root_key() {
        return Err(refuse(Status::permission_denied(format!(
            "signed by root key {}, not by the root key {} this node verified for {partner}",
            identity.fingerprint(),
            held.identity.fingerprint()
        ))));
    }
    let held_version = held.identity.document().version;
    if doc.version == held_version && identity.to_bytes() == held.identity.to_bytes() {
        return Ok(held_version); // a retry of what we already hold
    }
    if doc.version <= held_version {
        return Err(refuse(Status::failed_precondition(format!(
            "version {} is not newer than version {held_version} held here",
            doc.version
        ))));
    }
    crate::partners::Partner::new(identity.clone())
        .map_err(|e| refuse(Status::invalid_argument(e.to_string())))?;
    let entry = NewEntry::new(
        EntryKind::PeerChange,
        Bytes::from(
            serde_json::json!({
                "event": "identity-updated",
                "agency": partner.to_string(),
                "from_version": held_version,
                "to_version": doc.version,
                "signing_key_id": doc.signing_key.key_id.to_string(),
                "encryption_key_id": doc.encryption_key.key_id.to_string(),
                "revoked": doc.revoked_keys.iter().map(|r| r.key_id.to_string()).collect::<Vec<_>>(),
            })
            .to_string(),
        ),
    )
    .about_agency(partner.clone())
    .with_effect(Effect::PutPeer {
        agency: partner.clone(),
        bundle: identity.to_bytes(),
    });
    state.log.append(entry).map_err(|e| {
        tracing::error!(error = %e, "could not store a pushed identity");
        Status::unavailable("the receiver cannot store right now")
    })?;
    state
        .reload_partners()
        .map_err(|e| Status::internal(e.to_string()))?;
    Ok(doc.version)
}
