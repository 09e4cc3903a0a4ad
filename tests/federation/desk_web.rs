//! The web desk in a real browser: Debian's Chromium driven by Selenium from Python
//! (tests/interop/desk_browser.py), against a node whose partners sent it ordinary and
//! hostile bulletins. The officer enrols through the link `officer add` gives, reads a
//! bulletin and its thread, follows a correlation link, acknowledges, sees the policy
//! preview refuse a partner, sends a bulletin with three entities and two attachments,
//! releases it to one partner through one holder for a week, recalls it and searches; compose forms the page would not send are refused by name and send
//! nothing; a bulletin full of script payloads renders inert.

use liaison_core::{Entity, Tlp};
use liaison_node::edge::admin::{BulletinSend, OfficerAdd, OfficerCertificate, OfficerList};
use liaison_node::node::journal::LogEvent;
use liaison_node::ops::bulletins::Recipients;
use liaison_node::ops::bulletins::views::{AttachmentUpload, SendRequest};
use liaison_node::trust::clients::Role;
use liaison_tests::interop::run_python;
use liaison_tests::{LONG, TestNode, allow_everything, federation, wait_until};
use serde_json::json;

fn request(to: &TestNode, tlp: Tlp, title: &str, body: &str) -> SendRequest {
    SendRequest::new(
        Recipients::Named(vec![to.agency.clone()]),
        "trafficking.persons".parse().unwrap(),
        tlp,
        title,
        body,
    )
}

/// Script in every field another agency controls.
const PAYLOAD: &str = "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">\
                       <svg onload=\"window.__xss=3\"></svg><a href=\"javascript:window.__xss=4\">x</a>\
                       <style>body{display:none}</style>";

