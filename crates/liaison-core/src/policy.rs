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
    /// The groups it belongs to.
    pub groups: Vec<String>,
    /// For each rule set by a table, that table (`partners.X`, `groups.NAME`,
    /// `defaults`); a rule not listed takes its built-in default.
    pub sources: BTreeMap<&'static str, String>,
    /// Its own table's name (`partners.X`), where an unset rule would be set.
    own: String,
}

impl PartnerRules {
    /// The rule's full name for a decision: the table that set `field`, or the
    /// partner's own table when none did (`groups.jit-alpha.max_send_tlp`,
    /// `partners.DE-BKA.send`).
    pub fn rule(&self, field: &str) -> String {
        let table = self.sources.get(field).unwrap_or(&self.own);
        format!("{table}.{field}")
    }

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
    groups: BTreeMap<String, Group>,
    /// Handling codes by which an originator keeps control: a bulletin carrying one is
    /// never forwarded without the originator's release.
    originator_control: Vec<HandlingCode>,
    /// How long bulletins are kept, by category.
    retention: Retention,
    version: String,
    /// The text it was parsed from (empty for [`Policy::deny_all`]), to resolve again
    /// when a roster's members change.
    text: String,
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
    defaults: Option<toml::Spanned<RawSection>>,
    #[serde(default)]
    groups: BTreeMap<toml::Spanned<String>, toml::Spanned<RawSection>>,
    #[serde(default)]
    partners: BTreeMap<toml::Spanned<String>, toml::Spanned<RawSection>>,
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

/// One `[defaults]`, `[groups.NAME]` or `[partners.AGENCY]` table: every rule
/// optional (the most specific table that sets a rule wins), plus a group's members.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    members: Option<Vec<toml::Spanned<String>>>,
    roster: Option<toml::Spanned<String>>,
    send: Option<Vec<toml::Spanned<String>>>,
    receive: Option<Vec<toml::Spanned<String>>>,
    max_send_tlp: Option<toml::Spanned<String>>,
    accept_handling: Option<Vec<toml::Spanned<String>>>,
    forward_to: Option<Vec<toml::Spanned<String>>>,
    max_receive_per_minute: Option<u32>,
    query_kinds: Option<Vec<toml::Spanned<String>>>,
    query_categories: Option<Vec<toml::Spanned<String>>>,
    query_received: Option<bool>,
    queries_per_day: Option<u32>,
}

/// The rules one table sets, validated; `None` where it says nothing.
#[derive(Debug, Default, Clone)]
struct SectionRules {
    send: Option<Vec<String>>,
    receive: Option<Vec<String>>,
    max_send_tlp: Option<Tlp>,
    accept_handling: Option<Vec<HandlingCode>>,
    forward_to: Option<Vec<String>>,
    max_receive_per_minute: Option<u32>,
    query_kinds: Option<Vec<String>>,
    query_categories: Option<Vec<String>>,
    query_received: Option<bool>,
    queries_per_day: Option<u32>,
}

/// Private queries answered per partner per day unless a table says otherwise.
pub const DEFAULT_QUERIES_PER_DAY: u32 = 100;

/// Bulletins per minute accepted from a partner unless a table says otherwise.
pub const DEFAULT_RECEIVE_PER_MINUTE: u32 = 600;

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

