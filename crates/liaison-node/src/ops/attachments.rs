//! Attachments sent beside their envelopes (`liaison_core::attachment`): the sender
//! seals a file in chunks into the store's staging directory (the CLI does it, so the
//! file never crosses the admin socket or sits in memory), publishing installs it under
//! the bulletin, every delivery pushes it before the envelope, a receiver accepts the
//! envelope only when every file it names is in place with the digest its signed
//! content gives, and erasure takes the files with the payload.

use std::path::PathBuf;
use std::time::Duration;

use liaison_core::attachment::{self, Streamed};
use liaison_core::{BulletinContent, BulletinId};

use crate::error::{Error, Result};
use crate::node::state::NodeState;

/// How long a file a partner pushed may wait for the envelope that names it, and a
/// half-written staging file for its writer.
pub const UNCLAIMED_GRACE: Duration = Duration::from_secs(60 * 60);
/// Most bytes of pushed files whose envelopes have not arrived, from all partners
/// together: what a misbehaving partner can make this node keep for an hour.
pub const UNCLAIMED_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// The name in the staging directory of a file sealed for sending and checked, waiting
/// for its bulletin: the ciphertext digest.
fn ready_name(streamed: &Streamed) -> String {
    format!("{}.ready", streamed.digest_hex())
}

fn staging_dir(state: &NodeState) -> Result<PathBuf> {
    Ok(state.log.attachments()?.staging_dir())
}

/// Seals `input` under a fresh key into the staging directory of the node in
/// `data_dir`, one 64 KiB chunk in memory at a time: what `liaison bulletin send
/// --attach` does with a large file before it asks the node to send it (the file never
/// crosses the admin socket).
///
/// Errors: reading, writing or the random source fails, or the input is over 1 GiB.
pub fn stage(
    data_dir: &std::path::Path,
    input: &mut impl std::io::Read,
) -> Result<crate::ops::bulletins::views::StagedFile> {
    let store = liaison_store::Attachments::open(&crate::node::data_dir::log_dir(data_dir))?;
    let (staged, file) = store.stage()?;
    let mut key = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key)
        .map_err(|_| Error::Internal("the system's random source failed".into()))?;
    let mut output = std::io::BufWriter::new(file);
    let sealed = match attachment::seal(key, input, &mut output) {
        Ok(s) => s,
        Err(e) => {
            drop(output);
            let _ = std::fs::remove_file(&staged);
            return Err(Error::InvalidRequest(e.to_string()));
        }
    };
    Ok(crate::ops::bulletins::views::StagedFile {
        file: staged
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size: sealed.size,
        content_key_hex: data_encoding::HEXLOWER.encode(&sealed.key),
        ciphertext_sha256_hex: sealed.digest_hex(),
    })
}

/// Checks a file the CLI sealed into the staging directory (`file` is its bare name)
/// against what it says it is, and sets it aside for publishing.
///
/// Errors: a name that is not a staging file, a missing file, or a length or digest
/// that differs.
pub fn accept_staged(state: &NodeState, file: &str, streamed: &Streamed) -> Result<()> {
    let plain_name = file.len() == 37
        && file.ends_with(".part")
        && file[..32].bytes().all(|b| b.is_ascii_hexdigit());
    if !plain_name {
        return Err(Error::InvalidRequest(format!(
            "{file:?} is not a staged attachment file"
        )));
    }
    let dir = staging_dir(state)?;
    let path = dir.join(file);
    let mut input =
        std::fs::File::open(&path).map_err(Error::io("open staged attachment", &path))?;
    let (digest, len) = attachment::digest_of(&mut input, streamed.ciphertext_len())
        .map_err(|e| Error::InvalidRequest(format!("staged attachment {file}: {e}")))?;
    if len != streamed.ciphertext_len() || digest != streamed.ciphertext_sha256 {
        return Err(Error::InvalidRequest(format!(
            "staged attachment {file} is not the file described (length or digest differ)"
        )));
    }
    let ready = dir.join(ready_name(streamed));
    std::fs::rename(&path, &ready).map_err(Error::io("set aside staged attachment", &ready))
}

