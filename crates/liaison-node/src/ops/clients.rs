//! Registering the agency's own systems for the client API: issue a certificate from
//! the agency CA with roles, list, revoke.

use liaison_core::{UnixMillis, tls};
use liaison_store::Effect;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::trust::clients::{self, ClientRecord, Role};

/// A newly issued client: its registration and the files it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedClient {
    /// The registration.
    pub record: ClientRecord,
    /// Its certificate, PEM.
    pub certificate_pem: String,
    /// Its private key, PEM. Shown once; the node keeps no copy.
    pub private_key_pem: String,
    /// The agency CA certificate, PEM, to verify the node's API certificate.
    pub ca_pem: String,
}

/// How long a certificate for one of the agency's systems or officers is valid.
pub const CLIENT_DAYS: u32 = 365;

/// A client certificate (clientAuth only) for `common_name` from the agency's CA, valid
/// [`CLIENT_DAYS`], and the CA's certificate (PEM). The node keeps no copy of the key.
///
/// Errors: the CA's certificate or key cannot be read or used.
pub(crate) fn issue_from_agency_ca(
    state: &NodeState,
    common_name: &str,
) -> Result<(tls::IssuedCertificate, String)> {
    let node = state.node();
    let dir = node.dir();
    let ca_pem = std::fs::read_to_string(dir.join("tls/ca.pem"))
        .map_err(Error::io("read the agency CA", dir.join("tls/ca.pem")))?;
    let ca_key = crate::node::secrets::read_pem(&dir.join("tls/ca.key"))?;
    let issued = tls::issue_certificate(
        &ca_pem,
        &ca_key,
        common_name,
        &[],
        tls::CertificateRole::LocalClient,
        tls::Validity { days: CLIENT_DAYS },
    )?;
    Ok((issued, ca_pem))
}

/// Issues a client certificate from the agency CA and registers it with `roles`.
///
/// Errors: a bad name or role, a name already registered.
pub fn client_issue(state: &NodeState, name: &str, roles: &[Role]) -> Result<IssuedClient> {
    clients::validate_name(name)?;
    let mut roles = roles.to_vec();
    roles.dedup();
    if roles.is_empty() {
        return Err(Error::InvalidRequest(
            "give at least one role: publish, read or admin".into(),
        ));
    }
    if state.clients.snapshot().by_name(name).is_some() {
        return Err(Error::InvalidRequest(format!(
            "a client named {name} exists; revoke it first to issue a new certificate"
        )));
    }
    let (issued, ca_pem) = issue_from_agency_ca(state, name)?;
    let now = UnixMillis::now();
    let record = ClientRecord {
        name: name.to_owned(),
        roles,
        certificate_sha256: crate::trust::tls::certificate_sha256(&issued.certificate_der),
        issued_at: now.to_string(),
        valid_until: now.plus_days(i64::from(CLIENT_DAYS)).to_string(),
    };
    let encoded = serde_json::to_vec(&record)
        .map_err(|e| Error::Internal(format!("cannot encode a client record: {e}")))?;
    let issued_event = LogEvent::ClientIssued {
        client: name.to_owned(),
        roles: record.roles.iter().map(ToString::to_string).collect(),
        certificate_sha256: record.certificate_sha256.clone(),
    };
    state
        .log
        .append(issued_event.entry().with_effect(Effect::PutClient {
            name: name.to_owned(),
            record: encoded.into(),
        }))?;
    state.reload_clients()?;
    Ok(IssuedClient {
        record,
        certificate_pem: issued.certificate_pem,
        private_key_pem: issued.private_key_pem,
        ca_pem,
    })
}

/// Revokes a client: its certificate is refused at the next handshake and by every
/// request on a connection it already holds.
pub fn client_revoke(state: &NodeState, name: &str) -> Result<ClientRecord> {
    let record = state
        .clients
        .snapshot()
        .by_name(name)
        .cloned()
        .ok_or_else(|| Error::NotFound(format!("no client named {name}")))?;
    let revoked = LogEvent::ClientRevoked {
        client: name.to_owned(),
        certificate_sha256: record.certificate_sha256.clone(),
    };
    state.log.append(
        revoked
            .entry()
            .with_effect(Effect::RemoveClient(name.to_owned())),
    )?;
    state.reload_clients()?;
    Ok(record)
}
