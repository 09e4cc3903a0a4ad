//! Reading back what this node sent and received: one bulletin, pages with filters, the
//! feed subscribers follow.

use bytes::Bytes;
use liaison_core::envelope::AcceptedBefore;
use liaison_core::envelope::EnvelopeHeader;
use liaison_core::forward::ForwardedEnvelope;
use liaison_core::{
    AgencyId, BulletinContent, BulletinId, Receiver, SealedEnvelope, Tlp, UnixMillis,
};
use liaison_proto::format::v1 as pb;
use liaison_store::{Entry, EntryKind, ListingRow, ListingScope};
use prost::Message as _;

use super::{Direction, listing};
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
        Direction::Out => read_published(state, &entry, body)?,
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

/// One of our own: the envelope as sent and the content we kept, sealed to our own
/// encryption key (plaintext only in records written before version 0.4).
fn read_published(state: &NodeState, entry: &Entry, body: Bytes) -> Result<ReadBack> {
    let record = pb::PublishedRecord::decode(body)
        .map_err(|e| Error::Internal(format!("log entry {} does not decode: {e}", entry.seq)))?;
    // A forward keeps the original envelope inside.
    let envelope = if record.forwarded {
        ForwardedEnvelope::decode(record.envelope)?
            .original()
            .clone()
    } else {
        SealedEnvelope::decode(record.envelope)?
    };
    let plaintext = match &record.own_copy {
        Some(copy) => {
            liaison_core::envelope::open_own_copy(&envelope, copy, state.node().decryption_keys())
                .map_err(|e| e.to_string())
        }
        None => Ok(record.content),
    };
    let content = plaintext.and_then(|p| {
        pb::BulletinContent::decode(p)
            .map_err(|e| e.to_string())
            .and_then(|c| BulletinContent::try_from(c).map_err(|e| e.to_string()))
    });
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
    /// Only those that entered this log at or after this time.
    pub since: Option<UnixMillis>,
    /// Only those that entered this log at or before this time.
    pub until: Option<UnixMillis>,
    /// Newest first (cursors then move back through the log).
    pub newest_first: bool,
    /// Only those carrying every one of these handling codes (judged on the header,
    /// after the index: a page may then hold fewer than asked, with more to come).
    pub handling: Vec<liaison_core::HandlingCode>,
    /// Feeds only: also the bulletins that turn out to share a selector with others
    /// held, again, when the link is found (subscribers ask for them).
    pub links: bool,
}

impl Filter {
    /// Whether a listed entry matches, judged on its listing alone (nothing is read
    /// or decrypted for one that does not).
    fn wants(&self, row: &ListingRow, recalls: bool) -> bool {
        let kind_ok = match (row.kind, self.direction) {
            (EntryKind::Recall | EntryKind::Acknowledged, _) => recalls,
            (EntryKind::NodeEvent, _) => recalls && self.links,
            (EntryKind::Received, Some(Direction::Out))
            | (EntryKind::Published, Some(Direction::In)) => false,
            (EntryKind::Received | EntryKind::Published, _) => true,
            _ => false,
        };
        let l = &row.listing;
        kind_ok
            && (matches!(
                row.kind,
                EntryKind::Recall | EntryKind::Acknowledged | EntryKind::NodeEvent
            ) || (self.tlps.is_empty()
                || self.tlps.iter().any(|t| listing::tlp_number(*t) == l.tlp))
                && self.category_prefix.as_deref().is_none_or(|p| {
                    p.is_empty()
                        || l.category
                            .parse::<liaison_core::Category>()
                            .is_ok_and(|c| c.is_under(p))
                }))
            && self.since.is_none_or(|t| row.time >= t)
            && self.until.is_none_or(|t| row.time <= t)
    }
}

/// Most listing rows one page examines: however selective a filter, one call does
/// bounded work and returns a cursor to go on from.
pub const SCAN_BUDGET: usize = 20_000;

