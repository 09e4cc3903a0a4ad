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
use liaison_node::admin::{AdminRequest, Direction, SendRequest};
use liaison_node::{InitOptions, Node, init_node};

mod bench;
mod commands;
mod demo;
mod output;

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
        /// Print the new identity as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show or export this agency's identity.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Inspect the tamper-evident log.
    #[command(subcommand)]
    Log(LogCommand),
    /// Run the node: peer listener, admin socket, delivery to partners.
    #[command(
        after_help = "Example:\n  liaison run --data-dir /var/lib/liaison\nStops cleanly on SIGINT or SIGTERM; anything not yet delivered stays queued on disk."
    )]
    Run {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Manage partner agencies.
    #[command(subcommand)]
    Peer(PeerCommand),
    /// Send and read bulletins.
    #[command(subcommand)]
    Bulletin(BulletinCommand),
    /// Certificates for the agency's own systems calling the client API.
    #[command(subcommand)]
    Client(ClientCommand),
    /// The sharing policy: show, check, explain, reload.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Rotate or revoke keys; partners receive the new identity version automatically.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Health at a glance: node up, partners, outboxes, log, keys.
    #[command(
        after_help = "Example:\n  liaison status --data-dir /var/lib/liaison\n  liaison status --json | jq '.partners[] | select(.outbox > 0)'"
    )]
    Status {
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shell completions for bash, zsh or fish, on standard output.
    #[command(after_help = "Example:\n  liaison completions bash > /etc/bash_completion.d/liaison")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Measure end-to-end throughput and latency on this machine (prints figures).
    #[command(after_help = "Example:\n  liaison bench --bulletins 5000")]
    Bench {
        /// Bulletins per throughput run.
        #[arg(long, default_value_t = 3000)]
        bulletins: usize,
        /// Seconds of the 500/s latency run.
        #[arg(long, default_value_t = 5)]
        latency_seconds: u64,
    },
    /// Three agencies on this machine exchanging bulletins, with no set-up.
    #[command(
        after_help = "Example:\n  liaison demo\n  liaison demo --dir ./demo   (keeps the three nodes' data for a look afterwards)"
    )]
    Demo {
        /// Keep the nodes' data here instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum PeerCommand {
    /// Import a partner's identity bundle after checking its fingerprint.
    #[command(
        after_help = "Example:\n  liaison peer add de-bka.bundle --fingerprint 'ABCD-EFGH-...' --data-dir /var/lib/liaison\nThe fingerprint must be the one the partner read to you over a trusted channel."
    )]
    Add {
        /// The partner's bundle (from `liaison identity export`).
        bundle: PathBuf,
        /// The root-key fingerprint the partner gave you over a trusted channel.
        #[arg(long, value_name = "FP")]
        fingerprint: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every partner, with its outbox depth.
    #[command(after_help = "Example:\n  liaison peer list --data-dir /var/lib/liaison")]
    List {
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One partner in detail.
    #[command(after_help = "Example:\n  liaison peer show DE-BKA --data-dir /var/lib/liaison")]
    Show {
        /// The partner's agency id.
        agency: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget a partner: nothing more is sent to it or accepted from it.
    #[command(after_help = "Example:\n  liaison peer remove DE-BKA --data-dir /var/lib/liaison")]
    Remove {
        /// The partner's agency id.
        agency: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Make a new key, sign a new identity version with the root, push it to partners.
    #[command(
        after_help = "Example:\n  liaison key rotate signing --data-dir /var/lib/liaison\nBulletins sealed or signed before stay readable and verifiable; a TLS rotation is served from the next start."
    )]
    Rotate {
        /// signing, encryption or tls.
        #[arg(value_parser = ["signing", "encryption", "tls"])]
        purpose: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a retired key; partners reject anything signed with it from then on.
    #[command(
        after_help = "Example:\n  liaison key revoke s-3f9a0c1d2e4b5a69 --reason compromised --data-dir /var/lib/liaison"
    )]
    Revoke {
        /// The key id (see `liaison identity show` and the log).
        key_id: String,
        /// compromised or superseded.
        #[arg(long, value_parser = ["compromised", "superseded"])]
        reason: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// The policy in force, partner by partner.
    #[command(after_help = "Example:\n  liaison policy show --data-dir /var/lib/liaison")]
    Show {
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a policy file before installing it (no node needed).
    #[command(after_help = "Example:\n  liaison policy check ./policy.toml")]
    Check {
        /// The file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Would a bulletin with this marking go to this partner, and why not? Sends nothing.
    #[command(
        after_help = "Example:\n  liaison policy explain --data-dir /var/lib/liaison --to DE-BKA --category trafficking.persons --tlp red"
    )]
    Explain {
        #[command(flatten)]
        dir: DataDir,
        /// The partner.
        #[arg(long)]
        to: String,
        /// Dotted category.
        #[arg(long)]
        category: String,
        /// TLP level.
        #[arg(long)]
        tlp: String,
        /// Handling codes, comma-separated.
        #[arg(long, value_delimiter = ',')]
        handling: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read policy.toml again and put it in force atomically (logged with its version).
    #[command(after_help = "Example:\n  liaison policy reload --data-dir /var/lib/liaison")]
    Reload {
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Issue a client certificate from the agency CA, with roles; writes client.key,
    /// client.pem and ca.pem into --out.
    #[command(
        after_help = "Example:\n  liaison client issue --data-dir /var/lib/liaison --name case-system --role publish,read --out ./case-system"
    )]
    Issue {
        #[command(flatten)]
        dir: DataDir,
        /// The client's name (1-64 of a-z 0-9 - _ .).
        #[arg(long)]
        name: String,
        /// Roles, comma-separated: publish, read, admin.
        #[arg(long, value_delimiter = ',', required = true)]
        role: Vec<String>,
        /// Directory to write the key, certificate and CA certificate into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Print the registration as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every registered client.
    #[command(after_help = "Example:\n  liaison client list --data-dir /var/lib/liaison")]
    List {
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a client: its certificate is refused from now on.
    #[command(
        after_help = "Example:\n  liaison client revoke case-system --data-dir /var/lib/liaison"
    )]
    Revoke {
        /// The client's name.
        name: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print the revoked registration as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum BulletinCommand {
    /// Seal a bulletin for partners and queue it; prints its id.
    #[command(
        after_help = "Example:\n  liaison bulletin send --data-dir /var/lib/liaison --to DE-BKA,RO-DIICOT \\\n      --category trafficking.persons --tlp amber --title 'Recruiter on A2' --body 'Details...'"
    )]
    Send {
        #[command(flatten)]
        dir: DataDir,
        /// Recipient agencies, comma-separated; `auto` for every partner whose sharing
        /// policy allows this bulletin.
        #[arg(
            long,
            value_delimiter = ',',
            required = true,
            value_name = "AGENCY[,AGENCY...]"
        )]
        to: Vec<String>,
        /// Dotted category, e.g. trafficking.persons.
        #[arg(long)]
        category: String,
        /// clear, green, amber, amber+strict or red.
        #[arg(long)]
        tlp: String,
        /// Handling codes, comma-separated.
        #[arg(long, value_delimiter = ',')]
        handling: Vec<String>,
        /// One-line title.
        #[arg(long)]
        title: String,
        /// Body text.
        #[arg(
            long,
            conflicts_with = "body_file",
            required_unless_present = "body_file"
        )]
        body: Option<String>,
        /// Read the body from this file.
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// Days until the bulletin expires.
        #[arg(long, default_value_t = 90)]
        expires_in_days: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Bulletins sent and received.
    #[command(
        after_help = "Example:\n  liaison bulletin list --data-dir /var/lib/liaison --direction in"
    )]
    List {
        #[command(flatten)]
        dir: DataDir,
        /// Only received (in) or only sent (out).
        #[arg(long, value_parser = ["in", "out"])]
        direction: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pass a received bulletin on to another partner, where its originator's marking
    /// and the sharing policy allow (TLP:CLEAR or GREEN, no originator-control code).
    #[command(
        after_help = "Example:\n  liaison bulletin forward 019ac5d2-... --to FR-OCRTEH --data-dir /var/lib/liaison"
    )]
    Forward {
        /// The bulletin id.
        id: String,
        /// The partner to pass it to.
        #[arg(long)]
        to: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Recall a bulletin this node published: every recipient erases it and signs a
    /// purge receipt.
    #[command(
        after_help = "Example:\n  liaison bulletin recall 019ac5d2-... --reason 'wrong person identified' --data-dir /var/lib/liaison"
    )]
    Recall {
        /// The bulletin id.
        id: String,
        /// Why, for the recipients and the log.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One bulletin: content, signature, and delivery to each recipient.
    #[command(
        after_help = "Example:\n  liaison bulletin show 019ac5d2-... --data-dir /var/lib/liaison"
    )]
    Show {
        /// The bulletin id.
        id: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Entries from a sequence number on, with their hashes, for an auditor.
    #[command(
        after_help = "Example:\n  liaison log export --data-dir /var/lib/liaison --since 1 --json > evidence.json"
    )]
    Export {
        #[command(flatten)]
        dir: DataDir,
        /// First entry to export.
        #[arg(long, default_value_t = 1)]
        since: u64,
        /// At most this many entries.
        #[arg(long, default_value_t = 100_000)]
        limit: usize,
        /// Print JSON (one array) instead of one line per entry.
        #[arg(long)]
        json: bool,
    },
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
            json,
        } => init(
            &dir.data_dir,
            &agency,
            name,
            peer_endpoint,
            api_endpoint,
            json,
        ),
        Command::Identity(IdentityCommand::Show { dir, json }) => {
            identity_show(&dir.data_dir, json)
        }
        Command::Identity(IdentityCommand::Export { dir, out, json }) => {
            identity_export(&dir.data_dir, &out, json)
        }
        Command::Log(LogCommand::Verify { dir, json }) => log_verify(&dir.data_dir, json),
        Command::Run { dir } => commands::run_node(&dir.data_dir),
        Command::Peer(PeerCommand::Add {
            bundle,
            fingerprint,
            dir,
            json,
        }) => commands::peer_add(&dir.data_dir, &bundle, fingerprint, json),
        Command::Peer(PeerCommand::List { dir, json }) => commands::peer_list(&dir.data_dir, json),
        Command::Peer(PeerCommand::Show { agency, dir, json }) => {
            commands::peer_show(&dir.data_dir, AdminRequest::PeerShow { agency }, json)
        }
        Command::Peer(PeerCommand::Remove { agency, dir, json }) => {
            commands::peer_show(&dir.data_dir, AdminRequest::PeerRemove { agency }, json)
        }
        Command::Bulletin(BulletinCommand::Send {
            dir,
            to,
            category,
            tlp,
            handling,
            title,
            body,
            body_file,
            expires_in_days,
            json,
        }) => {
            let body = match (body, body_file) {
                (Some(text), _) => text,
                (None, Some(file)) => std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read --body-file {}", file.display()))?,
                (None, None) => anyhow::bail!("give the body with --body or --body-file"),
            };
            let request = SendRequest {
                to,
                category,
                tlp,
                handling,
                title,
                body,
                expires_in_days,
            };
            commands::bulletin_send(&dir.data_dir, request, json)
        }
        Command::Bulletin(BulletinCommand::List {
            dir,
            direction,
            json,
        }) => {
            let direction = match direction.as_deref() {
                Some("in") => Some(Direction::In),
                Some("out") => Some(Direction::Out),
                _ => None,
            };
            commands::bulletin_list(&dir.data_dir, direction, json)
        }
        Command::Bulletin(BulletinCommand::Show { id, dir, json }) => {
            commands::bulletin_show(&dir.data_dir, id, json)
        }
        Command::Demo { dir } => demo::run(dir),
        Command::Bulletin(BulletinCommand::Forward { id, to, dir, json }) => {
            commands::bulletin_forward(&dir.data_dir, id, to, json)
        }
        Command::Bulletin(BulletinCommand::Recall {
            id,
            reason,
            dir,
            json,
        }) => commands::bulletin_recall(&dir.data_dir, id, reason, json),
        Command::Status { dir, json } => commands::status(&dir.data_dir, json),
        Command::Key(KeyCommand::Rotate { purpose, dir, json }) => {
            let purpose = match purpose.as_str() {
                "signing" => liaison_node::keys::KeyPurpose::Signing,
                "encryption" => liaison_node::keys::KeyPurpose::Encryption,
                _ => liaison_node::keys::KeyPurpose::Tls,
            };
            commands::key_change(&dir.data_dir, AdminRequest::KeyRotate { purpose }, json)
        }
        Command::Key(KeyCommand::Revoke {
            key_id,
            reason,
            dir,
            json,
        }) => commands::key_change(
            &dir.data_dir,
            AdminRequest::KeyRevoke { key_id, reason },
            json,
        ),
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            use std::io::Write as _;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "liaison", &mut script);
            std::io::stdout()
                .write_all(&script)
                .context("cannot write the completions")
        }
        Command::Policy(PolicyCommand::Show { dir, json }) => {
            commands::policy_show(&dir.data_dir, json)
        }
        Command::Policy(PolicyCommand::Check { file, json }) => commands::policy_check(&file, json),
        Command::Policy(PolicyCommand::Explain {
            dir,
            to,
            category,
            tlp,
            handling,
            json,
        }) => commands::policy_explain(
            &dir.data_dir,
            AdminRequest::PolicyExplain {
                to,
                category,
                tlp,
                handling,
            },
            json,
        ),
        Command::Policy(PolicyCommand::Reload { dir, json }) => {
            commands::policy_reload(&dir.data_dir, json)
        }
        Command::Log(LogCommand::Export {
            dir,
            since,
            limit,
            json,
        }) => commands::log_export(&dir.data_dir, since, limit, json),
        Command::Client(ClientCommand::Issue {
            dir,
            name,
            role,
            out,
            json,
        }) => commands::client_issue(&dir.data_dir, name, role, &out, json),
        Command::Client(ClientCommand::List { dir, json }) => {
            commands::client_list(&dir.data_dir, json)
        }
        Command::Client(ClientCommand::Revoke { name, dir, json }) => {
            commands::client_revoke(&dir.data_dir, name, json)
        }
        Command::Bench {
            bulletins,
            latency_seconds,
        } => bench::run(bench::BenchOptions {
            bulletins,
            latency_seconds,
        }),
    }
}

