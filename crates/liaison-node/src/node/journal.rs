//! The log's vocabulary: every event a node records, as data, and the one place where
//! log entries are made.
//!
//! Two kinds of body go into the log:
//! - **records** of the exchange itself, kept as the exact bytes that were signed or
//!   sent (a published envelope, a received one, a signed receipt, a signed recall,
//!   ...): made by the `*_entry` functions below;
//! - **events** ([`LogEvent`]): what the node decided or changed (a policy decision with
//!   its rule, a partner added, a key rotated, a node started), stored as one JSON
//!   object with an `"event"` tag. The enum *is* the schema: `log export` parses each
//!   event body back into it, and `docs/ARCHITECTURE.md` lists it for auditors.
//!
//! Nothing else in the crate calls [`NewEntry::new`]; a new kind of event is a new
//! variant here, so the schema cannot drift by accident.

use bytes::Bytes;
use liaison_core::policy::{Decision, Policy};
use liaison_core::{AgencyId, BulletinId, KeyId};
use liaison_proto::format::v1 as fmt;
use liaison_store::{EntryKind, NewEntry};
use serde::{Deserialize, Serialize};

/// One sharing-policy decision, as data: who, allowed or not, the rule that decided,
/// the reason of a denial and the version (hash) of the policy that was in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDecisionRecord {
    /// The partner the decision is about.
    pub partner: AgencyId,
    /// Whether the policy allowed it.
    pub allowed: bool,
    /// The rule that decided, e.g. `partners.DE-BKA.max_send_tlp` or `default-deny`.
    pub rule: String,
    /// Why it was denied; absent when allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The policy version (hash of `policy.toml`) the decision was made under.
    pub policy_version: String,
}

impl PolicyDecisionRecord {
    /// Records `decision` about `partner`, made under `policy`.
    pub fn new(partner: &AgencyId, decision: &Decision, policy: &Policy) -> Self {
        let (allowed, reason) = match decision {
            Decision::Allowed { .. } => (true, None),
            Decision::Denied { reason, .. } => (false, Some(reason.clone())),
        };
        Self {
            partner: partner.clone(),
            allowed,
            rule: decision.rule().to_owned(),
            reason,
            policy_version: policy.version().to_owned(),
        }
    }

    /// The decision in words, e.g. `denied by partners.DE-BKA.max_send_tlp: ... (policy 1a2b...)`.
    pub fn describe(&self) -> String {
        match &self.reason {
            None => format!("allowed by {} (policy {})", self.rule, self.policy_version),
            Some(reason) => format!(
                "denied by {}: {reason} (policy {})",
                self.rule, self.policy_version
            ),
        }
    }

    /// The stored form inside a [`fmt::PublishedRecord`].
    pub fn to_pb(&self) -> fmt::PolicyDecision {
        fmt::PolicyDecision {
            partner: self.partner.to_string(),
            allowed: self.allowed,
            rule: self.rule.clone(),
            reason: self.reason.clone().unwrap_or_default(),
            policy_version: self.policy_version.clone(),
        }
    }

    /// Reads the stored form back; `None` if the partner id does not parse (the
    /// record was written by this node, so that means damage, which `log verify`
    /// reports separately).
    pub fn from_pb(stored: &fmt::PolicyDecision) -> Option<Self> {
        Some(Self {
            partner: stored.partner.parse().ok()?,
            allowed: stored.allowed,
            rule: stored.rule.clone(),
            reason: (!stored.allowed).then(|| stored.reason.clone()),
            policy_version: stored.policy_version.clone(),
        })
    }
}

