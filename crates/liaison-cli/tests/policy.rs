//! The sharing policy between real nodes: what the sender's policy denies never
//! reaches the partner (checked in the partner's own log), what the receiver's policy
//! refuses is rejected with a signed receipt naming the rule, and a reload under load
//! judges every bulletin under exactly one policy version.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;

use std::time::Duration;

use liaison_node::admin::{AdminRequest, SendRequest, SendView};
use prost::Message as _;
use util::{TestNode, allow_everything, cluster, fails, ok, wait_until};

fn send(node: &TestNode, to: &[&str], category: &str, tlp: &str) -> Result<SendView, String> {
    let request = AdminRequest::BulletinSend(SendRequest {
        to: to.iter().map(|s| (*s).to_owned()).collect(),
        category: category.into(),
        tlp: tlp.into(),
        handling: vec![],
        title: format!("{category} {tlp}"),
        body: "body".into(),
        expires_in_days: 30,
    });
    match liaison_node::admin::call(&node.dir, &request) {
        Ok(Some(v)) => Ok(serde_json::from_value(v).unwrap()),
        Ok(None) => panic!("node not running"),
        Err(e) => Err(e.to_string()),
    }
}

/// `Received` entries in a stopped node's log.
fn received_count(node: &TestNode) -> usize {
    let exported: Vec<serde_json::Value> =
        serde_json::from_str(&ok(&["log", "export", "--data-dir", node.d(), "--json"])).unwrap();
    exported.iter().filter(|e| e["kind"] == "received").count()
}

#[test]
fn a_partner_the_policy_denies_never_receives_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    // NL-NP shares trafficking bulletins up to AMBER with DE-BKA, and nothing with RO-DIICOT.
    nodes[0].write_policy(
        "[partners.DE-BKA]\nsend = [\"trafficking\"]\nreceive = [\"*\"]\nmax_send_tlp = \"amber\"\n",
    );
    for n in &mut nodes {
        n.start();
    }
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut to_b = 0;
    for (i, (category, tlp)) in [
        ("trafficking.persons", "green"),
        ("trafficking.persons", "red"),
        ("fraud.financial", "clear"),
        ("trafficking.financial", "amber"),
    ]
    .iter()
    .cycle()
    .take(20)
    .enumerate()
    {
        match send(a, &["DE-BKA", "RO-DIICOT"], category, tlp) {
            Ok(sent) => {
                assert_eq!(sent.queued_for, ["DE-BKA"], "{i}: {sent:?}");
                assert!(
                    sent.refused[0].starts_with("RO-DIICOT: denied by default-deny"),
                    "{:?}",
                    sent.refused
                );
                to_b += 1;
            }
            Err(e) => {
                // Denied for both: the error names each rule.
                assert!(e.contains("denied by the sharing policy"), "{e}");
                assert!(e.contains("partners.DE-BKA."), "{e}");
                assert!(e.contains("default-deny"), "{e}");
            }
        }
    }
    assert_eq!(
        to_b, 10,
        "trafficking green and amber are allowed to DE-BKA, the rest not"
    );
    // --to auto picks exactly the partners whose policy allows it.
    let auto = send(a, &["auto"], "trafficking.persons", "green").unwrap();
    assert_eq!(auto.queued_for, ["DE-BKA"]);
    let explained = ok(&[
        "policy",
        "explain",
        "--data-dir",
        a.d(),
        "--to",
        "DE-BKA",
        "--category",
        "trafficking.persons",
        "--tlp",
        "red",
    ]);
    assert!(
        explained.contains("WOULD NOT GO") && explained.contains("partners.DE-BKA.max_send_tlp"),
        "{explained}"
    );

    wait_until("delivery to DE-BKA", Duration::from_secs(60), || {
        a.outbox(b) == 0
    });
    std::thread::sleep(Duration::from_millis(500));
    let (b_inbox, c_inbox) = (b.inbox().len(), c.inbox().len());
    assert_eq!(b_inbox, 11);
    assert_eq!(c_inbox, 0);
    // And in RO-DIICOT's own log, not only in the sender's decision.
    nodes[2].stop();
    assert_eq!(received_count(&nodes[2]), 0);
    ok(&["log", "verify", "--data-dir", nodes[2].d()]);
}

#[test]
fn the_receiver_rejects_what_its_policy_refuses_with_a_signed_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA"]);
    // DE-BKA accepts only trafficking.persons from NL-NP.
    nodes[1].write_policy(
        "[partners.NL-NP]\nsend = [\"*\"]\nreceive = [\"trafficking.persons\"]\nmax_send_tlp = \"red\"\n",
    );
    for n in &mut nodes {
        n.start();
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let accepted = send(a, &["DE-BKA"], "trafficking.persons", "amber").unwrap();
    let refused = send(a, &["DE-BKA"], "trafficking.goods", "amber").unwrap();
    wait_until("receipts", Duration::from_secs(60), || a.outbox(b) == 0);
    assert_eq!(a.show(&accepted.id).delivery[0].state, "accepted");
    let detail = a.show(&refused.id);
    assert_eq!(detail.delivery[0].state, "rejected");
    let reason = detail.delivery[0].detail.clone().unwrap();
    assert!(
        reason.contains("sharing policy") && reason.contains("partners.NL-NP.receive"),
        "{reason}"
    );
    let inbox = b.inbox();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id, accepted.id);
}

