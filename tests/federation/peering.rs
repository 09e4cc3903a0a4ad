//! Delivery between real nodes: exactly once and in order with signed receipts,
//! refusals with their codes, limits, and what `status` says about a partner that
//! goes away and comes back.

use std::time::Duration;

use bytes::Bytes;
use liaison_core::BulletinId;
use liaison_core::receipt::{Outcome, RejectCode, SignedReceipt};
use liaison_node::edge::admin::{LogExport, Status};
use liaison_node::ops::log::ExportedBody;
use liaison_proto::v1 as pb;
use liaison_tests::wire::{
    PartnerLine, deliver_receipt, node_certificate, partner_line, peer_client, seal_envelope,
};
use liaison_tests::{LONG, TestNode, federation, wait_until};

fn assert_all_accepted(sender: &TestNode, ids: &[BulletinId], recipients: &[&TestNode]) {
    for id in ids {
        let detail = sender.show(*id);
        assert_eq!(detail.delivery.len(), recipients.len());
        for r in &detail.delivery {
            assert_eq!(r.state, "accepted", "{id} to {}: {r:?}", r.agency);
            assert!(r.receiver_log_seq.is_some());
        }
    }
}

#[test]
fn two_hundred_bulletins_reach_both_recipients_exactly_once_with_signed_receipts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    for n in &mut nodes {
        n.start();
    }
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let ids: Vec<BulletinId> = (0..200)
        .map(|i| a.send(&[b, c], &format!("bulletin {i}")))
        .collect();
    wait_until("A's outboxes to drain", LONG, || {
        a.outbox(b) == 0 && a.outbox(c) == 0
    });
    let expected: Vec<String> = ids.iter().map(ToString::to_string).collect();
    for receiver in [b, c] {
        let inbox = receiver.inbox();
        let got: Vec<String> = inbox.iter().map(|s| s.id.clone()).collect();
        assert_eq!(
            got, expected,
            "{} must hold each once, in order",
            receiver.agency
        );
        for (i, s) in inbox.iter().enumerate() {
            assert_eq!(s.title, format!("bulletin {i}"));
            assert_eq!(s.origin, "NL-NP");
        }
        for id in ids.iter().step_by(20) {
            assert!(receiver.show(*id).signature.starts_with("valid"), "{id}");
        }
    }
    assert_all_accepted(a, &ids, &[b, c]);
}

/// A partner posing as another, and one delivering someone else's bulletin: the
/// connection belongs to the owner of the CA its certificate chains to.
#[test]
fn a_partner_posing_as_another_is_answered_as_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    nodes[0].start();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // RO-DIICOT's CA issues a certificate that names DE-BKA.
    let read = |file: &str| std::fs::read_to_string(c.dir.join(file)).unwrap();
    let posing = liaison_core::tls::issue_certificate(
        &read("tls/ca.pem"),
        &read("tls/ca.key"),
        "Liaison node DE-BKA",
        &["127.0.0.1".into(), "localhost".into()],
        liaison_core::tls::CertificateRole::Node,
        liaison_core::tls::Validity { days: 30 },
    )
    .unwrap();
    let posing = liaison_node::trust::tls::NodeCertificate::from_pem(
        &posing.certificate_pem,
        &posing.private_key_pem,
    )
    .unwrap();
    // It is RO-DIICOT's, and not a node certificate RO-DIICOT pinned: refused as such.
    let refused = peer_client(&runtime, a, &posing).err().unwrap();
    assert!(
        refused.contains("pinned in the identity this node holds for RO-DIICOT"),
        "{refused}"
    );
    // A genuine bulletin from DE-BKA (its own signature) over RO-DIICOT's connection.
    let mut client = peer_client(&runtime, a, &node_certificate(c)).unwrap();
    let envelope = seal_envelope(&b.node().keys().signing, &b.node(), &a.node());
    let receipt = deliver_receipt(&runtime, &mut client, envelope);
    match receipt.receipt().outcome.clone() {
        Outcome::Rejected { code, reason } => {
            assert_eq!(code, RejectCode::WrongSender);
            assert!(reason.contains("relayed by RO-DIICOT"), "{reason}");
        }
        other => panic!("posing partner's delivery was {other:?}"),
    }
    assert!(a.inbox().is_empty());
}

