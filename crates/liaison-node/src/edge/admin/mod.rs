//! The operator's door: a typed contract between the `liaison` CLI and a node.
//!
//! Each command is a struct holding validated domain types ([`AgencyId`],
//! [`BulletinId`], [`Tlp`]...), with the type of its reply fixed by [`Command::Reply`].
//! The CLI reaches a node one of two ways, with the same typed result either way
//! ([`socket::call`]):
//! - the node is running: the command crosses the admin socket (`admin.sock`, mode
//!   0600) as one JSON line, and the reply comes back as one JSON line, `{"ok": REPLY}`
//!   or `{"error": {"kind": KIND, "message": SENTENCE}}`;
//! - it is not: [`Command::run`] is called directly on the data directory.
//!
//! Why JSON lines and not gRPC over the socket: see docs/DECISIONS.md (#23).

pub mod socket;

use liaison_core::identity::RevocationReason;
use liaison_core::{AgencyId, BulletinId, Category, HandlingCode, KeyId, Tlp};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::node::state::NodeState;
use crate::ops::bulletins::Direction;
use crate::ops::bulletins::views::{self, BulletinDetail, BulletinSummary, SendRequest, SendView};
use crate::ops::clients::{self, IssuedClient};
use crate::ops::keys::{self, KeyChangeView, KeyPurpose};
use crate::ops::log::{self as log_ops, ExportedEntry, VerifyView};
use crate::ops::peers::{self, PeerView};
use crate::ops::policy::{self, ExplainView, PolicyView, Question};
use crate::ops::roster::{self, RosterImportView, RosterImportedView};
use crate::ops::status::{self, StatusView};
use crate::trust::clients::{ClientRecord, Role};

pub use socket::socket_path;

/// One operator command and the type of its answer.
pub trait Command: Serialize + DeserializeOwned + Into<AdminRequest> {
    /// What the command answers.
    type Reply: Serialize + DeserializeOwned;

    /// Carries the command out on `state`. Blocking: call from a blocking thread.
    ///
    /// Errors: those of the operation, each naming what was wrong.
    fn run(self, state: &NodeState) -> Result<Self::Reply>;

    /// Like [`Command::run`], knowing who asked (`caller`, for the consultation log):
    /// commands that show bulletins record the read.
    ///
    /// Errors: those of [`Command::run`], or the read cannot be recorded.
    fn run_as(self, state: &NodeState, caller: &str) -> Result<Self::Reply> {
        let _ = caller;
        self.run(state)
    }
}

/// Declares the wire enum over the command structs, and the dispatch that runs one
/// and encodes its reply.
macro_rules! admin_commands {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Any command, as it crosses the admin socket (`"command": "peer-add"`, ...).
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(tag = "command", rename_all = "kebab-case")]
        pub enum AdminRequest {
            $($(#[$doc])* $name($name),)*
        }

        $(impl From<$name> for AdminRequest {
            fn from(command: $name) -> Self {
                AdminRequest::$name(command)
            }
        })*

        impl AdminRequest {
            /// Runs the command for `caller` and encodes its reply for the socket.
            pub fn execute(self, state: &NodeState, caller: &str) -> Result<serde_json::Value> {
                match self {
                    $(AdminRequest::$name(command) => encode(command.run_as(state, caller)?),)*
                }
            }
        }
    };
}

