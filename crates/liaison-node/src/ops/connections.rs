//! Connections between bulletins (issue #15, first part): every bulletin stored here,
//! sent or received, is indexed under the keyed tags of its selectors
//! (`liaison_core::selector`); a bulletin that shares a selector with ones already held
//! records a `correlated` event; `bulletin show` names the links and `liaison search`
//! finds bulletins by selector. The index holds tags, never selectors, and erased
//! bulletins leave it with their payload.

use std::collections::BTreeMap;

use liaison_core::selector::{self, Selector, SelectorTag};
use liaison_core::{AgencyId, Bulletin, BulletinContent, BulletinId, Tlp, UnixMillis};
use liaison_store::{Effect, NewEntry};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::ops::bulletins::{self, views};

/// Most entries read per selector (a selector in thousands of bulletins is noise: a
/// switchboard number, a bank's own account).
pub const PER_SELECTOR: usize = 1000;

/// The tags of `content`'s selectors under this node's key.
///
/// Errors: the selector key cannot be loaded.
pub fn tags(state: &NodeState, content: &BulletinContent) -> Result<Vec<[u8; 16]>> {
    let key = state.selector_key()?;
    Ok(selector::selectors(content)
        .iter()
        .map(|s| s.tag(&key).0)
        .collect())
}

/// What storing `bulletin` adds to its batch: its selectors in the index, its
/// selectors offered to partners' private queries (`ops::private_query`), and a
/// `correlated` event if it shares a selector with bulletins held.
///
/// Errors: a key cannot be loaded or the index cannot be read.
pub fn index(state: &NodeState, bulletin: &Bulletin) -> Result<IndexWrites> {
    let id = &bulletin.id;
    let tags = tags(state, &bulletin.content)?;
    let mut linked = Vec::new();
    let mut shared = 0;
    for tag in &tags {
        let mut any = false;
        for seq in state.log.selector_entries(tag, PER_SELECTOR)? {
            if let Some(other) = state.log.get(seq)?.and_then(|e| e.bulletin_id)
                && &other != id
            {
                any = true;
                if !linked.contains(&other) {
                    linked.push(other);
                }
            }
        }
        shared += usize::from(any);
    }
    let correlated = (!linked.is_empty()).then(|| {
        LogEvent::Correlated {
            bulletin: id.to_string(),
            linked: linked.iter().map(ToString::to_string).collect(),
            shared_selectors: shared,
            origin: Some(bulletin.origin.clone()),
        }
        .entry()
        .about_bulletin(*id)
    });
    let mut effects = Vec::new();
    if !tags.is_empty() {
        effects.push(Effect::IndexSelectors(tags));
    }
    effects.extend(crate::ops::private_query::offered(state, bulletin)?);
    Ok(IndexWrites {
        effects,
        correlated,
    })
}

/// What [`index`] adds to a bulletin's batch.
#[derive(Default)]
pub struct IndexWrites {
    /// Effects for the bulletin's entry (none without selectors).
    pub effects: Vec<Effect>,
    /// The `correlated` event, if it links to bulletins held.
    pub correlated: Option<NewEntry>,
}

/// One link of a bulletin: a selector it shares with another bulletin held here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkView {
    /// The shared selector, e.g. `phone:+40712345678`.
    pub selector: String,
    /// The other bulletin.
    pub bulletin: String,
    /// Its originator.
    pub origin: String,
    /// When its originator created it.
    pub created: String,
    /// The same, Unix milliseconds.
    pub created_unix_ms: i64,
    /// Its TLP.
    pub tlp: String,
    /// Its title.
    pub title: String,
}

/// The links of bulletin `id`: for each of its selectors, the other bulletins held
/// here that carry it, by selector then time.
///
/// Errors: the bulletin is not held, or the log cannot be read.
pub fn links_of(state: &NodeState, id: &BulletinId) -> Result<Vec<LinkView>> {
    let (stored, _) = bulletins::find(state, id)?;
    let Ok(content) = &stored.content else {
        return Ok(Vec::new());
    };
    let key = state.selector_key()?;
    let mut links = Vec::new();
    for selector in selector::selectors(content) {
        for other in holders(state, &selector.tag(&key), Some(id))? {
            let summary = views::summary(&other);
            links.push(LinkView {
                selector: selector.to_string(),
                bulletin: summary.id,
                origin: summary.origin,
                created: summary.created,
                created_unix_ms: other.header().created.0,
                tlp: summary.tlp,
                title: summary.title,
            });
        }
    }
    Ok(links)
}

