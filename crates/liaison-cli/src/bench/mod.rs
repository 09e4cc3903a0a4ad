//! `liaison bench`: end-to-end figures on this machine, with the crypto-only cost of
//! the same work (envelope formats v1 and v2) measured in the same run for comparison.
//!
//! Set-up: one sending node and as many receiving nodes as the largest `--recipients`
//! count, all in this process, on loopback, with real TLS 1.3, real sled logs in a
//! temporary directory, durable appends on both sides and signed receipts stored by
//! the sender. Everything shares this machine's cores, so the figures — including CPU
//! time per bulletin — are for the whole federation, not one node.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::output;
use liaison_core::crypto::{SigningKey, SystemRng};
use liaison_core::envelope::{ReceiverEpochs, SenderEpochs, VerifiedRoots, seal_batch};
use liaison_core::receipt::{Outcome, Receipt, SignedReceipt};
use liaison_core::{
    AgencyId, Bulletin, BulletinContent, BulletinId, Marking, Receiver, RecipientKey, UnixMillis,
    open, seal_for_recipients,
};
use liaison_node::node::state::NodeState;
use liaison_node::ops::bulletins::Recipients;
use liaison_node::ops::bulletins::views::{SendRequest, bulletin_send};
use liaison_node::ops::clients::{IssuedClient, client_issue};
use liaison_node::ops::peers::peer_add;
use liaison_node::runtime::server::run_state;
use liaison_node::trust::clients::Role;
use liaison_node::trust::tls::NodeCertificate;
use liaison_node::{InitOptions, Listeners, Node, init_node};
use liaison_proto::v1 as pb;
use liaison_proto::v1::client_client::ClientClient;

mod federation;
mod processes;
mod scale;

/// Envelopes per batch in the crypto-only v2 figures.
const CRYPTO_BATCH: usize = 64;

/// Options of `liaison bench`.
pub struct BenchOptions {
    /// Bulletins per throughput run.
    pub bulletins: usize,
    /// Recipient counts of the end-to-end runs.
    pub recipients: Vec<usize>,
    /// Body size in bytes.
    pub size: usize,
    /// Rate of the fixed-rate latency runs.
    pub rate: u64,
    /// Seconds of each fixed-rate latency run.
    pub latency_seconds: u64,
    /// Skip the crypto-only table.
    pub skip_crypto: bool,
    /// Concurrent publishers (threads on the admin path, calls on the client API).
    pub in_flight: usize,
    /// Run the nodes as separate `liaison run` processes instead of in this one.
    pub processes: bool,
    /// Instead of the throughput runs: queue this many for a partner that is down,
    /// start it, time the drain.
    pub catch_up: Option<usize>,
    /// Instead of the throughput runs: fill a log to this many entries and measure
    /// publishing and every query path before and after.
    pub log_size: Option<u64>,
    /// Instead of the throughput runs: 30 partners, one down with this many queued
    /// for it; latency to the others, then its drain.
    pub partner_down: Option<usize>,
    /// Instead of the throughput runs: a joint operation of this many agencies as
    /// processes, onboarded by roster.
    pub federation: Option<usize>,
}

/// Publishes that failed during a run: a run with any is refused, never reported as a
/// rate (a failed publish queues nothing, which would look like instant delivery).
#[derive(Default)]
struct Failures {
    count: std::sync::atomic::AtomicUsize,
    first: std::sync::Mutex<Option<String>>,
}

impl Failures {
    fn record(&self, error: impl std::fmt::Display) {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        first.get_or_insert_with(|| error.to_string());
    }

    fn check(&self, of: usize) -> Result<()> {
        let count = self.count.load(std::sync::atomic::Ordering::Relaxed);
        if count == 0 {
            return Ok(());
        }
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).clone();
        anyhow::bail!(
            "{count} of {of} publishes failed; the first: {}",
            first.unwrap_or_default()
        )
    }
}

