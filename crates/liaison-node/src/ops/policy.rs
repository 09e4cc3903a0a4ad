//! The sharing policy as the operator sees it: show, explain.

use liaison_core::policy::Policy;
use liaison_core::{AgencyId, Category, HandlingCode, Marking, Tlp};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::state::NodeState;

/// The policy as shown to the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    /// Its version (hash of the file).
    pub version: String,
    /// Handling codes by which an originator keeps control (`[handling]
    /// originator_control`): bulletins carrying one are never forwarded.
    #[serde(default)]
    pub originator_control: Vec<String>,
    /// Problems worth a look: partners the policy names that are not imported (a
    /// typo, or a `peer add` still to do). Empty from `policy check`.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Retention: `default: N days`, then `CATEGORY: N days` per prefix.
    #[serde(default)]
    pub retention: Vec<String>,
    /// One line per partner rule.
    pub partners: Vec<PartnerPolicyView>,
    /// The groups (`[groups.NAME]`), with their members as resolved here.
    #[serde(default)]
    pub groups: Vec<GroupView>,
}

/// One policy group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    /// Its name (`--to NAME`).
    pub name: String,
    /// Its members: listed, and those of its roster as imported on this node.
    pub members: Vec<String>,
    /// The roster it draws members from, if any.
    pub roster: Option<String>,
}

/// One partner's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerPolicyView {
    /// The partner.
    pub agency: String,
    /// Categories we send.
    pub send: Vec<String>,
    /// Categories we accept.
    pub receive: Vec<String>,
    /// Highest TLP sent.
    pub max_send_tlp: String,
    /// Handling codes allowed.
    pub accept_handling: Vec<String>,
    /// Onward sharing of their bulletins.
    pub forward_to: Vec<String>,
    /// Ingress rate limit.
    pub max_receive_per_minute: u32,
    /// Selector kinds it may ask about in private queries.
    #[serde(default)]
    pub query_kinds: Vec<String>,
    /// Private queries answered for it per day.
    #[serde(default)]
    pub queries_per_day: u32,
    /// The groups it belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// For each rule, the table that set it (`partners.X`, `groups.NAME`,
    /// `defaults`); a rule not listed has its built-in default.
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, String>,
}

/// Renders a policy for the operator.
pub fn policy_view(policy: &Policy) -> PolicyView {
    PolicyView {
        version: policy.version().to_owned(),
        warnings: Vec::new(),
        retention: std::iter::once(format!("default: {} days", policy.retention().default_days))
            .chain(
                policy
                    .retention()
                    .categories
                    .iter()
                    .map(|(prefix, days)| format!("{prefix}: {days} days")),
            )
            .collect(),
        originator_control: policy
            .originator_control()
            .iter()
            .map(ToString::to_string)
            .collect(),
        partners: policy
            .partners()
            .map(|(agency, r)| PartnerPolicyView {
                agency: agency.to_string(),
                send: r.send.clone(),
                receive: r.receive.clone(),
                max_send_tlp: r.max_send_tlp.as_str().to_owned(),
                accept_handling: r.accept_handling.iter().map(ToString::to_string).collect(),
                forward_to: r.forward_to.clone(),
                max_receive_per_minute: r.max_receive_per_minute,
                query_kinds: r.query_kinds.clone(),
                queries_per_day: r.queries_per_day,
                groups: r.groups.clone(),
                sources: r
                    .sources
                    .iter()
                    .map(|(field, table)| ((*field).to_owned(), table.clone()))
                    .collect(),
            })
            .collect(),
        groups: policy
            .groups()
            .iter()
            .map(|(name, g)| GroupView {
                name: name.clone(),
                members: g.members.iter().map(ToString::to_string).collect(),
                roster: g.roster.clone(),
            })
            .collect(),
    }
}

/// Validates policy text against this node without putting it in force: groups drawn
/// from rosters take the members imported here, and partners it names that are not
/// imported are warned about.
///
/// Errors: [`Error::Policy`] naming the line and field.
pub fn policy_check(state: &NodeState, text: &str) -> Result<PolicyView> {
    let policy = Policy::parse_with_rosters(text, &state.roster_members()?)
        .map_err(|e| Error::Policy(e.to_string()))?;
    Ok(policy_in_force(state, &policy))
}

