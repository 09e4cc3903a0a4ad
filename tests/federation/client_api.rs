//! The client API against real nodes: every RPC, resumable subscriptions across a node
//! restart, idempotent publish, roles, and refused certificates.

use std::time::Duration;

use bytes::Bytes;
use liaison_core::receipt::SignedReceipt;
use liaison_proto::format::v1 as fmt;
use liaison_proto::v1 as pb;
use liaison_proto::v1::client_client::ClientClient;
use liaison_tests::api::{api_channel, client_identity, issue_client};
use liaison_tests::{TestNode, federation, wait_until};
use tonic::Code;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn draft(title: &str, category: &str, tlp: fmt::Tlp) -> pb::BulletinDraft {
    pb::BulletinDraft {
        category: category.into(),
        tlp: tlp as i32,
        handling_codes: vec![],
        content: Some(fmt::BulletinContent {
            title: title.into(),
            body: "Body of the bulletin".into(),
            entities: vec![fmt::Entity {
                kind: Some(fmt::entity::Kind::Phone(fmt::Phone {
                    number: "+40712345678".into(),
                })),
            }],
            ..Default::default()
        }),
        expires_in_days: 0,
    }
}

fn publish_request(key: &str, title: &str, to: &[&TestNode]) -> pb::PublishRequest {
    pb::PublishRequest {
        request_key: key.into(),
        draft: Some(draft(title, "trafficking.persons", fmt::Tlp::Amber)),
        recipients: to.iter().map(|n| n.agency.to_string()).collect(),
        to_all_allowed: false,
    }
}

async fn client(node: &TestNode, dir: &std::path::Path) -> ClientClient<tonic::transport::Channel> {
    let (cert, key) = client_identity(dir);
    ClientClient::new(api_channel(node, Some((&cert, &key))).await.unwrap())
}

#[test]
fn every_rpc_against_real_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let a_client = issue_client(&nodes[0], "nl-case-system", "publish,read");
    let b_client = issue_client(&nodes[1], "de-analyst", "read");
    for n in &mut nodes {
        n.start();
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let rt = runtime();
    rt.block_on(async {
        let mut pub_api = client(a, &a_client).await;
        let mut read_api = client(b, &b_client).await;

        // Publish.
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

        // Subscribe on the receiver: both arrive, in order, with cursors.
        let mut stream = read_api
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
        let second = tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(first.bulletin_id, id);
        assert_eq!(first.origin, "NL-NP");
        assert!(first.signature_verified);
        assert_eq!(first.direction, pb::Direction::In as i32);
        assert_eq!(first.content.as_ref().unwrap().title, "Recruiter on A2");
        assert_eq!(first.content.as_ref().unwrap().entities.len(), 1);
        assert!(second.cursor > first.cursor);
        drop(stream);

        // Get and List with filters.
        let got = read_api
            .get(pb::GetRequest {
                bulletin_id: id.clone(),
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
                }),
                after_cursor: 0,
                limit: 1,
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

        // DeliveryStatus on the sender, with B's signed receipt.
        let b_key = liaison_node::Node::load(&b.dir)
            .unwrap()
            .keys()
            .signing
            .verifying_key();
        let mut status;
        loop {
            status = pub_api
                .delivery_status(pb::DeliveryStatusRequest {
                    bulletin_id: id.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            if status.recipients[0].state == pb::DeliveryState::Delivered as i32 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let receipt = status.recipients[0].receipt.clone().unwrap();
        let receipt =
            SignedReceipt::verify(Bytes::from(prost::Message::encode_to_vec(&receipt)), &b_key)
                .unwrap();
        assert_eq!(receipt.receipt().receiver.as_str(), "DE-BKA");

        // Acknowledge, visible in Get.
        let ack = read_api
            .acknowledge(pb::AcknowledgeRequest {
                bulletin_id: id.clone(),
                note: "case 2026/114 opened".into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(ack.log_seq > 0);
        let got = read_api
            .get(pb::GetRequest {
                bulletin_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.acknowledgements.len(), 1);
        assert_eq!(got.acknowledgements[0].client, "de-analyst");

        // Precise errors.
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
        assert!(
            pub_api
                .publish(no_tlp)
                .await
                .unwrap_err()
                .message()
                .contains("draft.tlp")
        );
        let err = read_api
            .get(pb::GetRequest {
                bulletin_id: "01900000-0000-7000-8000-000000000000".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound);
        let err = read_api
            .get(pb::GetRequest {
                bulletin_id: "nope".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert!(err.message().contains("bulletin_id"));
        let err = read_api
            .publish(publish_request("k-5", "x", &[a]))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied);
        assert!(err.message().contains("`publish` role"), "{err:?}");
        let mut huge = publish_request("k-7", "x", &[b]);
        huge.draft
            .as_mut()
            .unwrap()
            .content
            .as_mut()
            .unwrap()
            .attachments
            .push(fmt::Attachment {
                file_name: "dump.bin".into(),
                media_type: "application/octet-stream".into(),
                data: Bytes::from(vec![0u8; liaison_core::limits::MAX_ENVELOPE_BYTES]),
            });
        let err = pub_api
            .clone()
            .max_encoding_message_size(64 << 20)
            .publish(huge)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        assert!(err.message().contains("draft.content"), "{err:?}");
        let err = pub_api
            .publish(publish_request("k-6", "x", &[]))
            .await
            .unwrap_err();
        assert!(err.message().contains("recipients"), "{err:?}");

        // Health and reflection, so standard gRPC tools work.
        let channel = api_channel(
            b,
            Some((&client_identity(&b_client).0, &client_identity(&b_client).1)),
        )
        .await
        .unwrap();
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
        let mut reflection =
            tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(
                channel,
            );
        let request = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                tonic_reflection::pb::v1::server_reflection_request::MessageRequest::ListServices(
                    String::new(),
                ),
            ),
        };
        let mut answers = reflection
            .server_reflection_info(tokio_stream::iter(vec![request]))
            .await
            .unwrap()
            .into_inner();
        let answer = answers.message().await.unwrap().unwrap();
        let listed = format!("{answer:?}");
        assert!(listed.contains("liaison.v1.Client"), "{listed}");
    });
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
