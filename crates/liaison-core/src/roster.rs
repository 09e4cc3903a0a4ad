//! The federation roster: a joint operation's coordinator signs the list of member
//! agencies with their root-key fingerprints, so each member compares one fingerprint
//! (the coordinator's) by voice instead of one per partner.
//!
//! A roster file is JSON (`liaison-roster/1`):
//!
//! ```json
//! {
//!   "format": "liaison-roster/1",
//!   "document": "<base64 of the roster document, the exact bytes signed>",
//!   "signature": "<base64 Ed25519 signature by the coordinator's root key>",
//!   "coordinator": "<base64 of the coordinator's identity bundle>",
//!   "bundles": { "DE-BKA": "<base64 identity bundle>", ... }
//! }
//! ```
//!
//! The document (JSON: operation, coordinator, version, issued, expires, members with
//! agency, fingerprint and endpoints) is signed as the bytes it was encoded to, so no
//! re-encoding can change what was signed. A draft (`roster create`) has no
//! signature and no coordinator bundle yet. The members' bundles travel with the roster
//! so that importing it needs no connection; each is only believed if its root key has
//! the fingerprint the signed document lists for that agency. What the document does
//! not list is ignored.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::crypto::{SigningKey, domain};
use crate::error::{Error, Malformed, Result};
use crate::identity::SignedIdentity;
use crate::ids::{AgencyId, UnixMillis};
use crate::{Fingerprint, limits};

/// The file format tag.
pub const FORMAT: &str = "liaison-roster/1";

/// One member agency as the coordinator vouches for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterMember {
    /// The agency.
    pub agency: AgencyId,
    /// Its root-key fingerprint, grouped (`ABCD-EFGH-...`).
    pub fingerprint: String,
    /// Where its node is reached (from its identity document when the roster was made).
    #[serde(default)]
    pub endpoints: Vec<String>,
}

/// What the coordinator signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterDocument {
    /// The operation's name, e.g. `jit-alpha` (a policy group can draw on it).
    pub operation: String,
    /// The agency that signs the roster.
    pub coordinator: AgencyId,
    /// Increases with each new roster of the operation; an import never goes back.
    pub version: u64,
    /// When it was made.
    pub issued: UnixMillis,
    /// After this, the roster is no longer imported.
    pub expires: UnixMillis,
    /// The member agencies (the coordinator among them, if it takes part).
    pub members: Vec<RosterMember>,
}

