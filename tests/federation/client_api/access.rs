//! Who may call, and what a retry does: idempotent publish, refused certificates.

use std::time::Duration;

use liaison_proto::v1 as pb;
use liaison_proto::v1::client_client::ClientClient;
use liaison_tests::api::{api_channel, client_identity, issue_client};
use liaison_tests::{TestNode, federation, wait_until};

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
        // Regression: a different bulletin under the same key was answered with the
        // first as "replayed". It is refused, naming the key and what it published.
        let other = api
            .publish(publish_request("same-key", "Something else", &[b]))
            .await
            .unwrap_err();
        assert_eq!(other.code(), tonic::Code::AlreadyExists, "{other:?}");
        assert!(
            other.message().contains("\"same-key\"")
                && other.message().contains(&first.bulletin_id),
            "{other:?}"
        );
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

/// Whether `node`'s client API serves a `List` to a caller presenting `identity`.
async fn served(node: &TestNode, identity: Option<(&str, &str)>) -> bool {
    match api_channel(node, identity).await {
        Err(_) => false,
        Ok(channel) => ClientClient::new(channel)
            .list(pb::ListRequest::default())
            .await
            .is_ok(),
    }
}

/// A node's own certificate and key, PEM.
fn node_identity(node: &TestNode) -> (String, String) {
    let read = |file: &str| std::fs::read_to_string(node.dir.join(file)).unwrap();
    (read("tls/node.pem"), read("tls/node.key"))
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
        let (cert, key) = client_identity(&reader);
        assert!(served(a, Some((&cert, &key))).await, "a registered client");
        assert!(
            !served(a, None).await,
            "a client without a certificate was served"
        );
        let (cert, key) = client_identity(&revoked);
        assert!(
            !served(a, Some((&cert, &key))).await,
            "a revoked client was served"
        );
        let (cert, key) = node_identity(a);
        assert!(
            !served(a, Some((&cert, &key))).await,
            "the node's own peer certificate was accepted as a client certificate"
        );
        let (cert, key) = node_identity(b);
        assert!(
            !served(a, Some((&cert, &key))).await,
            "a partner's certificate was accepted as a client certificate"
        );
    });
    // And a client certificate is not a peer certificate: the peer listener refuses it.
    let (cert, key) = client_identity(&reader);
    let as_peer = liaison_node::trust::tls::NodeCertificate::from_pem(&cert, &key).unwrap();
    assert!(
        liaison_tests::wire::peer_client(&rt, a, &as_peer).is_err(),
        "a client certificate was accepted on the peer listener"
    );
}

/// A client revoked while its connection is open is refused on its next call over that
/// same connection: roles are looked up per request, not once per handshake.
#[test]
fn a_client_revoked_mid_connection_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let system = issue_client(&nodes[0], "case-system", "read");
    nodes[0].start();
    let a = &nodes[0];
    runtime().block_on(async {
        let mut api = client(a, &system).await;
        api.list(pb::ListRequest::default()).await.unwrap();
        a.admin(liaison_node::edge::admin::ClientRevoke {
            name: "case-system".into(),
        });
        let refused = api.list(pb::ListRequest::default()).await.unwrap_err();
        assert!(
            matches!(
                refused.code(),
                tonic::Code::PermissionDenied | tonic::Code::Unauthenticated
            ),
            "{refused:?}"
        );
    });
}
