//! Connections between bulletins (issue #15, first part): every bulletin stored here,
//! sent or received, is indexed under the keyed tags of its selectors
//! (`liaison_core::selector`); a bulletin that shares a selector with ones already held
//! records a `correlated` event; `bulletin show` names the links and `liaison search`
//! finds bulletins by selector. The index holds tags, never selectors, and erased
//! bulletins leave it with their payload.

use std::collections::BTreeMap;

use liaison_core::selector::{self, Selector, SelectorTag};
use liaison_core::{BulletinContent, BulletinId};
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

/// What storing bulletin `id` with selector tags `tags` adds to its batch: the index
/// effect, and a `correlated` event if it shares a selector with bulletins held.
///
/// Errors: the index cannot be read.
pub fn index(state: &NodeState, id: &BulletinId, tags: Vec<[u8; 16]>) -> Result<IndexWrites> {
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
        }
        .entry()
        .about_bulletin(*id)
    });
    Ok(IndexWrites {
        effect: (!tags.is_empty()).then_some(Effect::IndexSelectors(tags)),
        correlated,
    })
}

/// What [`index`] adds to a bulletin's batch.
pub struct IndexWrites {
    /// The index effect for the bulletin's entry (none without selectors).
    pub effect: Option<Effect>,
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

/// The bulletins held here carrying every one of `selectors` (at least one), newest
/// first: what `liaison search --phone ...` shows.
///
/// Errors: the log cannot be read.
pub fn search(state: &NodeState, selectors: &[Selector]) -> Result<Vec<views::BulletinSummary>> {
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
    Ok(result
        .unwrap_or_default()
        .values()
        .rev()
        .map(views::summary)
        .collect())
}
