//! Attachments sent beside their envelopes ([`liaison_core::attachment`]): one file of
//! ciphertext each, `attachments/<bulletin>/<index>.<ciphertext digest>` in the log
//! directory. One directory per bulletin, so finding a bulletin's files (every delivery
//! does) is one lookup that fails at once for the many bulletins without any. A file is written under `attachments/staging/`,
//! fsynced, and renamed into place (the directory fsynced), so a file in place is
//! always whole. The digest in the name is the one the signed content names, so a file
//! pushed by one holder can never stand in for another's.
//!
//! Files are outside the hash chain: the chain holds the envelope, whose signed content
//! holds each file's digest.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use liaison_core::BulletinId;

use crate::durability::fsync_dir;
use crate::error::{Error, Result};

/// The directory inside the log directory.
pub const ATTACHMENTS_DIR: &str = "attachments";
const STAGING_DIR: &str = "staging";

/// One attachment file in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttachment {
    /// The attachment's index in the bulletin's content, from 0.
    pub index: usize,
    /// SHA-256 of its ciphertext, hex.
    pub digest_hex: String,
    /// Ciphertext bytes.
    pub len: u64,
    /// Its path.
    pub path: PathBuf,
}

/// The attachment files of one log.
#[derive(Debug, Clone)]
pub struct Attachments {
    dir: PathBuf,
}

impl Attachments {
    /// The attachment store of the log in `log_dir`, created if absent.
    ///
    /// Errors: the directories cannot be created.
    pub fn open(log_dir: &Path) -> Result<Self> {
        let dir = log_dir.join(ATTACHMENTS_DIR);
        std::fs::create_dir_all(dir.join(STAGING_DIR))
            .map_err(Error::io(format!("create {}", dir.display())))?;
        Ok(Self { dir })
    }

    fn bulletin_dir(&self, bulletin: &BulletinId) -> PathBuf {
        self.dir.join(bulletin.to_string())
    }

    /// Where attachment `index` of `bulletin` with this digest is (or would be).
    pub fn path(&self, bulletin: &BulletinId, index: usize, digest_hex: &str) -> PathBuf {
        self.bulletin_dir(bulletin)
            .join(format!("{index}.{digest_hex}"))
    }

    /// The staging directory: files being written, and files sealed for sending that
    /// wait for their bulletin.
    pub fn staging_dir(&self) -> PathBuf {
        self.dir.join(STAGING_DIR)
    }

    /// Whether that file is in place.
    pub fn has(&self, bulletin: &BulletinId, index: usize, digest_hex: &str) -> bool {
        self.path(bulletin, index, digest_hex).is_file()
    }

