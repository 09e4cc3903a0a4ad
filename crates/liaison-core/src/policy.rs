//! The sharing policy: what may go to which partner and what is accepted from it.
//! Deny by default: a partner absent from the policy gets nothing and is accepted for
//! nothing. Every decision names the rule that made it, and the policy's version (a
//! hash of the file), so a log entry can say exactly why.
//!
//! ```toml
//! [partners.DE-BKA]
//! send = ["trafficking", "fraud.financial"]   # category prefixes we may send; "*" = any
//! receive = ["*"]                              # category prefixes we accept from them
//! max_send_tlp = "amber"                       # most restricted TLP we may send them
//! accept_handling = ["H1", "H2", "H3"]         # handling codes allowed either way
//! forward_to = ["FR-OCRTEH"]                   # where their bulletins may go onward
//! max_receive_per_minute = 600                 # ingress rate limit
//! query_kinds = ["phone", "account"]           # selectors they may ask about privately
//! query_categories = ["trafficking"]           # in bulletins of these categories (default: send)
//! query_received = false                       # on others' bulletins we hold too
//! queries_per_day = 100                        # private queries answered per UTC day
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::crypto;
use crate::error::Malformed;
use crate::ids::{AgencyId, HandlingCode, Marking, Tlp};

/// The rules for one partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRules {
    /// Category prefixes we may send (`*` for any).
    pub send: Vec<String>,
    /// Category prefixes we accept.
    pub receive: Vec<String>,
    /// The most restricted TLP we may send.
    pub max_send_tlp: Tlp,
    /// Handling codes allowed in either direction.
    pub accept_handling: Vec<HandlingCode>,
    /// Partners this partner's bulletins may be forwarded to.
    pub forward_to: Vec<String>,
    /// Bulletins per minute accepted from this partner.
    pub max_receive_per_minute: u32,
    /// Selector kinds (`phone`, `account`, ...; `*` for all) this partner may ask
    /// about in private hit/no-hit queries; none by default.
    pub query_kinds: Vec<String>,
    /// Category prefixes of the bulletins whose selectors it may ask about (the
    /// `send` list unless given).
    pub query_categories: Vec<String>,
    /// Whether its queries are answered on bulletins received from other agencies
    /// too, not only on this agency's own (off by default: whether a partner's
    /// bulletin exists is the partner's to tell).
    pub query_received: bool,
    /// Private queries answered for it per UTC day.
    pub queries_per_day: u32,
}

impl PartnerRules {
    /// Whether this partner may ask about a selector of `kind` in a bulletin of
    /// `category`; `own` says whether this agency originated the bulletin.
    pub fn may_query(&self, kind: &str, category: &str, own: bool) -> bool {
        (own || self.query_received)
            && self.query_kinds.iter().any(|k| k == "*" || k == kind)
            && self
                .query_categories
                .iter()
                .any(|c| c == "*" || c == category || category.starts_with(&format!("{c}.")))
    }
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    partners: BTreeMap<AgencyId, PartnerRules>,
    /// Handling codes by which an originator keeps control: a bulletin carrying one is
    /// never forwarded without the originator's release.
    originator_control: Vec<HandlingCode>,
    /// How long bulletins are kept, by category.
    retention: Retention,
    version: String,
}

/// How long this node keeps bulletins (sent and received) before their payload is
/// erased, by category: the longest matching prefix wins, else the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Days for a category no prefix matches.
    pub default_days: u32,
    /// Days by category prefix.
    pub categories: BTreeMap<String, u32>,
}

/// The retention period when the policy sets none.
pub const DEFAULT_RETENTION_DAYS: u32 = 90;

impl Default for Retention {
    fn default() -> Self {
        Self {
            default_days: DEFAULT_RETENTION_DAYS,
            categories: BTreeMap::new(),
        }
    }
}

