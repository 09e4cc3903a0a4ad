//! Continuity: noticing that a partner's log lost what it receipted, and delivering it
//! again.
//!
//! Every accepted (or purged) receipt names the receiver's log entry and its chain hash,
//! and the sender keeps that pair (`Effect::Delivered`): the partner's signed statement
//! of its log up to that entry. At the start of each delivery session, and every few
//! minutes while idle, the two nodes exchange checkpoints (`ExchangeCheckpoints`): the
//! caller presents its signed head and names the newest entries it holds receipts for,
//! spaced exponentially back; the responder presents its signed head and signs the hash
//! each of those entries has in its log *now*. Because each entry's hash covers every
//! entry before it, one matching hash vouches for the whole log up to it. The newest
//! match is where the two accounts agree; whatever the partner receipted after it was
//! lost (restored from a backup: `rewound`) or replaced (`forked`, proved by two signed
//! statements naming different hashes for one entry). It is queued again, both sides
//! log a warning, and `status` shows it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use liaison_core::checkpoint::Checkpoint;
use liaison_core::crypto::VerifyingKey;
use liaison_core::{AgencyId, Malformed};
use liaison_proto::v1 as pb;
use liaison_store::{BodyPlacement, Delivered, Effect};

use crate::error::{Error, Result};
use crate::node::journal::LogEvent;
use crate::node::state::NodeState;

/// Most entries a caller asks about in one exchange.
pub const MAX_SEEN: usize = 64;

/// How often an idle worker exchanges checkpoints with its partner.
pub const EXCHANGE_EVERY: Duration = Duration::from_secs(300);

/// What an exchange showed about a partner's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// Its log holds every entry it receipted, with the hashes it signed.
    Consistent,
    /// It lost entries it receipted.
    Lost {
        /// `rewound` or `forked`.
        how: Loss,
        /// The newest entry it receipted that it still holds unchanged (0: none).
        confirmed_seq: u64,
        /// For a fork: the receipt's statement and the conflicting new checkpoint.
        conflict: Option<(Delivered, Checkpoint)>,
    },
}

/// How a partner's log lost entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// It ends before entries it receipted (restored from a backup).
    Rewound,
    /// It signed a different hash for an entry than its receipt named.
    Forked,
}

impl Loss {
    fn as_str(self) -> &'static str {
        match self {
            Loss::Rewound => "rewound",
            Loss::Forked => "forked",
        }
    }
}

/// Judges a partner's answer: `seen` are the entries asked about (newest first, as
/// [`seen_points`] gives them), `at_seen` its signed checkpoints of those it holds.
pub fn judge(head: &Checkpoint, seen: &[Delivered], at_seen: &[Checkpoint]) -> Judgement {
    let Some(newest) = seen.first() else {
        return Judgement::Consistent;
    };
    let mut confirmed_seq = 0;
    let mut conflict = None;
    for point in seen {
        match at_seen.iter().find(|c| c.seq == point.receiver_seq) {
            Some(c) if c.head_hash == point.receiver_hash => {
                confirmed_seq = point.receiver_seq;
                break;
            }
            Some(c) => {
                conflict.get_or_insert_with(|| (*point, c.clone()));
            }
            None => {}
        }
    }
    if confirmed_seq == newest.receiver_seq && head.seq >= newest.receiver_seq {
        return Judgement::Consistent;
    }
    // A log that ends before what it receipted was rewound (a restore), even if it
    // wrote a few entries since; one as long that names other hashes forked.
    Judgement::Lost {
        how: if head.seq < newest.receiver_seq || conflict.is_none() {
            Loss::Rewound
        } else {
            Loss::Forked
        },
        confirmed_seq,
        conflict,
    }
}

/// The entries of `partner`'s log this node holds its receipts for, to ask about,
/// strictly between `above` and `below`: the newest, then the newest at or before 1, 2,
/// 4, ... entries further back, and the oldest.
pub fn seen_points(
    state: &NodeState,
    partner: &AgencyId,
    above: u64,
    below: u64,
) -> Result<Vec<Delivered>> {
    let mut points: Vec<Delivered> = Vec::new();
    let within = |p: &Delivered| p.receiver_seq > above;
    let Some(newest) = state
        .log
        .delivered_at_or_before(partner, below.saturating_sub(1))?
        .filter(within)
    else {
        return Ok(points);
    };
    points.push(newest);
    let mut step = 1u64;
    while points.len() < MAX_SEEN {
        let target = newest.receiver_seq.saturating_sub(step).max(above + 1);
        match state
            .log
            .delivered_at_or_before(partner, target)?
            .filter(within)
        {
            Some(p)
                if points
                    .last()
                    .is_some_and(|l| l.receiver_seq > p.receiver_seq) =>
            {
                points.push(p)
            }
            Some(_) => {}
            None => break,
        }
        if target == above + 1 {
            break;
        }
        step = step.saturating_mul(2);
    }
    Ok(points)
}

