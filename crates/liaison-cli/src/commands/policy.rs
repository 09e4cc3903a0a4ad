//! `liaison policy show | check | explain | reload`.

use std::path::Path;

use anyhow::{Context as _, Result};
use liaison_core::AgencyId;
use liaison_node::edge::admin::{self, PolicyCheck, PolicyExplain, PolicyReload, PolicyShow};
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
    for group in &view.groups {
        let roster = group
            .roster
            .as_ref()
            .map(|r| format!(" (with roster {r})"))
            .unwrap_or_default();
        output::line(format_args!(
            "Group {}{roster}: {} members: {}",
            group.name,
            group.members.len(),
            group.members.join(", ")
        ))?;
    }
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
                p.groups.join(","),
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
            "GROUPS",
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

pub fn show(data_dir: &Path, partner: Option<&AgencyId>, json: bool) -> Result<()> {
    let view = call(data_dir, PolicyShow {})?;
    let Some(partner) = partner else {
        if json {
            return output::json(&view);
        }
        return print_policy(&view);
    };
    let Some(rules) = view.partners.iter().find(|p| p.agency == partner.as_str()) else {
        anyhow::bail!(
            "the sharing policy (version {}) names no {partner}: it gets nothing and is accepted for nothing (default-deny)",
            view.version
        );
    };
    if json {
        return output::json(rules);
    }
    let from = |field: &str| {
        rules
            .sources
            .get(field)
            .cloned()
            .unwrap_or_else(|| "built-in default".into())
    };
    let list = |items: &[String]| {
        if items.is_empty() {
            "(none)".to_owned()
        } else {
            items.join(", ")
        }
    };
    output::line(format_args!(
        "{partner} under policy {} (groups: {})",
        view.version,
        list(&rules.groups)
    ))?;
    let rows = vec![
        ("send", list(&rules.send)),
        ("receive", list(&rules.receive)),
        ("max_send_tlp", rules.max_send_tlp.clone()),
        ("accept_handling", list(&rules.accept_handling)),
        ("forward_to", list(&rules.forward_to)),
        (
            "max_receive_per_minute",
            rules.max_receive_per_minute.to_string(),
        ),
        ("query_kinds", list(&rules.query_kinds)),
        ("queries_per_day", rules.queries_per_day.to_string()),
    ]
    .into_iter()
    .map(|(field, value)| vec![field.to_owned(), value, from(field)])
    .collect::<Vec<_>>();
    output::table(&["RULE", "VALUE", "SET IN"], &rows)
}

pub fn check(file: &Path, data_dir: Option<&Path>, json: bool) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let view = match data_dir {
        Some(dir) => call(dir, PolicyCheck { text })
            .with_context(|| format!("{} is not a valid policy", file.display()))?,
        None => policy_view(
            &liaison_core::policy::Policy::parse(&text)
                .with_context(|| format!("{} is not a valid policy", file.display()))?,
        ),
    };
    if json {
        return output::json(&view);
    }
    print_policy(&view)?;
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
