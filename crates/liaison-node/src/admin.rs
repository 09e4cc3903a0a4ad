//! Operator commands: partners and bulletins. One implementation serves both ways the
//! CLI reaches a node: through the running node's admin socket, or — when the node is
//! not running — directly on its data directory. Either way each change is a log entry.
//!
//! The socket (`admin.sock` in the data directory, mode 0600) speaks one JSON request
//! per line ([`AdminRequest`]) and answers one JSON line: `{"ok": VIEW}` or
//! `{"error": "sentence"}`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use liaison_core::policy::Policy;
use liaison_core::tls;
use liaison_core::{
    AgencyId, BulletinContent, BulletinId, Fingerprint, Marking, SignedIdentity, UnixMillis,
};
use liaison_store::{Effect, EntryKind, NewEntry};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

pub use crate::bulletins::Direction;
use crate::bulletins::{self, Delivery, Draft, Filter, Recipients, Stored};
use crate::clients::{self, ClientRecord, Role};
use crate::error::{Error, Result};
use crate::partners::Partner;
use crate::state::NodeState;

/// File name of the admin socket in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";

/// The path of a node's admin socket.
pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(ADMIN_SOCKET)
}

/// A command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum AdminRequest {
    /// Import a partner's identity bundle if its fingerprint is the expected one.
    PeerAdd {
        /// The bundle, base64.
        bundle_base64: String,
        /// The fingerprint read out over a trusted channel.
        fingerprint: String,
    },
    /// Every partner.
    PeerList,
    /// One partner.
    PeerShow {
        /// The partner.
        agency: String,
    },
    /// Forget a partner.
    PeerRemove {
        /// The partner.
        agency: String,
    },
    /// Seal and queue a bulletin.
    BulletinSend(SendRequest),
    /// Bulletins sent and received.
    BulletinList {
        /// `in`, `out`, or both when absent.
        direction: Option<Direction>,
    },
    /// One bulletin, decrypted, with its delivery status.
    BulletinShow {
        /// Its id.
        id: String,
    },
    /// Pass a received bulletin on to another partner (onward sharing).
    BulletinForward {
        /// Its id.
        id: String,
        /// The partner.
        to: String,
    },
    /// Recall a bulletin this node published.
    BulletinRecall {
        /// Its id.
        id: String,
        /// Why.
        reason: String,
    },
    /// Issue a client certificate from the agency CA and register it with roles.
    ClientIssue {
        /// The client's name.
        name: String,
        /// `publish`, `read`, `admin`.
        roles: Vec<String>,
    },
    /// Every registered client.
    ClientList,
    /// Health at a glance: listeners, partners, log, keys.
    Status,
    /// Re-hash and check the whole log.
    LogVerify,
    /// Rotate a key: `signing`, `encryption` or `tls`.
    KeyRotate {
        /// Which key.
        purpose: crate::keys::KeyPurpose,
    },
    /// Revoke a retired key.
    KeyRevoke {
        /// Its id.
        key_id: String,
        /// `compromised` or `superseded`.
        reason: String,
    },
    /// The sharing policy in force.
    PolicyShow,
    /// Read policy.toml again and put it in force atomically.
    PolicyReload,
    /// Would a bulletin with this marking go to this partner, and why not?
    PolicyExplain {
        /// The partner.
        to: String,
        /// The category.
        category: String,
        /// The TLP level.
        tlp: String,
        /// Handling codes.
        #[serde(default)]
        handling: Vec<String>,
    },
    /// Log entries from a sequence number on, with their hashes.
    LogExport {
        /// First entry.
        since: u64,
        /// At most this many.
        limit: usize,
    },
    /// Revoke a client: its certificate is refused from now on.
    ClientRevoke {
        /// The client's name.
        name: String,
    },
}

/// A newly issued client: its registration and the files it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedClient {
    /// The registration.
    pub record: ClientRecord,
    /// Its certificate, PEM.
    pub certificate_pem: String,
    /// Its private key, PEM. Shown once; the node keeps no copy.
    pub private_key_pem: String,
    /// The agency CA certificate, PEM, to verify the node's API certificate.
    pub ca_pem: String,
}

