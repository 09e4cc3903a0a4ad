//! A receiving node enforces its originator-control rules on forwarded bulletins
//! itself, whatever the forwarder did: a partner that forwards a bulletin its
//! originator keeps under control (a bug, or bad faith) is refused, the refusal is a
//! signed rejection with its code, and both sides can see it. The originator's release
//! grant takes such a bulletin exactly where it says, and no further; a recall follows
//! every forwarded copy.

use bytes::Bytes;
use liaison_core::receipt::{Outcome, RejectCode, SignedReceipt};
use liaison_core::{BulletinId, Receiver, RecipientKey, SealedEnvelope, UnixMillis};
use liaison_node::edge::admin::BulletinRelease;
use liaison_node::edge::admin::{
    BulletinForward, BulletinRecall, BulletinSend, BulletinShow, LogExport, PolicyExplain,
    PolicyShow, Status,
};
use liaison_node::node::journal;
use liaison_node::ops::bulletins::views::SendRequest;
use liaison_node::ops::bulletins::{Recipients, ReleaseView};
use liaison_node::ops::log::ExportedBody;
use liaison_node::ops::policy::Question;
use liaison_proto::format::v1 as fmt;
use liaison_store::{Effect, EntryKind};
use liaison_tests::{LONG, TestNode, allow_everything, federation, wait_until};
use prost::Message as _;

/// NL-NP sends DE-BKA a TLP:GREEN bulletin with `handling`; returns its id once there.
fn send_green(nl: &TestNode, de: &TestNode, handling: &[&str], title: &str) -> BulletinId {
    let request = SendRequest {
        handling: handling.iter().map(|h| h.parse().unwrap()).collect(),
        expires_in_days: Some(30),
        ..SendRequest::new(
            Recipients::Named(vec![de.agency.clone()]),
            "trafficking.persons".parse().unwrap(),
            liaison_core::Tlp::Green,
            title,
            "names and phones",
        )
    };
    let id: BulletinId = nl.admin(BulletinSend(request)).id.parse().unwrap();
    wait_until("delivery to DE-BKA", LONG, || nl.outbox(de) == 0);
    id
}

/// What a modified DE-BKA does: builds the forwarded envelope itself, skipping its own
/// policy, and queues it for RO-DIICOT in its outbox (the node's delivery worker then
/// sends it like any forward).
fn forward_bypassing_policy(de: &TestNode, ro: &TestNode, id: BulletinId) {
    forward_with_grant(de, ro, id, None);
}

/// [`forward_bypassing_policy`], with `grant` (an encoded `SignedReleaseGrant`, genuine
/// or not) put into the forwarding, which DE-BKA signs again.
fn forward_with_grant(de: &TestNode, ro: &TestNode, id: BulletinId, grant: Option<Bytes>) {
    let state = de.state();
    let node = state.node();
    let received = state
        .log
        .entries_for_bulletin(&id)
        .unwrap()
        .into_iter()
        .find(|e| e.kind == EntryKind::Received)
        .unwrap();
    let original = SealedEnvelope::decode(state.log.body(&received).unwrap().unwrap()).unwrap();
    let holder = Receiver {
        agency: &node.config().agency,
        encryption_keys: node.decryption_keys(),
        epochs: None,
    };
    let to = RecipientKey {
        agency: ro.agency.clone(),
        key: ro.node().identity().document().encryption_key.key.clone(),
    };
    let forwarded = liaison_core::forward::forward(
        &original,
        holder,
        &*state.partners.snapshot(),
        &node.keys().signing,
        &to,
        None,
        UnixMillis::now(),
        &mut liaison_core::crypto::SystemRng,
    )
    .unwrap();
    let mut envelope = forwarded.as_bytes().clone();
    if let Some(grant) = grant {
        let mut outer = fmt::ForwardedEnvelope::decode(envelope).unwrap();
        let mut forwarding = fmt::Forwarding::decode(outer.forwarding.clone()).unwrap();
        forwarding.release_grant = grant;
        outer.forwarding = forwarding.encode_to_vec().into();
        let signature = node.keys().signing.sign(
            liaison_core::crypto::domain::FORWARDED,
            &[&outer.forwarding],
        );
        outer.signature = Bytes::copy_from_slice(&signature);
        envelope = outer.encode_to_vec().into();
    }
    let record = fmt::PublishedRecord {
        envelope,
        content: Bytes::new(),
        own_copy: None,
        refusals: vec![],
        decisions: vec![],
        forwarded: true,
    };
    let entry =
        journal::published_entry(&record, id).with_effect(Effect::Enqueue(ro.agency.clone()));
    state.log.append(entry).unwrap();
    state.wake(&ro.agency);
}

