//! `liaison log verify | export | reindex | compact`: inside a running node over its admin socket, or
//! offline on the data directory with a progress bar on a terminal.

use std::path::Path;

use anyhow::{Context as _, Result};
use liaison_node::Node;
use liaison_node::edge::admin::{self, LogCheckpoints, LogExport, LogVerify};
use liaison_node::node::journal::LogEvent;
use liaison_node::node::state::NodeState;
use liaison_node::ops::log::{
    EVIDENCE_FORMAT, EvidenceLine, ExportedBody, ExportedEntry, VerifyView, log_export,
    signed_checkpoints, verify_evidence, verify_log,
};
use liaison_store::VerifyOptions;

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

pub fn verify(data_dir: &Path, options: VerifyOptions, json: bool) -> Result<()> {
    let report: VerifyView = if admin::socket::node_running(data_dir) {
        let request = LogVerify {
            since_checkpoint: options.since_checkpoint,
            indexes: options.indexes,
        };
        call(data_dir, request).context("the log does NOT verify")?
    } else {
        let node = Node::load(data_dir)?;
        let log = node.open_log_for_reading().context("cannot open the log")?;
        let bar = progress_bar(log.head().seq, "verifying");
        let verified = verify_log(&node, &log, options, &mut |seq| bar.set_position(seq));
        bar.finish_and_clear();
        verified.context("the log does NOT verify")?
    };
    if json {
        return output::json(&serde_json::json!({
            "ok": true,
            "entries": report.entries,
            "checked": report.checked,
            "from_checkpoint": report.from_checkpoint,
            "head_seq": report.entries,
            "head_hash": report.head_hash,
            "checkpoints": report.checkpoints,
            "external_bodies": report.external_bodies,
            "index_rows": report.index_rows,
            "entries_per_second": report.per_second,
        }));
    }
    output::line(format_args!(
        "Log verified: {} entries, head {} {}, {} signed checkpoints, {} external bodies",
        report.entries,
        report.entries,
        report.head_hash,
        report.checkpoints,
        report.external_bodies
    ))?;
    if report.from_checkpoint > 0 {
        output::line(format_args!(
            "Incremental: {} entries checked after checkpoint {} (verified earlier); a run without --since-checkpoint re-checks everything",
            report.checked, report.from_checkpoint
        ))?;
    }
    if options.indexes {
        output::line(format_args!(
            "Indexes match the entries: {} rows derived again",
            report.index_rows
        ))?;
    }
    output::line(format_args!("{} entries/s", report.per_second))
}

/// Where entries come from: the running node over its admin socket, or the data
/// directory itself when no node runs.
enum Source {
    Running(std::path::PathBuf),
    Offline(std::sync::Arc<NodeState>),
}

impl Source {
    fn open(data_dir: &Path) -> Result<Self> {
        Ok(if admin::socket::node_running(data_dir) {
            Source::Running(data_dir.to_owned())
        } else {
            Source::Offline(NodeState::open_offline(Node::load(data_dir)?)?)
        })
    }

    fn entries(&self, since: u64, limit: usize, with_bytes: bool) -> Result<Vec<ExportedEntry>> {
        self.entries_of(since, limit, with_bytes, false)
    }

    /// Like `entries`; with `reads`, only the consultation log's entries.
    fn entries_of(
        &self,
        since: u64,
        limit: usize,
        with_bytes: bool,
        reads: bool,
    ) -> Result<Vec<ExportedEntry>> {
        Ok(match self {
            Source::Running(dir) => call(
                dir,
                LogExport {
                    since,
                    limit,
                    with_bytes,
                    reads,
                },
            )?,
            Source::Offline(state) => log_export(
                state,
                since,
                limit,
                with_bytes,
                reads.then_some(liaison_store::EntryKind::Consulted),
            )?,
        })
    }

    fn checkpoints(&self) -> Result<Vec<String>> {
        Ok(match self {
            Source::Running(dir) => call(dir, LogCheckpoints { sign_now: true })?,
            Source::Offline(state) => signed_checkpoints(state, true)?,
        })
    }

