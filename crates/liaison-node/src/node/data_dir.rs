//! The files of a node: creating them ([`init_node`]) and loading them ([`Node::load`]).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use liaison_core::crypto::{EncryptionKey, SigningKey, SystemRng};
use liaison_core::identity::IdentityDocument;
use liaison_core::tls::{self, CertificateRole, Validity};
use liaison_core::{AgencyId, AgencyKeys, KeyId, SignedIdentity, UnixMillis};
use liaison_store::log::CheckpointSigner;
use liaison_store::{Log, LogOptions};

use crate::error::{Error, Result};
use crate::node::config::{CONFIG_FILE, NodeConfig};
use crate::node::journal::LogEvent;

/// The signed identity bundle partners import.
pub const IDENTITY_FILE: &str = "identity.bundle";
const KEYS_DIR: &str = "keys";
const TLS_DIR: &str = "tls";
const LOG_DIR: &str = "log";

/// The log directory of the node in `data_dir`.
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(LOG_DIR)
}
const ROOT_KEY: &str = "keys/root.key";
const SIGNING_KEY: &str = "keys/signing.key";
const ENCRYPTION_KEY: &str = "keys/encryption.key";
const CA_CERT: &str = "tls/ca.pem";
const CA_KEY: &str = "tls/ca.key";
const NODE_CERT: &str = "tls/node.pem";
const NODE_KEY: &str = "tls/node.key";

/// How long a new identity document and the agency's certificates are valid.
pub const IDENTITY_VALIDITY_DAYS: u32 = 730;

/// What `liaison init` is asked to create.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The data directory (created if missing; must not hold a node).
    pub data_dir: PathBuf,
    /// This agency.
    pub agency: AgencyId,
    /// Human-readable name.
    pub display_name: String,
    /// host:port partners connect to. Default `127.0.0.1:7443`.
    pub peer_endpoint: Option<String>,
    /// Client API listen address. Default `127.0.0.1:7444`.
    pub api_endpoint: Option<SocketAddr>,
}

/// A node's files, loaded and cross-checked.
#[derive(Debug)]
pub struct Node {
    dir: PathBuf,
    config: NodeConfig,
    keys: AgencyKeys,
    identity: SignedIdentity,
    /// The current encryption key first, then retired ones (for older envelopes).
    decryption_keys: Vec<EncryptionKey>,
}

fn private_dir(path: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(Error::io("create directory", path))
}

/// Writes a new file durably with `mode`; never replaces an existing one.
fn write_new_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(Error::io("create file", path))?;
    // The umask may have narrowed the mode; make it exact.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .and_then(|()| file.write_all(contents))
        .and_then(|()| file.sync_all())
        .map_err(Error::io("write file", path))
}

fn fsync_dir(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("fsync directory", path))
}

