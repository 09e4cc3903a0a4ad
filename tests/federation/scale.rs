//! Bounded queues and prompt catch-up: a partner's full outbox refuses new bulletins
//! with `RESOURCE_EXHAUSTED` (never queued and dropped) and says so in `status`; a
//! partner back from an outage is delivered to at once, not when a backoff grown
//! during the outage runs out; lists page through the index newest first and by time.

use std::time::{Duration, Instant};

use liaison_node::edge::admin::{BulletinList, Status};
use liaison_proto::v1 as pb;
use liaison_tests::api::issue_client;
use liaison_tests::{LONG, federation, wait_until};
use tonic::Code;

use crate::client_api::{client, publish_request, runtime};

#[test]
fn a_full_outbox_refuses_new_bulletins_to_that_partner_and_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    let config = nodes[0].dir.join("liaison.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[outbox]\nmax_entries = 3\n")).unwrap();
    let publisher = issue_client(&nodes[0], "nl-case-system", "publish,read");
    // DE-BKA stays down; RO-DIICOT is up.
    nodes[0].start();
    nodes[2].start();
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    for i in 0..3 {
        a.send(&[b], &format!("queued {i}"));
    }
    assert_eq!(a.outbox(b), 3);

    runtime().block_on(async {
        let mut api = client(a, &publisher).await;
        let refused = api
            .publish(publish_request("full-1", "one too many", &[b, c]))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(
            refused
                .message()
                .contains("the outbox for DE-BKA is full (3 bulletins")
                && refused.message().contains("max_entries 3"),
            "{}",
            refused.message()
        );
        // Refused whole: nothing was queued for RO-DIICOT either, and the key is free.
        assert_eq!(a.outbox(c), 0);
        // Another partner's outbox is its own.
        let ok = api
            .publish(publish_request("to-ro", "not affected", &[c]))
            .await
            .unwrap()
            .into_inner();
        assert!(ok.outcomes[0].queued);
    });
    let status = a.admin(Status {});
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.starts_with("the outbox for DE-BKA is FULL (3 bulletins")),
        "{:?}",
        status.warnings
    );
    assert_eq!(
        status
            .partners
            .iter()
            .find(|p| p.agency == "DE-BKA")
            .unwrap()
            .outbox,
        3
    );

    // DE-BKA comes back: the queue drains and DE-BKA can be sent to again.
    nodes[1].start();
    let (a, b) = (&nodes[0], &nodes[1]);
    wait_until("the outbox to drain", LONG, || a.outbox(b) == 0);
    assert_eq!(b.inbox().len(), 3);
    a.send(&[b], "after the drain");
    wait_until("the new bulletin", LONG, || b.inbox().len() == 4);
    assert!(
        !a.admin(Status {})
            .warnings
            .iter()
            .any(|w| w.contains("outbox")),
        "the warning goes with the cause"
    );
}

#[test]
fn a_partner_back_from_an_outage_is_delivered_to_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    nodes[0].start();
    let id = nodes[0].send(&[&nodes[1]], "sent while DE-BKA is down");
    // Let the sender's backoff grow until its next attempt is far off.
    let a = &nodes[0];
    let b_agency = nodes[1].agency.clone();
    wait_until(
        "the backoff to grow past 3 s",
        Duration::from_secs(60),
        || {
            a.state()
                .delivery_error(&b_agency)
                .is_some_and(|f| f.next_attempt.0 - liaison_core::UnixMillis::now().0 > 3_000)
        },
    );
    let next_attempt = a.state().delivery_error(&b_agency).unwrap().next_attempt;
    let started = Instant::now();
    nodes[1].start();
    let (a, b) = (&nodes[0], &nodes[1]);
    wait_until("the catch-up", LONG, || a.outbox(b) == 0);
    let took = started.elapsed();
    let waited_for_timer = next_attempt.0 - liaison_core::UnixMillis::now().0;
    assert!(
        waited_for_timer > 0,
        "delivered {took:?} after the restart, but only after the retry timer ran out"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(b.inbox()[0].id, id.to_string());
}

#[test]
fn lists_page_newest_first_by_origin_and_by_time_from_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    for n in &mut nodes {
        n.start();
    }
    let reader = issue_client(&nodes[2], "ro-analyst", "read");
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let mut ids = Vec::new();
    for i in 0..6 {
        let from = if i % 2 == 0 { a } else { b };
        ids.push(from.send(&[c], &format!("bulletin {i}")).to_string());
        wait_until("delivery", LONG, || c.inbox().len() == i + 1);
        std::thread::sleep(Duration::from_millis(5));
    }
    // Newest first, limited, one origin.
    let newest = c.admin(BulletinList {
        origins: vec![b.agency.clone()],
        limit: Some(2),
        ..Default::default()
    });
    let got: Vec<&str> = newest.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(got, [ids[5].as_str(), ids[3].as_str()]);

    runtime().block_on(async {
        let mut api = client(c, &reader).await;
        let list = |filter: pb::Filter, after, newest_first| pb::ListRequest {
            direction: pb::Direction::In as i32,
            filter: Some(filter),
            after_cursor: after,
            limit: 2,
            newest_first,
            open_requests: false,
        };
        // Newest first, page by page, back to the oldest.
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            let page = api
                .list(list(pb::Filter::default(), cursor, true))
                .await
                .unwrap()
                .into_inner();
            seen.extend(page.bulletins.iter().map(|v| v.bulletin_id.clone()));
            if page.next_cursor == 0 {
                break;
            }
            cursor = page.next_cursor;
        }
        let mut expected = ids.clone();
        expected.reverse();
        assert_eq!(seen, expected);

        // A time range: from the third bulletin's arrival on.
        let views = api
            .list(list(pb::Filter::default(), 0, false))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(views.bulletins.len(), 2);
        let third = c.inbox()[2].log_seq;
        let since = c.state().log.get(third).unwrap().unwrap().time;
        let from_third = api
            .list(pb::ListRequest {
                limit: 100,
                ..list(
                    pb::Filter {
                        since_unix_ms: since.0,
                        ..Default::default()
                    },
                    0,
                    false,
                )
            })
            .await
            .unwrap()
            .into_inner();
        let got: Vec<String> = from_third
            .bulletins
            .iter()
            .map(|v| v.bulletin_id.clone())
            .collect();
        assert_eq!(got, ids[2..].to_vec());
        let backwards = api
            .list(list(
                pb::Filter {
                    since_unix_ms: 5,
                    until_unix_ms: 4,
                    ..Default::default()
                },
                0,
                false,
            ))
            .await
            .unwrap_err();
        assert_eq!(backwards.code(), Code::InvalidArgument);
        assert!(
            backwards.message().contains("filter.until_unix_ms"),
            "{}",
            backwards.message()
        );
    });
}