/// The bulletins held here carrying the selector with tag `tag`, in log order,
/// without `except`.
fn holders(
    state: &NodeState,
    tag: &SelectorTag,
    except: Option<&BulletinId>,
) -> Result<Vec<bulletins::Stored>> {
    let mut found: BTreeMap<u64, bulletins::Stored> = BTreeMap::new();
    for seq in state.log.selector_entries(&tag.0, PER_SELECTOR)? {
        let Some(entry) = state.log.get(seq)? else {
            continue;
        };
        if entry.bulletin_id.is_none() || entry.bulletin_id.as_ref() == except {
            continue;
        }
        if let Some(stored) = bulletins::load(state, entry)? {
            found.insert(seq, stored);
        }
    }
    Ok(found.into_values().collect())
}

/// What else a search asks of a bulletin besides its selectors.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchFilter {
    /// Created at or after.
    #[serde(default)]
    pub since: Option<UnixMillis>,
    /// Created before.
    #[serde(default)]
    pub until: Option<UnixMillis>,
    /// From this originator.
    #[serde(default)]
    pub origin: Option<AgencyId>,
    /// In this category or under it (`trafficking` covers `trafficking.persons`).
    #[serde(default)]
    pub category: Option<String>,
    /// With this TLP.
    #[serde(default)]
    pub tlp: Option<Tlp>,
    /// Carrying this handling code.
    #[serde(default)]
    pub handling: Option<liaison_core::HandlingCode>,
    /// In this conversation (the id of the bulletin that started it).
    #[serde(default)]
    pub thread: Option<BulletinId>,
}

impl SearchFilter {
    fn admits(&self, stored: &bulletins::Stored) -> bool {
        let header = stored.header();
        let category = header.marking.category.to_string();
        self.since.is_none_or(|t| header.created >= t)
            && self.until.is_none_or(|t| header.created < t)
            && self.origin.as_ref().is_none_or(|o| &header.origin == o)
            && self
                .category
                .as_ref()
                .is_none_or(|c| category == *c || category.starts_with(&format!("{c}.")))
            && self.tlp.is_none_or(|t| header.marking.tlp == t)
            && self
                .handling
                .as_ref()
                .is_none_or(|h| header.marking.handling_codes.contains(h))
            && self.thread.is_none_or(|t| header.thread_id() == t)
    }
}

/// Which part of a search's results to show, in which order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchPage {
    /// Results to skip.
    #[serde(default)]
    pub offset: usize,
    /// Most results to show (none: all).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Oldest first (by the time they entered this log).
    #[serde(default)]
    pub oldest_first: bool,
    /// Newest first even when words are searched (default then: most relevant first).
    #[serde(default)]
    pub by_time: bool,
}

impl SearchPage {
    /// How many results [`search_stored`] must find for this page, and one more to tell
    /// whether more follow; `None` when every result is needed (a time order, or no
    /// limit).
    pub fn enough(&self) -> Option<usize> {
        if self.oldest_first || self.by_time {
            return None;
        }
        self.limit
            .map(|l| self.offset.saturating_add(l).saturating_add(1))
    }

    /// The page of `results` (in [`search_stored`]'s order), and whether more follow.
    pub fn of(&self, mut results: Vec<bulletins::Stored>) -> (Vec<bulletins::Stored>, bool) {
        if self.oldest_first {
            results.sort_by_key(|s| s.entry.seq);
        } else if self.by_time {
            results.sort_by_key(|s| std::cmp::Reverse(s.entry.seq));
        }
        let total = results.len();
        let page: Vec<_> = results
            .into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .collect();
        let more = self.offset.saturating_add(page.len()) < total;
        (page, more)
    }
}

/// What a search looks for: selectors (exact, canonical), words in the title or body,
/// a name matched within one edit. At least one.
#[derive(Debug, Clone, Default)]
pub struct Criteria {
    /// Selectors a bulletin must all carry.
    pub selectors: Vec<Selector>,
    /// Words and fuzzy name.
    pub text: crate::ops::fulltext::TextQuery,
}

impl Criteria {
    fn has_text(&self) -> bool {
        !self.text.words.trim().is_empty() || self.text.fuzzy_name.is_some()
    }
}

