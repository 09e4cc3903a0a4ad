//! `liaison bulletin send | list | show | thread | attachment | ack | forward | recall |
//! release`.

use std::path::Path;

use anyhow::{Context as _, Result};
use liaison_core::{AgencyId, BulletinId};
use liaison_node::edge::admin::{
    BulletinAcknowledge, BulletinAttachment, BulletinForward, BulletinList, BulletinOpenRequests,
    BulletinRecall, BulletinRelease, BulletinSend, BulletinShow, BulletinThread,
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

pub fn thread(data_dir: &Path, id: BulletinId, json: bool) -> Result<()> {
    let thread = call(data_dir, BulletinThread { id })?;
    if json {
        return output::json(&thread);
    }
    let rows: Vec<Vec<String>> = thread
        .iter()
        .map(|b| {
            vec![
                b.created.clone(),
                b.origin.clone(),
                b.id.clone(),
                b.recipients.join(","),
                b.tlp.clone(),
                b.title.clone(),
            ]
        })
        .collect();
    output::table(&["CREATED", "FROM", "ID", "TO", "TLP", "TITLE"], &rows)
}

pub fn search(
    data_dir: &Path,
    search: liaison_node::edge::admin::Search,
    json: bool,
) -> Result<()> {
    let found = call(data_dir, search)?;
    if json {
        return output::json(&found);
    }
    if found.is_empty() {
        return output::line(format_args!("No bulletin held here carries them."));
    }
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|b| {
            vec![
                b.created.clone(),
                match b.direction {
                    Direction::In => "in".into(),
                    Direction::Out => "out".into(),
                },
                b.origin.clone(),
                b.id.clone(),
                b.tlp.clone(),
                b.title.clone(),
            ]
        })
        .collect();
    output::table(&["CREATED", "", "FROM", "ID", "TLP", "TITLE"], &rows)
}

pub fn query(
    data_dir: &Path,
    selectors: Vec<(String, String)>,
    partners: &str,
    json: bool,
) -> Result<()> {
    let partners = match partners.trim() {
        "all" | "" => Vec::new(),
        list => list
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
    };
    let report = call(
        data_dir,
        liaison_node::edge::admin::Query {
            selectors,
            partners,
        },
    )?;
    if json {
        return output::json(&report);
    }
    let mut rows = Vec::new();
    for answer in &report.answers {
        match &answer.error {
            Some(error) => rows.push(vec![
                answer.partner.clone(),
                "-".into(),
                format!("no answer: {error}"),
                String::new(),
            ]),
            None => {
                for (selector, hit) in report.selectors.iter().zip(&answer.hits) {
                    rows.push(vec![
                        answer.partner.clone(),
                        selector.clone(),
                        if *hit { "HIT" } else { "no hit" }.into(),
                        answer.remaining_today.to_string(),
                    ]);
                }
            }
        }
    }
    output::table(&["PARTNER", "SELECTOR", "ANSWER", "LEFT TODAY"], &rows)?;
    let hits: Vec<&str> = report
        .answers
        .iter()
        .filter(|a| a.hits.iter().any(|h| *h))
        .map(|a| a.partner.as_str())
        .collect();
    if !hits.is_empty() {
        output::line(format_args!(
            "\nHits at {}. They saw no selector. To follow up, send a request for information naming it: liaison bulletin send --to {} --request ...",
            hits.join(", "),
            hits.join(",")
        ))?;
    }
    Ok(())
}

