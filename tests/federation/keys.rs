//! Key lifecycle between real nodes: rotations while bulletins flow, revocation, and
//! identity pushes that must be refused.

use liaison_core::crypto::{SigningKey, SystemRng};
use liaison_core::identity::RevocationReason;
use liaison_core::receipt::Outcome;
use liaison_core::receipt::RejectCode;
use liaison_node::Node;
use liaison_node::edge::admin::{KeyRevoke, KeyRotate, LogExport, PeerShow};
use liaison_node::ops::keys::KeyPurpose;
use liaison_node::trust::partners::{PartnerSet, Partners};
use liaison_node::trust::tls::NodeCertificate;
use liaison_proto::v1 as pb;
use liaison_tests::wire::{deliver_one, node_certificate, peer_client, seal_envelope};
use liaison_tests::{LONG, TestNode, federation, wait_until};
use tonic::Code;

fn peer_version(node: &TestNode, partner: &TestNode) -> u64 {
    node.admin(PeerShow {
        agency: partner.agency.clone(),
    })
    .identity_version
}

fn rotate(node: &TestNode, purpose: KeyPurpose) -> liaison_node::ops::keys::KeyChangeView {
    node.admin(KeyRotate { purpose })
}

fn revoke(node: &TestNode, key_id: &str) -> Result<(), String> {
    node.try_admin(KeyRevoke {
        key_id: key_id.parse().unwrap(),
        reason: RevocationReason::Compromised,
    })
    .map(|_| ())
    .map_err(|e| e.to_string())
}

#[test]
fn every_key_rotates_while_bulletins_flow_and_nothing_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    for n in &mut nodes {
        n.start();
    }
    let mut a_ids = Vec::new();
    let mut b_ids = Vec::new();
    {
        let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
        for i in 0..60 {
            a_ids.push(a.send(&[b, c], &format!("from A {i}")));
            if i % 2 == 0 {
                b_ids.push(b.send(&[a], &format!("from B {i}")));
            }
            match i {
                15 => {
                    rotate(a, KeyPurpose::Signing);
                }
                30 => {
                    rotate(b, KeyPurpose::Encryption);
                }
                45 => {
                    rotate(c, KeyPurpose::Tls);
                }
                _ => {}
            }
        }
    }
    // C serves its new TLS certificate after a restart; partners already hold the
    // identity version that pins it.
    nodes[2].stop();
    nodes[2].start();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    for i in 60..70 {
        a_ids.push(a.send(&[b, c], &format!("from A {i}")));
    }
    wait_until("every outbox to drain", LONG, || {
        a.outbox(b) == 0 && a.outbox(c) == 0 && b.outbox(a) == 0
    });
    wait_until("partners to hold the new identities", LONG, || {
        peer_version(b, a) == 2
            && peer_version(c, a) == 2
            && peer_version(a, b) == 2
            && peer_version(c, b) == 2
            && peer_version(a, c) == 2
            && peer_version(b, c) == 2
    });
    // Nothing lost, nothing twice, in order.
    let ids = |n: &TestNode| {
        n.inbox()
            .into_iter()
            .map(|s| s.id.parse::<liaison_core::BulletinId>().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(b), a_ids);
    assert_eq!(ids(c), a_ids);
    assert_eq!(ids(a), b_ids);
    // Bulletins signed before the rotation still verify, as do those after.
    for id in [a_ids[0], a_ids[10], a_ids[50], a_ids[69]] {
        assert!(
            b.show(id).signature.starts_with("valid"),
            "{id}: {}",
            b.show(id).signature
        );
    }
    // And A's own log verifies with checkpoints signed by either key.
    nodes[0].stop();
    nodes[0].verify_log();
}

