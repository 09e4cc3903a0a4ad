//! Agency identity: the root key, the identity document it signs, and the bundle that
//! partners import once they have compared the root key's [`Fingerprint`].

use bytes::Bytes;
use liaison_proto::format::v1 as pb;
use prost::Message as _;

use crate::crypto::{self, EncryptionKey, EncryptionPublicKey, SigningKey, VerifyingKey, domain};
use crate::error::{Error, Malformed, Result};
use crate::ids::{AgencyId, KeyId, UnixMillis};
use crate::limits;

pub use crate::fingerprint::Fingerprint;

/// A public key as it appears in an identity document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey<K> {
    /// Its id.
    pub key_id: KeyId,
    /// The key.
    pub key: K,
    /// When it was made.
    pub created: UnixMillis,
}

/// Why a key was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationReason {
    /// The private key may be known to someone else.
    Compromised,
    /// Replaced in an orderly rotation.
    Superseded,
}

impl std::str::FromStr for RevocationReason {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Self, Malformed> {
        match s {
            "compromised" => Ok(RevocationReason::Compromised),
            "superseded" => Ok(RevocationReason::Superseded),
            other => Err(Malformed::new(
                "reason",
                format!("{other:?} is not a reason: expected compromised or superseded"),
            )),
        }
    }
}

impl RevocationReason {
    /// The reason's name, as written in logs and commands.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Compromised => "compromised",
            RevocationReason::Superseded => "superseded",
        }
    }
}

/// A key the agency no longer vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedKey {
    /// The key.
    pub key_id: KeyId,
    /// From when.
    pub revoked_at: UnixMillis,
    /// Why.
    pub reason: RevocationReason,
}

/// What an agency's root key vouches for.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityDocument {
    /// The agency.
    pub agency: AgencyId,
    /// Human name, e.g. "Netherlands National Police".
    pub display_name: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// host:port of the peer listener(s).
    pub peer_endpoints: Vec<String>,
    /// Only grows.
    pub version: u64,
    /// Valid from.
    pub not_before: UnixMillis,
    /// Valid until.
    pub not_after: UnixMillis,
    /// Current bulletin-signing key.
    pub signing_key: PublishedKey<VerifyingKey>,
    /// Current encryption key.
    pub encryption_key: PublishedKey<EncryptionPublicKey>,
    /// DER of the agency's TLS CA certificate.
    pub tls_ca_certificate: Bytes,
    /// Keys no longer vouched for.
    pub revoked_keys: Vec<RevokedKey>,
    /// Earlier signing keys, with when they were retired.
    pub retired_signing_keys: Vec<(PublishedKey<VerifyingKey>, UnixMillis)>,
    /// The node certificates (ids from [`crypto::tls_certificate_id`]) partners accept
    /// on peer connections, oldest first; empty in documents from before pinning.
    pub node_certificates: Vec<KeyId>,
}

impl IdentityDocument {
    /// The first version of an agency's document: its current signing and encryption
    /// keys (made at the start of `valid`), nothing revoked.
    pub fn first_version(
        agency: AgencyId,
        display_name: String,
        peer_endpoints: Vec<String>,
        signing: &SigningKey,
        encryption: &EncryptionKey,
        tls_ca_certificate: Bytes,
        valid: std::ops::Range<UnixMillis>,
    ) -> Self {
        let now = valid.start;
        Self {
            country: agency.country().to_owned(),
            agency,
            display_name,
            peer_endpoints,
            version: 1,
            not_before: valid.start,
            not_after: valid.end,
            signing_key: PublishedKey {
                key_id: signing.verifying_key().key_id('s'),
                key: signing.verifying_key(),
                created: now,
            },
            encryption_key: PublishedKey {
                key_id: encryption.public_key().key_id(),
                key: encryption.public_key().clone(),
                created: now,
            },
            tls_ca_certificate,
            revoked_keys: vec![],
            retired_signing_keys: vec![],
            node_certificates: vec![],
        }
    }

