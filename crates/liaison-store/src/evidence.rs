//! Evidence: a stretch of the log as an outsider receives it — each entry's exact
//! hashed record and its body, plus the agency's signed checkpoints — and the check an
//! auditor runs on it with nothing but the agency's identity: every record hashes into
//! the chain, every body matches the hash its record commits to, and signed checkpoints
//! pin the chain to the agency's signing keys. No node, no sled.

use bytes::Bytes;
use liaison_core::AgencyId;
use liaison_core::checkpoint::Checkpoint;
use liaison_core::crypto::{self, VerifyingKey, domain};
use liaison_proto::format::v1 as pb;
use prost::Message as _;

use crate::error::{Error, Result};
use crate::log::Head;

/// One entry of an export: its sequence number, the record exactly as hashed, and its
/// body (`None` when erased, or when the exporter left it out).
#[derive(Debug, Clone)]
pub struct EvidenceEntry {
    /// Its sequence number.
    pub seq: u64,
    /// The encoded `LogRecord` the chain hash covers.
    pub record: Bytes,
    /// The body.
    pub body: Option<Bytes>,
}

/// What a verified export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceReport {
    /// The first entry.
    pub first: u64,
    /// The last entry and its hash.
    pub head: Head,
    /// The highest entry a verified checkpoint signs: everything up to it is the
    /// agency's signed log; entries after it are chained but not signed.
    pub signed_up_to: u64,
    /// Checkpoints verified and matching the chain.
    pub checkpoints: usize,
    /// Checkpoints not counted: signed by a key the identity revokes or does not list,
    /// or naming entries outside the export.
    pub checkpoints_skipped: usize,
    /// Bodies present and matching their records.
    pub bodies: u64,
    /// Entries whose body is not in the export (erased, or left out).
    pub without_body: u64,
}

/// Verifies an export of `agency`'s log: `checkpoints` (encoded `SignedCheckpoint`s)
/// first, so that only the hashes they name need keeping, then `entries` in order.
/// `keys` are the agency's signing keys an auditor accepts (current and retired, not
/// revoked).
///
/// Errors: [`Error::Tampered`] naming the first entry that does not verify (record
/// changed, entries missing or reordered, a body that does not match);
/// [`Error::BadCheckpoint`] for a checkpoint that contradicts the chain, or an export
/// that no verified checkpoint covers (it cannot be attributed to the agency).
pub fn verify_evidence(
    agency: &AgencyId,
    keys: &[VerifyingKey],
    checkpoints: &[Bytes],
    entries: impl IntoIterator<Item = Result<EvidenceEntry>>,
) -> Result<EvidenceReport> {
    let mut pinned = std::collections::BTreeMap::new();
    let mut skipped = 0;
    for signed in checkpoints {
        let checkpoint = Checkpoint::decode(signed.clone()).map_err(|e| Error::BadCheckpoint {
            seq: 0,
            problem: e.to_string(),
        })?;
        let bad = |problem: String| Error::BadCheckpoint {
            seq: checkpoint.seq,
            problem,
        };
        if &checkpoint.agency != agency {
            return Err(bad(format!(
                "signed for {}, not {agency}",
                checkpoint.agency
            )));
        }
        match keys
            .iter()
            .find(|k| k.key_id('s') == checkpoint.signing_key_id)
        {
            Some(key) => checkpoint
                .check_signature(key)
                .map_err(|_| bad("signature does not verify".into()))?,
            None => {
                skipped += 1;
                continue;
            }
        }
        if let Some(other) = pinned.insert(checkpoint.seq, checkpoint.head_hash)
            && other != checkpoint.head_hash
        {
            return Err(bad(
                "two checkpoints of this agency sign different hashes for this entry: its log forked"
                    .into(),
            ));
        }
    }

    let mut first = None;
    let mut head: Option<Head> = None;
    let (mut bodies, mut without_body, mut matched) = (0, 0, 0usize);
    let mut signed_up_to = 0;
    for item in entries {
        let entry = item?;
        let seq = entry.seq;
        let tampered = |problem: String| Error::Tampered { seq, problem };
        if let Some(previous) = &head
            && seq != previous.seq + 1
        {
            return Err(tampered(format!(
                "follows entry {}: entries are missing or out of order",
                previous.seq
            )));
        }
        let hash = crypto::digest_parts(&[domain::LOG_ENTRY, &entry.record]);
        let record = pb::LogRecord::decode(entry.record.clone())
            .map_err(|e| tampered(format!("record does not decode: {e}")))?;
        if record.seq != seq {
            return Err(tampered(format!("record says it is entry {}", record.seq)));
        }
        let expected_prev = match &head {
            Some(previous) => Some(previous.hash),
            None if seq == 1 => Some([0; 32]),
            None => None, // the first entry of a partial export anchors the chain
        };
        if let Some(expected) = expected_prev
            && record.prev_hash.as_ref() != expected
        {
            return Err(tampered(
                "does not follow from the previous entry: entries were removed, replaced or reordered"
                    .into(),
            ));
        }
        match &entry.body {
            Some(body) => {
                if body.len() as u64 != record.body_len
                    || crypto::sha256(body).as_slice() != record.body_sha256.as_ref()
                {
                    return Err(tampered(
                        "the body does not match the hash its record commits to".into(),
                    ));
                }
                bodies += 1;
            }
            None => without_body += 1,
        }
        if let Some(signed_hash) = pinned.get(&seq) {
            if signed_hash != &hash {
                return Err(Error::BadCheckpoint {
                    seq,
                    problem:
                        "the agency signed another hash for this entry: the export is not its log"
                            .into(),
                });
            }
            matched += 1;
            signed_up_to = seq;
        }
        first.get_or_insert(seq);
        head = Some(Head { seq, hash });
    }
    let (Some(first), Some(head)) = (first, head) else {
        return Err(Error::Tampered {
            seq: 0,
            problem: "the export holds no entries".into(),
        });
    };
    if matched == 0 {
        return Err(Error::BadCheckpoint {
            seq: head.seq,
            problem: format!(
                "no checkpoint signed by {agency} names an entry of this export, so nothing ties it to {agency}"
            ),
        });
    }
    Ok(EvidenceReport {
        first,
        head,
        signed_up_to,
        checkpoints: matched,
        checkpoints_skipped: skipped + pinned.len() - matched,
        bodies,
        without_body,
    })
}
