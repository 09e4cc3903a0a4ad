//! `liaison init`, `identity show | export` and `run`: the node itself.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::{Context as _, Result};
use liaison_core::AgencyId;
use liaison_node::{InitOptions, Listeners, Node, init_node};
use serde::Serialize;

use crate::output;

/// This agency's identity, as `identity show` prints it.
#[derive(Debug, Serialize)]
struct IdentityView {
    agency: String,
    display_name: String,
    country: String,
    fingerprint: String,
    identity_version: u64,
    valid_from: String,
    valid_until: String,
    root_key_id: String,
    signing_key_id: String,
    encryption_key_id: String,
    tls_ca_sha256: String,
    node_certificates: Vec<String>,
    peer_endpoints: Vec<String>,
    peer_listen: String,
    api_listen: String,
    revoked_keys: Vec<String>,
}

impl IdentityView {
    fn of(node: &Node) -> Self {
        let doc = node.identity().document();
        Self {
            agency: doc.agency.to_string(),
            display_name: doc.display_name.clone(),
            country: doc.country.clone(),
            fingerprint: node.identity().fingerprint().to_string(),
            identity_version: doc.version,
            valid_from: doc.not_before.to_string(),
            valid_until: doc.not_after.to_string(),
            root_key_id: node.identity().root_key().key_id('r').to_string(),
            signing_key_id: doc.signing_key.key_id.to_string(),
            encryption_key_id: doc.encryption_key.key_id.to_string(),
            tls_ca_sha256: node.tls_ca_sha256(),
            node_certificates: doc
                .node_certificates
                .iter()
                .map(ToString::to_string)
                .collect(),
            peer_endpoints: doc.peer_endpoints.clone(),
            peer_listen: node.config().peer_listen.to_string(),
            api_listen: node.config().api_listen.to_string(),
            revoked_keys: doc
                .revoked_keys
                .iter()
                .map(|r| r.key_id.to_string())
                .collect(),
        }
    }
}

pub fn init(
    data_dir: &Path,
    agency: AgencyId,
    name: String,
    peer_endpoint: Option<String>,
    api_endpoint: Option<SocketAddr>,
    json: bool,
) -> Result<()> {
    let node = init_node(&InitOptions {
        data_dir: data_dir.to_owned(),
        agency,
        display_name: name,
        peer_endpoint,
        api_endpoint,
    })?;
    if json {
        return output::json(&IdentityView::of(&node));
    }
    output::line(format_args!(
        "Created node {} in {}",
        node.config().agency,
        data_dir.display()
    ))?;
    output::line(format_args!(
        "Root-key fingerprint: {}",
        node.identity().fingerprint()
    ))?;
    output::line(format_args!(""))?;
    output::line(format_args!(
        "Next: `liaison identity export --data-dir {} --out FILE`, send FILE to each partner,",
        data_dir.display()
    ))?;
    output::line(format_args!(
        "and read them the fingerprint above over a channel you trust (phone, in person)."
    ))
}

pub fn identity_show(data_dir: &Path, json: bool) -> Result<()> {
    let view = IdentityView::of(&Node::load(data_dir)?);
    if json {
        return output::json(&view);
    }
    output::fields(&[
        ("Agency", view.agency),
        ("Name", view.display_name),
        ("Fingerprint", view.fingerprint),
        ("Identity version", view.identity_version.to_string()),
        ("Valid from", view.valid_from),
        ("Valid until", view.valid_until),
        ("Root key", view.root_key_id),
        ("Signing key", view.signing_key_id),
        ("Encryption key", view.encryption_key_id),
        ("TLS CA (SHA-256)", view.tls_ca_sha256),
        ("Node certificates", view.node_certificates.join(", ")),
        ("Peer endpoints", view.peer_endpoints.join(", ")),
        ("Peer listener", view.peer_listen),
        ("API listener", view.api_listen),
    ])
}

/// What `identity export --json` prints.
#[derive(Debug, Serialize)]
struct Exported {
    agency: String,
    bundle: String,
    fingerprint: String,
}

pub fn identity_export(data_dir: &Path, out: &Path, json: bool) -> Result<()> {
    let node = Node::load(data_dir)?;
    if out.exists() {
        anyhow::bail!(
            "{} already exists; choose another file or remove it first",
            out.display()
        );
    }
    std::fs::write(out, node.identity().to_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    if json {
        return output::json(&Exported {
            agency: node.config().agency.to_string(),
            bundle: out.display().to_string(),
            fingerprint: node.identity().fingerprint().to_string(),
        });
    }
    output::line(format_args!(
        "Wrote the signed identity of {} to {}",
        node.config().agency,
        out.display()
    ))?;
    output::line(format_args!(
        "Fingerprint to read to the partner: {}",
        node.identity().fingerprint()
    ))
}

/// `liaison run`: logs to stderr, binds the configured listeners, serves until SIGINT
/// or SIGTERM.
pub fn run(data_dir: &Path) -> Result<()> {
    init_logging();
    let node = Node::load(data_dir)?;
    // Before binding: a second `run` on the same node would otherwise fail on its
    // ports ("Address already in use") or on the log's lock.
    if liaison_node::edge::admin::socket::node_running(data_dir) {
        anyhow::bail!(
            "a node is already running on {} (its admin socket answers); stop it first, or use `liaison status`",
            data_dir.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let peer = tokio::net::TcpListener::bind(node.config().peer_listen)
            .await
            .with_context(|| format!("cannot listen on {}", node.config().peer_listen))?;
        let api = tokio::net::TcpListener::bind(node.config().api_listen)
            .await
            .with_context(|| {
                format!("cannot listen on {} (api.listen)", node.config().api_listen)
            })?;
        let listeners = Listeners {
            peer,
            api: Some(api),
        };
        liaison_node::run(node, listeners, stop_signal()).await?;
        Ok(())
    })
}

/// One JSON object per line for log shippers (`LIAISON_LOG_FORMAT=json`); aligned text
/// for a terminal. `LIAISON_LOG` filters (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIAISON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal; a log file or journal gets plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if std::env::var("LIAISON_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminated => {}
    }
}