    /// The next version pinning node certificate `id` as well; the oldest pins are
    /// dropped beyond [`limits::MAX_NODE_CERTIFICATES`].
    pub fn with_node_certificate(&self, id: KeyId) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next.node_certificates.retain(|pinned| pinned != &id);
        next.node_certificates.push(id);
        let excess = next
            .node_certificates
            .len()
            .saturating_sub(limits::MAX_NODE_CERTIFICATES);
        next.node_certificates.drain(..excess);
        next
    }

    /// Whether a partner may present the node certificate `id` as this agency.
    pub fn accepts_node_certificate(&self, id: &KeyId) -> bool {
        self.node_certificates.is_empty() || self.node_certificates.contains(id)
    }

    /// The next version with `signing` as the current signing key; the old one is
    /// retired as of `now`.
    pub fn with_new_signing_key(&self, signing: &SigningKey, now: UnixMillis) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next.retired_signing_keys
            .push((self.signing_key.clone(), now));
        next.signing_key = PublishedKey {
            key_id: signing.verifying_key().key_id('s'),
            key: signing.verifying_key(),
            created: now,
        };
        next
    }

    /// The next version with `encryption` as the current encryption key.
    pub fn with_new_encryption_key(&self, encryption: &EncryptionKey, now: UnixMillis) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next.encryption_key = PublishedKey {
            key_id: encryption.public_key().key_id(),
            key: encryption.public_key().clone(),
            created: now,
        };
        next
    }

    /// The next version, revoking `key_id` as of `now`.
    pub fn with_revocation(
        &self,
        key_id: KeyId,
        reason: RevocationReason,
        now: UnixMillis,
    ) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next.node_certificates.retain(|pinned| pinned != &key_id);
        next.revoked_keys.push(RevokedKey {
            key_id,
            revoked_at: now,
            reason,
        });
        next
    }

    /// Whether `now` lies in the validity window.
    pub fn is_valid_at(&self, now: UnixMillis) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// The revocation of `key_id`, if the document lists one.
    pub fn revocation(&self, key_id: &KeyId) -> Option<&RevokedKey> {
        self.revoked_keys.iter().find(|r| &r.key_id == key_id)
    }
}

