//! The sharing policy between real nodes: what the sender's policy denies never
//! reaches the partner (checked in the partner's own log), what the receiver's policy
//! refuses is rejected with a signed receipt naming the rule and its code, a reload
//! under load judges every bulletin under exactly one policy version, a recall reaches
//! every recipient, and onward sharing follows the originator's marking.

use std::time::Duration;

use liaison_core::BulletinId;
use liaison_node::edge::admin::{
    BulletinForward, BulletinRecall, BulletinSend, BulletinShow, LogExport, PolicyExplain,
    PolicyReload, PolicyShow,
};
use liaison_node::node::journal::PolicyDecisionRecord;
use liaison_node::ops::bulletins::Recipients;
use liaison_node::ops::bulletins::views::{SendRequest, SendView};
use liaison_node::ops::log::ExportedBody;
use liaison_node::ops::policy::Question;
use liaison_tests::{LONG, TestNode, allow_everything, federation, wait_until};
use prost::Message as _;

fn request(to: &[&str], category: &str, tlp: &str, handling: &[&str], title: &str) -> SendRequest {
    let to = if to == ["auto"] {
        Recipients::AllAllowed
    } else {
        Recipients::Named(to.iter().map(|a| a.parse().unwrap()).collect())
    };
    SendRequest {
        handling: handling.iter().map(|h| h.parse().unwrap()).collect(),
        expires_in_days: Some(30),
        ..SendRequest::new(
            to,
            category.parse().unwrap(),
            tlp.parse().unwrap(),
            title,
            "body",
        )
    }
}

fn send(node: &TestNode, to: &[&str], category: &str, tlp: &str) -> Result<SendView, String> {
    node.try_admin(BulletinSend(request(
        to,
        category,
        tlp,
        &[],
        &format!("{category} {tlp}"),
    )))
    .map_err(|e| e.to_string())
}

/// `Received` entries in a node's log.
fn received_count(node: &TestNode) -> usize {
    let exported = node.admin(LogExport {
        since: 1,
        limit: usize::MAX,
        with_bytes: false,
        reads: false,
    });
    exported.iter().filter(|e| e.kind == "received").count()
}

#[test]
fn a_partner_the_policy_denies_never_receives_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
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
                // Denied for both: the error names each rule, with no internal prefix.
                assert!(e.starts_with("denied by the sharing policy"), "{e}");
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
    let explained = a.admin(PolicyExplain {
        question: Question::To {
            partner: "DE-BKA".parse().unwrap(),
            origin: None,
        },
        category: "trafficking.persons".parse().unwrap(),
        tlp: "red".parse().unwrap(),
        handling: vec![],
    });
    assert!(!explained.allowed);
    assert_eq!(explained.rule, "partners.DE-BKA.max_send_tlp");

    wait_until("delivery to DE-BKA", Duration::from_secs(60), || {
        a.outbox(b) == 0
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.inbox().len(), 11);
    assert_eq!(c.inbox().len(), 0);
    // And in RO-DIICOT's own log, not only in the sender's decision.
    nodes[2].stop();
    assert_eq!(received_count(&nodes[2]), 0);
    nodes[2].verify_log();
}

#[test]
fn the_receiver_rejects_what_its_policy_refuses_with_a_signed_reason_and_code() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
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
    assert_eq!(
        a.show(accepted.id.parse().unwrap()).delivery[0].state,
        "accepted"
    );
    let detail = a.show(refused.id.parse().unwrap());
    assert_eq!(detail.delivery[0].state, "rejected");
    assert_eq!(
        detail.delivery[0].reject_code.as_deref(),
        Some("REJECT_CODE_POLICY_DENIED")
    );
    let reason = detail.delivery[0].detail.clone().unwrap();
    assert!(
        reason.contains("sharing policy") && reason.contains("partners.NL-NP.receive"),
        "{reason}"
    );
    let inbox = b.inbox();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id, accepted.id);
    // The receiver logged the refusal as data: code, rule, policy version.
    let exported = b.admin(LogExport {
        since: 1,
        limit: usize::MAX,
        with_bytes: false,
        reads: false,
    });
    let rejected = exported
        .iter()
        .find_map(|e| match &e.body {
            ExportedBody::Event(event) => {
                let json = serde_json::to_value(event).unwrap();
                (json["event"] == "envelope-rejected").then_some(json)
            }
            _ => None,
        })
        .expect("the refusal is in DE-BKA's log");
    assert_eq!(rejected["code"], "REJECT_CODE_POLICY_DENIED");
    assert_eq!(rejected["decision"]["rule"], "partners.NL-NP.receive");
    assert_eq!(rejected["decision"]["allowed"], false);
}

