//! `liaison demo`: three agencies on this machine, set up the way real ones would be —
//! own keys and CA each, bundles exchanged and fingerprints checked — exchanging
//! realistic bulletins over mutually authenticated TLS, then showing the signed
//! receipts. Everything runs in this process; the data stays in `--dir` if given.
//!
//! [`run`] plays the steps in order; each step is one method of [`Demo`].

mod script;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use liaison_core::{AgencyId, BulletinId};
use liaison_node::edge::admin::{
    self, BulletinAcknowledge, BulletinForward, BulletinList, BulletinRecall, BulletinSend,
    BulletinShow, BulletinThread, PeerAdd,
};
use liaison_node::node::state::NodeState;
use liaison_node::ops::bulletins::views::{BulletinDetail, SendRequest};
use liaison_node::ops::bulletins::{Direction, Recipients};
use liaison_node::{InitOptions, Listeners, Node, init_node};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::commands::bulletins::print_bulletin;
use crate::commands::call;
use crate::output;
use script::{AGENCIES, BULLETINS, DemoBulletin, demo_policy};

/// Prints one line of the demo (stops quietly if the reader went away).
macro_rules! say {
    ($($arg:tt)*) => { output::line(format_args!($($arg)*))? };
}

/// How long to wait for receipts, forwards and recalls.
const DEADLINE: Duration = Duration::from_secs(30);

pub fn run(dir: Option<PathBuf>, desk: bool) -> Result<()> {
    let temp;
    let base = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .with_context(|| format!("cannot create {}", d.display()))?;
            d
        }
        None => {
            temp = tempfile_dir()?;
            temp.0.clone()
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (mut demo, listeners) = Demo::create_nodes(&runtime, base)?;
    demo.exchange_bundles()?;
    demo.install_policies()?;
    let desks = if desk {
        demo.enable_desks()?
    } else {
        Vec::new()
    };
    let (stop, nodes) = demo.start_nodes(listeners)?;
    let sent = demo.send_bulletins()?;
    demo.refused_by_policy()?;
    demo.wait_for_receipts(&sent)?;
    demo.show_inboxes()?;
    let request = demo.request_reply_acknowledge()?;
    demo.link_found_by_itself(request)?;
    demo.forward_and_recall(&sent)?;
    demo.private_query()?;
    if desk {
        demo.open_desks(&desks)?;
    }
    demo.stop_and_verify(stop, nodes)?;
    say!("\nDemo complete.");
    Ok(())
}

/// The three nodes' data directories and the runtime they run on.
struct Demo<'a> {
    runtime: &'a tokio::runtime::Runtime,
    dirs: Vec<PathBuf>,
}

type NodeTask = JoinHandle<liaison_node::Result<()>>;

impl<'a> Demo<'a> {
    fn create_nodes(
        runtime: &'a tokio::runtime::Runtime,
        base: PathBuf,
    ) -> Result<(Self, Vec<TcpListener>)> {
        say!(
            "== 1. Three agencies create their nodes (own root key, own CA) in {}",
            base.display()
        );
        let mut listeners = Vec::new();
        let mut dirs = Vec::new();
        for (agency, name) in AGENCIES {
            let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
            let port = listener.local_addr()?.port();
            let dir = base.join(agency.to_lowercase());
            let node = init_node(&InitOptions {
                data_dir: dir.clone(),
                agency: agency.parse()?,
                display_name: name.into(),
                peer_endpoint: Some(format!("127.0.0.1:{port}")),
                api_endpoint: Some("127.0.0.1:0".parse()?),
            })
            .with_context(|| format!("cannot create the {agency} node"))?;
            say!(
                "   {agency:<10} {name:<30} fingerprint {}",
                node.identity().fingerprint()
            );
            listeners.push(listener);
            dirs.push(dir);
        }
        Ok((Self { runtime, dirs }, listeners))
    }

    fn exchange_bundles(&mut self) -> Result<()> {
        say!(
            "\n== 2. Each exports its identity bundle; each partner imports it after comparing fingerprints"
        );
        for (i, dir) in self.dirs.iter().enumerate() {
            for (j, other) in self.dirs.iter().enumerate() {
                if i == j {
                    continue;
                }
                let theirs = Node::load(other)?;
                let view = call(
                    dir,
                    PeerAdd {
                        bundle_base64: data_encoding::BASE64.encode(&theirs.identity().to_bytes()),
                        fingerprint: theirs.identity().fingerprint().to_string(),
                    },
                )?;
                say!(
                    "   {} imported {} (identity v{})",
                    AGENCIES[i].0,
                    view.agency,
                    view.identity_version
                );
            }
        }
        Ok(())
    }

