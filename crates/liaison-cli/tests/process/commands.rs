//! Operator commands against nodes running as real `liaison run` processes: what a
//! person sees (tables, sentences, exit codes) and what the node writes to its log.

use std::time::Duration;

use liaison_core::BulletinId;
use liaison_node::trust::tls::NodeCertificate;
use liaison_tests::wire::{node_certificate, peer_client};
use liaison_tests::{LONG, TestNode, federation, wait_until};

use crate::util::{fails, init, ok, start};

#[test]
fn a_certificate_from_an_unknown_ca_is_refused_and_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    start(&mut nodes[0]);
    let (a, b) = (&nodes[0], &nodes[1]);
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // A genuine partner gets in.
    assert!(peer_client(&runtime, a, &node_certificate(b)).is_ok());

    // A certificate from a CA A has never seen is refused at the handshake.
    let stranger: liaison_core::AgencyId = "FR-OCRTEH".parse().unwrap();
    let ca = liaison_core::tls::generate_agency_ca(
        &stranger,
        "Stranger",
        liaison_core::tls::Validity { days: 30 },
    )
    .unwrap();
    let issued = liaison_core::tls::issue_certificate(
        &ca.certificate_pem,
        &ca.private_key_pem,
        "Liaison node FR-OCRTEH",
        &["127.0.0.1".into()],
        liaison_core::tls::CertificateRole::Node,
        liaison_core::tls::Validity { days: 30 },
    )
    .unwrap();
    let err = peer_client(
        &runtime,
        a,
        &NodeCertificate::from_pem(&issued.certificate_pem, &issued.private_key_pem).unwrap(),
    )
    .unwrap_err();
    assert!(!err.is_empty());
    wait_until("the refusal to be logged", Duration::from_secs(10), || {
        std::fs::read_to_string(a.dir.with_extension("log"))
            .unwrap_or_default()
            .contains("certificate is not issued by the CA of any known partner")
    });
}

