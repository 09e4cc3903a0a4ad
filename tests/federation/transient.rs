//! A refusal that says nothing about the bulletin (the receiver's clock is behind, it
//! lacks a key *yet*) is a transient rejection code: the sender keeps the bulletin
//! queued and retries, and it arrives once the cause is gone. Decided by the code in
//! the signed receipt, never by the receiver's words.

use std::time::Duration;

use liaison_tests::{LONG, federation, wait_until};

#[test]
fn a_receiver_whose_clock_is_behind_gets_the_bulletin_once_its_clock_is_right() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    // DE-BKA's clock runs ten minutes behind: NL-NP's identity, issued just now by
    // NL-NP's clock, is not valid yet by DE-BKA's.
    b.state().clock.set_offset_ms(-10 * 60 * 1000);
    let id = a.send(&[b], "sent while the clocks disagree");
    wait_until(
        "the transient refusal to show",
        Duration::from_secs(30),
        || {
            let d = a.show(id).delivery[0].clone();
            d.state == "retrying"
                && d.detail
                    .as_deref()
                    .is_some_and(|e| e.contains("REJECT_CODE_IDENTITY_NOT_YET_VALID"))
        },
    );
    assert_eq!(
        a.outbox(b),
        1,
        "a transient refusal must keep the bulletin queued"
    );
    assert!(b.inbox().is_empty());
    // The sender's status says why: the partner's clock, read from its signed receipt.
    let status = a.admin(liaison_node::edge::admin::Status {});
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.starts_with("DE-BKA's clock is about 600 s behind ours")),
        "{:?}",
        status.warnings
    );
    let skew = status.partners[0].clock_skew_seconds.unwrap();
    assert!((-601..=-599).contains(&skew), "{skew}");

    // The clock is put right: the bulletin arrives, once, and is receipted as accepted.
    b.state().clock.set_offset_ms(0);
    wait_until("delivery after the clock is fixed", LONG, || {
        a.outbox(b) == 0
    });
    let detail = a.show(id);
    assert_eq!(detail.delivery[0].state, "accepted", "{detail:?}");
    let inbox = b.inbox();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id, id.to_string());
}

#[test]
fn status_puts_the_failing_partner_first_and_sums_up_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "AT-BK", "DE-BKA", "RO-DIICOT"]);
    for n in &mut nodes {
        n.start();
    }
    // RO-DIICOT goes down; NL-NP sends to everyone.
    nodes[3].stop();
    let (nl, at, de, ro) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    nl.send(&[at, de, ro], "to all three");
    wait_until("delivery to the two up", LONG, || {
        nl.outbox(at) == 0 && nl.outbox(de) == 0
    });
    wait_until("RO-DIICOT failing", LONG, || {
        nl.admin(liaison_node::edge::admin::Status {})
            .summary
            .failing
            == 1
    });
    let status = nl.admin(liaison_node::edge::admin::Status {});
    assert_eq!(status.partners[0].agency, "RO-DIICOT", "failing first");
    assert_eq!(status.partners[0].connection, "failing");
    assert!(status.partners[0].failing_seconds.is_some());
    assert!(status.partners[0].last_error.is_some());
    let summary = &status.summary;
    assert_eq!((summary.partners, summary.failing), (3, 1), "{summary:?}");
    assert_eq!((summary.queued, summary.partners_with_queue), (1, 1));
    assert_eq!(summary.connected + summary.idle, 2);
    // The retry timer grows while RO-DIICOT stays down; `peer retry` brings the next
    // attempt forward at once, the backoff back at its first step (without it, the
    // next attempt could only come later).
    let next_attempt = || {
        nl.admin(liaison_node::edge::admin::Status {}).partners[0]
            .next_attempt_unix_ms
            .unwrap_or(0)
    };
    wait_until("the backoff to grow past 8 s", LONG, || {
        next_attempt() - liaison_core::UnixMillis::now().0 > 8000
    });
    let due = next_attempt();
    let retried = nl.admin(liaison_node::edge::admin::PeerRetry {
        agency: "RO-DIICOT".parse().unwrap(),
    });
    assert_eq!(retried.queued, 1);
    wait_until("the retry", LONG, || next_attempt() < due - 2000);
    assert!(
        nl.try_admin(liaison_node::edge::admin::PeerRetry {
            agency: "XX-NOBODY".parse().unwrap(),
        })
        .is_err()
    );
    // Back up: nothing fails, nothing is queued.
    let mut nodes = nodes;
    nodes[3].start();
    let nl = &nodes[0];
    wait_until("RO-DIICOT caught up", LONG, || {
        let s = nl.admin(liaison_node::edge::admin::Status {}).summary;
        s.failing == 0 && s.queued == 0
    });
}