/// The bulletins held here matching `criteria` and passing `filter`: most relevant
/// first when words or a name are searched, else newest first; with `enough`, ranked
/// results stop once there are that many.
///
/// Errors: nothing to look for, or the log or the full-text index fails.
pub fn search_stored(
    state: &NodeState,
    criteria: &Criteria,
    filter: &SearchFilter,
    enough: Option<usize>,
) -> Result<Vec<bulletins::Stored>> {
    if criteria.selectors.is_empty() && !criteria.has_text() {
        return Err(crate::Error::InvalidRequest(
            "give a selector (--phone, --account, --vehicle, --vin, --person), words (--text) or a name (--fuzzy-person)"
                .into(),
        ));
    }
    let by_selector = if criteria.selectors.is_empty() {
        None
    } else {
        Some(search_by_selectors(state, &criteria.selectors, filter)?)
    };
    if !criteria.has_text() {
        return Ok(by_selector.unwrap_or_default());
    }
    let keep: Option<std::collections::HashSet<u64>> = by_selector
        .as_ref()
        .map(|found| found.iter().map(|s| s.entry.seq).collect());
    let mut ranked = Vec::new();
    for (seq, _score) in crate::ops::fulltext::search(state, &criteria.text)? {
        // Each hit is loaded and decrypted: stop once the caller has all it shows.
        if enough.is_some_and(|n| ranked.len() >= n) {
            break;
        }
        if keep.as_ref().is_some_and(|k| !k.contains(&seq)) {
            continue;
        }
        let Some(entry) = state.log.get(seq)? else {
            continue;
        };
        // Erased or recalled since it was indexed: not a result.
        if let Some(stored) = bulletins::load(state, entry)?
            && stored.content.is_ok()
            && filter.admits(&stored)
            && !recalled(state, &stored)?
        {
            ranked.push(stored);
        }
    }
    Ok(ranked)
}

/// Whether a recall of this bulletin is in the log (the originator keeps its copy).
fn recalled(state: &NodeState, stored: &bulletins::Stored) -> Result<bool> {
    Ok(state
        .log
        .entries_for_bulletin(&stored.header().bulletin_id)?
        .iter()
        .any(|e| e.kind == liaison_store::EntryKind::Recall))
}

/// The bulletins held here carrying every one of `selectors` (at least one) and
/// passing `filter`, newest first.
///
/// Errors: the log cannot be read.
fn search_by_selectors(
    state: &NodeState,
    selectors: &[Selector],
    filter: &SearchFilter,
) -> Result<Vec<bulletins::Stored>> {
    let key = state.selector_key()?;
    let mut result: Option<BTreeMap<u64, bulletins::Stored>> = None;
    for selector in selectors {
        let matching: BTreeMap<u64, bulletins::Stored> = holders(state, &selector.tag(&key), None)?
            .into_iter()
            .map(|s| (s.entry.seq, s))
            .collect();
        result = Some(match result {
            None => matching,
            Some(mut so_far) => {
                so_far.retain(|seq, _| matching.contains_key(seq));
                so_far
            }
        });
    }
    let mut found = Vec::new();
    for stored in result.unwrap_or_default().into_values().rev() {
        // Recalled by this node (which keeps its own copy): no longer a result.
        if filter.admits(&stored) && !recalled(state, &stored)? {
            found.push(stored);
        }
    }
    Ok(found)
}

/// Most bulletins `liaison links` looks through, newest first.
pub const LINKS_SCAN: usize = 1000;

/// A link between two bulletins held here, as `liaison links` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkPair {
    /// The newer bulletin.
    pub bulletin: String,
    /// Its originator.
    pub origin: String,
    /// Its title.
    pub title: String,
    /// The selector both carry.
    pub selector: String,
    /// The older bulletin it links to, with its originator, TLP and title.
    pub linked: LinkView,
}

/// The links among the (at most [`LINKS_SCAN`]) newest bulletins that entered this log
/// since `since`, each pair once, newest first; only those on `entity` if given.
///
/// Errors: the log cannot be read.
pub fn links(
    state: &NodeState,
    since: Option<UnixMillis>,
    entity: Option<&Selector>,
) -> Result<Vec<LinkPair>> {
    let filter = bulletins::Filter {
        since,
        newest_first: true,
        ..bulletins::Filter::default()
    };
    let (recent, _, _) = bulletins::page(state, &filter, 0, LINKS_SCAN)?;
    let mut seen = std::collections::HashSet::new();
    let mut pairs = Vec::new();
    for stored in recent {
        let summary = views::summary(&stored);
        for link in links_of(state, &stored.header().bulletin_id)? {
            if entity.is_some_and(|e| e.as_str() != link.selector) {
                continue;
            }
            let mut pair = [summary.id.clone(), link.bulletin.clone()];
            pair.sort();
            if !seen.insert((pair, link.selector.clone())) {
                continue;
            }
            pairs.push(LinkPair {
                bulletin: summary.id.clone(),
                origin: summary.origin.clone(),
                title: summary.title.clone(),
                selector: link.selector.clone(),
                linked: link,
            });
        }
    }
    Ok(pairs)
}