#[test]
fn an_officer_works_the_desk_in_a_browser_and_hostile_bulletins_stay_inert() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    // NL-NP may send RO-DIICOT nothing above GREEN: the preview must say so.
    nodes[0].write_policy(&format!(
        "{}{}",
        allow_everything("DE-BKA"),
        allow_everything("RO-DIICOT").replace("max_send_tlp = \"red\"", "max_send_tlp = \"green\"")
    ));
    // DE-BKA and RO-DIICOT answer NL-NP's private queries on phones.
    let answers_nl = format!(
        "{}\nquery_kinds = [\"phone\"]\n\n",
        allow_everything("NL-NP").trim_end()
    );
    nodes[1].write_policy(&format!("{answers_nl}{}", allow_everything("RO-DIICOT")));
    nodes[2].write_policy(&format!("{answers_nl}{}", allow_everything("DE-BKA")));
    let port = nodes[0].enable_listener("desk");
    for n in &mut nodes {
        n.start();
    }
    let (nl, de, ro) = (&nodes[0], &nodes[1], &nodes[2]);

    // An ordinary bulletin with a phone, a reply in its thread, and RO-DIICOT's
    // bulletin on the same phone (a correlation link at NL-NP).
    let phone = Entity::Phone {
        number: "+40712345678".into(),
    };
    let mut first = request(
        nl,
        Tlp::Amber,
        "Recruiter active in Constanta",
        "He uses one phone.",
    );
    first.entities = vec![phone.clone()];
    let first = de.admin(BulletinSend(first)).id;
    let mut reply = request(nl, Tlp::Amber, "Same recruiter seen in Arad", "Follow-up.");
    reply.to = None;
    reply.reply_to = Some(first.parse().unwrap());
    let reply = de.admin(BulletinSend(reply)).id;
    let mut linked = request(nl, Tlp::Green, "Phone known to us", "Subscriber unknown.");
    linked.entities = vec![phone];
    let linked = ro.admin(BulletinSend(linked)).id;

    // A hostile partner's bulletin: script in the title, body, an entity and the
    // attachment's name and content.
    let mut hostile = request(nl, Tlp::Green, &format!("Hostile {PAYLOAD}"), PAYLOAD);
    hostile.entities = vec![Entity::Person {
        full_name: "Ion <img src=x onerror=window.__xss=5>".into(),
        date_of_birth: String::new(),
        nationality: String::new(),
        aliases: Vec::new(),
        identifiers: Vec::new(),
    }];
    hostile.attachments = vec![AttachmentUpload {
        file_name: "\"><img src=x onerror=window.__xss=6>.html".into(),
        media_type: "text/html".into(),
        data_base64: data_encoding::BASE64.encode(b"<script>window.__xss=7</script>"),
        staged: None,
    }];
    let hostile = de.admin(BulletinSend(hostile)).id;
    wait_until("four bulletins at NL-NP", LONG, || nl.inbox().len() == 4);

    let added = nl.admin(OfficerAdd {
        name: "anna".into(),
        roles: vec![Role::Read, Role::Publish],
    });
    assert!(
        added
            .enrolment_link
            .starts_with(&format!("https://127.0.0.1:{port}/enrol/")),
        "{}",
        added.enrolment_link
    );

    let reader = nl.admin(OfficerAdd {
        name: "rita".into(),
        roles: vec![Role::Read],
    });

    let admin = nl.admin(OfficerAdd {
        name: "alex".into(),
        roles: vec![Role::Admin],
    });
    let screenshots = std::env::var("LIAISON_DESK_SCREENSHOTS").unwrap_or_default();
    let expect = json!({
        "base": format!("https://127.0.0.1:{port}"),
        "ca": nl.dir.join("tls/ca.pem"),
        "enrol": added.enrolment_link,
        "reader_enrol": reader.enrolment_link,
        "admin_enrol": admin.enrolment_link,
        "first": first,
        "reply": reply,
        "linked": linked,
        "hostile": hostile,
        "screenshots": screenshots,
    });
    let out = run_python("desk_browser.py", [expect.to_string()]);
    eprintln!("desk_browser.py: {out}");

    // What the officer sent reached DE-BKA (its receipt was on the page) and her recall
    // erased it there.
    wait_until(
        "the desk's recall to erase the bulletin at DE-BKA",
        LONG,
        || !de.inbox().iter().any(|b| b.title == "Sent from the desk"),
    );
    // The compose forms the desk refused sent nothing, and only the one send is recorded.
    assert!(
        !de.inbox().iter().any(|b| b.title == "Refused at the desk"),
        "a refused compose form sent a bulletin"
    );
    let events = nl.events();
    let sends = events
        .iter()
        .filter(|e| matches!(e, LogEvent::OfficerAction { action, .. } if action == "sent"))
        .count();
    assert_eq!(sends, 1, "one bulletin sent from the desk");
    let by_anna = |door: &str| {
        events.iter().any(|e| {
            matches!(e, LogEvent::Consulted { reader, door: d, .. }
                if reader == "officer anna" && d == door)
        })
    };
    assert!(by_anna("desk bulletin"), "reads are logged");
    assert!(by_anna("desk search"), "search results are logged as reads");
    // One release, the one the form sent: DE-BKA may pass it to RO-DIICOT.
    let grants: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            LogEvent::ReleaseGranted { holders, to, .. } => Some((holders.clone(), to.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        grants,
        [(vec![de.agency.clone()], vec![nodes[2].agency.clone()])],
        "{grants:?}"
    );
    for done in ["sent", "released", "recalled"] {
        assert!(
            events.iter().any(|e| matches!(e,
                LogEvent::OfficerAction { officer, action, .. } if officer == "anna" && action == done)),
            "{done}"
        );
    }
    assert!(
        !events.iter().any(|e| matches!(e,
            LogEvent::OfficerAction { action, .. } if action == "forwarded")),
        "the refused forward is not recorded as done"
    );
    assert!(events.iter().any(|e| matches!(e,
        LogEvent::OfficerEnrolled { officer } if officer == "anna")));
    assert!(events.iter().any(|e| matches!(e,
        LogEvent::OfficerSignedIn { officer, certificate_sha256: None } if officer == "anna")));
    // The cross-origin acknowledgement changed nothing: only anna's is there.
    let acks = nl.show(first.parse().unwrap()).acknowledgements;
    assert!(acks.iter().all(|a| a.by != "officer rita"), "{acks:?}");
    assert!(
        nl.show(first.parse().unwrap())
            .acknowledgements
            .iter()
            .any(|a| a.by == "officer anna"),
        "the acknowledgement is hers"
    );
}

/// NL-NP and DE-BKA under `dir`, running, NL-NP with its desk on: the nodes and the
/// desk's port.
fn two_nodes_with_a_desk(dir: &std::path::Path) -> (Vec<TestNode>, u16) {
    let mut nodes = federation(dir, &["NL-NP", "DE-BKA"]);
    let port = nodes[0].enable_listener("desk");
    for n in &mut nodes {
        n.start();
    }
    (nodes, port)
}

