//! Property tests of format v2: batch signatures over a Merkle root and content keys
//! wrapped under per-epoch recipient keys. Each test that matters runs with warm
//! caches (a sibling envelope of the same batch opened first), since a cache that
//! skipped a check would only show there.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{T0, TestAgency, directory, sample_bulletin};
use liaison_core::crypto::{EpochSecret, SystemRng, sha256};
use liaison_core::envelope::epoch::{epoch_info, wrap_aad};
use liaison_core::envelope::{
    BatchSigner, EpochLimits, FORMAT_VERSION_BATCH, ReceiverEpochs, SenderEpochs, VerifiedRoots,
    seal_batch, seal_batched,
};
use liaison_core::{Bulletin, BulletinId, Error, Receiver, SealedEnvelope};
use liaison_proto::format::v1 as pb;
use proptest::prelude::*;
use prost::Message as _;

fn origin() -> TestAgency {
    TestAgency::numbered("NL-NP", 1)
}

fn recipients(n: usize) -> Vec<TestAgency> {
    (0..n)
        .map(|i| TestAgency::numbered(&format!("XA-R{i:02}"), 10 + i as u8))
        .collect()
}

fn bulletins(origin: &TestAgency, n: usize) -> Vec<Bulletin> {
    (0..n)
        .map(|_| sample_bulletin(&origin.id, BulletinId::new(T0)))
        .collect()
}

/// A receiving node's state: its caches, kept across envelopes.
#[derive(Default)]
struct Caches {
    roots: VerifiedRoots,
    epochs: ReceiverEpochs,
}

fn open_cached(
    envelope: &SealedEnvelope,
    me: &TestAgency,
    origin: &TestAgency,
    caches: Option<&Caches>,
) -> Result<Bulletin, Error> {
    let dir = directory(&[origin]);
    let receiver = Receiver {
        agency: &me.id,
        encryption_keys: std::slice::from_ref(&me.encryption),
        epochs: caches.map(|c| &c.epochs),
    };
    envelope
        .verify_origin_with(&dir, T0, caches.map(|c| &c.roots))?
        .open(receiver, T0)
}

