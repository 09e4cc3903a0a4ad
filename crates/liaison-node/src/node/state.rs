//! [`NodeState`]: what every part of a node shares — its files, its log, its partners —
//! and the wake-ups of the delivery workers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use liaison_core::AgencyId;
use liaison_core::policy::Policy;
use liaison_store::Log;
use tokio::sync::Notify;

use crate::error::Error;
use crate::error::Result;
use crate::node::data_dir::Node;
use crate::node::journal::LogEvent;
use crate::trust::clients::{ClientSet, Clients};
use crate::trust::partners::Snapshot;
use crate::trust::partners::{PartnerSet, Partners};

/// Why delivery to a partner is failing, and when the worker tries again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// What went wrong last.
    pub error: crate::runtime::delivery::DeliveryError,
    /// When the next attempt is due.
    pub next_attempt: liaison_core::UnixMillis,
    /// When delivery to the partner began failing (kept across retries).
    pub since: liaison_core::UnixMillis,
}

/// The node's clock: the system's, shifted by an offset that only tests set (to be a
/// receiver whose clock runs behind, say). Every time-dependent check of a partner's
/// input asks it.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: std::sync::atomic::AtomicI64,
}

impl Clock {
    /// Now, by this node's clock.
    pub fn now(&self) -> liaison_core::UnixMillis {
        let offset = self.offset_ms.load(std::sync::atomic::Ordering::Relaxed);
        liaison_core::UnixMillis(liaison_core::UnixMillis::now().0.saturating_add(offset))
    }

    /// Shifts the clock by `offset_ms` from the system's (negative: behind).
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms
            .store(offset_ms, std::sync::atomic::Ordering::Relaxed);
    }
}

impl std::fmt::Display for DeliveryFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (next attempt {})", self.error, self.next_attempt)
    }
}

/// Shared state of a node, running or administered offline.
pub struct NodeState {
    /// Keys, identity and configuration; replaced whole by a key rotation.
    node: Snapshot<Node>,
    /// The log.
    pub log: Arc<Log>,
    /// Known partners.
    pub partners: PartnerSet,
    /// Registered local clients.
    pub clients: ClientSet,
    /// The desk's officers.
    pub officers: crate::trust::officers::OfficerBook,
    /// The sharing policy in force. Each decision takes one snapshot, so a bulletin is
    /// judged under exactly one version even while the policy is reloaded.
    pub policy: Snapshot<Policy>,
    /// Ingress rate limits per partner.
    pub rates: RateLimiter,
    /// The clock partners' input is judged by.
    pub clock: Clock,
    /// How many refusals of each partner's input are logged one by one.
    pub rejections: RejectionBudget,
    /// Each partner's clock minus ours, in milliseconds, from its last signed receipt.
    clock_skews: Mutex<HashMap<AgencyId, i64>>,
    /// Notified whenever a received bulletin became durable (wakes subscribers).
    pub received: Notify,
    wakers: Mutex<HashMap<AgencyId, Arc<Notify>>>,
    delivery_errors: Mutex<HashMap<AgencyId, DeliveryFailure>>,
    connected: Mutex<std::collections::HashSet<AgencyId>>,
    /// Partners heard from since their worker last failed (they called in, or a
    /// session made progress): the worker's backoff starts again from its first step.
    contacts: Mutex<std::collections::HashSet<AgencyId>>,
    /// When each partner's next checkpoint exchange is due (absent: now).
    exchanges_due: Mutex<HashMap<AgencyId, std::time::Instant>>,
    /// The newest entry each partner said it holds our receipt for and this log does
    /// not: logged once each.
    own_log_behind: Mutex<HashMap<AgencyId, u64>>,
    /// Whether the node is serving (set by the runtime), as opposed to being
    /// administered offline by the CLI.
    serving: std::sync::atomic::AtomicBool,
    /// Counters and gauges for the Prometheus endpoint.
    pub metrics: Arc<crate::node::metrics::Metrics>,
    /// Format-v2 sealing and opening state shared by every thread.
    pub envelopes: EnvelopeCaches,
    /// The key of the selector index, loaded (or made) on first use.
    selector_key: std::sync::OnceLock<Arc<liaison_core::selector::SelectorKey>>,
    /// The seed of the OPRF keys that answer partners' private queries, loaded (or
    /// made) on first use, and the keys derived from it so far.
    query_keys: std::sync::OnceLock<QueryKeys>,
    /// The full-text index, opened on the first search.
    pub(crate) fulltext: crate::ops::fulltext::Slot,
}