/// One end-to-end run, measured.
struct RunFigures {
    recipients: usize,
    bulletins: usize,
    published: Duration,
    total: Duration,
    /// CPU seconds used during the run, if known.
    cpu: Option<f64>,
    /// Mean envelopes per batch signature, if the sender is in this process.
    batch: Option<f64>,
}

impl RunFigures {
    fn print(&self) -> Result<()> {
        let (k, n) = (self.recipients, self.bulletins);
        let cpu = self.cpu.map_or(String::new(), |c| {
            format!(", {:.0} µs CPU per bulletin", c * 1e6 / n as f64)
        });
        let batch = self.batch.map_or(String::new(), |b| {
            format!("; {b:.1} envelopes per batch signature")
        });
        output::line(format_args!(
            "  {k:>2} recipient(s): {n} published in {:.2} s ({:.0}/s acknowledged); all receipted in {:.2} s: {:.0} bulletins/s, {:.0} deliveries/s end to end{cpu}{batch}",
            self.published.as_secs_f64(),
            n as f64 / self.published.as_secs_f64(),
            self.total.as_secs_f64(),
            n as f64 / self.total.as_secs_f64(),
            (n * k) as f64 / self.total.as_secs_f64(),
        ))
    }
}

/// The receiving agencies: `ZZ-R01`, `ZZ-R02`, ...
fn receiver_ids(n: usize) -> Result<Vec<AgencyId>> {
    (1..=n)
        .map(|i| Ok(format!("ZZ-R{i:02}").parse()?))
        .collect()
}

/// CPU time this process has used (user + system), from /proc; `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    cpu_seconds_of("self")
}

/// Resident memory of process `pid` ("self" for this one), MiB, from /proc.
fn rss_mib_of(pid: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()?;
    Some(kib / 1024.0)
}

/// CPU time process `pid` ("self" for this one) has used, from /proc.
fn cpu_seconds_of(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = stat.rsplit_once(") ")?.1;
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on every Linux this runs on.
    Some(ticks / 100.0)
}

pub fn run(mut options: BenchOptions) -> Result<()> {
    options.recipients.retain(|&k| k > 0);
    if let Some(&k) = options
        .recipients
        .iter()
        .find(|&&k| k > liaison_core::limits::MAX_RECIPIENTS)
    {
        anyhow::bail!(
            "--recipients {k}: a bulletin is sealed for at most {} recipients",
            liaison_core::limits::MAX_RECIPIENTS
        );
    }
    if options.size > liaison_core::limits::MAX_BODY_BYTES {
        anyhow::bail!(
            "--size {}: a bulletin body holds at most {} bytes",
            options.size,
            liaison_core::limits::MAX_BODY_BYTES
        );
    }
    if options.recipients.is_empty()
        || options.bulletins == 0
        || options.rate == 0
        || options.in_flight == 0
    {
        anyhow::bail!(
            "give at least one recipient count, one bulletin, a rate and an in-flight count above 0"
        );
    }
    output::line(format_args!(
        "liaison bench: {} cores; {} B bulletin bodies",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        options.size
    ))?;
    if let Some(agencies) = options.federation {
        let base = std::env::temp_dir().join(format!("liaison-bench-f-{}", std::process::id()));
        return federation::run(&base, agencies, 50);
    }
    if options.catch_up.is_some() || options.log_size.is_some() || options.partner_down.is_some() {
        let base = std::env::temp_dir().join(format!("liaison-bench-{}", std::process::id()));
        let mut result = Ok(());
        if let Some(n) = options.catch_up {
            result = scale::catch_up(&base.join("catch-up"), n, options.in_flight, options.size);
        }
        if let (Ok(()), Some(n)) = (&result, options.log_size) {
            result = scale::log_size(&base.join("log-size"), n, options.in_flight, options.size);
        }
        if let (Ok(()), Some(n)) = (&result, options.partner_down) {
            result = scale::partner_down(&base.join("partner-down"), n, &options);
        }
        let _ = std::fs::remove_dir_all(&base);
        return result;
    }
    if !options.skip_crypto {
        crypto_only(&options)?;
    }
    if options.processes {
        return processes::run(&options);
    }
    let base = std::env::temp_dir().join(format!("liaison-bench-{}", std::process::id()));
    let result = end_to_end(&base, &options);
    let _ = std::fs::remove_dir_all(&base);
    result
}

