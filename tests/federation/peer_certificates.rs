//! Only a partner's *node* certificate is that partner on the peer port: the
//! certificates its CA issues to its internal systems (`client issue`) are refused at
//! the handshake — checked from Liaison's own client and from OpenSSL's — and a node
//! certificate its CA minted besides the ones pinned in its identity document gets
//! `PERMISSION_DENIED` for everything but pushing that identity.

use std::io::Write as _;
use std::process::{Command, Stdio};

use liaison_node::edge::admin::{KeyRotate, PeerShow};
use liaison_node::node::data_dir::issue_node_certificate;
use liaison_node::node::journal::LogEvent;
use liaison_node::ops::keys::KeyPurpose;
use liaison_node::trust::tls::NodeCertificate;
use liaison_tests::api::{client_identity, issue_client};
use liaison_tests::wire::{node_certificate, peer_client};
use liaison_tests::{LONG, TestNode, federation, wait_until};

/// A second node certificate from `node`'s own CA, as its operator (or whoever holds
/// the CA key) could mint at any time: PEM certificate and key.
fn mint_node_certificate(node: &TestNode) -> (String, String) {
    let read = |f: &str| std::fs::read_to_string(node.dir.join(f)).unwrap();
    let issued = issue_node_certificate(
        node.node().config(),
        &read("tls/ca.pem"),
        &read("tls/ca.key"),
    )
    .unwrap();
    (issued.certificate_pem, issued.private_key_pem)
}

fn identity_version_held(node: &TestNode, partner: &TestNode) -> u64 {
    node.admin(PeerShow {
        agency: partner.agency.clone(),
    })
    .identity_version
}

/// What OpenSSL's `s_client` gets from `node`'s peer port presenting `cert` and `key`
/// (PEM files), after sending the HTTP/2 preface: its exit status and everything it
/// printed.
fn openssl_client(
    node: &TestNode,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> (bool, String) {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{}", node.port)])
        .args(["-tls1_3", "-alpn", "h2", "-verify_return_error"])
        .arg("-CAfile")
        .arg(node.dir.join("tls/ca.pem"))
        .arg("-cert")
        .arg(cert)
        .arg("-key")
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is installed (.ci/run installs it)");
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn a_partners_client_certificate_is_refused_on_the_peer_port() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let de_system = issue_client(&nodes[1], "de-case-system", "read");
    nodes[0].start();
    let (nl, de) = (&nodes[0], &nodes[1]);
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // DE-BKA's node certificate is DE-BKA.
    assert!(peer_client(&runtime, nl, &node_certificate(de)).is_ok());
    // A certificate DE-BKA's CA issued to one of its own systems is not.
    let (cert, key) = client_identity(&de_system);
    let as_peer = NodeCertificate::from_pem(&cert, &key).unwrap();
    let refused = peer_client(&runtime, nl, &as_peer);
    assert!(
        refused.is_err(),
        "a partner's client certificate was taken as the partner"
    );

    // The same seen from OpenSSL: the node certificate completes TLS 1.3 with ALPN h2
    // and is served; the client certificate gets a handshake alert (access denied).
    let (ok, text) = openssl_client(
        nl,
        &de.dir.join("tls/node.pem"),
        &de.dir.join("tls/node.key"),
    );
    assert!(
        ok && text.contains("ALPN protocol: h2") && !text.contains("alert"),
        "{text}"
    );
    let (ok, text) = openssl_client(
        nl,
        &de_system.join("client.pem"),
        &de_system.join("client.key"),
    );
    assert!(!ok && text.contains("alert access denied"), "{text}");
}

#[test]
fn a_node_certificate_minted_besides_the_pinned_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].start();
    let (nl, de) = (&nodes[0], &nodes[1]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (cert, key) = mint_node_certificate(de);
    let minted = NodeCertificate::from_pem(&cert, &key).unwrap();
    let refused = peer_client(&runtime, nl, &minted)
        .map(|_| ())
        .expect_err("a node certificate not pinned in DE-BKA's identity was taken as DE-BKA");
    assert!(
        refused.contains("does not have permission")
            && refused.contains("is not a node certificate pinned in the identity"),
        "{refused}"
    );
    // The pinned one is DE-BKA.
    assert!(peer_client(&runtime, nl, &node_certificate(de)).is_ok());
}

#[test]
fn a_rotation_served_before_the_partner_learnt_the_new_pin_still_gets_across() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    // DE-BKA rotates while NL-NP cannot hear about it, and restarts onto the new
    // certificate: NL-NP holds an identity that does not pin it.
    let rotated = nodes[1].admin(KeyRotate {
        purpose: KeyPurpose::Tls,
    });
    assert_eq!(rotated.identity_version, 2);
    nodes[0].start();
    assert_eq!(identity_version_held(&nodes[0], &nodes[1]), 1);
    nodes[1].start();
    let (nl, de) = (&nodes[0], &nodes[1]);
    // DE-BKA's worker pushes the identity that pins the new certificate over a
    // connection made with it (only that is served), then delivers as usual.
    let from_de = de.send(&[nl], "after the rotation");
    let from_nl = nl.send(&[de], "to the rotated node");
    wait_until("both bulletins to arrive", LONG, || {
        nl.inbox().iter().any(|b| b.id == from_de.to_string())
            && de.inbox().iter().any(|b| b.id == from_nl.to_string())
    });
    assert_eq!(identity_version_held(nl, de), 2);
}

#[test]
fn a_node_serving_an_unpinned_certificate_pins_it_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    // DE-BKA's operator replaces the node certificate by hand (as a node made before
    // pinning existed also serves one its identity does not pin).
    let (cert, key) = mint_node_certificate(&nodes[1]);
    std::fs::write(nodes[1].dir.join("tls/node.pem"), &cert).unwrap();
    std::fs::write(nodes[1].dir.join("tls/node.key"), &key).unwrap();
    let served = node_certificate(&nodes[1]);
    for n in &mut nodes {
        n.start();
    }
    let (nl, de) = (&nodes[0], &nodes[1]);
    let document = de.node().identity().document().clone();
    assert_eq!(document.version, 2);
    assert!(document.node_certificates.contains(&served.id().unwrap()));
    assert!(de.events().iter().any(|e| matches!(
        e,
        LogEvent::NodeCertificatePinned { key_id } if Some(key_id) == served.id().as_ref()
    )));
    let id = de.send(&[nl], "from the re-certified node");
    wait_until("the bulletin to arrive", LONG, || {
        nl.inbox().iter().any(|b| b.id == id.to_string())
    });
}
