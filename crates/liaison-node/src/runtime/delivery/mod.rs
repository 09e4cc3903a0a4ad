//! One delivery worker per partner: reads the partner's durable outbox in log order and
//! streams the envelopes over one mutually authenticated connection, up to
//! [`DELIVERY_WINDOW`] in flight (`session`). Each signed receipt is verified with
//! the partner's signing key and stored; the bulletin leaves the outbox in the same
//! atomic batch. Failures ([`DeliveryError`]) retry with capped exponential backoff and
//! jitter; whatever was not receipted is sent again after reconnecting (the receiver
//! stores it once). A partner that calls in, or a session that made progress, resets
//! the backoff: a partner back from an outage is drained at once.
//!
//! Layout: [`connect`] opens the TLS channel to a partner; `session` runs one
//! connection's worth of delivery; this module holds the worker loop and the errors.

mod connect;
mod exchange;
mod session;

use std::sync::Arc;
use std::time::Duration;

use liaison_core::AgencyId;
use liaison_core::receipt::RejectCode;
use liaison_proto::format::v1 as fmt;
use liaison_store::Effect;
use prost::Message as _;
use rand::Rng as _;
use tokio::sync::watch;

pub use connect::connect;

pub use crate::edge::peer::DELIVERY_WINDOW;
use crate::node::journal::LogEvent;
use crate::node::state::{DeliveryFailure, NodeState};
use crate::trust::tls::NodeCertificate;

const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// How long an idle worker waits before looking at its outbox again anyway.
const IDLE_POLL: Duration = Duration::from_secs(2);

/// Why delivery to a partner stopped; the worker retries every one of them with
/// backoff (a *final* answer about a bulletin is a stored rejection, not an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The partner's identity names no endpoint to connect to.
    #[error("{0} publishes no peer endpoint")]
    NoEndpoint(AgencyId),
    /// The TLS channel could not be opened.
    #[error("cannot connect to {partner} at {endpoint}: {cause}")]
    Connect {
        /// The partner.
        partner: AgencyId,
        /// Where.
        endpoint: String,
        /// Why, each cause once.
        cause: String,
    },
    /// The partner answered a call with an error status.
    #[error("{partner} refused {call}: {message}")]
    Refused {
        /// The partner.
        partner: AgencyId,
        /// `the delivery stream`, `identity version 3`, ...
        call: String,
        /// The partner's status message.
        message: String,
    },
    /// The stream ended or broke.
    #[error("the delivery stream to {0} closed")]
    StreamClosed(AgencyId),
    /// A receipt that does not verify, or does not match what was sent.
    #[error("{partner} sent a bad receipt: {problem}")]
    BadReceipt {
        /// The partner.
        partner: AgencyId,
        /// What is wrong with it.
        problem: String,
    },
    /// The partner refused a bulletin for a reason that is not about the bulletin
    /// (a key it does not hold yet, its clock, its disk): kept queued, retried.
    #[error("{partner} cannot take it yet ({code}): {reason}")]
    NotYet {
        /// The partner.
        partner: AgencyId,
        /// The transient code.
        code: RejectCode,
        /// The partner's words.
        reason: String,
    },
    /// The partner's answer to a checkpoint exchange does not verify.
    #[error("{partner} sent a bad checkpoint: {problem}")]
    BadCheckpoint {
        /// The partner.
        partner: AgencyId,
        /// What is wrong with it.
        problem: String,
    },
    /// The partner confirmed an older identity version than the one pushed.
    #[error("{partner} still holds identity version {held}, not {pushed}")]
    IdentityNotTaken {
        /// The partner.
        partner: AgencyId,
        /// What it holds.
        held: u64,
        /// What was pushed.
        pushed: u64,
    },
    /// The partner was removed while delivering.
    #[error("{0} is no longer a partner")]
    NoLongerAPartner(AgencyId),
    /// This node's own log failed.
    #[error("the local log: {0}")]
    Store(String),
}

impl From<liaison_store::Error> for DeliveryError {
    fn from(error: liaison_store::Error) -> Self {
        DeliveryError::Store(crate::error::describe(&error))
    }
}

impl From<tokio::task::JoinError> for DeliveryError {
    fn from(error: tokio::task::JoinError) -> Self {
        DeliveryError::Store(format!("a worker task failed: {error}"))
    }
}

