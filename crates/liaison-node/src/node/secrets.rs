//! Private keys at rest: plain files (the demo's and a test's default), sealed under a
//! passphrase, or sealed by a PKCS#11 token. A file sealed under a passphrase is
//!
//! ```text
//! "liaison-sealed-key/1\n" || u32be(m_kib) || u32be(t) || u32be(p) || salt (16)
//!   || nonce (12) || AES-256-GCM(kek, nonce, secret, aad = the magic line)
//! kek = Argon2id(passphrase, salt, m_kib, t, p), 32 bytes
//! ```
//!
//! The passphrase is read from the file `LIAISON_KEY_PASSPHRASE_FILE` names (a systemd
//! credential, say), never from the command line. One salt serves every file of a node,
//! so a process derives the key once. `liaison key protect` seals a node's keys; a
//! rotation seals its new key when the node's keys are sealed.
//!
//! A file sealed by a token ([`super::token`]) is
//!
//! ```text
//! "liaison-token-key/1\n" || u8(label length) || label || nonce (12)
//!   || AES-256-GCM(the token's key `label`, nonce, secret, aad = everything before the nonce)
//! ```
//!
//! The token does the AES-GCM; its key never leaves it. `liaison key protect --pkcs11`
//! creates that key in the token and seals the node's keys with it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ring::aead;
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::{Error, Result};

/// The environment variable naming the passphrase file.
pub const PASSPHRASE_ENV: &str = "LIAISON_KEY_PASSPHRASE_FILE";
const MAGIC: &[u8] = b"liaison-sealed-key/1\n";
/// Argon2id cost: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommendation).
const M_KIB: u32 = 64 * 1024;
const T: u32 = 3;
const P: u32 = 1;
const HEADER: usize = 21 + 12 + 16 + 12;
const TOKEN_MAGIC: &[u8] = b"liaison-token-key/1\n";

/// The files holding a node's private keys, relative to its data directory: the agency
/// keys, the retired ones, and the TLS keys (agency CA and node).
pub fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = [
        "keys/root.key",
        "keys/signing.key",
        "keys/encryption.key",
        super::state::SELECTOR_KEY_FILE,
        super::state::QUERY_KEY_FILE,
    ]
    .iter()
    .chain(["tls/ca.key", "tls/node.key"].iter())
    .map(|f| dir.join(f))
    .collect();
    if let Ok(entries) = std::fs::read_dir(dir.join(super::data_dir::RETIRED_KEYS_DIR)) {
        let mut retired: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "key"))
            .collect();
        retired.sort();
        files.extend(retired);
    }
    files
}

/// Whether `path` holds a sealed key (under a passphrase or by a token).
pub fn is_sealed(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.starts_with(MAGIC) || b.starts_with(TOKEN_MAGIC))
}

/// Whether this node's keys are sealed (its signing key is).
pub fn node_is_sealed(dir: &Path) -> bool {
    is_sealed(&dir.join("keys/signing.key"))
}

/// A private key file's contents, opened if sealed.
///
/// Errors: [`Error::BadKeyMaterial`] naming the file: unreadable, sealed without
/// `LIAISON_KEY_PASSPHRASE_FILE` set, or the passphrase does not open it; sealed by a
/// token that is not configured, refuses the PIN, or whose key does not open it.
pub fn read(path: &Path) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(Error::io("read key", path))?);
    if bytes.starts_with(TOKEN_MAGIC) {
        return open_by_token(&bytes).map_err(|problem| Error::BadKeyMaterial {
            path: path.to_owned(),
            problem,
        });
    }
    if !bytes.starts_with(MAGIC) {
        return Ok(bytes);
    }
    open(path, &bytes, passphrase()?)
}

/// The parts of a token-sealed file.
struct TokenSealed<'a> {
    /// The token key's label.
    label: &'a str,
    /// Everything before the nonce: the associated data.
    header: &'a [u8],
    nonce: [u8; 12],
    /// Ciphertext and tag.
    sealed: &'a [u8],
}

fn token_parts(bytes: &[u8]) -> std::result::Result<TokenSealed<'_>, String> {
    let truncated = || "the sealed key is truncated".to_string();
    let label_len = usize::from(*bytes.get(TOKEN_MAGIC.len()).ok_or_else(truncated)?);
    let label_end = TOKEN_MAGIC.len() + 1 + label_len;
    let label = bytes
        .get(TOKEN_MAGIC.len() + 1..label_end)
        .ok_or_else(truncated)?;
    let label = std::str::from_utf8(label).map_err(|_| "the key label is not UTF-8".to_string())?;
    let nonce: [u8; 12] = bytes
        .get(label_end..label_end + 12)
        .and_then(|n| n.try_into().ok())
        .ok_or_else(truncated)?;
    let sealed = &bytes[label_end + 12..];
    if sealed.len() < 16 {
        return Err(truncated());
    }
    Ok(TokenSealed {
        label,
        header: &bytes[..label_end],
        nonce,
        sealed,
    })
}

