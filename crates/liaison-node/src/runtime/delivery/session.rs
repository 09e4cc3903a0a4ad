//! One connection's worth of delivery to a partner: keep up to [`DELIVERY_WINDOW`]
//! envelopes in flight, in outbox order, and settle each receipt as it comes back.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use liaison_core::crypto::VerifyingKey;
use liaison_core::receipt::{Outcome, SignedReceipt};
use liaison_core::{AgencyId, BulletinId};
use liaison_proto::format::v1 as fmt;
use liaison_proto::v1 as pb;
use liaison_store::{Effect, EntryKind, PendingAppend};
use prost::Message as _;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use super::exchange::exchange;
use super::{DELIVERY_WINDOW, DeliveryError, IDLE_POLL, connect, identity_pending};
use crate::node::journal::{self, LogEvent};
use crate::node::state::NodeState;
use crate::trust::tls::NodeCertificate;

/// An envelope on the wire, waiting for its receipt.
struct InFlight {
    published_seq: u64,
    bulletin_id: Option<BulletinId>,
    envelope_sha256: [u8; 32],
    /// For a recall this node relays: the partner it came from, who gets the purge
    /// receipt back.
    relay_purge_to: Option<AgencyId>,
    /// When it went on the stream (for the delivery-latency metric).
    sent: std::time::Instant,
}

/// The state of one delivery stream.
struct Session<'a> {
    state: &'a Arc<NodeState>,
    partner: &'a AgencyId,
    partner_key: VerifyingKey,
    outgoing: mpsc::Sender<pb::SealedBulletin>,
    /// For pushing attachments that travel beside their envelopes.
    client: PeerClient,
    in_flight: VecDeque<InFlight>,
    /// The last outbox entry sent on this stream.
    cursor: u64,
    /// Receipts submitted to the log and not yet known durable.
    storing: Vec<PendingAppend>,
    /// Whether a receipt verified on this stream (the partner works).
    progressed: bool,
}

/// Delivers until the outbox is drained (`Ok`), shutdown (`Ok`), or a failure.
pub(super) async fn deliver(
    state: &Arc<NodeState>,
    certificate: &NodeCertificate,
    partner: &AgencyId,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), DeliveryError> {
    let mut client = connect(&state.partners, certificate, partner).await?;
    // Each session starts by comparing logs: anything the partner receipted and lost
    // is queued again before the stream opens.
    exchange(state, &mut client, partner).await?;
    let (outgoing, rx) = mpsc::channel(DELIVERY_WINDOW);
    let mut receipts = client
        .deliver(ReceiverStream::new(rx))
        .await
        .map_err(|s| refused(partner, &s))?
        .into_inner();
    state.set_connected(partner, true);
    // Connected again: the last failure is history.
    state.set_delivery_error(partner, None);
    let mut session = Session::new(state, partner, outgoing, client.clone())?;
    let waker = state.waker(partner);
    loop {
        // A key rotation since this stream opened: the partner must hold the new
        // identity before it sees anything signed with the new key, so stop sending,
        // let what is in flight be receipted, and go push the identity first.
        let identity_pending = identity_pending(state, partner);
        if !identity_pending {
            session.fill_window().await?;
        }
        if session.in_flight.is_empty() {
            session.receipts_durable().await?;
            if identity_pending {
                return Ok(());
            }
            tokio::select! {
                _ = waker.notified() => continue,
                _ = tokio::time::sleep(IDLE_POLL) => {
                    if session.drained()? {
                        return Ok(());
                    }
                    continue;
                }
                _ = shutdown.changed() => return Ok(()),
            }
        }
        let message = tokio::select! {
            m = receipts.message() => m,
            _ = waker.notified(), if session.in_flight.len() < DELIVERY_WINDOW => continue,
            _ = shutdown.changed() => return Ok(()),
        };
        match message {
            Ok(Some(signed)) => session.settle(signed).await?,
            Ok(None) => return Err(DeliveryError::StreamClosed(partner.clone())),
            Err(status) => return Err(refused(partner, &status)),
        }
    }
}

