//! The log's contract: durable appends with consecutive sequence numbers, reads by
//! index, and verification that names the first bad entry after tampering.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::sync::Arc;

use liaison_core::crypto::{SigningKey, VerifyingKey};
use liaison_core::{AgencyId, BulletinId, UnixMillis};
use liaison_store::log::CheckpointSigner;
use liaison_store::{EntryKind, Error, INLINE_BODY_LIMIT, Log, LogOptions, NewEntry};

fn signer() -> SigningKey {
    SigningKey::from_seed([5; 32]).unwrap()
}

/// A full verification, indexes included.
const EVERYTHING: liaison_store::VerifyOptions = liaison_store::VerifyOptions {
    since_checkpoint: false,
    indexes: true,
};

fn keys() -> Vec<VerifyingKey> {
    vec![signer().verifying_key()]
}

fn open(dir: &Path) -> Log {
    Log::open(
        dir,
        LogOptions {
            checkpoint_signer: Some(CheckpointSigner {
                agency: "NL-NP".parse().unwrap(),
                key: signer(),
            }),
            checkpoint_every: 0,
            observer: None,
            indexer: None,
            cache_bytes: 0,
        },
    )
    .unwrap()
}

fn entry(i: u64) -> NewEntry {
    NewEntry::new(EntryKind::Published, format!("body {i}").into_bytes())
        .about_bulletin(BulletinId::new(UnixMillis(1_795_000_000_000 + i as i64)))
        .about_agency("DE-BKA".parse().unwrap())
}

fn fill(dir: &Path, n: u64) {
    let log = open(dir);
    for i in 1..=n {
        assert_eq!(log.append(entry(i)).unwrap().seq, i);
        if i == n / 2 {
            log.checkpoint().unwrap();
        }
    }
}

/// Runs `f` on the raw sled tree of a closed log.
fn with_raw_tree(dir: &Path, f: impl FnOnce(&sled::Tree)) {
    // A log dropped a moment ago may hold sled's lock for a few more milliseconds.
    let started = std::time::Instant::now();
    let db = loop {
        match sled::open(dir.join("sled")) {
            Ok(db) => break db,
            Err(e) if started.elapsed() < std::time::Duration::from_secs(2) => {
                let _ = e;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("cannot open the raw log: {e}"),
        }
    };
    let tree = db.open_tree("log").unwrap();
    f(&tree);
    db.flush().unwrap();
}

fn key(seq: u64) -> Vec<u8> {
    [&b"e"[..], &seq.to_be_bytes()].concat()
}

fn verify_error(dir: &Path) -> Error {
    match Log::open(dir, LogOptions::default()) {
        Err(e) => e,
        Ok(log) => log.verify(&keys(), EVERYTHING, &mut |_| {}).unwrap_err(),
    }
}

#[test]
fn appends_are_consecutive_and_readable() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    assert_eq!(log.head().seq, 0);
    let first = log.append(entry(1)).unwrap();
    let more = log.submit(vec![entry(2), entry(3)]).wait().unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(more.iter().map(|a| a.seq).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(log.head().seq, 3);
    assert_eq!(log.head().hash, more[1].hash);

    let e2 = log.get(2).unwrap().unwrap();
    assert_eq!(e2.prev_hash, first.hash);
    assert_eq!(log.body(&e2).unwrap().unwrap(), &b"body 2"[..]);
    let id = e2.bulletin_id.unwrap();
    assert_eq!(log.entries_for_bulletin(&id).unwrap().len(), 1);
    let de: AgencyId = "DE-BKA".parse().unwrap();
    let last = log.last_for_agency(&de, EntryKind::Published).unwrap();
    assert_eq!(last.map(|e| e.seq), Some(3));
    assert!(
        log.last_for_agency(&de, EntryKind::Receipt)
            .unwrap()
            .is_none()
    );
    assert_eq!(log.range(2, 10).unwrap().len(), 2);
    let report = log.verify(&keys(), EVERYTHING, &mut |_| {}).unwrap();
    assert_eq!(report.entries, 3);
}

#[test]
fn concurrent_appends_share_flushes_and_stay_chained() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| log.append(entry(t * 1000 + i)).unwrap().seq)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=800).collect::<Vec<_>>());
    assert_eq!(
        log.verify(&keys(), EVERYTHING, &mut |_| {})
            .unwrap()
            .entries,
        800
    );
}