fn per_second(mut f: impl FnMut(), budget: Duration) -> f64 {
    for _ in 0..5 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    f64::from(n) / start.elapsed().as_secs_f64()
}

fn sized_bulletin(origin: &AgencyId, size: usize) -> Result<Bulletin> {
    let now = UnixMillis::now();
    Ok(Bulletin {
        thread: None,
        request: None,
        id: BulletinId::new(now),
        origin: origin.clone(),
        created: now,
        expires: now.plus_days(30),
        marking: Marking::new(
            "trafficking.persons".parse()?,
            liaison_core::Tlp::Amber,
            vec![],
        )?,
        content: BulletinContent {
            title: "bench".into(),
            body: "x".repeat(size),
            ..BulletinContent::default()
        },
    })
}

/// The CPU cost of the cryptography of one delivered bulletin, one thread, in
/// format v1 (per-bulletin signature and HPKE) and v2 (batches of [`CRYPTO_BATCH`],
/// epoch keys, batch receipts, warm caches).
fn crypto_only(options: &BenchOptions) -> Result<()> {
    let budget = Duration::from_millis(600);
    let origin: AgencyId = "NL-NP".parse()?;
    let sender = liaison_core::AgencyKeys::generate(&mut SystemRng)?;
    let receiver = liaison_core::AgencyKeys::generate(&mut SystemRng)?;
    let doc = bench_document(&origin, &sender.signing, &sender.encryption);
    let directory = [doc];
    let bulletin = sized_bulletin(&origin, options.size)?;
    let batch: Vec<Bulletin> = (0..CRYPTO_BATCH)
        .map(|_| sized_bulletin(&origin, options.size))
        .collect::<Result<_>>()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    output::line(format_args!(
        "\nCrypto only (one thread, same run; v2 in batches of {CRYPTO_BATCH}, caches warm):"
    ))?;
    output::line(format_args!(
        "  {:>10}  {:>12} {:>12} {:>12} {:>12}  {:>14} {:>14}",
        "recipients",
        "v1 seal/s",
        "v2 seal/s",
        "v1 open/s",
        "v2 open/s",
        "v1 µs/deliv.",
        "v2 µs/deliv."
    ))?;
    let me = receiver_ids(1)?.remove(0);
    let mut v2_seal_1 = None;
    for k in [1usize, 5, 30] {
        // Every wrap is for the same receiver key (the cost does not depend on whose
        // key it is); the agencies differ because a recipient list never repeats one.
        let keys = receiver_ids(k)?
            .into_iter()
            .map(|agency| RecipientKey {
                agency,
                key: receiver.encryption.public_key().clone(),
            })
            .collect::<Vec<_>>();
        let v1_seal = per_second(
            || {
                let _ = seal_for_recipients(&bulletin, &sender.signing, &keys, &mut SystemRng);
            },
            budget,
        );
        let epochs = SenderEpochs::default();
        let v2_seal = CRYPTO_BATCH as f64
            * per_second(
                || {
                    let _ = seal_batch(&batch, &sender.signing, &keys, &epochs, &mut SystemRng);
                },
                budget,
            );
        v2_seal_1.get_or_insert(v2_seal);
        let v1_envelope = seal_for_recipients(&bulletin, &sender.signing, &keys, &mut SystemRng)?;
        let v2_envelopes = seal_batch(&batch, &sender.signing, &keys, &epochs, &mut SystemRng)?;
        let plain = Receiver {
            agency: &me,
            encryption_keys: std::slice::from_ref(&receiver.encryption),
            epochs: None,
        };
        let v1_open = per_second(
            || {
                let _ = open(&v1_envelope, plain, directory.as_slice(), UnixMillis::now());
            },
            budget,
        );
        let (roots, receiving) = (VerifiedRoots::default(), ReceiverEpochs::default());
        let cached = Receiver {
            epochs: Some(&receiving),
            ..plain
        };
        let mut next = 0;
        let v2_open = per_second(
            || {
                let envelope = &v2_envelopes[next % CRYPTO_BATCH];
                next += 1;
                let _ = envelope
                    .verify_origin_with(directory.as_slice(), UnixMillis::now(), Some(&roots))
                    .and_then(|v| v.open(cached, UnixMillis::now()));
            },
            budget,
        );
        let receipt = Receipt {
            bulletin_id: Some(bulletin.id),
            receiver: me.clone(),
            envelope_sha256: v1_envelope.digest(),
            outcome: Outcome::Accepted { log_seq: 1 },
            log_hash: Some([0; 32]),
            time: UnixMillis::now(),
        };
        let v1_sign = per_second(
            || {
                let _ = SignedReceipt::sign(receipt.clone(), &receiver.signing);
            },
            budget,
        );
        let signed = SignedReceipt::sign(receipt.clone(), &receiver.signing);
        let v1_verify = per_second(
            || {
                let _ = SignedReceipt::verify(signed.to_bytes(), &receiver.signing.verifying_key());
            },
            budget,
        );
        let receipts = vec![receipt; CRYPTO_BATCH];
        let v2_sign = CRYPTO_BATCH as f64
            * per_second(
                || {
                    let _ = SignedReceipt::sign_batch(receipts.clone(), &receiver.signing);
                },
                budget,
            );
        let batch_signed = SignedReceipt::sign_batch(receipts.clone(), &receiver.signing);
        let receipt_roots = VerifiedRoots::default();
        let mut next = 0;
        let v2_verify = per_second(
            || {
                let r = &batch_signed[next % CRYPTO_BATCH];
                next += 1;
                let _ = SignedReceipt::verify_with(
                    r.to_bytes(),
                    &receiver.signing.verifying_key(),
                    Some(&receipt_roots),
                );
            },
            budget,
        );
        let k_f = k as f64;
        let v1 = (1.0 / v1_seal + k_f * (1.0 / v1_open + 1.0 / v1_sign + 1.0 / v1_verify)) / k_f;
        let v2 = (1.0 / v2_seal + k_f * (1.0 / v2_open + 1.0 / v2_sign + 1.0 / v2_verify)) / k_f;
        output::line(format_args!(
            "  {k:>10}  {v1_seal:>12.0} {v2_seal:>12.0} {v1_open:>12.0} {v2_open:>12.0}  {:>14.1} {:>14.1}",
            v1 * 1e6,
            v2 * 1e6
        ))?;
        if k == 30 {
            output::line(format_args!(
                "  sealing for 30 recipients vs 1: v2 {:.2}x the 1-recipient bulletin rate; crypto ceiling per delivery on {cores} cores: v1 {:.0}/s, v2 {:.0}/s",
                v2_seal / v2_seal_1.unwrap_or(v2_seal),
                cores / v1,
                cores / v2
            ))?;
        }
    }
    Ok(())
}

