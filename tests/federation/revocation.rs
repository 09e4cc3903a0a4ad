//! Revocation is judged by log time: a key revoked after this node received a
//! bulletin does not hide that bulletin — from `bulletin show`, `Get` or `Subscribe` —
//! it is shown as signed with a key revoked later. Only what arrives after the
//! revocation is refused.

use std::time::Duration;

use liaison_core::identity::RevocationReason;
use liaison_node::edge::admin::{KeyRevoke, KeyRotate, PeerShow};
use liaison_node::ops::keys::KeyPurpose;
use liaison_proto::v1 as pb;
use liaison_proto::v1::client_client::ClientClient;
use liaison_tests::api::{api_channel, client_identity, issue_client};
use liaison_tests::{LONG, federation, wait_until};

#[test]
fn bulletins_received_before_a_revocation_stay_readable_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    let reader = issue_client(&nodes[1], "analyst", "read");
    for n in &mut nodes {
        n.start();
    }
    let (nl, de, ro) = (&nodes[0], &nodes[1], &nodes[2]);
    let before: Vec<_> = (0..3)
        .map(|i| nl.send(&[de, ro], &format!("before the compromise {i}")))
        .collect();
    wait_until("delivery", LONG, || {
        nl.outbox(de) == 0 && nl.outbox(ro) == 0
    });

    // NL-NP's signing key is compromised: rotate, then revoke the old one.
    let old = nl.admin(KeyRotate {
        purpose: KeyPurpose::Signing,
    });
    nl.admin(KeyRevoke {
        key_id: old.old_key_id.unwrap().parse().unwrap(),
        reason: RevocationReason::Compromised,
    });
    for partner in [de, ro] {
        wait_until("the partner to hold the revocation", LONG, || {
            let held = partner.admin(PeerShow {
                agency: nl.agency.clone(),
            });
            held.identity_version == 3
        });
    }
    let after = nl.send(&[de, ro], "after the compromise");
    wait_until("delivery after", LONG, || {
        nl.outbox(de) == 0 && nl.outbox(ro) == 0
    });

    for receiver in [de, ro] {
        let inbox = receiver.inbox();
        assert_eq!(inbox.len(), 4, "{}: {inbox:?}", receiver.agency);
        for id in &before {
            let shown = receiver.show(*id);
            assert_eq!(shown.body, "x".repeat(1024), "{} hid {id}", receiver.agency);
            assert!(
                shown.signature.starts_with("valid")
                    && shown.signature.contains("revoked later (compromised"),
                "{}",
                shown.signature
            );
        }
        let shown = receiver.show(after);
        assert!(shown.signature.starts_with("valid"), "{}", shown.signature);
        assert!(!shown.signature.contains("revoked"), "{}", shown.signature);
    }

    // The client API serves the same.
    client_api_serves_all(de, &reader, &before[0].to_string());
}

/// Get has the content of a bulletin received before the revocation, and Subscribe
/// from the start streams all four, none failing.
fn client_api_serves_all(de: &liaison_tests::TestNode, reader: &std::path::Path, first: &str) {
    let (cert, key) = client_identity(reader);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let channel = api_channel(de, Some((&cert, &key))).await.unwrap();
        let mut api = ClientClient::new(channel);
        let got = api
            .get(pb::GetRequest {
                bulletin_id: first.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.content.unwrap().title, "before the compromise 0");
        assert!(got.signature_verified);
        let mut stream = api
            .subscribe(pb::SubscribeRequest {
                after_cursor: 0,
                filter: None,
                links: false,
            })
            .await
            .unwrap()
            .into_inner();
        for _ in 0..4 {
            let item = tokio::time::timeout(Duration::from_secs(30), stream.message())
                .await
                .unwrap()
                .unwrap()
                .expect("the stream ended early");
            assert!(item.content.is_some(), "{item:?}");
        }
    });
}
