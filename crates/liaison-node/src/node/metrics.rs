//! Prometheus metrics. Counters and the latency histogram are updated where things
//! happen (delivery sessions, the peer service); gauges (queues, log, identities,
//! clocks) are read from the node's state when scraped, so they cannot drift from what
//! `liaison status` shows. Served by `runtime::metrics` when `[metrics] listen` is set.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

use liaison_core::receipt::{Outcome, RejectCode};

use crate::node::state::NodeState;

/// A partner label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartnerLabel {
    /// The partner's agency id.
    pub partner: String,
}

/// A partner and an outcome (`accepted`, `duplicate`, `purged`, or a rejection code
/// such as `REJECT_CODE_POLICY_DENIED`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// The partner's agency id.
    pub partner: String,
    /// What happened.
    pub outcome: String,
}

/// An agency label (this node's own identity, or a partner's).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AgencyLabel {
    /// The agency id.
    pub agency: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric the node exports.
pub struct Metrics {
    registry: Registry,
    /// Receipts this node got back for what it sent, by partner and outcome.
    pub deliveries: Family<OutcomeLabels, Counter>,
    /// What this node answered to partners' deliveries, by partner and outcome.
    pub received: Family<OutcomeLabels, Counter>,
    /// Seconds from sending a bulletin to storing its receipt.
    pub delivery_latency: Histogram,
    commit_latency: Histogram,
    commit_failures: Counter,
    appended: Counter,
    outbox: Family<PartnerLabel, Gauge>,
    outbox_bytes: Family<PartnerLabel, Gauge>,
    outbox_refusals: Family<PartnerLabel, Counter>,
    outbox_oldest: Family<PartnerLabel, FloatGauge>,
    connected: Family<PartnerLabel, Gauge>,
    clock_skew: Family<PartnerLabel, FloatGauge>,
    identity_expiry: Family<AgencyLabel, Gauge>,
    log_entries: Gauge,
    log_commits: Gauge,
    storage_failing: Gauge,
    storage_failure_attempts: Gauge,
    envelope_batches: Gauge,
    envelopes_signed: Gauge,
    epochs_live: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("liaison");
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Signed receipts received for bulletins, recalls and notices this node sent, by partner and outcome",
            deliveries.clone(),
        );
        let received = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "received",
            "Deliveries from partners, by partner and the outcome this node signed (accepted, duplicate, purged or a rejection code)",
            received.clone(),
        );
        // 1 ms to about 16 s.
        let delivery_latency = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register_with_unit(
            "delivery_latency",
            "Time from sending to a partner to storing its signed receipt",
            Unit::Seconds,
            delivery_latency.clone(),
        );
        // 50 µs to about 1.6 s.
        let commit_latency = Histogram::new(exponential_buckets(0.000_05, 2.0, 16));
        registry.register_with_unit(
            "log_commit_latency",
            "Time one group commit took to apply, flush and sync (every acknowledged append waits for one)",
            Unit::Seconds,
            commit_latency.clone(),
        );
        let commit_failures = Counter::default();
        registry.register(
            "log_commit_failures",
            "Group commits that failed to become durable (full disk, I/O error)",
            commit_failures.clone(),
        );
        let appended = Counter::default();
        registry.register(
            "log_appended_entries",
            "Entries made durable since the node started",
            appended.clone(),
        );
        let outbox = Family::<PartnerLabel, Gauge>::default();
        registry.register(
            "outbox_entries",
            "Entries queued for a partner",
            outbox.clone(),
        );
        let outbox_bytes = Family::<PartnerLabel, Gauge>::default();
        registry.register_with_unit(
            "outbox",
            "Body bytes queued for a partner",
            Unit::Bytes,
            outbox_bytes.clone(),
        );
        let outbox_refusals = Family::<PartnerLabel, Counter>::default();
        registry.register(
            "outbox_full_refusals",
            "Publishes and forwards refused because the partner's outbox was at its [outbox] limit",
            outbox_refusals.clone(),
        );
        let outbox_oldest = Family::<PartnerLabel, FloatGauge>::default();
        registry.register_with_unit(
            "outbox_oldest_age",
            "Age of the oldest entry queued for a partner (0 when none)",
            Unit::Seconds,
            outbox_oldest.clone(),
        );
        let connected = Family::<PartnerLabel, Gauge>::default();
        registry.register(
            "partner_connected",
            "1 while a delivery session to the partner is open",
            connected.clone(),
        );
        let clock_skew = Family::<PartnerLabel, FloatGauge>::default();
        registry.register_with_unit(
            "partner_clock_skew",
            "The partner's clock minus ours, from its last signed receipt",
            Unit::Seconds,
            clock_skew.clone(),
        );
        let identity_expiry = Family::<AgencyLabel, Gauge>::default();
        registry.register_with_unit(
            "identity_expiry_timestamp",
            "When an identity document (this agency's or a partner's) stops being valid, Unix time",
            Unit::Seconds,
            identity_expiry.clone(),
        );
        let log_entries = Gauge::default();
        registry.register(
            "log_entries",
            "Entries in the log (its head)",
            log_entries.clone(),
        );
        let log_commits = Gauge::default();
        registry.register(
            "log_commits",
            "Durable group commits (one flush each) since the node started",
            log_commits.clone(),
        );
        let storage_failing = Gauge::default();
        registry.register(
            "storage_failing",
            "1 while the log cannot write (nothing is acknowledged; it retries by itself)",
            storage_failing.clone(),
        );
        let storage_failure_attempts = Gauge::default();
        registry.register(
            "storage_recovery_attempts",
            "Recovery attempts in the current storage failure (0 when writes work)",
            storage_failure_attempts.clone(),
        );
        let envelope_batches = Gauge::default();
        registry.register(
            "envelope_batches",
            "Batch signatures made since the node started (envelopes_signed / envelope_batches is the mean batch)",
            envelope_batches.clone(),
        );
        let envelopes_signed = Gauge::default();
        registry.register(
            "envelopes_signed",
            "Envelopes signed in batches since the node started",
            envelopes_signed.clone(),
        );
        let epochs_live = Gauge::default();
        registry.register(
            "epochs_live",
            "Epoch keys this node holds for sealing to its recipients (dropped when their epoch ends)",
            epochs_live.clone(),
        );
        Self {
            registry,
            deliveries,
            received,
            delivery_latency,
            commit_latency,
            commit_failures,
            appended,
            outbox,
            outbox_bytes,
            outbox_refusals,
            outbox_oldest,
            connected,
            clock_skew,
            identity_expiry,
            log_entries,
            log_commits,
            storage_failing,
            storage_failure_attempts,
            envelope_batches,
            envelopes_signed,
            epochs_live,
        }
    }
}

