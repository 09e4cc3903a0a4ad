//! `liaison demo`: three agencies on this machine, set up the way real ones would be —
//! own keys and CA each, bundles exchanged and fingerprints checked — exchanging
//! realistic bulletins over mutually authenticated TLS, then showing the signed
//! receipts. Everything runs in this process; the data stays in `--dir` if given.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use liaison_node::admin::{
    self, AdminRequest, BulletinDetail, BulletinSummary, Direction, SendRequest, SendView,
};
use liaison_node::state::NodeState;
use liaison_node::{InitOptions, Listeners, Node, init_node};

use crate::commands::{call, print_bulletin};
use crate::output;

const AGENCIES: [(&str, &str); 3] = [
    ("NL-NP", "Netherlands National Police"),
    ("DE-BKA", "Bundeskriminalamt"),
    ("RO-DIICOT", "DIICOT Romania"),
];

struct DemoBulletin {
    from: usize,
    to: &'static [usize],
    category: &'static str,
    tlp: &'static str,
    handling: &'static [&'static str],
    title: &'static str,
    body: &'static str,
}

const BULLETINS: [DemoBulletin; 3] = [
    DemoBulletin {
        from: 0,
        to: &[1, 2],
        category: "trafficking.persons.recruitment",
        tlp: "amber",
        handling: &["H2"],
        title: "Recruiter posting au-pair jobs linked to Rotterdam brothels",
        body: "Adverts on two job boards offer au-pair work in NL; applicants are met at Eindhoven airport and taken to addresses in Rotterdam-Zuid. Recruiter uses +31 6 1234 5678 and +40 712 345 678. Victims so far from Iasi and Suceava counties. Request: subscriber checks on the RO number.",
    },
    DemoBulletin {
        from: 2,
        to: &[0, 1],
        category: "trafficking.persons.transport",
        tlp: "amber",
        handling: &[],
        title: "Minibus route Iasi - Budapest - Vienna - Rotterdam, Fridays",
        body: "Grey Mercedes Sprinter, RO plates IS-21-KVM, leaves Iasi on Fridays around 22:00 with 6-8 young women; driver Ion P. (b. 1984). Fuel paid with a card linked to account RO49AAAA1B31007593840000. Border crossing at Nadlac. Ask: ANPR hits in DE and NL.",
    },
    DemoBulletin {
        from: 1,
        to: &[0],
        category: "trafficking.financial",
        tlp: "green",
        handling: &[],
        title: "Mule accounts receiving proceeds from Rotterdam addresses",
        body: "Three DE accounts (DE89 3704 0044 0532 0130 00 and two more) receive cash deposits traced to the Rotterdam addresses in your bulletin; funds leave for RO within 24 hours. Financial intelligence unit can share statements on request.",
    },
];

