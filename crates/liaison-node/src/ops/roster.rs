//! Federation rosters: a coordinator makes and signs one; a member imports it after
//! checking the coordinator's fingerprint, which adds, updates and retires partners
//! in one log entry (see `trust::rosters` for what is kept).

use liaison_core::roster::{Roster, RosterDraft, SignedRoster};
use liaison_core::{AgencyId, Fingerprint, SignedIdentity, UnixMillis};
use liaison_store::Effect;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::trust::partners::Partner;
use crate::trust::rosters::{self, RosterRecord};

/// A roster as shown to the operator (`roster show`, `roster list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterView {
    /// The operation.
    pub operation: String,
    /// Its version.
    pub version: u64,
    /// The coordinator.
    pub coordinator: String,
    /// The coordinator's root-key fingerprint (a signed roster only): compare it with
    /// the one the coordinator read to you.
    pub coordinator_fingerprint: Option<String>,
    /// Whether the coordinator signed it (a draft is not).
    pub signed: bool,
    /// When it was made.
    pub issued: String,
    /// When it expires.
    pub expires: String,
    /// Its members.
    pub members: Vec<RosterMemberView>,
}

/// One member of a roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterMemberView {
    /// The agency.
    pub agency: String,
    /// Its root-key fingerprint as the roster lists it.
    pub fingerprint: String,
    /// Its endpoints.
    pub endpoints: Vec<String>,
    /// Whether its identity bundle travels with the roster.
    pub bundle: bool,
}

fn roster_view(roster: &Roster) -> RosterView {
    let doc = roster.document();
    RosterView {
        operation: doc.operation.clone(),
        version: doc.version,
        coordinator: doc.coordinator.to_string(),
        coordinator_fingerprint: match roster {
            Roster::Signed(s) => Some(s.coordinator_fingerprint().to_string()),
            Roster::Draft(_) => None,
        },
        signed: matches!(roster, Roster::Signed(_)),
        issued: doc.issued.to_string(),
        expires: doc.expires.to_string(),
        members: doc
            .members
            .iter()
            .map(|m| RosterMemberView {
                agency: m.agency.to_string(),
                fingerprint: m.fingerprint.clone(),
                endpoints: m.endpoints.clone(),
                bundle: roster.has_bundle(&m.agency),
            })
            .collect(),
    }
}

/// What `roster create` is given.
#[derive(Debug, Clone)]
pub struct RosterSpec {
    /// The operation's name.
    pub operation: String,
    /// The agency that will sign it.
    pub coordinator: AgencyId,
    /// Its version (higher than any the members imported before).
    pub version: u64,
    /// How long it may be imported.
    pub valid_days: u32,
}

