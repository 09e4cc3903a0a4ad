//! `liaison bench --federation N`: a joint operation of N agencies on this machine,
//! each a `liaison run` process, in a full mesh onboarded by one signed roster (no
//! per-pair `peer add`), every policy one group drawn from the roster. Measured: the
//! set-up (roster made, signed and imported at every node), one bulletin to the other
//! N-1 (published → every receipt stored), an all-to-all round, a member killed with
//! SIGKILL and restarted while the others send to it (restart → it holds everything),
//! and each node's resident memory. Everything goes through the nodes' admin sockets,
//! as an operator's commands would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use liaison_core::AgencyId;
use liaison_node::edge::admin::{
    self, BulletinList, BulletinSend, PeerList, RosterImport, RosterSign,
};
use liaison_node::ops::bulletins::views::SendRequest;
use liaison_node::ops::bulletins::{Direction, Recipients};
use liaison_node::ops::roster::{RosterSpec, roster_create};
use liaison_node::{InitOptions, Node, init_node};

use super::processes::{free_port, stop_processes};
use super::{percentile, receiver_ids, rss_mib_of};
use crate::output;

const GROUP: &str = "jit-bench";

/// Every node's policy: the roster's members, everything allowed, no rate limit the
/// run can reach.
const POLICY: &str = r#"[groups.jit-bench]
roster = "jit-bench"
send = ["*"]
receive = ["*"]
max_send_tlp = "red"
max_receive_per_minute = 100000000
"#;

/// The node processes; stopped (and their data removed) however the run ends.
struct Federation {
    base: PathBuf,
    dirs: Vec<PathBuf>,
    children: Vec<Option<Child>>,
}

impl Drop for Federation {
    fn drop(&mut self) {
        stop_processes(self.children.iter_mut().flatten(), Duration::from_secs(20));
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

impl Federation {
    fn start(&mut self, i: usize) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dirs[i].join("bench-node.log"))?;
        let child = Command::new(std::env::current_exe()?)
            .args(["run", "--data-dir"])
            .arg(&self.dirs[i])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting a node process")?;
        self.children[i] = Some(child);
        Ok(())
    }

