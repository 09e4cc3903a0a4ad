//! Bulletins as this node holds them: publishing (sealing and queueing, idempotent by
//! request key), reading back what was sent and received, delivery state from the
//! signed receipts, and acknowledgements. The admin commands and the client API are
//! two doors to this one module.

mod acknowledge;
mod delivery;
mod forward;
pub mod listing;
mod publish;
mod read;
mod reads;
mod recall;
mod release;
mod threads;
pub mod views;

pub use acknowledge::{
    AcknowledgeView, Acknowledgement, acknowledge, acknowledgements,
    signed_bytes as acknowledgement_bytes,
};
pub use delivery::{Delivery, delivery};
pub use forward::{ForwardView, forward, onward_copies};
pub use publish::{Published, publish};
pub use read::{FeedItem, Filter, SCAN_BUDGET, Stored, feed, find, load, page};
pub use reads::{local_operator, record_reads};
pub use recall::{RecallView, recall};
pub use release::{ReleaseView, grant_bytes, release};
pub use threads::{OpenRequest, open_requests, request_state, thread, thread_parties};

use liaison_core::{AgencyId, BulletinContent, Marking};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Refuses with [`Error::OutboxFull`] if any of `partners` has as much queued as the
/// `[outbox]` limits allow: a bulletin is refused whole rather than queued for some
/// and silently not for others. Read from the outbox counts: O(1) per partner.
pub fn check_outbox_room<'a>(
    state: &crate::node::state::NodeState,
    partners: impl IntoIterator<Item = &'a AgencyId>,
) -> Result<()> {
    let limits = state.node().config().outbox;
    for partner in partners {
        let (entries, bytes) = state.log.outbox_size(partner)?;
        if entries >= limits.max_entries || bytes >= limits.max_bytes {
            tracing::warn!(%partner, entries, bytes, "publish refused: the partner's outbox is full");
            state.metrics.outbox_full(partner);
            return Err(Error::OutboxFull {
                partner: partner.clone(),
                entries,
                mib: bytes / (1024 * 1024),
                max_entries: limits.max_entries,
                max_mib: limits.max_bytes / (1024 * 1024),
            });
        }
    }
    Ok(())
}

/// Which way a bulletin went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Received from a partner.
    In,
    /// Published by this node.
    Out,
}

impl std::str::FromStr for Direction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            other => Err(Error::InvalidRequest(format!(
                "{other:?} is not a direction: expected in or out"
            ))),
        }
    }
}

/// A bulletin to publish: everything but id, origin and creation time.
#[derive(Debug, Clone)]
pub struct Draft {
    /// Category, TLP, handling codes.
    pub marking: Marking,
    /// Title, body, entities, attachments, references.
    pub content: BulletinContent,
    /// Days until it expires (at least 1); `None` for the retention period the policy
    /// sets for its category, which is also the most it may ask for.
    pub expires_in_days: Option<u32>,
    /// Set to make it a request for information.
    pub request: Option<liaison_core::handling::InformationRequest>,
}

/// Who a bulletin is for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipients {
    /// These agencies (each must be a partner the policy allows).
    Named(Vec<AgencyId>),
    /// Every partner whose sharing policy allows the bulletin.
    AllAllowed,
    /// The members of this policy group (`[groups.NAME]`) whose rules allow the
    /// bulletin; the others are reported as refused.
    Group(String),
}