/// The `outcome` label of a receipt: `accepted`, `duplicate`, `purged`, or the
/// rejection code (`REJECT_CODE_...`).
fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Accepted { .. } => "accepted",
        Outcome::Duplicate { .. } => "duplicate",
        Outcome::Purged { .. } => "purged",
        Outcome::Rejected { code, .. } => code.as_str(),
    }
}

impl Metrics {
    /// What the log tells of each group commit, into the commit metrics.
    pub fn commit_observer(self: &std::sync::Arc<Self>) -> liaison_store::CommitObserver {
        let metrics = self.clone();
        liaison_store::CommitObserver(std::sync::Arc::new(move |commit| {
            metrics.commit_latency.observe(commit.took.as_secs_f64());
            if commit.ok {
                metrics.appended.inc_by(commit.entries as u64);
            } else {
                metrics.commit_failures.inc();
            }
        }))
    }

    /// Counts one receipt from `partner`, and how long it took since sending.
    pub fn delivered(
        &self,
        partner: &liaison_core::AgencyId,
        outcome: &Outcome,
        took: std::time::Duration,
    ) {
        self.deliveries
            .get_or_create(&OutcomeLabels {
                partner: partner.to_string(),
                outcome: outcome_label(outcome).to_owned(),
            })
            .inc();
        self.delivery_latency.observe(took.as_secs_f64());
    }