admin_commands! {
    /// Import a partner's identity bundle if its fingerprint is the expected one.
    PeerAdd,
    /// Every partner.
    PeerList,
    /// One partner.
    PeerShow,
    /// Forget a partner.
    PeerRemove,
    /// Retry delivery to a partner now, backoff reset.
    PeerRetry,
    /// Sign a draft roster as this operation's coordinator.
    RosterSign,
    /// Import a roster signed by a coordinator whose fingerprint was checked.
    RosterImport,
    /// The rosters imported here.
    RosterList,
    /// Bulletins held here as a STIX 2.1 bundle.
    StixExport,
    /// A STIX 2.1 bundle turned into bulletins, one per report.
    StixImport,
    /// Seal and queue a bulletin.
    BulletinSend,
    /// Bulletins sent and received.
    BulletinList,
    /// One bulletin, decrypted, with its delivery status.
    BulletinShow,
    /// The conversation a bulletin belongs to.
    BulletinThread,
    /// Requests for information awaiting an answer.
    BulletinOpenRequests,
    /// Bulletins held here carrying every one of some selectors.
    Search,
    /// Links between bulletins held here.
    Links,
    /// A private hit/no-hit query to partners.
    Query,
    /// One attachment of a bulletin.
    BulletinAttachment,
    /// Acknowledge a received bulletin to its originator.
    BulletinAcknowledge,
    /// Pass a received bulletin on to another partner (onward sharing).
    BulletinForward,
    /// Recall a bulletin this node published.
    BulletinRecall,
    /// Release a bulletin this node published for onward sharing.
    BulletinRelease,
    /// Issue a client certificate from the agency CA and register it with roles.
    ClientIssue,
    /// Every registered client.
    ClientList,
    /// Revoke a client: its certificate is refused from now on.
    ClientRevoke,
    /// Add a desk officer; prints their one-time enrolment link.
    OfficerAdd,
    /// Every desk officer.
    OfficerList,
    /// Remove a desk officer.
    OfficerRemove,
    /// Issue a desk officer a client certificate to sign in with.
    OfficerCertificate,
    /// Health at a glance: listeners, partners, log, keys.
    Status,
    /// Re-hash and check the whole log.
    LogVerify,
    /// Log entries from a sequence number on, with their hashes.
    LogExport,
    /// The log's signed checkpoints (signing one of the head first, if asked).
    LogCheckpoints,
    /// Rotate a key.
    KeyRotate,
    /// Revoke a retired key.
    KeyRevoke,
    /// The sharing policy in force.
    PolicyShow,
    /// Read policy.toml again and put it in force atomically.
    PolicyReload,
    /// Validate policy text against this node without putting it in force.
    PolicyCheck,
    /// Would a bulletin with this marking go to this partner, and why not?
    PolicyExplain,
}

fn encode(reply: impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(reply)
        .map_err(|e| crate::Error::Internal(format!("cannot encode a reply: {e}")))
}

/// Import a partner's identity bundle if its root-key fingerprint is `fingerprint`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerAdd {
    /// The bundle, base64.
    pub bundle_base64: String,
    /// The fingerprint read out over a trusted channel.
    pub fingerprint: String,
}

impl Command for PeerAdd {
    type Reply = PeerView;
    fn run(self, state: &NodeState) -> Result<PeerView> {
        peers::peer_add(state, &self.bundle_base64, &self.fingerprint)
    }
}

/// Every partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerList {}

impl Command for PeerList {
    type Reply = Vec<PeerView>;
    fn run(self, state: &NodeState) -> Result<Vec<PeerView>> {
        Ok(peers::peer_list(state))
    }
}

/// One partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerShow {
    /// The partner.
    pub agency: AgencyId,
}

impl Command for PeerShow {
    type Reply = PeerView;
    fn run(self, state: &NodeState) -> Result<PeerView> {
        peers::peer_show(state, &self.agency)
    }
}

/// Forget a partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerRemove {
    /// The partner.
    pub agency: AgencyId,
}

impl Command for PeerRemove {
    type Reply = PeerView;
    fn run(self, state: &NodeState) -> Result<PeerView> {
        peers::peer_remove(state, &self.agency)
    }
}

/// Retry delivery to a partner now, with its backoff back at the first step (the
/// operator knows it is back before the timer does).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerRetry {
    /// The partner.
    pub agency: AgencyId,
}

/// What `peer retry` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRetryView {
    /// The partner.
    pub agency: String,
    /// Bulletins queued for it.
    pub queued: usize,
}