#[test]
fn peer_commands_work_offline_and_online_and_check_fingerprints() {
    let tmp = tempfile::tempdir().unwrap();
    let mut a = TestNode::init(tmp.path(), "NL-NP");
    let b = TestNode::init(tmp.path(), "DE-BKA");
    let bundle = tmp.path().join("de.bundle");
    ok(&[
        "identity",
        "export",
        "--data-dir",
        b.d(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let wrong = a.fingerprint();
    let err = fails(
        &[
            "peer",
            "add",
            bundle.to_str().unwrap(),
            "--fingerprint",
            &wrong,
            "--data-dir",
            a.d(),
        ],
        1,
    );
    assert!(
        err.contains("fingerprint mismatch")
            && err.contains(&wrong)
            && err.contains(&b.fingerprint()),
        "{err}"
    );

    // Offline add, online list/show/remove.
    ok(&[
        "peer",
        "add",
        bundle.to_str().unwrap(),
        "--fingerprint",
        &b.fingerprint(),
        "--data-dir",
        a.d(),
    ]);
    start(&mut a);
    let list: serde_json::Value =
        serde_json::from_str(&ok(&["peer", "list", "--data-dir", a.d(), "--json"])).unwrap();
    assert_eq!(list[0]["agency"], "DE-BKA");
    let table = ok(&["peer", "list", "--data-dir", a.d()]);
    assert!(
        table.contains("DE-BKA") && table.contains("OUTBOX"),
        "{table}"
    );
    let shown = ok(&["peer", "show", "DE-BKA", "--data-dir", a.d()]);
    assert!(shown.contains(&b.fingerprint()), "{shown}");
    ok(&["peer", "remove", "DE-BKA", "--data-dir", a.d()]);
    let err = fails(&["peer", "show", "DE-BKA", "--data-dir", a.d()], 1);
    assert!(err.contains("not a known partner"), "{err}");
    // Online add again, then the node stops and the change is in the log.
    ok(&[
        "peer",
        "add",
        bundle.to_str().unwrap(),
        "--fingerprint",
        &b.fingerprint(),
        "--data-dir",
        a.d(),
    ]);
    a.stop();
    let list: serde_json::Value =
        serde_json::from_str(&ok(&["peer", "list", "--data-dir", a.d(), "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let verified: serde_json::Value =
        serde_json::from_str(&ok(&["log", "verify", "--data-dir", a.d(), "--json"])).unwrap();
    assert!(verified["entries"].as_u64().unwrap() >= 9);
}

/// `liaison bulletin send` with everything after `--data-dir DIR`.
fn send_args<'a>(dir: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    [&["bulletin", "send", "--data-dir", dir][..], rest].concat()
}

#[test]
fn bulletin_commands_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        start(n);
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let body = tmp.path().join("body.txt");
    std::fs::write(&body, "Vehicle B-123-XYZ seen at the border").unwrap();
    let id = ok(&send_args(
        a.d(),
        &[
            "--to",
            "DE-BKA",
            "--category",
            "trafficking.persons.transport",
            "--tlp",
            "amber+strict",
            "--handling",
            "H2",
            "--title",
            "Van at the border",
            "--body-file",
            body.to_str().unwrap(),
        ],
    ))
    .trim()
    .to_owned();
    id.parse::<BulletinId>().unwrap();
    wait_until("delivery", LONG, || a.outbox(b) == 0);
    let shown = ok(&["bulletin", "show", &id, "--data-dir", b.d(), "--json"]);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["title"], "Van at the border");
    assert_eq!(shown["body"], "Vehicle B-123-XYZ seen at the border");
    assert_eq!(shown["tlp"], "TLP:AMBER+STRICT");
    assert!(shown["signature"].as_str().unwrap().starts_with("valid"));
    let sender_view = ok(&["bulletin", "show", &id, "--data-dir", a.d()]);
    assert!(sender_view.contains("accepted"), "{sender_view}");
    let listed = ok(&["bulletin", "list", "--data-dir", b.d(), "--direction", "in"]);
    assert!(listed.contains(&id), "{listed}");
}

#[test]
fn a_bad_send_is_refused_with_its_reason_and_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    start(&mut nodes[0]);
    let a = &nodes[0];
    let rest = |to: &'static str, tlp: &'static str, title: &'static str| {
        vec![
            "--to",
            to,
            "--category",
            "x",
            "--tlp",
            tlp,
            "--title",
            title,
            "--body",
            "b",
        ]
    };
    let err = fails(&send_args(a.d(), &rest("FR-OCRTEH", "red", "t")), 1);
    assert!(err.contains("not a known partner"), "{err}");
    let err = fails(&send_args(a.d(), &rest("DE-BKA", "purple", "t")), 2);
    assert!(
        err.contains("--tlp") && err.contains("not a TLP level"),
        "{err}"
    );
    // A blank title is refused with the field named, and nothing is stored.
    let entries = || {
        let status = ok(&["status", "--data-dir", a.d(), "--json"]);
        serde_json::from_str::<serde_json::Value>(&status).unwrap()["log_entries"].clone()
    };
    let before = entries();
    let err = fails(&send_args(a.d(), &rest("DE-BKA", "red", "   ")), 1);
    assert!(err.contains("content.title"), "{err}");
    assert_eq!(before, entries(), "a refused send stored something");
    let err = fails(&["bulletin", "show", "not-an-id", "--data-dir", a.d()], 2);
    assert!(err.contains("UUID"), "{err}");
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    use std::io::{Read as _, Write as _};
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    start(&mut nodes[0]);
    let a = &nodes[0];
    let ca_pem = std::fs::read(a.dir.join("tls/ca.pem")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
    let tcp = std::net::TcpStream::connect(("127.0.0.1", a.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // In TLS 1.3 the server's refusal arrives after the client's Finished: the first
    // exchange of application data fails.
    let _ = tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let mut buf = [0u8; 64];
    let read = tls.read(&mut buf);
    assert!(
        matches!(read, Err(_) | Ok(0)),
        "a client without a certificate got {read:?}"
    );
    wait_until("the refusal to be logged", Duration::from_secs(10), || {
        std::fs::read_to_string(a.dir.with_extension("log"))
            .unwrap_or_default()
            .contains("handshake refused")
    });
}

/// A running node's refusal reaches the operator as the node worded it: no
/// "admin socket:" prefix, each cause once.
#[test]
fn a_running_nodes_refusal_is_shown_in_its_own_words() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].write_policy(
        "[partners.DE-BKA]\nsend = [\"trafficking\"]\nreceive = [\"*\"]\nmax_send_tlp = \"amber\"\n",
    );
    start(&mut nodes[0]);
    let a = &nodes[0];
    let err = fails(
        &[
            "bulletin",
            "send",
            "--data-dir",
            a.d(),
            "--to",
            "DE-BKA",
            "--category",
            "trafficking.persons",
            "--tlp",
            "red",
            "--title",
            "t",
            "--body",
            "b",
        ],
        1,
    );
    assert!(
        err.starts_with(
            "error: denied by the sharing policy: DE-BKA: denied by partners.DE-BKA.max_send_tlp"
        ),
        "{err}"
    );
    assert!(!err.contains("admin socket"), "{err}");
    let err = fails(&["peer", "show", "FR-OCRTEH", "--data-dir", a.d()], 1);
    assert_eq!(
        err.trim(),
        "error: FR-OCRTEH is not a known partner; add it with `liaison peer add`"
    );
}

/// Regression: `bulletin send` had no idempotency key, so a retry after a dropped
/// answer sent a second bulletin.
#[test]
fn a_send_retried_with_its_request_key_is_sent_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    start(&mut nodes[0]);
    let a = &nodes[0];
    let send = |title: &'static str| {
        send_args(
            a.d(),
            &[
                "--to",
                "DE-BKA",
                "--category",
                "trafficking.persons",
                "--tlp",
                "amber",
                "--title",
                title,
                "--body",
                "b",
                "--request-key",
                "case-114-1",
            ],
        )
    };
    let first = ok(&send("Recruiter on the A2"));
    let again = ok(&send("Recruiter on the A2"));
    assert_eq!(first, again, "a retry sent a second bulletin");
    assert_eq!(a.outbound().len(), 1);
    let err = fails(&send("Another bulletin"), 1);
    assert!(
        err.contains("request key \"case-114-1\" already published"),
        "{err}"
    );
}