fn refused(partner: &AgencyId, status: &tonic::Status) -> DeliveryError {
    DeliveryError::Refused {
        partner: partner.clone(),
        call: "the delivery stream".into(),
        message: status.message().to_owned(),
    }
}

impl<'a> Session<'a> {
    fn new(
        state: &'a Arc<NodeState>,
        partner: &'a AgencyId,
        outgoing: mpsc::Sender<pb::SealedBulletin>,
        client: PeerClient,
    ) -> Result<Self, DeliveryError> {
        let partner_key = state
            .partners
            .snapshot()
            .get(partner)
            .map(|p| p.identity.document().signing_key.key)
            .ok_or_else(|| DeliveryError::NoLongerAPartner(partner.clone()))?;
        Ok(Self {
            state,
            partner,
            partner_key,
            outgoing,
            client,
            in_flight: VecDeque::new(),
            cursor: 0,
            storing: Vec::new(),
            progressed: false,
        })
    }

    /// Sends outbox entries after the cursor, in log order, until the window is full.
    async fn fill_window(&mut self) -> Result<(), DeliveryError> {
        let room = DELIVERY_WINDOW.saturating_sub(self.in_flight.len());
        if room == 0 {
            return Ok(());
        }
        for seq in self.state.log.outbox(self.partner, self.cursor, room)? {
            let Some(queued) = queued_message(self.state, seq, self.partner)? else {
                // Erased while queued (a recall that raced the queue): nothing is left
                // to send, and it must not hold up what follows.
                let withdrawn = LogEvent::ErasedBeforeSending {
                    partner: self.partner.clone(),
                    seq,
                }
                .entry()
                .with_effect(Effect::Dequeue {
                    partner: self.partner.clone(),
                    published_seq: seq,
                });
                // Grouped with the receipts' appends, not flushed here on the async
                // thread; if it is lost in a crash the next session does it again.
                self.storing.push(self.state.log.submit(vec![withdrawn]));
                self.cursor = seq;
                continue;
            };
            let (bulletin_id, message) = (queued.bulletin_id, queued.message);
            // A bulletin's attachments that travel beside it go first: the partner
            // accepts the envelope only once they are in place.
            if let Some(id) = &bulletin_id
                && (!message.envelope.is_empty() || !message.forwarded.is_empty())
            {
                push_attachments(self.state, &mut self.client, self.partner, id).await?;
            }
            let sent = [
                &message.envelope,
                &message.recall,
                &message.forwarded,
                &message.notice,
            ]
            .into_iter()
            .find(|b| !b.is_empty())
            .cloned()
            .unwrap_or_default();
            self.in_flight.push_back(InFlight {
                published_seq: seq,
                bulletin_id,
                envelope_sha256: liaison_core::crypto::sha256(&sent),
                relay_purge_to: queued.relay_purge_to,
                sent: std::time::Instant::now(),
            });
            self.outgoing
                .send(message)
                .await
                .map_err(|_| DeliveryError::StreamClosed(self.partner.clone()))?;
            self.cursor = seq;
        }
        Ok(())
    }

    /// Whether nothing after the cursor is queued any more.
    fn drained(&self) -> Result<bool, DeliveryError> {
        Ok(self
            .state
            .log
            .outbox(self.partner, self.cursor, 1)?
            .is_empty())
    }

    /// Waits until every stored receipt is durable.
    async fn receipts_durable(&mut self) -> Result<(), DeliveryError> {
        for pending in self.storing.drain(..) {
            pending.durable().await?;
        }
        Ok(())
    }

