//! The command line, as clap parses it: every flag that names a domain value (an
//! agency, a category, a TLP, a bulletin id, a key id...) parses straight into its
//! validated type, so a typo is a usage error (exit 2) naming the flag, before any
//! node is touched.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use liaison_core::identity::RevocationReason;
use liaison_core::{AgencyId, BulletinId, Category, HandlingCode, KeyId, Tlp};
use liaison_node::ops::bulletins::Direction;
use liaison_node::ops::keys::KeyPurpose;
use liaison_node::trust::clients::Role;

/// A parser accepting exactly `names` (listed in `--help` and completions) into `T`.
fn one_of<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr + Clone + Send + Sync + 'static,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    PossibleValuesParser::new(names).try_map(|name| name.parse::<T>())
}

/// A recipient on `--to`: a partner, a policy group (lowercase, e.g. `jit-alpha`), or
/// `auto` for every partner the policy allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// Every partner whose sharing policy allows the bulletin.
    Auto,
    /// This partner.
    Agency(AgencyId),
    /// The members of this policy group that the policy allows.
    Group(String),
}

impl FromStr for Recipient {
    type Err = liaison_core::Malformed;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            Ok(Recipient::Auto)
        } else if liaison_core::policy::is_group_name(s) {
            Ok(Recipient::Group(s.to_owned()))
        } else {
            s.parse().map(Recipient::Agency)
        }
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "liaison",
    version,
    about = "Liaison: cross-border intelligence sharing, one node per agency"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct DataDir {
    /// The node's data directory.
    #[arg(long, env = "LIAISON_DATA_DIR", value_name = "DIR")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a node: keys, certificate authority, signed identity, log, liaison.toml.
    #[command(
        after_help = "Example:\n  liaison init --data-dir /var/lib/liaison --agency NL-NP --name \"Netherlands National Police\" --peer-endpoint liaison.politie.example:7443"
    )]
    Init {
        #[command(flatten)]
        dir: DataDir,
        /// Agency id: country code, dash, 2-16 of A-Z 0-9 (e.g. NL-NP).
        #[arg(long, value_name = "AGENCY_ID")]
        agency: AgencyId,
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
    /// STIX 2.1 for the tools analysts already run (MISP, OpenCTI).
    #[command(subcommand)]
    Stix(StixCommand),
    /// Federation rosters: a coordinator signs the members of a joint operation; each
    /// member imports the roster after checking one fingerprint.
    #[command(subcommand)]
    Roster(RosterCommand),
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
    /// Officers of the web desk (`[desk] listen`): add (prints a one-time enrolment
    /// link), list, remove.
    #[command(subcommand)]
    Officer(OfficerCommand),
    /// The sharing policy: show, check, explain, reload.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Rotate or revoke keys; partners receive the new identity version automatically.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Find the bulletins held here (sent or received) that carry every given
    /// selector: a phone number, account, plate, VIN or name, matched in canonical
    /// form (E.164, IBAN, plate with country, names without case or diacritics).
    #[command(
        after_help = "Examples:\n  liaison search --phone '+40 712 345 678' --data-dir /var/lib/liaison\n  liaison search --vehicle RO:B123XYZ --person 'Ion Popescu' --json\n  liaison search --text 'constanta recruiter' --limit 20\n  liaison search --fuzzy-person 'Stefan Popesku' --since 90d"
    )]
    Search {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        selectors: SelectorArgs,
        /// Words that must all be in the title or body (most relevant first).
        #[arg(long)]
        text: Option<String>,
        /// A name matched within one edit per word (Popesku finds Popescu).
        #[arg(long)]
        fuzzy_person: Option<String>,
        /// Newest first even when searching words.
        #[arg(long)]
        by_time: bool,
        /// Created at or after: RFC 3339, a date, or a span ago (7d, 48h).
        #[arg(long, value_parser = crate::commands::compose::past_time)]
        since: Option<liaison_core::UnixMillis>,
        /// Created before: as --since.
        #[arg(long, value_parser = crate::commands::compose::past_time)]
        until: Option<liaison_core::UnixMillis>,
        /// From this originator.
        #[arg(long = "from", value_name = "AGENCY")]
        origin: Option<liaison_core::AgencyId>,
        /// In this category or under it (trafficking covers trafficking.persons).
        #[arg(long)]
        category: Option<String>,
        /// With this TLP (clear, green, amber, amber+strict, red).
        #[arg(long)]
        tlp: Option<liaison_core::Tlp>,
        /// Carrying this handling code (H0-H3).
        #[arg(long)]
        handling: Option<liaison_core::HandlingCode>,
        /// In this conversation (the id of the bulletin that started it).
        #[arg(long)]
        thread: Option<liaison_core::BulletinId>,
        /// Oldest first (default: newest first).
        #[arg(long)]
        oldest_first: bool,
        /// Skip this many results (paging).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Show at most this many.
        #[arg(long)]
        limit: Option<usize>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask partners privately whether they hold bulletins carrying a selector. They
    /// never see it: an oblivious PRF (RFC 9497) answers hit or no-hit per partner;
    /// each counts the query against this agency's daily budget and logs that a
    /// query was made, not what it was about. The node must be running.
    #[command(
        after_help = "Examples:\n  liaison query --phone '+40 712 345 678' --partners all --data-dir /var/lib/liaison\n  liaison query --account RO49AAAA1B31007593840000 --partners DE-BKA,RO-DIICOT --json\n\nOn a hit, send the partner a request for information naming the selector:\n  liaison bulletin send --to DE-BKA --request --phone '+40 712 345 678' ..."
    )]
    Query {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        selectors: SelectorArgs,
        /// The partners to ask: `all`, or agency ids separated by commas.
        #[arg(long, default_value = "all")]
        partners: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The links among the bulletins held here: pairs that share a phone number,
    /// account, plate, VIN or name, newest first (among the 1,000 newest bulletins).
    #[command(
        after_help = "Examples:\n  liaison links --since 7d --data-dir /var/lib/liaison\n  liaison links --entity 'phone:+40 712 345 678' --json"
    )]
    Links {
        #[command(flatten)]
        dir: DataDir,
        /// Only bulletins logged at or after: RFC 3339, a date, or a span ago (7d).
        #[arg(long, value_parser = crate::commands::compose::past_time)]
        since: Option<liaison_core::UnixMillis>,
        /// Only links on this selector, KIND:VALUE (phone, account, vehicle, vin,
        /// person; a vehicle is vehicle:CC:PLATE).
        #[arg(long)]
        entity: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Health at a glance: node up, partners, outboxes, log, keys.
    #[command(
        after_help = "Example:\n  liaison status --data-dir /var/lib/liaison\n  liaison status --wide\n  liaison status --json | jq '.partners[] | select(.outbox > 0)'"
    )]
    Status {
        #[command(flatten)]
        dir: DataDir,
        /// Every column for every partner (identity version, oldest queued, refusals,
        /// last error).
        #[arg(long)]
        wide: bool,
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
    /// Write man pages: liaison.1 and one page per subcommand (liaison-peer-add.1, ...).
    #[command(
        after_help = "Example:\n  liaison man --out /usr/local/share/man/man1 && man liaison-bulletin-send"
    )]
    Man {
        /// The directory to write them to (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Measure end-to-end throughput and latency on this machine (prints figures).
    #[command(
        after_help = "Examples:\n  liaison bench\n  liaison bench --recipients 1,5,30 --bulletins 5000\n  liaison bench --size 16384 --rate 200 --skip-crypto\n  liaison bench --processes --recipients 1,5 --skip-crypto"
    )]
    Bench {
        /// Bulletins per throughput run.
        #[arg(long, default_value_t = 3000)]
        bulletins: usize,
        /// Recipient counts to run end to end (one receiving node each, all in this
        /// process), comma-separated.
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 5, 30])]
        recipients: Vec<usize>,
        /// Body size of each bulletin in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// Publish rate of the fixed-rate latency runs, bulletins per second.
        #[arg(long, default_value_t = 500)]
        rate: u64,
        /// Seconds of each fixed-rate latency run.
        #[arg(long, default_value_t = 5)]
        latency_seconds: u64,
        /// Skip the one-thread crypto-only table.
        #[arg(long)]
        skip_crypto: bool,
        /// Concurrent publishers in the throughput runs: threads on the admin path,
        /// calls on one client API connection.
        #[arg(long, default_value_t = 64)]
        in_flight: usize,
        /// Run the sender and each receiver as separate `liaison run` processes and
        /// publish through the client API (instead of nodes in this process).
        #[arg(long)]
        processes: bool,
        /// Instead of the throughput runs: queue N bulletins for a partner that is
        /// down, start it, and time the drain (checked exactly once, in order).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
        catch_up: Option<u64>,
        /// Instead of the throughput runs: measure publishing and every query path on
        /// a near-empty log and again after filling it to N entries.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(10_000..=100_000_000))]
        log_size: Option<u64>,
        /// Instead of the throughput runs: 30 partners, one down with N bulletins
        /// queued for it (86400: a day at 1/s); latency to the others before and
        /// during, then the drain when it returns.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        partner_down: Option<u64>,
        /// Instead of the throughput runs: a joint operation of N agencies (31: one
        /// coordinator and 30 partners), each a `liaison run` process, onboarded by one
        /// signed roster; set-up time, one to all, all to all, a member killed and
        /// restarted, memory per node.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(3..=256))]
        federation: Option<u64>,
    },
    /// Three agencies on this machine exchanging bulletins, with no set-up.
    #[command(
        after_help = "Example:\n  liaison demo\n  liaison demo --dir ./demo   (keeps the three nodes' data for a look afterwards)"
    )]
    Demo {
        /// Keep the nodes' data here instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// After the demo, leave the three nodes running with their web desks open
        /// (an officer enrolment link each) until Ctrl-C.
        #[arg(long)]
        desk: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PeerCommand {
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
        agency: AgencyId,
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
        agency: AgencyId,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Retry delivery to a partner now, its backoff back at the first step: for when
    /// you know it is back (a partner that connects to this node is retried by itself).
    #[command(after_help = "Example:\n  liaison peer retry RO-DIICOT --data-dir /var/lib/liaison")]
    Retry {
        /// The partner's agency id.
        agency: AgencyId,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Make a new key, sign a new identity version with the root, push it to partners.
    #[command(
        after_help = "Example:\n  liaison key rotate signing --data-dir /var/lib/liaison\nBulletins sealed or signed before stay readable and verifiable; a TLS rotation is served from the next start."
    )]
    Rotate {
        /// signing, encryption or tls.
        #[arg(value_parser = one_of::<KeyPurpose>(&["signing", "encryption", "tls"]))]
        purpose: KeyPurpose,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Seal every private key file of the node (agency keys, retired keys, TLS keys)
    /// under a passphrase read from the file LIAISON_KEY_PASSPHRASE_FILE names
    /// (Argon2id, AES-256-GCM), or with --pkcs11 by an AES key inside a PKCS#11 token
    /// (an HSM; named by LIAISON_PKCS11_MODULE, LIAISON_PKCS11_TOKEN and
    /// LIAISON_PKCS11_PIN_FILE). From then on every command and `liaison run` need those
    /// variables set; rotations seal their new keys too.
    #[command(
        after_help = "Examples:\n  LIAISON_KEY_PASSPHRASE_FILE=/run/credentials/liaison/passphrase \\\n      liaison key protect --data-dir /var/lib/liaison\n  LIAISON_PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so LIAISON_PKCS11_TOKEN=liaison \\\n  LIAISON_PKCS11_PIN_FILE=/run/credentials/liaison/pin \\\n      liaison key protect --pkcs11 --data-dir /var/lib/liaison"
    )]
    Protect {
        #[command(flatten)]
        dir: DataDir,
        /// Seal with an AES key inside the PKCS#11 token (created there if absent, never
        /// extractable) instead of a passphrase.
        #[arg(long)]
        pkcs11: bool,
        /// The label of that key in the token.
        #[arg(long, default_value = liaison_node::node::token::DEFAULT_KEY_LABEL, requires = "pkcs11")]
        key_label: String,
    },
    /// Revoke a retired key; partners reject anything signed with it from then on.
    #[command(
        after_help = "Example:\n  liaison key revoke s-3f9a0c1d2e4b5a69 --reason compromised --data-dir /var/lib/liaison"
    )]
    Revoke {
        /// The key id (see `liaison identity show` and the log).
        key_id: KeyId,
        /// compromised or superseded.
        #[arg(long, value_parser = one_of::<RevocationReason>(&["compromised", "superseded"]))]
        reason: RevocationReason,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// The policy in force, partner by partner; with PARTNER, each of its effective
    /// rules and the table that sets it.
    #[command(
        after_help = "Examples:\n  liaison policy show --data-dir /var/lib/liaison\n  liaison policy show DE-BKA --data-dir /var/lib/liaison"
    )]
    Show {
        /// One partner's effective rules.
        partner: Option<AgencyId>,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate a policy file before installing it (no node needed); with
    /// --data-dir, also against that node: partners it names that are not imported,
    /// groups drawn from its rosters.
    #[command(
        after_help = "Examples:\n  liaison policy check ./policy.toml\n  liaison policy check ./policy.toml --data-dir /var/lib/liaison"
    )]
    Check {
        /// The file.
        file: PathBuf,
        /// The node to check it against.
        #[arg(long, env = "LIAISON_DATA_DIR", value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Would a bulletin with this marking go to a partner (`--to`), or be accepted from
    /// one (`--from`), and why not? With `--origin`, the bulletin is another agency's,
    /// forwarded. Sends nothing.
    #[command(
        after_help = "Examples:\n  liaison policy explain --data-dir /var/lib/liaison --to DE-BKA --category trafficking.persons --tlp red\n  liaison policy explain --data-dir /var/lib/liaison --from DE-BKA --origin NL-NP --category trafficking.persons --tlp green --handling H2\n      (would we accept NL-NP's H2 bulletin forwarded by DE-BKA?)"
    )]
    Explain {
        #[command(flatten)]
        dir: DataDir,
        /// The partner it would go to.
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        to: Option<AgencyId>,
        /// The partner it would come from.
        #[arg(long)]
        from: Option<AgencyId>,
        /// The originator, when the bulletin is forwarded (by us with `--to`, by the
        /// partner with `--from`).
        #[arg(long)]
        origin: Option<AgencyId>,
        /// Dotted category.
        #[arg(long)]
        category: Category,
        /// clear, green, amber, amber+strict or red.
        #[arg(long)]
        tlp: Tlp,
        /// Handling codes, comma-separated.
        #[arg(long, value_delimiter = ',')]
        handling: Vec<HandlingCode>,
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
pub enum OfficerCommand {
    /// Add an officer with roles; prints the one-time enrolment link (valid 72 hours)
    /// where they set their password.
    #[command(
        after_help = "Example:\n  liaison officer add anna --role read,publish --data-dir /var/lib/liaison"
    )]
    Add {
        /// The officer's name, what they sign in with (1-64 of a-z 0-9 - _ .).
        name: String,
        #[command(flatten)]
        dir: DataDir,
        /// Roles, comma-separated: read (inbox, search, acknowledge), publish
        /// (compose), admin (partners, log view; implies the others).
        #[arg(
            long,
            value_delimiter = ',',
            required = true,
            value_parser = one_of::<Role>(&["publish", "read", "admin"])
        )]
        role: Vec<Role>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every officer and whether they have enrolled.
    #[command(after_help = "Example:\n  liaison officer list --data-dir /var/lib/liaison")]
    List {
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Issue an officer a client certificate from the agency's CA to sign in to the
    /// desk with (instead of or besides a password). Writes officer.key (0600),
    /// officer.pem and ca.pem into --out; an earlier certificate stops working.
    #[command(
        after_help = "Example:\n  liaison officer certificate anna --out ./anna --data-dir /var/lib/liaison\n\nFor a browser, bundle it as PKCS#12 and import that:\n  openssl pkcs12 -export -inkey anna/officer.key -in anna/officer.pem -out anna/officer.p12"
    )]
    Certificate {
        /// The officer's name.
        name: String,
        /// Directory to write the certificate and key into (created; must not hold
        /// them already).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON (the record, without the key).
        #[arg(long)]
        json: bool,
    },
    /// Remove an officer: their desk sessions end at their next request.
    #[command(after_help = "Example:\n  liaison officer remove anna --data-dir /var/lib/liaison")]
    Remove {
        /// The officer's name.
        name: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
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
        #[arg(
            long,
            value_delimiter = ',',
            required = true,
            value_parser = one_of::<Role>(&["publish", "read", "admin"])
        )]
        role: Vec<Role>,
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