/// Whether `name` can name a group: lowercase letters, digits and `-`, 1 to 64, not
/// `auto` (which `--to` reserves). Agency ids are uppercase, so the two never meet.
pub fn is_group_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name != "auto"
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
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

    /// The rules one table (`name`: `defaults`, `groups.X` or `partners.X`) sets,
    /// each validated; an error names its line and field.
    fn section(
        &self,
        name: &str,
        span: std::ops::Range<usize>,
        r: RawSection,
    ) -> Result<SectionRules, Malformed> {
        let field = |f: &str| format!("{name}.{f}");
        let prefix = "a category prefix (dotted lowercase, or \"*\")";
        let prefixes = |list: Option<Vec<toml::Spanned<String>>>, f: &str| {
            list.map(|l| self.check_each(l, &field(f), category_prefix_ok, prefix))
                .transpose()
        };
        let kinds = format!(
            "a selector kind ({}) or \"*\"",
            crate::selector::KINDS.join(", ")
        );
        if r.max_receive_per_minute == Some(0) {
            return Err(Malformed::new(
                self.at(span, &field("max_receive_per_minute")),
                "must be at least 1 (remove the partner to accept nothing)",
            ));
        }
        Ok(SectionRules {
            send: prefixes(r.send, "send")?,
            receive: prefixes(r.receive, "receive")?,
            query_categories: prefixes(r.query_categories, "query_categories")?,
            query_kinds: r
                .query_kinds
                .map(|l| {
                    self.check_each(
                        l,
                        &field("query_kinds"),
                        |k| k == "*" || crate::selector::KINDS.contains(&k),
                        &kinds,
                    )
                })
                .transpose()?,
            max_send_tlp: r
                .max_send_tlp
                .map(|tlp| {
                    tlp.get_ref().parse().map_err(|e: Malformed| {
                        Malformed::new(self.at(tlp.span(), &field("max_send_tlp")), e.problem)
                    })
                })
                .transpose()?,
            accept_handling: r
                .accept_handling
                .map(|l| self.parse_each(l, &field("accept_handling")))
                .transpose()?,
            forward_to: r
                .forward_to
                .map(|l| {
                    self.check_each(
                        l,
                        &field("forward_to"),
                        |t| t == "*" || t.parse::<AgencyId>().is_ok(),
                        "an agency id or \"*\"",
                    )
                })
                .transpose()?,
            max_receive_per_minute: r.max_receive_per_minute,
            query_received: r.query_received,
            queries_per_day: r.queries_per_day,
        })
    }

    /// Refuses `members`/`roster` in a table that is not a group.
    fn no_members(
        &self,
        name: &str,
        span: std::ops::Range<usize>,
        r: &RawSection,
    ) -> Result<(), Malformed> {
        if r.members.is_some() || r.roster.is_some() {
            return Err(Malformed::new(
                self.at(span, name),
                "members and roster belong in a [groups.NAME] table",
            ));
        }
        Ok(())
    }
}

/// A named set of partners sharing rules (`[groups.NAME]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its members: those listed, and those of its roster as imported here.
    pub members: Vec<AgencyId>,
    /// The roster (operation name) whose members belong to the group, if any.
    pub roster: Option<String>,
}

/// The members of each roster imported on a node, by operation name, with the
/// roster's version: what `[groups.X] roster = "OPERATION"` draws on.
pub type RosterMembers = BTreeMap<String, (u64, Vec<AgencyId>)>;

/// One partner's rules picked from its tables, most specific first.
struct Layers<'a> {
    agency: &'a AgencyId,
    /// `(table name, its rules)`: the partner's own, then each of its groups, then
    /// `[defaults]`.
    tables: Vec<(String, &'a SectionRules)>,
}

impl Layers<'_> {
    /// The value the most specific table sets for one rule, and that table's name;
    /// refuses two groups setting it when the partner's own table does not decide.
    fn pick<T: Clone + PartialEq>(
        &self,
        sources: &mut BTreeMap<&'static str, String>,
        field: &'static str,
        get: impl Fn(&SectionRules) -> Option<&T>,
    ) -> Result<Option<T>, Malformed> {
        let mut set = self
            .tables
            .iter()
            .filter_map(|(name, rules)| get(rules).map(|v| (v, name)));
        let Some((value, name)) = set.next() else {
            return Ok(None);
        };
        if name.starts_with("groups.")
            && let Some((_, other)) = set.find(|(v, n)| n.starts_with("groups.") && *v != value)
        {
            return Err(Malformed::new(
                format!("partners.{}.{field}", self.agency),
                format!(
                    "{} is in {name} and {other}, which set {field} differently: set it in [partners.{}]",
                    self.agency, self.agency
                ),
            ));
        }
        sources.insert(field, name.clone());
        Ok(Some(value.clone()))
    }

    /// The partner's effective rules, each with the table it came from.
    fn resolve(&self, groups: Vec<String>) -> Result<PartnerRules, Malformed> {
        let own = format!("partners.{}", self.agency);
        let mut sources = BTreeMap::new();
        let s = &mut sources;
        let send = self.pick(s, "send", |r| r.send.as_ref())?;
        let receive = self.pick(s, "receive", |r| r.receive.as_ref())?;
        let max_send_tlp = self.pick(s, "max_send_tlp", |r| r.max_send_tlp.as_ref())?;
        let accept_handling = self.pick(s, "accept_handling", |r| r.accept_handling.as_ref())?;
        let forward_to = self.pick(s, "forward_to", |r| r.forward_to.as_ref())?;
        let max_receive_per_minute = self.pick(s, "max_receive_per_minute", |r| {
            r.max_receive_per_minute.as_ref()
        })?;
        let query_kinds = self.pick(s, "query_kinds", |r| r.query_kinds.as_ref())?;
        let query_categories = self.pick(s, "query_categories", |r| r.query_categories.as_ref())?;
        let query_received = self.pick(s, "query_received", |r| r.query_received.as_ref())?;
        let queries_per_day = self.pick(s, "queries_per_day", |r| r.queries_per_day.as_ref())?;
        let Some(max_send_tlp) = max_send_tlp else {
            return Err(Malformed::new(
                format!("{own}.max_send_tlp"),
                format!(
                    "not set for {} in [{own}], its groups or [defaults]",
                    self.agency
                ),
            ));
        };
        let send = send.unwrap_or_default();
        if query_categories.is_none()
            && let Some(source) = sources.get("send").cloned()
        {
            sources.insert("query_categories", source);
        }
        Ok(PartnerRules {
            query_categories: query_categories.unwrap_or_else(|| send.clone()),
            send,
            receive: receive.unwrap_or_default(),
            max_send_tlp,
            accept_handling: accept_handling.unwrap_or_default(),
            forward_to: forward_to.unwrap_or_default(),
            max_receive_per_minute: max_receive_per_minute.unwrap_or(DEFAULT_RECEIVE_PER_MINUTE),
            query_kinds: query_kinds.unwrap_or_default(),
            query_received: query_received.unwrap_or(false),
            queries_per_day: queries_per_day.unwrap_or(DEFAULT_QUERIES_PER_DAY),
            groups,
            sources,
            own,
        })
    }
}