    /// Verifies the receipt for the oldest envelope in flight and stores it, taking the
    /// bulletin out of the outbox in the same batch, unless the partner's refusal is
    /// transient: then the bulletin stays queued and the worker retries later.
    async fn settle(&mut self, signed: fmt::SignedReceipt) -> Result<(), DeliveryError> {
        let bad = |problem: String| DeliveryError::BadReceipt {
            partner: self.partner.clone(),
            problem,
        };
        let expected = self
            .in_flight
            .pop_front()
            .ok_or_else(|| bad("a receipt for nothing in flight".into()))?;
        let bytes = Bytes::from(signed.encode_to_vec());
        let (key, state) = (self.partner_key, self.state.clone());
        // The rest of a batch whose signature is verified costs only hashing, done
        // here; an Ed25519 verification goes to the blocking pool.
        let receipt = match SignedReceipt::verify_if_cached(&bytes, &key, &state.envelopes.roots) {
            Some(verified) => verified,
            None => {
                tokio::task::spawn_blocking(move || {
                    SignedReceipt::verify_with(bytes, &key, Some(&state.envelopes.roots))
                })
                .await?
            }
        }
        .map_err(|e| bad(format!("it does not verify: {e}")))?;
        let r = receipt.receipt();
        if r.envelope_sha256 != expected.envelope_sha256 || &r.receiver != self.partner {
            return Err(bad("it is for a different envelope".into()));
        }
        if !self.progressed {
            self.progressed = true;
            self.state.partner_reached(self.partner);
        }
        // The receipt was signed moments ago by the partner's clock: the difference
        // estimates the partner's clock skew, within a round trip.
        let skew = r.time.0.saturating_sub(self.state.clock.now().0);
        self.state.set_clock_skew(self.partner, skew);
        self.state
            .metrics
            .delivered(self.partner, &r.outcome, expected.sent.elapsed());
        if let Outcome::Rejected { code, reason } = &r.outcome {
            if code.is_transient() {
                return Err(DeliveryError::NotYet {
                    partner: self.partner.clone(),
                    code: *code,
                    reason: reason.clone(),
                });
            }
            tracing::warn!(partner = %self.partner, bulletin = ?expected.bulletin_id.map(|b| b.to_string()), %code, %reason, "partner rejected a bulletin");
        }
        let mut entry =
            journal::receipt_entry(receipt.to_bytes(), expected.bulletin_id, self.partner)
                .with_effect(Effect::Dequeue {
                    partner: self.partner.clone(),
                    published_seq: expected.published_seq,
                });
        if let (Outcome::Accepted { log_seq } | Outcome::Purged { log_seq }, Some(hash)) =
            (&r.outcome, r.log_hash)
        {
            // The partner's signed word on its log up to this entry: checked at every
            // checkpoint exchange, and what is delivered again if it is ever lost.
            entry = entry.with_effect(Effect::Delivered {
                partner: self.partner.clone(),
                receiver_seq: *log_seq,
                receiver_hash: hash,
                queued_seq: expected.published_seq,
            });
        }
        if let (Outcome::Purged { .. }, Some(upstream)) = (&r.outcome, &expected.relay_purge_to) {
            // A recall relayed along the chain: its purge receipt goes back, signed by
            // the partner that purged, to whoever sent us the recall.
            entry = entry.with_effect(Effect::Enqueue(upstream.clone()));
            self.state.wake(upstream);
        }
        self.storing.push(self.state.log.submit(vec![entry]));
        if self.storing.len() >= DELIVERY_WINDOW {
            self.receipts_durable().await?;
        }
        Ok(())
    }
}

type PeerClient = pb::peer_client::PeerClient<tonic::transport::Channel>;

/// Bytes per pushed part.
const PART_BYTES: usize = 1024 * 1024;

/// Pushes every attachment file this node holds for `bulletin` to `partner`, each read
/// from disk a part at a time (never whole in memory).
async fn push_attachments(
    state: &NodeState,
    client: &mut PeerClient,
    partner: &AgencyId,
    bulletin: &BulletinId,
) -> Result<(), DeliveryError> {
    let files = state.log.attachments()?.of_bulletin(bulletin)?;
    for file in files {
        let sha256 = data_encoding::HEXLOWER
            .decode(file.digest_hex.as_bytes())
            .map_err(|e| DeliveryError::Store(format!("{}: {e}", file.path.display())))?;
        let first = pb::AttachmentPart {
            bulletin_id: Bytes::copy_from_slice(&bulletin.to_bytes()),
            index: u32::try_from(file.index).unwrap_or(u32::MAX),
            ciphertext_len: file.len,
            ciphertext_sha256: sha256.into(),
            data: Bytes::new(),
        };
        let (tx, rx) = mpsc::channel(4);
        let path = file.path.clone();
        // The reader stops when the stream is dropped (the send fails).
        let reader = tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let mut input = tokio::fs::File::open(&path).await?;
            let mut part = first;
            loop {
                let mut buf = vec![0u8; PART_BYTES];
                let n = input.read(&mut buf).await?;
                buf.truncate(n);
                part.data = buf.into();
                if tx.send(part).await.is_err() || n == 0 {
                    return Ok::<(), std::io::Error>(());
                }
                part = pb::AttachmentPart::default();
            }
        });
        let held = client.push_attachment(ReceiverStream::new(rx)).await;
        reader.abort();
        let held = held.map_err(|status| DeliveryError::Refused {
            partner: partner.clone(),
            call: format!(
                "PushAttachment ({} attachment {})",
                bulletin,
                file.index + 1
            ),
            message: status.message().to_owned(),
        })?;
        tracing::debug!(%partner, %bulletin, index = file.index, already_held = held.get_ref().already_held, "attachment pushed");
    }
    Ok(())
}

