//! Secondary indexes: every query path of the node answered from a sorted range of
//! keys instead of a scan of the log.
//!
//! | key                               | value              | answers                      |
//! |-----------------------------------|--------------------|------------------------------|
//! | `b` bulletin id (16) seq          | empty              | a bulletin's entries (chains)|
//! | `a` agency `\0` kind (1) seq      | empty              | a partner's entries by kind  |
//! | `l` seq                           | [`Listing`]        | lists, filters, subscriptions|
//! | `L` origin `\0` seq               | [`Listing`]        | the same, for one origin     |
//! | `O` partner                       | entries, bytes     | a partner's outbox size      |
//! | `t` thread id (16) seq            | [`Listing`]        | a conversation's bulletins   |
//! | `R` seq                           | [`Listing`]        | requests for information     |
//! | `x` expires (8) seq               | empty              | payloads due for erasure     |
//!
//! Not derived (the node computes them from decrypted content, which the log cannot
//! read), written by [`Effect::IndexSelectors`](crate::Effect::IndexSelectors) and
//! removed with an erased body; `log reindex` leaves them:
//!
//! | key                               | value              | answers                      |
//! |-----------------------------------|--------------------|------------------------------|
//! | `S` selector tag (16) seq         | empty              | bulletins sharing a selector |
//! | `s` seq                           | tags (16 each)     | an entry's selectors         |
//! | `Q` seq                           | partner, fp pairs  | what an entry offers queries |
//! | `F` partner `\0` seq index        | op, fingerprint    | a partner's query filter feed|
//! | `Y` partner `\0` day              | count              | a partner's query budget     |
//!
//! Every row is derived from an entry (and `O` from the outbox keys), written in the
//! entry's own batch, and can be derived again: [`rows_for`] is the one definition,
//! used by the writer, by [`Log::check_indexes`] and by [`Log::rebuild_indexes`].
//! A log written before an index existed is reindexed when it is opened
//! ([`INDEX_VERSION`]).

use liaison_core::{AgencyId, BulletinId, UnixMillis};

use super::Log;
use super::keys::*;
use super::trees::{Batches, Trees};
use crate::entry::{self, Entry, EntryKind};
use crate::error::{Error, Result};

/// A place in a partner's query filter feed: the entry that made the change and its
/// place among that entry's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedPosition {
    /// The entry.
    pub seq: u64,
    /// The change's place in it.
    pub index: u32,
}

/// One change to a partner's query filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedChange {
    /// Where it is in the feed (ask for changes after it next time).
    pub position: FeedPosition,
    /// The fingerprint joins (`true`) or leaves the filter.
    pub added: bool,
    /// The selector's fingerprint under the partner's OPRF key.
    pub fingerprint: [u8; 8],
}

/// The version of the index layout. A log whose stored version is older is reindexed
/// when opened.
pub(crate) const INDEX_VERSION: u32 = 4;

/// The key that records [`INDEX_VERSION`].
pub(crate) const INDEX_VERSION_KEY: &[u8] = b"mindex-version";

/// Prefixes of the derived index families (rebuilt together).
pub(crate) const DERIVED_PREFIXES: [&[u8]; 8] = [b"b", b"a", b"l", b"L", b"O", b"t", b"R", b"x"];

/// What lists and subscriptions filter on, read from an entry's body once when it is
/// appended (by the node's [`Indexer`]) and kept beside the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The agency that wrote it: the bulletin's originator, or the partner that
    /// recalled.
    pub origin: AgencyId,
    /// TLP as its wire number (0 for a recall).
    pub tlp: u8,
    /// Category path (empty for a recall).
    pub category: String,
    /// When the originator created it.
    pub created: UnixMillis,
    /// When its payload expires and is erased (`None` for a recall).
    pub expires: Option<UnixMillis>,
    /// The conversation it belongs to, when it is not the first bulletin of one.
    pub thread: Option<BulletinId>,
    /// For a request for information: the time an answer is due.
    pub request_due: Option<UnixMillis>,
}

/// A listed entry: where it is, what it is, and its listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingRow {
    /// The entry.
    pub seq: u64,
    /// `Published`, `Received` or `Recall`.
    pub kind: EntryKind,
    /// When it entered this log.
    pub time: UnixMillis,
    /// What it is.
    pub listing: Listing,
}