/// What to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Recipient agency ids.
    pub to: Vec<String>,
    /// Dotted category.
    pub category: String,
    /// TLP level.
    pub tlp: String,
    /// Handling codes.
    #[serde(default)]
    pub handling: Vec<String>,
    /// Title.
    pub title: String,
    /// Body text.
    pub body: String,
    /// Days until it expires.
    #[serde(default = "default_expiry_days")]
    pub expires_in_days: u32,
}

fn default_expiry_days() -> u32 {
    90
}

/// A partner as shown to the operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerView {
    /// Agency id.
    pub agency: String,
    /// Name.
    pub display_name: String,
    /// Root-key fingerprint.
    pub fingerprint: String,
    /// Identity document version held.
    pub identity_version: u64,
    /// Its peer endpoints.
    pub endpoints: Vec<String>,
    /// Its current signing key.
    pub signing_key_id: String,
    /// Its current encryption key.
    pub encryption_key_id: String,
    /// Identity valid until.
    pub valid_until: String,
    /// Bulletins queued for it.
    pub outbox: usize,
    /// The last delivery error, while delivery is failing (running node only).
    pub last_error: Option<String>,
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
    /// Structured entities, one line each.
    pub entities: Vec<String>,
    /// Per-recipient delivery (published bulletins).
    pub delivery: Vec<RecipientStatus>,
    /// Acknowledgements by local systems (received bulletins).
    pub acknowledgements: Vec<String>,
}

/// Runs one command against the node's state. Blocking: call from a blocking thread.
pub fn execute(state: &NodeState, request: AdminRequest) -> Result<serde_json::Value> {
    match request {
        AdminRequest::PeerAdd {
            bundle_base64,
            fingerprint,
        } => json(&peer_add(state, &bundle_base64, &fingerprint)?),
        AdminRequest::PeerList => json(&peer_list(state)),
        AdminRequest::PeerShow { agency } => json(&peer_show(state, &parse_agency(&agency)?)?),
        AdminRequest::PeerRemove { agency } => json(&peer_remove(state, &parse_agency(&agency)?)?),
        AdminRequest::BulletinSend(request) => json(&bulletin_send(state, request)?),
        AdminRequest::BulletinList { direction } => json(&bulletin_list(state, direction)?),
        AdminRequest::BulletinShow { id } => json(&bulletin_show(state, &id)?),
        AdminRequest::BulletinForward { id, to } => {
            let id: BulletinId = id
                .parse()
                .map_err(|e: liaison_core::Malformed| Error::InvalidRequest(e.to_string()))?;
            json(&bulletins::forward(state, &id, &parse_agency(&to)?)?)
        }
        AdminRequest::BulletinRecall { id, reason } => {
            let id: BulletinId = id
                .parse()
                .map_err(|e: liaison_core::Malformed| Error::InvalidRequest(e.to_string()))?;
            json(&bulletins::recall(state, &id, &reason)?)
        }
        AdminRequest::ClientIssue { name, roles } => json(&client_issue(state, &name, &roles)?),
        AdminRequest::ClientList => json(&state.clients.snapshot().list()),
        AdminRequest::Status => json(&status(state)?),
        AdminRequest::LogVerify => json(&verify_log(&state.node(), &state.log, &mut |_| {})?),
        AdminRequest::KeyRotate { purpose } => json(&crate::keys::rotate(state, purpose)?),
        AdminRequest::KeyRevoke { key_id, reason } => {
            let reason = match reason.as_str() {
                "compromised" => liaison_core::identity::RevocationReason::Compromised,
                "superseded" => liaison_core::identity::RevocationReason::Superseded,
                other => {
                    return Err(Error::InvalidRequest(format!(
                        "{other:?} is not a reason: expected compromised or superseded"
                    )));
                }
            };
            json(&crate::keys::revoke(state, &key_id, reason)?)
        }
        AdminRequest::PolicyShow => json(&policy_view(&state.policy.snapshot())),
        AdminRequest::PolicyReload => json(&policy_view(&*state.reload_policy()?)),
        AdminRequest::PolicyExplain {
            to,
            category,
            tlp,
            handling,
        } => json(&policy_explain(state, &to, &category, &tlp, &handling)?),
        AdminRequest::LogExport { since, limit } => json(&log_export(state, since, limit)?),
        AdminRequest::ClientRevoke { name } => json(&client_revoke(state, &name)?),
    }
}