fn bench_document(
    agency: &AgencyId,
    signing: &SigningKey,
    encryption: &liaison_core::crypto::EncryptionKey,
) -> liaison_core::IdentityDocument {
    let now = UnixMillis::now();
    liaison_core::IdentityDocument::first_version(
        agency.clone(),
        "bench".into(),
        vec![],
        signing,
        encryption,
        bytes::Bytes::from_static(b"-"),
        now.plus_days(-1)..now.plus_days(30),
    )
}

struct Federation {
    runtime: tokio::runtime::Runtime,
    sender: Arc<NodeState>,
    first_receiver: Arc<NodeState>,
    /// Client API address and an issued client: the sender's (publish) and the first
    /// receiver's (read).
    apis: Vec<(std::net::SocketAddr, IssuedClient)>,
    receivers: Vec<AgencyId>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<liaison_node::Result<()>>>,
    /// Nodes set up but not started (receivers, for a catch-up run).
    stopped: Vec<StoppedNode>,
}

/// Sets up one sender and `receivers` receiving nodes; starts the sender and the
/// first `running` receivers (the others start with [`Federation::start_stopped`]).
fn start_federation(
    base: &std::path::Path,
    receivers: usize,
    running: usize,
) -> Result<Federation> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let ids = receiver_ids(receivers)?;
    let agencies: Vec<String> = std::iter::once("NL-NP".to_owned())
        .chain(ids.iter().map(|a| a.to_string()))
        .collect();
    let mut listeners = Vec::new();
    let mut dirs = Vec::new();
    for agency in &agencies {
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let dir = base.join(agency.to_lowercase());
        init_node(&InitOptions {
            data_dir: dir.clone(),
            agency: agency.parse()?,
            display_name: format!("{agency} bench"),
            peer_endpoint: Some(listener.local_addr()?.to_string()),
            api_endpoint: None,
        })?;
        listeners.push(listener);
        dirs.push(dir);
    }
    let states = dirs
        .iter()
        .map(|d| NodeState::open(Node::load(d)?).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    introduce(&dirs, &states, &ids)?;
    let mut apis = Vec::new();
    let mut api_listeners = Vec::new();
    for (i, state) in states.iter().enumerate() {
        if i < 2 {
            let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
            let role = if i == 0 { Role::Publish } else { Role::Read };
            let issued = client_issue(state, "bench", &[role])?;
            apis.push((listener.local_addr()?, issued));
            api_listeners.push(Some(listener));
        } else {
            api_listeners.push(None);
        }
    }
    let (stop, _) = tokio::sync::watch::channel(false);
    let mut federation = Federation {
        runtime,
        sender: states[0].clone(),
        first_receiver: states[1].clone(),
        apis,
        receivers: ids,
        stop,
        tasks: Vec::new(),
        stopped: Vec::new(),
    };
    for (((state, peer), dir), api) in states
        .into_iter()
        .zip(listeners)
        .zip(dirs)
        .zip(api_listeners)
    {
        federation.stopped.push(StoppedNode {
            state,
            peer,
            api,
            dir,
        });
    }
    // The sender and the first `running` receivers start; the rest wait.
    let waiting: Vec<StoppedNode> = federation
        .stopped
        .drain(1 + running.min(receivers)..)
        .collect();
    federation.start_stopped()?;
    federation.stopped = waiting;
    Ok(federation)
}

