//! The indexes: kept in the entry's own batch, exact under erasure and repeated outbox
//! effects, checked against the entries, and rebuilt when wrong or missing.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use liaison_core::{AgencyId, BulletinId, UnixMillis};
use liaison_store::{
    Effect, EntryKind, Error, IndexInput, Indexer, Listing, ListingScope, Log, LogOptions, NewEntry,
};

/// Test bodies say what to list: `origin|tlp|category|filler`.
fn indexer() -> Indexer {
    Indexer(Arc::new(|input: &IndexInput<'_>| {
        if !matches!(input.kind, EntryKind::Published | EntryKind::Received) {
            return None;
        }
        let text = std::str::from_utf8(input.body).ok()?;
        let mut parts = text.split('|');
        Some(Listing {
            origin: parts.next()?.parse().ok()?,
            tlp: parts.next()?.parse().ok()?,
            category: parts.next()?.to_owned(),
            created: UnixMillis(1),
            expires: None,
            thread: None,
            request_due: None,
        })
    }))
}

fn open(dir: &Path) -> Log {
    Log::open(
        dir,
        LogOptions {
            indexer: Some(indexer()),
            ..LogOptions::default()
        },
    )
    .unwrap()
}

fn agency(s: &str) -> AgencyId {
    s.parse().unwrap()
}

fn bulletin(kind: EntryKind, origin: &str, tlp: u8, i: u64) -> NewEntry {
    NewEntry::new(kind, format!("{origin}|{tlp}|cat.{i}|").into_bytes())
        .about_bulletin(BulletinId::new(UnixMillis(1_795_000_000_000 + i as i64)))
}

fn scope(
    origins: &[AgencyId],
    newest_first: bool,
    limit: usize,
    budget: usize,
) -> ListingScope<'_> {
    ListingScope {
        origins,
        after: 0,
        before: u64::MAX,
        newest_first,
        limit,
        budget,
    }
}

fn seqs(
    log: &Log,
    scope: &ListingScope<'_>,
    want: &mut dyn FnMut(&liaison_store::ListingRow) -> bool,
) -> Vec<u64> {
    log.listings(scope, want)
        .unwrap()
        .rows
        .iter()
        .map(|r| r.seq)
        .collect()
}

#[test]
fn listings_filter_merge_origins_and_page_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    // 1..=9: RO, DE, NL in turn; a receipt (not listed) at 10.
    for i in 1..=9u64 {
        let origin = ["RO-DIICOT", "DE-BKA", "NL-NP"][(i as usize - 1) % 3];
        let kind = if origin == "NL-NP" {
            EntryKind::Published
        } else {
            EntryKind::Received
        };
        log.append(bulletin(kind, origin, (i % 5) as u8 + 1, i))
            .unwrap();
    }
    log.append(NewEntry::new(EntryKind::Receipt, &b"r"[..]))
        .unwrap();

    assert_eq!(
        seqs(&log, &scope(&[], false, 100, 100), &mut |_| true),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(
        seqs(&log, &scope(&[], true, 3, 100), &mut |_| true),
        [9, 8, 7]
    );
    let two = [agency("RO-DIICOT"), agency("NL-NP")];
    // One origin's index each, merged in order.
    assert_eq!(
        seqs(&log, &scope(&two, false, 100, 100), &mut |_| true),
        [1, 3, 4, 6, 7, 9]
    );
    assert_eq!(
        seqs(&log, &scope(&two, true, 100, 100), &mut |_| true),
        [9, 7, 6, 4, 3, 1]
    );
    let row = &log
        .listings(&scope(&two, false, 1, 100), &mut |_| true)
        .unwrap()
        .rows[0];
    assert_eq!(row.kind, EntryKind::Received);
    assert_eq!(row.listing.category, "cat.1");
    assert_eq!(row.listing.origin, agency("RO-DIICOT"));

    // A budget bounds the rows examined; the cursor says where to go on.
    let page = log
        .listings(&scope(&[], false, 100, 4), &mut |r| r.seq > 5)
        .unwrap();
    assert!(page.rows.is_empty());
    assert_eq!(page.last, Some(4));
    assert!(!page.exhausted);
    let rest = ListingScope {
        after: 4,
        ..scope(&[], false, 100, 100)
    };
    let page = log.listings(&rest, &mut |r| r.seq > 5).unwrap();
    assert_eq!(page.rows.len(), 4);
    assert!(page.exhausted);
    let before = ListingScope {
        before: 4,
        ..scope(&[], true, 100, 100)
    };
    assert_eq!(seqs(&log, &before, &mut |_| true), [3, 2, 1]);
    log.check_indexes().unwrap();
}