/// Runs the worker for `partner` until shutdown or until the partner is removed.
pub async fn run_worker(
    state: Arc<NodeState>,
    certificate: Arc<NodeCertificate>,
    partner: AgencyId,
    mut shutdown: watch::Receiver<bool>,
) {
    let waker = state.waker(&partner);
    let mut backoff = BACKOFF_START;
    loop {
        if *shutdown.borrow() {
            return;
        }
        if state.partners.snapshot().get(&partner).is_none() {
            tracing::info!(%partner, "partner removed; delivery worker stops");
            return;
        }
        let needs_push = identity_pending(&state, &partner);
        let idle = state.log.outbox_len(&partner) == 0;
        let exchange_due = state.exchange_due(&partner);
        if !needs_push && idle && !exchange_due {
            tokio::select! {
                _ = waker.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        let outcome = if needs_push {
            push_identity(&state, &certificate, &partner).await
        } else if idle {
            exchange_only(&state, &certificate, &partner).await
        } else {
            session::deliver(&state, &certificate, &partner, &mut shutdown).await
        };
        state.set_connected(&partner, false);
        match outcome {
            Ok(()) => {
                backoff = BACKOFF_START;
                state.take_contact(&partner);
                state.set_delivery_error(&partner, None);
            }
            Err(error) => {
                let pause = backoff.mul_f64(rand::rng().random_range(0.5..1.5));
                tracing::warn!(%partner, %error, retry_in_ms = pause.as_millis() as u64, "delivery failed");
                let next_attempt = liaison_core::UnixMillis(
                    liaison_core::UnixMillis::now().0 + pause.as_millis() as i64,
                );
                state.set_delivery_error(
                    &partner,
                    Some(DeliveryFailure {
                        error,
                        next_attempt,
                        since: liaison_core::UnixMillis::now(),
                    }),
                );
                // Woken early by new work or by the partner calling in: try again now.
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = waker.notified() => {}
                    _ = shutdown.changed() => return,
                }
                // A partner heard from since (it called in, or the failed session had
                // made progress) is back: its next failure waits the first step again.
                backoff = if state.take_contact(&partner) {
                    BACKOFF_START
                } else {
                    (backoff * 2).min(BACKOFF_CAP)
                };
            }
        }
    }
}

/// A checkpoint exchange on its own, for a worker with nothing to deliver.
async fn exchange_only(
    state: &Arc<NodeState>,
    certificate: &NodeCertificate,
    partner: &AgencyId,
) -> Result<(), DeliveryError> {
    let mut client = connect(&state.partners, certificate, partner).await?;
    exchange::exchange(state, &mut client, partner).await
}

/// Whether `partner` has yet to confirm this node's current identity version: then it
/// must receive it before anything signed with a new key.
fn identity_pending(state: &NodeState, partner: &AgencyId) -> bool {
    let version = state.node().identity().document().version;
    state
        .log
        .identity_acknowledged(partner)
        .map_or(true, |held| held < version)
}

/// Pushes this node's identity document (after a rotation or revocation, or once to
/// confirm a new partner holds it) and records the version the partner confirmed.
async fn push_identity(
    state: &Arc<NodeState>,
    certificate: &NodeCertificate,
    partner: &AgencyId,
) -> Result<(), DeliveryError> {
    let node = state.node();
    let version = node.identity().document().version;
    let mut client = connect(&state.partners, certificate, partner).await?;
    let bundle = fmt::SignedIdentity::decode(node.identity().to_bytes()).map_err(|e| {
        DeliveryError::Store(format!("this node's identity bundle does not decode: {e}"))
    })?;
    let held = client
        .push_identity(bundle)
        .await
        .map_err(|s| DeliveryError::Refused {
            partner: partner.clone(),
            call: format!("identity version {version}"),
            message: s.message().to_owned(),
        })?
        .into_inner()
        .version;
    if held < version {
        return Err(DeliveryError::IdentityNotTaken {
            partner: partner.clone(),
            held,
            pushed: version,
        });
    }
    let entry = LogEvent::IdentityPushed {
        agency: partner.clone(),
        version: held,
    }
    .entry()
    .with_effect(Effect::IdentityAcknowledged {
        partner: partner.clone(),
        version: held,
    });
    let state = state.clone();
    tokio::task::spawn_blocking(move || state.log.append(entry)).await??;
    Ok(())
}
