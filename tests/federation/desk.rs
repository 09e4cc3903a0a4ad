//! The liaison desk's daily work across three agencies: a request for information
//! with entities and an attachment, a reply from each partner, the thread at all
//! three, signed acknowledgements back to the originator, the consultation log of
//! every door, retention erasure at every holder, and no plaintext bulletin in any
//! node's files.

use std::time::Duration;

use liaison_core::acknowledgement::AckState;
use liaison_core::handling::{InformationRequest, Priority};
use liaison_core::{BulletinId, Entity, UnixMillis};
use liaison_node::edge::admin::{
    BulletinAcknowledge, BulletinAttachment, BulletinOpenRequests, BulletinSend, BulletinThread,
    LogExport,
};
use liaison_node::node::journal::LogEvent;
use liaison_node::ops::bulletins::Recipients;
use liaison_node::ops::bulletins::views::{AttachmentUpload, SendRequest};
use liaison_node::ops::log::ExportedBody;
use liaison_proto::v1 as pb;
use liaison_proto::v1::client_client::ClientClient;
use liaison_tests::api::{api_channel, client_identity, issue_client};
use liaison_tests::{LONG, TestNode, federation, wait_until};

/// A body no other bulletin carries, to look for in the nodes' files.
const SECRET: &str = "zq-unique-desk-body-4f81c2-the-recruiter-uses-two-phones";

fn request_for_information(to: Recipients) -> SendRequest {
    let mut request = SendRequest::new(
        to,
        "trafficking.persons".parse().unwrap(),
        liaison_core::Tlp::Amber,
        "Who holds this phone and account?",
        SECRET,
    );
    request.entities = vec![
        Entity::Phone {
            number: "0040 712 345 678".into(),
        },
        Entity::Account {
            identifier: "de44 5001 0517 5407 3249 31".into(),
            institution: "Commerzbank".into(),
        },
        Entity::Person {
            full_name: " Ion   Popescu ".into(),
            date_of_birth: "1990-03-01".into(),
            nationality: "ROU".into(),
            aliases: vec![],
            identifiers: vec![],
        },
    ];
    request.attachments = vec![AttachmentUpload {
        file_name: "ledger.csv".into(),
        media_type: "text/csv".into(),
        data_base64: data_encoding::BASE64.encode(&attachment_bytes()),
        staged: None,
    }];
    request.handling = vec!["H3".parse().unwrap()];
    request.restriction = "Only for operation ALPHA".into();
    request.evaluation = Some("B2".parse().unwrap());
    request.request = Some(InformationRequest {
        priority: Priority::Urgent,
        due: UnixMillis(UnixMillis::now().0 + 2 * 86_400_000),
    });
    request
}

fn attachment_bytes() -> Vec<u8> {
    (0..200_000u32).map(|i| (i % 251) as u8).collect()
}

fn reply(to_parent: BulletinId, title: &str) -> SendRequest {
    let mut reply = SendRequest::new(
        Recipients::AllAllowed,
        "trafficking.persons".parse().unwrap(),
        liaison_core::Tlp::Amber,
        title,
        format!("{title}: known to us"),
    );
    reply.to = None;
    reply.reply_to = Some(to_parent);
    reply
}

fn thread_ids(node: &TestNode, id: BulletinId) -> Vec<String> {
    // Empty until the node holds the bulletin.
    node.try_admin(BulletinThread { id })
        .unwrap_or_default()
        .into_iter()
        .map(|b| b.id)
        .collect()
}

fn reads(node: &TestNode) -> Vec<(String, String, Vec<BulletinId>)> {
    node.admin(LogExport {
        since: 1,
        limit: usize::MAX,
        with_bytes: false,
        reads: true,
    })
    .into_iter()
    .filter_map(|e| match e.body {
        ExportedBody::Event(LogEvent::Consulted {
            reader,
            door,
            bulletins,
        }) => Some((reader, door, bulletins)),
        _ => None,
    })
    .collect()
}