fn reparse(envelope: &SealedEnvelope) -> SealedEnvelope {
    SealedEnvelope::decode(envelope.as_bytes().clone()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_batch_opens_for_every_recipient_with_and_without_caches(
        size in 1usize..=20, n in 1usize..=12,
    ) {
        let origin = origin();
        let recipients = recipients(n);
        let keys: Vec<_> = recipients.iter().map(TestAgency::recipient_key).collect();
        let sent = bulletins(&origin, size);
        let epochs = SenderEpochs::default();
        let envelopes = seal_batch(&sent, &origin.signing, &keys, &epochs, &mut SystemRng).unwrap();
        prop_assert_eq!(envelopes.len(), size);
        let caches = Caches::default();
        for (envelope, bulletin) in envelopes.iter().zip(&sent) {
            let received = reparse(envelope);
            prop_assert_eq!(received.format_version(), FORMAT_VERSION_BATCH);
            for me in [&recipients[0], &recipients[n - 1]] {
                prop_assert_eq!(&open_cached(&received, me, &origin, Some(&caches)).unwrap(), bulletin);
                prop_assert_eq!(&open_cached(&received, me, &origin, None).unwrap(), bulletin);
            }
        }
        // One root verified for the whole batch; one epoch per recipient that opened.
        prop_assert_eq!(caches.roots.len(), 1);
        prop_assert_eq!(caches.epochs.cached(), if n == 1 { 1 } else { 2 });
        prop_assert_eq!(epochs.live(), n);
    }

    #[test]
    fn any_single_bit_flip_is_refused_even_with_warm_caches(
        bit in any::<prop::sample::Index>(), size in 2usize..6, n in 1usize..4,
    ) {
        let origin = origin();
        let recipients = recipients(n);
        let keys: Vec<_> = recipients.iter().map(TestAgency::recipient_key).collect();
        let envelopes = seal_batch(
            &bulletins(&origin, size), &origin.signing, &keys, &SenderEpochs::default(), &mut SystemRng,
        ).unwrap();
        let caches = Caches::default();
        // Warm both caches with the batch's first envelope.
        open_cached(&envelopes[0], &recipients[0], &origin, Some(&caches)).unwrap();
        let mut bytes = envelopes[1].as_bytes().to_vec();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let outcome = SealedEnvelope::decode(Bytes::from(bytes))
            .and_then(|tampered| open_cached(&tampered, &recipients[0], &origin, Some(&caches)));
        prop_assert!(outcome.is_err(), "flipping bit {} was accepted", bit);
    }

    #[test]
    fn a_non_recipient_cannot_open(n in 1usize..8) {
        let origin = origin();
        let all = recipients(n + 1);
        let (outsider, recipients) = all.split_last().unwrap();
        let keys: Vec<_> = recipients.iter().map(TestAgency::recipient_key).collect();
        let envelopes = seal_batch(
            &bulletins(&origin, 2), &origin.signing, &keys, &SenderEpochs::default(), &mut SystemRng,
        ).unwrap();
        prop_assert_eq!(
            open_cached(&envelopes[0], outsider, &origin, Some(&Caches::default())),
            Err(Error::NotARecipient(outsider.id.clone()))
        );
    }
}

#[test]
fn a_forged_inclusion_proof_is_refused() {
    let origin = origin();
    let me = &recipients(1)[0];
    let keys = [me.recipient_key()];
    let epochs = SenderEpochs::default();
    let envelopes = seal_batch(
        &bulletins(&origin, 5),
        &origin.signing,
        &keys,
        &epochs,
        &mut SystemRng,
    )
    .unwrap();
    let caches = Caches::default();
    open_cached(&envelopes[0], me, &origin, Some(&caches)).unwrap();
    let parts = |e: &SealedEnvelope| pb::SealedEnvelope::decode(e.as_bytes().clone()).unwrap();
    let rebuilt = |p: pb::SealedEnvelope| SealedEnvelope::decode(p.encode_to_vec().into());

    // Another leaf's genuine proof.
    let mut borrowed = parts(&envelopes[2]);
    borrowed.batch = parts(&envelopes[3]).batch;
    let borrowed = rebuilt(borrowed).unwrap();
    assert_eq!(
        open_cached(&borrowed, me, &origin, Some(&caches)),
        Err(Error::BadInclusionProof)
    );

    // A path hash replaced.
    let mut altered = parts(&envelopes[2]);
    let batch = altered.batch.as_mut().unwrap();
    batch.path[0] = Bytes::from(vec![7u8; 32]);
    assert_eq!(
        open_cached(&rebuilt(altered).unwrap(), me, &origin, Some(&caches)),
        Err(Error::BadInclusionProof)
    );

    // An envelope from another batch, presented as a member of this signed batch:
    // its leaf is not in the tree, whatever proof it claims.
    let other = seal_batch(
        &bulletins(&origin, 1),
        &origin.signing,
        &keys,
        &epochs,
        &mut SystemRng,
    )
    .unwrap();
    let mut grafted = parts(&other[0]);
    let donor = parts(&envelopes[2]);
    grafted.batch = donor.batch;
    grafted.signature = donor.signature;
    assert_eq!(
        open_cached(&rebuilt(grafted).unwrap(), me, &origin, Some(&caches)),
        Err(Error::BadInclusionProof)
    );

    // A self-made batch of one, claiming the origin's signature from a real batch.
    let mut lone = parts(&other[0]);
    let real = parts(&envelopes[0]);
    lone.signature = real.signature;
    assert_eq!(
        open_cached(&rebuilt(lone).unwrap(), me, &origin, Some(&caches)),
        Err(Error::BadSignature)
    );

    // Structure: a proof longer than any tree, a size of zero, an index past the end.
    for tamper in [
        |b: &mut pb::BatchInclusion| b.path = vec![Bytes::from(vec![0u8; 32]); 17],
        |b: &mut pb::BatchInclusion| b.tree_size = 0,
        |b: &mut pb::BatchInclusion| b.leaf_index = b.tree_size,
        |b: &mut pb::BatchInclusion| b.root = Bytes::from_static(b"short"),
    ] {
        let mut p = parts(&envelopes[1]);
        tamper(p.batch.as_mut().unwrap());
        assert!(matches!(rebuilt(p), Err(Error::Malformed(_))));
    }
    // A v2 envelope without its batch, and a v1 envelope with one.
    let mut missing = parts(&envelopes[1]);
    missing.batch = None;
    assert!(matches!(rebuilt(missing), Err(Error::Malformed(_))));
}

#[test]
fn an_epoch_key_for_one_recipient_opens_nothing_for_another() {
    let origin = origin();
    let recipients = recipients(2);
    let (alice, bob) = (&recipients[0], &recipients[1]);
    let keys: Vec<_> = recipients.iter().map(TestAgency::recipient_key).collect();
    let envelopes = seal_batch(
        &bulletins(&origin, 1),
        &origin.signing,
        &keys,
        &SenderEpochs::default(),
        &mut SystemRng,
    )
    .unwrap();
    let parts = pb::SealedEnvelope::decode(envelopes[0].as_bytes().clone()).unwrap();
    let wraps = pb::KeyWraps::decode(parts.wraps.clone()).unwrap().wraps;
    let header = envelopes[0].header();

    // Alice derives her epoch key, as she legitimately can.
    let alice_kek = alice
        .encryption
        .accept_epoch(
            &wraps[0].encapsulated_key,
            &epoch_info(&wraps[0].epoch_id, &origin.id, &alice.id),
        )
        .unwrap();
    let alice_aad = wrap_aad(
        &header.bulletin_id,
        &alice.id,
        &wraps[0].epoch_id,
        &sha256(&parts.header),
    );
    assert!(
        alice_kek
            .unwrap(&wraps[0].wrapped_content_key, &alice_aad)
            .is_ok()
    );

    // It does not unwrap Bob's content key, under Bob's binding or her own.
    let bob_aad = wrap_aad(
        &header.bulletin_id,
        &bob.id,
        &wraps[1].epoch_id,
        &sha256(&parts.header),
    );
    assert!(
        alice_kek
            .unwrap(&wraps[1].wrapped_content_key, &bob_aad)
            .is_err()
    );
    assert!(
        alice_kek
            .unwrap(&wraps[1].wrapped_content_key, &alice_aad)
            .is_err()
    );

    // Alice cannot derive Bob's epoch key from his encapsulation either.
    let as_bob = alice.encryption.accept_epoch(
        &wraps[1].encapsulated_key,
        &epoch_info(&wraps[1].epoch_id, &origin.id, &bob.id),
    );
    assert!(
        as_bob
            .map(|k| k.unwrap(&wraps[1].wrapped_content_key, &bob_aad).is_err())
            .unwrap_or(true)
    );

    // A random key-encryption key opens nothing.
    let random = EpochSecret::from_bytes([9u8; 32]);
    assert!(
        random
            .unwrap(&wraps[0].wrapped_content_key, &alice_aad)
            .is_err()
    );
}

#[test]
fn epochs_end_at_their_count_and_age_and_receivers_follow() {
    let origin = origin();
    let me = &recipients(1)[0];
    let keys = [me.recipient_key()];
    let epochs = SenderEpochs::new(EpochLimits {
        max_age: Duration::from_secs(600),
        max_wraps: 3,
    });
    let envelopes = seal_batch(
        &bulletins(&origin, 7),
        &origin.signing,
        &keys,
        &epochs,
        &mut SystemRng,
    )
    .unwrap();
    let epoch_of = |e: &SealedEnvelope| {
        let parts = pb::SealedEnvelope::decode(e.as_bytes().clone()).unwrap();
        pb::KeyWraps::decode(parts.wraps).unwrap().wraps[0]
            .epoch_id
            .clone()
    };
    let ids: Vec<_> = envelopes.iter().map(epoch_of).collect();
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[2], ids[3]);
    assert_eq!(ids[3], ids[5]);
    assert_ne!(ids[5], ids[6]);
    let caches = Caches::default();
    for e in &envelopes {
        open_cached(e, me, &origin, Some(&caches)).unwrap();
    }
    assert_eq!(caches.epochs.cached(), 3);

    // An epoch past its age is dropped, and the next seal starts another.
    let short = SenderEpochs::new(EpochLimits {
        max_age: Duration::ZERO,
        max_wraps: 100,
    });
    let a = seal_batch(
        &bulletins(&origin, 1),
        &origin.signing,
        &keys,
        &short,
        &mut SystemRng,
    )
    .unwrap();
    short.expire();
    assert_eq!(short.live(), 0);
    let b = seal_batch(
        &bulletins(&origin, 1),
        &origin.signing,
        &keys,
        &short,
        &mut SystemRng,
    )
    .unwrap();
    assert_ne!(epoch_of(&a[0]), epoch_of(&b[0]));
}

