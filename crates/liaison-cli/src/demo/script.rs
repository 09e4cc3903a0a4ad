//! The demo's script: three agencies, the bulletins they exchange, their policies.

pub const AGENCIES: [(&str, &str); 3] = [
    ("NL-NP", "Netherlands National Police"),
    ("DE-BKA", "Bundeskriminalamt"),
    ("RO-DIICOT", "DIICOT Romania"),
];

pub struct DemoBulletin {
    pub from: usize,
    pub to: &'static [usize],
    pub category: &'static str,
    pub tlp: &'static str,
    pub handling: &'static [&'static str],
    pub title: &'static str,
    pub body: &'static str,
}

pub const BULLETINS: [DemoBulletin; 3] = [
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

/// The example policies in config/, built into the binary so the demo runs anywhere.
pub fn demo_policy(agency: &str) -> &'static str {
    match agency {
        "NL-NP" => include_str!("../../../../config/nl-np.policy.toml"),
        "DE-BKA" => include_str!("../../../../config/de-bka.policy.toml"),
        _ => include_str!("../../../../config/ro-diicot.policy.toml"),
    }
}
