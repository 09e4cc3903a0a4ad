//! A node reads both envelope formats from a partner: format v2 (batch signature,
//! epoch keys), which nodes write, and format v1, which older partners and old logs
//! hold. A v2 envelope whose inclusion proof was swapped is refused with its own
//! reason, even after the batch's root is in the node's verified-root cache.

use bytes::Bytes;
use liaison_core::crypto::SystemRng;
use liaison_core::envelope::{SenderEpochs, seal_batch};
use liaison_core::receipt::{Outcome, RejectCode};
use liaison_core::{RecipientKey, SealedEnvelope, UnixMillis};
use liaison_proto::format::v1 as pb;
use liaison_tests::wire::{PartnerLine, bulletin, deliver_receipt, partner_line, seal_envelope};
use prost::Message as _;

#[test]
fn a_partner_delivering_v2_batches_and_v1_envelopes_is_read_and_a_swapped_proof_is_refused() {
    let PartnerLine {
        mut nodes,
        runtime,
        mut client,
        dir: _dir,
    } = partner_line();
    let (a, b) = (&nodes[0], &nodes[1]);
    let (a_node, b_node) = (a.node(), b.node());
    let now = UnixMillis::now();
    let batch: Vec<_> = (0..3)
        .map(|_| bulletin(&b_node, "amber", &[], now))
        .collect();
    let to_a = RecipientKey {
        agency: a_node.config().agency.clone(),
        key: a_node.identity().document().encryption_key.key.clone(),
    };
    let v2 = seal_batch(
        &batch,
        &b_node.keys().signing,
        &[to_a],
        &SenderEpochs::default(),
        &mut SystemRng,
    )
    .unwrap();
    let accepted = |outcome: &Outcome| matches!(outcome, Outcome::Accepted { .. });

    // The first envelope of the batch: its root is verified and cached.
    let first = deliver_receipt(&runtime, &mut client, v2[0].as_bytes().clone());
    assert!(accepted(&first.receipt().outcome), "{:?}", first.receipt());

    // The second, carrying the third's genuine proof: refused by its proof.
    let mut swapped = pb::SealedEnvelope::decode(v2[1].as_bytes().clone()).unwrap();
    swapped.batch = pb::SealedEnvelope::decode(v2[2].as_bytes().clone())
        .unwrap()
        .batch;
    let refused = deliver_receipt(&runtime, &mut client, Bytes::from(swapped.encode_to_vec()));
    match &refused.receipt().outcome {
        Outcome::Rejected { code, reason } => {
            assert_eq!(*code, RejectCode::BadSignature);
            assert!(reason.contains("inclusion proof"), "{reason}");
        }
        other => panic!("a swapped proof was {other:?}"),
    }

    // The rest of the batch, and a v1 envelope from the same partner.
    for envelope in [v2[1].as_bytes().clone(), v2[2].as_bytes().clone()] {
        let r = deliver_receipt(&runtime, &mut client, envelope);
        assert!(accepted(&r.receipt().outcome), "{:?}", r.receipt());
    }
    let v1 = seal_envelope(&b_node.keys().signing, &b_node, &a_node);
    assert_eq!(
        SealedEnvelope::decode(v1.clone()).unwrap().format_version(),
        1
    );
    let r = deliver_receipt(&runtime, &mut client, v1);
    assert!(accepted(&r.receipt().outcome), "{:?}", r.receipt());

    // All four are in the inbox and read back, whatever their format.
    let inbox = a.inbox();
    assert_eq!(inbox.len(), 4);
    for summary in &inbox {
        let detail = a.show(summary.id.parse().unwrap());
        assert_eq!(detail.body, "-", "{summary:?}");
        assert_eq!(detail.summary.title, "sealed by hand");
    }
    nodes[0].stop();
    assert!(nodes[0].verify_log() > 0);
}

#[test]
fn what_a_node_sends_is_format_v2_and_a_burst_shares_batch_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = liaison_tests::federation(dir.path(), &["NL-NP", "DE-BKA"]);
    for node in &mut nodes {
        node.start();
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let ids: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|i| scope.spawn(move || a.try_send(&[b], &format!("burst {i}")).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    liaison_tests::wait_until("B's inbox to fill", liaison_tests::LONG, || {
        b.inbox().len() == ids.len()
    });
    let (batches, leaves) = a.state().envelopes.signer.signed_so_far();
    assert_eq!(leaves, 8, "every envelope went through the batch signer");
    assert!((1..=8).contains(&batches));
    for id in &ids {
        let stored = a.state().log.entries_for_bulletin(id).unwrap();
        let published = stored
            .iter()
            .find(|e| e.kind == liaison_store::EntryKind::Published)
            .unwrap();
        let body = a.state().log.body(published).unwrap().unwrap();
        let record = pb::PublishedRecord::decode(body).unwrap();
        let envelope = SealedEnvelope::decode(record.envelope).unwrap();
        assert_eq!(
            envelope.format_version(),
            liaison_core::envelope::FORMAT_VERSION_BATCH
        );
    }
    for node in &mut nodes {
        node.stop();
    }
}
