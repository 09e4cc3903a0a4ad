//! All cryptography in one place: domain-separation labels, Ed25519 signing keys,
//! X25519 encryption keys with HPKE wrapping, the content AEAD and hashing.
//!
//! Every signature covers `label || message` with a label from [`domain`], so a
//! signature made for one purpose (a checkpoint) can never be replayed as another (an
//! envelope). There is no way to verify without checking: callers get a verified value
//! or an error.

use hpke::rand_core::{CryptoRng, TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem as _, Serializable};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::SecureRandom as _;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use crate::error::{Error, Result};
use crate::ids::KeyId;

/// Domain-separation labels, each named once. The trailing NUL ends the label so no
/// label is a prefix of another's message.
pub mod domain {
    /// Envelope signatures.
    pub const ENVELOPE: &[u8] = b"liaison/v1/envelope\0";
    /// HPKE `info` prefix for wrapped content keys.
    pub const CONTENT_KEY: &[u8] = b"liaison/v1/content-key\0";
    /// A format-v2 envelope, as a Merkle leaf.
    pub const ENVELOPE_LEAF: &[u8] = b"liaison/v2/envelope\0";
    /// The signature over a batch of format-v2 envelopes (their Merkle root).
    pub const ENVELOPE_BATCH: &[u8] = b"liaison/v2/envelope-batch\0";
    /// HPKE info establishing a (sender, recipient, epoch) key-encryption key.
    pub const EPOCH: &[u8] = b"liaison/v2/epoch\0";
    /// The HPKE exporter context of that key-encryption key.
    pub const EPOCH_KEK: &[u8] = b"liaison/v2/epoch-kek\0";
    /// The associated data of a content key wrapped under an epoch key.
    pub const EPOCH_WRAP: &[u8] = b"liaison/v2/content-key\0";
    /// Identity documents, signed by the agency root.
    pub const IDENTITY: &[u8] = b"liaison/v1/identity\0";
    /// Federation rosters, signed by a joint operation's coordinator.
    pub const ROSTER: &[u8] = b"liaison/v1/roster\0";
    /// Receipts.
    pub const RECEIPT: &[u8] = b"liaison/v1/receipt\0";
    /// A receipt signed in a batch, as a Merkle leaf.
    pub const RECEIPT_LEAF: &[u8] = b"liaison/v2/receipt\0";
    /// The signature over a batch of receipts (their Merkle root).
    pub const RECEIPT_BATCH: &[u8] = b"liaison/v2/receipt-batch\0";
    /// Forwardings (onward sharing), signed by the forwarder.
    pub const FORWARDED: &[u8] = b"liaison/v1/forwarded\0";
    /// HPKE `info` prefix for content keys wrapped by a forwarder.
    pub const FORWARDED_KEY: &[u8] = b"liaison/v1/forwarded-key\0";
    /// Recalls.
    pub const RECALL: &[u8] = b"liaison/v1/recall\0";
    /// Release grants (an originator's consent to onward sharing).
    pub const RELEASE_GRANT: &[u8] = b"liaison/v1/release-grant\0";
    /// Log checkpoints.
    pub const CHECKPOINT: &[u8] = b"liaison/v1/checkpoint\0";
    /// Log entry hashes.
    pub const LOG_ENTRY: &[u8] = b"liaison/v1/log-entry\0";
    /// Key ids.
    pub const KEY_ID: &[u8] = b"liaison/v1/key-id\0";
    /// HPKE `info` prefix for an originator's own copy of its bulletin's content.
    pub const OWN_COPY: &[u8] = b"liaison/v1/own-copy\0";
    /// Acknowledgements a recipient signs for a bulletin's originator.
    pub const ACKNOWLEDGEMENT: &[u8] = b"liaison/v1/acknowledgement\0";
}

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type WrapAead = hpke::aead::ChaCha20Poly1305;

/// Length of a content key.
pub const CONTENT_KEY_LEN: usize = 32;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    digest_parts(&[data])
}

/// SHA-256 of the concatenation of `parts`, without concatenating them.
pub fn digest_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A source of randomness for sealing. [`SystemRng`] in production.
pub trait Entropy: CryptoRng {}
impl<T: CryptoRng> Entropy for T {}

/// The operating system's random source (through ring).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRng;