/// An inbox of more bulletins than a page shows: the officer pages back through all of
/// them, newest first, each once, with the TLP filter kept on older pages.
#[test]
fn the_desk_inbox_pages_back_through_every_bulletin() {
    let tmp = tempfile::tempdir().unwrap();
    let (nodes, port) = two_nodes_with_a_desk(tmp.path());
    let (nl, de) = (&nodes[0], &nodes[1]);
    // 205 AMBER+STRICT and 25 GREEN: two pages (the desk shows 200) either way.
    let (mut titles, mut strict) = (Vec::new(), Vec::new());
    for i in 0..230 {
        let title = format!("Bulletin {i}");
        let tlp = if i % 9 == 4 && i < 225 {
            Tlp::Green
        } else {
            Tlp::AmberStrict
        };
        de.admin(BulletinSend(request(nl, tlp, &title, "paging")));
        if tlp == Tlp::AmberStrict {
            strict.push(title.clone());
        }
        titles.push(title);
    }
    assert_eq!((strict.len(), titles.len()), (205, 230));
    wait_until("230 bulletins at NL-NP", LONG, || nl.inbox().len() == 230);
    let officer = nl.admin(OfficerAdd {
        name: "pia".into(),
        roles: vec![Role::Read],
    });
    let expect = json!({
        "base": format!("https://127.0.0.1:{port}"),
        "ca": nl.dir.join("tls/ca.pem"),
        "enrol": officer.enrolment_link,
        "titles": titles,
        "strict": strict,
        "page": 200,
    });
    let out = run_python("desk_pages.py", [expect.to_string()]);
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["shown"], 230, "{out}");
    assert_eq!(summary["strict"], 205, "{out}");
}

/// Writes an issued certificate and key to `dir`; their paths.
fn write_identity(dir: &std::path::Path, cert: &str, key: &str) -> [std::path::PathBuf; 2] {
    std::fs::create_dir_all(dir).unwrap();
    let paths = [dir.join("cert.pem"), dir.join("key.pem")];
    std::fs::write(&paths[0], cert).unwrap();
    std::fs::write(&paths[1], key).unwrap();
    paths
}

/// An officer signs in with the client certificate `officer certificate` issued; no
/// certificate, another agency's, or one of the agency's systems' does not sign in,
/// and says why; a session signed in by certificate ends when its cookie turns up on
/// a connection without the certificate, or when the certificate is replaced.
#[test]
fn an_officer_signs_in_with_a_client_certificate_and_only_that_certificate_keeps_the_session() {
    let tmp = tempfile::tempdir().unwrap();
    let (nodes, port) = two_nodes_with_a_desk(tmp.path());
    let (nl, de) = (&nodes[0], &nodes[1]);
    for (node, name) in [(nl, "bea"), (de, "dirk")] {
        node.admin(OfficerAdd {
            name: name.into(),
            roles: vec![Role::Read],
        });
    }
    let first = nl.admin(OfficerCertificate { name: "bea".into() });
    let officer = write_identity(
        &tmp.path().join("bea-1"),
        &first.certificate_pem,
        &first.private_key_pem,
    );
    let foreign = de.admin(OfficerCertificate {
        name: "dirk".into(),
    });
    let foreign = write_identity(
        &tmp.path().join("dirk"),
        &foreign.certificate_pem,
        &foreign.private_key_pem,
    );
    let system = liaison_tests::api::issue_client(nl, "case-system", "read");
    let mut expect = json!({
        "phase": 1,
        "base": format!("https://127.0.0.1:{port}"),
        "ca": nl.dir.join("tls/ca.pem"),
        "officer": officer,
        "client": [system.join("client.pem"), system.join("client.key")],
        "foreign": foreign,
    });
    let out = run_python("desk_certificate.py", [expect.to_string()]);
    let phase_one: serde_json::Value = serde_json::from_str(out.trim()).unwrap();

    let second = nl.admin(OfficerCertificate { name: "bea".into() });
    assert_ne!(second.certificate_sha256, first.certificate_sha256);
    expect["phase"] = json!(2);
    expect["replaced"] = json!(officer);
    expect["officer"] = json!(write_identity(
        &tmp.path().join("bea-2"),
        &second.certificate_pem,
        &second.private_key_pem,
    ));
    expect["cookie"] = phase_one["cookie"].clone();
    run_python("desk_certificate.py", [expect.to_string()]);

    // The log says which certificate each sign-in used, and when each was issued.
    let events = nl.events();
    let signed_in_with = |sha: &str| {
        events
            .iter()
            .filter(|e| {
                matches!(e, LogEvent::OfficerSignedIn { officer, certificate_sha256: Some(c) }
                if officer == "bea" && c == sha)
            })
            .count()
    };
    assert_eq!(signed_in_with(&first.certificate_sha256), 2);
    assert_eq!(signed_in_with(&second.certificate_sha256), 1);
    let issued: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            LogEvent::OfficerCertificateIssued {
                officer,
                certificate_sha256,
                ..
            } if officer == "bea" => Some(certificate_sha256.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        issued,
        [
            first.certificate_sha256.as_str(),
            second.certificate_sha256.as_str()
        ]
    );
    // An officer's certificate is no key to the client API: it is not registered there.
    let api_refused = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let identity = (
            second.certificate_pem.as_str(),
            second.private_key_pem.as_str(),
        );
        match liaison_tests::api::api_channel(nl, Some(identity)).await {
            Err(_) => true,
            Ok(channel) => liaison_proto::v1::client_client::ClientClient::new(channel)
                .search(liaison_proto::v1::SearchRequest::default())
                .await
                .is_err(),
        }
    });
    assert!(api_refused, "the client API took an officer's certificate");
    let listed = nl.admin(OfficerList {});
    assert_eq!(
        listed[0].certificate_sha256.as_deref(),
        Some(second.certificate_sha256.as_str())
    );
}