/// What an outbox entry sends to one partner.
struct Queued {
    bulletin_id: Option<BulletinId>,
    message: pb::SealedBulletin,
    relay_purge_to: Option<AgencyId>,
}

/// What outbox entry `seq` sends to `partner`: a published envelope, a forwarded one
/// (or, to the originator, the notice of that forward), a recall (ours, or one we
/// relay), a purge receipt relayed to the originator, or our release grant to a holder.
/// `None` when the entry's body was erased after it was queued.
fn queued_message(
    state: &NodeState,
    seq: u64,
    partner: &AgencyId,
) -> Result<Option<Queued>, DeliveryError> {
    let entry = state
        .log
        .get(seq)?
        .ok_or_else(|| DeliveryError::Store(format!("the outbox names missing entry {seq}")))?;
    let Some(body) = state.log.body(&entry)? else {
        return Ok(None);
    };
    let notice = |notice| pb::SealedBulletin {
        notice: pb::ChainNotice {
            notice: Some(notice),
        }
        .encode_to_vec()
        .into(),
        ..Default::default()
    };
    let (message, relay_purge_to) = match entry.kind {
        // A recall entry tagged with a partner is one received from it: we relay it.
        EntryKind::Recall => (
            pb::SealedBulletin {
                recall: body,
                ..Default::default()
            },
            entry.agency.clone(),
        ),
        EntryKind::Receipt => (notice(pb::chain_notice::Notice::PurgeReceipt(body)), None),
        EntryKind::Acknowledged => {
            let signed = crate::ops::bulletins::acknowledgement_bytes(state, &entry)
                .map_err(|e| DeliveryError::Store(e.to_string()))?
                .ok_or_else(|| {
                    DeliveryError::Store(format!("entry {seq} is queued but holds nothing"))
                })?;
            (
                notice(pb::chain_notice::Notice::Acknowledgement(signed)),
                None,
            )
        }
        EntryKind::Onward => {
            let grant = crate::ops::bulletins::grant_bytes(state, &entry)
                .map_err(|e| DeliveryError::Store(e.to_string()))?
                .ok_or_else(|| {
                    DeliveryError::Store(format!(
                        "entry {seq} is queued but holds no release grant"
                    ))
                })?;
            (notice(pb::chain_notice::Notice::ReleaseGrant(grant)), None)
        }
        _ => {
            let record = fmt::PublishedRecord::decode(body)
                .map_err(|e| DeliveryError::Store(format!("entry {seq} does not decode: {e}")))?;
            let message = if !record.forwarded {
                pb::SealedBulletin {
                    envelope: record.envelope,
                    ..Default::default()
                }
            } else if liaison_core::forward::ForwardedEnvelope::decode(record.envelope.clone())
                .is_ok_and(|f| f.recipient() == partner)
            {
                pb::SealedBulletin {
                    forwarded: record.envelope,
                    ..Default::default()
                }
            } else {
                notice(pb::chain_notice::Notice::Forwarded(record.envelope))
            };
            (message, None)
        }
    };
    Ok(Some(Queued {
        bulletin_id: entry.bulletin_id,
        message,
        relay_purge_to,
    }))
}