    /// A new empty file in the staging directory, for writing one attachment.
    ///
    /// Errors: the file cannot be created.
    pub fn stage(&self) -> Result<(PathBuf, File)> {
        let random = liaison_core::crypto::random_secret(&mut liaison_core::crypto::SystemRng);
        let name: String = random[..16].iter().map(|b| format!("{b:02x}")).collect();
        let path = self.dir.join(STAGING_DIR).join(format!("{name}.part"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(Error::io(format!("create {}", path.display())))?;
        Ok((path, file))
    }

    /// Makes the staged file `staged` attachment `index` of `bulletin`, durably: fsync,
    /// rename into place, fsync the directory. An identical file already in place wins.
    ///
    /// Errors: a file operation fails.
    pub fn install(
        &self,
        staged: &Path,
        bulletin: &BulletinId,
        index: usize,
        digest_hex: &str,
    ) -> Result<PathBuf> {
        let target = self.path(bulletin, index, digest_hex);
        if target.is_file() {
            let _ = std::fs::remove_file(staged);
            return Ok(target);
        }
        File::open(staged)
            .and_then(|f| f.sync_all())
            .map_err(Error::io(format!("fsync {}", staged.display())))?;
        let dir = self.bulletin_dir(bulletin);
        if !dir.is_dir() {
            std::fs::create_dir(&dir).map_err(Error::io(format!("create {}", dir.display())))?;
            fsync_dir(&self.dir)?;
        }
        std::fs::rename(staged, &target)
            .map_err(Error::io(format!("install {}", target.display())))?;
        fsync_dir(&dir)?;
        Ok(target)
    }

    /// The files in place for `bulletin`, by index.
    ///
    /// Errors: the directory cannot be read.
    pub fn of_bulletin(&self, bulletin: &BulletinId) -> Result<Vec<StoredAttachment>> {
        let dir = self.bulletin_dir(bulletin);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        for (name, path, len) in list(&dir)? {
            let Some((index, digest_hex)) = name.split_once('.') else {
                continue;
            };
            if let Ok(index) = index.parse() {
                found.push(StoredAttachment {
                    index,
                    digest_hex: digest_hex.to_owned(),
                    len,
                    path,
                });
            }
        }
        found.sort_by_key(|a| a.index);
        Ok(found)
    }

    /// Deletes every file of `bulletin` (erasure: recall, retention); returns how many.
    ///
    /// Errors: a file cannot be deleted.
    pub fn erase(&self, bulletin: &BulletinId) -> Result<usize> {
        let files = self.of_bulletin(bulletin)?;
        for file in &files {
            std::fs::remove_file(&file.path)
                .map_err(Error::io(format!("erase {}", file.path.display())))?;
        }
        let dir = self.bulletin_dir(bulletin);
        if dir.is_dir() {
            std::fs::remove_dir(&dir).map_err(Error::io(format!("erase {}", dir.display())))?;
            fsync_dir(&self.dir)?;
        }
        Ok(files.len())
    }

    /// Bytes in place for bulletins `known` does not recognise (pushed by a partner whose
    /// envelope has not arrived, or never will), and in staging.
    ///
    /// Errors: the directory cannot be read.
    pub fn unclaimed_bytes(&self, known: impl Fn(&BulletinId) -> bool) -> Result<u64> {
        let mut total = 0;
        for (bulletin, dir) in self.bulletins()? {
            if !known(&bulletin) {
                total += list(&dir)?.iter().map(|(_, _, len)| len).sum::<u64>();
            }
        }
        for (_, _, len) in list(&self.dir.join(STAGING_DIR))? {
            total += len;
        }
        Ok(total)
    }

    /// Deletes files older than `age` that `known` does not recognise, and staged
    /// files older than `age` (a push or upload that never finished); returns how many.
    ///
    /// Errors: the directory cannot be read.
    pub fn collect_garbage(
        &self,
        known: impl Fn(&BulletinId) -> bool,
        age: Duration,
    ) -> Result<usize> {
        let old = |path: &Path| {
            std::fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|elapsed| elapsed > age)
        };
        let mut removed = 0;
        for (bulletin, dir) in self.bulletins()? {
            if known(&bulletin) {
                continue;
            }
            for (_, path, _) in list(&dir)? {
                if old(&path) {
                    removed += usize::from(std::fs::remove_file(&path).is_ok());
                }
            }
            // Gone once empty (fails, harmlessly, while a file is left).
            let _ = std::fs::remove_dir(&dir);
        }
        for (_, path, _) in list(&self.dir.join(STAGING_DIR))? {
            if old(&path) {
                removed += usize::from(std::fs::remove_file(&path).is_ok());
            }
        }
        Ok(removed)
    }

    /// The bulletins with a directory here, and the directories.
    fn bulletins(&self) -> Result<Vec<(BulletinId, PathBuf)>> {
        let read = std::fs::read_dir(&self.dir)
            .map_err(Error::io(format!("read {}", self.dir.display())))?;
        Ok(read
            .flatten()
            .filter_map(|e| {
                let bulletin = e.file_name().to_str()?.parse().ok()?;
                e.path().is_dir().then(|| (bulletin, e.path()))
            })
            .collect())
    }
}

/// The files (not directories) in `dir`: name, path, length.
fn list(dir: &Path) -> Result<Vec<(String, PathBuf, u64)>> {
    let read = std::fs::read_dir(dir).map_err(Error::io(format!("read {}", dir.display())))?;
    let mut files = Vec::new();
    for entry in read.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            files.push((
                entry.file_name().to_string_lossy().into_owned(),
                entry.path(),
                meta.len(),
            ));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn staged_files_install_whole_list_by_bulletin_and_erase() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Attachments::open(tmp.path()).unwrap();
        let (a, b): (BulletinId, BulletinId) = (
            "00000000-0000-7000-8000-000000000001".parse().unwrap(),
            "00000000-0000-7000-8000-000000000002".parse().unwrap(),
        );
        for (bulletin, index) in [(a, 0), (a, 1), (b, 0)] {
            let (path, mut file) = store.stage().unwrap();
            file.write_all(b"ciphertext").unwrap();
            store.install(&path, &bulletin, index, "ab12").unwrap();
            assert!(!path.exists());
        }
        assert!(store.has(&a, 1, "ab12"));
        assert!(!store.has(&a, 1, "ab13"));
        let of_a = store.of_bulletin(&a).unwrap();
        assert_eq!(of_a.iter().map(|f| f.index).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(of_a[0].len, 10);
        assert_eq!(store.unclaimed_bytes(|id| *id == a).unwrap(), 10);
        assert_eq!(store.erase(&a).unwrap(), 2);
        assert!(store.of_bulletin(&a).unwrap().is_empty());
        assert_eq!(store.of_bulletin(&b).unwrap().len(), 1);
        // Nothing is old yet; with no age limit, the unknown bulletin's file goes.
        assert_eq!(
            store
                .collect_garbage(|_| false, Duration::from_secs(60))
                .unwrap(),
            0
        );
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            store
                .collect_garbage(|_| false, Duration::from_millis(1))
                .unwrap(),
            1
        );
    }
}
