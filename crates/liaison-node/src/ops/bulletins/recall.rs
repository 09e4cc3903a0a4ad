//! Recall by the originator: a signed recall to every recipient the bulletin reached, and
//! withdrawal from the outboxes of those it had not.

use liaison_core::BulletinId;
use liaison_store::{Effect, EntryKind};
use serde::{Deserialize, Serialize};

use super::{Delivery, Direction, delivery, find};
use crate::error::{Error, Result};
use crate::node::journal::{self};
use crate::node::state::NodeState;

/// What a recall did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallView {
    /// The bulletin.
    pub id: String,
    /// Recipients that had it: the signed recall is queued for each.
    pub recall_sent_to: Vec<String>,
    /// Recipients that had not received it yet: taken out of their queue instead.
    pub withdrawn_before_delivery: Vec<String>,
}

/// Recalls a bulletin this node published: a recall signed with the origin's key goes
/// to every recipient that received it, and the bulletin leaves the queue of those that
/// had not yet. Each recipient erases it and answers with a signed purge receipt.
///
/// Errors: [`Error::NotFound`], [`Error::InvalidRequest`] for a bulletin received (only
/// the originator recalls) or already recalled.
pub fn recall(state: &NodeState, id: &BulletinId, reason: &str) -> Result<RecallView> {
    if reason.trim().is_empty() || reason.len() > 1024 {
        return Err(Error::InvalidRequest(
            "reason: give 1-1024 bytes saying why".into(),
        ));
    }
    let (stored, entries) = find(state, id)?;
    if stored.direction != Direction::Out {
        return Err(Error::InvalidRequest(format!(
            "{id} was received from {}; only the originator can recall it",
            stored.header().origin
        )));
    }
    if entries.iter().any(|e| e.kind == EntryKind::Recall) {
        return Err(Error::InvalidRequest(format!("{id} is already recalled")));
    }
    let node = state.node();
    let recall = liaison_core::recall::SignedRecall::sign(
        *id,
        node.config().agency.clone(),
        reason.to_owned(),
        &node.keys().signing,
    );
    // The bulletin stays here (the originator's record), but no longer answers
    // partners' private queries.
    let mut entry =
        journal::recall_entry(recall.to_bytes(), *id).with_effect(Effect::WithdrawQueryable {
            seq: stored.entry.seq,
        });
    let mut sent_to = Vec::new();
    let mut withdrawn = Vec::new();
    for (agency, d) in delivery(state, &stored, &entries)? {
        match d {
            Delivery::Delivered { .. } => {
                entry = entry.with_effect(Effect::Enqueue(agency.clone()));
                sent_to.push(agency);
            }
            Delivery::Queued | Delivery::Retrying { .. } => {
                // Withdrawn from the queue; and, since a copy may already be on the
                // wire (stored there, its receipt not back yet), the recall follows it
                // in the same stream order. A recipient that never got it answers that
                // there was nothing to recall.
                entry = entry
                    .with_effect(Effect::Dequeue {
                        partner: agency.clone(),
                        published_seq: stored.entry.seq,
                    })
                    .with_effect(Effect::Enqueue(agency.clone()));
                withdrawn.push(agency.to_string());
                sent_to.push(agency);
            }
            Delivery::Rejected { .. }
            | Delivery::Purged { .. }
            | Delivery::Withdrawn { .. }
            | Delivery::Abandoned => {}
        }
    }
    state.log.append(entry)?;
    for agency in &sent_to {
        state.wake(agency);
    }
    Ok(RecallView {
        id: id.to_string(),
        recall_sent_to: sent_to
            .iter()
            .map(ToString::to_string)
            .filter(|a| !withdrawn.contains(a))
            .collect(),
        withdrawn_before_delivery: withdrawn,
    })
}
