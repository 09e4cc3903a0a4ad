//! The client API against real nodes: every RPC ([`rpcs`]), resumable subscriptions
//! across a node restart and recalls on the stream ([`streams`]), idempotent publish and
//! refused certificates ([`access`]).

mod access;
mod foreign;
mod rpcs;
mod streams;

use liaison_proto::format::v1 as fmt;
use liaison_proto::v1 as pb;
use liaison_proto::v1::client_client::ClientClient;
use liaison_tests::TestNode;
use liaison_tests::api::{api_channel, client_identity};

pub(super) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

pub(super) fn draft(title: &str, category: &str, tlp: fmt::Tlp) -> pb::BulletinDraft {
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
        ..Default::default()
    }
}

pub(super) fn publish_request(key: &str, title: &str, to: &[&TestNode]) -> pb::PublishRequest {
    pb::PublishRequest {
        request_key: key.into(),
        draft: Some(draft(title, "trafficking.persons", fmt::Tlp::Amber)),
        recipients: to.iter().map(|n| n.agency.to_string()).collect(),
        to_all_allowed: false,
        to_group: String::new(),
    }
}

pub(super) async fn client(
    node: &TestNode,
    dir: &std::path::Path,
) -> ClientClient<tonic::transport::Channel> {
    let (cert, key) = client_identity(dir);
    ClientClient::new(api_channel(node, Some((&cert, &key))).await.unwrap())
}