    fn install_policies(&mut self) -> Result<()> {
        say!("\n== 3. Each installs its sharing policy (deny by default; config/*.policy.toml)");
        for ((agency, _), dir) in AGENCIES.iter().zip(&self.dirs) {
            std::fs::write(dir.join("policy.toml"), demo_policy(agency))?;
            let state = NodeState::open(Node::load(dir)?)?;
            let policy = state.policy.snapshot();
            let partners: Vec<String> = policy
                .partners()
                .map(|(a, r)| format!("{a} up to {}", r.max_send_tlp))
                .collect();
            say!(
                "   {agency:<10} policy {}: sends to {}",
                policy.version(),
                partners.join(", ")
            );
        }
        Ok(())
    }

    /// Turns on each node's desk on a free loopback port (`demo --desk`).
    fn enable_desks(&mut self) -> Result<Vec<u16>> {
        let mut ports = Vec::new();
        for dir in &self.dirs {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let path = dir.join("liaison.toml");
            let mut config = std::fs::read_to_string(&path)?;
            config.push_str(&format!("\n[desk]\nlisten = \"127.0.0.1:{port}\"\n"));
            std::fs::write(&path, config)?;
            ports.push(port);
        }
        Ok(ports)
    }

    /// Adds an officer at each desk, prints the enrolment links and waits for Ctrl-C.
    fn open_desks(&mut self, ports: &[u16]) -> Result<()> {
        say!("\n== The desks are open (Ctrl-C stops the nodes)");
        for ((agency, _), (dir, port)) in AGENCIES.iter().zip(self.dirs.iter().zip(ports)) {
            let added = call(
                dir,
                liaison_node::edge::admin::OfficerAdd {
                    name: "officer".into(),
                    roles: vec![liaison_node::trust::clients::Role::Admin],
                },
            )?;
            say!(
                "   {agency:<10} https://127.0.0.1:{port}/  enrol: {}",
                added.enrolment_link
            );
        }
        say!(
            "   The certificates come from each agency's own CA (<dir>/<agency>/tls/ca.pem): the browser warns until that CA is trusted."
        );
        self.runtime
            .block_on(tokio::signal::ctrl_c())
            .context("cannot wait for Ctrl-C")?;
        Ok(())
    }

    fn start_nodes(
        &mut self,
        listeners: Vec<TcpListener>,
    ) -> Result<(tokio::sync::watch::Sender<bool>, Vec<NodeTask>)> {
        say!("\n== 4. The three nodes start (peer gRPC over TLS 1.3, mutual authentication)");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut nodes = Vec::new();
        for (listener, dir) in listeners.into_iter().zip(&self.dirs) {
            let node = Node::load(dir)?;
            let mut stop = stop_rx.clone();
            let listeners = Listeners {
                peer: listener,
                api: None,
            };
            nodes.push(
                self.runtime
                    .spawn(liaison_node::run(node, listeners, async move {
                        let _ = stop.changed().await;
                    })),
            );
        }
        for dir in &self.dirs {
            wait_for(Duration::from_secs(10), || admin::socket::node_running(dir))?;
        }
        for (agency, dir) in AGENCIES.iter().zip(&self.dirs) {
            let node = Node::load(dir)?;
            say!(
                "   {:<10} listening on {}",
                agency.0,
                node.config().peer_advertise.join(",")
            );
        }
        Ok((stop_tx, nodes))
    }

    fn send_bulletins(&mut self) -> Result<Vec<(usize, BulletinId)>> {
        say!(
            "\n== 5. Bulletins are judged by the sender's policy, sealed (signed, encrypted per recipient) and sent"
        );
        let mut sent = Vec::new();
        for b in &BULLETINS {
            let to: Vec<AgencyId> =
                b.to.iter()
                    .map(|&i| AGENCIES[i].0.parse())
                    .collect::<Result<_, _>>()?;
            let view = call(&self.dirs[b.from], BulletinSend(request(b, to.clone())?))?;
            let names: Vec<String> = to.iter().map(ToString::to_string).collect();
            say!(
                "   {} -> {:<18} {}  \"{}\"",
                AGENCIES[b.from].0,
                names.join(","),
                view.id,
                b.title
            );
            sent.push((b.from, view.id.parse()?));
        }
        Ok(sent)
    }

