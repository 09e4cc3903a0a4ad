//! The desk's named officers: who may sign in to the web desk, with which roles, and
//! how they prove it (an Argon2id password hash, set once through a one-time enrolment
//! link, or a client certificate from the agency's CA, known by its SHA-256).
//!
//! Kept in `desk/officers.json` (owner-only, replaced atomically), not in the log: the
//! log is exported to auditors and partners' evidence checks, and password hashes have
//! no place there. The log records every change (`officer-added`, `officer-enrolled`,
//! `officer-removed`) without the secrets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use liaison_core::UnixMillis;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::trust::clients::Role;

/// Where the officers are kept, in the data directory.
pub const OFFICERS_FILE: &str = "desk/officers.json";
/// How long an enrolment link works.
pub const ENROLMENT_HOURS: i64 = 72;
/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted (Argon2 takes any length; this bounds the work).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// One officer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerRecord {
    /// Their name (what they sign in with, and what the log attributes to them).
    pub name: String,
    /// What they may do: `read` (inbox, bulletins, search, acknowledge), `publish`
    /// (compose, reply), `admin` (partners and the log view).
    pub roles: Vec<Role>,
    /// When they were added.
    pub added_at: String,
    /// Their password, as an Argon2id PHC string; none until they enrol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The pending enrolment: SHA-256 of the link's token (hex) and its expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrolment: Option<(String, UnixMillis)>,
    /// SHA-256 (hex) of the client certificate they may sign in with instead of a
    /// password, issued by `liaison officer certificate`; a new one replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_sha256: Option<String>,
}

impl OfficerRecord {
    /// Whether the officer holds `role` (`admin` holds every role).
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }

    /// Whether they have set a password.
    pub fn enrolled(&self) -> bool {
        self.password.is_some()
    }
}

/// The officers of this node, loaded from and written back to [`OFFICERS_FILE`].
#[derive(Debug)]
pub struct OfficerBook {
    dir: PathBuf,
    records: Mutex<BTreeMap<String, OfficerRecord>>,
}

/// An officer name: 1-64 of a-z 0-9 `.` `-` `_`, like a client's.
///
/// Errors: [`Error::InvalidRequest`] saying what is allowed.
pub fn validate_name(name: &str) -> Result<()> {
    crate::trust::clients::validate_name(name)
}

fn sha256_hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn argon2() -> argon2::Argon2<'static> {
    argon2::Argon2::default()
}

