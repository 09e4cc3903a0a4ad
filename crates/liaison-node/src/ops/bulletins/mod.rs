//! Bulletins as this node holds them: publishing (sealing and queueing, idempotent by
//! request key), reading back what was sent and received, delivery state from the
//! signed receipts, and acknowledgements. The admin commands and the client API are
//! two doors to this one module.

pub mod views;

use bytes::Bytes;
use liaison_core::crypto::SystemRng;
use liaison_core::envelope::EnvelopeHeader;
use liaison_core::forward::ForwardedEnvelope;
use liaison_core::receipt::{Outcome, RejectCode, SignedReceipt};
use liaison_core::{
    AgencyId, Bulletin, BulletinContent, BulletinId, Marking, Receiver, RecipientKey,
    SealedEnvelope, Tlp, UnixMillis, open,
};
use liaison_proto::format::v1 as pb;
use liaison_store::{Effect, Entry, EntryKind};
use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::journal::{self, LogEvent, PolicyDecisionRecord};
use crate::node::state::NodeState;

/// Which way a bulletin went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Received from a partner.
    In,
    /// Published by this node.
    Out,
}

impl std::str::FromStr for Direction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            other => Err(Error::InvalidRequest(format!(
                "{other:?} is not a direction: expected in or out"
            ))),
        }
    }
}

/// A bulletin to publish: everything but id, origin and creation time.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Category, TLP, handling codes.
    pub marking: Marking,
    /// Title, body, entities, attachments, references.
    pub content: BulletinContent,
    /// Days until it expires (at least 1).
    pub expires_in_days: u32,
}

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

/// Who a bulletin is for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipients {
    /// These agencies (each must be a partner the policy allows).
    Named(Vec<AgencyId>),
    /// Every partner whose sharing policy allows the bulletin.
    AllAllowed,
}

/// Judges each candidate recipient under one snapshot of the sharing policy, seals
/// `draft` for those allowed and durably queues it for each, in one log entry that
/// also records every decision with its rule and the policy version. With a
/// `request_key`, a retry returns the first publish instead of publishing again.
///
/// Errors: [`Error::PolicyDenied`] if the policy allows no recipient (the denial is
/// logged), [`Error::InvalidRequest`] if no recipient is a partner, a sealing or
/// store failure.
pub fn publish(
    state: &NodeState,
    draft: Draft,
    recipients: &Recipients,
    request_key: Option<&str>,
) -> Result<Published> {
    if let Some(key) = request_key
        && let Some(seq) = state.log.request_key(key)?
    {
        return replay(state, seq);
    }
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
    };
    let mut keys = Vec::new();
    let mut refused = Vec::new();
    let mut decisions = Vec::new();
    for agency in &candidates {
        let Some(partner) = partners.get(agency) else {
            refused.push((agency.clone(), format!("{agency} is not a known partner")));
            continue;
        };
        let decision =
            PolicyDecisionRecord::new(agency, &policy.egress(agency, &draft.marking), &policy);
        let allowed = decision.allowed;
        let described = decision.describe();
        decisions.push(decision);
        if allowed {
            keys.push(RecipientKey {
                agency: agency.clone(),
                key: partner.identity.document().encryption_key.key.clone(),
            });
        } else if *recipients != Recipients::AllAllowed {
            refused.push((agency.clone(), described));
        }
    }
    if keys.is_empty() {
        if !decisions.is_empty() {
            // A refused publish is still a decision the auditor must see.
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
            return Err(Error::PolicyDenied(reasons.join("; ")));
        }
        let reasons: Vec<String> = refused.iter().map(|(_, r)| r.clone()).collect();
        return Err(Error::InvalidRequest(if reasons.is_empty() {
            "name at least one recipient".into()
        } else {
            format!("no recipient can receive it: {}", reasons.join("; "))
        }));
    }
    let now = UnixMillis::now();
    let bulletin = Bulletin {
        id: BulletinId::new(now),
        origin: state.node().config().agency.clone(),
        created: now,
        expires: now.plus_days(i64::from(draft.expires_in_days.max(1))),
        marking: draft.marking,
        content: draft.content,
    };
    let (envelope, content) = liaison_core::envelope::seal_keeping_content(
        &bulletin,
        &state.node().keys().signing,
        &keys,
        &mut SystemRng,
    )?;
    let record = pb::PublishedRecord {
        envelope: envelope.as_bytes().clone(),
        content,
        refusals: refused
            .iter()
            .map(|(agency, reason)| pb::Refusal {
                agency: agency.to_string(),
                reason: reason.clone(),
            })
            .collect(),
        decisions: decisions.iter().map(PolicyDecisionRecord::to_pb).collect(),
        forwarded: false,
    };
    let mut entry = journal::published_entry(&record, bulletin.id);
    for key in &keys {
        entry = entry.with_effect(Effect::Enqueue(key.agency.clone()));
    }
    if let Some(key) = request_key {
        entry = entry.with_effect(Effect::ClaimRequestKey(key.to_owned()));
    }
    let appended = match state.log.append(entry) {
        Ok(a) => a,
        // A concurrent retry with the same key won the race: answer as it did.
        Err(liaison_store::Error::Duplicate { seq }) => return replay(state, seq),
        Err(e) => return Err(e.into()),
    };
    for key in &keys {
        state.wake(&key.agency);
    }
    Ok(Published {
        id: bulletin.id,
        log_seq: appended.seq,
        queued: keys.into_iter().map(|k| k.agency).collect(),
        refused,
        replayed: false,
    })
}

