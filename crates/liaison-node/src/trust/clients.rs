//! The agency's own systems that may call the client API: each has a certificate from
//! the agency's CA (issued by `liaison client issue`) and a registration naming its
//! roles. A certificate that chains to the CA but is not registered (revoked, or the
//! node's own peer certificate) is refused at the handshake.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::trust::partners::Snapshot;

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Publish bulletins.
    Publish,
    /// Subscribe, get, list, see delivery status, acknowledge.
    Read,
    /// Everything.
    Admin,
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "publish" => Ok(Role::Publish),
            "read" => Ok(Role::Read),
            "admin" => Ok(Role::Admin),
            other => Err(Error::InvalidRequest(format!(
                "{other:?} is not a role: expected publish, read or admin"
            ))),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Publish => "publish",
            Role::Read => "read",
            Role::Admin => "admin",
        })
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Its name (the certificate's common name).
    pub name: String,
    /// What it may do.
    pub roles: Vec<Role>,
    /// SHA-256 of its certificate (DER), hex.
    pub certificate_sha256: String,
    /// When it was issued.
    pub issued_at: String,
    /// When its certificate expires.
    pub valid_until: String,
}

impl ClientRecord {
    /// Whether the client holds `role` (admin holds every role).
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }
}

/// Checks a client name: 1-64 of `a-z 0-9 - _ .`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "{name:?} is not a client name: expected 1-64 of a-z 0-9 - _ ."
        )))
    }
}

/// Every registered client, by certificate fingerprint.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    by_certificate: HashMap<String, ClientRecord>,
}

impl Clients {
    /// From stored registrations (as [`liaison_store::Log::clients`] returns them).
    pub fn from_records(records: Vec<(String, bytes::Bytes)>) -> Result<Self> {
        let mut by_certificate = HashMap::new();
        for (name, record) in records {
            let record: ClientRecord = serde_json::from_slice(&record).map_err(|e| {
                Error::Internal(format!(
                    "stored registration of client {name} is unreadable: {e}"
                ))
            })?;
            by_certificate.insert(record.certificate_sha256.clone(), record);
        }
        Ok(Self { by_certificate })
    }

    /// The client whose certificate has this SHA-256 (hex).
    pub fn by_certificate(&self, sha256_hex: &str) -> Option<&ClientRecord> {
        self.by_certificate.get(sha256_hex)
    }

    /// The client with this name.
    pub fn by_name(&self, name: &str) -> Option<&ClientRecord> {
        self.by_certificate.values().find(|c| c.name == name)
    }

    /// Every client, sorted by name.
    pub fn list(&self) -> Vec<ClientRecord> {
        let mut all: Vec<ClientRecord> = self.by_certificate.values().cloned().collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }
}

/// The current registrations, shared by the API's TLS verifier and its handlers.
pub type ClientSet = Snapshot<Clients>;
