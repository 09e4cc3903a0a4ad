//! Private hit/no-hit queries between partners (issue #15; the protocol is in
//! `liaison_core::private_query`, the threat model in docs/PRIVATE-QUERIES.md).
//!
//! As a **holder**, this node offers each partner the fingerprints (under that
//! partner's OPRF key) of the selectors its policy lets the partner ask about
//! ([`offered`], computed when a bulletin is stored, withdrawn when it is erased),
//! serves the partner the changes to that set ([`filter_changes`]) and evaluates the
//! partner's blinded selectors within a daily budget ([`answer`]). It never sees a
//! selector, so its log records that a query was answered and nothing about what.
//!
//! As a **querier**, it brings its copy of each partner's filter up to date, blinds
//! each selector, has the partner evaluate it, unblinds and looks the result up
//! ([`query`]); its log records the query by selector kind and keyed tag.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use liaison_core::private_query::{self, QueryFilter};
use liaison_core::selector::{self, Selector};
use liaison_core::{AgencyId, Bulletin, UnixMillis};
use liaison_proto::v1 as pb;
use liaison_store::{Effect, FeedPosition};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;

/// Most selectors in one query (and one `EvaluateQuery` call).
pub const MAX_SELECTORS: usize = 16;

/// Most changes in one `QueryFilter` answer (9 bytes each: 576 KiB, within the peer
/// API's 1 MiB message limit).
pub const FEED_PAGE: usize = 65_536;

/// Most feed pages a querier reads before one query (4 million changes).
const MAX_FEED_PAGES: usize = 64;

/// How long a querier waits for one partner (filter and evaluation together).
const PARTNER_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a querier keeps its copy of each partner's filter, under the data directory.
pub const FILTERS_DIR: &str = "query-filters";

const FILTER_MAGIC: &[u8] = b"liaison-query-filter/1\n";
const POSITION_LEN: usize = 12;

// ---------------------------------------------------------------------------------
// Holder

/// What storing `bulletin` offers to partners' private queries: for each partner whose
/// rules let it ask about a selector of the bulletin (its kind, the bulletin's
/// category, and whether this agency originated it), the selector's fingerprint under
/// that partner's key. `None` when no partner may ask about any of them.
///
/// Errors: the query key cannot be loaded.
pub fn offered(state: &NodeState, bulletin: &Bulletin) -> Result<Option<Effect>> {
    let selectors: BTreeSet<Selector> =
        selector::selectors(&bulletin.content).into_iter().collect();
    if selectors.is_empty() {
        return Ok(None);
    }
    let policy = state.policy.snapshot();
    let own = bulletin.origin == state.node().config().agency;
    let category = bulletin.marking.category.to_string();
    let mut pairs = Vec::new();
    for (partner, rules) in policy.partners() {
        let mut key = None;
        for selector in &selectors {
            if !rules.may_query(selector.kind(), &category, own) {
                continue;
            }
            let key = match &key {
                Some(key) => key,
                None => key.insert(state.query_key(partner)?),
            };
            let fingerprint = key
                .fingerprint(selector)
                .map_err(|e| Error::Internal(e.to_string()))?;
            pairs.push((partner.clone(), fingerprint));
        }
    }
    Ok((!pairs.is_empty()).then_some(Effect::IndexQueryable(pairs)))
}

/// Why a partner's query, or its filter request, was refused. [`Refusal::code`] says
/// which gRPC status the peer API answers with.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The policy lets the partner query nothing.
    #[error("{0}")]
    NotAllowed(String),
    /// The partner spent its budget for the day.
    #[error(
        "query budget: {partner} has used {used} of its {budget} private queries today (UTC); asking about {asked} more is refused until 00:00 UTC"
    )]
    OverBudget {
        /// The partner.
        partner: AgencyId,
        /// Used today.
        used: u32,
        /// `partners.X.queries_per_day`.
        budget: u32,
        /// Selectors in the refused request.
        asked: usize,
    },
    /// The request is malformed (named).
    #[error("{0}")]
    Malformed(String),
    /// This node cannot answer now (its log is failing).
    #[error("this node cannot answer queries now: {0}")]
    Unavailable(String),
}

impl Refusal {
    /// The kind of refusal, for the status code: `permission`, `exhausted`,
    /// `invalid` or `unavailable`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotAllowed(_) => "permission",
            Refusal::OverBudget { .. } => "exhausted",
            Refusal::Malformed(_) => "invalid",
            Refusal::Unavailable(_) => "unavailable",
        }
    }
}