#[test]
fn a_reload_under_load_judges_each_bulletin_under_one_version() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
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
            a.admin(PolicyReload {});
        }
        for p in publishers {
            p.join().unwrap();
        }
    });
    nodes[0].stop();
    // Read the decisions recorded, as data, with each publication.
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
        let decisions: Vec<PolicyDecisionRecord> = record
            .decisions
            .iter()
            .map(|d| PolicyDecisionRecord::from_pb(d).unwrap())
            .collect();
        assert_eq!(decisions.len(), 2);
        assert!(decisions.iter().all(|d| d.allowed));
        assert_eq!(
            decisions[0].policy_version, decisions[1].policy_version,
            "one bulletin judged under two versions: {decisions:?}"
        );
        versions.insert(decisions[0].policy_version.clone());
    }
    assert_eq!(published, 160);
    assert!(
        versions.len() >= 2,
        "the reloads did not happen under load: {versions:?}"
    );
    // A file that does not validate is refused (naming line and field) and changes nothing.
    let err = liaison_core::policy::Policy::parse("[partners.DE-BKA]\nmax_send_tlp = \"purple\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2") && err.contains("max_send_tlp"),
        "{err}"
    );
}

#[test]
fn a_recall_reaches_every_recipient_and_comes_back_as_purge_receipts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
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
    let recall = |node: &TestNode, id: BulletinId, reason: &str| {
        node.try_admin(BulletinRecall {
            id,
            reason: reason.into(),
        })
        .map_err(|e| e.to_string())
    };
    let recalled = recall(&nodes[0], y, "sent in error").unwrap();
    assert_eq!(recalled.recall_sent_to, ["DE-BKA"]);
    assert_eq!(recalled.withdrawn_before_delivery, ["RO-DIICOT"]);
    recall(&nodes[0], x, "wrong person identified").unwrap();
    let err = recall(&nodes[0], x, "again").unwrap_err();
    assert!(err.contains("already recalled"), "{err}");
    nodes[2].start();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    wait_until(
        "the recalls to be delivered",
        Duration::from_secs(60),
        || a.outbox(b) == 0 && a.outbox(c) == 0,
    );
    // The originator holds a signed purge receipt from everyone the bulletin reached.
    for (id, expected) in [(x, vec!["DE-BKA", "RO-DIICOT"]), (y, vec!["DE-BKA"])] {
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
    let err = b.try_admin(BulletinShow { id: x }).unwrap_err().to_string();
    assert!(
        err.contains("recalled by its originator") && err.contains("wrong person identified"),
        "{err}"
    );
    // Only the originator recalls.
    let err = recall(b, x, "mine now").unwrap_err();
    assert!(
        err.contains("recalled") || err.contains("originator"),
        "{err}"
    );
    nodes[1].stop();
    nodes[1].verify_log();
}

/// A `trafficking.persons` bulletin from `node` to NL-NP; returns its id.
fn send_to_nl(node: &TestNode, tlp: &str, handling: &[&str], title: &str) -> BulletinId {
    let request = request(&["NL-NP"], "trafficking.persons", tlp, handling, title);
    node.admin(BulletinSend(request)).id.parse().unwrap()
}

#[test]
fn onward_sharing_follows_the_originators_marking_and_the_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
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
    let green = send_to_nl(b, "green", &[], "green, shareable");
    let amber = send_to_nl(b, "amber", &[], "amber, not shareable");
    let controlled = send_to_nl(b, "green", &["H2"], "green but H2");
    let red = send_to_nl(b, "red", &[], "red, never shareable");
    wait_until("B's bulletins at A", Duration::from_secs(60), || {
        b.outbox(a) == 0
    });

    let forward = |id: BulletinId| {
        a.try_admin(BulletinForward {
            id,
            to: "RO-DIICOT".parse().unwrap(),
        })
        .map_err(|e| e.to_string())
    };
    let out = forward(green).unwrap();
    assert!(
        out.decision.contains("allowed by partners.RO-DIICOT.send"),
        "{out:?}"
    );
    let err = forward(amber).unwrap_err();
    assert!(
        err.contains("TLP:AMBER bulletins are not forwarded without a release grant from DE-BKA"),
        "{err}"
    );
    let err = forward(red).unwrap_err();
    assert!(
        err.contains("TLP:RED bulletins are never forwarded, not even under a release grant"),
        "{err}"
    );
    let err = forward(controlled).unwrap_err();
    assert!(err.contains("release grant") && err.contains("H2"), "{err}");

    wait_until(
        "the forward to reach RO-DIICOT",
        Duration::from_secs(60),
        || a.outbox(c) == 0,
    );
    let inbox = c.inbox();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].id, green.to_string());
    assert_eq!(
        inbox[0].origin, "DE-BKA",
        "the originator stays the originator"
    );
    assert_eq!(inbox[0].title, "green, shareable");
    let signature = c.show(green).signature;
    assert!(signature.starts_with("valid (DE-BKA"), "{signature}");
    let forwards = a.outbound();
    assert_eq!(forwards.len(), 1, "A's log records the forward");
    assert_eq!(
        (forwards[0].id.as_str(), forwards[0].origin.as_str()),
        (green.to_string().as_str(), "DE-BKA")
    );

    // Without forward_to, nothing goes onward.
    a.write_policy(&forwarding_policy.replace("forward_to = [\"RO-DIICOT\"]", "forward_to = []"));
    a.admin(PolicyReload {});
    let err = forward(green).unwrap_err();
    assert!(err.contains("partners.DE-BKA.forward_to"), "{err}");
}