fn json(value: &impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Admin(e.to_string()))
}

fn parse_agency(text: &str) -> Result<AgencyId> {
    text.parse()
        .map_err(|e: liaison_core::Malformed| Error::InvalidRequest(e.to_string()))
}

fn event(fields: serde_json::Value) -> Bytes {
    Bytes::from(fields.to_string())
}

fn peer_view(state: &NodeState, partner: &Partner) -> PeerView {
    let doc = partner.identity.document();
    PeerView {
        agency: doc.agency.to_string(),
        display_name: doc.display_name.clone(),
        fingerprint: partner.identity.fingerprint().to_string(),
        identity_version: doc.version,
        endpoints: doc.peer_endpoints.clone(),
        signing_key_id: doc.signing_key.key_id.to_string(),
        encryption_key_id: doc.encryption_key.key_id.to_string(),
        valid_until: doc.not_after.to_string(),
        outbox: state.log.outbox_len(&doc.agency),
        last_error: state
            .delivery_error(&doc.agency)
            .map(|f| format!("{} (next attempt {})", f.error, f.next_attempt)),
    }
}

/// Imports a partner's bundle if its root-key fingerprint equals `expected`.
///
/// Errors: [`Error::FingerprintMismatch`] (showing both), a bundle that does not
/// verify, the node's own bundle, or a different agency already under that id.
pub fn peer_add(state: &NodeState, bundle_base64: &str, expected: &str) -> Result<PeerView> {
    let bundle = data_encoding::BASE64
        .decode(bundle_base64.trim().as_bytes())
        .map_err(|_| Error::InvalidRequest("the bundle is not valid base64".into()))?;
    let identity = SignedIdentity::from_bytes(bundle.into())?;
    let expected_fp = Fingerprint::parse(expected)
        .map_err(|e| Error::InvalidRequest(format!("--fingerprint: {e}")))?;
    if identity.fingerprint() != expected_fp {
        return Err(Error::FingerprintMismatch {
            expected: expected_fp.to_string(),
            actual: identity.fingerprint().to_string(),
        });
    }
    let agency = identity.document().agency.clone();
    if agency == state.node().config().agency {
        return Err(Error::InvalidRequest(
            "that is this node's own identity".into(),
        ));
    }
    if let Some(existing) = state.partners.snapshot().get(&agency) {
        if existing.identity.fingerprint() != identity.fingerprint() {
            return Err(Error::InvalidRequest(format!(
                "{agency} is already a partner with another root key ({}); remove it first if the agency really replaced its root",
                existing.identity.fingerprint()
            )));
        }
        if existing.identity.document().version >= identity.document().version {
            return Err(Error::InvalidRequest(format!(
                "{agency} is already a partner at identity version {}",
                existing.identity.document().version
            )));
        }
    }
    let partner = Partner::new(identity.clone())?;
    state.log.append(
        NewEntry::new(
            EntryKind::PeerChange,
            event(serde_json::json!({
                "event": "peer-added",
                "agency": agency.to_string(),
                "fingerprint": identity.fingerprint().to_string(),
                "identity_version": identity.document().version,
            })),
        )
        .about_agency(agency.clone())
        .with_effect(Effect::PutPeer {
            agency: agency.clone(),
            bundle: identity.to_bytes(),
        }),
    )?;
    state.reload_partners()?;
    Ok(peer_view(state, &partner))
}