/// The partner's rules, if they let it query anything.
fn query_rules(
    state: &NodeState,
    partner: &AgencyId,
) -> std::result::Result<liaison_core::policy::PartnerRules, Refusal> {
    let policy = state.policy.snapshot();
    match policy.partner(partner) {
        Some(rules) if !rules.query_kinds.is_empty() => Ok(rules.clone()),
        Some(_) => Err(Refusal::NotAllowed(format!(
            "sharing policy: partners.{partner}.query_kinds is empty: this node answers no private queries from {partner}"
        ))),
        None => Err(Refusal::NotAllowed(format!(
            "sharing policy: {partner} is not in this node's policy"
        ))),
    }
}

/// One answer to `QueryFilter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterPage {
    /// The changes, [`private_query::CHANGE_LEN`] bytes each.
    pub changes: Vec<u8>,
    /// The position of the last one (empty if none).
    pub next: Vec<u8>,
    /// More follow.
    pub more: bool,
}

/// The changes to the filter this node offers `partner`, after position `after`
/// (empty: from the start), at most [`FEED_PAGE`].
///
/// Errors: the partner may query nothing, `after` is not a position, the log fails.
pub fn filter_changes(
    state: &NodeState,
    partner: &AgencyId,
    after: &[u8],
) -> std::result::Result<FilterPage, Refusal> {
    query_rules(state, partner)?;
    let after = match after.len() {
        0 => None,
        POSITION_LEN => Some(decode_position(after)),
        n => {
            return Err(Refusal::Malformed(format!(
                "after: {n} bytes; a position is {POSITION_LEN} bytes (or empty for the start)"
            )));
        }
    };
    let changes = state
        .log
        .query_feed(partner, after, FEED_PAGE + 1)
        .map_err(|e| Refusal::Unavailable(e.to_string()))?;
    let more = changes.len() > FEED_PAGE;
    let changes = &changes[..changes.len().min(FEED_PAGE)];
    let mut bytes = Vec::with_capacity(changes.len() * private_query::CHANGE_LEN);
    for change in changes {
        bytes.push(u8::from(change.added));
        bytes.extend_from_slice(&change.fingerprint);
    }
    Ok(FilterPage {
        changes: bytes,
        next: changes
            .last()
            .map(|c| encode_position(c.position))
            .unwrap_or_default(),
        more,
    })
}

fn encode_position(position: FeedPosition) -> Vec<u8> {
    [
        &position.seq.to_be_bytes()[..],
        &position.index.to_be_bytes()[..],
    ]
    .concat()
}

/// A position from its 12 bytes (the caller checked the length).
fn decode_position(bytes: &[u8]) -> FeedPosition {
    let mut seq = [0u8; 8];
    let mut index = [0u8; 4];
    seq.copy_from_slice(&bytes[..8]);
    index.copy_from_slice(&bytes[8..POSITION_LEN]);
    FeedPosition {
        seq: u64::from_be_bytes(seq),
        index: u32::from_be_bytes(index),
    }
}

/// Serialises budget checks, so two concurrent queries from one partner cannot both
/// spend its last query.
static BUDGET: Mutex<()> = Mutex::new(());

/// Evaluates `partner`'s blinded selectors under its key, within its daily budget,
/// and logs that it did (durably, before answering). Returns the evaluated elements and
/// the queries it has left today. A refusal is logged too.
///
/// Errors: see [`Refusal`]. Nothing is counted for a refused request.
pub fn answer(
    state: &NodeState,
    partner: &AgencyId,
    blinded: &[impl AsRef<[u8]>],
) -> std::result::Result<(Vec<[u8; private_query::ELEMENT_LEN]>, u32), Refusal> {
    let outcome = evaluate_within_budget(state, partner, blinded);
    if let Err(refusal) = &outcome
        && !matches!(refusal, Refusal::Unavailable(_))
    {
        tracing::warn!(%partner, reason = %refusal, "refused a private query");
        let refused = LogEvent::QueryRefused {
            from: partner.clone(),
            reason: refusal.to_string(),
        };
        if let Err(e) = state.log.append(refused.entry()) {
            tracing::error!(error = %e, "could not log a refused query");
        }
    }
    outcome
}