/// Regressions from an operator's session: messages that name the thing and the next
/// step, no Rust debug text, no colour codes in a log file.
#[test]
fn operator_messages_name_the_thing_and_the_next_step() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    start(&mut nodes[0]);
    let a = &nodes[0];
    // A second `run` says a node is running, not "Address already in use".
    let err = fails(&["run", "--data-dir", a.d()], 1);
    assert!(err.contains("a node is already running"), "{err}");
    // The node's log, written to a file, is plain text. (The admin socket answers a
    // moment before the "node running" line is written.)
    let log_file = a.dir.with_extension("log");
    wait_until("the node to log that it runs", LONG, || {
        std::fs::read_to_string(&log_file).is_ok_and(|l| l.contains("node running"))
    });
    let log = std::fs::read_to_string(&log_file).unwrap();
    assert!(
        log.contains("node running") && !log.contains('\u{1b}'),
        "{log}"
    );
    // A revocation is said in words, not as Rust debug output.
    let rotated = ok(&["key", "rotate", "signing", "--data-dir", a.d(), "--json"]);
    let rotated: serde_json::Value = serde_json::from_str(&rotated).unwrap();
    let old = rotated["old_key_id"].as_str().unwrap();
    let out = ok(&[
        "key",
        "revoke",
        old,
        "--reason",
        "compromised",
        "--data-dir",
        a.d(),
    ]);
    assert!(
        out.contains("revoked (compromised)") && !out.contains("Compromised"),
        "{out}"
    );
    // A fingerprint read out incompletely says so.
    let bundle = tmp.path().join("de.bundle");
    ok(&[
        "identity",
        "export",
        "--data-dir",
        nodes[1].d(),
        "--out",
        bundle.to_str().unwrap(),
    ]);
    let err = fails(
        &[
            "peer",
            "add",
            bundle.to_str().unwrap(),
            "--fingerprint",
            "AAAA-BBBB-CCCC",
            "--data-dir",
            a.d(),
        ],
        1,
    );
    assert!(
        err.contains("has 12 characters") && err.contains("52"),
        "{err}"
    );
}

#[test]
fn log_verify_checks_the_indexes_and_log_reindex_and_compact_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        start(n);
    }
    let id = ok(&send_args(
        nodes[0].d(),
        &[
            "--to",
            "DE-BKA",
            "--category",
            "trafficking",
            "--tlp",
            "amber",
            "--title",
            "t",
            "--body",
            "b",
        ],
    ));
    wait_until("delivery", LONG, || nodes[0].outbox(&nodes[1]) == 0);
    // Neither rebuild runs under a running node.
    for command in ["reindex", "compact"] {
        let err = fails(&["log", command, "--data-dir", nodes[0].d()], 1);
        assert!(err.contains("the node is running: stop it first"), "{err}");
    }
    for n in &mut nodes {
        n.stop();
    }
    let dir = nodes[0].dir.clone();
    let d = nodes[0].d();
    // The bulletin is listed from the index, newest first.
    let listed = ok(&["bulletin", "list", "--data-dir", d, "--limit", "1"]);
    assert!(listed.contains(id.trim()), "{listed}");
    let verified: serde_json::Value = serde_json::from_str(&ok(&[
        "log",
        "verify",
        "--data-dir",
        d,
        "--indexes",
        "--json",
    ]))
    .unwrap();
    assert!(verified["index_rows"].as_u64().unwrap() > 0, "{verified}");
    // An index row goes missing: the entries still verify, the indexes do not.
    {
        let db = sled::open(dir.join("log/sled")).unwrap();
        let tree = db.open_tree("agencies").unwrap();
        let row = tree.scan_prefix(b"a").keys().next().unwrap().unwrap();
        tree.remove(row).unwrap();
        db.flush().unwrap();
    }
    ok(&["log", "verify", "--data-dir", d]);
    let err = fails(&["log", "verify", "--data-dir", d, "--indexes"], 1);
    assert!(
        err.contains("the indexes do not match the entries") && err.contains("log reindex"),
        "{err}"
    );
    let rebuilt = ok(&["log", "reindex", "--data-dir", d]);
    assert!(rebuilt.starts_with("Reindexed: "), "{rebuilt}");
    ok(&["log", "verify", "--data-dir", d, "--indexes"]);
    let compacted = ok(&["log", "compact", "--data-dir", d]);
    assert!(compacted.starts_with("Compacted: "), "{compacted}");
    ok(&["log", "verify", "--data-dir", d, "--indexes"]);
    // Incremental: a run starts at the checkpoint the last successful one reached.
    let since: serde_json::Value = serde_json::from_str(&ok(&[
        "log",
        "verify",
        "--data-dir",
        d,
        "--since-checkpoint",
        "--json",
    ]))
    .unwrap();
    assert!(since["checkpoints"].as_u64().unwrap() >= 1, "{since}");
    let from = since["from_checkpoint"].as_u64().unwrap();
    assert!(from > 0, "{since}");
    assert_eq!(
        since["checked"].as_u64().unwrap(),
        since["entries"].as_u64().unwrap() - from,
        "{since}"
    );
}