/// Reads the [`Listing`] of an entry from its kind, partner and body; `None` for an
/// entry that is not listed. Supplied by the node (it knows the envelope format);
/// the same function indexes new entries and rebuilds the index.
#[derive(Clone)]
pub struct Indexer(pub std::sync::Arc<ReadListing>);

/// The function inside an [`Indexer`].
pub type ReadListing = dyn Fn(&IndexInput<'_>) -> Option<Listing> + Send + Sync;

/// One source of listing rows, in the order asked for.
type Rows<'t> =
    std::iter::Peekable<Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + 't>>;

impl std::fmt::Debug for Indexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Indexer")
    }
}

/// What an [`Indexer`] sees of an entry.
#[derive(Debug)]
pub struct IndexInput<'a> {
    /// The entry's kind.
    pub kind: EntryKind,
    /// The partner it concerns.
    pub agency: Option<&'a AgencyId>,
    /// Its body.
    pub body: &'a [u8],
}

fn kind_byte(kind: EntryKind) -> u8 {
    // The wire number, which never changes for a kind.
    kind.number() as u8
}

pub(crate) fn agency_kind_key(agency: &AgencyId, kind: EntryKind, seq: u64) -> Vec<u8> {
    let mut key = agency_index_prefix(agency);
    key.push(kind_byte(kind));
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

pub(crate) fn agency_kind_prefix(agency: &AgencyId, kind: EntryKind) -> Vec<u8> {
    let mut key = agency_index_prefix(agency);
    key.push(kind_byte(kind));
    key
}

pub(crate) fn listing_key(seq: u64) -> [u8; 9] {
    let mut key = [b'l'; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub(crate) fn origin_prefix(origin: &AgencyId) -> Vec<u8> {
    [&b"L"[..], origin.as_str().as_bytes(), b"\0"].concat()
}

pub(crate) fn origin_listing_key(origin: &AgencyId, seq: u64) -> Vec<u8> {
    [origin_prefix(origin), seq.to_be_bytes().to_vec()].concat()
}

pub(crate) fn thread_prefix(thread: &BulletinId) -> Vec<u8> {
    [&b"t"[..], &thread.to_bytes()].concat()
}

pub(crate) fn request_key(seq: u64) -> [u8; 9] {
    let mut key = [b'R'; 9];
    key[1..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// Expiry keys sort by time: the sign bit flipped, so negative times sort first.
pub(crate) fn expiry_key(expires: UnixMillis, seq: u64) -> [u8; 17] {
    let mut key = [b'x'; 17];
    key[1..9].copy_from_slice(&((expires.0 as u64) ^ (1 << 63)).to_be_bytes());
    key[9..].copy_from_slice(&seq.to_be_bytes());
    key
}

pub(crate) fn outbox_count_key(partner: &AgencyId) -> Vec<u8> {
    [&b"O"[..], partner.as_str().as_bytes()].concat()
}

/// `kind(1) tlp(1) created(8) time(8) origin-length(1) origin flags(1) [expires(8)]
/// [thread(16)] [due(8)] category`; `flags` says which optional fields follow.
pub(crate) fn encode_listing(kind: EntryKind, time: UnixMillis, listing: &Listing) -> Vec<u8> {
    let origin = listing.origin.as_str().as_bytes();
    let mut value = Vec::with_capacity(52 + origin.len() + listing.category.len());
    value.push(kind_byte(kind));
    value.push(listing.tlp);
    value.extend_from_slice(&listing.created.0.to_be_bytes());
    value.extend_from_slice(&time.0.to_be_bytes());
    value.push(origin.len() as u8);
    value.extend_from_slice(origin);
    let flags = u8::from(listing.expires.is_some())
        | u8::from(listing.thread.is_some()) << 1
        | u8::from(listing.request_due.is_some()) << 2;
    value.push(flags);
    if let Some(expires) = listing.expires {
        value.extend_from_slice(&expires.0.to_be_bytes());
    }
    if let Some(thread) = listing.thread {
        value.extend_from_slice(&thread.to_bytes());
    }
    if let Some(due) = listing.request_due {
        value.extend_from_slice(&due.0.to_be_bytes());
    }
    value.extend_from_slice(listing.category.as_bytes());
    value
}

pub(crate) fn decode_listing(seq: u64, value: &[u8]) -> Result<ListingRow> {
    let bad = || Error::Tampered {
        seq,
        problem: "its listing index row does not decode".into(),
    };
    let int = |at: usize| -> Option<i64> {
        Some(i64::from_be_bytes(value.get(at..at + 8)?.try_into().ok()?))
    };
    let kind = value
        .first()
        .and_then(|k| EntryKind::from_pb(i32::from(*k)))
        .ok_or_else(bad)?;
    let tlp = *value.get(1).ok_or_else(bad)?;
    let created = int(2).ok_or_else(bad)?;
    let time = int(10).ok_or_else(bad)?;
    let origin_len = usize::from(*value.get(18).ok_or_else(bad)?);
    let origin = value.get(19..19 + origin_len).ok_or_else(bad)?;
    let mut at = 19 + origin_len;
    let flags = *value.get(at).ok_or_else(bad)?;
    at += 1;
    let mut optional = |bit: u8, len: usize| -> Result<Option<&[u8]>> {
        if flags & bit == 0 {
            return Ok(None);
        }
        let field = value.get(at..at + len).ok_or_else(bad)?;
        at += len;
        Ok(Some(field))
    };
    let time_of = |b: &[u8]| UnixMillis(i64::from_be_bytes(b.try_into().unwrap_or_default()));
    let expires = optional(1, 8)?.map(time_of);
    let thread = optional(2, 16)?
        .map(BulletinId::from_slice)
        .transpose()
        .map_err(|_| bad())?;
    let request_due = optional(4, 8)?.map(time_of);
    let category = value.get(at..).ok_or_else(bad)?;
    Ok(ListingRow {
        seq,
        kind,
        time: UnixMillis(time),
        listing: Listing {
            origin: std::str::from_utf8(origin)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(bad)?,
            tlp,
            category: String::from_utf8(category.to_vec()).map_err(|_| bad())?,
            created: UnixMillis(created),
            expires,
            thread,
            request_due,
        },
    })
}

/// Every index row entry `seq` has (outbox counts aside): the one definition.
pub(crate) fn rows_for(
    seq: u64,
    kind: EntryKind,
    time: UnixMillis,
    bulletin: Option<&liaison_core::BulletinId>,
    agency: Option<&AgencyId>,
    listing: Option<&Listing>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut rows = Vec::with_capacity(4);
    if let Some(id) = bulletin {
        rows.push((bulletin_index_key(id, seq), Vec::new()));
    }
    if let Some(agency) = agency {
        rows.push((agency_kind_key(agency, kind, seq), Vec::new()));
    }
    if let Some(listing) = listing {
        let value = encode_listing(kind, time, listing);
        for key in listing_keys(seq, listing) {
            rows.push((key, value.clone()));
        }
        if let Some(expires) = listing.expires {
            rows.push((expiry_key(expires, seq).to_vec(), Vec::new()));
        }
    }
    rows
}

/// The keys whose value is the listing of entry `seq` (the expiry key aside): what
/// goes when its body is erased.
pub(crate) fn listing_keys(seq: u64, listing: &Listing) -> Vec<Vec<u8>> {
    let mut keys = vec![
        origin_listing_key(&listing.origin, seq),
        listing_key(seq).to_vec(),
    ];
    if let Some(thread) = &listing.thread {
        keys.push([thread_prefix(thread), seq.to_be_bytes().to_vec()].concat());
    }
    if listing.request_due.is_some() {
        keys.push(request_key(seq).to_vec());
    }
    keys
}

/// The rows of a stored entry, its listing read by `indexer` from its body (an erased
/// body is not listed).
fn rows_of_entry(
    dir: &std::path::Path,
    entry: &Entry,
    indexer: Option<&Indexer>,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let listing = match indexer {
        Some(indexer) => super::read_body(dir, entry)?.and_then(|body| {
            (indexer.0)(&IndexInput {
                kind: entry.kind,
                agency: entry.agency.as_ref(),
                body: &body,
            })
        }),
        None => None,
    };
    Ok(rows_for(
        entry.seq,
        entry.kind,
        entry.time,
        entry.bulletin_id.as_ref(),
        entry.agency.as_ref(),
        listing.as_ref(),
    ))
}

/// An order-independent digest of a set of rows (a sum of their hashes, so a row
/// missing, added, duplicated or changed shows).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SetDigest([u64; 4], u64);

impl SetDigest {
    fn add(&mut self, key: &[u8], value: &[u8]) {
        let h = liaison_core::crypto::digest_parts(&[b"liaison/index-row/v1", key, b"\0", value]);
        for (i, lane) in self.0.iter_mut().enumerate() {
            let part: [u8; 8] = h[i * 8..i * 8 + 8].try_into().unwrap_or_default();
            *lane = lane.wrapping_add(u64::from_le_bytes(part));
        }
        self.1 += 1;
    }
}

/// The outcome of [`Log::check_indexes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexReport {
    /// Index rows checked.
    pub rows: u64,
    /// Partners whose outbox counts were checked.
    pub outboxes: usize,
}

impl Log {
    /// Derives every index row again from the entries (and the outbox counts from the
    /// outbox) and compares them with what is stored.
    ///
    /// Errors: [`Error::Tampered`] naming the index family that differs and how.
    pub fn check_indexes(&self) -> Result<IndexReport> {
        let indexer = self.shared.indexer.as_ref();
        let tree = self.tree()?;
        let mut derived = SetDigest::default();
        for item in tree.scan_prefix(b"e") {
            let (key, stored) = item?;
            let seq = seq_suffix(&key).unwrap_or(0);
            let entry = entry::decode_stored(seq, &stored)?;
            for (k, v) in rows_of_entry(self.dir(), &entry, indexer)? {
                derived.add(&k, &v);
            }
        }
        let mut stored = SetDigest::default();
        for prefix in DERIVED_PREFIXES.into_iter().filter(|p| *p != b"O") {
            for item in tree.scan_prefix(prefix) {
                let (k, v) = item?;
                stored.add(&k, &v);
            }
        }
        if derived != stored {
            return Err(Error::Tampered {
                seq: 0,
                problem: format!(
                    "the indexes do not match the entries ({} rows stored, {} derived): run `liaison log reindex` with the node stopped",
                    stored.1, derived.1
                ),
            });
        }
        let counts = outbox_counts_from_outbox(self)?;
        for (partner, (entries, bytes)) in &counts {
            let held = self.outbox_size(partner)?;
            if held != (*entries, *bytes) {
                return Err(Error::Tampered {
                    seq: 0,
                    problem: format!(
                        "the outbox count of {partner} says {} entries / {} bytes but {entries} / {bytes} are queued: run `liaison log reindex`",
                        held.0, held.1
                    ),
                });
            }
        }
        let counted = tree.scan_prefix(b"O").count();
        if counted != counts.len() {
            return Err(Error::Tampered {
                seq: 0,
                problem: format!(
                    "{counted} outbox counts are stored for {} partners with queued entries: run `liaison log reindex`",
                    counts.len()
                ),
            });
        }
        Ok(IndexReport {
            rows: derived.1,
            outboxes: counts.len(),
        })
    }

    /// The number of entries and body bytes queued for `partner` (kept with every
    /// enqueue and dequeue: O(1)).
    pub fn outbox_size(&self, partner: &AgencyId) -> Result<(u64, u64)> {
        Ok(self
            .tree()?
            .get(outbox_count_key(partner))?
            .map(|v| decode_count(&v))
            .unwrap_or((0, 0)))
    }

    /// The newest entry of `kind` about `agency`, if any.
    pub fn last_for_agency(&self, agency: &AgencyId, kind: EntryKind) -> Result<Option<Entry>> {
        match self
            .tree()?
            .scan_prefix(agency_kind_prefix(agency, kind))
            .next_back()
        {
            Some(item) => {
                let (key, _) = item?;
                Ok(seq_suffix(&key)
                    .map(|seq| self.get(seq))
                    .transpose()?
                    .flatten())
            }
            None => Ok(None),
        }
    }

    /// Entries of `kind` about `agency`, newest first, while `keep` says so, at most
    /// `limit`.
    pub fn recent_for_agency(
        &self,
        agency: &AgencyId,
        kind: EntryKind,
        limit: usize,
        keep: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in self
            .tree()?
            .scan_prefix(agency_kind_prefix(agency, kind))
            .rev()
        {
            let (key, _) = item?;
            let Some(entry) = seq_suffix(&key)
                .map(|seq| self.get(seq))
                .transpose()?
                .flatten()
            else {
                continue;
            };
            if out.len() == limit || !keep(&entry) {
                break;
            }
            out.push(entry);
        }
        Ok(out)
    }

    /// Listed entries (bulletins both ways and received recalls) in log order after
    /// `after` (or newest first before `before`), from `origins` only when not empty,
    /// that `want` accepts: at most `limit`, examining at most `budget` rows. Returns
    /// them and the last row examined (the cursor to continue from).
    pub fn listings(
        &self,
        scope: &ListingScope<'_>,
        want: &mut dyn FnMut(&ListingRow) -> bool,
    ) -> Result<ListingPage> {
        let tree = self.tree()?;
        let ranges: Vec<(Vec<u8>, usize)> = if scope.origins.is_empty() {
            vec![(b"l".to_vec(), 1)]
        } else {
            scope
                .origins
                .iter()
                .map(|o| {
                    let p = origin_prefix(o);
                    let len = p.len();
                    (p, len)
                })
                .collect()
        };
        let (low, high) = (
            scope.after.saturating_add(1),
            scope.before.saturating_sub(1),
        );
        let mut sources: Vec<Rows<'_>> = ranges
            .into_iter()
            .map(|(prefix, _)| {
                let start = [prefix.clone(), low.to_be_bytes().to_vec()].concat();
                let end = [prefix, high.to_be_bytes().to_vec()].concat();
                let range = tree.range(start..=end);
                let boxed: Box<dyn Iterator<Item = _>> = if scope.newest_first {
                    Box::new(range.rev())
                } else {
                    Box::new(range)
                };
                boxed.peekable()
            })
            .collect();
        let (mut out, mut last, mut examined) = (Vec::new(), None, 0usize);
        let mut exhausted = false;
        while out.len() < scope.limit && examined < scope.budget {
            // The next row in order across every source (a k-way merge by sequence).
            let mut best: Option<(usize, u64)> = None;
            for (i, source) in sources.iter_mut().enumerate() {
                let seq = match source.peek() {
                    None => continue,
                    Some(Err(_)) => {
                        // Surface the error.
                        if let Some(Err(e)) = source.next() {
                            return Err(e.into());
                        }
                        continue;
                    }
                    Some(Ok((key, _))) => seq_suffix(key).unwrap_or(0),
                };
                let better = match best {
                    None => true,
                    Some((_, b)) => (seq < b) != scope.newest_first,
                };
                if better {
                    best = Some((i, seq));
                }
            }
            let Some((i, seq)) = best else {
                exhausted = true;
                break;
            };
            let Some(Ok((_, value))) = sources[i].next() else {
                break;
            };
            examined += 1;
            last = Some(seq);
            let row = decode_listing(seq, &value)?;
            if want(&row) {
                out.push(row);
            }
        }
        Ok(ListingPage {
            rows: out,
            last,
            exhausted,
        })
    }

    /// The listed bulletins of conversation `thread` other than its first, in log
    /// order (the first is found by its id).
    pub fn thread_rows(&self, thread: &BulletinId) -> Result<Vec<ListingRow>> {
        self.rows_under(&thread_prefix(thread), usize::MAX)
    }

    /// The entries indexed under selector tag `tag` (see
    /// [`Effect::IndexSelectors`](crate::Effect::IndexSelectors)), in log order, at
    /// most `limit`. An erased entry is no longer indexed.
    pub fn selector_entries(&self, tag: &[u8; 16], limit: usize) -> Result<Vec<u64>> {
        let prefix = [&b"S"[..], tag].concat();
        let mut out = Vec::new();
        for item in self.tree()?.scan_prefix(&prefix).take(limit) {
            let (key, _) = item?;
            if let Some(seq) = seq_suffix(&key) {
                out.push(seq);
            }
        }
        Ok(out)
    }

    /// The selector tags entry `seq` is indexed under (none once erased).
    pub fn selector_tags(&self, seq: u64) -> Result<Vec<[u8; 16]>> {
        Ok(self
            .tree()?
            .get(entry_selectors_key(seq))?
            .map(|tags| {
                tags.chunks_exact(16)
                    .filter_map(|t| <[u8; 16]>::try_from(t).ok())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The changes to `partner`'s private query filter after position `after` (none:
    /// from the start), in order, at most `limit` (see
    /// [`Effect::IndexQueryable`](crate::Effect::IndexQueryable)).
    pub fn query_feed(
        &self,
        partner: &AgencyId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<FeedChange>> {
        let prefix = query_feed_prefix(partner);
        let start = match after {
            Some(p) => {
                let mut key = query_feed_key(partner, p.seq, p.index);
                key.push(0);
                key
            }
            None => prefix.clone(),
        };
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1;
        }
        let mut out = Vec::new();
        for item in self.tree()?.range(start..end).take(limit) {
            let (key, value) = item?;
            let tail = &key[prefix.len().min(key.len())..];
            let (Some(seq), Some(index)) = (
                tail.get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes),
                tail.get(8..12)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes),
            ) else {
                continue;
            };
            let (Some(&op), Some(fingerprint)) = (
                value.first(),
                value.get(1..9).and_then(|f| f.try_into().ok()),
            ) else {
                continue;
            };
            out.push(FeedChange {
                position: FeedPosition { seq, index },
                added: op == super::writer::FEED_ADD,
                fingerprint,
            });
        }
        Ok(out)
    }

    /// `partner`'s private queries answered on UTC day `day` (days since 1970).
    pub fn query_count(&self, partner: &AgencyId, day: u32) -> Result<u32> {
        Ok(self
            .tree()?
            .get(query_count_key(partner, day))?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
            .unwrap_or(0))
    }

    /// Every listed request for information, in log order, at most `limit`.
    pub fn request_rows(&self, limit: usize) -> Result<Vec<ListingRow>> {
        self.rows_under(b"R", limit)
    }

    /// Entries whose payload expired before `now` and is still held, oldest expiry
    /// first, at most `limit`.
    pub fn expired_before(&self, now: UnixMillis, limit: usize) -> Result<Vec<u64>> {
        let end = expiry_key(now, 0);
        let tree = self.tree()?;
        let mut out = Vec::new();
        for item in tree.range(&b"x"[..]..&end[..]).take(limit) {
            let (key, _) = item?;
            if let Some(seq) = seq_suffix(&key) {
                out.push(seq);
            }
        }
        Ok(out)
    }

    fn rows_under(&self, prefix: &[u8], limit: usize) -> Result<Vec<ListingRow>> {
        let tree = self.tree()?;
        let mut out = Vec::new();
        for item in tree.scan_prefix(prefix).take(limit) {
            let (key, value) = item?;
            let seq = seq_suffix(&key).ok_or_else(|| Error::Tampered {
                seq: 0,
                problem: "an index key is too short".into(),
            })?;
            out.push(decode_listing(seq, &value)?);
        }
        Ok(out)
    }

    /// The first entry logged at or after `time` (one past the head if none), by
    /// binary search: entry times never go backwards.
    pub fn first_at_or_after(&self, time: UnixMillis) -> Result<u64> {
        let (mut low, mut high) = (1, self.head().seq + 1);
        while low < high {
            let mid = low + (high - low) / 2;
            let at = self.get(mid)?.map_or(UnixMillis(i64::MAX), |e| e.time);
            if at < time {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        Ok(low)
    }

    /// Rebuilds every derived index from the entries and the outbox counts from the
    /// outbox, durably. Only with no writer running: [`Log::open`] calls it for a log
    /// written before the current index layout; `liaison log reindex` with the node
    /// stopped.
    pub(crate) fn rebuild_indexes_in(
        tree: &Trees,
        db: &sled::Db,
        dir: &std::path::Path,
        indexer: Option<&Indexer>,
    ) -> Result<u64> {
        // Keys of a family left in the `log` tree by an older layout go to their trees.
        tree.split_families()?;
        for prefix in DERIVED_PREFIXES {
            let family = tree.of(prefix);
            let mut batch = sled::Batch::default();
            let mut n = 0;
            for item in family.scan_prefix(prefix).keys() {
                batch.remove(item?);
                n += 1;
                if n % 50_000 == 0 {
                    family.apply_batch(std::mem::take(&mut batch))?;
                }
            }
            family.apply_batch(batch)?;
        }
        let mut rows = 0u64;
        let mut batch = Batches::default();
        let mut in_batch = 0;
        for item in tree.scan_prefix(b"e") {
            let (key, stored) = item?;
            let seq = seq_suffix(&key).unwrap_or(0);
            let entry = entry::decode_stored(seq, &stored)?;
            for (k, v) in rows_of_entry(dir, &entry, indexer)? {
                batch.insert(k, v);
                rows += 1;
            }
            in_batch += 1;
            if in_batch == 10_000 {
                tree.apply(&std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        tree.apply(&batch)?;
        let mut batch = Batches::default();
        for (partner, count) in outbox_counts_in(tree)? {
            batch.insert(outbox_count_key(&partner), encode_count(count).to_vec());
        }
        batch.insert(INDEX_VERSION_KEY, &INDEX_VERSION.to_be_bytes()[..]);
        tree.apply(&batch)?;
        db.flush()?;
        Ok(rows)
    }
}

/// What [`Log::listings`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingPage {
    /// The rows wanted, in the order asked for.
    pub rows: Vec<ListingRow>,
    /// The last row examined: the cursor to continue from.
    pub last: Option<u64>,
    /// Whether every row in scope was examined (nothing more to page through).
    pub exhausted: bool,
}

/// Which listings [`Log::listings`] reads.
#[derive(Debug, Clone)]
pub struct ListingScope<'a> {
    /// Only these origins (any when empty).
    pub origins: &'a [AgencyId],
    /// Only entries after this one.
    pub after: u64,
    /// Only entries before this one (`u64::MAX`: no bound).
    pub before: u64,
    /// Newest first instead of log order.
    pub newest_first: bool,
    /// At most this many rows returned.
    pub limit: usize,
    /// At most this many rows examined (bounds the work of one page however selective
    /// the filter; the cursor says where to go on).
    pub budget: usize,
}

pub(crate) fn encode_count((entries, bytes): (u64, u64)) -> [u8; 16] {
    let mut value = [0; 16];
    value[..8].copy_from_slice(&entries.to_be_bytes());
    value[8..].copy_from_slice(&bytes.to_be_bytes());
    value
}

pub(crate) fn decode_count(value: &[u8]) -> (u64, u64) {
    let int = |at: usize| {
        value
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes)
    };
    (int(0), int(8))
}

/// The size in bytes an outbox key's value records for its entry (written since the
/// counts exist), or the entry's own body length (older logs).
pub(crate) fn queued_bytes(tree: &Trees, value: &[u8], queued_seq: u64) -> Result<u64> {
    if let Ok(bytes) = <[u8; 8]>::try_from(value) {
        return Ok(u64::from_be_bytes(bytes));
    }
    Ok(match tree.get(entry_key(queued_seq))? {
        Some(stored) => entry::decode_stored(queued_seq, &stored)?.body_len,
        None => 0,
    })
}

fn outbox_counts_in(tree: &Trees) -> Result<std::collections::BTreeMap<AgencyId, (u64, u64)>> {
    let mut counts = std::collections::BTreeMap::new();
    for item in tree.scan_prefix(b"o") {
        let (key, value) = item?;
        let Some(partner) = key
            .get(1..key.len().saturating_sub(9))
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|a| a.parse::<AgencyId>().ok())
        else {
            return Err(Error::Tampered {
                seq: 0,
                problem: "an outbox key is malformed".into(),
            });
        };
        let seq = seq_suffix(&key).unwrap_or(0);
        let bytes = queued_bytes(tree, &value, seq)?;
        let count: &mut (u64, u64) = counts.entry(partner).or_default();
        count.0 += 1;
        count.1 += bytes;
    }
    Ok(counts)
}

fn outbox_counts_from_outbox(
    log: &Log,
) -> Result<std::collections::BTreeMap<AgencyId, (u64, u64)>> {
    outbox_counts_in(&log.tree()?)
}
