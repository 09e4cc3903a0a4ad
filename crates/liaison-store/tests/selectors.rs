//! The selector index: entries found by tag, gone with an erased body, kept by a
//! reindex, and never in the way of `log verify --indexes`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use liaison_core::{BulletinId, UnixMillis};
use liaison_store::{Effect, EntryKind, Log, LogOptions, NewEntry, VerifyOptions};

#[test]
fn entries_are_found_by_tag_and_leave_the_index_with_their_body() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    let (shared, only_first) = ([7u8; 16], [9u8; 16]);
    let received = |n: i64, tags: Vec<[u8; 16]>| {
        NewEntry::new(EntryKind::Received, vec![n as u8; 64])
            .about_bulletin(BulletinId::new(UnixMillis(1_795_000_000_000 + n)))
            .with_effect(Effect::IndexSelectors(tags))
    };
    let first = log
        .append(received(1, vec![shared, only_first]))
        .unwrap()
        .seq;
    let second = log.append(received(2, vec![shared])).unwrap().seq;
    assert_eq!(log.selector_entries(&shared, 10).unwrap(), [first, second]);
    assert_eq!(log.selector_entries(&only_first, 10).unwrap(), [first]);
    assert_eq!(log.selector_tags(first).unwrap(), [shared, only_first]);
    assert_eq!(log.selector_entries(&shared, 1).unwrap(), [first]);

    // Erased: gone from every selector it carried.
    log.append(
        NewEntry::new(EntryKind::Recall, &b"recalled"[..])
            .with_effect(Effect::EraseBody { seq: first }),
    )
    .unwrap();
    assert_eq!(log.selector_entries(&shared, 10).unwrap(), [second]);
    assert!(log.selector_entries(&only_first, 10).unwrap().is_empty());
    assert!(log.selector_tags(first).unwrap().is_empty());

    // The derived indexes still check, and a reindex keeps the selector rows.
    log.verify(
        &[],
        VerifyOptions {
            since_checkpoint: false,
            indexes: true,
        },
        &mut |_| {},
    )
    .unwrap();
    drop(log);
    Log::reindex(dir.path(), None).unwrap();
    let log = Log::open(dir.path(), LogOptions::default()).unwrap();
    assert_eq!(log.selector_entries(&shared, 10).unwrap(), [second]);
}
