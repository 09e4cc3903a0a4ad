//! Private hit/no-hit queries (#15): an agency that holds neither bulletin asks every
//! partner whether it holds a phone number; exactly the two agencies whose own
//! bulletins carry it answer "hit", the agency that only received them answers "no hit"
//! (its policy answers on its own bulletins), and no holder's log or files hold a trace
//! of the number. A recall withdraws the selector from the filter; a querier over its
//! daily budget is refused, and the refusal is logged on the holder's side.

use liaison_core::{BulletinId, Entity};
use liaison_node::edge::admin::{BulletinRecall, Query, Search};
use liaison_node::node::journal::LogEvent;
use liaison_node::ops::private_query::QueryReport;
use liaison_tests::federation::allow_everything;
use liaison_tests::{TestNode, federation, files_containing};

const NUMBER: &str = "+40712345678";

fn send_phone(from: &TestNode, to: &TestNode, title: &str, number: &str) -> BulletinId {
    let phone = Entity::Phone {
        number: number.into(),
    };
    from.send_entities(to, title, "see the entities", vec![phone])
}

fn query(node: &TestNode, number: &str) -> QueryReport {
    node.admin(Query {
        selectors: vec![("phone".into(), number.into())],
        partners: Vec::new(),
    })
}

/// Partner name and its answer: `hit`, `no hit`, or the error.
fn answers(report: &QueryReport) -> Vec<(String, String)> {
    report
        .answers
        .iter()
        .map(|a| {
            let answer = match (&a.error, a.hits.as_slice()) {
                (None, [true]) => "hit".to_owned(),
                (None, [false]) => "no hit".to_owned(),
                (error, hits) => format!("{error:?} {hits:?}"),
            };
            (a.partner.clone(), answer)
        })
        .collect()
}

fn pair(partner: &str, answer: &str) -> (String, String) {
    (partner.to_owned(), answer.to_owned())
}

