//! Bulletins as the operator sees them: send, list, show with delivery state,
//! threads and open requests.

use liaison_core::handling::{Evaluation, InformationRequest};
use liaison_core::{
    AgencyId, Attachment, BulletinContent, BulletinId, Category, Entity, HandlingCode, Marking,
    Reference, ReferenceKind, Tlp,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::ops::bulletins::{self, Delivery, Direction, Draft, Filter, Recipients, Stored};

/// What to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// The recipients: named partners, or every partner the policy allows. Absent for
    /// a reply or update: everyone on the bulletin it answers (its originator and its
    /// other recipients), each still judged by the policy.
    #[serde(default)]
    pub to: Option<Recipients>,
    /// Dotted category.
    pub category: Category,
    /// TLP level.
    pub tlp: Tlp,
    /// Handling codes.
    #[serde(default)]
    pub handling: Vec<HandlingCode>,
    /// The restriction H3 stands for (required with H3, refused without).
    #[serde(default)]
    pub restriction: String,
    /// Admiralty evaluation, e.g. `B2`.
    #[serde(default)]
    pub evaluation: Option<Evaluation>,
    /// Title.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Structured entities (normalised by the node).
    #[serde(default)]
    pub entities: Vec<Entity>,
    /// Files.
    #[serde(default)]
    pub attachments: Vec<AttachmentUpload>,
    /// The bulletin this one answers.
    #[serde(default)]
    pub reply_to: Option<BulletinId>,
    /// The bulletin this one updates (supersedes).
    #[serde(default)]
    pub update_of: Option<BulletinId>,
    /// Makes it a request for information.
    #[serde(default)]
    pub request: Option<InformationRequest>,
    /// Days until it expires; absent for the policy's retention period.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
    /// Makes the send idempotent: a retry with the same key (after a dropped answer,
    /// say) returns the first send instead of sending again; 1-128 characters.
    #[serde(default)]
    pub request_key: Option<String>,
}

impl SendRequest {
    /// A plain bulletin: no handling codes, entities, attachments or references,
    /// living as long as the policy's retention period for its category.
    pub fn new(
        to: Recipients,
        category: Category,
        tlp: Tlp,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self {
            to: Some(to),
            category,
            tlp,
            handling: Vec::new(),
            restriction: String::new(),
            evaluation: None,
            title: title.into(),
            body: body.into(),
            entities: Vec::new(),
            attachments: Vec::new(),
            reply_to: None,
            update_of: None,
            request: None,
            expires_in_days: None,
            request_key: None,
        }
    }
}

/// A file to attach, as it crosses the admin socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentUpload {
    /// File name, without directories.
    pub file_name: String,
    /// IANA media type.
    pub media_type: String,
    /// The bytes, base64, for one that travels inside the envelope.
    #[serde(default)]
    pub data_base64: String,
    /// Or a file the CLI sealed into the store's staging directory, for one that
    /// travels beside the envelope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<StagedFile>,
}

/// An attachment the CLI sealed in chunks into the staging directory
/// (`liaison_core::attachment::seal`), described.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagedFile {
    /// Its bare name in the staging directory (`<32 hex>.part`).
    pub file: String,
    /// Plaintext bytes.
    pub size: u64,
    /// The chunks' AES-256-GCM key, hex.
    pub content_key_hex: String,
    /// SHA-256 of the ciphertext, hex.
    pub ciphertext_sha256_hex: String,
}

/// An attachment as `bulletin show` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentSummary {
    /// Its number, from 1 (`bulletin attachment get ID N`).
    pub number: usize,
    /// File name.
    pub file_name: String,
    /// Media type, as the sender declared it.
    pub media_type: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Whether it travels beside the envelope (sealed in chunks, streamed) rather than
    /// inside it.
    pub streamed: bool,
}

