//! Conversations across agencies: a bulletin's thread (every bulletin that replies to
//! or updates another carries the id of the one that started the conversation, in its
//! signed header), and requests for information still waiting for an answer.

use std::collections::BTreeSet;

use liaison_core::{AgencyId, BulletinId, UnixMillis};
use liaison_store::{EntryKind, ListingRow};

use super::{Direction, Stored, find, load};
use crate::error::Result;
use crate::node::state::NodeState;

/// Most requests `open_requests` examines.
pub const MAX_REQUESTS: usize = 100_000;

/// Who a reply to (or update of) `parent` goes to by default: its originator and its
/// other recipients, without this node.
///
/// Errors: [`crate::Error::NotFound`] if this node does not hold `parent`.
pub fn thread_parties(state: &NodeState, parent: &BulletinId) -> Result<Vec<AgencyId>> {
    let (stored, _) = find(state, parent)?;
    let me = state.node().config().agency.clone();
    let header = stored.header();
    let mut parties: Vec<AgencyId> = Vec::new();
    for agency in std::iter::once(&header.origin).chain(header.recipients.iter().map(|r| &r.agency))
    {
        if *agency != me && !parties.contains(agency) {
            parties.push(agency.clone());
        }
    }
    Ok(parties)
}

/// The conversation bulletin `id` belongs to, as held here, in the order the
/// bulletins were written (their originators' clocks).
///
/// Errors: [`crate::Error::NotFound`] if this node does not hold `id`.
pub fn thread(state: &NodeState, id: &BulletinId) -> Result<Vec<Stored>> {
    let (stored, _) = find(state, id)?;
    let root = stored.header().thread_id();
    let mut out: Vec<Stored> = Vec::new();
    if let Ok((first, _)) = find(state, &root) {
        out.push(first);
    }
    for row in state.log.thread_rows(&root)? {
        if let Some(entry) = state.log.get(row.seq)?
            && let Some(stored) = load(state, entry)?
        {
            out.push(stored);
        }
    }
    // A forwarded copy and our own record of it can both be listed: keep one.
    let mut seen = BTreeSet::new();
    out.retain(|s| seen.insert(s.header().bulletin_id));
    out.sort_by_key(|s| (s.header().created, s.header().bulletin_id));
    Ok(out)
}

/// Which agencies answered request `request` (created at `created` in `thread`): the
/// originators of the bulletins of its thread written after it, other than its own.
fn answered_by(
    state: &NodeState,
    request_origin: &AgencyId,
    thread: &BulletinId,
    created: UnixMillis,
) -> Result<BTreeSet<AgencyId>> {
    Ok(state
        .log
        .thread_rows(thread)?
        .into_iter()
        .filter(|r| r.listing.created > created && r.listing.origin != *request_origin)
        .map(|r| r.listing.origin)
        .collect())
}

/// A request for information still waiting: ours that some recipient has not answered,
/// or a partner's that we have not.
pub struct OpenRequest {
    /// The request.
    pub stored: Stored,
    /// Agencies that answered.
    pub answered_by: Vec<AgencyId>,
    /// Agencies whose answer is awaited (us, for a partner's request).
    pub awaiting: Vec<AgencyId>,
}

/// Requests for information awaiting an answer, soonest due first.
///
/// Errors: the log cannot be read.
pub fn open_requests(state: &NodeState) -> Result<Vec<OpenRequest>> {
    let mut out = Vec::new();
    for row in state.log.request_rows(MAX_REQUESTS)? {
        if let Some(open) = open_request(state, &row)? {
            out.push(open);
        }
    }
    out.sort_by_key(|o| o.stored.header().request.map(|r| r.due));
    Ok(out)
}

fn open_request(state: &NodeState, row: &ListingRow) -> Result<Option<OpenRequest>> {
    if !matches!(row.kind, EntryKind::Published | EntryKind::Received) {
        return Ok(None);
    }
    let Some(entry) = state.log.get(row.seq)? else {
        return Ok(None);
    };
    let Some(stored) = load(state, entry)? else {
        return Ok(None);
    };
    let (answered_by, awaiting) = request_state(state, &stored)?;
    if awaiting.is_empty() {
        return Ok(None);
    }
    Ok(Some(OpenRequest {
        stored,
        answered_by,
        awaiting,
    }))
}

/// Who answered request `stored` and whose answer is still awaited: for ours, the
/// recipients that have not answered; for a partner's, this node until it answers.
///
/// Errors: the log cannot be read.
pub fn request_state(state: &NodeState, stored: &Stored) -> Result<(Vec<AgencyId>, Vec<AgencyId>)> {
    let header = stored.header();
    let answered = answered_by(state, &header.origin, &header.thread_id(), header.created)?;
    let me = state.node().config().agency.clone();
    let awaiting: Vec<AgencyId> = match stored.direction {
        Direction::Out => header
            .recipients
            .iter()
            .map(|r| r.agency.clone())
            .filter(|a| !answered.contains(a))
            .collect(),
        Direction::In if answered.contains(&me) => Vec::new(),
        Direction::In => vec![me],
    };
    Ok((answered.into_iter().collect(), awaiting))
}