fn evaluate_within_budget(
    state: &NodeState,
    partner: &AgencyId,
    blinded: &[impl AsRef<[u8]>],
) -> std::result::Result<(Vec<[u8; private_query::ELEMENT_LEN]>, u32), Refusal> {
    let rules = query_rules(state, partner)?;
    if blinded.is_empty() || blinded.len() > MAX_SELECTORS {
        return Err(Refusal::Malformed(format!(
            "blinded: {} elements; send 1 to {MAX_SELECTORS}",
            blinded.len()
        )));
    }
    let key = state
        .query_key(partner)
        .map_err(|e| Refusal::Unavailable(e.to_string()))?;
    // Every element is checked before anything is counted or logged.
    let evaluated = blinded
        .iter()
        .enumerate()
        .map(|(i, element)| {
            key.evaluate_blinded(element.as_ref())
                .map_err(|e| Refusal::Malformed(format!("blinded[{i}]: {}", e.problem)))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let asked = u32::try_from(blinded.len()).unwrap_or(u32::MAX);
    let day = u32::try_from(UnixMillis::now().0.max(0) / 86_400_000).unwrap_or(u32::MAX);
    let _budget = BUDGET.lock().unwrap_or_else(|p| p.into_inner());
    let used = state
        .log
        .query_count(partner, day)
        .map_err(|e| Refusal::Unavailable(e.to_string()))?;
    if used.saturating_add(asked) > rules.queries_per_day {
        return Err(Refusal::OverBudget {
            partner: partner.clone(),
            used,
            budget: rules.queries_per_day,
            asked: blinded.len(),
        });
    }
    let count = used + asked;
    let answered = LogEvent::QueryAnswered {
        from: partner.clone(),
        selectors: asked,
        used_today: count,
        budget: rules.queries_per_day,
    };
    state
        .log
        .append(answered.entry().with_effect(Effect::CountQueries {
            partner: partner.clone(),
            day,
            count,
        }))
        .map_err(|e| Refusal::Unavailable(e.to_string()))?;
    Ok((evaluated, rules.queries_per_day - count))
}

// ---------------------------------------------------------------------------------
// Querier

/// One partner's answer to a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerAnswer {
    /// The partner.
    pub partner: String,
    /// For each selector asked about, in order: whether the partner holds it. Empty
    /// when it gave no answer.
    pub hits: Vec<bool>,
    /// Why it gave no answer.
    pub error: Option<String>,
    /// Queries left today, as the partner said.
    pub remaining_today: u32,
    /// How many fingerprints its filter holds for us (what a filter tells anyway).
    pub filter_size: usize,
}

/// What a query found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryReport {
    /// The selectors asked about, in canonical form (shown only to the asker).
    pub selectors: Vec<String>,
    /// One answer per partner asked, in name order.
    pub answers: Vec<PartnerAnswer>,
}

/// Asks `partners` (none: every partner this node knows) privately whether they hold
/// `selectors`, and logs the query (by kind and keyed tag) for `by`.
///
/// Errors: no selector, too many, an unknown partner, or the log fails. A partner
/// that cannot answer is reported in its [`PartnerAnswer`], not as an error.
pub async fn query(
    state: &NodeState,
    selectors: Vec<Selector>,
    partners: Vec<AgencyId>,
    by: String,
) -> Result<QueryReport> {
    if selectors.is_empty() || selectors.len() > MAX_SELECTORS {
        return Err(Error::InvalidRequest(format!(
            "give 1 to {MAX_SELECTORS} selectors (--phone, --account, --vehicle, --vin, --person); got {}",
            selectors.len()
        )));
    }
    let known = state.partners.snapshot();
    let partners: BTreeSet<AgencyId> = if partners.is_empty() {
        known
            .iter()
            .map(|p| p.identity.document().agency.clone())
            .collect()
    } else {
        for partner in &partners {
            if known.get(partner).is_none() {
                return Err(Error::UnknownPartner(partner.clone()));
            }
        }
        partners.into_iter().collect()
    };
    if partners.is_empty() {
        return Err(Error::InvalidRequest(
            "this node has no partners to ask".into(),
        ));
    }
    let dir = state.node().dir().to_owned();
    let certificate = crate::trust::tls::NodeCertificate::load(
        &dir.join("tls/node.pem"),
        &dir.join("tls/node.key"),
    )?;
    let asks = partners.iter().map(|partner| {
        let (certificate, selectors) = (&certificate, &selectors);
        async move {
            let asked =
                tokio::time::timeout(PARTNER_TIMEOUT, ask(state, certificate, partner, selectors))
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!("no answer within {} s", PARTNER_TIMEOUT.as_secs()))
                    });
            match asked {
                Ok(answer) => answer,
                Err(error) => PartnerAnswer {
                    partner: partner.to_string(),
                    hits: Vec::new(),
                    error: Some(error),
                    remaining_today: 0,
                    filter_size: 0,
                },
            }
        }
    });
    let answers = futures::future::join_all(asks).await;
    let key = state.selector_key()?;
    let made = LogEvent::QueryMade {
        by,
        selectors: selectors
            .iter()
            .map(|s| {
                format!(
                    "{}:{}",
                    s.kind(),
                    data_encoding::HEXLOWER.encode(&s.tag(&key).0)
                )
            })
            .collect(),
        answers: answers
            .iter()
            .map(|a| match &a.error {
                Some(e) => format!("{}: no answer: {e}", a.partner),
                None => format!(
                    "{}: {}",
                    a.partner,
                    a.hits
                        .iter()
                        .map(|h| if *h { "hit" } else { "no-hit" })
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            })
            .collect(),
    };
    state.log.submit(vec![made.entry()]).durable().await?;
    Ok(QueryReport {
        selectors: selectors.iter().map(|s| s.as_str().to_owned()).collect(),
        answers,
    })
}