impl Command for PeerRetry {
    type Reply = PeerRetryView;
    fn run(self, state: &NodeState) -> Result<PeerRetryView> {
        if state.partners.snapshot().get(&self.agency).is_none() {
            return Err(crate::Error::UnknownPartner(self.agency));
        }
        if !state.is_serving() {
            return Err(crate::Error::InvalidRequest(
                "the node is not running: start it (`liaison run`), which tries every partner at once"
                    .into(),
            ));
        }
        state.partner_called_in(&self.agency);
        Ok(PeerRetryView {
            queued: state.log.outbox_len(&self.agency),
            agency: self.agency.to_string(),
        })
    }
}

/// Sign a draft roster with this node's root key (this node coordinates).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterSign {
    /// The draft file (`roster create`), base64.
    pub draft_base64: String,
}

impl Command for RosterSign {
    /// The signed roster file, base64.
    type Reply = String;
    fn run(self, state: &NodeState) -> Result<String> {
        let draft = decode_file(&self.draft_base64)?;
        Ok(data_encoding::BASE64.encode(&roster::roster_sign(state, &draft)?))
    }
}

/// Import a signed roster if its coordinator's root key has `fingerprint`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterImport {
    /// The roster file, base64.
    pub roster_base64: String,
    /// The coordinator's fingerprint, read out over a trusted channel.
    pub fingerprint: String,
}

impl Command for RosterImport {
    type Reply = RosterImportView;
    fn run(self, state: &NodeState) -> Result<RosterImportView> {
        let file = decode_file(&self.roster_base64)?;
        roster::roster_import(state, &file, &self.fingerprint)
    }
}

/// The rosters imported here.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterList {}

impl Command for RosterList {
    type Reply = Vec<RosterImportedView>;
    fn run(self, state: &NodeState) -> Result<Vec<RosterImportedView>> {
        roster::roster_list(state)
    }
}

/// Validate policy text against this node (its partners and rosters) without putting
/// it in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyCheck {
    /// The policy text.
    pub text: String,
}

impl Command for PolicyCheck {
    type Reply = PolicyView;
    fn run(self, state: &NodeState) -> Result<PolicyView> {
        policy::policy_check(state, &self.text)
    }
}

/// Bulletins held here (sent and received) as a STIX 2.1 bundle, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StixExport {
    /// Only bulletins created at or after this time.
    #[serde(default)]
    pub since: Option<liaison_core::UnixMillis>,
    /// Only this bulletin.
    #[serde(default)]
    pub id: Option<BulletinId>,
}

impl Command for StixExport {
    /// The bundle, as JSON.
    type Reply = serde_json::Value;
    fn run(self, state: &NodeState) -> Result<serde_json::Value> {
        self.run_as(state, &crate::ops::bulletins::local_operator(None))
    }
    fn run_as(self, state: &NodeState, caller: &str) -> Result<serde_json::Value> {
        let filter = crate::ops::stix::StixFilter {
            since: self.since,
            id: self.id,
        };
        crate::ops::stix::stix_export(state, &filter, caller)
    }
}

/// A STIX 2.1 bundle turned into bulletins, one per report (or only drafted).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StixImport {
    /// The bundle's bytes, base64.
    pub bundle_base64: String,
    /// The recipients.
    pub to: crate::ops::bulletins::Recipients,
    /// The bulletins' TLP: no looser than any report's marking.
    pub tlp: Tlp,
    /// The bulletins' category.
    pub category: Category,
    /// Show the drafts, send nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl Command for StixImport {
    type Reply = Vec<crate::ops::stix::StixDraft>;
    fn run(self, state: &NodeState) -> Result<Vec<crate::ops::stix::StixDraft>> {
        let bundle = decode_file(&self.bundle_base64)?;
        let import = crate::ops::stix::StixImport {
            to: self.to,
            tlp: self.tlp,
            category: self.category,
            dry_run: self.dry_run,
        };
        crate::ops::stix::stix_import(state, &bundle, &import)
    }
}

