//! The test harness: real Liaison nodes — real TLS, real sled logs in temporary
//! directories — started in this process on `127.0.0.1:0`, or as real `liaison run`
//! processes when a test must kill one with SIGKILL.
//!
//! Layout:
//! - [`TestNode`]: one agency's node: create it, add partners, start and stop it
//!   (in-process, or as a process with [`TestNode::start_process`]), and ask it things
//!   through its admin socket exactly as the CLI does;
//! - [`federation`](mod@federation): N agencies that know each other, with policies;
//! - [`wire`]: a partner's view from outside the node: peer-API clients, hand-made
//!   envelopes, single deliveries;
//! - [`wait_until`]: polling with a deadline.
//!
//! In-process nodes get their peer listener bound before `init`, on port 0, so the
//! endpoint in their signed identity is the port they serve on: no free-port race.
//! A node restarted in-process binds the same port again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod api;
pub mod disk;
pub mod federation;
pub mod interop;
pub mod metrics;
pub mod wire;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use liaison_core::{AgencyId, BulletinId};
use liaison_node::edge::admin::{
    self, BulletinList, BulletinSend, BulletinShow, PeerAdd, PeerShow,
};
use liaison_node::node::journal::LogEvent;
use liaison_node::node::state::NodeState;
use liaison_node::ops::bulletins::views::{BulletinDetail, BulletinSummary, SendRequest};
use liaison_node::ops::bulletins::{Direction, Recipients};
use liaison_node::ops::log::ExportedBody;
use liaison_node::trust::tls::NodeCertificate;
use liaison_node::{InitOptions, Listeners, Node, init_node};

pub use federation::{allow_everything, federation};

/// How long tests wait for deliveries that should take milliseconds: long enough for a
/// loaded CI machine, short enough to fail a hung test.
pub const LONG: Duration = Duration::from_secs(120);

/// Polls `done` every 20 ms until it holds or `limit` passes.
///
/// # Panics
/// When `limit` passes, naming `what` was awaited.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// How a node is running, if it is.
enum Running {
    Stopped,
    /// `liaison_node::run` on its own runtime in this process.
    InProcess {
        runtime: tokio::runtime::Runtime,
        stop: tokio::sync::watch::Sender<bool>,
        task: tokio::task::JoinHandle<liaison_node::Result<()>>,
        state: Arc<NodeState>,
    },
    /// A `liaison run` process.
    Process(Child),
}

/// One agency's node.
pub struct TestNode {
    /// The agency.
    pub agency: AgencyId,
    /// Its data directory.
    pub dir: PathBuf,
    /// The peer port in its signed identity.
    pub port: u16,
    /// Its client API port.
    pub api_port: u16,
    /// Listeners bound before `init` and not yet handed to a run.
    reserved: Option<(std::net::TcpListener, std::net::TcpListener)>,
    running: Running,
}

impl TestNode {
    /// Creates the node for `agency` in `base/<agency>`, its listeners bound on port 0.
    pub fn init(base: &Path, agency: &str) -> Self {
        let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let api = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (port, api_port) = (
            peer.local_addr().unwrap().port(),
            api.local_addr().unwrap().port(),
        );
        let dir = base.join(agency.to_lowercase());
        let agency: AgencyId = agency.parse().unwrap();
        init_node(&InitOptions {
            data_dir: dir.clone(),
            agency: agency.clone(),
            display_name: format!("{agency} test"),
            peer_endpoint: Some(format!("127.0.0.1:{port}")),
            api_endpoint: Some(format!("127.0.0.1:{api_port}").parse().unwrap()),
        })
        .unwrap();
        Self {
            agency,
            dir,
            port,
            api_port,
            reserved: Some((peer, api)),
            running: Running::Stopped,
        }
    }

    /// The process id of a node started as a `liaison run` process.
    pub fn pid(&self) -> Option<u32> {
        match &self.running {
            Running::Process(child) => Some(child.id()),
            _ => None,
        }
    }

    /// The data directory as text, for command lines.
    pub fn d(&self) -> &str {
        self.dir.to_str().unwrap()
    }

    /// The node's files, as loaded now.
    pub fn node(&self) -> Node {
        Node::load(&self.dir).unwrap()
    }

    /// Its root-key fingerprint.
    pub fn fingerprint(&self) -> String {
        self.node().identity().fingerprint().to_string()
    }

    /// Adds `other` as a partner, with its genuine fingerprint (online or offline).
    pub fn add_peer(&self, other: &TestNode) {
        let theirs = other.node();
        self.admin(PeerAdd {
            bundle_base64: data_encoding::BASE64.encode(&theirs.identity().to_bytes()),
            fingerprint: theirs.identity().fingerprint().to_string(),
        });
    }

