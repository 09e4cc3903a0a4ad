//! `cargo bench -p liaison-core --bench crypto`: seal and open of a 1 KiB bulletin for
//! 1 and 10 recipients, next to the bare cost of their parts, measured in the same run.
//! Single-threaded figures: multiply by the cores given to crypto for a node's ceiling.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

mod support;
use std::time::Duration;
use support::measure;

use bytes::Bytes;
use liaison_core::crypto::{self, EncryptionKey, SigningKey, SystemRng, domain};
use liaison_core::identity::IdentityDocument;
use liaison_core::{
    AgencyId, Bulletin, BulletinContent, BulletinId, Marking, Receiver, RecipientKey, UnixMillis,
    open, seal_for_recipients,
};

fn document(agency: &AgencyId, signing: &SigningKey, enc: &EncryptionKey) -> IdentityDocument {
    let now = UnixMillis::now();
    IdentityDocument::first_version(
        agency.clone(),
        "bench".into(),
        vec![],
        signing,
        enc,
        Bytes::from_static(b"ca"),
        now.plus_days(-1)..now.plus_days(365),
    )
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("LIAISON_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    );
    println!("liaison-core crypto benchmark (1 KiB bulletin body, one thread)");
    println!("{:<44} {:>15} {:>13}", "operation", "rate", "per op");
    primitives(budget);
    envelopes(budget);
}

/// Each primitive on its own: signatures, HPKE wraps, content AEAD.
fn primitives(budget: Duration) {
    let signing = SigningKey::generate(&mut SystemRng).unwrap();
    let recipient = EncryptionKey::generate(&mut SystemRng);
    let message = vec![7u8; 300];
    let signature = signing.sign(domain::ENVELOPE, &[&message]);
    let public = signing.verifying_key();
    measure("ed25519 sign (300 B)", budget, || {
        black_box(signing.sign(domain::ENVELOPE, &[black_box(&message)]));
    });
    measure("ed25519 verify (300 B)", budget, || {
        public
            .verify(domain::ENVELOPE, &[black_box(&message)], &signature)
            .unwrap();
    });
    let key = [3u8; 32];
    let wrap = || {
        recipient
            .public_key()
            .wrap_content_key(&key, b"info", b"aad", &mut SystemRng)
            .unwrap()
    };
    let (encapped, wrapped) = wrap();
    measure("hpke seal (wrap 32 B content key)", budget, || {
        black_box(wrap());
    });
    measure("hpke open (unwrap 32 B content key)", budget, || {
        black_box(
            recipient
                .unwrap_content_key(&encapped, &wrapped, b"info", b"aad")
                .unwrap(),
        );
    });
    let plaintext = vec![1u8; 1100];
    let ct = crypto::content_encrypt(&key, plaintext.clone(), b"hdr").unwrap();
    measure("aes-256-gcm seal 1.1 KiB", budget, || {
        black_box(crypto::content_encrypt(&key, plaintext.clone(), b"hdr").unwrap());
    });
    measure("aes-256-gcm open 1.1 KiB", budget, || {
        black_box(crypto::content_decrypt(&key, &ct, b"hdr").unwrap());
    });
}

/// Whole envelopes: seal for 1 and 10 recipients, and open one.
fn envelopes(budget: Duration) {
    let origin: AgencyId = "NL-NP".parse().unwrap();
    let signing = SigningKey::generate(&mut SystemRng).unwrap();
    let origin_enc = EncryptionKey::generate(&mut SystemRng);
    let directory = vec![document(&origin, &signing, &origin_enc)];
    let recipients: Vec<(AgencyId, EncryptionKey)> = (0..10)
        .map(|i| {
            (
                format!("DE-R{i:02}").parse().unwrap(),
                EncryptionKey::generate(&mut SystemRng),
            )
        })
        .collect();
    let now = UnixMillis::now();
    let bulletin = Bulletin {
        thread: None,
        request: None,
        id: BulletinId::new(now),
        origin: origin.clone(),
        created: now,
        expires: now.plus_days(30),
        marking: Marking::new(
            "trafficking.persons".parse().unwrap(),
            "amber".parse().unwrap(),
            vec![],
        )
        .unwrap(),
        content: BulletinContent {
            title: "Benchmark bulletin".into(),
            body: "x".repeat(1024),
            ..BulletinContent::default()
        },
    };
    for n in [1usize, 10] {
        let keys: Vec<RecipientKey> = recipients[..n]
            .iter()
            .map(|(agency, k)| RecipientKey {
                agency: agency.clone(),
                key: k.public_key().clone(),
            })
            .collect();
        measure(&format!("seal, {n} recipient(s)"), budget, || {
            black_box(seal_for_recipients(&bulletin, &signing, &keys, &mut SystemRng).unwrap());
        });
        let envelope = seal_for_recipients(&bulletin, &signing, &keys, &mut SystemRng).unwrap();
        let (me, my_key) = &recipients[n - 1];
        let receiver = Receiver {
            agency: me,
            encryption_keys: std::slice::from_ref(my_key),
            epochs: None,
        };
        measure(
            &format!("open (decode+verify+decrypt), {n} recipient(s)"),
            budget,
            || {
                let decoded =
                    liaison_core::SealedEnvelope::decode(envelope.as_bytes().clone()).unwrap();
                black_box(open(&decoded, receiver, directory.as_slice(), now).unwrap());
            },
        );
    }
}