fn decode_file(base64: &str) -> Result<Vec<u8>> {
    data_encoding::BASE64
        .decode(base64.as_bytes())
        .map_err(|_| crate::Error::InvalidRequest("the file is not valid base64".into()))
}

/// Seal and queue a bulletin.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BulletinSend(pub SendRequest);

impl Command for BulletinSend {
    type Reply = SendView;
    fn run(self, state: &NodeState) -> Result<SendView> {
        views::bulletin_send(state, self.0)
    }
}

/// Bulletins sent and received, newest first unless asked otherwise.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinList {
    /// `in`, `out`, or both when absent.
    pub direction: Option<Direction>,
    /// Only from these originators (any when empty).
    #[serde(default)]
    pub origins: Vec<AgencyId>,
    /// Only these TLP levels (any when empty).
    #[serde(default)]
    pub tlps: Vec<liaison_core::Tlp>,
    /// Only categories at or under this prefix.
    #[serde(default)]
    pub category: Option<String>,
    /// At most this many (default 50).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Oldest first.
    #[serde(default)]
    pub oldest_first: bool,
    /// Only those carrying every one of these handling codes.
    #[serde(default)]
    pub handling: Vec<liaison_core::HandlingCode>,
}

impl Command for BulletinList {
    type Reply = Vec<BulletinSummary>;
    fn run(self, state: &NodeState) -> Result<Vec<BulletinSummary>> {
        self.run_as(state, &crate::ops::bulletins::local_operator(None))
    }
    fn run_as(self, state: &NodeState, caller: &str) -> Result<Vec<BulletinSummary>> {
        let filter = crate::ops::bulletins::Filter {
            direction: self.direction,
            origins: self.origins,
            tlps: self.tlps,
            category_prefix: self.category,
            newest_first: !self.oldest_first,
            handling: self.handling,
            ..Default::default()
        };
        let list = views::bulletin_list(state, &filter, self.limit.unwrap_or(50).min(10_000))?;
        record(
            state,
            caller,
            "cli list",
            list.iter().map(|b| b.id.as_str()),
        )?;
        Ok(list)
    }
}

/// Records a read by `caller` (the consultation log) of the bulletins `ids` name.
/// Selectors from `kind`, `value` pairs, normalised.
///
/// Errors: an unknown kind or a value that does not normalise, named.
fn selectors_of(pairs: &[(String, String)]) -> Result<Vec<liaison_core::selector::Selector>> {
    pairs
        .iter()
        .map(|(kind, value)| liaison_core::selector::Selector::parse(kind, value))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| crate::Error::InvalidRequest(e.to_string()))
}

fn record<'a>(
    state: &NodeState,
    caller: &str,
    door: &str,
    ids: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let ids = ids.filter_map(|id| id.parse().ok()).collect();
    crate::ops::bulletins::record_reads(state, caller, door, ids)
}

/// Requests for information awaiting an answer, ours and partners'.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinOpenRequests {}

impl Command for BulletinOpenRequests {
    type Reply = Vec<views::OpenRequestView>;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        self.run_as(state, &crate::ops::bulletins::local_operator(None))
    }
    fn run_as(self, state: &NodeState, caller: &str) -> Result<Self::Reply> {
        let open = views::open_requests(state)?;
        record(
            state,
            caller,
            "cli list",
            open.iter().map(|o| o.summary.id.as_str()),
        )?;
        Ok(open)
    }
}

/// The conversation a bulletin belongs to, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinThread {
    /// Any bulletin of it.
    pub id: BulletinId,
}