impl RosterDocument {
    /// Checks the rules a document must keep: an operation name, a version, a
    /// lifetime, at most [`limits::MAX_ROSTER_MEMBERS`] distinct members with valid
    /// fingerprints and endpoints.
    ///
    /// Errors: [`Malformed`] naming the field.
    pub fn validate(&self) -> std::result::Result<(), Malformed> {
        if !crate::policy::is_group_name(&self.operation) {
            return Err(Malformed::new(
                "roster.operation",
                format!(
                    "{:?} is not an operation name (lowercase letters, digits and '-', up to 64)",
                    self.operation
                ),
            ));
        }
        if self.version == 0 {
            return Err(Malformed::new("roster.version", "must be at least 1"));
        }
        if self.expires <= self.issued {
            return Err(Malformed::new(
                "roster.expires",
                format!(
                    "{} is not after the issue time {}",
                    self.expires, self.issued
                ),
            ));
        }
        if self.members.is_empty() || self.members.len() > limits::MAX_ROSTER_MEMBERS {
            return Err(Malformed::new(
                "roster.members",
                format!(
                    "{} members: a roster lists 1 to {}",
                    self.members.len(),
                    limits::MAX_ROSTER_MEMBERS
                ),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for member in &self.members {
            let field = format!("roster.members[{}]", member.agency);
            if !seen.insert(&member.agency) {
                return Err(Malformed::new(field, "is listed twice"));
            }
            Fingerprint::parse(&member.fingerprint).map_err(|e| e.within(&field))?;
            if member.endpoints.len() > limits::MAX_ENDPOINTS
                || !member
                    .endpoints
                    .iter()
                    .all(|e| crate::identity::is_host_port(e))
            {
                return Err(Malformed::new(
                    format!("{field}.endpoints"),
                    format!(
                        "must be at most {} host:port endpoints",
                        limits::MAX_ENDPOINTS
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The member entry for `agency`, if listed.
    pub fn member(&self, agency: &AgencyId) -> Option<&RosterMember> {
        self.members.iter().find(|m| &m.agency == agency)
    }
}

/// A roster before the coordinator signs it: the document and the members' bundles.
#[derive(Debug, Clone)]
pub struct RosterDraft {
    /// The document to sign.
    pub document: RosterDocument,
    /// Each member's identity bundle, by agency.
    pub bundles: BTreeMap<AgencyId, SignedIdentity>,
}

impl RosterDraft {
    /// A draft listing the agencies whose `bundles` are given, with the fingerprint of
    /// each bundle's root key and its endpoints. The coordinator must still have
    /// compared each fingerprint with its agency (`roster show` lists them).
    ///
    /// Errors: [`Malformed`] for a document that breaks the rules.
    pub fn new(
        operation: String,
        coordinator: AgencyId,
        version: u64,
        lifetime: std::ops::Range<UnixMillis>,
        bundles: Vec<SignedIdentity>,
    ) -> Result<Self> {
        let members = bundles
            .iter()
            .map(|b| RosterMember {
                agency: b.document().agency.clone(),
                fingerprint: b.fingerprint().to_string(),
                endpoints: b.document().peer_endpoints.clone(),
            })
            .collect();
        let document = RosterDocument {
            operation,
            coordinator,
            version,
            issued: lifetime.start,
            expires: lifetime.end,
            members,
        };
        document.validate()?;
        Ok(Self {
            document,
            bundles: bundles
                .into_iter()
                .map(|b| (b.document().agency.clone(), b))
                .collect(),
        })
    }

    /// Signs the draft with the coordinator's root key; `coordinator` is its identity
    /// bundle, shipped in the roster for members to check against the fingerprint they
    /// were told.
    ///
    /// Errors: [`Malformed`] if `coordinator` is not the agency the document names or
    /// `root` is not its root key.
    pub fn sign(self, coordinator: &SignedIdentity, root: &SigningKey) -> Result<SignedRoster> {
        if coordinator.document().agency != self.document.coordinator {
            return Err(Malformed::new(
                "roster.coordinator",
                format!(
                    "the roster names {} as its coordinator; this node is {}",
                    self.document.coordinator,
                    coordinator.document().agency
                ),
            )
            .into());
        }
        if root.verifying_key() != *coordinator.root_key() {
            return Err(Malformed::new(
                "roster.coordinator",
                "the signing key is not the coordinator's root key",
            )
            .into());
        }
        let document_bytes = Bytes::from(encode_json(&self.document)?);
        let signature = root.sign(domain::ROSTER, &[&document_bytes]);
        Ok(SignedRoster {
            document: self.document,
            document_bytes,
            signature,
            coordinator: coordinator.clone(),
            bundles: self.bundles,
        })
    }

    /// The draft as a roster file (no signature, no coordinator bundle).
    ///
    /// Errors: none in practice (JSON encoding of owned data).
    pub fn to_file(&self) -> Result<Vec<u8>> {
        let file = RosterFile {
            format: FORMAT.to_owned(),
            document: base64(&encode_json(&self.document)?),
            signature: None,
            coordinator: None,
            bundles: bundles_of(&self.bundles),
        };
        encode_json_pretty(&file)
    }
}

/// A roster whose signature verified under the root key of the coordinator bundle it
/// carries. Whether that is the right coordinator is the importer's check: compare
/// [`SignedRoster::coordinator_fingerprint`] with the fingerprint read out by voice.
#[derive(Debug, Clone)]
pub struct SignedRoster {
    document: RosterDocument,
    document_bytes: Bytes,
    signature: [u8; 64],
    coordinator: SignedIdentity,
    bundles: BTreeMap<AgencyId, SignedIdentity>,
}

impl SignedRoster {
    /// The signed document.
    pub fn document(&self) -> &RosterDocument {
        &self.document
    }

    /// The coordinator's identity bundle.
    pub fn coordinator(&self) -> &SignedIdentity {
        &self.coordinator
    }

    /// The coordinator's root-key fingerprint.
    pub fn coordinator_fingerprint(&self) -> Fingerprint {
        self.coordinator.fingerprint()
    }

    /// The bundle shipped for `agency`, if any: only for a listed member, and only
    /// if its root key has the fingerprint the document lists (checked on decoding).
    pub fn bundle(&self, agency: &AgencyId) -> Option<&SignedIdentity> {
        self.bundles.get(agency)
    }

    /// The roster file.
    ///
    /// Errors: none in practice (JSON encoding of owned data).
    pub fn to_file(&self) -> Result<Vec<u8>> {
        let file = RosterFile {
            format: FORMAT.to_owned(),
            document: base64(&self.document_bytes),
            signature: Some(base64(&self.signature)),
            coordinator: Some(base64(&self.coordinator.to_bytes())),
            bundles: bundles_of(&self.bundles),
        };
        encode_json_pretty(&file)
    }
}

/// A roster file as read: signed, or a draft still to sign.
#[derive(Debug, Clone)]
pub enum Roster {
    /// Signed by its coordinator (signature verified).
    Signed(Box<SignedRoster>),
    /// Not signed yet.
    Draft(RosterDraft),
}

impl Roster {
    /// Decodes and checks a roster file from anyone: size, JSON, format, the document's
    /// rules, every shipped bundle (a listed member's only, verified, with the listed
    /// fingerprint), and for a signed roster the coordinator bundle and the signature.
    ///
    /// Errors: [`Error::TooLarge`], [`Error::Malformed`] naming the field,
    /// [`Error::BadIdentitySignature`] for a bundle, [`Error::BadRosterSignature`].
    pub fn from_file(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > limits::MAX_ROSTER_BYTES {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit: limits::MAX_ROSTER_BYTES,
            });
        }
        let file: RosterFile = serde_json::from_slice(bytes).map_err(|e| {
            Malformed::new(
                format!("roster file line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        if file.format != FORMAT {
            return Err(Malformed::new(
                "roster.format",
                format!("{:?} is not {FORMAT:?}", file.format),
            )
            .into());
        }
        let document_bytes = Bytes::from(unbase64(&file.document, "roster.document")?);
        let document: RosterDocument = serde_json::from_slice(&document_bytes)
            .map_err(|e| Malformed::new("roster.document", e.to_string()))?;
        document.validate()?;
        let mut bundles = BTreeMap::new();
        for (agency, encoded) in &file.bundles {
            let field = format!("roster.bundles[{agency}]");
            let agency: AgencyId = agency.parse().map_err(|e: Malformed| e.within(&field))?;
            // Nothing the signed document does not name is kept.
            let Some(member) = document.member(&agency) else {
                continue;
            };
            let bundle = SignedIdentity::from_bytes(unbase64(encoded, &field)?.into())?;
            if bundle.document().agency != agency {
                return Err(Malformed::new(
                    field,
                    format!("is the bundle of {}", bundle.document().agency),
                )
                .into());
            }
            if bundle.fingerprint().to_string() != member.fingerprint {
                return Err(Malformed::new(
                    field,
                    format!(
                        "its root key's fingerprint is {}, the roster lists {}",
                        bundle.fingerprint(),
                        member.fingerprint
                    ),
                )
                .into());
            }
            bundles.insert(agency, bundle);
        }
        let (Some(signature), Some(coordinator)) = (file.signature, file.coordinator.as_ref())
        else {
            return Ok(Roster::Draft(RosterDraft { document, bundles }));
        };
        let coordinator =
            SignedIdentity::from_bytes(unbase64(coordinator, "roster.coordinator")?.into())?;
        if coordinator.document().agency != document.coordinator {
            return Err(Malformed::new(
                "roster.coordinator",
                format!(
                    "is the bundle of {}, the document names {}",
                    coordinator.document().agency,
                    document.coordinator
                ),
            )
            .into());
        }
        let signature: [u8; 64] = unbase64(&signature, "roster.signature")?
            .try_into()
            .map_err(|_| Malformed::new("roster.signature", "must be 64 bytes"))?;
        coordinator
            .root_key()
            .verify(domain::ROSTER, &[&document_bytes], &signature)
            .map_err(|_| Error::BadRosterSignature {
                coordinator: document.coordinator.clone(),
            })?;
        Ok(Roster::Signed(Box::new(SignedRoster {
            document,
            document_bytes,
            signature,
            coordinator,
            bundles,
        })))
    }

    /// The document, signed or not.
    pub fn document(&self) -> &RosterDocument {
        match self {
            Roster::Signed(s) => &s.document,
            Roster::Draft(d) => &d.document,
        }
    }

    /// Whether `agency`'s bundle travels with the roster.
    pub fn has_bundle(&self, agency: &AgencyId) -> bool {
        match self {
            Roster::Signed(s) => s.bundles.contains_key(agency),
            Roster::Draft(d) => d.bundles.contains_key(agency),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    format: String,
    document: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    coordinator: Option<String>,
    #[serde(default)]
    bundles: BTreeMap<String, String>,
}

fn bundles_of(bundles: &BTreeMap<AgencyId, SignedIdentity>) -> BTreeMap<String, String> {
    bundles
        .iter()
        .map(|(agency, b)| (agency.to_string(), base64(&b.to_bytes())))
        .collect()
}

fn base64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

fn unbase64(text: &str, field: &str) -> std::result::Result<Vec<u8>, Malformed> {
    data_encoding::BASE64
        .decode(text.as_bytes())
        .map_err(|_| Malformed::new(field, "is not valid base64"))
}

fn encode_json(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Malformed::new("roster", format!("cannot be encoded: {e}")).into())
}

fn encode_json_pretty(value: &impl Serialize) -> Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(value)
        .map_err(|e| Malformed::new("roster", format!("cannot be encoded: {e}")))?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AgencyKeys;

    fn agency(id: &str) -> (AgencyKeys, SignedIdentity) {
        let keys = AgencyKeys::generate(&mut crate::crypto::SystemRng).unwrap();
        let now = UnixMillis::now();
        let document = crate::IdentityDocument::first_version(
            id.parse().unwrap(),
            id.into(),
            vec![format!("{}.example:7443", id.to_lowercase())],
            &keys.signing,
            &keys.encryption,
            Bytes::from_static(b"-"),
            now.plus_days(-1)..now.plus_days(30),
        );
        let signed = SignedIdentity::sign(document, &keys.root);
        (keys, signed)
    }

    fn signed_roster() -> (AgencyKeys, SignedRoster, SignedIdentity) {
        let (lead_keys, lead) = agency("NL-NP");
        let (_, de) = agency("DE-BKA");
        let (_, ro) = agency("RO-DIICOT");
        let now = UnixMillis::now();
        let draft = RosterDraft::new(
            "jit-alpha".into(),
            "NL-NP".parse().unwrap(),
            1,
            now..now.plus_days(90),
            vec![lead.clone(), de, ro],
        )
        .unwrap();
        let signed = draft.sign(&lead, &lead_keys.root).unwrap();
        (lead_keys, signed, lead)
    }

    #[test]
    fn a_signed_roster_round_trips_and_its_members_bundles_match_their_fingerprints() {
        let (_, signed, lead) = signed_roster();
        let file = signed.to_file().unwrap();
        let Roster::Signed(read) = Roster::from_file(&file).unwrap() else {
            panic!("read back as a draft");
        };
        assert_eq!(read.document(), signed.document());
        assert_eq!(read.coordinator_fingerprint(), lead.fingerprint());
        for member in &read.document().members {
            let bundle = read.bundle(&member.agency).unwrap();
            assert_eq!(bundle.fingerprint().to_string(), member.fingerprint);
        }
        // A draft reads back as a draft.
        let (_, de) = agency("DE-BKA");
        let now = UnixMillis::now();
        let draft = RosterDraft::new(
            "op".into(),
            "NL-NP".parse().unwrap(),
            1,
            now..now.plus_days(1),
            vec![de],
        )
        .unwrap();
        assert!(matches!(
            Roster::from_file(&draft.to_file().unwrap()).unwrap(),
            Roster::Draft(_)
        ));
    }

    fn edit(file: &[u8], change: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut value: serde_json::Value = serde_json::from_slice(file).unwrap();
        change(&mut value);
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn an_altered_document_a_swapped_bundle_or_a_foreign_signer_is_refused() {
        let (_, signed, _) = signed_roster();
        let file = signed.to_file().unwrap();
        // A member added to the signed document.
        let mut document = signed.document().clone();
        document.members.push(RosterMember {
            agency: "XX-EVIL".parse().unwrap(),
            fingerprint: signed.document().members[0].fingerprint.clone(),
            endpoints: vec![],
        });
        let altered = edit(&file, |v| {
            v["document"] = base64(&serde_json::to_vec(&document).unwrap()).into();
        });
        assert!(matches!(
            Roster::from_file(&altered),
            Err(Error::BadRosterSignature { .. })
        ));
        // DE-BKA's bundle replaced by another key's bundle under the same name.
        let (_, impostor) = agency("DE-BKA");
        let swapped = edit(&file, |v| {
            v["bundles"]["DE-BKA"] = base64(&impostor.to_bytes()).into();
        });
        let e = Roster::from_file(&swapped).unwrap_err().to_string();
        assert!(e.contains("roster.bundles[DE-BKA]"), "{e}");
        // Signed by someone else's key: the coordinator bundle replaced.
        let (other_keys, other) = agency("NL-NP");
        let mut draft_doc = signed.document().clone();
        draft_doc.version = 2;
        let forged = RosterDraft {
            document: draft_doc,
            bundles: BTreeMap::new(),
        }
        .sign(&other, &other_keys.root)
        .unwrap();
        assert_ne!(
            forged.coordinator_fingerprint(),
            signed.coordinator_fingerprint()
        );
        // A bundle for an agency the document does not list is dropped.
        let (_, stranger) = agency("FR-OCRTEH");
        let extra = edit(&file, |v| {
            v["bundles"]["FR-OCRTEH"] = base64(&stranger.to_bytes()).into();
        });
        let Roster::Signed(read) = Roster::from_file(&extra).unwrap() else {
            panic!("not signed");
        };
        assert!(read.bundle(&"FR-OCRTEH".parse().unwrap()).is_none());
        // Nonsense and oversize.
        assert!(Roster::from_file(b"{").is_err());
        assert!(matches!(
            Roster::from_file(&vec![b' '; limits::MAX_ROSTER_BYTES + 1]),
            Err(Error::TooLarge { .. })
        ));
        let e = Roster::from_file(&edit(&file, |v| v["format"] = "x".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("roster.format"), "{e}");
    }

    #[test]
    fn documents_break_no_rule() {
        let (_, signed, _) = signed_roster();
        let good = signed.document().clone();
        let mut twice = good.clone();
        twice.members.push(good.members[0].clone());
        assert!(twice.validate().unwrap_err().problem.contains("twice"));
        let mut expired_first = good.clone();
        expired_first.expires = good.issued;
        assert_eq!(
            expired_first.validate().unwrap_err().field,
            "roster.expires"
        );
        let mut bad_name = good.clone();
        bad_name.operation = "Op Alpha".into();
        assert_eq!(bad_name.validate().unwrap_err().field, "roster.operation");
        let mut bad_fp = good;
        bad_fp.members[1].fingerprint = "ABCD".into();
        assert!(bad_fp.validate().unwrap_err().field.contains("DE-BKA"));
    }
}
