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

/// Seals the node's key files under the passphrase, or by the token's key
/// `token_key_label`.
pub fn protect(data_dir: &Path, token_key_label: Option<String>) -> Result<()> {
    use liaison_node::node::{secrets, token};
    let (protection, needed) = match token_key_label {
        Some(label) => (
            secrets::Protection::Token { label },
            format!(
                "{}, {} and {}",
                token::MODULE_ENV,
                token::TOKEN_ENV,
                token::PIN_FILE_ENV
            ),
        ),
        None => {
            let Some(passphrase) = secrets::passphrase()? else {
                anyhow::bail!(
                    "set {} to a file holding the passphrase (at least 12 bytes), or use \
                     --pkcs11 to seal with a PKCS#11 token",
                    secrets::PASSPHRASE_ENV
                );
            };
            (
                secrets::Protection::Passphrase(passphrase),
                secrets::PASSPHRASE_ENV.to_string(),
            )
        }
    };
    let token_label = match &protection {
        secrets::Protection::Token { label } => Some(label.clone()),
        secrets::Protection::Passphrase(_) => None,
    };
    let sealed = secrets::protect(data_dir, protection)?;
    if let Some(label) = token_label {
        if token::key_stays_in_token(&label)? {
            output::line(format_args!(
                "The token's key {label:?} is sensitive and never extractable."
            ))?;
        } else {
            output::line(format_args!(
                "warning: the token's key {label:?} can be extracted from the token; \
                 replace it with one that cannot"
            ))?;
        }
    }
    if sealed.is_empty() {
        output::line(format_args!(
            "Every private key file was already sealed this way."
        ))?;
    }
    for path in &sealed {
        output::line(format_args!("sealed {}", path.display()))?;
    }
    output::line(format_args!(
        "From now on set {needed} for every command and for `liaison run`."
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
