//! Where delivery of a published bulletin stands towards each recipient, from the signed
//! receipts in the log and the outboxes.

use liaison_core::AgencyId;
use liaison_core::receipt::{Outcome, RejectCode, SignedReceipt};
use liaison_store::{Entry, EntryKind};

use super::Stored;
use crate::error::Result;
use crate::node::state::NodeState;

/// Where delivery to one recipient stands.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Queued, not yet answered.
    Queued,
    /// The last attempt failed in transport.
    Retrying {
        /// The error and the next attempt.
        failure: crate::node::state::DeliveryFailure,
    },
    /// Stored by the recipient (or already had it).
    Delivered {
        /// Its signed receipt.
        receipt: SignedReceipt,
        /// Whether the receipt says duplicate.
        duplicate: bool,
        /// The recipient's log entry.
        receiver_log_seq: u64,
    },
    /// Recalled: the recipient erased it and signed a purge receipt.
    Purged {
        /// Its signed purge receipt.
        receipt: SignedReceipt,
        /// The recipient's log entry recording the recall.
        log_seq: u64,
    },
    /// Refused by the recipient.
    Rejected {
        /// Its signed receipt.
        receipt: SignedReceipt,
        /// Which check refused it.
        code: RejectCode,
        /// Its reason.
        reason: String,
    },
    /// Recalled before it reached the recipient, which confirmed (signed) that it never
    /// had it.
    Withdrawn {
        /// Its signed answer to the recall.
        receipt: SignedReceipt,
    },
    /// Not queued and never answered (the partner was removed).
    Abandoned,
}

/// Delivery state of a published bulletin towards each signed recipient.
pub fn delivery(
    state: &NodeState,
    stored: &Stored,
    entries: &[Entry],
) -> Result<Vec<(AgencyId, Delivery)>> {
    let published_seq = stored.entry.seq;
    stored
        .header()
        .recipients
        .iter()
        .map(|r| {
            let agency = &r.agency;
            let receipt = entries
                .iter()
                .rev()
                .filter(|e| e.kind == EntryKind::Receipt && e.agency.as_ref() == Some(agency))
                .find_map(|e| state.log.body(e).ok().flatten())
                .and_then(|body| SignedReceipt::from_stored(body).ok());
            // Queued again after a receipt: the partner lost it (see `ops::continuity`).
            let queued =
                state.log.outbox(agency, published_seq - 1, 1)?.first() == Some(&published_seq);
            let d = match receipt {
                Some(_) if queued => match state.delivery_error(agency) {
                    Some(failure) => Delivery::Retrying { failure },
                    None => Delivery::Queued,
                },
                Some(receipt) => match receipt.receipt().outcome.clone() {
                    Outcome::Accepted { log_seq } => Delivery::Delivered {
                        receipt,
                        duplicate: false,
                        receiver_log_seq: log_seq,
                    },
                    Outcome::Duplicate { log_seq } => Delivery::Delivered {
                        receipt,
                        duplicate: true,
                        receiver_log_seq: log_seq,
                    },
                    Outcome::Rejected {
                        code: RejectCode::NothingToRecall,
                        ..
                    } => Delivery::Withdrawn { receipt },
                    Outcome::Rejected { code, reason } => Delivery::Rejected {
                        receipt,
                        code,
                        reason,
                    },
                    Outcome::Purged { log_seq } => Delivery::Purged { receipt, log_seq },
                },
                None => match (queued, state.delivery_error(agency)) {
                    (true, Some(failure)) => Delivery::Retrying { failure },
                    (true, None) => Delivery::Queued,
                    (false, _) => Delivery::Abandoned,
                },
            };
            Ok((agency.clone(), d))
        })
        .collect()
}