#[test]
fn a_request_for_information_its_replies_and_acknowledgements_travel_and_expire_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    let analyst = issue_client(&nodes[1], "analyst", "read");
    let desk = issue_client(&nodes[0], "desk", "read");
    for n in &mut nodes {
        n.start();
    }
    let (nl, de, ro) = (&nodes[0], &nodes[1], &nodes[2]);

    // NL-NP asks DE-BKA and RO-DIICOT.
    let sent = nl.admin(BulletinSend(request_for_information(Recipients::Named(
        vec![de.agency.clone(), ro.agency.clone()],
    ))));
    let id: BulletinId = sent.id.parse().unwrap();
    wait_until("delivery of the request", LONG, || {
        nl.outbox(de) == 0 && nl.outbox(ro) == 0
    });

    // Each recipient sees it whole: normalised entities, the attachment, the request,
    // the handling, and it is among the requests awaiting its answer.
    for r in [de, ro] {
        let shown = r.show(id);
        assert_eq!(shown.body, SECRET);
        assert_eq!(
            shown.entities[0],
            Entity::Phone {
                number: "+40712345678".into()
            }
        );
        assert!(matches!(&shown.entities[1],
            Entity::Account { identifier, .. } if identifier == "DE44500105175407324931"));
        assert!(matches!(&shown.entities[2],
            Entity::Person { full_name, nationality, .. }
                if full_name == "Ion Popescu" && nationality == "RO"));
        assert_eq!(shown.attachments.len(), 1);
        assert_eq!(shown.attachments[0].bytes, 200_000);
        assert_eq!(shown.restriction, "Only for operation ALPHA");
        assert!(shown.evaluation.as_deref().unwrap().starts_with("B2"));
        assert!(shown.handling_meanings[0].starts_with("H3: restriction"));
        let request = shown.request.expect("a request");
        assert_eq!(request.priority, "urgent");
        assert_eq!(request.awaiting, vec![r.agency.to_string()]);
        let open = r.admin(BulletinOpenRequests {});
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].summary.id, id.to_string());
        let got = r.admin(BulletinAttachment { id, number: 1 });
        assert_eq!(got.file_name, "ledger.csv");
        assert_eq!(
            data_encoding::BASE64
                .decode(got.data_base64.as_bytes())
                .unwrap(),
            attachment_bytes()
        );
        assert!(r.try_admin(BulletinAttachment { id, number: 2 }).is_err());
    }
    let open = nl.admin(BulletinOpenRequests {});
    assert_eq!(open[0].request.awaiting, vec!["DE-BKA", "RO-DIICOT"]);

    // Each partner replies; with no --to a reply goes to everyone on the request.
    let de_reply: BulletinId = de
        .admin(BulletinSend(reply(id, "DE-BKA answers")))
        .id
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let ro_reply: BulletinId = ro
        .admin(BulletinSend(reply(id, "RO-DIICOT answers")))
        .id
        .parse()
        .unwrap();
    let expected = vec![id.to_string(), de_reply.to_string(), ro_reply.to_string()];
    for n in [nl, de, ro] {
        wait_until("the whole thread", LONG, || {
            thread_ids(n, ro_reply) == expected
        });
        assert_eq!(thread_ids(n, id), expected, "{}", n.agency);
        assert!(
            n.admin(BulletinOpenRequests {}).is_empty(),
            "{}: everyone answered",
            n.agency
        );
    }
    let shown = nl.show(id).request.unwrap();
    assert_eq!(shown.answered_by, vec!["DE-BKA", "RO-DIICOT"]);

    // Acknowledgements travel back to the originator, signed.
    de.admin(BulletinAcknowledge {
        id,
        state: AckState::Read,
        note: String::new(),
    });
    let sent_to = ro
        .admin(BulletinAcknowledge {
            id,
            state: AckState::Actioned,
            note: "phone seized at Nadlac".into(),
        })
        .sent_to;
    assert_eq!(sent_to.as_deref(), Some("NL-NP"));
    wait_until("both acknowledgements at the originator", LONG, || {
        nl.show(id).acknowledgements.len() == 2
    });
    let acks = nl.show(id).acknowledgements;
    let ro_ack = acks
        .iter()
        .find(|a| a.agency.as_ref() == Some(&ro.agency))
        .unwrap();
    assert_eq!(ro_ack.state, AckState::Actioned);
    assert_eq!(ro_ack.note, "phone seized at Nadlac");
    // The recipient's own signed time, kept from arrival.
    assert!(
        ro_ack.time.0 > 0 && ro_ack.time <= UnixMillis::now(),
        "{ro_ack:?}"
    );
    assert!(acks.iter().all(|a| a.signed));
    assert!(
        acks.iter()
            .any(|a| a.agency.as_ref() == Some(&de.agency) && a.state == AckState::Read)
    );

    // The originator's subscribers are told: the bulletin comes again with both.
    let (cert, key) = client_identity(&desk);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut api = ClientClient::new(api_channel(nl, Some((&cert, &key))).await.unwrap());
        let mut stream = api
            .subscribe(pb::SubscribeRequest {
                after_cursor: 0,
                filter: None,
                links: false,
            })
            .await
            .unwrap()
            .into_inner();
        let mut told = 0;
        while told < 2 {
            let item = tokio::time::timeout(Duration::from_secs(30), stream.message())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            if item.bulletin_id == id.to_string() {
                assert_eq!(item.direction, pb::Direction::Out as i32);
                told += 1;
                if told == 2 {
                    let states: Vec<i32> = item.acknowledgements.iter().map(|a| a.state).collect();
                    assert!(
                        states.contains(&i32::from(AckState::Actioned)),
                        "{states:?}"
                    );
                    assert!(item.acknowledgements.iter().all(|a| a.signed));
                }
            }
        }
        let status = api
            .delivery_status(pb::DeliveryStatusRequest {
                bulletin_id: id.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status.acknowledgements.len(), 2);
        assert!(
            status
                .acknowledgements
                .iter()
                .any(|a| a.agency == "RO-DIICOT" && a.note == "phone seized at Nadlac")
        );
    });

    // The client API shows the same: thread, request, acknowledgements at the
    // originator's DeliveryStatus; and each read through it is logged.
    let (cert, key) = client_identity(&analyst);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut api = ClientClient::new(api_channel(de, Some((&cert, &key))).await.unwrap());
        let thread = api
            .thread(pb::ThreadRequest {
                bulletin_id: de_reply.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        let ids: Vec<String> = thread
            .bulletins
            .iter()
            .map(|b| b.bulletin_id.clone())
            .collect();
        assert_eq!(ids, expected);
        assert!(
            thread
                .bulletins
                .iter()
                .all(|b| b.thread_id == id.to_string())
        );
        let first = &thread.bulletins[0];
        assert_eq!(
            first.request.as_ref().unwrap().priority,
            i32::from(Priority::Urgent)
        );
        assert_eq!(first.answered_by, vec!["DE-BKA", "RO-DIICOT"]);
        let got = api
            .get(pb::GetRequest {
                bulletin_id: id.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.content.unwrap().attachments[0].data.len(), 200_000);
        assert_eq!(got.marking.unwrap().restriction, "Only for operation ALPHA");
        let mut stream = api
            .subscribe(pb::SubscribeRequest {
                after_cursor: 0,
                filter: None,
                links: false,
            })
            .await
            .unwrap()
            .into_inner();
        tokio::time::timeout(Duration::from_secs(30), stream.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    });

    // The consultation log: every door, with who read.
    let at_de = reads(de);
    for door in [
        "cli show",
        "cli attachment",
        "cli thread",
        "cli list",
        "api thread",
        "api get",
        "api subscribe",
    ] {
        assert!(
            at_de
                .iter()
                .any(|(_, d, ids)| d == door && ids.contains(&id)),
            "no {door} read of {id} logged at DE-BKA: {at_de:?}"
        );
    }
    assert!(
        at_de
            .iter()
            .any(|(reader, d, _)| d == "api get" && reader == "client analyst")
    );
    assert!(
        at_de
            .iter()
            .any(|(reader, d, _)| d == "cli show" && reader.starts_with("local operator (uid "))
    );

    // No plaintext in any node's files: the body is only reached through the doors.
    for n in [nl, de, ro] {
        let found = liaison_tests::files_containing(&n.dir, SECRET.as_bytes());
        assert!(found.is_empty(), "{}: plaintext in {found:?}", n.agency);
    }

    // Retention: once the expiry passes, every holder erases the payloads on its own.
    let later = UnixMillis(UnixMillis::now().0 + 400 * 86_400_000);
    for n in [nl, de, ro] {
        let erased = liaison_node::ops::retention::erase_expired(&n.state(), later).unwrap();
        assert!(erased >= 3, "{}: erased {erased}", n.agency);
        assert!(
            n.try_admin(liaison_node::edge::admin::BulletinShow { id })
                .is_err()
        );
        assert!(thread_ids_or_none(n, de_reply));
        assert!(
            n.inbox().is_empty() && n.outbound().is_empty(),
            "{}",
            n.agency
        );
        assert!(
            n.events()
                .iter()
                .any(|e| matches!(e, LogEvent::RetentionErased { .. }))
        );
        n.verify_log();
    }
}

fn thread_ids_or_none(node: &TestNode, id: BulletinId) -> bool {
    node.try_admin(BulletinThread { id }).is_err()
}

#[test]
fn desk_input_that_breaks_a_rule_is_refused_naming_the_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let (nl, de) = (&nodes[0], &nodes[1]);
    let to = || Recipients::Named(vec![de.agency.clone()]);
    let refused = |request: SendRequest| {
        liaison_node::error::describe(&nl.try_admin(BulletinSend(request)).unwrap_err())
    };
    let mut bad_phone = request_for_information(to());
    bad_phone.entities = vec![Entity::Phone {
        number: "0712 345 678".into(),
    }];
    assert!(refused(bad_phone).contains("entities[0]"));
    let mut bad_iban = request_for_information(to());
    bad_iban.entities = vec![Entity::Account {
        identifier: "DE45500105175407324931".into(),
        institution: String::new(),
    }];
    assert!(refused(bad_iban).contains("IBAN"));
    let mut no_restriction = request_for_information(to());
    no_restriction.restriction = String::new();
    assert!(refused(no_restriction).contains("H3"));
    let mut stranger = request_for_information(to());
    stranger.reply_to = Some(BulletinId::new(UnixMillis::now()));
    assert!(refused(stranger).contains("does not hold"));
    let mut too_long = request_for_information(to());
    too_long.expires_in_days = Some(10_000);
    assert!(refused(too_long).contains("retention"));
    let mut overdue = request_for_information(to());
    overdue.request = Some(InformationRequest {
        priority: Priority::Routine,
        due: UnixMillis(UnixMillis::now().0 - 1000),
    });
    assert!(refused(overdue).contains("request due"));
    // Nothing was published or queued.
    assert!(nl.outbound().is_empty());
    assert_eq!(nl.outbox(de), 0);
}

