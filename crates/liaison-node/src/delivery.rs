//! One delivery worker per partner: reads the partner's durable outbox in log order and
//! streams the envelopes over one mutually authenticated connection, up to
//! [`DELIVERY_WINDOW`] in flight. Each signed receipt is verified with the partner's
//! signing key and stored; the bulletin leaves the outbox in the same atomic batch.
//! Transport failures retry with capped exponential backoff and jitter; whatever was
//! not receipted is sent again after reconnecting (the receiver stores it once).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::TokioIo;
use liaison_core::receipt::{Outcome, SignedReceipt};
use liaison_core::{AgencyId, BulletinId};
use liaison_proto::format::v1 as fmt;
use liaison_proto::v1 as pb;
use liaison_store::{Effect, EntryKind, NewEntry};
use prost::Message as _;
use rand::Rng as _;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::partners::PartnerSet;
use crate::peer_service::DELIVERY_WINDOW;
use crate::state::{DeliveryFailure, NodeState};
use crate::tls::{NodeCertificate, peer_client_config};

const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// How long an idle worker waits before looking at its outbox again anyway.
const IDLE_POLL: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An envelope on the wire, waiting for its receipt.
struct InFlight {
    published_seq: u64,
    bulletin_id: Option<BulletinId>,
    envelope_sha256: [u8; 32],
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
        let version = state.node().identity().document().version;
        let needs_push = state
            .log
            .identity_acknowledged(&partner)
            .map_or(true, |held| held < version);
        if !needs_push && state.log.outbox_len(&partner) == 0 {
            tokio::select! {
                _ = waker.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = shutdown.changed() => return,
            }
            continue;
        }
        let outcome = if needs_push {
            push_identity(&state, &certificate, &partner, version).await
        } else {
            deliver(&state, &certificate, &partner, &mut shutdown).await
        };
        state.set_connected(&partner, false);
        match outcome {
            Ok(()) => {
                backoff = BACKOFF_START;
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
                    }),
                );
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(BACKOFF_CAP);
            }
        }
    }
}

