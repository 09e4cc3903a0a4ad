//! `liaison status`: the node's health at a glance.

use liaison_core::UnixMillis;
use liaison_store::EntryKind;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::trust::partners::Partner;

/// `liaison status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// The partners at a glance.
    #[serde(default)]
    pub summary: PartnersSummary,
    /// This agency.
    pub agency: String,
    /// Whether a node process is serving (false when read from a stopped node's files).
    pub running: bool,
    /// Peer listener address (configured).
    pub peer_listen: String,
    /// Client API listener address (configured).
    pub api_listen: String,
    /// The TAXII server's address, when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxii_listen: Option<String>,
    /// The officers' desk's address, when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk_listen: Option<String>,
    /// Per partner.
    pub partners: Vec<PartnerStatus>,
    /// Log entries.
    pub log_entries: u64,
    /// Hash of the last entry, hex.
    pub log_head: String,
    /// Signed checkpoints.
    pub checkpoints: usize,
    /// Sharing policy version in force.
    pub policy_version: String,
    /// Key and identity ages.
    pub keys: Vec<KeyStatus>,
    /// Things an operator should act on.
    pub warnings: Vec<String>,
    /// Set while the log cannot write (a full disk, an I/O error): the node
    /// acknowledges nothing and retries by itself.
    #[serde(default)]
    pub storage_failing: Option<StorageFailingView>,
}

/// Why and since when the log cannot write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StorageFailingView {
    /// The last error.
    pub reason: String,
    /// Since when.
    pub since: String,
    /// Recovery attempts so far.
    pub attempts: u64,
}

/// One partner in `liaison status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerStatus {
    /// The partner.
    pub agency: String,
    /// `connected`, `idle`, `failing` or `stopped` (node not running).
    pub connection: String,
    /// Its identity version held here.
    pub identity_version: u64,
    /// Bulletins queued for it.
    pub outbox: usize,
    /// Age of the oldest queued bulletin, seconds.
    pub oldest_queued_seconds: Option<i64>,
    /// When its last receipt was stored.
    pub last_delivery: Option<String>,
    /// The last transport error while failing.
    pub last_error: Option<String>,
    /// How long delivery to it has been failing, seconds.
    #[serde(default)]
    pub failing_seconds: Option<i64>,
    /// While failing: when the next attempt is due (Unix ms).
    #[serde(default)]
    pub next_attempt_unix_ms: Option<i64>,
    /// The partner's clock minus ours, in seconds, estimated from its last receipt.
    #[serde(default)]
    pub clock_skew_seconds: Option<i64>,
    /// The partner's deliveries this node refused since it started, by rejection code
    /// (each got a signed rejection; past a logging budget they are only counted).
    #[serde(default)]
    pub refused: Vec<(String, u64)>,
}

/// A key in `liaison status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyStatus {
    /// What it is.
    pub purpose: String,
    /// Its id.
    pub key_id: String,
    /// Age in days.
    pub age_days: i64,
}

/// The partners at a glance: how many are connected, idle or failing, and how much is
/// queued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnersSummary {
    /// Partners known.
    pub partners: usize,
    /// With an open delivery stream.
    pub connected: usize,
    /// Reachable when there is something to send, nothing failing.
    pub idle: usize,
    /// Delivery failing now.
    pub failing: usize,
    /// Bulletins queued, all partners together.
    pub queued: usize,
    /// Partners with something queued.
    pub partners_with_queue: usize,
}

impl PartnersSummary {
    fn of(partners: &[PartnerStatus]) -> Self {
        let count = |state: &str| partners.iter().filter(|p| p.connection == state).count();
        Self {
            partners: partners.len(),
            connected: count("connected"),
            idle: count("idle"),
            failing: count("failing"),
            queued: partners.iter().map(|p| p.outbox).sum(),
            partners_with_queue: partners.iter().filter(|p| p.outbox > 0).count(),
        }
    }
}