#[test]
fn a_reload_under_load_judges_each_bulletin_under_one_version() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    let v1 = format!(
        "{}{}",
        allow_everything("DE-BKA"),
        allow_everything("RO-DIICOT")
    );
    let v2 = format!("# version two\n{v1}");
    nodes[0].write_policy(&v1);
    for n in &mut nodes {
        n.start();
    }
    let a = &nodes[0];
    std::thread::scope(|scope| {
        let publishers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..40 {
                        send(a, &["DE-BKA", "RO-DIICOT"], "trafficking.persons", "amber").unwrap();
                    }
                })
            })
            .collect();
        for i in 0..20 {
            a.write_policy(if i % 2 == 0 { &v2 } else { &v1 });
            ok(&["policy", "reload", "--data-dir", a.d()]);
        }
        for p in publishers {
            p.join().unwrap();
        }
    });
    nodes[0].stop();
    // Read the decisions recorded with each publication.
    let node = liaison_node::Node::load(&nodes[0].dir).unwrap();
    let log = node.open_log().unwrap();
    let mut versions = std::collections::BTreeSet::new();
    let mut published = 0;
    for entry in log.range(1, usize::MAX).unwrap() {
        if entry.kind != liaison_store::EntryKind::Published {
            continue;
        }
        published += 1;
        let record =
            liaison_proto::format::v1::PublishedRecord::decode(log.body(&entry).unwrap().unwrap())
                .unwrap();
        assert_eq!(record.decisions.len(), 2);
        let of = |d: &str| {
            d.rsplit_once("(policy ")
                .unwrap()
                .1
                .trim_end_matches(')')
                .to_owned()
        };
        let (first, second) = (of(&record.decisions[0]), of(&record.decisions[1]));
        assert_eq!(
            first, second,
            "one bulletin judged under two versions: {:?}",
            record.decisions
        );
        versions.insert(first);
    }
    assert_eq!(published, 160);
    assert!(
        versions.len() >= 2,
        "the reloads did not happen under load: {versions:?}"
    );
    // A file that does not validate is refused and changes nothing.
    nodes[0].write_policy("[partners.DE-BKA]\nmax_send_tlp = \"purple\"\n");
    let err = fails(
        &[
            "policy",
            "check",
            nodes[0].dir.join("policy.toml").to_str().unwrap(),
        ],
        1,
    );
    assert!(
        err.contains("line 2") && err.contains("max_send_tlp"),
        "{err}"
    );
}