#[test]
fn large_bodies_live_in_their_own_files_and_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![7u8; 200 * 1024];
    {
        let log = open(dir.path());
        log.append(entry(1)).unwrap();
        let at = log
            .append(NewEntry::new(EntryKind::Received, big.clone()))
            .unwrap();
        let e = log.get(at.seq).unwrap().unwrap();
        assert!(e.inline_body.is_none());
        assert_eq!(log.body(&e).unwrap().unwrap(), big);
        let report = log.verify(&keys(), EVERYTHING, &mut |_| {}).unwrap();
        assert_eq!(report.external_bodies, 1);
    }
    assert!(big.len() > INLINE_BODY_LIMIT);
    let file = std::fs::read_dir(dir.path().join("bodies"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&file, bytes).unwrap();
    match verify_error(dir.path()) {
        Error::Tampered { seq, .. } => assert_eq!(seq, 2),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn an_edited_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10);
    with_raw_tree(dir.path(), |tree| {
        let mut value = tree.get(key(4)).unwrap().unwrap().to_vec();
        let last = value.len() - 1;
        value[last] ^= 0x20;
        tree.insert(key(4), value).unwrap();
    });
    match verify_error(dir.path()) {
        Error::Tampered { seq, problem } => {
            assert_eq!(seq, 4, "{problem}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn a_rehashed_edit_breaks_the_chain_at_the_next_entry() {
    // A forger who also recomputes the edited entry's own hash is caught by the next
    // entry, whose prev_hash no longer matches.
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10);
    with_raw_tree(dir.path(), |tree| {
        use liaison_core::crypto::{digest_parts, domain, sha256};
        use prost::Message as _;
        let value = tree.get(key(6)).unwrap().unwrap().to_vec();
        // Layout: hash(32) || u32be(len) || record || state(1) || body.
        let len = u32::from_be_bytes(value[32..36].try_into().unwrap()) as usize;
        let mut record =
            liaison_proto::format::v1::LogRecord::decode(&value[36..36 + len]).unwrap();
        let body = b"a different story";
        record.body_sha256 = bytes::Bytes::copy_from_slice(&sha256(body));
        record.body_len = body.len() as u64;
        let record = record.encode_to_vec();
        let hash = digest_parts(&[domain::LOG_ENTRY, &record]);
        let forged = [
            &hash[..],
            &(record.len() as u32).to_be_bytes(),
            &record,
            &[0u8],
            body,
        ]
        .concat();
        tree.insert(key(6), forged).unwrap();
    });
    match verify_error(dir.path()) {
        Error::Tampered { seq, .. } => assert_eq!(seq, 7),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn a_deleted_entry_is_named() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10);
    with_raw_tree(dir.path(), |tree| {
        tree.remove(key(3)).unwrap();
    });
    match verify_error(dir.path()) {
        Error::Tampered { seq, problem } => {
            assert_eq!(seq, 3);
            assert!(problem.contains("missing"), "{problem}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn swapped_entries_are_named() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10);
    with_raw_tree(dir.path(), |tree| {
        let a = tree.get(key(5)).unwrap().unwrap();
        let b = tree.get(key(6)).unwrap().unwrap();
        tree.insert(key(5), b).unwrap();
        tree.insert(key(6), a).unwrap();
    });
    match verify_error(dir.path()) {
        Error::Tampered { seq, .. } => assert_eq!(seq, 5),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn a_truncated_tail_is_caught_by_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10); // checkpoint at 5
    with_raw_tree(dir.path(), |tree| {
        for seq in 4..=10 {
            tree.remove(key(seq)).unwrap();
        }
    });
    // Entries 1-3 still chain perfectly; only the checkpoint at 5 shows the loss.
    match Log::open(dir.path(), LogOptions::default()) {
        Err(Error::Tampered { seq, problem }) => {
            assert_eq!(seq, 4);
            assert!(problem.contains("checkpoint"), "{problem}");
        }
        Err(other) => panic!("unexpected {other}"),
        Ok(_) => panic!("a truncated log opened"),
    }
}

#[test]
fn a_forged_checkpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 10);
    with_raw_tree(dir.path(), |tree| {
        let (k, v) = tree.scan_prefix(b"c").next().unwrap().unwrap();
        let mut v = v.to_vec();
        let last = v.len() - 1;
        v[last] ^= 1; // the signature's last byte
        tree.insert(k, v).unwrap();
    });
    match verify_error(dir.path()) {
        Error::BadCheckpoint { seq, .. } => assert_eq!(seq, 5),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn the_log_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 20);
    let log = open(dir.path());
    assert_eq!(log.head().seq, 20);
    assert_eq!(log.append(entry(21)).unwrap().seq, 21);
    assert_eq!(
        log.verify(&keys(), EVERYTHING, &mut |_| {})
            .unwrap()
            .entries,
        21
    );
}

#[test]
fn a_second_process_cannot_open_a_log_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _log = open(dir.path());
    match Log::open(dir.path(), LogOptions::default()) {
        Err(Error::Locked(path)) => assert!(path.ends_with("sled")),
        Err(other) => panic!("unexpected {other}"),
        Ok(_) => panic!("a log in use opened twice"),
    }
}

#[test]
fn outbox_entries_come_and_go_with_their_entries() {
    use liaison_store::Effect;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let de: AgencyId = "DE-BKA".parse().unwrap();
    let ro: AgencyId = "RO-DIICOT".parse().unwrap();
    let a = log
        .append(
            entry(1)
                .with_effect(Effect::Enqueue(de.clone()))
                .with_effect(Effect::Enqueue(ro.clone())),
        )
        .unwrap();
    let b = log
        .append(entry(2).with_effect(Effect::Enqueue(de.clone())))
        .unwrap();
    assert_eq!(log.outbox(&de, 0, 10).unwrap(), [a.seq, b.seq]);
    assert_eq!(log.outbox(&de, a.seq, 10).unwrap(), [b.seq]);
    assert_eq!(log.outbox(&ro, 0, 10).unwrap(), [a.seq]);
    log.append(
        NewEntry::new(EntryKind::Receipt, &b"receipt"[..]).with_effect(Effect::Dequeue {
            partner: de.clone(),
            published_seq: a.seq,
        }),
    )
    .unwrap();
    assert_eq!(log.outbox(&de, 0, 10).unwrap(), [b.seq]);
    assert_eq!(log.outbox_len(&ro), 1);
}

#[test]
fn a_bulletin_is_received_once_even_when_offered_concurrently() {
    use liaison_store::Effect;
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path()));
    let id = BulletinId::new(UnixMillis(1_795_000_000_000));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let log = log.clone();
            std::thread::spawn(move || {
                log.append(
                    NewEntry::new(EntryKind::Received, &b"env"[..])
                        .with_effect(Effect::ClaimReceived(id)),
                )
            })
        })
        .collect();
    let outcomes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let accepted: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(accepted.len(), 1, "{outcomes:?}");
    for o in &outcomes {
        if let Err(e) = o {
            assert!(
                matches!(e, Error::Duplicate { seq } if *seq == accepted[0].seq),
                "{e}"
            );
        }
    }
    assert_eq!(log.received(&id).unwrap(), Some(accepted[0].seq));
    assert_eq!(log.head().seq, 1);
    // The same bulletin arriving in one request twice is refused whole.
    let twice = log
        .submit(vec![
            NewEntry::new(EntryKind::Received, &b"x"[..]).with_effect(Effect::ClaimReceived(id)),
        ])
        .wait();
    assert!(matches!(twice, Err(Error::Duplicate { .. })));
    assert_eq!(log.head().seq, 1);
}

