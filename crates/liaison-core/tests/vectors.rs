//! Known-answer test: sealing with fixed keys and fixed randomness must reproduce the
//! committed vector byte for byte, and the committed envelope must open.
//!
//! Regenerate (only when the format deliberately changes) with
//! `LIAISON_WRITE_VECTORS=1 cargo test -p liaison-core --test vectors`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use bytes::Bytes;
use common::{TestAgency, directory, sample_bulletin};
use liaison_core::crypto::DeterministicRng;
use liaison_core::envelope::{SenderEpochs, seal_batch};
use liaison_core::{BulletinId, Receiver, SealedEnvelope, open, seal_for_recipients};
use serde_json::{Value, json};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/envelope-v1.json"
);

fn hex(b: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(b)
}

fn unhex(v: &Value) -> Vec<u8> {
    data_encoding::HEXLOWER
        .decode(v.as_str().unwrap().as_bytes())
        .unwrap()
}

/// The vectors' fixed agencies: the origin and two recipients.
fn parties() -> (TestAgency, [TestAgency; 2]) {
    (
        TestAgency::new("NL-NP", [0x11; 32], [0x12; 32]),
        [
            TestAgency::new("DE-BKA", [0x21; 32], [0x22; 32]),
            TestAgency::new("RO-DIICOT", [0x31; 32], [0x32; 32]),
        ],
    )
}

fn origin_json(origin: &TestAgency) -> Value {
    json!({
        "agency": origin.id.to_string(),
        "signing_key_seed": hex(&[0x11; 32]),
        "signing_public_key": hex(origin.signing.verifying_key().as_bytes()),
        "signing_key_id": origin.signing.verifying_key().key_id('s').to_string(),
    })
}

fn recipients_json(recipients: &[TestAgency]) -> Value {
    recipients
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "agency": r.id.to_string(),
                "encryption_secret_key": hex(&r.encryption.secret_bytes()),
                "encryption_public_key": hex(&r.encryption.public_key().to_bytes()),
                "encryption_key_id": r.encryption.public_key().key_id().to_string(),
                "signing_key_seed": hex(&[0x21 + 0x10 * i as u8; 32]),
            })
        })
        .collect()
}

fn generate() -> Value {
    let (origin, recipients) = parties();
    let id: BulletinId = "019abc00-0000-7000-8000-000000000001".parse().unwrap();
    let bulletin = sample_bulletin(&origin.id, id);
    let rng_seed = [0x42u8; 32];
    let keys: Vec<_> = recipients.iter().map(TestAgency::recipient_key).collect();
    let envelope = seal_for_recipients(
        &bulletin,
        &origin.signing,
        &keys,
        &mut DeterministicRng::from_seed(rng_seed),
    )
    .unwrap();
    let parts: liaison_proto::format::v1::SealedEnvelope =
        prost::Message::decode(envelope.as_bytes().clone()).unwrap();
    json!({
        "description": "Liaison sealed envelope, format 1, signature scheme ED25519. Randomness: blocks of SHA-256(rng_seed || u64be(counter)), counter from 0; the content key is drawn first, then one HPKE ephemeral key (32 bytes of ikm) per recipient in order.",
        "origin": origin_json(&origin),
        "recipients": recipients_json(&recipients),
        "rng_seed": hex(&rng_seed),
        "bulletin_id": id.to_string(),
        "header": hex(&parts.header),
        "wraps": hex(&parts.wraps),
        "ciphertext": hex(&parts.ciphertext),
        "signature": hex(&parts.signature),
        "envelope": hex(envelope.as_bytes()),
    })
}

#[test]
fn sealing_reproduces_the_committed_vector() {
    let generated = generate();
    if std::env::var_os("LIAISON_WRITE_VECTORS").is_some() {
        std::fs::write(
            PATH,
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    for field in ["header", "wraps", "ciphertext", "signature", "envelope"] {
        assert_eq!(
            generated[field], committed[field],
            "{field} differs from the committed vector"
        );
    }
    assert_eq!(generated, committed);
}

#[test]
fn committed_vector_opens_for_each_recipient() {
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(PATH).unwrap()).unwrap();
    let origin = TestAgency::new("NL-NP", [0x11; 32], [0x12; 32]);
    let envelope = SealedEnvelope::decode(Bytes::from(unhex(&committed["envelope"]))).unwrap();
    for r in committed["recipients"].as_array().unwrap() {
        let secret: [u8; 32] = unhex(&r["encryption_secret_key"]).try_into().unwrap();
        let seed: [u8; 32] = unhex(&r["signing_key_seed"]).try_into().unwrap();
        let me = TestAgency::new(r["agency"].as_str().unwrap(), seed, secret);
        let bulletin = open(
            &envelope,
            Receiver {
                agency: &me.id,
                encryption_keys: std::slice::from_ref(&me.encryption),
                epochs: None,
            },
            &directory(&[&origin]),
            common::T0,
        )
        .unwrap();
        assert_eq!(bulletin, sample_bulletin(&origin.id, bulletin.id));
        assert_eq!(
            bulletin.id.to_string(),
            committed["bulletin_id"].as_str().unwrap()
        );
    }
}

const PATH_V2: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/envelope-v2.json"
);