/// What a caller learnt over the rounds of one exchange: each round asks about the
/// entries between the newest the partner confirmed and the oldest it did not, until
/// the point where the two accounts part is found.
#[derive(Debug, Default)]
pub struct Inquiry {
    head: Option<Checkpoint>,
    seen: Vec<Delivered>,
    at_seen: Vec<Checkpoint>,
}

/// Most rounds of one exchange.
pub const MAX_ROUNDS: usize = 8;

impl Inquiry {
    /// The window to ask about next, as (above, below), or `None` when done.
    pub fn next_window(&self) -> Option<(u64, u64)> {
        if self.head.is_none() {
            return Some((0, u64::MAX));
        }
        let Judgement::Lost { confirmed_seq, .. } = self.judgement() else {
            return None;
        };
        let lowest_bad = self
            .seen
            .iter()
            .map(|p| p.receiver_seq)
            .filter(|seq| *seq > confirmed_seq)
            .min()?;
        Some((confirmed_seq, lowest_bad))
    }

    /// Adds a round's points and the partner's verified answer.
    pub fn add(&mut self, seen: Vec<Delivered>, head: Checkpoint, at_seen: Vec<Checkpoint>) {
        self.seen.extend(seen);
        self.seen.sort_by_key(|p| std::cmp::Reverse(p.receiver_seq));
        self.at_seen.extend(at_seen);
        self.head = Some(head);
    }

    /// The judgement on everything learnt so far.
    pub fn judgement(&self) -> Judgement {
        match &self.head {
            Some(head) => judge(head, &self.seen, &self.at_seen),
            None => Judgement::Consistent,
        }
    }
}

/// This node's head, signed now.
fn signed_head(state: &NodeState) -> Bytes {
    let head = state.log.head();
    let node = state.node();
    Checkpoint::sign(
        &node.config().agency,
        head.seq,
        head.hash,
        state.clock.now(),
        &node.keys().signing,
    )
    .signed
}

/// The caller's half of one round: this node's signed head and the entries of
/// `partner`'s log between `above` and `below` it asks about.
pub fn request(
    state: &NodeState,
    partner: &AgencyId,
    (above, below): (u64, u64),
) -> Result<(pb::CheckpointExchange, Vec<Delivered>)> {
    let seen = seen_points(state, partner, above, below)?;
    let message = pb::CheckpointExchange {
        head: signed_head(state),
        seen: seen
            .iter()
            .map(|p| pb::LogPoint {
                seq: p.receiver_seq,
                hash: Bytes::copy_from_slice(&p.receiver_hash),
            })
            .collect(),
        at_seen: Vec::new(),
    };
    Ok((message, seen))
}

/// Verifies `partner`'s answer: its head and its checkpoints of the entries asked
/// about.
///
/// Errors: [`Error::Core`] if a signature or field does not check.
pub fn verify_answer(
    state: &NodeState,
    partner: &AgencyId,
    answer: &pb::CheckpointExchange,
) -> Result<(Checkpoint, Vec<Checkpoint>)> {
    let key = partner_key(state, partner)?;
    let head = Checkpoint::verify(answer.head.clone(), partner, &key)?;
    let at_seen = answer
        .at_seen
        .iter()
        .take(MAX_SEEN)
        .map(|c| Checkpoint::verify(c.clone(), partner, &key))
        .collect::<liaison_core::Result<Vec<_>>>()?;
    Ok((head, at_seen))
}

/// The caller's conclusion: when the partner lost entries it receipted, queues them
/// again and logs the loss; either way the next idle exchange is due in
/// [`EXCHANGE_EVERY`].
pub fn conclude(state: &NodeState, partner: &AgencyId, inquiry: &Inquiry) -> Result<Judgement> {
    let judgement = inquiry.judgement();
    if let (
        Judgement::Lost {
            how,
            confirmed_seq,
            conflict,
        },
        Some(head),
    ) = (&judgement, &inquiry.head)
    {
        redeliver(
            state,
            partner,
            head,
            *how,
            *confirmed_seq,
            conflict.as_ref(),
        )?;
    }
    state.exchanged(partner, Instant::now() + EXCHANGE_EVERY);
    Ok(judgement)
}