/// Every partner.
pub fn peer_list(state: &NodeState) -> Vec<PeerView> {
    state
        .partners
        .snapshot()
        .iter()
        .map(|p| peer_view(state, p))
        .collect()
}

/// One partner.
pub fn peer_show(state: &NodeState, agency: &AgencyId) -> Result<PeerView> {
    let partners = state.partners.snapshot();
    let partner = partners
        .get(agency)
        .ok_or_else(|| Error::UnknownPartner(agency.clone()))?;
    Ok(peer_view(state, partner))
}

/// Forgets a partner: nothing more is accepted from or sent to it.
pub fn peer_remove(state: &NodeState, agency: &AgencyId) -> Result<PeerView> {
    let view = peer_show(state, agency)?;
    state.log.append(
        NewEntry::new(
            EntryKind::PeerChange,
            event(serde_json::json!({"event": "peer-removed", "agency": agency.to_string()})),
        )
        .about_agency(agency.clone())
        .with_effect(Effect::RemovePeer(agency.clone())),
    )?;
    state.reload_partners()?;
    state.wake(agency);
    Ok(view)
}

/// Seals a bulletin for the named partners and queues it, durably, for each.
///
/// Errors: an invalid field (named), no recipient able to receive it, or a store
/// failure.
pub fn bulletin_send(state: &NodeState, request: SendRequest) -> Result<SendView> {
    let bad = |e: liaison_core::Malformed| Error::InvalidRequest(e.to_string());
    let recipients = if request.to == ["auto"] {
        Recipients::AllAllowed
    } else {
        Recipients::Named(
            request
                .to
                .iter()
                .map(|a| parse_agency(a))
                .collect::<Result<_>>()?,
        )
    };
    let handling = request
        .handling
        .iter()
        .map(|c| c.parse())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(bad)?;
    let draft = Draft {
        marking: Marking::new(
            request.category.parse().map_err(bad)?,
            request.tlp.parse().map_err(bad)?,
            handling,
        )
        .map_err(bad)?,
        content: BulletinContent {
            title: request.title,
            body: request.body,
            ..BulletinContent::default()
        },
        expires_in_days: request.expires_in_days,
    };
    let published = bulletins::publish(state, draft, &recipients, None)?;
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

/// Bulletins published and received, in log order.
pub fn bulletin_list(
    state: &NodeState,
    direction: Option<Direction>,
) -> Result<Vec<BulletinSummary>> {
    let filter = Filter {
        direction,
        ..Filter::default()
    };
    let (stored, _) = bulletins::page(state, &filter, 0, usize::MAX)?;
    Ok(stored.iter().map(summary).collect())
}

/// One bulletin with its content, signature status and delivery status.
pub fn bulletin_show(state: &NodeState, id: &str) -> Result<BulletinDetail> {
    let id: BulletinId = id
        .parse()
        .map_err(|e: liaison_core::Malformed| Error::InvalidRequest(e.to_string()))?;
    let (stored, entries) = bulletins::find(state, &id)?;
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
        signature: match stored.verify_signature(state) {
            Ok(()) => format!("valid ({} key {})", header.origin, header.signing_key_id),
            Err(e) => format!("NOT VALID: {e}"),
        },
        body: content.body,
        entities: content.entities.iter().map(|e| format!("{e:?}")).collect(),
        delivery,
        acknowledgements: bulletins::acknowledgements(state, &entries)
            .into_iter()
            .map(|a| {
                let at = a.time.map(|t| t.to_string()).unwrap_or_default();
                format!("{at} by {}: {}", a.client, a.note)
            })
            .collect(),
    })
}