/// Health at a glance: `running` when asked of a serving node (over its admin socket),
/// otherwise read from the stopped node's files.
pub fn status(state: &NodeState) -> Result<StatusView> {
    let serving = state.is_serving();
    let now = UnixMillis::now();
    let mut warnings = Vec::new();
    let storage_failing = state.log.storage_failure().map(|f| StorageFailingView {
        reason: f.reason,
        since: f.since.to_string(),
        attempts: f.attempts,
    });
    if let Some(failing) = &storage_failing {
        warnings.push(format!(
            "the log cannot write since {} ({}): nothing is acknowledged (sends, deliveries and receipts are refused and retried); free space on the data directory's disk or fix it, the node resumes by itself ({} attempts so far)",
            failing.since, failing.reason, failing.attempts
        ));
    }
    let mut partners = state
        .partners
        .snapshot()
        .iter()
        .map(|p| partner_status(state, p, serving, now, &mut warnings))
        .collect::<Result<Vec<_>>>()?;
    // What needs a look first: failing partners (longest first), then the fullest
    // outboxes, then by name.
    partners.sort_by(|a, b| {
        b.failing_seconds
            .is_some()
            .cmp(&a.failing_seconds.is_some())
            .then(b.failing_seconds.cmp(&a.failing_seconds))
            .then(b.outbox.cmp(&a.outbox))
            .then(a.agency.cmp(&b.agency))
    });
    let summary = PartnersSummary::of(&partners);
    let node = state.node();
    let doc = node.identity().document();
    let days = |t: UnixMillis| (now.0 - t.0) / 86_400_000;
    let keys = vec![
        KeyStatus {
            purpose: "signing".into(),
            key_id: doc.signing_key.key_id.to_string(),
            age_days: days(doc.signing_key.created),
        },
        KeyStatus {
            purpose: "encryption".into(),
            key_id: doc.encryption_key.key_id.to_string(),
            age_days: days(doc.encryption_key.created),
        },
    ];
    if doc.not_after.0 - now.0 < EXPIRY_WARNING_MS {
        warnings.push(format!(
            "this agency's identity expires at {}: rotate keys",
            doc.not_after
        ));
    }
    warnings.extend(crate::ops::policy::unknown_partners(
        state,
        &state.policy.snapshot(),
    ));
    for roster in crate::trust::rosters::imported(&state.log)? {
        if roster.expires_unix_ms <= state.clock.now().0 {
            warnings.push(format!(
                "roster {} version {} expired at {}: its partners stay; ask {} for a current version",
                roster.operation,
                roster.version,
                liaison_core::UnixMillis(roster.expires_unix_ms),
                roster.coordinator
            ));
        }
    }
    if state.policy.snapshot().partners().next().is_none() {
        warnings.push("the sharing policy names no partner: nothing is sent or accepted".into());
    }
    let head = state.log.head();
    Ok(StatusView {
        summary,
        agency: node.config().agency.to_string(),
        running: serving,
        peer_listen: node.config().peer_listen.to_string(),
        api_listen: node.config().api_listen.to_string(),
        taxii_listen: node.config().taxii_listen.map(|a| a.to_string()),
        desk_listen: node.config().desk_listen.map(|a| a.to_string()),
        partners,
        storage_failing,
        log_entries: head.seq,
        log_head: data_encoding::HEXLOWER.encode(&head.hash),
        checkpoints: match state.log.checkpoints() {
            Ok(checkpoints) => checkpoints.len(),
            Err(_) if state.log.storage_failure().is_some() => 0,
            Err(e) => return Err(e.into()),
        },
        policy_version: state.policy.snapshot().version().to_owned(),
        keys,
        warnings,
    })
}

/// A partner's clock further from ours than this (one minute) is a warning.
const CLOCK_SKEW_WARNING_MS: i64 = 60_000;

/// An identity expiring sooner than this (30 days) is a warning.
const EXPIRY_WARNING_MS: i64 = 30 * 86_400_000;

