//! Property tests of the sealed envelope.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use bytes::Bytes;
use common::{T0, TestAgency, directory, sample_bulletin};
use liaison_core::crypto::{self, SystemRng, domain};
use liaison_core::release::SignedReleaseGrant;
use liaison_core::{
    Bulletin, BulletinContent, BulletinId, Entity, Error, Marking, Receiver, SealedEnvelope, Tlp,
    open, seal_for_recipients,
};
use liaison_proto::format::v1 as pb;
use proptest::prelude::*;
use prost::Message as _;

const AGENCIES: [&str; 32] = [
    "DE-BKA",
    "RO-DIICOT",
    "FR-OCRTEH",
    "IT-SCO",
    "ES-UCRIF",
    "BE-FGP",
    "AT-BK",
    "PL-CBSP",
    "CZ-NCOZ",
    "SK-NAKA",
    "HU-NNI",
    "BG-GDBOP",
    "GR-HP",
    "PT-PJ",
    "IE-GNPSB",
    "SE-NOA",
    "FI-KRP",
    "DK-NSK",
    "NO-KRIPOS",
    "LT-LCPB",
    "LV-SP",
    "EE-KAPO",
    "SI-NPU",
    "HR-PNUSKOK",
    "RS-SBPOK",
    "AL-ASP",
    "UA-NPU",
    "MD-IGP",
    "CH-FEDPOL",
    "GB-NCA",
    "US-HSI",
    "TR-KOM",
];

fn origin() -> TestAgency {
    TestAgency::numbered("NL-NP", 1)
}

fn recipients(n: usize) -> Vec<TestAgency> {
    AGENCIES[..n]
        .iter()
        .enumerate()
        .map(|(i, a)| TestAgency::numbered(a, 10 + i as u8))
        .collect()
}

fn open_as(
    envelope: &SealedEnvelope,
    me: &TestAgency,
    origin: &TestAgency,
) -> Result<Bulletin, Error> {
    open(
        envelope,
        Receiver {
            agency: &me.id,
            encryption_keys: std::slice::from_ref(&me.encryption),
            epochs: None,
        },
        &directory(&[origin]),
        T0,
    )
}

fn entity() -> impl Strategy<Value = Entity> {
    prop_oneof![
        (
            "[A-Za-z][A-Za-z ]{0,39}",
            "[0-9-]{0,10}",
            "[A-Z]{0,2}",
            prop::collection::vec("[a-z]{1,10}", 0..3)
        )
            .prop_map(
                |(full_name, date_of_birth, nationality, aliases)| Entity::Person {
                    full_name,
                    date_of_birth,
                    nationality,
                    aliases,
                    identifiers: vec![],
                }
            ),
        "\\+[0-9]{6,14}".prop_map(|number| Entity::Phone { number }),
        ("[A-Z0-9-]{1,10}", -90.0..90.0f64, -180.0..180.0f64).prop_map(
            |(name, latitude, longitude)| {
                Entity::Location {
                    name,
                    latitude,
                    longitude,
                }
            }
        ),
        ("[A-Z]{2}[0-9]{10,20}", ".{0,20}").prop_map(|(identifier, institution)| Entity::Account {
            identifier,
            institution
        }),
    ]
}

