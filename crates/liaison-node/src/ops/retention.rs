//! Retention: when a bulletin's expiry passes (set by its originator from the
//! retention period its policy gives the category, and signed in the header), every
//! holder erases its payload on its own clock. The entry's hash stays in the chain, as
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
        let due = state.log.expired_before(now, BATCH)?;
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
        erased += due.len();
        tracing::info!(
            erased = due.len(),
            "erased the payload of bulletins whose retention period ended"
        );
    }
}