#[test]
fn a_revoked_key_is_refused_with_its_own_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let old_id = Node::load(&a.dir)
        .unwrap()
        .identity()
        .document()
        .signing_key
        .key_id
        .to_string();
    let old_key = SigningKey::from_seed(
        std::fs::read(a.dir.join("keys/signing.key"))
            .unwrap()
            .try_into()
            .unwrap(),
    )
    .unwrap();
    rotate(a, KeyPurpose::Signing);
    let current_id = a
        .node()
        .identity()
        .document()
        .signing_key
        .key_id
        .to_string();
    let err = revoke(a, &current_id).unwrap_err();
    assert!(err.contains("rotate it first"), "{err}");
    revoke(a, &old_id).unwrap();
    wait_until("B to hold A's identity version 3", LONG, || {
        peer_version(b, a) == 3
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut client = peer_client(&rt, b, &node_certificate(a)).unwrap();
    let (a_node, b_node) = (Node::load(&a.dir).unwrap(), Node::load(&b.dir).unwrap());
    match deliver_one(&rt, &mut client, seal_envelope(&old_key, &a_node, &b_node)) {
        Outcome::Rejected { code, reason } => {
            assert_eq!(code, RejectCode::RevokedKey);
            assert!(reason.contains("revoked"), "{reason}");
        }
        other => panic!("a bulletin signed with a revoked key was {other:?}"),
    }
    // The current key still works.
    let current = a_node.keys().signing.seed();
    let current = SigningKey::from_seed(*current).unwrap();
    assert!(matches!(
        deliver_one(&rt, &mut client, seal_envelope(&current, &a_node, &b_node)),
        Outcome::Accepted { .. }
    ));
}

#[test]
fn a_lower_or_wrongly_signed_identity_push_is_refused_and_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let v1 = std::fs::read(nodes[0].dir.join("identity.bundle")).unwrap();
    nodes[1].start();
    rotate(&nodes[0], KeyPurpose::Encryption);
    nodes[0].start();
    let (a, b) = (&nodes[0], &nodes[1]);
    wait_until("B to hold A's version 2", LONG, || peer_version(b, a) == 2);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut client = peer_client(&rt, b, &node_certificate(a)).unwrap();
    let push = |client: &mut pb::peer_client::PeerClient<tonic::transport::Channel>,
                bytes: &[u8]| {
        let message: liaison_proto::format::v1::SignedIdentity =
            prost::Message::decode(bytes).unwrap();
        rt.block_on(client.push_identity(message))
    };
    // An older version.
    let status = push(&mut client, &v1).unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("not newer"), "{status:?}");
    // A newer version signed by a root B never verified.
    let impostor_root = SigningKey::generate(&mut SystemRng).unwrap();
    let mut doc = Node::load(&a.dir).unwrap().identity().document().clone();
    doc.version = 99;
    let forged = liaison_core::SignedIdentity::sign(doc, &impostor_root);
    let status = push(&mut client, &forged.to_bytes()).unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("root key"), "{status:?}");
    assert_eq!(peer_version(b, a), 2, "a refused push changed nothing");
    // Both refusals are in B's log.
    let exported = b.admin(LogExport {
        since: 1,
        limit: usize::MAX,
        with_bytes: false,
        reads: false,
    });
    let refusals = exported
        .iter()
        .filter(|e| serde_json::to_value(&e.body).unwrap()["event"]["event"] == "identity-refused")
        .count();
    assert_eq!(refusals, 2);
}

#[test]
fn a_revoked_tls_certificate_is_refused_at_the_handshake() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let old_cert = NodeCertificate::load(
        &nodes[1].dir.join("tls/node.pem"),
        &nodes[1].dir.join("tls/node.key"),
    )
    .unwrap();
    let rotated = rotate(&nodes[1], KeyPurpose::Tls);
    let old_id = rotated.old_key_id.unwrap();
    assert!(old_id.starts_with("t-"));
    for n in &mut nodes {
        n.start();
    }
    revoke(&nodes[1], &old_id).unwrap();
    let (a, b) = (&nodes[0], &nodes[1]);
    // Version 2 pins the new certificate, version 3 revokes the old one.
    wait_until("A to hold B's identity version 3", LONG, || {
        peer_version(a, b) == 3
    });

    let identity = Node::load(&a.dir).unwrap().identity().clone();
    let partners = PartnerSet::new(
        Partners::from_bundles(vec![(
            identity.document().agency.clone(),
            identity.to_bytes(),
        )])
        .unwrap(),
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let try_with = |cert: &NodeCertificate| {
        rt.block_on(async {
            let mut client = liaison_node::runtime::delivery::connect(
                &partners,
                cert,
                &identity.document().agency,
            )
            .await
            .map_err(|e| e.to_string())?;
            client
                .ping(pb::PingRequest {})
                .await
                .map(|_| ())
                .map_err(|s| s.to_string())
        })
    };
    assert!(
        try_with(&old_cert).is_err(),
        "a revoked TLS certificate was accepted"
    );
    let new_cert =
        NodeCertificate::load(&b.dir.join("tls/node.pem"), &b.dir.join("tls/node.key")).unwrap();
    try_with(&new_cert).unwrap();
}