#[test]
fn peers_are_stored_with_their_entries() {
    use liaison_store::Effect;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let de: AgencyId = "DE-BKA".parse().unwrap();
    log.append(
        NewEntry::new(EntryKind::PeerChange, &b"added"[..]).with_effect(Effect::PutPeer {
            agency: de.clone(),
            bundle: bytes::Bytes::from_static(b"bundle"),
        }),
    )
    .unwrap();
    assert_eq!(
        log.peers().unwrap(),
        [(de.clone(), bytes::Bytes::from_static(b"bundle"))]
    );
    log.append(
        NewEntry::new(EntryKind::PeerChange, &b"removed"[..]).with_effect(Effect::RemovePeer(de)),
    )
    .unwrap();
    assert!(log.peers().unwrap().is_empty());
}

#[test]
fn an_erased_body_leaves_a_log_that_verifies() {
    use liaison_store::Effect;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let small = log.append(entry(1)).unwrap();
    let big = log
        .append(NewEntry::new(EntryKind::Received, vec![3u8; 100 * 1024]))
        .unwrap();
    log.append(entry(3)).unwrap();
    let files = || {
        std::fs::read_dir(dir.path().join("bodies"))
            .unwrap()
            .count()
    };
    assert_eq!(files(), 1);
    log.append(
        NewEntry::new(EntryKind::NodeEvent, &b"recalled"[..])
            .with_effect(Effect::EraseBody { seq: small.seq })
            .with_effect(Effect::EraseBody { seq: big.seq }),
    )
    .unwrap();
    for seq in [small.seq, big.seq] {
        let e = log.get(seq).unwrap().unwrap();
        assert_eq!(e.placement, liaison_store::entry::BodyPlacement::Erased);
        assert_eq!(log.body(&e).unwrap(), None);
    }
    assert_eq!(files(), 0, "the erased body's own file is gone");
    assert_eq!(
        log.verify(&keys(), EVERYTHING, &mut |_| {})
            .unwrap()
            .entries,
        4
    );
    // Erasing what does not exist changes nothing.
    let missing = log.append(
        NewEntry::new(EntryKind::NodeEvent, &b"x"[..]).with_effect(Effect::EraseBody { seq: 99 }),
    );
    assert!(missing.is_err());
    assert_eq!(log.head().seq, 4);
}

