//! The checks a delivered payload passes before anything is stored: a sealed envelope
//! from its origin, a forwarded envelope, or a recall. Each runs on a blocking thread
//! (signatures and decryption) and ends in one [`Checked`] verdict; a refusal carries
//! the [`RejectCode`] the partner's node will act on.

use bytes::Bytes;
use liaison_core::envelope::peek_bulletin_id;
use liaison_core::forward::ForwardedEnvelope;
use liaison_core::recall::SignedRecall;
use liaison_core::receipt::{Outcome, RejectCode, SignedReceipt};
use liaison_core::release::SignedReleaseGrant;
use liaison_core::{AgencyId, BulletinId, Marking, Receiver, SealedEnvelope};
use liaison_store::EntryKind;

use crate::node::journal::PolicyDecisionRecord;
use crate::node::state::NodeState;
use crate::ops::bulletins::Direction;

/// What the checks made of one payload.
pub(super) enum Checked {
    /// A verified recall of the bulletin received at entry `erase`, and of the copies
    /// this node forwarded (each partner and the entry of its forward record): the
    /// recall follows them.
    Recall {
        recall: SignedRecall,
        erase: u64,
        onward: Vec<(AgencyId, u64)>,
    },
    /// A recall already carried out, at this entry (its real hash: the receipt signs
    /// it, and a zero hash would later read as a forked log).
    RecallDone {
        bulletin_id: BulletinId,
        done: liaison_store::Appended,
    },
    /// To be stored: the envelope (or forwarded envelope) exactly as received.
    Accepted {
        bulletin_id: BulletinId,
        body: Bytes,
        /// The ingress decision, with rule and policy version.
        decision: PolicyDecisionRecord,
        /// Set when the partner forwarded another agency's bulletin.
        forwarded_by: Option<AgencyId>,
        /// Its selector index rows and any link to bulletins held, read here off the
        /// async threads.
        index: crate::ops::connections::IndexWrites,
    },
    /// A notice about our own bulletin's onward chain, checked: stored as this event.
    Notice {
        bulletin_id: BulletinId,
        event: crate::node::journal::LogEvent,
    },
    /// Refused: nothing is stored but the refusal itself.
    Rejected(Rejection),
}

/// Why a payload was refused, as the receipt and the log will say it.
pub(super) struct Rejection {
    /// The bulletin, when the payload decoded far enough to name it.
    pub bulletin_id: Option<BulletinId>,
    pub code: RejectCode,
    pub reason: String,
    /// The ingress decision, when the policy refused it.
    pub decision: Option<PolicyDecisionRecord>,
    /// The originator of a forwarded bulletin refused for breaking a rule of onward
    /// sharing: the forwarder broke its originator's marking.
    pub forwarded_from: Option<AgencyId>,
}

impl Rejection {
    fn new(bulletin_id: Option<BulletinId>, code: RejectCode, reason: impl Into<String>) -> Self {
        Self {
            bulletin_id,
            code,
            reason: reason.into(),
            decision: None,
            forwarded_from: None,
        }
    }

    fn of(bulletin_id: Option<BulletinId>, error: &liaison_core::Error) -> Self {
        Self::new(bulletin_id, RejectCode::from(error), error.to_string())
    }
}

impl From<Rejection> for Checked {
    fn from(rejection: Rejection) -> Self {
        Checked::Rejected(rejection)
    }
}

/// Judges `marking` from `partner` under one snapshot of the ingress policy; a denial
/// is a rejection naming the rule.
fn ingress(
    state: &NodeState,
    partner: &AgencyId,
    bulletin_id: BulletinId,
    marking: &Marking,
) -> Result<PolicyDecisionRecord, Box<Rejection>> {
    let policy = state.policy.snapshot();
    let decision = policy.ingress(partner, marking);
    let record = PolicyDecisionRecord::new(partner, &decision, &policy);
    if record.allowed {
        return Ok(record);
    }
    Err(Box::new(Rejection {
        bulletin_id: Some(bulletin_id),
        code: RejectCode::PolicyDenied,
        reason: format!("sharing policy: {}", record.describe()),
        decision: Some(record),
        forwarded_from: None,
    }))
}

