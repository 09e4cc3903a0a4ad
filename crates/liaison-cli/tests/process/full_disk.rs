//! A full disk, on a real tmpfs mounted for the test (root only). Running `liaison run`
//! processes stop acknowledging, say so (status, health, metrics), keep every
//! acknowledged bulletin, and resume by themselves once there is room again — no
//! restart, no temporary files left. On a stopped node the reading commands still
//! answer (from a read-only copy of the log) and changes are refused with the reason.

use std::path::{Path, PathBuf};

use liaison_node::edge::admin::Status;
use liaison_tests::disk::{Tmpfs, fill};
use liaison_tests::metrics::{enable_metrics, parse, scrape};
use liaison_tests::{LONG, TestNode, federation, wait_until};

use crate::util::{fails, ok, start};

#[test]
fn reading_commands_work_on_a_full_disk_and_changes_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("fs"), "16m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    };
    let node = TestNode::init(&fs.0, "NL-NP");
    let other = TestNode::init(tmp.path(), "DE-BKA");
    let bundle = tmp.path().join("de.identity");
    ok(&[
        "identity",
        "export",
        "--data-dir",
        other.d(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let filler = fill(&fs.0);
    let verified = ok(&["log", "verify", "--data-dir", node.d()]);
    assert!(verified.starts_with("Log verified"), "{verified}");
    let status = ok(&["status", "--data-dir", node.d()]);
    assert!(status.contains("NL-NP"), "{status}");
    ok(&["bulletin", "list", "--data-dir", node.d()]);
    ok(&["log", "export", "--data-dir", node.d(), "--json"]);
    let fingerprint = other.fingerprint();
    let peer_add = [
        "peer",
        "add",
        bundle.to_str().unwrap(),
        "--fingerprint",
        &fingerprint,
        "--data-dir",
        node.d(),
    ];
    let refused = fails(&peer_add, 1);
    assert!(
        refused.contains("read-only (its disk is full)"),
        "{refused}"
    );
    // No read-only copy is left in the temporary directory.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("liaison-NL-NP-read-only")
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // With room again, the same command works.
    std::fs::remove_file(filler).unwrap();
    ok(&peer_add);
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
fn a_full_disk_stops_acknowledgements_and_running_nodes_recover_by_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("fs"), "24m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    };
    let mut nodes = federation(&fs.0, &["NL-NP", "DE-BKA"]);
    let port = enable_metrics(&nodes[0]);
    for n in &mut nodes {
        start(n);
    }
    let (nl, de) = (&nodes[0], &nodes[1]);
    let mut acknowledged = vec![nl.try_send(&[de], "before").unwrap()];
    wait_until("the first delivery", LONG, || nl.outbox(de) == 0);

    // The disk fills up: sends are refused, never acknowledged and then lost.
    let filler = fill(&fs.0);
    let refused = (0..2000).find_map(|i| match nl.try_send(&[de], &format!("while full {i}")) {
        Ok(id) => {
            acknowledged.push(id);
            None
        }
        Err(e) => Some(e.to_string()),
    });
    let refused = refused.expect("a send on a full disk was refused");
    assert!(refused.contains("cannot write"), "{refused}");
    // The log may be reopening (it retries by itself) at the moment status asks.
    let mut status = None;
    wait_until("status to answer on a full disk", LONG, || {
        status = nl.try_admin(Status {}).ok();
        status.is_some()
    });
    let status = status.unwrap();
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
        nl.try_admin(Status {})
            .is_ok_and(|status| status.storage_failing.is_none())
    });
    acknowledged.push(nl.try_send(&[de], "after").unwrap());
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
    // The metrics counted the failed commits and say writes work again.
    let metrics = parse(&scrape(port).1);
    assert!(
        metrics["liaison_log_commit_failures_total"] >= 1.0,
        "{metrics:?}"
    );
    assert_eq!(metrics["liaison_storage_failing"], 0.0);
    for n in [nl, de] {
        assert_eq!(temporary_files(&n.dir), Vec::<PathBuf>::new());
    }
    for n in &mut nodes {
        n.stop();
        n.verify_log();
    }
}
