//! `liaison`: the operator's command line. Thin: it parses flags, calls the node
//! library and prints. Human-readable output by default, `--json` for scripts.
//!
//! Exit codes: 0 success, 1 failure (a sentence on stderr says why), 2 usage error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use liaison_core::AgencyId;
use liaison_node::{InitOptions, Node, init_node};

#[derive(Debug, Parser)]
#[command(
    name = "liaison",
    version,
    about = "Liaison: cross-border intelligence sharing, one node per agency"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct DataDir {
    /// The node's data directory.
    #[arg(long, env = "LIAISON_DATA_DIR", value_name = "DIR")]
    data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a node: keys, certificate authority, signed identity, log, liaison.toml.
    #[command(
        after_help = "Example:\n  liaison init --data-dir /var/lib/liaison --agency NL-NP --name \"Netherlands National Police\" --peer-endpoint liaison.politie.example:7443"
    )]
    Init {
        #[command(flatten)]
        dir: DataDir,
        /// Agency id: country code, dash, 2-16 of A-Z 0-9 (e.g. NL-NP).
        #[arg(long, value_name = "AGENCY_ID")]
        agency: String,
        /// Human-readable agency name.
        #[arg(long, value_name = "NAME")]
        name: String,
        /// host:port partners will connect to [default: 127.0.0.1:7443].
        #[arg(long, value_name = "HOST:PORT")]
        peer_endpoint: Option<String>,
        /// Address of the client API for the agency's own systems [default: 127.0.0.1:7444].
        #[arg(long, value_name = "IP:PORT")]
        api_endpoint: Option<SocketAddr>,
    },
    /// Show or export this agency's identity.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Inspect the tamper-evident log.
    #[command(subcommand)]
    Log(LogCommand),
}

#[derive(Debug, Subcommand)]
enum IdentityCommand {
    /// Agency, root-key fingerprint, key ids, validity and endpoints.
    #[command(after_help = "Example:\n  liaison identity show --data-dir /var/lib/liaison --json")]
    Show {
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write the signed identity bundle that partners import with `liaison peer add`.
    #[command(
        after_help = "Example:\n  liaison identity export --data-dir /var/lib/liaison --out nl-np.bundle\nThen read the fingerprint to the partner over a trusted channel."
    )]
    Export {
        #[command(flatten)]
        dir: DataDir,
        /// Where to write the bundle.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Re-hash every entry, check every body, index and signed checkpoint.
    #[command(
        after_help = "Example:\n  liaison log verify --data-dir /var/lib/liaison\nExits 1 and names the first bad entry if anything does not verify."
    )]
    Verify {
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<()> {
    match command {
        Command::Init {
            dir,
            agency,
            name,
            peer_endpoint,
            api_endpoint,
        } => init(&dir.data_dir, &agency, name, peer_endpoint, api_endpoint),
        Command::Identity(IdentityCommand::Show { dir, json }) => {
            identity_show(&dir.data_dir, json)
        }
        Command::Identity(IdentityCommand::Export { dir, out }) => {
            identity_export(&dir.data_dir, &out)
        }
        Command::Log(LogCommand::Verify { dir, json }) => log_verify(&dir.data_dir, json),
    }
}

fn init(
    data_dir: &Path,
    agency: &str,
    name: String,
    peer_endpoint: Option<String>,
    api_endpoint: Option<SocketAddr>,
) -> Result<()> {
    let agency: AgencyId = agency.parse()?;
    let node = init_node(&InitOptions {
        data_dir: data_dir.to_owned(),
        agency,
        display_name: name,
        peer_endpoint,
        api_endpoint,
    })?;
    println!(
        "Created node {} in {}",
        node.config().agency,
        data_dir.display()
    );
    println!("Root-key fingerprint: {}", node.identity().fingerprint());
    println!();
    println!(
        "Next: `liaison identity export --data-dir {} --out FILE`, send FILE to each partner,",
        data_dir.display()
    );
    println!("and read them the fingerprint above over a channel you trust (phone, in person).");
    Ok(())
}

fn load(data_dir: &Path) -> Result<Node> {
    Ok(Node::load(data_dir)?)
}

fn identity_json(node: &Node) -> serde_json::Value {
    let doc = node.identity().document();
    serde_json::json!({
        "agency": doc.agency.to_string(),
        "display_name": doc.display_name,
        "country": doc.country,
        "fingerprint": node.identity().fingerprint().to_string(),
        "identity_version": doc.version,
        "valid_from": doc.not_before.to_string(),
        "valid_until": doc.not_after.to_string(),
        "root_key_id": node.identity().root_key().key_id('r').to_string(),
        "signing_key_id": doc.signing_key.key_id.to_string(),
        "encryption_key_id": doc.encryption_key.key_id.to_string(),
        "tls_ca_sha256": node.tls_ca_sha256(),
        "peer_endpoints": doc.peer_endpoints,
        "peer_listen": node.config().peer_listen.to_string(),
        "api_listen": node.config().api_listen.to_string(),
        "revoked_keys": doc.revoked_keys.iter().map(|r| r.key_id.to_string()).collect::<Vec<_>>(),
    })
}

fn identity_show(data_dir: &Path, json: bool) -> Result<()> {
    let node = load(data_dir)?;
    let value = identity_json(&node);
    if json {
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    let rows = [
        ("Agency", "agency"),
        ("Name", "display_name"),
        ("Fingerprint", "fingerprint"),
        ("Identity version", "identity_version"),
        ("Valid from", "valid_from"),
        ("Valid until", "valid_until"),
        ("Root key", "root_key_id"),
        ("Signing key", "signing_key_id"),
        ("Encryption key", "encryption_key_id"),
        ("TLS CA (SHA-256)", "tls_ca_sha256"),
        ("Peer endpoints", "peer_endpoints"),
        ("Peer listener", "peer_listen"),
        ("API listener", "api_listen"),
    ];
    for (label, key) in rows {
        let shown = match &value[key] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        println!("{label:<18} {shown}");
    }
    Ok(())
}

fn identity_export(data_dir: &Path, out: &Path) -> Result<()> {
    let node = load(data_dir)?;
    if out.exists() {
        anyhow::bail!(
            "{} already exists; choose another file or remove it first",
            out.display()
        );
    }
    std::fs::write(out, node.identity().to_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "Wrote the signed identity of {} to {}",
        node.config().agency,
        out.display()
    );
    println!(
        "Fingerprint to read to the partner: {}",
        node.identity().fingerprint()
    );
    Ok(())
}

fn log_verify(data_dir: &Path, json: bool) -> Result<()> {
    let node = load(data_dir)?;
    let log = node
        .open_log()
        .context("cannot open the log (is the node running? it holds the log)")?;
    let keys = [node.keys().signing.verifying_key()];
    let report = log
        .verify(&keys, &mut |_| {})
        .context("the log does NOT verify")?;
    let head = data_encoding::HEXLOWER.encode(&report.head.hash);
    if json {
        let value = serde_json::json!({
            "ok": true,
            "entries": report.entries,
            "head_seq": report.head.seq,
            "head_hash": head,
            "checkpoints": report.checkpoints,
            "external_bodies": report.external_bodies,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "Log verified: {} entries, head {} {}, {} signed checkpoints, {} external bodies",
            report.entries, report.head.seq, head, report.checkpoints, report.external_bodies
        );
    }
    Ok(())
}
