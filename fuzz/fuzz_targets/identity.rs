//! Foreign identity bundles (`liaison peer add`, `PushIdentity`): decode, verify the
//! root signature and validate the document. Must never panic; an accepted bundle
//! keeps its exact bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use liaison_core::SignedIdentity;

fuzz_target!(|data: &[u8]| {
    if let Ok(identity) = SignedIdentity::from_bytes(Bytes::copy_from_slice(data)) {
        assert_eq!(identity.to_bytes().as_ref(), data);
    }
});
