//! The log for an auditor: verify, export, and evidence — an export with each entry's
//! hashed record and body and the signed checkpoints, which anyone holding the
//! agency's identity bundle can verify without the node ([`verify_evidence`]).

use liaison_store::EntryKind;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;

/// The result of `liaison log verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyView {
    /// Entries in the log.
    pub entries: u64,
    /// Entries re-hashed by this run (fewer than `entries` when incremental).
    pub checked: u64,
    /// The checkpoint an incremental run started from (0: the beginning).
    pub from_checkpoint: u64,
    /// Index rows derived again and compared (0 unless asked).
    pub index_rows: u64,
    /// Entries per second.
    pub per_second: u64,
    /// Hash of the last, hex.
    pub head_hash: String,
    /// Signed checkpoints verified.
    pub checkpoints: usize,
    /// Bodies read from their own files and checked.
    pub external_bodies: u64,
}

/// Verifies the log (all of it, or from the last verified checkpoint; with its indexes
/// if asked); checkpoints may be signed by the current or any retired
/// signing key. `progress` is called with each sequence number.
///
/// Errors: [`crate::Error::Store`] naming the first bad entry or checkpoint.
pub fn verify_log(
    node: &crate::Node,
    log: &liaison_store::Log,
    options: liaison_store::VerifyOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifyView> {
    let started = std::time::Instant::now();
    let doc = node.identity().document();
    let keys: Vec<_> = std::iter::once(doc.signing_key.key)
        .chain(doc.retired_signing_keys.iter().map(|(k, _)| k.key))
        .collect();
    let report = log.verify(&keys, options, progress)?;
    Ok(VerifyView {
        entries: report.entries,
        checked: report.checked,
        from_checkpoint: report.from_checkpoint,
        index_rows: report.index_rows,
        per_second: (report.checked as f64 / started.elapsed().as_secs_f64().max(1e-6)) as u64,
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
    /// The record exactly as the chain hash covers it, base64 (evidence exports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The body's bytes, base64 (evidence exports; absent when erased).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
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
    Acknowledgement(LegacyAcknowledgement),
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

/// An acknowledgement as versions before 0.4 logged it (a local client's note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyAcknowledgement {
    /// The client.
    pub client: String,
    /// Its note.
    pub note: String,
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
            EntryKind::Acknowledged if LogEvent::parse(body).is_none() => {
                serde_json::from_slice(body).map_or(
                    ExportedBody::Unrecognised { bytes },
                    ExportedBody::Acknowledgement,
                )
            }
            _ => LogEvent::parse(body)
                .map_or(ExportedBody::Unrecognised { bytes }, ExportedBody::Event),
        }
    }
}

/// Entries from `since` on, at most `limit`, with their hashes; `with_bytes` adds each
/// entry's hashed record and body (base64), for evidence an outsider can verify.
pub fn log_export(
    state: &NodeState,
    since: u64,
    limit: usize,
    with_bytes: bool,
    only: Option<EntryKind>,
) -> Result<Vec<ExportedEntry>> {
    let hex = |b: &[u8]| data_encoding::HEXLOWER.encode(b);
    let b64 = |b: &[u8]| data_encoding::BASE64.encode(b);
    let entries = match only {
        None => state.log.range(since.max(1), limit)?,
        // One kind: read on in chunks until `limit` of it are found or the log ends.
        Some(kind) => {
            let (mut found, mut from) = (Vec::new(), since.max(1));
            while found.len() < limit {
                let chunk = state.log.range(from, 10_000)?;
                let Some(last) = chunk.last().map(|e| e.seq) else {
                    break;
                };
                found.extend(chunk.into_iter().filter(|e| e.kind == kind));
                from = last + 1;
            }
            found.truncate(limit);
            found
        }
    };
    entries
        .into_iter()
        .map(|e| {
            let bytes = state.log.body(&e)?;
            let body = ExportedBody::of(e.kind, bytes.as_deref(), e.body_len);
            let (record, body_base64) = if with_bytes {
                let record = state.log.record(e.seq)?.map(|r| b64(&r));
                (record, bytes.as_deref().map(b64))
            } else {
                (None, None)
            };
            Ok(ExportedEntry {
                record,
                body_base64,
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

/// Every signed checkpoint of this node's log, base64 (`SignedCheckpoint`), oldest
/// first; `sign_now` first signs one of the current head, so an export taken now is
/// signed to its end.
///
/// Errors: the log cannot be read or signed.
pub fn signed_checkpoints(state: &NodeState, sign_now: bool) -> Result<Vec<String>> {
    if sign_now {
        state.log.checkpoint()?;
    }
    Ok(state
        .log
        .checkpoints()?
        .iter()
        .map(|c| data_encoding::BASE64.encode(&c.signed))
        .collect())
}

/// Format name in the first line of an evidence file.
pub const EVIDENCE_FORMAT: &str = "liaison-log-evidence/1";

/// One line of an evidence file (JSON Lines): a header, then every signed checkpoint,
/// then the entries in order, each with its record and body in base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum EvidenceLine {
    /// What the file is and whose log.
    Header {
        /// [`EVIDENCE_FORMAT`].
        format: String,
        /// The agency whose log it is.
        agency: String,
        /// When it was exported, by the exporting node's clock.
        exported_at: String,
    },
    /// A signed checkpoint (`SignedCheckpoint`, base64).
    Checkpoint {
        /// The signed bytes.
        signed: String,
    },
    /// An entry.
    Entry(Box<ExportedEntry>),
}

/// What `liaison log verify --export` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceView {
    /// The agency, from the identity bundle.
    pub agency: String,
    /// The identity's root-key fingerprint: compare it with the one you hold.
    pub fingerprint: String,
    /// First entry in the export.
    pub first: u64,
    /// Last entry.
    pub last: u64,
    /// Its hash, hex.
    pub head_hash: String,
    /// Everything up to this entry is signed by the agency.
    pub signed_up_to: u64,
    /// Checkpoints verified against the chain.
    pub checkpoints: usize,
    /// Checkpoints not counted (unknown or revoked key, or outside the export).
    pub checkpoints_skipped: usize,
    /// Bodies checked against their records.
    pub bodies: u64,
    /// Entries without their body (erased, or left out).
    pub without_body: u64,
}

/// Verifies an evidence file read from `lines` against `identity` (a root-signed
/// identity bundle the auditor trusts): the header names its agency, every checkpoint
/// is signed by one of its signing keys (current or retired, not revoked), and the
/// entries chain, match their bodies and the checkpoints.
///
/// Errors: [`crate::Error::InvalidRequest`] for a file that is not evidence (line
/// named), [`crate::Error::Store`] for evidence that does not verify (entry named).
pub fn verify_evidence(
    lines: impl Iterator<Item = std::io::Result<String>>,
    identity: &liaison_core::SignedIdentity,
) -> Result<EvidenceView> {
    use liaison_store::evidence::{self, EvidenceEntry};
    let doc = identity.document();
    let bad = |line: usize, problem: String| {
        crate::Error::InvalidRequest(format!("line {line} of the export: {problem}"))
    };
    let b64 = |text: &str| data_encoding::BASE64.decode(text.as_bytes());
    let mut lines = lines
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| l.as_ref().map_or(true, |t| !t.trim().is_empty()));
    let parse = |n: usize, line: std::io::Result<String>| -> Result<EvidenceLine> {
        let text = line.map_err(|e| bad(n, format!("cannot be read: {e}")))?;
        serde_json::from_str(&text).map_err(|e| bad(n, format!("not an evidence line: {e}")))
    };
    let (n, first) = lines
        .next()
        .ok_or_else(|| bad(1, "the file is empty".into()))?;
    match parse(n, first)? {
        EvidenceLine::Header { format, agency, .. } => {
            if format != EVIDENCE_FORMAT {
                return Err(bad(
                    n,
                    format!("format {format:?}, expected {EVIDENCE_FORMAT:?}"),
                ));
            }
            if agency != doc.agency.as_str() {
                return Err(bad(
                    n,
                    format!("the log of {agency}, but the identity is {}'s", doc.agency),
                ));
            }
        }
        _ => return Err(bad(n, "the first line must be the header".into())),
    }
    let mut checkpoints = Vec::new();
    let mut pending = None;
    for (n, line) in lines.by_ref() {
        match parse(n, line)? {
            EvidenceLine::Checkpoint { signed } => checkpoints.push(
                b64(&signed)
                    .map_err(|e| bad(n, format!("checkpoint is not base64: {e}")))?
                    .into(),
            ),
            EvidenceLine::Entry(entry) => {
                pending = Some((n, *entry));
                break;
            }
            EvidenceLine::Header { .. } => return Err(bad(n, "a second header".into())),
        }
    }
    let to_evidence = |n: usize, entry: ExportedEntry| -> liaison_store::Result<EvidenceEntry> {
        let malformed = |problem: String| liaison_store::Error::Tampered {
            seq: entry.seq,
            problem: format!("line {n} of the export: {problem}"),
        };
        let record = entry
            .record
            .as_deref()
            .ok_or_else(|| malformed("no record bytes (export with --out)".into()))
            .and_then(|r| b64(r).map_err(|e| malformed(format!("record is not base64: {e}"))))?;
        let body = entry
            .body_base64
            .as_deref()
            .map(|b| b64(b).map_err(|e| malformed(format!("body is not base64: {e}"))))
            .transpose()?;
        readable_fields_match(&entry, &record, body.as_deref()).map_err(malformed)?;
        Ok(EvidenceEntry {
            seq: entry.seq,
            record: record.into(),
            body: body.map(Into::into),
        })
    };
    let entries = pending
        .into_iter()
        .map(|(n, entry)| to_evidence(n, entry))
        .chain(lines.map(|(n, line)| match parse(n, line) {
            Ok(EvidenceLine::Entry(entry)) => to_evidence(n, *entry),
            Ok(_) => Err(liaison_store::Error::Tampered {
                seq: 0,
                problem: format!("line {n} of the export: only entries may follow the first entry"),
            }),
            Err(e) => Err(liaison_store::Error::Tampered {
                seq: 0,
                problem: e.to_string(),
            }),
        }));
    let keys: Vec<_> = std::iter::once(&doc.signing_key)
        .chain(doc.retired_signing_keys.iter().map(|(k, _)| k))
        .filter(|k| doc.revocation(&k.key_id).is_none())
        .map(|k| k.key)
        .collect();
    let report = evidence::verify_evidence(&doc.agency, &keys, &checkpoints, entries)?;
    Ok(EvidenceView {
        agency: doc.agency.to_string(),
        fingerprint: identity.fingerprint().to_string(),
        first: report.first,
        last: report.head.seq,
        head_hash: data_encoding::HEXLOWER.encode(&report.head.hash),
        signed_up_to: report.signed_up_to,
        checkpoints: report.checkpoints,
        checkpoints_skipped: report.checkpoints_skipped,
        bodies: report.bodies,
        without_body: report.without_body,
    })
}

/// The readable fields of an exported entry (hash, time, kind, bulletin, partner, body
/// hash, the decoded body) must say what its signed bytes say: an auditor reads those
/// fields, so a file that shows one thing and hashes another is refused.
fn readable_fields_match(
    entry: &ExportedEntry,
    record: &[u8],
    body: Option<&[u8]>,
) -> std::result::Result<(), String> {
    use prost::Message as _;
    let hex = |b: &[u8]| data_encoding::HEXLOWER.encode(b);
    let hash =
        liaison_core::crypto::digest_parts(&[liaison_core::crypto::domain::LOG_ENTRY, record]);
    let decoded = liaison_proto::format::v1::LogRecord::decode(record)
        .map_err(|e| format!("record does not decode: {e}"))?;
    let kind = EntryKind::from_pb(decoded.kind).map(EntryKind::as_str);
    let bulletin_id = (!decoded.bulletin_id.is_empty())
        .then(|| liaison_core::BulletinId::from_slice(&decoded.bulletin_id).map(|b| b.to_string()))
        .transpose()
        .map_err(|e| format!("record's bulletin id: {e}"))?;
    let agency = (!decoded.agency.is_empty()).then(|| decoded.agency.clone());
    let mismatches = [
        ("hash", entry.hash != hex(&hash)),
        ("prev_hash", entry.prev_hash != hex(&decoded.prev_hash)),
        (
            "time",
            entry.time != liaison_core::UnixMillis(decoded.time_unix_ms).to_string(),
        ),
        ("kind", Some(entry.kind.as_str()) != kind),
        ("bulletin_id", entry.bulletin_id != bulletin_id),
        ("agency", entry.agency != agency),
        (
            "body_sha256",
            entry.body_sha256 != hex(&decoded.body_sha256),
        ),
    ];
    if let Some((field, _)) = mismatches.iter().find(|(_, differs)| *differs) {
        return Err(format!("{field} differs from what the signed record says"));
    }
    if let (Some(kind), Some(body)) = (EntryKind::from_pb(decoded.kind), body)
        && ExportedBody::of(kind, Some(body), decoded.body_len) != entry.body
    {
        return Err("body differs from what the signed bytes say".into());
    }
    Ok(())
}