/// A partner failing for longer than this (5 minutes) is a warning.
const FAILING_WARNING_MS: i64 = 5 * 60_000;

/// When each recorded forwarding violation by a partner happened, oldest first.
fn forwarding_violations(state: &NodeState, entries: &[liaison_store::Entry]) -> Vec<UnixMillis> {
    entries
        .iter()
        .filter(|e| e.kind == EntryKind::PolicyDecision)
        .filter(|e| {
            state.log.body(e).ok().flatten().is_some_and(|body| {
                matches!(
                    LogEvent::parse(&body),
                    Some(LogEvent::ForwardingViolation { .. })
                )
            })
        })
        .map(|e| e.time)
        .collect()
}

/// Most recent events of one kind `status` reads for a partner's warnings.
const RECENT_EVENTS: usize = 10_000;

/// How long a lost-entries or forwarding warning stays in `status` (seven days); the
/// log keeps it.
const CONTINUITY_WARNING_MS: i64 = 7 * 86_400_000;

/// Warnings from checkpoint exchanges with `agency` in the last week: it lost entries
/// it had receipted, or it holds our receipt for an entry our log no longer has.
fn continuity_warnings(
    state: &NodeState,
    agency: &liaison_core::AgencyId,
    entries: &[liaison_store::Entry],
    now: UnixMillis,
    warnings: &mut Vec<String>,
) {
    let recent = entries
        .iter()
        .filter(|e| now.0 - e.time.0 < CONTINUITY_WARNING_MS)
        .filter(|e| matches!(e.kind, EntryKind::PeerChange | EntryKind::NodeEvent));
    let (mut lost, mut behind) = (None, None);
    for entry in recent {
        match state
            .log
            .body(entry)
            .ok()
            .flatten()
            .and_then(|b| LogEvent::parse(&b))
        {
            Some(LogEvent::PartnerLostEntries {
                how, redelivered, ..
            }) => lost = Some((entry.time, how, redelivered)),
            Some(LogEvent::OwnLogBehind { seq, .. }) => behind = Some((entry.time, seq)),
            _ => {}
        }
    }
    if let Some((time, how, redelivered)) = lost {
        warnings.push(format!(
            "{agency} lost {redelivered} bulletin(s) or recall(s) it had receipted (its log {how}, found at {time}); they were queued for it again: ask {agency} how its log lost them"
        ));
    }
    if let Some((time, seq)) = behind {
        warnings.push(format!(
            "{agency} holds this node's receipt for log entry {seq}, which this log no longer holds as receipted (found at {time}): was this node restored from a backup? Partners deliver again what they can"
        ));
    }
}

/// What the log says of a partner: the age of its oldest queued bulletin (seconds) and
/// its last delivery; its continuity and forwarding warnings go to `warnings`.
fn from_log(
    state: &NodeState,
    agency: &liaison_core::AgencyId,
    now: UnixMillis,
    warnings: &mut Vec<String>,
) -> Result<(Option<i64>, Option<String>)> {
    let oldest = state
        .log
        .outbox(agency, 0, 1)?
        .first()
        .map(|seq| state.log.get(*seq))
        .transpose()?
        .flatten()
        .map(|e| (now.0 - e.time.0) / 1000);
    // Each answered from the partner's index by kind, newest first: no scan of its
    // history, however long.
    let last_delivery = state
        .log
        .last_for_agency(agency, EntryKind::Receipt)?
        .map(|e| e.time.to_string());
    let recent = |kind, limit| {
        let mut entries = state.log.recent_for_agency(agency, kind, limit, &mut |e| {
            now.0 - e.time.0 < CONTINUITY_WARNING_MS
        })?;
        entries.reverse();
        Ok::<_, crate::Error>(entries)
    };
    let mut events = recent(EntryKind::PeerChange, RECENT_EVENTS)?;
    events.extend(recent(EntryKind::NodeEvent, RECENT_EVENTS)?);
    events.sort_by_key(|e| e.seq);
    continuity_warnings(state, agency, &events, now, warnings);
    let violations =
        forwarding_violations(state, &recent(EntryKind::PolicyDecision, RECENT_EVENTS)?);
    if let Some(last) = violations.last() {
        warnings.push(format!(
            "{agency} forwarded {} bulletin(s) further than the originator's marking allows in the last 7 days (refused; last at {last}): raise it with {agency}",
            violations.len()
        ));
    }
    Ok((oldest, last_delivery))
}