pub fn links(
    data_dir: &Path,
    since: Option<liaison_core::UnixMillis>,
    entity: Option<String>,
    json: bool,
) -> Result<()> {
    let entity = entity
        .map(|e| {
            e.split_once(':')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| {
                    anyhow::anyhow!("--entity: give KIND:VALUE, e.g. phone:+40712345678")
                })
        })
        .transpose()?;
    let pairs = call(data_dir, liaison_node::edge::admin::Links { since, entity })?;
    if json {
        return output::json(&pairs);
    }
    if pairs.is_empty() {
        return output::line(format_args!("No links among the bulletins held here."));
    }
    let rows: Vec<Vec<String>> = pairs
        .iter()
        .map(|p| {
            vec![
                p.selector.clone(),
                p.bulletin.clone(),
                p.origin.clone(),
                p.linked.bulletin.clone(),
                p.linked.origin.clone(),
                p.linked.tlp.clone(),
                p.linked.title.clone(),
            ]
        })
        .collect();
    output::table(
        &[
            "SHARED SELECTOR",
            "BULLETIN",
            "FROM",
            "ALSO IN",
            "FROM",
            "TLP",
            "TITLE",
        ],
        &rows,
    )
}

pub fn open_requests(data_dir: &Path, json: bool) -> Result<()> {
    let open = call(data_dir, BulletinOpenRequests {})?;
    if json {
        return output::json(&open);
    }
    let rows: Vec<Vec<String>> = open
        .iter()
        .map(|o| {
            vec![
                o.request.due.clone(),
                o.request.priority.clone(),
                o.summary.origin.clone(),
                o.request.awaiting.join(","),
                o.summary.id.clone(),
                o.summary.title.clone(),
            ]
        })
        .collect();
    output::table(
        &["DUE", "PRIORITY", "FROM", "AWAITING", "ID", "TITLE"],
        &rows,
    )
}

pub fn attachment(data_dir: &Path, id: BulletinId, number: usize, out: &Path) -> Result<()> {
    use std::io::Write as _;
    let got = call(data_dir, BulletinAttachment { id, number })?;
    // A new file only: never overwrite what is there, never follow a name the sender
    // chose (the operator names the file).
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out.display()))?;
    let written = match &got.file {
        None => {
            let data = data_encoding::BASE64
                .decode(got.data_base64.as_bytes())
                .map_err(|e| {
                    anyhow::anyhow!("the node sent an attachment that is not base64: {e}")
                })?;
            file.write_all(&data)?;
            data.len() as u64
        }
        Some(sealed) => {
            // Decrypted a chunk at a time; a file that does not open whole is removed.
            let opened = open_sealed(sealed, &mut std::io::BufWriter::new(&mut file));
            if let Err(e) = opened {
                drop(file);
                let _ = std::fs::remove_file(out);
                return Err(e);
            }
            sealed.size
        }
    };
    file.sync_all()?;
    eprintln!(
        "wrote {written} bytes to {} (sent as {:?}, {})",
        out.display(),
        got.file_name,
        got.media_type
    );
    Ok(())
}