/// The seed of the private-query keys and each partner's key derived from it.
struct QueryKeys {
    seed: liaison_core::private_query::QueryKey,
    partners: Mutex<HashMap<AgencyId, Arc<liaison_core::private_query::PartnerQueryKey>>>,
}

/// What sealing and opening format-v2 envelopes keep between bulletins: this node's
/// epoch keys with each recipient and the batch signer (sending), the batch roots it
/// verified and the epoch keys partners established with it (receiving). All in
/// memory only; a restart starts new epochs.
#[derive(Debug, Default)]
pub struct EnvelopeCaches {
    /// This node's current epoch with each recipient key.
    pub sending: liaison_core::envelope::SenderEpochs,
    /// Closes and signs batches of concurrently sealed envelopes.
    pub signer: liaison_core::envelope::BatchSigner,
    /// Batch roots whose signature was verified.
    pub roots: liaison_core::envelope::VerifiedRoots,
    /// Epoch keys partners established with this node.
    pub receiving: liaison_core::envelope::ReceiverEpochs,
}

impl EnvelopeCaches {
    fn new(settings: &crate::node::config::EnvelopeSettings) -> Self {
        Self {
            sending: liaison_core::envelope::SenderEpochs::new(settings.epochs),
            signer: liaison_core::envelope::BatchSigner::new(settings.batch_max),
            roots: liaison_core::envelope::VerifiedRoots::default(),
            receiving: liaison_core::envelope::ReceiverEpochs::new(settings.epochs),
        }
    }

    /// Drops epoch keys past their age (called periodically, so that a quiet node
    /// does not keep its last epoch keys in memory).
    pub fn expire(&self) {
        self.sending.expire();
        self.receiving.expire();
    }
}

/// The selector index's key file, in the data directory.
pub const SELECTOR_KEY_FILE: &str = "keys/selector.key";

/// The private-query key seed file, in the data directory.
pub const QUERY_KEY_FILE: &str = "keys/query.key";

impl NodeState {
    /// Opens the node's log and loads its partners.
    ///
    /// Errors: the log cannot be opened (for example a running node holds it), or a
    /// stored partner identity no longer verifies.
    pub fn open(node: Node) -> Result<Arc<Self>> {
        let metrics = Arc::new(crate::node::metrics::Metrics::default());
        let log = node.open_log_observed(Some(metrics.commit_observer()))?;
        Self::with_log(node, log, metrics)
    }

    /// [`NodeState::open`] for the CLI on a stopped node: on a disk too full to open the
    /// log, a read-only copy is used ([`Node::open_log_for_reading`]); commands that
    /// change something are then refused with the reason.
    ///
    /// Errors: as [`NodeState::open`].
    pub fn open_offline(node: Node) -> Result<Arc<Self>> {
        let log = node.open_log_for_reading()?;
        Self::with_log(node, log, Arc::default())
    }

    fn with_log(
        node: Node,
        log: Log,
        metrics: Arc<crate::node::metrics::Metrics>,
    ) -> Result<Arc<Self>> {
        let log = Arc::new(log);
        let policy_dir = node.dir().to_owned();
        let partners = PartnerSet::new(Partners::from_bundles(log.peers()?)?);
        let clients = ClientSet::new(Clients::from_records(log.clients()?)?);
        let officers = crate::trust::officers::OfficerBook::load(node.dir())?;
        let rosters = crate::trust::rosters::members_for_policy(
            &crate::trust::rosters::imported(&log)?,
            &node.config().agency,
        );
        let policy = Snapshot::new(load_policy(&policy_dir, &rosters)?);
        let envelopes = EnvelopeCaches::new(&node.config().envelope);
        let node = Snapshot::new(node);
        Ok(Arc::new(Self {
            envelopes,
            node,
            log,
            partners,
            clients,
            officers,
            policy,
            rates: RateLimiter::default(),
            clock: Clock::default(),
            rejections: RejectionBudget::default(),
            clock_skews: Mutex::new(HashMap::new()),
            received: Notify::new(),
            wakers: Mutex::new(HashMap::new()),
            delivery_errors: Mutex::new(HashMap::new()),
            connected: Mutex::new(std::collections::HashSet::new()),
            contacts: Mutex::new(std::collections::HashSet::new()),
            exchanges_due: Mutex::new(HashMap::new()),
            own_log_behind: Mutex::new(HashMap::new()),
            serving: std::sync::atomic::AtomicBool::new(false),
            metrics,
            selector_key: std::sync::OnceLock::new(),
            query_keys: std::sync::OnceLock::new(),
            fulltext: std::sync::OnceLock::new(),
        }))
    }

