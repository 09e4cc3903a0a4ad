//! Federation rosters against a hostile or careless world: a member added per pair is
//! kept (and a disagreeing roster noted), a tampered roster, a draft, another
//! coordinator's roster for the same operation and a replayed version each change
//! nothing, and a policy group drawn from the roster follows its members.

use liaison_node::edge::admin::{BulletinSend, PeerList, PolicyShow, RosterImport, RosterList};
use liaison_node::ops::bulletins::Recipients;
use liaison_node::ops::bulletins::views::SendRequest;
use liaison_node::ops::roster::{RosterSpec, roster_create, roster_sign};
use liaison_tests::TestNode;

const POLICY: &str = r#"
[groups.jit-alpha]
roster = "jit-alpha"
send = ["trafficking"]
receive = ["trafficking"]
max_send_tlp = "amber"
"#;

/// A roster of `members` signed by `coordinator` (offline).
fn roster(coordinator: &TestNode, version: u64, members: &[&TestNode]) -> Vec<u8> {
    let bundles = members
        .iter()
        .map(|m| {
            (
                m.agency.to_string(),
                m.node().identity().to_bytes().to_vec(),
            )
        })
        .collect();
    let draft = roster_create(
        RosterSpec {
            operation: "jit-alpha".into(),
            coordinator: coordinator.agency.clone(),
            version,
            valid_days: 30,
        },
        bundles,
    )
    .unwrap();
    let state = liaison_node::node::state::NodeState::open(coordinator.node()).unwrap();
    roster_sign(&state, &draft).unwrap()
}

fn import(node: &TestNode, file: &[u8], fingerprint: &str) -> liaison_node::Result<Vec<String>> {
    node.try_admin(RosterImport {
        roster_base64: data_encoding::BASE64.encode(file),
        fingerprint: fingerprint.to_owned(),
    })
    .map(|v| v.added)
}

fn partners(node: &TestNode) -> Vec<String> {
    node.admin(PeerList {})
        .into_iter()
        .map(|p| p.agency)
        .collect()
}

#[test]
fn a_roster_adds_only_what_it_names_keeps_per_pair_partners_and_refuses_forgeries() {
    let tmp = tempfile::tempdir().unwrap();
    let [nl, de, ro, fr] =
        ["NL-NP", "DE-BKA", "RO-DIICOT", "FR-OCRTEH"].map(|a| TestNode::init(tmp.path(), a));
    de.write_policy(POLICY);
    // DE-BKA checked RO-DIICOT's fingerprint itself before the operation.
    de.add_peer(&ro);
    let v1 = roster(&nl, 1, &[&nl, &de, &ro]);
    let fp = nl.fingerprint();

    // Tampered: a member's fingerprint swapped for FR-OCRTEH's in the signed document.
    let mut json: serde_json::Value = serde_json::from_slice(&v1).unwrap();
    let document = data_encoding::BASE64
        .decode(json["document"].as_str().unwrap().as_bytes())
        .unwrap();
    let altered = String::from_utf8(document)
        .unwrap()
        .replace(&ro.fingerprint(), &fr.fingerprint());
    json["document"] = data_encoding::BASE64.encode(altered.as_bytes()).into();
    // With RO-DIICOT's bundle still there, its fingerprint gives the change away...
    let e = import(&de, &serde_json::to_vec(&json).unwrap(), &fp).unwrap_err();
    assert!(e.to_string().contains("roster.bundles[RO-DIICOT]"), "{e}");
    // ...and without it, the coordinator's signature does.
    json["bundles"].as_object_mut().unwrap().remove("RO-DIICOT");
    let e = import(&de, &serde_json::to_vec(&json).unwrap(), &fp).unwrap_err();
    assert!(
        e.to_string()
            .contains("signature does not verify under the root key of NL-NP"),
        "{e}"
    );
    // A draft, and the right roster with a wrong fingerprint.
    let draft = roster_create(
        RosterSpec {
            operation: "jit-alpha".into(),
            coordinator: nl.agency.clone(),
            version: 1,
            valid_days: 30,
        },
        vec![("de".into(), de.node().identity().to_bytes().to_vec())],
    )
    .unwrap();
    assert!(
        import(&de, &draft, &fp)
            .unwrap_err()
            .to_string()
            .contains("draft")
    );
    assert!(matches!(
        import(&de, &v1, &ro.fingerprint()),
        Err(liaison_node::Error::FingerprintMismatch { .. })
    ));
    assert_eq!(
        partners(&de),
        ["RO-DIICOT"],
        "a refused import changed nothing"
    );
    assert!(de.admin(RosterList {}).is_empty());

    // The genuine roster: NL-NP added, RO-DIICOT kept as added per pair.
    let view = de.admin(RosterImport {
        roster_base64: data_encoding::BASE64.encode(&v1),
        fingerprint: fp.clone(),
    });
    assert_eq!(view.added, ["NL-NP"]);
    assert_eq!(view.kept.len(), 1, "{view:?}");
    assert!(
        view.kept[0].starts_with("RO-DIICOT: added per pair"),
        "{view:?}"
    );
    assert_eq!(partners(&de), ["NL-NP", "RO-DIICOT"]);
    // The group holds both; the decision names the group's rule.
    let policy = de.admin(PolicyShow {});
    assert_eq!(policy.groups[0].members, ["NL-NP", "RO-DIICOT"]);
    let nl_rules = policy
        .partners
        .iter()
        .find(|p| p.agency == "NL-NP")
        .unwrap();
    assert_eq!(nl_rules.sources["max_send_tlp"], "groups.jit-alpha");

    // Another coordinator's roster for the same operation is refused, however new.
    let usurper = roster(&fr, 9, &[&fr, &de]);
    let e = import(&de, &usurper, &fr.fingerprint()).unwrap_err();
    assert!(e.to_string().contains("another key"), "{e}");
    // Version 2 drops RO-DIICOT: it was added per pair, so it stays a partner; it
    // leaves the group.
    let v2 = roster(&nl, 2, &[&nl, &de]);
    let retired = de
        .admin(RosterImport {
            roster_base64: data_encoding::BASE64.encode(&v2),
            fingerprint: fp.clone(),
        })
        .retired;
    assert!(retired.is_empty(), "{retired:?}");
    assert_eq!(partners(&de), ["NL-NP", "RO-DIICOT"]);
    assert_eq!(de.admin(PolicyShow {}).groups[0].members, ["NL-NP"]);
    // And version 1 again is a replay.
    let e = import(&de, &v1, &fp).unwrap_err();
    assert!(e.to_string().contains("not newer"), "{e}");
}