/// Everything a node records that is not a record of the exchange itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum LogEvent {
    /// `liaison init` created the node.
    NodeCreated {
        /// The agency.
        agency: AgencyId,
        /// Its root-key fingerprint.
        fingerprint: String,
    },
    /// A key was created with the node.
    KeyCreated {
        /// `root`, `signing` or `encryption`.
        purpose: String,
        /// Its id.
        key_id: KeyId,
    },
    /// A version of the node's identity document was issued.
    IdentityIssued {
        /// The version.
        version: u64,
    },
    /// The node started serving.
    NodeStarted {
        /// The peer listener's address.
        peer_listen: String,
    },
    /// The node stopped cleanly.
    NodeStopped,
    /// A sharing policy was put in force.
    PolicyLoaded {
        /// Its version (hash of the file).
        policy_version: String,
    },
    /// A publish the policy allowed for no recipient: nothing was sealed.
    PublishDenied {
        /// The bulletin's category.
        category: String,
        /// Its TLP.
        tlp: String,
        /// The decision for each candidate recipient.
        decisions: Vec<PolicyDecisionRecord>,
    },
    /// Onward sharing of a received bulletin refused by the policy.
    ForwardDenied {
        /// The decision about the partner it was to go to.
        decision: PolicyDecisionRecord,
    },
    /// A partner's bulletin accepted by the ingress policy (stored in the same batch).
    IngressAllowed {
        /// The decision about the partner that delivered it.
        decision: PolicyDecisionRecord,
        /// Set when the partner forwarded another agency's bulletin.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        forwarded_by: Option<AgencyId>,
    },
    /// An envelope refused; the partner received a signed rejection with this code.
    EnvelopeRejected {
        /// The partner that delivered it.
        from: AgencyId,
        /// SHA-256 of the bytes received, hex.
        envelope_sha256: String,
        /// The rejection code sent back (`REJECT_CODE_...`).
        code: String,
        /// The reason sent back.
        reason: String,
        /// The ingress decision, when the policy refused it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decision: Option<PolicyDecisionRecord>,
    },
    /// Refusals of a partner's input past the logging budget: each got its signed
    /// rejection receipt, but only their number is logged.
    RejectionsNotLogged {
        /// The partner.
        from: AgencyId,
        /// How many since the last refusal logged one by one.
        count: u64,
    },
    /// A partner forwarded a bulletin further than its originator's marking allows (a
    /// bug or bad faith at that partner): refused, and recorded against it.
    ForwardingViolation {
        /// The partner that forwarded it.
        forwarder: AgencyId,
        /// The bulletin's originator, when the envelope named one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<AgencyId>,
        /// The rule it broke, in words.
        reason: String,
        /// The decision, when this node's policy made it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decision: Option<PolicyDecisionRecord>,
    },
    /// A partner pushed an identity document that was refused.
    IdentityRefused {
        /// The partner.
        from: AgencyId,
        /// Why.
        reason: String,
    },
    /// A partner's newer identity document was taken.
    IdentityUpdated {
        /// The partner.
        agency: AgencyId,
        /// The version held before.
        from_version: u64,
        /// The version now held.
        to_version: u64,
        /// Its current signing key.
        signing_key_id: KeyId,
        /// Its current encryption key.
        encryption_key_id: KeyId,
        /// The keys it revoked.
        revoked: Vec<KeyId>,
    },
    /// A partner confirmed it holds this version of our identity.
    IdentityPushed {
        /// The partner.
        agency: AgencyId,
        /// The version it holds.
        version: u64,
    },
    /// One of the node's keys was replaced (the old one is kept as retired).
    KeyRotated {
        /// `signing`, `encryption` or `tls`.
        purpose: String,
        /// The replaced key.
        old: KeyId,
        /// The new key.
        new: KeyId,
    },
    /// The node certificate being served was pinned in a new identity version (it was
    /// not pinned yet: a node created before pinning, or a certificate replaced by hand).
    NodeCertificatePinned {
        /// The certificate's id.
        key_id: KeyId,
    },
    /// A retired key was revoked.
    KeyRevoked {
        /// The key.
        key_id: KeyId,
        /// `compromised` or `superseded`.
        reason: String,
    },
    /// A partner was added after its fingerprint was checked.
    PeerAdded {
        /// The partner.
        agency: AgencyId,
        /// Its root-key fingerprint.
        fingerprint: String,
        /// The identity version imported.
        identity_version: u64,
    },
    /// A partner was removed.
    PeerRemoved {
        /// The partner.
        agency: AgencyId,
    },
    /// A federation roster signed by a joint operation's coordinator was imported: the
    /// partners it added, updated and retired change in this same entry.
    RosterImported {
        /// The operation.
        operation: String,
        /// The roster's version.
        version: u64,
        /// The coordinator that signed it.
        coordinator: AgencyId,
        /// The coordinator's root-key fingerprint, as the operator confirmed it.
        coordinator_fingerprint: String,
        /// Members added as partners.
        added: Vec<AgencyId>,
        /// Members whose newer identity bundle replaced the one held.
        updated: Vec<AgencyId>,
        /// Partners a previous version of the roster added that this one no longer
        /// lists: removed.
        retired: Vec<AgencyId>,
        /// Members already added per pair: left as they are (per-pair checks take
        /// precedence), with a note where the roster disagrees.
        kept: Vec<String>,
    },
    /// A client certificate was issued to one of the agency's systems.
    ClientIssued {
        /// The client's name.
        client: String,
        /// Its roles.
        roles: Vec<String>,
        /// SHA-256 of its certificate, hex.
        certificate_sha256: String,
    },
    /// An officer was added to the desk (or given a new enrolment link).
    OfficerAdded {
        /// Their name.
        officer: String,
        /// Their roles.
        roles: Vec<String>,
    },
    /// An officer set their password through their enrolment link.
    OfficerEnrolled {
        /// Their name.
        officer: String,
    },
    /// An officer was removed from the desk.
    OfficerRemoved {
        /// Their name.
        officer: String,
    },
    /// An officer signed in to the desk.
    OfficerSignedIn {
        /// Their name.
        officer: String,
        /// The client certificate they signed in with (SHA-256, hex); none for a
        /// password.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        certificate_sha256: Option<String>,
    },
    /// An officer was issued a client certificate to sign in to the desk with; any
    /// earlier one stopped working.
    OfficerCertificateIssued {
        /// Their name.
        officer: String,
        /// SHA-256 of the certificate, hex.
        certificate_sha256: String,
        /// Until when it is valid.
        valid_until: String,
    },
    /// Something an officer did at the desk besides reading (reads are `consulted`):
    /// `sent`, `recalled`, `searched`.
    OfficerAction {
        /// Their name.
        officer: String,
        /// What they did.
        action: String,
        /// The bulletins it concerned.
        bulletins: Vec<BulletinId>,
    },
    /// A client was revoked.
    ClientRevoked {
        /// The client's name.
        client: String,
        /// SHA-256 of its certificate, hex.
        certificate_sha256: String,
    },
    /// A partner's log no longer holds entries it receipted (restored from a backup,
    /// or forked): what it lost is queued for it again.
    PartnerLostEntries {
        /// The partner.
        partner: AgencyId,
        /// `rewound` (its log ends before entries it receipted) or `forked` (it signed
        /// a different hash for an entry than its receipt did).
        how: String,
        /// Its log head now, as it signed it.
        head_seq: u64,
        /// The newest of its entries it still holds as receipted (0: none confirmed).
        confirmed_seq: u64,
        /// Bulletins and recalls queued for it again.
        redelivered: u64,
        /// The two conflicting signed statements, for a fork: its receipt's
        /// (entry, hash) and its new signed checkpoint of that entry, base64.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        proof: Vec<String>,
    },
    /// A partner told us, the originator, that it forwarded our bulletin (stored with
    /// its signed statement).
    OnwardForwarded {
        /// The partner that forwarded it.
        forwarder: AgencyId,
        /// Where it went.
        to: AgencyId,
        /// When, by the forwarder's clock.
        forwarded_at: String,
        /// The forwarder's signed `Forwarding`, base64.
        forwarding: String,
        /// Its signature, base64.
        signature: String,
    },
    /// A partner relayed a downstream recipient's signed purge receipt for our recall.
    OnwardPurged {
        /// The partner that relayed it (the forwarder).
        relayed_by: AgencyId,
        /// The agency that purged it.
        receiver: AgencyId,
        /// When, by the receiver's clock.
        purged_at: String,
        /// The receiver's `SignedReceipt`, base64.
        receipt: String,
    },
    /// An entry queued for a partner was erased before it was sent (a recall raced the
    /// queue): it left the queue unsent.
    ErasedBeforeSending {
        /// The partner it was queued for.
        partner: AgencyId,
        /// The entry.
        seq: u64,
    },
    /// This node released one of its bulletins for onward sharing: the signed grant is
    /// queued for each holder it names.
    ReleaseGranted {
        /// The recipients that may pass it on.
        holders: Vec<AgencyId>,
        /// The partners it may go to.
        to: Vec<AgencyId>,
        /// Until when.
        expires: String,
        /// The `SignedReleaseGrant`, base64.
        grant: String,
    },
    /// The originator of a bulletin this node holds released it for onward sharing.
    ReleaseReceived {
        /// The originator, who signed the grant.
        origin: AgencyId,
        /// The partners it may go to.
        to: Vec<AgencyId>,
        /// Until when.
        expires: String,
        /// The `SignedReleaseGrant`, base64.
        grant: String,
    },
    /// A local officer or system acknowledged a received bulletin; the signed
    /// acknowledgement is queued for its originator when the originator is a partner.
    Acknowledged {
        /// Who: the client's name, or the local operator.
        by: String,
        /// How far it got.
        state: liaison_core::acknowledgement::AckState,
        /// Its note.
        note: String,
        /// The originator it was sent to (none when the originator is not a partner).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sent_to: Option<AgencyId>,
        /// The `SignedAcknowledgement`, base64.
        signed: String,
    },
    /// A recipient of our bulletin acknowledged it (stored with its signature).
    AcknowledgementReceived {
        /// The recipient.
        recipient: AgencyId,
        /// How far it got.
        state: liaison_core::acknowledgement::AckState,
        /// Its note.
        note: String,
        /// When, by the recipient's clock.
        acknowledged_at: String,
        /// The same, in milliseconds since the Unix epoch.
        #[serde(default)]
        acknowledged_unix_ms: i64,
        /// The `SignedAcknowledgement`, base64.
        signed: String,
    },
    /// Bulletins read through one of the node's doors: the consultation log.
    Consulted {
        /// Who read: a client's name, or the local operator and their user id.
        reader: String,
        /// Which door: `cli show`, `cli attachment`, `cli thread`, `api get`, `api list`,
        /// `api subscribe`, `api thread`.
        door: String,
        /// The bulletins shown.
        bulletins: Vec<BulletinId>,
    },
    /// A bulletin stored here shares a selector (a phone number, account, plate, VIN
    /// or name) with bulletins already held: a link. The selectors are not named
    /// (the log holds no selector in the clear); `bulletin show` and `liaison links`
    /// name them from the bulletins themselves.
    Correlated {
        /// The bulletin just stored.
        bulletin: String,
        /// The bulletins it shares a selector with.
        linked: Vec<String>,
        /// How many of its selectors are shared.
        shared_selectors: usize,
        /// Its originator (absent in logs written before links reached subscribers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<AgencyId>,
    },
    /// The payload of bulletins whose retention period ended was erased.
    RetentionErased {
        /// The entries erased.
        entries: Vec<u64>,
    },
    /// A partner's private hit/no-hit query was answered: this node evaluated
    /// `selectors` blinded selectors under the partner's key. It never saw them, so
    /// they are not (and cannot be) recorded.
    QueryAnswered {
        /// The querying partner.
        from: AgencyId,
        /// Blinded selectors evaluated.
        selectors: u32,
        /// Queries answered for it today (UTC), these included.
        used_today: u32,
        /// Its daily budget (`partners.X.queries_per_day`).
        budget: u32,
    },
    /// A partner's private query was refused (over budget, not allowed, malformed).
    QueryRefused {
        /// The querying partner.
        from: AgencyId,
        /// Why, as the partner was told.
        reason: String,
    },
    /// This node asked partners privately whether they hold selectors. The selectors
    /// are recorded by kind and keyed tag (as the index holds them), not in the clear.
    QueryMade {
        /// Who asked (`cli:USER`, `client:NAME`).
        by: String,
        /// `kind:tag` of each selector asked about.
        selectors: Vec<String>,
        /// Each partner asked, with its answer: `hit`, `no-hit` or why there is none.
        answers: Vec<String>,
    },
    /// A partner holds our signed receipt for a log entry this node's log does not hold
    /// (or holds with another hash): this log was restored from a backup or rewritten.
    OwnLogBehind {
        /// The partner.
        partner: AgencyId,
        /// The entry it holds our receipt for.
        seq: u64,
        /// The hash our receipt named, hex.
        receipted_hash: String,
        /// Our log's head when it was noticed.
        head_seq: u64,
    },
}

