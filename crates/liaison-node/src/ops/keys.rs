//! Key lifecycle: rotating the signing, encryption and TLS keys, and revoking retired
//! keys. Each change is a new identity-document version signed by the agency root,
//! recorded in the log, put in force in the running node at once, and pushed to every
//! partner by its delivery worker until the partner confirms it holds the version.

use std::path::Path;

use liaison_core::crypto::{EncryptionKey, SigningKey, SystemRng};
use liaison_core::identity::RevocationReason;
use liaison_core::{KeyId, SignedIdentity, UnixMillis};
use liaison_store::log::CheckpointSigner;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::data_dir::{IDENTITY_FILE, Node, RETIRED_KEYS_DIR, issue_node_certificate};
use crate::node::journal::LogEvent;
use crate::node::secrets;
use crate::node::state::NodeState;

/// Which key to rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyPurpose {
    /// The bulletin-signing key (Ed25519).
    Signing,
    /// The encryption key (X25519).
    Encryption,
    /// The node's TLS certificate and key (issued by the agency CA).
    Tls,
}

impl std::str::FromStr for KeyPurpose {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "signing" => Ok(KeyPurpose::Signing),
            "encryption" => Ok(KeyPurpose::Encryption),
            "tls" => Ok(KeyPurpose::Tls),
            other => Err(Error::InvalidRequest(format!(
                "{other:?} is not a key: expected signing, encryption or tls"
            ))),
        }
    }
}

/// What a rotation or revocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChangeView {
    /// What changed, in words.
    pub change: String,
    /// The identity-document version now in force.
    pub identity_version: u64,
    /// The old key id (rotation) or the revoked key id.
    pub old_key_id: Option<String>,
    /// The new key id (rotation).
    pub new_key_id: Option<String>,
}

/// Writes `contents` to `dir/name` durably via a temporary file and a rename.
pub(crate) fn replace_file(dir: &Path, name: &str, contents: &[u8], mode: u32) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.new"));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(Error::io("create file", &tmp))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(Error::io("write file", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io("install file", &path))?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(Error::io("fsync directory", parent))?;
    }
    Ok(())
}

/// Keeps a replaced secret so that what it protected stays readable.
fn retire_secret(dir: &Path, purpose: &str, key_id: &KeyId, secret: &[u8]) -> Result<()> {
    let retired = dir.join(RETIRED_KEYS_DIR);
    std::fs::create_dir_all(&retired).map_err(Error::io("create directory", &retired))?;
    write_key(
        dir,
        &format!("{RETIRED_KEYS_DIR}/{purpose}-{key_id}.key"),
        secret,
    )
}

/// Writes a private key file, sealed under the node's passphrase when its keys are.
fn write_key(dir: &Path, name: &str, secret: &[u8]) -> Result<()> {
    let sealer = secrets::Sealer::for_node(dir)?;
    secrets::write(&dir.join(name), secret, sealer.as_ref())
}

/// Signs `document` with the root, installs it, logs the change and puts the re-loaded
/// node in force.
fn publish_identity(
    state: &NodeState,
    node: &Node,
    document: liaison_core::IdentityDocument,
    event: LogEvent,
) -> Result<u64> {
    let version = document.version;
    let signed = SignedIdentity::sign(document, &node.keys().root);
    replace_file(node.dir(), IDENTITY_FILE, &signed.to_bytes(), 0o644)?;
    state.log.append(event.entry())?;
    let reloaded = Node::load(node.dir())?;
    state.log.set_checkpoint_signer(CheckpointSigner {
        agency: reloaded.config().agency.clone(),
        key: SigningKey::from_seed(*reloaded.keys().signing.seed())?,
    });
    state.replace_node(reloaded);
    for partner in state.partners.snapshot().iter() {
        state.wake(partner.agency());
    }
    Ok(version)
}

/// Rotates one key. Signing and encryption rotations take effect at once (bulletins
/// sealed before stay readable: the retired keys are kept); a TLS rotation takes effect
/// at the node's next start and needs nothing from partners (same CA).
pub fn rotate(state: &NodeState, purpose: KeyPurpose) -> Result<KeyChangeView> {
    match purpose {
        KeyPurpose::Signing => rotate_signing(state),
        KeyPurpose::Encryption => rotate_encryption(state),
        KeyPurpose::Tls => rotate_tls(state),
    }
}

/// A new bulletin-signing key in a new identity version; the old one is kept, retired.
fn rotate_signing(state: &NodeState) -> Result<KeyChangeView> {
    let node = state.node();
    let dir = node.dir();
    let doc = node.identity().document();
    let old = doc.signing_key.key_id.clone();
    let new = SigningKey::generate(&mut SystemRng)?;
    let new_id = new.verifying_key().key_id('s');
    retire_secret(dir, "signing", &old, node.keys().signing.seed())?;
    let next = doc.with_new_signing_key(&new, UnixMillis::now());
    write_key(dir, "keys/signing.key", new.seed())?;
    let rotated = LogEvent::KeyRotated {
        purpose: "signing".into(),
        old: old.clone(),
        new: new_id.clone(),
    };
    let version = publish_identity(state, &node, next, rotated)?;
    Ok(KeyChangeView {
        change: "signing key rotated".into(),
        identity_version: version,
        old_key_id: Some(old.to_string()),
        new_key_id: Some(new_id.to_string()),
    })
}