fn recipient_status(agency: AgencyId, delivery: Delivery) -> RecipientStatus {
    let (state, detail, receiver_log_seq, receipt_time) = match delivery {
        Delivery::Queued => ("queued", None, None, None),
        Delivery::Retrying { failure } => (
            "retrying",
            Some(format!(
                "{} (next attempt {})",
                failure.error, failure.next_attempt
            )),
            None,
            None,
        ),
        Delivery::Abandoned => ("not queued", None, None, None),
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
        Delivery::Rejected { receipt, reason } => (
            "rejected",
            Some(reason),
            None,
            Some(receipt.receipt().time.to_string()),
        ),
    };
    RecipientStatus {
        agency: agency.to_string(),
        state: state.into(),
        detail,
        receiver_log_seq,
        receipt_time,
    }
}

/// `liaison status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// This agency.
    pub agency: String,
    /// Whether a node process is serving (false when read from a stopped node's files).
    pub running: bool,
    /// Peer listener address (configured).
    pub peer_listen: String,
    /// Client API listener address (configured).
    pub api_listen: String,
    /// Per partner.
    pub partners: Vec<PartnerStatus>,
    /// Log entries.
    pub log_entries: u64,
    /// Hash of the last entry, hex.
    pub log_head: String,
    /// Signed checkpoints.
    pub checkpoints: usize,
    /// Sharing policy version in force.
    pub policy_version: String,
    /// Key and identity ages.
    pub keys: Vec<KeyStatus>,
    /// Things an operator should act on.
    pub warnings: Vec<String>,
}

/// One partner in `liaison status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerStatus {
    /// The partner.
    pub agency: String,
    /// `connected`, `idle`, `failing` or `stopped` (node not running).
    pub connection: String,
    /// Its identity version held here.
    pub identity_version: u64,
    /// Bulletins queued for it.
    pub outbox: usize,
    /// Age of the oldest queued bulletin, seconds.
    pub oldest_queued_seconds: Option<i64>,
    /// When its last receipt was stored.
    pub last_delivery: Option<String>,
    /// The last transport error while failing.
    pub last_error: Option<String>,
}

/// A key in `liaison status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// What it is.
    pub purpose: String,
    /// Its id.
    pub key_id: String,
    /// Age in days.
    pub age_days: i64,
}

