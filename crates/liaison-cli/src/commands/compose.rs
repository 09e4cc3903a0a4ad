//! `bulletin send`'s flags turned into a send request: entity flags (`--person
//! 'NAME;dob=...;nat=RO'`, read by `liaison_core::entity_spec` as the desk's entity
//! rows are), an entities file, attachments read from disk, a due time
//! as a date or a span. Entities are normalised by the node, for both doors alike.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use liaison_core::handling::InformationRequest;
use liaison_core::{Entity, entity_spec};
use liaison_node::ops::bulletins::views::{AttachmentUpload, SendRequest, StagedFile};

use crate::cli::SendArgs;

/// The most a bulletin's attachments inside the envelope may hold together: the
/// envelope limit (16 MiB) less room for the rest.
pub const MAX_ATTACHMENT_BYTES: u64 = 12 * 1024 * 1024;
/// Files larger than this travel beside the envelope: sealed in 64 KiB chunks into the
/// node's store by the CLI, and streamed to each partner (each at most 1 GiB).
pub const INLINE_ATTACHMENT_BYTES: u64 = 256 * 1024;

/// The request `liaison bulletin send` makes of the node.
pub fn request(
    args: SendArgs,
    to: Option<liaison_node::ops::bulletins::Recipients>,
) -> Result<SendRequest> {
    let body = match (args.body, &args.body_file) {
        (Some(text), _) => text,
        (None, Some(file)) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read --body-file {}", file.display()))?,
        (None, None) => bail!("give the body with --body or --body-file"),
    };
    let mut entities = match &args.entities {
        Some(file) => entities_file(file)?,
        None => Vec::new(),
    };
    for (kind, specs) in [
        ("person", &args.persons),
        ("phone", &args.phones),
        ("vehicle", &args.vehicles),
        ("account", &args.accounts),
        ("location", &args.locations),
    ] {
        for spec in specs {
            entities.push(
                entity_spec::parse(kind, spec).with_context(|| format!("--{kind} {spec:?}"))?,
            );
        }
    }
    let request = match (args.request, &args.due) {
        (true, Some(due)) => Some(InformationRequest {
            priority: args.priority,
            due: due_time(due).with_context(|| format!("--due {due:?}"))?,
        }),
        (true, None) => bail!("a request for information needs --due"),
        (false, _) => None,
    };
    Ok(SendRequest {
        to,
        category: args.category,
        tlp: args.tlp,
        handling: args.handling,
        restriction: args.restriction.unwrap_or_default(),
        evaluation: args.evaluation,
        title: args.title,
        body,
        entities,
        attachments: attachments(&args.dir.data_dir, &args.attachments)?,
        reply_to: args.reply_to,
        update_of: args.update_of,
        request,
        expires_in_days: args.expires_in_days,
        request_key: args.request_key,
    })
}

/// The `--entities` file: a JSON array of entities tagged with their `kind`.
fn entities_file(path: &Path) -> Result<Vec<Entity>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --entities {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "--entities {}: expected a JSON array of entities, e.g. [{{\"kind\":\"phone\",\"number\":\"+40712345678\"}}]",
            path.display()
        )
    })
}

/// A due time: RFC 3339 / ISO 8601 (`2026-12-01T12:00Z`, `2026-12-01`) or a span
/// from now (`48h`, `3d`, `90m`), parsed with jiff.
pub fn due_time(text: &str) -> Result<liaison_core::UnixMillis> {
    time_arg(text, false)
}

/// A time in the past for a search bound: RFC 3339 / ISO 8601 or a span ago (`7d`).
pub fn past_time(text: &str) -> Result<liaison_core::UnixMillis> {
    time_arg(text, true)
}

