//! The commands that reach a node: through its admin socket when it is running,
//! directly on its data directory when it is not. The same code in `liaison-node`
//! does the work either way.

use std::path::Path;

use anyhow::{Context as _, Result};
use liaison_node::admin::StatusView;
use liaison_node::admin::{
    self, AdminRequest, BulletinDetail, BulletinSummary, Direction, ExplainView, ExportedEntry,
    IssuedClient, PeerView, PolicyView, SendRequest, SendView,
};
use liaison_node::clients::ClientRecord;
use liaison_node::state::NodeState;
use liaison_node::{Listeners, Node};
use serde::de::DeserializeOwned;

use crate::output;

/// Runs `request` on the node in `data_dir` and returns the typed answer.
pub fn call<T: DeserializeOwned>(data_dir: &Path, request: AdminRequest) -> Result<T> {
    let value = match admin::call(data_dir, &request)? {
        Some(value) => value,
        None => {
            let node = Node::load(data_dir)?;
            let state = NodeState::open(node).context(
                "cannot open the node's log; if the node is running, its admin socket (admin.sock) should answer",
            )?;
            admin::execute(&state, request)?
        }
    };
    serde_json::from_value(value).context("unexpected answer from the node")
}

pub fn run_node(data_dir: &Path) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIAISON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // One JSON object per line for log shippers; aligned text for a terminal.
    if std::env::var("LIAISON_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let node = Node::load(data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let peer = tokio::net::TcpListener::bind(node.config().peer_listen)
            .await
            .with_context(|| format!("cannot listen on {}", node.config().peer_listen))?;
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
        };
        let api = tokio::net::TcpListener::bind(node.config().api_listen)
            .await
            .with_context(|| format!("cannot listen on {} (api.listen)", node.config().api_listen))?;
        liaison_node::run(node, Listeners { peer, api: Some(api) }, shutdown).await?;
        Ok(())
    })
}