impl LogEvent {
    /// The kind of entry the event is filed under.
    pub fn kind(&self) -> EntryKind {
        match self {
            LogEvent::NodeCreated { .. } | LogEvent::NodeStarted { .. } | LogEvent::NodeStopped => {
                EntryKind::NodeEvent
            }
            LogEvent::KeyCreated { .. }
            | LogEvent::IdentityIssued { .. }
            | LogEvent::KeyRotated { .. }
            | LogEvent::NodeCertificatePinned { .. }
            | LogEvent::KeyRevoked { .. } => EntryKind::KeyChange,
            LogEvent::PolicyLoaded { .. }
            | LogEvent::PublishDenied { .. }
            | LogEvent::ForwardDenied { .. }
            | LogEvent::IngressAllowed { .. }
            | LogEvent::EnvelopeRejected { .. }
            | LogEvent::ForwardingViolation { .. }
            | LogEvent::RejectionsNotLogged { .. } => EntryKind::PolicyDecision,
            LogEvent::IdentityRefused { .. }
            | LogEvent::IdentityUpdated { .. }
            | LogEvent::IdentityPushed { .. }
            | LogEvent::PeerAdded { .. }
            | LogEvent::PeerRemoved { .. }
            | LogEvent::RosterImported { .. }
            | LogEvent::PartnerLostEntries { .. } => EntryKind::PeerChange,
            LogEvent::OwnLogBehind { .. } | LogEvent::ErasedBeforeSending { .. } => {
                EntryKind::NodeEvent
            }
            LogEvent::OnwardForwarded { .. }
            | LogEvent::OnwardPurged { .. }
            | LogEvent::ReleaseGranted { .. }
            | LogEvent::ReleaseReceived { .. } => EntryKind::Onward,
            LogEvent::ClientIssued { .. }
            | LogEvent::ClientRevoked { .. }
            | LogEvent::OfficerAdded { .. }
            | LogEvent::OfficerEnrolled { .. }
            | LogEvent::OfficerRemoved { .. }
            | LogEvent::OfficerSignedIn { .. }
            | LogEvent::OfficerCertificateIssued { .. } => EntryKind::ClientChange,
            LogEvent::OfficerAction { .. } => EntryKind::Consulted,
            LogEvent::Acknowledged { .. } | LogEvent::AcknowledgementReceived { .. } => {
                EntryKind::Acknowledged
            }
            LogEvent::Consulted { .. } => EntryKind::Consulted,
            LogEvent::RetentionErased { .. }
            | LogEvent::Correlated { .. }
            | LogEvent::QueryMade { .. } => EntryKind::NodeEvent,
            LogEvent::QueryAnswered { .. } | LogEvent::QueryRefused { .. } => {
                EntryKind::PolicyDecision
            }
        }
    }