/// What indexing `bulletin`'s selectors adds to its batch; nothing (logged) if the
/// selector key or the index cannot be read: the bulletin is still stored, only not
/// linked.
fn selector_index(
    state: &NodeState,
    bulletin: &liaison_core::Bulletin,
) -> crate::ops::connections::IndexWrites {
    crate::ops::connections::index(state, bulletin).unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot index a bulletin's selectors");
        crate::ops::connections::IndexWrites::default()
    })
}

/// A transient refusal if an attachment the bulletin sends beside its envelope is not
/// in place with the digest its signed content names: the sender pushes it first, so
/// this is a push that failed or raced; the sender retries.
fn attachments_missing(state: &NodeState, bulletin: &liaison_core::Bulletin) -> Option<Rejection> {
    match crate::ops::attachments::missing(state, &bulletin.id, &bulletin.content) {
        Ok(None) => None,
        Ok(Some(what)) => Some(Rejection::new(
            Some(bulletin.id),
            RejectCode::AttachmentMissing,
            what,
        )),
        Err(e) => Some(Rejection::new(
            Some(bulletin.id),
            RejectCode::StorageUnavailable,
            format!("cannot look for its attachments: {e}"),
        )),
    }
}

/// Checks an envelope delivered by its origin: every `open` check, then the ingress
/// policy on the verified header before paying for decryption.
pub(super) fn check_envelope(state: &NodeState, partner: &AgencyId, raw: Bytes) -> Checked {
    let envelope = match SealedEnvelope::decode(raw.clone()) {
        Ok(e) => e,
        Err(e) => return Rejection::of(peek_bulletin_id(&raw), &e).into(),
    };
    let id = envelope.header().bulletin_id;
    let now = state.clock.now();
    let verified = match envelope.verify_origin_with(
        &*state.partners.snapshot(),
        now,
        Some(&state.envelopes.roots),
    ) {
        Ok(verified) => verified,
        Err(e) => return Rejection::of(Some(id), &e).into(),
    };
    // Only the origin itself may deliver its envelope; a third party passes a
    // bulletin on as a forwarded envelope, which proves who forwarded it.
    if &verified.header().origin != partner {
        return Rejection::new(
            Some(id),
            RejectCode::WrongSender,
            format!(
                "relayed by {partner}, but the origin is {}; a third party must send a forwarded envelope",
                verified.header().origin
            ),
        )
        .into();
    }
    let decision = match ingress(state, partner, id, &verified.header().marking) {
        Ok(decision) => decision,
        Err(rejection) => return (*rejection).into(),
    };
    let node = state.node();
    let receiver = Receiver {
        agency: &node.config().agency,
        encryption_keys: node.decryption_keys(),
        epochs: Some(&state.envelopes.receiving),
    };
    match verified.open(receiver, now) {
        Ok(bulletin) => match attachments_missing(state, &bulletin) {
            Some(rejection) => rejection.into(),
            None => Checked::Accepted {
                bulletin_id: id,
                body: envelope.as_bytes().clone(),
                decision,
                forwarded_by: None,
                index: selector_index(state, &bulletin),
            },
        },
        Err(e) => Rejection::of(Some(id), &e).into(),
    }
}