impl Command for BulletinThread {
    type Reply = Vec<BulletinSummary>;
    fn run(self, state: &NodeState) -> Result<Vec<BulletinSummary>> {
        self.run_as(state, &crate::ops::bulletins::local_operator(None))
    }
    fn run_as(self, state: &NodeState, caller: &str) -> Result<Vec<BulletinSummary>> {
        let thread = views::bulletin_thread(state, &self.id)?;
        record(
            state,
            caller,
            "cli thread",
            thread.iter().map(|b| b.id.as_str()),
        )?;
        Ok(thread)
    }
}

/// Bulletins held here that carry every one of `selectors` (each `kind:value`, e.g.
/// `phone:+40712345678`; normalised by the node), newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// `kind`, `value` pairs: kinds are `phone`, `account`, `vehicle` (`CC:PLATE` or `PLATE;country=CC`),
    /// `vin`, `person`.
    #[serde(default)]
    pub selectors: Vec<(String, String)>,
    /// Words that must all be in the title or body (ranked by relevance).
    #[serde(default)]
    pub text: Option<String>,
    /// A name whose words must each be within one edit of a person's name or alias.
    #[serde(default)]
    pub fuzzy_person: Option<String>,
    /// Time, origin, category, TLP, handling and thread bounds.
    #[serde(default)]
    pub filter: crate::ops::connections::SearchFilter,
    /// Order and paging.
    #[serde(default)]
    pub page: crate::ops::connections::SearchPage,
}

impl Search {
    /// The bulletins found, without recording the read (the caller's door does).
    ///
    /// Errors: a selector that does not normalise, a store failure.
    pub fn find(self, state: &NodeState) -> Result<Vec<BulletinSummary>> {
        let selectors = selectors_of(&self.selectors)?;
        let criteria = crate::ops::connections::Criteria {
            selectors,
            text: crate::ops::fulltext::TextQuery {
                words: self.text.unwrap_or_default(),
                fuzzy_name: self.fuzzy_person,
            },
        };
        let (found, _) = self.page.of(crate::ops::connections::search_stored(
            state,
            &criteria,
            &self.filter,
            self.page.enough(),
        )?);
        Ok(found.iter().map(views::summary).collect())
    }
}

impl Command for Search {
    type Reply = Vec<BulletinSummary>;
    fn run(self, state: &NodeState) -> Result<Vec<BulletinSummary>> {
        self.run_as(state, &crate::ops::bulletins::local_operator(None))
    }
    fn run_as(self, state: &NodeState, caller: &str) -> Result<Vec<BulletinSummary>> {
        let found = self.find(state)?;
        record(
            state,
            caller,
            "cli search",
            found.iter().map(|b| b.id.as_str()),
        )?;
        Ok(found)
    }
}

/// Asks partners privately whether they hold selectors (`ops::private_query`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// `kind`, `value` pairs, as for [`Search`].
    pub selectors: Vec<(String, String)>,
    /// The partners to ask (agency ids); empty: every partner.
    #[serde(default)]
    pub partners: Vec<String>,
}

impl Command for Query {
    type Reply = crate::ops::private_query::QueryReport;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        self.run_as(state, &crate::ops::bulletins::local_operator(None))
    }
    fn run_as(self, state: &NodeState, caller: &str) -> Result<Self::Reply> {
        let selectors = selectors_of(&self.selectors)?;
        let partners = self
            .partners
            .iter()
            .map(|p| p.parse::<AgencyId>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| crate::Error::InvalidRequest(format!("--partners: {e}")))?;
        let asked = crate::ops::private_query::query(state, selectors, partners, caller.to_owned());
        // Commands run on a blocking thread of the node's runtime (or, the node
        // stopped, on the CLI's own thread, which has none).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.block_on(asked),
            Err(_) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| crate::Error::Internal(format!("cannot start a runtime: {e}")))?
                .block_on(asked),
        }
    }
}

/// The links among the bulletins held here: pairs sharing a selector.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Links {
    /// Only bulletins that entered the log at or after this time.
    #[serde(default)]
    pub since: Option<liaison_core::UnixMillis>,
    /// Only links on this selector: `kind`, `value`.
    #[serde(default)]
    pub entity: Option<(String, String)>,
}

