//! A partner's signed checkpoint (from a checkpoint exchange): decode with every field
//! checked, never panic; a checkpoint that decodes keeps its exact bytes and fails to
//! verify under a key that did not sign it.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use liaison_core::checkpoint::Checkpoint;
use liaison_core::crypto::SigningKey;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    let Ok(checkpoint) = Checkpoint::decode(bytes.clone()) else { return };
    assert_eq!(checkpoint.signed, bytes);
    let stranger = SigningKey::from_seed([1; 32]).unwrap().verifying_key();
    assert!(Checkpoint::verify(bytes, &checkpoint.agency, &stranger).is_err());
});