/// The newest signed receipt DE-BKA holds from RO-DIICOT for bulletin `id`.
fn receipt_at_forwarder(de: &TestNode, id: BulletinId) -> Outcome {
    receipt_from(de, "RO-DIICOT", id)
}

/// The newest signed receipt `node` holds from `partner` for bulletin `id`.
fn receipt_from(node: &TestNode, partner: &str, id: BulletinId) -> Outcome {
    let state = node.state();
    state
        .log
        .entries_for_bulletin(&id)
        .unwrap()
        .into_iter()
        .rev()
        .find(|e| {
            e.kind == EntryKind::Receipt && e.agency.as_ref().map(|a| a.as_str()) == Some(partner)
        })
        .and_then(|e| state.log.body(&e).unwrap())
        .map(|body| {
            SignedReceipt::from_stored(body)
                .unwrap()
                .receipt()
                .outcome
                .clone()
        })
        .unwrap_or_else(|| panic!("a receipt from {partner}"))
}

/// RO-DIICOT's log holds one forwarding violation by DE-BKA, and its status warns.
fn assert_violation_recorded(ro: &TestNode) {
    let violations = ro
        .admin(LogExport {
            since: 1,
            limit: usize::MAX,
            with_bytes: false,
            reads: false,
        })
        .into_iter()
        .filter_map(|e| match e.body {
            ExportedBody::Event(event) => Some(serde_json::to_value(event).unwrap()),
            _ => None,
        })
        .filter(|event| event["event"] == "forwarding-violation")
        .collect::<Vec<_>>();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0]["forwarder"], "DE-BKA");
    assert_eq!(violations[0]["origin"], "NL-NP");
    assert_eq!(
        violations[0]["decision"]["rule"],
        "handling.originator_control"
    );
    let warnings = ro.admin(Status {}).warnings;
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("DE-BKA forwarded 1 bulletin(s) further")),
        "{warnings:?}"
    );
}

#[test]
fn a_forward_of_an_originator_controlled_bulletin_is_refused_by_the_receiver_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    // RO-DIICOT keeps H2 bulletins with their originators.
    let ro_policy = format!(
        "[handling]\noriginator_control = [\"H2\"]\n\n{}{}",
        allow_everything("NL-NP"),
        allow_everything("DE-BKA")
    );
    nodes[2].write_policy(&ro_policy);
    for n in &mut nodes {
        n.start();
    }
    let (nl, de, ro) = (&nodes[0], &nodes[1], &nodes[2]);
    let controlled = send_green(nl, de, &["H2"], "GREEN but H2");
    let shareable = send_green(nl, de, &[], "GREEN, shareable");

    forward_bypassing_policy(de, ro, controlled);
    forward_bypassing_policy(de, ro, shareable);
    wait_until("DE-BKA's outbox to RO-DIICOT to drain", LONG, || {
        de.outbox(ro) == 0
    });

    // The forwarder holds RO-DIICOT's signed refusal, with its code.
    match receipt_at_forwarder(de, controlled) {
        Outcome::Rejected { code, reason } => {
            assert_eq!(code, RejectCode::ForwardingRefused);
            assert!(!code.is_transient());
            assert!(
                reason.contains("H2") && reason.contains("handling.originator_control"),
                "{reason}"
            );
        }
        other => panic!("RO-DIICOT answered {other:?} to an H2 forward"),
    }
    // The same path carries what the marking allows: the path is not broken.
    assert!(matches!(
        receipt_at_forwarder(de, shareable),
        Outcome::Accepted { .. }
    ));
    let inbox: Vec<String> = ro.inbox().into_iter().map(|b| b.id).collect();
    assert_eq!(
        inbox,
        [shareable.to_string()],
        "only the shareable bulletin is stored"
    );

    // The receiver logged a violation by the forwarder, and status warns about it.
    assert_violation_recorded(ro);

    // The operator sees which codes the node enforces, and can ask the same question
    // in advance.
    assert_eq!(ro.admin(PolicyShow {}).originator_control, ["H2"]);
    let explained = ro.admin(PolicyExplain {
        question: Question::From {
            partner: de.agency.clone(),
            origin: Some(nl.agency.clone()),
        },
        category: "trafficking.persons".parse().unwrap(),
        tlp: liaison_core::Tlp::Green,
        handling: vec!["H2".parse().unwrap()],
    });
    assert!(!explained.allowed);
    assert_eq!(explained.rule, "handling.originator_control");
}

