//! The peer API a partner's node calls: `Deliver` (`deliver`: check, store in order,
//! receipt once durable), `PushAttachment` (an attachment that travels beside its
//! envelope), `PushIdentity` (a newer identity document signed by the
//! same root), `ExchangeCheckpoints` (`ops::continuity`) and `Ping`. The partner is the one the TLS handshake authenticated
//! ([`AuthenticatedPartner`]), never a name inside a message.

mod attachments;
mod checks;
mod deliver;

use std::sync::Arc;

use bytes::Bytes;
use liaison_core::{AgencyId, UnixMillis};
use liaison_proto::format::v1 as fmt;
use liaison_proto::v1 as pb;
use liaison_store::Effect;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

pub use deliver::DELIVERY_WINDOW;

use crate::node::journal::LogEvent;
use crate::node::state::NodeState;
use crate::trust::partners::Pinning;

/// The partner that a connection authenticated as (set by the TLS accept loop).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedPartner {
    /// The partner whose CA the certificate chains to.
    pub agency: AgencyId,
    /// Whether the identity this node holds for it pins the certificate. An unpinned one
    /// may only push an identity document (`PushIdentity`): that is how a partner that
    /// rotated its TLS certificate and restarted before this node learnt the new pin
    /// gets it across.
    pub pinning: Pinning,
}

/// The peer service.
pub struct PeerService {
    state: Arc<NodeState>,
}

impl PeerService {
    /// A service over `state`.
    pub fn new(state: Arc<NodeState>) -> Self {
        Self { state }
    }
}

/// The partner on this connection, which must have presented a pinned node
/// certificate.
fn partner_of<T>(request: &Request<T>) -> Result<AgencyId, Status> {
    let partner = authenticated(request)?;
    match &partner.pinning {
        Pinning::Pinned => Ok(partner.agency.clone()),
        Pinning::NotPinned(id) => Err(Status::permission_denied(format!(
            "certificate {id} is not a node certificate pinned in the identity this node holds for {}: only PushIdentity is served on this connection",
            partner.agency
        ))),
    }
}

fn authenticated<T>(request: &Request<T>) -> Result<&AuthenticatedPartner, Status> {
    request
        .extensions()
        .get::<AuthenticatedPartner>()
        .ok_or_else(|| Status::unauthenticated("no authenticated partner on this connection"))
}

#[tonic::async_trait]
impl pb::peer_server::Peer for PeerService {
    type DeliverStream = ReceiverStream<Result<fmt::SignedReceipt, Status>>;

    async fn deliver(
        &self,
        request: Request<Streaming<pb::SealedBulletin>>,
    ) -> Result<Response<Self::DeliverStream>, Status> {
        let partner = partner_of(&request)?;
        let (receipts_tx, receipts_rx) = mpsc::channel(DELIVERY_WINDOW);
        deliver::start(
            self.state.clone(),
            partner,
            request.into_inner(),
            receipts_tx,
        );
        Ok(Response::new(ReceiverStream::new(receipts_rx)))
    }

    async fn push_attachment(
        &self,
        request: Request<Streaming<pb::AttachmentPart>>,
    ) -> Result<Response<pb::AttachmentHeld>, Status> {
        let partner = partner_of(&request)?;
        attachments::receive(self.state.clone(), partner, request.into_inner())
            .await
            .map(Response::new)
    }

    async fn push_identity(
        &self,
        request: Request<fmt::SignedIdentity>,
    ) -> Result<Response<pb::PushIdentityResponse>, Status> {
        // Pinned or not: the document is signed by the partner's root, which is the
        // authority here, whichever of its certificates carried it.
        let partner = authenticated(&request)?.agency.clone();
        let bytes = Bytes::from(prost::Message::encode_to_vec(request.get_ref()));
        let state = self.state.clone();
        let outcome = tokio::task::spawn_blocking(move || accept_identity(&state, &partner, bytes))
            .await
            .map_err(|_| Status::internal("the identity check failed"))?;
        outcome.map(|version| Response::new(pb::PushIdentityResponse { version }))
    }

    async fn exchange_checkpoints(
        &self,
        request: Request<pb::CheckpointExchange>,
    ) -> Result<Response<pb::CheckpointExchange>, Status> {
        let partner = partner_of(&request)?;
        let state = self.state.clone();
        // Up to 64 signatures and as many log reads: off the async threads.
        let answer = tokio::task::spawn_blocking(move || {
            crate::ops::continuity::answer(&state, &partner, request.get_ref())
        })
        .await
        .map_err(|_| Status::internal("the checkpoint exchange failed"))?;
        answer
            .map(Response::new)
            .map_err(crate::edge::client_api::status_of)
    }

    async fn query_filter(
        &self,
        request: Request<pb::QueryFilterRequest>,
    ) -> Result<Response<pb::QueryFilterChanges>, Status> {
        let partner = partner_of(&request)?;
        let state = self.state.clone();
        let page = tokio::task::spawn_blocking(move || {
            crate::ops::private_query::filter_changes(&state, &partner, &request.get_ref().after)
        })
        .await
        .map_err(|_| Status::internal("the filter request failed"))?
        .map_err(|refusal| refusal_status(&refusal))?;
        Ok(Response::new(pb::QueryFilterChanges {
            changes: page.changes.into(),
            next: page.next.into(),
            more: page.more,
        }))
    }

