//! Attachments too large to travel inside the envelope: encrypted in chunks under a key
//! of their own, stored as a file, and sent beside the envelope, never held whole in
//! memory. The envelope's signed, encrypted content carries what binds the file to the
//! bulletin: its size, its key and the SHA-256 of its ciphertext ([`Streamed`]).
//!
//! ```text
//! ciphertext = chunk_0 || chunk_1 || ... || chunk_{n-1}      (n >= 1)
//! chunk_i    = AES-256-GCM(key, nonce = 0u32 || u64be(i), plaintext_i,
//!                          aad = "liaison-attachment/1" || u64be(i) || u8(i == n-1))
//! ```
//!
//! Every plaintext chunk is [`CHUNK_BYTES`] long but the last (which may be empty, for an
//! empty file). The key is random per attachment, so the counter nonce never repeats;
//! the index and last-chunk flag in the associated data stop chunks being reordered,
//! dropped or the file cut short. The ciphertext digest stops a holder that knows the
//! key (any recipient) from passing on a different file under the same key.

use std::io::{Read, Write};

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

use crate::error::Malformed;

/// Plaintext bytes per chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// AES-GCM tag bytes per chunk.
pub const TAG_BYTES: usize = 16;
/// The largest attachment sent beside the envelope (plaintext bytes).
pub const MAX_STREAMED_BYTES: u64 = 1024 * 1024 * 1024;
const DOMAIN: &[u8] = b"liaison-attachment/1";

/// What the signed content says about an attachment sent beside the envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct Streamed {
    /// Plaintext bytes.
    pub size: u64,
    /// The AES-256-GCM key of its chunks.
    pub key: [u8; 32],
    /// SHA-256 of the whole ciphertext.
    pub ciphertext_sha256: [u8; 32],
}

impl std::fmt::Debug for Streamed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Streamed")
            .field("size", &self.size)
            .field("ciphertext_sha256", &hex(&self.ciphertext_sha256))
            .finish_non_exhaustive()
    }
}

impl Streamed {
    /// Checks the three fields as they come off the wire.
    ///
    /// Errors: a size over [`MAX_STREAMED_BYTES`], or a key or digest that is not 32
    /// bytes.
    pub fn from_parts(size: u64, key: &[u8], ciphertext_sha256: &[u8]) -> Result<Self, Malformed> {
        if size > MAX_STREAMED_BYTES {
            return Err(Malformed::new(
                "size",
                format!("{size} bytes, more than the limit of {MAX_STREAMED_BYTES}"),
            ));
        }
        Ok(Self {
            size,
            key: key
                .try_into()
                .map_err(|_| Malformed::new("content_key", "must be 32 bytes"))?,
            ciphertext_sha256: ciphertext_sha256
                .try_into()
                .map_err(|_| Malformed::new("ciphertext_sha256", "must be 32 bytes"))?,
        })
    }

    /// The ciphertext's length in bytes.
    pub fn ciphertext_len(&self) -> u64 {
        self.size + TAG_BYTES as u64 * chunks(self.size)
    }

    /// The digest in hex: the attachment's name in a node's store.
    pub fn digest_hex(&self) -> String {
        hex(&self.ciphertext_sha256)
    }
}

/// How many chunks a plaintext of `size` bytes makes.
fn chunks(size: u64) -> u64 {
    size.div_ceil(CHUNK_BYTES as u64).max(1)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What went wrong encrypting or decrypting a stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// Reading the input or writing the output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The input is larger than [`MAX_STREAMED_BYTES`] or than its stated size.
    #[error("{0}")]
    TooLarge(String),
    /// The ciphertext is not the one the signed content names (altered, cut short,
    /// reordered, or another file).
    #[error("the attachment is not the one the bulletin names: {0}")]
    Mismatch(String),
}

fn cipher(key: &[u8; 32]) -> LessSafeKey {
    // A 32-byte key always makes an AES-256 key.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!()))
}

fn nonce_and_aad(index: u64, last: bool) -> (Nonce, Vec<u8>) {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&index.to_be_bytes());
    let mut aad = Vec::with_capacity(DOMAIN.len() + 9);
    aad.extend_from_slice(DOMAIN);
    aad.extend_from_slice(&index.to_be_bytes());
    aad.push(u8::from(last));
    (Nonce::assume_unique_for_key(nonce), aad)
}