/// One partner's line, adding its warnings to `warnings`.
fn partner_status(
    state: &NodeState,
    partner: &Partner,
    serving: bool,
    now: UnixMillis,
    warnings: &mut Vec<String>,
) -> Result<PartnerStatus> {
    let agency = partner.agency();
    let (oldest, last_delivery) = match from_log(state, agency, now, warnings) {
        Ok(seen) => seen,
        // While the log cannot write its reads may fail too; status still answers.
        Err(_) if state.log.storage_failure().is_some() => (None, None),
        Err(e) => return Err(e),
    };
    let failure = state.delivery_error(agency);
    let doc = partner.identity.document();
    if doc.not_after.0 - now.0 < EXPIRY_WARNING_MS {
        warnings.push(format!(
            "the identity of {agency} expires at {}",
            doc.not_after
        ));
    }
    if let Some(skew) = state.clock_skew(agency)
        && skew.abs() > CLOCK_SKEW_WARNING_MS
    {
        warnings.push(format!(
            "{agency}'s clock is about {} s {} ours (from its last receipt): a partner behind an identity's start holds bulletins back until the clocks agree",
            skew.abs() / 1000,
            if skew < 0 { "behind" } else { "ahead of" }
        ));
    }
    let limits = state.node().config().outbox;
    let (queued, queued_bytes) = state.log.outbox_size(agency).unwrap_or((0, 0));
    if queued >= limits.max_entries || queued_bytes >= limits.max_bytes {
        warnings.push(format!(
            "the outbox for {agency} is FULL ({queued} bulletins, {} MiB): new bulletins to {agency} are refused until it drains",
            queued_bytes / (1024 * 1024)
        ));
    } else if queued * 10 >= limits.max_entries * 9 || queued_bytes * 10 >= limits.max_bytes * 9 {
        warnings.push(format!(
            "the outbox for {agency} is over 90% of its limit ({queued} bulletins, {} MiB): at the limit new bulletins to it are refused",
            queued_bytes / (1024 * 1024)
        ));
    }
    if let Some(failure) = &failure
        && now.0 - failure.since.0 > FAILING_WARNING_MS
    {
        warnings.push(format!(
            "delivery to {agency} has been failing for {} min: {}",
            (now.0 - failure.since.0) / 60_000,
            failure.error
        ));
    }
    if oldest.is_some_and(|s| s > 3600) {
        warnings.push(format!(
            "bulletins for {agency} have waited more than an hour"
        ));
    }
    Ok(PartnerStatus {
        agency: agency.to_string(),
        connection: match (serving, state.is_connected(agency), &failure) {
            (false, _, _) => "stopped",
            (true, true, _) => "connected",
            (true, false, Some(_)) => "failing",
            (true, false, None) => "idle",
        }
        .into(),
        identity_version: doc.version,
        outbox: state.log.outbox_len(agency),
        oldest_queued_seconds: oldest,
        last_delivery,
        failing_seconds: failure.as_ref().map(|f| (now.0 - f.since.0).max(0) / 1000),
        next_attempt_unix_ms: failure.as_ref().map(|f| f.next_attempt.0),
        last_error: failure.map(|f| f.to_string()),
        clock_skew_seconds: state.clock_skew(agency).map(|ms| ms / 1000),
        refused: state.metrics.refused_from(agency),
    })
}