pub fn run(dir: Option<PathBuf>) -> Result<()> {
    let temp;
    let base = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d)
                .with_context(|| format!("cannot create {}", d.display()))?;
            d
        }
        None => {
            temp = tempdir()?;
            temp.0.clone()
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;

    println!(
        "== 1. Three agencies create their nodes (own root key, own CA) in {}",
        base.display()
    );
    let mut listeners = Vec::new();
    let mut dirs = Vec::new();
    for (agency, name) in AGENCIES {
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
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
        println!(
            "   {agency:<10} {name:<30} fingerprint {}",
            node.identity().fingerprint()
        );
        listeners.push(listener);
        dirs.push(dir);
    }

    println!(
        "\n== 2. Each exports its identity bundle; each partner imports it after comparing fingerprints"
    );
    for (i, dir) in dirs.iter().enumerate() {
        let state = NodeState::open(Node::load(dir)?)?;
        for (j, other) in dirs.iter().enumerate() {
            if i == j {
                continue;
            }
            let theirs = Node::load(other)?;
            let view = admin::peer_add(
                &state,
                &data_encoding::BASE64.encode(&theirs.identity().to_bytes()),
                &theirs.identity().fingerprint().to_string(),
            )?;
            println!(
                "   {} imported {} (identity v{})",
                AGENCIES[i].0, view.agency, view.identity_version
            );
        }
    }

    println!("\n== 3. Each installs its sharing policy (deny by default; config/*.policy.toml)");
    for ((agency, _), dir) in AGENCIES.iter().zip(&dirs) {
        std::fs::write(dir.join("policy.toml"), demo_policy(agency))?;
        let state = NodeState::open(Node::load(dir)?)?;
        let policy = state.policy.snapshot();
        let partners: Vec<String> = policy
            .partners()
            .map(|(a, r)| format!("{a} up to {}", r.max_send_tlp))
            .collect();
        println!(
            "   {agency:<10} policy {}: sends to {}",
            policy.version(),
            partners.join(", ")
        );
    }

    println!("\n== 4. The three nodes start (peer gRPC over TLS 1.3, mutual authentication)");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut nodes = Vec::new();
    for (listener, dir) in listeners.into_iter().zip(&dirs) {
        let node = Node::load(dir)?;
        let mut stop = stop_rx.clone();
        nodes.push(runtime.spawn(liaison_node::run(
            node,
            Listeners {
                peer: listener,
                api: None,
            },
            async move {
                let _ = stop.changed().await;
            },
        )));
    }
    for dir in &dirs {
        wait_for(Duration::from_secs(10), || admin::socket_path(dir).exists())?;
    }
    for (agency, dir) in AGENCIES.iter().zip(&dirs) {
        let node = Node::load(dir)?;
        println!(
            "   {:<10} listening on {}",
            agency.0,
            node.config().peer_advertise.join(",")
        );
    }

    println!(
        "\n== 5. Bulletins are judged by the sender's policy, sealed (signed, encrypted per recipient) and sent"
    );
    let mut sent = Vec::new();
    for b in &BULLETINS {
        let to: Vec<String> = b.to.iter().map(|&i| AGENCIES[i].0.to_owned()).collect();
        let view: SendView = call(
            &dirs[b.from],
            AdminRequest::BulletinSend(SendRequest {
                to: to.clone(),
                category: b.category.into(),
                tlp: b.tlp.into(),
                handling: b.handling.iter().map(|h| (*h).to_owned()).collect(),
                title: b.title.into(),
                body: b.body.into(),
                expires_in_days: 90,
            }),
        )?;
        println!(
            "   {} -> {:<18} {}  \"{}\"",
            AGENCIES[b.from].0,
            to.join(","),
            view.id,
            b.title
        );
        sent.push((b.from, view.id));
    }

    // A bulletin the policy does not allow: refused before sealing, with the rule.
    let refused = call::<SendView>(
        &dirs[0],
        AdminRequest::BulletinSend(SendRequest {
            to: vec!["RO-DIICOT".into()],
            category: "trafficking.persons".into(),
            tlp: "red".into(),
            handling: vec![],
            title: "Source identity of the Rotterdam informant".into(),
            body: "-".into(),
            expires_in_days: 7,
        }),
    );
    match refused {
        Err(e) => println!("   NL-NP -> RO-DIICOT TLP:RED  REFUSED: {e:#}"),
        Ok(v) => anyhow::bail!("the policy let a RED bulletin through: {}", v.id),
    }

    println!("\n== 6. Waiting for signed receipts");
    let deadline = Duration::from_secs(30);
    for (from, id) in &sent {
        wait_for(deadline, || {
            call::<BulletinDetail>(&dirs[*from], AdminRequest::BulletinShow { id: id.clone() })
                .is_ok_and(|d| {
                    d.delivery
                        .iter()
                        .all(|r| r.state == "accepted" || r.state == "duplicate")
                })
        })
        .with_context(|| format!("bulletin {id} was not receipted in time"))?;
    }
    let first: BulletinDetail = call(
        &dirs[sent[0].0],
        AdminRequest::BulletinShow {
            id: sent[0].1.clone(),
        },
    )?;
    println!(
        "   every recipient returned a signed receipt. As {} sees its first bulletin:\n",
        AGENCIES[sent[0].0].0
    );
    print_bulletin(&first);

    println!(
        "\n== 7. What each agency received (decrypted with its own key, origin signature verified)"
    );
    for (agency, dir) in AGENCIES.iter().zip(&dirs) {
        let inbox: Vec<BulletinSummary> = call(
            dir,
            AdminRequest::BulletinList {
                direction: Some(Direction::In),
            },
        )?;
        println!("\n   {} ({} bulletins):", agency.0, inbox.len());
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
        output::indented_table("   ", &["FROM", "TLP", "CATEGORY", "TITLE"], &rows);
    }

    println!("\n== 8. Onward sharing and recall");
    // NL-NP passes DE-BKA's GREEN bulletin on to RO-DIICOT (DE-BKA's forward_to in
    // NL-NP's policy allows it); the AMBER one it may not.
    let from_de = sent
        .iter()
        .find(|(from, _)| AGENCIES[*from].0 == "DE-BKA")
        .map(|(_, id)| id.clone())
        .context("the demo sends a bulletin from DE-BKA")?;
    let forwarded: liaison_node::bulletins::ForwardView = call(
        &dirs[0],
        AdminRequest::BulletinForward {
            id: from_de.clone(),
            to: "RO-DIICOT".into(),
        },
    )?;
    println!(
        "   NL-NP forwards DE-BKA's TLP:GREEN bulletin to RO-DIICOT: {}",
        forwarded.decision
    );
    let from_ro = sent
        .iter()
        .find(|(from, _)| AGENCIES[*from].0 == "RO-DIICOT")
        .map(|(_, id)| id.clone())
        .context("the demo sends a bulletin from RO-DIICOT")?;
    if let Err(e) = call::<liaison_node::bulletins::ForwardView>(
        &dirs[0],
        AdminRequest::BulletinForward {
            id: from_ro,
            to: "DE-BKA".into(),
        },
    ) {
        println!("   NL-NP tries to forward RO-DIICOT's TLP:AMBER bulletin: REFUSED: {e:#}");
    }
    wait_for(deadline, || {
        call::<Vec<BulletinSummary>>(
            &dirs[2],
            AdminRequest::BulletinList {
                direction: Some(Direction::In),
            },
        )
        .is_ok_and(|inbox| inbox.iter().any(|b| b.id == from_de))
    })
    .context("the forwarded bulletin did not arrive")?;
    println!("   RO-DIICOT received it with DE-BKA's own signature verified");
    // NL-NP recalls its first bulletin: both recipients erase it and sign purge receipts.
    let (_, first_id) = &sent[0];
    let _: liaison_node::bulletins::RecallView = call(
        &dirs[0],
        AdminRequest::BulletinRecall {
            id: first_id.clone(),
            reason: "the recruiter was misidentified".into(),
        },
    )?;
    wait_for(deadline, || {
        call::<BulletinDetail>(
            &dirs[0],
            AdminRequest::BulletinShow {
                id: first_id.clone(),
            },
        )
        .is_ok_and(|d| d.delivery.iter().all(|r| r.state == "recalled (purged)"))
    })
    .context("the recall was not confirmed in time")?;
    let detail: BulletinDetail = call(
        &dirs[0],
        AdminRequest::BulletinShow {
            id: first_id.clone(),
        },
    )?;
    for r in &detail.delivery {
        println!(
            "   NL-NP recalled {first_id}: {} erased it and signed a purge receipt ({})",
            r.agency,
            r.receipt_time.clone().unwrap_or_default()
        );
    }

    println!("\n== 9. Stopping the nodes; every log still verifies");
    let _ = stop_tx.send(true);
    for node in nodes {
        runtime.block_on(node).context("a node task failed")??;
    }
    for (agency, dir) in AGENCIES.iter().zip(&dirs) {
        let node = Node::load(dir)?;
        let log = node.open_log()?;
        let report = log.verify(&[node.keys().signing.verifying_key()], &mut |_| {})?;
        println!(
            "   {:<10} log verified: {} entries, {} signed checkpoints",
            agency.0, report.entries, report.checkpoints
        );
    }
    println!("\nDemo complete.");
    Ok(())
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

fn tempdir() -> Result<TempDir> {
    let path = std::env::temp_dir().join(format!("liaison-demo-{}", std::process::id()));
    std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(TempDir(path))
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The example policies in config/, built into the binary so the demo runs anywhere.
fn demo_policy(agency: &str) -> &'static str {
    match agency {
        "NL-NP" => include_str!("../../../config/nl-np.policy.toml"),
        "DE-BKA" => include_str!("../../../config/de-bka.policy.toml"),
        _ => include_str!("../../../config/ro-diicot.policy.toml"),
    }
}
