//! Real `liaison run` processes on loopback, talking mutually authenticated gRPC over
//! TLS 1.3: delivery, receipts, crashes on either side, and refusals.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod util;

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use liaison_core::BulletinId;
use liaison_core::receipt::{Outcome, SignedReceipt};
use liaison_node::Node;
use liaison_node::trust::tls::NodeCertificate;
use liaison_proto::v1 as pb;
use util::{TestNode, cluster, fails, node_certificate, ok, peer_client, wait_until};

const LONG: Duration = Duration::from_secs(120);

fn assert_all_accepted(sender: &TestNode, ids: &[String], recipients: &[&TestNode]) {
    for id in ids {
        let detail = sender.show(id);
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
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    for n in &mut nodes {
        n.start();
    }
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let ids: Vec<String> = (0..200)
        .map(|i| a.send(&[b, c], &format!("bulletin {i}")))
        .collect();
    wait_until("A's outboxes to drain", LONG, || {
        a.outbox(b) == 0 && a.outbox(c) == 0
    });

    for receiver in [b, c] {
        let inbox = receiver.inbox();
        assert_eq!(
            inbox.len(),
            200,
            "{} holds {} bulletins",
            receiver.agency,
            inbox.len()
        );
        let got: Vec<&str> = inbox.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            got,
            ids.iter().map(String::as_str).collect::<Vec<_>>(),
            "{} not in order",
            receiver.agency
        );
        for (i, s) in inbox.iter().enumerate() {
            assert_eq!(s.title, format!("bulletin {i}"));
            assert_eq!(s.origin, "NL-NP");
        }
        for id in ids.iter().step_by(20) {
            assert!(receiver.show(id).signature.starts_with("valid"), "{id}");
        }
    }
    assert_all_accepted(a, &ids, &[b, c]);
}

#[test]
fn receiver_killed_mid_stream_still_gets_every_bulletin_once_and_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let (first, rest) = nodes.split_at_mut(1);
    let (a, b) = (&first[0], &mut rest[0]);
    let mut ids = Vec::new();
    for i in 0..150 {
        ids.push(a.send(&[b], &format!("bulletin {i}")));
        if i == 60 {
            b.kill9();
        }
        if i == 100 {
            b.start();
        }
    }
    wait_until("A's outbox to drain", LONG, || a.outbox(b) == 0);
    let inbox = b.inbox();
    let got: Vec<&str> = inbox.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        got,
        ids.iter().map(String::as_str).collect::<Vec<_>>(),
        "B's log must hold each bulletin once, in A's order"
    );
    // Every receipt is accepted or (for an envelope stored just before the kill whose
    // receipt was lost) duplicate; none rejected.
    for id in &ids {
        let d = a.show(id);
        assert!(
            matches!(d.delivery[0].state.as_str(), "accepted" | "duplicate"),
            "{d:?}"
        );
    }
    b.stop();
    ok(&["log", "verify", "--data-dir", b.d()]);
}

#[test]
fn sender_killed_mid_send_loses_nothing_it_acknowledged_and_sends_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let (first, rest) = nodes.split_at_mut(1);
    let (a, b) = (&mut first[0], &rest[0]);
    // Acknowledged sends, from the CLI, while A is killed partway through.
    let mut acknowledged = Vec::new();
    for i in 0..80 {
        acknowledged.push(a.send(&[b], &format!("bulletin {i}")));
        if i == 40 {
            a.kill9();
            a.start();
        }
    }
    wait_until("A's outbox to drain", LONG, || a.outbox(b) == 0);
    let inbox = b.inbox();
    let got: Vec<String> = inbox.iter().map(|s| s.id.clone()).collect();
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(
        unique.len(),
        got.len(),
        "a bulletin was stored twice in B's log"
    );
    for id in &acknowledged {
        assert!(
            unique.contains(id),
            "acknowledged bulletin {id} never reached B"
        );
    }
    assert_eq!(
        got, acknowledged,
        "B holds exactly what A acknowledged, in order"
    );
    a.stop();
    ok(&["log", "verify", "--data-dir", a.d()]);
}