impl TryRng for SystemRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        // The system random source failing means the kernel cannot give randomness;
        // continuing with anything else would be worse than stopping.
        #[allow(clippy::expect_used)]
        ring::rand::SystemRandom::new()
            .fill(dst)
            .expect("the operating system's random source failed");
        Ok(())
    }
}

impl TryCryptoRng for SystemRng {}

/// A deterministic generator (SHA-256 in counter mode over a seed), used only to
/// regenerate the committed test vectors. Built only with the `test-vectors` feature.
#[cfg(feature = "test-vectors")]
#[derive(Debug, Clone)]
pub struct DeterministicRng {
    seed: [u8; 32],
    counter: u64,
    buffer: Vec<u8>,
}

#[cfg(feature = "test-vectors")]
impl DeterministicRng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            seed,
            counter: 0,
            buffer: Vec::new(),
        }
    }
}

#[cfg(feature = "test-vectors")]
impl TryRng for DeterministicRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for byte in dst {
            if self.buffer.is_empty() {
                self.buffer = digest_parts(&[&self.seed, &self.counter.to_be_bytes()]).to_vec();
                self.counter += 1;
            }
            *byte = self.buffer.remove(0);
        }
        Ok(())
    }
}

#[cfg(feature = "test-vectors")]
impl TryCryptoRng for DeterministicRng {}

/// Fills a fresh 32-byte secret from `rng`.
pub fn random_secret(rng: &mut impl Entropy) -> [u8; 32] {
    let mut out = [0u8; 32];
    rng.fill_bytes(&mut out);
    out
}

/// An Ed25519 private key (root or bulletin-signing), kept as its 32-byte seed.
pub struct SigningKey {
    seed: [u8; 32],
    pair: Ed25519KeyPair,
}

impl SigningKey {
    /// A key from its 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Result<Self> {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|e| Error::Crypto(format!("bad Ed25519 seed: {e}")))?;
        Ok(Self { seed, pair })
    }

    /// A new random key.
    pub fn generate(rng: &mut impl Entropy) -> Result<Self> {
        Self::from_seed(random_secret(rng))
    }

    /// The seed, for the key file. Handle with care.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(self.pair.public_key().as_ref());
        VerifyingKey(bytes)
    }

    /// Signs `domain || parts...`.
    pub fn sign(&self, domain: &[u8], parts: &[&[u8]]) -> [u8; 64] {
        let message = concat(domain, parts);
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(&message).as_ref());
        out
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.verifying_key())
            .finish_non_exhaustive()
    }
}

fn concat(domain: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let len = domain.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut message = Vec::with_capacity(len);
    message.extend_from_slice(domain);
    for part in parts {
        message.extend_from_slice(part);
    }
    message
}

/// An Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifyingKey([u8; 32]);

impl VerifyingKey {
    /// A key from 32 bytes. (Ed25519 point validity is checked at verification.)
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Checks `signature` over `domain || parts...`.
    pub fn verify(
        &self,
        domain: &[u8],
        parts: &[&[u8]],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        let message = concat(domain, parts);
        UnparsedPublicKey::new(&ED25519, self.0)
            .verify(&message, signature)
            .map_err(|_| BadSignature)
    }

    /// The key id of this key used as `kind` (`'r'` root, `'s'` signing).
    pub fn key_id(&self, kind: char) -> KeyId {
        key_id(kind, &self.0)
    }
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VerifyingKey({})",
            data_encoding::HEXLOWER.encode(&self.0)
        )
    }
}

/// A signature that does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadSignature;

/// The key id of a public key of `kind`.
pub fn key_id(kind: char, public: &[u8]) -> KeyId {
    let mut kind_byte = [0u8; 4];
    let kind_bytes = kind.encode_utf8(&mut kind_byte).as_bytes();
    KeyId::from_digest(kind, &digest_parts(&[domain::KEY_ID, kind_bytes, public]))
}

/// The id of a TLS certificate (`t-` and 16 hex digits of the SHA-256 of its DER), as
/// named in revocations.
pub fn tls_certificate_id(certificate_der: &[u8]) -> KeyId {
    KeyId::from_digest('t', &sha256(certificate_der))
}

/// An X25519 private key that content keys are wrapped for.
#[derive(Clone)]
pub struct EncryptionKey {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: EncryptionPublicKey,
}

impl EncryptionKey {
    /// A new random key.
    pub fn generate(rng: &mut impl Entropy) -> Self {
        let (secret, public) = Kem::gen_keypair_with_rng(rng);
        Self {
            secret,
            public: EncryptionPublicKey::new(public),
        }
    }