#[test]
fn the_desk_flags_entities_attachment_reply_thread_ack_and_the_reads_export() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        start(n);
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let photo = tmp.path().join("photo.jpg");
    std::fs::write(&photo, b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    let entities = tmp.path().join("entities.json");
    std::fs::write(
        &entities,
        r#"[{"kind":"account","identifier":"DE44 5001 0517 5407 3249 31","institution":"X"}]"#,
    )
    .unwrap();
    let id = ok(&send_args(
        a.d(),
        &[
            "--to",
            "DE-BKA",
            "--category",
            "trafficking.persons",
            "--tlp",
            "amber",
            "--title",
            "Who is this?",
            "--body",
            "Seen twice at Nadlac",
            "--phone",
            "+40 712 345 678",
            "--person",
            "Ion  Popescu;dob=1990-03-01;nat=ROU;alias=Nelu",
            "--vehicle",
            "is 21 kvm;country=RO;make=Mercedes Sprinter",
            "--location",
            "Nadlac;lat=46.17;lon=20.75",
            "--entities",
            entities.to_str().unwrap(),
            "--attach",
            photo.to_str().unwrap(),
            "--request",
            "--priority",
            "immediate",
            "--due",
            "2d",
            "--evaluation",
            "c3",
        ],
    ))
    .trim()
    .to_owned();
    wait_until("delivery", LONG, || a.outbox(b) == 0);
    let shown: serde_json::Value = serde_json::from_str(&ok(&[
        "bulletin",
        "show",
        &id,
        "--data-dir",
        b.d(),
        "--json",
    ]))
    .unwrap();
    // Search by selector, as the operator types it, with filters.
    let found = ok(&[
        "search",
        "--phone",
        "0040 712 345 678",
        "--since",
        "1d",
        "--from",
        "NL-NP",
        "--category",
        "trafficking",
        "--json",
        "--data-dir",
        b.d(),
    ]);
    assert!(found.contains(&id), "{found}");
    let none = ok(&[
        "search",
        "--phone",
        "+40712345678",
        "--tlp",
        "red",
        "--data-dir",
        b.d(),
    ]);
    assert!(none.contains("No bulletin"), "{none}");
    let bad = fails(
        &["search", "--phone", "0712 345 678", "--data-dir", b.d()],
        1,
    );
    assert!(bad.contains("country code"), "{bad}");
    let links = ok(&["links", "--since", "1d", "--data-dir", b.d()]);
    assert!(links.contains("No links"), "{links}");
    let bad = fails(
        &["links", "--entity", "+40712345678", "--data-dir", b.d()],
        1,
    );
    assert!(bad.contains("KIND:VALUE"), "{bad}");
    let kinds: Vec<&str> = shown["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["account", "person", "phone", "vehicle", "location"]);
    assert_eq!(shown["entities"][0]["identifier"], "DE44500105175407324931");
    assert_eq!(shown["entities"][1]["full_name"], "Ion Popescu");
    assert_eq!(shown["entities"][1]["nationality"], "RO");
    assert_eq!(shown["entities"][2]["number"], "+40712345678");
    assert_eq!(shown["entities"][3]["registration"], "IS21KVM");
    assert_eq!(shown["attachments"][0]["media_type"], "image/jpeg");
    assert_eq!(shown["request"]["priority"], "immediate");
    assert!(shown["evaluation"].as_str().unwrap().starts_with("C3"));
    let table = ok(&["bulletin", "show", &id, "--data-dir", b.d()]);
    assert!(
        table.contains("phone") && table.contains("+40712345678"),
        "{table}"
    );
    assert!(table.contains("photo.jpg"), "{table}");
    let open = ok(&["bulletin", "list", "--open-requests", "--data-dir", b.d()]);
    assert!(open.contains(&id) && open.contains("immediate"), "{open}");

    // The attachment, saved to a new file only.
    let out = tmp.path().join("saved.jpg");
    ok(&[
        "bulletin",
        "attachment",
        "get",
        &id,
        "1",
        "--out",
        out.to_str().unwrap(),
        "--data-dir",
        b.d(),
    ]);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&photo).unwrap());
    let refused = fails(
        &[
            "bulletin",
            "attachment",
            "get",
            &id,
            "1",
            "--out",
            out.to_str().unwrap(),
            "--data-dir",
            b.d(),
        ],
        1,
    );
    assert!(refused.contains("cannot create"), "{refused}");

    // A reply with no --to goes back to the requester; the thread and the ack.
    let reply = ok(&send_args(
        b.d(),
        &[
            "--reply-to",
            &id,
            "--category",
            "trafficking.persons",
            "--tlp",
            "amber",
            "--title",
            "Known to us",
            "--body",
            "Convicted 2019",
        ],
    ))
    .trim()
    .to_owned();
    ok(&[
        "bulletin",
        "ack",
        &id,
        "--state",
        "actioned",
        "--note",
        "flagged",
        "--data-dir",
        b.d(),
    ]);
    wait_until("the reply and the acknowledgement", LONG, || {
        let thread = ok(&["bulletin", "thread", &id, "--data-dir", a.d()]);
        let shown = ok(&["bulletin", "show", &id, "--data-dir", a.d()]);
        thread.contains(&reply) && shown.contains("actioned") && shown.contains("flagged")
    });
    let open = ok(&["bulletin", "list", "--open-requests", "--data-dir", a.d()]);
    assert!(!open.contains(&id), "answered, so no longer open: {open}");

    // Bad input: a phone without its country code is refused, naming it.
    let bad = fails(
        &send_args(
            a.d(),
            &[
                "--to",
                "DE-BKA",
                "--category",
                "trafficking.persons",
                "--tlp",
                "amber",
                "--title",
                "t",
                "--body",
                "b",
                "--phone",
                "0712345678",
            ],
        ),
        1,
    );
    assert!(
        bad.contains("entities[0]") && bad.contains("country code"),
        "{bad}"
    );
    // An attachment over the documented 1 GiB is refused before any is read (a sparse
    // file: reading it would take a while).
    let big = tmp.path().join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1024 * 1024 * 1024 + 1)
        .unwrap();
    let too_big = fails(
        &send_args(
            a.d(),
            &[
                "--to",
                "DE-BKA",
                "--category",
                "trafficking.persons",
                "--tlp",
                "amber",
                "--title",
                "t",
                "--body",
                "b",
                "--attach",
                big.to_str().unwrap(),
            ],
        ),
        1,
    );
    assert!(too_big.contains("at most 1024 MiB"), "{too_big}");
    let staging = a.dir.join("log/attachments/staging");
    assert_eq!(
        std::fs::read_dir(staging).unwrap().count(),
        0,
        "nothing staged"
    );

    // The consultation log names each read.
    let reads = ok(&["log", "export", "--reads", "--json", "--data-dir", b.d()]);
    for door in ["cli show", "cli attachment", "cli list"] {
        assert!(
            reads.lines().any(|l| l.contains(door) && l.contains(&id)),
            "{door}: {reads}"
        );
    }
}

