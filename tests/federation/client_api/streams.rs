//! Subscriptions: resumable by cursor across a node restart, and told of recalls.

use std::time::Duration;

use bytes::Bytes;
use liaison_core::receipt::SignedReceipt;
use liaison_proto::v1 as pb;
use liaison_proto::v1::client_client::ClientClient;
use liaison_tests::api::issue_client;
use liaison_tests::{TestNode, federation};
use tonic::Code;

use super::{client, publish_request, runtime};

/// Publishes 30 bulletins from `a` to `b` through the client API; returns their ids.
async fn publish_thirty(
    a: &TestNode,
    b: &TestNode,
    client_dir: &std::path::Path,
    tag: &str,
) -> Vec<String> {
    let mut api = client(a, client_dir).await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let request = publish_request(&format!("{tag}-{i}"), &format!("{tag}{i}"), &[b]);
        ids.push(api.publish(request).await.unwrap().into_inner().bulletin_id);
    }
    ids
}

/// A subscription on `node` after `cursor`.
async fn subscribe(
    node: &TestNode,
    client_dir: &std::path::Path,
    cursor: u64,
) -> tonic::Streaming<pb::BulletinView> {
    client(node, client_dir)
        .await
        .subscribe(pb::SubscribeRequest {
            after_cursor: cursor,
            filter: None,
            links: false,
        })
        .await
        .unwrap()
        .into_inner()
}

#[test]
fn a_subscriber_resumes_by_cursor_across_a_node_restart_and_misses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let a_client = issue_client(&nodes[0], "publisher", "publish");
    let b_client = issue_client(&nodes[1], "subscriber", "read");
    for n in &mut nodes {
        n.start();
    }
    let rt = runtime();
    let mut published = rt.block_on(publish_thirty(&nodes[0], &nodes[1], &a_client, "first"));
    // Read ten, then drop the stream (the client goes away).
    let (mut seen, mut cursor) = rt.block_on(async {
        let mut stream = subscribe(&nodes[1], &b_client, 0).await;
        let mut seen = Vec::new();
        let mut cursor = 0;
        for _ in 0..10 {
            let v = tokio::time::timeout(Duration::from_secs(30), stream.message())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            seen.push(v.bulletin_id);
            cursor = v.cursor;
        }
        (seen, cursor)
    });
    // The receiver restarts while more is published and queued for it.
    nodes[1].stop();
    published.extend(rt.block_on(publish_thirty(&nodes[0], &nodes[1], &a_client, "second")));
    nodes[1].start();
    rt.block_on(async {
        let mut stream = subscribe(&nodes[1], &b_client, cursor).await;
        while seen.len() < published.len() {
            let v = tokio::time::timeout(Duration::from_secs(60), stream.message())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert!(v.cursor > cursor, "cursor went backwards");
            cursor = v.cursor;
            seen.push(v.bulletin_id);
        }
        // Nothing more than what was published arrives.
        let extra = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
        assert!(extra.is_err(), "an extra bulletin arrived: {extra:?}");
    });
    assert_eq!(seen, published, "every bulletin exactly once, in order");
}

#[test]
fn a_recall_through_the_api_reaches_the_recipients_subscribers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let a_client = issue_client(&nodes[0], "publisher", "publish,read");
    let b_client = issue_client(&nodes[1], "subscriber", "read");
    for n in &mut nodes {
        n.start();
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let rt = runtime();
    rt.block_on(async {
        let mut api = client(a, &a_client).await;
        let id = api
            .publish(publish_request("r-1", "Wrong plate number", &[b]))
            .await
            .unwrap()
            .into_inner()
            .bulletin_id;
        let mut sub = client(b, &b_client).await;
        let mut stream = subscribe(b, &b_client, 0).await;
        let first = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(first.bulletin_id, id);
        assert!(!first.recalled);
        // Recalled after delivery: the sender holds the receipt first.
        liaison_tests::wait_until("the receipt", liaison_tests::LONG, || a.outbox(b) == 0);

        // A reader may not recall; the publisher may.
        let err = sub
            .recall(pb::RecallRequest {
                bulletin_id: id.clone(),
                reason: "x".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        let recalled = api
            .recall(pb::RecallRequest {
                bulletin_id: id.clone(),
                reason: "plate misread".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(recalled.recall_sent_to, ["DE-BKA"]);

        // The subscriber is told, in order, with the originator's reason.
        let notice = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(notice.bulletin_id, id);
        assert!(notice.recalled);
        assert_eq!(notice.recall_reason, "plate misread");
        assert!(notice.cursor > first.cursor);
        assert!(notice.content.is_none());

        // The purge receipt comes back to the originator.
        purge_receipt_reaches_the_originator(&mut api, b, &id).await;
    });
}

/// Polls `DeliveryStatus` until the recipient's signed purge receipt is there, and
/// checks its signature with `b`'s key.
async fn purge_receipt_reaches_the_originator(
    api: &mut ClientClient<tonic::transport::Channel>,
    b: &TestNode,
    id: &str,
) {
    let b_key = b.node().keys().signing.verifying_key();
    loop {
        let status = api
            .delivery_status(pb::DeliveryStatusRequest {
                bulletin_id: id.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        if status.recipients[0].state == pb::DeliveryState::Purged as i32 {
            let receipt = status.recipients[0].receipt.clone().unwrap();
            let bytes = Bytes::from(prost::Message::encode_to_vec(&receipt));
            let receipt = SignedReceipt::verify(bytes, &b_key).unwrap();
            assert!(matches!(
                receipt.receipt().outcome,
                liaison_core::receipt::Outcome::Purged { .. }
            ));
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