/// A node of the federation set up but not running yet.
struct StoppedNode {
    state: Arc<NodeState>,
    peer: tokio::net::TcpListener,
    api: Option<tokio::net::TcpListener>,
    dir: std::path::PathBuf,
}

impl Federation {
    /// Starts every node not running yet.
    fn start_stopped(&mut self) -> Result<()> {
        for node in std::mem::take(&mut self.stopped) {
            let certificate = Arc::new(NodeCertificate::load(
                &node.dir.join("tls/node.pem"),
                &node.dir.join("tls/node.key"),
            )?);
            let mut stop = self.stop.subscribe();
            let shutdown = async move {
                let _ = stop.changed().await;
            };
            let listeners = Listeners {
                peer: node.peer,
                api: node.api,
            };
            self.tasks.push(self.runtime.spawn(run_state(
                node.state,
                certificate,
                listeners,
                shutdown,
            )));
        }
        Ok(())
    }

    /// Stops every node and waits for each to finish.
    fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        for task in self.tasks {
            self.runtime.block_on(task)??;
        }
        Ok(())
    }
}

/// The sender knows every receiver and each receiver the sender, fingerprints
/// checked; every policy allows everything at a rate the benchmark cannot reach.
fn introduce(
    dirs: &[std::path::PathBuf],
    states: &[Arc<NodeState>],
    receivers: &[AgencyId],
) -> Result<()> {
    let allow = |agency: &str| {
        format!(
            "[partners.{agency}]\nsend = [\"*\"]\nreceive = [\"*\"]\nmax_send_tlp = \"red\"\nmax_receive_per_minute = 100000000\n\n"
        )
    };
    std::fs::write(
        dirs[0].join("policy.toml"),
        receivers
            .iter()
            .map(|a| allow(a.as_str()))
            .collect::<String>(),
    )?;
    // Receivers answer the sender's private queries (the round trip is measured).
    for dir in &dirs[1..] {
        std::fs::write(
            dir.join("policy.toml"),
            allow("NL-NP").trim_end().to_owned()
                + "\nquery_kinds = [\"*\"]\nqueries_per_day = 100000000\n",
        )?;
    }
    for state in states {
        state.reload_policy()?;
    }
    let add = |to: &NodeState, from: &NodeState| {
        peer_add(
            to,
            &data_encoding::BASE64.encode(&from.node().identity().to_bytes()),
            &from.node().identity().fingerprint().to_string(),
        )
    };
    for (i, receiver) in states.iter().enumerate().skip(1) {
        add(&states[0], receiver).with_context(|| format!("peer add {i}"))?;
        add(receiver, &states[0])?;
    }
    Ok(())
}