/// Opens a gRPC channel to `partner` over TLS 1.3, presenting `certificate` and
/// accepting only a server certificate from that partner's CA.
///
/// Errors: a sentence naming the partner, endpoint and cause.
pub async fn connect(
    partners: &PartnerSet,
    certificate: &NodeCertificate,
    partner: &AgencyId,
) -> Result<pb::peer_client::PeerClient<tonic::transport::Channel>, String> {
    let endpoint = partners
        .snapshot()
        .get(partner)
        .and_then(|p| p.identity.document().peer_endpoints.first().cloned())
        .ok_or_else(|| format!("{partner} publishes no peer endpoint"))?;
    let config = peer_client_config(certificate, partners.clone(), partner.clone())
        .map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let host = endpoint
        .rsplit_once(':')
        .map_or(endpoint.as_str(), |(h, _)| h)
        .trim_matches(['[', ']'])
        .to_owned();
    let server_name = rustls::pki_types::ServerName::try_from(host)
        .map_err(|e| format!("bad endpoint {endpoint}: {e}"))?;
    let target = endpoint.clone();
    let service = tower::service_fn(move |_: tonic::transport::Uri| {
        let (connector, server_name, target) =
            (connector.clone(), server_name.clone(), target.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&target).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(server_name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(tls))
        }
    });
    // The URI only names the authority for HTTP/2; the connector decides where to go
    // and does the TLS itself. The scheme says "http" because tonic, when built with
    // its own TLS support, insists on configuring TLS for an "https" URI.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))
        .map_err(|e| format!("bad endpoint {endpoint}: {e}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect_with_connector(service)
        .await
        .map_err(|e| {
            format!(
                "cannot connect to {partner} at {endpoint}: {}",
                error_chain(&e)
            )
        })?;
    Ok(pb::peer_client::PeerClient::new(channel)
        .max_decoding_message_size(1024 * 1024)
        .max_encoding_message_size(liaison_core::limits::MAX_ENVELOPE_BYTES + 1024))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Pushes this node's identity document (after a rotation or revocation, or once to
/// confirm a new partner holds it) and records the version the partner confirmed.
async fn push_identity(
    state: &Arc<NodeState>,
    certificate: &NodeCertificate,
    partner: &AgencyId,
    version: u64,
) -> Result<(), String> {
    let mut client = connect(&state.partners, certificate, partner).await?;
    let bundle = fmt::SignedIdentity::decode(state.node().identity().to_bytes())
        .map_err(|e| e.to_string())?;
    let held = client
        .push_identity(bundle)
        .await
        .map_err(|s| {
            format!(
                "{partner} refused identity version {version}: {}",
                s.message()
            )
        })?
        .into_inner()
        .version;
    if held < version {
        return Err(format!(
            "{partner} still holds identity version {held}, not {version}"
        ));
    }
    let state = state.clone();
    let partner = partner.clone();
    tokio::task::spawn_blocking(move || {
        state.log.append(
            NewEntry::new(
                EntryKind::PeerChange,
                serde_json::json!({"event": "identity-pushed", "agency": partner.to_string(), "version": held})
                    .to_string(),
            )
            .about_agency(partner.clone())
            .with_effect(Effect::IdentityAcknowledged { partner, version: held }),
        )
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// One connection's worth of delivery: returns `Ok` when the outbox is drained,
/// `Err` with a sentence when the connection fails.
async fn deliver(
    state: &Arc<NodeState>,
    certificate: &NodeCertificate,
    partner: &AgencyId,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let mut client = connect(&state.partners, certificate, partner).await?;
    let (tx, rx) = mpsc::channel(DELIVERY_WINDOW);
    let mut receipts = client
        .deliver(ReceiverStream::new(rx))
        .await
        .map_err(|s| format!("{partner} refused the delivery stream: {}", s.message()))?
        .into_inner();
    state.set_connected(partner, true);
    // Connected again: the last failure is history.
    state.set_delivery_error(partner, None);
    let partner_key = state
        .partners
        .snapshot()
        .get(partner)
        .map(|p| p.identity.document().signing_key.key)
        .ok_or_else(|| format!("{partner} is no longer a partner"))?;
    let waker = state.waker(partner);
    let mut in_flight: VecDeque<InFlight> = VecDeque::new();
    let mut cursor = 0;
    let mut storing = Vec::new();
    loop {
        // A key rotation since this stream opened: the partner must hold the new
        // identity before it sees anything signed with the new key, so stop sending,
        // let what is in flight be receipted, and go push the identity first.
        let version = state.node().identity().document().version;
        let identity_pending = state
            .log
            .identity_acknowledged(partner)
            .map_or(true, |held| held < version);
        // Fill the window from the outbox, in log order.
        if !identity_pending && in_flight.len() < DELIVERY_WINDOW {
            let room = DELIVERY_WINDOW - in_flight.len();
            let seqs = state
                .log
                .outbox(partner, cursor, room)
                .map_err(|e| e.to_string())?;
            for seq in seqs {
                let (bulletin_id, message) = queued_message(state, seq)?;
                let sent = [&message.envelope, &message.recall, &message.forwarded]
                    .into_iter()
                    .find(|b| !b.is_empty())
                    .cloned()
                    .unwrap_or_default();
                in_flight.push_back(InFlight {
                    published_seq: seq,
                    bulletin_id,
                    envelope_sha256: liaison_core::crypto::sha256(&sent),
                });
                tx.send(message)
                    .await
                    .map_err(|_| format!("the stream to {partner} closed"))?;
                cursor = seq;
            }
        }
        if in_flight.is_empty() {
            // Drained: make sure the stored receipts are durable before reporting success.
            for pending in storing.drain(..) {
                let pending: liaison_store::PendingAppend = pending;
                pending.durable().await.map_err(|e| e.to_string())?;
            }
            if identity_pending {
                return Ok(());
            }
            tokio::select! {
                _ = waker.notified() => continue,
                _ = tokio::time::sleep(IDLE_POLL) => {
                    if state.log.outbox(partner, cursor, 1).map_err(|e| e.to_string())?.is_empty() {
                        return Ok(());
                    }
                    continue;
                }
                _ = shutdown.changed() => return Ok(()),
            }
        }
        let message = tokio::select! {
            m = receipts.message() => m,
            _ = waker.notified(), if in_flight.len() < DELIVERY_WINDOW => continue,
            _ = shutdown.changed() => return Ok(()),
        };
        let signed = match message {
            Ok(Some(m)) => m,
            Ok(None) => return Err(format!("{partner} closed the delivery stream")),
            Err(status) => return Err(format!("{partner}: {}", status.message())),
        };
        let Some(expected) = in_flight.pop_front() else {
            return Err(format!("{partner} sent a receipt for nothing in flight"));
        };
        let bytes = Bytes::from(signed.encode_to_vec());
        let receipt =
            tokio::task::spawn_blocking(move || SignedReceipt::verify(bytes, &partner_key))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("{partner} sent a receipt that does not verify: {e}"))?;
        let r = receipt.receipt();
        if r.envelope_sha256 != expected.envelope_sha256 || &r.receiver != partner {
            return Err(format!("{partner} sent a receipt for a different envelope"));
        }
        if let Outcome::Rejected { reason } = &r.outcome {
            // The partner does not (yet) know the key this bulletin is signed with: it
            // has not taken our latest identity. Not a verdict on the bulletin: keep it
            // queued and try again after the identity push.
            if reason.contains("has no signing key") {
                return Err(format!(
                    "{partner} does not hold our current signing key yet: {reason}"
                ));
            }
            tracing::warn!(%partner, bulletin = ?expected.bulletin_id.map(|b| b.to_string()), %reason, "partner rejected a bulletin");
        }
        let mut entry = NewEntry::new(EntryKind::Receipt, receipt.to_bytes())
            .about_agency(partner.clone())
            .with_effect(Effect::Dequeue {
                partner: partner.clone(),
                published_seq: expected.published_seq,
            });
        if let Some(id) = expected.bulletin_id {
            entry = entry.about_bulletin(id);
        }
        storing.push(state.log.submit(vec![entry]));
        if storing.len() >= DELIVERY_WINDOW {
            for pending in storing.drain(..) {
                pending.durable().await.map_err(|e| e.to_string())?;
            }
        }
    }
}

/// What an outbox entry sends: a published envelope, or a recall.
fn queued_message(
    state: &NodeState,
    seq: u64,
) -> Result<(Option<BulletinId>, pb::SealedBulletin), String> {
    let entry = state
        .log
        .get(seq)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("outbox names missing entry {seq}"))?;
    let body = state
        .log
        .body(&entry)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("entry {seq} was erased"))?;
    if entry.kind == EntryKind::Recall {
        return Ok((
            entry.bulletin_id,
            pb::SealedBulletin {
                recall: body,
                ..Default::default()
            },
        ));
    }
    fmt::PublishedRecord::decode(body)
        .map(|r| {
            (
                entry.bulletin_id,
                if r.forwarded {
                    pb::SealedBulletin {
                        forwarded: r.envelope,
                        ..Default::default()
                    }
                } else {
                    pb::SealedBulletin {
                        envelope: r.envelope,
                        ..Default::default()
                    }
                },
            )
        })
        .map_err(|e| format!("entry {seq} does not decode: {e}"))
}
