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
        .map(|r| OfficerView {
            enrolled: r.enrolled(),
            name: r.name,
            roles: r.roles,
            added_at: r.added_at,
        })
        .collect()
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
    Ok(OfficerView {
        enrolled: removed.enrolled(),
        name: removed.name,
        roles: removed.roles,
        added_at: removed.added_at,
    })
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
