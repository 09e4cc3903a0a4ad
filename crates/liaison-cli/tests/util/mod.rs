//! Helpers for tests that run the real `liaison` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

/// The `liaison` binary Cargo built for this test run.
pub fn liaison() -> Command {
    Command::new(env!("CARGO_BIN_EXE_liaison"))
}

/// Runs `liaison ARGS` and returns its output.
pub fn run(args: &[&str]) -> Output {
    liaison()
        .args(args)
        .env_remove("LIAISON_DATA_DIR")
        .output()
        .unwrap()
}

/// Runs `liaison ARGS`, asserts success, and returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "liaison {args:?} failed with {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `liaison ARGS`, asserts it failed with `code`, and returns stderr.
pub fn fails(args: &[&str], code: i32) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "liaison {args:?}: stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !stderr.contains("panicked"),
        "liaison {args:?} panicked: {stderr}"
    );
    stderr
}

/// Creates a node for `agency` in `dir`.
pub fn init(dir: &Path, agency: &str) {
    ok(&[
        "init",
        "--data-dir",
        dir.to_str().unwrap(),
        "--agency",
        agency,
        "--name",
        &format!("{agency} test"),
    ]);
}

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use liaison_node::edge::admin::{
    self, AdminRequest, BulletinDetail, BulletinSummary, Direction, PeerView, SendRequest, SendView,
};

/// A free loopback port (bound and released; the node binds it again right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `done` every 50 ms until it holds or `limit` passes.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// One agency's node, run as a real `liaison run` process.
pub struct TestNode {
    pub agency: String,
    pub dir: PathBuf,
    pub port: u16,
    pub api_port: u16,
    child: Option<Child>,
}

impl TestNode {
    /// `liaison init` on a free port.
    pub fn init(base: &Path, agency: &str) -> Self {
        let dir = base.join(agency.to_lowercase());
        let port = free_port();
        let api_port = free_port();
        ok(&[
            "init",
            "--data-dir",
            dir.to_str().unwrap(),
            "--agency",
            agency,
            "--name",
            &format!("{agency} test"),
            "--peer-endpoint",
            &format!("127.0.0.1:{port}"),
            "--api-endpoint",
            &format!("127.0.0.1:{api_port}"),
        ]);
        Self {
            agency: agency.to_owned(),
            dir,
            port,
            api_port,
            child: None,
        }
    }