impl OfficerBook {
    /// Loads the officers of the node in `data_dir` (none if the file is absent).
    ///
    /// Errors: the file cannot be read or is not an officer list.
    pub fn load(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(OFFICERS_FILE);
        let records = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Config {
                path: path.clone(),
                problem: format!("not a list of officers: {e}"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(Error::io("read the officers", &path)(e)),
        };
        Ok(Self {
            dir: data_dir.to_owned(),
            records: Mutex::new(records),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, OfficerRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes `records` durably, then makes them the book's.
    fn save(
        &self,
        held: &mut std::sync::MutexGuard<'_, BTreeMap<String, OfficerRecord>>,
        records: BTreeMap<String, OfficerRecord>,
    ) -> Result<()> {
        let desk = self.dir.join("desk");
        std::fs::create_dir_all(&desk).map_err(Error::io("create directory", &desk))?;
        let json = serde_json::to_vec_pretty(&records)
            .map_err(|e| Error::Internal(format!("cannot encode officers: {e}")))?;
        crate::ops::keys::replace_file(&desk, "officers.json", &json, 0o600)?;
        **held = records;
        Ok(())
    }

    /// Every officer, by name.
    pub fn list(&self) -> Vec<OfficerRecord> {
        self.lock().values().cloned().collect()
    }

    /// The officer called `name`.
    pub fn get(&self, name: &str) -> Option<OfficerRecord> {
        self.lock().get(name).cloned()
    }

    /// Adds an officer (or renews the enrolment of one who has not enrolled yet) and
    /// returns the one-time enrolment token.
    ///
    /// Errors: a bad name, no role, an officer of that name who has enrolled.
    pub fn add(&self, name: &str, roles: &[Role], now: UnixMillis) -> Result<String> {
        validate_name(name)?;
        if roles.is_empty() {
            return Err(Error::InvalidRequest(
                "give at least one role: read, publish or admin".into(),
            ));
        }
        let mut held = self.lock();
        if held.get(name).is_some_and(OfficerRecord::enrolled) {
            return Err(Error::InvalidRequest(format!(
                "officer {name} exists and has enrolled; remove them first to enrol again"
            )));
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = data_encoding::BASE32_NOPAD.encode(&secret).to_lowercase();
        let mut roles = roles.to_vec();
        roles.sort_by_key(ToString::to_string);
        roles.dedup();
        let mut records = held.clone();
        records.insert(
            name.to_owned(),
            OfficerRecord {
                name: name.to_owned(),
                roles,
                added_at: now.to_string(),
                password: None,
                enrolment: Some((
                    sha256_hex(token.as_bytes()),
                    UnixMillis(now.0.saturating_add(ENROLMENT_HOURS * 3_600_000)),
                )),
                // A new link for one who has not enrolled keeps their certificate.
                certificate_sha256: held.get(name).and_then(|r| r.certificate_sha256.clone()),
            },
        );
        self.save(&mut held, records)?;
        Ok(token)
    }

    /// The officer a live enrolment token belongs to.
    pub fn enrolling(&self, token: &str, now: UnixMillis) -> Option<OfficerRecord> {
        // Comparing hashes: how long a comparison takes says nothing of the token.
        let hash = sha256_hex(token.as_bytes());
        self.lock()
            .values()
            .find(|r| {
                r.enrolment
                    .as_ref()
                    .is_some_and(|(h, expires)| *h == hash && *expires > now)
            })
            .cloned()
    }

    /// Sets the password of the officer `token` enrols, and spends the token.
    ///
    /// Errors: an unknown, spent or expired token; a password too short or too long.
    pub fn enrol(&self, token: &str, password: &str, now: UnixMillis) -> Result<OfficerRecord> {
        check_password(password)?;
        let officer = self.enrolling(token, now).ok_or_else(|| {
            Error::InvalidRequest(
                "this enrolment link is unknown, used or expired; ask for a new one".into(),
            )
        })?;
        let hash = hash_password(password)?;
        let mut held = self.lock();
        let mut records = held.clone();
        let record = records
            .get_mut(&officer.name)
            .ok_or_else(|| Error::NotFound(format!("officer {} was removed", officer.name)))?;
        record.password = Some(hash);
        record.enrolment = None;
        let enrolled = record.clone();
        self.save(&mut held, records)?;
        Ok(enrolled)
    }

    /// The officer `name` if `password` is theirs. Takes Argon2's time whether or not
    /// the officer exists, so a failed sign-in does not tell which names exist.
    pub fn verify(&self, name: &str, password: &str) -> Option<OfficerRecord> {
        if password.len() > MAX_PASSWORD_BYTES {
            return None;
        }
        let record = self.get(name);
        let stored = record
            .as_ref()
            .and_then(|r| r.password.clone())
            .unwrap_or_else(|| dummy_hash().to_owned());
        let ok = PasswordHash::new(&stored)
            .ok()
            .is_some_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok());
        record.filter(|r| ok && r.enrolled())
    }

    /// Makes `certificate_sha256` the certificate officer `name` signs in with,
    /// replacing any earlier one (which stops working at once).
    ///
    /// Errors: [`Error::NotFound`]; the file cannot be written.
    pub fn set_certificate(&self, name: &str, certificate_sha256: &str) -> Result<OfficerRecord> {
        let mut held = self.lock();
        let mut records = held.clone();
        let record = records
            .get_mut(name)
            .ok_or_else(|| Error::NotFound(format!("no officer named {name}")))?;
        record.certificate_sha256 = Some(certificate_sha256.to_owned());
        let updated = record.clone();
        self.save(&mut held, records)?;
        Ok(updated)
    }

    /// The officer whose sign-in certificate has SHA-256 `certificate_sha256` (hex).
    pub fn by_certificate(&self, certificate_sha256: &str) -> Option<OfficerRecord> {
        self.lock()
            .values()
            .find(|r| r.certificate_sha256.as_deref() == Some(certificate_sha256))
            .cloned()
    }

    /// Removes an officer.
    ///
    /// Errors: [`Error::NotFound`].
    pub fn remove(&self, name: &str) -> Result<OfficerRecord> {
        let mut held = self.lock();
        let mut records = held.clone();
        let removed = records
            .remove(name)
            .ok_or_else(|| Error::NotFound(format!("no officer named {name}")))?;
        self.save(&mut held, records)?;
        Ok(removed)
    }
}

/// A hash of a password nobody has, checked when the name is unknown (made once, with
/// the same parameters as real ones).
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        hash_password(&data_encoding::HEXLOWER.encode(&secret)).unwrap_or_default()
    })
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::Internal(format!("password salt: {e}")))?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Internal(format!("password hash: {e}")))?
        .to_string())
}

/// A password the desk accepts.
///
/// Errors: [`Error::InvalidRequest`] saying why not.
pub fn check_password(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::InvalidRequest(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::InvalidRequest(format!(
            "the password must have at most {MAX_PASSWORD_BYTES} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrol_once_then_sign_in() {
        let dir = tempfile::tempdir().unwrap();
        let book = OfficerBook::load(dir.path()).unwrap();
        let now = UnixMillis(1_000_000);
        let token = book.add("anna", &[Role::Read], now).unwrap();
        assert!(
            book.verify("anna", "anything-at-all").is_none(),
            "not enrolled"
        );
        assert!(book.enrol(&token, "short", now).is_err());
        let late = UnixMillis(now.0 + ENROLMENT_HOURS * 3_600_000 + 1);
        assert!(
            book.enrol(&token, "correct horse battery", late).is_err(),
            "expired"
        );
        book.enrol(&token, "correct horse battery", now).unwrap();
        assert!(
            book.enrol(&token, "another long password", now).is_err(),
            "spent"
        );
        assert!(book.verify("anna", "correct horse battery").is_some());
        assert!(book.verify("anna", "correct horse batterY").is_none());
        assert!(book.verify("bob", "correct horse battery").is_none());
        assert!(
            book.add("anna", &[Role::Read], now).is_err(),
            "enrolled already"
        );

        let again = OfficerBook::load(dir.path()).unwrap();
        assert!(
            again.verify("anna", "correct horse battery").is_some(),
            "kept on disk"
        );
        let text = std::fs::read_to_string(dir.path().join(OFFICERS_FILE)).unwrap();
        assert!(!text.contains("correct horse"), "only the hash is kept");
        assert!(again.by_certificate("ab12").is_none());
        again.set_certificate("anna", "ab12").unwrap();
        again.set_certificate("anna", "cd34").unwrap();
        assert!(again.by_certificate("ab12").is_none(), "replaced");
        let reloaded = OfficerBook::load(dir.path()).unwrap();
        assert_eq!(reloaded.by_certificate("cd34").unwrap().name, "anna");
        assert!(
            again.set_certificate("bob", "ef56").is_err(),
            "no such officer"
        );
        again.remove("anna").unwrap();
        assert!(again.verify("anna", "correct horse battery").is_none());
        assert!(again.by_certificate("cd34").is_none(), "removed");
    }
}
