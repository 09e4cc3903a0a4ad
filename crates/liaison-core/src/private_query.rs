//! Private hit/no-hit queries: an agency asks a partner "do you hold anything on this
//! phone number?" and learns yes or no, while the partner learns only that a query
//! was made. Built on the oblivious PRF of RFC 9497 (OPRF mode, suite
//! ristretto255-SHA512, the `voprf` crate).
//!
//! The holder keeps one secret seed ([`QueryKey`]) and derives from it, per querying
//! partner, an OPRF key ([`PartnerQueryKey`], RFC 9497 `DeriveKeyPair` with the
//! partner's name as `info`), so two partners cannot pool what they learn. For each
//! selector it is willing to be queried on by a partner, it computes the selector's
//! [`QueryFingerprint`] under that partner's key (the first 8 bytes of the OPRF
//! output) and offers the partner the set of them ([`QueryFilter`], kept up to date
//! by a feed of additions and removals).
//!
//! To query, the partner blinds its selector ([`blind`]: a random scalar times the
//! selector hashed to the group), the holder multiplies what it receives by its key
//! ([`PartnerQueryKey::evaluate_blinded`]) without learning anything about the
//! selector, and the partner unblinds the answer into the fingerprint
//! ([`BlindedQuery::finish`]) and looks it up in the filter. Without an evaluation
//! from the holder, a fingerprint cannot be computed, so the filter is useless to a
//! querier except for the selectors it has spent a query on; the holder counts them
//! against a daily budget. The protocol, its threat model and its parameters are in
//! `docs/PRIVATE-QUERIES.md`.

use std::collections::HashMap;

use voprf::{BlindedElement, EvaluationElement, OprfClient, OprfServer, Ristretto255};
use zeroize::Zeroizing;

use crate::error::Malformed;
use crate::ids::AgencyId;
use crate::selector::Selector;

/// The bytes of a selector's fingerprint under a partner's key: 64 bits, so that a
/// filter of n fingerprints answers a selector it does not hold with a false hit with
/// probability n / 2^64 (about 5e-15 at 100,000).
pub const FINGERPRINT_LEN: usize = 8;

/// The bytes of a blinded or evaluated element (a compressed ristretto255 point).
pub const ELEMENT_LEN: usize = 32;

/// The RFC 9497 `info` prefix of the key derived for one partner.
const PARTNER_KEY_INFO: &[u8] = b"liaison/query-key/v1/";

/// A selector's fingerprint under one partner's OPRF key.
pub type QueryFingerprint = [u8; FINGERPRINT_LEN];

/// The holder's secret seed, from which every partner's OPRF key is derived.
pub struct QueryKey(Zeroizing<[u8; 32]>);

impl QueryKey {
    /// A new random seed.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand_core_06::RngCore::fill_bytes(&mut rand_core_06::OsRng, &mut seed[..]);
        Self(seed)
    }

    /// The seed from its 32 bytes.
    ///
    /// Errors: not 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Malformed> {
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Malformed::new("query key", "must be 32 bytes"))?;
        Ok(Self(Zeroizing::new(seed)))
    }

    /// The seed's bytes, to store (sealed) on disk.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The OPRF key that answers `partner`'s queries.
    ///
    /// Errors: none in practice (RFC 9497 `DeriveKeyPair` fails with probability
    /// 2^-2040); reported rather than assumed.
    pub fn for_partner(&self, partner: &AgencyId) -> Result<PartnerQueryKey, Malformed> {
        let info = [PARTNER_KEY_INFO, partner.as_str().as_bytes()].concat();
        OprfServer::<Ristretto255>::new_from_seed(&self.0[..], &info)
            .map(PartnerQueryKey)
            .map_err(|e| Malformed::new("query key", format!("cannot derive a key: {e:?}")))
    }
}

/// One partner's OPRF key at the holder.
pub struct PartnerQueryKey(OprfServer<Ristretto255>);

