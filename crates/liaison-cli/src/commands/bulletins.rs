//! `liaison bulletin send | list | show | forward | recall`.

use std::path::Path;

use anyhow::Result;
use liaison_core::{AgencyId, BulletinId};
use liaison_node::edge::admin::{
    BulletinForward, BulletinList, BulletinRecall, BulletinRelease, BulletinSend, BulletinShow,
};
use liaison_node::ops::bulletins::Direction;
use liaison_node::ops::bulletins::views::{BulletinDetail, SendRequest};

use super::call;
use crate::output;

pub fn send(data_dir: &Path, request: SendRequest, json: bool) -> Result<()> {
    let sent = call(data_dir, BulletinSend(request))?;
    if json {
        return output::json(&sent);
    }
    output::line(format_args!("{}", sent.id))?;
    eprintln!(
        "queued for {} (log entry {})",
        sent.queued_for.join(", "),
        sent.log_seq
    );
    for refused in &sent.refused {
        eprintln!("NOT sent to {refused}");
    }
    Ok(())
}

pub fn list(data_dir: &Path, request: BulletinList, json: bool) -> Result<()> {
    let list = call(data_dir, request)?;
    if json {
        return output::json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|b| {
            vec![
                b.id.clone(),
                match b.direction {
                    Direction::In => "in".into(),
                    Direction::Out => "out".into(),
                },
                b.origin.clone(),
                b.recipients.join(","),
                b.category.clone(),
                b.tlp.clone(),
                b.title.clone(),
            ]
        })
        .collect();
    output::table(
        &["ID", "DIR", "ORIGIN", "TO", "CATEGORY", "TLP", "TITLE"],
        &rows,
    )
}

pub fn show(data_dir: &Path, id: BulletinId, json: bool) -> Result<()> {
    let b = call(data_dir, BulletinShow { id })?;
    if json {
        return output::json(&b);
    }
    print_bulletin(&b)
}

/// A bulletin for a person: header fields, the body, acknowledgements, and for one's
/// own bulletins a table of delivery to each recipient.
pub fn print_bulletin(b: &BulletinDetail) -> Result<()> {
    output::fields(&[
        ("Bulletin", b.summary.id.clone()),
        ("Title", b.summary.title.clone()),
        ("Origin", b.summary.origin.clone()),
        ("Signature", b.signature.clone()),
        ("Recipients", b.summary.recipients.join(", ")),
        ("Category", b.summary.category.clone()),
        (
            "Marking",
            format!("{} {}", b.summary.tlp, b.handling_codes.join(" ")),
        ),
        ("Created", b.created.clone()),
        ("Expires", b.expires.clone()),
    ])?;
    output::line(format_args!(""))?;
    output::line(format_args!("{}", b.body))?;
    if !b.entities.is_empty() {
        output::line(format_args!(""))?;
        let rows: Vec<Vec<String>> = b
            .entities
            .iter()
            .map(|e| {
                let (kind, text) = e.describe();
                vec![kind.to_owned(), text]
            })
            .collect();
        output::table(&["ENTITY", "DETAILS"], &rows)?;
    }
    for ack in &b.acknowledgements {
        output::line(format_args!("Acknowledged {ack}"))?;
    }
    if b.delivery.is_empty() {
        return print_onward(b);
    }
    output::line(format_args!(""))?;
    let rows: Vec<Vec<String>> = b
        .delivery
        .iter()
        .map(|d| {
            vec![
                d.agency.clone(),
                d.state.clone(),
                d.receiver_log_seq
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
                d.receipt_time.clone().unwrap_or_default(),
                d.detail.clone().unwrap_or_default(),
            ]
        })
        .collect();
    output::table(
        &[
            "RECIPIENT",
            "DELIVERY",
            "THEIR LOG ENTRY",
            "SIGNED RECEIPT AT",
            "DETAIL",
        ],
        &rows,
    )?;
    print_onward(b)
}

/// The onward chain (release grants, forwards, downstream purges), when there is one.
fn print_onward(b: &BulletinDetail) -> Result<()> {
    if !b.onward.is_empty() {
        output::line(format_args!(""))?;
        output::line(format_args!("Onward (from signed grants and notices):"))?;
        for line in &b.onward {
            output::line(format_args!("  {line}"))?;
        }
    }
    Ok(())
}

pub fn recall(data_dir: &Path, id: BulletinId, reason: String, json: bool) -> Result<()> {
    let view = call(data_dir, BulletinRecall { id, reason })?;
    if json {
        return output::json(&view);
    }
    if !view.recall_sent_to.is_empty() {
        output::line(format_args!(
            "Recall of {} sent to {}",
            view.id,
            view.recall_sent_to.join(", ")
        ))?;
    }
    if !view.withdrawn_before_delivery.is_empty() {
        output::line(format_args!(
            "Withdrawn before delivery from {}",
            view.withdrawn_before_delivery.join(", ")
        ))?;
    }
    output::line(format_args!(
        "`liaison bulletin show {}` shows each recipient's signed purge receipt.",
        view.id
    ))
}

pub fn release(data_dir: &Path, request: BulletinRelease, json: bool) -> Result<()> {
    let view = call(data_dir, request)?;
    if json {
        return output::json(&view);
    }
    output::line(format_args!(
        "{} released to {} until {}; the signed grant is queued for {} (log entry {}).",
        view.id,
        view.to.join(", "),
        view.expires,
        view.holders.join(", "),
        view.log_seq
    ))
}

pub fn forward(data_dir: &Path, id: BulletinId, to: AgencyId, json: bool) -> Result<()> {
    let view = call(data_dir, BulletinForward { id, to })?;
    if json {
        return output::json(&view);
    }
    output::line(format_args!(
        "{} (from {}) queued for {}: {}",
        view.id, view.origin, view.to, view.decision
    ))
}