fn replay(state: &NodeState, seq: u64) -> Result<Published> {
    let stored = state
        .log
        .get(seq)?
        .map(|entry| load(state, entry))
        .transpose()?
        .flatten()
        .ok_or_else(|| Error::NotFound(format!("log entry {seq} named by the request key")))?;
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

/// A bulletin as stored here, either direction.
pub struct Stored {
    /// Its log entry.
    pub entry: Entry,
    /// Sent or received.
    pub direction: Direction,
    /// The envelope, exactly as sent or received.
    pub envelope: SealedEnvelope,
    /// The decrypted content, or why it cannot be shown.
    pub content: std::result::Result<BulletinContent, String>,
    /// Requested recipients it was not sealed for, with the reason (own bulletins).
    pub refused: Vec<(AgencyId, String)>,
    /// The partner that forwarded it here, when it came by onward sharing.
    pub forwarded_by: Option<AgencyId>,
}

/// What only one direction has: refusals of a publish, the forwarder of a receipt.
enum Provenance {
    Published(Vec<(AgencyId, String)>),
    Received(Option<AgencyId>),
}

impl Stored {
    /// The envelope's readable header.
    pub fn header(&self) -> &EnvelopeHeader {
        self.envelope.header()
    }

    /// Whether the origin's signature verifies now (against this node's own identity
    /// for its own bulletins, against the partner set for received ones).
    pub fn verify_signature(
        &self,
        state: &NodeState,
    ) -> std::result::Result<(), liaison_core::Error> {
        let at = self.header().created;
        match self.direction {
            Direction::Out => {
                let own = [state.node().identity().document().clone()];
                self.envelope.verify_origin(own.as_slice(), at).map(|_| ())
            }
            Direction::In => self
                .envelope
                .verify_origin(&*state.partners.snapshot(), at)
                .map(|_| ()),
        }
    }
}

/// Reads a `Published` or `Received` entry back (`None` for other kinds or an erased
/// body).
pub fn load(state: &NodeState, entry: Entry) -> Result<Option<Stored>> {
    let direction = match entry.kind {
        EntryKind::Published => Direction::Out,
        EntryKind::Received => Direction::In,
        _ => return Ok(None),
    };
    let Some(body) = state.log.body(&entry)? else {
        return Ok(None);
    };
    let malformed =
        |e: String| Error::Internal(format!("log entry {} does not decode: {e}", entry.seq));
    let (envelope, content, provenance) = match direction {
        Direction::Out => {
            let record = pb::PublishedRecord::decode(body).map_err(|e| malformed(e.to_string()))?;
            let content = pb::BulletinContent::decode(record.content)
                .map_err(|e| e.to_string())
                .and_then(|c| BulletinContent::try_from(c).map_err(|e| e.to_string()));
            // A forward keeps the original envelope inside.
            let envelope = if record.forwarded {
                ForwardedEnvelope::decode(record.envelope)?
                    .original()
                    .clone()
            } else {
                SealedEnvelope::decode(record.envelope)?
            };
            let refused: Vec<(AgencyId, String)> = record
                .refusals
                .into_iter()
                .filter_map(|r| Some((r.agency.parse().ok()?, r.reason)))
                .collect();
            (envelope, content, Provenance::Published(refused))
        }
        Direction::In => {
            let node = state.node();
            let receiver = Receiver {
                agency: &node.config().agency,
                encryption_keys: node.decryption_keys(),
            };
            let partners = state.partners.snapshot();
            // Verified on arrival; reading back decrypts as of its creation, so content
            // stays readable after expiry (expiry governs acceptance, not what was
            // accepted).
            if liaison_core::forward::is_forwarded(&body) {
                let forwarded = ForwardedEnvelope::decode(body)?;
                let at = forwarded.original().header().created;
                let relaying = entry
                    .agency
                    .clone()
                    .unwrap_or_else(|| forwarded.forwarder().clone());
                let content = forwarded
                    .open(receiver, &*partners, &relaying, at)
                    .map(|b| b.content)
                    .map_err(|e| e.to_string());
                (
                    forwarded.original().clone(),
                    content,
                    Provenance::Received(Some(relaying)),
                )
            } else {
                let envelope = SealedEnvelope::decode(body)?;
                let at = envelope.header().created;
                let content = open(&envelope, receiver, &*partners, at)
                    .map(|b| b.content)
                    .map_err(|e| e.to_string());
                (envelope, content, Provenance::Received(None))
            }
        }
    };
    let (refused, forwarded_by) = match provenance {
        Provenance::Published(refused) => (refused, None),
        Provenance::Received(forwarded_by) => (Vec::new(), forwarded_by),
    };
    Ok(Some(Stored {
        entry,
        direction,
        envelope,
        content,
        refused,
        forwarded_by,
    }))
}

/// Which bulletins a listing or subscription wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this direction.
    pub direction: Option<Direction>,
    /// Only from these origins (any if empty).
    pub origins: Vec<AgencyId>,
    /// Only categories at or under this prefix.
    pub category_prefix: Option<String>,
    /// Only these TLP levels (any if empty).
    pub tlps: Vec<Tlp>,
}