/// A request for information as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestView {
    /// `routine`, `urgent` or `immediate`.
    pub priority: String,
    /// When an answer is due.
    pub due: String,
    /// The agencies that have answered (sent a bulletin in its thread).
    pub answered_by: Vec<String>,
    /// Recipients that have not answered yet.
    pub awaiting: Vec<String>,
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
    /// When its originator wrote it.
    #[serde(default)]
    pub created: String,
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
    /// Each handling code with its meaning (`H2: no dissemination ...`).
    #[serde(default)]
    pub handling_meanings: Vec<String>,
    /// The restriction H3 stands for.
    #[serde(default)]
    pub restriction: String,
    /// Admiralty evaluation in words (`B2: source usually reliable, ...`).
    #[serde(default)]
    pub evaluation: Option<String>,
    /// The conversation it belongs to (its own id when it starts one).
    #[serde(default)]
    pub thread: String,
    /// Bulletins it answers or updates (`reply to ID`, `update of ID`).
    #[serde(default)]
    pub references: Vec<String>,
    /// Set for a request for information.
    #[serde(default)]
    pub request: Option<RequestView>,
    /// Its attachments.
    #[serde(default)]
    pub attachments: Vec<AttachmentSummary>,
    /// Per-recipient delivery (published bulletins).
    pub delivery: Vec<RecipientStatus>,
    /// Acknowledgements: made here (received bulletins), or signed and sent back by
    /// each recipient (published bulletins).
    pub acknowledgements: Vec<bulletins::Acknowledgement>,
    /// Other bulletins held here that share a selector with it (a phone number,
    /// account, plate, VIN or name).
    #[serde(default)]
    pub links: Vec<crate::ops::connections::LinkView>,
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
    let invalid = |e: liaison_core::Malformed| Error::InvalidRequest(e.to_string());
    let marking = Marking::new(request.category, request.tlp, request.handling)
        .map_err(invalid)?
        .with_evaluation(request.evaluation)
        .with_restriction(request.restriction)
        .map_err(invalid)?;
    let attachments = request
        .attachments
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let invalid = |e: String| Error::InvalidRequest(format!("attachments[{i}]: {e}"));
            let mut wire = liaison_proto::format::v1::Attachment {
                file_name: a.file_name,
                media_type: a.media_type,
                ..Default::default()
            };
            match &a.staged {
                None => {
                    wire.data = data_encoding::BASE64
                        .decode(a.data_base64.as_bytes())
                        .map_err(|e| invalid(format!("not base64: {e}")))?
                        .into();
                }
                Some(staged) => {
                    let hex = |field: &str, text: &str| {
                        data_encoding::HEXLOWER
                            .decode(text.as_bytes())
                            .map_err(|e| invalid(format!("{field}: not hex: {e}")))
                    };
                    wire.size = staged.size;
                    wire.content_key = hex("content_key_hex", &staged.content_key_hex)?.into();
                    wire.ciphertext_sha256 =
                        hex("ciphertext_sha256_hex", &staged.ciphertext_sha256_hex)?.into();
                }
            }
            let attachment = Attachment::try_from(wire).map_err(|e| invalid(e.to_string()))?;
            if let (Some(staged), Some(streamed)) = (&a.staged, &attachment.streamed) {
                crate::ops::attachments::accept_staged(state, &staged.file, streamed)?;
            }
            Ok(attachment)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut references = Vec::new();
    if let Some(id) = request.reply_to {
        references.push(Reference {
            bulletin_id: id,
            kind: ReferenceKind::Reply,
        });
    }
    if let Some(id) = request.update_of {
        references.push(Reference {
            bulletin_id: id,
            kind: ReferenceKind::Update,
        });
    }
    let to = match (request.to, request.reply_to.or(request.update_of)) {
        (Some(to), _) => to,
        (None, Some(parent)) => Recipients::Named(bulletins::thread_parties(state, &parent)?),
        (None, None) => {
            return Err(Error::InvalidRequest(
                "name the recipients (--to), or answer a bulletin (--reply-to)".into(),
            ));
        }
    };
    let draft = Draft {
        marking,
        content: BulletinContent {
            title: request.title,
            body: request.body,
            entities: request.entities,
            attachments,
            references,
        },
        expires_in_days: request.expires_in_days,
        request: request.request,
    };
    if let Some(key) = &request.request_key
        && (key.is_empty() || key.len() > 128)
    {
        return Err(Error::InvalidRequest(
            "request key: must be 1-128 characters".into(),
        ));
    }
    let published = bulletins::publish(state, draft, &to, request.request_key.as_deref())?;
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

pub(crate) fn summary(stored: &Stored) -> BulletinSummary {
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
        created: h.created.to_string(),
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
    Ok(bulletin_page(state, filter, 0, limit)?.0)
}

/// Up to `limit` bulletins after log entry `after` (before it, newest first; 0 starts
/// at the beginning, or the end), and the cursor to go on from if there may be more.
pub fn bulletin_page(
    state: &NodeState,
    filter: &Filter,
    after: u64,
    limit: usize,
) -> Result<(Vec<BulletinSummary>, Option<u64>)> {
    let (mut out, mut cursor) = (Vec::new(), after);
    loop {
        let (stored, next, more) = bulletins::page(state, filter, cursor, limit - out.len())?;
        out.extend(stored.iter().map(summary));
        let more = more && next != cursor;
        if !more || out.len() >= limit {
            return Ok((out, more.then_some(next)));
        }
        cursor = next;
    }
}

/// One bulletin with its content, signature status and delivery status.
pub fn bulletin_show(state: &NodeState, id: &BulletinId) -> Result<BulletinDetail> {
    let (stored, entries) = bulletins::find(state, id)?;
    bulletin_detail(state, &stored, &entries)
}