#[test]
fn a_recall_reaches_every_recipient_and_comes_back_as_purge_receipts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    for n in &mut nodes {
        n.start();
    }
    let x = {
        let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
        let x = a.send(&[b, c], "wrong person identified");
        wait_until("delivery of X", Duration::from_secs(60), || {
            a.outbox(b) == 0 && a.outbox(c) == 0
        });
        assert_eq!(b.inbox().len(), 1);
        x
    };
    // Y reaches DE-BKA, but RO-DIICOT is down: its copy is still queued when recalled.
    nodes[2].stop();
    let y = nodes[0].send(&[&nodes[1], &nodes[2]], "second thoughts");
    wait_until("delivery of Y to DE-BKA", Duration::from_secs(60), || {
        nodes[0].outbox(&nodes[1]) == 0
    });
    let recalled: serde_json::Value = serde_json::from_str(&ok(&[
        "bulletin",
        "recall",
        &y,
        "--reason",
        "sent in error",
        "--data-dir",
        nodes[0].d(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(recalled["recall_sent_to"], serde_json::json!(["DE-BKA"]));
    assert_eq!(
        recalled["withdrawn_before_delivery"],
        serde_json::json!(["RO-DIICOT"])
    );
    ok(&[
        "bulletin",
        "recall",
        &x,
        "--reason",
        "wrong person identified",
        "--data-dir",
        nodes[0].d(),
    ]);
    let err = fails(
        &[
            "bulletin",
            "recall",
            &x,
            "--reason",
            "again",
            "--data-dir",
            nodes[0].d(),
        ],
        1,
    );
    assert!(err.contains("already recalled"), "{err}");
    nodes[2].start();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    wait_until(
        "the recalls to be delivered",
        Duration::from_secs(60),
        || a.outbox(b) == 0 && a.outbox(c) == 0,
    );
    // The originator holds a signed purge receipt from everyone the bulletin reached.
    for (id, expected) in [(&x, vec!["DE-BKA", "RO-DIICOT"]), (&y, vec!["DE-BKA"])] {
        let detail = a.show(id);
        let purged: Vec<&str> = detail
            .delivery
            .iter()
            .filter(|d| d.state == "recalled (purged)")
            .map(|d| d.agency.as_str())
            .collect();
        assert_eq!(purged, expected, "{detail:?}");
    }
    // The recipients erased it: not listed, not shown, the log still verifies.
    assert!(b.inbox().is_empty(), "{:?}", b.inbox());
    assert!(c.inbox().is_empty(), "RO-DIICOT never got Y and erased X");
    let err = fails(&["bulletin", "show", &x, "--data-dir", b.d()], 1);
    assert!(
        err.contains("recalled by its originator") && err.contains("wrong person identified"),
        "{err}"
    );
    // Only the originator recalls.
    let err = fails(
        &[
            "bulletin",
            "recall",
            &x,
            "--reason",
            "mine now",
            "--data-dir",
            b.d(),
        ],
        1,
    );
    assert!(
        err.contains("recalled") || err.contains("originator"),
        "{err}"
    );
    nodes[1].stop();
    ok(&["log", "verify", "--data-dir", nodes[1].d()]);
}

#[test]
fn onward_sharing_follows_the_originators_marking_and_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    // NL-NP may pass DE-BKA's bulletins on to RO-DIICOT, up to GREEN; H2 keeps a bulletin
    // under its originator's control.
    let forwarding_policy = "[handling]\noriginator_control = [\"H2\"]\n\n\
        [partners.DE-BKA]\nsend = [\"*\"]\nreceive = [\"*\"]\nmax_send_tlp = \"red\"\naccept_handling = [\"H2\"]\nforward_to = [\"RO-DIICOT\"]\n\n\
        [partners.RO-DIICOT]\nsend = [\"*\"]\nreceive = [\"*\"]\nmax_send_tlp = \"green\"\naccept_handling = [\"H2\"]\n";
    nodes[0].write_policy(forwarding_policy);
    for n in &mut nodes {
        n.start();
    }
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let send_from_b = |tlp: &str, handling: &[&str], title: &str| -> String {
        let sent: SendView = b.admin(AdminRequest::BulletinSend(SendRequest {
            to: vec!["NL-NP".into()],
            category: "trafficking.persons".into(),
            tlp: tlp.into(),
            handling: handling.iter().map(|h| (*h).to_owned()).collect(),
            title: title.into(),
            body: "from the originator".into(),
            expires_in_days: 30,
        }));
        sent.id
    };
    let green = send_from_b("green", &[], "green, shareable");
    let amber = send_from_b("amber", &[], "amber, not shareable");
    let controlled = send_from_b("green", &["H2"], "green but H2");
    let red = send_from_b("red", &[], "red, never shareable");
    wait_until("B's bulletins at A", Duration::from_secs(60), || {
        b.outbox(a) == 0
    });

    let out = ok(&[
        "bulletin",
        "forward",
        &green,
        "--to",
        "RO-DIICOT",
        "--data-dir",
        a.d(),
    ]);
    assert!(out.contains("allowed by partners.RO-DIICOT.send"), "{out}");
    let err = fails(
        &[
            "bulletin",
            "forward",
            &amber,
            "--to",
            "RO-DIICOT",
            "--data-dir",
            a.d(),
        ],
        1,
    );
    assert!(
        err.contains("TLP:AMBER bulletins are never forwarded"),
        "{err}"
    );
    let err = fails(
        &[
            "bulletin",
            "forward",
            &red,
            "--to",
            "RO-DIICOT",
            "--data-dir",
            a.d(),
        ],
        1,
    );
    assert!(
        err.contains("TLP:RED bulletins are never forwarded"),
        "{err}"
    );
    let err = fails(
        &[
            "bulletin",
            "forward",
            &controlled,
            "--to",
            "RO-DIICOT",
            "--data-dir",
            a.d(),
        ],
        1,
    );
    assert!(err.contains("release grant") && err.contains("H2"), "{err}");

    wait_until(
        "the forward to reach RO-DIICOT",
        Duration::from_secs(60),
        || a.outbox(c) == 0,
    );
    let inbox = c.inbox();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id, green);
    assert_eq!(
        inbox[0].origin, "DE-BKA",
        "the originator stays the originator"
    );
    assert_eq!(inbox[0].title, "green, shareable");
    assert!(
        c.show(&green).signature.starts_with("valid (DE-BKA"),
        "{}",
        c.show(&green).signature
    );
    let forwards: Vec<liaison_node::admin::BulletinSummary> = a.admin(AdminRequest::BulletinList {
        direction: Some(liaison_node::admin::Direction::Out),
    });
    assert_eq!(forwards.len(), 1, "A's log records the forward");
    assert_eq!(
        (forwards[0].id.as_str(), forwards[0].origin.as_str()),
        (green.as_str(), "DE-BKA")
    );

    // Without forward_to, nothing goes onward.
    a.write_policy(&forwarding_policy.replace("forward_to = [\"RO-DIICOT\"]", "forward_to = []"));
    ok(&["policy", "reload", "--data-dir", a.d()]);
    let err = fails(
        &[
            "bulletin",
            "forward",
            &green,
            "--to",
            "RO-DIICOT",
            "--data-dir",
            a.d(),
        ],
        1,
    );
    assert!(err.contains("partners.DE-BKA.forward_to"), "{err}");
}
