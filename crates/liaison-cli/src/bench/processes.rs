//! `liaison bench --processes`: the end-to-end runs with the sending node and each
//! receiving node as its own `liaison run` process (this binary), each with its own
//! runtime, logs and TLS endpoints, and the bulletins published through the sender's
//! client API as an agency system would. Completion is read from the sender's
//! Prometheus endpoint (every outbox empty: every receipt stored); CPU time is the sum
//! over the node processes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::output;
use liaison_core::AgencyId;
use liaison_node::node::state::NodeState;
use liaison_node::ops::clients::client_issue;
use liaison_node::trust::clients::Role;
use liaison_node::{InitOptions, Node, init_node};

use super::{
    BenchOptions, Failures, RunFigures, api_client, api_request, cpu_seconds_of, introduce,
    receiver_ids,
};

/// The node processes; killed (and their data removed) however the run ends.
struct Nodes {
    base: PathBuf,
    children: Vec<Child>,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        stop_processes(self.children.iter_mut(), Duration::from_secs(10));
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Stops node processes: SIGTERM to each first (a node stops cleanly and keeps what
/// is queued), then SIGKILL to any still running after `grace`.
pub(super) fn stop_processes<'a>(children: impl Iterator<Item = &'a mut Child>, grace: Duration) {
    let children: Vec<&mut Child> = children.collect();
    for child in &children {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    let deadline = Instant::now() + grace;
    for child in children {
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Nodes {
    fn cpu_seconds(&self) -> Option<f64> {
        self.children
            .iter()
            .map(|c| cpu_seconds_of(&c.id().to_string()))
            .sum()
    }
}

pub(super) fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The sum of `liaison_outbox_entries` over `partners`, scraped from `metrics`.
fn queued(metrics: u16, partners: &[AgencyId]) -> Result<f64> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", metrics))?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    let mut total = 0.0;
    for partner in partners {
        let name = format!("liaison_outbox_entries{{partner=\"{partner}\"}} ");
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix(&name))
            .with_context(|| format!("the sender's metrics do not show {partner}'s outbox"))?;
        total += value.trim().parse::<f64>()?;
    }
    Ok(total)
}

pub(super) fn run(options: &BenchOptions) -> Result<()> {
    let most = options.recipients.iter().copied().max().unwrap_or(1);
    let receivers = receiver_ids(most)?;
    let base = std::env::temp_dir().join(format!("liaison-bench-p-{}", std::process::id()));
    let mut nodes = Nodes {
        base: base.clone(),
        children: Vec::new(),
    };
    let agencies: Vec<AgencyId> = std::iter::once("NL-NP".parse()?)
        .chain(receivers.iter().cloned())
        .collect();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let (api, metrics) = (free_port()?, free_port()?);
    for (i, agency) in agencies.iter().enumerate() {
        let dir = base.join(agency.as_str().to_lowercase());
        init_node(&InitOptions {
            data_dir: dir.clone(),
            agency: agency.clone(),
            display_name: format!("{agency} bench"),
            peer_endpoint: Some(format!("127.0.0.1:{}", free_port()?)),
            api_endpoint: Some(
                format!("127.0.0.1:{}", if i == 0 { api } else { free_port()? }).parse()?,
            ),
        })?;
        if i == 0 {
            append(
                &dir.join("liaison.toml"),
                &format!("\n[metrics]\nlisten = \"127.0.0.1:{metrics}\"\n"),
            )?;
        }
        dirs.push(dir);
    }
    let issued = {
        let states = dirs
            .iter()
            .map(|d| NodeState::open(Node::load(d)?).map_err(anyhow::Error::from))
            .collect::<Result<Vec<_>>>()?;
        introduce(&dirs, &states, &receivers)?;
        client_issue(&states[0], "bench", &[Role::Publish])?
        // The states (and their logs) close here, before the processes open them.
    };
    let exe = std::env::current_exe()?;
    for dir in &dirs {
        let log = std::fs::File::create(dir.join("bench-node.log"))?;
        nodes.children.push(
            Command::new(&exe)
                .args(["run", "--data-dir"])
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting a node process")?,
        );
    }
    output::line(format_args!(
        "\nEnd to end, separate processes (1 sender + {most} receiving `liaison run` processes, published through the client API with {} concurrent calls; CPU is the node processes'):",
        options.in_flight
    ))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let address: std::net::SocketAddr = format!("127.0.0.1:{api}").parse()?;
    let client = runtime.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match api_client(address, &issued).await {
                Ok(c) => return Ok(c),
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context("the sender's client API did not come up"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })?;
    for &k in &options.recipients {
        let to = &receivers[..k];
        let n = options.bulletins;
        let cpu_before = nodes.cpu_seconds();
        let start = Instant::now();
        let failures = std::sync::Arc::new(Failures::default());
        runtime.block_on(async {
            let in_flight = options.in_flight;
            let mut callers = Vec::new();
            for p in 0..in_flight {
                let (mut api, to, size) = (client.clone(), to.to_vec(), options.size);
                let failures = failures.clone();
                callers.push(tokio::spawn(async move {
                    for i in (p..n).step_by(in_flight) {
                        let mut request = api_request(format!("p{k}-{i}"), &to[0], size);
                        request.recipients = to.iter().map(|a| a.to_string()).collect();
                        if let Err(status) = api.publish(request).await {
                            failures.record(status);
                        }
                    }
                }));
            }
            for caller in callers {
                caller.await?;
            }
            Ok::<(), anyhow::Error>(())
        })?;
        failures.check(n)?;
        let published = start.elapsed();
        while queued(metrics, to)? > 0.0 {
            if start.elapsed() > Duration::from_secs(900) {
                anyhow::bail!("deliveries did not finish in 15 minutes");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        RunFigures {
            recipients: k,
            bulletins: n,
            published,
            total: start.elapsed(),
            cpu: cpu_before.zip(nodes.cpu_seconds()).map(|(a, b)| b - a),
            batch: None,
        }
        .print()?;
    }
    drop(nodes);
    Ok(())
}

fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new().append(true).open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
