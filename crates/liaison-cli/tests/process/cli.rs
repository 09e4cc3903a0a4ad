//! The operator commands of the foundation, run as a real `liaison` process.

use std::os::unix::fs::PermissionsExt as _;

use crate::util::{self, fails, init, ok};

/// `identity export` writes a bundle that imports with the same fingerprint, and never
/// overwrites a file.
fn export_and_reimport(d: &str, bundle: &std::path::Path, fingerprint: &str) {
    let export = [
        "identity",
        "export",
        "--data-dir",
        d,
        "--out",
        bundle.to_str().unwrap(),
    ];
    ok(&export);
    let imported =
        liaison_core::SignedIdentity::from_bytes(std::fs::read(bundle).unwrap().into()).unwrap();
    assert_eq!(imported.fingerprint().to_string(), fingerprint);
    assert_eq!(imported.document().agency.as_str(), "DE-BKA");
    fails(&export, 1);
}

#[test]
fn init_show_export_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("de");
    let d = dir.to_str().unwrap();
    let out = ok(&[
        "init",
        "--data-dir",
        d,
        "--agency",
        "DE-BKA",
        "--name",
        "Bundeskriminalamt",
        "--peer-endpoint",
        "liaison.bka.example:7443",
        "--api-endpoint",
        "127.0.0.1:9444",
    ]);
    assert!(out.contains("Root-key fingerprint:"), "{out}");

    let shown: serde_json::Value =
        serde_json::from_str(&ok(&["identity", "show", "--data-dir", d, "--json"])).unwrap();
    assert_eq!(shown["agency"], "DE-BKA");
    assert_eq!(shown["identity_version"], 1);
    assert_eq!(shown["peer_endpoints"][0], "liaison.bka.example:7443");
    assert_eq!(shown["peer_listen"], "0.0.0.0:7443");
    assert_eq!(shown["api_listen"], "127.0.0.1:9444");
    let fingerprint = shown["fingerprint"].as_str().unwrap().to_owned();
    assert!(out.contains(&fingerprint));
    assert!(shown["signing_key_id"].as_str().unwrap().starts_with("s-"));

    let table = ok(&["identity", "show", "--data-dir", d]);
    assert!(
        table.contains(&fingerprint) && table.contains("Bundeskriminalamt"),
        "{table}"
    );

    export_and_reimport(d, &tmp.path().join("de.bundle"), &fingerprint);
    for key in [
        "keys/root.key",
        "keys/signing.key",
        "keys/encryption.key",
        "tls/ca.key",
        "tls/node.key",
    ] {
        let mode = std::fs::metadata(dir.join(key))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }

    let verified: serde_json::Value =
        serde_json::from_str(&ok(&["log", "verify", "--data-dir", d, "--json"])).unwrap();
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["entries"], 5);
    assert_eq!(verified["checkpoints"], 1);
}

#[test]
fn init_refuses_to_overwrite_a_node() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nl");
    init(&dir, "NL-NP");
    let before = ok(&[
        "identity",
        "show",
        "--data-dir",
        dir.to_str().unwrap(),
        "--json",
    ]);
    let err = fails(
        &[
            "init",
            "--data-dir",
            dir.to_str().unwrap(),
            "--agency",
            "NL-NP",
            "--name",
            "again",
        ],
        1,
    );
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(
        ok(&[
            "identity",
            "show",
            "--data-dir",
            dir.to_str().unwrap(),
            "--json"
        ]),
        before
    );
}

#[test]
fn bad_input_gets_a_sentence_and_a_nonzero_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("x");
    let d = d.to_str().unwrap();
    let err = fails(
        &[
            "init",
            "--data-dir",
            d,
            "--agency",
            "netherlands",
            "--name",
            "x",
        ],
        2,
    );
    // A malformed value is a usage error (exit 2) naming the flag, before any file is touched.
    assert!(
        err.contains("--agency") && err.contains("not an agency id"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(d).exists(),
        "a refused init created {d}"
    );
    let err = fails(
        &[
            "init",
            "--data-dir",
            d,
            "--agency",
            "NL-NP",
            "--name",
            "x",
            "--peer-endpoint",
            "nohost",
        ],
        1,
    );
    assert!(err.contains("peer.advertise"), "{err}");
    assert!(
        !tmp.path().join("x").join("keys").exists(),
        "a refused init left files behind"
    );
    let err = fails(&["identity", "show", "--data-dir", d], 1);
    assert!(err.contains("liaison init"), "{err}");
    fails(&["log", "verify"], 2);
    fails(&["no-such-command"], 2);
}

#[test]
fn data_dir_may_come_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ro");
    init(&dir, "RO-DIICOT");
    let out = util::liaison()
        .args(["identity", "show", "--json"])
        .env("LIAISON_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("RO-DIICOT"));
}