impl Command for Links {
    type Reply = Vec<crate::ops::connections::LinkPair>;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        self.run_as(state, &crate::ops::bulletins::local_operator(None))
    }
    fn run_as(self, state: &NodeState, caller: &str) -> Result<Self::Reply> {
        let entity = selectors_of(self.entity.as_slice())?.pop();
        let pairs = crate::ops::connections::links(state, self.since, entity.as_ref())?;
        record(
            state,
            caller,
            "cli links",
            pairs
                .iter()
                .flat_map(|p| [p.bulletin.as_str(), p.linked.bulletin.as_str()]),
        )?;
        Ok(pairs)
    }
}

/// One attachment of a bulletin, base64.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinAttachment {
    /// The bulletin.
    pub id: BulletinId,
    /// The attachment's number, from 1.
    pub number: usize,
}

/// An attachment as it crosses the admin socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentData {
    /// File name, as the sender gave it (never a path).
    pub file_name: String,
    /// Media type, as the sender declared it.
    pub media_type: String,
    /// The bytes, base64, for one inside the envelope.
    pub data_base64: String,
    /// For one that travels beside the envelope: its sealed file, which the CLI
    /// decrypts a chunk at a time (it never crosses the socket whole).
    #[serde(default)]
    pub file: Option<AttachmentFile>,
}

/// A sealed attachment file in the node's store, and what opens it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentFile {
    /// Its path.
    pub path: std::path::PathBuf,
    /// Plaintext bytes.
    pub size: u64,
    /// The chunks' key, hex.
    pub content_key_hex: String,
    /// SHA-256 of the ciphertext, hex.
    pub ciphertext_sha256_hex: String,
}

impl Command for BulletinAttachment {
    type Reply = AttachmentData;
    fn run(self, state: &NodeState) -> Result<AttachmentData> {
        self.run_as(state, &crate::ops::bulletins::local_operator(None))
    }
    fn run_as(self, state: &NodeState, caller: &str) -> Result<AttachmentData> {
        let a = views::attachment(state, &self.id, self.number)?;
        let file = match &a.streamed {
            None => None,
            Some(streamed) => {
                let path = crate::ops::attachments::file_of(
                    state,
                    &self.id,
                    self.number.saturating_sub(1),
                    streamed,
                )?
                .ok_or_else(|| {
                    crate::Error::NotFound(format!(
                        "attachment {} of {}: its file is not in this node's store",
                        self.number, self.id
                    ))
                })?;
                Some(AttachmentFile {
                    path,
                    size: streamed.size,
                    content_key_hex: data_encoding::HEXLOWER.encode(&streamed.key),
                    ciphertext_sha256_hex: streamed.digest_hex(),
                })
            }
        };
        crate::ops::bulletins::record_reads(state, caller, "cli attachment", vec![self.id])?;
        Ok(AttachmentData {
            file_name: a.file_name,
            media_type: a.media_type,
            data_base64: data_encoding::BASE64.encode(&a.data),
            file,
        })
    }
}

/// Acknowledge a received bulletin: signed and queued for its originator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinAcknowledge {
    /// The bulletin.
    pub id: BulletinId,
    /// How far the desk got.
    pub state: liaison_core::acknowledgement::AckState,
    /// A note for the originator.
    #[serde(default)]
    pub note: String,
}

impl Command for BulletinAcknowledge {
    type Reply = crate::ops::bulletins::AcknowledgeView;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        self.run_as(state, &crate::ops::bulletins::local_operator(None))
    }
    fn run_as(self, state: &NodeState, caller: &str) -> Result<Self::Reply> {
        crate::ops::bulletins::acknowledge(state, &self.id, caller, self.state, &self.note)
    }
}

/// One bulletin, decrypted, with its delivery status.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinShow {
    /// Its id.
    pub id: BulletinId,
}

