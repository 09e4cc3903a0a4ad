//! An attachment file a partner pushed, opened by a reader: arbitrary ciphertext under
//! a key and stated size must open only if it is genuine, never panic, and never write
//! more than the stated size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liaison_core::attachment::{self, Streamed};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let size = u64::from(u16::from_be_bytes([data[0], data[1]])) * 64 + u64::from(data[2]);
    let key = [data[3]; 32];
    let ciphertext = &data[4..];
    // The digest the stated file carries, so the fuzzer reaches the chunk checks.
    let digest = liaison_core::crypto::sha256(ciphertext);
    let Ok(streamed) = Streamed::from_parts(size, &key, &digest) else { return };
    let mut out = Vec::new();
    if attachment::open(&streamed, &mut &ciphertext[..], &mut out).is_ok() {
        assert_eq!(out.len() as u64, size);
        // A genuine file re-seals to the same ciphertext (the nonce is the index).
        let mut again = Vec::new();
        let resealed = attachment::seal(key, &mut &out[..], &mut again).unwrap();
        assert_eq!(again, ciphertext);
        assert_eq!(resealed.ciphertext_sha256, streamed.ciphertext_sha256);
    }
    assert!(out.len() as u64 <= size);
});