impl From<&IdentityDocument> for pb::IdentityDocument {
    fn from(d: &IdentityDocument) -> Self {
        Self {
            agency: d.agency.to_string(),
            display_name: d.display_name.clone(),
            country: d.country.clone(),
            peer_endpoints: d.peer_endpoints.clone(),
            version: d.version,
            not_before_unix_ms: d.not_before.0,
            not_after_unix_ms: d.not_after.0,
            signing_key: Some(pb::PublicKey {
                key_id: d.signing_key.key_id.to_string(),
                algorithm: pb::KeyAlgorithm::Ed25519 as i32,
                public_key: Bytes::copy_from_slice(d.signing_key.key.as_bytes()),
                created_unix_ms: d.signing_key.created.0,
            }),
            encryption_key: Some(pb::PublicKey {
                key_id: d.encryption_key.key_id.to_string(),
                algorithm: pb::KeyAlgorithm::X25519 as i32,
                public_key: Bytes::copy_from_slice(&d.encryption_key.key.to_bytes()),
                created_unix_ms: d.encryption_key.created.0,
            }),
            tls_ca_certificate: d.tls_ca_certificate.clone(),
            revoked_keys: d
                .revoked_keys
                .iter()
                .map(|r| pb::RevokedKey {
                    key_id: r.key_id.to_string(),
                    revoked_unix_ms: r.revoked_at.0,
                    reason: match r.reason {
                        RevocationReason::Compromised => pb::RevocationReason::Compromised,
                        RevocationReason::Superseded => pb::RevocationReason::Superseded,
                    } as i32,
                })
                .collect(),
            retired_signing_keys: d
                .retired_signing_keys
                .iter()
                .map(|(k, at)| pb::RetiredKey {
                    key: Some(pb::PublicKey {
                        key_id: k.key_id.to_string(),
                        algorithm: pb::KeyAlgorithm::Ed25519 as i32,
                        public_key: Bytes::copy_from_slice(k.key.as_bytes()),
                        created_unix_ms: k.created.0,
                    }),
                    retired_unix_ms: at.0,
                })
                .collect(),
            node_certificates: d
                .node_certificates
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}

fn published_key<K>(
    field: &str,
    m: Option<pb::PublicKey>,
    algorithm: pb::KeyAlgorithm,
    parse: impl Fn(&[u8]) -> Option<K>,
    expected_id: impl Fn(&K) -> KeyId,
) -> Result<PublishedKey<K>, Malformed> {
    let m = m.ok_or_else(|| Malformed::new(field, "missing"))?;
    if m.algorithm != algorithm as i32 {
        return Err(Malformed::new(
            field,
            format!("algorithm must be {}", algorithm.as_str_name()),
        ));
    }
    let key = parse(&m.public_key)
        .ok_or_else(|| Malformed::new(field, "public key is not 32 valid bytes"))?;
    let key_id: KeyId = m.key_id.parse().map_err(|e: Malformed| e.within(field))?;
    if key_id != expected_id(&key) {
        return Err(Malformed::new(
            field,
            format!("key id {key_id} does not match the key"),
        ));
    }
    Ok(PublishedKey {
        key_id,
        key,
        created: UnixMillis(m.created_unix_ms),
    })
}

impl TryFrom<pb::IdentityDocument> for IdentityDocument {
    type Error = Malformed;

    fn try_from(m: pb::IdentityDocument) -> Result<Self, Malformed> {
        let agency: AgencyId = m.agency.parse()?;
        check_document_fields(&m, &agency)?;
        let revoked_keys = m
            .revoked_keys
            .into_iter()
            .map(revoked_key)
            .collect::<Result<_, Malformed>>()?;
        let retired_signing_keys = m
            .retired_signing_keys
            .into_iter()
            .map(|r| {
                let key = published_key(
                    "retired_signing_keys",
                    r.key,
                    pb::KeyAlgorithm::Ed25519,
                    VerifyingKey::from_slice,
                    |k| k.key_id('s'),
                )?;
                Ok((key, UnixMillis(r.retired_unix_ms)))
            })
            .collect::<Result<_, Malformed>>()?;
        let node_certificates = m
            .node_certificates
            .iter()
            .map(|id| {
                let id: KeyId = id
                    .parse()
                    .map_err(|e: Malformed| e.within("node_certificates"))?;
                if id.as_str().starts_with("t-") {
                    Ok(id)
                } else {
                    Err(Malformed::new(
                        "node_certificates",
                        format!("{id} is not a TLS certificate id (t-...)"),
                    ))
                }
            })
            .collect::<Result<_, Malformed>>()?;
        Ok(Self {
            retired_signing_keys,
            node_certificates,
            signing_key: published_key(
                "signing_key",
                m.signing_key,
                pb::KeyAlgorithm::Ed25519,
                VerifyingKey::from_slice,
                |k| k.key_id('s'),
            )?,
            encryption_key: published_key(
                "encryption_key",
                m.encryption_key,
                pb::KeyAlgorithm::X25519,
                EncryptionPublicKey::from_slice,
                EncryptionPublicKey::key_id,
            )?,
            agency,
            display_name: m.display_name,
            country: m.country,
            peer_endpoints: m.peer_endpoints,
            version: m.version,
            not_before: UnixMillis(m.not_before_unix_ms),
            not_after: UnixMillis(m.not_after_unix_ms),
            tls_ca_certificate: m.tls_ca_certificate,
            revoked_keys,
        })
    }
}

/// The rules on the document's plain fields: names, endpoints, limits, version,
/// validity window, a CA certificate present.
fn check_document_fields(m: &pb::IdentityDocument, agency: &AgencyId) -> Result<(), Malformed> {
    if m.country != agency.country() {
        return Err(Malformed::new(
            "country",
            format!("{:?} does not match agency {agency}", m.country),
        ));
    }
    if m.display_name.is_empty() || m.display_name.len() > limits::MAX_FIELD_BYTES {
        return Err(Malformed::new("display_name", "must be 1-1024 bytes"));
    }
    if m.peer_endpoints.len() > limits::MAX_ENDPOINTS {
        return Err(Malformed::new(
            "peer_endpoints",
            format!("more than {}", limits::MAX_ENDPOINTS),
        ));
    }
    if let Some(bad) = m.peer_endpoints.iter().find(|e| !is_host_port(e)) {
        return Err(Malformed::new(
            "peer_endpoints",
            format!("{bad:?} is not host:port"),
        ));
    }
    if m.revoked_keys.len() > limits::MAX_REVOKED_KEYS
        || m.retired_signing_keys.len() > limits::MAX_REVOKED_KEYS
    {
        return Err(Malformed::new(
            "revoked_keys",
            format!("more than {}", limits::MAX_REVOKED_KEYS),
        ));
    }
    if m.node_certificates.len() > limits::MAX_NODE_CERTIFICATES {
        return Err(Malformed::new(
            "node_certificates",
            format!("more than {}", limits::MAX_NODE_CERTIFICATES),
        ));
    }
    if m.version == 0 {
        return Err(Malformed::new("version", "must be at least 1"));
    }
    if m.not_after_unix_ms <= m.not_before_unix_ms {
        return Err(Malformed::new("not_after", "must be later than not_before"));
    }
    if m.tls_ca_certificate.is_empty() {
        return Err(Malformed::new("tls_ca_certificate", "missing"));
    }
    Ok(())
}

fn revoked_key(r: pb::RevokedKey) -> Result<RevokedKey, Malformed> {
    let reason = match pb::RevocationReason::try_from(r.reason) {
        Ok(pb::RevocationReason::Compromised) => RevocationReason::Compromised,
        Ok(pb::RevocationReason::Superseded) => RevocationReason::Superseded,
        _ => return Err(Malformed::new("revoked_keys.reason", "unknown reason")),
    };
    Ok(RevokedKey {
        key_id: r.key_id.parse()?,
        revoked_at: UnixMillis(r.revoked_unix_ms),
        reason,
    })
}

/// Whether `s` looks like `host:port` (a name or address, then a port 1-65535).
pub fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    host_ok && port.parse::<u16>().is_ok_and(|p| p > 0)
}

/// An identity document with a verified root signature. The only way to get one is
/// [`SignedIdentity::sign`] or [`SignedIdentity::from_bytes`]; the signed bytes are kept
/// as received, never re-encoded.
#[derive(Debug, Clone)]
pub struct SignedIdentity {
    root: VerifyingKey,
    encoded: Bytes,
    document: IdentityDocument,
}

impl SignedIdentity {
    /// Signs `document` with the agency root.
    pub fn sign(document: IdentityDocument, root: &SigningKey) -> Self {
        let doc_bytes = pb::IdentityDocument::from(&document).encode_to_vec();
        let signature = root.sign(domain::IDENTITY, &[&doc_bytes]);
        let bundle = pb::SignedIdentity {
            root_public_key: Bytes::copy_from_slice(root.verifying_key().as_bytes()),
            document: doc_bytes.into(),
            signature: Bytes::copy_from_slice(&signature),
        };
        Self {
            root: root.verifying_key(),
            encoded: bundle.encode_to_vec().into(),
            document,
        }
    }

