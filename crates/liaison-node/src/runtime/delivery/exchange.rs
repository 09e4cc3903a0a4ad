//! The caller's side of a checkpoint exchange (the checks are in `ops::continuity`).

use std::sync::Arc;
use std::time::Instant;

use liaison_core::AgencyId;
use liaison_proto::v1 as pb;
use tonic::transport::Channel;

use super::DeliveryError;
use crate::node::state::NodeState;
use crate::ops::continuity::{self, EXCHANGE_EVERY, Inquiry, MAX_ROUNDS};

/// Presents this node's signed head to `partner`, asks it about the entries it
/// receipted (in rounds, narrowing down to where the two accounts part), and queues
/// again whatever it lost.
///
/// Errors: [`DeliveryError::Refused`] if the partner refuses the call,
/// [`DeliveryError::BadCheckpoint`] if its answer does not verify.
pub(super) async fn exchange(
    state: &Arc<NodeState>,
    client: &mut pb::peer_client::PeerClient<Channel>,
    partner: &AgencyId,
) -> Result<(), DeliveryError> {
    let mut inquiry = Inquiry::default();
    for _ in 0..MAX_ROUNDS {
        let Some(window) = inquiry.next_window() else {
            break;
        };
        let (s, p) = (state.clone(), partner.clone());
        let (request, seen) =
            tokio::task::spawn_blocking(move || continuity::request(&s, &p, window))
                .await?
                .map_err(|e| DeliveryError::Store(crate::error::describe(&e)))?;
        let answer = match client.exchange_checkpoints(request).await {
            Ok(answer) => answer.into_inner(),
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                // A partner from before checkpoint exchanges: nothing to compare.
                tracing::debug!(%partner, "partner does not exchange checkpoints");
                state.exchanged(partner, Instant::now() + EXCHANGE_EVERY);
                return Ok(());
            }
            Err(status) => {
                return Err(DeliveryError::Refused {
                    partner: partner.clone(),
                    call: "the checkpoint exchange".into(),
                    message: status.message().to_owned(),
                });
            }
        };
        let (s, p) = (state.clone(), partner.clone());
        let (head, at_seen) =
            tokio::task::spawn_blocking(move || continuity::verify_answer(&s, &p, &answer))
                .await?
                .map_err(|e| DeliveryError::BadCheckpoint {
                    partner: partner.clone(),
                    problem: crate::error::describe(&e),
                })?;
        inquiry.add(seen, head, at_seen);
    }
    let (s, p) = (state.clone(), partner.clone());
    tokio::task::spawn_blocking(move || continuity::conclude(&s, &p, &inquiry))
        .await?
        .map_err(|e| DeliveryError::Store(crate::error::describe(&e)))?;
    Ok(())
}