#[test]
fn the_demo_runs_a_request_a_reply_and_an_acknowledgement() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ok(&["demo", "--dir", tmp.path().to_str().unwrap()]);
    assert!(
        out.contains("A request for information, a reply and an acknowledgement"),
        "{out}"
    );
    assert!(out.contains("acknowledged by NL-NP: actioned"), "{out}");
    assert!(out.contains("phone:+40712345678 also in"), "{out}");
    assert!(out.contains("2 bulletins"), "{out}");
    assert!(
        out.contains("DE-BKA     phone:+40712345678: HIT")
            && out.contains("RO-DIICOT  phone:+40712345678: HIT")
            && out.contains("DE-BKA     phone:+40799000111: no hit"),
        "{out}"
    );
    assert!(out.contains("Demo complete."), "{out}");
}

#[test]
fn keys_sealed_under_a_passphrase_serve_every_command_and_never_sit_in_plain() {
    use crate::util::{init, liaison};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nl");
    init(&dir, "NL-NP");
    let d = dir.to_str().unwrap();
    let seed = std::fs::read(dir.join("keys/signing.key")).unwrap();
    assert_eq!(seed.len(), 32);
    let good = tmp.path().join("passphrase");
    std::fs::write(&good, "correct horse battery staple\n").unwrap();
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, "incorrect horse battery staple\n").unwrap();
    let with = |phrase: Option<&std::path::Path>, args: &[&str]| {
        let mut command = liaison();
        command.args(args).env_remove("LIAISON_KEY_PASSPHRASE_FILE");
        if let Some(p) = phrase {
            command.env("LIAISON_KEY_PASSPHRASE_FILE", p);
        }
        let out = command.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains("panicked"), "{text}");
        (out.status.success(), text)
    };

    let (ok_, text) = with(None, &["key", "protect", "--data-dir", d]);
    assert!(
        !ok_ && text.contains("LIAISON_KEY_PASSPHRASE_FILE"),
        "{text}"
    );
    let (ok_, text) = with(Some(&good), &["key", "protect", "--data-dir", d]);
    assert!(ok_, "{text}");
    for file in [
        "keys/root.key",
        "keys/signing.key",
        "keys/encryption.key",
        "tls/ca.key",
        "tls/node.key",
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        assert!(
            bytes.starts_with(b"liaison-sealed-key/1\n"),
            "{file} is not sealed"
        );
        assert!(text.contains(file), "{text}");
    }
    let sealed = std::fs::read(dir.join("keys/signing.key")).unwrap();
    assert!(
        !sealed.windows(32).any(|w| w == seed.as_slice()),
        "the seed is in the file"
    );

    // Without the passphrase, or with the wrong one: a sentence naming the file.
    let (ok_, text) = with(None, &["identity", "show", "--data-dir", d]);
    assert!(
        !ok_ && text.contains("LIAISON_KEY_PASSPHRASE_FILE"),
        "{text}"
    );
    let (ok_, text) = with(Some(&wrong), &["identity", "show", "--data-dir", d]);
    assert!(!ok_ && text.contains("does not open"), "{text}");

    // With it: every command, a rotation (its new and retired keys sealed too), a run.
    let (ok_, text) = with(Some(&good), &["identity", "show", "--data-dir", d]);
    assert!(ok_, "{text}");
    let (ok_, text) = with(Some(&good), &["key", "rotate", "signing", "--data-dir", d]);
    assert!(ok_, "{text}");
    for entry in std::fs::read_dir(dir.join("keys/retired")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(bytes.starts_with(b"liaison-sealed-key/1\n"));
    }
    assert!(
        std::fs::read(dir.join("keys/signing.key"))
            .unwrap()
            .starts_with(b"liaison-sealed-key/1\n")
    );
    let mut node = liaison()
        .args(["run", "--data-dir", d])
        .env("LIAISON_KEY_PASSPHRASE_FILE", &good)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the node to serve", LONG, || {
        liaison_node::edge::admin::socket::node_running(&dir)
    });
    let (ok_, text) = with(None, &["status", "--data-dir", d]);
    node.kill().unwrap();
    node.wait().unwrap();
    assert!(ok_, "a running node answers without the passphrase: {text}");
}