    /// The partner the event is about, indexed with the entry.
    fn agency(&self) -> Option<&AgencyId> {
        match self {
            LogEvent::ForwardDenied { decision } | LogEvent::IngressAllowed { decision, .. } => {
                Some(&decision.partner)
            }
            LogEvent::EnvelopeRejected { from, .. }
            | LogEvent::IdentityRefused { from, .. }
            | LogEvent::RejectionsNotLogged { from, .. }
            | LogEvent::QueryAnswered { from, .. }
            | LogEvent::QueryRefused { from, .. } => Some(from),
            LogEvent::ForwardingViolation { forwarder, .. } => Some(forwarder),
            LogEvent::IdentityUpdated { agency, .. }
            | LogEvent::IdentityPushed { agency, .. }
            | LogEvent::PeerAdded { agency, .. }
            | LogEvent::PeerRemoved { agency } => Some(agency),
            LogEvent::OnwardForwarded { forwarder, .. } => Some(forwarder),
            LogEvent::OnwardPurged { relayed_by, .. } => Some(relayed_by),
            LogEvent::ReleaseReceived { origin, .. } => Some(origin),
            LogEvent::AcknowledgementReceived { recipient, .. } => Some(recipient),
            LogEvent::PartnerLostEntries { partner, .. }
            | LogEvent::OwnLogBehind { partner, .. }
            | LogEvent::ErasedBeforeSending { partner, .. } => Some(partner),
            _ => None,
        }
    }