/// Queues again everything `partner` receipted after `confirmed_seq`, forgets its
/// statements about those entries, and logs the loss, in one batch.
fn redeliver(
    state: &NodeState,
    partner: &AgencyId,
    head: &Checkpoint,
    how: Loss,
    confirmed_seq: u64,
    conflict: Option<&(Delivered, Checkpoint)>,
) -> Result<()> {
    let lost = state.log.delivered(
        partner,
        confirmed_seq.saturating_add(1)..=u64::MAX,
        usize::MAX,
    )?;
    let mut effects = Vec::with_capacity(lost.len() * 2);
    let mut redelivered = 0;
    for point in &lost {
        effects.push(Effect::ForgetDelivered {
            partner: partner.clone(),
            receiver_seq: point.receiver_seq,
        });
        // A bulletin recalled since has no body left to send: its recall, queued
        // again below if it was lost too, tells the partner it has nothing to hold.
        let sendable = state
            .log
            .get(point.queued_seq)?
            .is_some_and(|e| e.placement != BodyPlacement::Erased);
        if sendable {
            effects.push(Effect::Requeue {
                partner: partner.clone(),
                queued_seq: point.queued_seq,
            });
            redelivered += 1;
        }
    }
    let proof = conflict
        .map(|(receipted, checkpoint)| {
            vec![
                format!(
                    "receipt: entry {} hash {}",
                    receipted.receiver_seq,
                    data_encoding::HEXLOWER.encode(&receipted.receiver_hash)
                ),
                format!(
                    "checkpoint: {}",
                    data_encoding::BASE64.encode(&checkpoint.signed)
                ),
            ]
        })
        .unwrap_or_default();
    let event = LogEvent::PartnerLostEntries {
        partner: partner.clone(),
        how: how.as_str().into(),
        head_seq: head.seq,
        confirmed_seq,
        redelivered,
        proof,
    };
    tracing::warn!(%partner, how = how.as_str(), head_seq = head.seq, confirmed_seq, redelivered, "partner's log lost entries it receipted; delivering them again");
    let entry = effects
        .into_iter()
        .fold(event.entry(), |entry, effect| entry.with_effect(effect));
    state.log.append(entry)?;
    state.wake(partner);
    Ok(())
}

/// The responder's half: verifies the caller's head, signs this node's head and the
/// hash of each entry the caller asks about, and notices when the caller holds a
/// receipt for an entry this log no longer has (this node was restored from a backup).
///
/// Errors: [`Error::InvalidRequest`] for a malformed request or one that does not
/// verify; [`Error::UnknownPartner`]; store errors.
pub fn answer(
    state: &NodeState,
    partner: &AgencyId,
    request: &pb::CheckpointExchange,
) -> Result<pb::CheckpointExchange> {
    if request.seen.len() > MAX_SEEN {
        return Err(Error::InvalidRequest(format!(
            "seen: at most {MAX_SEEN} entries, not {}",
            request.seen.len()
        )));
    }
    let key = partner_key(state, partner)?;
    let caller_head = Checkpoint::verify(request.head.clone(), partner, &key)
        .map_err(|e| Error::InvalidRequest(format!("head: {e}")))?;
    let node = state.node();
    let me = &node.config().agency;
    let now = state.clock.now();
    let mut at_seen = Vec::with_capacity(request.seen.len());
    for (i, point) in request.seen.iter().enumerate() {
        let hash: [u8; 32] = point.hash.as_ref().try_into().map_err(|_| {
            Error::Core(Malformed::new(format!("seen[{i}].hash"), "must be 32 bytes").into())
        })?;
        let held = state.log.get(point.seq)?;
        if i == 0 && held.as_ref().is_none_or(|e| e.hash != hash) {
            own_log_behind(state, partner, point.seq, &hash)?;
        }
        if let Some(entry) = held {
            at_seen.push(
                Checkpoint::sign(me, point.seq, entry.hash, now, &node.keys().signing).signed,
            );
        }
    }
    // The caller's log ends before an entry it receipted for us: let our own worker
    // find out what it lost now rather than at its next idle exchange. Either way the
    // caller is reachable: a worker waiting out a backoff towards it tries again.
    let newest = state.log.delivered_at_or_before(partner, u64::MAX)?;
    if newest.is_some_and(|n| n.receiver_seq > caller_head.seq) {
        state.exchange_now(partner);
    } else {
        state.wake(partner);
    }
    Ok(pb::CheckpointExchange {
        head: signed_head(state),
        seen: Vec::new(),
        at_seen,
    })
}