fn open_by_token(bytes: &[u8]) -> std::result::Result<Zeroizing<Vec<u8>>, String> {
    let parts = token_parts(bytes)?;
    super::token::decrypt(parts.label, &parts.nonce, parts.header, parts.sealed)
        .map_err(|e| e.to_string())
}

/// Opens the sealed key `bytes` (read from `path`) with `passphrase`.
fn open(
    path: &Path,
    bytes: &[u8],
    passphrase: Option<Zeroizing<Vec<u8>>>,
) -> Result<Zeroizing<Vec<u8>>> {
    let bad = |problem: String| Error::BadKeyMaterial {
        path: path.to_owned(),
        problem,
    };
    if bytes.len() < HEADER + 16 {
        return Err(bad("the sealed key is truncated".into()));
    }
    let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
    let (m, t, p) = (word(21), word(25), word(29));
    let salt: [u8; 16] = bytes[33..49].try_into().unwrap_or_default();
    let nonce: [u8; 12] = bytes[49..61].try_into().unwrap_or_default();
    let passphrase = passphrase.ok_or_else(|| {
        bad(format!(
            "the key is sealed under a passphrase: set {PASSPHRASE_ENV} to the file that holds it"
        ))
    })?;
    let kek = derive(&passphrase, &salt, m, t, p).map_err(bad)?;
    let mut sealed = bytes[HEADER..].to_vec();
    let key = aead::LessSafeKey::new(
        aead::UnboundKey::new(&aead::AES_256_GCM, &kek[..]).map_err(|_| bad("bad key".into()))?,
    );
    let opened = key
        .open_in_place(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(MAGIC),
            &mut sealed,
        )
        .map_err(|_| bad("the passphrase does not open it (or the file was altered)".into()))?
        .to_vec();
    sealed.zeroize();
    Ok(Zeroizing::new(opened))
}

/// A PEM private key file's text, opened if sealed.
///
/// Errors: as [`read`], or the file is not UTF-8.
pub fn read_pem(path: &Path) -> Result<Zeroizing<String>> {
    let bytes = read(path)?;
    String::from_utf8(bytes.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| Error::BadKeyMaterial {
            path: path.to_owned(),
            problem: "not a PEM file".into(),
        })
}

/// Writes `contents` as the private key file `path` (a new file, then renamed over the
/// old one, fsynced), sealed when `seal` holds the passphrase and salt to use.
///
/// Errors: the file cannot be written, or sealing fails.
pub fn write(path: &Path, contents: &[u8], seal: Option<&Sealer>) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let bytes = match seal {
        Some(sealer) => Zeroizing::new(sealer.seal(contents)?),
        None => Zeroizing::new(contents.to_vec()),
    };
    let tmp = path.with_extension("key.new");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(Error::io("create key file", &tmp))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(Error::io("write key file", &tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io("install key file", path))?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(Error::io("fsync directory", parent))?;
    }
    Ok(())
}

/// What seals new key files of a node: its passphrase and salt, or its token's key.
pub enum Sealer {
    /// Argon2id of a passphrase.
    Passphrase {
        /// The passphrase.
        passphrase: Zeroizing<Vec<u8>>,
        /// The salt every file of the node shares.
        salt: [u8; 16],
    },
    /// An AES key inside a PKCS#11 token.
    Token {
        /// The key's label in the token.
        label: String,
    },
}

impl Sealer {
    /// The sealer for a node whose keys are sealed (as its signing key file is), or
    /// `None` for a node with plain keys.
    ///
    /// Errors: the keys are sealed but the passphrase is not available.
    pub fn for_node(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join("keys/signing.key");
        let bytes = std::fs::read(&path).map_err(Error::io("read key", &path))?;
        if bytes.starts_with(TOKEN_MAGIC) {
            let parts = token_parts(&bytes).map_err(|problem| Error::BadKeyMaterial {
                path: path.clone(),
                problem,
            })?;
            return Ok(Some(Self::Token {
                label: parts.label.to_owned(),
            }));
        }
        if !bytes.starts_with(MAGIC) || bytes.len() < HEADER {
            return Ok(None);
        }
        let salt = bytes[33..49].try_into().unwrap_or_default();
        let passphrase = passphrase()?.ok_or_else(|| Error::BadKeyMaterial {
            path,
            problem: format!("the keys are sealed: set {PASSPHRASE_ENV}"),
        })?;
        Ok(Some(Self::Passphrase { passphrase, salt }))
    }