#[test]
fn erased_bulletins_leave_the_lists_and_times_find_entries() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    for i in 1..=3 {
        log.append(bulletin(EntryKind::Received, "DE-BKA", 2, i))
            .unwrap();
    }
    log.append(
        NewEntry::new(EntryKind::Recall, &b"recall"[..]).with_effect(Effect::EraseBody { seq: 2 }),
    )
    .unwrap();
    assert_eq!(
        seqs(&log, &scope(&[], false, 100, 100), &mut |_| true),
        [1, 3]
    );
    assert_eq!(
        seqs(
            &log,
            &scope(&[agency("DE-BKA")], false, 100, 100),
            &mut |_| true
        ),
        [1, 3]
    );
    log.check_indexes().unwrap();

    let times: Vec<UnixMillis> = (1..=4).map(|s| log.get(s).unwrap().unwrap().time).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "entry times never go backwards"
    );
    assert_eq!(log.first_at_or_after(UnixMillis(0)).unwrap(), 1);
    assert_eq!(
        log.first_at_or_after(times[3]).unwrap(),
        times.iter().position(|t| *t == times[3]).unwrap() as u64 + 1
    );
    assert_eq!(
        log.first_at_or_after(UnixMillis(times[3].0 + 1)).unwrap(),
        5
    );
}

#[test]
fn outbox_counts_stay_exact_under_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let de = agency("DE-BKA");
    let queued =
        |i| bulletin(EntryKind::Published, "NL-NP", 1, i).with_effect(Effect::Enqueue(de.clone()));
    let first = log.append(queued(1)).unwrap().seq;
    // Two in one request, then a third in the same group commit as a dequeue.
    log.submit(vec![queued(2), queued(3)]).wait().unwrap();
    let size = |log: &Log| log.outbox_size(&de).unwrap();
    let one = log.get(first).unwrap().unwrap().body_len;
    assert_eq!(size(&log), (3, 3 * one));
    let dequeue = |seq| {
        NewEntry::new(EntryKind::Receipt, &b"r"[..]).with_effect(Effect::Dequeue {
            partner: de.clone(),
            published_seq: seq,
        })
    };
    log.append(dequeue(first)).unwrap();
    // A second dequeue of the same entry, and a dequeue of nothing, change nothing.
    log.submit(vec![dequeue(first), dequeue(99)])
        .wait()
        .unwrap();
    assert_eq!(size(&log), (2, 2 * one));
    // Requeued twice (a partner lost it twice): counted once.
    let requeue = NewEntry::new(EntryKind::PeerChange, &b"lost"[..]).with_effect(Effect::Requeue {
        partner: de.clone(),
        queued_seq: first,
    });
    log.submit(vec![requeue.clone(), requeue]).wait().unwrap();
    assert_eq!(size(&log), (3, 3 * one));
    assert_eq!(log.outbox_len(&de), 3);
    log.check_indexes().unwrap();
    for seq in log.outbox(&de, 0, 10).unwrap() {
        log.append(dequeue(seq)).unwrap();
    }
    assert_eq!(size(&log), (0, 0));
    log.check_indexes().unwrap();
}