impl Filter {
    /// Whether `entry` could match, judged on the index fields alone (cheap).
    fn may_match(&self, entry: &Entry) -> bool {
        match self.direction {
            Some(Direction::In) => entry.kind == EntryKind::Received,
            Some(Direction::Out) => entry.kind == EntryKind::Published,
            None => matches!(entry.kind, EntryKind::Received | EntryKind::Published),
        }
    }

    /// Whether a loaded bulletin matches.
    pub fn matches(&self, stored: &Stored) -> bool {
        let h = stored.header();
        (self.origins.is_empty() || self.origins.contains(&h.origin))
            && self
                .category_prefix
                .as_deref()
                .is_none_or(|p| p.is_empty() || h.marking.category.is_under(p))
            && (self.tlps.is_empty() || self.tlps.contains(&h.marking.tlp))
    }
}

/// Bulletins after log entry `after`, in log order, at most `limit`; also the last
/// entry examined (the cursor to continue from, even when nothing matched).
pub fn page(
    state: &NodeState,
    filter: &Filter,
    after: u64,
    limit: usize,
) -> Result<(Vec<Stored>, u64)> {
    let (items, cursor) = feed(state, filter, after, limit, false)?;
    let bulletins = items
        .into_iter()
        .filter_map(|item| match item {
            FeedItem::Bulletin(stored) => Some(*stored),
            FeedItem::Recalled { .. } => None,
        })
        .collect();
    Ok((bulletins, cursor))
}

/// One item of a subscriber's feed.
pub enum FeedItem {
    /// A bulletin.
    Bulletin(Box<Stored>),
    /// The originator recalled a bulletin received earlier; it was erased here.
    Recalled {
        /// The log entry recording the recall (the cursor).
        entry: Box<Entry>,
        /// The verified recall.
        recall: Box<liaison_core::recall::SignedRecall>,
    },
}

/// Like [`page`], and with `recalls`, also the recalls of received bulletins by their
/// originators (what a subscriber must hear of), in log order.
pub fn feed(
    state: &NodeState,
    filter: &Filter,
    after: u64,
    limit: usize,
    recalls: bool,
) -> Result<(Vec<FeedItem>, u64)> {
    let mut out = Vec::new();
    let mut cursor = after;
    while out.len() < limit {
        let entries = state.log.range(cursor + 1, 512)?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            break;
        };
        for entry in entries {
            let seq = entry.seq;
            if recalls && entry.kind == EntryKind::Recall && entry.agency.is_some() {
                let recall = state
                    .log
                    .body(&entry)?
                    .map(|b| {
                        liaison_core::recall::SignedRecall::verify(b, &*state.partners.snapshot())
                    })
                    .transpose()?;
                if let Some(recall) = recall
                    && (filter.origins.is_empty() || filter.origins.contains(&recall.origin))
                {
                    out.push(FeedItem::Recalled {
                        entry: Box::new(entry),
                        recall: Box::new(recall),
                    });
                }
            } else if filter.may_match(&entry)
                && let Some(stored) = load(state, entry)?
                && filter.matches(&stored)
            {
                out.push(FeedItem::Bulletin(Box::new(stored)));
            }
            cursor = seq;
            if out.len() == limit {
                return Ok((out, seq));
            }
        }
        cursor = cursor.max(last);
    }
    Ok((out, cursor))
}