/// Creates a node: keys, the agency CA and node certificate, the signed identity
/// document, the log (with its first entries and a checkpoint) and, last,
/// `liaison.toml`.
///
/// Errors: [`Error::AlreadyInitialised`] if the directory holds a node (or the remains
/// of one); [`Error::Config`] for a bad endpoint; I/O and crypto errors.
pub fn init_node(options: &InitOptions) -> Result<Node> {
    let dir = &options.data_dir;
    for existing in [
        CONFIG_FILE,
        KEYS_DIR,
        TLS_DIR,
        LOG_DIR,
        IDENTITY_FILE,
        crate::node::state::POLICY_FILE,
    ] {
        if dir.join(existing).exists() {
            return Err(Error::AlreadyInitialised(dir.clone()));
        }
    }
    let config = initial_config(options)?;
    for private in [
        dir.clone(),
        dir.join(KEYS_DIR),
        dir.join(TLS_DIR),
        dir.join(LOG_DIR),
    ] {
        private_dir(&private)?;
    }
    let keys = AgencyKeys::generate(&mut SystemRng)?;
    write_new_file(&dir.join(ROOT_KEY), keys.root.seed(), 0o600)?;
    write_new_file(&dir.join(SIGNING_KEY), keys.signing.seed(), 0o600)?;
    write_new_file(
        &dir.join(ENCRYPTION_KEY),
        &keys.encryption.secret_bytes(),
        0o600,
    )?;
    let (ca_der, node_certificate) = create_certificates(dir, &config)?;
    let now = UnixMillis::now();
    let mut document = IdentityDocument::first_version(
        config.agency.clone(),
        config.display_name.clone(),
        config.peer_advertise.clone(),
        &keys.signing,
        &keys.encryption,
        ca_der,
        now..now.plus_days(i64::from(IDENTITY_VALIDITY_DAYS)),
    );
    document.node_certificates = vec![node_certificate];
    let identity = SignedIdentity::sign(document, &keys.root);
    write_new_file(&dir.join(IDENTITY_FILE), &identity.to_bytes(), 0o644)?;
    let node = Node {
        dir: dir.clone(),
        config,
        decryption_keys: vec![keys.encryption.clone()],
        keys,
        identity,
    };
    start_log(&node)?;
    write_new_file(
        &dir.join(crate::node::state::POLICY_FILE),
        default_policy(&node.config.agency).as_bytes(),
        0o644,
    )?;
    // Last: its presence marks a complete node.
    write_new_file(
        &dir.join(CONFIG_FILE),
        node.config.to_toml().as_bytes(),
        0o644,
    )?;
    fsync_dir(dir)?;
    Ok(node)
}

/// The configuration `init` writes, validated like any `liaison.toml`.
fn initial_config(options: &InitOptions) -> Result<NodeConfig> {
    let peer_endpoint = options
        .peer_endpoint
        .clone()
        .unwrap_or_else(|| "127.0.0.1:7443".into());
    NodeConfig::try_from(crate::node::config::RawConfig {
        agency: options.agency.to_string(),
        display_name: options.display_name.clone(),
        peer: crate::node::config::RawPeer {
            listen: listen_address_for(&peer_endpoint),
            advertise: vec![peer_endpoint],
        },
        api: crate::node::config::RawApi {
            listen: options
                .api_endpoint
                .map_or_else(|| "127.0.0.1:7444".into(), |a| a.to_string()),
        },
        log: crate::node::config::RawLog::default(),
        metrics: None,
        taxii: None,
        desk: None,
        envelope: None,
        outbox: None,
    })
    .map_err(|problem| Error::Config {
        path: options.data_dir.join(CONFIG_FILE),
        problem,
    })
}

/// The agency CA and the first node certificate it issues, written to `tls/`; returns
/// the CA certificate (DER) and the node certificate's id, both for the identity
/// document (the id is pinned there).
fn create_certificates(dir: &Path, config: &NodeConfig) -> Result<(Bytes, KeyId)> {
    let validity = Validity {
        days: IDENTITY_VALIDITY_DAYS,
    };
    let ca = tls::generate_agency_ca(&config.agency, &config.display_name, validity)?;
    let node_cert = issue_node_certificate(config, &ca.certificate_pem, &ca.private_key_pem)?;
    write_new_file(&dir.join(CA_CERT), ca.certificate_pem.as_bytes(), 0o644)?;
    write_new_file(&dir.join(CA_KEY), ca.private_key_pem.as_bytes(), 0o600)?;
    write_new_file(
        &dir.join(NODE_CERT),
        node_cert.certificate_pem.as_bytes(),
        0o644,
    )?;
    write_new_file(
        &dir.join(NODE_KEY),
        node_cert.private_key_pem.as_bytes(),
        0o600,
    )?;
    Ok((
        Bytes::from(ca.certificate_der),
        liaison_core::crypto::tls_certificate_id(&node_cert.certificate_der),
    ))
}