    pub fn d(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    pub fn fingerprint(&self) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&ok(&["identity", "show", "--data-dir", self.d(), "--json"]))
                .unwrap();
        v["fingerprint"].as_str().unwrap().to_owned()
    }

    /// `liaison peer add` of `other`'s exported bundle, with its fingerprint.
    pub fn add_peer(&self, other: &TestNode) {
        let bundle = other.dir.with_extension("bundle");
        if !bundle.exists() {
            ok(&[
                "identity",
                "export",
                "--data-dir",
                other.d(),
                "--out",
                bundle.to_str().unwrap(),
            ]);
        }
        ok(&[
            "peer",
            "add",
            bundle.to_str().unwrap(),
            "--fingerprint",
            &other.fingerprint(),
            "--data-dir",
            self.d(),
        ]);
    }

    /// Replaces the node's policy.toml (takes effect at start or `policy reload`).
    pub fn write_policy(&self, text: &str) {
        std::fs::write(self.dir.join("policy.toml"), text).unwrap();
    }

    /// Starts `liaison run` and waits for its admin socket to answer.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.agency);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.with_extension("log"))
            .unwrap();
        let child = liaison()
            .args(["run", "--data-dir", self.d()])
            .env("LIAISON_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let dir = self.dir.clone();
        wait_until(
            &format!("{} to start", self.agency),
            Duration::from_secs(30),
            || {
                admin::call(&dir, &AdminRequest::PeerList)
                    .ok()
                    .flatten()
                    .is_some()
            },
        );
    }

    /// SIGKILL: no chance to flush or say goodbye.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("not running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("not running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert!(
            exit.success(),
            "{} exited with {exit} on SIGTERM",
            self.agency
        );
    }

    pub fn admin<T: serde::de::DeserializeOwned>(&self, request: AdminRequest) -> T {
        let value = admin::call(&self.dir, &request)
            .unwrap()
            .expect("node not running");
        serde_json::from_value(value).unwrap()
    }

    pub fn send(&self, to: &[&TestNode], title: &str) -> String {
        let sent: SendView = self.admin(AdminRequest::BulletinSend(SendRequest {
            to: to.iter().map(|n| n.agency.clone()).collect(),
            category: "trafficking.persons".into(),
            tlp: "amber".into(),
            handling: vec![],
            title: title.into(),
            body: "x".repeat(1024),
            expires_in_days: 30,
        }));
        sent.id
    }

    pub fn inbox(&self) -> Vec<BulletinSummary> {
        self.admin(AdminRequest::BulletinList {
            direction: Some(Direction::In),
        })
    }

    pub fn show(&self, id: &str) -> BulletinDetail {
        self.admin(AdminRequest::BulletinShow { id: id.to_owned() })
    }

    pub fn outbox(&self, partner: &TestNode) -> usize {
        let peer: PeerView = self.admin(AdminRequest::PeerShow {
            agency: partner.agency.clone(),
        });
        peer.outbox
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Nodes for `agencies`, each knowing every other and allowing them everything in
/// its sharing policy, not yet started.
pub fn cluster(base: &Path, agencies: &[&str]) -> Vec<TestNode> {
    let nodes: Vec<TestNode> = agencies.iter().map(|a| TestNode::init(base, a)).collect();
    for a in &nodes {
        let mut policy = String::new();
        for b in &nodes {
            if a.agency != b.agency {
                a.add_peer(b);
                policy.push_str(&allow_everything(&b.agency));
            }
        }
        a.write_policy(&policy);
    }
    nodes
}

/// A policy section allowing `agency` everything, at a rate no test reaches.
pub fn allow_everything(agency: &str) -> String {
    format!(
        "[partners.{agency}]\nsend = [\"*\"]\nreceive = [\"*\"]\nmax_send_tlp = \"red\"\naccept_handling = [\"H2\"]\nmax_receive_per_minute = 1000000\n\n"
    )
}

/// Issues a client certificate with `roles` on `node` and returns a connected client
/// API channel presenting it (TLS 1.3, trusting the agency CA).
pub fn issue_client(node: &TestNode, name: &str, roles: &str) -> PathBuf {
    let out = node.dir.with_extension(format!("client-{name}"));
    ok(&[
        "client",
        "issue",
        "--data-dir",
        node.d(),
        "--name",
        name,
        "--role",
        roles,
        "--out",
        out.to_str().unwrap(),
    ]);
    out
}

/// A client API channel to `node` presenting the certificate in `client_dir`
/// (client.pem, client.key), or none.
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

/// A peer-API client presenting `cert`, trusting only `target`'s CA.
pub fn peer_client(
    runtime: &tokio::runtime::Runtime,
    target: &TestNode,
    cert: &liaison_node::trust::tls::NodeCertificate,
) -> Result<liaison_proto::v1::peer_client::PeerClient<tonic::transport::Channel>, String> {
    let identity = liaison_node::Node::load(&target.dir)
        .unwrap()
        .identity()
        .clone();
    let partners = liaison_node::trust::partners::PartnerSet::new(
        liaison_node::trust::partners::Partners::from_bundles(vec![(
            identity.document().agency.clone(),
            identity.to_bytes(),
        )])
        .unwrap(),
    );
    let agency = identity.document().agency.clone();
    runtime.block_on(async {
        let mut client = liaison_node::runtime::delivery::connect(&partners, cert, &agency).await?;
        // A handshake refused by the server shows on the first call.
        client
            .ping(liaison_proto::v1::PingRequest {})
            .await
            .map_err(|s| s.to_string())?;
        Ok(client)
    })
}

pub fn node_certificate(node: &TestNode) -> liaison_node::trust::tls::NodeCertificate {
    liaison_node::trust::tls::NodeCertificate::load(
        &node.dir.join("tls/node.pem"),
        &node.dir.join("tls/node.key"),
    )
    .unwrap()
}

/// A real envelope from `from` to `to`, signed with `signing`.
pub fn seal_envelope(
    signing: &liaison_core::crypto::SigningKey,
    from: &liaison_node::Node,
    to: &liaison_node::Node,
) -> bytes::Bytes {
    let now = liaison_core::UnixMillis::now();
    let bulletin = liaison_core::Bulletin {
        id: liaison_core::BulletinId::new(now),
        origin: from.config().agency.clone(),
        created: now,
        expires: now.plus_days(1),
        marking: liaison_core::Marking::new(
            "trafficking.persons".parse().unwrap(),
            "amber".parse().unwrap(),
            vec![],
        )
        .unwrap(),
        content: liaison_core::BulletinContent {
            title: "signed with an old key".into(),
            body: "-".into(),
            ..liaison_core::BulletinContent::default()
        },
    };
    let recipient = liaison_core::RecipientKey {
        agency: to.config().agency.clone(),
        key: to.identity().document().encryption_key.key.clone(),
    };
    liaison_core::seal_for_recipients(
        &bulletin,
        signing,
        &[recipient],
        &mut liaison_core::crypto::SystemRng,
    )
    .unwrap()
    .as_bytes()
    .clone()
}

/// Delivers one envelope over `client` and returns the partner's signed receipt.
pub fn deliver_receipt(
    runtime: &tokio::runtime::Runtime,
    client: &mut liaison_proto::v1::peer_client::PeerClient<tonic::transport::Channel>,
    envelope: bytes::Bytes,
) -> liaison_core::receipt::SignedReceipt {
    runtime.block_on(async {
        let outbound = tokio_stream::iter(vec![liaison_proto::v1::SealedBulletin {
            envelope,
            ..Default::default()
        }]);
        let mut receipts = client.deliver(outbound).await.unwrap().into_inner();
        let signed = receipts.message().await.unwrap().expect("no receipt");
        liaison_core::receipt::SignedReceipt::from_stored(bytes::Bytes::from(
            prost::Message::encode_to_vec(&signed),
        ))
        .unwrap()
    })
}

/// Delivers one envelope and returns what the partner did with it.
pub fn deliver_one(
    runtime: &tokio::runtime::Runtime,
    client: &mut liaison_proto::v1::peer_client::PeerClient<tonic::transport::Channel>,
    envelope: bytes::Bytes,
) -> liaison_core::receipt::Outcome {
    deliver_receipt(runtime, client, envelope)
        .receipt()
        .outcome
        .clone()
}
