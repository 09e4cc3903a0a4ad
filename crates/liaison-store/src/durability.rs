//! Making sled 0.34 keep what it acknowledged (see the crate docs for the why).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Name of the directory holding bodies larger than [`crate::INLINE_BODY_LIMIT`].
pub const BODIES_DIR: &str = "bodies";

/// The sled directory inside the log directory.
pub const SLED_DIR: &str = "sled";

/// fsyncs a directory, so that files created or renamed in it survive a crash.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io(format!("fsync directory {}", dir.display())))
}

/// Finishes what sled's flush leaves undone: `fdatasync` on its data file, and fsync
/// of any blob file sled wrote (with their directory).
pub struct SledSync {
    data_file: File,
    blobs_dir: PathBuf,
    synced_blobs: HashSet<OsString>,
}

impl SledSync {
    /// Opens sled's data file in `sled_dir` for syncing.
    pub fn new(sled_dir: &Path) -> Result<Self> {
        let path = sled_dir.join("db");
        let data_file = OpenOptions::new()
            .read(true)
            .open(&path)
            .map_err(Error::io(format!("open {}", path.display())))?;
        Ok(Self {
            data_file,
            blobs_dir: sled_dir.join("blobs"),
            synced_blobs: HashSet::new(),
        })
    }

    /// Call after every `Db::flush`.
    pub fn after_flush(&mut self) -> Result<()> {
        self.data_file
            .sync_data()
            .map_err(Error::io("fdatasync sled data file"))?;
        // Blobs should not occur (bodies above the inline limit never reach sled), but a
        // large index page could still become one; sled never fsyncs them.
        let Ok(dir) = std::fs::read_dir(&self.blobs_dir) else {
            return Ok(());
        };
        let mut new_blob = false;
        for entry in dir.flatten() {
            let name = entry.file_name();
            if self.synced_blobs.contains(&name) {
                continue;
            }
            File::open(entry.path())
                .and_then(|f| f.sync_all())
                .map_err(Error::io(format!(
                    "fsync sled blob {}",
                    entry.path().display()
                )))?;
            self.synced_blobs.insert(name);
            new_blob = true;
        }
        if new_blob {
            fsync_dir(&self.blobs_dir)?;
        }
        Ok(())
    }
}

/// Path of the external body with this digest.
pub fn body_path(log_dir: &Path, sha256: &[u8; 32]) -> PathBuf {
    log_dir
        .join(BODIES_DIR)
        .join(data_encoding::HEXLOWER.encode(sha256))
}

/// Writes an external body durably: temporary file, fsync, rename, fsync directory.
/// Bodies are content-addressed, so an existing file with the right length is kept.
/// Returns whether a new file was written (the caller fsyncs the directory once per
/// batch).
pub fn write_body(log_dir: &Path, sha256: &[u8; 32], body: &[u8]) -> Result<bool> {
    let path = body_path(log_dir, sha256);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() == body.len() as u64) {
        return Ok(false);
    }
    let tmp = path.with_extension("tmp");
    let written = File::create(&tmp)
        .and_then(|mut file| file.write_all(body).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        // A full disk must not leave half-written files behind.
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(format!("write {}", path.display()))(e));
    }
    Ok(true)
}

/// Whether the log's directory takes writes again: writes, syncs and removes a small
/// probe file (after a storage failure, before sled is reopened).
///
/// Errors: [`Error::Io`] naming what failed.
pub fn probe_writable(log_dir: &Path) -> Result<()> {
    let probe = log_dir.join("write-probe.tmp");
    let written = File::create(&probe)
        .and_then(|mut file| file.write_all(&[0u8; 4096]).and_then(|()| file.sync_all()));
    let _ = std::fs::remove_file(&probe);
    written.map_err(Error::io(format!(
        "write a probe file in {}",
        log_dir.display()
    )))
}

/// Copies directory `from` to `to` (created), recursively.
///
/// Errors: [`Error::Io`] naming the file.
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(Error::io(format!("create {}", to.display())))?;
    let entries = std::fs::read_dir(from).map_err(Error::io(format!("read {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("read {}", from.display())))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            copy_dir(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(Error::io(format!(
                "copy {} to {}",
                source.display(),
                target.display()
            )))?;
        }
    }
    Ok(())
}

/// Total size of the files under `path` (0 for what cannot be read).
pub fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => dir_size(&e.path()),
                _ => e.metadata().map_or(0, |m| m.len()),
            })
            .sum()
    })
}
