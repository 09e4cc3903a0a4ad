//! Publishing: judge each recipient under one policy snapshot, seal once, queue durably
//! for each allowed partner in one entry with every decision; idempotent by request key.

use liaison_core::crypto::SystemRng;
use liaison_core::{AgencyId, Bulletin, BulletinId, RecipientKey, UnixMillis};
use liaison_proto::format::v1 as pb;
use liaison_store::Effect;

use super::{Draft, Recipients, load};
use crate::error::{Error, Result};
use crate::node::journal::{self, LogEvent, PolicyDecisionRecord};
use crate::node::state::NodeState;

/// The result of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The bulletin.
    pub id: BulletinId,
    /// Its log entry.
    pub log_seq: u64,
    /// Recipients it was sealed for and queued to.
    pub queued: Vec<AgencyId>,
    /// Recipients refused, with the reason.
    pub refused: Vec<(AgencyId, String)>,
    /// This answers a retry of an earlier publish with the same request key.
    pub replayed: bool,
}

/// Judges each candidate recipient under one snapshot of the sharing policy, seals
/// `draft` for those allowed and durably queues it for each, in one log entry that
/// also records every decision with its rule and the policy version. With a
/// `request_key`, a retry returns the first publish instead of publishing again.
///
/// Errors: [`Error::PolicyDenied`] if the policy allows no recipient (the denial is
/// logged), [`Error::InvalidRequest`] if no recipient is a partner,
/// [`Error::OutboxFull`] if an allowed recipient's outbox is at its limit, a sealing
/// or store failure.
pub fn publish(
    state: &NodeState,
    draft: Draft,
    recipients: &Recipients,
    request_key: Option<&str>,
) -> Result<Published> {
    if let Some(key) = request_key
        && let Some(seq) = state.log.request_key(key)?
    {
        return replay(state, seq, key, &draft.marking, &draft.content);
    }
    if let Recipients::Group(name) = recipients {
        known_group(&state.policy.snapshot(), name)?;
    }
    let draft = complete(state, draft)?;
    crate::ops::attachments::check_staged(state, &draft.content)?;
    let judged = judge_recipients(state, &draft.marking, recipients);
    if judged.keys.is_empty() {
        return Err(refuse(state, &draft, judged)?);
    }
    super::check_outbox_room(state, judged.keys.iter().map(|k| &k.agency))?;
    seal_and_queue(state, draft, judged, request_key)
}

/// Refuses a group the policy does not define, naming those it does.
///
/// Errors: [`Error::InvalidRequest`].
pub fn known_group(policy: &liaison_core::policy::Policy, name: &str) -> Result<()> {
    if policy.groups().contains_key(name) {
        return Ok(());
    }
    let groups: Vec<&str> = policy.groups().keys().map(String::as_str).collect();
    Err(Error::InvalidRequest(format!(
        "the sharing policy has no group {name:?} (groups: {})",
        if groups.is_empty() {
            "none".to_owned()
        } else {
            groups.join(", ")
        }
    )))
}

/// A draft with what the node settles for it: its thread and how long it lives.
#[derive(Clone)]
struct Complete {
    marking: liaison_core::Marking,
    content: liaison_core::BulletinContent,
    request: Option<liaison_core::handling::InformationRequest>,
    thread: Option<BulletinId>,
    days: u32,
}