/// One partner: bring its filter up to date, have it evaluate the blinded selectors,
/// look them up.
async fn ask(
    state: &NodeState,
    certificate: &crate::trust::tls::NodeCertificate,
    partner: &AgencyId,
    selectors: &[Selector],
) -> std::result::Result<PartnerAnswer, String> {
    let mut client = crate::runtime::delivery::connect(&state.partners, certificate, partner)
        .await
        .map_err(|e| e.to_string())?;
    let refused = |s: tonic::Status| format!("{:?}: {}", s.code(), s.message());
    // The filter first: the copy kept here, then the changes since.
    let path = filter_path(state, partner);
    let (mut filter, mut position) = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || load_filter(&path))
            .await
            .map_err(|_| "reading the kept filter failed".to_owned())?
    };
    for _ in 0..MAX_FEED_PAGES {
        let page = client
            .query_filter(pb::QueryFilterRequest {
                after: position.clone().into(),
            })
            .await
            .map_err(refused)?
            .into_inner();
        filter
            .apply(&page.changes)
            .map_err(|e| format!("its filter changes are malformed: {e}"))?;
        if !page.next.is_empty() {
            if page.next.len() != POSITION_LEN {
                return Err(format!(
                    "its filter position is {} bytes, not {POSITION_LEN}",
                    page.next.len()
                ));
            }
            position = page.next.to_vec();
        }
        if !page.more {
            break;
        }
    }
    {
        let (path, bytes) = (path.clone(), encode_filter(&filter, &position));
        let saved = tokio::task::spawn_blocking(move || save_filter(&path, &bytes))
            .await
            .map_err(|_| "keeping the filter failed".to_owned())?;
        if let Err(e) = saved {
            tracing::warn!(%partner, error = %e, "could not keep a partner's query filter");
        }
    }
    // Then the query: a fresh blind per selector, for this partner only.
    let blinded = selectors
        .iter()
        .map(private_query::blind)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let response = client
        .evaluate_query(pb::EvaluateQueryRequest {
            blinded: blinded
                .iter()
                .map(|b| bytes::Bytes::copy_from_slice(&b.message))
                .collect(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    if response.evaluated.len() != blinded.len() {
        return Err(format!(
            "it answered {} elements for {} asked",
            response.evaluated.len(),
            blinded.len()
        ));
    }
    let hits = blinded
        .iter()
        .zip(&response.evaluated)
        .map(|(query, evaluated)| query.finish(evaluated).map(|fp| filter.contains(&fp)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("its answer is malformed: {e}"))?;
    Ok(PartnerAnswer {
        partner: partner.to_string(),
        hits,
        error: None,
        remaining_today: response.remaining_today,
        filter_size: filter.len(),
    })
}

fn filter_path(state: &NodeState, partner: &AgencyId) -> PathBuf {
    state.node().dir().join(FILTERS_DIR).join(partner.as_str())
}

/// The kept filter of a partner and the feed position it reflects; an empty filter
/// from the start if none is kept or it does not read (it is fetched again whole).
fn load_filter(path: &std::path::Path) -> (QueryFilter, Vec<u8>) {
    let Ok(bytes) = std::fs::read(path) else {
        return (QueryFilter::default(), Vec::new());
    };
    let parsed = bytes
        .strip_prefix(FILTER_MAGIC)
        .and_then(|rest| rest.split_first())
        .and_then(|(&has_position, rest)| {
            let (position, rest) = match has_position {
                0 => (Vec::new(), rest),
                _ => (
                    rest.get(..POSITION_LEN)?.to_vec(),
                    rest.get(POSITION_LEN..)?,
                ),
            };
            Some((QueryFilter::decode(rest).ok()?, position))
        });
    parsed.unwrap_or_else(|| {
        tracing::warn!(path = %path.display(), "a kept query filter does not read: fetching it again");
        (QueryFilter::default(), Vec::new())
    })
}

fn encode_filter(filter: &QueryFilter, position: &[u8]) -> Vec<u8> {
    let mut out = FILTER_MAGIC.to_vec();
    out.push(u8::from(!position.is_empty()));
    out.extend_from_slice(position);
    out.extend_from_slice(&filter.encode());
    out
}

fn save_filter(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Internal("a filter path has no directory".into()))?;
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::Internal("a filter path has no name".into()))?;
    crate::ops::keys::replace_file(dir, name, bytes, 0o600)
}