/// The desk on a full disk (a real tmpfs; root only): a read, a sign-in and a send that
/// cannot be recorded in the log do not happen and say so; with room again they work,
/// without a restart.
#[test]
fn on_a_full_disk_the_desk_shows_or_does_nothing_it_cannot_record() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = liaison_tests::disk::Tmpfs::mount(&tmp.path().join("fs"), "24m") else {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)");
        return;
    };
    let (nodes, port) = two_nodes_with_a_desk(&fs.0);
    let (nl, de) = (&nodes[0], &nodes[1]);
    let title = "Held before the disk filled";
    let held = de.send(&[nl], title);
    wait_until("the bulletin at NL-NP", LONG, || nl.inbox().len() == 1);
    let officer = nl.admin(OfficerAdd {
        name: "fay".into(),
        roles: vec![Role::Read, Role::Publish],
    });
    let mut expect = json!({
        "step": "sign-in",
        "base": format!("https://127.0.0.1:{port}"),
        "ca": nl.dir.join("tls/ca.pem"),
        "enrol": officer.enrolment_link,
        "bulletin": held.to_string(),
        "title": title,
    });
    let signed_in: serde_json::Value =
        serde_json::from_str(run_python("desk_full_disk.py", [expect.to_string()]).trim()).unwrap();
    expect["cookie"] = signed_in["cookie"].clone();

    // The disk fills: writes go on until the log refuses one (sled may still have room
    // in files it already holds).
    // (The log is counted before: while it reopens on a full disk, a read of it can fail.)
    let consulted_before = nl.events().len();
    let filler = liaison_tests::disk::fill(&fs.0);
    let refused = (0..2000).any(|i| nl.try_send(&[de], &format!("filling {i}")).is_err());
    assert!(refused, "a send on a full disk was refused");
    expect["step"] = json!("full");
    run_python("desk_full_disk.py", [expect.to_string()]);

    // Room again: the same session reads the bulletin, and a sign-in works.
    std::fs::remove_file(&filler).unwrap();
    wait_until("NL-NP's log to write again", LONG, || {
        nl.try_admin(liaison_node::edge::admin::Status {})
            .is_ok_and(|status| status.storage_failing.is_none())
    });
    expect["step"] = json!("room");
    run_python("desk_full_disk.py", [expect.to_string()]);
    // Of everything the desk tried on the full disk, nothing reached the log; what came
    // after did.
    let events = nl.events();
    let after = &events[consulted_before.min(events.len())..];
    assert!(
        after
            .iter()
            .any(|e| matches!(e, LogEvent::Consulted { reader, .. } if reader == "officer fay")),
        "the read with room is recorded"
    );
    assert_eq!(
        after
            .iter()
            .filter(|e| matches!(e, LogEvent::OfficerSignedIn { officer, .. } if officer == "fay"))
            .count(),
        1,
        "only the sign-in with room is recorded"
    );
}
