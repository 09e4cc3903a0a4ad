//! `liaison status`: readable at a glance, complete in JSON.

use std::path::Path;

use anyhow::Result;
use liaison_node::edge::admin::Status;

use super::call;
use crate::output;

pub fn show(data_dir: &Path, wide: bool, json: bool) -> Result<()> {
    let view = call(data_dir, Status {})?;
    if json {
        return output::json(&view);
    }
    let mut fields = vec![
        ("Agency", view.agency.clone()),
        (
            "Node",
            if view.running {
                "running".into()
            } else {
                "NOT RUNNING".to_owned()
            },
        ),
        ("Peer listener", view.peer_listen.clone()),
        ("API listener", view.api_listen.clone()),
        (
            "Log",
            format!(
                "{} entries, head {}, {} checkpoints",
                view.log_entries, view.log_head, view.checkpoints
            ),
        ),
        ("Policy", view.policy_version.clone()),
        (
            "Keys",
            view.keys
                .iter()
                .map(|k| format!("{} {} ({} days old)", k.purpose, k.key_id, k.age_days))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    if let Some(taxii) = &view.taxii_listen {
        fields.insert(4, ("TAXII server", format!("https://{taxii}/taxii2/")));
    }
    if let Some(desk) = &view.desk_listen {
        fields.insert(4, ("Desk", format!("https://{desk}/")));
    }
    output::fields(&fields)?;
    output::line(format_args!(""))?;
    let s = &view.summary;
    let mut summary = if view.running {
        format!(
            "Partners: {} ({} connected, {} idle, {} failing)",
            s.partners, s.connected, s.idle, s.failing
        )
    } else {
        format!("Partners: {} (the node is not running)", s.partners)
    };
    if s.queued > 0 {
        summary.push_str(&format!(
            "; {} bulletins queued for {} partner{}",
            s.queued,
            s.partners_with_queue,
            if s.partners_with_queue == 1 { "" } else { "s" }
        ));
    }
    output::line(format_args!("{summary}"))?;
    // Failing partners first, one line each with the cause.
    for p in view.partners.iter().filter(|p| p.connection == "failing") {
        output::line(format_args!(
            "  FAILING {} for {}: {} ({} queued)",
            p.agency,
            p.failing_seconds
                .map(|s| format!("{}m{:02}s", s / 60, s % 60))
                .unwrap_or_default(),
            p.last_error.clone().unwrap_or_default(),
            p.outbox
        ))?;
    }
    output::line(format_args!(""))?;
    let rows: Vec<Vec<String>> = view
        .partners
        .iter()
        .map(|p| {
            vec![
                p.agency.clone(),
                p.connection.clone(),
                p.identity_version.to_string(),
                p.outbox.to_string(),
                p.oldest_queued_seconds
                    .map(|s| format!("{s}s"))
                    .unwrap_or_else(|| "-".into()),
                p.last_delivery.clone().unwrap_or_else(|| "-".into()),
                match p.refused.iter().map(|(_, n)| n).sum::<u64>() {
                    0 => "-".into(),
                    total => total.to_string(),
                },
                p.last_error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let headers = [
        "PARTNER",
        "CONNECTION",
        "IDENTITY",
        "OUTBOX",
        "OLDEST",
        "LAST DELIVERY",
        "REFUSED",
        "LAST ERROR",
    ];
    if wide {
        output::table(&headers, &rows)?;
    } else {
        // Narrow: partner, connection, outbox, last delivery (failures are above).
        const NARROW: [usize; 4] = [0, 1, 3, 5];
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|r| NARROW.iter().map(|&i| r[i].clone()).collect())
            .collect();
        output::table(&NARROW.map(|i| headers[i]), &rows)?;
    }
    for warning in &view.warnings {
        output::line(format_args!("WARNING: {warning}"))?;
    }
    Ok(())
}