/// Health at a glance. `running` is decided by the caller (true over the socket).
pub fn status(state: &NodeState) -> Result<StatusView> {
    let now = UnixMillis::now();
    let days = |t: UnixMillis| (now.0 - t.0) / 86_400_000;
    let mut warnings = Vec::new();
    let partners = state
        .partners
        .snapshot()
        .iter()
        .map(|p| {
            let agency = p.agency();
            let oldest = state
                .log
                .outbox(agency, 0, 1)?
                .first()
                .map(|seq| state.log.get(*seq))
                .transpose()?
                .flatten()
                .map(|e| (now.0 - e.time.0) / 1000);
            let last_delivery = state
                .log
                .entries_for_agency(agency)?
                .iter()
                .rev()
                .find(|e| e.kind == EntryKind::Receipt)
                .map(|e| e.time.to_string());
            let failure = state.delivery_error(agency);
            let doc = p.identity.document();
            if doc.not_after.0 - now.0 < 30 * 86_400_000 {
                warnings.push(format!(
                    "the identity of {agency} expires at {}",
                    doc.not_after
                ));
            }
            if oldest.is_some_and(|s| s > 3600) {
                warnings.push(format!(
                    "bulletins for {agency} have waited more than an hour"
                ));
            }
            Ok(PartnerStatus {
                agency: agency.to_string(),
                connection: match (state.is_connected(agency), &failure) {
                    (true, _) => "connected",
                    (false, Some(_)) => "failing",
                    (false, None) => "idle",
                }
                .into(),
                identity_version: doc.version,
                outbox: state.log.outbox_len(agency),
                oldest_queued_seconds: oldest,
                last_delivery,
                last_error: failure
                    .map(|f| format!("{} (next attempt {})", f.error, f.next_attempt)),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let node = state.node();
    let doc = node.identity().document();
    let keys = vec![
        KeyStatus {
            purpose: "signing".into(),
            key_id: doc.signing_key.key_id.to_string(),
            age_days: days(doc.signing_key.created),
        },
        KeyStatus {
            purpose: "encryption".into(),
            key_id: doc.encryption_key.key_id.to_string(),
            age_days: days(doc.encryption_key.created),
        },
    ];
    if doc.not_after.0 - now.0 < 30 * 86_400_000 {
        warnings.push(format!(
            "this agency's identity expires at {}: rotate keys",
            doc.not_after
        ));
    }
    if state.policy.snapshot().partners().next().is_none() {
        warnings.push("the sharing policy names no partner: nothing is sent or accepted".into());
    }
    let head = state.log.head();
    Ok(StatusView {
        agency: state.node().config().agency.to_string(),
        running: false,
        peer_listen: state.node().config().peer_listen.to_string(),
        api_listen: state.node().config().api_listen.to_string(),
        partners,
        log_entries: head.seq,
        log_head: data_encoding::HEXLOWER.encode(&head.hash),
        checkpoints: state.log.checkpoints()?.len(),
        policy_version: state.policy.snapshot().version().to_owned(),
        keys,
        warnings,
    })
}

/// The result of `liaison log verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyView {
    /// Entries verified.
    pub entries: u64,
    /// Hash of the last, hex.
    pub head_hash: String,
    /// Signed checkpoints verified.
    pub checkpoints: usize,
    /// Bodies read from their own files and checked.
    pub external_bodies: u64,
}

/// Verifies the whole log; checkpoints may be signed by the current or any retired
/// signing key. `progress` is called with each sequence number.
///
/// Errors: [`Error::Store`] naming the first bad entry or checkpoint.
pub fn verify_log(
    node: &crate::Node,
    log: &liaison_store::Log,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyView> {
    let doc = node.identity().document();
    let keys: Vec<_> = std::iter::once(doc.signing_key.key)
        .chain(doc.retired_signing_keys.iter().map(|(k, _)| k.key))
        .collect();
    let report = log.verify(&keys, progress)?;
    Ok(VerifyView {
        entries: report.entries,
        head_hash: data_encoding::HEXLOWER.encode(&report.head.hash),
        checkpoints: report.checkpoints,
        external_bodies: report.external_bodies,
    })
}

/// The policy as shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    /// Its version (hash of the file).
    pub version: String,
    /// One line per partner rule.
    pub partners: Vec<PartnerPolicyView>,
}

/// One partner's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerPolicyView {
    /// The partner.
    pub agency: String,
    /// Categories we send.
    pub send: Vec<String>,
    /// Categories we accept.
    pub receive: Vec<String>,
    /// Highest TLP sent.
    pub max_send_tlp: String,
    /// Handling codes allowed.
    pub accept_handling: Vec<String>,
    /// Onward sharing of their bulletins.
    pub forward_to: Vec<String>,
    /// Ingress rate limit.
    pub max_receive_per_minute: u32,
}

/// Renders a policy for the operator.
pub fn policy_view(policy: &Policy) -> PolicyView {
    PolicyView {
        version: policy.version().to_owned(),
        partners: policy
            .partners()
            .map(|(agency, r)| PartnerPolicyView {
                agency: agency.to_string(),
                send: r.send.clone(),
                receive: r.receive.clone(),
                max_send_tlp: r.max_send_tlp.as_str().to_owned(),
                accept_handling: r.accept_handling.iter().map(ToString::to_string).collect(),
                forward_to: r.forward_to.clone(),
                max_receive_per_minute: r.max_receive_per_minute,
            })
            .collect(),
    }
}

/// The answer to "would this go, and why not".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainView {
    /// Whether it would be sent.
    pub allowed: bool,
    /// The rule that decides.
    pub rule: String,
    /// The decision in words.
    pub decision: String,
    /// The policy version judged under.
    pub policy_version: String,
}

/// Judges a marking for a partner without sending anything.
pub fn policy_explain(
    state: &NodeState,
    to: &str,
    category: &str,
    tlp: &str,
    handling: &[String],
) -> Result<ExplainView> {
    let bad = |e: liaison_core::Malformed| Error::InvalidRequest(e.to_string());
    let agency = parse_agency(to)?;
    let codes = handling
        .iter()
        .map(|c| c.parse())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(bad)?;
    let marking = Marking::new(
        category.parse().map_err(bad)?,
        tlp.parse().map_err(bad)?,
        codes,
    )
    .map_err(bad)?;
    let policy = state.policy.snapshot();
    let mut decision = policy.egress(&agency, &marking);
    if state.partners.snapshot().get(&agency).is_none() {
        decision = liaison_core::policy::Decision::Denied {
            rule: "partners".into(),
            reason: format!("{agency} is not a known partner (no identity imported)"),
        };
    }
    Ok(ExplainView {
        allowed: decision.is_allowed(),
        rule: decision.rule().to_owned(),
        decision: decision.to_string(),
        policy_version: policy.version().to_owned(),
    })
}

/// A log entry for an auditor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedEntry {
    /// Sequence number.
    pub seq: u64,
    /// When it was logged.
    pub time: String,
    /// What it records.
    pub kind: String,
    /// Its chain hash.
    pub hash: String,
    /// The previous entry's hash.
    pub prev_hash: String,
    /// The bulletin it concerns.
    pub bulletin_id: Option<String>,
    /// The partner it concerns.
    pub agency: Option<String>,
    /// SHA-256 of the body.
    pub body_sha256: String,
    /// The body when it is text (decisions, events); otherwise its length.
    pub body: serde_json::Value,
}

