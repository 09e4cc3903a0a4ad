//! Continuity: a partner restored from a backup has lost bulletins it receipted. The
//! checkpoint exchange at the start of the next session finds out, the sender delivers
//! them again, and both sides log it; a restored node that took other bulletins
//! before talking to the sender again (its log forked) is caught by the hashes.

use liaison_node::edge::admin::Status;
use liaison_node::node::journal::LogEvent;
use liaison_tests::{LONG, TestNode, federation, wait_until};

/// NL-NP sends `n` bulletins to DE-BKA and waits for their receipts.
fn send_and_settle(nl: &TestNode, de: &TestNode, n: usize, what: &str) {
    for i in 0..n {
        nl.send(&[de], &format!("{what} {i}"));
    }
    wait_until(what, LONG, || nl.outbox(de) == 0);
}

fn lost_entries(node: &TestNode) -> Vec<(String, u64, Vec<String>)> {
    node.events()
        .into_iter()
        .filter_map(|e| match e {
            LogEvent::PartnerLostEntries {
                how,
                redelivered,
                proof,
                ..
            } => Some((how, redelivered, proof)),
            _ => None,
        })
        .collect()
}

fn own_log_behind(node: &TestNode) -> usize {
    node.events()
        .iter()
        .filter(|e| matches!(e, LogEvent::OwnLogBehind { .. }))
        .count()
}

#[test]
fn a_partner_restored_from_a_backup_gets_back_what_it_had_receipted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    for n in &mut nodes {
        n.start();
    }
    send_and_settle(&nodes[0], &nodes[1], 2, "before the backup");
    nodes[1].stop();
    let backup = tmp.path().join("de-bka.backup");
    nodes[1].back_up(&backup);
    nodes[1].start();
    send_and_settle(&nodes[0], &nodes[1], 10, "after the backup");
    assert_eq!(nodes[1].inbox().len(), 12);

    // DE-BKA's disk is lost; it is restored from last night's copy.
    nodes[1].stop();
    nodes[1].restore(&backup);
    nodes[1].start();
    let (nl, de) = (&nodes[0], &nodes[1]);
    wait_until("the lost bulletins to come back", LONG, || {
        de.inbox().len() == 12
    });
    let lost = lost_entries(nl);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!((lost[0].0.as_str(), lost[0].1), ("rewound", 10));
    wait_until("DE-BKA to log that its log was behind", LONG, || {
        own_log_behind(de) >= 1
    });
    let warnings = nl.admin(Status {}).warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("DE-BKA") && w.contains("lost 10")),
        "{warnings:?}"
    );
    let warnings = de.admin(Status {}).warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("NL-NP") && w.contains("backup")),
        "{warnings:?}"
    );
    // Each was delivered again once: the next exchange finds the logs agree.
    wait_until("every delivery receipted again", LONG, || {
        nl.outbox(de) == 0
    });
    for summary in nl.outbound() {
        let shown = nl.show(summary.id.parse().unwrap());
        assert!(
            shown.delivery.iter().all(|d| d.state == "accepted"),
            "{shown:?}"
        );
    }
    assert!(de.verify_log() > 0);
}

#[test]
fn a_restored_partner_that_took_other_bulletins_first_is_caught_by_the_hashes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    for n in &mut nodes {
        n.start();
    }
    nodes[1].stop();
    let backup = tmp.path().join("de-bka.backup");
    nodes[1].back_up(&backup);
    nodes[1].start();
    send_and_settle(&nodes[0], &nodes[1], 5, "receipted then lost");

    // NL-NP is down while DE-BKA is restored and takes RO-DIICOT's bulletins, so by the
    // time NL-NP asks, DE-BKA's log is longer than before: only the hashes differ.
    nodes[0].stop();
    nodes[1].stop();
    nodes[1].restore(&backup);
    nodes[1].start();
    let (ro, de) = (&nodes[2], &nodes[1]);
    for i in 0..20 {
        ro.send(&[de], &format!("meanwhile {i}"));
    }
    wait_until("RO-DIICOT's bulletins", LONG, || ro.outbox(de) == 0);
    nodes[0].start();
    let (nl, de) = (&nodes[0], &nodes[1]);
    wait_until("the lost bulletins to come back", LONG, || {
        de.inbox().len() == 25
    });
    let lost = lost_entries(nl);
    assert_eq!(lost.len(), 1, "{lost:?}");
    assert_eq!((lost[0].0.as_str(), lost[0].1), ("forked", 5));
    // The proof: DE-BKA's receipt named one hash for the entry, its new checkpoint of
    // the same entry another.
    assert_eq!(lost[0].2.len(), 2);
}