fn request(to: &[AgencyId], size: usize) -> Result<SendRequest> {
    Ok(SendRequest {
        expires_in_days: Some(30),
        ..SendRequest::new(
            Recipients::Named(to.to_vec()),
            "trafficking.persons".parse()?,
            liaison_core::Tlp::Amber,
            "bench",
            "x".repeat(size),
        )
    })
}

fn drained(state: &NodeState, to: &[AgencyId]) -> bool {
    to.iter().all(|a| state.log.outbox_len(a) == 0)
}

fn end_to_end(base: &std::path::Path, options: &BenchOptions) -> Result<()> {
    let most = options.recipients.iter().copied().max().unwrap_or(1);
    let federation = start_federation(base, most, most)?;
    let sender = federation.sender.clone();
    output::line(format_args!(
        "\nEnd to end (1 sender + {most} receiving nodes in this process, TLS 1.3, durable on both sides, receipts stored; CPU is the whole process's):"
    ))?;
    for &k in &options.recipients {
        let to = &federation.receivers[..k];
        let n = options.bulletins;
        let signed_before = sender.envelopes.signer.signed_so_far();
        let cpu_before = cpu_seconds();
        let start = Instant::now();
        let failures = Failures::default();
        std::thread::scope(|scope| {
            for p in 0..options.in_flight {
                let (sender, to, failures) = (sender.clone(), to.to_vec(), &failures);
                scope.spawn(move || {
                    for _ in (p..n).step_by(options.in_flight) {
                        let sent =
                            request(&to, options.size).and_then(|r| Ok(bulletin_send(&sender, r)?));
                        if let Err(e) = sent {
                            failures.record(e);
                        }
                    }
                });
            }
        });
        failures.check(n)?;
        let published = start.elapsed();
        while !drained(&sender, to) {
            if start.elapsed() > Duration::from_secs(900) {
                anyhow::bail!("deliveries did not finish in 15 minutes");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let signed_after = sender.envelopes.signer.signed_so_far();
        RunFigures {
            recipients: k,
            bulletins: n,
            published,
            total: start.elapsed(),
            cpu: cpu_before.zip(cpu_seconds()).map(|(a, b)| b - a),
            batch: Some(
                (signed_after.1 - signed_before.1) as f64
                    / (signed_after.0 - signed_before.0).max(1) as f64,
            ),
        }
        .print()?;
    }
    latency(&sender, &federation.receivers[..1], options)?;
    client_api(&federation, options)?;
    private_queries(&federation)?;
    federation.stop()
}

/// Publishes at a fixed rate from one thread; another thread watches the outbox and
/// records, per bulletin, the time from the publish call to its stored receipt.
fn latency(sender: &Arc<NodeState>, to: &[AgencyId], options: &BenchOptions) -> Result<()> {
    latency_to_first(
        sender,
        to,
        options.rate,
        options.latency_seconds,
        options.size,
    )?;
    Ok(())
}

/// [`latency`] at `rate` for `seconds`, sending to every partner in `to` and timing
/// the receipts of the first; returns p50 and p99 in milliseconds.
fn latency_to_first(
    sender: &Arc<NodeState>,
    to: &[AgencyId],
    rate: u64,
    seconds: u64,
    size: usize,
) -> Result<(f64, f64)> {
    let partner = to[0].clone();
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Instant)>();
    let watcher = {
        let sender = sender.clone();
        let partner = partner.clone();
        std::thread::spawn(move || {
            let mut waiting: VecDeque<(u64, Instant)> = VecDeque::new();
            let mut latencies = Vec::new();
            let mut open = true;
            while open || !waiting.is_empty() {
                loop {
                    match rx.try_recv() {
                        Ok(item) => waiting.push_back(item),
                        Err(std::sync::mpsc::TryRecvError::Empty) => break,
                        Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                }
                // Delivery is in log order: the oldest waiting bulletin goes first.
                while let Some(&(seq, t0)) = waiting.front() {
                    let queued = sender
                        .log
                        .outbox(&partner, seq - 1, 1)
                        .map(|s| s.first() == Some(&seq));
                    if queued.unwrap_or(true) {
                        break;
                    }
                    latencies.push(t0.elapsed());
                    waiting.pop_front();
                }
                std::thread::sleep(Duration::from_micros(100));
            }
            latencies
        })
    };
    let count = rate * seconds;
    let start = Instant::now();
    for i in 0..count {
        let due = start + Duration::from_micros(i * 1_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let t0 = Instant::now();
        let sent = bulletin_send(sender, request(to, size)?)?;
        let _ = tx.send((sent.log_seq, t0));
    }
    drop(tx);
    let mut latencies = watcher
        .join()
        .map_err(|_| anyhow::anyhow!("watcher thread failed"))?;
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let (p50, p99) = (pct(0.50).as_secs_f64() * 1e3, pct(0.99).as_secs_f64() * 1e3);
    output::line(format_args!(
        "  latency at {rate}/s for {seconds} s, {} recipient(s) (publish call -> first recipient's receipt stored): p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms ({} bulletins)",
        to.len(),
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        latencies.len()
    ))?;
    Ok((p50, p99))
}

async fn api_client(
    address: std::net::SocketAddr,
    issued: &IssuedClient,
) -> Result<ClientClient<tonic::transport::Channel>> {
    use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&issued.ca_pem))
        .identity(Identity::from_pem(
            &issued.certificate_pem,
            &issued.private_key_pem,
        ))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://{address}"))?
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(ClientClient::new(channel))
}

fn api_request(key: String, to: &AgencyId, size: usize) -> pb::PublishRequest {
    pb::PublishRequest {
        request_key: key,
        draft: Some(pb::BulletinDraft {
            category: "trafficking.persons".into(),
            tlp: liaison_proto::format::v1::Tlp::Amber as i32,
            content: Some(liaison_proto::format::v1::BulletinContent {
                title: "bench".into(),
                body: "x".repeat(size),
                ..Default::default()
            }),
            expires_in_days: 30,
            ..Default::default()
        }),
        recipients: vec![to.to_string()],
        to_all_allowed: false,
        to_group: String::new(),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Through the client API: publish throughput (16 concurrent callers on one
/// connection), the rate at which a subscriber on the receiving node gets them, and
/// publish latency at a fixed 500/s.
/// The sender asks every running receiver privately about one phone number (which
/// the first receiver holds): the first query also fetches each partner's filter
/// whole; the rest fetch only what changed (nothing).
fn private_queries(federation: &Federation) -> Result<()> {
    const QUERIES: usize = 50;
    let number = "+40 712 345 678";
    let mut held = request(&["NL-NP".parse()?], 64)?;
    held.entities = vec![liaison_core::Entity::Phone {
        number: number.into(),
    }];
    bulletin_send(&federation.first_receiver, held)?;
    let partners: Vec<AgencyId> = federation
        .receivers
        .iter()
        .filter(|a| {
            federation
                .stopped
                .iter()
                .all(|s| &s.state.node().config().agency != *a)
        })
        .cloned()
        .collect();
    let selector = liaison_core::selector::Selector::parse("phone", number)?;
    let mut times = Vec::with_capacity(QUERIES);
    let mut hits = 0;
    for _ in 0..QUERIES {
        let start = Instant::now();
        let report = federation
            .runtime
            .block_on(liaison_node::ops::private_query::query(
                &federation.sender,
                vec![selector.clone()],
                partners.clone(),
                "bench".into(),
            ))?;
        times.push(start.elapsed().as_secs_f64() * 1e3);
        if let Some(failed) = report.answers.iter().find(|a| a.error.is_some()) {
            anyhow::bail!("{} gave no answer: {:?}", failed.partner, failed.error);
        }
        hits = report.answers.iter().filter(|a| a.hits == [true]).count();
    }
    let first = times[0];
    let mut rest = times[1..].to_vec();
    rest.sort_by(f64::total_cmp);
    let at = |q: f64| rest[((rest.len() - 1) as f64 * q).round() as usize];
    output::line(format_args!(
        "  private hit/no-hit query to {} partners (connect, filter changes, blinded evaluation, logged both sides): first {first:.1} ms; then p50 {:.1} ms, p99 {:.1} ms over {} queries; hits {hits} (expected 1)",
        partners.len(),
        at(0.5),
        at(0.99),
        rest.len()
    ))
}

fn client_api(federation: &Federation, options: &BenchOptions) -> Result<()> {
    let (n, size) = (options.bulletins, options.size);
    let to = federation.receivers[0].clone();
    let start_cursor = federation.first_receiver.log.head().seq;
    let (publisher_addr, publisher) = &federation.apis[0];
    let (reader_addr, reader) = &federation.apis[1];
    federation.runtime.block_on(async {
        let api = api_client(*publisher_addr, publisher).await?;
        let mut subscriber = api_client(*reader_addr, reader).await?;
        let mut stream = subscriber
            .subscribe(pb::SubscribeRequest { after_cursor: start_cursor, filter: None, links: false })
            .await?
            .into_inner();
        let start = Instant::now();
        let received = tokio::spawn(async move {
            let mut count = 0;
            while count < n {
                match stream.message().await {
                    Ok(Some(_)) => count += 1,
                    _ => break,
                }
            }
            (count, start.elapsed())
        });
        let mut callers = Vec::new();
        let in_flight = options.in_flight;
        let failures = Arc::new(Failures::default());
        for p in 0..in_flight {
            let (mut api, to, failures) = (api.clone(), to.clone(), failures.clone());
            callers.push(tokio::spawn(async move {
                for i in (p..n).step_by(in_flight) {
                    if let Err(status) = api.publish(api_request(format!("bench-{i}"), &to, size)).await {
                        failures.record(status);
                    }
                }
            }));
        }
        for caller in callers {
            caller.await?;
        }
        failures.check(n)?;
        let published = start.elapsed();
        let (count, subscribed) = received.await?;
        output::line(format_args!("\nClient API (TLS 1.3 with a client certificate; {n} bulletins, {size} B, 1 recipient):"))?;
        output::line(format_args!(
            "  publish: {:.0}/s acknowledged ({} concurrent calls); subscriber on the recipient got {count} at {:.0}/s end to end",
            n as f64 / published.as_secs_f64(),
            options.in_flight,
            count as f64 / subscribed.as_secs_f64()
        ))?;
        let mut api = api.clone();
        let mut latencies = Vec::new();
        let count = options.rate * options.latency_seconds;
        let start = Instant::now();
        for i in 0..count {
            let due = start + Duration::from_micros(i * 1_000_000 / options.rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                tokio::time::sleep(wait).await;
            }
            let t0 = Instant::now();
            api.publish(api_request(format!("latency-{i}"), &to, options.size)).await?;
            latencies.push(t0.elapsed());
        }
        latencies.sort();
        output::line(format_args!(
            "  publish latency at {}/s for {} s (call -> durable acknowledgement): p50 {:.2} ms, p99 {:.2} ms",
            options.rate,
            options.latency_seconds,
            percentile(&latencies, 0.50),
            percentile(&latencies, 0.99)
        ))?;
        Ok::<(), anyhow::Error>(())
    })
}