    /// Reloads the partner set from the log after a change.
    pub fn reload_partners(&self) -> Result<()> {
        self.partners
            .replace(Partners::from_bundles(self.log.peers()?)?);
        Ok(())
    }

    /// The key this node's selector index is keyed with: `keys/selector.key`, 32
    /// random bytes made on first use and sealed like the other keys. Never rotated
    /// (the index would have to be rebuilt), never sent anywhere.
    ///
    /// Errors: the file cannot be read, opened or made.
    pub fn selector_key(&self) -> Result<Arc<liaison_core::selector::SelectorKey>> {
        if let Some(key) = self.selector_key.get() {
            return Ok(key.clone());
        }
        let bytes = self.node_secret(SELECTOR_KEY_FILE)?;
        let key = Arc::new(liaison_core::selector::SelectorKey::from_bytes(&bytes));
        Ok(self.selector_key.get_or_init(|| key).clone())
    }

    /// The OPRF key that answers `partner`'s private queries
    /// (`liaison_core::private_query`), derived from the seed in `keys/query.key`
    /// (32 random bytes made on first use and sealed like the other keys; never sent
    /// anywhere).
    ///
    /// Errors: the file cannot be read, opened or made.
    pub fn query_key(
        &self,
        partner: &AgencyId,
    ) -> Result<Arc<liaison_core::private_query::PartnerQueryKey>> {
        let keys = match self.query_keys.get() {
            Some(keys) => keys,
            None => {
                let bytes = self.node_secret(QUERY_KEY_FILE)?;
                let seed = liaison_core::private_query::QueryKey::from_bytes(&bytes[..])
                    .map_err(|e| Error::Internal(e.to_string()))?;
                self.query_keys.get_or_init(|| QueryKeys {
                    seed,
                    partners: Mutex::default(),
                })
            }
        };
        let mut partners = keys.partners.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = partners.get(partner) {
            return Ok(key.clone());
        }
        let key = Arc::new(
            keys.seed
                .for_partner(partner)
                .map_err(|e| Error::Internal(e.to_string()))?,
        );
        partners.insert(partner.clone(), key.clone());
        Ok(key)
    }