/// A draft roster listing the agencies whose identity bundles are given (each as
/// `liaison identity export` wrote it), with the fingerprint of each: no node needed.
///
/// Errors: a bundle that does not verify (naming which), a document that breaks the
/// rules (named field).
pub fn roster_create(spec: RosterSpec, bundles: Vec<(String, Vec<u8>)>) -> Result<Vec<u8>> {
    let identities = bundles
        .into_iter()
        .map(|(name, bytes)| {
            SignedIdentity::from_bytes(bytes.into())
                .map_err(|e| Error::InvalidRequest(format!("bundle {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let now = UnixMillis::now();
    let draft = RosterDraft::new(
        spec.operation,
        spec.coordinator,
        spec.version,
        now..now.plus_days(i64::from(spec.valid_days)),
        identities,
    )?;
    Ok(draft.to_file()?)
}

/// Reads a roster file, signed or draft, and shows it; a signed one's signature is
/// checked (not yet whose it is: that is the importer's fingerprint check).
///
/// Errors: the file does not decode or verify, each fault named.
pub fn roster_show(file: &[u8]) -> Result<RosterView> {
    Ok(roster_view(&Roster::from_file(file)?))
}

/// Signs a draft with this node's root key: this node is the coordinator.
///
/// Errors: the draft does not decode, is already signed, or names another
/// coordinator.
pub fn roster_sign(state: &NodeState, draft: &[u8]) -> Result<Vec<u8>> {
    let draft = match Roster::from_file(draft)? {
        Roster::Draft(draft) => draft,
        Roster::Signed(_) => {
            return Err(Error::InvalidRequest(
                "this roster is signed already; make a new draft (`roster create`) with a higher version"
                    .into(),
            ));
        }
    };
    let node = state.node();
    let signed = draft.sign(node.identity(), &node.keys().root)?;
    Ok(signed.to_file()?)
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterImportView {
    /// The roster.
    pub roster: RosterView,
    /// Members added as partners.
    pub added: Vec<String>,
    /// Members whose newer bundle replaced the one held.
    pub updated: Vec<String>,
    /// Partners removed: an earlier version listed them, this one does not.
    pub retired: Vec<String>,
    /// Members left as added per pair, with a note where the roster disagrees.
    pub kept: Vec<String>,
    /// The policy version now in force (groups drawing on the roster follow it).
    pub policy_version: String,
}

/// Imports a signed roster whose coordinator's root key has the fingerprint
/// `expected`: adds the members not yet partners (from the bundles it carries),
/// updates those it brought before when it carries a newer bundle, retires those an
/// earlier version brought and this one no longer lists, and leaves partners added per
/// pair as they are. One log entry records it all, with the changes in the same
/// atomic batch.
///
/// Errors: [`Error::FingerprintMismatch`]; a draft, an expired roster, one that does
/// not list this agency, a version not above the one imported, another coordinator
/// for the same operation, a new member without its bundle, a member's root key
/// changed: each [`Error::InvalidRequest`] naming it.
pub fn roster_import(state: &NodeState, file: &[u8], expected: &str) -> Result<RosterImportView> {
    let expected = Fingerprint::parse(expected)
        .map_err(|e| Error::InvalidRequest(format!("--fingerprint: {e}")))?;
    let roster = match Roster::from_file(file)? {
        Roster::Signed(signed) => *signed,
        Roster::Draft(_) => {
            return Err(Error::InvalidRequest(
                "this roster is a draft: the coordinator signs it first (`liaison roster sign`)"
                    .into(),
            ));
        }
    };
    if roster.coordinator_fingerprint() != expected {
        return Err(Error::FingerprintMismatch {
            expected: expected.to_string(),
            actual: roster.coordinator_fingerprint().to_string(),
        });
    }
    let doc = roster.document();
    let this = state.node().config().agency.clone();
    let now = state.clock.now();
    if doc.expires <= now {
        return Err(Error::InvalidRequest(format!(
            "roster {} version {} expired at {}: ask {} for a current one",
            doc.operation, doc.version, doc.expires, doc.coordinator
        )));
    }
    if doc.issued.0 > now.0 + liaison_core::limits::CLOCK_LEEWAY_MS {
        return Err(Error::InvalidRequest(format!(
            "roster {} was issued at {}, after this node's clock ({now}): check both clocks",
            doc.operation, doc.issued
        )));
    }
    if doc.member(&this).is_none() {
        return Err(Error::InvalidRequest(format!(
            "roster {} does not list this agency ({this})",
            doc.operation
        )));
    }
    let records = rosters::imported(&state.log)?;
    let previous = records.iter().find(|r| r.operation == doc.operation);
    if let Some(previous) = previous {
        if previous.coordinator_fingerprint != expected.to_string() {
            return Err(Error::InvalidRequest(format!(
                "roster {} was imported from {} (fingerprint {}); a roster signed by another key cannot replace it",
                doc.operation, previous.coordinator, previous.coordinator_fingerprint
            )));
        }
        if doc.version <= previous.version {
            return Err(Error::InvalidRequest(format!(
                "roster {} version {} is not newer than version {} imported here{}",
                doc.operation,
                doc.version,
                previous.version,
                if doc.version < previous.version {
                    " (an old roster replayed?)"
                } else {
                    ""
                }
            )));
        }
    }
    let changes = plan(state, &roster, previous, &records, &this)?;
    let record = RosterRecord {
        operation: doc.operation.clone(),
        version: doc.version,
        coordinator: doc.coordinator.clone(),
        coordinator_fingerprint: expected.to_string(),
        expires_unix_ms: doc.expires.0,
        members: doc.members.iter().map(|m| m.agency.clone()).collect(),
        managed: changes.managed.clone(),
        file_base64: data_encoding::BASE64.encode(file),
    };
    // The policy must still resolve with the new members (two groups could disagree
    // on a rule for one of them): check before anything is stored.
    let mut after: Vec<RosterRecord> = records
        .iter()
        .filter(|r| r.operation != record.operation)
        .cloned()
        .collect();
    after.push(record.clone());
    state
        .policy
        .snapshot()
        .with_rosters(&rosters::members_for_policy(&after, &this))
        .map_err(|e| {
            Error::InvalidRequest(format!(
                "importing roster {} would leave the sharing policy invalid: {e}",
                doc.operation
            ))
        })?;
    let event = LogEvent::RosterImported {
        operation: doc.operation.clone(),
        version: doc.version,
        coordinator: doc.coordinator.clone(),
        coordinator_fingerprint: expected.to_string(),
        added: changes
            .added
            .iter()
            .map(|i| i.document().agency.clone())
            .collect(),
        updated: changes
            .updated
            .iter()
            .map(|i| i.document().agency.clone())
            .collect(),
        retired: changes.retired.clone(),
        kept: changes.kept.clone(),
    };
    let mut entry = event.entry().with_effect(Effect::PutRoster {
        operation: doc.operation.clone(),
        record: record.to_bytes(),
    });
    for identity in changes.added.iter().chain(&changes.updated) {
        entry = entry.with_effect(Effect::PutPeer {
            agency: identity.document().agency.clone(),
            bundle: identity.to_bytes(),
        });
    }
    for agency in &changes.retired {
        entry = entry.with_effect(Effect::RemovePeer(agency.clone()));
    }
    state.log.append(entry)?;
    state.reload_partners()?;
    let policy = state.apply_rosters()?;
    for agency in changes
        .retired
        .iter()
        .chain(changes.added.iter().map(|i| &i.document().agency))
    {
        state.wake(agency);
    }
    let agencies = |list: &[SignedIdentity]| {
        list.iter()
            .map(|i| i.document().agency.to_string())
            .collect()
    };
    Ok(RosterImportView {
        roster: roster_view(&Roster::Signed(Box::new(roster.clone()))),
        added: agencies(&changes.added),
        updated: agencies(&changes.updated),
        retired: changes.retired.iter().map(ToString::to_string).collect(),
        kept: changes.kept,
        policy_version: policy.version().to_owned(),
    })
}

/// The partner changes an import makes.
struct Changes {
    added: Vec<SignedIdentity>,
    updated: Vec<SignedIdentity>,
    retired: Vec<AgencyId>,
    kept: Vec<String>,
    /// The members this roster manages after the import.
    managed: Vec<AgencyId>,
}

fn plan(
    state: &NodeState,
    roster: &SignedRoster,
    previous: Option<&RosterRecord>,
    records: &[RosterRecord],
    this: &AgencyId,
) -> Result<Changes> {
    let doc = roster.document();
    let partners = state.partners.snapshot();
    let managed_by_this = |agency: &AgencyId| previous.is_some_and(|p| p.managed.contains(agency));
    let managed_elsewhere = |agency: &AgencyId| {
        records
            .iter()
            .any(|r| r.operation != doc.operation && r.managed.contains(agency))
    };
    let mut changes = Changes {
        added: Vec::new(),
        updated: Vec::new(),
        retired: Vec::new(),
        kept: Vec::new(),
        managed: Vec::new(),
    };
    for member in doc.members.iter().filter(|m| &m.agency != this) {
        let agency = &member.agency;
        let bundle = roster.bundle(agency);
        match partners.get(agency) {
            Some(held) if managed_by_this(agency) || managed_elsewhere(agency) => {
                if held.identity.fingerprint().to_string() != member.fingerprint {
                    return Err(Error::InvalidRequest(format!(
                        "the roster lists another root key for {agency} ({}) than the one held ({}); if {agency} really replaced its root, remove it first (`liaison peer remove {agency}`)",
                        member.fingerprint,
                        held.identity.fingerprint()
                    )));
                }
                if let Some(bundle) =
                    bundle.filter(|b| b.document().version > held.identity.document().version)
                {
                    Partner::new(bundle.clone())?;
                    changes.updated.push(bundle.clone());
                }
                changes.managed.push(agency.clone());
            }
            Some(held) => {
                let note = if held.identity.fingerprint().to_string() == member.fingerprint {
                    format!("{agency}: added per pair, kept as it is")
                } else {
                    format!(
                        "{agency}: added per pair with fingerprint {}, the roster lists {}: the per-pair key stays; check with {agency}",
                        held.identity.fingerprint(),
                        member.fingerprint
                    )
                };
                changes.kept.push(note);
            }
            None => {
                let Some(bundle) = bundle else {
                    return Err(Error::InvalidRequest(format!(
                        "the roster carries no identity bundle for {agency}, which is not a partner here: ask {} for a roster with its bundle, or add it per pair",
                        doc.coordinator
                    )));
                };
                Partner::new(bundle.clone())?;
                changes.added.push(bundle.clone());
                changes.managed.push(agency.clone());
            }
        }
    }
    if let Some(previous) = previous {
        changes.retired = previous
            .managed
            .iter()
            .filter(|a| doc.member(a).is_none() && !managed_elsewhere(a))
            .filter(|a| partners.get(a).is_some())
            .cloned()
            .collect();
    }
    Ok(changes)
}

/// Every roster imported here.
///
/// Errors: the log cannot be read.
pub fn roster_list(state: &NodeState) -> Result<Vec<RosterImportedView>> {
    Ok(rosters::imported(&state.log)?
        .into_iter()
        .map(|r| RosterImportedView {
            expired: r.expires_unix_ms <= state.clock.now().0,
            operation: r.operation,
            version: r.version,
            coordinator: r.coordinator.to_string(),
            coordinator_fingerprint: r.coordinator_fingerprint,
            expires: UnixMillis(r.expires_unix_ms).to_string(),
            members: r.members.iter().map(ToString::to_string).collect(),
            managed: r.managed.iter().map(ToString::to_string).collect(),
        })
        .collect())
}

/// A roster as imported on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterImportedView {
    /// The operation.
    pub operation: String,
    /// The version imported.
    pub version: u64,
    /// The coordinator.
    pub coordinator: String,
    /// Its root-key fingerprint.
    pub coordinator_fingerprint: String,
    /// When the roster expires.
    pub expires: String,
    /// Whether it has expired (its partners stay; a newer roster is due).
    pub expired: bool,
    /// Every member listed.
    pub members: Vec<String>,
    /// The members it made partners here.
    pub managed: Vec<String>,
}
