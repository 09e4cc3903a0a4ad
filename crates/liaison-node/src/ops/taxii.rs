//! TAXII 2.1 collections: what the read-only TAXII server (`edge::taxii`) serves, as
//! pages of STIX objects in log order.
//!
//! A collection is a view of this node's log: `received` (every bulletin received),
//! `received-from-AGENCY` (one per partner) and `sent`. Each bulletin contributes the
//! objects `stix export` gives for it (its report, entities, relationships, the agencies'
//! identities, its TLP marking and Liaison's extension definitions), in a fixed order,
//! all dated as added when the bulletin entered this log.
//!
//! Pages go by log sequence, never by time: the `next` token names the entry and the
//! object within it to go on from, so nothing is lost or repeated at a page boundary
//! however many bulletins share a millisecond. An object shared by several bulletins (an
//! agency's identity, a marking) is given once per page that needs it; a TAXII client
//! stores it once, by id and version.

use std::collections::HashSet;

pub use liaison_core::taxii::{Cursor, ObjectQuery, VersionMatch};
use liaison_core::taxii::{MAX_PAGE, parse_timestamp};
use liaison_core::{AgencyId, BulletinId, UnixMillis};
use serde_json::Value;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::node::state::NodeState;
use crate::ops::bulletins::views;
use crate::ops::bulletins::{self, Direction, Filter};

/// The media type of the STIX objects a collection holds.
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// Most bulletins one page reads (each is decrypted): a selective filter returns a
/// shorter page with `next` rather than reading the whole log in one request.
const MAX_BULLETINS_PER_PAGE: usize = 500;
/// Bulletins read from the log at a time while filling a page.
const BATCH: usize = 32;

/// One collection of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    /// Its TAXII id: a UUIDv5 of this agency and the alias, stable across restarts.
    pub id: String,
    /// Its human name in URLs and listings: `received`, `sent`, `received-from-DE-BKA`.
    pub alias: String,
    /// Its title.
    pub title: String,
    /// What it holds.
    pub description: String,
    direction: Direction,
    origin: Option<AgencyId>,
}

impl Collection {
    fn new(own: &AgencyId, alias: String, title: String, description: String) -> Self {
        let (direction, origin) = match alias.strip_prefix("received-from-") {
            Some(agency) => (Direction::In, agency.parse().ok()),
            None if alias == "sent" => (Direction::Out, None),
            None => (Direction::In, None),
        };
        let namespace = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://liaison.invalid/taxii");
        Self {
            id: Uuid::new_v5(&namespace, format!("{own}/{alias}").as_bytes()).to_string(),
            alias,
            title,
            description,
            direction,
            origin,
        }
    }

    fn filter(&self) -> Filter {
        Filter {
            direction: Some(self.direction),
            origins: self.origin.iter().cloned().collect(),
            ..Default::default()
        }
    }
}

/// This node's collections: `received`, `sent`, then `received-from-AGENCY` for each
/// partner, in partner order.
pub fn collections(state: &NodeState) -> Vec<Collection> {
    let own = state.node().config().agency.clone();
    let mut out = vec![
        Collection::new(
            &own,
            "received".into(),
            format!("Bulletins received by {own}"),
            "Every bulletin partners sent this agency, as STIX 2.1 reports with their entities, in the order they arrived.".into(),
        ),
        Collection::new(
            &own,
            "sent".into(),
            format!("Bulletins sent by {own}"),
            "Every bulletin this agency published, as STIX 2.1 reports with their entities.".into(),
        ),
    ];
    for partner in state.partners.snapshot().iter() {
        let agency = partner.agency();
        out.push(Collection::new(
            &own,
            format!("received-from-{agency}"),
            format!("Bulletins received from {agency}"),
            format!("The bulletins {agency} sent this agency."),
        ));
    }
    out
}

/// The collection named by `name`: its id or its alias.
///
/// Errors: [`Error::NotFound`] naming the collections there are.
pub fn collection(state: &NodeState, name: &str) -> Result<Collection> {
    let all = collections(state);
    all.iter()
        .find(|c| c.id == name || c.alias == name)
        .cloned()
        .ok_or_else(|| {
            let known: Vec<&str> = all.iter().map(|c| c.alias.as_str()).collect();
            Error::NotFound(format!(
                "no collection {name:?} here; there are: {}",
                known.join(", ")
            ))
        })
}