/// [`bulletin_show`] for a bulletin already loaded (`stored`) with every log entry
/// about it (`entries`): nothing is read or decrypted again.
pub fn bulletin_detail(
    state: &NodeState,
    stored: &Stored,
    entries: &[liaison_store::Entry],
) -> Result<BulletinDetail> {
    let header = stored.header().clone();
    let delivery = match stored.direction {
        Direction::In => Vec::new(),
        Direction::Out => bulletins::delivery(state, stored, entries)?
            .into_iter()
            .map(|(agency, d)| recipient_status(agency, d))
            .collect(),
    };
    let content = stored.content.clone().unwrap_or_default();
    let request = header
        .request
        .map(|r| request_view(state, stored, r))
        .transpose()?;
    Ok(BulletinDetail {
        handling_meanings: header
            .marking
            .handling_codes
            .iter()
            .map(|c| match liaison_core::handling::meaning(c) {
                Some(meaning) => format!("{c}: {meaning}"),
                None => format!("{c}: (meaning set by agreement with {})", header.origin),
            })
            .collect(),
        restriction: header.marking.restriction.clone(),
        evaluation: header.marking.evaluation.map(|e| e.describe()),
        thread: header.thread_id().to_string(),
        references: content
            .references
            .iter()
            .map(|r| {
                let how = match r.kind {
                    ReferenceKind::Reply => "reply to",
                    ReferenceKind::Update => "update of",
                    ReferenceKind::Recall => "recall of",
                };
                format!("{how} {}", r.bulletin_id)
            })
            .collect(),
        request,
        attachments: content
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| AttachmentSummary {
                number: i + 1,
                file_name: a.file_name.clone(),
                media_type: a.media_type.clone(),
                bytes: a.size(),
                streamed: a.streamed.is_some(),
            })
            .collect(),
        summary: summary(stored),
        handling_codes: header
            .marking
            .handling_codes
            .iter()
            .map(ToString::to_string)
            .collect(),
        created: header.created.to_string(),
        expires: header.expires.to_string(),
        signature: signature_text(state, stored),
        body: content.body,
        entities: content.entities.clone(),
        delivery,
        acknowledgements: bulletins::acknowledgements(state, entries),
        links: crate::ops::connections::links_of(state, &header.bulletin_id)?,
        onward: onward_chain(state, entries),
    })
}

fn request_view(
    state: &NodeState,
    stored: &Stored,
    request: InformationRequest,
) -> Result<RequestView> {
    let (answered, awaiting) = bulletins::request_state(state, stored)?;
    Ok(RequestView {
        priority: request.priority.to_string(),
        due: request.due.to_string(),
        answered_by: answered.iter().map(ToString::to_string).collect(),
        awaiting: awaiting.iter().map(ToString::to_string).collect(),
    })
}

/// The conversation bulletin `id` belongs to, oldest first.
///
/// Errors: [`Error::NotFound`].
pub fn bulletin_thread(state: &NodeState, id: &BulletinId) -> Result<Vec<BulletinSummary>> {
    Ok(bulletins::thread(state, id)?.iter().map(summary).collect())
}

/// One open request for information, as `bulletin list --open-requests` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenRequestView {
    /// The request.
    #[serde(flatten)]
    pub summary: BulletinSummary,
    /// Priority and due time, who answered and who has not.
    pub request: RequestView,
}

/// Requests for information awaiting an answer (ours and partners'), soonest due
/// first.
///
/// Errors: the log cannot be read.
pub fn open_requests(state: &NodeState) -> Result<Vec<OpenRequestView>> {
    Ok(bulletins::open_requests(state)?
        .into_iter()
        .filter_map(|open| {
            let request = open.stored.header().request?;
            Some(OpenRequestView {
                summary: summary(&open.stored),
                request: RequestView {
                    priority: request.priority.to_string(),
                    due: request.due.to_string(),
                    answered_by: open.answered_by.iter().map(ToString::to_string).collect(),
                    awaiting: open.awaiting.iter().map(ToString::to_string).collect(),
                },
            })
        })
        .collect())
}

/// Attachment `number` (from 1) of bulletin `id`.
///
/// Errors: [`Error::NotFound`] for an unknown bulletin or number; [`Error::InvalidRequest`]
/// for a bulletin whose content cannot be read here.
pub fn attachment(state: &NodeState, id: &BulletinId, number: usize) -> Result<Attachment> {
    let (stored, _) = bulletins::find(state, id)?;
    let content = stored
        .content
        .map_err(|e| Error::InvalidRequest(format!("{id} cannot be read here: {e}")))?;
    let count = content.attachments.len();
    number
        .checked_sub(1)
        .and_then(|i| content.attachments.into_iter().nth(i))
        .ok_or_else(|| {
            Error::NotFound(format!(
                "attachment {number} of {id}: it has {count} attachment(s)"
            ))
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