/// The bulletin with this id, sent or received, and every log entry about it.
///
/// Errors: [`Error::NotFound`].
pub fn find(state: &NodeState, id: &BulletinId) -> Result<(Stored, Vec<Entry>)> {
    let entries = state.log.entries_for_bulletin(id)?;
    for entry in &entries {
        if let Some(stored) = load(state, entry.clone())? {
            return Ok((stored, entries));
        }
    }
    if let Some(recall) = entries.iter().rev().find(|e| e.kind == EntryKind::Recall) {
        let reason = state
            .log
            .body(recall)?
            .and_then(|b| {
                liaison_core::recall::SignedRecall::verify(b, &*state.partners.snapshot()).ok()
            })
            .map(|r| format!(": {}", r.reason))
            .unwrap_or_default();
        return Err(Error::NotFound(format!(
            "bulletin {id} was recalled by its originator at {} and erased{reason}",
            recall.time
        )));
    }
    Err(Error::NotFound(format!(
        "no bulletin {id} in this node's log"
    )))
}

/// Where delivery to one recipient stands.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Queued, not yet answered.
    Queued,
    /// The last attempt failed in transport.
    Retrying {
        /// The error and the next attempt.
        failure: crate::node::state::DeliveryFailure,
    },
    /// Stored by the recipient (or already had it).
    Delivered {
        /// Its signed receipt.
        receipt: SignedReceipt,
        /// Whether the receipt says duplicate.
        duplicate: bool,
        /// The recipient's log entry.
        receiver_log_seq: u64,
    },
    /// Recalled: the recipient erased it and signed a purge receipt.
    Purged {
        /// Its signed purge receipt.
        receipt: SignedReceipt,
        /// The recipient's log entry recording the recall.
        log_seq: u64,
    },
    /// Refused by the recipient.
    Rejected {
        /// Its signed receipt.
        receipt: SignedReceipt,
        /// Which check refused it.
        code: RejectCode,
        /// Its reason.
        reason: String,
    },
    /// Not queued and never answered (the partner was removed).
    Abandoned,
}

/// Delivery state of a published bulletin towards each signed recipient.
pub fn delivery(
    state: &NodeState,
    stored: &Stored,
    entries: &[Entry],
) -> Result<Vec<(AgencyId, Delivery)>> {
    let published_seq = stored.entry.seq;
    stored
        .header()
        .recipients
        .iter()
        .map(|r| {
            let agency = &r.agency;
            let receipt = entries
                .iter()
                .rev()
                .filter(|e| e.kind == EntryKind::Receipt && e.agency.as_ref() == Some(agency))
                .find_map(|e| state.log.body(e).ok().flatten())
                .and_then(|body| SignedReceipt::from_stored(body).ok());
            let d = match receipt {
                Some(receipt) => match receipt.receipt().outcome.clone() {
                    Outcome::Accepted { log_seq } => Delivery::Delivered {
                        receipt,
                        duplicate: false,
                        receiver_log_seq: log_seq,
                    },
                    Outcome::Duplicate { log_seq } => Delivery::Delivered {
                        receipt,
                        duplicate: true,
                        receiver_log_seq: log_seq,
                    },
                    Outcome::Rejected { code, reason } => Delivery::Rejected {
                        receipt,
                        code,
                        reason,
                    },
                    Outcome::Purged { log_seq } => Delivery::Purged { receipt, log_seq },
                },
                None => {
                    let queued = state.log.outbox(agency, published_seq - 1, 1)?.first()
                        == Some(&published_seq);
                    match (queued, state.delivery_error(agency)) {
                        (true, Some(failure)) => Delivery::Retrying { failure },
                        (true, None) => Delivery::Queued,
                        (false, _) => Delivery::Abandoned,
                    }
                }
            };
            Ok((agency.clone(), d))
        })
        .collect()
}

