//! `liaison peer add | list | show | remove`.

use std::path::Path;

use anyhow::{Context as _, Result};
use liaison_core::AgencyId;
use liaison_node::edge::admin::{PeerAdd, PeerList, PeerRemove, PeerShow};
use liaison_node::ops::peers::PeerView;

use super::call;
use crate::output;

const PEER_HEADERS: [&str; 6] = [
    "AGENCY",
    "NAME",
    "VERSION",
    "ENDPOINTS",
    "OUTBOX",
    "LAST ERROR",
];

fn peer_rows(peers: &[PeerView]) -> Vec<Vec<String>> {
    peers
        .iter()
        .map(|p| {
            vec![
                p.agency.clone(),
                p.display_name.clone(),
                p.identity_version.to_string(),
                p.endpoints.join(","),
                p.outbox.to_string(),
                p.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

pub fn add(data_dir: &Path, bundle: &Path, fingerprint: String, json: bool) -> Result<()> {
    let bytes =
        std::fs::read(bundle).with_context(|| format!("cannot read {}", bundle.display()))?;
    let view = call(
        data_dir,
        PeerAdd {
            bundle_base64: data_encoding::BASE64.encode(&bytes),
            fingerprint,
        },
    )?;
    if json {
        return output::json(&view);
    }
    output::line(format_args!(
        "Added partner {} ({}), fingerprint {}",
        view.agency, view.display_name, view.fingerprint
    ))
}

pub fn list(data_dir: &Path, json: bool) -> Result<()> {
    let peers = call(data_dir, PeerList {})?;
    if json {
        return output::json(&peers);
    }
    if peers.is_empty() {
        return output::line(format_args!(
            "No partners yet. Add one with `liaison peer add BUNDLE --fingerprint FP`."
        ));
    }
    output::table(&PEER_HEADERS, &peer_rows(&peers))
}

pub fn show(data_dir: &Path, agency: AgencyId, json: bool) -> Result<()> {
    let p = call(data_dir, PeerShow { agency })?;
    if json {
        return output::json(&p);
    }
    output::fields(&[
        ("Agency", p.agency.clone()),
        ("Name", p.display_name.clone()),
        ("Fingerprint", p.fingerprint.clone()),
        ("Identity version", p.identity_version.to_string()),
        ("Valid until", p.valid_until.clone()),
        ("Endpoints", p.endpoints.join(", ")),
        ("Signing key", p.signing_key_id.clone()),
        ("Encryption key", p.encryption_key_id.clone()),
        ("Outbox", p.outbox.to_string()),
        (
            "Last error",
            p.last_error.clone().unwrap_or_else(|| "-".into()),
        ),
    ])
}

pub fn remove(data_dir: &Path, agency: AgencyId, json: bool) -> Result<()> {
    let p = call(data_dir, PeerRemove { agency })?;
    if json {
        return output::json(&p);
    }
    output::line(format_args!(
        "Removed partner {} ({})",
        p.agency, p.display_name
    ))
}

pub fn retry(data_dir: &Path, agency: AgencyId, json: bool) -> Result<()> {
    let r = call(data_dir, liaison_node::edge::admin::PeerRetry { agency })?;
    if json {
        return output::json(&r);
    }
    output::line(format_args!(
        "Retrying {} now ({} bulletins queued); `liaison status` shows how it goes",
        r.agency, r.queued
    ))
}
