//! Acknowledgements, both ends: a recipient signs that it received, read or acted on a
//! bulletin and queues that for the originator, through the normal delivery path; the
//! originator keeps what each recipient said, with the signature.

use liaison_core::acknowledgement::{AckState, SignedAcknowledgement};
use liaison_core::{AgencyId, BulletinId, UnixMillis};
use liaison_store::{Effect, Entry, EntryKind};
use serde::{Deserialize, Serialize};

use super::{Direction, find};
use crate::error::{Error, Result};
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;

/// An acknowledgement as `bulletin show` and the client API present it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// Who: a recipient agency (at the originator), or the local officer or client.
    pub by: String,
    /// The recipient agency, for one received from a partner.
    #[serde(default)]
    pub agency: Option<AgencyId>,
    /// How far it got.
    pub state: AckState,
    /// Its note.
    pub note: String,
    /// When: the recipient's signed time, or when it was logged here.
    pub time: UnixMillis,
    /// Whether it went to the originator (made here), or came signed (received).
    pub signed: bool,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcknowledgeView {
    /// The log entry recording it.
    pub log_seq: u64,
    /// The originator it is queued for, if the originator is a partner.
    pub sent_to: Option<String>,
}

/// Records that `by` (a client or the local operator) got as far as `ack` with
/// received bulletin `id`, and queues the signed acknowledgement for its originator.
///
/// Errors: [`Error::NotFound`]; [`Error::InvalidRequest`] for one of our own bulletins
/// or a note over 1024 bytes.
pub fn acknowledge(
    state: &NodeState,
    id: &BulletinId,
    by: &str,
    ack: AckState,
    note: &str,
) -> Result<AcknowledgeView> {
    let (stored, _) = find(state, id)?;
    if stored.direction != Direction::In {
        return Err(Error::InvalidRequest(format!(
            "{id} was published here, not received"
        )));
    }
    let origin = stored.header().origin.clone();
    let node = state.node();
    let signed = SignedAcknowledgement::sign(
        *id,
        origin.clone(),
        node.config().agency.clone(),
        ack,
        note.to_owned(),
        &node.keys().signing,
    )
    .map_err(|e| Error::InvalidRequest(e.to_string()))?;
    // A bulletin forwarded to us by a third agency may come from an originator we do
    // not peer with: then the acknowledgement stays here.
    let sent_to = state
        .partners
        .snapshot()
        .get(&origin)
        .map(|_| origin.clone());
    let event = LogEvent::Acknowledged {
        by: by.to_owned(),
        state: ack,
        note: note.to_owned(),
        sent_to: sent_to.clone(),
        signed: data_encoding::BASE64.encode(&signed.to_bytes()),
    };
    let mut entry = event.entry().about_bulletin(*id);
    if let Some(origin) = &sent_to {
        super::check_outbox_room(state, [origin])?;
        entry = entry.with_effect(Effect::Enqueue(origin.clone()));
    }
    let appended = state.log.append(entry)?;
    if let Some(origin) = &sent_to {
        state.wake(origin);
    }
    Ok(AcknowledgeView {
        log_seq: appended.seq,
        sent_to: sent_to.map(|a| a.to_string()),
    })
}

/// The signed acknowledgement in an `acknowledged` entry made here, to send to the
/// originator.
///
/// Errors: the log cannot be read, or the entry holds none.
pub fn signed_bytes(state: &NodeState, entry: &Entry) -> Result<Option<bytes::Bytes>> {
    let Some(body) = state.log.body(entry)? else {
        return Ok(None);
    };
    match LogEvent::parse(&body) {
        Some(LogEvent::Acknowledged { signed, .. }) => data_encoding::BASE64
            .decode(signed.as_bytes())
            .map(|b| Some(b.into()))
            .map_err(|e| Error::Internal(format!("entry {}: not base64: {e}", entry.seq))),
        _ => Err(Error::Internal(format!(
            "entry {} is queued but holds no acknowledgement",
            entry.seq
        ))),
    }
}

/// The acknowledgements among a bulletin's entries, oldest first: those made here and
/// those its recipients sent us. Entries written before version 0.4 (`client`,
/// `note`) read as `actioned`.
pub fn acknowledgements(state: &NodeState, entries: &[Entry]) -> Vec<Acknowledgement> {
    #[derive(Deserialize)]
    struct Legacy {
        client: String,
        note: String,
    }
    entries
        .iter()
        .filter(|e| e.kind == EntryKind::Acknowledged)
        .filter_map(|e| {
            let body = state.log.body(e).ok().flatten()?;
            Some(match LogEvent::parse(&body) {
                Some(LogEvent::Acknowledged {
                    by,
                    state: ack,
                    note,
                    sent_to,
                    ..
                }) => Acknowledgement {
                    by,
                    agency: None,
                    state: ack,
                    note,
                    time: e.time,
                    signed: sent_to.is_some(),
                },
                // Verified on arrival; its signed time was kept with it.
                Some(LogEvent::AcknowledgementReceived {
                    recipient,
                    state: ack,
                    note,
                    acknowledged_unix_ms,
                    ..
                }) => Acknowledgement {
                    by: recipient.to_string(),
                    agency: Some(recipient),
                    state: ack,
                    note,
                    time: UnixMillis(acknowledged_unix_ms),
                    signed: true,
                },
                _ => {
                    let legacy: Legacy = serde_json::from_slice(&body).ok()?;
                    Acknowledgement {
                        by: legacy.client,
                        agency: None,
                        state: AckState::Actioned,
                        note: legacy.note,
                        time: e.time,
                        signed: false,
                    }
                }
            })
        })
        .collect()
}
