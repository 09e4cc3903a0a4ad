//! Onward sharing: pass a received bulletin on to a third partner where the originator's
//! marking and this node's policy allow.

use liaison_core::crypto::SystemRng;
use liaison_core::forward::ForwardedEnvelope;
use liaison_core::{AgencyId, BulletinId, Receiver, RecipientKey, SealedEnvelope, UnixMillis};
use liaison_proto::format::v1 as pb;
use liaison_store::{Effect, Entry, EntryKind};
use prost::Message as _;
use serde::{Deserialize, Serialize};

use super::{Direction, find};
use crate::error::{Error, Result};
use crate::node::journal::{self, LogEvent, PolicyDecisionRecord};
use crate::node::state::NodeState;

/// This node's onward copies among a bulletin's `entries`: the partner each forward
/// record went to, and the record's entry. Erased records are gone already.
///
/// Errors: the log cannot be read.
pub fn onward_copies(state: &NodeState, entries: &[Entry]) -> Result<Vec<(AgencyId, u64)>> {
    let mut copies = Vec::new();
    for entry in entries.iter().filter(|e| e.kind == EntryKind::Published) {
        let Some(body) = state.log.body(entry)? else {
            continue;
        };
        let Ok(record) = pb::PublishedRecord::decode(body) else {
            continue;
        };
        if !record.forwarded {
            continue;
        }
        if let Ok(forwarded) = ForwardedEnvelope::decode(record.envelope) {
            copies.push((forwarded.recipient().clone(), entry.seq));
        }
    }
    Ok(copies)
}

/// What a forward did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardView {
    /// The bulletin.
    pub id: String,
    /// Its originator.
    pub origin: String,
    /// The partner it is queued for.
    pub to: String,
    /// The decision, with rule and policy version.
    pub decision: String,
    /// The log entry recording the forward.
    pub log_seq: u64,
}

/// Passes a received bulletin on to partner `to`, if the originator's marking and this
/// node's policy allow it: CLEAR or GREEN only, no originator-control handling code,
/// the originator's `forward_to` naming `to` — or, instead of those three, a release
/// grant from the originator naming this node and `to` (then up to TLP:AMBER, and the
/// grant goes along) — and `to` allowed the marking. The
/// forwarded envelope carries the original, still verifiable, plus who forwarded it to
/// whom. A refusal is logged with its rule.
///
/// Errors: [`Error::PolicyDenied`] naming the rule, [`Error::InvalidRequest`],
/// [`Error::UnknownPartner`], [`Error::NotFound`].
pub fn forward(state: &NodeState, id: &BulletinId, to: &AgencyId) -> Result<ForwardView> {
    let (stored, entries) = find(state, id)?;
    if stored.direction != Direction::In {
        return Err(Error::InvalidRequest(format!(
            "{id} was published here; send it with `bulletin send`, forwarding is for bulletins received"
        )));
    }
    let origin = stored.header().origin.clone();
    if &origin == to {
        return Err(Error::InvalidRequest(format!(
            "{to} is the originator of {id}"
        )));
    }
    let partners = state.partners.snapshot();
    let partner = partners
        .get(to)
        .ok_or_else(|| Error::UnknownPartner(to.clone()))?;
    let grant = super::release::grant_covering(state, &entries, id, &origin, to)?;
    let policy = state.policy.snapshot();
    let decision = PolicyDecisionRecord::new(
        to,
        &policy.onward(&origin, to, &stored.header().marking, grant.is_some()),
        &policy,
    );
    let recorded = decision.describe();
    if !decision.allowed {
        let denied = LogEvent::ForwardDenied { decision };
        state.log.append(denied.entry().about_bulletin(*id))?;
        return Err(Error::PolicyDenied(format!("{to}: {recorded}")));
    }
    super::check_outbox_room(state, [to])?;
    let body = state
        .log
        .body(&stored.entry)?
        .ok_or_else(|| Error::NotFound(format!("{id} was erased")))?;
    if liaison_core::forward::is_forwarded(&body) {
        return Err(Error::InvalidRequest(format!(
            "{id} reached this node by forwarding; only its signed recipients may pass it on"
        )));
    }
    let original = SealedEnvelope::decode(body)?;
    let node = state.node();
    let receiver = Receiver {
        agency: &node.config().agency,
        encryption_keys: node.decryption_keys(),
        epochs: Some(&state.envelopes.receiving),
    };
    let to_key = RecipientKey {
        agency: to.clone(),
        key: partner.identity.document().encryption_key.key.clone(),
    };
    let now = UnixMillis::now();
    // Verify and wrap as of now: an expired bulletin is not passed on.
    let forwarded = liaison_core::forward::forward(
        &original,
        receiver,
        &*partners,
        &node.keys().signing,
        &to_key,
        grant.as_ref(),
        now,
        &mut SystemRng,
    )?;
    let content = stored.content.clone().unwrap_or_default();
    let own_copy = liaison_core::envelope::seal_own_copy(
        forwarded.original(),
        &pb::BulletinContent::from(&content).encode_to_vec(),
        &node.keys().encryption,
        &mut SystemRng,
    )?;
    let record = pb::PublishedRecord {
        envelope: forwarded.as_bytes().clone(),
        content: bytes::Bytes::new(),
        own_copy: Some(own_copy),
        refusals: Vec::new(),
        decisions: vec![decision.to_pb()],
        forwarded: true,
    };
    // The forward record is queued twice: for the partner it goes to, and, as a
    // signed notice, for the originator, who learns where its bulletin went.
    let entry = journal::published_entry(&record, *id)
        .with_effect(Effect::Enqueue(to.clone()))
        .with_effect(Effect::Enqueue(origin.clone()));
    let appended = state.log.append(entry)?;
    state.wake(to);
    state.wake(&origin);
    Ok(ForwardView {
        id: id.to_string(),
        origin: origin.to_string(),
        to: to.to_string(),
        decision: recorded,
        log_seq: appended.seq,
    })
}
