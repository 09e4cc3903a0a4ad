//! Reading back what this node sent and received: one bulletin, pages with filters, the
//! feed subscribers follow.

use bytes::Bytes;
use liaison_core::envelope::AcceptedBefore;
use liaison_core::envelope::EnvelopeHeader;
use liaison_core::forward::ForwardedEnvelope;
use liaison_core::{AgencyId, BulletinContent, BulletinId, Receiver, SealedEnvelope, Tlp};
use liaison_proto::format::v1 as pb;
use liaison_store::{Entry, EntryKind};
use prost::Message as _;

use super::Direction;
use crate::error::{Error, Result};
use crate::node::state::NodeState;

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
                .verify_origin(&AcceptedBefore(&*state.partners.snapshot()), at)
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
    let (envelope, content, provenance) = match direction {
        Direction::Out => read_published(&entry, body)?,
        Direction::In => read_received(state, &entry, body)?,
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

/// A bulletin as read back: its envelope, its content (or why it cannot be shown),
/// and what only its direction has.
type ReadBack = (
    SealedEnvelope,
    std::result::Result<BulletinContent, String>,
    Provenance,
);

/// One of our own: the envelope as sent and the content we kept.
fn read_published(entry: &Entry, body: Bytes) -> Result<ReadBack> {
    let record = pb::PublishedRecord::decode(body)
        .map_err(|e| Error::Internal(format!("log entry {} does not decode: {e}", entry.seq)))?;
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
    Ok((envelope, content, Provenance::Published(refused)))
}

/// A partner's bulletin (or a forwarded one), decrypted with this node's keys.
/// Verified on arrival; reading back decrypts as of its creation, so content stays
/// readable after expiry (expiry governs acceptance, not what was accepted).
fn read_received(state: &NodeState, entry: &Entry, body: Bytes) -> Result<ReadBack> {
    let node = state.node();
    let receiver = Receiver {
        agency: &node.config().agency,
        encryption_keys: node.decryption_keys(),
        epochs: Some(&state.envelopes.receiving),
    };
    let partners = state.partners.snapshot();
    // Accepted on arrival, revocation included: a key revoked since does not hide it.
    let partners = AcceptedBefore(&*partners);
    if !liaison_core::forward::is_forwarded(&body) {
        let envelope = SealedEnvelope::decode(body)?;
        let at = envelope.header().created;
        let content = envelope
            .verify_origin_with(&partners, at, Some(&state.envelopes.roots))
            .and_then(|verified| verified.open(receiver, at))
            .map(|b| b.content)
            .map_err(|e| e.to_string());
        return Ok((envelope, content, Provenance::Received(None)));
    }
    let forwarded = ForwardedEnvelope::decode(body)?;
    let at = forwarded.original().header().created;
    let relaying = entry
        .agency
        .clone()
        .unwrap_or_else(|| forwarded.forwarder().clone());
    let content = forwarded
        .open(receiver, &partners, &relaying, at)
        .map(|b| b.content)
        .map_err(|e| e.to_string());
    Ok((
        forwarded.original().clone(),
        content,
        Provenance::Received(Some(relaying)),
    ))
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