#[test]
fn unknown_ca_and_a_partner_posing_as_another_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    nodes[0].start();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // A genuine partner gets in.
    assert!(peer_client(&runtime, a, &node_certificate(b)).is_ok());

    // A certificate from a CA A has never seen is refused at the handshake.
    let stranger: liaison_core::AgencyId = "FR-OCRTEH".parse().unwrap();
    let ca = liaison_core::tls::generate_agency_ca(
        &stranger,
        "Stranger",
        liaison_core::tls::Validity { days: 30 },
    )
    .unwrap();
    let issued = liaison_core::tls::issue_certificate(
        &ca.certificate_pem,
        &ca.private_key_pem,
        "Liaison node FR-OCRTEH",
        &["127.0.0.1".into()],
        liaison_core::tls::CertificateRole::Node,
        liaison_core::tls::Validity { days: 30 },
    )
    .unwrap();
    let err = peer_client(
        &runtime,
        a,
        &NodeCertificate::from_pem(&issued.certificate_pem, &issued.private_key_pem).unwrap(),
    )
    .unwrap_err();
    assert!(!err.is_empty());
    wait_until("the refusal to be logged", Duration::from_secs(10), || {
        std::fs::read_to_string(a.dir.with_extension("log"))
            .unwrap_or_default()
            .contains("certificate is not issued by the CA of any known partner")
    });

    // C's CA issues a certificate that names DE-BKA. A authenticates the connection as
    // RO-DIICOT (the owner of the CA), never as the name inside the certificate.
    let c_ca_pem = std::fs::read_to_string(c.dir.join("tls/ca.pem")).unwrap();
    let c_ca_key = std::fs::read_to_string(c.dir.join("tls/ca.key")).unwrap();
    let posing = liaison_core::tls::issue_certificate(
        &c_ca_pem,
        &c_ca_key,
        "Liaison node DE-BKA",
        &["127.0.0.1".into(), "localhost".into()],
        liaison_core::tls::CertificateRole::Node,
        liaison_core::tls::Validity { days: 30 },
    )
    .unwrap();
    let posing =
        NodeCertificate::from_pem(&posing.certificate_pem, &posing.private_key_pem).unwrap();
    let mut client = peer_client(&runtime, a, &posing).unwrap();
    // It delivers a genuine bulletin from B (B's own signature) over that connection...
    let b_node = Node::load(&b.dir).unwrap();
    let a_node = Node::load(&a.dir).unwrap();
    let envelope = seal_b_for_a(&b_node, &a_node);
    let receipt = deliver_one(&runtime, &mut client, envelope.clone());
    // ...and A refuses it: the connection is RO-DIICOT's, not DE-BKA's.
    match receipt.receipt().outcome.clone() {
        Outcome::Rejected { reason } => {
            assert!(reason.contains("relayed by RO-DIICOT"), "{reason}")
        }
        other => panic!("posing partner's delivery was {other:?}"),
    }
    assert!(a.inbox().is_empty());
    let _ = c;
}

fn seal_b_for_a(b: &Node, a: &Node) -> Bytes {
    util::seal_envelope(&b.keys().signing, b, a)
}

fn deliver_one(
    runtime: &tokio::runtime::Runtime,
    client: &mut pb::peer_client::PeerClient<tonic::transport::Channel>,
    envelope: Bytes,
) -> SignedReceipt {
    util::deliver_receipt(runtime, client, envelope)
}

#[test]
fn a_tampered_envelope_gets_a_signed_rejection_and_the_log_still_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = (&nodes[0], &nodes[1]);
    let a_node = Node::load(&a.dir).unwrap();
    let b_node = Node::load(&b.dir).unwrap();
    let mut client = peer_client(&runtime, a, &node_certificate(b)).unwrap();

    let genuine = seal_b_for_a(&b_node, &a_node);
    let mut tampered = genuine.to_vec();
    let last = tampered.len() - 70; // inside the ciphertext, before the signature
    tampered[last] ^= 0x01;
    let receipt = deliver_one(&runtime, &mut client, Bytes::from(tampered));
    // The receipt is signed by A.
    SignedReceipt::verify(receipt.to_bytes(), &a_node.keys().signing.verifying_key()).unwrap();
    match receipt.receipt().outcome.clone() {
        Outcome::Rejected { reason } => assert!(reason.contains("signature"), "{reason}"),
        other => panic!("tampered envelope was {other:?}"),
    }
    assert!(a.inbox().is_empty(), "a tampered envelope was stored");

    // The genuine one is accepted, and delivering it again is a duplicate, stored once.
    let accepted = deliver_one(&runtime, &mut client, genuine.clone());
    assert!(
        matches!(accepted.receipt().outcome, Outcome::Accepted { .. }),
        "{:?}",
        accepted.receipt()
    );
    let again = deliver_one(&runtime, &mut client, genuine);
    assert!(
        matches!(again.receipt().outcome, Outcome::Duplicate { .. }),
        "{:?}",
        again.receipt()
    );
    assert_eq!(a.inbox().len(), 1);

    // Garbage bytes: rejected with a reason, node still up.
    let junk = deliver_one(&runtime, &mut client, Bytes::from_static(b"\x0a\x03abc"));
    assert!(matches!(junk.receipt().outcome, Outcome::Rejected { .. }));

    nodes[0].stop();
    let out = ok(&["log", "verify", "--data-dir", nodes[0].d()]);
    assert!(out.contains("Log verified"), "{out}");
}