#[test]
fn sending_to_an_unknown_group_names_the_groups_there_are() {
    let tmp = tempfile::tempdir().unwrap();
    let nl = TestNode::init(tmp.path(), "NL-NP");
    nl.write_policy(POLICY);
    let e = nl
        .try_admin(BulletinSend(SendRequest {
            expires_in_days: Some(30),
            ..SendRequest::new(
                Recipients::Group("jit-beta".into()),
                "trafficking".parse().unwrap(),
                "amber".parse().unwrap(),
                "t",
                "b",
            )
        }))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("no group \"jit-beta\" (groups: jit-alpha)"),
        "{e}"
    );
}

#[test]
fn an_expired_roster_is_refused_and_one_that_expires_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let [mut nl, de] = ["NL-NP", "DE-BKA"].map(|a| TestNode::init(tmp.path(), a));
    nl.write_policy(POLICY);
    let file = roster(&nl, 1, &[&nl, &de]);
    nl.start();
    let day = 86_400_000;
    // Thirty-one days on, the thirty-day roster is refused and changes nothing.
    nl.state().clock.set_offset_ms(31 * day);
    let e = import(&nl, &file, &nl.fingerprint()).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    assert!(partners(&nl).is_empty());
    // Imported in time, it is warned about once it expires; its partners stay.
    nl.state().clock.set_offset_ms(0);
    assert_eq!(import(&nl, &file, &nl.fingerprint()).unwrap(), ["DE-BKA"]);
    let status = nl.admin(liaison_node::edge::admin::Status {});
    assert!(!status.warnings.iter().any(|w| w.contains("roster")));
    nl.state().clock.set_offset_ms(31 * day);
    let status = nl.admin(liaison_node::edge::admin::Status {});
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("roster jit-alpha version 1 expired")),
        "{:?}",
        status.warnings
    );
    assert!(nl.admin(RosterList {})[0].expired);
    assert_eq!(partners(&nl), ["DE-BKA"]);
    nl.stop();
}

#[test]
fn a_roster_that_would_make_the_policy_contradict_itself_is_refused_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let [nl, de] = ["NL-NP", "DE-BKA"].map(|a| TestNode::init(tmp.path(), a));
    // DE-BKA is listed in a group that sends trafficking; the roster's group sends
    // fraud: with DE-BKA in both, `send` would be decided twice.
    nl.write_policy(&format!(
        "{POLICY}\n[groups.eu]\nmembers = [\"DE-BKA\"]\nsend = [\"fraud\"]\nmax_send_tlp = \"amber\"\n"
    ));
    let file = roster(&nl, 1, &[&nl, &de]);
    let e = import(&nl, &file, &nl.fingerprint()).unwrap_err();
    assert!(
        e.to_string()
            .contains("would leave the sharing policy invalid")
            && e.to_string().contains("partners.DE-BKA.send"),
        "{e}"
    );
    assert!(partners(&nl).is_empty());
    assert!(nl.admin(RosterList {}).is_empty());
}
