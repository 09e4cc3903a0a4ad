//! The checks a delivered payload passes before anything is stored: a sealed envelope
//! from its origin, a forwarded envelope, or a recall. Each runs on a blocking thread
//! (signatures and decryption) and ends in one [`Checked`] verdict; a refusal carries
//! the [`RejectCode`] the partner's node will act on.

use bytes::Bytes;
use liaison_core::envelope::peek_bulletin_id;
use liaison_core::forward::ForwardedEnvelope;
use liaison_core::recall::SignedRecall;
use liaison_core::receipt::RejectCode;
use liaison_core::{AgencyId, BulletinId, Marking, Receiver, SealedEnvelope};
use liaison_store::EntryKind;

use crate::node::journal::PolicyDecisionRecord;
use crate::node::state::NodeState;

/// What the checks made of one payload.
pub(super) enum Checked {
    /// A verified recall of the bulletin received at entry `erase`.
    Recall { recall: SignedRecall, erase: u64 },
    /// A recall already carried out, at entry `seq`.
    RecallDone { bulletin_id: BulletinId, seq: u64 },
    /// To be stored: the envelope (or forwarded envelope) exactly as received.
    Accepted {
        bulletin_id: BulletinId,
        body: Bytes,
        /// The ingress decision, with rule and policy version.
        decision: PolicyDecisionRecord,
        /// Set when the partner forwarded another agency's bulletin.
        forwarded_by: Option<AgencyId>,
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

/// Checks an envelope delivered by its origin: every `open` check, then the ingress
/// policy on the verified header before paying for decryption.
pub(super) fn check_envelope(state: &NodeState, partner: &AgencyId, raw: Bytes) -> Checked {
    let envelope = match SealedEnvelope::decode(raw.clone()) {
        Ok(e) => e,
        Err(e) => return Rejection::of(peek_bulletin_id(&raw), &e).into(),
    };
    let id = envelope.header().bulletin_id;
    let now = state.clock.now();
    let verified = match envelope.verify_origin(&*state.partners.snapshot(), now) {
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
    };
    match verified.open(receiver, now) {
        Ok(_) => Checked::Accepted {
            bulletin_id: id,
            body: envelope.as_bytes().clone(),
            decision,
            forwarded_by: None,
        },
        Err(e) => Rejection::of(Some(id), &e).into(),
    }
}

/// Checks a forwarded envelope: the forwarder is the connection's partner and signed
/// the forwarding, the original verifies under its originator's key, its marking lets
/// it travel onward *by this node's own rules* (TLP, originator-control codes — the
/// forwarder should have refused, but this node does not rely on it), this node
/// accepts the category from the forwarder, and it decrypts.
pub(super) fn check_forwarded(state: &NodeState, partner: &AgencyId, raw: Bytes) -> Checked {
    let forwarded = match ForwardedEnvelope::decode(raw.clone()) {
        Ok(f) => f,
        Err(e) => return Rejection::of(peek_bulletin_id(&raw), &e).into(),
    };
    let header = forwarded.original().header();
    let (id, origin) = (header.bulletin_id, header.origin.clone());
    let policy = state.policy.snapshot();
    let travels = policy.may_travel_onward(&origin, &header.marking);
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
    };
    match forwarded.open(
        receiver,
        &*state.partners.snapshot(),
        partner,
        state.clock.now(),
    ) {
        Ok(_) => Checked::Accepted {
            bulletin_id: id,
            body: forwarded.as_bytes().clone(),
            decision,
            forwarded_by: Some(partner.clone()),
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

/// Checks a recall: signed by the origin's key, delivered by the origin itself, about a
/// bulletin received from it. A repeated recall is answered as already done.
pub(super) fn check_recall(state: &NodeState, partner: &AgencyId, raw: Bytes) -> Checked {
    let recall = match SignedRecall::verify(raw, &*state.partners.snapshot()) {
        Ok(recall) => recall,
        Err(e) => {
            return Rejection::new(None, RejectCode::from(&e), format!("recall: {e}")).into();
        }
    };
    let id = recall.bulletin_id;
    if &recall.origin != partner {
        return Rejection::new(
            Some(id),
            RejectCode::WrongSender,
            format!("a recall by {} cannot come from {partner}", recall.origin),
        )
        .into();
    }
    let entries = match state.log.entries_for_bulletin(&id) {
        Ok(entries) => entries,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the log to check a recall");
            return Rejection::new(
                Some(id),
                RejectCode::StorageUnavailable,
                "the receiver cannot read its log right now",
            )
            .into();
        }
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
        None => Rejection::new(
            Some(id),
            RejectCode::NothingToRecall,
            format!("no bulletin {id} from {partner} here to recall"),
        )
        .into(),
    }
}
