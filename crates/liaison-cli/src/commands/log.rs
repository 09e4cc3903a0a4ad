//! `liaison log verify | export`: inside a running node over its admin socket, or
//! offline on the data directory with a progress bar on a terminal.

use std::path::Path;

use anyhow::{Context as _, Result};
use liaison_node::Node;
use liaison_node::edge::admin::{self, LogExport, LogVerify};
use liaison_node::node::state::NodeState;
use liaison_node::ops::log::{ExportedBody, ExportedEntry, VerifyView, log_export, verify_log};

use super::call;
use crate::output;

fn progress_bar(total: u64, verb: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{verb} {{bar:40}} {{pos}}/{{len}} entries ({{eta}} left)"
        ))
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

pub fn verify(data_dir: &Path, json: bool) -> Result<()> {
    let report: VerifyView = if admin::socket::node_running(data_dir) {
        call(data_dir, LogVerify {}).context("the log does NOT verify")?
    } else {
        let node = Node::load(data_dir)?;
        let log = node.open_log().context("cannot open the log")?;
        let bar = progress_bar(log.head().seq, "verifying");
        let verified = verify_log(&node, &log, &mut |seq| {
            if seq % 1024 == 0 {
                bar.set_position(seq);
            }
        });
        bar.finish_and_clear();
        verified.context("the log does NOT verify")?
    };
    if json {
        return output::json(&serde_json::json!({
            "ok": true,
            "entries": report.entries,
            "head_seq": report.entries,
            "head_hash": report.head_hash,
            "checkpoints": report.checkpoints,
            "external_bodies": report.external_bodies,
        }));
    }
    output::line(format_args!(
        "Log verified: {} entries, head {} {}, {} signed checkpoints, {} external bodies",
        report.entries,
        report.entries,
        report.head_hash,
        report.checkpoints,
        report.external_bodies
    ))
}

pub fn export(data_dir: &Path, since: u64, limit: usize, json: bool) -> Result<()> {
    let entries = if admin::socket::node_running(data_dir) {
        call(data_dir, LogExport { since, limit })?
    } else {
        export_offline(data_dir, since, limit)?
    };
    if json {
        return output::json(&entries);
    }
    for e in &entries {
        output::line(format_args!(
            "{} {} {:<16} {} {} {}",
            e.seq,
            e.time,
            e.kind,
            e.hash,
            e.bulletin_id
                .as_deref()
                .or(e.agency.as_deref())
                .unwrap_or("-"),
            describe_body(&e.body)
        ))?;
    }
    Ok(())
}

/// Exports in chunks, with a progress bar on a terminal.
fn export_offline(data_dir: &Path, since: u64, limit: usize) -> Result<Vec<ExportedEntry>> {
    let state = NodeState::open(Node::load(data_dir)?)?;
    let first = since.max(1);
    let last = state
        .log
        .head()
        .seq
        .min(first.saturating_add(limit as u64).saturating_sub(1));
    let bar = progress_bar(last.saturating_sub(first) + 1, "exporting");
    let mut entries = Vec::new();
    let mut next = first;
    while entries.len() < limit {
        let chunk = log_export(&state, next, (limit - entries.len()).min(4096))?;
        let Some(tail) = chunk.last().map(|e| e.seq) else {
            break;
        };
        bar.inc(chunk.len() as u64);
        entries.extend(chunk);
        next = tail + 1;
    }
    bar.finish_and_clear();
    Ok(entries)
}

/// One line's worth of an entry's body: the event as JSON, or what kind of bytes.
fn describe_body(body: &ExportedBody) -> String {
    match body {
        ExportedBody::Event(event) => serde_json::to_string(event).unwrap_or_default(),
        ExportedBody::Acknowledgement(ack) => serde_json::to_string(ack).unwrap_or_default(),
        ExportedBody::Record { bytes } => format!("(signed record, {bytes} bytes)"),
        ExportedBody::Unrecognised { bytes } => format!("(unrecognised body, {bytes} bytes)"),
        ExportedBody::Erased => "(erased)".into(),
    }
}
