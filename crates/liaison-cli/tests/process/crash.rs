//! SIGKILL at random moments, on either side of a delivery: nothing acknowledged is
//! lost, nothing is stored twice, and order holds.

use std::collections::HashSet;

use liaison_core::BulletinId;
use liaison_tests::{LONG, federation, wait_until};

use crate::util::{ok, start};

#[test]
fn receiver_killed_mid_stream_still_gets_every_bulletin_once_and_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        start(n);
    }
    let (first, rest) = nodes.split_at_mut(1);
    let (a, b) = (&first[0], &mut rest[0]);
    let mut ids = Vec::new();
    for i in 0..150 {
        ids.push(a.send(&[b], &format!("bulletin {i}")));
        if i == 60 {
            b.kill9();
        }
        if i == 100 {
            start(b);
        }
    }
    wait_until("A's outbox to drain", LONG, || a.outbox(b) == 0);
    let inbox = b.inbox();
    let got: Vec<String> = inbox.iter().map(|s| s.id.clone()).collect();
    assert_eq!(
        got,
        ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "B's log must hold each bulletin once, in A's order"
    );
    // Every receipt is accepted or (for an envelope stored just before the kill whose
    // receipt was lost) duplicate; none rejected.
    for id in &ids {
        let d = a.show(*id);
        assert!(
            matches!(d.delivery[0].state.as_str(), "accepted" | "duplicate"),
            "{d:?}"
        );
    }
    b.stop();
    ok(&["log", "verify", "--data-dir", b.d()]);
}

#[test]
fn sender_killed_mid_send_loses_nothing_it_acknowledged_and_sends_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        start(n);
    }
    let (first, rest) = nodes.split_at_mut(1);
    let (a, b) = (&mut first[0], &rest[0]);
    // Acknowledged sends, from the CLI, while A is killed partway through.
    let mut acknowledged = Vec::new();
    for i in 0..80 {
        acknowledged.push(a.send(&[b], &format!("bulletin {i}")));
        if i == 40 {
            a.kill9();
            start(a);
        }
    }
    wait_until("A's outbox to drain", LONG, || a.outbox(b) == 0);
    let inbox = b.inbox();
    let got: Vec<BulletinId> = inbox.iter().map(|s| s.id.parse().unwrap()).collect();
    let unique: HashSet<&BulletinId> = got.iter().collect();
    assert_eq!(
        unique.len(),
        got.len(),
        "a bulletin was stored twice in B's log"
    );
    for id in &acknowledged {
        assert!(
            unique.contains(id),
            "acknowledged bulletin {id} never reached B"
        );
    }
    assert_eq!(
        got, acknowledged,
        "B holds exactly what A acknowledged, in order"
    );
    a.stop();
    ok(&["log", "verify", "--data-dir", a.d()]);
}
