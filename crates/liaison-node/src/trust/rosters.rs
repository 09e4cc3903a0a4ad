//! The federation rosters this node imported: which coordinator it trusts for which
//! operation, at which version, and which partners each roster brought (and may
//! therefore retire). Partners added per pair are never a roster's to remove.

use bytes::Bytes;
use liaison_core::AgencyId;
use liaison_core::policy::RosterMembers;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the node keeps of an imported roster (`G` records in the log's state).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterRecord {
    /// The operation.
    pub operation: String,
    /// The version imported.
    pub version: u64,
    /// The coordinator.
    pub coordinator: AgencyId,
    /// Its root-key fingerprint: a later version must come from the same key.
    pub coordinator_fingerprint: String,
    /// Until when the roster was valid (Unix milliseconds).
    pub expires_unix_ms: i64,
    /// Every member it lists, this node included.
    pub members: Vec<AgencyId>,
    /// The members this roster made partners (not those added per pair).
    pub managed: Vec<AgencyId>,
    /// The signed roster file as imported, base64, for an auditor to verify again.
    pub file_base64: String,
}

impl RosterRecord {
    /// The record as stored.
    pub fn to_bytes(&self) -> Bytes {
        // Every field is a string, number or list of strings: encoding cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// A stored record.
    ///
    /// Errors: [`Error::Internal`] for a record this version cannot read.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Internal(format!("a stored roster record does not decode: {e}")))
    }
}

/// Every imported roster, from the log's state.
///
/// Errors: the log cannot be read, or a record does not decode.
pub fn imported(log: &liaison_store::Log) -> Result<Vec<RosterRecord>> {
    log.rosters()?
        .iter()
        .map(|(_, bytes)| RosterRecord::from_bytes(bytes))
        .collect()
}

/// The members of each imported roster other than `this` agency: what policy groups
/// with `roster = "OPERATION"` take as members.
pub fn members_for_policy(records: &[RosterRecord], this: &AgencyId) -> RosterMembers {
    records
        .iter()
        .map(|r| {
            let members = r.members.iter().filter(|m| *m != this).cloned().collect();
            (r.operation.clone(), (r.version, members))
        })
        .collect()
}
