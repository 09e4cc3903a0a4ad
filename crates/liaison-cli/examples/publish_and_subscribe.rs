//! An agency system using its Liaison node: publish one bulletin, then follow received
//! bulletins from the last cursor it saved. Run `liaison client issue --name
//! case-system --role publish,read --out ./case-system` first, then:
//!
//! ```sh
//! LIAISON_API=https://localhost:7444 LIAISON_CLIENT_DIR=./case-system LIAISON_TO=DE-BKA \
//!     cargo run -p liaison-cli --example publish_and_subscribe
//! ```

use liaison_proto::format::v1::{BulletinContent, Tlp};
use liaison_proto::v1::client_client::ClientClient;
use liaison_proto::v1::{BulletinDraft, PublishRequest, SubscribeRequest};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(env("LIAISON_CLIENT_DIR", "./case-system"));
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(dir.join("ca.pem"))?))
        .identity(Identity::from_pem(
            std::fs::read(dir.join("client.pem"))?,
            std::fs::read(dir.join("client.key"))?,
        ));
    let channel = Channel::from_shared(env("LIAISON_API", "https://localhost:7444"))?
        .tls_config(tls)?
        .connect()
        .await?;
    let mut node = ClientClient::new(channel);

    // Publish. The request key makes a retry after a timeout safe: it never publishes twice.
    let request_key = format!("case-2026-114-{}", std::process::id());
    let draft = BulletinDraft {
        category: "trafficking.persons".into(),
        tlp: Tlp::Amber as i32,
        content: Some(BulletinContent {
            title: "Recruiter active on the A2".into(),
            body: "Details...".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let reply = node
        .publish(PublishRequest {
            request_key,
            draft: Some(draft),
            recipients: vec![env("LIAISON_TO", "DE-BKA")],
            to_all_allowed: false,
            to_group: String::new(),
        })
        .await?
        .into_inner();
    println!(
        "published {} (queued: {:?})",
        reply.bulletin_id, reply.outcomes
    );

    // Follow received bulletins from the saved cursor; save it after each one handled.
    let cursor_file = dir.join("cursor");
    let cursor = std::fs::read_to_string(&cursor_file)
        .ok()
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0);
    let mut stream = node
        .subscribe(SubscribeRequest {
            after_cursor: cursor,
            filter: None,
            links: false,
        })
        .await?
        .into_inner();
    while let Some(bulletin) = stream.message().await? {
        let title = bulletin.content.map(|c| c.title).unwrap_or_default();
        println!("{} from {}: {title}", bulletin.bulletin_id, bulletin.origin);
        std::fs::write(&cursor_file, bulletin.cursor.to_string())?;
    }
    Ok(())
}