/// Bulletins after log entry `after` (before it, newest first), at most `limit`; also
/// the cursor to continue from and whether there may be more.
pub fn page(
    state: &NodeState,
    filter: &Filter,
    after: u64,
    limit: usize,
) -> Result<(Vec<Stored>, u64, bool)> {
    let (items, cursor, more) = feed(state, filter, after, limit, false)?;
    let bulletins = items
        .into_iter()
        .filter_map(|item| match item {
            FeedItem::Bulletin(stored) => Some(*stored),
            FeedItem::Recalled { .. } | FeedItem::Acknowledged { .. } | FeedItem::Linked { .. } => {
                None
            }
        })
        .collect();
    Ok((bulletins, cursor, more))
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
    /// A recipient acknowledged one of our bulletins: the bulletin again, with every
    /// acknowledgement so far.
    Acknowledged {
        /// The log entry recording the acknowledgement (the cursor).
        entry: Box<Entry>,
        /// The bulletin acknowledged.
        bulletin: Box<Stored>,
    },
    /// A bulletin just stored shares a selector with bulletins held here: the bulletin
    /// again, with its links.
    Linked {
        /// The `correlated` event (the cursor).
        entry: Box<Entry>,
        /// The bulletin that brought the link.
        bulletin: Box<Stored>,
    },
}

/// Like [`page`], and with `recalls`, also the recalls of received bulletins by their
/// originators, recipients' acknowledgements of ours and links found between bulletins
/// (what a subscriber must hear of), in log order. Read from the listing
/// index: only what matches is loaded and decrypted.
pub fn feed(
    state: &NodeState,
    filter: &Filter,
    after: u64,
    limit: usize,
    recalls: bool,
) -> Result<(Vec<FeedItem>, u64, bool)> {
    // Entry times never go backwards, so a time range is a range of entries.
    let since = match filter.since {
        Some(t) => state.log.first_at_or_after(t)?.saturating_sub(1),
        None => 0,
    };
    let until = match filter.until {
        Some(t) => state
            .log
            .first_at_or_after(UnixMillis(t.0.saturating_add(1)))?,
        None => u64::MAX,
    };
    let scope = if filter.newest_first {
        ListingScope {
            origins: &filter.origins,
            after: since,
            before: if after == 0 { until } else { after.min(until) },
            newest_first: true,
            limit,
            budget: SCAN_BUDGET,
        }
    } else {
        ListingScope {
            origins: &filter.origins,
            after: after.max(since),
            before: until,
            newest_first: false,
            limit,
            budget: SCAN_BUDGET,
        }
    };
    let listed = state
        .log
        .listings(&scope, &mut |row| filter.wants(row, recalls))?;
    let mut out = Vec::with_capacity(listed.rows.len());
    for row in listed.rows {
        let Some(entry) = state.log.get(row.seq)? else {
            continue;
        };
        if matches!(entry.kind, EntryKind::Acknowledged | EntryKind::NodeEvent) {
            let Some(id) = entry.bulletin_id else {
                continue;
            };
            match find(state, &id) {
                Ok((bulletin, _)) if entry.kind == EntryKind::Acknowledged => {
                    out.push(FeedItem::Acknowledged {
                        entry: Box::new(entry),
                        bulletin: Box::new(bulletin),
                    })
                }
                Ok((bulletin, _)) => out.push(FeedItem::Linked {
                    entry: Box::new(entry),
                    bulletin: Box::new(bulletin),
                }),
                // Erased (recalled or expired) since: nothing to tell.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        } else if entry.kind == EntryKind::Recall {
            let recall = state
                .log
                .body(&entry)?
                .map(|b| liaison_core::recall::SignedRecall::verify(b, &*state.partners.snapshot()))
                .transpose()?;
            if let Some(recall) = recall {
                out.push(FeedItem::Recalled {
                    entry: Box::new(entry),
                    recall: Box::new(recall),
                });
            }
        } else if let Some(stored) = load(state, entry)?
            && filter
                .handling
                .iter()
                .all(|c| stored.header().marking.handling_codes.contains(c))
        {
            out.push(FeedItem::Bulletin(Box::new(stored)));
        }
    }
    let cursor = listed.last.unwrap_or(after);
    Ok((out, cursor, !listed.exhausted))
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