/// Whether `node` has erased bulletin `id` everywhere: `bulletin show` says it was
/// recalled, and no entry about it keeps a body with its content.
fn erased_everywhere(node: &TestNode, id: BulletinId) -> bool {
    let recalled = matches!(
        node.try_admin(BulletinShow { id }),
        Err(e) if e.to_string().contains("was recalled by its originator")
    );
    let state = node.state();
    let leftovers = state
        .log
        .entries_for_bulletin(&id)
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.kind, EntryKind::Published | EntryKind::Received))
        .filter(|e| state.log.body(e).unwrap().is_some())
        .count();
    recalled && leftovers == 0
}

#[test]
fn a_recall_follows_the_bulletin_to_everyone_it_was_forwarded_to() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    // DE-BKA may pass NL-NP's bulletins on to RO-DIICOT.
    let de_policy = format!(
        "{}forward_to = [\"RO-DIICOT\"]\n\n{}",
        allow_everything("NL-NP"),
        allow_everything("RO-DIICOT")
    );
    nodes[1].write_policy(&de_policy);
    let nl_system = liaison_tests::api::issue_client(&nodes[0], "nl-case-system", "read");
    for n in &mut nodes {
        n.start();
    }
    let id = send_green(&nodes[0], &nodes[1], &[], "to be recalled");
    nodes[1].admin(BulletinForward {
        id,
        to: nodes[2].agency.clone(),
    });
    wait_until("the forward to arrive", LONG, || {
        nodes[2].inbox().len() == 1
    });
    wait_until("the forward's receipt", LONG, || {
        nodes[1].outbox(&nodes[2]) == 0
    });

    // RO-DIICOT is down when NL-NP recalls: the recall waits at DE-BKA for it.
    nodes[2].stop();
    nodes[0].admin(BulletinRecall {
        id,
        reason: "source compromised".into(),
    });
    let (nl, de) = (&nodes[0], &nodes[1]);
    wait_until("DE-BKA to erase its copies", LONG, || {
        erased_everywhere(de, id)
    });
    wait_until("the recall to be queued for RO-DIICOT", LONG, || {
        de.outbox(&nodes[2]) == 1
    });
    // DE-BKA erases before its purge receipt reaches NL-NP: wait for the receipt.
    wait_until("DE-BKA's purge receipt at NL-NP", LONG, || {
        nl.show(id)
            .delivery
            .iter()
            .any(|d| d.state.starts_with("recalled"))
    });

    nodes[2].start();
    let (de, ro) = (&nodes[1], &nodes[2]);
    wait_until("RO-DIICOT to erase the forwarded copy", LONG, || {
        erased_everywhere(ro, id)
    });
    wait_until("RO-DIICOT's purge receipt at DE-BKA", LONG, || {
        matches!(receipt_at_forwarder(de, id), Outcome::Purged { .. })
    });
    // The originator sees the whole chain, from signed notices: DE-BKA's forward and
    // RO-DIICOT's purge, relayed by DE-BKA.
    let nl = &nodes[0];
    wait_until("the purge to reach NL-NP", LONG, || {
        nl.show(id).onward.len() == 2
    });
    let onward = nl.show(id).onward;
    assert!(
        onward[0].contains("DE-BKA forwarded it to RO-DIICOT"),
        "{onward:?}"
    );
    assert!(
        onward[1].contains("RO-DIICOT purged it") && onward[1].contains("relayed by DE-BKA"),
        "{onward:?}"
    );
    // DeliveryStatus carries RO-DIICOT's signed purge receipt, which verifies with its
    // key.
    let steps = onward_steps(nl, &nl_system, id);
    let purge = steps
        .iter()
        .find_map(|s| match s {
            liaison_proto::v1::onward_step::Step::Purged(p) => Some(p),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no purge step: {steps:?}"));
    assert_eq!(
        (purge.relayed_by.as_str(), purge.receiver.as_str()),
        ("DE-BKA", "RO-DIICOT")
    );
    let receipt = SignedReceipt::verify(
        Bytes::from(purge.receipt.as_ref().unwrap().encode_to_vec()),
        &ro.node().identity().document().signing_key.key,
    )
    .unwrap();
    assert!(matches!(receipt.receipt().outcome, Outcome::Purged { .. }));
    assert!(ro.verify_log() > 0 && de.verify_log() > 0);
}

/// NL-NP sends DE-BKA a bulletin marked `tlp` with `handling`; returns its id once
/// there.
fn send_marked(
    nl: &TestNode,
    de: &TestNode,
    tlp: liaison_core::Tlp,
    handling: &[&str],
    title: &str,
) -> BulletinId {
    let request = SendRequest {
        handling: handling.iter().map(|h| h.parse().unwrap()).collect(),
        expires_in_days: Some(30),
        ..SendRequest::new(
            Recipients::Named(vec![de.agency.clone()]),
            "trafficking.persons".parse().unwrap(),
            tlp,
            title,
            "names and phones",
        )
    };
    let id: BulletinId = nl.admin(BulletinSend(request)).id.parse().unwrap();
    wait_until("delivery to DE-BKA", LONG, || nl.outbox(de) == 0);
    id
}

fn release(nl: &TestNode, id: BulletinId, to: &[&TestNode]) -> liaison_node::Result<ReleaseView> {
    nl.try_admin(BulletinRelease {
        id,
        to: to.iter().map(|n| n.agency.clone()).collect(),
        holders: None,
        days: Some(7),
    })
}

fn forward(de: &TestNode, id: BulletinId, to: &TestNode) -> liaison_node::Result<()> {
    de.try_admin(BulletinForward {
        id,
        to: to.agency.clone(),
    })
    .map(|_| ())
}

#[test]
fn a_release_grant_takes_a_controlled_bulletin_exactly_where_its_originator_said() {
    let tmp = tempfile::tempdir().unwrap();
    let agencies = ["NL-NP", "DE-BKA", "RO-DIICOT", "FR-OCRTEH"];
    let mut nodes = federation(tmp.path(), &agencies);
    // Every node keeps H2 bulletins under their originator's control.
    for (i, node) in nodes.iter().enumerate() {
        let mut policy = "[handling]\noriginator_control = [\"H2\"]\n\n".to_owned();
        for (j, other) in agencies.iter().enumerate() {
            if i != j {
                policy.push_str(&allow_everything(other));
            }
        }
        node.write_policy(&policy);
    }
    let nl_system = liaison_tests::api::issue_client(&nodes[0], "nl-case-system", "read");
    for n in &mut nodes {
        n.start();
    }
    let (nl, de, ro, fr) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    let id = send_marked(nl, de, liaison_core::Tlp::Green, &["H2"], "GREEN, H2");

    // Without the originator's consent, DE-BKA cannot pass it on.
    let refused = forward(de, id, ro).unwrap_err().to_string();
    assert!(
        refused.contains("handling.originator_control") && refused.contains("release grant"),
        "{refused}"
    );

    // NL-NP releases it to RO-DIICOT; the signed grant reaches DE-BKA.
    let view = release(nl, id, &[ro]).unwrap();
    assert_eq!(view.holders, ["DE-BKA"]);
    assert_eq!(view.to, ["RO-DIICOT"]);
    wait_until("the grant to reach DE-BKA", LONG, || {
        de.show(id)
            .onward
            .iter()
            .any(|l| l.contains("released by NL-NP") && l.contains("RO-DIICOT"))
    });
    forward(de, id, ro).unwrap();
    wait_until("RO-DIICOT to hold it", LONG, || {
        ro.inbox().iter().any(|b| b.id == id.to_string())
    });
    let at_ro = ro.show(id);
    assert_eq!(at_ro.body, "names and phones");
    assert!(at_ro.signature.starts_with("valid"), "{}", at_ro.signature);

    // Not to a partner the grant does not name.
    let refused = forward(de, id, fr).unwrap_err().to_string();
    assert!(refused.contains("handling.originator_control"), "{refused}");

    // The originator sees its grant and the forward it allowed.
    wait_until("the forward notice to reach NL-NP", LONG, || {
        nl.show(id)
            .onward
            .iter()
            .any(|l| l.contains("DE-BKA forwarded it to RO-DIICOT"))
    });
    assert!(
        nl.show(id)
            .onward
            .iter()
            .any(|l| l.contains("released by this node: DE-BKA may pass it on to RO-DIICOT"))
    );
    // An agency system sees the same chain, with the signed statements to check.
    assert_onward_in_delivery_status(nl, &nl_system, de, id);

    // A DE-BKA that cheats is caught by the recipient itself: the genuine grant (which
    // names RO-DIICOT) carried into a forward to FR-OCRTEH, and a grant DE-BKA signed
    // itself in NL-NP's name.
    let genuine = de
        .state()
        .log
        .entries_for_bulletin(&id)
        .unwrap()
        .iter()
        .find_map(|e| liaison_node::ops::bulletins::grant_bytes(&de.state(), e).unwrap())
        .unwrap();
    forward_with_grant(de, fr, id, Some(genuine));
    wait_until("the misused grant to be refused", LONG, || {
        de.outbox(fr) == 0
    });
    match receipt_from(de, "FR-OCRTEH", id) {
        Outcome::Rejected { code, reason } => {
            assert_eq!(code, RejectCode::ForwardingRefused);
            assert!(
                reason.contains("FR-OCRTEH is not among the partners it names"),
                "{reason}"
            );
        }
        other => panic!("FR-OCRTEH answered {other:?} to a misused grant"),
    }
    let forged = liaison_core::release::SignedReleaseGrant::sign(
        id,
        nl.agency.clone(),
        vec![de.agency.clone()],
        vec![fr.agency.clone()],
        UnixMillis::now().plus_days(1),
        &de.node().keys().signing,
    );
    forward_with_grant(de, fr, id, Some(forged.to_bytes()));
    wait_until("the forged grant to be refused", LONG, || {
        de.outbox(fr) == 0
    });
    match receipt_from(de, "FR-OCRTEH", id) {
        Outcome::Rejected { code, reason } => {
            assert_eq!(code, RejectCode::ForwardingRefused);
            assert!(reason.contains("release grant"), "{reason}");
        }
        other => panic!("FR-OCRTEH answered {other:?} to a forged grant"),
    }
    assert!(fr.inbox().is_empty());

    // TLP:AMBER travels under a grant too; TLP:RED is never released.
    let amber = send_marked(nl, de, liaison_core::Tlp::Amber, &[], "AMBER");
    assert!(forward(de, amber, ro).is_err());
    release(nl, amber, &[ro]).unwrap();
    wait_until("DE-BKA to forward AMBER under the grant", LONG, || {
        forward(de, amber, ro).is_ok()
    });
    wait_until("RO-DIICOT to hold the AMBER bulletin", LONG, || {
        ro.inbox().iter().any(|b| b.id == amber.to_string())
    });
    let red = send_marked(nl, de, liaison_core::Tlp::Red, &[], "RED");
    let refused = release(nl, red, &[ro]).unwrap_err().to_string();
    assert!(refused.contains("cannot be released"), "{refused}");
    // Only the originator releases.
    let refused = release(de, id, &[fr]).unwrap_err().to_string();
    assert!(refused.contains("only its originator"), "{refused}");
}

/// The onward chain of bulletin `id` as an agency system at `nl` reads it from the
/// client API's `DeliveryStatus`.
fn onward_steps(
    nl: &TestNode,
    client_dir: &std::path::Path,
    id: BulletinId,
) -> Vec<liaison_proto::v1::onward_step::Step> {
    use liaison_proto::v1 as pb;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        let (cert, key) = liaison_tests::api::client_identity(client_dir);
        let channel = liaison_tests::api::api_channel(nl, Some((&cert, &key)))
            .await
            .unwrap();
        pb::client_client::ClientClient::new(channel)
            .delivery_status(pb::DeliveryStatusRequest {
                bulletin_id: id.to_string(),
            })
            .await
            .unwrap()
            .into_inner()
    });
    status.onward.into_iter().filter_map(|s| s.step).collect()
}

/// The client API's `DeliveryStatus` at NL-NP lists the release and DE-BKA's forward to
/// RO-DIICOT, and DE-BKA's signature on the forward verifies with its key.
fn assert_onward_in_delivery_status(
    nl: &TestNode,
    client_dir: &std::path::Path,
    de: &TestNode,
    id: BulletinId,
) {
    use liaison_proto::v1::onward_step::Step;
    let steps = onward_steps(nl, client_dir, id);
    let Some(Step::Released(release)) = steps.first() else {
        panic!("the release is not the first step: {steps:?}");
    };
    assert_eq!(release.holders, ["DE-BKA"]);
    assert_eq!(release.to, ["RO-DIICOT"]);
    let forward = steps
        .iter()
        .find_map(|s| match s {
            Step::Forwarded(f) => Some(f),
            _ => None,
        })
        .expect("a forward step");
    assert_eq!(
        (forward.forwarder.as_str(), forward.to.as_str()),
        ("DE-BKA", "RO-DIICOT")
    );
    de.node()
        .identity()
        .document()
        .signing_key
        .key
        .verify(
            liaison_core::crypto::domain::FORWARDED,
            &[&forward.forwarding],
            &forward.signature,
        )
        .expect("DE-BKA's signature on its forward verifies");
}
