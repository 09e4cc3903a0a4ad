//! Bulletins as this node holds them: publishing (sealing and queueing, idempotent by
//! request key), reading back what was sent and received, delivery state from the
//! signed receipts, and acknowledgements. The admin commands and the client API are
//! two doors to this one module.

mod acknowledge;
mod delivery;
mod forward;
mod publish;
mod read;
mod recall;
mod release;
pub mod views;

pub use acknowledge::{Acknowledgement, acknowledge, acknowledgements};
pub use delivery::{Delivery, delivery};
pub use forward::{ForwardView, forward, onward_copies};
pub use publish::{Published, publish};
pub use read::{FeedItem, Filter, Stored, feed, find, load, page};
pub use recall::{RecallView, recall};
pub use release::{ReleaseView, grant_bytes, release};

use liaison_core::{AgencyId, BulletinContent, Marking};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
    /// Days until it expires (at least 1).
    pub expires_in_days: u32,
}

/// Who a bulletin is for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Recipients {
    /// These agencies (each must be a partner the policy allows).
    Named(Vec<AgencyId>),
    /// Every partner whose sharing policy allows the bulletin.
    AllAllowed,
}