    /// A passphrase sealer with a fresh salt.
    ///
    /// Errors: the system's random source fails.
    pub fn new(passphrase: Zeroizing<Vec<u8>>) -> Result<Self> {
        let mut salt = [0u8; 16];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut salt)
            .map_err(|_| Error::Internal("the system's random source failed".into()))?;
        Ok(Self::Passphrase { passphrase, salt })
    }

    fn seal(&self, secret: &[u8]) -> Result<Vec<u8>> {
        let failed = |what: &str| Error::Internal(format!("cannot seal a key: {what}"));
        let mut nonce = [0u8; 12];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
            .map_err(|_| failed("random source"))?;
        let (passphrase, salt) = match self {
            Self::Passphrase { passphrase, salt } => (passphrase, salt),
            Self::Token { label } => {
                let label_len = u8::try_from(label.len())
                    .map_err(|_| failed("the token key's label is over 255 bytes"))?;
                let mut out = TOKEN_MAGIC.to_vec();
                out.push(label_len);
                out.extend_from_slice(label.as_bytes());
                let body = super::token::encrypt(label, &nonce, &out, secret)?;
                out.extend_from_slice(&nonce);
                out.extend_from_slice(&body);
                return Ok(out);
            }
        };
        let kek = derive(passphrase, salt, M_KIB, T, P).map_err(|e| failed(&e))?;
        let key = aead::LessSafeKey::new(
            aead::UnboundKey::new(&aead::AES_256_GCM, &kek[..]).map_err(|_| failed("key"))?,
        );
        let mut out = Vec::with_capacity(HEADER + secret.len() + 16);
        out.extend_from_slice(MAGIC);
        for word in [M_KIB, T, P] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        out.extend_from_slice(salt);
        out.extend_from_slice(&nonce);
        let mut body = secret.to_vec();
        key.seal_in_place_append_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(MAGIC),
            &mut body,
        )
        .map_err(|_| failed("AES-GCM"))?;
        out.extend_from_slice(&body);
        body.zeroize();
        Ok(out)
    }
}

/// How `liaison key protect` is to seal a node's keys.
pub enum Protection {
    /// Under a passphrase (at least 12 bytes).
    Passphrase(Zeroizing<Vec<u8>>),
    /// By the configured PKCS#11 token's AES key with this label, created if absent.
    Token {
        /// The key's label in the token.
        label: String,
    },
}

/// Seals every private key file of the node in `dir` as `protection` says; returns the
/// files sealed. A file already sealed the same way is left as it is; one sealed the
/// other way (a passphrase node moving to a token, say) is opened and sealed again, so a
/// node's files are always sealed one way.
///
/// Errors: a file cannot be read or written (each file is replaced whole, so every file
/// opens one way or the other and running the command again finishes the job).
pub fn protect(dir: &Path, protection: Protection) -> Result<Vec<PathBuf>> {
    let sealer = match protection {
        Protection::Passphrase(passphrase) => {
            if passphrase.len() < 12 {
                return Err(Error::InvalidRequest(
                    "the passphrase must be at least 12 bytes".into(),
                ));
            }
            match Sealer::for_node(dir) {
                Ok(Some(existing @ Sealer::Passphrase { .. })) => existing,
                _ => Sealer::new(passphrase)?,
            }
        }
        Protection::Token { label } => {
            if label.is_empty() || label.len() > 255 {
                return Err(Error::InvalidRequest(
                    "the token key's label must be 1 to 255 bytes".into(),
                ));
            }
            super::token::ensure_key(&label)?;
            Sealer::Token { label }
        }
    };
    let mut sealed = Vec::new();
    for path in key_files(dir) {
        if !path.exists() || sealed_as(&path, &sealer) {
            continue;
        }
        let plain = read(&path)?;
        write(&path, &plain, Some(&sealer))?;
        sealed.push(path);
    }
    Ok(sealed)
}

/// Whether the file at `path` is already sealed the way `sealer` seals.
fn sealed_as(path: &Path, sealer: &Sealer) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    match sealer {
        Sealer::Passphrase { salt, .. } => {
            bytes.starts_with(MAGIC) && bytes.get(33..49) == Some(&salt[..])
        }
        Sealer::Token { label } => {
            bytes.starts_with(TOKEN_MAGIC) && token_parts(&bytes).is_ok_and(|p| p.label == label)
        }
    }
}

