//! The web desk in a real browser: Debian's Chromium driven by Selenium from Python
//! (tests/interop/desk_browser.py), against a node whose partners sent it ordinary and
//! hostile bulletins. The officer enrols through the link `officer add` gives, reads a
//! bulletin and its thread, follows a correlation link, acknowledges, sees the policy
//! preview refuse a partner, sends a bulletin with three entities and two attachments
//! and searches; compose forms the page would not send are refused by name and send
//! nothing; a bulletin full of script payloads renders inert.

use liaison_core::{Entity, Tlp};
use liaison_node::edge::admin::{BulletinSend, OfficerAdd};
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
    for done in ["sent", "recalled"] {
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
        LogEvent::OfficerSignedIn { officer } if officer == "anna")));
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

/// An inbox of more bulletins than a page shows: the officer pages back through all of
/// them, newest first, each once, with the TLP filter kept on older pages.
#[test]
fn the_desk_inbox_pages_back_through_every_bulletin() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let port = nodes[0].enable_listener("desk");
    for n in &mut nodes {
        n.start();
    }
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