    fn wait_serving(&mut self, i: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !admin::socket::node_running(&self.dirs[i]) {
            let exited = self.children[i]
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() > deadline {
                // The directory goes with the run: say what the node said.
                let log = std::fs::read_to_string(self.dirs[i].join("bench-node.log"))
                    .unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(5).collect();
                anyhow::bail!("node {i} did not start: {}", tail.join(" | "));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn kill9(&mut self, i: usize) -> Result<()> {
        if let Some(mut child) = self.children[i].take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    fn call<C: admin::Command>(&self, i: usize, command: C) -> Result<C::Reply> {
        admin::socket::call(&self.dirs[i], command)
            .map_err(|e| anyhow::anyhow!("node {i}: {}", liaison_node::error::describe(&e)))
    }

    /// Bulletins queued at node `i` for all its partners.
    fn queued(&self, i: usize) -> Result<usize> {
        Ok(self.call(i, PeerList {})?.iter().map(|p| p.outbox).sum())
    }

    fn send_to_group(&self, i: usize, title: &str) -> Result<()> {
        self.call(
            i,
            BulletinSend(SendRequest {
                expires_in_days: Some(30),
                ..SendRequest::new(
                    Recipients::Group(GROUP.into()),
                    "trafficking.persons".parse()?,
                    liaison_core::Tlp::Amber,
                    title,
                    "x".repeat(1024),
                )
            }),
        )?;
        Ok(())
    }

    fn received(&self, i: usize) -> Result<usize> {
        Ok(self
            .call(
                i,
                BulletinList {
                    direction: Some(Direction::In),
                    limit: Some(10_000),
                    ..Default::default()
                },
            )?
            .len())
    }

    /// Resident memory of each running node, MiB.
    fn rss_mib(&self) -> Vec<f64> {
        self.children
            .iter()
            .flatten()
            .filter_map(|c| rss_mib_of(&c.id().to_string()))
            .collect()
    }
}

fn wait(what: &str, limit: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<Duration> {
    let start = Instant::now();
    while !done()? {
        anyhow::ensure!(start.elapsed() < limit, "{what}: not done in {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(start.elapsed())
}

fn memory_line(label: &str, rss: &[f64]) -> Result<()> {
    let max = rss.iter().copied().fold(0.0, f64::max);
    let mean = rss.iter().sum::<f64>() / rss.len().max(1) as f64;
    output::line(format_args!(
        "  {label}: mean {mean:.1} MiB per node, max {max:.1} MiB, {:.0} MiB for all {}",
        rss.iter().sum::<f64>(),
        rss.len()
    ))
}

/// Runs the joint-operation benchmark with `agencies` nodes under `base`.
pub(super) fn run(base: &Path, agencies: usize, latency_runs: usize) -> Result<()> {
    anyhow::ensure!(
        (3..=liaison_core::limits::MAX_ROSTER_MEMBERS).contains(&agencies),
        "--federation {agencies}: give 3 to {} agencies",
        liaison_core::limits::MAX_ROSTER_MEMBERS
    );
    let ids: Vec<AgencyId> = std::iter::once("NL-NP".parse()?)
        .chain(receiver_ids(agencies - 1)?)
        .collect();
    let mut federation = Federation {
        base: base.to_owned(),
        dirs: Vec::new(),
        children: Vec::new(),
    };
    for agency in &ids {
        let dir = base.join(agency.as_str().to_lowercase());
        init_node(&InitOptions {
            data_dir: dir.clone(),
            agency: agency.clone(),
            display_name: format!("{agency} bench"),
            peer_endpoint: Some(format!("127.0.0.1:{}", free_port()?)),
            api_endpoint: Some(format!("127.0.0.1:{}", free_port()?).parse()?),
        })?;
        std::fs::write(dir.join("policy.toml"), POLICY)?;
        federation.dirs.push(dir);
        federation.children.push(None);
    }
    output::line(format_args!(
        "\nJoint operation: {agencies} agencies, each a `liaison run` process, full mesh onboarded by one signed roster:"
    ))?;
    let started = Instant::now();
    for i in 0..agencies {
        federation.start(i)?;
    }
    for i in 0..agencies {
        federation.wait_serving(i)?;
    }
    output::line(format_args!(
        "  {agencies} nodes started in {:.2} s",
        started.elapsed().as_secs_f64()
    ))?;
    memory_line("memory at start", &federation.rss_mib())?;

    // Set-up: the coordinator makes and signs the roster, every member imports it.
    let set_up = Instant::now();
    let bundles = federation
        .dirs
        .iter()
        .map(|d| {
            let node = Node::load(d)?;
            Ok((d.display().to_string(), node.identity().to_bytes().to_vec()))
        })
        .collect::<Result<Vec<_>>>()?;
    let draft = roster_create(
        RosterSpec {
            operation: GROUP.into(),
            coordinator: ids[0].clone(),
            version: 1,
            valid_days: 30,
        },
        bundles,
    )?;
    let signed = federation.call(
        0,
        RosterSign {
            draft_base64: data_encoding::BASE64.encode(&draft),
        },
    )?;
    let fingerprint = Node::load(&federation.dirs[0])?
        .identity()
        .fingerprint()
        .to_string();
    for i in 0..agencies {
        let view = federation.call(
            i,
            RosterImport {
                roster_base64: signed.clone(),
                fingerprint: fingerprint.clone(),
            },
        )?;
        anyhow::ensure!(view.added.len() == agencies - 1, "node {i}: {view:?}");
    }
    output::line(format_args!(
        "  set-up: roster made, signed and imported at {agencies} nodes ({} partnerships) in {:.2} s, 1 fingerprint compared per member",
        agencies * (agencies - 1),
        set_up.elapsed().as_secs_f64()
    ))?;

    // One to all: published at NL-NP → every receipt stored there.
    let mut latencies = Vec::new();
    for run in 0..latency_runs + 3 {
        let start = Instant::now();
        federation.send_to_group(0, &format!("one to all {run}"))?;
        wait("one to all", Duration::from_secs(120), || {
            Ok(federation.queued(0)? == 0)
        })?;
        if run >= 3 {
            latencies.push(start.elapsed());
        }
    }
    latencies.sort();
    output::line(format_args!(
        "  one bulletin to {} partners, published → {} receipts stored: p50 {:.1} ms, p99 {:.1} ms ({} runs after 3 to open connections)",
        agencies - 1,
        agencies - 1,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.len()
    ))?;

    // All to all: every node publishes one bulletin to the group at once.
    let round = Instant::now();
    std::thread::scope(|scope| {
        let federation = &federation;
        let senders: Vec<_> = (0..agencies)
            .map(|i| scope.spawn(move || federation.send_to_group(i, "all to all")))
            .collect();
        senders
            .into_iter()
            .try_for_each(|s| s.join().map_err(|_| anyhow::anyhow!("a sender panicked"))?)
    })?;
    wait("the all-to-all round", Duration::from_secs(300), || {
        (0..agencies).try_fold(true, |all, i| Ok(all && federation.queued(i)? == 0))
    })?;
    let round = round.elapsed();
    output::line(format_args!(
        "  all to all: {agencies} bulletins, {} deliveries with receipts, in {:.0} ms ({:.0} deliveries/s)",
        agencies * (agencies - 1),
        round.as_secs_f64() * 1000.0,
        (agencies * (agencies - 1)) as f64 / round.as_secs_f64()
    ))?;
    std::thread::sleep(Duration::from_secs(2));
    memory_line("memory after the rounds", &federation.rss_mib())?;

    // A member killed and restarted while the others send to it.
    let victim = 1;
    let held = federation.received(victim)?;
    federation.kill9(victim)?;
    let mut sent = 0;
    for i in (0..agencies).filter(|&i| i != victim) {
        for n in 0..2 {
            federation.send_to_group(i, &format!("while {} was down {n}", ids[victim]))?;
            sent += 1;
        }
    }
    // Long enough for every sender's retry timer to grow past 8 s.
    std::thread::sleep(Duration::from_secs(20));
    let restarted = Instant::now();
    federation.start(victim)?;
    federation.wait_serving(victim)?;
    let serving = restarted.elapsed();
    let caught_up = wait(
        "the restarted member's catch-up",
        Duration::from_secs(120),
        || Ok(federation.received(victim)? >= held + sent),
    )? + serving;
    output::line(format_args!(
        "  {} killed (SIGKILL), {sent} bulletins sent to it by {} partners while down for 20 s, restarted: serving after {:.2} s, holding all {sent} after {:.2} s",
        ids[victim],
        agencies - 1,
        serving.as_secs_f64(),
        caught_up.as_secs_f64()
    ))?;
    wait("every outbox to drain", Duration::from_secs(120), || {
        (0..agencies).try_fold(true, |all, i| Ok(all && federation.queued(i)? == 0))
    })?;
    memory_line("memory at the end", &federation.rss_mib())?;
    drop(federation);
    Ok(())
}