/// A request refused inside a group commit (here: over the size limit) must not leave
/// its claims behind for the next request of the same batch, which would then be
/// answered as a duplicate of an entry that was never written.
#[test]
fn a_refused_request_claims_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let log = open(tmp.path());
    let id = BulletinId::new(UnixMillis(1_795_000_000_000));
    let claiming = |body: Vec<u8>| {
        NewEntry::new(EntryKind::Received, body)
            .about_bulletin(id)
            .with_effect(liaison_store::Effect::ClaimReceived(id))
    };
    // Submitted back to back, so that the writer usually takes both into one batch.
    let oversized = vec![0; liaison_store::entry::MAX_BODY_BYTES + 1];
    let too_large = log.submit(vec![claiming(oversized)]);
    let fine = log.submit(vec![claiming(b"envelope".to_vec())]);
    assert!(matches!(too_large.wait(), Err(Error::TooLarge { .. })));
    match fine.wait() {
        Ok(appended) => assert_eq!(log.received(&id).unwrap(), Some(appended[0].seq)),
        Err(e) => panic!("the valid request was refused: {e}"),
    }
}

#[test]
fn incremental_verification_starts_at_the_last_verified_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // 20 entries, a checkpoint at 10.
    fill(dir.path(), 20);
    let since = liaison_store::VerifyOptions {
        since_checkpoint: true,
        indexes: false,
    };
    {
        let log = open(dir.path());
        // Nothing verified yet: the first incremental run is a full one.
        let first = log.verify(&keys(), since, &mut |_| {}).unwrap();
        assert_eq!((first.from_checkpoint, first.checked), (0, 20));
        let second = log.verify(&keys(), since, &mut |_| {}).unwrap();
        assert_eq!((second.from_checkpoint, second.checked), (10, 10));
    }
    let flip = |seq: u64| {
        with_raw_tree(dir.path(), |tree| {
            let mut value = tree.get(key(seq)).unwrap().unwrap().to_vec();
            let last = value.len() - 1;
            value[last] ^= 0x20;
            tree.insert(key(seq), value).unwrap();
        });
    };
    // An edit after the checkpoint is found by the incremental run.
    flip(15);
    {
        let log = open(dir.path());
        match log.verify(&keys(), since, &mut |_| {}).unwrap_err() {
            Error::Tampered { seq, .. } => assert_eq!(seq, 15),
            other => panic!("unexpected {other}"),
        }
    }
    flip(15);
    // An edit before it is what only a full run finds: that is the trade, and why
    // the incremental run says where it started.
    flip(4);
    let log = open(dir.path());
    assert_eq!(
        log.verify(&keys(), since, &mut |_| {})
            .unwrap()
            .from_checkpoint,
        10
    );
    match log.verify(&keys(), EVERYTHING, &mut |_| {}).unwrap_err() {
        Error::Tampered { seq, .. } => assert_eq!(seq, 4),
        other => panic!("unexpected {other}"),
    }
}