/// Entries from `since` on, at most `limit`, with their hashes.
pub fn log_export(state: &NodeState, since: u64, limit: usize) -> Result<Vec<ExportedEntry>> {
    let hex = |b: &[u8]| data_encoding::HEXLOWER.encode(b);
    state
        .log
        .range(since.max(1), limit)?
        .into_iter()
        .map(|e| {
            let body = state.log.body(&e)?;
            let body = match body
                .as_deref()
                .map(serde_json::from_slice::<serde_json::Value>)
            {
                Some(Ok(value)) => value,
                Some(Err(_)) => serde_json::json!({ "binary_bytes": e.body_len }),
                None => serde_json::json!({ "erased": true }),
            };
            Ok(ExportedEntry {
                seq: e.seq,
                time: e.time.to_string(),
                kind: e.kind.as_str().to_owned(),
                hash: hex(&e.hash),
                prev_hash: hex(&e.prev_hash),
                bulletin_id: e.bulletin_id.map(|b| b.to_string()),
                agency: e.agency.map(|a| a.to_string()),
                body_sha256: hex(&e.body_sha256),
                body,
            })
        })
        .collect()
}

/// Issues a client certificate from the agency CA and registers it with `roles`.
///
/// Errors: a bad name or role, a name already registered.
pub fn client_issue(state: &NodeState, name: &str, roles: &[String]) -> Result<IssuedClient> {
    clients::validate_name(name)?;
    let roles = roles
        .iter()
        .map(|r| r.parse())
        .collect::<Result<Vec<Role>>>()?;
    if roles.is_empty() {
        return Err(Error::InvalidRequest(
            "give at least one role: publish, read or admin".into(),
        ));
    }
    if state.clients.snapshot().by_name(name).is_some() {
        return Err(Error::InvalidRequest(format!(
            "a client named {name} exists; revoke it first to issue a new certificate"
        )));
    }
    let node = state.node();
    let dir = node.dir();
    let read = |file: &str| {
        let path = dir.join(file);
        std::fs::read_to_string(&path).map_err(Error::io("read the agency CA", path))
    };
    let (ca_pem, ca_key) = (read("tls/ca.pem")?, read("tls/ca.key")?);
    let days = 365;
    let issued = tls::issue_certificate(
        &ca_pem,
        &ca_key,
        name,
        &[],
        tls::CertificateRole::LocalClient,
        tls::Validity { days },
    )?;
    let now = UnixMillis::now();
    let record = ClientRecord {
        name: name.to_owned(),
        roles,
        certificate_sha256: crate::tls::certificate_sha256(&issued.certificate_der),
        issued_at: now.to_string(),
        valid_until: now.plus_days(i64::from(days)).to_string(),
    };
    let encoded = serde_json::to_vec(&record).map_err(|e| Error::Admin(e.to_string()))?;
    state.log.append(
        NewEntry::new(
            EntryKind::ClientChange,
            event(serde_json::json!({"event": "client-issued", "client": name, "roles": record.roles, "certificate_sha256": record.certificate_sha256})),
        )
        .with_effect(Effect::PutClient {
            name: name.to_owned(),
            record: encoded.into(),
        }),
    )?;
    state.reload_clients()?;
    Ok(IssuedClient {
        record,
        certificate_pem: issued.certificate_pem,
        private_key_pem: issued.private_key_pem,
        ca_pem,
    })
}

