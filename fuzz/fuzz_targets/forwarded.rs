//! Foreign forwarded envelopes, recalls, release grants and acknowledgements (peer
//! Deliver stream and its chain notices, and inside forwarded envelopes): decode, verify and open with a fixed directory. Must
//! never panic.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use liaison_core::acknowledgement::SignedAcknowledgement;
use liaison_core::crypto::{EncryptionKey, SigningKey};
use liaison_core::forward::ForwardedEnvelope;
use liaison_core::identity::IdentityDocument;
use liaison_core::recall::SignedRecall;
use liaison_core::release::SignedReleaseGrant;
use liaison_core::{AgencyId, Receiver, UnixMillis};

struct Fixture {
    me: AgencyId,
    forwarder: AgencyId,
    keys: Vec<EncryptionKey>,
    directory: Vec<IdentityDocument>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let t0 = UnixMillis(1_795_000_000_000);
        let doc = |agency: &str, seed: u8| {
            IdentityDocument::first_version(
                agency.parse().unwrap(),
                "fuzz".into(),
                vec![],
                &SigningKey::from_seed([seed; 32]).unwrap(),
                &EncryptionKey::from_bytes(&[seed + 1; 32]).unwrap(),
                Bytes::from_static(b"ca"),
                t0..t0.plus_days(3650),
            )
        };
        Fixture {
            me: "RO-DIICOT".parse().unwrap(),
            forwarder: "DE-BKA".parse().unwrap(),
            keys: vec![EncryptionKey::from_bytes(&[0x32; 32]).unwrap()],
            directory: vec![doc("NL-NP", 0x11), doc("DE-BKA", 0x21)],
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let bytes = Bytes::copy_from_slice(data);
    if let Ok(forwarded) = ForwardedEnvelope::decode(bytes.clone()) {
        assert_eq!(forwarded.as_bytes().as_ref(), data);
        let receiver = Receiver { agency: &f.me, encryption_keys: &f.keys, epochs: None };
        let _ = forwarded.open(receiver, f.directory.as_slice(), &f.forwarder, UnixMillis(1_795_000_000_000));
    }
    let _ = SignedRecall::verify(bytes.clone(), f.directory.as_slice());
    if let Ok(ack) = SignedAcknowledgement::verify(bytes.clone(), f.directory.as_slice()) {
        assert_eq!(ack.to_bytes().as_ref(), data);
    }
    if let Ok(grant) = SignedReleaseGrant::verify(bytes, f.directory.as_slice()) {
        assert_eq!(grant.to_bytes().as_ref(), data);
    }
});
