//! Every RPC of the client API against two real nodes, one stage per RPC family, in
//! the order an agency system would use them.

use std::time::Duration;

use bytes::Bytes;
use liaison_core::receipt::SignedReceipt;
use liaison_proto::format::v1 as fmt;
use liaison_proto::v1 as pb;
use liaison_proto::v1::client_client::ClientClient;
use liaison_tests::api::{api_channel, client_identity, issue_client};
use liaison_tests::{TestNode, federation};
use tonic::Code;

use super::{client, publish_request, runtime};

type Api = ClientClient<tonic::transport::Channel>;

#[test]
fn every_rpc_against_real_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    // RO-DIICOT is known to both but never started: a partner to release to.
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    let a_client = issue_client(&nodes[0], "nl-case-system", "publish,read");
    let b_client = issue_client(&nodes[1], "de-analyst", "read");
    for n in &mut nodes[..2] {
        n.start();
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    runtime().block_on(async {
        let mut pub_api = client(a, &a_client).await;
        let mut read_api = client(b, &b_client).await;
        let id = publish_and_subscribe(&mut pub_api, &mut read_api, b).await;
        // The receiver's desk sees the entity structured, not as debug text.
        let detail = b.show(id.parse().unwrap());
        assert_eq!(
            serde_json::to_value(&detail.entities).unwrap(),
            serde_json::json!([{"kind": "phone", "number": "+40712345678"}])
        );
        get_and_list(&mut read_api, &id).await;
        delivery_status_with_the_signed_receipt(&mut pub_api, b, &id).await;
        acknowledge(&mut read_api, &id).await;
        release(&mut pub_api, &mut read_api, &id).await;
        precise_errors(&mut pub_api, &mut read_api, a, b).await;
        let (cert, key) = client_identity(&b_client);
        let channel = api_channel(b, Some((&cert, &key))).await.unwrap();
        health_and_reflection(channel).await;
    });
}

/// Publish (one fully, one partly refused), then both arrive on the receiver's
/// subscription, in order, with cursors. Returns the first bulletin's id.
async fn publish_and_subscribe(pub_api: &mut Api, read_api: &mut Api, b: &TestNode) -> String {
    let published = pub_api
        .publish(publish_request("k-1", "Recruiter on A2", &[b]))
        .await
        .unwrap()
        .into_inner();
    assert!(!published.replayed);
    assert_eq!(published.outcomes.len(), 1);
    assert!(published.outcomes[0].queued, "{:?}", published.outcomes);
    let id = published.bulletin_id.clone();

    // Partly refused: an unknown recipient is named, the known one still gets it.
    let mixed = pub_api
        .publish(pb::PublishRequest {
            recipients: vec!["DE-BKA".into(), "FR-OCRTEH".into()],
            ..publish_request("k-2", "Second", &[b])
        })
        .await
        .unwrap()
        .into_inner();
    let refused = mixed
        .outcomes
        .iter()
        .find(|o| o.agency == "FR-OCRTEH")
        .unwrap();
    assert!(
        !refused.queued && refused.refused_reason.contains("not a known partner"),
        "{refused:?}"
    );

    let mut stream = read_api
        .subscribe(pb::SubscribeRequest {
            after_cursor: 0,
            filter: None,
            links: false,
        })
        .await
        .unwrap()
        .into_inner();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
    };
    let (first, second) = (next().await, next().await);
    assert_eq!(first.bulletin_id, id);
    assert_eq!(first.origin, "NL-NP");
    assert!(first.signature_verified);
    assert_eq!(first.direction, pb::Direction::In as i32);
    assert_eq!(first.content.as_ref().unwrap().title, "Recruiter on A2");
    assert_eq!(first.content.as_ref().unwrap().entities.len(), 1);
    assert!(second.cursor > first.cursor);
    id
}

