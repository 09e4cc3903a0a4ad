//! A full disk: the node stops acknowledging, says so (status, health), keeps every
//! acknowledged bulletin, and resumes by itself once there is room again — no restart,
//! no temporary files left. Run on a real tmpfs, mounted for the test (root only).

use std::path::{Path, PathBuf};

use liaison_core::BulletinId;
use liaison_node::edge::admin::{BulletinSend, Status};
use liaison_node::ops::bulletins::Recipients;
use liaison_node::ops::bulletins::views::SendRequest;
use liaison_tests::disk::{Tmpfs, fill};
use liaison_tests::{LONG, TestNode, federation, wait_until};

fn try_send(from: &TestNode, to: &TestNode, title: &str) -> liaison_node::Result<BulletinId> {
    from.try_admin(BulletinSend(SendRequest {
        to: Recipients::Named(vec![to.agency.clone()]),
        category: "trafficking.persons".parse().unwrap(),
        tlp: liaison_core::Tlp::Amber,
        handling: vec![],
        title: title.into(),
        body: "x".repeat(1024),
        expires_in_days: 30,
        request_key: None,
    }))
    .map(|sent| sent.id.parse().unwrap())
}

fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for item in std::fs::read_dir(dir).unwrap().flatten() {
        let path = item.path();
        if path.is_dir() {
            found.extend(temporary_files(&path));
        } else if path.extension().is_some_and(|e| e == "tmp") {
            found.push(path);
        }
    }
    found
}

#[test]
fn a_full_disk_stops_acknowledgements_and_the_node_recovers_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("fs"), "24m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    };
    let mut nodes = federation(&fs.0, &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let (nl, de) = (&nodes[0], &nodes[1]);
    let mut acknowledged = vec![try_send(nl, de, "before").unwrap()];
    wait_until("the first delivery", LONG, || nl.outbox(de) == 0);

    // The disk fills up: sends are refused, never acknowledged and then lost.
    let filler = fill(&fs.0);
    let refused = (0..2000).find_map(|i| match try_send(nl, de, &format!("while full {i}")) {
        Ok(id) => {
            acknowledged.push(id);
            None
        }
        Err(e) => Some(e.to_string()),
    });
    let refused = refused.expect("a send on a full disk was refused");
    assert!(refused.contains("cannot write"), "{refused}");
    let status = nl.admin(Status {});
    let failing = status
        .storage_failing
        .expect("status says the log cannot write");
    assert!(
        failing.reason.contains("No space left") || failing.reason.contains("space"),
        "{failing:?}"
    );
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("the log cannot write")),
        "{:?}",
        status.warnings
    );

    // Room again: the node resumes by itself, without a restart.
    std::fs::remove_file(&filler).unwrap();
    wait_until("NL-NP's log to write again", LONG, || {
        nl.admin(Status {}).storage_failing.is_none()
    });
    acknowledged.push(try_send(nl, de, "after").unwrap());
    wait_until("every acknowledged bulletin to reach DE-BKA", LONG, || {
        let inbox: Vec<String> = de.inbox().into_iter().map(|b| b.id).collect();
        acknowledged
            .iter()
            .all(|id| inbox.contains(&id.to_string()))
    });
    assert!(
        nl.admin(Status {})
            .warnings
            .iter()
            .all(|w| !w.contains("cannot write"))
    );
    for n in [nl, de] {
        assert_eq!(temporary_files(&n.dir), Vec::<PathBuf>::new());
    }
    for n in &mut nodes {
        n.stop();
        n.start();
        n.verify_log();
    }
}