/// The policy in force on `state`'s node, with warnings about partners it names that
/// the node does not know.
pub fn policy_in_force(state: &NodeState, policy: &Policy) -> PolicyView {
    let mut view = policy_view(policy);
    view.warnings = unknown_partners(state, policy);
    view
}

/// One warning per partner `policy` names that is not an imported partner.
pub fn unknown_partners(state: &NodeState, policy: &Policy) -> Vec<String> {
    let partners = state.partners.snapshot();
    policy
        .partners()
        .filter(|(agency, _)| partners.get(agency).is_none())
        .map(|(agency, rules)| {
            let named_in = if rules.groups.is_empty() {
                String::new()
            } else {
                format!(" (in groups.{})", rules.groups.join(", groups."))
            };
            format!(
                "the sharing policy names {agency}{named_in}, which is not a partner: a typo, or import it with `liaison peer add` or a roster"
            )
        })
        .chain(policy.groups().iter().filter_map(|(name, group)| {
            let roster = group.roster.as_ref()?;
            group.members.is_empty().then(|| {
                format!(
                    "groups.{name} draws on roster {roster:?}, which is not imported here: it has no members yet"
                )
            })
        }))
        .collect()
}

/// The answer to "would this go, and why not".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplainView {
    /// Whether it would be sent.
    pub allowed: bool,
    /// The rule that decides.
    pub rule: String,
    /// The decision in words.
    pub decision: String,
    /// The policy version judged under.
    pub policy_version: String,
}

/// Which way the question goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Question {
    /// Would a bulletin go to this partner? With `origin`, a bulletin received from
    /// `origin` and forwarded by this node.
    To {
        /// The partner.
        partner: AgencyId,
        /// The originator of a bulletin this node would forward.
        origin: Option<AgencyId>,
    },
    /// Would a bulletin from this partner be accepted? With `origin`, `origin`'s
    /// bulletin forwarded by the partner.
    From {
        /// The partner.
        partner: AgencyId,
        /// The originator of a bulletin the partner forwards.
        origin: Option<AgencyId>,
    },
}

/// Judges a marking without sending or receiving anything: egress to a partner, onward
/// sharing by this node, ingress from a partner, or a partner's forward of another
/// agency's bulletin — each by exactly the rules the node applies, for a forward made
/// without a release grant.
pub fn policy_explain(
    state: &NodeState,
    question: &Question,
    marking: Marking,
) -> Result<ExplainView> {
    let policy = state.policy.snapshot();
    let (partner, decision) = match question {
        Question::To {
            partner,
            origin: None,
        } => (partner, policy.egress(partner, &marking)),
        Question::To {
            partner,
            origin: Some(origin),
        } => (partner, policy.onward(origin, partner, &marking, false)),
        Question::From { partner, origin } => match origin {
            Some(origin) if origin != partner => (
                partner,
                policy.ingress_forwarded(origin, partner, &marking, false),
            ),
            _ => (partner, policy.ingress(partner, &marking)),
        },
    };
    let decision = if state.partners.snapshot().get(partner).is_none() {
        liaison_core::policy::Decision::Denied {
            rule: "partners".into(),
            reason: format!("{partner} is not a known partner (no identity imported)"),
        }
    } else {
        decision
    };
    Ok(ExplainView {
        allowed: decision.is_allowed(),
        rule: decision.rule().to_owned(),
        decision: decision.to_string(),
        policy_version: policy.version().to_owned(),
    })
}

/// A marking from its parts, or the reason it is not one.
///
/// Errors: [`Error::InvalidRequest`] naming the rule broken.
pub fn marking(category: Category, tlp: Tlp, handling: Vec<HandlingCode>) -> Result<Marking> {
    Marking::new(category, tlp, handling).map_err(|e| Error::InvalidRequest(e.to_string()))
}