impl PartnerQueryKey {
    /// `selector`'s fingerprint under this key: what the holder puts in the partner's
    /// filter.
    ///
    /// Errors: none for a selector (RFC 9497 refuses only empty or 64 KiB inputs).
    pub fn fingerprint(&self, selector: &Selector) -> Result<QueryFingerprint, Malformed> {
        let output = self
            .0
            .evaluate(selector.as_str().as_bytes())
            .map_err(|e| Malformed::new("selector", format!("cannot be evaluated: {e:?}")))?;
        Ok(truncate(&output))
    }

    /// The holder's step: its key times the querier's blinded element. The holder
    /// learns nothing about the selector behind it.
    ///
    /// Errors: not an encoded ristretto255 point, or the identity (named).
    pub fn evaluate_blinded(&self, blinded: &[u8]) -> Result<[u8; ELEMENT_LEN], Malformed> {
        let element = BlindedElement::<Ristretto255>::deserialize(blinded).map_err(|_| {
            Malformed::new(
                "blinded",
                format!(
                    "{} bytes that are not a ristretto255 element other than the identity",
                    blinded.len()
                ),
            )
        })?;
        element_bytes(&self.0.blind_evaluate(&element).serialize())
    }
}

/// The querier's side of one query: the blinded element to send, and what it needs
/// to read the answer.
pub struct BlindedQuery {
    state: OprfClient<Ristretto255>,
    selector: Selector,
    /// What goes to the holder: the selector hashed to the group, times a random
    /// scalar. A fresh blind each time, so two queries for the same selector look
    /// unrelated.
    pub message: [u8; ELEMENT_LEN],
}

/// Blinds `selector` for one holder (a fresh blind per holder and per query).
///
/// Errors: none for a selector; reported rather than assumed.
pub fn blind(selector: &Selector) -> Result<BlindedQuery, Malformed> {
    let blinded =
        OprfClient::<Ristretto255>::blind(selector.as_str().as_bytes(), &mut rand_core_06::OsRng)
            .map_err(|e| Malformed::new("selector", format!("cannot be blinded: {e:?}")))?;
    Ok(BlindedQuery {
        message: element_bytes(&blinded.message.serialize())?,
        state: blinded.state,
        selector: selector.clone(),
    })
}

impl BlindedQuery {
    /// Unblinds the holder's answer into the selector's fingerprint under the
    /// holder's key for this querier.
    ///
    /// Errors: the answer is not an encoded ristretto255 element (named).
    pub fn finish(&self, evaluated: &[u8]) -> Result<QueryFingerprint, Malformed> {
        let element = EvaluationElement::<Ristretto255>::deserialize(evaluated).map_err(|_| {
            Malformed::new(
                "evaluated",
                format!(
                    "{} bytes that are not a ristretto255 element other than the identity",
                    evaluated.len()
                ),
            )
        })?;
        let output = self
            .state
            .finalize(self.selector.as_str().as_bytes(), &element)
            .map_err(|e| Malformed::new("evaluated", format!("cannot be unblinded: {e:?}")))?;
        Ok(truncate(&output))
    }
}

fn truncate(output: &[u8]) -> QueryFingerprint {
    let mut fingerprint = [0u8; FINGERPRINT_LEN];
    fingerprint.copy_from_slice(&output[..FINGERPRINT_LEN]);
    fingerprint
}

fn element_bytes(bytes: &[u8]) -> Result<[u8; ELEMENT_LEN], Malformed> {
    bytes
        .try_into()
        .map_err(|_| Malformed::new("element", "not 32 bytes"))
}

/// The set of fingerprints a holder offers one querier, as the querier keeps it: a
/// count per fingerprint (two bulletins may offer the same selector; it leaves the
/// set when the last one is erased).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryFilter {
    counts: HashMap<QueryFingerprint, u32>,
}

/// One change in a filter feed, on the wire: an op byte and the fingerprint.
pub const CHANGE_LEN: usize = 1 + FINGERPRINT_LEN;