/// Checks a forwarded envelope: the forwarder is the connection's partner and signed
/// the forwarding, the original verifies under its originator's key, its marking lets
/// it travel onward *by this node's own rules* (TLP, originator-control codes — the
/// forwarder should have refused, but this node does not rely on it) or a release grant
/// signed by the originator covers this forward, this node accepts the category from
/// the forwarder, and it decrypts.
pub(super) fn check_forwarded(state: &NodeState, partner: &AgencyId, raw: Bytes) -> Checked {
    let forwarded = match ForwardedEnvelope::decode(raw.clone()) {
        Ok(f) => f,
        Err(e) => return Rejection::of(peek_bulletin_id(&raw), &e).into(),
    };
    let header = forwarded.original().header();
    let (id, origin) = (header.bulletin_id, header.origin.clone());
    // A grant is checked before the marking it may widen: a forged, expired or
    // misaddressed one is refused for what it is.
    let released = match forwarded.release_grant(&*state.partners.snapshot()) {
        Ok(grant) => grant.is_some(),
        Err(e) => {
            let mut rejection = Rejection::of(Some(id), &e);
            rejection.forwarded_from = Some(origin);
            return rejection.into();
        }
    };
    let policy = state.policy.snapshot();
    let travels = policy.may_travel_onward(&origin, &header.marking, released);
    if !travels.is_allowed() {
        let record = PolicyDecisionRecord::new(partner, &travels, &policy);
        return Rejection {
            bulletin_id: Some(id),
            code: RejectCode::ForwardingRefused,
            reason: format!("forwarding refused: {}", record.describe()),
            decision: Some(record),
            forwarded_from: Some(origin),
        }
        .into();
    }
    let decision = match ingress(state, partner, id, &header.marking) {
        Ok(decision) => decision,
        Err(rejection) => return (*rejection).into(),
    };
    let node = state.node();
    let receiver = Receiver {
        agency: &node.config().agency,
        encryption_keys: node.decryption_keys(),
        epochs: Some(&state.envelopes.receiving),
    };
    match forwarded.open(
        receiver,
        &*state.partners.snapshot(),
        partner,
        state.clock.now(),
    ) {
        Ok(bulletin) => match attachments_missing(state, &bulletin) {
            Some(rejection) => rejection.into(),
            None => Checked::Accepted {
                bulletin_id: id,
                body: forwarded.as_bytes().clone(),
                decision,
                forwarded_by: Some(partner.clone()),
                index: selector_index(state, &bulletin),
            },
        },
        Err(e) => {
            let mut rejection = Rejection::of(Some(id), &e);
            if rejection.code == RejectCode::ForwardingRefused {
                rejection.forwarded_from = Some(origin);
            }
            rejection.into()
        }
    }
}

/// Checks a recall: signed by the bulletin's origin, delivered by the partner this node
/// received the bulletin from (the origin itself, or the partner that forwarded it here
/// and now relays the origin's recall). A repeated recall is answered as already done.
pub(super) fn check_recall(state: &NodeState, partner: &AgencyId, raw: Bytes) -> Checked {
    let recall = match SignedRecall::verify(raw, &*state.partners.snapshot()) {
        Ok(recall) => recall,
        Err(e) => {
            return Rejection::new(None, RejectCode::from(&e), format!("recall: {e}")).into();
        }
    };
    let id = recall.bulletin_id;
    let unavailable = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "cannot read the log to check a recall");
        Rejection::new(
            Some(id),
            RejectCode::StorageUnavailable,
            "the receiver cannot read its log right now",
        )
        .into()
    };
    let entries = match state.log.entries_for_bulletin(&id) {
        Ok(entries) => entries,
        Err(e) => return unavailable(&e),
    };
    if let Some(done) = entries.iter().find(|e| e.kind == EntryKind::Recall) {
        return Checked::RecallDone {
            bulletin_id: id,
            done: liaison_store::Appended {
                seq: done.seq,
                hash: done.hash,
            },
        };
    }
    let Some(received) = entries
        .iter()
        .find(|e| e.kind == EntryKind::Received && e.agency.as_ref() == Some(partner))
    else {
        return Rejection::new(
            Some(id),
            RejectCode::NothingToRecall,
            format!("no bulletin {id} from {partner} here to recall"),
        )
        .into();
    };
    let origin = match state.log.body(received) {
        Ok(body) => body.as_ref().and_then(origin_of),
        Err(e) => return unavailable(&e),
    };
    if origin.as_ref() != Some(&recall.origin) {
        return Rejection::new(
            Some(id),
            RejectCode::WrongSender,
            format!(
                "a recall signed by {} of bulletin {id}, which {} did not originate",
                recall.origin, recall.origin
            ),
        )
        .into();
    }
    // Its attachment files go now, before the purge receipt says it is erased (a
    // recall that then fails to store is retried and finds them gone: no harm).
    if let Err(e) = crate::ops::attachments::erase(state, &id) {
        return unavailable(&e);
    }
    match crate::ops::bulletins::onward_copies(state, &entries) {
        Ok(onward) => Checked::Recall {
            recall,
            erase: received.seq,
            onward,
        },
        Err(e) => unavailable(&e),
    }
}

