//! What the log's listing index holds for a bulletin, a partner's recall or a
//! recipient's acknowledgement (see `liaison_store::Listing`):
//! read from an entry's body once, when it is appended, so that lists, filters and
//! subscriptions never decrypt or decode an entry they will not show.

use bytes::Bytes;
use liaison_core::forward::{ForwardedEnvelope, is_forwarded};
use liaison_core::{SealedEnvelope, Tlp, UnixMillis};
use liaison_proto::format::v1 as pb;
use liaison_store::{EntryKind, IndexInput, Indexer, Listing};
use prost::Message as _;

/// The indexer the node opens its log with.
pub fn indexer() -> Indexer {
    Indexer(std::sync::Arc::new(listing_of))
}

/// The index's number for a TLP level (0 is "none": a recall).
pub fn tlp_number(tlp: Tlp) -> u8 {
    Tlp::ALL
        .iter()
        .position(|t| *t == tlp)
        .map_or(0, |i| i as u8 + 1)
}

/// A bulletin published or received, a recall received from a partner, an
/// acknowledgement of ours or a link found; `None` for every other entry (and for a body that does not decode, which the log verify
/// reports on its own).
fn listing_of(input: &IndexInput<'_>) -> Option<Listing> {
    let body = Bytes::copy_from_slice(input.body);
    let envelope = match input.kind {
        EntryKind::Published => {
            let record = pb::PublishedRecord::decode(body).ok()?;
            if record.forwarded {
                ForwardedEnvelope::decode(record.envelope)
                    .ok()?
                    .original()
                    .clone()
            } else {
                SealedEnvelope::decode(record.envelope).ok()?
            }
        }
        EntryKind::Received if is_forwarded(&body) => {
            ForwardedEnvelope::decode(body).ok()?.original().clone()
        }
        EntryKind::Received => SealedEnvelope::decode(body).ok()?,
        // A recipient's acknowledgement of one of ours: subscribers hear of it.
        EntryKind::Acknowledged => {
            let Some(crate::node::journal::LogEvent::AcknowledgementReceived { recipient, .. }) =
                crate::node::journal::LogEvent::parse(&body)
            else {
                return None;
            };
            return Some(Listing {
                origin: recipient,
                tlp: 0,
                category: String::new(),
                created: UnixMillis(0),
                expires: None,
                thread: None,
                request_due: None,
            });
        }
        // A link found between a bulletin stored here and others: subscribers hear
        // of it, under the new bulletin's origin.
        EntryKind::NodeEvent => {
            let Some(crate::node::journal::LogEvent::Correlated {
                origin: Some(origin),
                ..
            }) = crate::node::journal::LogEvent::parse(&body)
            else {
                return None;
            };
            return Some(Listing {
                origin,
                tlp: 0,
                category: String::new(),
                created: UnixMillis(0),
                expires: None,
                thread: None,
                request_due: None,
            });
        }
        // A recall tagged with a partner came from it: subscribers hear of it.
        EntryKind::Recall if input.agency.is_some() => {
            let signed = pb::SignedRecall::decode(body).ok()?;
            let recall = pb::Recall::decode(signed.recall).ok()?;
            return Some(Listing {
                origin: recall.origin.parse().ok()?,
                tlp: 0,
                category: String::new(),
                created: UnixMillis(recall.time_unix_ms),
                expires: None,
                thread: None,
                request_due: None,
            });
        }
        _ => return None,
    };
    let header = envelope.header();
    Some(Listing {
        origin: header.origin.clone(),
        tlp: tlp_number(header.marking.tlp),
        category: header.marking.category.to_string(),
        created: header.created,
        expires: Some(header.expires),
        thread: header.thread,
        request_due: header.request.map(|r| r.due),
    })
}
