//! `liaison policy show | check | explain | reload`.

use std::path::Path;

use anyhow::{Context as _, Result};
use liaison_node::edge::admin::{self, PolicyExplain, PolicyReload, PolicyShow};
use liaison_node::ops::policy::{PolicyView, Question, policy_view};

use super::call;
use crate::output;

fn print_policy(view: &PolicyView) -> Result<()> {
    output::line(format_args!("Sharing policy version {}", view.version))?;
    for warning in &view.warnings {
        eprintln!("WARNING: {warning}");
    }
    output::line(format_args!(
        "Originator-control handling codes: {}",
        if view.originator_control.is_empty() {
            "none".to_owned()
        } else {
            view.originator_control.join(", ")
        }
    ))?;
    output::line(format_args!("Retention: {}", view.retention.join("; ")))?;
    if view.partners.is_empty() {
        return output::line(format_args!(
            "No partner is named: nothing is sent or accepted (deny by default)."
        ));
    }
    let rows: Vec<Vec<String>> = view
        .partners
        .iter()
        .map(|p| {
            vec![
                p.agency.clone(),
                p.send.join(","),
                p.receive.join(","),
                p.max_send_tlp.clone(),
                p.accept_handling.join(","),
                p.forward_to.join(","),
                p.max_receive_per_minute.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "PARTNER",
            "SEND",
            "RECEIVE",
            "MAX TLP",
            "HANDLING",
            "FORWARD TO",
            "MAX/MIN",
        ],
        &rows,
    )
}

pub fn show(data_dir: &Path, json: bool) -> Result<()> {
    let view = call(data_dir, PolicyShow {})?;
    if json {
        return output::json(&view);
    }
    print_policy(&view)
}

pub fn check(file: &Path, json: bool) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let policy = liaison_core::policy::Policy::parse(&text)
        .with_context(|| format!("{} is not a valid policy", file.display()))?;
    if json {
        return output::json(&policy_view(&policy));
    }
    print_policy(&policy_view(&policy))?;
    output::line(format_args!("{} is valid.", file.display()))
}

pub fn explain(data_dir: &Path, explain: PolicyExplain, json: bool) -> Result<()> {
    let incoming = matches!(explain.question, Question::From { .. });
    let view = call(data_dir, explain)?;
    if json {
        return output::json(&view);
    }
    let verdict = match (incoming, view.allowed) {
        (false, true) => "WOULD GO",
        (false, false) => "WOULD NOT GO",
        (true, true) => "WOULD BE ACCEPTED",
        (true, false) => "WOULD BE REFUSED",
    };
    output::line(format_args!(
        "{verdict}: {} (policy {})",
        view.decision, view.policy_version
    ))
}

pub fn reload(data_dir: &Path, json: bool) -> Result<()> {
    if !admin::socket::node_running(data_dir) {
        anyhow::bail!(
            "the node is not running; it reads {} when it starts",
            data_dir.join("policy.toml").display()
        );
    }
    let view = call(data_dir, PolicyReload {})?;
    if json {
        return output::json(&view);
    }
    output::line(format_args!("Policy {} is in force.", view.version))
}
