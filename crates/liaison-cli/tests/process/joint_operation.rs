//! A joint operation run as its operators would: twelve agencies, each a `liaison run`
//! process, onboarded only by a roster the coordinator signed (no `peer add`
//! anywhere), sharing with a policy group, a member killed and restarted, and a roster
//! update that adds one member and retires another.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use liaison_node::node::journal::LogEvent;
use liaison_tests::{LONG, TestNode, wait_until};

use crate::util::{fails, ok, start};

const AGENCIES: [&str; 12] = [
    "NL-NP",
    "DE-BKA",
    "RO-DIICOT",
    "FR-OCRTEH",
    "ES-CNP",
    "IT-DCSA",
    "BE-FGP",
    "AT-BK",
    "PL-CBZC",
    "PT-PJ",
    "SE-NOA",
    "BG-GDBOP",
];

/// Every member's policy: the group takes its members from the roster.
const POLICY: &str = r#"
[defaults]
receive = ["trafficking"]
max_send_tlp = "green"

[groups.jit-alpha]
roster = "jit-alpha"
send = ["trafficking"]
max_send_tlp = "amber"
"#;

fn export_bundle(node: &TestNode, dir: &Path) -> PathBuf {
    let path = dir.join(format!("{}.bundle", node.agency));
    ok(&[
        "identity",
        "export",
        "--data-dir",
        node.d(),
        "--out",
        path.to_str().unwrap(),
    ]);
    path
}

/// `roster create` then `roster sign` at the coordinator; the signed file's path.
fn make_roster(coordinator: &TestNode, version: &str, bundles: &[PathBuf], dir: &Path) -> PathBuf {
    let draft = dir.join(format!("jit-alpha-{version}.draft"));
    let signed = dir.join(format!("jit-alpha-{version}.roster"));
    let mut args = vec![
        "roster",
        "create",
        "--operation",
        "jit-alpha",
        "--coordinator",
        coordinator.agency.as_str(),
        "--roster-version",
        version,
        "--out",
        draft.to_str().unwrap(),
    ];
    args.extend(bundles.iter().map(|b| b.to_str().unwrap()));
    ok(&args);
    ok(&[
        "roster",
        "sign",
        draft.to_str().unwrap(),
        "--out",
        signed.to_str().unwrap(),
        "--data-dir",
        coordinator.d(),
    ]);
    signed
}

fn import(node: &TestNode, roster: &Path, fingerprint: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&[
        "roster",
        "import",
        roster.to_str().unwrap(),
        "--fingerprint",
        fingerprint,
        "--data-dir",
        node.d(),
        "--json",
    ]))
    .unwrap()
}

fn send_to_group(node: &TestNode, title: &str) -> String {
    ok(&[
        "bulletin",
        "send",
        "--data-dir",
        node.d(),
        "--to",
        "jit-alpha",
        "--category",
        "trafficking.persons",
        "--tlp",
        "amber",
        "--title",
        title,
        "--body",
        "Joint operation bulletin",
    ])
    .trim()
    .to_owned()
}

fn holds(node: &TestNode, ids: &[String]) -> bool {
    let inbox: Vec<String> = node.inbox().into_iter().map(|b| b.id).collect();
    ids.iter().all(|id| inbox.contains(id))
}