impl Retention {
    /// The days bulletins of `category` are kept, and the rule that says so.
    pub fn days_for(&self, category: &crate::ids::Category) -> (u32, String) {
        let category = category.to_string();
        self.categories
            .iter()
            .filter(|(prefix, _)| {
                category == **prefix || category.starts_with(&format!("{prefix}."))
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or_else(
                || (self.default_days, "retention.default_days".to_owned()),
                |(prefix, days)| (*days, format!("retention.categories[\"{prefix}\"]")),
            )
    }
}

/// A decision and the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by `rule`.
    Allowed {
        /// The rule, e.g. `partners.DE-BKA.send["trafficking"]`.
        rule: String,
    },
    /// Denied by `rule`, with a sentence saying why.
    Denied {
        /// The rule, e.g. `partners.DE-BKA.max_send_tlp`.
        rule: String,
        /// Why.
        reason: String,
    },
}

impl Decision {
    /// Whether it allows.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    /// The rule that decided.
    pub fn rule(&self) -> &str {
        match self {
            Decision::Allowed { rule } | Decision::Denied { rule, .. } => rule,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Allowed { rule } => write!(f, "allowed by {rule}"),
            Decision::Denied { rule, reason } => write!(f, "denied by {rule}: {reason}"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    handling: RawHandling,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    partners: BTreeMap<toml::Spanned<String>, toml::Spanned<RawPartner>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHandling {
    #[serde(default)]
    originator_control: Vec<toml::Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    default_days: Option<u32>,
    #[serde(default)]
    categories: BTreeMap<String, u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPartner {
    #[serde(default)]
    send: Vec<toml::Spanned<String>>,
    #[serde(default)]
    receive: Vec<toml::Spanned<String>>,
    max_send_tlp: toml::Spanned<String>,
    #[serde(default)]
    accept_handling: Vec<toml::Spanned<String>>,
    #[serde(default)]
    forward_to: Vec<toml::Spanned<String>>,
    #[serde(default = "default_rate")]
    max_receive_per_minute: u32,
    #[serde(default)]
    query_kinds: Vec<toml::Spanned<String>>,
    query_categories: Option<Vec<toml::Spanned<String>>>,
    #[serde(default)]
    query_received: bool,
    #[serde(default = "default_queries_per_day")]
    queries_per_day: u32,
}

fn default_queries_per_day() -> u32 {
    100
}

fn default_rate() -> u32 {
    600
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

fn category_prefix_ok(prefix: &str) -> bool {
    prefix == "*" || prefix.parse::<crate::ids::Category>().is_ok()
}

/// Where in the policy text a value sits, for errors that name line and field.
struct Located<'t> {
    text: &'t str,
}

impl Located<'_> {
    fn at(&self, span: std::ops::Range<usize>, field: &str) -> String {
        format!("policy line {}: {field}", line_of(self.text, span.start))
    }

    /// Each value of `list` parsed as `T`; an error names its line and `field`.
    fn parse_each<T: std::str::FromStr<Err = Malformed>>(
        &self,
        list: Vec<toml::Spanned<String>>,
        field: &str,
    ) -> Result<Vec<T>, Malformed> {
        list.into_iter()
            .map(|value| {
                value
                    .get_ref()
                    .parse()
                    .map_err(|e: Malformed| Malformed::new(self.at(value.span(), field), e.problem))
            })
            .collect()
    }

    /// Each value of `list` kept as text if `valid`; otherwise an error naming its line,
    /// `field` and what was `expected`.
    fn check_each(
        &self,
        list: Vec<toml::Spanned<String>>,
        field: &str,
        valid: impl Fn(&str) -> bool,
        expected: &str,
    ) -> Result<Vec<String>, Malformed> {
        list.into_iter()
            .map(|value| {
                if valid(value.get_ref()) {
                    Ok(value.into_inner())
                } else {
                    Err(Malformed::new(
                        self.at(value.span(), field),
                        format!("{:?} is not {expected}", value.get_ref()),
                    ))
                }
            })
            .collect()
    }

    /// One `[partners.X]` section, validated.
    fn partner(
        &self,
        agency: &AgencyId,
        section: std::ops::Range<usize>,
        r: RawPartner,
    ) -> Result<PartnerRules, Malformed> {
        let field = |f: &str| format!("partners.{agency}.{f}");
        let prefix = "a category prefix (dotted lowercase, or \"*\")";
        let query_categories = match r.query_categories {
            Some(list) => {
                self.check_each(list, &field("query_categories"), category_prefix_ok, prefix)?
            }
            None => r.send.iter().map(|s| s.get_ref().clone()).collect(),
        };
        let query_kinds = self.check_each(
            r.query_kinds,
            &field("query_kinds"),
            |k| k == "*" || crate::selector::KINDS.contains(&k),
            &format!(
                "a selector kind ({}) or \"*\"",
                crate::selector::KINDS.join(", ")
            ),
        )?;
        let send = self.check_each(r.send, &field("send"), category_prefix_ok, prefix)?;
        let receive = self.check_each(r.receive, &field("receive"), category_prefix_ok, prefix)?;
        let max_send_tlp = r.max_send_tlp.get_ref().parse().map_err(|e: Malformed| {
            Malformed::new(
                self.at(r.max_send_tlp.span(), &field("max_send_tlp")),
                e.problem,
            )
        })?;
        let accept_handling = self.parse_each(r.accept_handling, &field("accept_handling"))?;
        let forward_to = self.check_each(
            r.forward_to,
            &field("forward_to"),
            |t| t == "*" || t.parse::<AgencyId>().is_ok(),
            "an agency id or \"*\"",
        )?;
        if r.max_receive_per_minute == 0 {
            return Err(Malformed::new(
                self.at(section, &field("max_receive_per_minute")),
                "must be at least 1 (remove the partner to accept nothing)",
            ));
        }
        Ok(PartnerRules {
            send,
            receive,
            max_send_tlp,
            accept_handling,
            forward_to,
            max_receive_per_minute: r.max_receive_per_minute,
            query_kinds,
            query_categories,
            query_received: r.query_received,
            queries_per_day: r.queries_per_day,
        })
    }
}

impl Policy {
    /// Parses and validates policy text. Errors name the line and the field.
    pub fn parse(text: &str) -> Result<Self, Malformed> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            Malformed::new(format!("policy line {line}"), e.message().to_owned())
        })?;
        let located = Located { text };
        let mut partners = BTreeMap::new();
        for (name, rules) in raw.partners {
            let agency: AgencyId = name.get_ref().parse().map_err(|e: Malformed| {
                Malformed::new(located.at(name.span(), "partners"), e.problem)
            })?;
            let rules = located.partner(&agency, name.span(), rules.into_inner())?;
            partners.insert(agency, rules);
        }
        let originator_control = located.parse_each(
            raw.handling.originator_control,
            "handling.originator_control",
        )?;
        let retention = Retention {
            default_days: raw.retention.default_days.unwrap_or(DEFAULT_RETENTION_DAYS),
            categories: raw.retention.categories,
        };
        for (prefix, days) in retention
            .categories
            .iter()
            .map(|(p, d)| (p.as_str(), *d))
            .chain([("default_days", retention.default_days)])
        {
            if !(1..=36_500).contains(&days) {
                return Err(Malformed::new(
                    format!("retention {prefix}"),
                    format!("{days} days: must be 1 to 36500"),
                ));
            }
            if prefix != "default_days" {
                prefix.parse::<crate::ids::Category>().map_err(|e| {
                    Malformed::new(format!("retention.categories[{prefix:?}]"), e.problem)
                })?;
            }
        }
        let digest = crypto::sha256(text.as_bytes());
        Ok(Self {
            partners,
            originator_control,
            retention,
            version: data_encoding::HEXLOWER.encode(&digest[..8]),
        })
    }

    /// The policy that allows nothing (no file yet).
    pub fn deny_all() -> Self {
        Self {
            partners: BTreeMap::new(),
            originator_control: Vec::new(),
            retention: Retention::default(),
            version: "deny-all".into(),
        }
    }

    /// The version: the first 16 hex digits of the file's SHA-256.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How long bulletins are kept, by category.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }

    /// The rules for `partner`, if the policy names it.
    pub fn partner(&self, partner: &AgencyId) -> Option<&PartnerRules> {
        self.partners.get(partner)
    }

    /// Handling codes that keep a bulletin under its originator's control.
    pub fn originator_control(&self) -> &[HandlingCode] {
        &self.originator_control
    }

    /// May a bulletin received from `origin` go on to `to`? By itself: only CLEAR and
    /// GREEN, never with an originator-control code, and only where the originator's
    /// rules here say `forward_to` it. `released` (a release grant signed by `origin`
    /// names `to`, already checked) stands for the originator's consent instead of all
    /// three, up to TLP:AMBER. Either way `to` must be allowed the marking at all.
    pub fn onward(
        &self,
        origin: &AgencyId,
        to: &AgencyId,
        marking: &Marking,
        released: bool,
    ) -> Decision {
        let travels = self.may_travel_onward(origin, marking, released);
        if !travels.is_allowed() {
            return travels;
        }
        let allowed_by_origin = released
            || self
                .partners
                .get(origin)
                .is_some_and(|r| r.forward_to.iter().any(|t| t == "*" || t == to.as_str()));
        if !allowed_by_origin {
            return Decision::Denied {
                rule: format!("partners.{origin}.forward_to"),
                reason: format!(
                    "bulletins from {origin} may not be forwarded to {to} (a release grant from {origin} would allow it)"
                ),
            };
        }
        self.egress(to, marking)
    }

    /// Whether the originator's marking lets a bulletin travel onward at all: TLP:CLEAR
    /// or GREEN, and no handling code under originator control (H2 always, and those
    /// this policy lists) — or,
    /// when `released` under the originator's grant, up to TLP:AMBER whatever its codes
    /// (never AMBER+STRICT or RED). Every hop checks it: the forwarder before forwarding
    /// ([`Policy::onward`]) and the receiver of a forwarded bulletin again on arrival, so
    /// one partner's bug or bad faith cannot take a bulletin further than its
    /// originator allowed.
    pub fn may_travel_onward(
        &self,
        origin: &AgencyId,
        marking: &Marking,
        released: bool,
    ) -> Decision {
        if released {
            return match crate::release::releasable(marking.tlp) {
                Ok(()) => Decision::Allowed {
                    rule: format!("release grant signed by {origin}"),
                },
                Err(e) => Decision::Denied {
                    rule: "tlp".into(),
                    reason: e.to_string(),
                },
            };
        }
        if marking.tlp > Tlp::Amber {
            return Decision::Denied {
                rule: "tlp".into(),
                reason: format!(
                    "{} bulletins are never forwarded, not even under a release grant",
                    marking.tlp
                ),
            };
        }
        if marking.tlp > Tlp::Green {
            return Decision::Denied {
                rule: "tlp".into(),
                reason: format!(
                    "{} bulletins are not forwarded without a release grant from {origin}",
                    marking.tlp
                ),
            };
        }
        if let Some(code) = marking.handling_codes.iter().find(|c| {
            self.originator_control.contains(c) || c.as_str() == crate::handling::NO_DISSEMINATION
        }) {
            return Decision::Denied {
                rule: "handling.originator_control".into(),
                reason: format!(
                    "handling code {code} keeps it under {origin}'s control: forwarding needs a release grant signed by {origin} (`liaison bulletin release` there)"
                ),
            };
        }
        Decision::Allowed {
            rule: "onward: TLP:CLEAR or GREEN, no originator-control code".into(),
        }
    }

    /// May `origin`'s bulletin with `marking`, forwarded by `forwarder`, be accepted
    /// here? The marking must allow onward travel ([`Policy::may_travel_onward`], with
    /// `released` when the forward carries a grant that covers it) and this node must
    /// accept the category from the forwarder ([`Policy::ingress`]).
    pub fn ingress_forwarded(
        &self,
        origin: &AgencyId,
        forwarder: &AgencyId,
        marking: &Marking,
        released: bool,
    ) -> Decision {
        let travels = self.may_travel_onward(origin, marking, released);
        if !travels.is_allowed() {
            return travels;
        }
        self.ingress(forwarder, marking)
    }

    /// Every partner the policy names.
    pub fn partners(&self) -> impl Iterator<Item = (&AgencyId, &PartnerRules)> {
        self.partners.iter()
    }

    /// May a bulletin with `marking` be sent to `partner`?
    pub fn egress(&self, partner: &AgencyId, marking: &Marking) -> Decision {
        let Some(rules) = self.partners.get(partner) else {
            return not_in_policy(partner);
        };
        let base = format!("partners.{partner}");
        if marking.tlp > rules.max_send_tlp {
            return Decision::Denied {
                rule: format!("{base}.max_send_tlp"),
                reason: format!(
                    "{} is above the {} allowed for {partner}",
                    marking.tlp, rules.max_send_tlp
                ),
            };
        }
        if let Some(denied) = handling_denied(&base, partner, rules, marking) {
            return denied;
        }
        match rules.send.iter().find(|p| marking.category.is_under(p)) {
            Some(prefix) => Decision::Allowed {
                rule: format!("{base}.send[{prefix:?}]"),
            },
            None => Decision::Denied {
                rule: format!("{base}.send"),
                reason: format!(
                    "category {} is not among those sent to {partner}",
                    marking.category
                ),
            },
        }
    }

    /// May a bulletin with `marking` be accepted from `partner`?
    pub fn ingress(&self, partner: &AgencyId, marking: &Marking) -> Decision {
        let Some(rules) = self.partners.get(partner) else {
            return not_in_policy(partner);
        };
        let base = format!("partners.{partner}");
        if let Some(denied) = handling_denied(&base, partner, rules, marking) {
            return denied;
        }
        match rules.receive.iter().find(|p| marking.category.is_under(p)) {
            Some(prefix) => Decision::Allowed {
                rule: format!("{base}.receive[{prefix:?}]"),
            },
            None => Decision::Denied {
                rule: format!("{base}.receive"),
                reason: format!(
                    "category {} is not accepted from {partner}",
                    marking.category
                ),
            },
        }
    }
}

fn not_in_policy(partner: &AgencyId) -> Decision {
    Decision::Denied {
        rule: "default-deny".into(),
        reason: format!("{partner} is not in the sharing policy"),
    }
}

fn handling_denied(
    base: &str,
    partner: &AgencyId,
    rules: &PartnerRules,
    marking: &Marking,
) -> Option<Decision> {
    marking
        .handling_codes
        .iter()
        .find(|code| !rules.accept_handling.contains(code))
        .map(|code| Decision::Denied {
            rule: format!("{base}.accept_handling"),
            reason: format!("handling code {code} is not agreed with {partner}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
[partners.DE-BKA]
send = ["trafficking", "fraud.financial"]
receive = ["*"]
max_send_tlp = "amber"
accept_handling = ["H2"]

[partners.RO-DIICOT]
receive = ["trafficking.persons"]
max_send_tlp = "green"
"#;

    fn marking(category: &str, tlp: &str, handling: &[&str]) -> Marking {
        Marking::new(
            category.parse().unwrap(),
            tlp.parse().unwrap(),
            handling.iter().map(|h| h.parse().unwrap()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn retention_takes_the_longest_prefix_and_refuses_nonsense() {
        let p = Policy::parse(
            "[retention]\ndefault_days = 30\n[retention.categories]\ntrafficking = 365\n\"trafficking.persons\" = 730\n",
        )
        .unwrap();
        let days = |c: &str| p.retention().days_for(&c.parse().unwrap()).0;
        assert_eq!(days("trafficking.persons.minors"), 730);
        assert_eq!(days("trafficking.goods"), 365);
        assert_eq!(days("traffickingx"), 30);
        assert_eq!(Policy::parse("").unwrap().retention().default_days, 90);
        assert!(Policy::parse("[retention]\ndefault_days = 0\n").is_err());
        assert!(Policy::parse("[retention.categories]\n\"Bad Category\" = 3\n").is_err());
    }

    #[test]
    fn h2_keeps_a_bulletin_under_its_originators_control_whatever_the_policy_lists() {
        let p = Policy::parse(POLICY).unwrap();
        let origin: AgencyId = "DE-BKA".parse().unwrap();
        let d = p.may_travel_onward(&origin, &marking("trafficking", "green", &["H2"]), false);
        assert!(!d.is_allowed(), "{d}");
        assert!(
            p.may_travel_onward(&origin, &marking("trafficking", "green", &["H0"]), false)
                .is_allowed()
        );
    }

    #[test]
    fn decisions_name_their_rule() {
        let p = Policy::parse(POLICY).unwrap();
        let de: AgencyId = "DE-BKA".parse().unwrap();
        let ro: AgencyId = "RO-DIICOT".parse().unwrap();
        let fr: AgencyId = "FR-OCRTEH".parse().unwrap();
        let m = marking("trafficking.persons", "amber", &["H2"]);
        assert_eq!(
            p.egress(&de, &m).rule(),
            r#"partners.DE-BKA.send["trafficking"]"#
        );
        assert!(p.egress(&de, &m).is_allowed());
        assert_eq!(
            p.egress(&de, &marking("trafficking", "red", &[])).rule(),
            "partners.DE-BKA.max_send_tlp"
        );
        assert_eq!(
            p.egress(&de, &marking("fraud", "green", &[])).rule(),
            "partners.DE-BKA.send"
        );
        assert_eq!(
            p.egress(&de, &marking("trafficking", "green", &["H9"]))
                .rule(),
            "partners.DE-BKA.accept_handling"
        );
        assert_eq!(
            p.egress(&ro, &marking("trafficking", "green", &[])).rule(),
            "partners.RO-DIICOT.send"
        );
        assert_eq!(p.egress(&fr, &m).rule(), "default-deny");
        assert_eq!(p.ingress(&fr, &m).rule(), "default-deny");
        assert!(
            p.ingress(&ro, &marking("trafficking.persons.minors", "red", &[]))
                .is_allowed()
        );
        assert_eq!(
            p.ingress(&ro, &marking("trafficking.goods", "red", &[]))
                .rule(),
            "partners.RO-DIICOT.receive"
        );
        assert_eq!(
            p.ingress(&ro, &marking("trafficking.persons", "red", &["H2"]))
                .rule(),
            "partners.RO-DIICOT.accept_handling"
        );
    }

    #[test]
    fn errors_name_line_and_field() {
        let bad_tlp = POLICY.replace(r#"max_send_tlp = "green""#, r#"max_send_tlp = "purple""#);
        let e = Policy::parse(&bad_tlp).unwrap_err();
        assert_eq!(
            e.field, "policy line 10: partners.RO-DIICOT.max_send_tlp",
            "{e}"
        );
        let bad_prefix = POLICY.replace(r#"receive = ["*"]"#, r#"receive = ["Not Valid"]"#);
        let e = Policy::parse(&bad_prefix).unwrap_err();
        assert_eq!(e.field, "policy line 4: partners.DE-BKA.receive", "{e}");
        let unknown = POLICY.replace(
            "max_send_tlp = \"amber\"",
            "max_send_tlp = \"amber\"\ncolour = 1",
        );
        let e = Policy::parse(&unknown).unwrap_err();
        assert!(e.field.starts_with("policy line 6"), "{e}");
        assert!(e.problem.contains("colour"), "{e}");
        let bad_agency = POLICY.replace("[partners.RO-DIICOT]", "[partners.romania]");
        assert!(
            Policy::parse(&bad_agency)
                .unwrap_err()
                .field
                .starts_with("policy line 8")
        );
    }

    #[test]
    fn version_follows_the_text() {
        let a = Policy::parse(POLICY).unwrap();
        let b = Policy::parse(&format!("{POLICY}\n# comment")).unwrap();
        assert_ne!(a.version(), b.version());
        assert_eq!(a.version().len(), 16);
        assert!(
            Policy::deny_all()
                .egress(&"DE-BKA".parse().unwrap(), &marking("x", "clear", &[]))
                .rule()
                == "default-deny"
        );
    }
}
