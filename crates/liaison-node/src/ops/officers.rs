//! The desk's officers: add one (with a one-time enrolment link), list, remove; and
//! the log entries that attribute desk work to them.

use liaison_core::{BulletinId, UnixMillis};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::trust::clients::Role;

/// A newly added officer and how they enrol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerAdded {
    /// Their name.
    pub name: String,
    /// Their roles.
    pub roles: Vec<Role>,
    /// The one-time enrolment link (the desk's address from `[desk] listen`, or a
    /// path when the desk is off).
    pub enrolment_link: String,
    /// Until when it works.
    pub expires: String,
}

/// One officer, without secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerView {
    /// Their name.
    pub name: String,
    /// Their roles.
    pub roles: Vec<Role>,
    /// When they were added.
    pub added_at: String,
    /// Whether they have set their password.
    pub enrolled: bool,
    /// SHA-256 of the certificate they may sign in with, if one was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_sha256: Option<String>,
}

impl From<crate::trust::officers::OfficerRecord> for OfficerView {
    fn from(r: crate::trust::officers::OfficerRecord) -> Self {
        Self {
            enrolled: r.enrolled(),
            name: r.name,
            roles: r.roles,
            added_at: r.added_at,
            certificate_sha256: r.certificate_sha256,
        }
    }
}

/// Adds an officer with `roles` and returns their one-time enrolment link.
///
/// Errors: a bad name, no role, an officer of that name who has enrolled.
pub fn officer_add(state: &NodeState, name: &str, roles: &[Role]) -> Result<OfficerAdded> {
    let now = UnixMillis::now();
    let token = state.officers.add(name, roles, now)?;
    let record = state
        .officers
        .get(name)
        .ok_or_else(|| crate::Error::Internal("the officer just added is missing".into()))?;
    state.log.append(
        LogEvent::OfficerAdded {
            officer: name.to_owned(),
            roles: record.roles.iter().map(ToString::to_string).collect(),
        }
        .entry(),
    )?;
    let path = format!("/enrol/{token}");
    let enrolment_link = match state.node().config().desk_listen {
        Some(addr) => format!("https://{addr}{path}"),
        None => path,
    };
    Ok(OfficerAdded {
        name: name.to_owned(),
        roles: record.roles,
        enrolment_link,
        expires: record
            .enrolment
            .map(|(_, expires)| expires.to_string())
            .unwrap_or_default(),
    })
}

/// Every officer.
pub fn officer_list(state: &NodeState) -> Vec<OfficerView> {
    state
        .officers
        .list()
        .into_iter()
        .map(OfficerView::from)
        .collect()
}

/// A certificate an officer signs in to the desk with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficerCertificate {
    /// The officer.
    pub name: String,
    /// SHA-256 of the certificate, hex.
    pub certificate_sha256: String,
    /// Until when it is valid.
    pub valid_until: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// Its private key, PEM. Shown once; the node keeps no copy.
    pub private_key_pem: String,
    /// The agency CA certificate, PEM (what the desk's certificate chains to).
    pub ca_pem: String,
}

/// Issues officer `name` a client certificate from the agency's CA to sign in to the
/// desk with (instead of, or besides, a password). Any earlier one stops working.
///
/// Errors: no such officer; the CA cannot be used; the log or the officers' file
/// cannot be written.
pub fn officer_certificate(state: &NodeState, name: &str) -> Result<OfficerCertificate> {
    if state.officers.get(name).is_none() {
        return Err(crate::Error::NotFound(format!("no officer named {name}")));
    }
    let (issued, ca_pem) = crate::ops::clients::issue_from_agency_ca(state, &reader(name))?;
    let certificate_sha256 = crate::trust::tls::certificate_sha256(&issued.certificate_der);
    let valid_until = UnixMillis::now()
        .plus_days(i64::from(crate::ops::clients::CLIENT_DAYS))
        .to_string();
    // Logged first: a certificate that signs in is always in the log.
    state.log.append(
        LogEvent::OfficerCertificateIssued {
            officer: name.to_owned(),
            certificate_sha256: certificate_sha256.clone(),
            valid_until: valid_until.clone(),
        }
        .entry(),
    )?;
    state.officers.set_certificate(name, &certificate_sha256)?;
    Ok(OfficerCertificate {
        name: name.to_owned(),
        certificate_sha256,
        valid_until,
        certificate_pem: issued.certificate_pem,
        private_key_pem: issued.private_key_pem,
        ca_pem,
    })
}

/// Removes an officer; their open desk sessions end at their next request.
///
/// Errors: no such officer.
pub fn officer_remove(state: &NodeState, name: &str) -> Result<OfficerView> {
    let removed = state.officers.remove(name)?;
    state.log.append(
        LogEvent::OfficerRemoved {
            officer: name.to_owned(),
        }
        .entry(),
    )?;
    Ok(removed.into())
}

/// How the log names an officer as a reader or actor.
pub fn reader(officer: &str) -> String {
    format!("officer {officer}")
}

/// Records that `officer` did `action` (`sent`, `recalled`, `searched`) concerning
/// `bulletins`.
///
/// Errors: the log cannot be written.
pub fn record_action(
    state: &NodeState,
    officer: &str,
    action: &str,
    bulletins: Vec<BulletinId>,
) -> Result<()> {
    state.log.append(
        LogEvent::OfficerAction {
            officer: officer.to_owned(),
            action: action.to_owned(),
            bulletins,
        }
        .entry(),
    )?;
    Ok(())
}