    /// RO-DIICOT asks NL-NP and DE-BKA for information on a phone and a vehicle, by a
    /// due time; DE-BKA answers (to everyone on the request), NL-NP acknowledges it
    /// as actioned; RO-DIICOT sees the thread and the signed acknowledgement.
    fn request_reply_acknowledge(&mut self) -> Result<BulletinId> {
        say!("\n== 8. A request for information, a reply and an acknowledgement");
        let (nl, de, ro) = (&self.dirs[0], &self.dirs[1], &self.dirs[2]);
        let mut ask = SendRequest::new(
            Recipients::Named(vec!["NL-NP".parse()?, "DE-BKA".parse()?]),
            "trafficking.persons.transport".parse()?,
            "amber".parse()?,
            "RFI: who else uses this phone and this minibus?",
            "The Sprinter driver called +40 712 345 678 from the border. Any hits on the number or the plates in your systems?",
        );
        ask.entities = vec![
            liaison_core::Entity::Phone {
                number: "+40 712 345 678".into(),
            },
            liaison_core::Entity::Vehicle {
                registration: "IS 21 KVM".into(),
                country: "RO".into(),
                make_model: "Mercedes Sprinter".into(),
                vin: String::new(),
            },
        ];
        ask.evaluation = Some("B2".parse()?);
        ask.request = Some(liaison_core::handling::InformationRequest {
            priority: liaison_core::handling::Priority::Urgent,
            due: liaison_core::UnixMillis(liaison_core::UnixMillis::now().0 + 48 * 3_600_000),
        });
        let id: BulletinId = call(ro, BulletinSend(ask))?.id.parse()?;
        say!(
            "   RO-DIICOT -> NL-NP,DE-BKA {id}  request, urgent, due in 48 h (entities normalised: +40712345678, IS21KVM)"
        );
        wait_for(DEADLINE, || {
            call(de, BulletinShow { id }).is_ok() && call(nl, BulletinShow { id }).is_ok()
        })
        .context("the request did not arrive")?;
        let mut answer = SendRequest::new(
            Recipients::AllAllowed,
            "trafficking.persons.transport".parse()?,
            "amber".parse()?,
            "ANPR: IS 21 KVM seen at Passau twice in October",
            "Both Fridays, 04:10 and 04:25, eastbound A3. The number is unknown to us.",
        );
        answer.to = None;
        answer.reply_to = Some(id);
        let reply = call(de, BulletinSend(answer))?;
        say!(
            "   DE-BKA replies {} (to everyone on the request: {})",
            reply.id,
            reply.queued_for.join(",")
        );
        let ack = BulletinAcknowledge {
            id,
            state: liaison_core::acknowledgement::AckState::Actioned,
            note: "number flagged in our case system".into(),
        };
        call(nl, ack)?;
        say!(
            "   NL-NP acknowledges the request as actioned; the signed acknowledgement goes back to RO-DIICOT"
        );
        wait_for(DEADLINE, || {
            call(ro, BulletinThread { id }).is_ok_and(|t| t.len() == 2)
                && self
                    .show(2, id)
                    .is_ok_and(|d| !d.acknowledgements.is_empty())
        })
        .context("the reply and the acknowledgement did not reach RO-DIICOT")?;
        say!("   RO-DIICOT's thread (`liaison bulletin thread {id}`):");
        for b in call(ro, BulletinThread { id })? {
            say!("     {}  {:<9} {}", b.created, b.origin, b.title);
        }
        for a in self.show(2, id)?.acknowledgements {
            say!(
                "   acknowledged by {}: {} \"{}\" (signed)",
                a.by,
                a.state,
                a.note
            );
        }
        Ok(id)
    }