/// Fills `buf` from `input` as far as it goes; returns how many bytes were read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Encrypts `input` (at most [`MAX_STREAMED_BYTES`]) under `key` into `output`, one
/// chunk in memory at a time; returns what the content carries about it.
///
/// Errors: reading or writing fails, or the input is too large.
pub fn seal(
    key: [u8; 32],
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<Streamed, StreamError> {
    let cipher = cipher(&key);
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    // One chunk ahead, so the last one is known when it is sealed.
    let mut current = vec![0u8; CHUNK_BYTES];
    let mut next = vec![0u8; CHUNK_BYTES];
    let mut current_len = read_full(input, &mut current)?;
    let (mut index, mut size) = (0u64, 0u64);
    loop {
        let next_len = if current_len == CHUNK_BYTES {
            read_full(input, &mut next)?
        } else {
            0
        };
        let last = next_len == 0;
        size += current_len as u64;
        if size > MAX_STREAMED_BYTES {
            return Err(StreamError::TooLarge(format!(
                "an attachment holds at most {} MiB",
                MAX_STREAMED_BYTES / (1024 * 1024)
            )));
        }
        let (nonce, aad) = nonce_and_aad(index, last);
        let mut chunk = current[..current_len].to_vec();
        cipher
            .seal_in_place_append_tag(nonce, Aad::from(aad), &mut chunk)
            .map_err(|_| StreamError::TooLarge("AES-GCM refused the chunk".into()))?;
        digest.update(&chunk);
        output.write_all(&chunk)?;
        if last {
            break;
        }
        std::mem::swap(&mut current, &mut next);
        current_len = next_len;
        index += 1;
    }
    output.flush()?;
    let ciphertext_sha256 = digest
        .finish()
        .as_ref()
        .try_into()
        .map_err(|_| StreamError::Mismatch("SHA-256 gave an odd length".into()))?;
    Ok(Streamed {
        size,
        key,
        ciphertext_sha256,
    })
}

/// Checks that `input` is exactly the ciphertext `streamed` names, without the key:
/// its length and digest. What a node does with a file a partner pushes before the
/// envelope that names it arrives.
///
/// Errors: reading fails, or the length or digest differ.
pub fn digest_of(input: &mut impl Read, limit: u64) -> Result<([u8; 32], u64), StreamError> {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; CHUNK_BYTES + TAG_BYTES];
    let mut total = 0u64;
    loop {
        let n = read_full(input, &mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > limit {
            return Err(StreamError::TooLarge(format!("more than {limit} bytes")));
        }
        digest.update(&buf[..n]);
    }
    let sha = digest
        .finish()
        .as_ref()
        .try_into()
        .map_err(|_| StreamError::Mismatch("SHA-256 gave an odd length".into()))?;
    Ok((sha, total))
}

/// Decrypts `input` (the ciphertext `streamed` names) into `output`, one chunk at a
/// time. Everything written is authentic chunk by chunk; the digest and length are
/// checked at the end, so a caller writes to a temporary file and keeps it only on
/// `Ok`.
///
/// Errors: reading or writing fails, a chunk does not open, the input is cut short or
/// runs on, or the digest differs.
pub fn open(
    streamed: &Streamed,
    input: &mut impl Read,
    output: &mut impl Write,
) -> Result<(), StreamError> {
    let cipher = cipher(&streamed.key);
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let total = chunks(streamed.size);
    let mut remaining = streamed.size;
    let mut chunk = vec![0u8; CHUNK_BYTES + TAG_BYTES];
    for index in 0..total {
        let plain = remaining.min(CHUNK_BYTES as u64) as usize;
        let want = plain + TAG_BYTES;
        let n = read_full(input, &mut chunk[..want])?;
        if n != want {
            return Err(StreamError::Mismatch(format!(
                "cut short in chunk {index} of {total}"
            )));
        }
        digest.update(&chunk[..want]);
        let (nonce, aad) = nonce_and_aad(index, index + 1 == total);
        let opened = cipher
            .open_in_place(nonce, Aad::from(aad), &mut chunk[..want])
            .map_err(|_| StreamError::Mismatch(format!("chunk {index} does not open")))?;
        output.write_all(opened)?;
        remaining -= plain as u64;
    }
    if read_full(input, &mut chunk[..1])? != 0 {
        return Err(StreamError::Mismatch("runs on past its last chunk".into()));
    }
    if digest.finish().as_ref() != streamed.ciphertext_sha256 {
        return Err(StreamError::Mismatch("its digest differs".into()));
    }
    output.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sealed(data: &[u8]) -> (Streamed, Vec<u8>) {
        let mut out = Vec::new();
        let s = seal([7u8; 32], &mut &data[..], &mut out).unwrap();
        (s, out)
    }

    #[test]
    fn sizes_at_chunk_edges_round_trip() {
        for size in [
            0,
            1,
            CHUNK_BYTES - 1,
            CHUNK_BYTES,
            CHUNK_BYTES + 1,
            3 * CHUNK_BYTES,
        ] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let (s, ct) = sealed(&data);
            assert_eq!(s.size, size as u64);
            assert_eq!(s.ciphertext_len(), ct.len() as u64, "size {size}");
            assert_eq!(
                digest_of(&mut &ct[..], u64::MAX).unwrap().0,
                s.ciphertext_sha256
            );
            let mut back = Vec::new();
            open(&s, &mut &ct[..], &mut back).unwrap();
            assert_eq!(back, data, "size {size}");
        }
    }

    #[test]
    fn a_cut_reordered_extended_or_foreign_file_is_refused() {
        let data = vec![5u8; 2 * CHUNK_BYTES + 10];
        let (s, ct) = sealed(&data);
        let chunk = CHUNK_BYTES + TAG_BYTES;
        let refuse = |bytes: &[u8]| open(&s, &mut &bytes[..], &mut Vec::new()).is_err();
        // Cut at a chunk boundary: the new last chunk was not sealed as last.
        assert!(refuse(&ct[..2 * chunk]));
        let mut swapped = ct[chunk..2 * chunk].to_vec();
        swapped.extend_from_slice(&ct[..chunk]);
        swapped.extend_from_slice(&ct[2 * chunk..]);
        assert!(refuse(&swapped));
        let mut longer = ct.clone();
        longer.push(0);
        assert!(refuse(&longer));
        // Same key, another file (what a hostile recipient could make): the digest.
        let (_, other) = sealed(&vec![6u8; data.len()]);
        assert!(refuse(&other));
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let (s, _) = sealed(b"x");
        assert!(!format!("{s:?}").contains("7, 7"));
    }

    proptest! {
        #[test]
        fn any_flipped_byte_is_caught(len in 0usize..200_000, at in any::<prop::sample::Index>()) {
            let data = vec![1u8; len];
            let (s, mut ct) = sealed(&data);
            let i = at.index(ct.len());
            ct[i] ^= 0x40;
            prop_assert!(open(&s, &mut &ct[..], &mut Vec::new()).is_err());
        }
    }
}