    /// Turns on the listener `[section] listen` (`metrics`, `taxii`, `desk`) in
    /// liaison.toml, at the next start, on a free loopback port; returns the port.
    pub fn enable_listener(&self, section: &str) -> u16 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = self.dir.join("liaison.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&format!("\n[{section}]\nlisten = \"127.0.0.1:{port}\"\n"));
        std::fs::write(config, text).unwrap();
        port
    }

    /// Replaces `policy.toml` (in force at the next start or `policy reload`).
    pub fn write_policy(&self, text: &str) {
        std::fs::write(self.dir.join("policy.toml"), text).unwrap();
    }

    /// Starts the node in this process and waits for its admin socket to answer.
    pub fn start(&mut self) {
        assert!(
            matches!(self.running, Running::Stopped),
            "{} is running",
            self.agency
        );
        let (peer, api) = self.take_listeners();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let node = self.node();
        let certificate = Arc::new(
            NodeCertificate::load(
                &self.dir.join("tls/node.pem"),
                &self.dir.join("tls/node.key"),
            )
            .unwrap(),
        );
        let state = NodeState::open(node).unwrap();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = runtime.spawn({
            let state = state.clone();
            async move {
                let listeners = Listeners {
                    peer: tokio::net::TcpListener::from_std(peer).expect("a bound listener"),
                    api: Some(tokio::net::TcpListener::from_std(api).expect("a bound listener")),
                };
                liaison_node::runtime::server::run_state(
                    state,
                    certificate,
                    listeners,
                    async move {
                        let _ = stopped.changed().await;
                    },
                )
                .await
            }
        });
        self.running = Running::InProcess {
            runtime,
            stop,
            task,
            state,
        };
        self.wait_serving();
    }

    /// The listeners bound at `init`, or the same ports bound again after a stop.
    fn take_listeners(&mut self) -> (std::net::TcpListener, std::net::TcpListener) {
        let (peer, api) = self
            .reserved
            .take()
            .unwrap_or_else(|| (rebind(self.port), rebind(self.api_port)));
        peer.set_nonblocking(true).unwrap();
        api.set_nonblocking(true).unwrap();
        (peer, api)
    }

    /// Starts `liaison run` from `binary` and waits for its admin socket to answer. Its
    /// log goes to `<dir>.log`.
    pub fn start_process(&mut self, binary: &Path) {
        assert!(
            matches!(self.running, Running::Stopped),
            "{} is running",
            self.agency
        );
        // The process binds the ports itself: release ours.
        self.reserved = None;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.with_extension("log"))
            .unwrap();
        let child = Command::new(binary)
            .args(["run", "--data-dir", self.d()])
            .env("LIAISON_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.running = Running::Process(child);
        self.wait_serving();
    }

    fn wait_serving(&self) {
        let dir = self.dir.clone();
        wait_until(&format!("{} to start", self.agency), LONG, || {
            admin::socket::node_running(&dir)
        });
    }

    /// The running in-process node's shared state (to control its clock, say).
    ///
    /// # Panics
    /// If the node is not running in this process.
    pub fn state(&self) -> Arc<NodeState> {
        match &self.running {
            Running::InProcess { state, .. } => state.clone(),
            _ => panic!("{} is not running in this process", self.agency),
        }
    }

    /// Stops the node cleanly (shutdown signal, or SIGTERM for a process) and waits.
    pub fn stop(&mut self) {
        match std::mem::replace(&mut self.running, Running::Stopped) {
            Running::Stopped => panic!("{} is not running", self.agency),
            Running::InProcess {
                runtime,
                stop,
                task,
                state,
            } => {
                let _ = stop.send(true);
                runtime.block_on(task).unwrap().unwrap();
                drop(state);
                runtime.shutdown_timeout(Duration::from_secs(5));
            }
            Running::Process(mut child) => {
                let status = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(status.success());
                let exit = child.wait().unwrap();
                assert!(
                    exit.success(),
                    "{} exited with {exit} on SIGTERM",
                    self.agency
                );
            }
        }
    }

    /// SIGKILL: no chance to flush or say goodbye.
    ///
    /// # Panics
    /// If the node is not running as a process.
    pub fn kill9(&mut self) {
        match std::mem::replace(&mut self.running, Running::Stopped) {
            Running::Process(mut child) => {
                child.kill().unwrap();
                child.wait().unwrap();
            }
            _ => panic!("{} is not running as a process", self.agency),
        }
    }

    /// Runs an admin command on the node, over its socket when it runs, and panics on
    /// an error.
    pub fn admin<C: admin::Command>(&self, command: C) -> C::Reply {
        admin::socket::call(&self.dir, command)
            .unwrap_or_else(|e| panic!("{}: {}", self.agency, liaison_node::error::describe(&e)))
    }

    /// Runs an admin command and returns the node's error, if any.
    pub fn try_admin<C: admin::Command>(&self, command: C) -> liaison_node::Result<C::Reply> {
        admin::socket::call(&self.dir, command)
    }

    /// Sends a 1 KiB TLP:AMBER `trafficking.persons` bulletin to `to`; returns its id.
    pub fn send(&self, to: &[&TestNode], title: &str) -> BulletinId {
        self.try_send(to, title)
            .unwrap_or_else(|e| panic!("{}: {}", self.agency, liaison_node::error::describe(&e)))
    }

    /// [`TestNode::send`], returning the node's refusal instead of panicking.
    pub fn try_send(&self, to: &[&TestNode], title: &str) -> liaison_node::Result<BulletinId> {
        let request = SendRequest {
            expires_in_days: Some(30),
            ..SendRequest::new(
                Recipients::Named(to.iter().map(|n| n.agency.clone()).collect()),
                "trafficking.persons".parse().unwrap(),
                liaison_core::Tlp::Amber,
                title,
                "x".repeat(1024),
            )
        };
        self.try_admin(BulletinSend(request))
            .map(|sent| sent.id.parse().unwrap())
    }

    /// Sends a TLP:AMBER `trafficking.persons` bulletin carrying `entities` to `to` and
    /// waits until it is delivered; returns its id.
    pub fn send_entities(
        &self,
        to: &TestNode,
        title: &str,
        body: &str,
        entities: Vec<liaison_core::Entity>,
    ) -> BulletinId {
        let request = SendRequest {
            entities,
            ..SendRequest::new(
                Recipients::Named(vec![to.agency.clone()]),
                "trafficking.persons".parse().unwrap(),
                liaison_core::Tlp::Amber,
                title,
                body,
            )
        };
        let id = self.admin(BulletinSend(request)).id.parse().unwrap();
        wait_until("delivery", LONG, || self.outbox(to) == 0);
        id
    }

    /// Bulletins received, in log order.
    pub fn inbox(&self) -> Vec<BulletinSummary> {
        self.admin(BulletinList {
            direction: Some(Direction::In),
            limit: Some(10_000),
            oldest_first: true,
            ..Default::default()
        })
    }

    /// Bulletins published (and forwarded), in log order.
    pub fn outbound(&self) -> Vec<BulletinSummary> {
        self.admin(BulletinList {
            direction: Some(Direction::Out),
            limit: Some(10_000),
            oldest_first: true,
            ..Default::default()
        })
    }

    /// One bulletin with its delivery state.
    pub fn show(&self, id: BulletinId) -> BulletinDetail {
        self.admin(BulletinShow { id })
    }

    /// Bulletins queued for `partner`.
    pub fn outbox(&self, partner: &TestNode) -> usize {
        self.admin(PeerShow {
            agency: partner.agency.clone(),
        })
        .outbox
    }

    /// Every event in the node's log, oldest first.
    pub fn events(&self) -> Vec<LogEvent> {
        self.admin(admin::LogExport {
            since: 1,
            limit: usize::MAX,
            with_bytes: false,
            reads: false,
        })
        .into_iter()
        .filter_map(|e| match e.body {
            ExportedBody::Event(event) => Some(event),
            _ => None,
        })
        .collect()
    }

    /// Copies the stopped node's data directory to `to`, as a backup would.
    pub fn back_up(&self, to: &Path) {
        assert!(
            matches!(self.running, Running::Stopped),
            "{} is running",
            self.agency
        );
        copy_dir(&self.dir, to);
    }

    /// Replaces the stopped node's data directory with the backup in `from`.
    pub fn restore(&self, from: &Path) {
        assert!(
            matches!(self.running, Running::Stopped),
            "{} is running",
            self.agency
        );
        std::fs::remove_dir_all(&self.dir).unwrap();
        copy_dir(from, &self.dir);
    }

    /// Verifies the whole log (the node must be stopped, or this reads it over the
    /// socket); returns the number of entries.
    pub fn verify_log(&self) -> u64 {
        self.admin(admin::LogVerify {
            since_checkpoint: false,
            indexes: true,
        })
        .entries
    }
}

/// Copies directory `from` to `to`, recursively.
/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), &target).unwrap();
        }
    }
}

/// Binds `port` on loopback again, retrying briefly while the old socket closes.
fn rebind(port: u16) -> std::net::TcpListener {
    let mut last = None;
    for _ in 0..100 {
        match std::net::TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => return listener,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("cannot bind 127.0.0.1:{port} again: {last:?}");
}

impl Drop for TestNode {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.running, Running::Stopped) {
            Running::Stopped => {}
            Running::InProcess { runtime, stop, .. } => {
                let _ = stop.send(true);
                runtime.shutdown_timeout(Duration::from_secs(2));
            }
            Running::Process(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Every file under `dir` that contains `needle`: how tests prove a plaintext, a
/// selector or a body is in no node's files.
pub fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

/// The attachment files a node holds in place (under `log/attachments`, not staging).
pub fn attachment_files(data_dir: &Path) -> Vec<PathBuf> {
    let staging = data_dir.join("log/attachments/staging");
    let mut found = Vec::new();
    let mut stack = vec![data_dir.join("log/attachments")];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() && path != staging {
                stack.push(path);
            } else if path.is_file() {
                found.push(path);
            }
        }
    }
    found
}
