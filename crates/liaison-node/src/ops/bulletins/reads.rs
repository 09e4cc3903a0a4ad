//! The consultation log (Directive (EU) 2016/680, art. 25): every read of a bulletin
//! through any door, with who read and when, as an entry of the tamper-evident log.
//! A read that cannot be recorded is refused, so the record is complete.

use liaison_core::BulletinId;

use crate::error::Result;
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;

/// Records that `reader` read `bulletins` through `door`. Nothing is recorded for an
/// empty list (a page with no match).
///
/// Errors: the log cannot be written; the caller must then not show the bulletins.
pub fn record_reads(
    state: &NodeState,
    reader: &str,
    door: &str,
    bulletins: Vec<BulletinId>,
) -> Result<()> {
    if bulletins.is_empty() {
        return Ok(());
    }
    let event = LogEvent::Consulted {
        reader: reader.to_owned(),
        door: door.to_owned(),
        bulletins,
    };
    state.log.append(event.entry())?;
    Ok(())
}

/// Who the local operator is, for the consultation log: the user id of the process on
/// the other end of the admin socket (or of this process, when a command runs on a
/// stopped node's files).
pub fn local_operator(uid: Option<u32>) -> String {
    match uid {
        Some(uid) => format!("local operator (uid {uid})"),
        None => {
            use std::os::unix::fs::MetadataExt as _;
            let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
            match uid {
                Some(uid) => format!("local operator (uid {uid}, node stopped)"),
                None => "local operator (node stopped)".to_owned(),
            }
        }
    }
}