#[test]
fn a_tampered_envelope_gets_a_signed_rejection_with_its_code_and_the_log_still_verifies() {
    let PartnerLine {
        mut nodes,
        runtime,
        mut client,
        dir: _dir,
    } = partner_line();
    let (a, b) = (&nodes[0], &nodes[1]);
    let (a_node, b_node) = (a.node(), b.node());

    let genuine = seal_envelope(&b_node.keys().signing, &b_node, &a_node);
    let mut tampered = genuine.to_vec();
    let last = tampered.len() - 70; // inside the ciphertext, before the signature
    tampered[last] ^= 0x01;
    let receipt = deliver_receipt(&runtime, &mut client, Bytes::from(tampered));
    // The receipt is signed by A.
    SignedReceipt::verify(receipt.to_bytes(), &a_node.keys().signing.verifying_key()).unwrap();
    match receipt.receipt().outcome.clone() {
        Outcome::Rejected { code, reason } => {
            assert_eq!(code, RejectCode::BadSignature);
            assert!(!code.is_transient());
            assert!(reason.contains("signature"), "{reason}");
        }
        other => panic!("tampered envelope was {other:?}"),
    }
    assert!(a.inbox().is_empty(), "a tampered envelope was stored");

    // The genuine one is accepted, and delivering it again is a duplicate, stored once.
    let accepted = deliver_receipt(&runtime, &mut client, genuine.clone());
    assert!(
        matches!(accepted.receipt().outcome, Outcome::Accepted { .. }),
        "{:?}",
        accepted.receipt()
    );
    let again = deliver_receipt(&runtime, &mut client, genuine);
    assert!(
        matches!(again.receipt().outcome, Outcome::Duplicate { .. }),
        "{:?}",
        again.receipt()
    );
    assert_eq!(a.inbox().len(), 1);

    // Garbage bytes: rejected as malformed, node still up.
    let junk = deliver_receipt(&runtime, &mut client, Bytes::from_static(b"\x0a\x03abc"));
    assert!(
        matches!(
            junk.receipt().outcome,
            Outcome::Rejected {
                code: RejectCode::Malformed,
                ..
            }
        ),
        "{:?}",
        junk.receipt()
    );
    nodes[0].stop();
    assert!(nodes[0].verify_log() > 0);
}

/// Regression: a rejection receipt named no bulletin when the envelope failed its
/// structural checks, even where the header still read.
#[test]
fn a_rejection_names_the_bulletin_whenever_its_header_reads() {
    let PartnerLine {
        nodes,
        runtime,
        mut client,
        dir: _dir,
    } = partner_line();
    let (a, b) = (&nodes[0], &nodes[1]);
    let (a_node, b_node) = (a.node(), b.node());
    let genuine_for_naming = seal_envelope(&b_node.keys().signing, &b_node, &a_node);
    let mut parts: liaison_proto::format::v1::SealedEnvelope =
        prost::Message::decode(genuine_for_naming.clone()).unwrap();
    parts.wraps = Bytes::from_static(b"\xff\xff");
    let broken = deliver_receipt(
        &runtime,
        &mut client,
        prost::Message::encode_to_vec(&parts).into(),
    );
    assert!(
        matches!(
            broken.receipt().outcome,
            Outcome::Rejected {
                code: RejectCode::Malformed,
                ..
            }
        ),
        "{:?}",
        broken.receipt()
    );
    let named = liaison_core::SealedEnvelope::decode(genuine_for_naming).unwrap();
    assert_eq!(
        broken.receipt().bulletin_id,
        Some(named.header().bulletin_id)
    );
}

#[test]
fn an_oversized_message_is_refused_and_the_node_stays_up() {
    let line = partner_line();
    let (runtime, nodes) = (&line.runtime, &line.nodes);
    let (a, b) = (&nodes[0], &nodes[1]);
    // A client willing to send more than the receiver accepts.
    let mut client = line
        .client
        .clone()
        .max_encoding_message_size(64 * 1024 * 1024);
    let huge = Bytes::from(vec![0u8; liaison_core::limits::MAX_ENVELOPE_BYTES + 4096]);
    let status = runtime.block_on(async {
        let outbound = tokio_stream::iter(vec![pb::SealedBulletin {
            envelope: huge,
            ..Default::default()
        }]);
        match client.deliver(outbound).await {
            Err(status) => status,
            Ok(response) => response
                .into_inner()
                .message()
                .await
                .expect_err("an oversized envelope got a receipt"),
        }
    });
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("exceeds the limit"), "{status:?}");
    // Still up, and still serving the genuine partner.
    let mut again = peer_client(runtime, a, &node_certificate(b)).unwrap();
    let envelope = seal_envelope(&b.node().keys().signing, &b.node(), &a.node());
    let receipt = deliver_receipt(runtime, &mut again, envelope);
    assert!(matches!(
        receipt.receipt().outcome,
        Outcome::Accepted { .. }
    ));
}