    /// The entry recording this event, tagged with the partner it is about. Add the
    /// bulletin with [`NewEntry::about_bulletin`] and effects with
    /// [`NewEntry::with_effect`].
    pub fn entry(&self) -> NewEntry {
        // Serialising a value of this enum to JSON cannot fail: every field is a
        // string, number, bool or list of them, and every map key is a string.
        let body = serde_json::to_vec(self).unwrap_or_default();
        let entry = NewEntry::new(self.kind(), Bytes::from(body));
        match self.agency() {
            Some(agency) => entry.about_agency(agency.clone()),
            None => entry,
        }
    }

    /// Reads an event body back; `None` for a body that is not an event of this schema
    /// (a record, or an entry written by an older version).
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }
}

/// The entry of a bulletin this node sealed (or forwarded) and queued.
pub fn published_entry(record: &fmt::PublishedRecord, bulletin: BulletinId) -> NewEntry {
    NewEntry::new(EntryKind::Published, prost::Message::encode_to_vec(record))
        .about_bulletin(bulletin)
}

/// The entry of an envelope accepted from `partner`, stored exactly as received.
pub fn received_entry(envelope: Bytes, bulletin: BulletinId, partner: &AgencyId) -> NewEntry {
    NewEntry::new(EntryKind::Received, envelope)
        .about_bulletin(bulletin)
        .about_agency(partner.clone())
}