    /// Decodes and verifies a bundle: size, decode, root signature, then the document's
    /// fields.
    ///
    /// Errors: [`Error::TooLarge`], [`Error::Malformed`], [`Error::BadIdentitySignature`].
    pub fn from_bytes(bytes: Bytes) -> Result<Self> {
        if bytes.len() > limits::MAX_IDENTITY_BYTES {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit: limits::MAX_IDENTITY_BYTES,
            });
        }
        let bundle = pb::SignedIdentity::decode(bytes.clone())
            .map_err(|e| Malformed::new("identity", format!("does not decode: {e}")))?;
        let root = VerifyingKey::from_slice(&bundle.root_public_key)
            .ok_or_else(|| Malformed::new("identity.root_public_key", "must be 32 bytes"))?;
        root.verify(domain::IDENTITY, &[&bundle.document], &bundle.signature)
            .map_err(|_| Error::BadIdentitySignature)?;
        let doc = pb::IdentityDocument::decode(bundle.document)
            .map_err(|e| Malformed::new("identity.document", format!("does not decode: {e}")))?;
        let document =
            IdentityDocument::try_from(doc).map_err(|e| e.within("identity.document"))?;
        Ok(Self {
            root,
            encoded: bytes,
            document,
        })
    }

    /// The verified document.
    pub fn document(&self) -> &IdentityDocument {
        &self.document
    }

    /// The agency root key that signed it.
    pub fn root_key(&self) -> &VerifyingKey {
        &self.root
    }

    /// The root key's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.root)
    }

    /// The bundle bytes, exactly as signed or received.
    pub fn to_bytes(&self) -> Bytes {
        self.encoded.clone()
    }
}