fn init(
    data_dir: &Path,
    agency: &str,
    name: String,
    peer_endpoint: Option<String>,
    api_endpoint: Option<SocketAddr>,
    json: bool,
) -> Result<()> {
    let agency: AgencyId = agency.parse()?;
    let node = init_node(&InitOptions {
        data_dir: data_dir.to_owned(),
        agency,
        display_name: name,
        peer_endpoint,
        api_endpoint,
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&identity_json(&node))?);
        return Ok(());
    }
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

fn identity_export(data_dir: &Path, out: &Path, json: bool) -> Result<()> {
    let node = load(data_dir)?;
    if out.exists() {
        anyhow::bail!(
            "{} already exists; choose another file or remove it first",
            out.display()
        );
    }
    std::fs::write(out, node.identity().to_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    if json {
        let value = serde_json::json!({
            "agency": node.config().agency.to_string(),
            "bundle": out.display().to_string(),
            "fingerprint": node.identity().fingerprint().to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
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
    // A running node holds the log: ask it. Otherwise verify here, with a progress bar
    // on a terminal.
    let report: liaison_node::admin::VerifyView =
        match liaison_node::admin::call(data_dir, &AdminRequest::LogVerify)
            .context("the log does NOT verify")?
        {
            Some(value) => serde_json::from_value(value)?,
            None => {
                let node = load(data_dir)?;
                let log = node.open_log().context("cannot open the log")?;
                let bar = indicatif::ProgressBar::new(log.head().seq);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "verifying {bar:40} {pos}/{len} entries ({eta} left)",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                let verified = liaison_node::admin::verify_log(&node, &log, &mut |seq| {
                    if seq % 1024 == 0 {
                        bar.set_position(seq);
                    }
                });
                bar.finish_and_clear();
                verified.context("the log does NOT verify")?
            }
        };
    let head = report.head_hash.clone();
    if json {
        let value = serde_json::json!({
            "ok": true,
            "entries": report.entries,
            "head_seq": report.entries,
            "head_hash": head,
            "checkpoints": report.checkpoints,
            "external_bodies": report.external_bodies,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "Log verified: {} entries, head {} {}, {} signed checkpoints, {} external bodies",
            report.entries, report.entries, head, report.checkpoints, report.external_bodies
        );
    }
    Ok(())
}
