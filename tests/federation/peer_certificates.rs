//! Only a partner's *node* certificate is that partner on the peer port: the
//! certificates its CA issues to its internal systems (`client issue`) are refused at
//! the handshake — checked from Liaison's own client and from OpenSSL's.

use std::io::Write as _;
use std::process::{Command, Stdio};

use liaison_node::trust::tls::NodeCertificate;
use liaison_tests::api::{client_identity, issue_client};
use liaison_tests::wire::{node_certificate, peer_client};
use liaison_tests::{TestNode, federation};

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