#[test]
fn a_cached_root_does_not_outlive_the_origins_trust() {
    let origin = origin();
    let me = &recipients(1)[0];
    let keys = [me.recipient_key()];
    let envelopes = seal_batch(
        &bulletins(&origin, 2),
        &origin.signing,
        &keys,
        &SenderEpochs::default(),
        &mut SystemRng,
    )
    .unwrap();
    let caches = Caches::default();
    open_cached(&envelopes[0], me, &origin, Some(&caches)).unwrap();
    // The same root, but the origin is no longer in the directory.
    let empty = directory(&[]);
    assert_eq!(
        envelopes[1]
            .verify_origin_with(&empty, T0, Some(&caches.roots))
            .map(|_| ()),
        Err(Error::UnknownOrigin(origin.id.clone()))
    );
}

#[test]
fn concurrent_sealers_share_signatures_and_every_envelope_verifies() {
    let origin = Arc::new(origin());
    let me = Arc::new(recipients(1).remove(0));
    let epochs = Arc::new(SenderEpochs::default());
    let signer = Arc::new(BatchSigner::new(64));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (origin, me, epochs, signer) =
                (origin.clone(), me.clone(), epochs.clone(), signer.clone());
            std::thread::spawn(move || {
                (0..40)
                    .map(|_| {
                        let bulletin = sample_bulletin(&origin.id, BulletinId::new(T0));
                        let (envelope, _) = seal_batched(
                            &bulletin,
                            &origin.signing,
                            &[me.recipient_key()],
                            &epochs,
                            &signer,
                            &mut SystemRng,
                        )
                        .unwrap();
                        (bulletin, envelope)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let sealed: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(sealed.len(), 320);
    let caches = Caches::default();
    for (bulletin, envelope) in &sealed {
        assert_eq!(
            &open_cached(&reparse(envelope), &me, &origin, Some(&caches)).unwrap(),
            bulletin
        );
    }
    // Every envelope verified under at most one signature check each; one epoch.
    assert!(caches.roots.len() <= sealed.len());
    assert_eq!(epochs.live(), 1);
    assert_eq!(caches.epochs.cached(), 1);
}