/// Format v2: a batch of two bulletins for the same two recipients, one signature.
fn generate_v2() -> Value {
    let (origin, recipients) = parties();
    let ids: [BulletinId; 2] = [
        "019abc00-0000-7000-8000-000000000001".parse().unwrap(),
        "019abc00-0000-7000-8000-000000000002".parse().unwrap(),
    ];
    let bulletins: Vec<_> = ids
        .iter()
        .map(|id| sample_bulletin(&origin.id, *id))
        .collect();
    let rng_seed = [0x43u8; 32];
    let keys: Vec<_> = recipients.iter().map(TestAgency::recipient_key).collect();
    let envelopes = seal_batch(
        &bulletins,
        &origin.signing,
        &keys,
        &SenderEpochs::default(),
        &mut DeterministicRng::from_seed(rng_seed),
    )
    .unwrap();
    let parts: Vec<liaison_proto::format::v1::SealedEnvelope> = envelopes
        .iter()
        .map(|e| prost::Message::decode(e.as_bytes().clone()).unwrap())
        .collect();
    let batch = parts[0].batch.clone().unwrap();
    json!({
        "description": "Liaison sealed envelopes, format v2 (format_version 3, signature scheme ED25519_MERKLE_BATCH): two bulletins sealed as one batch for two recipients, one signature over the Merkle root. Randomness: blocks of SHA-256(rng_seed || u64be(counter)), counter from 0; for each bulletin in order: the content key (32 bytes); then, on the first bulletin only, for each recipient in order the epoch id (16 bytes) and the HPKE ephemeral key (32 bytes of ikm);. Wrap nonces are counters: u32be(0) || u64be(n), n the wrap's number in its epoch from 0.",
        "origin": origin_json(&origin),
        "recipients": recipients_json(&recipients),
        "rng_seed": hex(&rng_seed),
        "tree_size": batch.tree_size,
        "root": hex(&batch.root),
        "signature": hex(&parts[0].signature),
        "envelopes": envelopes.iter().zip(&parts).zip(&ids).map(|((e, p), id)| json!({
            "bulletin_id": id.to_string(),
            "header": hex(&p.header),
            "wraps": hex(&p.wraps),
            "ciphertext": hex(&p.ciphertext),
            "leaf_index": p.batch.as_ref().unwrap().leaf_index,
            "path": p.batch.as_ref().unwrap().path.iter().map(|h| hex(h)).collect::<Vec<_>>(),
            "envelope": hex(e.as_bytes()),
        })).collect::<Vec<_>>(),
    })
}

#[test]
fn batch_sealing_reproduces_the_committed_v2_vector() {
    let generated = generate_v2();
    if std::env::var_os("LIAISON_WRITE_VECTORS").is_some() {
        std::fs::write(
            PATH_V2,
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
    }
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH_V2).unwrap()).unwrap();
    for field in ["root", "signature", "envelopes"] {
        assert_eq!(
            generated[field], committed[field],
            "{field} differs from the committed vector"
        );
    }
    assert_eq!(generated, committed);
}

#[test]
fn committed_v2_vector_opens_for_each_recipient_and_matches_its_parts() {
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH_V2).unwrap()).unwrap();
    let origin = TestAgency::new("NL-NP", [0x11; 32], [0x12; 32]);
    // The signature verifies over the documented message, recomputed here by hand.
    let root = unhex(&committed["root"]);
    let mut message = Vec::new();
    message.extend_from_slice(&3u32.to_be_bytes());
    message.extend_from_slice(&2u32.to_be_bytes());
    message.extend_from_slice(&committed["tree_size"].as_u64().unwrap().to_be_bytes());
    message.extend_from_slice(&root);
    origin
        .signing
        .verifying_key()
        .verify(
            liaison_core::crypto::domain::ENVELOPE_BATCH,
            &[&message],
            &unhex(&committed["signature"]),
        )
        .unwrap();
    for e in committed["envelopes"].as_array().unwrap() {
        let envelope = SealedEnvelope::decode(Bytes::from(unhex(&e["envelope"]))).unwrap();
        for r in committed["recipients"].as_array().unwrap() {
            let secret: [u8; 32] = unhex(&r["encryption_secret_key"]).try_into().unwrap();
            let seed: [u8; 32] = unhex(&r["signing_key_seed"]).try_into().unwrap();
            let me = TestAgency::new(r["agency"].as_str().unwrap(), seed, secret);
            let bulletin = open(
                &envelope,
                Receiver {
                    agency: &me.id,
                    encryption_keys: std::slice::from_ref(&me.encryption),
                    epochs: None,
                },
                &directory(&[&origin]),
                common::T0,
            )
            .unwrap();
            assert_eq!(bulletin.id.to_string(), e["bulletin_id"].as_str().unwrap());
            assert_eq!(bulletin, sample_bulletin(&origin.id, bulletin.id));
        }
    }
}

/// tests/interop/verify_envelope_v2.py checks the committed v2 vector from outside
/// Liaison (Python's standard library and `openssl`, following docs/ENVELOPE.md): the
/// leaves, the inclusion proofs and the batch signature. A vector with a changed root
/// must fail it.
#[test]
fn an_outside_implementation_verifies_the_v2_vector_and_refuses_a_changed_one() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/interop/verify_envelope_v2.py"
    );
    let run = |vector: &str| {
        std::process::Command::new("python3")
            .args([script, vector])
            .output()
            .expect("python3 (installed by .ci/run)")
    };
    let out = run(PATH_V2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches("reaches the signed root").count(),
        2,
        "{stdout}"
    );

    let mut changed: Value =
        serde_json::from_str(&std::fs::read_to_string(PATH_V2).unwrap()).unwrap();
    let mut root = unhex(&changed["root"]);
    root[0] ^= 1;
    changed["root"] = Value::String(hex(&root));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("changed.json");
    std::fs::write(&path, changed.to_string()).unwrap();
    let out = run(path.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL"));
}