/// Whether `object` passes `query`'s filters.
fn wanted(query: &ObjectQuery, object: &StixObject) -> bool {
    let field = |name: &str| object.object[name].as_str().unwrap_or_default();
    (query.types.is_empty() || query.types.iter().any(|t| t == field("type")))
        && (query.ids.is_empty() || query.ids.iter().any(|i| i == field("id")))
        && (query.spec_versions.is_empty()
            || query
                .spec_versions
                .iter()
                .any(|v| *v == object.spec_version()))
        && match &query.versions {
            VersionMatch::Any => true,
            VersionMatch::At(at) => {
                parse_timestamp(&object.version).is_ok_and(|version| at.contains(&version))
            }
        }
}

/// A STIX object as a collection holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StixObject {
    /// The object.
    pub object: Value,
    /// When the bulletin it came with entered this log.
    pub date_added: UnixMillis,
    /// Its version: `modified`, else `created`, else when it was added.
    pub version: String,
}

impl StixObject {
    fn new(object: Value, date_added: UnixMillis) -> Self {
        let version = ["modified", "created"]
            .iter()
            .find_map(|k| object[*k].as_str().map(str::to_owned))
            .unwrap_or_else(|| date_added.to_string());
        Self {
            object,
            date_added,
            version,
        }
    }

    /// The object's `id`.
    pub fn id(&self) -> &str {
        self.object["id"].as_str().unwrap_or_default()
    }

    fn spec_version(&self) -> &str {
        self.object["spec_version"].as_str().unwrap_or("2.1")
    }
}

/// One page of a collection.
#[derive(Debug, Clone, Default)]
pub struct ObjectPage {
    /// The objects, in log order.
    pub objects: Vec<StixObject>,
    /// Where the next page starts, if there may be one.
    pub next: Option<Cursor>,
}

/// The objects of `collection` that `query` selects, one page of them. The bulletins
/// whose objects the page gives are recorded as read by `caller` through `door`.
///
/// Errors: a log read failure.
pub fn objects(
    state: &NodeState,
    collection: &Collection,
    query: &ObjectQuery,
    caller: &str,
    door: &str,
) -> Result<ObjectPage> {
    let mut filter = collection.filter();
    // `added_after` is strict; listing times are whole milliseconds.
    filter.since = query.added_after.map(|t| UnixMillis(t.0.saturating_add(1)));
    let limit = query.limit.clamp(1, MAX_PAGE);
    let (mut after, mut resume) = match query.next {
        Some(c) => (c.seq.saturating_sub(1), Some(c)),
        None => (0, None),
    };
    let mut page = ObjectPage::default();
    let mut given: HashSet<(String, String)> = HashSet::new();
    let mut read: Vec<BulletinId> = Vec::new();
    let mut examined = 0;
    let full = 'fill: loop {
        let (batch, cursor, more) = bulletins::page(state, &filter, after, BATCH)?;
        for stored in batch {
            let seq = stored.entry.seq;
            // The cursor's object count applies to its own bulletin only: if that one
            // was erased since, the next starts from its first object.
            let skip = match resume.take() {
                Some(c) if c.seq == seq => c.object,
                _ => 0,
            };
            let id = stored.header().bulletin_id;
            // The page already loaded and decrypted it: only its other entries (the
            // delivery state, acknowledgements) are looked up.
            let entries = state.log.entries_for_bulletin(&id)?;
            let detail = views::bulletin_detail(state, &stored, &entries)?;
            let wanted = crate::ops::stix::bundle_objects(&[detail])
                .into_iter()
                .map(|o| StixObject::new(o, stored.entry.time))
                .filter(|o| wanted(query, o));
            let mut stopped_at = None;
            for (n, object) in wanted.enumerate().skip(skip) {
                if page.objects.len() == limit {
                    stopped_at = Some(n);
                    break;
                }
                if given.insert((object.id().to_owned(), object.version.clone())) {
                    page.objects.push(object);
                    if read.last() != Some(&id) {
                        read.push(id);
                    }
                }
            }
            if let Some(object) = stopped_at {
                page.next = Some(Cursor { seq, object });
                break 'fill true;
            }
            examined += 1;
            after = seq;
            if examined >= MAX_BULLETINS_PER_PAGE {
                page.next = Some(Cursor {
                    seq: seq.saturating_add(1),
                    object: 0,
                });
                break 'fill true;
            }
        }
        if !more {
            break false;
        }
        after = after.max(cursor);
    };
    if !full {
        page.next = None;
    }
    bulletins::record_reads(state, caller, door, read)?;
    Ok(page)
}
