//! Foreign receipts (a partner's answer on the Deliver stream): decode and verify with a
//! fixed key. Must never panic; an accepted receipt keeps its exact bytes.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use liaison_core::crypto::{SigningKey, VerifyingKey};
use liaison_core::receipt::SignedReceipt;

fn key() -> &'static VerifyingKey {
    static KEY: OnceLock<VerifyingKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_seed([0x21; 32]).unwrap().verifying_key())
}

fuzz_target!(|data: &[u8]| {
    if let Ok(receipt) = SignedReceipt::verify(Bytes::copy_from_slice(data), key()) {
        assert_eq!(receipt.to_bytes().as_ref(), data);
    }
    let _ = SignedReceipt::from_stored(Bytes::copy_from_slice(data));
});