/// Revokes a client: its certificate is refused at the next handshake and by every
/// request on a connection it already holds.
pub fn client_revoke(state: &NodeState, name: &str) -> Result<ClientRecord> {
    let record = state
        .clients
        .snapshot()
        .by_name(name)
        .cloned()
        .ok_or_else(|| Error::NotFound(format!("no client named {name}")))?;
    state.log.append(
        NewEntry::new(
            EntryKind::ClientChange,
            event(serde_json::json!({"event": "client-revoked", "client": name, "certificate_sha256": record.certificate_sha256})),
        )
        .with_effect(Effect::RemoveClient(name.to_owned())),
    )?;
    state.reload_clients()?;
    Ok(record)
}

/// Serves the admin socket until `shutdown` resolves. Each command runs on a blocking
/// thread; `after` is told of every successful command (to start or wake workers).
pub async fn serve(
    listener: tokio::net::UnixListener,
    state: Arc<NodeState>,
    after: Arc<dyn Fn() + Send + Sync>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "admin socket accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let (state, after) = (state.clone(), after.clone());
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = match serde_json::from_str::<AdminRequest>(&line) {
                    Err(e) => serde_json::json!({"error": format!("bad admin request: {e}")}),
                    Ok(request) => {
                        let state = state.clone();
                        match tokio::task::spawn_blocking(move || execute(&state, request)).await {
                            Ok(Ok(value)) => {
                                after();
                                serde_json::json!({ "ok": value })
                            }
                            Ok(Err(e)) => serde_json::json!({"error": e.to_string()}),
                            Err(e) => serde_json::json!({"error": format!("command failed: {e}")}),
                        }
                    }
                };
                let mut text = reply.to_string();
                text.push('\n');
                if write.write_all(text.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Sends one request to a running node's admin socket. `Ok(None)` if no node answers
/// there (no socket, or nobody listening): the caller then works offline.
pub fn call(data_dir: &Path, request: &AdminRequest) -> Result<Option<serde_json::Value>> {
    use std::io::{BufRead as _, Write as _};
    let path = socket_path(data_dir);
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(&path) else {
        return Ok(None);
    };
    let mut text = serde_json::to_string(request).map_err(|e| Error::Admin(e.to_string()))?;
    text.push('\n');
    stream
        .write_all(text.as_bytes())
        .map_err(|e| Error::Admin(format!("cannot send to {}: {e}", path.display())))?;
    let mut line = String::new();
    std::io::BufReader::new(&stream)
        .read_line(&mut line)
        .map_err(|e| Error::Admin(format!("no answer from {}: {e}", path.display())))?;
    let reply: serde_json::Value =
        serde_json::from_str(&line).map_err(|e| Error::Admin(format!("unreadable answer: {e}")))?;
    if let Some(error) = reply.get("error").and_then(|e| e.as_str()) {
        return Err(Error::Admin(error.to_owned()));
    }
    Ok(Some(reply.get("ok").cloned().unwrap_or_default()))
}