impl QueryFilter {
    /// Applies a run of changes as the holder sends them: [`CHANGE_LEN`] bytes each, an
    /// op (1 adds, 0 removes) then the fingerprint. Checked whole before anything is
    /// applied, so a bad run changes nothing.
    ///
    /// Errors: a length that is not a whole number of changes, or an unknown op
    /// (named with its place).
    pub fn apply(&mut self, changes: &[u8]) -> Result<usize, Malformed> {
        if !changes.len().is_multiple_of(CHANGE_LEN) {
            return Err(Malformed::new(
                "changes",
                format!(
                    "{} bytes is not a whole number of {CHANGE_LEN}-byte changes",
                    changes.len()
                ),
            ));
        }
        if let Some(i) = changes
            .chunks_exact(CHANGE_LEN)
            .position(|c| !matches!(c[0], 0 | 1))
        {
            return Err(Malformed::new(
                format!("changes[{i}]"),
                format!("unknown op {}", changes[i * CHANGE_LEN]),
            ));
        }
        for change in changes.chunks_exact(CHANGE_LEN) {
            let mut fingerprint = [0u8; FINGERPRINT_LEN];
            fingerprint.copy_from_slice(&change[1..]);
            if change[0] == 1 {
                *self.counts.entry(fingerprint).or_insert(0) += 1;
            } else if let Some(count) = self.counts.get_mut(&fingerprint) {
                *count -= 1;
                if *count == 0 {
                    self.counts.remove(&fingerprint);
                }
            }
        }
        Ok(changes.len() / CHANGE_LEN)
    }

    /// Whether the holder offers `fingerprint`: a hit.
    pub fn contains(&self, fingerprint: &QueryFingerprint) -> bool {
        self.counts.contains_key(fingerprint)
    }

    /// How many distinct fingerprints it holds.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The filter as bytes, to keep between queries: fingerprint and count (4 bytes,
    /// big-endian) each, in fingerprint order.
    pub fn encode(&self) -> Vec<u8> {
        let mut rows: Vec<_> = self.counts.iter().collect();
        rows.sort();
        let mut out = Vec::with_capacity(rows.len() * (FINGERPRINT_LEN + 4));
        for (fingerprint, count) in rows {
            out.extend_from_slice(fingerprint);
            out.extend_from_slice(&count.to_be_bytes());
        }
        out
    }