#[test]
fn a_private_query_finds_exactly_the_holders_and_leaves_them_no_trace_of_the_selector() {
    let tmp = tempfile::tempdir().unwrap();
    let agencies = ["NL-NP", "DE-BKA", "RO-DIICOT", "FR-OCRTEH"];
    let mut nodes = federation(tmp.path(), &agencies);
    // Every agency lets FR-OCRTEH ask about phones; DE-BKA allows three a day.
    for node in &nodes {
        let mut policy = String::new();
        for other in agencies.iter().filter(|a| **a != node.agency.as_str()) {
            policy.push_str(&allow_everything(other));
            if *other == "FR-OCRTEH" {
                let budget = if node.agency.as_str() == "DE-BKA" {
                    3
                } else {
                    100
                };
                policy = policy.trim_end().to_owned();
                policy.push_str(&format!(
                    "\nquery_kinds = [\"phone\"]\nqueries_per_day = {budget}\n\n"
                ));
            }
        }
        node.write_policy(&policy);
    }
    for n in &mut nodes {
        n.start();
    }
    let (nl, de, ro, fr) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    let recruiter = send_phone(ro, nl, "Recruiter in Constanta", "+40 712 345 678");
    let _driver = send_phone(de, nl, "Driver's contact", "0040712345678");
    let _other = send_phone(de, nl, "Unrelated", "+49 30 901820");

    // NL-NP, which holds both, finds both by search and has linked them.
    let found = nl.admin(Search {
        selectors: vec![("phone".into(), NUMBER.into())],
        filter: Default::default(),
        page: Default::default(),
        ..Default::default()
    });
    assert_eq!(found.len(), 2);
    assert_eq!(nl.show(recruiter).links.len(), 1);

    // FR-OCRTEH holds neither and asks everyone: hits from exactly the two originators,
    // in any spelling of the number.
    let report = query(fr, "0040 712 345 678");
    assert_eq!(report.selectors, [format!("phone:{NUMBER}")]);
    assert_eq!(
        answers(&report),
        [
            pair("DE-BKA", "hit"),
            pair("NL-NP", "no hit"),
            pair("RO-DIICOT", "hit")
        ]
    );
    assert_eq!(report.answers[0].remaining_today, 2);
    // A number nobody holds: no hit anywhere.
    assert_eq!(
        answers(&query(fr, "+40 799 000 111")),
        [
            pair("DE-BKA", "no hit"),
            pair("NL-NP", "no hit"),
            pair("RO-DIICOT", "no hit")
        ]
    );

    // The holders logged that FR-OCRTEH asked, and nothing of what: no event, no file
    // of theirs holds the number in any form.
    for holder in [de, ro, nl] {
        let answered: Vec<_> = holder
            .events()
            .into_iter()
            .filter(|e| matches!(e, LogEvent::QueryAnswered { from, .. } if from.as_str() == "FR-OCRTEH"))
            .collect();
        assert_eq!(answered.len(), 2, "{}: {answered:?}", holder.agency);
        let text = serde_json::to_string(&holder.events()).unwrap();
        for form in ["712345678", "712 345 678", "799000111"] {
            assert!(!text.contains(form), "{}'s log holds {form}", holder.agency);
        }
        for form in [&b"712345678"[..], b"799000111"] {
            assert_eq!(
                files_containing(std::path::Path::new(holder.d()), form),
                Vec::<std::path::PathBuf>::new(),
                "{}'s files",
                holder.agency
            );
        }
    }
    // The querier logged its query by kind and keyed tag, with the answers.
    let made: Vec<_> = fr
        .events()
        .into_iter()
        .filter_map(|e| match e {
            LogEvent::QueryMade {
                selectors, answers, ..
            } => Some((selectors, answers)),
            _ => None,
        })
        .collect();
    assert_eq!(made.len(), 2);
    assert!(made[0].0[0].starts_with("phone:") && !made[0].0[0].contains("712"));
    assert!(made[0].1.contains(&"RO-DIICOT: hit".to_owned()), "{made:?}");

    // RO-DIICOT recalls its bulletin: its filter loses the number (incrementally), so
    // the next query is a hit at DE-BKA only.
    ro.admin(BulletinRecall {
        id: recruiter,
        reason: "withdrawn".into(),
    });
    assert_eq!(
        answers(&query(fr, NUMBER)),
        [
            pair("DE-BKA", "hit"),
            pair("NL-NP", "no hit"),
            pair("RO-DIICOT", "no hit")
        ]
    );

    // DE-BKA's budget is three a day: the fourth query is refused there, by name, and
    // the refusal logged; the others still answer.
    let report = query(fr, NUMBER);
    let de_answer = &report.answers[0];
    assert_eq!(de_answer.partner, "DE-BKA");
    let error = de_answer.error.as_deref().unwrap_or_default();
    assert!(
        error.contains("ResourceExhausted") && error.contains("3 of its 3"),
        "{error}"
    );
    assert_eq!(answers(&report)[1], pair("NL-NP", "no hit"));
    assert!(de.events().iter().any(
        |e| matches!(e, LogEvent::QueryRefused { from, reason } if from.as_str() == "FR-OCRTEH" && reason.contains("budget"))
    ));

    // A partner its policy does not let query is refused: DE-BKA asks RO-DIICOT.
    let report = de.admin(Query {
        selectors: vec![("phone".into(), NUMBER.into())],
        partners: vec!["RO-DIICOT".into()],
    });
    let error = report.answers[0].error.as_deref().unwrap_or_default();
    assert!(
        error.contains("PermissionDenied") && error.contains("query_kinds"),
        "{error}"
    );
    // An unknown partner or selector is refused before anything is asked.
    let refused = fr
        .try_admin(Query {
            selectors: vec![("phone".into(), NUMBER.into())],
            partners: vec!["XX-NOBODY".into()],
        })
        .unwrap_err();
    assert!(refused.to_string().contains("XX-NOBODY"), "{refused}");
    let refused = fr
        .try_admin(Query {
            selectors: vec![("phone".into(), "0712".into())],
            partners: Vec::new(),
        })
        .unwrap_err();
    assert!(refused.to_string().contains("phone"), "{refused}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

    /// Whatever the budget and however a querier splits its selectors into requests,
    /// the holder answers requests in order while they fit in the day's budget and
    /// refuses every one that would pass it, whole: never more evaluations than the
    /// budget, never a request half answered, and the refusal names the budget.
    #[test]
    fn a_querier_over_its_budget_is_refused_and_never_evaluated(
        budget in 1u32..12,
        requests in proptest::collection::vec(1usize..5, 1..12),
    ) {
        use liaison_core::private_query;
        let tmp = tempfile::tempdir().unwrap();
        let mut node = TestNode::init(tmp.path(), "NL-NP");
        node.write_policy(&format!(
            "{}query_kinds = [\"phone\"]\nqueries_per_day = {budget}\n",
            allow_everything("FR-OCRTEH")
        ));
        node.start();
        let state = node.state();
        let partner: liaison_core::AgencyId = "FR-OCRTEH".parse().unwrap();
        let selector = liaison_core::selector::Selector::parse("phone", NUMBER).unwrap();
        let mut used = 0u32;
        for size in requests {
            let blinded: Vec<Vec<u8>> = (0..size)
                .map(|_| private_query::blind(&selector).unwrap().message.to_vec())
                .collect();
            let answer = liaison_node::ops::private_query::answer(&state, &partner, &blinded);
            if used + size as u32 <= budget {
                let (evaluated, left) = answer.unwrap();
                proptest::prop_assert_eq!(evaluated.len(), size);
                used += size as u32;
                proptest::prop_assert_eq!(left, budget - used);
            } else {
                let refused = answer.unwrap_err();
                proptest::prop_assert_eq!(refused.code(), "exhausted");
                let expected = format!("{used} of its {budget}");
                proptest::prop_assert!(refused.to_string().contains(&expected), "{}", refused);
            }
        }
        proptest::prop_assert_eq!(
            state.log.query_count(&partner, (liaison_core::UnixMillis::now().0 / 86_400_000) as u32).unwrap(),
            used
        );
        node.stop();
    }
}
