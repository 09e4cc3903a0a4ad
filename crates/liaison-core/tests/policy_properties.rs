//! Property tests of the sharing policy: whatever the rules and the marking, an allowed
//! decision satisfies every rule, and a partner the policy does not name gets nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use liaison_core::policy::Policy;
use liaison_core::{AgencyId, Marking, Tlp};
use proptest::prelude::*;

const PARTNERS: [&str; 3] = ["DE-BKA", "RO-DIICOT", "FR-OCRTEH"];
const PREFIXES: [&str; 6] = [
    "*",
    "trafficking",
    "trafficking.persons",
    "fraud",
    "fraud.financial",
    "drugs",
];
const CATEGORIES: [&str; 6] = [
    "trafficking",
    "trafficking.persons",
    "trafficking.persons.minors",
    "fraud.financial",
    "drugs.synthetic",
    "cyber",
];
const CODES: [&str; 3] = ["H1", "H2", "H3"];

#[derive(Debug, Clone)]
struct Rules {
    agency: usize,
    send: Vec<usize>,
    receive: Vec<usize>,
    max_tlp: usize,
    handling: Vec<usize>,
}

fn rules() -> impl Strategy<Value = Rules> {
    (
        0..PARTNERS.len(),
        prop::collection::vec(0..PREFIXES.len(), 0..3),
        prop::collection::vec(0..PREFIXES.len(), 0..3),
        0..5usize,
        prop::collection::vec(0..CODES.len(), 0..3),
    )
        .prop_map(|(agency, send, receive, max_tlp, handling)| Rules {
            agency,
            send,
            receive,
            max_tlp,
            handling,
        })
}

fn text(rules: &[Rules]) -> String {
    let mut out = String::new();
    let quote = |items: &[usize], names: &[&str]| {
        let mut seen: Vec<&str> = items.iter().map(|i| names[*i]).collect();
        seen.dedup();
        seen.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut done = Vec::new();
    for r in rules {
        if done.contains(&r.agency) {
            continue;
        }
        done.push(r.agency);
        out.push_str(&format!(
            "[partners.{}]\nsend = [{}]\nreceive = [{}]\nmax_send_tlp = {:?}\naccept_handling = [{}]\n\n",
            PARTNERS[r.agency],
            quote(&r.send, &PREFIXES),
            quote(&r.receive, &PREFIXES),
            Tlp::ALL[r.max_tlp].as_str(),
            quote(&r.handling, &CODES),
        ));
    }
    out
}

fn under(category: &str, prefix: &str) -> bool {
    prefix == "*" || category == prefix || category.starts_with(&format!("{prefix}."))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decisions_follow_the_rules(
        rules in prop::collection::vec(rules(), 0..4),
        partner in 0..PARTNERS.len(),
        category in 0..CATEGORIES.len(),
        tlp in 0..5usize,
        codes in prop::collection::btree_set(0..CODES.len(), 0..3),
    ) {
        let policy = Policy::parse(&text(&rules)).unwrap();
        let agency: AgencyId = PARTNERS[partner].parse().unwrap();
        let marking = Marking::new(
            CATEGORIES[category].parse().unwrap(),
            Tlp::ALL[tlp],
            codes.iter().map(|c| CODES[*c].parse().unwrap()).collect(),
        ).unwrap();
        let egress = policy.egress(&agency, &marking);
        let ingress = policy.ingress(&agency, &marking);
        match rules.iter().find(|r| r.agency == partner) {
            None => {
                prop_assert!(!egress.is_allowed() && egress.rule() == "default-deny");
                prop_assert!(!ingress.is_allowed() && ingress.rule() == "default-deny");
            }
            Some(r) => {
                let handling_ok = codes.iter().all(|c| r.handling.contains(c));
                let send_ok = r.send.iter().any(|p| under(CATEGORIES[category], PREFIXES[*p]));
                let receive_ok = r.receive.iter().any(|p| under(CATEGORIES[category], PREFIXES[*p]));
                prop_assert_eq!(egress.is_allowed(), handling_ok && send_ok && tlp <= r.max_tlp, "{}", egress);
                prop_assert_eq!(ingress.is_allowed(), handling_ok && receive_ok, "{}", ingress);
                let base = format!("partners.{}", PARTNERS[partner]);
                prop_assert!(egress.rule().starts_with(&base), "{}", egress);
            }
        }
    }
}
