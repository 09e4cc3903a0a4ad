//! `liaison client issue | list | revoke` and `liaison officer add | list | remove`:
//! who may call the node besides its operator.

use std::path::Path;

use anyhow::{Context as _, Result};
use liaison_node::edge::admin::{
    ClientIssue, ClientList, ClientRevoke, OfficerAdd, OfficerCertificate, OfficerList,
    OfficerRemove,
};
use liaison_node::trust::clients::Role;

use super::call;
use crate::output;

pub fn issue(
    data_dir: &Path,
    name: String,
    roles: Vec<Role>,
    out: &Path,
    json: bool,
) -> Result<()> {
    let files = ["client.key", "client.pem", "ca.pem"];
    refuse_existing(out, &files)?;
    let issued = call(data_dir, ClientIssue { name, roles })?;
    write_identity(
        out,
        &files,
        [
            &issued.private_key_pem,
            &issued.certificate_pem,
            &issued.ca_pem,
        ],
    )?;
    if json {
        return output::json(&issued.record);
    }
    output::line(format_args!(
        "Issued client {} with roles {} (certificate SHA-256 {})",
        issued.record.name,
        role_list(&issued.record.roles),
        issued.record.certificate_sha256
    ))?;
    output::line(format_args!(
        "Wrote {}/client.key (keep it secret), client.pem and ca.pem",
        out.display()
    ))
}

/// Refuses an `--out` directory that already holds one of `files`.
fn refuse_existing(out: &Path, files: &[&str]) -> Result<()> {
    for file in files {
        if out.join(file).exists() {
            anyhow::bail!(
                "{} already exists; choose an empty --out directory",
                out.join(file).display()
            );
        }
    }
    Ok(())
}

/// Writes a key, its certificate and the CA's certificate (named `files`, in that
/// order) into `out`, the key owner-only.
fn write_identity(out: &Path, files: &[&str; 3], texts: [&str; 3]) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for ((file, text), mode) in files.iter().zip(texts).zip([0o600, 0o644, 0o644]) {
        write_new_file(&out.join(file), text, mode)?;
    }
    Ok(())
}

/// Writes a file that must not exist yet, with `mode`.
fn write_new_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn list(data_dir: &Path, json: bool) -> Result<()> {
    let clients = call(data_dir, ClientList {})?;
    if json {
        return output::json(&clients);
    }
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                role_list(&c.roles),
                c.valid_until.clone(),
                c.certificate_sha256.clone(),
            ]
        })
        .collect();
    output::table(
        &["NAME", "ROLES", "VALID UNTIL", "CERTIFICATE SHA-256"],
        &rows,
    )
}

pub fn revoke(data_dir: &Path, name: String, json: bool) -> Result<()> {
    let record = call(data_dir, ClientRevoke { name })?;
    if json {
        return output::json(&record);
    }
    output::line(format_args!(
        "Revoked client {} (certificate {})",
        record.name, record.certificate_sha256
    ))
}

fn role_list(roles: &[Role]) -> String {
    roles
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

pub fn officer_add(data_dir: &Path, name: String, roles: Vec<Role>, json: bool) -> Result<()> {
    let added = call(data_dir, OfficerAdd { name, roles })?;
    if json {
        return output::json(&added);
    }
    output::line(format_args!(
        "Added officer {} with roles {}. Give them this one-time enrolment link (valid until {}), over a trusted channel:",
        added.name,
        role_list(&added.roles),
        added.expires
    ))?;
    output::line(format_args!("{}", added.enrolment_link))
}

pub fn officer_list(data_dir: &Path, json: bool) -> Result<()> {
    let officers = call(data_dir, OfficerList {})?;
    if json {
        return output::json(&officers);
    }
    let rows: Vec<Vec<String>> = officers
        .iter()
        .map(|o| {
            vec![
                o.name.clone(),
                role_list(&o.roles),
                if o.enrolled { "yes" } else { "not yet" }.to_owned(),
                o.certificate_sha256.as_deref().map_or_else(
                    || "none".to_owned(),
                    |sha| format!("{}…", sha.get(..16).unwrap_or(sha)),
                ),
                o.added_at.clone(),
            ]
        })
        .collect();
    output::table(
        &["NAME", "ROLES", "ENROLLED", "CERTIFICATE", "ADDED"],
        &rows,
    )
}

pub fn officer_certificate(data_dir: &Path, name: String, out: &Path, json: bool) -> Result<()> {
    let files = ["officer.key", "officer.pem", "ca.pem"];
    refuse_existing(out, &files)?;
    let issued = call(data_dir, OfficerCertificate { name })?;
    write_identity(
        out,
        &files,
        [
            &issued.private_key_pem,
            &issued.certificate_pem,
            &issued.ca_pem,
        ],
    )?;
    if json {
        return output::json(&serde_json::json!({
            "name": issued.name,
            "certificate_sha256": issued.certificate_sha256,
            "valid_until": issued.valid_until,
        }));
    }
    output::line(format_args!(
        "Issued officer {} a desk certificate (SHA-256 {}, valid until {}); an earlier one no longer signs in.",
        issued.name, issued.certificate_sha256, issued.valid_until
    ))?;
    output::line(format_args!(
        "Wrote {dir}/officer.key (keep it secret), officer.pem and ca.pem. For a browser:\n  openssl pkcs12 -export -inkey {dir}/officer.key -in {dir}/officer.pem -out {dir}/officer.p12",
        dir = out.display()
    ))
}

pub fn officer_remove(data_dir: &Path, name: String, json: bool) -> Result<()> {
    let removed = call(data_dir, OfficerRemove { name })?;
    if json {
        return output::json(&removed);
    }
    output::line(format_args!("Removed officer {}", removed.name))
}