#[test]
fn a_partner_cannot_acknowledge_what_it_never_received_nor_speak_for_another() {
    use liaison_core::acknowledgement::SignedAcknowledgement;
    use liaison_core::receipt::{Outcome, RejectCode};
    use liaison_proto::v1 as peer;
    use liaison_tests::wire::{deliver_message, node_certificate, peer_client};
    use prost::Message as _;

    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    nodes[0].start();
    nodes[1].start();
    let (nl, de, ro) = (&nodes[0], &nodes[1], &nodes[2]);
    let id = nl.send(&[de], "for DE-BKA only");
    wait_until("delivery", LONG, || nl.outbox(de) == 0);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let notice = |ack: &SignedAcknowledgement| peer::SealedBulletin {
        notice: peer::ChainNotice {
            notice: Some(peer::chain_notice::Notice::Acknowledgement(ack.to_bytes())),
        }
        .encode_to_vec()
        .into(),
        ..Default::default()
    };
    let code = |receipt: liaison_core::receipt::SignedReceipt| match &receipt.receipt().outcome {
        Outcome::Rejected { code, reason } => (*code, reason.clone()),
        other => panic!("accepted: {other:?}"),
    };
    let sign = |by: &TestNode| {
        SignedAcknowledgement::sign(
            id,
            nl.agency.clone(),
            by.agency.clone(),
            AckState::Actioned,
            "we acted on it".into(),
            &by.node().keys().signing,
        )
        .unwrap()
    };

    // RO-DIICOT, a partner but not a recipient, acknowledges anyway.
    let mut as_ro = peer_client(&runtime, nl, &node_certificate(ro)).unwrap();
    let (c, reason) = code(deliver_message(&runtime, &mut as_ro, notice(&sign(ro))));
    assert_eq!(c, RejectCode::NotARecipient, "{reason}");
    // RO-DIICOT relays DE-BKA's genuine acknowledgement as if it were its own word.
    let (c, reason) = code(deliver_message(&runtime, &mut as_ro, notice(&sign(de))));
    assert_eq!(c, RejectCode::WrongSender, "{reason}");
    // A forged signature.
    let mut forged = sign(ro).to_bytes().to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let forged = peer::SealedBulletin {
        notice: peer::ChainNotice {
            notice: Some(peer::chain_notice::Notice::Acknowledgement(forged.into())),
        }
        .encode_to_vec()
        .into(),
        ..Default::default()
    };
    let (c, reason) = code(deliver_message(&runtime, &mut as_ro, forged));
    assert!(
        matches!(c, RejectCode::BadSignature | RejectCode::Malformed),
        "{c:?}: {reason}"
    );

    // Nothing was recorded; the node still serves, and DE-BKA's real one still counts.
    assert!(nl.show(id).acknowledgements.is_empty());
    de.admin(BulletinAcknowledge {
        id,
        state: AckState::Received,
        note: String::new(),
    });
    wait_until("DE-BKA's acknowledgement", LONG, || {
        nl.show(id).acknowledgements.len() == 1
    });
    nl.verify_log();
}