#[test]
fn twelve_agencies_join_by_roster_share_by_group_survive_a_restart_and_follow_an_update() {
    let tmp = tempfile::tempdir().unwrap();
    let files = tmp.path().join("exchange");
    std::fs::create_dir_all(&files).unwrap();
    let mut nodes: Vec<TestNode> = AGENCIES
        .iter()
        .map(|a| TestNode::init(tmp.path(), a))
        .collect();
    let mut newcomer = TestNode::init(tmp.path(), "IS-RLS");
    for node in nodes.iter().chain([&newcomer]) {
        node.write_policy(POLICY);
    }
    let bundles: Vec<PathBuf> = nodes.iter().map(|n| export_bundle(n, &files)).collect();
    let coordinator_fp = nodes[0].fingerprint();

    // The coordinator makes and signs the roster; the members are already running.
    for node in &mut nodes {
        start(node);
    }
    let roster_v1 = make_roster(&nodes[0], "1", &bundles, &files);
    let shown = ok(&["roster", "show", roster_v1.to_str().unwrap()]);
    assert!(shown.contains(&coordinator_fp), "{shown}");

    // A wrong fingerprint changes nothing.
    let wrong = nodes[1].fingerprint();
    let refused = fails(
        &[
            "roster",
            "import",
            roster_v1.to_str().unwrap(),
            "--fingerprint",
            &wrong,
            "--data-dir",
            nodes[1].d(),
        ],
        1,
    );
    assert!(refused.contains("fingerprint"), "{refused}");
    assert!(
        nodes[1]
            .admin(liaison_node::edge::admin::PeerList {})
            .is_empty()
    );

    // Each member imports it: eleven partners each, and a group of eleven.
    for node in &nodes {
        let imported = import(node, &roster_v1, &coordinator_fp);
        assert_eq!(
            imported["added"].as_array().unwrap().len(),
            11,
            "{imported}"
        );
    }
    for node in &nodes {
        let events = node.events();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, LogEvent::PeerAdded { .. })),
            "{}: a peer was added per pair",
            node.agency
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, LogEvent::RosterImported { version: 1, .. }))
        );
    }
    let policy: serde_json::Value = serde_json::from_str(&ok(&[
        "policy",
        "show",
        "--data-dir",
        nodes[2].d(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(policy["groups"][0]["members"].as_array().unwrap().len(), 11);
    let explained = ok(&["policy", "show", "DE-BKA", "--data-dir", nodes[2].d()]);
    assert!(explained.contains("groups.jit-alpha"), "{explained}");
    assert!(explained.contains("defaults"), "{explained}");

    // One bulletin to the group reaches the eleven others.
    let first = send_to_group(&nodes[0], "Route via the northern crossing");
    for node in &nodes[1..] {
        wait_until(&format!("{} to hold it", node.agency), LONG, || {
            holds(node, std::slice::from_ref(&first))
        });
    }

    // DE-BKA is killed; the federation keeps sending to the group meanwhile, long
    // enough for the senders' retry timers to grow.
    nodes[1].kill9();
    let mut missed = vec![first];
    for (i, sender) in [0usize, 2, 3, 0].into_iter().enumerate() {
        missed.push(send_to_group(
            &nodes[sender],
            &format!("While DE-BKA was down {i}"),
        ));
    }
    std::thread::sleep(Duration::from_secs(12));
    let restarted = Instant::now();
    start(&mut nodes[1]);
    wait_until(
        "DE-BKA to hold every bulletin after its restart",
        Duration::from_secs(5),
        || holds(&nodes[1], &missed),
    );
    let catch_up = restarted.elapsed();
    assert!(catch_up < Duration::from_secs(5), "{catch_up:?}");

    // Version 2: IS-RLS joins, BG-GDBOP leaves.
    let retired = nodes.pop().unwrap();
    start(&mut newcomer);
    let mut bundles_v2: Vec<PathBuf> = bundles[..11].to_vec();
    bundles_v2.push(export_bundle(&newcomer, &files));
    let roster_v2 = make_roster(&nodes[0], "2", &bundles_v2, &files);
    for node in &nodes {
        let imported = import(node, &roster_v2, &coordinator_fp);
        assert_eq!(
            imported["added"],
            serde_json::json!(["IS-RLS"]),
            "{imported}"
        );
        assert_eq!(imported["retired"], serde_json::json!(["BG-GDBOP"]));
    }
    let imported = import(&newcomer, &roster_v2, &coordinator_fp);
    assert_eq!(imported["added"].as_array().unwrap().len(), 11);
    // The retired member is not in version 2; an old version is not taken again.
    let not_listed = fails(
        &[
            "roster",
            "import",
            roster_v2.to_str().unwrap(),
            "--fingerprint",
            &coordinator_fp,
            "--data-dir",
            retired.d(),
        ],
        1,
    );
    assert!(not_listed.contains("does not list"), "{not_listed}");
    let replayed = fails(
        &[
            "roster",
            "import",
            roster_v1.to_str().unwrap(),
            "--fingerprint",
            &coordinator_fp,
            "--data-dir",
            nodes[3].d(),
        ],
        1,
    );
    assert!(replayed.contains("not newer"), "{replayed}");

    let after = send_to_group(&nodes[2], "After the roster update");
    wait_until("IS-RLS to hold it", LONG, || {
        holds(&newcomer, std::slice::from_ref(&after))
    });
    let shown: serde_json::Value = serde_json::from_str(&ok(&[
        "bulletin",
        "show",
        &after,
        "--data-dir",
        nodes[2].d(),
        "--json",
    ]))
    .unwrap();
    let recipients: Vec<&str> = shown["delivery"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["agency"].as_str().unwrap())
        .collect();
    assert_eq!(recipients.len(), 11, "{recipients:?}");
    assert!(recipients.contains(&"IS-RLS"));
    assert!(!recipients.contains(&"BG-GDBOP"));
    assert!(!holds(&retired, &[after]));
}