/// An acknowledgement of a received bulletin by a local system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The client's name.
    pub client: String,
    /// Its note.
    pub note: String,
    /// When it was logged.
    #[serde(skip)]
    pub time: Option<UnixMillis>,
}

/// Records that `client` handled received bulletin `id`.
///
/// Errors: [`Error::NotFound`]; [`Error::InvalidRequest`] for one of our own bulletins
/// or a note over 1024 bytes.
pub fn acknowledge(state: &NodeState, id: &BulletinId, client: &str, note: &str) -> Result<u64> {
    if note.len() > 1024 {
        return Err(Error::InvalidRequest("note: more than 1024 bytes".into()));
    }
    let (stored, _) = find(state, id)?;
    if stored.direction != Direction::In {
        return Err(Error::InvalidRequest(format!(
            "{id} was published here, not received"
        )));
    }
    let body = serde_json::to_vec(&Acknowledgement {
        client: client.to_owned(),
        note: note.to_owned(),
        time: None,
    })
    .map_err(|e| Error::Internal(format!("cannot encode an acknowledgement: {e}")))?;
    Ok(state
        .log
        .append(journal::acknowledged_entry(body.into(), *id))?
        .seq)
}

/// The acknowledgements among a bulletin's entries.
pub fn acknowledgements(state: &NodeState, entries: &[Entry]) -> Vec<Acknowledgement> {
    entries
        .iter()
        .filter(|e| e.kind == EntryKind::Acknowledged)
        .filter_map(|e| {
            let body: Bytes = state.log.body(e).ok().flatten()?;
            let mut ack: Acknowledgement = serde_json::from_slice(&body).ok()?;
            ack.time = Some(e.time);
            Some(ack)
        })
        .collect()
}

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
    let mut entry = journal::recall_entry(recall.to_bytes(), *id);
    let mut sent_to = Vec::new();
    let mut withdrawn = Vec::new();
    for (agency, d) in delivery(state, &stored, &entries)? {
        match d {
            Delivery::Delivered { .. } => {
                entry = entry.with_effect(Effect::Enqueue(agency.clone()));
                sent_to.push(agency);
            }
            Delivery::Queued | Delivery::Retrying { .. } => {
                entry = entry.with_effect(Effect::Dequeue {
                    partner: agency.clone(),
                    published_seq: stored.entry.seq,
                });
                withdrawn.push(agency.to_string());
            }
            Delivery::Rejected { .. } | Delivery::Purged { .. } | Delivery::Abandoned => {}
        }
    }
    state.log.append(entry)?;
    for agency in &sent_to {
        state.wake(agency);
    }
    Ok(RecallView {
        id: id.to_string(),
        recall_sent_to: sent_to.iter().map(ToString::to_string).collect(),
        withdrawn_before_delivery: withdrawn,
    })
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
/// the originator's `forward_to` naming `to`, and `to` allowed the marking. The
/// forwarded envelope carries the original, still verifiable, plus who forwarded it to
/// whom. A refusal is logged with its rule.
///
/// Errors: [`Error::PolicyDenied`] naming the rule, [`Error::InvalidRequest`],
/// [`Error::UnknownPartner`], [`Error::NotFound`].
pub fn forward(state: &NodeState, id: &BulletinId, to: &AgencyId) -> Result<ForwardView> {
    let (stored, _) = find(state, id)?;
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
    let policy = state.policy.snapshot();
    let decision = PolicyDecisionRecord::new(
        to,
        &policy.onward(&origin, to, &stored.header().marking),
        &policy,
    );
    let recorded = decision.describe();
    if !decision.allowed {
        let denied = LogEvent::ForwardDenied { decision };
        state.log.append(denied.entry().about_bulletin(*id))?;
        return Err(Error::PolicyDenied(format!("{to}: {recorded}")));
    }
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
        now,
        &mut SystemRng,
    )?;
    let content = stored.content.clone().unwrap_or_default();
    let record = pb::PublishedRecord {
        envelope: forwarded.as_bytes().clone(),
        content: pb::BulletinContent::from(&content).encode_to_vec().into(),
        refusals: Vec::new(),
        decisions: vec![decision.to_pb()],
        forwarded: true,
    };
    let appended = state
        .log
        .append(journal::published_entry(&record, *id).with_effect(Effect::Enqueue(to.clone())))?;
    state.wake(to);
    Ok(ForwardView {
        id: id.to_string(),
        origin: origin.to_string(),
        to: to.to_string(),
        decision: recorded,
        log_seq: appended.seq,
    })
}