fn open_sealed(
    sealed: &liaison_node::edge::admin::AttachmentFile,
    out: &mut impl std::io::Write,
) -> Result<()> {
    let hex = |text: &str| {
        data_encoding::HEXLOWER
            .decode(text.as_bytes())
            .map_err(|e| anyhow::anyhow!("the node sent a bad attachment description: {e}"))
    };
    let streamed = liaison_core::attachment::Streamed::from_parts(
        sealed.size,
        &hex(&sealed.content_key_hex)?,
        &hex(&sealed.ciphertext_sha256_hex)?,
    )?;
    let mut input = std::io::BufReader::new(
        std::fs::File::open(&sealed.path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", sealed.path.display()))?,
    );
    liaison_core::attachment::open(&streamed, &mut input, out)?;
    Ok(())
}

pub fn acknowledge(
    data_dir: &Path,
    id: BulletinId,
    state: liaison_core::acknowledgement::AckState,
    note: String,
    json: bool,
) -> Result<()> {
    let view = call(data_dir, BulletinAcknowledge { id, state, note })?;
    if json {
        return output::json(&view);
    }
    match view.sent_to {
        Some(origin) => output::line(format_args!(
            "Acknowledged ({state}); signed and queued for {origin} (log entry {}).",
            view.log_seq
        )),
        None => output::line(format_args!(
            "Acknowledged ({state}) here (log entry {}); its originator is not a partner, so it was not sent.",
            view.log_seq
        )),
    }
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
        ("Thread", b.thread.clone()),
    ])?;
    let mut extra: Vec<(&str, String)> = Vec::new();
    for meaning in &b.handling_meanings {
        extra.push(("Handling", meaning.clone()));
    }
    if !b.restriction.is_empty() {
        extra.push(("Restriction", b.restriction.clone()));
    }
    if let Some(evaluation) = &b.evaluation {
        extra.push(("Evaluation", evaluation.clone()));
    }
    for reference in &b.references {
        extra.push(("Refers", reference.clone()));
    }
    if let Some(r) = &b.request {
        extra.push(("Request", format!("{} priority, due {}", r.priority, r.due)));
        if !r.answered_by.is_empty() {
            extra.push(("Answered by", r.answered_by.join(", ")));
        }
        if !r.awaiting.is_empty() {
            extra.push(("Awaiting", r.awaiting.join(", ")));
        }
    }
    if !extra.is_empty() {
        output::fields(&extra)?;
    }
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
    if !b.attachments.is_empty() {
        output::line(format_args!(""))?;
        let rows: Vec<Vec<String>> = b
            .attachments
            .iter()
            .map(|a| {
                vec![
                    a.number.to_string(),
                    a.file_name.clone(),
                    a.media_type.clone(),
                    a.bytes.to_string(),
                ]
            })
            .collect();
        output::table(&["ATTACHMENT", "NAME", "TYPE", "BYTES"], &rows)?;
        output::line(format_args!(
            "(save one with `liaison bulletin attachment get {} N --out FILE`)",
            b.summary.id
        ))?;
    }
    if !b.acknowledgements.is_empty() {
        output::line(format_args!(""))?;
        let rows: Vec<Vec<String>> = b
            .acknowledgements
            .iter()
            .map(|a| {
                vec![
                    a.by.clone(),
                    a.state.to_string(),
                    a.time.to_string(),
                    if a.signed { "signed" } else { "local" }.into(),
                    a.note.clone(),
                ]
            })
            .collect();
        output::table(&["ACKNOWLEDGED BY", "STATE", "AT", "", "NOTE"], &rows)?;
    }
    if !b.links.is_empty() {
        output::line(format_args!(""))?;
        let rows: Vec<Vec<String>> = b
            .links
            .iter()
            .map(|l| {
                vec![
                    l.selector.clone(),
                    l.bulletin.clone(),
                    l.origin.clone(),
                    l.created.clone(),
                    l.tlp.clone(),
                    l.title.clone(),
                ]
            })
            .collect();
        output::table(
            &[
                "SHARED SELECTOR",
                "ALSO IN",
                "FROM",
                "CREATED",
                "TLP",
                "TITLE",
            ],
            &rows,
        )?;
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

/// `liaison stix export`: the bundle to a file or standard output.
pub fn stix_export(
    data_dir: &Path,
    export: liaison_node::edge::admin::StixExport,
    out: Option<&Path>,
) -> Result<()> {
    let bundle = call(data_dir, export)?;
    let mut text = serde_json::to_string_pretty(&bundle)?;
    text.push('\n');
    match out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => output::line(format_args!("{}", text.trim_end())),
    }
}

/// `liaison stix import`: one line per report, drafted or sent.
pub fn stix_import(
    data_dir: &Path,
    import: liaison_node::edge::admin::StixImport,
    json: bool,
) -> Result<()> {
    let dry_run = import.dry_run;
    let drafts = call(data_dir, import)?;
    if json {
        return output::json(&drafts);
    }
    for draft in &drafts {
        output::line(format_args!(
            "{} {:?}: {} entities, {} objects kept in stix-unmapped.json{}",
            match &draft.bulletin {
                Some(id) => format!("Sent {id} from"),
                None => "Drafted from".to_owned(),
            },
            draft.title,
            draft.entities.len(),
            draft.unmapped.len(),
            draft
                .marked
                .as_ref()
                .map(|m| format!(" (marked {m})"))
                .unwrap_or_default()
        ))?;
    }
    if dry_run {
        output::line(format_args!("Dry run: nothing sent."))?;
    }
    Ok(())
}
