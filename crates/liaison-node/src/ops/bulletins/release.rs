//! Release grants, both ends: the originator signs its consent that named holders may
//! pass a bulletin on to named partners (queued for each holder as a chain notice), and
//! a holder finds the grant that covers a forward it is asked to make.

use liaison_core::release::{SignedReleaseGrant, releasable};
use liaison_core::{AgencyId, BulletinId, UnixMillis};
use liaison_store::{Effect, Entry, EntryKind};
use serde::{Deserialize, Serialize};

use super::{Direction, find};
use crate::error::{Error, Result};
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;

/// What a release did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseView {
    /// The bulletin.
    pub id: String,
    /// The recipients that may pass it on; the grant is queued for each.
    pub holders: Vec<String>,
    /// The partners it may go to.
    pub to: Vec<String>,
    /// Until when.
    pub expires: String,
    /// The log entry recording the grant.
    pub log_seq: u64,
}

/// Releases bulletin `id`, published here, for onward sharing: `holders` (default:
/// every recipient it was sealed for) may forward it to `to` for `days` days (default,
/// and at most: until the bulletin expires). The grant is signed with this node's
/// bulletin-signing key and queued for each holder.
///
/// Errors: [`Error::NotFound`]; [`Error::InvalidRequest`] for a bulletin received
/// here, a TLP that cannot be released (AMBER+STRICT, RED), a holder that is not a
/// recipient, a `to` that is this node or a holder, or an empty list;
/// [`Error::UnknownPartner`] for a `to` this node does not know (the new recipient
/// checks this node's signature, so it must be a partner).
pub fn release(
    state: &NodeState,
    id: &BulletinId,
    to: &[AgencyId],
    holders: Option<&[AgencyId]>,
    days: Option<u32>,
) -> Result<ReleaseView> {
    let (stored, _) = find(state, id)?;
    let header = stored.header();
    if stored.direction != Direction::Out {
        return Err(Error::InvalidRequest(format!(
            "{id} was received from {}; only its originator can release it",
            header.origin
        )));
    }
    releasable(header.marking.tlp).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    let recipients: Vec<AgencyId> = header.recipients.iter().map(|r| r.agency.clone()).collect();
    let holders = match holders {
        Some(named) => {
            if let Some(stranger) = named.iter().find(|h| !recipients.contains(h)) {
                return Err(Error::InvalidRequest(format!(
                    "{stranger} is not a recipient of {id}: only its recipients hold it and can pass it on"
                )));
            }
            named.to_vec()
        }
        None => recipients,
    };
    let me = state.node().config().agency.clone();
    if to.is_empty() || holders.is_empty() {
        return Err(Error::InvalidRequest(
            "name at least one partner to release it to (--to) and one holder".into(),
        ));
    }
    let limit = liaison_core::release::MAX_GRANT_PARTIES;
    if to.len() > limit || holders.len() > limit {
        return Err(Error::InvalidRequest(format!(
            "a release names at most {limit} holders and {limit} partners"
        )));
    }
    let partners = state.partners.snapshot();
    for partner in to {
        if partner == &me || holders.contains(partner) {
            return Err(Error::InvalidRequest(format!(
                "{partner} already holds {id} (or is its originator): release it to others"
            )));
        }
        if partners.get(partner).is_none() {
            return Err(Error::UnknownPartner(partner.clone()));
        }
    }
    let now = UnixMillis::now();
    let expires = match days {
        Some(0) => {
            return Err(Error::InvalidRequest("--days: at least 1".into()));
        }
        Some(days) => now.plus_days(i64::from(days)).min(header.expires),
        None => header.expires,
    };
    let node = state.node();
    let grant = SignedReleaseGrant::sign(
        *id,
        me,
        holders.clone(),
        to.to_vec(),
        expires,
        &node.keys().signing,
    );
    let event = LogEvent::ReleaseGranted {
        holders: holders.clone(),
        to: to.to_vec(),
        expires: expires.to_string(),
        grant: data_encoding::BASE64.encode(&grant.to_bytes()),
    };
    let entry = holders
        .iter()
        .fold(event.entry().about_bulletin(*id), |e, h| {
            e.with_effect(Effect::Enqueue(h.clone()))
        });
    let appended = state.log.append(entry)?;
    for holder in &holders {
        state.wake(holder);
    }
    Ok(ReleaseView {
        id: id.to_string(),
        holders: holders.iter().map(ToString::to_string).collect(),
        to: to.iter().map(ToString::to_string).collect(),
        expires: expires.to_string(),
        log_seq: appended.seq,
    })
}

/// The signed grant in an `onward` entry (one this node issued or received), if it
/// holds one.
pub fn grant_bytes(state: &NodeState, entry: &Entry) -> Result<Option<bytes::Bytes>> {
    if entry.kind != EntryKind::Onward {
        return Ok(None);
    }
    let Some(body) = state.log.body(entry)? else {
        return Ok(None);
    };
    let grant = match LogEvent::parse(&body) {
        Some(LogEvent::ReleaseGranted { grant, .. } | LogEvent::ReleaseReceived { grant, .. }) => {
            grant
        }
        _ => return Ok(None),
    };
    data_encoding::BASE64
        .decode(grant.as_bytes())
        .map(|b| Some(b.into()))
        .map_err(|e| Error::Internal(format!("entry {}: grant is not base64: {e}", entry.seq)))
}

/// The release grant among a received bulletin's `entries` that lets this node pass
/// it on to `to` now, if any; newest first.
///
/// Errors: the log cannot be read.
pub fn grant_covering(
    state: &NodeState,
    entries: &[Entry],
    id: &BulletinId,
    origin: &AgencyId,
    to: &AgencyId,
) -> Result<Option<SignedReleaseGrant>> {
    let me = state.node().config().agency.clone();
    let partners = state.partners.snapshot();
    // Accepted when it arrived; a later revocation of the key that signed it does not
    // withdraw the consent (judged by log time, like the bulletin itself).
    let directory = liaison_core::directory::AcceptedBefore(&*partners);
    let now = UnixMillis::now();
    for entry in entries.iter().rev() {
        let Some(bytes) = grant_bytes(state, entry)? else {
            continue;
        };
        let Ok(grant) = SignedReleaseGrant::verify(bytes, &directory) else {
            continue;
        };
        if grant.permits(id, origin, &me, to, now).is_ok() {
            return Ok(Some(grant));
        }
    }
    Ok(None)
}