#[test]
fn each_holder_keeps_a_bulletin_no_longer_than_its_own_retention_allows() {
    use liaison_tests::allow_everything;
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    // NL-NP keeps trafficking bulletins a year; DE-BKA only ten days.
    nodes[0].write_policy(&format!(
        "[retention.categories]\ntrafficking = 365\n\n{}",
        allow_everything("DE-BKA")
    ));
    nodes[1].write_policy(&format!(
        "[retention]\ndefault_days = 10\n\n{}",
        allow_everything("NL-NP")
    ));
    for n in &mut nodes {
        n.start();
    }
    let (nl, de) = (&nodes[0], &nodes[1]);
    let shown = nl.admin(liaison_node::edge::admin::PolicyShow {});
    assert_eq!(
        shown.retention,
        ["default: 90 days", "trafficking: 365 days"]
    );
    let id = nl.send(&[de], "kept 30 days by its sender");
    wait_until("delivery", LONG, || nl.outbox(de) == 0);
    // The sender asked for 30 days (within its year): the signed expiry.
    let in_30_days = UnixMillis(UnixMillis::now().0 + 30 * 86_400_000).to_string();
    assert_eq!(nl.show(id).expires[..10], in_30_days[..10]);

    // Eleven days on: the receiver's own ten days are over, the signed 30 days are not.
    let later = UnixMillis(UnixMillis::now().0 + 11 * 86_400_000);
    let erased_de = liaison_node::ops::retention::erase_expired(&de.state(), later).unwrap();
    let erased_nl = liaison_node::ops::retention::erase_expired(&nl.state(), later).unwrap();
    assert_eq!((erased_de, erased_nl), (1, 0));
    assert!(de.inbox().is_empty());
    assert_eq!(nl.show(id).body, "x".repeat(1024));
    // Past the signed expiry, the sender's copy goes too.
    let much_later = UnixMillis(UnixMillis::now().0 + 31 * 86_400_000);
    assert_eq!(
        liaison_node::ops::retention::erase_expired(&nl.state(), much_later).unwrap(),
        1
    );
    assert!(nl.outbound().is_empty());
    nl.verify_log();
    de.verify_log();
}