#[test]
fn peer_commands_work_offline_and_online_and_check_fingerprints() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "NL-NP");
    let b = TestNode::init(tmp.path(), "DE-BKA");
    let bundle = tmp.path().join("de.bundle");
    ok(&[
        "identity",
        "export",
        "--data-dir",
        b.d(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let wrong = a.fingerprint();
    let err = fails(
        &[
            "peer",
            "add",
            bundle.to_str().unwrap(),
            "--fingerprint",
            &wrong,
            "--data-dir",
            a.d(),
        ],
        1,
    );
    assert!(
        err.contains("fingerprint mismatch")
            && err.contains(&wrong)
            && err.contains(&b.fingerprint()),
        "{err}"
    );

    // Offline add, online list/show/remove.
    ok(&[
        "peer",
        "add",
        bundle.to_str().unwrap(),
        "--fingerprint",
        &b.fingerprint(),
        "--data-dir",
        a.d(),
    ]);
    a.start();
    let list: serde_json::Value =
        serde_json::from_str(&ok(&["peer", "list", "--data-dir", a.d(), "--json"])).unwrap();
    assert_eq!(list[0]["agency"], "DE-BKA");
    let table = ok(&["peer", "list", "--data-dir", a.d()]);
    assert!(
        table.contains("DE-BKA") && table.contains("OUTBOX"),
        "{table}"
    );
    let shown = ok(&["peer", "show", "DE-BKA", "--data-dir", a.d()]);
    assert!(shown.contains(&b.fingerprint()), "{shown}");
    ok(&["peer", "remove", "DE-BKA", "--data-dir", a.d()]);
    let err = fails(&["peer", "show", "DE-BKA", "--data-dir", a.d()], 1);
    assert!(err.contains("not a known partner"), "{err}");
    // Online add again, then the node stops and the change is in the log.
    ok(&[
        "peer",
        "add",
        bundle.to_str().unwrap(),
        "--fingerprint",
        &b.fingerprint(),
        "--data-dir",
        a.d(),
    ]);
    a.stop();
    let list: serde_json::Value =
        serde_json::from_str(&ok(&["peer", "list", "--data-dir", a.d(), "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let verified: serde_json::Value =
        serde_json::from_str(&ok(&["log", "verify", "--data-dir", a.d(), "--json"])).unwrap();
    assert!(verified["entries"].as_u64().unwrap() >= 9);
}

#[test]
fn bulletin_commands_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let body = tmp.path().join("body.txt");
    std::fs::write(&body, "Vehicle B-123-XYZ seen at the border").unwrap();
    let id = ok(&[
        "bulletin",
        "send",
        "--data-dir",
        a.d(),
        "--to",
        "DE-BKA",
        "--category",
        "trafficking.persons.transport",
        "--tlp",
        "amber+strict",
        "--handling",
        "H2",
        "--title",
        "Van at the border",
        "--body-file",
        body.to_str().unwrap(),
    ])
    .trim()
    .to_owned();
    id.parse::<BulletinId>().unwrap();
    wait_until("delivery", LONG, || a.outbox(b) == 0);
    let shown: serde_json::Value = serde_json::from_str(&ok(&[
        "bulletin",
        "show",
        &id,
        "--data-dir",
        b.d(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(shown["title"], "Van at the border");
    assert_eq!(shown["body"], "Vehicle B-123-XYZ seen at the border");
    assert_eq!(shown["tlp"], "TLP:AMBER+STRICT");
    assert!(shown["signature"].as_str().unwrap().starts_with("valid"));
    let sender_view = ok(&["bulletin", "show", &id, "--data-dir", a.d()]);
    assert!(sender_view.contains("accepted"), "{sender_view}");
    let listed = ok(&["bulletin", "list", "--data-dir", b.d(), "--direction", "in"]);
    assert!(listed.contains(&id), "{listed}");

    let err = fails(
        &[
            "bulletin",
            "send",
            "--data-dir",
            a.d(),
            "--to",
            "FR-OCRTEH",
            "--category",
            "x",
            "--tlp",
            "red",
            "--title",
            "t",
            "--body",
            "b",
        ],
        1,
    );
    assert!(err.contains("not a known partner"), "{err}");
    let err = fails(
        &[
            "bulletin",
            "send",
            "--data-dir",
            a.d(),
            "--to",
            "DE-BKA",
            "--category",
            "x",
            "--tlp",
            "purple",
            "--title",
            "t",
            "--body",
            "b",
        ],
        1,
    );
    assert!(err.contains("TLP"), "{err}");
    // A blank title is refused with the field named, and nothing is stored.
    let before: serde_json::Value =
        serde_json::from_str(&ok(&["status", "--data-dir", a.d(), "--json"])).unwrap();
    let err = fails(
        &[
            "bulletin",
            "send",
            "--data-dir",
            a.d(),
            "--to",
            "DE-BKA",
            "--category",
            "x",
            "--tlp",
            "red",
            "--title",
            "   ",
            "--body",
            "b",
        ],
        1,
    );
    assert!(err.contains("content.title"), "{err}");
    let after: serde_json::Value =
        serde_json::from_str(&ok(&["status", "--data-dir", a.d(), "--json"])).unwrap();
    assert_eq!(
        before["log_entries"], after["log_entries"],
        "a refused send stored something"
    );
    let err = fails(&["bulletin", "show", "not-an-id", "--data-dir", a.d()], 1);
    assert!(err.contains("UUID"), "{err}");
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    use std::io::{Read as _, Write as _};
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].start();
    let a = &nodes[0];
    let ca_pem = std::fs::read(a.dir.join("tls/ca.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", a.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // In TLS 1.3 the server's refusal arrives after the client's Finished: the first
    // exchange of application data fails.
    let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let mut buf = [0u8; 64];
    let read = tls.read(&mut buf);
    assert!(
        matches!(read, Err(_) | Ok(0)),
        "a client without a certificate got {read:?}"
    );
    wait_until("the refusal to be logged", Duration::from_secs(10), || {
        std::fs::read_to_string(a.dir.with_extension("log"))
            .unwrap_or_default()
            .contains("handshake refused")
    });
}

#[test]
fn an_oversized_message_is_refused_and_the_node_stays_up() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (a, b) = (&nodes[0], &nodes[1]);
    // A client willing to send more than the receiver accepts.
    let mut client = peer_client(&runtime, a, &node_certificate(b))
        .unwrap()
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
    let mut again = peer_client(&runtime, a, &node_certificate(b)).unwrap();
    let envelope = seal_b_for_a(&Node::load(&b.dir).unwrap(), &Node::load(&a.dir).unwrap());
    let receipt = deliver_one(&runtime, &mut again, envelope);
    assert!(matches!(
        receipt.receipt().outcome,
        Outcome::Accepted { .. }
    ));
}

#[test]
fn status_shows_a_partner_going_offline_and_its_outbox_growing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = cluster(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].start();
    let status = |node: &TestNode| -> serde_json::Value {
        serde_json::from_str(&ok(&["status", "--data-dir", node.d(), "--json"])).unwrap()
    };
    for i in 0..5 {
        nodes[0].send(&[&nodes[1]], &format!("queued {i}"));
    }
    wait_until(
        "the failing partner to show",
        Duration::from_secs(30),
        || {
            let s = status(&nodes[0]);
            s["partners"][0]["connection"] == "failing" && s["partners"][0]["outbox"] == 5
        },
    );
    let s = status(&nodes[0]);
    assert_eq!(s["running"], true);
    assert_eq!(s["partners"][0]["agency"], "DE-BKA");
    assert!(s["partners"][0]["oldest_queued_seconds"].as_i64().unwrap() >= 0);
    assert!(
        s["partners"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{s}"
    );
    let table = ok(&["status", "--data-dir", nodes[0].d()]);
    assert!(
        table.contains("DE-BKA") && table.contains("failing"),
        "{table}"
    );

    nodes[1].start();
    wait_until("the outbox to drain", LONG, || {
        status(&nodes[0])["partners"][0]["outbox"] == 0
    });
    let s = status(&nodes[0]);
    assert!(s["partners"][0]["last_delivery"].is_string(), "{s}");
    assert!(s["partners"][0]["last_error"].is_null(), "{s}");

    nodes[0].stop();
    let s = status(&nodes[0]);
    assert_eq!(s["running"], false);
    assert_eq!(s["partners"][0]["connection"], "stopped");
}