/// An agency's private keys.
#[derive(Debug)]
pub struct AgencyKeys {
    /// Signs identity documents only. Kept offline in a hardened deployment.
    pub root: SigningKey,
    /// Signs bulletins, receipts and checkpoints.
    pub signing: SigningKey,
    /// Receives content keys.
    pub encryption: EncryptionKey,
}

impl AgencyKeys {
    /// Fresh random keys.
    pub fn generate(rng: &mut impl crypto::Entropy) -> Result<Self> {
        Ok(Self {
            root: SigningKey::generate(rng)?,
            signing: SigningKey::generate(rng)?,
            encryption: EncryptionKey::generate(rng),
        })
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::crypto::SystemRng;

    fn document(keys: &AgencyKeys) -> IdentityDocument {
        IdentityDocument::first_version(
            "NL-NP".parse().unwrap(),
            "Netherlands Police".into(),
            vec!["nl.example:7443".into()],
            &keys.signing,
            &keys.encryption,
            Bytes::from_static(b"not parsed here"),
            UnixMillis(1_795_000_000_000)..UnixMillis(1_795_000_000_000).plus_days(365),
        )
    }

    #[test]
    fn signed_identity_round_trips_and_detects_tampering() {
        let keys = AgencyKeys::generate(&mut SystemRng).unwrap();
        let signed = SignedIdentity::sign(document(&keys), &keys.root);
        let again = SignedIdentity::from_bytes(signed.to_bytes()).unwrap();
        assert_eq!(again.document(), signed.document());
        assert_eq!(
            again.fingerprint(),
            Fingerprint::of(&keys.root.verifying_key())
        );

        let bytes = signed.to_bytes();
        for i in 0..bytes.len() {
            let mut tampered = bytes.to_vec();
            tampered[i] ^= 0x01;
            assert!(
                SignedIdentity::from_bytes(tampered.into()).is_err(),
                "bit flip at byte {i} accepted"
            );
        }
    }

    #[test]
    fn fingerprint_parses_its_display() {
        let keys = AgencyKeys::generate(&mut SystemRng).unwrap();
        let fp = Fingerprint::of(&keys.root.verifying_key());
        let shown = fp.to_string();
        assert_eq!(shown.len(), 52 + 12);
        assert_eq!(Fingerprint::parse(&shown).unwrap(), fp);
        assert_eq!(
            Fingerprint::parse(&shown.to_lowercase().replace('-', " ")).unwrap(),
            fp
        );
        assert!(Fingerprint::parse("ABCD").is_err());
    }

    #[test]
    fn host_port() {
        assert!(is_host_port("127.0.0.1:7443"));
        assert!(is_host_port("nl-node.police.example:443"));
        assert!(is_host_port("[::1]:7443"));
        assert!(!is_host_port("127.0.0.1"));
        assert!(!is_host_port("host:0"));
        assert!(!is_host_port(":80"));
        assert!(!is_host_port("a b:80"));
    }
}