#[test]
fn status_shows_a_partner_going_offline_and_its_outbox_growing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].start();
    for i in 0..5 {
        nodes[0].send(&[&nodes[1]], &format!("queued {i}"));
    }
    let status = |node: &TestNode| node.admin(Status {});
    wait_until(
        "the failing partner to show",
        Duration::from_secs(30),
        || {
            let s = status(&nodes[0]);
            s.partners[0].connection == "failing" && s.partners[0].outbox == 5
        },
    );
    let s = status(&nodes[0]);
    assert!(s.running);
    assert_eq!(s.partners[0].agency, "DE-BKA");
    assert!(s.partners[0].oldest_queued_seconds.unwrap() >= 0);
    let error = s.partners[0].last_error.clone().unwrap();
    assert!(error.contains("cannot connect to DE-BKA"), "{error}");
    // Each cause once.
    assert!(error.matches("refused").count() <= 1, "{error}");

    nodes[1].start();
    wait_until("the outbox to drain", LONG, || {
        status(&nodes[0]).partners[0].outbox == 0
    });
    let s = status(&nodes[0]);
    assert!(s.partners[0].last_delivery.is_some(), "{s:?}");
    assert!(s.partners[0].last_error.is_none(), "{s:?}");

    nodes[0].stop();
    let s = status(&nodes[0]);
    assert!(!s.running);
    assert_eq!(s.partners[0].connection, "stopped");
}

/// Regression: an authenticated partner sending junk grew the receiver's log by one
/// entry per envelope without bound (56,775 entries in the report). 10,000 junk
/// envelopes here: every one still gets its signed rejection, but past a budget only
/// their number is logged.
#[test]
fn a_flood_of_junk_gets_receipts_but_cannot_grow_the_log_without_bound() {
    use liaison_node::node::state::RejectionBudget;
    let PartnerLine {
        nodes,
        runtime,
        mut client,
        dir: _dir,
    } = partner_line();
    let (a, b) = (&nodes[0], &nodes[1]);
    let entries = || a.admin(Status {}).log_entries;
    let before = entries();
    let flood = 10_000;
    let rejected = runtime.block_on(async {
        let junk = (0..flood).map(|i| pb::SealedBulletin {
            envelope: Bytes::from(format!("junk {i}")),
            ..Default::default()
        });
        let mut receipts = client
            .deliver(tokio_stream::iter(junk))
            .await
            .unwrap()
            .into_inner();
        let mut rejected = 0;
        while let Some(signed) = receipts.message().await.unwrap() {
            let receipt =
                SignedReceipt::from_stored(Bytes::from(prost::Message::encode_to_vec(&signed)))
                    .unwrap();
            if matches!(receipt.receipt().outcome, Outcome::Rejected { .. }) {
                rejected += 1;
            }
        }
        rejected
    });
    assert_eq!(rejected, flood, "every envelope gets its signed rejection");
    let grown = entries() - before;
    let budget = u64::from(RejectionBudget::PER_MINUTE);
    assert!(
        grown <= budget + 5,
        "{flood} junk envelopes grew the log by {grown} entries"
    );
    // Once the budget refills, the next refusal is logged with the count of those that
    // were not.
    std::thread::sleep(Duration::from_millis(1_100));
    let more = deliver_receipt(&runtime, &mut client, Bytes::from_static(b"more junk"));
    assert!(matches!(more.receipt().outcome, Outcome::Rejected { .. }));
    let events: Vec<serde_json::Value> = a
        .admin(LogExport {
            since: before + 1,
            limit: usize::MAX,
            with_bytes: false,
            reads: false,
        })
        .into_iter()
        .filter_map(|e| match e.body {
            ExportedBody::Event(event) => Some(serde_json::to_value(event).unwrap()),
            _ => None,
        })
        .collect();
    let of = |name: &'static str| events.iter().filter(move |e| e["event"] == name);
    // One by one: the flood's first ones, and the "more junk" at the end.
    let logged = of("envelope-rejected").count() as u64 - 1;
    let not_logged: u64 = of("rejections-not-logged")
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    assert!(not_logged > 0, "nothing was counted instead of logged");
    assert_eq!(
        logged + not_logged,
        flood as u64,
        "every refusal is accounted for"
    );
    // And status counts them for the operator, by code.
    let partner = a
        .admin(Status {})
        .partners
        .into_iter()
        .find(|p| p.agency == "DE-BKA")
        .unwrap();
    assert_eq!(
        partner.refused,
        [("REJECT_CODE_MALFORMED".to_owned(), flood as u64 + 1)],
        "{:?}",
        partner.refused
    );
    // The node still serves the genuine partner.
    let envelope = seal_envelope(&b.node().keys().signing, &b.node(), &a.node());
    let receipt = deliver_receipt(&runtime, &mut client, envelope);
    assert!(matches!(
        receipt.receipt().outcome,
        Outcome::Accepted { .. }
    ));
}