/// The passphrase from the file `LIAISON_KEY_PASSPHRASE_FILE` names (one trailing
/// newline dropped), or `None` if the variable is not set.
///
/// Errors: the variable names a file that cannot be read or is empty.
pub fn passphrase() -> Result<Option<Zeroizing<Vec<u8>>>> {
    let Some(file) = std::env::var_os(PASSPHRASE_ENV) else {
        return Ok(None);
    };
    let path = PathBuf::from(file);
    let mut bytes = Zeroizing::new(std::fs::read(&path).map_err(Error::io(
        "read the key passphrase file (LIAISON_KEY_PASSPHRASE_FILE)",
        &path,
    ))?);
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(Error::BadKeyMaterial {
            path,
            problem: "the passphrase file is empty".into(),
        });
    }
    Ok(Some(bytes))
}

type Derived = HashMap<(Vec<u8>, [u8; 16], u32, u32, u32), Zeroizing<[u8; 32]>>;

/// Argon2id, remembered per (passphrase, salt, cost) for this process: a node's files
/// share one salt, so loading them derives once.
fn derive(
    passphrase: &[u8],
    salt: &[u8; 16],
    m: u32,
    t: u32,
    p: u32,
) -> std::result::Result<Zeroizing<[u8; 32]>, String> {
    static CACHE: Mutex<Option<Derived>> = Mutex::new(None);
    // Refuse costs a tampered file could use to exhaust memory or time.
    if !(8..=1024 * 1024).contains(&m) || !(1..=16).contains(&t) || !(1..=8).contains(&p) {
        return Err(format!("unreasonable Argon2 cost m={m} KiB t={t} p={p}"));
    }
    let digest = liaison_core::crypto::sha256(passphrase).to_vec();
    let cache_key = (digest, *salt, m, t, p);
    if let Ok(cache) = CACHE.lock()
        && let Some(kek) = cache.as_ref().and_then(|c| c.get(&cache_key))
    {
        return Ok(kek.clone());
    }
    let params = argon2::Params::new(m, t, p, Some(32)).map_err(|e| e.to_string())?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut kek = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, salt, &mut kek[..])
        .map_err(|e| e.to_string())?;
    if let Ok(mut cache) = CACHE.lock() {
        cache
            .get_or_insert_with(HashMap::new)
            .insert(cache_key, kek.clone());
    }
    Ok(kek)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phrase(p: &str) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(p.as_bytes().to_vec())
    }

    #[test]
    fn a_sealed_key_opens_with_its_passphrase_only_and_refuses_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let sealer = Sealer::new(phrase("correct horse battery")).unwrap();
        write(&path, &[7u8; 32], Some(&sealer)).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(MAGIC));
        assert!(
            !bytes.windows(32).any(|w| w == [7u8; 32]),
            "the secret is not in the file"
        );
        let opened = open(&path, &bytes, Some(phrase("correct horse battery"))).unwrap();
        assert_eq!(opened.as_slice(), &[7u8; 32]);
        let wrong = open(&path, &bytes, Some(phrase("wrong horse battery"))).unwrap_err();
        assert!(wrong.to_string().contains("does not open"), "{wrong}");
        let none = open(&path, &bytes, None).unwrap_err();
        assert!(none.to_string().contains(PASSPHRASE_ENV), "{none}");
        // A cost raised by whoever altered the file is refused before any work.
        let mut costly = bytes.clone();
        costly[21..25].copy_from_slice(&u32::MAX.to_be_bytes());
        let refused = open(&path, &costly, Some(phrase("correct horse battery"))).unwrap_err();
        assert!(refused.to_string().contains("unreasonable"), "{refused}");
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open(&path, &flipped, Some(phrase("correct horse battery"))).is_err());
        assert!(open(&path, &bytes[..40], Some(phrase("correct horse battery"))).is_err());
    }

    #[test]
    fn a_token_sealed_file_is_parsed_without_trusting_its_lengths() {
        let mut file = TOKEN_MAGIC.to_vec();
        file.push(4);
        file.extend_from_slice(b"wrap");
        file.extend_from_slice(&[9u8; 12]);
        file.extend_from_slice(&[1u8; 48]);
        let parts = token_parts(&file).unwrap();
        assert_eq!(parts.label, "wrap");
        assert_eq!(parts.header, &file[..TOKEN_MAGIC.len() + 5]);
        assert_eq!(parts.nonce, [9u8; 12]);
        assert_eq!(parts.sealed.len(), 48);
        // Every truncation, and a label length pointing past the end, is an error.
        for cut in 0..TOKEN_MAGIC.len() + 5 + 12 + 16 {
            assert!(token_parts(&file[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = file.clone();
        long[TOKEN_MAGIC.len()] = 255;
        assert!(token_parts(&long).is_err());
    }
}
