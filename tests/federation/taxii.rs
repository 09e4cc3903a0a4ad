//! The read-only TAXII 2.1 server, read by OASIS's taxii2-client and plain HTTPS from
//! Python (tests/interop/taxii_read.py), and its paging checked from inside: every
//! page size gives back exactly the whole collection.

use liaison_core::Entity;
use liaison_node::edge::admin::{BulletinRecall, StixExport};
use liaison_node::node::journal::LogEvent;
use liaison_node::ops::taxii::{self, ObjectQuery};
use liaison_tests::api::issue_client;
use liaison_tests::interop::run_python;
use liaison_tests::{LONG, TestNode, federation, wait_until};
use serde_json::json;

/// The STIX report id of bulletin `id` as `node` exports it.
fn report_id(node: &TestNode, id: liaison_core::BulletinId) -> String {
    let bundle = node.admin(StixExport {
        since: None,
        id: Some(id),
    });
    bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type"] == "report")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn taxii2_client_reads_collections_in_pages_and_errors_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    let port = nodes[1].enable_listener("taxii");
    for n in &mut nodes {
        n.start();
    }
    let (nl, de, ro) = (&nodes[0], &nodes[1], &nodes[2]);
    let first = nl.send_entities(
        de,
        "Van seen at the border",
        "A white van, Romanian plates.",
        vec![Entity::Phone {
            number: "+40712345678".into(),
        }],
    );
    // The next bulletins enter DE-BKA's log in later milliseconds than the first.
    std::thread::sleep(std::time::Duration::from_millis(5));
    for i in 0..4 {
        nl.send(&[de], &format!("NL bulletin {i}"));
    }
    for i in 0..2 {
        ro.send(&[de], &format!("RO bulletin {i}"));
    }
    wait_until("delivery", LONG, || {
        nl.outbox(de) == 0 && ro.outbox(de) == 0 && de.inbox().len() == 7
    });
    let analyst = issue_client(de, "analyst", "read");
    let publisher = issue_client(de, "publisher", "publish");

    let expect = json!({
        "reports": 7,
        "first_report": report_id(de, first),
        "from_ro": 2,
        "per_page": 7,
    });
    let out = run_python(
        "taxii_read.py",
        [
            format!("https://localhost:{port}").into(),
            analyst.join("ca.pem").into_os_string(),
            analyst.join("client.pem").into_os_string(),
            analyst.join("client.key").into_os_string(),
            publisher.join("client.pem").into_os_string(),
            publisher.join("client.key").into_os_string(),
            std::ffi::OsString::from(expect.to_string()),
        ],
    );
    let summary: serde_json::Value = serde_json::from_str(&out).unwrap();
    eprintln!("taxii_read.py: {summary}");
    assert!(summary["pages"].as_u64().unwrap() >= 3, "{summary}");

    // Every bulletin served is on record as read by the analyst through TAXII.
    let read: std::collections::HashSet<_> = de
        .events()
        .into_iter()
        .filter_map(|e| match e {
            LogEvent::Consulted {
                reader,
                door,
                bulletins,
            } if reader == "analyst" && door == "taxii" => Some(bulletins),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(read.len(), 7, "every bulletin read is logged");
    assert!(read.contains(&first));
}

#[test]
fn pages_of_every_size_give_the_whole_collection_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let (nl, de) = (&nodes[0], &nodes[1]);
    for i in 0..5 {
        nl.send_entities(
            de,
            &format!("bulletin {i}"),
            "A number used by the network.",
            vec![Entity::Phone {
                number: format!("+4071234567{i}"),
            }],
        );
    }
    wait_until("delivery", LONG, || de.inbox().len() == 5);
    let state = de.state();
    let received = taxii::collection(&state, "received").unwrap();
    assert_eq!(
        taxii::collection(&state, &received.id).unwrap(),
        received,
        "a collection is found by id as by alias"
    );
    let read =
        |query: &ObjectQuery| taxii::objects(&state, &received, query, "test", "taxii").unwrap();
    let whole = read(&ObjectQuery {
        limit: 1000,
        ..Default::default()
    });
    assert!(whole.next.is_none());
    let reports: Vec<_> = whole
        .objects
        .iter()
        .filter(|o| o.object["type"] == "report")
        .map(|o| o.id().to_owned())
        .collect();
    assert_eq!(reports.len(), 5);

    for limit in 1..=12 {
        let mut query = ObjectQuery {
            limit,
            ..Default::default()
        };
        let (mut pages, mut seen_reports) = (0, Vec::new());
        loop {
            let page = read(&query);
            pages += 1;
            assert!(page.objects.len() <= limit, "limit {limit}");
            seen_reports.extend(
                page.objects
                    .iter()
                    .filter(|o| o.object["type"] == "report")
                    .map(|o| o.id().to_owned()),
            );
            match page.next {
                Some(next) => {
                    assert_eq!(page.objects.len(), limit, "a page with more is full");
                    query.next = Some(next);
                }
                None => break,
            }
            assert!(pages < 200, "paging does not end at limit {limit}");
        }
        assert_eq!(
            seen_reports, reports,
            "limit {limit}: every report once, in order"
        );
    }

    // A page ends inside the second bulletin; its originator recalls it before the
    // next page is read: the next page goes on from the third, losing nothing after.
    let ids: Vec<_> = nl
        .outbound()
        .iter()
        .map(|b| b.id.parse().unwrap())
        .collect();
    let inside_second = whole
        .objects
        .iter()
        .position(|o| o.id() == reports[1])
        .unwrap();
    let page = read(&ObjectQuery {
        limit: inside_second,
        ..Default::default()
    });
    let next = page.next.unwrap();
    nl.admin(BulletinRecall {
        id: ids[1],
        reason: "sent in error".into(),
    });
    wait_until("the recall", LONG, || de.inbox().len() == 4);
    let rest = read(&ObjectQuery {
        limit: 1000,
        next: Some(next),
        ..Default::default()
    });
    let rest_reports: Vec<_> = rest
        .objects
        .iter()
        .filter(|o| o.object["type"] == "report")
        .map(|o| o.id().to_owned())
        .collect();
    assert_eq!(
        rest_reports,
        reports[2..],
        "past the recalled bulletin, all the rest"
    );
}