fn bulletin() -> impl Strategy<Value = Bulletin> {
    (
        "[a-z]{1,10}(\\.[a-z]{1,10}){0,3}",
        0usize..5,
        "\\PC{1,100}",
        "\\PC{0,2000}",
        prop::collection::vec(entity(), 0..6),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 0..3),
        1i64..10_000,
    )
        .prop_filter("title must not be blank", |(_, _, title, ..)| {
            !title.trim().is_empty()
        })
        .prop_map(
            |(category, tlp, title, body, entities, files, days)| Bulletin {
                thread: None,
                request: None,
                id: BulletinId::new(T0),
                origin: "NL-NP".parse().unwrap(),
                created: T0,
                expires: T0.plus_days(days),
                marking: Marking::new(category.parse().unwrap(), Tlp::ALL[tlp], vec![]).unwrap(),
                content: BulletinContent {
                    title,
                    body,
                    entities,
                    attachments: files
                        .into_iter()
                        .enumerate()
                        .map(|(i, data)| liaison_core::Attachment {
                            file_name: format!("evidence-{i}.bin"),
                            media_type: "application/octet-stream".into(),
                            data: data.into(),
                            streamed: None,
                        })
                        .collect(),
                    references: vec![],
                },
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn seal_open_round_trip(bulletin in bulletin(), n in 1usize..=32) {
        let origin = origin();
        let recipients = recipients(n);
        let keys: Vec<_> = recipients.iter().map(TestAgency::recipient_key).collect();
        let envelope = seal_for_recipients(&bulletin, &origin.signing, &keys, &mut SystemRng).unwrap();
        let received = SealedEnvelope::decode(envelope.as_bytes().clone()).unwrap();
        // Every recipient opens the same bulletin; checking first, middle and last keeps
        // the run time bounded at 32 recipients.
        for me in [&recipients[0], &recipients[n / 2], &recipients[n - 1]] {
            prop_assert_eq!(&open_as(&received, me, &origin).unwrap(), &bulletin);
        }
    }

    #[test]
    fn any_single_bit_flip_is_refused(bit in any::<prop::sample::Index>(), n in 1usize..4) {
        let origin = origin();
        let recipients = recipients(n);
        let keys: Vec<_> = recipients.iter().map(TestAgency::recipient_key).collect();
        let bulletin = sample_bulletin(&origin.id, BulletinId::new(T0));
        let envelope = seal_for_recipients(&bulletin, &origin.signing, &keys, &mut SystemRng).unwrap();
        let mut bytes = envelope.as_bytes().to_vec();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let outcome = SealedEnvelope::decode(Bytes::from(bytes))
            .and_then(|tampered| open_as(&tampered, &recipients[0], &origin));
        prop_assert!(outcome.is_err(), "flipping bit {} was accepted", bit);
    }

    #[test]
    fn a_non_recipient_cannot_open(n in 1usize..8) {
        let origin = origin();
        let all = recipients(n + 1);
        let (outsider, recipients) = all.split_last().unwrap();
        let keys: Vec<_> = recipients.iter().map(TestAgency::recipient_key).collect();
        let bulletin = sample_bulletin(&origin.id, BulletinId::new(T0));
        let envelope = seal_for_recipients(&bulletin, &origin.signing, &keys, &mut SystemRng).unwrap();
        prop_assert_eq!(open_as(&envelope, outsider, &origin), Err(Error::NotARecipient(outsider.id.clone())));
    }

    #[test]
    fn a_recipient_cannot_rewrap_for_a_third_party(n in 1usize..6) {
        let origin = origin();
        let all = recipients(n + 1);
        let (third, recipients) = all.split_last().unwrap();
        let keys: Vec<_> = recipients.iter().map(TestAgency::recipient_key).collect();
        let bulletin = sample_bulletin(&origin.id, BulletinId::new(T0));
        let envelope = seal_for_recipients(&bulletin, &origin.signing, &keys, &mut SystemRng).unwrap();
        let traitor = &recipients[0];

        // The traitor recovers the content key as any recipient can...
        let parts = pb::SealedEnvelope::decode(envelope.as_bytes().clone()).unwrap();
        let wraps = pb::KeyWraps::decode(parts.wraps.clone()).unwrap();
        let info = |agency: &str| [domain::CONTENT_KEY, &bulletin.id.to_bytes(), agency.as_bytes()].concat();
        let content_key = traitor.encryption.unwrap_content_key(
            &wraps.wraps[0].encapsulated_key, &wraps.wraps[0].wrapped_content_key,
            &info(traitor.id.as_str()), &parts.header).unwrap();
        // ...and wraps it for the third party in its own slot, keeping the origin's
        // signed header (which does not name the third party).
        let (encapsulated, wrapped) = third.encryption.public_key()
            .wrap_content_key(&content_key, &info(third.id.as_str()), &parts.header, &mut SystemRng).unwrap();
        let mut forged_wraps = wraps.clone();
        forged_wraps.wraps[0].encapsulated_key = encapsulated.into();
        forged_wraps.wraps[0].wrapped_content_key = wrapped.into();
        let rewrapped = pb::SealedEnvelope { wraps: forged_wraps.encode_to_vec().into(), ..parts.clone() };
        let rewrapped = SealedEnvelope::decode(rewrapped.encode_to_vec().into()).unwrap();
        prop_assert_eq!(open_as(&rewrapped, third, &origin), Err(Error::BadSignature));

        // Passing the untouched envelope on: the signed recipient list does not name the
        // third party.
        prop_assert_eq!(open_as(&envelope, third, &origin), Err(Error::NotARecipient(third.id.clone())));

        // Adding the third party to the header breaks the origin's signature.
        let mut header = pb::EnvelopeHeader::decode(parts.header.clone()).unwrap();
        header.recipients.push(pb::Recipient {
            agency: third.id.to_string(),
            encryption_key_id: third.encryption.public_key().key_id().to_string(),
        });
        let mut more_wraps = wraps.clone();
        more_wraps.wraps.push(pb::KeyWrap {
            recipient: third.id.to_string(),
            encapsulated_key: forged_wraps.wraps[0].encapsulated_key.clone(),
            wrapped_content_key: forged_wraps.wraps[0].wrapped_content_key.clone(),
            epoch_id: Default::default(),
        });
        let widened = pb::SealedEnvelope {
            header: header.encode_to_vec().into(),
            wraps: more_wraps.encode_to_vec().into(),
            ..parts
        };
        let widened = SealedEnvelope::decode(widened.encode_to_vec().into()).unwrap();
        prop_assert_eq!(open_as(&widened, third, &origin), Err(Error::BadSignature));
    }
}

/// A bulletin from [`origin`] sealed for one recipient, DE-BKA.
fn sealed_for_one() -> (TestAgency, TestAgency, Bulletin, SealedEnvelope) {
    let origin = origin();
    let me = TestAgency::numbered("DE-BKA", 50);
    let bulletin = sample_bulletin(&origin.id, BulletinId::new(T0));
    let envelope = seal_for_recipients(
        &bulletin,
        &origin.signing,
        &[me.recipient_key()],
        &mut SystemRng,
    )
    .unwrap();
    (origin, me, bulletin, envelope)
}

#[test]
fn each_key_and_time_check_has_its_own_error() {
    let (origin, me, bulletin, envelope) = sealed_for_one();
    let receiver = Receiver {
        agency: &me.id,
        encryption_keys: std::slice::from_ref(&me.encryption),
        epochs: None,
    };

    let nobody = directory(&[]);
    assert_eq!(
        open(&envelope, receiver, &nobody, T0),
        Err(Error::UnknownOrigin(origin.id.clone()))
    );

    let mut rotated = origin.document.clone();
    let other = crypto::SigningKey::from_seed([99; 32]).unwrap();
    rotated.signing_key.key = other.verifying_key();
    rotated.signing_key.key_id = other.verifying_key().key_id('s');
    let dir = std::collections::HashMap::from([(origin.id.clone(), rotated)]);
    assert!(matches!(
        open(&envelope, receiver, &dir, T0),
        Err(Error::UnknownSigningKey { .. })
    ));

    let mut revoked = origin.document.clone();
    revoked
        .revoked_keys
        .push(liaison_core::identity::RevokedKey {
            key_id: origin.document.signing_key.key_id.clone(),
            revoked_at: T0,
            reason: liaison_core::identity::RevocationReason::Compromised,
        });
    let dir = std::collections::HashMap::from([(origin.id.clone(), revoked)]);
    assert!(matches!(
        open(&envelope, receiver, &dir, T0),
        Err(Error::RevokedSigningKey { .. })
    ));

    let dir = directory(&[&origin]);
    let late = bulletin.expires.plus_days(1);
    assert!(matches!(
        open(&envelope, receiver, &dir, late),
        Err(Error::Expired { .. })
    ));
    let way_late = T0.plus_days(4000);
    assert!(matches!(
        open(&envelope, receiver, &dir, way_late),
        Err(Error::OriginIdentityExpired { .. })
    ));
    // A receiver whose clock runs behind the origin's identity: not valid *yet*, a
    // different error (and a transient rejection), not an expiry.
    let before_identity = T0.plus_days(-400);
    assert!(matches!(
        open(&envelope, receiver, &dir, before_identity),
        Err(Error::OriginIdentityNotYetValid { .. })
    ));
    // A few minutes of skew are within the leeway; more is not.
    let leeway = liaison_core::limits::CLOCK_LEEWAY_MS;
    let just_behind = liaison_core::UnixMillis(T0.0 - leeway + 60_000);
    assert!(open(&envelope, receiver, &dir, just_behind).is_ok());
    let too_far_behind = liaison_core::UnixMillis(T0.0 - leeway - 60_000);
    assert!(matches!(
        open(&envelope, receiver, &dir, too_far_behind),
        Err(Error::OriginIdentityNotYetValid { .. })
    ));
}

#[test]
fn each_other_open_check_has_its_own_error() {
    let (origin, me, _, envelope) = sealed_for_one();
    let receiver = Receiver {
        agency: &me.id,
        encryption_keys: std::slice::from_ref(&me.encryption),
        epochs: None,
    };
    let dir = directory(&[&origin]);

    let stranger = TestAgency::numbered("DE-BKA", 51);
    let wrong_key = Receiver {
        agency: &me.id,
        encryption_keys: std::slice::from_ref(&stranger.encryption),
        epochs: None,
    };
    assert!(matches!(
        open(&envelope, wrong_key, &dir, T0),
        Err(Error::UnknownEncryptionKey(_))
    ));

    let mut parts = pb::SealedEnvelope::decode(envelope.as_bytes().clone()).unwrap();
    let mut sig = parts.signature.to_vec();
    sig[10] ^= 4;
    parts.signature = sig.into();
    let forged = SealedEnvelope::decode(parts.encode_to_vec().into()).unwrap();
    assert_eq!(open(&forged, receiver, &dir, T0), Err(Error::BadSignature));

    let too_big = Bytes::from(vec![0u8; liaison_core::limits::MAX_ENVELOPE_BYTES + 1]);
    assert!(matches!(
        SealedEnvelope::decode(too_big),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        SealedEnvelope::decode(Bytes::from_static(b"\xff\xff\xff")),
        Err(Error::Malformed(_))
    ));
    let v2 = pb::SealedEnvelope {
        format_version: 2,
        ..pb::SealedEnvelope::decode(envelope.as_bytes().clone()).unwrap()
    };
    assert!(matches!(
        SealedEnvelope::decode(v2.encode_to_vec().into()),
        Err(Error::UnsupportedFormat { version: 2, .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The decoders of foreign bytes never panic (the fuzz targets in `fuzz/` push much
    /// further; this keeps the guarantee in every CI run).
    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        let origin = origin();
        let me = TestAgency::numbered("DE-BKA", 10);
        if let Ok(envelope) = SealedEnvelope::decode(Bytes::from(data.clone())) {
            prop_assert_eq!(envelope.as_bytes().as_ref(), &data[..]);
            let _ = open_as(&envelope, &me, &origin);
        }
        let _ = liaison_core::SignedIdentity::from_bytes(Bytes::from(data.clone()));
        let _ = liaison_core::receipt::SignedReceipt::verify(Bytes::from(data.clone()), &me.signing.verifying_key());
        let _ = liaison_core::receipt::SignedReceipt::from_stored(Bytes::from(data.clone()));
        let _ = liaison_core::policy::Policy::parse(&String::from_utf8_lossy(&data));
        let _ = liaison_core::roster::Roster::from_file(&data);
        let _ = liaison_core::stix::drafts_from_bundle(&data, Tlp::Amber);
        for kind in liaison_core::entity_spec::KINDS {
            let _ = liaison_core::entity_spec::parse(kind, &String::from_utf8_lossy(&data));
        }
        let _ = liaison_core::taxii::parse_query(
            &String::from_utf8_lossy(&data),
            &liaison_core::taxii::OBJECTS_PARAMETERS,
        );
        if let Ok(forwarded) = liaison_core::forward::ForwardedEnvelope::decode(Bytes::from(data.clone())) {
            let _ = forwarded.open(
                Receiver { agency: &me.id, encryption_keys: std::slice::from_ref(&me.encryption), epochs: None },
                &directory(&[&origin]),
                &origin.id,
                T0,
            );
        }
        let _ = liaison_core::recall::SignedRecall::verify(Bytes::from(data.clone()), &directory(&[&origin]));
        let _ = liaison_core::acknowledgement::SignedAcknowledgement::verify(Bytes::from(data.clone()), &directory(&[&origin]));
        if let Ok(m) = pb::EnvelopeHeader::decode(Bytes::from(data.clone())) {
            let _ = liaison_core::envelope::EnvelopeHeader::try_from(m);
        }
        let _ = liaison_core::envelope::peek_bulletin_id(&Bytes::from(data.clone()));
        if let Ok(m) = pb::BulletinContent::decode(Bytes::from(data)) {
            let _ = BulletinContent::try_from(m);
        }
    }

    /// Structured garbage: a real envelope with one field replaced by random bytes.
    #[test]
    fn a_random_field_is_refused_without_panic(field in 0usize..4, junk in prop::collection::vec(any::<u8>(), 0..512)) {
        let origin = origin();
        let me = TestAgency::numbered("DE-BKA", 10);
        let bulletin = sample_bulletin(&origin.id, BulletinId::new(T0));
        let envelope = seal_for_recipients(&bulletin, &origin.signing, &[me.recipient_key()], &mut SystemRng).unwrap();
        let mut parts = pb::SealedEnvelope::decode(envelope.as_bytes().clone()).unwrap();
        let junk = Bytes::from(junk);
        match field {
            0 => parts.header = junk,
            1 => parts.wraps = junk,
            2 => parts.ciphertext = junk,
            _ => parts.signature = junk,
        }
        let raw: Bytes = parts.encode_to_vec().into();
        let outcome = SealedEnvelope::decode(raw.clone()).and_then(|e| open_as(&e, &me, &origin));
        prop_assert!(outcome.is_err());
        // Whatever else broke, a readable header still names the bulletin in the refusal.
        if field != 0 {
            prop_assert_eq!(liaison_core::envelope::peek_bulletin_id(&raw), Some(bulletin.id));
        }
    }
}

#[test]
fn a_retired_signing_key_verifies_only_what_it_signed_before_retirement() {
    let origin = origin();
    let me = TestAgency::numbered("DE-BKA", 60);
    let receiver = Receiver {
        agency: &me.id,
        encryption_keys: std::slice::from_ref(&me.encryption),
        epochs: None,
    };
    let new_key = crypto::SigningKey::from_seed([77; 32]).unwrap();
    let retired_at = T0.plus_days(10);
    let rotated = origin.document.with_new_signing_key(&new_key, retired_at);
    assert_eq!(rotated.version, 2);
    let dir = std::collections::HashMap::from([(origin.id.clone(), rotated.clone())]);

    // Created before the rotation, signed with the old key: still opens.
    let before = sample_bulletin(&origin.id, BulletinId::new(T0));
    let sealed = seal_for_recipients(
        &before,
        &origin.signing,
        &[me.recipient_key()],
        &mut SystemRng,
    )
    .unwrap();
    assert!(open(&sealed, receiver, &dir, T0.plus_days(20)).is_ok());

    // Claims to be created after the rotation but signed with the old key: refused.
    let mut after = sample_bulletin(&origin.id, BulletinId::new(T0));
    after.created = T0.plus_days(11);
    let sealed = seal_for_recipients(
        &after,
        &origin.signing,
        &[me.recipient_key()],
        &mut SystemRng,
    )
    .unwrap();
    assert!(matches!(
        open(&sealed, receiver, &dir, T0.plus_days(20)),
        Err(Error::RetiredSigningKey { .. })
    ));

    // The new key signs from now on.
    let sealed =
        seal_for_recipients(&after, &new_key, &[me.recipient_key()], &mut SystemRng).unwrap();
    assert!(open(&sealed, receiver, &dir, T0.plus_days(20)).is_ok());

    // A signed document carrying retired keys round-trips.
    let root = crypto::SigningKey::from_seed([1; 32]).unwrap();
    let signed = liaison_core::SignedIdentity::sign(rotated.clone(), &root);
    let again = liaison_core::SignedIdentity::from_bytes(signed.to_bytes()).unwrap();
    assert_eq!(again.document(), &rotated);
}

#[test]
fn a_recipient_forwards_green_onward_and_nothing_more_restricted() {
    let origin = origin();
    let holder = TestAgency::numbered("DE-BKA", 70);
    let third = TestAgency::numbered("RO-DIICOT", 71);
    let dir = directory(&[&origin, &holder]);
    fn as_receiver(a: &TestAgency) -> Receiver<'_> {
        Receiver {
            agency: &a.id,
            encryption_keys: std::slice::from_ref(&a.encryption),
            epochs: None,
        }
    }
    let forward_under = |sealed: &SealedEnvelope, grant: Option<&SignedReleaseGrant>| {
        liaison_core::forward::forward(
            sealed,
            as_receiver(&holder),
            &dir,
            &holder.signing,
            &third.recipient_key(),
            grant,
            T0,
            &mut SystemRng,
        )
    };
    let forward_to_third = |sealed: &SealedEnvelope| forward_under(sealed, None);
    let mut green = sample_bulletin(&origin.id, BulletinId::new(T0));
    green.marking =
        Marking::new("trafficking.persons".parse().unwrap(), Tlp::Green, vec![]).unwrap();
    let sealed = seal_for_recipients(
        &green,
        &origin.signing,
        &[holder.recipient_key()],
        &mut SystemRng,
    )
    .unwrap();
    let forwarded = forward_to_third(&sealed).unwrap();
    let received =
        liaison_core::forward::ForwardedEnvelope::decode(forwarded.as_bytes().clone()).unwrap();
    assert!(liaison_core::forward::is_forwarded(forwarded.as_bytes()));
    assert!(!liaison_core::forward::is_forwarded(sealed.as_bytes()));
    let opened = received
        .open(as_receiver(&third), &dir, &holder.id, T0)
        .unwrap();
    assert_eq!(
        opened, green,
        "the third party reads exactly what the originator wrote"
    );
    // Delivered by someone else than the forwarder: refused.
    assert!(matches!(
        received.open(as_receiver(&third), &dir, &origin.id, T0),
        Err(Error::Forwarding(_))
    ));
    // Not for whoever intercepts it.
    assert!(
        received
            .open(as_receiver(&origin), &dir, &holder.id, T0)
            .is_err()
    );
    // AMBER and above never travel onward.
    let amber = sample_bulletin(&origin.id, BulletinId::new(T0));
    let sealed = seal_for_recipients(
        &amber,
        &origin.signing,
        &[holder.recipient_key()],
        &mut SystemRng,
    )
    .unwrap();
    let refused = forward_to_third(&sealed);
    assert!(matches!(refused, Err(Error::Forwarding(reason)) if reason.contains("TLP:AMBER")));

    // Unless the originator released it to the third party: the grant travels inside
    // and the third party checks it.
    let grant = |to: &TestAgency, signer: &TestAgency| {
        SignedReleaseGrant::sign(
            amber.id,
            origin.id.clone(),
            vec![holder.id.clone()],
            vec![to.id.clone()],
            T0.plus_days(1),
            &signer.signing,
        )
    };
    let released = forward_under(&sealed, Some(&grant(&third, &origin))).unwrap();
    let received =
        liaison_core::forward::ForwardedEnvelope::decode(released.as_bytes().clone()).unwrap();
    assert_eq!(
        received
            .open(as_receiver(&third), &dir, &holder.id, T0)
            .unwrap(),
        amber
    );
    assert!(received.release_grant(&dir).unwrap().is_some());
    // A grant for someone else does not cover the third party.
    let elsewhere = forward_under(&sealed, Some(&grant(&holder, &origin)));
    assert!(
        matches!(elsewhere, Err(Error::Forwarding(ref reason)) if reason.contains("not among the partners")),
        "{elsewhere:?}"
    );
    // One the holder signed itself is no grant.
    let forged = forward_under(&sealed, Some(&grant(&third, &holder)));
    assert!(forged.is_err());
    // And no grant takes TLP:RED onward.
    let mut red = sample_bulletin(&origin.id, BulletinId::new(T0));
    red.marking = Marking::new("trafficking.persons".parse().unwrap(), Tlp::Red, vec![]).unwrap();
    let sealed_red = seal_for_recipients(
        &red,
        &origin.signing,
        &[holder.recipient_key()],
        &mut SystemRng,
    )
    .unwrap();
    let red_grant = SignedReleaseGrant::sign(
        red.id,
        origin.id.clone(),
        vec![holder.id.clone()],
        vec![third.id.clone()],
        T0.plus_days(1),
        &origin.signing,
    );
    let refused = forward_under(&sealed_red, Some(&red_grant));
    assert!(
        matches!(refused, Err(Error::Forwarding(ref reason)) if reason.contains("cannot be released")),
        "{refused:?}"
    );
}

/// The desk fields of the header are checked by every receiver: a request due after
/// the bulletin expires, an unknown priority, H3 without its restriction, a
/// restriction without H3 and an evaluation off the Admiralty scale are each refused,
/// naming the field; a well-formed request, thread and evaluation pass.
#[test]
fn the_desk_fields_of_a_header_are_checked_on_receipt() {
    let (_, _, _, envelope) = sealed_for_one();
    let good = pb::EnvelopeHeader::from(envelope.header());
    let check = |mutate: &dyn Fn(&mut pb::EnvelopeHeader)| {
        let mut h = good.clone();
        mutate(&mut h);
        liaison_core::envelope::EnvelopeHeader::try_from(h)
    };
    let ok = check(&|h| {
        h.thread_id = h.bulletin_id.clone();
        h.request = Some(pb::InformationRequest {
            priority: pb::Priority::Urgent as i32,
            due_unix_ms: h.created_unix_ms + 1,
        });
        let m = h.marking.as_mut().unwrap();
        m.handling_codes = vec!["H3".into()];
        m.restriction = "JIT only".into();
        m.evaluation = Some(pb::Evaluation {
            source_reliability: "B".into(),
            information_credibility: "2".into(),
        });
    })
    .unwrap();
    assert!(ok.request.is_some() && ok.thread.is_some());
    assert_eq!(ok.marking.evaluation.unwrap().to_string(), "B2");
    let refused = |mutate: &dyn Fn(&mut pb::EnvelopeHeader), field: &str| {
        let e = check(mutate).unwrap_err();
        assert!(e.field.contains(field), "{e} does not name {field}");
    };
    refused(
        &|h| {
            h.request = Some(pb::InformationRequest {
                priority: pb::Priority::Routine as i32,
                due_unix_ms: h.expires_unix_ms + 1,
            })
        },
        "request.due_unix_ms",
    );
    refused(
        &|h| {
            h.request = Some(pb::InformationRequest {
                priority: 9,
                due_unix_ms: h.created_unix_ms + 1,
            })
        },
        "request.priority",
    );
    refused(
        &|h| h.marking.as_mut().unwrap().handling_codes = vec!["H3".into()],
        "restriction",
    );
    refused(
        &|h| h.marking.as_mut().unwrap().restriction = "secret".into(),
        "restriction",
    );
    refused(
        &|h| {
            h.marking.as_mut().unwrap().evaluation = Some(pb::Evaluation {
                source_reliability: "Z".into(),
                information_credibility: "2".into(),
            })
        },
        "evaluation",
    );
    refused(&|h| h.thread_id = Bytes::from_static(b"short"), "thread_id");
}
