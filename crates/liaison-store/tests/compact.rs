//! Compaction gives back the space of erased bodies without touching the chain, and a
//! crash in the middle of its swap loses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;

use liaison_core::{BulletinId, UnixMillis};
use liaison_store::{Effect, EntryKind, Log, LogOptions, NewEntry, VerifyOptions};

const EVERYTHING: VerifyOptions = VerifyOptions {
    since_checkpoint: false,
    indexes: true,
};

fn open(dir: &Path) -> Log {
    Log::open(dir, LogOptions::default()).unwrap()
}

/// 600 entries with 12 KiB inline bodies; all but every tenth erased.
fn fill_and_erase(dir: &Path) -> liaison_store::Head {
    let log = open(dir);
    for chunk in 0..6u64 {
        let entries = (0..100u64)
            .map(|i| {
                let n = chunk * 100 + i;
                NewEntry::new(EntryKind::Received, vec![(n % 251) as u8; 12 * 1024])
                    .about_bulletin(BulletinId::new(UnixMillis(1_795_000_000_000 + n as i64)))
            })
            .collect();
        log.submit(entries).wait().unwrap();
    }
    for chunk in (1..=600u64).collect::<Vec<_>>().chunks(50) {
        let recalls = chunk
            .iter()
            .filter(|seq| *seq % 10 != 0)
            .map(|seq| {
                NewEntry::new(EntryKind::Recall, &b"recalled"[..])
                    .with_effect(Effect::EraseBody { seq: *seq })
            })
            .collect();
        log.submit(recalls).wait().unwrap();
    }
    log.head()
}

#[test]
fn compaction_gives_back_erased_space_and_keeps_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let head = fill_and_erase(dir.path());
    let before = liaison_store::durability::dir_size(&dir.path().join("sled"));
    let report = Log::compact(dir.path()).unwrap();
    let after = liaison_store::durability::dir_size(&dir.path().join("sled"));
    assert_eq!(report.before_bytes, before);
    assert_eq!(report.after_bytes, after);
    assert!(
        after * 3 < before,
        "7 MiB of bodies were erased: {before} bytes before, {after} after"
    );
    assert!(!dir.path().join("sled.compacting").exists());
    assert!(!dir.path().join("sled.old").exists());

    let log = open(dir.path());
    assert_eq!(log.head(), head, "the same chain, to the same hash");
    let report = log.verify(&[], EVERYTHING, &mut |_| {}).unwrap();
    assert_eq!(report.entries, head.seq);
    let kept = log.get(10).unwrap().unwrap();
    assert_eq!(log.body(&kept).unwrap().unwrap(), vec![9u8; 12 * 1024]);
    let erased = log.get(11).unwrap().unwrap();
    assert!(log.body(&erased).unwrap().is_none(), "erased stays erased");
}

#[test]
fn a_compaction_cut_short_is_rolled_back_or_finished_when_the_log_opens() {
    let dir = tempfile::tempdir().unwrap();
    let head = fill_and_erase(dir.path());
    let (live, old, fresh) = (
        dir.path().join("sled"),
        dir.path().join("sled.old"),
        dir.path().join("sled.compacting"),
    );
    // Cut between the two renames: the old files are aside, the copy not in place.
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(fresh.join("db"), b"half a copy").unwrap();
    std::fs::rename(&live, &old).unwrap();
    {
        let log = open(dir.path());
        assert_eq!(log.head(), head);
        log.verify(&[], EVERYTHING, &mut |_| {}).unwrap();
    }
    assert!(!old.exists() && !fresh.exists());
    // Cut after the swap, before the old files were removed.
    Log::compact(dir.path()).unwrap();
    std::fs::create_dir_all(old.join("leftover")).unwrap();
    let log = open(dir.path());
    assert_eq!(log.head(), head);
    assert!(!old.exists());
}

#[test]
fn compaction_refuses_a_log_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    log.append(NewEntry::new(EntryKind::NodeEvent, &b"started"[..]))
        .unwrap();
    let err = Log::compact(dir.path()).unwrap_err();
    assert!(matches!(err, liaison_store::Error::Locked(_)), "{err}");
    drop(log);
    assert_eq!(open(dir.path()).head().seq, 1);
}