/// A node certificate from the agency CA, for the host of the first advertised peer
/// endpoint and for loopback.
///
/// Errors: certificate generation failed.
pub fn issue_node_certificate(
    config: &NodeConfig,
    ca_pem: &str,
    ca_key_pem: &str,
) -> Result<tls::IssuedCertificate> {
    let endpoint = config.peer_advertise.first().map_or("", String::as_str);
    let host = endpoint
        .rsplit_once(':')
        .map_or(endpoint, |(h, _)| h)
        .trim_matches(['[', ']']);
    let mut names: Vec<String> = Vec::new();
    for name in [host, "localhost", "127.0.0.1"] {
        if !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    Ok(tls::issue_certificate(
        ca_pem,
        ca_key_pem,
        &format!("Liaison node {}", config.agency),
        &names,
        CertificateRole::Node,
        Validity {
            days: IDENTITY_VALIDITY_DAYS,
        },
    )?)
}

/// Opens the new log and writes its first entries (creation, keys, identity) and a
/// signed checkpoint.
fn start_log(node: &Node) -> Result<()> {
    let log = node.open_log()?;
    let key_created = |purpose: &str, key_id: KeyId| {
        LogEvent::KeyCreated {
            purpose: purpose.to_owned(),
            key_id,
        }
        .entry()
    };
    let created = LogEvent::NodeCreated {
        agency: node.config.agency.clone(),
        fingerprint: node.identity.fingerprint().to_string(),
    };
    log.submit(vec![
        created.entry(),
        key_created("root", node.keys.root.verifying_key().key_id('r')),
        key_created("signing", node.keys.signing.verifying_key().key_id('s')),
        key_created("encryption", node.keys.encryption.public_key().key_id()),
        LogEvent::IdentityIssued { version: 1 }.entry(),
    ])
    .wait()?;
    log.checkpoint()?;
    Ok(())
}

/// The address to bind for an advertised endpoint: the IP itself if it is one,
/// otherwise every interface on that port.
fn listen_address_for(endpoint: &str) -> String {
    match endpoint.parse::<SocketAddr>() {
        Ok(addr) => addr.to_string(),
        Err(_) => {
            let port = endpoint.rsplit_once(':').map_or("7443", |(_, p)| p);
            format!("0.0.0.0:{port}")
        }
    }
}

/// Directory of keys replaced by rotations.
pub const RETIRED_KEYS_DIR: &str = "keys/retired";

/// The secrets of retired keys of `purpose` (`keys/retired/PURPOSE-KEYID.key`).
fn retired_keys(dir: &Path, purpose: &str) -> Result<Vec<[u8; 32]>> {
    let retired = dir.join(RETIRED_KEYS_DIR);
    let Ok(entries) = std::fs::read_dir(&retired) else {
        return Ok(Vec::new());
    };
    let mut secrets = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{purpose}-")) && name.ends_with(".key") {
            secrets.push(read_secret(&retired, &name)?);
        }
    }
    Ok(secrets)
}

fn read_secret(dir: &Path, name: &str) -> Result<[u8; 32]> {
    let path = dir.join(name);
    let bytes = super::secrets::read(&path)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::BadKeyMaterial {
            path,
            problem: "a key file must hold exactly 32 bytes".into(),
        })
}

