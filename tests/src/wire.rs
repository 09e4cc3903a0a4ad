//! A partner's view from outside a node: a peer-API client presenting any certificate,
//! envelopes sealed by hand, and single deliveries with their signed receipts.

use bytes::Bytes;
use liaison_core::receipt::{Outcome, SignedReceipt};
use liaison_core::{Bulletin, BulletinContent, BulletinId, Marking, RecipientKey, UnixMillis};
use liaison_node::Node;
use liaison_node::trust::partners::{PartnerSet, Partners};
use liaison_node::trust::tls::NodeCertificate;
use liaison_proto::v1 as pb;

use crate::TestNode;

/// A peer-API client.
pub type PeerClient = pb::peer_client::PeerClient<tonic::transport::Channel>;

/// A peer-API client to `target` presenting `certificate`, trusting only `target`'s
/// CA; connected and pinged once (a refused handshake shows here).
///
/// Errors: the connection or the ping failed, in words.
pub fn peer_client(
    runtime: &tokio::runtime::Runtime,
    target: &TestNode,
    certificate: &NodeCertificate,
) -> Result<PeerClient, String> {
    let identity = target.node().identity().clone();
    let agency = identity.document().agency.clone();
    let partners = PartnerSet::new(
        Partners::from_bundles(vec![(agency.clone(), identity.to_bytes())]).unwrap(),
    );
    runtime.block_on(async {
        let mut client = liaison_node::runtime::delivery::connect(&partners, certificate, &agency)
            .await
            .map_err(|e| e.to_string())?;
        client
            .ping(pb::PingRequest {})
            .await
            .map_err(|s| s.to_string())?;
        Ok(client)
    })
}

/// `node`'s own node certificate.
pub fn node_certificate(node: &TestNode) -> NodeCertificate {
    NodeCertificate::load(
        &node.dir.join("tls/node.pem"),
        &node.dir.join("tls/node.key"),
    )
    .unwrap()
}

/// A bulletin for tests: `trafficking.persons`, `tlp`, from `origin`, created `now`.
pub fn bulletin(origin: &Node, tlp: &str, handling: &[&str], now: UnixMillis) -> Bulletin {
    Bulletin {
        thread: None,
        request: None,
        id: BulletinId::new(now),
        origin: origin.config().agency.clone(),
        created: now,
        expires: now.plus_days(1),
        marking: Marking::new(
            "trafficking.persons".parse().unwrap(),
            tlp.parse().unwrap(),
            handling.iter().map(|h| h.parse().unwrap()).collect(),
        )
        .unwrap(),
        content: BulletinContent {
            title: "sealed by hand".into(),
            body: "-".into(),
            ..BulletinContent::default()
        },
    }
}

/// A genuine TLP:AMBER envelope from `from` to `to`, signed with `signing`.
pub fn seal_envelope(signing: &liaison_core::crypto::SigningKey, from: &Node, to: &Node) -> Bytes {
    let bulletin = bulletin(from, "amber", &[], UnixMillis::now());
    seal(&bulletin, signing, to)
}

/// `bulletin` sealed for `to` alone.
pub fn seal(bulletin: &Bulletin, signing: &liaison_core::crypto::SigningKey, to: &Node) -> Bytes {
    let recipient = RecipientKey {
        agency: to.config().agency.clone(),
        key: to.identity().document().encryption_key.key.clone(),
    };
    liaison_core::seal_for_recipients(
        bulletin,
        signing,
        &[recipient],
        &mut liaison_core::crypto::SystemRng,
    )
    .unwrap()
    .as_bytes()
    .clone()
}

/// Delivers one message over `client` and returns the partner's signed receipt.
pub fn deliver_message(
    runtime: &tokio::runtime::Runtime,
    client: &mut PeerClient,
    message: pb::SealedBulletin,
) -> SignedReceipt {
    runtime.block_on(async {
        let outbound = tokio_stream::iter(vec![message]);
        let mut receipts = client.deliver(outbound).await.unwrap().into_inner();
        let signed = receipts.message().await.unwrap().expect("no receipt");
        SignedReceipt::from_stored(Bytes::from(prost::Message::encode_to_vec(&signed))).unwrap()
    })
}

/// Delivers one envelope and returns the partner's signed receipt.
pub fn deliver_receipt(
    runtime: &tokio::runtime::Runtime,
    client: &mut PeerClient,
    envelope: Bytes,
) -> SignedReceipt {
    let message = pb::SealedBulletin {
        envelope,
        ..Default::default()
    };
    deliver_message(runtime, client, message)
}

/// Delivers one envelope and returns what the partner did with it.
pub fn deliver_one(
    runtime: &tokio::runtime::Runtime,
    client: &mut PeerClient,
    envelope: Bytes,
) -> Outcome {
    deliver_receipt(runtime, client, envelope)
        .receipt()
        .outcome
        .clone()
}

/// The commonest set-up of a wire test: NL-NP running, DE-BKA known to it, and a
/// peer-API client presenting DE-BKA's node certificate to NL-NP.
pub struct PartnerLine {
    /// NL-NP (running) and DE-BKA (not running).
    pub nodes: Vec<TestNode>,
    /// The runtime the client runs on.
    pub runtime: tokio::runtime::Runtime,
    /// DE-BKA's client to NL-NP.
    pub client: PeerClient,
    /// The nodes' directories: keep it bound (`dir: _dir`) for as long as the nodes.
    pub dir: tempfile::TempDir,
}

/// Starts a [`PartnerLine`].
pub fn partner_line() -> PartnerLine {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = crate::federation(dir.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = peer_client(&runtime, &nodes[0], &node_certificate(&nodes[1])).unwrap();
    PartnerLine {
        nodes,
        runtime,
        client,
        dir,
    }
}