    /// A key from its 32 secret bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map_err(|e| Error::Crypto(format!("bad X25519 secret key: {e}")))?;
        let public = EncryptionPublicKey::new(Kem::sk_to_pk(&secret));
        Ok(Self { secret, public })
    }

    /// The 32 secret bytes, for the key file. Handle with care.
    pub fn secret_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.secret.to_bytes());
        out
    }

    /// The public half.
    pub fn public_key(&self) -> &EncryptionPublicKey {
        &self.public
    }

    /// Unwraps a content key sealed by [`EncryptionPublicKey::wrap_content_key`].
    pub fn unwrap_content_key(
        &self,
        encapsulated_key: &[u8],
        wrapped: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<[u8; CONTENT_KEY_LEN]> {
        let key = self
            .open(encapsulated_key, wrapped, info, aad)
            .map_err(|_| Error::DecryptionFailed("content key does not unwrap"))?;
        key.as_slice()
            .try_into()
            .map_err(|_| Error::DecryptionFailed("unwrapped content key is not 32 bytes"))
    }
}

impl EncryptionKey {
    /// A 32-byte key for this node's own use, derived from this secret with
    /// HKDF-SHA256 (salt = `domain`, info = `context`): what seals a node's copies of
    /// its own bulletins, so that only the holder of this key reads them.
    pub fn derive_own_key(&self, domain: &[u8], context: &[u8]) -> [u8; CONTENT_KEY_LEN] {
        struct Len;
        impl ring::hkdf::KeyType for Len {
            fn len(&self) -> usize {
                CONTENT_KEY_LEN
            }
        }
        let mut secret = self.secret_bytes();
        let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, domain).extract(&secret);
        zeroize::Zeroize::zeroize(&mut secret);
        let mut out = [0u8; CONTENT_KEY_LEN];
        // Expanding 32 bytes from SHA-256 cannot fail (at most 255 × 32 may be asked).
        if let Ok(okm) = prk.expand(&[context], Len) {
            let _ = okm.fill(&mut out);
        }
        out
    }

    /// Opens what [`EncryptionPublicKey::seal`] sealed to this key.
    ///
    /// Errors: [`Error::DecryptionFailed`] for a wrong key, info, aad or a tampered
    /// ciphertext.
    pub fn open(
        &self,
        encapsulated_key: &[u8],
        ciphertext: &[u8],
        info: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>> {
        let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(encapsulated_key)
            .map_err(|_| Error::DecryptionFailed("encapsulated key is not an X25519 point"))?;
        hpke::single_shot_open::<WrapAead, Kdf, Kem>(
            &hpke::OpModeR::Base,
            &self.secret,
            &encapped,
            info,
            ciphertext,
            aad,
        )
        .map_err(|_| Error::DecryptionFailed("the sealed bytes do not open with this key"))
    }

    /// The key-encryption key of a (sender, recipient, epoch) triple, from the
    /// encapsulated key a sender made with [`EncryptionPublicKey::establish_epoch`].
    pub fn accept_epoch(&self, encapsulated_key: &[u8], info: &[u8]) -> Result<EpochSecret> {
        let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(encapsulated_key)
            .map_err(|_| Error::DecryptionFailed("encapsulated key is not an X25519 point"))?;
        let context = hpke::setup_receiver::<WrapAead, Kdf, Kem>(
            &hpke::OpModeR::Base,
            &self.secret,
            &encapped,
            info,
        )
        .map_err(|_| Error::DecryptionFailed("epoch key does not derive"))?;
        let mut kek = EpochSecret::default();
        context
            .export(domain::EPOCH_KEK, &mut kek.0[..])
            .map_err(|_| Error::DecryptionFailed("epoch key does not derive"))?;
        Ok(kek)
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// An X25519 public key, with its key id computed once (sealing names it in every
/// envelope's header).
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionPublicKey(<Kem as hpke::Kem>::PublicKey, KeyId);

impl EncryptionPublicKey {
    fn new(key: <Kem as hpke::Kem>::PublicKey) -> Self {
        let id = key_id('e', &key.to_bytes());
        Self(key, id)
    }

    /// A key from 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(bytes)
            .ok()
            .map(Self::new)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0.to_bytes());
        out
    }

    /// The key id (`e-...`).
    pub fn key_id(&self) -> KeyId {
        self.1.clone()
    }

    /// Seals `content_key` to this key with HPKE base mode. Returns the encapsulated
    /// key and the wrapped content key.
    pub fn wrap_content_key(
        &self,
        content_key: &[u8; CONTENT_KEY_LEN],
        info: &[u8],
        aad: &[u8],
        rng: &mut impl Entropy,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        self.seal(content_key, info, aad, rng)
    }

    /// Seals `plaintext` to this key with HPKE base mode (ChaCha20-Poly1305). Returns
    /// the encapsulated key and the ciphertext; [`EncryptionKey::open`] opens it.
    pub fn seal(
        &self,
        plaintext: &[u8],
        info: &[u8],
        aad: &[u8],
        rng: &mut impl Entropy,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let (encapped, wrapped) = hpke::single_shot_seal_with_rng::<WrapAead, Kdf, Kem>(
            &hpke::OpModeS::Base,
            &self.0,
            info,
            plaintext,
            aad,
            rng,
        )
        .map_err(|e| Error::Crypto(format!("HPKE seal failed: {e}")))?;
        Ok((encapped.to_bytes().to_vec(), wrapped))
    }
}