    /// A 32-byte secret of this node's in `file` (under the data directory), made and
    /// sealed like the other keys on first use. One thread makes it; the others wait
    /// and read it.
    fn node_secret(&self, file: &str) -> Result<zeroize::Zeroizing<[u8; 32]>> {
        static MAKING: Mutex<()> = Mutex::new(());
        let _making = MAKING.lock().unwrap_or_else(|p| p.into_inner());
        let dir = self.node().dir().to_owned();
        let path = dir.join(file);
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        if path.exists() {
            let secret = crate::node::secrets::read(&path)?;
            if secret.len() != 32 {
                return Err(Error::BadKeyMaterial {
                    path: path.clone(),
                    problem: "not 32 bytes".into(),
                });
            }
            bytes.copy_from_slice(&secret[..]);
        } else {
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes[..])
                .map_err(|_| Error::Internal("the system's random source failed".into()))?;
            let sealer = crate::node::secrets::Sealer::for_node(&dir)?;
            crate::node::secrets::write(&path, &bytes[..], sealer.as_ref())?;
        }
        Ok(bytes)
    }

    /// The node's keys, identity and configuration as they are now.
    pub fn node(&self) -> Arc<Node> {
        self.node.snapshot()
    }

    /// Puts a re-loaded node (after a key rotation) in force.
    pub fn replace_node(&self, node: Node) {
        self.node.replace(node);
    }

    /// Reads `policy.toml` again and puts it in force atomically, recording the new
    /// version in the log. A file that does not validate changes nothing.
    ///
    /// Errors: [`Error::Policy`] naming the line and field.
    pub fn reload_policy(&self) -> Result<Arc<Policy>> {
        let policy = load_policy(self.node().dir(), &self.roster_members()?)?;
        self.put_policy(policy)
    }

    /// Resolves the policy in force again against the imported rosters (after an
    /// import changed a roster's members), without reading `policy.toml` again: an
    /// edit not yet reloaded stays out of force. Recorded in the log if the version
    /// changed.
    ///
    /// Errors: [`Error::Policy`] if a new member's rules conflict.
    pub fn apply_rosters(&self) -> Result<Arc<Policy>> {
        let policy = self
            .policy
            .snapshot()
            .with_rosters(&self.roster_members()?)
            .map_err(|e| Error::Policy(e.to_string()))?;
        if policy.version() == self.policy.snapshot().version() {
            return Ok(self.policy.snapshot());
        }
        self.put_policy(policy)
    }

    /// The members of each imported roster other than this agency, as policy groups
    /// drawing on a roster take them.
    ///
    /// Errors: the log cannot be read.
    pub fn roster_members(&self) -> Result<liaison_core::policy::RosterMembers> {
        Ok(crate::trust::rosters::members_for_policy(
            &crate::trust::rosters::imported(&self.log)?,
            &self.node().config().agency,
        ))
    }

    fn put_policy(&self, policy: Policy) -> Result<Arc<Policy>> {
        let loaded = LogEvent::PolicyLoaded {
            policy_version: policy.version().to_owned(),
        };
        self.log.append(loaded.entry())?;
        self.policy.replace(policy);
        Ok(self.policy.snapshot())
    }

    /// Reloads the client registrations from the log after a change.
    pub fn reload_clients(&self) -> Result<()> {
        self.clients
            .replace(Clients::from_records(self.log.clients()?)?);
        Ok(())
    }

    /// Records `partner`'s clock as `skew_ms` ahead of ours (negative: behind).
    pub fn set_clock_skew(&self, partner: &AgencyId, skew_ms: i64) {
        self.clock_skews
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(partner.clone(), skew_ms);
    }

    /// `partner`'s clock minus ours, from its last receipt, if one came.
    pub fn clock_skew(&self, partner: &AgencyId) -> Option<i64> {
        self.clock_skews
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(partner)
            .copied()
    }

    /// Marks the node as serving (its listeners and workers run) or not.
    pub fn set_serving(&self, serving: bool) {
        self.serving
            .store(serving, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the node is serving.
    pub fn is_serving(&self) -> bool {
        self.serving.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The wake-up of `partner`'s delivery worker (created on first use).
    pub fn waker(&self, partner: &AgencyId) -> Arc<Notify> {
        self.wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(partner.clone())
            .or_default()
            .clone()
    }

    /// Tells `partner`'s delivery worker there is work.
    pub fn wake(&self, partner: &AgencyId) {
        if let Some(n) = self
            .wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(partner)
        {
            n.notify_one();
        }
    }

    /// `partner` is reachable again (it opened a connection to this node): its worker
    /// retries now, with its backoff back at the first step. A restarted partner is
    /// caught up at once, not after a timer grown during its outage.
    pub fn partner_called_in(&self, partner: &AgencyId) {
        self.partner_reached(partner);
        self.wake(partner);
    }

    /// `partner` answered (a session made progress): the next failure backs off from
    /// the first step again.
    pub fn partner_reached(&self, partner: &AgencyId) {
        self.contacts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(partner.clone());
    }

    /// Whether `partner` was heard from since the last call (clearing the mark).
    pub fn take_contact(&self, partner: &AgencyId) -> bool {
        self.contacts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(partner)
    }

    /// Records (or clears, with `None`) the last delivery failure towards `partner`.
    pub fn set_delivery_error(&self, partner: &AgencyId, error: Option<DeliveryFailure>) {
        let mut errors = self
            .delivery_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match error {
            Some(mut e) => {
                // Failing since the first failure of this run of failures.
                if let Some(earlier) = errors.get(partner) {
                    e.since = earlier.since;
                }
                errors.insert(partner.clone(), e)
            }
            None => errors.remove(partner),
        };
    }

    /// Records whether the delivery worker holds an open stream to `partner`.
    pub fn set_connected(&self, partner: &AgencyId, connected: bool) {
        let mut set = self.connected.lock().unwrap_or_else(|p| p.into_inner());
        if connected {
            set.insert(partner.clone());
        } else {
            set.remove(partner);
        }
    }

    /// Whether the delivery worker holds an open stream to `partner`.
    pub fn is_connected(&self, partner: &AgencyId) -> bool {
        self.connected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(partner)
    }

    /// Whether a checkpoint exchange with `partner` is due (the first one is due at
    /// once).
    pub fn exchange_due(&self, partner: &AgencyId) -> bool {
        self.exchanges_due
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(partner)
            .is_none_or(|due| *due <= std::time::Instant::now())
    }

    /// Records an exchange with `partner`; the next is due at `next`.
    pub fn exchanged(&self, partner: &AgencyId, next: std::time::Instant) {
        self.exchanges_due
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(partner.clone(), next);
    }

    /// Makes an exchange with `partner` due now and wakes its worker.
    pub fn exchange_now(&self, partner: &AgencyId) {
        self.exchanges_due
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(partner);
        self.wake(partner);
    }

    /// Notes that `partner` holds our receipt for entry `seq`, which this log does not
    /// hold; `true` the first time for that entry.
    pub fn note_own_log_behind(&self, partner: &AgencyId, seq: u64) -> bool {
        let mut noted = self
            .own_log_behind
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        noted.insert(partner.clone(), seq) != Some(seq)
    }

    /// The last delivery failure towards `partner`, while its worker is failing.
    pub fn delivery_error(&self, partner: &AgencyId) -> Option<DeliveryFailure> {
        self.delivery_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(partner)
            .cloned()
    }
}

/// File name of the sharing policy in the data directory.
pub const POLICY_FILE: &str = "policy.toml";

/// Reads and validates `policy.toml`, groups drawing on a roster taking `rosters`'
/// members; a node without one denies everything.
///
/// Errors: [`Error::Policy`] naming the file, line and field.
pub fn load_policy(
    dir: &std::path::Path,
    rosters: &liaison_core::policy::RosterMembers,
) -> Result<Policy> {
    let path = dir.join(POLICY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Policy::parse_with_rosters(&text, rosters)
            .map_err(|e| Error::Policy(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), "no sharing policy: nothing will be sent or accepted");
            Ok(Policy::deny_all())
        }
        Err(e) => Err(Error::Io {
            context: "read the sharing policy",
            path,
            source: e,
        }),
    }
}

/// Token buckets, one per partner, refilled at the policy's per-minute rate.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<AgencyId, (f64, std::time::Instant)>>,
}

