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
    /// One line per partner rule.
    pub partners: Vec<PartnerPolicyView>,
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
}

/// Renders a policy for the operator.
pub fn policy_view(policy: &Policy) -> PolicyView {
    PolicyView {
        version: policy.version().to_owned(),
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
            })
            .collect(),
    }
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

/// Judges a marking for a partner without sending anything.
pub fn policy_explain(
    state: &NodeState,
    agency: &AgencyId,
    category: Category,
    tlp: Tlp,
    handling: Vec<HandlingCode>,
) -> Result<ExplainView> {
    let marking =
        Marking::new(category, tlp, handling).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    let policy = state.policy.snapshot();
    let mut decision = policy.egress(agency, &marking);
    if state.partners.snapshot().get(agency).is_none() {
        decision = liaison_core::policy::Decision::Denied {
            rule: "partners".into(),
            reason: format!("{agency} is not a known partner (no identity imported)"),
        };
    }
    Ok(ExplainView {
        allowed: decision.is_allowed(),
        rule: decision.rule().to_owned(),
        decision: decision.to_string(),
        policy_version: policy.version().to_owned(),
    })
}
