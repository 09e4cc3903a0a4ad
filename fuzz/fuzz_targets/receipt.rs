//! Foreign receipts (a partner's answer on the Deliver stream), signed alone or in a
//! batch: decode and verify with a fixed key, once without and once with a cache of
//! verified batch roots kept across inputs (as a delivery session keeps it). Must never
//! panic; an accepted receipt keeps its exact bytes; the cache never changes the
//! verdict.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use liaison_core::crypto::{SigningKey, VerifyingKey};
use liaison_core::envelope::VerifiedRoots;
use liaison_core::receipt::SignedReceipt;

fn key() -> &'static VerifyingKey {
    static KEY: OnceLock<VerifyingKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_seed([0x21; 32]).unwrap().verifying_key())
}

fn roots() -> &'static VerifiedRoots {
    static ROOTS: OnceLock<VerifiedRoots> = OnceLock::new();
    ROOTS.get_or_init(VerifiedRoots::default)
}

fuzz_target!(|data: &[u8]| {
    let plain = SignedReceipt::verify(Bytes::copy_from_slice(data), key());
    if let Ok(receipt) = &plain {
        assert_eq!(receipt.to_bytes().as_ref(), data);
    }
    let cached = SignedReceipt::verify_with(Bytes::copy_from_slice(data), key(), Some(roots()));
    assert_eq!(plain, cached, "the root cache changed the verdict");
    let _ = SignedReceipt::from_stored(Bytes::copy_from_slice(data));
});
