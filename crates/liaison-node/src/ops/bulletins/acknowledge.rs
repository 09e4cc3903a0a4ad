//! Acknowledgements: a local system records that it handled a received bulletin.

use bytes::Bytes;
use liaison_core::{BulletinId, UnixMillis};
use liaison_store::{Entry, EntryKind};
use serde::{Deserialize, Serialize};

use super::{Direction, find};
use crate::error::{Error, Result};
use crate::node::journal::{self};
use crate::node::state::NodeState;

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
