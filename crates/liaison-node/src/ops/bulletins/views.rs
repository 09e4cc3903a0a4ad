//! Bulletins as the operator sees them: send, list, show with delivery state.

use liaison_core::{AgencyId, BulletinContent, BulletinId, Category, HandlingCode, Marking, Tlp};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::ops::bulletins::{self, Delivery, Direction, Draft, Filter, Recipients, Stored};

/// What to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The recipients: named partners, or every partner the policy allows.
    pub to: Recipients,
    /// Dotted category.
    pub category: Category,
    /// TLP level.
    pub tlp: Tlp,
    /// Handling codes.
    #[serde(default)]
    pub handling: Vec<HandlingCode>,
    /// Title.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Days until it expires.
    #[serde(default = "default_expiry_days")]
    pub expires_in_days: u32,
    /// Makes the send idempotent: a retry with the same key (after a dropped answer,
    /// say) returns the first send instead of sending again; 1-128 characters.
    #[serde(default)]
    pub request_key: Option<String>,
}

fn default_expiry_days() -> u32 {
    90
}

/// The result of a send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendView {
    /// The new bulletin's id.
    pub id: String,
    /// The log entry that records it.
    pub log_seq: u64,
    /// Partners it is queued for.
    pub queued_for: Vec<String>,
    /// Requested recipients it was not sealed for, with the reason.
    pub refused: Vec<String>,
}

/// One line of `bulletin list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulletinSummary {
    /// Id.
    pub id: String,
    /// `in` or `out`.
    pub direction: Direction,
    /// Origin agency.
    pub origin: String,
    /// Signed recipients.
    pub recipients: Vec<String>,
    /// Category.
    pub category: String,
    /// TLP.
    pub tlp: String,
    /// Title (decrypted), or why it cannot be shown.
    pub title: String,
    /// When it was logged here.
    pub logged_at: String,
    /// The log entry.
    pub log_seq: u64,
}

/// Delivery state towards one recipient.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientStatus {
    /// The recipient.
    pub agency: String,
    /// `queued`, `retrying`, `accepted`, `duplicate` or `rejected`.
    pub state: String,
    /// Reason of a rejection, or the last transport error while retrying.
    pub detail: Option<String>,
    /// The rejection code from the signed receipt (`REJECT_CODE_...`), if rejected.
    #[serde(default)]
    pub reject_code: Option<String>,
    /// The recipient's log entry, from its signed receipt.
    pub receiver_log_seq: Option<u64>,
    /// When the signed receipt was made.
    pub receipt_time: Option<String>,
}

/// `bulletin show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulletinDetail {
    /// Summary fields.
    #[serde(flatten)]
    pub summary: BulletinSummary,
    /// Handling codes.
    pub handling_codes: Vec<String>,
    /// Created.
    pub created: String,
    /// Expires.
    pub expires: String,
    /// Whether the origin's signature verifies now, or why not.
    pub signature: String,
    /// Body text.
    pub body: String,
    /// Structured entities (JSON objects tagged with their `kind`).
    pub entities: Vec<liaison_core::Entity>,
    /// Per-recipient delivery (published bulletins).
    pub delivery: Vec<RecipientStatus>,
    /// Acknowledgements by local systems (received bulletins).
    pub acknowledgements: Vec<String>,
    /// Its onward chain, oldest first: release grants (made here, or received from the
    /// originator), and for published bulletins each forward a recipient made and each
    /// purge downstream after a recall, from the signed notices.
    #[serde(default)]
    pub onward: Vec<String>,
}

/// Seals a bulletin for the named partners and queues it, durably, for each.
///
/// Errors: an invalid field (named), no recipient able to receive it, or a store
/// failure.
pub fn bulletin_send(state: &NodeState, request: SendRequest) -> Result<SendView> {
    let marking = Marking::new(request.category, request.tlp, request.handling)
        .map_err(|e| Error::InvalidRequest(e.to_string()))?;
    let draft = Draft {
        marking,
        content: BulletinContent {
            title: request.title,
            body: request.body,
            ..BulletinContent::default()
        },
        expires_in_days: request.expires_in_days,
    };
    if let Some(key) = &request.request_key
        && (key.is_empty() || key.len() > 128)
    {
        return Err(Error::InvalidRequest(
            "request key: must be 1-128 characters".into(),
        ));
    }
    let published = bulletins::publish(state, draft, &request.to, request.request_key.as_deref())?;
    Ok(SendView {
        id: published.id.to_string(),
        log_seq: published.log_seq,
        queued_for: published.queued.iter().map(ToString::to_string).collect(),
        refused: published
            .refused
            .iter()
            .map(|(a, r)| format!("{a}: {r}"))
            .collect(),
    })
}

fn summary(stored: &Stored) -> BulletinSummary {
    let h = stored.header();
    BulletinSummary {
        id: h.bulletin_id.to_string(),
        direction: stored.direction,
        origin: h.origin.to_string(),
        recipients: h.recipients.iter().map(|r| r.agency.to_string()).collect(),
        category: h.marking.category.to_string(),
        tlp: h.marking.tlp.to_string(),
        title: match &stored.content {
            Ok(c) => c.title.clone(),
            Err(e) => format!("(cannot decrypt: {e})"),
        },
        logged_at: stored.entry.time.to_string(),
        log_seq: stored.entry.seq,
    }
}

/// Bulletins published and received that `filter` wants, at most `limit`, going on
/// past the scan budget of one page until `limit` are found or the log is exhausted.
pub fn bulletin_list(
    state: &NodeState,
    filter: &Filter,
    limit: usize,
) -> Result<Vec<BulletinSummary>> {
    let (mut out, mut cursor) = (Vec::new(), 0);
    loop {
        let (stored, next, more) = bulletins::page(state, filter, cursor, limit - out.len())?;
        out.extend(stored.iter().map(summary));
        if !more || out.len() >= limit || next == cursor {
            return Ok(out);
        }
        cursor = next;
    }
}