impl EncryptionPublicKey {
    /// Starts an epoch with this recipient: one HPKE encapsulation whose exported
    /// secret is the epoch's key-encryption key. Returns the encapsulated key (sent in
    /// every envelope of the epoch) and the key-encryption key.
    pub fn establish_epoch(
        &self,
        info: &[u8],
        rng: &mut impl Entropy,
    ) -> Result<([u8; 32], EpochSecret)> {
        let (encapped, context) = hpke::setup_sender_with_rng::<WrapAead, Kdf, Kem>(
            &hpke::OpModeS::Base,
            &self.0,
            info,
            rng,
        )
        .map_err(|e| Error::Crypto(format!("HPKE setup failed: {e}")))?;
        let mut kek = EpochSecret::default();
        context
            .export(domain::EPOCH_KEK, &mut kek.0[..])
            .map_err(|e| Error::Crypto(format!("HPKE export failed: {e}")))?;
        let mut encapsulated = [0u8; 32];
        encapsulated.copy_from_slice(&encapped.to_bytes());
        Ok((encapsulated, kek))
    }
}

impl std::fmt::Debug for EncryptionPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EncryptionPublicKey({})",
            data_encoding::HEXLOWER.encode(&self.to_bytes())
        )
    }
}

/// An epoch's 32-byte key-encryption key. Erased from memory when dropped.
#[derive(Default, Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct EpochSecret([u8; 32]);

impl EpochSecret {
    /// A secret from its bytes (test vectors and the epoch caches' own copies).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Wraps `content_key` under this key with AES-256-GCM: `nonce || ciphertext ||
    /// tag`, [`EPOCH_WRAP_LEN`] bytes, where the nonce is `u32be(0) ||
    /// u64be(counter)`. The caller passes each counter value once per key (the
    /// epoch's wrap count), so no nonce repeats under a key — the construction NIST
    /// SP 800-38D §8.2.1 describes, with no system call for randomness per wrap.
    pub fn wrap(
        &self,
        content_key: &[u8; CONTENT_KEY_LEN],
        aad: &[u8],
        counter: u64,
    ) -> Result<[u8; EPOCH_WRAP_LEN]> {
        let mut out = [0u8; EPOCH_WRAP_LEN];
        out[4..12].copy_from_slice(&counter.to_be_bytes());
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&out[..12]);
        let mut buffer = content_key.to_vec();
        self::content_key(&self.0)?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buffer,
            )
            .map_err(|_| Error::Crypto("AES-256-GCM seal failed".into()))?;
        out[12..].copy_from_slice(&buffer);
        zeroize::Zeroize::zeroize(&mut buffer);
        Ok(out)
    }

    /// Unwraps a content key made by [`EpochSecret::wrap`] with the same `aad`.
    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<[u8; CONTENT_KEY_LEN]> {
        if wrapped.len() != EPOCH_WRAP_LEN {
            return Err(Error::DecryptionFailed(
                "wrapped content key has the wrong length",
            ));
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&wrapped[..12]);
        let mut buffer = wrapped[12..].to_vec();
        let opened = self::content_key(&self.0)?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buffer,
            )
            .map_err(|_| Error::DecryptionFailed("content key does not unwrap"))?;
        let mut key = [0u8; CONTENT_KEY_LEN];
        key.copy_from_slice(opened);
        zeroize::Zeroize::zeroize(&mut buffer);
        Ok(key)
    }
}

