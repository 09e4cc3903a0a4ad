//! Evidence an auditor checks without the node: `log export --out` from a running node
//! and from a stopped one, `log verify --export --identity` in a process that has no
//! data directory, the recipe in docs/AUDIT.md (a Python script with no Liaison code),
//! and every way a tampered file is refused.

use liaison_tests::{LONG, TestNode, federation, wait_until};

use crate::util::{fails, ok, start};

/// DE-BKA's log after it received three bulletins, one of them recalled (its body
/// erased): the export from the running node, written to `file`.
fn export_running(de: &TestNode, file: &std::path::Path) -> String {
    ok(&[
        "log",
        "export",
        "--data-dir",
        de.d(),
        "--out",
        file.to_str().unwrap(),
    ])
}

fn verify(file: &std::path::Path, identity: &std::path::Path) -> std::process::Output {
    crate::util::liaison()
        .args(["log", "verify", "--export"])
        .arg(file)
        .arg("--identity")
        .arg(identity)
        .arg("--json")
        .output()
        .unwrap()
}

/// Runs docs/audit/verify_evidence.py (Python's standard library and `openssl`, no
/// Liaison code) on `file`: whether it passed, and what it printed.
fn recipe(file: &std::path::Path, identity: &std::path::Path) -> (bool, String) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/audit/verify_evidence.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(file)
        .arg(identity)
        .output()
        .expect("python3 is installed (.ci/run installs it)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Rewrites `file` into `to` with `edit` applied to its lines.
fn tampered(
    file: &std::path::Path,
    to: &std::path::Path,
    edit: impl FnOnce(&mut Vec<String>),
) -> std::path::PathBuf {
    let mut lines: Vec<String> = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    edit(&mut lines);
    std::fs::write(to, lines.join("\n")).unwrap();
    to.to_owned()
}

#[test]
fn evidence_verifies_without_the_node_and_tampering_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        start(n);
    }
    let (nl, de) = (&nodes[0], &nodes[1]);
    let ids: Vec<_> = (0..3)
        .map(|i| nl.send(&[de], &format!("bulletin {i}")))
        .collect();
    wait_until("delivery", LONG, || nl.outbox(de) == 0);
    ok(&[
        "bulletin",
        "recall",
        &ids[1].to_string(),
        "--reason",
        "wrong plate",
        "--data-dir",
        nl.d(),
    ]);
    wait_until("the purge receipt", LONG, || nl.outbox(de) == 0);
    let identity = tmp.path().join("de.identity");
    ok(&[
        "identity",
        "export",
        "--data-dir",
        de.d(),
        "--out",
        identity.to_str().unwrap(),
    ]);
    let file = tmp.path().join("de-evidence.jsonl");
    let said = export_running(de, &file);
    assert!(said.contains("signed checkpoints of DE-BKA"), "{said}");

    // Checked by a process that has no data directory at all.
    let out = verify(&file, &identity);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let view: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(view["agency"], "DE-BKA");
    assert_eq!(view["first"], 1);
    assert_eq!(
        view["signed_up_to"], view["last"],
        "an export is signed to its end"
    );
    assert!(view["without_body"].as_u64().unwrap() >= 1, "{view}");
    assert!(view["bodies"].as_u64().unwrap() >= 5, "{view}");
    // The recipe, written against the format alone, agrees.
    let (passed, said) = recipe(&file, &identity);
    assert!(passed, "{said}");
    assert!(
        said.contains(view["fingerprint"].as_str().unwrap())
            && said.contains(&format!("signed by DE-BKA up to entry {}", view["last"])),
        "{said}"
    );

    // The same from a stopped node (offline export).
    for n in &mut nodes {
        n.stop();
    }
    let offline = tmp.path().join("offline.jsonl");
    ok(&[
        "log",
        "export",
        "--data-dir",
        nodes[1].d(),
        "--out",
        offline.to_str().unwrap(),
    ]);
    assert!(verify(&offline, &identity).status.success());

    let d = |name: &str| tmp.path().join(name);
    let entry_line = |lines: &Vec<String>, seq: u64| {
        lines
            .iter()
            .position(|l| {
                l.contains("\"type\":\"entry\"") && l.contains(&format!("\"seq\":{seq},"))
            })
            .unwrap()
    };
    // An entry removed.
    let removed = tampered(&file, &d("removed.jsonl"), |lines| {
        let at = entry_line(lines, 3);
        lines.remove(at);
    });
    let err = fails(
        &[
            "log",
            "verify",
            "--export",
            removed.to_str().unwrap(),
            "--identity",
            identity.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains("entry 4") && err.contains("missing"), "{err}");
    let (passed, said) = recipe(&removed, &identity);
    assert!(
        !passed && said.contains("entry 4 does not follow entry 2"),
        "{said}"
    );
    // A body changed (a received envelope's bytes).
    let changed = tampered(&file, &d("changed.jsonl"), |lines| {
        let at = lines
            .iter()
            .position(|l| l.contains("\"kind\":\"received\"") && l.contains("body_base64"))
            .unwrap();
        let mut entry: serde_json::Value = serde_json::from_str(&lines[at]).unwrap();
        let body = entry["body_base64"].as_str().unwrap().to_owned();
        let mut bytes = data_encoding::BASE64.decode(body.as_bytes()).unwrap();
        bytes[40] ^= 1;
        entry["body_base64"] = data_encoding::BASE64.encode(&bytes).into();
        lines[at] = entry.to_string();
    });
    let out = verify(&changed, &identity);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("body does not match"), "{err}");
    let (passed, said) = recipe(&changed, &identity);
    assert!(
        !passed && said.contains("does not match its record"),
        "{said}"
    );
    // A readable field that says something else than the signed record.
    let relabelled = tampered(&file, &d("relabelled.jsonl"), |lines| {
        let at = entry_line(lines, 2);
        lines[at] = lines[at].replacen("\"time\":\"", "\"time\":\"1", 1);
    });
    let err = String::from_utf8_lossy(&verify(&relabelled, &identity).stderr).into_owned();
    assert!(err.contains("time differs"), "{err}");
    let (passed, said) = recipe(&relabelled, &identity);
    assert!(!passed && said.contains("the time shown"), "{said}");
    // No checkpoint: nothing ties the entries to DE-BKA.
    let unsigned = tampered(&file, &d("unsigned.jsonl"), |lines| {
        lines.retain(|l| !l.contains("\"type\":\"checkpoint\""));
    });
    let err = String::from_utf8_lossy(&verify(&unsigned, &identity).stderr).into_owned();
    assert!(err.contains("no checkpoint signed by DE-BKA"), "{err}");
    let (passed, said) = recipe(&unsigned, &identity);
    assert!(
        !passed && said.contains("no checkpoint signed by DE-BKA"),
        "{said}"
    );
    // Someone else's identity.
    let nl_identity = d("nl.identity");
    ok(&[
        "identity",
        "export",
        "--data-dir",
        nodes[0].d(),
        "--out",
        nl_identity.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&verify(&file, &nl_identity).stderr).into_owned();
    assert!(
        err.contains("the log of DE-BKA, but the identity is NL-NP's"),
        "{err}"
    );
}