/// One bulletin with its content, signature status and delivery status.
pub fn bulletin_show(state: &NodeState, id: &BulletinId) -> Result<BulletinDetail> {
    let (stored, entries) = bulletins::find(state, id)?;
    let header = stored.header().clone();
    let delivery = match stored.direction {
        Direction::In => Vec::new(),
        Direction::Out => bulletins::delivery(state, &stored, &entries)?
            .into_iter()
            .map(|(agency, d)| recipient_status(agency, d))
            .collect(),
    };
    let content = stored.content.clone().unwrap_or_default();
    Ok(BulletinDetail {
        summary: summary(&stored),
        handling_codes: header
            .marking
            .handling_codes
            .iter()
            .map(ToString::to_string)
            .collect(),
        created: header.created.to_string(),
        expires: header.expires.to_string(),
        signature: signature_text(state, &stored),
        body: content.body,
        entities: content.entities.clone(),
        delivery,
        acknowledgements: bulletins::acknowledgements(state, &entries)
            .into_iter()
            .map(|a| {
                let at = a.time.map(|t| t.to_string()).unwrap_or_default();
                format!("{at} by {}: {}", a.client, a.note)
            })
            .collect(),
        onward: onward_chain(state, &entries),
    })
}

/// The onward chain as this node learnt it, one line per signed grant or notice.
fn onward_chain(state: &NodeState, entries: &[liaison_store::Entry]) -> Vec<String> {
    onward_events(state, entries)
        .into_iter()
        .filter_map(|(logged, event)| match event {
            LogEvent::ReleaseGranted {
                holders, to, expires, ..
            } => Some(format!(
                "{logged} released by this node: {} may pass it on to {} until {expires} (signed grant)",
                join(&holders),
                join(&to)
            )),
            LogEvent::ReleaseReceived {
                origin, to, expires, ..
            } => Some(format!(
                "{logged} released by {origin}: this node may pass it on to {} until {expires} (signed grant)",
                join(&to)
            )),
            LogEvent::OnwardForwarded {
                forwarder,
                to,
                forwarded_at,
                ..
            } => Some(format!(
                "{forwarded_at} {forwarder} forwarded it to {to} (signed by {forwarder})"
            )),
            LogEvent::OnwardPurged {
                relayed_by,
                receiver,
                purged_at,
                ..
            } => Some(format!(
                "{purged_at} {receiver} purged it after the recall (signed receipt, relayed by {relayed_by})"
            )),
            _ => None,
        })
        .collect()
}

/// The `onward` entries among a bulletin's `entries` (grants, forward notices, relayed
/// purges), with when each was logged, oldest first.
pub fn onward_events(
    state: &NodeState,
    entries: &[liaison_store::Entry],
) -> Vec<(liaison_core::UnixMillis, LogEvent)> {
    entries
        .iter()
        .filter(|e| e.kind == liaison_store::EntryKind::Onward)
        .filter_map(|e| Some((e.time, LogEvent::parse(&state.log.body(e).ok().flatten()?)?)))
        .collect()
}

fn join(agencies: &[liaison_core::AgencyId]) -> String {
    agencies
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The origin's signature as `bulletin show` states it: valid or not, and whether the
/// key that made it was revoked after this node received the bulletin.
fn signature_text(state: &NodeState, stored: &Stored) -> String {
    let header = stored.header();
    if let Err(e) = stored.verify_signature(state) {
        return format!("NOT VALID: {e}");
    }
    let valid = format!("valid ({} key {})", header.origin, header.signing_key_id);
    let partners = state.partners.snapshot();
    let revocation = partners.get(&header.origin).and_then(|p| {
        p.identity
            .document()
            .revocation(&header.signing_key_id)
            .cloned()
    });
    match (stored.direction, revocation) {
        (Direction::In, Some(revoked)) => format!(
            "{valid} when received; the key was revoked later ({}, at {})",
            revoked.reason.as_str(),
            revoked.revoked_at
        ),
        _ => valid,
    }
}

fn recipient_status(agency: AgencyId, delivery: Delivery) -> RecipientStatus {
    let (state, detail, receiver_log_seq, receipt_time) = match delivery {
        Delivery::Queued => ("queued", None, None, None),
        Delivery::Retrying { failure } => ("retrying", Some(failure.to_string()), None, None),
        Delivery::Abandoned => ("not queued", None, None, None),
        Delivery::Withdrawn { receipt } => (
            "recalled (never delivered)",
            None,
            None,
            Some(receipt.receipt().time.to_string()),
        ),
        Delivery::Purged { receipt, log_seq } => (
            "recalled (purged)",
            None,
            Some(log_seq),
            Some(receipt.receipt().time.to_string()),
        ),
        Delivery::Delivered {
            receipt,
            duplicate,
            receiver_log_seq,
        } => (
            if duplicate { "duplicate" } else { "accepted" },
            None,
            Some(receiver_log_seq),
            Some(receipt.receipt().time.to_string()),
        ),
        Delivery::Rejected {
            receipt,
            code,
            reason,
        } => {
            return RecipientStatus {
                agency: agency.to_string(),
                state: "rejected".into(),
                detail: Some(reason),
                reject_code: Some(code.as_str().to_owned()),
                receiver_log_seq: None,
                receipt_time: Some(receipt.receipt().time.to_string()),
            };
        }
    };
    RecipientStatus {
        agency: agency.to_string(),
        state: state.into(),
        detail,
        reject_code: None,
        receiver_log_seq,
        receipt_time,
    }
}