/// `liaison bulletin send`: what to send and to whom.
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Recipient agencies, comma-separated; `auto` for every partner whose sharing
    /// policy allows this bulletin. Default with --reply-to/--update-of: everyone
    /// on the bulletin it answers.
    #[arg(
        long,
        value_delimiter = ',',
        required_unless_present_any = ["reply_to", "update_of"],
        value_name = "AGENCY[,AGENCY...]"
    )]
    pub to: Vec<Recipient>,
    /// Dotted category, e.g. trafficking.persons.
    #[arg(long)]
    pub category: Category,
    /// clear, green, amber, amber+strict or red.
    #[arg(long)]
    pub tlp: Tlp,
    /// Handling codes, comma-separated: H0 law enforcement use only, H1 not for
    /// court without permission, H2 no dissemination without permission, H3 the
    /// restriction given with --restriction.
    #[arg(long, value_delimiter = ',')]
    pub handling: Vec<HandlingCode>,
    /// The restriction handling code H3 stands for.
    #[arg(long, value_name = "TEXT")]
    pub restriction: Option<String>,
    /// Admiralty evaluation: source A-F and information 1-6, e.g. B2.
    #[arg(long, value_name = "XN")]
    pub evaluation: Option<liaison_core::handling::Evaluation>,
    /// A phone number (repeatable).
    #[arg(long = "phone", value_name = "NUMBER")]
    pub phones: Vec<String>,
    /// A person: 'NAME;dob=YYYY-MM-DD;nat=CC;alias=...;id=...' (repeatable).
    #[arg(long = "person", value_name = "SPEC")]
    pub persons: Vec<String>,
    /// A vehicle: 'PLATE;country=CC;make=...;vin=...' (repeatable).
    #[arg(long = "vehicle", value_name = "SPEC")]
    pub vehicles: Vec<String>,
    /// An account: 'IBAN-OR-ID;institution=...' (repeatable).
    #[arg(long = "account", value_name = "SPEC")]
    pub accounts: Vec<String>,
    /// A location: 'NAME;lat=DEG;lon=DEG' (repeatable).
    #[arg(long = "location", value_name = "SPEC")]
    pub locations: Vec<String>,
    /// Entities from a JSON file (an array of objects tagged with their kind).
    #[arg(long, value_name = "FILE")]
    pub entities: Option<PathBuf>,
    /// Attach a file (repeatable); all together at most 12 MiB.
    #[arg(long = "attach", value_name = "FILE")]
    pub attachments: Vec<PathBuf>,
    /// This bulletin answers that one (and joins its thread).
    #[arg(long, value_name = "ID", conflicts_with = "update_of")]
    pub reply_to: Option<BulletinId>,
    /// This bulletin updates (supersedes) that one (and joins its thread).
    #[arg(long, value_name = "ID")]
    pub update_of: Option<BulletinId>,
    /// Make it a request for information (needs --due).
    #[arg(long, requires = "due")]
    pub request: bool,
    /// routine, urgent or immediate.
    #[arg(long, default_value = "routine", requires = "request")]
    pub priority: liaison_core::handling::Priority,
    /// When an answer is due: a time (2026-12-01T12:00Z) or a span from now (48h,
    /// 3d).
    #[arg(long, value_name = "WHEN", requires = "request")]
    pub due: Option<String>,
    /// One-line title.
    #[arg(long)]
    pub title: String,
    /// Body text.
    #[arg(
        long,
        conflicts_with = "body_file",
        required_unless_present = "body_file"
    )]
    pub body: Option<String>,
    /// Read the body from this file.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// Days until the bulletin expires and is erased everywhere (default and most:
    /// the retention period the policy sets for its category).
    #[arg(long)]
    pub expires_in_days: Option<u32>,
    /// Makes the send safe to retry: the same key again returns the first send
    /// (a different bulletin under a used key is refused).
    #[arg(long, value_name = "KEY")]
    pub request_key: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AttachmentCommand {
    /// Save attachment N (from 1, as `bulletin show` numbers them) of a bulletin.
    #[command(
        after_help = "Example:\n  liaison bulletin attachment get 019ac5d2-... 1 --out photo.jpg --data-dir /var/lib/liaison"
    )]
    Get {
        /// The bulletin id.
        id: BulletinId,
        /// The attachment's number.
        number: usize,
        /// Write it to this new file (an existing file is not overwritten).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Debug, Subcommand)]
pub enum BulletinCommand {
    /// Seal a bulletin for partners and queue it; prints its id.
    #[command(
        after_help = "Examples:\n  liaison bulletin send --data-dir /var/lib/liaison --to DE-BKA,RO-DIICOT \\\n      --category trafficking.persons --tlp amber --title 'Recruiter on A2' --body 'Details...' \\\n      --phone '+40 712 345 678' --person 'Ion Popescu;dob=1990-03-01;nat=RO' \\\n      --vehicle 'B 123 ABC;country=RO;make=VW Passat' --account 'RO49 AAAA 1B31 0075 9384 0000' \\\n      --attach photo.jpg --request --priority urgent --due 48h\n  liaison bulletin send --data-dir /var/lib/liaison --reply-to 019ac5d2-... \\\n      --category trafficking.persons --tlp amber --title 'Known to us' --body '...'\n\nEntity flags take a value and `;key=value` fields:\n  --person 'NAME;dob=YYYY-MM-DD;nat=CC;alias=NAME;id=DOC'  (alias, id repeatable)\n  --phone NUMBER                 (international form; stored as E.164)\n  --vehicle 'PLATE;country=CC;make=MAKE MODEL;vin=VIN'\n  --account 'IBAN-OR-ID;institution=BANK'   (IBAN check digits verified)\n  --location 'NAME;lat=DEG;lon=DEG'\n--entities FILE reads a JSON array of objects tagged with their kind, e.g.\n  [{\"kind\":\"phone\",\"number\":\"+40712345678\"}]  (docs/ENTITIES.md has the schema)."
    )]
    Send(Box<SendArgs>),
    /// Bulletins sent and received.
    #[command(
        after_help = "Example:\n  liaison bulletin list --data-dir /var/lib/liaison --direction in --from RO-DIICOT --limit 20"
    )]
    List {
        #[command(flatten)]
        dir: DataDir,
        /// Only received (in) or only sent (out).
        #[arg(long, value_parser = one_of::<Direction>(&["in", "out"]))]
        direction: Option<Direction>,
        /// Only from this originating agency (repeatable).
        #[arg(long = "from", value_name = "AGENCY")]
        origins: Vec<AgencyId>,
        /// Only at this TLP level (repeatable).
        #[arg(long = "tlp", value_name = "TLP")]
        tlps: Vec<liaison_core::Tlp>,
        /// Only categories at or under this prefix (`trafficking` matches
        /// `trafficking.persons`).
        #[arg(long, value_name = "PREFIX")]
        category: Option<String>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Oldest first instead.
        #[arg(long)]
        oldest_first: bool,
        /// Only bulletins carrying this handling code (repeatable: all of them).
        #[arg(long = "handling", value_name = "CODE")]
        handling: Vec<HandlingCode>,
        /// Instead: requests for information awaiting an answer, ours and partners',
        /// soonest due first.
        #[arg(long)]
        open_requests: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The conversation a bulletin belongs to, across agencies, oldest first.
    #[command(
        after_help = "Example:\n  liaison bulletin thread 019ac5d2-... --data-dir /var/lib/liaison"
    )]
    Thread {
        /// Any bulletin of the conversation.
        id: BulletinId,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A bulletin's attachments.
    #[command(subcommand)]
    Attachment(AttachmentCommand),
    /// Tell a received bulletin's originator, signed, that it was received, read or
    /// acted on.
    #[command(
        after_help = "Example:\n  liaison bulletin ack 019ac5d2-... --state actioned --note 'Vehicle stopped at Nadlac' --data-dir /var/lib/liaison"
    )]
    Ack {
        /// The bulletin id.
        id: BulletinId,
        /// received, read or actioned.
        #[arg(long, default_value = "read")]
        state: liaison_core::acknowledgement::AckState,
        /// A note for the originator (at most 1024 bytes).
        #[arg(long, default_value = "")]
        note: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pass a received bulletin on to another partner, where its originator's marking
    /// and the sharing policy allow (TLP:CLEAR or GREEN, no originator-control code),
    /// or the originator released it to that partner (`bulletin release`).
    #[command(
        after_help = "Example:\n  liaison bulletin forward 019ac5d2-... --to FR-OCRTEH --data-dir /var/lib/liaison"
    )]
    Forward {
        /// The bulletin id.
        id: BulletinId,
        /// The partner to pass it to.
        #[arg(long)]
        to: AgencyId,
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
        id: BulletinId,
        /// Why, for the recipients and the log.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Release a bulletin this node published for onward sharing: its recipients may
    /// pass it on to the partners named, though its marking alone would not let them
    /// (an originator-control code such as H2, or TLP:AMBER). Signed, sent to each
    /// holder, and checked again by each new recipient. Not for AMBER+STRICT or RED.
    #[command(
        after_help = "Example:\n  liaison bulletin release 019ac5d2-... --to RO-DIICOT,FR-OCRTEH --days 7 --data-dir /var/lib/liaison"
    )]
    Release {
        /// The bulletin id.
        id: BulletinId,
        /// The partners it may be passed on to (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        to: Vec<AgencyId>,
        /// Only these recipients may pass it on (comma-separated; default: every
        /// recipient).
        #[arg(long = "by", value_delimiter = ',')]
        holders: Vec<AgencyId>,
        /// For this many days (default and most: until the bulletin expires).
        #[arg(long)]
        days: Option<u32>,
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
        id: BulletinId,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StixCommand {
    /// Bulletins held here (sent and received) as a STIX 2.1 bundle: a report per
    /// bulletin, agencies as identities, TLP 2.0 markings, entities as identities,
    /// locations and Liaison observables (docs/STIX.md). Re-exporting gives the same
    /// objects.
    #[command(
        after_help = "Examples:\n  liaison stix export --since 7d --out week.json --data-dir /var/lib/liaison\n  liaison stix export --id 0193... --data-dir /var/lib/liaison"
    )]
    Export {
        #[command(flatten)]
        dir: DataDir,
        /// Created at or after: RFC 3339, a date, or a span ago (7d, 48h).
        #[arg(long, value_parser = crate::commands::compose::past_time)]
        since: Option<liaison_core::UnixMillis>,
        /// Only this bulletin.
        #[arg(long)]
        id: Option<BulletinId>,
        /// Write the bundle here instead of to standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Turn a STIX 2.1 bundle (from MISP, OpenCTI, another Liaison) into bulletins, one
    /// per report: name and description become title and body; persons, locations
    /// and Liaison observables become entities; every other object the report refers
    /// to travels as the attachment stix-unmapped.json. A report marked stricter than
    /// --tlp is refused. With --dry-run, shows the drafts and sends nothing.
    #[command(
        after_help = "Examples:\n  liaison stix import misp-event.json --to DE-BKA --tlp amber --category trafficking.persons --dry-run\n  liaison stix import report.json --to jit-alpha --tlp amber --category trafficking --data-dir /var/lib/liaison"
    )]
    Import {
        /// The bundle.
        file: PathBuf,
        #[command(flatten)]
        dir: DataDir,
        /// Recipients: partners, a policy group, or auto.
        #[arg(long, required = true, value_delimiter = ',')]
        to: Vec<Recipient>,
        /// The bulletins' TLP: no looser than any report's marking.
        #[arg(long)]
        tlp: Tlp,
        /// The bulletins' category (dotted).
        #[arg(long)]
        category: Category,
        /// Show the drafts; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Write a draft roster listing the agencies whose identity bundles are given (no
    /// node needed). Compare each fingerprint `roster show` lists with its agency
    /// before signing.
    #[command(
        after_help = "Example:\n  liaison roster create --operation jit-alpha --coordinator NL-NP --roster-version 1 --valid-days 90 --out jit-alpha.draft bundles/*.bundle"
    )]
    Create {
        /// The operation's name (lowercase, digits, '-'), e.g. jit-alpha.
        #[arg(long)]
        operation: String,
        /// The agency that will sign it.
        #[arg(long, value_name = "AGENCY_ID")]
        coordinator: AgencyId,
        /// The roster's version: higher than any version the members hold.
        #[arg(long, value_name = "N", default_value_t = 1)]
        roster_version: u64,
        /// How many days members may import it.
        #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3650))]
        valid_days: u32,
        /// Where to write the draft.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The members' identity bundles (`liaison identity export`), the
        /// coordinator's own included if it takes part.
        #[arg(required = true, value_name = "BUNDLE")]
        bundles: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a draft roster with this node's root key: this node is the coordinator.
    #[command(
        after_help = "Example:\n  liaison roster sign jit-alpha.draft --out jit-alpha.roster --data-dir /var/lib/liaison\nThen send the roster to every member and read them your fingerprint (`liaison identity show`) over a trusted channel."
    )]
    Sign {
        /// The draft (`roster create`).
        draft: PathBuf,
        /// Where to write the signed roster.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a roster file, signed or draft: operation, version, validity, members with
    /// their fingerprints (no node needed).
    #[command(after_help = "Example:\n  liaison roster show jit-alpha.roster")]
    Show {
        /// The roster file.
        file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import a roster signed by the coordinator whose root-key fingerprint you were
    /// given over a trusted channel: adds its members as partners, updates them, and
    /// retires those an earlier version listed and this one does not.
    #[command(
        after_help = "Example:\n  liaison roster import jit-alpha.roster --fingerprint 'ABCD-EFGH-...' --data-dir /var/lib/liaison\nPartners added per pair (`peer add`) are kept as they are."
    )]
    Import {
        /// The signed roster.
        file: PathBuf,
        /// The coordinator's root-key fingerprint, as it read it to you.
        #[arg(long, value_name = "FP")]
        fingerprint: String,
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The rosters imported on this node.
    #[command(after_help = "Example:\n  liaison roster list --data-dir /var/lib/liaison")]
    List {
        #[command(flatten)]
        dir: DataDir,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
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
pub enum LogCommand {
    /// Entries from a sequence number on, with their hashes, for an auditor; with
    /// `--out`, evidence anyone can verify without the node (`log verify --export`).
    #[command(
        after_help = "Examples:\n  liaison log export --data-dir /var/lib/liaison --since 1 --json > entries.json\n  liaison log export --data-dir /var/lib/liaison --out evidence.jsonl\n  liaison log verify --export evidence.jsonl --identity nl-np.identity"
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
        /// Write evidence to this new file instead (JSON Lines: every signed checkpoint,
        /// a fresh one of the head included, then each entry's hashed record and body
        /// in base64).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Only the consultation log: who read which bulletins, when, through which
        /// door (for a data-protection officer; JSON Lines with --json).
        #[arg(long, conflicts_with = "out")]
        reads: bool,
    },
    /// Re-hash every entry, check every body, index and signed checkpoint; or, with
    /// `--export`, check evidence from `log export --out` against an agency's identity
    /// bundle, without any node.
    #[command(
        after_help = "Examples:\n  liaison log verify --data-dir /var/lib/liaison --indexes\n  liaison log verify --data-dir /var/lib/liaison --since-checkpoint\n  liaison log verify --export evidence.jsonl --identity nl-np.identity\nExits 1 and names the first bad entry if anything does not verify."
    )]
    Verify {
        /// The node's data directory (not needed with --export).
        #[arg(
            long,
            env = "LIAISON_DATA_DIR",
            value_name = "DIR",
            required_unless_present = "export"
        )]
        data_dir: Option<PathBuf>,
        /// Evidence written by `log export --out`.
        #[arg(long, value_name = "FILE", requires = "identity")]
        export: Option<PathBuf>,
        /// The agency's identity bundle (`identity export`), as you received and
        /// checked it.
        #[arg(long, value_name = "BUNDLE")]
        identity: Option<PathBuf>,
        /// Only what follows the checkpoint the last successful verification reached
        /// (that checkpoint's signature and hash are checked again).
        #[arg(long, conflicts_with = "export")]
        since_checkpoint: bool,
        /// Also derive every index again from the entries and compare.
        #[arg(long, conflicts_with = "export")]
        indexes: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the log's indexes from its entries, with the node stopped (after
    /// `log verify --indexes` found them wrong). The entries are not changed.
    #[command(after_help = "Example:\n  liaison log reindex --data-dir /var/lib/liaison")]
    Reindex {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Give back the disk space of erased (recalled) bodies, with the node stopped: the
    /// log is copied, unchanged, into fresh files that replace the old ones (it needs
    /// room for one copy of the live data).
    #[command(after_help = "Example:\n  liaison log compact --data-dir /var/lib/liaison")]
    Compact {
        #[command(flatten)]
        dir: DataDir,
    },
}

/// Selectors given on the command line, each flag repeatable.
#[derive(Debug, Clone, clap::Args)]
pub struct SelectorArgs {
    /// A phone number with its country code (repeatable).
    #[arg(long)]
    pub phone: Vec<String>,
    /// An account: IBAN or other identifier (repeatable).
    #[arg(long)]
    pub account: Vec<String>,
    /// A plate with its country, CC:PLATE or PLATE;country=CC (repeatable).
    #[arg(long)]
    pub vehicle: Vec<String>,
    /// A vehicle identification number (repeatable).
    #[arg(long)]
    pub vin: Vec<String>,
    /// A person's name or alias (repeatable).
    #[arg(long)]
    pub person: Vec<String>,
}

impl SelectorArgs {
    /// `kind`, `value` pairs, as the node's commands take them.
    pub fn pairs(self) -> Vec<(String, String)> {
        [
            ("phone", self.phone),
            ("account", self.account),
            ("vehicle", self.vehicle),
            ("vin", self.vin),
            ("person", self.person),
        ]
        .into_iter()
        .flat_map(|(kind, values)| values.into_iter().map(move |v| (kind.to_owned(), v)))
        .collect()
    }
}