impl std::fmt::Debug for EpochSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochSecret(..)")
    }
}

/// Length of a content key wrapped under an epoch key: nonce, key, tag.
pub const EPOCH_WRAP_LEN: usize = 12 + CONTENT_KEY_LEN + 16;

/// The content AEAD (AES-256-GCM). The key is fresh for every envelope, so the fixed
/// zero nonce is never used twice under one key.
pub fn content_encrypt(
    key: &[u8; CONTENT_KEY_LEN],
    plaintext: Vec<u8>,
    aad: &[u8],
) -> Result<Vec<u8>> {
    let key = content_key(key)?;
    let mut buffer = plaintext;
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key([0u8; 12]),
        Aad::from(aad),
        &mut buffer,
    )
    .map_err(|_| Error::Crypto("AES-256-GCM seal failed".into()))?;
    Ok(buffer)
}

/// Opens a ciphertext made by [`content_encrypt`].
pub fn content_decrypt(
    key: &[u8; CONTENT_KEY_LEN],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>> {
    let key = content_key(key)?;
    let mut buffer = ciphertext.to_vec();
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key([0u8; 12]),
            Aad::from(aad),
            &mut buffer,
        )
        .map_err(|_| Error::DecryptionFailed("ciphertext does not authenticate"))?
        .len();
    buffer.truncate(len);
    Ok(buffer)
}

fn content_key(key: &[u8; CONTENT_KEY_LEN]) -> Result<LessSafeKey> {
    let unbound = UnboundKey::new(&AES_256_GCM, key)
        .map_err(|_| Error::Crypto("AES-256-GCM key rejected".into()))?;
    Ok(LessSafeKey::new(unbound))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_domain_separated() {
        let key = SigningKey::generate(&mut SystemRng).unwrap();
        let sig = key.sign(domain::RECEIPT, &[b"abc"]);
        let public = key.verifying_key();
        assert!(public.verify(domain::RECEIPT, &[b"abc"], &sig).is_ok());
        assert!(public.verify(domain::RECEIPT, &[b"ab", b"c"], &sig).is_ok());
        assert!(public.verify(domain::CHECKPOINT, &[b"abc"], &sig).is_err());
        assert!(public.verify(domain::RECEIPT, &[b"abd"], &sig).is_err());
    }

    #[test]
    fn seed_round_trip() {
        let key = SigningKey::generate(&mut SystemRng).unwrap();
        let again = SigningKey::from_seed(*key.seed()).unwrap();
        assert_eq!(key.verifying_key(), again.verifying_key());
        let enc = EncryptionKey::generate(&mut SystemRng);
        let enc2 = EncryptionKey::from_bytes(&enc.secret_bytes()).unwrap();
        assert_eq!(enc.public_key(), enc2.public_key());
    }

    #[test]
    fn wrap_unwrap_binds_info_and_aad() {
        let enc = EncryptionKey::generate(&mut SystemRng);
        let ck = [7u8; 32];
        let (encapped, wrapped) = enc
            .public_key()
            .wrap_content_key(&ck, b"info", b"aad", &mut SystemRng)
            .unwrap();
        assert_eq!(
            enc.unwrap_content_key(&encapped, &wrapped, b"info", b"aad")
                .unwrap(),
            ck
        );
        assert!(
            enc.unwrap_content_key(&encapped, &wrapped, b"infx", b"aad")
                .is_err()
        );
        assert!(
            enc.unwrap_content_key(&encapped, &wrapped, b"info", b"aax")
                .is_err()
        );
        let other = EncryptionKey::generate(&mut SystemRng);
        assert!(
            other
                .unwrap_content_key(&encapped, &wrapped, b"info", b"aad")
                .is_err()
        );
    }

    #[test]
    fn content_aead_round_trip_and_tamper() {
        let key = [9u8; 32];
        let ct = content_encrypt(&key, b"hello".to_vec(), b"hdr").unwrap();
        assert_eq!(content_decrypt(&key, &ct, b"hdr").unwrap(), b"hello");
        assert!(content_decrypt(&key, &ct, b"hdx").is_err());
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(content_decrypt(&key, &bad, b"hdr").is_err());
    }
}