/// An absolute time, or a span from now: ahead, or back when `ago`.
fn time_arg(text: &str, ago: bool) -> Result<liaison_core::UnixMillis> {
    let text = text.trim();
    let now = jiff::Timestamp::now();
    let at = if let Ok(span) = text.parse::<jiff::Span>() {
        let span = if ago { span.negate() } else { span };
        now.checked_add(span.to_duration(jiff::SpanRelativeTo::days_are_24_hours())?)?
    } else if let Ok(at) = text.parse::<jiff::Timestamp>() {
        at
    } else if let Ok(date) = text.parse::<jiff::civil::Date>() {
        date.to_zoned_datetime(jiff::tz::TimeZone::UTC)?.timestamp()
    } else {
        bail!(
            "expected a time such as 2026-12-01T12:00Z or 2026-12-01, or a span such as 48h or 3d"
        )
    };
    Ok(liaison_core::UnixMillis(at.as_millisecond()))
}

/// Each file to attach: one of at most [`INLINE_ATTACHMENT_BYTES`] is read and carried
/// inside the envelope (at most [`MAX_ATTACHMENT_BYTES`] of them together, refused
/// before reading any); a larger one is sealed a chunk at a time into the node's
/// staging directory and travels beside the envelope.
fn attachments(data_dir: &Path, paths: &[std::path::PathBuf]) -> Result<Vec<AttachmentUpload>> {
    let mut sizes = Vec::new();
    for path in paths {
        sizes.push(
            std::fs::metadata(path)
                .with_context(|| format!("cannot read --attach {}", path.display()))?
                .len(),
        );
    }
    let inline: u64 = sizes
        .iter()
        .filter(|s| **s <= INLINE_ATTACHMENT_BYTES)
        .sum();
    if inline > MAX_ATTACHMENT_BYTES {
        bail!(
            "the small attachments hold {} MiB; a bulletin carries at most {} MiB of files \
             up to {} KiB inside its envelope",
            inline / (1024 * 1024),
            MAX_ATTACHMENT_BYTES / (1024 * 1024),
            INLINE_ATTACHMENT_BYTES / 1024
        );
    }
    if let Some((path, size)) = paths
        .iter()
        .zip(&sizes)
        .find(|(_, s)| **s > liaison_core::attachment::MAX_STREAMED_BYTES)
    {
        bail!(
            "--attach {} holds {} MiB; an attachment holds at most {} MiB",
            path.display(),
            size / (1024 * 1024),
            liaison_core::attachment::MAX_STREAMED_BYTES / (1024 * 1024)
        );
    }
    paths
        .iter()
        .zip(sizes)
        .map(|(path, size)| {
            let file_name = path
                .file_name()
                .and_then(|n| n.to_str())
                .with_context(|| format!("--attach {}: not a UTF-8 file name", path.display()))?
                .to_owned();
            let media_type = mime_guess::from_path(path)
                .first_or_octet_stream()
                .essence_str()
                .to_owned();
            if size > INLINE_ATTACHMENT_BYTES {
                return Ok(AttachmentUpload {
                    file_name,
                    media_type,
                    data_base64: String::new(),
                    staged: Some(stage(data_dir, path)?),
                });
            }
            let data = std::fs::read(path)
                .with_context(|| format!("cannot read --attach {}", path.display()))?;
            Ok(AttachmentUpload {
                media_type,
                file_name,
                data_base64: data_encoding::BASE64.encode(&data),
                staged: None,
            })
        })
        .collect()
}

/// Seals the file at `path` into the node's staging directory.
fn stage(data_dir: &Path, path: &Path) -> Result<StagedFile> {
    let mut input = std::io::BufReader::new(
        std::fs::File::open(path)
            .with_context(|| format!("cannot read --attach {}", path.display()))?,
    );
    liaison_node::ops::attachments::stage(data_dir, &mut input)
        .with_context(|| format!("--attach {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_times_are_dates_or_spans() {
        let now = liaison_core::UnixMillis::now().0;
        let in_two_days = due_time("48h").unwrap().0;
        assert!((in_two_days - now - 48 * 3_600_000).abs() < 60_000);
        assert_eq!(
            due_time("2026-12-01T12:00:00Z").unwrap().0,
            1_796_126_400_000
        );
        assert!(due_time("next tuesday").is_err());
    }
}