#[test]
fn log_verify_fails_and_names_the_entry_after_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nl");
    init(&dir, "NL-NP");
    {
        let db = sled::open(dir.join("log/sled")).unwrap();
        let tree = db.open_tree("log").unwrap();
        let key = [&b"e"[..], &2u64.to_be_bytes()].concat();
        let mut value = tree.get(&key).unwrap().unwrap().to_vec();
        let last = value.len() - 1;
        value[last] ^= 1;
        tree.insert(key, value).unwrap();
        db.flush().unwrap();
    }
    let err = fails(&["log", "verify", "--data-dir", dir.to_str().unwrap()], 1);
    assert!(err.contains("log entry 2 is bad"), "{err}");
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let script = ok(&["completions", shell]);
        assert!(
            script.contains("liaison") && script.contains("bulletin"),
            "{shell}"
        );
    }
    fails(&["completions", "powershell-classic"], 2);
}

#[test]
fn data_printing_commands_speak_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nl");
    let d = dir.to_str().unwrap();
    let created: serde_json::Value = serde_json::from_str(&ok(&[
        "init",
        "--data-dir",
        d,
        "--agency",
        "NL-NP",
        "--name",
        "NL",
        "--json",
    ]))
    .unwrap();
    assert_eq!(created["agency"], "NL-NP");
    let out = tmp.path().join("case");
    let issued: serde_json::Value = serde_json::from_str(&ok(&[
        "client",
        "issue",
        "--data-dir",
        d,
        "--name",
        "case",
        "--role",
        "read",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(issued["name"], "case");
    assert_eq!(issued["roles"][0], "read");
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&["client", "list", "--data-dir", d, "--json"])).unwrap();
    assert_eq!(listed[0]["name"], "case");
    let revoked: serde_json::Value = serde_json::from_str(&ok(&[
        "client",
        "revoke",
        "case",
        "--data-dir",
        d,
        "--json",
    ]))
    .unwrap();
    assert_eq!(revoked["certificate_sha256"], issued["certificate_sha256"]);
    let policy = dir.join("policy.toml").to_string_lossy().into_owned();
    let bundle = tmp.path().join("nl.bundle");
    let exported: serde_json::Value = serde_json::from_str(&ok(&[
        "identity",
        "export",
        "--data-dir",
        d,
        "--out",
        bundle.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(exported["fingerprint"], created["fingerprint"]);
    for command in [
        vec!["peer", "list", "--data-dir", d, "--json"],
        vec!["bulletin", "list", "--data-dir", d, "--json"],
        vec!["policy", "show", "--data-dir", d, "--json"],
        vec!["status", "--data-dir", d, "--json"],
        vec!["log", "export", "--data-dir", d, "--json"],
        vec!["log", "verify", "--data-dir", d, "--json"],
        vec!["identity", "show", "--data-dir", d, "--json"],
        vec!["policy", "check", &policy, "--json"],
    ] {
        let printed = ok(&command);
        serde_json::from_str::<serde_json::Value>(&printed)
            .unwrap_or_else(|e| panic!("{command:?}: {e}\n{printed}"));
    }
}

/// Regression: `liaison bulletin list | head -1` panicked ("failed printing to stdout:
/// Broken pipe", exit 101). A reader that goes away ends the command quietly.
#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nl");
    init(&dir, "NL-NP");
    let d = dir.to_str().unwrap();
    for args in [
        vec!["log", "export", "--data-dir", d],
        vec!["log", "export", "--data-dir", d, "--json"],
        vec!["bulletin", "list", "--data-dir", d],
        vec!["identity", "show", "--data-dir", d],
        vec!["completions", "bash"],
    ] {
        let mut child = util::liaison()
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the read end before the command writes its first line.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "liaison {args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "liaison {args:?}: {stderr}");
    }
}

#[test]
fn man_pages_for_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("man1");
    let said = ok(&["man", "--out", out.to_str().unwrap()]);
    let page = |name: &str| std::fs::read_to_string(out.join(format!("{name}.1"))).unwrap();
    // The top page, a group, and a nested command, each from the same text as --help.
    assert!(page("liaison").starts_with(".ie \\n(.g .ds Aq"), "not roff");
    assert!(page("liaison").contains(".TH liaison 1"));
    assert!(page("liaison-peer").contains("peer\\-add"));
    let release = page("liaison-bulletin-release");
    assert!(
        release.contains(&format!(
            ".TH liaison-bulletin-release 1  \"liaison-bulletin-release {}\"",
            env!("CARGO_PKG_VERSION")
        )),
        "{release}"
    );
    assert!(release.contains("Release a bulletin this node published"));
    assert!(release.contains("\\-\\-days"));
    let count = std::fs::read_dir(&out).unwrap().count();
    assert!(said.contains(&format!("Wrote {count} man pages")), "{said}");
    assert!(count > 30, "{count} pages");
}