/// Settles a draft's thread (from the bulletin it replies to or updates, which this
/// node must hold) and its lifetime (the retention period the policy sets for its
/// category, or less if asked), and checks a request's due time against both.
fn complete(state: &NodeState, mut draft: Draft) -> Result<Complete> {
    // One canonical form for every entity, whichever door it came through.
    draft.content.entities = std::mem::take(&mut draft.content.entities)
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            liaison_core::normalize::entity(e)
                .map_err(|e| Error::InvalidRequest(format!("entities[{i}]: {e}")))
        })
        .collect::<Result<_>>()?;
    let parent = draft.content.references.iter().find(|r| {
        matches!(
            r.kind,
            liaison_core::ReferenceKind::Reply | liaison_core::ReferenceKind::Update
        )
    });
    let thread = match parent {
        Some(reference) => match super::find(state, &reference.bulletin_id) {
            Ok((parent, _)) => Some(parent.header().thread_id()),
            Err(Error::NotFound(_)) => {
                return Err(Error::InvalidRequest(format!(
                    "it answers or updates {}, which this node does not hold",
                    reference.bulletin_id
                )));
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    let (retention, rule) = state
        .policy
        .snapshot()
        .retention()
        .days_for(&draft.marking.category);
    let days = match draft.expires_in_days {
        None => retention,
        Some(0) => {
            return Err(Error::InvalidRequest(
                "expires in 0 days: at least 1".into(),
            ));
        }
        Some(days) if days > retention => {
            return Err(Error::InvalidRequest(format!(
                "expires in {days} days: the policy keeps {} bulletins at most {retention} days ({rule})",
                draft.marking.category
            )));
        }
        Some(days) => days,
    };
    if let Some(request) = &draft.request {
        let now = UnixMillis::now();
        if request.due <= now || request.due > now.plus_days(i64::from(days)) {
            return Err(Error::InvalidRequest(format!(
                "request due {}: must be in the future and before the bulletin expires in {days} days",
                request.due
            )));
        }
    }
    Ok(Complete {
        marking: draft.marking,
        content: draft.content,
        request: draft.request,
        thread,
        days,
    })
}

/// Every candidate recipient, judged under one policy snapshot.
struct Judged {
    /// The allowed recipients' encryption keys.
    keys: Vec<RecipientKey>,
    /// Named recipients not sealed for, with the reason.
    refused: Vec<(AgencyId, String)>,
    /// The decision about each candidate that is a partner.
    decisions: Vec<PolicyDecisionRecord>,
}

fn judge_recipients(
    state: &NodeState,
    marking: &liaison_core::Marking,
    recipients: &Recipients,
) -> Judged {
    let partners = state.partners.snapshot();
    let policy = state.policy.snapshot();
    let candidates: Vec<AgencyId> = match recipients {
        Recipients::Named(list) => {
            let mut unique: Vec<AgencyId> = Vec::new();
            for agency in list {
                if !unique.contains(agency) {
                    unique.push(agency.clone());
                }
            }
            unique
        }
        Recipients::AllAllowed => partners.iter().map(|p| p.agency().clone()).collect(),
        Recipients::Group(name) => policy
            .groups()
            .get(name)
            .map(|g| g.members.clone())
            .unwrap_or_default(),
    };
    let mut judged = Judged {
        keys: Vec::new(),
        refused: Vec::new(),
        decisions: Vec::new(),
    };
    for agency in &candidates {
        let Some(partner) = partners.get(agency) else {
            let reason = format!("{agency} is not a known partner");
            judged.refused.push((agency.clone(), reason));
            continue;
        };
        let decision = PolicyDecisionRecord::new(agency, &policy.egress(agency, marking), &policy);
        if decision.allowed {
            judged.keys.push(RecipientKey {
                agency: agency.clone(),
                key: partner.identity.document().encryption_key.key.clone(),
            });
        } else if *recipients != Recipients::AllAllowed {
            judged.refused.push((agency.clone(), decision.describe()));
        }
        judged.decisions.push(decision);
    }
    judged
}

/// The error for a publish no recipient may receive; a refusal by the policy is
/// logged, since it is still a decision the auditor must see.
fn refuse(state: &NodeState, draft: &Complete, judged: Judged) -> Result<Error> {
    let Judged {
        refused, decisions, ..
    } = judged;
    if decisions.is_empty() {
        let reasons: Vec<String> = refused.into_iter().map(|(_, r)| r).collect();
        return Ok(Error::InvalidRequest(if reasons.is_empty() {
            "name at least one recipient".into()
        } else {
            format!("no recipient can receive it: {}", reasons.join("; "))
        }));
    }
    let denied = LogEvent::PublishDenied {
        category: draft.marking.category.to_string(),
        tlp: draft.marking.tlp.as_str().to_owned(),
        decisions,
    };
    state.log.append(denied.entry())?;
    let reasons: Vec<String> = if refused.is_empty() {
        vec!["no partner's sharing policy allows this bulletin".into()]
    } else {
        refused.iter().map(|(a, r)| format!("{a}: {r}")).collect()
    };
    Ok(Error::PolicyDenied(reasons.join("; ")))
}

/// Seals the bulletin once for every allowed recipient and appends it, queued for
/// each, with every decision, in one entry.
fn seal_and_queue(
    state: &NodeState,
    draft: Complete,
    judged: Judged,
    request_key: Option<&str>,
) -> Result<Published> {
    // Kept only to answer a concurrent retry with the same key.
    let draft_again = request_key.map(|_| draft.clone());
    let now = UnixMillis::now();
    let bulletin = Bulletin {
        thread: draft.thread,
        request: draft.request,
        id: BulletinId::new(now),
        origin: state.node().config().agency.clone(),
        created: now,
        expires: now.plus_days(i64::from(draft.days)),
        marking: draft.marking,
        content: draft.content,
    };
    // Format v2: content keys under the current epoch keys, signed together with
    // whatever other publishes are sealing at this moment.
    let (envelope, content) = liaison_core::envelope::seal_batched(
        &bulletin,
        &state.node().keys().signing,
        &judged.keys,
        &state.envelopes.sending,
        &state.envelopes.signer,
        &mut SystemRng,
    )?;
    // Our own copy of the content, sealed to our own encryption key: the log never
    // holds a bulletin in plaintext.
    let own_copy = liaison_core::envelope::seal_own_copy(
        &envelope,
        &content,
        &state.node().keys().encryption,
        &mut SystemRng,
    )?;
    let record = pb::PublishedRecord {
        envelope: envelope.as_bytes().clone(),
        content: bytes::Bytes::new(),
        own_copy: Some(own_copy),
        refusals: judged
            .refused
            .iter()
            .map(|(agency, reason)| pb::Refusal {
                agency: agency.to_string(),
                reason: reason.clone(),
            })
            .collect(),
        decisions: judged
            .decisions
            .iter()
            .map(PolicyDecisionRecord::to_pb)
            .collect(),
        forwarded: false,
    };
    // Files that travel beside the envelope are in place, durably, before the
    // publish that names them is.
    crate::ops::attachments::install_staged(state, &bulletin.id, &bulletin.content)?;
    let indexed = crate::ops::connections::index(state, &bulletin)?;
    let mut entry = journal::published_entry(&record, bulletin.id);
    for effect in indexed.effects {
        entry = entry.with_effect(effect);
    }
    for key in &judged.keys {
        entry = entry.with_effect(Effect::Enqueue(key.agency.clone()));
    }
    if let Some(key) = request_key {
        entry = entry.with_effect(Effect::ClaimRequestKey(key.to_owned()));
    }
    let appended = match state.log.append(entry) {
        Ok(a) => a,
        // A concurrent retry with the same key won the race: answer as it did.
        Err(liaison_store::Error::Duplicate { seq }) => {
            return match (request_key, &draft_again) {
                (Some(key), Some(draft)) => replay(state, seq, key, &draft.marking, &draft.content),
                // Only a request key can be claimed twice; a duplicate without one
                // would be a bug in the store.
                _ => Err(Error::Internal(format!("entry {seq} claimed twice"))),
            };
        }
        Err(e) => return Err(e.into()),
    };
    for key in &judged.keys {
        state.wake(&key.agency);
    }
    // The link is a record for the desk, not part of what was acknowledged: a failure
    // to write it is logged, and `bulletin show` finds links from the index anyway.
    if let Some(correlated) = indexed.correlated
        && let Err(e) = state.log.append(correlated)
    {
        tracing::warn!(error = %e, bulletin = %bulletin.id, "cannot record a correlation");
    }
    Ok(Published {
        id: bulletin.id,
        log_seq: appended.seq,
        queued: judged.keys.into_iter().map(|k| k.agency).collect(),
        refused: judged.refused,
        replayed: false,
    })
}

/// The answer to a retry: the publish `key` first made, if `draft` is the same bulletin
/// (marking and content); a different bulletin under a used key is refused, never
/// silently answered with the first.
fn replay(
    state: &NodeState,
    seq: u64,
    key: &str,
    marking: &liaison_core::Marking,
    content: &liaison_core::BulletinContent,
) -> Result<Published> {
    let stored = state
        .log
        .get(seq)?
        .map(|entry| load(state, entry))
        .transpose()?
        .flatten()
        .ok_or_else(|| Error::NotFound(format!("log entry {seq} named by the request key")))?;
    let same =
        stored.header().marking == *marking && stored.content.as_ref().is_ok_and(|c| c == content);
    if !same {
        return Err(Error::RequestKeyReused {
            key: key.to_owned(),
            bulletin: stored.header().bulletin_id,
        });
    }
    Ok(Published {
        id: stored.header().bulletin_id,
        log_seq: seq,
        queued: stored
            .header()
            .recipients
            .iter()
            .map(|r| r.agency.clone())
            .collect(),
        refused: stored.refused.clone(),
        replayed: true,
    })
}