    async fn evaluate_query(
        &self,
        request: Request<pb::EvaluateQueryRequest>,
    ) -> Result<Response<pb::EvaluateQueryResponse>, Status> {
        let partner = partner_of(&request)?;
        let state = self.state.clone();
        // Scalar multiplications and a durable log append: off the async threads.
        let (evaluated, remaining_today) = tokio::task::spawn_blocking(move || {
            crate::ops::private_query::answer(&state, &partner, &request.get_ref().blinded)
        })
        .await
        .map_err(|_| Status::internal("the query failed"))?
        .map_err(|refusal| refusal_status(&refusal))?;
        Ok(Response::new(pb::EvaluateQueryResponse {
            evaluated: evaluated
                .iter()
                .map(|e| Bytes::copy_from_slice(e))
                .collect(),
            remaining_today,
        }))
    }

    async fn ping(
        &self,
        request: Request<pb::PingRequest>,
    ) -> Result<Response<pb::PingResponse>, Status> {
        partner_of(&request)?;
        Ok(Response::new(pb::PingResponse {
            agency: self.state.node().config().agency.to_string(),
            time_unix_ms: UnixMillis::now().0,
        }))
    }
}

/// The status a refused private query (or filter request) is answered with.
fn refusal_status(refusal: &crate::ops::private_query::Refusal) -> Status {
    let message = refusal.to_string();
    match refusal.code() {
        "permission" => Status::permission_denied(message),
        "exhausted" => Status::resource_exhausted(message),
        "invalid" => Status::invalid_argument(message),
        _ => Status::unavailable(message),
    }
}

/// Why a pushed identity was refused; [`IdentityRefusal::status`] is the one mapping to
/// the gRPC status the partner receives (never internals: no paths, no sled text).
#[derive(Debug, thiserror::Error)]
enum IdentityRefusal {
    #[error("identity: {0}")]
    Malformed(liaison_core::Error),
    #[error("not a partner")]
    NotAPartner,
    #[error("the identity of {pushed} cannot be pushed by {partner}")]
    OtherAgency { pushed: AgencyId, partner: AgencyId },
    #[error(
        "signed by root key {pushed}, not by the root key {held} this node verified for {partner}"
    )]
    OtherRoot {
        pushed: String,
        held: String,
        partner: AgencyId,
    },
    #[error("version {pushed} is not newer than version {held} held here")]
    NotNewer { pushed: u64, held: u64 },
    #[error("{0}")]
    Unusable(String),
    #[error("the receiver cannot store right now")]
    Unavailable,
}

impl IdentityRefusal {
    fn status(&self) -> Status {
        let message = self.to_string();
        match self {
            IdentityRefusal::Malformed(_) | IdentityRefusal::Unusable(_) => {
                Status::invalid_argument(message)
            }
            IdentityRefusal::NotAPartner
            | IdentityRefusal::OtherAgency { .. }
            | IdentityRefusal::OtherRoot { .. } => Status::permission_denied(message),
            IdentityRefusal::NotNewer { .. } => Status::failed_precondition(message),
            IdentityRefusal::Unavailable => Status::unavailable(message),
        }
    }
}

/// Takes a newer identity document from `partner`: signed by the same root, for the
/// same agency, with a higher version. A refusal is logged with its reason.
fn accept_identity(state: &NodeState, partner: &AgencyId, bytes: Bytes) -> Result<u64, Status> {
    check_identity(state, partner, bytes).map_err(|refusal| {
        if !matches!(refusal, IdentityRefusal::Unavailable) {
            let refused = LogEvent::IdentityRefused {
                from: partner.clone(),
                reason: refusal.to_string(),
            };
            if let Err(e) = state.log.append(refused.entry()) {
                tracing::error!(error = %e, "could not log a refused identity");
            }
        }
        tracing::warn!(%partner, reason = %refusal, "refused a pushed identity");
        refusal.status()
    })
}

fn check_identity(
    state: &NodeState,
    partner: &AgencyId,
    bytes: Bytes,
) -> Result<u64, IdentityRefusal> {
    let identity =
        liaison_core::SignedIdentity::from_bytes(bytes).map_err(IdentityRefusal::Malformed)?;
    let partners = state.partners.snapshot();
    let held = partners.get(partner).ok_or(IdentityRefusal::NotAPartner)?;
    let doc = identity.document();
    if &doc.agency != partner {
        return Err(IdentityRefusal::OtherAgency {
            pushed: doc.agency.clone(),
            partner: partner.clone(),
        });
    }
    if identity.root_key() != held.identity.root_key() {
        return Err(IdentityRefusal::OtherRoot {
            pushed: identity.fingerprint().to_string(),
            held: held.identity.fingerprint().to_string(),
            partner: partner.clone(),
        });
    }
    let held_version = held.identity.document().version;
    if doc.version == held_version && identity.to_bytes() == held.identity.to_bytes() {
        return Ok(held_version); // a retry of what we already hold
    }
    if doc.version <= held_version {
        return Err(IdentityRefusal::NotNewer {
            pushed: doc.version,
            held: held_version,
        });
    }
    crate::trust::partners::Partner::new(identity.clone())
        .map_err(|e| IdentityRefusal::Unusable(e.to_string()))?;
    let updated = LogEvent::IdentityUpdated {
        agency: partner.clone(),
        from_version: held_version,
        to_version: doc.version,
        signing_key_id: doc.signing_key.key_id.clone(),
        encryption_key_id: doc.encryption_key.key_id.clone(),
        revoked: doc.revoked_keys.iter().map(|r| r.key_id.clone()).collect(),
    };
    let entry = updated.entry().with_effect(Effect::PutPeer {
        agency: partner.clone(),
        bundle: identity.to_bytes(),
    });
    state.log.append(entry).map_err(|e| {
        tracing::error!(error = %e, "could not store a pushed identity");
        IdentityRefusal::Unavailable
    })?;
    state.reload_partners().map_err(|e| {
        tracing::error!(error = %e, "could not reload partners after an identity update");
        IdentityRefusal::Unavailable
    })?;
    Ok(doc.version)
}