impl Command for BulletinShow {
    type Reply = BulletinDetail;
    fn run(self, state: &NodeState) -> Result<BulletinDetail> {
        self.run_as(state, &crate::ops::bulletins::local_operator(None))
    }
    fn run_as(self, state: &NodeState, caller: &str) -> Result<BulletinDetail> {
        let detail = views::bulletin_show(state, &self.id)?;
        crate::ops::bulletins::record_reads(state, caller, "cli show", vec![self.id])?;
        Ok(detail)
    }
}

/// Pass a received bulletin on to another partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinForward {
    /// Its id.
    pub id: BulletinId,
    /// The partner.
    pub to: AgencyId,
}

impl Command for BulletinForward {
    type Reply = crate::ops::bulletins::ForwardView;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        crate::ops::bulletins::forward(state, &self.id, &self.to)
    }
}

/// Recall a bulletin this node published.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinRecall {
    /// Its id.
    pub id: BulletinId,
    /// Why, as the recipients will read it.
    pub reason: String,
}

impl Command for BulletinRecall {
    type Reply = crate::ops::bulletins::RecallView;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        crate::ops::bulletins::recall(state, &self.id, &self.reason)
    }
}

/// Release a bulletin this node published for onward sharing (a signed grant).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulletinRelease {
    /// Its id.
    pub id: BulletinId,
    /// The partners it may go to.
    pub to: Vec<AgencyId>,
    /// The recipients that may pass it on; `None` for all of them.
    pub holders: Option<Vec<AgencyId>>,
    /// For how many days; `None` until the bulletin expires.
    pub days: Option<u32>,
}

impl Command for BulletinRelease {
    type Reply = crate::ops::bulletins::ReleaseView;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        crate::ops::bulletins::release(
            state,
            &self.id,
            &self.to,
            self.holders.as_deref(),
            self.days,
        )
    }
}

/// Issue a client certificate and register it with roles.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIssue {
    /// The client's name.
    pub name: String,
    /// What it may do.
    pub roles: Vec<Role>,
}

impl Command for ClientIssue {
    type Reply = IssuedClient;
    fn run(self, state: &NodeState) -> Result<IssuedClient> {
        clients::client_issue(state, &self.name, &self.roles)
    }
}

/// Every registered client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientList {}

impl Command for ClientList {
    type Reply = Vec<ClientRecord>;
    fn run(self, state: &NodeState) -> Result<Vec<ClientRecord>> {
        Ok(state.clients.snapshot().list())
    }
}

/// Revoke a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRevoke {
    /// The client's name.
    pub name: String,
}

impl Command for ClientRevoke {
    type Reply = ClientRecord;
    fn run(self, state: &NodeState) -> Result<ClientRecord> {
        clients::client_revoke(state, &self.name)
    }
}

/// Add an officer to the desk with roles.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficerAdd {
    /// Their name.
    pub name: String,
    /// What they may do.
    pub roles: Vec<Role>,
}

impl Command for OfficerAdd {
    type Reply = crate::ops::officers::OfficerAdded;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        crate::ops::officers::officer_add(state, &self.name, &self.roles)
    }
}

/// Every desk officer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficerList {}

impl Command for OfficerList {
    type Reply = Vec<crate::ops::officers::OfficerView>;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        Ok(crate::ops::officers::officer_list(state))
    }
}

/// Remove a desk officer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficerRemove {
    /// Their name.
    pub name: String,
}

impl Command for OfficerRemove {
    type Reply = crate::ops::officers::OfficerView;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        crate::ops::officers::officer_remove(state, &self.name)
    }
}

/// Issue a desk officer a client certificate to sign in with (replacing any earlier).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficerCertificate {
    /// Their name.
    pub name: String,
}

impl Command for OfficerCertificate {
    type Reply = crate::ops::officers::OfficerCertificate;
    fn run(self, state: &NodeState) -> Result<Self::Reply> {
        crate::ops::officers::officer_certificate(state, &self.name)
    }
}