fn peer_rows(peers: &[PeerView]) -> Vec<Vec<String>> {
    peers
        .iter()
        .map(|p| {
            vec![
                p.agency.clone(),
                p.display_name.clone(),
                p.identity_version.to_string(),
                p.endpoints.join(","),
                p.outbox.to_string(),
                p.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

const PEER_HEADERS: [&str; 6] = [
    "AGENCY",
    "NAME",
    "VERSION",
    "ENDPOINTS",
    "OUTBOX",
    "LAST ERROR",
];

pub fn peer_add(data_dir: &Path, bundle: &Path, fingerprint: String, json: bool) -> Result<()> {
    let bytes =
        std::fs::read(bundle).with_context(|| format!("cannot read {}", bundle.display()))?;
    let view: PeerView = call(
        data_dir,
        AdminRequest::PeerAdd {
            bundle_base64: data_encoding::BASE64.encode(&bytes),
            fingerprint,
        },
    )?;
    if json {
        return output::json(&view);
    }
    println!(
        "Added partner {} ({}), fingerprint {}",
        view.agency, view.display_name, view.fingerprint
    );
    Ok(())
}

pub fn peer_list(data_dir: &Path, json: bool) -> Result<()> {
    let peers: Vec<PeerView> = call(data_dir, AdminRequest::PeerList)?;
    if json {
        return output::json(&peers);
    }
    if peers.is_empty() {
        println!("No partners yet. Add one with `liaison peer add BUNDLE --fingerprint FP`.");
        return Ok(());
    }
    output::table(&PEER_HEADERS, &peer_rows(&peers));
    Ok(())
}

/// `peer show` and `peer remove` (which prints what it removed).
pub fn peer_show(data_dir: &Path, request: AdminRequest, json: bool) -> Result<()> {
    let removing = matches!(request, AdminRequest::PeerRemove { .. });
    let p: PeerView = call(data_dir, request)?;
    if json {
        return output::json(&p);
    }
    if removing {
        println!("Removed partner {} ({})", p.agency, p.display_name);
        return Ok(());
    }
    output::fields(&[
        ("Agency", p.agency.clone()),
        ("Name", p.display_name.clone()),
        ("Fingerprint", p.fingerprint.clone()),
        ("Identity version", p.identity_version.to_string()),
        ("Valid until", p.valid_until.clone()),
        ("Endpoints", p.endpoints.join(", ")),
        ("Signing key", p.signing_key_id.clone()),
        ("Encryption key", p.encryption_key_id.clone()),
        ("Outbox", p.outbox.to_string()),
        (
            "Last error",
            p.last_error.clone().unwrap_or_else(|| "-".into()),
        ),
    ]);
    Ok(())
}

pub fn bulletin_send(data_dir: &Path, request: SendRequest, json: bool) -> Result<()> {
    let sent: SendView = call(data_dir, AdminRequest::BulletinSend(request))?;
    if json {
        return output::json(&sent);
    }
    println!("{}", sent.id);
    eprintln!(
        "queued for {} (log entry {})",
        sent.queued_for.join(", "),
        sent.log_seq
    );
    for refused in &sent.refused {
        eprintln!("NOT sent to {refused}");
    }
    Ok(())
}

pub fn bulletin_list(data_dir: &Path, direction: Option<Direction>, json: bool) -> Result<()> {
    let list: Vec<BulletinSummary> = call(data_dir, AdminRequest::BulletinList { direction })?;
    if json {
        return output::json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|b| {
            vec![
                b.id.clone(),
                match b.direction {
                    Direction::In => "in".into(),
                    Direction::Out => "out".into(),
                },
                b.origin.clone(),
                b.recipients.join(","),
                b.category.clone(),
                b.tlp.clone(),
                b.title.clone(),
            ]
        })
        .collect();
    output::table(
        &["ID", "DIR", "ORIGIN", "TO", "CATEGORY", "TLP", "TITLE"],
        &rows,
    );
    Ok(())
}

pub fn bulletin_show(data_dir: &Path, id: String, json: bool) -> Result<()> {
    let b: BulletinDetail = call(data_dir, AdminRequest::BulletinShow { id })?;
    if json {
        return output::json(&b);
    }
    print_bulletin(&b);
    Ok(())
}

pub fn print_bulletin(b: &BulletinDetail) {
    output::fields(&[
        ("Bulletin", b.summary.id.clone()),
        ("Title", b.summary.title.clone()),
        ("Origin", b.summary.origin.clone()),
        ("Signature", b.signature.clone()),
        ("Recipients", b.summary.recipients.join(", ")),
        ("Category", b.summary.category.clone()),
        (
            "Marking",
            format!("{} {}", b.summary.tlp, b.handling_codes.join(" ")),
        ),
        ("Created", b.created.clone()),
        ("Expires", b.expires.clone()),
    ]);
    println!();
    println!("{}", b.body);
    for ack in &b.acknowledgements {
        println!("Acknowledged {ack}");
    }
    if !b.delivery.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = b
            .delivery
            .iter()
            .map(|d| {
                vec![
                    d.agency.clone(),
                    d.state.clone(),
                    d.receiver_log_seq
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                    d.receipt_time.clone().unwrap_or_default(),
                    d.detail.clone().unwrap_or_default(),
                ]
            })
            .collect();
        output::table(
            &[
                "RECIPIENT",
                "DELIVERY",
                "THEIR LOG ENTRY",
                "SIGNED RECEIPT AT",
                "DETAIL",
            ],
            &rows,
        );
    }
}

pub fn client_issue(
    data_dir: &Path,
    name: String,
    roles: Vec<String>,
    out: &Path,
    json: bool,
) -> Result<()> {
    for file in ["client.key", "client.pem", "ca.pem"] {
        if out.join(file).exists() {
            anyhow::bail!(
                "{} already exists; choose an empty --out directory",
                out.join(file).display()
            );
        }
    }
    let issued: IssuedClient = call(data_dir, AdminRequest::ClientIssue { name, roles })?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    write_file(&out.join("client.key"), &issued.private_key_pem, 0o600)?;
    write_file(&out.join("client.pem"), &issued.certificate_pem, 0o644)?;
    write_file(&out.join("ca.pem"), &issued.ca_pem, 0o644)?;
    if json {
        return output::json(&issued.record);
    }
    println!(
        "Issued client {} with roles {} (certificate SHA-256 {})",
        issued.record.name,
        roles_text(&issued.record),
        issued.record.certificate_sha256
    );
    println!(
        "Wrote {}/client.key (keep it secret), client.pem and ca.pem",
        out.display()
    );
    Ok(())
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn roles_text(record: &ClientRecord) -> String {
    record
        .roles
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

pub fn client_list(data_dir: &Path, json: bool) -> Result<()> {
    let clients: Vec<ClientRecord> = call(data_dir, AdminRequest::ClientList)?;
    if json {
        return output::json(&clients);
    }
    let rows: Vec<Vec<String>> = clients
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                roles_text(c),
                c.valid_until.clone(),
                c.certificate_sha256.clone(),
            ]
        })
        .collect();
    output::table(
        &["NAME", "ROLES", "VALID UNTIL", "CERTIFICATE SHA-256"],
        &rows,
    );
    Ok(())
}

pub fn client_revoke(data_dir: &Path, name: String, json: bool) -> Result<()> {
    let record: ClientRecord = call(data_dir, AdminRequest::ClientRevoke { name })?;
    if json {
        return output::json(&record);
    }
    println!(
        "Revoked client {} (certificate {})",
        record.name, record.certificate_sha256
    );
    Ok(())
}

fn print_policy(view: &PolicyView) {
    println!("Sharing policy version {}", view.version);
    if view.partners.is_empty() {
        println!("No partner is named: nothing is sent or accepted (deny by default).");
        return;
    }
    let rows: Vec<Vec<String>> = view
        .partners
        .iter()
        .map(|p| {
            vec![
                p.agency.clone(),
                p.send.join(","),
                p.receive.join(","),
                p.max_send_tlp.clone(),
                p.accept_handling.join(","),
                p.forward_to.join(","),
                p.max_receive_per_minute.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "PARTNER",
            "SEND",
            "RECEIVE",
            "MAX TLP",
            "HANDLING",
            "FORWARD TO",
            "MAX/MIN",
        ],
        &rows,
    );
}

pub fn policy_show(data_dir: &Path, json: bool) -> Result<()> {
    let view: PolicyView = call(data_dir, AdminRequest::PolicyShow)?;
    if json {
        return output::json(&view);
    }
    print_policy(&view);
    Ok(())
}

pub fn policy_check(file: &Path, json: bool) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let policy = liaison_core::policy::Policy::parse(&text)
        .with_context(|| format!("{} is not a valid policy", file.display()))?;
    if json {
        return output::json(&admin::policy_view(&policy));
    }
    print_policy(&admin::policy_view(&policy));
    println!("{} is valid.", file.display());
    Ok(())
}

pub fn policy_explain(data_dir: &Path, request: AdminRequest, json: bool) -> Result<()> {
    let view: ExplainView = call(data_dir, request)?;
    if json {
        return output::json(&view);
    }
    println!(
        "{}: {} (policy {})",
        if view.allowed {
            "WOULD GO"
        } else {
            "WOULD NOT GO"
        },
        view.decision,
        view.policy_version
    );
    Ok(())
}

pub fn policy_reload(data_dir: &Path, json: bool) -> Result<()> {
    let view: PolicyView = match admin::call(data_dir, &AdminRequest::PolicyReload)? {
        Some(value) => serde_json::from_value(value)?,
        None => anyhow::bail!(
            "the node is not running; it reads {} when it starts",
            data_dir.join("policy.toml").display()
        ),
    };
    if json {
        return output::json(&view);
    }
    println!("Policy {} is in force.", view.version);
    Ok(())
}

pub fn log_export(data_dir: &Path, since: u64, limit: usize, json: bool) -> Result<()> {
    let request = AdminRequest::LogExport { since, limit };
    let entries: Vec<ExportedEntry> = match admin::call(data_dir, &request)? {
        Some(value) => serde_json::from_value(value)?,
        None => {
            // Offline: export in chunks, with a progress bar on a terminal.
            let state = NodeState::open(Node::load(data_dir)?)?;
            let last = state
                .log
                .head()
                .seq
                .min(since.saturating_add(limit as u64).saturating_sub(1));
            let bar = indicatif::ProgressBar::new(last.saturating_sub(since.max(1)) + 1);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "exporting {bar:40} {pos}/{len} entries ({eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let mut entries = Vec::new();
            let mut next = since.max(1);
            while entries.len() < limit {
                let chunk = admin::log_export(&state, next, (limit - entries.len()).min(4096))?;
                let Some(tail) = chunk.last().map(|e| e.seq) else {
                    break;
                };
                bar.inc(chunk.len() as u64);
                entries.extend(chunk);
                next = tail + 1;
            }
            bar.finish_and_clear();
            entries
        }
    };
    if json {
        return output::json(&entries);
    }
    for e in &entries {
        println!(
            "{} {} {:<16} {} {} {}",
            e.seq,
            e.time,
            e.kind,
            e.hash,
            e.bulletin_id
                .as_deref()
                .or(e.agency.as_deref())
                .unwrap_or("-"),
            e.body
        );
    }
    Ok(())
}

pub fn status(data_dir: &Path, json: bool) -> Result<()> {
    let mut view: StatusView = match admin::call(data_dir, &AdminRequest::Status)? {
        Some(value) => {
            let mut view: StatusView = serde_json::from_value(value)?;
            view.running = true;
            view
        }
        None => {
            let state = NodeState::open(Node::load(data_dir)?)?;
            admin::status(&state)?
        }
    };
    if !view.running {
        for p in &mut view.partners {
            p.connection = "stopped".into();
        }
    }
    if json {
        return output::json(&view);
    }
    output::fields(&[
        ("Agency", view.agency.clone()),
        (
            "Node",
            if view.running {
                "running".into()
            } else {
                "NOT RUNNING".to_owned()
            },
        ),
        ("Peer listener", view.peer_listen.clone()),
        ("API listener", view.api_listen.clone()),
        (
            "Log",
            format!(
                "{} entries, head {}, {} checkpoints",
                view.log_entries, view.log_head, view.checkpoints
            ),
        ),
        ("Policy", view.policy_version.clone()),
        (
            "Keys",
            view.keys
                .iter()
                .map(|k| format!("{} {} ({} days old)", k.purpose, k.key_id, k.age_days))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ]);
    println!();
    let rows: Vec<Vec<String>> = view
        .partners
        .iter()
        .map(|p| {
            vec![
                p.agency.clone(),
                p.connection.clone(),
                p.identity_version.to_string(),
                p.outbox.to_string(),
                p.oldest_queued_seconds
                    .map(|s| format!("{s}s"))
                    .unwrap_or_else(|| "-".into()),
                p.last_delivery.clone().unwrap_or_else(|| "-".into()),
                p.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &[
            "PARTNER",
            "CONNECTION",
            "IDENTITY",
            "OUTBOX",
            "OLDEST",
            "LAST DELIVERY",
            "LAST ERROR",
        ],
        &rows,
    );
    for warning in &view.warnings {
        println!("WARNING: {warning}");
    }
    Ok(())
}

pub fn key_change(data_dir: &Path, request: AdminRequest, json: bool) -> Result<()> {
    let view: liaison_node::keys::KeyChangeView = call(data_dir, request)?;
    if json {
        return output::json(&view);
    }
    println!(
        "{}; identity version {} is in force.",
        view.change, view.identity_version
    );
    if let (Some(old), Some(new)) = (&view.old_key_id, &view.new_key_id) {
        println!("Old key {old}, new key {new}. Partners receive the new identity automatically.");
    }
    Ok(())
}

pub fn bulletin_recall(data_dir: &Path, id: String, reason: String, json: bool) -> Result<()> {
    let view: liaison_node::bulletins::RecallView =
        call(data_dir, AdminRequest::BulletinRecall { id, reason })?;
    if json {
        return output::json(&view);
    }
    if !view.recall_sent_to.is_empty() {
        println!(
            "Recall of {} sent to {}",
            view.id,
            view.recall_sent_to.join(", ")
        );
    }
    if !view.withdrawn_before_delivery.is_empty() {
        println!(
            "Withdrawn before delivery from {}",
            view.withdrawn_before_delivery.join(", ")
        );
    }
    println!(
        "`liaison bulletin show {}` shows each recipient's signed purge receipt.",
        view.id
    );
    Ok(())
}

pub fn bulletin_forward(data_dir: &Path, id: String, to: String, json: bool) -> Result<()> {
    let view: liaison_node::bulletins::ForwardView =
        call(data_dir, AdminRequest::BulletinForward { id, to })?;
    if json {
        return output::json(&view);
    }
    println!(
        "{} (from {}) queued for {}: {}",
        view.id, view.origin, view.to, view.decision
    );
    Ok(())
}
