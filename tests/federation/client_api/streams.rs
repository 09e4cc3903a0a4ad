//! Subscriptions: resumable by cursor across a node restart, and told of recalls.

use std::time::Duration;

use bytes::Bytes;
use liaison_core::receipt::SignedReceipt;

use liaison_proto::v1 as pb;
use liaison_tests::api::issue_client;
use liaison_tests::federation;
use tonic::Code;

use super::{client, publish_request, runtime};

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
    let mut published = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = 0;
    {
        let (a, b) = (&nodes[0], &nodes[1]);
        rt.block_on(async {
            let mut api = client(a, &a_client).await;
            for i in 0..30 {
                let r = api
                    .publish(publish_request(
                        &format!("first-{i}"),
                        &format!("b{i}"),
                        &[b],
                    ))
                    .await
                    .unwrap();
                published.push(r.into_inner().bulletin_id);
            }
            // Read ten, then drop the stream (the client goes away).
            let mut sub = client(b, &b_client).await;
            let mut stream = sub
                .subscribe(pb::SubscribeRequest {
                    after_cursor: 0,
                    filter: None,
                })
                .await
                .unwrap()
                .into_inner();
            for _ in 0..10 {
                let v = tokio::time::timeout(Duration::from_secs(30), stream.message())
                    .await
                    .unwrap()
                    .unwrap()
                    .unwrap();
                seen.push(v.bulletin_id);
                cursor = v.cursor;
            }
        });
    }
    // The receiver restarts while more is published and queued for it.
    nodes[1].stop();
    {
        let (a, b) = (&nodes[0], &nodes[1]);
        rt.block_on(async {
            let mut api = client(a, &a_client).await;
            for i in 0..30 {
                let r = api
                    .publish(publish_request(
                        &format!("second-{i}"),
                        &format!("c{i}"),
                        &[b],
                    ))
                    .await
                    .unwrap();
                published.push(r.into_inner().bulletin_id);
            }
        });
    }
    nodes[1].start();
    let b = &nodes[1];
    rt.block_on(async {
        let mut sub = client(b, &b_client).await;
        let mut stream = sub
            .subscribe(pb::SubscribeRequest {
                after_cursor: cursor,
                filter: None,
            })
            .await
            .unwrap()
            .into_inner();
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
        let mut stream = sub
            .subscribe(pb::SubscribeRequest {
                after_cursor: 0,
                filter: None,
            })
            .await
            .unwrap()
            .into_inner();
        let first = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(first.bulletin_id, id);
        assert!(!first.recalled);

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
        let b_key = liaison_node::Node::load(&b.dir)
            .unwrap()
            .keys()
            .signing
            .verifying_key();
        loop {
            let status = api
                .delivery_status(pb::DeliveryStatusRequest {
                    bulletin_id: id.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            if status.recipients[0].state == pb::DeliveryState::Purged as i32 {
                let receipt = status.recipients[0].receipt.clone().unwrap();
                let receipt = SignedReceipt::verify(
                    Bytes::from(prost::Message::encode_to_vec(&receipt)),
                    &b_key,
                )
                .unwrap();
                assert!(matches!(
                    receipt.receipt().outcome,
                    liaison_core::receipt::Outcome::Purged { .. }
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}