    /// A filter [`encode`](Self::encode) wrote.
    ///
    /// Errors: not a whole number of rows, or a zero count.
    pub fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        const ROW: usize = FINGERPRINT_LEN + 4;
        if !bytes.len().is_multiple_of(ROW) {
            return Err(Malformed::new("filter", "not a whole number of rows"));
        }
        let mut counts = HashMap::with_capacity(bytes.len() / ROW);
        for row in bytes.chunks_exact(ROW) {
            let mut fingerprint = [0u8; FINGERPRINT_LEN];
            fingerprint.copy_from_slice(&row[..FINGERPRINT_LEN]);
            let mut count = [0u8; 4];
            count.copy_from_slice(&row[FINGERPRINT_LEN..]);
            let count = u32::from_be_bytes(count);
            if count == 0 {
                return Err(Malformed::new("filter", "a row with a zero count"));
            }
            counts.insert(fingerprint, count);
        }
        Ok(Self { counts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn agency(name: &str) -> AgencyId {
        name.parse().unwrap()
    }

    fn phone(n: u64) -> Selector {
        Selector::parse("phone", &format!("+4072{:07}", n % 10_000_000)).unwrap()
    }

    #[test]
    fn a_blinded_query_unblinds_to_the_holders_fingerprint() {
        let key = QueryKey::generate().for_partner(&agency("NL-NP")).unwrap();
        let selector = phone(2345678);
        let query = blind(&selector).unwrap();
        let answer = key.evaluate_blinded(&query.message).unwrap();
        assert_eq!(
            query.finish(&answer).unwrap(),
            key.fingerprint(&selector).unwrap()
        );
        let other = blind(&phone(1)).unwrap();
        let answer = key.evaluate_blinded(&other.message).unwrap();
        assert_ne!(
            other.finish(&answer).unwrap(),
            key.fingerprint(&selector).unwrap()
        );
    }

    #[test]
    fn each_partner_has_its_own_key() {
        let seed = QueryKey::generate();
        let selector = phone(2345678);
        let nl = seed.for_partner(&agency("NL-NP")).unwrap();
        let ro = seed.for_partner(&agency("RO-DIICOT")).unwrap();
        assert_ne!(
            nl.fingerprint(&selector).unwrap(),
            ro.fingerprint(&selector).unwrap()
        );
        // The same seed derives the same key again (a restart changes nothing).
        let again = QueryKey::from_bytes(seed.as_bytes())
            .unwrap()
            .for_partner(&agency("NL-NP"))
            .unwrap();
        assert_eq!(
            nl.fingerprint(&selector).unwrap(),
            again.fingerprint(&selector).unwrap()
        );
    }

    #[test]
    fn a_hostile_element_is_refused_by_name() {
        let key = QueryKey::generate().for_partner(&agency("NL-NP")).unwrap();
        for bad in [&[0u8; 32][..], &[0xff; 32], &[1; 31], &[]] {
            let e = key.evaluate_blinded(bad).unwrap_err();
            assert_eq!(e.field, "blinded");
        }
        let query = blind(&phone(1)).unwrap();
        assert_eq!(query.finish(&[0u8; 32]).unwrap_err().field, "evaluated");
    }

    #[test]
    fn a_filter_counts_and_forgets() {
        let mut filter = QueryFilter::default();
        let fp = [7u8; FINGERPRINT_LEN];
        let add = [&[1u8][..], &fp].concat();
        let remove = [&[0u8][..], &fp].concat();
        filter.apply(&[add.clone(), add].concat()).unwrap();
        filter.apply(&remove).unwrap();
        assert!(filter.contains(&fp), "one bulletin still offers it");
        filter.apply(&remove).unwrap();
        assert!(!filter.contains(&fp));
        assert!(filter.apply(&[1, 2, 3]).is_err());
        let e = filter.apply(&[&[9u8][..], &fp].concat()).unwrap_err();
        assert_eq!(e.field, "changes[0]");
        assert!(filter.is_empty(), "a refused run changes nothing");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// What the holder receives cannot be tied to the selector by anything the
        /// holder can compute without the querier's blind: not the selector's text, not
        /// the selector hashed to the group, not the holder's own evaluation of it,
        /// and not an earlier query for the same selector. A holder that guesses the
        /// selector exactly still cannot confirm its guess.
        #[test]
        fn the_holder_cannot_recognise_the_selector(n in 0u64..10_000_000, others in proptest::collection::vec(0u64..10_000_000, 1..8)) {
            let seed = QueryKey::generate();
            let key = seed.for_partner(&agency("NL-NP")).unwrap();
            let selector = phone(n);
            let first = blind(&selector).unwrap();
            let second = blind(&selector).unwrap();
            prop_assert_ne!(first.message, second.message);
            let text = selector.as_str().as_bytes();
            prop_assert!(!first.message.windows(text.len().min(32)).any(|w| w == &text[..w.len()]));
            // The holder's dictionary: every candidate, the true one included, both
            // unkeyed (hash to group, as an unblinded sender would send) and keyed.
            for candidate in others.iter().copied().chain([n]).map(phone) {
                let unkeyed = OprfClient::<Ristretto255>::blind(candidate.as_str().as_bytes(), &mut Unit).unwrap();
                prop_assert_ne!(&unkeyed.message.serialize()[..], &first.message[..]);
                let keyed = key.evaluate_blinded(&unkeyed.message.serialize()).unwrap();
                prop_assert_ne!(&keyed[..], &first.message[..]);
                prop_assert_ne!(&key.fingerprint(&candidate).unwrap()[..], &first.message[..FINGERPRINT_LEN]);
            }
            // Yet the querier gets the answer.
            let answer = key.evaluate_blinded(&first.message).unwrap();
            prop_assert_eq!(first.finish(&answer).unwrap(), key.fingerprint(&selector).unwrap());
        }
    }

    /// A "random" source that always gives the scalar 1: blinding with it sends the
    /// selector hashed to the group, unblinded, which is what a holder could compute
    /// for any guess.
    struct Unit;

    impl rand_core_06::RngCore for Unit {
        fn next_u32(&mut self) -> u32 {
            1
        }
        fn next_u64(&mut self) -> u64 {
            1
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.fill(0);
            if let Some(first) = dest.first_mut() {
                *first = 1;
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl rand_core_06::CryptoRng for Unit {}
}