/// Regression: a recall made while a copy was on the wire (stored by the recipient,
/// its receipt not back yet) withdrew it from the queue and sent no recall, so the
/// recipient kept a recalled bulletin. The recall now follows every queued copy.
#[test]
fn a_recall_reaches_a_copy_whose_receipt_had_not_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[1].start();
    // NL-NP is down: what it publishes stays queued for DE-BKA...
    let id = nodes[0].send(&[&nodes[1]], "on the wire");
    assert_eq!(nodes[0].outbox(&nodes[1]), 1);
    // ...while the same envelope reaches DE-BKA over NL-NP's own credentials (as if NL-NP
    // had sent it and crashed before storing the receipt).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let state = liaison_node::node::state::NodeState::open(nodes[0].node()).unwrap();
    let published = state
        .log
        .get(state.log.outbox(&nodes[1].agency, 0, 1).unwrap()[0]);
    let record = liaison_proto::format::v1::PublishedRecord::decode(
        state
            .log
            .body(&published.unwrap().unwrap())
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    drop(state);
    let mut client = liaison_tests::wire::peer_client(
        &runtime,
        &nodes[1],
        &liaison_tests::wire::node_certificate(&nodes[0]),
    )
    .unwrap();
    let receipt = liaison_tests::wire::deliver_receipt(&runtime, &mut client, record.envelope);
    assert!(matches!(
        receipt.receipt().outcome,
        liaison_core::receipt::Outcome::Accepted { .. }
    ));
    assert_eq!(nodes[1].inbox().len(), 1);

    // NL-NP recalls (offline), then comes back: the recall follows the queued copy.
    let recalled = nodes[0].admin(BulletinRecall {
        id,
        reason: "sent in error".into(),
    });
    assert_eq!(recalled.withdrawn_before_delivery, ["DE-BKA"]);
    nodes[0].start();
    wait_until("the recall to be delivered", LONG, || {
        nodes[0].outbox(&nodes[1]) == 0
    });
    assert!(
        nodes[1].inbox().is_empty(),
        "DE-BKA kept a recalled bulletin"
    );
    let delivery = nodes[0].show(id).delivery;
    assert_eq!(delivery[0].state, "recalled (purged)", "{delivery:?}");
}

/// Regression: a policy naming a partner that is not imported (a typo) was accepted
/// silently; `--to auto` then quietly left the intended partner out.
#[test]
fn a_policy_naming_an_unknown_partner_is_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].write_policy(&format!(
        "{}{}",
        allow_everything("DE-BKA"),
        allow_everything("DE-BAK")
    ));
    nodes[0].start();
    let a = &nodes[0];
    let expected = "the sharing policy names DE-BAK, which is not a partner";
    let shown = a.admin(PolicyShow {});
    assert!(
        shown.warnings.iter().any(|w| w.starts_with(expected)),
        "{:?}",
        shown.warnings
    );
    let reloaded = a.admin(PolicyReload {});
    assert!(
        reloaded.warnings.iter().any(|w| w.starts_with(expected)),
        "{:?}",
        reloaded.warnings
    );
    let status = a.admin(liaison_node::edge::admin::Status {});
    assert!(
        status.warnings.iter().any(|w| w.starts_with(expected)),
        "{:?}",
        status.warnings
    );
    assert!(
        !status.warnings.iter().any(|w| w.contains("DE-BKA,")),
        "{:?}",
        status.warnings
    );
}