/// A queued entry whose body is erased before it is sent (a recall racing the queue)
/// leaves the queue with a log event; it does not hold up what follows.
#[test]
fn an_entry_erased_while_queued_does_not_block_the_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].start();
    let (nl, de) = (&nodes[0], &nodes[1]);
    let erased = nl.send(&[de], "erased while queued");
    let state = nl.state();
    let published = state
        .log
        .entries_for_bulletin(&erased)
        .unwrap()
        .into_iter()
        .find(|e| e.kind == liaison_store::EntryKind::Published)
        .unwrap();
    state
        .log
        .append(
            liaison_store::NewEntry::new(liaison_store::EntryKind::NodeEvent, "test: erase")
                .with_effect(liaison_store::Effect::EraseBody { seq: published.seq }),
        )
        .unwrap();
    let after = nl.send(&[de], "queued behind it");
    nodes[1].start();
    let (nl, de) = (&nodes[0], &nodes[1]);
    wait_until("the bulletin behind it to arrive", LONG, || {
        de.inbox().iter().any(|b| b.id == after.to_string())
    });
    assert!(de.inbox().iter().all(|b| b.id != erased.to_string()));
    wait_until("the queue to drain", LONG, || nl.outbox(de) == 0);
    assert!(nl.events().iter().any(|e| matches!(
        e,
        liaison_node::node::journal::LogEvent::ErasedBeforeSending { seq, .. } if *seq == published.seq
    )));
}

/// A recall delivered twice (the first receipt lost on the way) is answered from the
/// entry that carried it out: the same entry and its real chain hash, which the sender
/// keeps and later checks in a checkpoint exchange (a zero hash would read as a fork).
#[test]
fn a_repeated_recall_is_answered_with_the_entry_that_carried_it_out() {
    let PartnerLine {
        nodes,
        runtime,
        mut client,
        dir: _dir,
    } = partner_line();
    let (a, b) = (&nodes[0], &nodes[1]);
    let envelope = seal_envelope(&b.node().keys().signing, &b.node(), &a.node());
    let id = liaison_core::SealedEnvelope::decode(envelope.clone())
        .unwrap()
        .header()
        .bulletin_id;
    assert!(matches!(
        deliver_receipt(&runtime, &mut client, envelope)
            .receipt()
            .outcome,
        Outcome::Accepted { .. }
    ));
    let recall = liaison_core::recall::SignedRecall::sign(
        id,
        b.agency.clone(),
        "wrong person".into(),
        &b.node().keys().signing,
    );
    let send = |client: &mut liaison_tests::wire::PeerClient| {
        liaison_tests::wire::deliver_message(
            &runtime,
            client,
            pb::SealedBulletin {
                recall: recall.to_bytes(),
                ..Default::default()
            },
        )
    };
    let first = send(&mut client);
    let again = send(&mut client);
    let (first, again) = (first.receipt(), again.receipt());
    assert!(
        matches!(first.outcome, Outcome::Purged { .. }),
        "{:?}",
        first.outcome
    );
    assert_eq!(first.outcome, again.outcome, "the same entry");
    assert_eq!(first.log_hash, again.log_hash, "the same hash");
    assert_ne!(first.log_hash, Some([0; 32]));
}