/// Health at a glance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {}

impl Command for Status {
    type Reply = StatusView;
    fn run(self, state: &NodeState) -> Result<StatusView> {
        status::status(state)
    }
}

/// Re-hash and check the whole log.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogVerify {
    /// Only from the checkpoint the last successful verification reached.
    #[serde(default)]
    pub since_checkpoint: bool,
    /// Also derive the indexes again and compare.
    #[serde(default)]
    pub indexes: bool,
}

impl Command for LogVerify {
    type Reply = VerifyView;
    fn run(self, state: &NodeState) -> Result<VerifyView> {
        let options = liaison_store::VerifyOptions {
            since_checkpoint: self.since_checkpoint,
            indexes: self.indexes,
        };
        log_ops::verify_log(&state.node(), &state.log, options, &mut |_| {})
    }
}

/// Log entries from `since` on, at most `limit`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogExport {
    /// First entry.
    pub since: u64,
    /// At most this many.
    pub limit: usize,
    /// With each entry's hashed record and body, base64 (evidence).
    #[serde(default)]
    pub with_bytes: bool,
    /// Only the consultation log: who read which bulletins, through which door.
    #[serde(default)]
    pub reads: bool,
}

impl Command for LogExport {
    type Reply = Vec<ExportedEntry>;
    fn run(self, state: &NodeState) -> Result<Vec<ExportedEntry>> {
        let only = self.reads.then_some(liaison_store::EntryKind::Consulted);
        log_ops::log_export(state, self.since, self.limit, self.with_bytes, only)
    }
}

/// The log's signed checkpoints, base64, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogCheckpoints {
    /// Sign a checkpoint of the current head first.
    pub sign_now: bool,
}

impl Command for LogCheckpoints {
    type Reply = Vec<String>;
    fn run(self, state: &NodeState) -> Result<Vec<String>> {
        log_ops::signed_checkpoints(state, self.sign_now)
    }
}

/// Rotate a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRotate {
    /// Which key.
    pub purpose: KeyPurpose,
}

impl Command for KeyRotate {
    type Reply = KeyChangeView;
    fn run(self, state: &NodeState) -> Result<KeyChangeView> {
        keys::rotate(state, self.purpose)
    }
}

/// Revoke a retired key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRevoke {
    /// Its id.
    pub key_id: KeyId,
    /// Why.
    pub reason: RevocationReason,
}

impl Command for KeyRevoke {
    type Reply = KeyChangeView;
    fn run(self, state: &NodeState) -> Result<KeyChangeView> {
        keys::revoke(state, &self.key_id, self.reason)
    }
}

/// The sharing policy in force.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyShow {}

impl Command for PolicyShow {
    type Reply = PolicyView;
    fn run(self, state: &NodeState) -> Result<PolicyView> {
        Ok(policy::policy_in_force(state, &state.policy.snapshot()))
    }
}

/// Read policy.toml again and put it in force atomically.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyReload {}

impl Command for PolicyReload {
    type Reply = PolicyView;
    fn run(self, state: &NodeState) -> Result<PolicyView> {
        Ok(policy::policy_in_force(state, &*state.reload_policy()?))
    }
}

/// Would a bulletin with this marking go to (or be accepted from) this partner, and
/// why not?
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyExplain {
    /// Which way, and whether the bulletin is forwarded.
    pub question: Question,
    /// The category.
    pub category: Category,
    /// The TLP level.
    pub tlp: Tlp,
    /// Handling codes.
    #[serde(default)]
    pub handling: Vec<HandlingCode>,
}

impl Command for PolicyExplain {
    type Reply = ExplainView;
    fn run(self, state: &NodeState) -> Result<ExplainView> {
        let marking = policy::marking(self.category, self.tlp, self.handling)?;
        policy::policy_explain(state, &self.question, marking)
    }
}