/// A new encryption key in a new identity version; the old one is kept, so envelopes
/// sealed for it still open.
fn rotate_encryption(state: &NodeState) -> Result<KeyChangeView> {
    let node = state.node();
    let dir = node.dir();
    let doc = node.identity().document();
    let old = doc.encryption_key.key_id.clone();
    let new = EncryptionKey::generate(&mut SystemRng);
    let new_id = new.public_key().key_id();
    let old_secret = node.keys().encryption.secret_bytes();
    retire_secret(dir, "encryption", &old, &old_secret)?;
    let next = doc.with_new_encryption_key(&new, UnixMillis::now());
    write_key(dir, "keys/encryption.key", &new.secret_bytes())?;
    let rotated = LogEvent::KeyRotated {
        purpose: "encryption".into(),
        old: old.clone(),
        new: new_id.clone(),
    };
    let version = publish_identity(state, &node, next, rotated)?;
    Ok(KeyChangeView {
        change: "encryption key rotated".into(),
        identity_version: version,
        old_key_id: Some(old.to_string()),
        new_key_id: Some(new_id.to_string()),
    })
}

/// A new node certificate from the agency CA, served from the next start.
fn rotate_tls(state: &NodeState) -> Result<KeyChangeView> {
    let node = state.node();
    let dir = node.dir();
    let old = current_tls_id(dir)?;
    let ca_pem = std::fs::read_to_string(dir.join("tls/ca.pem"))
        .map_err(Error::io("read the agency CA", dir.join("tls/ca.pem")))?;
    let issued = issue_node_certificate(
        node.config(),
        &ca_pem,
        &secrets::read_pem(&dir.join("tls/ca.key"))?,
    )?;
    write_key(dir, "tls/node.key", issued.private_key_pem.as_bytes())?;
    replace_file(
        dir,
        "tls/node.pem",
        issued.certificate_pem.as_bytes(),
        0o644,
    )?;
    let new_id = liaison_core::crypto::tls_certificate_id(&issued.certificate_der);
    // Pinned now, served from the next start: partners learn the new id while the old
    // certificate (still pinned until revoked) is in use.
    let next = node
        .identity()
        .document()
        .with_node_certificate(new_id.clone());
    let rotated = LogEvent::KeyRotated {
        purpose: "tls".into(),
        old: old.clone(),
        new: new_id.clone(),
    };
    let version = publish_identity(state, &node, next, rotated)?;
    Ok(KeyChangeView {
        change: "TLS certificate rotated and pinned in the identity; it is served from the node's next start".into(),
        identity_version: version,
        old_key_id: Some(old.to_string()),
        new_key_id: Some(new_id.to_string()),
    })
}

/// Makes sure the identity document pins `served`, the node certificate the peer
/// listener presents (a node created before pinning, or a certificate replaced by
/// hand): otherwise partners that hold the document would refuse it. Returns the new
/// identity version when one was published.
///
/// Errors: the identity could not be written or logged.
pub fn pin_served_certificate(state: &NodeState, served: &KeyId) -> Result<Option<u64>> {
    let node = state.node();
    let document = node.identity().document();
    if document.node_certificates.contains(served) {
        return Ok(None);
    }
    if document.revocation(served).is_some() {
        return Err(Error::InvalidRequest(format!(
            "tls/node.pem is certificate {served}, which this agency revoked: rotate it (`liaison key rotate tls`)"
        )));
    }
    let next = document.with_node_certificate(served.clone());
    let pinned = LogEvent::NodeCertificatePinned {
        key_id: served.clone(),
    };
    publish_identity(state, &node, next, pinned).map(Some)
}

/// Revokes a retired key: partners then reject anything signed with it (a revoked
/// signing key no longer verifies even bulletins it signed before). The current key
/// cannot be revoked: rotate it first.
pub fn revoke(
    state: &NodeState,
    key_id: &KeyId,
    reason: RevocationReason,
) -> Result<KeyChangeView> {
    let key_id = key_id.clone();
    let node = state.node();
    let doc = node.identity().document();
    if doc.signing_key.key_id == key_id || doc.encryption_key.key_id == key_id {
        return Err(Error::InvalidRequest(format!(
            "{key_id} is a current key: rotate it first (`liaison key rotate`), then revoke the retired key"
        )));
    }
    if doc.revocation(&key_id).is_some() {
        return Err(Error::InvalidRequest(format!(
            "{key_id} is already revoked"
        )));
    }
    if key_id.as_str().starts_with("t-") && key_id == current_tls_id(node.dir())? {
        return Err(Error::InvalidRequest(format!(
            "{key_id} is the node's current TLS certificate: rotate it first (`liaison key rotate tls`) and restart"
        )));
    }
    // An earlier TLS certificate is known only by its id (the node keeps no copy).
    let known = key_id.as_str().starts_with("t-")
        || doc
            .retired_signing_keys
            .iter()
            .any(|(k, _)| k.key_id == key_id)
        || node
            .decryption_keys()
            .iter()
            .any(|k| k.public_key().key_id() == key_id);
    if !known {
        return Err(Error::NotFound(format!(
            "no retired key {key_id} in this node"
        )));
    }
    let next = doc.with_revocation(key_id.clone(), reason, UnixMillis::now());
    let version = publish_identity(
        state,
        &node,
        next,
        LogEvent::KeyRevoked {
            key_id: key_id.clone(),
            reason: reason.as_str().to_owned(),
        },
    )?;
    Ok(KeyChangeView {
        change: format!("{key_id} revoked ({})", reason.as_str()),
        identity_version: version,
        old_key_id: Some(key_id.to_string()),
        new_key_id: None,
    })
}

/// The id of the node's current TLS certificate (`tls/node.pem`).
fn current_tls_id(dir: &Path) -> Result<KeyId> {
    use rustls::pki_types::pem::PemObject as _;
    let path = dir.join("tls/node.pem");
    let cert = rustls::pki_types::CertificateDer::from_pem_file(&path).map_err(|e| {
        Error::BadKeyMaterial {
            path: path.clone(),
            problem: e.to_string(),
        }
    })?;
    Ok(liaison_core::crypto::tls_certificate_id(&cert))
}
