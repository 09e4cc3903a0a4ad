//! The CLI on a stopped node whose disk is full to the last byte: reading commands
//! still answer (from a read-only copy of the log), changes are refused with the
//! reason, and nothing is left behind. On a real tmpfs (root only).

use liaison_tests::TestNode;
use liaison_tests::disk::{Tmpfs, fill};

use crate::util::{fails, ok};

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
    let refused = fails(
        &[
            "peer",
            "add",
            bundle.to_str().unwrap(),
            "--fingerprint",
            &other.fingerprint(),
            "--data-dir",
            node.d(),
        ],
        1,
    );
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
    ok(&[
        "peer",
        "add",
        bundle.to_str().unwrap(),
        "--fingerprint",
        &other.fingerprint(),
        "--data-dir",
        node.d(),
    ]);
}