/// The originator of a stored envelope, sealed or forwarded.
fn origin_of(body: &Bytes) -> Option<AgencyId> {
    if liaison_core::forward::is_forwarded(body) {
        ForwardedEnvelope::decode(body.clone())
            .ok()
            .map(|f| f.original().header().origin.clone())
    } else {
        SealedEnvelope::decode(body.clone())
            .ok()
            .map(|e| e.header().origin.clone())
    }
}

/// Checks a chain notice from `partner` about a bulletin this node originated: a
/// forward it made (its signed statement must verify and name our envelope), or a
/// downstream recipient's purge receipt it relays (signed by that recipient, a partner
/// of ours, for our bulletin); or, from a bulletin's originator, a release grant.
pub(super) fn check_notice(state: &NodeState, partner: &AgencyId, raw: Bytes) -> Checked {
    use liaison_proto::v1::chain_notice::Notice;
    let refuse = |id: Option<BulletinId>, code: RejectCode, reason: String| -> Checked {
        Rejection::new(id, code, reason).into()
    };
    let notice = match <liaison_proto::v1::ChainNotice as prost::Message>::decode(raw) {
        Ok(n) => n.notice,
        Err(e) => {
            return refuse(
                None,
                RejectCode::Malformed,
                format!("notice: does not decode: {e}"),
            );
        }
    };
    let partners = state.partners.snapshot();
    let b64 = |b: &[u8]| data_encoding::BASE64.encode(b);
    let (bulletin_id, event) = match notice {
        Some(Notice::Forwarded(bytes)) => {
            let forwarded = match ForwardedEnvelope::decode(bytes) {
                Ok(f) => f,
                Err(e) => return refuse(None, RejectCode::from(&e), format!("notice: {e}")),
            };
            let id = forwarded.original().header().bulletin_id;
            if forwarded.forwarder() != partner {
                return refuse(
                    Some(id),
                    RejectCode::WrongSender,
                    format!("a forward by {} told by {partner}", forwarded.forwarder()),
                );
            }
            if let Err(e) = forwarded.verify_forwarding(&*partners) {
                return refuse(Some(id), RejectCode::from(&e), format!("notice: {e}"));
            }
            let (forwarding, signature) = forwarded.signed_forwarding();
            let event = crate::node::journal::LogEvent::OnwardForwarded {
                forwarder: partner.clone(),
                to: forwarded.recipient().clone(),
                forwarded_at: forwarded.forwarded_at().to_string(),
                forwarding: b64(forwarding),
                signature: b64(signature),
            };
            (id, event)
        }
        Some(Notice::PurgeReceipt(bytes)) => {
            let Ok(unverified) = SignedReceipt::from_stored(bytes.clone()) else {
                return refuse(
                    None,
                    RejectCode::Malformed,
                    "notice: the receipt does not decode".into(),
                );
            };
            let receiver = unverified.receipt().receiver.clone();
            let id = unverified.receipt().bulletin_id;
            let Some(key) = partners
                .get(&receiver)
                .map(|p| p.identity.document().signing_key.key)
            else {
                return refuse(
                    id,
                    RejectCode::UnknownOrigin,
                    format!("notice: {receiver} is not a partner here"),
                );
            };
            let receipt = match SignedReceipt::verify(bytes, &key) {
                Ok(r) => r,
                Err(e) => return refuse(id, RejectCode::from(&e), format!("notice: {e}")),
            };
            let (Some(id), Outcome::Purged { .. }) = (id, &receipt.receipt().outcome) else {
                return refuse(
                    id,
                    RejectCode::Malformed,
                    "notice: not a purge receipt for a bulletin".into(),
                );
            };
            let event = crate::node::journal::LogEvent::OnwardPurged {
                relayed_by: partner.clone(),
                receiver,
                purged_at: receipt.receipt().time.to_string(),
                receipt: b64(&receipt.to_bytes()),
            };
            (id, event)
        }
        Some(Notice::ReleaseGrant(bytes)) => return check_release_grant(state, partner, bytes),
        Some(Notice::Acknowledgement(bytes)) => {
            let ack = match liaison_core::acknowledgement::SignedAcknowledgement::verify(
                bytes, &*partners,
            ) {
                Ok(a) => a,
                Err(e) => {
                    return refuse(
                        None,
                        RejectCode::from(&e),
                        format!("notice: acknowledgement: {e}"),
                    );
                }
            };
            let id = ack.bulletin_id;
            if &ack.recipient != partner {
                return refuse(
                    Some(id),
                    RejectCode::WrongSender,
                    format!("an acknowledgement by {} sent by {partner}", ack.recipient),
                );
            }
            let event = crate::node::journal::LogEvent::AcknowledgementReceived {
                recipient: partner.clone(),
                state: ack.state,
                note: ack.note.clone(),
                acknowledged_at: ack.time.to_string(),
                acknowledged_unix_ms: ack.time.0,
                signed: b64(&ack.to_bytes()),
            };
            (id, event)
        }
        None => return refuse(None, RejectCode::Malformed, "notice: empty".into()),
    };
    // Only about bulletins this node originated.
    let me = state.node().config().agency.clone();
    match crate::ops::bulletins::find(state, &bulletin_id) {
        Ok((stored, entries))
            if stored.direction == Direction::Out && stored.header().origin == me =>
        {
            // An acknowledgement only from an agency that holds it: a recipient, or a
            // partner one of them forwarded it to (as its signed notice told us).
            let holds = |agency: &AgencyId| {
                stored.header().recipients.iter().any(|r| &r.agency == agency)
                    || crate::ops::bulletins::views::onward_events(state, &entries)
                        .iter()
                        .any(|(_, e)| {
                            matches!(e, crate::node::journal::LogEvent::OnwardForwarded { to, .. } if to == agency)
                        })
            };
            match &event {
                crate::node::journal::LogEvent::AcknowledgementReceived { recipient, .. }
                    if !holds(recipient) =>
                {
                    refuse(
                        Some(bulletin_id),
                        RejectCode::NotARecipient,
                        format!("{recipient} did not receive bulletin {bulletin_id}"),
                    )
                }
                _ => Checked::Notice { bulletin_id, event },
            }
        }
        Ok(_) | Err(crate::error::Error::NotFound(_)) => refuse(
            Some(bulletin_id),
            RejectCode::WrongSender,
            format!("bulletin {bulletin_id} did not originate here"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the log to check a notice");
            refuse(
                Some(bulletin_id),
                RejectCode::StorageUnavailable,
                "the receiver cannot read its log right now".into(),
            )
        }
    }
}

/// Checks a release grant from `partner`: signed by it, about a bulletin it originated
/// and this node holds, naming this node among the holders.
fn check_release_grant(state: &NodeState, partner: &AgencyId, bytes: Bytes) -> Checked {
    let grant = match SignedReleaseGrant::verify(bytes, &*state.partners.snapshot()) {
        Ok(grant) => grant,
        Err(e) => {
            return Rejection::new(
                None,
                RejectCode::from(&e),
                format!("notice: release grant: {e}"),
            )
            .into();
        }
    };
    let id = grant.bulletin_id;
    let refuse = |code: RejectCode, reason: String| -> Checked {
        Rejection::new(Some(id), code, format!("notice: release grant: {reason}")).into()
    };
    if &grant.origin != partner {
        return refuse(
            RejectCode::WrongSender,
            format!("signed by {}, sent by {partner}", grant.origin),
        );
    }
    let me = state.node().config().agency.clone();
    if !grant.holders.contains(&me) {
        return refuse(
            RejectCode::NotARecipient,
            format!("{me} is not among the holders it names"),
        );
    }
    match crate::ops::bulletins::find(state, &id) {
        Ok((stored, _))
            if stored.direction == Direction::In && &stored.header().origin == partner =>
        {
            Checked::Notice {
                bulletin_id: id,
                event: crate::node::journal::LogEvent::ReleaseReceived {
                    origin: partner.clone(),
                    to: grant.to.clone(),
                    expires: grant.expires.to_string(),
                    grant: data_encoding::BASE64.encode(&grant.to_bytes()),
                },
            }
        }
        Ok(_) | Err(crate::error::Error::NotFound(_)) => refuse(
            RejectCode::NotARecipient,
            format!("this node holds no bulletin {id} from {partner}"),
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the log to check a release grant");
            refuse(
                RejectCode::StorageUnavailable,
                "the receiver cannot read its log right now".into(),
            )
        }
    }
}
