//! `liaison key rotate | protect | revoke`.

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

pub fn protect(data_dir: &Path) -> Result<()> {
    use liaison_node::node::secrets;
    let Some(passphrase) = secrets::passphrase()? else {
        anyhow::bail!(
            "set {} to a file holding the passphrase (at least 12 bytes)",
            secrets::PASSPHRASE_ENV
        );
    };
    let sealed = secrets::protect(data_dir, passphrase)?;
    if sealed.is_empty() {
        output::line(format_args!("Every private key file was already sealed."))?;
    }
    for path in &sealed {
        output::line(format_args!("sealed {}", path.display()))?;
    }
    output::line(format_args!(
        "From now on set {} for every command and for `liaison run`.",
        secrets::PASSPHRASE_ENV
    ))
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
