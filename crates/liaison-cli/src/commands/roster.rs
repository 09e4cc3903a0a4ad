//! `liaison roster create | sign | show | import | list`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use liaison_node::edge::admin::{RosterImport, RosterList, RosterSign};
use liaison_node::ops::roster::{self, RosterSpec, RosterView};

use super::call;
use crate::output;

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn print_roster(view: &RosterView) -> Result<()> {
    output::fields(&[
        ("Operation", view.operation.clone()),
        ("Version", view.version.to_string()),
        ("Coordinator", view.coordinator.clone()),
        (
            "Coordinator fingerprint",
            view.coordinator_fingerprint
                .clone()
                .unwrap_or_else(|| "(draft: not signed yet)".into()),
        ),
        ("Issued", view.issued.clone()),
        ("Expires", view.expires.clone()),
        ("Members", view.members.len().to_string()),
    ])?;
    let rows: Vec<Vec<String>> = view
        .members
        .iter()
        .map(|m| {
            vec![
                m.agency.clone(),
                m.fingerprint.clone(),
                m.endpoints.join(","),
                if m.bundle { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    output::table(&["AGENCY", "FINGERPRINT", "ENDPOINTS", "BUNDLE"], &rows)
}

pub fn create(spec: RosterSpec, bundles: &[PathBuf], out: &Path, json: bool) -> Result<()> {
    let bundles = bundles
        .iter()
        .map(|p| Ok((p.display().to_string(), read(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let draft = roster::roster_create(spec, bundles)?;
    write(out, &draft)?;
    let view = roster::roster_show(&draft)?;
    if json {
        return output::json(&view);
    }
    print_roster(&view)?;
    output::line(format_args!(
        "Draft written to {}. Check each fingerprint with its agency, then sign it: liaison roster sign {} --out FILE --data-dir DIR",
        out.display(),
        out.display()
    ))
}

pub fn sign(data_dir: &Path, draft: &Path, out: &Path, json: bool) -> Result<()> {
    let signed = call(
        data_dir,
        RosterSign {
            draft_base64: data_encoding::BASE64.encode(&read(draft)?),
        },
    )?;
    let signed = data_encoding::BASE64
        .decode(signed.as_bytes())
        .context("the node's reply is not base64")?;
    write(out, &signed)?;
    let view = roster::roster_show(&signed)?;
    if json {
        return output::json(&view);
    }
    output::line(format_args!(
        "Signed roster {} version {} written to {}: {} members. Members import it with --fingerprint {}",
        view.operation,
        view.version,
        out.display(),
        view.members.len(),
        view.coordinator_fingerprint.clone().unwrap_or_default()
    ))
}

pub fn show(file: &Path, json: bool) -> Result<()> {
    let view = roster::roster_show(&read(file)?)
        .with_context(|| format!("{} is not a valid roster", file.display()))?;
    if json {
        return output::json(&view);
    }
    print_roster(&view)
}

pub fn import(data_dir: &Path, file: &Path, fingerprint: String, json: bool) -> Result<()> {
    let view = call(
        data_dir,
        RosterImport {
            roster_base64: data_encoding::BASE64.encode(&read(file)?),
            fingerprint,
        },
    )?;
    if json {
        return output::json(&view);
    }
    output::line(format_args!(
        "Imported roster {} version {} from {}.",
        view.roster.operation, view.roster.version, view.roster.coordinator
    ))?;
    for (label, list) in [
        ("Added", &view.added),
        ("Updated", &view.updated),
        ("Retired", &view.retired),
    ] {
        if !list.is_empty() {
            output::line(format_args!(
                "{label} ({}): {}",
                list.len(),
                list.join(", ")
            ))?;
        }
    }
    for note in &view.kept {
        output::line(format_args!("Kept: {note}"))?;
    }
    output::line(format_args!("Policy {} is in force.", view.policy_version))
}

pub fn list(data_dir: &Path, json: bool) -> Result<()> {
    let rosters = call(data_dir, RosterList {})?;
    if json {
        return output::json(&rosters);
    }
    if rosters.is_empty() {
        return output::line(format_args!(
            "No roster imported. Import one with `liaison roster import FILE --fingerprint FP`."
        ));
    }
    let rows: Vec<Vec<String>> = rosters
        .iter()
        .map(|r| {
            vec![
                r.operation.clone(),
                r.version.to_string(),
                r.coordinator.clone(),
                r.members.len().to_string(),
                r.managed.len().to_string(),
                if r.expired {
                    format!("{} (EXPIRED)", r.expires)
                } else {
                    r.expires.clone()
                },
            ]
        })
        .collect();
    output::table(
        &[
            "OPERATION",
            "VERSION",
            "COORDINATOR",
            "MEMBERS",
            "ADDED HERE",
            "EXPIRES",
        ],
        &rows,
    )
}