impl RateLimiter {
    /// Takes one token for `partner` and returns how long to wait before using it
    /// (zero while under the rate). Waiting, not refusing: an abusive partner is
    /// slowed down, a legitimate burst is only delayed.
    pub fn take(&self, partner: &AgencyId, per_minute: u32) -> std::time::Duration {
        let rate = f64::from(per_minute.max(1)) / 60.0;
        let capacity = f64::from(per_minute.max(1));
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(partner.clone()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(capacity) - 1.0;
        *last = now;
        if *tokens >= 0.0 {
            std::time::Duration::ZERO
        } else {
            std::time::Duration::from_secs_f64(-*tokens / rate)
        }
    }
}

/// How many refusals of a partner's envelopes are logged one by one: a burst of
/// [`RejectionBudget::PER_MINUTE`], then that many a minute. Every refusal still gets its
/// signed rejection receipt; past the budget the log records only how many were not
/// logged one by one, so a partner sending junk cannot grow the log without bound.
#[derive(Debug, Default)]
pub struct RejectionBudget {
    /// Per partner: tokens left, when they were counted, refusals not logged since.
    buckets: Mutex<HashMap<AgencyId, (f64, std::time::Instant, u64)>>,
}

/// Whether to log one refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Log it, after recording that `not_logged` earlier refusals were not (if any).
    Log {
        /// Refusals since the last logged one that were not logged.
        not_logged: u64,
    },
    /// Over the budget: counted, not logged.
    Count,
}

impl RejectionBudget {
    /// Refusals logged one by one per partner and minute (and the burst allowed).
    pub const PER_MINUTE: u32 = 120;

    /// Decides about one refusal of `partner`'s input.
    pub fn admit(&self, partner: &AgencyId) -> Admission {
        let capacity = f64::from(Self::PER_MINUTE);
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last, not_logged) =
            buckets.entry(partner.clone()).or_insert((capacity, now, 0));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * capacity / 60.0).min(capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Admission::Log {
                not_logged: std::mem::take(not_logged),
            }
        } else {
            *not_logged += 1;
            Admission::Count
        }
    }
}
