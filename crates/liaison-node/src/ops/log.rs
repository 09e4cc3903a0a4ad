//! The log for an auditor: verify, export.

use liaison_store::EntryKind;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::ops::bulletins::Acknowledgement;

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
/// Errors: [`crate::Error::Store`] naming the first bad entry or checkpoint.
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

/// A log entry for an auditor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// What the body holds, in the log's schema.
    pub body: ExportedBody,
}

/// An entry's body for an auditor: an event of the schema ([`LogEvent`]), an
/// acknowledgement, or a signed record kept as bytes (an envelope, a receipt, a recall:
/// verify it against `body_sha256` in the node's own export of bodies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExportedBody {
    /// What the node decided or changed.
    Event(LogEvent),
    /// A local system handled a received bulletin.
    Acknowledgement(Acknowledgement),
    /// A signed record of the exchange, `bytes` long.
    Record {
        /// Its length.
        bytes: u64,
    },
    /// A body this version does not read (written by an older version), `bytes` long.
    Unrecognised {
        /// Its length.
        bytes: u64,
    },
    /// Erased (recall or retention); its hash remains in the chain.
    Erased,
}

impl ExportedBody {
    fn of(kind: EntryKind, body: Option<&[u8]>, bytes: u64) -> Self {
        let Some(body) = body else {
            return ExportedBody::Erased;
        };
        match kind {
            EntryKind::Published | EntryKind::Received | EntryKind::Receipt | EntryKind::Recall => {
                ExportedBody::Record { bytes }
            }
            EntryKind::Acknowledged => serde_json::from_slice(body).map_or(
                ExportedBody::Unrecognised { bytes },
                ExportedBody::Acknowledgement,
            ),
            _ => LogEvent::parse(body)
                .map_or(ExportedBody::Unrecognised { bytes }, ExportedBody::Event),
        }
    }
}

/// Entries from `since` on, at most `limit`, with their hashes.
pub fn log_export(state: &NodeState, since: u64, limit: usize) -> Result<Vec<ExportedEntry>> {
    let hex = |b: &[u8]| data_encoding::HEXLOWER.encode(b);
    state
        .log
        .range(since.max(1), limit)?
        .into_iter()
        .map(|e| {
            let body = ExportedBody::of(e.kind, state.log.body(&e)?.as_deref(), e.body_len);
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
