//! `liaison key rotate | revoke`.

use std::path::Path;

use anyhow::Result;
use liaison_core::KeyId;
use liaison_core::identity::RevocationReason;
use liaison_node::edge::admin::{KeyRevoke, KeyRotate};
use liaison_node::ops::keys::{KeyChangeView, KeyPurpose};

use super::call;
use crate::output;

pub fn rotate(data_dir: &Path, purpose: KeyPurpose, json: bool) -> Result<()> {
    print(&call(data_dir, KeyRotate { purpose })?, json)
}

pub fn revoke(data_dir: &Path, key_id: KeyId, reason: RevocationReason, json: bool) -> Result<()> {
    print(&call(data_dir, KeyRevoke { key_id, reason })?, json)
}

fn print(view: &KeyChangeView, json: bool) -> Result<()> {
    if json {
        return output::json(view);
    }
    output::line(format_args!(
        "{}; identity version {} is in force.",
        view.change, view.identity_version
    ))?;
    if let (Some(old), Some(new)) = (&view.old_key_id, &view.new_key_id) {
        output::line(format_args!(
            "Old key {old}, new key {new}. Partners receive the new identity automatically."
        ))?;
    }
    Ok(())
}
