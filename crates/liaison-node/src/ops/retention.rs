//! Retention: when a bulletin's expiry passes (set by its originator from the
//! retention period its policy gives the category, and signed in the header), every
//! holder erases its payload on its own clock. A receiver also applies its own policy:
//! a received bulletin goes when this node's retention for its category ends, if that
//! comes first (a partner's far-off expiry does not make us keep it longer). The entry's hash stays in the chain, as
//! after a recall; the body goes from the log's files (sled reclaims the space, and
//! `liaison log compact` rewrites the files offline).

use liaison_core::UnixMillis;
use liaison_store::Effect;

use crate::error::Result;
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;

/// Most payloads one sweep erases in one log entry.
const BATCH: usize = 1000;

/// Erases the payload of every bulletin (sent or received) whose expiry is before
/// `now`, in entries of at most 1000 erasures, each recorded as a
/// `retention-erased` event. Returns how many were erased.
///
/// Errors: the log cannot be read or written (what was erased before stays erased).
pub fn erase_expired(state: &NodeState, now: UnixMillis) -> Result<usize> {
    let mut erased = 0;
    loop {
        let mut due = state.log.expired_before(now, BATCH)?;
        if due.is_empty() {
            due = held_too_long(state, now)?;
        }
        if due.is_empty() {
            return Ok(erased);
        }
        let entry = due.iter().fold(
            LogEvent::RetentionErased {
                entries: due.clone(),
            }
            .entry(),
            |entry, seq| entry.with_effect(Effect::EraseBody { seq: *seq }),
        );
        state.log.append(entry)?;
        for seq in &due {
            if let Some(id) = state.log.get(*seq)?.and_then(|e| e.bulletin_id) {
                crate::ops::attachments::erase(state, &id)?;
            }
        }
        erased += due.len();
        tracing::info!(
            erased = due.len(),
            "erased the payload of bulletins whose retention period ended"
        );
    }
}

/// Received bulletins held longer than this node's own retention period for their
/// category, oldest first, at most [`BATCH`]. Log times never go backwards, so only
/// entries logged before the shortest retention period can qualify.
fn held_too_long(state: &NodeState, now: UnixMillis) -> Result<Vec<u64>> {
    let policy = state.policy.snapshot();
    let retention = policy.retention();
    let shortest = retention
        .categories
        .values()
        .copied()
        .chain([retention.default_days])
        .min()
        .unwrap_or(retention.default_days);
    let cutoff = state
        .log
        .first_at_or_after(UnixMillis(now.0 - i64::from(shortest) * 86_400_000))?;
    let scope = liaison_store::ListingScope {
        origins: &[],
        after: 0,
        before: cutoff,
        newest_first: false,
        limit: BATCH,
        budget: 20 * BATCH,
    };
    let page = state.log.listings(&scope, &mut |row| {
        row.kind == liaison_store::EntryKind::Received
            && row.listing.category.parse().is_ok_and(|category| {
                let days = i64::from(retention.days_for(&category).0);
                row.time.0 + days * 86_400_000 < now.0
            })
    })?;
    Ok(page.rows.iter().map(|r| r.seq).collect())
}