impl Node {
    /// Loads a node and checks that its keys match its signed identity document.
    ///
    /// Errors: [`Error::NotInitialised`], [`Error::Config`], [`Error::BadKeyMaterial`].
    pub fn load(dir: &Path) -> Result<Self> {
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.exists() {
            return Err(Error::NotInitialised(dir.to_owned()));
        }
        let config = NodeConfig::load(&config_path)?;
        let bad = |name: &str, problem: String| Error::BadKeyMaterial {
            path: dir.join(name),
            problem,
        };
        let keys = AgencyKeys {
            root: SigningKey::from_seed(read_secret(dir, ROOT_KEY)?)?,
            signing: SigningKey::from_seed(read_secret(dir, SIGNING_KEY)?)?,
            encryption: EncryptionKey::from_bytes(&read_secret(dir, ENCRYPTION_KEY)?)?,
        };
        let bundle_path = dir.join(IDENTITY_FILE);
        let bundle =
            std::fs::read(&bundle_path).map_err(Error::io("read identity", &bundle_path))?;
        let identity = SignedIdentity::from_bytes(bundle.into())
            .map_err(|e| bad(IDENTITY_FILE, e.to_string()))?;
        let doc = identity.document();
        if identity.root_key() != &keys.root.verifying_key() {
            return Err(bad(
                ROOT_KEY,
                "does not match the root key that signed identity.bundle".into(),
            ));
        }
        if doc.signing_key.key != keys.signing.verifying_key() {
            return Err(bad(
                SIGNING_KEY,
                "does not match the signing key in identity.bundle".into(),
            ));
        }
        if &doc.encryption_key.key != keys.encryption.public_key() {
            return Err(bad(
                ENCRYPTION_KEY,
                "does not match the encryption key in identity.bundle".into(),
            ));
        }
        if doc.agency != config.agency {
            return Err(bad(
                IDENTITY_FILE,
                format!(
                    "is for {}, but liaison.toml says {}",
                    doc.agency, config.agency
                ),
            ));
        }
        let mut decryption_keys = vec![keys.encryption.clone()];
        decryption_keys.extend(
            retired_keys(dir, "encryption")?
                .into_iter()
                .map(|secret| EncryptionKey::from_bytes(&secret))
                .collect::<std::result::Result<Vec<_>, _>>()?,
        );
        Ok(Self {
            dir: dir.to_owned(),
            config,
            keys,
            identity,
            decryption_keys,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The validated configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The agency's private keys.
    pub fn keys(&self) -> &AgencyKeys {
        &self.keys
    }

    /// Every encryption key this node can open with: the current one first, then
    /// those retired by rotations (envelopes sealed before a rotation still open).
    pub fn decryption_keys(&self) -> &[EncryptionKey] {
        &self.decryption_keys
    }

    /// The signed identity bundle.
    pub fn identity(&self) -> &SignedIdentity {
        &self.identity
    }

    /// SHA-256 of the agency CA certificate (DER), hex.
    pub fn tls_ca_sha256(&self) -> String {
        data_encoding::HEXLOWER.encode(&liaison_core::crypto::sha256(
            &self.identity.document().tls_ca_certificate,
        ))
    }

    /// [`Node::open_log`] for reading only, on a stopped node: when the log's disk is
    /// too full for sled to open it, a copy of sled's files in the system's temporary
    /// directory is opened instead (writes refused; removed when dropped), so `log
    /// verify`, `status` and the listing commands still work.
    ///
    /// Errors: as [`Node::open_log`], or the copy failed (no room there either).
    pub fn open_log_for_reading(&self) -> Result<Log> {
        match self.open_log() {
            Err(Error::Store(e)) if e.is_storage_full() => {
                let scratch = std::env::temp_dir().join(format!(
                    "liaison-{}-read-only-{}",
                    self.config.agency,
                    std::process::id()
                ));
                tracing::warn!(scratch = %scratch.display(), "the log's disk is full: reading a copy");
                Ok(Log::open_snapshot(
                    &self.dir.join(LOG_DIR),
                    &scratch,
                    Some(crate::ops::bulletins::listing::indexer()),
                )?)
            }
            other => other,
        }
    }

    /// Rebuilds the log's indexes from its entries (`liaison log reindex`, with the node
    /// stopped). Returns the index rows written.
    ///
    /// Errors: [`Error::Store`], e.g. when a running node holds the log.
    pub fn reindex_log(&self) -> Result<u64> {
        Ok(Log::reindex(
            &self.dir.join(LOG_DIR),
            Some(&crate::ops::bulletins::listing::indexer()),
        )?)
    }

    /// Compacts the log (`liaison log compact`, with the node stopped): the space of
    /// erased bodies is given back; the entries are copied unchanged.
    ///
    /// Errors: [`Error::Store`], e.g. when a running node holds the log.
    pub fn compact_log(&self) -> Result<liaison_store::CompactReport> {
        Ok(Log::compact(&self.dir.join(LOG_DIR))?)
    }

    /// Opens the node's log with its checkpoint signer.
    ///
    /// Errors: [`Error::Store`], e.g. when a running node holds the log.
    pub fn open_log(&self) -> Result<Log> {
        self.open_log_observed(None)
    }

    /// [`Node::open_log`], telling `observer` of every group commit (metrics).
    ///
    /// Errors: as [`Node::open_log`].
    pub fn open_log_observed(
        &self,
        observer: Option<liaison_store::CommitObserver>,
    ) -> Result<Log> {
        let signing = SigningKey::from_seed(*self.keys.signing.seed())?;
        Ok(Log::open(
            &self.dir.join(LOG_DIR),
            LogOptions {
                checkpoint_signer: Some(CheckpointSigner {
                    agency: self.config.agency.clone(),
                    key: signing,
                }),
                checkpoint_every: self.config.checkpoint_every,
                observer,
                indexer: Some(crate::ops::bulletins::listing::indexer()),
                cache_bytes: self.config.log_cache_mib * 1024 * 1024,
            },
        )?)
    }
}

/// The policy a new node starts with: nothing allowed, and how to allow.
fn default_policy(agency: &AgencyId) -> String {
    format!(
        r#"# Sharing policy of {agency}. Deny by default: a partner not named here gets
# nothing and is accepted for nothing. Check a change with `liaison policy check FILE`,
# apply it with `liaison policy reload` (or a restart).
#
# [partners.DE-BKA]
# send = ["trafficking"]          # category prefixes we may send ("*" = any)
# receive = ["*"]                 # category prefixes we accept from them
# max_send_tlp = "amber"          # most restricted TLP we may send them
# accept_handling = ["H2"]        # handling codes allowed in either direction
# forward_to = []                 # where their bulletins may be forwarded onward
# max_receive_per_minute = 600    # ingress rate limit; faster senders are slowed
"#
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn options(dir: &Path) -> InitOptions {
        InitOptions {
            data_dir: dir.to_owned(),
            agency: "NL-NP".parse().unwrap(),
            display_name: "Netherlands Police".into(),
            peer_endpoint: Some("127.0.0.1:17443".into()),
            api_endpoint: None,
        }
    }

    #[test]
    fn init_creates_a_loadable_node_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nl");
        let created = init_node(&options(&dir)).unwrap();
        let loaded = Node::load(&dir).unwrap();
        assert_eq!(
            loaded.identity().fingerprint(),
            created.identity().fingerprint()
        );
        assert_eq!(loaded.config().peer_listen.port(), 17443);
        for key in [ROOT_KEY, SIGNING_KEY, ENCRYPTION_KEY, CA_KEY, NODE_KEY] {
            let mode = std::fs::metadata(dir.join(key))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{key}");
        }
        assert!(matches!(
            init_node(&options(&dir)),
            Err(Error::AlreadyInitialised(_))
        ));
        let log = loaded.open_log().unwrap();
        assert_eq!(log.head().seq, 5);
        assert_eq!(log.checkpoints().unwrap().len(), 1);
    }

    #[test]
    fn load_detects_a_swapped_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nl");
        init_node(&options(&dir)).unwrap();
        std::fs::write(dir.join(SIGNING_KEY), [1u8; 32]).unwrap();
        match Node::load(&dir) {
            Err(Error::BadKeyMaterial { path, .. }) => assert!(path.ends_with(SIGNING_KEY)),
            other => panic!("unexpected {other:?}"),
        }
        std::fs::write(dir.join(SIGNING_KEY), [1u8; 31]).unwrap();
        assert!(matches!(
            Node::load(&dir),
            Err(Error::BadKeyMaterial { .. })
        ));
    }

    #[test]
    fn load_of_an_empty_directory_says_how_to_start() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Node::load(tmp.path()).unwrap_err();
        assert!(err.to_string().contains("liaison init"), "{err}");
    }
}