    /// DE-BKA sends NL-NP an older case that mentions RO-DIICOT's phone number, written
    /// another way: NL-NP, which holds both, sees the link without asking, and finds
    /// both by searching for the number.
    fn link_found_by_itself(&mut self, request: BulletinId) -> Result<()> {
        say!("\n== 9. A link found by itself, and a search");
        let (nl, de) = (&self.dirs[0], &self.dirs[1]);
        let mut case = SendRequest::new(
            Recipients::Named(vec!["NL-NP".parse()?]),
            "trafficking.persons".parse()?,
            "amber".parse()?,
            "Closed case 2025/118: recruiter's second phone",
            "A recruiter in the 2025 Munich case used this number for a month.",
        );
        case.entities = vec![liaison_core::Entity::Phone {
            number: "0040 712 345 678".into(),
        }];
        let id: BulletinId = call(de, BulletinSend(case))?.id.parse()?;
        say!("   DE-BKA -> NL-NP {id}  mentions 0040 712 345 678");
        wait_for(DEADLINE, || {
            self.show(0, id).is_ok_and(|d| !d.links.is_empty())
        })
        .context("the link did not appear at NL-NP")?;
        for link in self.show(0, id)?.links {
            say!(
                "   NL-NP `bulletin show {id}`: {} also in {} from {} ({}, {})",
                link.selector,
                link.bulletin,
                link.origin,
                link.created,
                link.tlp
            );
        }
        let found = call(
            nl,
            liaison_node::edge::admin::Search {
                selectors: vec![("phone".into(), "+40 712 345 678".into())],
                filter: Default::default(),
                page: Default::default(),
                ..Default::default()
            },
        )?;
        say!(
            "   NL-NP `liaison search --phone '+40 712 345 678'`: {} bulletins ({})",
            found.len(),
            found
                .iter()
                .map(|b| format!("{} from {}", b.id, b.origin))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !found.iter().any(|b| b.id == request.to_string()) {
            anyhow::bail!("the search did not find RO-DIICOT's request");
        }
        say!("   (the index holds keyed hashes of selectors, never the number itself)");
        Ok(())
    }

    /// A bulletin the policy does not allow: refused before sealing, with the rule.
    fn refused_by_policy(&mut self) -> Result<()> {
        let red = SendRequest {
            expires_in_days: Some(7),
            ..SendRequest::new(
                Recipients::Named(vec!["RO-DIICOT".parse()?]),
                "trafficking.persons".parse()?,
                "red".parse()?,
                "Source identity of the Rotterdam informant",
                "-",
            )
        };
        match call(&self.dirs[0], BulletinSend(red)) {
            Err(e) => say!("   NL-NP -> RO-DIICOT TLP:RED  REFUSED: {e}"),
            Ok(v) => anyhow::bail!("the policy let a RED bulletin through: {}", v.id),
        }
        Ok(())
    }

    fn show(&self, from: usize, id: BulletinId) -> Result<BulletinDetail> {
        call(&self.dirs[from], BulletinShow { id })
    }

    fn wait_for_receipts(&mut self, sent: &[(usize, BulletinId)]) -> Result<()> {
        say!("\n== 6. Waiting for signed receipts");
        for &(from, id) in sent {
            wait_for(DEADLINE, || {
                self.show(from, id).is_ok_and(|d| {
                    d.delivery
                        .iter()
                        .all(|r| r.state == "accepted" || r.state == "duplicate")
                })
            })
            .with_context(|| format!("bulletin {id} was not receipted in time"))?;
        }
        let (from, id) = sent[0];
        say!(
            "   every recipient returned a signed receipt. As {} sees its first bulletin:\n",
            AGENCIES[from].0
        );
        print_bulletin(&self.show(from, id)?)
    }

    fn show_inboxes(&mut self) -> Result<()> {
        say!(
            "\n== 7. What each agency received (decrypted with its own key, origin signature verified)"
        );
        for (agency, dir) in AGENCIES.iter().zip(&self.dirs) {
            let inbox = call(
                dir,
                BulletinList {
                    direction: Some(Direction::In),
                    oldest_first: true,
                    ..Default::default()
                },
            )?;
            say!("\n   {} ({} bulletins):", agency.0, inbox.len());
            let rows: Vec<Vec<String>> = inbox
                .iter()
                .map(|b| {
                    vec![
                        b.origin.clone(),
                        b.tlp.clone(),
                        b.category.clone(),
                        b.title.clone(),
                    ]
                })
                .collect();
            output::indented_table("   ", &["FROM", "TLP", "CATEGORY", "TITLE"], &rows)?;
        }
        Ok(())
    }

    /// NL-NP passes DE-BKA's GREEN bulletin on to RO-DIICOT (DE-BKA's forward_to in
    /// NL-NP's policy allows it); the AMBER one it may not. Then NL-NP recalls its first
    /// bulletin: both recipients erase it and sign purge receipts.
    fn forward_and_recall(&mut self, sent: &[(usize, BulletinId)]) -> Result<()> {
        say!("\n== 10. Onward sharing and recall");
        let from = |agency: &str| {
            sent.iter()
                .find(|(from, _)| AGENCIES[*from].0 == agency)
                .map(|(_, id)| *id)
                .with_context(|| format!("the demo sends a bulletin from {agency}"))
        };
        let (from_de, from_ro) = (from("DE-BKA")?, from("RO-DIICOT")?);
        let forward = |id, to: &str| -> Result<_> {
            call(
                &self.dirs[0],
                BulletinForward {
                    id,
                    to: to.parse()?,
                },
            )
        };
        let forwarded = forward(from_de, "RO-DIICOT")?;
        say!(
            "   NL-NP forwards DE-BKA's TLP:GREEN bulletin to RO-DIICOT: {}",
            forwarded.decision
        );
        if let Err(e) = forward(from_ro, "DE-BKA") {
            say!("   NL-NP tries to forward RO-DIICOT's TLP:AMBER bulletin: REFUSED: {e}");
        }
        wait_for(DEADLINE, || {
            call(
                &self.dirs[2],
                BulletinList {
                    direction: Some(Direction::In),
                    oldest_first: true,
                    ..Default::default()
                },
            )
            .is_ok_and(|inbox| inbox.iter().any(|b| b.id == from_de.to_string()))
        })
        .context("the forwarded bulletin did not arrive")?;
        say!("   RO-DIICOT received it with DE-BKA's own signature verified");
        let (_, first) = sent[0];
        let reason = "the recruiter was misidentified".to_owned();
        call(&self.dirs[0], BulletinRecall { id: first, reason })?;
        wait_for(DEADLINE, || {
            self.show(0, first)
                .is_ok_and(|d| d.delivery.iter().all(|r| r.state == "recalled (purged)"))
        })
        .context("the recall was not confirmed in time")?;
        for r in &self.show(0, first)?.delivery {
            say!(
                "   NL-NP recalled {first}: {} erased it and signed a purge receipt ({})",
                r.agency,
                r.receipt_time.clone().unwrap_or_default()
            );
        }
        Ok(())
    }

    /// NL-NP asks its partners privately whether they hold the number linked in step
    /// 9, and one nobody holds: DE-BKA and RO-DIICOT, which each wrote a bulletin
    /// carrying it, answer "hit" without ever seeing it.
    fn private_query(&mut self) -> Result<()> {
        say!("\n== 11. A private hit/no-hit query: the partners never see the number");
        let report = call(
            &self.dirs[0],
            liaison_node::edge::admin::Query {
                selectors: vec![
                    ("phone".into(), "+40 712 345 678".into()),
                    ("phone".into(), "+40 799 000 111".into()),
                ],
                partners: Vec::new(),
            },
        )?;
        for answer in &report.answers {
            match &answer.error {
                Some(e) => anyhow::bail!("{} gave no answer: {e}", answer.partner),
                None => {
                    for (selector, hit) in report.selectors.iter().zip(&answer.hits) {
                        say!(
                            "   NL-NP `liaison query`: {:<10} {selector}: {}",
                            answer.partner,
                            if *hit { "HIT" } else { "no hit" }
                        );
                    }
                }
            }
        }
        let hits = |partner: &str| {
            report
                .answers
                .iter()
                .find(|a| a.partner == partner)
                .map(|a| a.hits.clone())
        };
        if hits("DE-BKA") != Some(vec![true, false]) || hits("RO-DIICOT") != Some(vec![true, false])
        {
            anyhow::bail!("the private query did not find the two holders");
        }
        say!(
            "   DE-BKA and RO-DIICOT each logged that NL-NP queried, not what: they received only blinded values (RFC 9497 OPRF)"
        );
        Ok(())
    }

    fn stop_and_verify(
        &mut self,
        stop: tokio::sync::watch::Sender<bool>,
        nodes: Vec<NodeTask>,
    ) -> Result<()> {
        say!("\n== 12. Stopping the nodes; every log still verifies");
        let _ = stop.send(true);
        for node in nodes {
            self.runtime
                .block_on(node)
                .context("a node task failed")??;
        }
        for (agency, dir) in AGENCIES.iter().zip(&self.dirs) {
            let node = Node::load(dir)?;
            let log = node.open_log()?;
            let report = log.verify(
                &[node.keys().signing.verifying_key()],
                liaison_store::VerifyOptions::default(),
                &mut |_| {},
            )?;
            say!(
                "   {:<10} log verified: {} entries, {} signed checkpoints",
                agency.0,
                report.entries,
                report.checkpoints
            );
        }
        Ok(())
    }
}

/// The send request for one of the script's bulletins.
fn request(b: &DemoBulletin, to: Vec<AgencyId>) -> Result<SendRequest> {
    Ok(SendRequest {
        handling: b
            .handling
            .iter()
            .map(|h| h.parse())
            .collect::<Result<_, _>>()?,
        expires_in_days: Some(90),
        ..SendRequest::new(
            Recipients::Named(to),
            b.category.parse()?,
            b.tlp.parse()?,
            b.title,
            b.body,
        )
    })
}

fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    anyhow::bail!("timed out after {} s", limit.as_secs())
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

fn tempfile_dir() -> Result<TempDir> {
    let path = std::env::temp_dir().join(format!("liaison-demo-{}", std::process::id()));
    std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(TempDir(path))
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