/// Logs, once per entry, that `partner` holds our receipt for an entry this log does
/// not hold as receipted.
fn own_log_behind(state: &NodeState, partner: &AgencyId, seq: u64, hash: &[u8; 32]) -> Result<()> {
    if !state.note_own_log_behind(partner, seq) {
        return Ok(());
    }
    let head_seq = state.log.head().seq;
    tracing::error!(%partner, seq, head_seq, "a partner holds our receipt for a log entry this log does not hold: was it restored from a backup?");
    let event = LogEvent::OwnLogBehind {
        partner: partner.clone(),
        seq,
        receipted_hash: data_encoding::HEXLOWER.encode(hash),
        head_seq,
    };
    state.log.append(event.entry())?;
    Ok(())
}

fn partner_key(state: &NodeState, partner: &AgencyId) -> Result<VerifyingKey> {
    state
        .partners
        .snapshot()
        .get(partner)
        .map(|p| p.identity.document().signing_key.key)
        .ok_or_else(|| Error::UnknownPartner(partner.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use liaison_core::UnixMillis;
    use liaison_core::crypto::SigningKey;

    fn key() -> SigningKey {
        SigningKey::from_seed([3; 32]).unwrap()
    }

    fn statement(seq: u64, hash: u8) -> Checkpoint {
        let agency: AgencyId = "DE-BKA".parse().unwrap();
        Checkpoint::sign(&agency, seq, [hash; 32], UnixMillis(1), &key())
    }

    fn point(seq: u64, hash: u8) -> Delivered {
        Delivered {
            receiver_seq: seq,
            receiver_hash: [hash; 32],
            queued_seq: seq + 1000,
        }
    }

    #[test]
    fn a_partner_that_holds_what_it_receipted_is_consistent() {
        let seen = [point(40, 4), point(39, 3), point(37, 2)];
        let answer = [statement(40, 4), statement(39, 3), statement(37, 2)];
        assert_eq!(
            judge(&statement(55, 9), &seen, &answer),
            Judgement::Consistent
        );
        assert_eq!(judge(&statement(1, 9), &[], &[]), Judgement::Consistent);
    }

    #[test]
    fn a_log_restored_from_a_backup_is_rewound_to_the_newest_entry_it_still_holds() {
        let seen = [point(40, 4), point(39, 3), point(37, 2), point(33, 1)];
        // Restored to entry 38: it holds 37 and 33 as they were, not 39 or 40.
        let answer = [statement(37, 2), statement(33, 1)];
        assert_eq!(
            judge(&statement(38, 7), &seen, &answer),
            Judgement::Lost {
                how: Loss::Rewound,
                confirmed_seq: 37,
                conflict: None
            }
        );
    }

    #[test]
    fn a_log_that_grew_again_after_a_restore_is_caught_by_its_hashes() {
        let seen = [point(40, 4), point(39, 3), point(37, 2), point(33, 1)];
        // Restored to 36, then it took other bulletins: 37..45 exist, with new hashes.
        let answer = [
            statement(40, 8),
            statement(39, 8),
            statement(37, 8),
            statement(33, 1),
        ];
        let Judgement::Lost {
            how,
            confirmed_seq,
            conflict,
        } = judge(&statement(45, 8), &seen, &answer)
        else {
            panic!("a fork went unnoticed");
        };
        assert_eq!((how, confirmed_seq), (Loss::Forked, 33));
        let (receipted, contradiction) = conflict.unwrap();
        assert_eq!(receipted.receiver_seq, 40);
        assert_ne!(receipted.receiver_hash, contradiction.head_hash);
    }

    #[test]
    fn a_partner_that_lost_everything_confirms_nothing() {
        let seen = [point(40, 4), point(20, 3)];
        assert_eq!(
            judge(&statement(3, 1), &seen, &[]),
            Judgement::Lost {
                how: Loss::Rewound,
                confirmed_seq: 0,
                conflict: None
            }
        );
    }
}