/// Get, and List with filters and pages.
async fn get_and_list(read_api: &mut Api, id: &str) {
    let got = read_api
        .get(pb::GetRequest {
            bulletin_id: id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.marking.unwrap().category, "trafficking.persons");
    let listed = read_api
        .list(pb::ListRequest {
            direction: pb::Direction::In as i32,
            filter: Some(pb::Filter {
                origins: vec!["NL-NP".into()],
                category_prefix: "trafficking".into(),
                tlps: vec![fmt::Tlp::Amber as i32],
                ..Default::default()
            }),
            after_cursor: 0,
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.bulletins.len(), 1);
    assert_ne!(listed.next_cursor, 0, "a second page exists");
    let page2 = read_api
        .list(pb::ListRequest {
            after_cursor: listed.next_cursor,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page2.bulletins.len(), 1);
    assert_eq!(page2.next_cursor, 0);
    let none = read_api
        .list(pb::ListRequest {
            filter: Some(pb::Filter {
                tlps: vec![fmt::Tlp::Red as i32],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(none.bulletins.is_empty());
}

/// DeliveryStatus on the sender carries the receiver's signed receipt, which verifies.
async fn delivery_status_with_the_signed_receipt(pub_api: &mut Api, b: &TestNode, id: &str) {
    let b_key = b.node().keys().signing.verifying_key();
    let status = loop {
        let status = pub_api
            .delivery_status(pb::DeliveryStatusRequest {
                bulletin_id: id.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        if status.recipients[0].state == pb::DeliveryState::Delivered as i32 {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let receipt = status.recipients[0].receipt.clone().unwrap();
    let receipt =
        SignedReceipt::verify(Bytes::from(prost::Message::encode_to_vec(&receipt)), &b_key)
            .unwrap();
    assert_eq!(receipt.receipt().receiver.as_str(), "DE-BKA");
}

/// Acknowledge, visible in Get.
async fn acknowledge(read_api: &mut Api, id: &str) {
    let ack = read_api
        .acknowledge(pb::AcknowledgeRequest {
            bulletin_id: id.to_owned(),
            note: "case 2026/114 opened".into(),
            state: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(ack.log_seq > 0);
    let got = read_api
        .get(pb::GetRequest {
            bulletin_id: id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.acknowledgements.len(), 1);
    assert_eq!(got.acknowledgements[0].client, "de-analyst");
}

/// Each bad request gets its own status code and a message naming the field.
/// Release: the grant names the recipients as holders by default; each wrong request
/// gets its own status.
async fn release(pub_api: &mut Api, read_api: &mut Api, id: &str) {
    let request = |to: &[&str], holders: &[&str]| pb::ReleaseRequest {
        bulletin_id: id.into(),
        to: to.iter().map(|s| (*s).to_owned()).collect(),
        holders: holders.iter().map(|s| (*s).to_owned()).collect(),
        days: 3,
    };
    let released = pub_api
        .release(request(&["RO-DIICOT"], &[]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(released.holders, ["DE-BKA"]);
    assert_eq!(released.to, ["RO-DIICOT"]);
    assert!(released.log_seq > 0);
    let err = read_api
        .release(request(&["RO-DIICOT"], &[]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = pub_api
        .release(request(&["DE-BKA"], &[]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("already holds"), "{err:?}");
    let err = pub_api
        .release(request(&["RO-DIICOT"], &["RO-DIICOT"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("not a recipient"), "{err:?}");
    let err = pub_api
        .release(request(&["FR-OCRTEH"], &[]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("not a known partner"), "{err:?}");
    let err = pub_api.release(request(&["fr"], &[])).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().starts_with("to:"), "{err:?}");
}

async fn precise_errors(pub_api: &mut Api, read_api: &mut Api, a: &TestNode, b: &TestNode) {
    let err = pub_api
        .publish(publish_request("", "x", &[b]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("request_key"), "{err:?}");
    let mut bad = publish_request("k-3", "x", &[b]);
    bad.draft.as_mut().unwrap().category = "Not A Category".into();
    let err = pub_api.publish(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("draft.category"), "{err:?}");
    let mut no_tlp = publish_request("k-4", "x", &[b]);
    no_tlp.draft.as_mut().unwrap().tlp = 0;
    let err = pub_api.publish(no_tlp).await.unwrap_err();
    assert!(err.message().contains("draft.tlp"), "{err:?}");
    let get = |bulletin_id: &str| pb::GetRequest {
        bulletin_id: bulletin_id.into(),
    };
    let err = read_api
        .get(get("01900000-0000-7000-8000-000000000000"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = read_api.get(get("nope")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("bulletin_id"));
    let err = read_api
        .publish(publish_request("k-5", "x", &[a]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert!(err.message().contains("`publish` role"), "{err:?}");
    let mut huge = publish_request("k-7", "x", &[b]);
    let content = huge.draft.as_mut().unwrap().content.as_mut().unwrap();
    content.attachments.push(fmt::Attachment {
        file_name: "dump.bin".into(),
        media_type: "application/octet-stream".into(),
        data: Bytes::from(vec![0u8; liaison_core::limits::MAX_ENVELOPE_BYTES]),
        ..Default::default()
    });
    let mut unlimited = pub_api.clone().max_encoding_message_size(64 << 20);
    let err = unlimited.publish(huge).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("draft.content"), "{err:?}");
    // Regression: a request over the decoding limit got OUT_OF_RANGE from tonic,
    // although client.proto documents RESOURCE_EXHAUSTED for a size limit.
    let mut oversized = publish_request("k-8", "x", &[b]);
    let content = oversized.draft.as_mut().unwrap().content.as_mut().unwrap();
    content.attachments.push(fmt::Attachment {
        file_name: "dump.bin".into(),
        media_type: "application/octet-stream".into(),
        data: Bytes::from(vec![
            0u8;
            liaison_node::edge::client_api::MAX_REQUEST_BYTES + 1
        ]),
        ..Default::default()
    });
    let err = unlimited.publish(oversized).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().contains("size limit"), "{err:?}");
    let err = pub_api
        .publish(publish_request("k-6", "x", &[]))
        .await
        .unwrap_err();
    assert!(err.message().contains("recipients"), "{err:?}");
}

/// Health and reflection, so standard gRPC tools work.
async fn health_and_reflection(channel: tonic::transport::Channel) {
    use tonic_reflection::pb::v1 as reflection;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "liaison.v1.Client".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut client = reflection::server_reflection_client::ServerReflectionClient::new(channel);
    let request = reflection::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            reflection::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut answers = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let listed = format!("{answer:?}");
    assert!(listed.contains("liaison.v1.Client"), "{listed}");
    // Health is advertised (so grpcurl can call it by name); the peer service, which
    // this port does not serve, is not.
    assert!(listed.contains("grpc.health.v1.Health"), "{listed}");
    assert!(!listed.contains("liaison.v1.Peer"), "{listed}");
}