    /// The head's sequence number, for a progress bar.
    fn head(&self) -> Option<u64> {
        match self {
            Source::Running(_) => None,
            Source::Offline(state) => Some(state.log.head().seq),
        }
    }

    /// Entries from `since` on, at most `limit`, in chunks of `chunk`, each handed to
    /// `each`; with a progress bar when the node is offline (a long job on a terminal).
    fn for_each_chunk(
        &self,
        since: u64,
        limit: usize,
        chunk: usize,
        with_bytes: bool,
        mut each: impl FnMut(Vec<ExportedEntry>) -> Result<()>,
    ) -> Result<()> {
        let first = since.max(1);
        let bar = self.head().map(|head| {
            let last = head.min(first.saturating_add(limit as u64).saturating_sub(1));
            progress_bar(last.saturating_sub(first) + 1, "exporting")
        });
        let (mut next, mut done) = (first, 0);
        while done < limit {
            let entries = self.entries(next, (limit - done).min(chunk), with_bytes)?;
            let Some(tail) = entries.last().map(|e| e.seq) else {
                break;
            };
            done += entries.len();
            if let Some(bar) = &bar {
                bar.inc(entries.len() as u64);
            }
            each(entries)?;
            next = tail + 1;
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok(())
    }
}

pub fn export(data_dir: &Path, since: u64, limit: usize, json: bool) -> Result<()> {
    let mut entries = Vec::new();
    Source::open(data_dir)?.for_each_chunk(since, limit, 4096, false, |chunk| {
        entries.extend(chunk);
        Ok(())
    })?;
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

/// The consultation log from entry `since` on: one line per read (time, reader, door,
/// bulletins), or JSON Lines with `json`.
pub fn export_reads(data_dir: &Path, since: u64, limit: usize, json: bool) -> Result<()> {
    let entries = Source::open(data_dir)?.entries_of(since, limit, false, true)?;
    for e in &entries {
        let ExportedBody::Event(LogEvent::Consulted {
            reader,
            door,
            bulletins,
        }) = &e.body
        else {
            continue;
        };
        if json {
            let line = serde_json::json!({
                "seq": e.seq,
                "time": e.time,
                "reader": reader,
                "door": door,
                "bulletins": bulletins,
                "hash": e.hash,
            });
            output::line(format_args!("{line}"))?;
        } else {
            let ids: Vec<String> = bulletins.iter().map(ToString::to_string).collect();
            output::line(format_args!(
                "{} {} {} [{}] {}",
                e.seq,
                e.time,
                reader,
                door,
                ids.join(",")
            ))?;
        }
    }
    Ok(())
}

/// Writes evidence to `out`, a new file: a header, every signed checkpoint (one of the
/// head signed now), then each entry with its hashed record and body.
pub fn export_evidence(
    data_dir: &Path,
    since: u64,
    limit: usize,
    out: &Path,
    json: bool,
) -> Result<()> {
    use std::io::Write as _;
    let node = Node::load(data_dir)?;
    let source = Source::open(data_dir)?;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("cannot create {} (it must not exist yet)", out.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    let mut write = |line: &EvidenceLine| -> Result<()> {
        serde_json::to_writer(&mut writer, line)?;
        writer.write_all(b"\n")?;
        Ok(())
    };
    write(&EvidenceLine::Header {
        format: EVIDENCE_FORMAT.into(),
        agency: node.config().agency.to_string(),
        exported_at: liaison_core::UnixMillis::now().to_string(),
    })?;
    let checkpoints = source.checkpoints()?;
    for signed in &checkpoints {
        write(&EvidenceLine::Checkpoint {
            signed: signed.clone(),
        })?;
    }
    let (mut first, mut last, mut count) = (None, 0, 0u64);
    // Small chunks: each entry carries its body, up to 16 MiB.
    source.for_each_chunk(since, limit, 64, true, |chunk| {
        for entry in chunk {
            first.get_or_insert(entry.seq);
            last = entry.seq;
            count += 1;
            write(&EvidenceLine::Entry(Box::new(entry)))?;
        }
        Ok(())
    })?;
    writer
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot write {}", out.display()))?;
    if json {
        return output::json(&serde_json::json!({
            "file": out.display().to_string(),
            "agency": node.config().agency.to_string(),
            "entries": count,
            "first": first,
            "last": last,
            "checkpoints": checkpoints.len(),
        }));
    }
    output::line(format_args!(
        "Wrote {count} entries ({}..={last}) and {} signed checkpoints of {} to {}",
        first.unwrap_or(0),
        checkpoints.len(),
        node.config().agency,
        out.display()
    ))?;
    output::line(format_args!(
        "Anyone holding {}'s identity bundle can check it: liaison log verify --export {} --identity BUNDLE",
        node.config().agency,
        out.display()
    ))
}

/// The node in `data_dir`, refused while it runs: `liaison log COMMAND` rewrites files
/// the running node holds.
fn stopped_node(data_dir: &Path, command: &str) -> Result<Node> {
    if admin::socket::node_running(data_dir) {
        anyhow::bail!(
            "the node is running: stop it first (`liaison log {command}` needs the log to itself)"
        );
    }
    Ok(Node::load(data_dir)?)
}

/// Compacts a stopped node's log.
pub fn compact(data_dir: &Path) -> Result<()> {
    let node = stopped_node(data_dir, "compact")?;
    let started = std::time::Instant::now();
    let report = node.compact_log().context("cannot compact the log")?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    output::line(format_args!(
        "Compacted: {} keys copied in {:.1} s; the log's files went from {:.1} MiB to {:.1} MiB; check with `liaison log verify`",
        report.keys,
        started.elapsed().as_secs_f64(),
        mib(report.before_bytes),
        mib(report.after_bytes)
    ))
}

/// Rebuilds the indexes of a stopped node's log.
pub fn reindex(data_dir: &Path) -> Result<()> {
    let node = stopped_node(data_dir, "reindex")?;
    let started = std::time::Instant::now();
    let rows = node.reindex_log().context("cannot reindex the log")?;
    output::line(format_args!(
        "Reindexed: {rows} index rows written in {:.1} s; check with `liaison log verify --indexes`",
        started.elapsed().as_secs_f64()
    ))
}

/// Checks evidence against an identity bundle, without any node.
pub fn verify_export(export: &Path, identity: &Path, json: bool) -> Result<()> {
    use std::io::BufRead as _;
    let bundle =
        std::fs::read(identity).with_context(|| format!("cannot read {}", identity.display()))?;
    let identity = liaison_core::SignedIdentity::from_bytes(bundle.into())
        .with_context(|| format!("{} is not a valid identity bundle", identity.display()))?;
    let file =
        std::fs::File::open(export).with_context(|| format!("cannot read {}", export.display()))?;
    let view = verify_evidence(std::io::BufReader::new(file).lines(), &identity)
        .context("the export does NOT verify")?;
    if json {
        return output::json(&view);
    }
    output::line(format_args!(
        "Export verified against the identity of {} (root fingerprint {}: compare it with the one you hold)",
        view.agency, view.fingerprint
    ))?;
    output::line(format_args!(
        "Entries {}..={}, head {}; signed by {} up to entry {} ({} checkpoints verified, {} not counted); {} bodies checked, {} without body (erased or left out)",
        view.first,
        view.last,
        view.head_hash,
        view.agency,
        view.signed_up_to,
        view.checkpoints,
        view.checkpoints_skipped,
        view.bodies,
        view.without_body
    ))?;
    if view.signed_up_to < view.last {
        output::line(format_args!(
            "Note: entries {}..={} follow from the signed ones but no checkpoint signs them yet.",
            view.signed_up_to + 1,
            view.last
        ))?;
    }
    Ok(())
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