/// SoftHSM's PKCS#11 module, installed by `.ci/run` (Debian's softhsm2).
fn softhsm_module() -> std::path::PathBuf {
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
    .expect("SoftHSM is not installed: `apt-get install softhsm2` (.ci/run does)")
}

#[test]
fn keys_sealed_by_a_pkcs11_token_serve_every_command_and_open_with_nothing_else() {
    use crate::util::{init, liaison};
    let tmp = tempfile::tempdir().unwrap();
    // A SoftHSM token of this test's own, initialised by SoftHSM's own tool.
    let tokens = tmp.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = tmp.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let made = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "liaison-test"])
        .args(["--pin", "314159", "--so-pin", "27182818"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("softhsm2-util runs (.ci/run installs softhsm2)");
    assert!(made.status.success(), "{made:?}");
    let pin = tmp.path().join("pin");
    std::fs::write(&pin, "314159\n").unwrap();
    let wrong_pin = tmp.path().join("wrong-pin");
    std::fs::write(&wrong_pin, "000000\n").unwrap();

    let dir = tmp.path().join("nl");
    init(&dir, "NL-NP");
    let d = dir.to_str().unwrap();
    let seed = std::fs::read(dir.join("keys/signing.key")).unwrap();
    let module = softhsm_module();
    let with = |token: Option<(&str, &std::path::Path)>, args: &[&str]| {
        let mut command = liaison();
        command
            .args(args)
            .env("SOFTHSM2_CONF", &conf)
            .env_remove("LIAISON_KEY_PASSPHRASE_FILE")
            .env_remove("LIAISON_PKCS11_MODULE")
            .env_remove("LIAISON_PKCS11_TOKEN")
            .env_remove("LIAISON_PKCS11_PIN_FILE");
        if let Some((label, pin)) = token {
            command
                .env("LIAISON_PKCS11_MODULE", &module)
                .env("LIAISON_PKCS11_TOKEN", label)
                .env("LIAISON_PKCS11_PIN_FILE", pin);
        }
        let out = command.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains("panicked"), "{text}");
        (out.status.success(), text)
    };
    let token = Some(("liaison-test", pin.as_path()));

    // The node starts sealed under a passphrase and moves to the token.
    let passphrase = tmp.path().join("passphrase");
    std::fs::write(&passphrase, "correct horse battery staple\n").unwrap();
    let sealed_first = liaison()
        .args(["key", "protect", "--data-dir", d])
        .env("LIAISON_KEY_PASSPHRASE_FILE", &passphrase)
        .output()
        .unwrap();
    assert!(sealed_first.status.success(), "{sealed_first:?}");
    assert!(
        std::fs::read(dir.join("keys/signing.key"))
            .unwrap()
            .starts_with(b"liaison-sealed-key/1\n")
    );

    // Sealing: a key is made in the token, never extractable; every key file is sealed.
    let moved = liaison()
        .args(["key", "protect", "--pkcs11", "--data-dir", d])
        .env("SOFTHSM2_CONF", &conf)
        .env("LIAISON_KEY_PASSPHRASE_FILE", &passphrase)
        .env("LIAISON_PKCS11_MODULE", &module)
        .env("LIAISON_PKCS11_TOKEN", "liaison-test")
        .env("LIAISON_PKCS11_PIN_FILE", &pin)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&moved.stdout).into_owned();
    assert!(moved.status.success(), "{moved:?}");
    assert!(text.contains("sensitive and never extractable"), "{text}");
    for file in [
        "keys/root.key",
        "keys/signing.key",
        "keys/encryption.key",
        "tls/ca.key",
        "tls/node.key",
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        assert!(
            bytes.starts_with(b"liaison-token-key/1\n"),
            "{file} is not sealed by the token"
        );
        assert!(text.contains(file), "{text}");
    }
    let sealed = std::fs::read(dir.join("keys/signing.key")).unwrap();
    assert!(
        !sealed.windows(32).any(|w| w == seed.as_slice()),
        "the seed is in the file"
    );
    // Again: nothing left to seal.
    let (ok_, text) = with(token, &["key", "protect", "--pkcs11", "--data-dir", d]);
    assert!(ok_ && text.contains("already sealed"), "{text}");

    // Without the token, with a wrong PIN, a wrong token, or a tampered file: a sentence
    // naming the file and what is missing.
    let (ok_, text) = with(None, &["identity", "show", "--data-dir", d]);
    assert!(!ok_ && text.contains("LIAISON_PKCS11_MODULE"), "{text}");
    let (ok_, text) = with(
        Some(("liaison-test", &wrong_pin)),
        &["identity", "show", "--data-dir", d],
    );
    assert!(!ok_ && text.contains("refused the PIN"), "{text}");
    let (ok_, text) = with(
        Some(("other", &pin)),
        &["identity", "show", "--data-dir", d],
    );
    assert!(!ok_ && text.contains("no PKCS#11 token labelled"), "{text}");
    let mut tampered = sealed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    std::fs::write(dir.join("keys/signing.key"), &tampered).unwrap();
    let (ok_, text) = with(token, &["identity", "show", "--data-dir", d]);
    assert!(
        !ok_ && text.contains("signing.key") && text.contains("does not open"),
        "{text}"
    );
    std::fs::write(dir.join("keys/signing.key"), &sealed).unwrap();

    // With it: every command, a rotation (new and retired keys sealed by the token), a run.
    let (ok_, text) = with(token, &["identity", "show", "--data-dir", d]);
    assert!(ok_, "{text}");
    let (ok_, text) = with(token, &["key", "rotate", "signing", "--data-dir", d]);
    assert!(ok_, "{text}");
    for entry in std::fs::read_dir(dir.join("keys/retired")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(bytes.starts_with(b"liaison-token-key/1\n"));
    }
    assert!(
        std::fs::read(dir.join("keys/signing.key"))
            .unwrap()
            .starts_with(b"liaison-token-key/1\n")
    );
    let mut node = liaison()
        .args(["run", "--data-dir", d])
        .env("SOFTHSM2_CONF", &conf)
        .env("LIAISON_PKCS11_MODULE", &module)
        .env("LIAISON_PKCS11_TOKEN", "liaison-test")
        .env("LIAISON_PKCS11_PIN_FILE", &pin)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the node to serve", LONG, || {
        liaison_node::edge::admin::socket::node_running(&dir)
    });
    let (ok_, text) = with(None, &["status", "--data-dir", d]);
    node.kill().unwrap();
    node.wait().unwrap();
    assert!(ok_, "a running node answers without the token: {text}");
    assert!(text.contains("NL-NP"), "{text}");
}

