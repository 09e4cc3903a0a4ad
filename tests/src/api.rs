//! The client API as an agency system sees it: a registered client's certificate and
//! a TLS channel presenting it.

use std::path::{Path, PathBuf};

use liaison_node::edge::admin::ClientIssue;
use liaison_node::trust::clients::Role;

use crate::TestNode;

/// Issues a client certificate with `roles` (comma-separated) on `node` and writes
/// `client.pem`, `client.key` and `ca.pem` into a new directory, which it returns.
pub fn issue_client(node: &TestNode, name: &str, roles: &str) -> PathBuf {
    let roles: Vec<Role> = roles.split(',').map(|r| r.parse().unwrap()).collect();
    let issued = node.admin(ClientIssue {
        name: name.into(),
        roles,
    });
    let out = node.dir.with_extension(format!("client-{name}"));
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("client.pem"), issued.certificate_pem).unwrap();
    std::fs::write(out.join("client.key"), issued.private_key_pem).unwrap();
    std::fs::write(out.join("ca.pem"), issued.ca_pem).unwrap();
    out
}

/// A client API channel to `node` presenting `identity` (certificate and key PEM), or
/// none.
///
/// Errors: the connection failed, in words.
pub async fn api_channel(
    node: &TestNode,
    identity: Option<(&str, &str)>,
) -> Result<tonic::transport::Channel, String> {
    let ca = std::fs::read_to_string(node.dir.join("tls/ca.pem")).unwrap();
    let mut tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
    }
    tonic::transport::Channel::from_shared(format!("https://127.0.0.1:{}", node.api_port))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))
}

/// The PEM files of an issued client.
pub fn client_identity(client_dir: &Path) -> (String, String) {
    (
        std::fs::read_to_string(client_dir.join("client.pem")).unwrap(),
        std::fs::read_to_string(client_dir.join("client.key")).unwrap(),
    )
}