/// Checks that every attachment of `content` sent beside the envelope has its sealed
/// file waiting in staging (before anything is signed).
///
/// Errors: one does not (named): the client API takes attachments inside the envelope
/// only, and the CLI stages its files first.
pub fn check_staged(state: &NodeState, content: &BulletinContent) -> Result<()> {
    let dir = staging_dir(state)?;
    for (i, a) in content.attachments.iter().enumerate() {
        if let Some(streamed) = &a.streamed
            && !dir.join(ready_name(streamed)).is_file()
        {
            return Err(Error::InvalidRequest(format!(
                "attachment {} ({}) is to travel beside the envelope, but no sealed file \
                 with its digest was staged (`liaison bulletin send --attach` stages \
                 files; the client API carries attachments inside the envelope)",
                i + 1,
                a.file_name
            )));
        }
    }
    Ok(())
}

/// Installs the staged files of `content` under `bulletin`, durably, before the
/// publish that names them is appended.
///
/// Errors: a file operation fails.
pub fn install_staged(
    state: &NodeState,
    bulletin: &BulletinId,
    content: &BulletinContent,
) -> Result<()> {
    let store = state.log.attachments()?;
    let dir = staging_dir(state)?;
    for (i, a) in content.attachments.iter().enumerate() {
        if let Some(streamed) = &a.streamed {
            store.install(
                &dir.join(ready_name(streamed)),
                bulletin,
                i,
                &streamed.digest_hex(),
            )?;
        }
    }
    Ok(())
}

/// The attachments of `content` sent beside the envelope that are not in place with
/// the digest the content names, as a sentence; `None` when all are.
///
/// Errors: the store cannot be opened.
pub fn missing(
    state: &NodeState,
    bulletin: &BulletinId,
    content: &BulletinContent,
) -> Result<Option<String>> {
    let store = state.log.attachments()?;
    let missing: Vec<String> = content
        .attachments
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let streamed = a.streamed.as_ref()?;
            (!store.has(bulletin, i, &streamed.digest_hex())).then(|| (i + 1).to_string())
        })
        .collect();
    Ok((!missing.is_empty()).then(|| {
        format!(
            "attachment(s) {} travel beside the envelope and have not been pushed whole \
             with the digest the content names",
            missing.join(", ")
        )
    }))
}

/// Where attachment `index` (from 0) of `bulletin` is, if it travels beside the
/// envelope and is in place.
///
/// Errors: the store cannot be opened.
pub fn file_of(
    state: &NodeState,
    bulletin: &BulletinId,
    index: usize,
    streamed: &Streamed,
) -> Result<Option<PathBuf>> {
    let store = state.log.attachments()?;
    let path = store.path(bulletin, index, &streamed.digest_hex());
    Ok(path.is_file().then_some(path))
}

/// Deletes the files of a bulletin whose payload was erased (recall, retention).
///
/// Errors: a file cannot be deleted.
pub fn erase(state: &NodeState, bulletin: &BulletinId) -> Result<usize> {
    Ok(state.log.attachments()?.erase(bulletin)?)
}

/// The periodic sweep: files of bulletins this node no longer holds (erased) go at
/// once; files of bulletins it never received (a push whose envelope never came) and
/// half-written staging files go after [`UNCLAIMED_GRACE`]. Returns how many went.
///
/// Errors: the store cannot be read.
pub fn sweep(state: &NodeState) -> Result<usize> {
    sweep_after(state, UNCLAIMED_GRACE)
}

/// [`sweep`] with another grace period for unclaimed files.
///
/// Errors: the store cannot be read.
pub fn sweep_after(state: &NodeState, grace: Duration) -> Result<usize> {
    let store = state.log.attachments()?;
    let erased = store.collect_garbage(|id| !erased(state, id), Duration::ZERO)?;
    let unclaimed = store.collect_garbage(|id| held(state, id), grace)?;
    Ok(erased + unclaimed)
}

/// Whether this node holds `bulletin` with its payload.
fn held(state: &NodeState, bulletin: &BulletinId) -> bool {
    crate::ops::bulletins::find(state, bulletin).is_ok()
}

/// Whether this node's log knows `bulletin` but no longer holds its payload.
fn erased(state: &NodeState, bulletin: &BulletinId) -> bool {
    state
        .log
        .entries_for_bulletin(bulletin)
        .is_ok_and(|entries| !entries.is_empty())
        && !held(state, bulletin)
}

/// Bytes of pushed files whose envelopes have not arrived, and of staging files.
///
/// Errors: the store cannot be read.
pub fn unclaimed_bytes(state: &NodeState) -> Result<u64> {
    Ok(state
        .log
        .attachments()?
        .unclaimed_bytes(|id| held(state, id))?)
}
