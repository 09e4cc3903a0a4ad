//! Foreign envelope bytes (format v1 or v2): decode with limits, then run every `open`
//! check as a recipient whose directory knows the origin, once with the node's caches
//! (verified batch roots, epoch keys; kept across inputs, as a node keeps them) and
//! once without. Must never panic; a decoded envelope must keep the exact bytes it
//! came from; the caches must never change the verdict.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use liaison_core::crypto::{EncryptionKey, SigningKey};
use liaison_core::identity::IdentityDocument;
use liaison_core::envelope::{ReceiverEpochs, VerifiedRoots};
use liaison_core::{AgencyId, Receiver, SealedEnvelope, UnixMillis, open};

struct Fixture {
    me: AgencyId,
    keys: Vec<EncryptionKey>,
    directory: Vec<IdentityDocument>,
    roots: VerifiedRoots,
    epochs: ReceiverEpochs,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // Same keys as the committed test vector, so its envelope seeds the corpus.
        let signing = SigningKey::from_seed([0x11; 32]).unwrap();
        let origin_enc = EncryptionKey::from_bytes(&[0x12; 32]).unwrap();
        let t0 = UnixMillis(1_795_000_000_000);
        let doc = IdentityDocument::first_version(
            "NL-NP".parse().unwrap(),
            "fuzz".into(),
            vec![],
            &signing,
            &origin_enc,
            Bytes::from_static(b"ca"),
            t0..t0.plus_days(3650),
        );
        Fixture {
            me: "DE-BKA".parse().unwrap(),
            keys: vec![EncryptionKey::from_bytes(&[0x22; 32]).unwrap()],
            directory: vec![doc],
            roots: VerifiedRoots::default(),
            epochs: ReceiverEpochs::default(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    if let Ok(envelope) = SealedEnvelope::decode(Bytes::copy_from_slice(data)) {
        assert_eq!(envelope.as_bytes().as_ref(), data);
        let now = UnixMillis(1_795_000_000_000);
        let receiver = Receiver { agency: &f.me, encryption_keys: &f.keys, epochs: None };
        let plain = open(&envelope, receiver, f.directory.as_slice(), now);
        let cached = envelope
            .verify_origin_with(f.directory.as_slice(), now, Some(&f.roots))
            .and_then(|v| {
                v.open(Receiver { agency: &f.me, encryption_keys: &f.keys, epochs: Some(&f.epochs) }, now)
            });
        assert_eq!(plain, cached, "the caches changed the verdict");
    }
});
