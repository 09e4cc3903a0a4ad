//! Who may call, and what a retry does: idempotent publish, refused certificates.

use std::time::Duration;

use liaison_proto::v1 as pb;
use liaison_proto::v1::client_client::ClientClient;
use liaison_tests::api::{api_channel, client_identity, issue_client};
use liaison_tests::{federation, wait_until};

use super::{client, publish_request, runtime};

#[test]
fn a_retried_publish_is_stored_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let a_client = issue_client(&nodes[0], "publisher", "publish,read");
    for n in &mut nodes {
        n.start();
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let rt = runtime();
    let (first, again) = rt.block_on(async {
        let mut api = client(a, &a_client).await;
        let first = api
            .publish(publish_request("same-key", "Only once", &[b]))
            .await
            .unwrap()
            .into_inner();
        let again = api
            .publish(publish_request("same-key", "Only once", &[b]))
            .await
            .unwrap()
            .into_inner();
        (first, again)
    });
    assert_eq!(first.bulletin_id, again.bulletin_id);
    assert_eq!(first.log_seq, again.log_seq);
    assert!(!first.replayed && again.replayed);
    wait_until("delivery", Duration::from_secs(60), || a.outbox(b) == 0);
    let out = a.outbound();
    assert_eq!(out.len(), 1);
    assert_eq!(b.inbox().len(), 1);
}

#[test]
fn certificates_that_are_not_registered_clients_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let reader = issue_client(&nodes[0], "reader", "read");
    let revoked = issue_client(&nodes[0], "old-system", "read");
    nodes[0].start();
    let (a, b) = (&nodes[0], &nodes[1]);
    a.admin(liaison_node::edge::admin::ClientRevoke {
        name: "old-system".into(),
    });
    let listed: Vec<String> = a
        .admin(liaison_node::edge::admin::ClientList {})
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(listed, ["reader"]);
    let rt = runtime();
    rt.block_on(async {
        let get = |channel: tonic::transport::Channel| async move {
            ClientClient::new(channel)
                .list(pb::ListRequest::default())
                .await
        };
        // A registered client works.
        let (cert, key) = client_identity(&reader);
        assert!(
            get(api_channel(a, Some((&cert, &key))).await.unwrap())
                .await
                .is_ok()
        );
        // No certificate: refused.
        let outcome = match api_channel(a, None).await {
            Err(e) => Err(e),
            Ok(channel) => get(channel).await.map_err(|s| s.to_string()),
        };
        assert!(
            outcome.is_err(),
            "a client without a certificate was served"
        );
        // A revoked client: refused.
        let (cert, key) = client_identity(&revoked);
        let outcome = match api_channel(a, Some((&cert, &key))).await {
            Err(e) => Err(e),
            Ok(channel) => get(channel).await.map_err(|s| s.to_string()),
        };
        assert!(outcome.is_err(), "a revoked client was served");
        // The node's own peer certificate is not a client certificate.
        let cert = std::fs::read_to_string(a.dir.join("tls/node.pem")).unwrap();
        let key = std::fs::read_to_string(a.dir.join("tls/node.key")).unwrap();
        let outcome = match api_channel(a, Some((&cert, &key))).await {
            Err(e) => Err(e),
            Ok(channel) => get(channel).await.map_err(|s| s.to_string()),
        };
        assert!(
            outcome.is_err(),
            "a peer certificate was accepted as a client certificate"
        );
        // A partner's node certificate neither.
        let cert = std::fs::read_to_string(b.dir.join("tls/node.pem")).unwrap();
        let key = std::fs::read_to_string(b.dir.join("tls/node.key")).unwrap();
        let outcome = match api_channel(a, Some((&cert, &key))).await {
            Err(e) => Err(e),
            Ok(channel) => get(channel).await.map_err(|s| s.to_string()),
        };
        assert!(
            outcome.is_err(),
            "a partner's certificate was accepted as a client certificate"
        );
    });
    // And a client certificate is not a peer certificate: the peer listener refuses it.
    let (cert, key) = client_identity(&reader);
    let as_peer = liaison_node::trust::tls::NodeCertificate::from_pem(&cert, &key).unwrap();
    let identity = liaison_node::Node::load(&a.dir).unwrap().identity().clone();
    let partners = liaison_node::trust::partners::PartnerSet::new(
        liaison_node::trust::partners::Partners::from_bundles(vec![(
            identity.document().agency.clone(),
            identity.to_bytes(),
        )])
        .unwrap(),
    );
    let refused = rt.block_on(async {
        match liaison_node::runtime::delivery::connect(
            &partners,
            &as_peer,
            &identity.document().agency,
        )
        .await
        {
            Err(e) => Err(e.to_string()),
            Ok(mut c) => c
                .ping(pb::PingRequest {})
                .await
                .map(|_| ())
                .map_err(|s| s.to_string()),
        }
    });
    assert!(
        refused.is_err(),
        "a client certificate was accepted on the peer listener"
    );
}