#[test]
fn a_damaged_index_is_found_and_rebuilt_and_an_old_log_is_reindexed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        for i in 1..=20 {
            let origin = if i % 2 == 0 { "DE-BKA" } else { "RO-DIICOT" };
            log.append(
                bulletin(EntryKind::Received, origin, 3, i)
                    .about_agency(agency(origin))
                    .with_effect(Effect::Enqueue(agency("FR-OCRTEH"))),
            )
            .unwrap();
        }
        log.check_indexes().unwrap();
    }
    // Damage: a listing row goes; then an outbox count is wrong.
    raw(dir.path(), |db| {
        let key: Vec<u8> = [&b"l"[..], &7u64.to_be_bytes()].concat();
        assert!(
            db.open_tree("listings")
                .unwrap()
                .remove(key)
                .unwrap()
                .is_some()
        );
    });
    {
        let log = open(dir.path());
        let err = log.check_indexes().unwrap_err();
        assert!(
            err.to_string().contains("the indexes do not match"),
            "{err}"
        );
    }
    Log::reindex(dir.path(), Some(&indexer())).unwrap();
    raw(dir.path(), |db| {
        let log = db.open_tree("log").unwrap();
        assert!(
            log.insert(b"OFR-OCRTEH", [0u8; 16].to_vec())
                .unwrap()
                .is_some()
        );
    });
    {
        let log = open(dir.path());
        let err = log.check_indexes().unwrap_err();
        assert!(matches!(err, Error::Tampered { .. }), "{err}");
        assert!(
            err.to_string().contains("the outbox count of FR-OCRTEH"),
            "{err}"
        );
    }
    let rows = Log::reindex(dir.path(), Some(&indexer())).unwrap();
    assert_eq!(
        rows,
        20 * 4,
        "bulletin, agency, listing and origin rows of 20 entries"
    );
    {
        let log = open(dir.path());
        log.check_indexes().unwrap();
        assert_eq!(log.outbox_len(&agency("FR-OCRTEH")), 20);
    }
    // A log from before the index layout: every family in the one `log` tree (the
    // outbox among them, which is state, not an index), no derived rows of the new
    // kinds, no version.
    raw(dir.path(), |db| {
        let log = db.open_tree("log").unwrap();
        for name in ["outbox", "delivered", "bulletins", "agencies"] {
            let family = db.open_tree(name).unwrap();
            for item in family.iter() {
                let (key, value) = item.unwrap();
                log.insert(key.clone(), value).unwrap();
                family.remove(key).unwrap();
            }
        }
        for name in ["listings", "origins"] {
            db.open_tree(name).unwrap().clear().unwrap();
        }
        for prefix in [&b"O"[..], b"m"] {
            for key in log.scan_prefix(prefix).keys() {
                log.remove(key.unwrap()).unwrap();
            }
        }
    });
    let log = open(dir.path());
    log.check_indexes().unwrap();
    let raw_log = log.range(1, 1).unwrap();
    assert_eq!(raw_log.len(), 1);
    assert_eq!(
        seqs(
            &log,
            &scope(&[agency("DE-BKA")], false, 100, 100),
            &mut |_| true
        )
        .len(),
        10
    );
    assert_eq!(log.outbox_size(&agency("FR-OCRTEH")).unwrap().0, 20);
    assert!(
        log.last_for_agency(&agency("DE-BKA"), EntryKind::Received)
            .unwrap()
            .is_some()
    );
}

/// Runs `f` on the raw sled database of a closed log.
fn raw(dir: &Path, f: impl FnOnce(&sled::Db)) {
    let started = std::time::Instant::now();
    let db = loop {
        match sled::open(dir.join("sled")) {
            Ok(db) => break db,
            Err(_) if started.elapsed() < std::time::Duration::from_secs(2) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("cannot open the raw log: {e}"),
        }
    };
    f(&db);
    db.flush().unwrap();
}