/// A process's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_large_attachment_is_streamed_sealed_at_rest_and_erased_on_recall() {
    const SIZE: usize = 96 * 1024 * 1024;
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    for n in &mut nodes {
        start(n);
    }
    let (nl, de, ro) = (&nodes[0], &nodes[1], &nodes[2]);
    // 96 MiB with a marker every 4 KiB: if any node held it in memory its peak RSS
    // would show it; if any kept plaintext on disk the marker would.
    let marker = b"PLAINTEXT-MARKER-7f3a";
    let video = tmp.path().join("surveillance.mp4");
    {
        use std::io::Write as _;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&video).unwrap());
        let mut block = vec![0u8; 4096];
        for i in 0..SIZE / 4096 {
            block[..marker.len()].copy_from_slice(marker);
            block[marker.len()..marker.len() + 8].copy_from_slice(&(i as u64).to_be_bytes());
            f.write_all(&block).unwrap();
        }
    }
    let note = tmp.path().join("note.txt");
    std::fs::write(&note, "small, inside the envelope").unwrap();
    let started = std::time::Instant::now();
    let id = ok(&send_args(
        nl.d(),
        &[
            "--to",
            "DE-BKA,RO-DIICOT",
            "--category",
            "trafficking.persons",
            "--tlp",
            "amber",
            "--title",
            "Footage from the border crossing",
            "--body",
            "See the attachment",
            "--attach",
            video.to_str().unwrap(),
            "--attach",
            note.to_str().unwrap(),
        ],
    ))
    .trim()
    .to_owned();
    wait_until("delivery to both", LONG, || {
        nl.outbox(de) == 0 && nl.outbox(ro) == 0
    });
    eprintln!(
        "{SIZE} bytes sealed, sent to two partners and receipted in {:?}",
        started.elapsed()
    );
    for receiver in [de, ro] {
        let shown = ok(&[
            "bulletin",
            "show",
            &id,
            "--json",
            "--data-dir",
            receiver.d(),
        ]);
        let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
        let first = &shown["attachments"][0];
        assert_eq!(first["bytes"], SIZE as u64, "{shown}");
        assert_eq!(first["streamed"], true, "{shown}");
        assert_eq!(shown["attachments"][1]["streamed"], false, "{shown}");
        let out = tmp.path().join(format!("{}.mp4", receiver.agency));
        ok(&[
            "bulletin",
            "attachment",
            "get",
            &id,
            "1",
            "--out",
            out.to_str().unwrap(),
            "--data-dir",
            receiver.d(),
        ]);
        assert!(
            std::fs::read(&out).unwrap() == std::fs::read(&video).unwrap(),
            "{} got a different file",
            receiver.agency
        );
        std::fs::remove_file(&out).unwrap();
    }
    // No node held the file whole: each peaked well under its size.
    for node in [nl, de, ro] {
        let peak = peak_rss_kib(node.pid().unwrap());
        eprintln!("{} peak RSS {peak} KiB", node.agency);
        assert!(
            peak < (SIZE as u64 / 1024) * 3 / 4,
            "{} peaked at {peak} KiB with a {SIZE}-byte attachment",
            node.agency
        );
    }
    // No plaintext in any node's files, sender included.
    for node in [nl, de, ro] {
        let found = liaison_tests::files_containing(&node.dir, marker);
        assert!(found.is_empty(), "plaintext in {found:?}");
    }
    // The recall takes the receivers' files with the payload.
    for receiver in [de, ro] {
        assert_eq!(liaison_tests::attachment_files(&receiver.dir).len(), 1);
    }
    ok(&[
        "bulletin",
        "recall",
        &id,
        "--reason",
        "wrong case",
        "--data-dir",
        nl.d(),
    ]);
    wait_until("the purge receipts", LONG, || {
        nl.outbox(de) == 0 && nl.outbox(ro) == 0
    });
    for receiver in [de, ro] {
        let left = liaison_tests::attachment_files(&receiver.dir);
        assert!(left.is_empty(), "{} kept {left:?}", receiver.agency);
    }
}