    /// Counts one delivery from `partner` answered with `outcome`.
    pub fn answered(&self, partner: &liaison_core::AgencyId, outcome: &Outcome) {
        self.received
            .get_or_create(&OutcomeLabels {
                partner: partner.to_string(),
                outcome: outcome_label(outcome).to_owned(),
            })
            .inc();
    }

    /// Counts a publish or forward refused because `partner`'s outbox is full.
    pub fn outbox_full(&self, partner: &liaison_core::AgencyId) {
        self.outbox_refusals
            .get_or_create(&PartnerLabel {
                partner: partner.to_string(),
            })
            .inc();
    }

    /// How many of `partner`'s deliveries this node refused since it started, by
    /// rejection code, most first.
    pub fn refused_from(&self, partner: &liaison_core::AgencyId) -> Vec<(String, u64)> {
        let mut refused: Vec<(String, u64)> = RejectCode::ALL
            .iter()
            .filter_map(|code| {
                let labels = OutcomeLabels {
                    partner: partner.to_string(),
                    outcome: code.as_str().to_owned(),
                };
                let count = self.received.get(&labels).map(|c| c.get())?;
                (count > 0).then(|| (code.as_str().to_owned(), count))
            })
            .collect();
        refused.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        refused
    }

    /// The OpenMetrics text of every metric, gauges read from `state` now.
    pub fn encode(&self, state: &NodeState) -> String {
        self.refresh(state);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn refresh(&self, state: &NodeState) {
        let now = liaison_core::UnixMillis::now();
        let seconds = |t: liaison_core::UnixMillis| t.0 / 1000;
        let node = state.node();
        let own = node.identity().document();
        self.identity_expiry.clear();
        self.identity_expiry
            .get_or_create(&AgencyLabel {
                agency: own.agency.to_string(),
            })
            .set(seconds(own.not_after));
        // Partners removed since the last scrape disappear from the per-partner gauges.
        self.outbox.clear();
        self.outbox_bytes.clear();
        self.outbox_oldest.clear();
        self.connected.clear();
        self.clock_skew.clear();
        for partner in state.partners.snapshot().iter() {
            let agency = partner.agency();
            let label = PartnerLabel {
                partner: agency.to_string(),
            };
            let (entries, bytes) = state.log.outbox_size(agency).unwrap_or((0, 0));
            self.outbox.get_or_create(&label).set(entries as i64);
            self.outbox_bytes.get_or_create(&label).set(bytes as i64);
            let oldest = state
                .log
                .outbox(agency, 0, 1)
                .ok()
                .and_then(|seqs| seqs.first().copied())
                .and_then(|seq| state.log.get(seq).ok().flatten())
                .map_or(0.0, |e| (now.0 - e.time.0) as f64 / 1000.0);
            self.outbox_oldest.get_or_create(&label).set(oldest);
            self.connected
                .get_or_create(&label)
                .set(i64::from(state.is_connected(agency)));
            if let Some(skew) = state.clock_skew(agency) {
                self.clock_skew
                    .get_or_create(&label)
                    .set(skew as f64 / 1000.0);
            }
            let document = partner.identity.document();
            self.identity_expiry
                .get_or_create(&AgencyLabel {
                    agency: agency.to_string(),
                })
                .set(seconds(document.not_after));
        }
        self.log_entries.set(state.log.head().seq as i64);
        self.log_commits.set(state.log.commits() as i64);
        let failure = state.log.storage_failure();
        self.storage_failing.set(i64::from(failure.is_some()));
        self.storage_failure_attempts
            .set(failure.map_or(0, |f| f.attempts as i64));
        let (batches, signed) = state.envelopes.signer.signed_so_far();
        self.envelope_batches.set(batches as i64);
        self.envelopes_signed.set(signed as i64);
        self.epochs_live.set(state.envelopes.sending.live() as i64);
    }
}
