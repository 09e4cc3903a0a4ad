//! Connections between bulletins (#15, first part): the same phone number written two
//! ways in two agencies' bulletins is found by search and linked automatically at the
//! agency that holds both; the index holds no selector in the clear; a recall takes
//! the bulletin out of search and links.

use liaison_core::{BulletinId, Entity, Tlp};
use liaison_node::edge::admin::{BulletinRecall, Links, Search};
use liaison_node::ops::connections::SearchFilter;
use liaison_tests::{LONG, TestNode, federation, wait_until};

fn send_with(from: &TestNode, to: &TestNode, title: &str, entities: Vec<Entity>) -> BulletinId {
    from.send_entities(to, title, "see the entities", entities)
}

fn phone(number: &str) -> Entity {
    Entity::Phone {
        number: number.into(),
    }
}

/// The ids a search finds.
fn ids(node: &TestNode, search: Search) -> Vec<String> {
    node.admin(search).into_iter().map(|b| b.id).collect()
}

fn search(node: &TestNode, kind: &str, value: &str) -> Vec<String> {
    ids(
        node,
        Search {
            selectors: vec![(kind.into(), value.into())],
            ..Default::default()
        },
    )
}

#[test]
fn a_phone_in_two_agencies_bulletins_is_found_and_linked_where_both_are_held() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    let desk = liaison_tests::api::issue_client(&nodes[0], "nl-desk", "read");
    for n in &mut nodes {
        n.start();
    }
    let (nl, de, ro) = (&nodes[0], &nodes[1], &nodes[2]);
    let recruiter = send_with(
        ro,
        nl,
        "Recruiter in Constanta",
        vec![phone("+40 712 345 678"), phone("+40 799 000 111")],
    );
    let driver = send_with(
        de,
        nl,
        "Driver's contact",
        vec![
            phone("0040712345678"),
            Entity::Person {
                full_name: "Ștefan POPESCU".into(),
                date_of_birth: String::new(),
                nationality: String::new(),
                aliases: vec![],
                identifiers: vec![],
            },
        ],
    );
    let unrelated = send_with(de, nl, "Unrelated", vec![phone("+49 30 901820")]);

    // Search at NL-NP, which holds both: the number in any spelling finds both.
    for spelling in ["+40712345678", "0040 712 345 678", "+40 (712) 345-678"] {
        let found = search(nl, "phone", spelling);
        assert_eq!(
            found,
            [driver.to_string(), recruiter.to_string()],
            "{spelling}"
        );
    }
    // Names fold for case and diacritics; all selectors must match.
    assert_eq!(search(nl, "person", "stefan popescu"), [driver.to_string()]);
    let both = nl.admin(Search {
        selectors: vec![
            ("phone".into(), "+40712345678".into()),
            ("person".into(), "Stefan Popescu".into()),
        ],
        filter: Default::default(),
        page: Default::default(),
        ..Default::default()
    });
    assert_eq!(both.len(), 1);
    assert!(search(nl, "phone", "+40 700 000 000").is_empty());
    // Filters: origin, category prefix, TLP, time.
    let filtered = |filter: SearchFilter| -> Vec<String> {
        nl.admin(Search {
            selectors: vec![("phone".into(), "+40712345678".into())],
            filter,
            page: Default::default(),
            ..Default::default()
        })
        .into_iter()
        .map(|b| b.id)
        .collect()
    };
    assert_eq!(
        filtered(SearchFilter {
            origin: Some("DE-BKA".parse().unwrap()),
            ..SearchFilter::default()
        }),
        [driver.to_string()]
    );
    assert_eq!(
        filtered(SearchFilter {
            category: Some("trafficking".into()),
            tlp: Some(Tlp::Amber),
            ..SearchFilter::default()
        })
        .len(),
        2
    );
    assert!(
        filtered(SearchFilter {
            category: Some("traffic".into()),
            ..SearchFilter::default()
        })
        .is_empty(),
        "a prefix is whole segments"
    );
    assert!(
        filtered(SearchFilter {
            tlp: Some(Tlp::Red),
            ..SearchFilter::default()
        })
        .is_empty()
    );
    let now = liaison_core::UnixMillis::now();
    assert!(
        filtered(SearchFilter {
            since: Some(liaison_core::UnixMillis(now.0 + 60_000)),
            ..SearchFilter::default()
        })
        .is_empty()
    );
    assert_eq!(
        filtered(SearchFilter {
            since: Some(liaison_core::UnixMillis(now.0 - 3_600_000)),
            until: Some(liaison_core::UnixMillis(now.0 + 60_000)),
            ..SearchFilter::default()
        })
        .len(),
        2
    );
    // Handling and thread bounds; order and paging.
    assert!(
        filtered(SearchFilter {
            handling: Some("H2".parse().unwrap()),
            ..SearchFilter::default()
        })
        .is_empty()
    );
    assert_eq!(
        filtered(SearchFilter {
            thread: Some(driver),
            ..SearchFilter::default()
        }),
        [driver.to_string()]
    );
    let paged = |page: liaison_node::ops::connections::SearchPage| -> Vec<String> {
        nl.admin(Search {
            selectors: vec![("phone".into(), "+40712345678".into())],
            filter: Default::default(),
            page,
            ..Default::default()
        })
        .into_iter()
        .map(|b| b.id)
        .collect()
    };
    use liaison_node::ops::connections::SearchPage;
    let first = SearchPage {
        limit: Some(1),
        ..SearchPage::default()
    };
    assert_eq!(paged(first.clone()), [driver.to_string()]);
    assert_eq!(
        paged(SearchPage { offset: 1, ..first }),
        [recruiter.to_string()]
    );
    assert_eq!(
        paged(SearchPage {
            oldest_first: true,
            ..SearchPage::default()
        }),
        [recruiter.to_string(), driver.to_string()]
    );
    // A bad selector is refused, naming it.
    let refused = nl
        .try_admin(Search {
            selectors: vec![("phone".into(), "0712 345 678".into())],
            filter: Default::default(),
            page: Default::default(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(refused.to_string().contains("country code"), "{refused}");

    // The link appeared by itself, both ways, naming the shared number.
    let shown = nl.show(driver);
    assert_eq!(shown.links.len(), 1, "{:?}", shown.links);
    assert_eq!(shown.links[0].selector, "phone:+40712345678");
    assert_eq!(shown.links[0].bulletin, recruiter.to_string());
    assert_eq!(shown.links[0].origin, "RO-DIICOT");
    assert_eq!(nl.show(recruiter).links[0].bulletin, driver.to_string());
    assert!(nl.show(unrelated).links.is_empty());
    // ...and was recorded in the log when the second bulletin arrived.
    let events = nl.admin(liaison_node::edge::admin::LogExport {
        since: 1,
        limit: 10_000,
        with_bytes: false,
        reads: false,
    });
    let text = serde_json::to_string(&events).unwrap();
    assert!(
        text.contains("correlated") && text.contains(&recruiter.to_string()),
        "{text}"
    );
    // `liaison links`: the pair once, on the shared number; none on the name.
    let pairs = nl.admin(Links {
        since: None,
        entity: None,
    });
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    assert_eq!(pairs[0].selector, "phone:+40712345678");
    let mut ends = [pairs[0].bulletin.clone(), pairs[0].linked.bulletin.clone()];
    ends.sort();
    let mut expected = [driver.to_string(), recruiter.to_string()];
    expected.sort();
    assert_eq!(ends, expected);
    let on_number = nl.admin(Links {
        since: None,
        entity: Some(("phone".into(), "0040 712 345 678".into())),
    });
    assert_eq!(on_number.len(), 1);
    assert!(
        nl.admin(Links {
            since: None,
            entity: Some(("person".into(), "Stefan Popescu".into())),
        })
        .is_empty()
    );
    // The client API: Get names the link; Search finds both.
    let (cert, key) = liaison_tests::api::client_identity(&desk);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use liaison_proto::v1 as pb;
        let channel = liaison_tests::api::api_channel(nl, Some((&cert, &key)))
            .await
            .unwrap();
        let mut api = pb::client_client::ClientClient::new(channel);
        let got = api
            .get(pb::GetRequest {
                bulletin_id: driver.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.links.len(), 1, "{got:?}");
        assert_eq!(got.links[0].selector, "phone:+40712345678");
        assert_eq!(got.links[0].bulletin_id, recruiter.to_string());
        assert_eq!(
            got.links[0].tlp,
            liaison_proto::format::v1::Tlp::Amber as i32
        );
        assert!(got.links[0].created_unix_ms > 0);
        let found = api
            .search(pb::SearchRequest {
                selectors: vec![pb::Selector {
                    kind: "phone".into(),
                    value: "0040712345678".into(),
                }],
                origin: "RO-DIICOT".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(found.bulletins.len(), 1);
        assert_eq!(found.bulletins[0].bulletin_id, recruiter.to_string());
        // A subscriber hears of the link: after the driver's bulletin itself, the same
        // bulletin again, at the `correlated` event's cursor, with its links.
        let mut feed = api
            .subscribe(pb::SubscribeRequest {
                after_cursor: 0,
                filter: None,
                links: true,
            })
            .await
            .unwrap()
            .into_inner();
        let mut seen = Vec::new();
        while seen.len() < 4 {
            let view = tokio::time::timeout(LONG, feed.message())
                .await
                .expect("the feed goes on")
                .unwrap()
                .expect("the feed is open");
            seen.push((view.bulletin_id.clone(), view.cursor, view.links.len()));
        }
        let plain: Vec<_> = seen.iter().filter(|(_, _, links)| *links == 0).collect();
        let linked: Vec<_> = seen.iter().filter(|(_, _, links)| *links > 0).collect();
        assert_eq!(linked.len(), 1, "{seen:?}");
        assert_eq!(linked[0].0, driver.to_string(), "{seen:?}");
        let driver_first = plain.iter().find(|(id, _, _)| *id == driver.to_string());
        assert!(
            driver_first.is_some_and(|(_, cursor, _)| *cursor < linked[0].1),
            "the link comes after the bulletin that brought it: {seen:?}"
        );
    });

    // Neither sender holds both: no link there.
    assert!(ro.show(recruiter).links.is_empty());

    // No selector in the clear in NL-NP's files: the index holds keyed tags.
    for needle in ["40712345678", "stefan popescu"] {
        let found = liaison_tests::files_containing(&nl.dir, needle.as_bytes());
        assert!(found.is_empty(), "{needle} in {found:?}");
    }

    // Recalled: gone from search and from the links.
    ro.admin(BulletinRecall {
        id: recruiter,
        reason: "wrong number".into(),
    });
    wait_until("the purge receipt", LONG, || ro.outbox(nl) == 0);
    assert_eq!(search(nl, "phone", "+40712345678"), [driver.to_string()]);
    assert!(nl.show(driver).links.is_empty());
}

fn text_search(node: &TestNode, text: Option<&str>, fuzzy: Option<&str>) -> Vec<String> {
    ids(
        node,
        Search {
            text: text.map(str::to_owned),
            fuzzy_person: fuzzy.map(str::to_owned),
            ..Default::default()
        },
    )
}

#[test]
fn words_in_titles_and_bodies_are_found_by_relevance_and_names_within_one_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    let desk = liaison_tests::api::issue_client(&nodes[0], "nl-desk", "read");
    for n in &mut nodes {
        n.start();
    }
    let (nl, de, ro) = (&nodes[0], &nodes[1], &nodes[2]);
    let person = |name: &str| Entity::Person {
        full_name: name.into(),
        date_of_birth: String::new(),
        nationality: String::new(),
        aliases: vec![],
        identifiers: vec![],
    };
    let send = |from: &TestNode, title: &str, body: &str, entities: Vec<Entity>| {
        from.send_entities(nl, title, body, entities)
    };
    let recruiter = send(
        ro,
        "Recruiter in Constanța",
        "Meets the victims at Gara de Nord before the bus leaves.",
        vec![person("Ștefan Popescu")],
    );
    let driver = send(
        de,
        "Driver's contact",
        "Drives the Constanta route weekly; pickups at the station.",
        vec![person("Jan Kowalski")],
    );
    let _unrelated = send(de, "Unrelated", "A stolen car in Bremen.", vec![]);

    // Words fold like names (Constanța is constanta); the title weighs more.
    assert_eq!(
        text_search(nl, Some("CONSTANTA"), None),
        [recruiter.to_string(), driver.to_string()]
    );
    assert_eq!(
        text_search(nl, Some("gara nord"), None),
        [recruiter.to_string()],
        "every word must appear"
    );
    assert!(text_search(nl, Some("gara bremen"), None).is_empty());
    // Newest first on request.
    let by_time = nl.admin(Search {
        text: Some("constanta".into()),
        page: liaison_node::ops::connections::SearchPage {
            by_time: true,
            ..Default::default()
        },
        ..Default::default()
    });
    assert_eq!(by_time[0].id, driver.to_string());
    // Pages of a ranked search.
    let page = |offset: usize| -> Vec<String> {
        nl.admin(Search {
            text: Some("constanta".into()),
            page: liaison_node::ops::connections::SearchPage {
                offset,
                limit: Some(1),
                ..Default::default()
            },
            ..Default::default()
        })
        .into_iter()
        .map(|b| b.id)
        .collect()
    };
    assert_eq!(page(0), [recruiter.to_string()]);
    assert_eq!(page(1), [driver.to_string()]);
    assert!(page(2).is_empty());
    // A name one edit off per word finds the person; the exact selector does not.
    assert_eq!(
        text_search(nl, None, Some("Stefan Popesku")),
        [recruiter.to_string()]
    );
    assert_eq!(
        text_search(nl, None, Some("stephan popescu")),
        Vec::<String>::new(),
        "two edits away in one word is not a match"
    );
    assert!(search(nl, "person", "Stefan Popesku").is_empty());
    // Words and a selector together: both must hold.
    let both = nl.admin(Search {
        selectors: vec![("person".into(), "stefan popescu".into())],
        text: Some("constanta".into()),
        ..Default::default()
    });
    assert_eq!(both.len(), 1);
    // Nothing to look for is refused by name.
    let refused = nl.try_admin(Search::default()).unwrap_err();
    assert!(refused.to_string().contains("--text"), "{refused}");

    // The index holds no word of a bulletin.
    let index_dir = std::path::Path::new(nl.d()).join("search");
    assert!(index_dir.is_dir());
    for word in [
        &b"constanta"[..],
        b"Constan",
        b"gara",
        b"popescu",
        b"kowalski",
    ] {
        assert_eq!(
            liaison_tests::files_containing(&index_dir, word),
            Vec::<std::path::PathBuf>::new()
        );
    }

    // The client API: SearchRequest.text.
    let (cert, key) = liaison_tests::api::client_identity(&desk);
    let found = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use liaison_proto::v1 as pb;
        let channel = liaison_tests::api::api_channel(nl, Some((&cert, &key)))
            .await
            .unwrap();
        let mut api = pb::client_client::ClientClient::new(channel);
        api.search(pb::SearchRequest {
            text: "victims bus".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
    });
    assert_eq!(found.bulletins.len(), 1);
    assert_eq!(found.bulletins[0].bulletin_id, recruiter.to_string());

    // RO-DIICOT recalls its bulletin: it leaves NL-NP's search, and its own.
    ro.admin(BulletinRecall {
        id: recruiter,
        reason: "withdrawn".into(),
    });
    wait_until("the recall", LONG, || {
        text_search(nl, Some("constanta"), None) == [driver.to_string()]
    });
    assert!(text_search(ro, Some("constanta"), None).is_empty());
    assert!(search(ro, "person", "Stefan Popescu").is_empty());
}

#[test]
fn a_full_text_index_newer_than_its_restored_log_is_rebuilt_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let kept = send_with(&nodes[1], &nodes[0], "Harbour watch in Rotterdam", vec![]);
    nodes[0].stop();
    let backup = tmp.path().join("nl-backup");
    nodes[0].back_up(&backup);
    nodes[0].start();
    let lost = send_with(&nodes[1], &nodes[0], "Harbour pickup in Antwerp", vec![]);
    // More entries after the backup, so that the old index runs well past the
    // restored log's head.
    for n in 0..15 {
        send_with(&nodes[1], &nodes[0], &format!("Filler {n}"), vec![]);
    }
    let mut both = text_search(&nodes[0], Some("harbour"), None);
    both.sort();
    assert_eq!(both, [kept.to_string(), lost.to_string()]);
    // Only the log comes back from the backup; the index stays as it was, ahead of it.
    // (DE-BKA is stopped, or it would find NL-NP restored and deliver the lost bulletin
    // again.)
    nodes[1].stop();
    nodes[0].stop();
    let log_dir = std::path::Path::new(nodes[0].d()).join("log");
    std::fs::remove_dir_all(&log_dir).unwrap();
    liaison_tests::copy_dir(&backup.join("log"), &log_dir);
    nodes[0].start();
    assert_eq!(
        text_search(&nodes[0], Some("harbour"), None),
        [kept.to_string()],
        "the index followed a log that is gone: it is rebuilt from this one"
    );
    // DE-BKA returns, delivers the lost bulletin again and a new one; both land at
    // places the old index had already passed, and both are found.
    nodes[1].start();
    let third = send_with(&nodes[1], &nodes[0], "Harbour watch, third night", vec![]);
    wait_until("the lost bulletin delivered again", LONG, || {
        nodes[0].inbox().iter().any(|b| b.id == lost.to_string())
    });
    let mut all = text_search(&nodes[0], Some("harbour"), None);
    all.sort();
    let mut expected = [kept.to_string(), lost.to_string(), third.to_string()];
    expected.sort();
    assert_eq!(all, expected);
}