#[test]
fn officers_are_added_with_a_one_time_link_listed_and_removed_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nl");
    init(&dir, "NL-NP");
    let d = dir.to_str().unwrap();
    let added = ok(&[
        "officer",
        "add",
        "anna",
        "--role",
        "read,publish",
        "--data-dir",
        d,
    ]);
    assert!(
        added.contains("Added officer anna with roles publish,read"),
        "{added}"
    );
    // The desk is off: the link is a path on whatever address it will have.
    let link = added.lines().last().unwrap();
    assert!(link.starts_with("/enrol/") && link.len() > 40, "{added}");
    let listed = ok(&["officer", "list", "--data-dir", d]);
    assert!(
        listed.contains("anna") && listed.contains("not yet"),
        "{listed}"
    );
    let stored = std::fs::read_to_string(dir.join("desk/officers.json")).unwrap();
    assert!(
        !stored.contains(link.trim_start_matches("/enrol/")),
        "only the token's hash is kept"
    );
    let refused = fails(
        &[
            "officer",
            "add",
            "Anna Smith",
            "--role",
            "read",
            "--data-dir",
            d,
        ],
        1,
    );
    assert!(refused.contains("Anna Smith"), "{refused}");

    // A certificate to sign in with: the key owner-only, the listing shows it.
    let out = tmp.path().join("anna-cert");
    let o = out.to_str().unwrap();
    let issued = ok(&[
        "officer",
        "certificate",
        "anna",
        "--out",
        o,
        "--data-dir",
        d,
    ]);
    assert!(
        issued.contains("Issued officer anna a desk certificate")
            && issued.contains("openssl pkcs12 -export"),
        "{issued}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(out.join("officer.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    for file in ["officer.pem", "ca.pem"] {
        let pem = std::fs::read_to_string(out.join(file)).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{file}");
    }
    let listed = ok(&["officer", "list", "--json", "--data-dir", d]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let sha = listed[0]["certificate_sha256"].as_str().unwrap();
    assert!(issued.contains(sha), "{issued}");
    // Never over an earlier one; never for someone who is not an officer.
    let again = fails(
        &[
            "officer",
            "certificate",
            "anna",
            "--out",
            o,
            "--data-dir",
            d,
        ],
        1,
    );
    assert!(again.contains("already exists"), "{again}");
    let other = tmp.path().join("bob-cert");
    let nobody = fails(
        &[
            "officer",
            "certificate",
            "bob",
            "--out",
            other.to_str().unwrap(),
            "--data-dir",
            d,
        ],
        1,
    );
    assert!(nobody.contains("no officer named bob"), "{nobody}");
    assert!(
        !other.join("officer.key").exists(),
        "nothing written for nobody"
    );

    ok(&["officer", "remove", "anna", "--data-dir", d]);
    let gone = fails(&["officer", "remove", "anna", "--data-dir", d], 1);
    assert!(gone.contains("no officer named anna"), "{gone}");
}