/// The entry of a signed receipt a partner returned.
pub fn receipt_entry(receipt: Bytes, bulletin: Option<BulletinId>, partner: &AgencyId) -> NewEntry {
    let entry = NewEntry::new(EntryKind::Receipt, receipt).about_agency(partner.clone());
    match bulletin {
        Some(id) => entry.about_bulletin(id),
        None => entry,
    }
}

/// The entry of a signed recall, sent by this node or received from the origin.
pub fn recall_entry(recall: Bytes, bulletin: BulletinId) -> NewEntry {
    NewEntry::new(EntryKind::Recall, recall).about_bulletin(bulletin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision() -> PolicyDecisionRecord {
        PolicyDecisionRecord {
            partner: "DE-BKA".parse().unwrap(),
            allowed: false,
            rule: "partners.DE-BKA.max_send_tlp".into(),
            reason: Some("TLP:RED is above TLP:AMBER".into()),
            policy_version: "1a2b".into(),
        }
    }

    #[test]
    fn events_round_trip_through_their_stored_form() {
        let events = [
            LogEvent::NodeStopped,
            LogEvent::PublishDenied {
                category: "trafficking.persons".into(),
                tlp: "red".into(),
                decisions: vec![decision()],
            },
            LogEvent::PeerRemoved {
                agency: "RO-DIICOT".parse().unwrap(),
            },
        ];
        for event in events {
            let entry = event.entry();
            assert_eq!(entry.kind, event.kind());
            assert_eq!(LogEvent::parse(&entry.body), Some(event));
        }
    }

    #[test]
    fn decisions_are_stored_as_data_not_prose() {
        let event = LogEvent::ForwardDenied {
            decision: decision(),
        };
        let json: serde_json::Value = serde_json::from_slice(&event.entry().body).unwrap();
        assert_eq!(json["event"], "forward-denied");
        assert_eq!(json["decision"]["rule"], "partners.DE-BKA.max_send_tlp");
        assert_eq!(json["decision"]["allowed"], false);
        assert_eq!(json["decision"]["policy_version"], "1a2b");
        assert_eq!(
            PolicyDecisionRecord::from_pb(&decision().to_pb()),
            Some(decision())
        );
    }

    #[test]
    fn a_body_of_another_schema_is_not_an_event() {
        assert_eq!(LogEvent::parse(b"{\"event\":\"no-such-event\"}"), None);
        assert_eq!(LogEvent::parse(b"\x0a\x01"), None);
    }
}