impl Policy {
    /// Parses and validates policy text, with no roster imported (groups drawn from a
    /// roster are empty). Errors name the line and the field.
    pub fn parse(text: &str) -> Result<Self, Malformed> {
        Self::parse_with_rosters(text, &RosterMembers::new())
    }

    /// Parses and validates policy text; a group naming a roster takes the members
    /// `rosters` lists for it. Errors name the line and the field.
    pub fn parse_with_rosters(text: &str, rosters: &RosterMembers) -> Result<Self, Malformed> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(text, s.start));
            Malformed::new(format!("policy line {line}"), e.message().to_owned())
        })?;
        let located = Located { text };
        let defaults = match raw.defaults {
            Some(section) => {
                let span = section.span();
                let section = section.into_inner();
                located.no_members("defaults", span.clone(), &section)?;
                located.section("defaults", span, section)?
            }
            None => SectionRules::default(),
        };
        let mut groups = BTreeMap::new();
        let mut group_rules = BTreeMap::new();
        let mut version_input = text.as_bytes().to_vec();
        for (name, section) in raw.groups {
            if !is_group_name(name.get_ref()) {
                return Err(Malformed::new(
                    located.at(name.span(), "groups"),
                    format!(
                        "{:?} is not a group name (lowercase letters, digits and '-'; not \"auto\")",
                        name.get_ref()
                    ),
                ));
            }
            let span = section.span();
            let mut section = section.into_inner();
            let table = format!("groups.{}", name.get_ref());
            let mut members = located.parse_each::<AgencyId>(
                section.members.take().unwrap_or_default(),
                &format!("{table}.members"),
            )?;
            let roster = section.roster.take().map(toml::Spanned::into_inner);
            if let Some(operation) = &roster
                && let Some((version, listed)) = rosters.get(operation)
            {
                members.extend(listed.iter().cloned());
                version_input.extend(format!("\0roster {operation} {version}").bytes());
            }
            members.sort();
            members.dedup();
            group_rules.insert(
                name.get_ref().clone(),
                located.section(&table, span, section)?,
            );
            groups.insert(name.into_inner(), Group { members, roster });
        }
        let mut own_rules = BTreeMap::new();
        for (name, section) in raw.partners {
            let agency: AgencyId = name.get_ref().parse().map_err(|e: Malformed| {
                Malformed::new(located.at(name.span(), "partners"), e.problem)
            })?;
            let span = section.span();
            let section = section.into_inner();
            let table = format!("partners.{agency}");
            located.no_members(&table, span.clone(), &section)?;
            own_rules.insert(agency, located.section(&table, span, section)?);
        }
        let mut named: BTreeMap<AgencyId, Vec<String>> = own_rules
            .keys()
            .map(|agency| (agency.clone(), Vec::new()))
            .collect();
        for (name, group) in &groups {
            for member in &group.members {
                named.entry(member.clone()).or_default().push(name.clone());
            }
        }
        let none = SectionRules::default();
        let mut partners = BTreeMap::new();
        for (agency, in_groups) in named {
            let mut tables = vec![(
                format!("partners.{agency}"),
                own_rules.get(&agency).unwrap_or(&none),
            )];
            for group in &in_groups {
                if let Some(rules) = group_rules.get(group) {
                    tables.push((format!("groups.{group}"), rules));
                }
            }
            tables.push(("defaults".to_owned(), &defaults));
            let rules = Layers {
                agency: &agency,
                tables,
            }
            .resolve(in_groups)?;
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
        let digest = crypto::sha256(&version_input);
        Ok(Self {
            partners,
            groups,
            originator_control,
            retention,
            version: data_encoding::HEXLOWER.encode(&digest[..8]),
            text: text.to_owned(),
        })
    }

    /// The policy that allows nothing (no file yet).
    pub fn deny_all() -> Self {
        Self {
            partners: BTreeMap::new(),
            groups: BTreeMap::new(),
            originator_control: Vec::new(),
            retention: Retention::default(),
            version: "deny-all".into(),
            text: String::new(),
        }
    }

    /// The same policy text resolved against other roster memberships (after a roster
    /// import): groups drawing on a roster take its members now.
    ///
    /// Errors: [`Malformed`] if a new member's rules conflict (two groups disagree).
    pub fn with_rosters(&self, rosters: &RosterMembers) -> Result<Self, Malformed> {
        if self.version == "deny-all" {
            return Ok(self.clone());
        }
        Self::parse_with_rosters(&self.text, rosters)
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
        let origin_rules = self.partners.get(origin);
        let allowed_by_origin = released
            || origin_rules
                .is_some_and(|r| r.forward_to.iter().any(|t| t == "*" || t == to.as_str()));
        if !allowed_by_origin {
            return Decision::Denied {
                rule: origin_rules.map_or_else(
                    || format!("partners.{origin}.forward_to"),
                    |r| r.rule("forward_to"),
                ),
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

    /// Every group, by name.
    pub fn groups(&self) -> &BTreeMap<String, Group> {
        &self.groups
    }

    /// Every partner the policy names (in a `[partners.X]` table or a group).
    pub fn partners(&self) -> impl Iterator<Item = (&AgencyId, &PartnerRules)> {
        self.partners.iter()
    }

    /// May a bulletin with `marking` be sent to `partner`?
    pub fn egress(&self, partner: &AgencyId, marking: &Marking) -> Decision {
        let Some(rules) = self.partners.get(partner) else {
            return not_in_policy(partner);
        };
        if marking.tlp > rules.max_send_tlp {
            return Decision::Denied {
                rule: rules.rule("max_send_tlp"),
                reason: format!(
                    "{} is above the {} allowed for {partner}",
                    marking.tlp, rules.max_send_tlp
                ),
            };
        }
        if let Some(denied) = handling_denied(partner, rules, marking) {
            return denied;
        }
        match rules.send.iter().find(|p| marking.category.is_under(p)) {
            Some(prefix) => Decision::Allowed {
                rule: format!("{}[{prefix:?}]", rules.rule("send")),
            },
            None => Decision::Denied {
                rule: rules.rule("send"),
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
        if let Some(denied) = handling_denied(partner, rules, marking) {
            return denied;
        }
        match rules.receive.iter().find(|p| marking.category.is_under(p)) {
            Some(prefix) => Decision::Allowed {
                rule: format!("{}[{prefix:?}]", rules.rule("receive")),
            },
            None => Decision::Denied {
                rule: rules.rule("receive"),
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
    partner: &AgencyId,
    rules: &PartnerRules,
    marking: &Marking,
) -> Option<Decision> {
    marking
        .handling_codes
        .iter()
        .find(|code| !rules.accept_handling.contains(code))
        .map(|code| Decision::Denied {
            rule: rules.rule("accept_handling"),
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

    const GROUPED: &str = r#"
[defaults]
receive = ["trafficking"]
max_send_tlp = "green"
accept_handling = ["H2"]

[groups.jit-alpha]
members = ["DE-BKA", "FR-OCRTEH"]
roster = "alpha"
send = ["trafficking"]
max_send_tlp = "amber"

[groups.eu]
members = ["DE-BKA", "IT-DCSA"]
forward_to = ["*"]

[partners.DE-BKA]
max_send_tlp = "red"
"#;

    #[test]
    fn groups_and_defaults_resolve_per_field_and_decisions_name_the_table() {
        let rosters: RosterMembers = [(
            "alpha".to_owned(),
            (
                3,
                vec!["ES-CNP".parse().unwrap(), "DE-BKA".parse().unwrap()],
            ),
        )]
        .into();
        let p = Policy::parse_with_rosters(GROUPED, &rosters).unwrap();
        let agency = |a: &str| a.parse::<AgencyId>().unwrap();
        let names: Vec<&str> = p.partners().map(|(a, _)| a.as_str()).collect();
        assert_eq!(names, ["DE-BKA", "ES-CNP", "FR-OCRTEH", "IT-DCSA"]);
        assert_eq!(
            p.groups()["jit-alpha"].members,
            [agency("DE-BKA"), agency("ES-CNP"), agency("FR-OCRTEH")]
        );
        let m = marking("trafficking.persons", "amber", &[]);
        // ES-CNP is in the group only through the roster: the group's send and TLP.
        assert_eq!(
            p.egress(&agency("ES-CNP"), &m).rule(),
            r#"groups.jit-alpha.send["trafficking"]"#
        );
        // IT-DCSA: no send anywhere for it; the TLP from [defaults] refuses first.
        assert_eq!(
            p.egress(&agency("IT-DCSA"), &m).rule(),
            "defaults.max_send_tlp"
        );
        assert_eq!(
            p.egress(&agency("IT-DCSA"), &marking("trafficking", "green", &[]))
                .rule(),
            "partners.IT-DCSA.send"
        );
        // The partner's own table wins over its group's.
        let de = p.partner(&agency("DE-BKA")).unwrap();
        assert_eq!(de.max_send_tlp, Tlp::Red);
        assert_eq!(de.rule("max_send_tlp"), "partners.DE-BKA.max_send_tlp");
        assert_eq!(de.rule("forward_to"), "groups.eu.forward_to");
        assert_eq!(de.rule("receive"), "defaults.receive");
        assert_eq!(de.groups, ["eu", "jit-alpha"]);
        assert_eq!(
            p.ingress(
                &agency("FR-OCRTEH"),
                &marking("trafficking", "red", &["H3"])
            )
            .rule(),
            "defaults.accept_handling"
        );
        // The roster's version is part of the policy's.
        let mut newer = rosters.clone();
        newer.get_mut("alpha").unwrap().0 = 4;
        assert_ne!(
            p.version(),
            Policy::parse_with_rosters(GROUPED, &newer)
                .unwrap()
                .version()
        );
        // Without the roster imported, its members are not partners.
        assert!(
            Policy::parse(GROUPED)
                .unwrap()
                .partner(&agency("ES-CNP"))
                .is_none()
        );
    }

    #[test]
    fn conflicting_groups_a_missing_tlp_and_bad_names_are_refused_by_name() {
        let conflict = GROUPED.replace("forward_to = [\"*\"]", "send = [\"fraud\"]");
        let e = Policy::parse(&conflict).unwrap_err();
        assert_eq!(e.field, "partners.DE-BKA.send", "{e}");
        assert!(e.problem.contains("groups.eu and groups.jit-alpha"), "{e}");
        let e = Policy::parse("[groups.g]\nmembers = [\"DE-BKA\"]\n").unwrap_err();
        assert_eq!(e.field, "partners.DE-BKA.max_send_tlp", "{e}");
        let e = Policy::parse("[groups.Big]\nmax_send_tlp = \"red\"\n").unwrap_err();
        assert!(e.field.starts_with("policy line 1: groups"), "{e}");
        let e = Policy::parse("[groups.g]\nmembers = [\"nope\"]\n").unwrap_err();
        assert_eq!(e.field, "policy line 2: groups.g.members", "{e}");
        let e =
            Policy::parse("[partners.DE-BKA]\nmax_send_tlp = \"red\"\nmembers = []\n").unwrap_err();
        assert!(e.problem.contains("[groups.NAME]"), "{e}");
        let e = Policy::parse("[defaults]\nmax_send_tlp = \"mauve\"\n").unwrap_err();
        assert_eq!(e.field, "policy line 2: defaults.max_send_tlp", "{e}");
    }

    #[test]
    fn the_shipped_joint_operation_policy_is_short_and_covers_thirty_partners() {
        let text = include_str!("../../../config/jit.policy.toml");
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            .count();
        assert!(lines < 30, "{lines} non-comment lines");
        let p = Policy::parse(text).unwrap();
        assert_eq!(p.partners().count(), 30);
        assert!(
            p.partners()
                .all(|(_, r)| r.groups.iter().any(|g| g == "jit-alpha"))
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
