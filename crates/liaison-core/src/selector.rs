//! Selectors: the values in a bulletin's entities that identify someone or something
//! across bulletins and agencies (a phone number, an account, a plate, a VIN, a name),
//! in one canonical text form each, so the same value written two ways is one selector.
//!
//! | kind | canonical form | from |
//! |---|---|---|
//! | `phone` | `phone:+40712345678` (E.164) | a phone entity |
//! | `account` | `account:RO49AAAA1B31007593840000` (IBAN without spaces, or the identifier) | an account entity |
//! | `vehicle` | `vehicle:RO:B123XYZ` (country, plate) | a vehicle with a registration |
//! | `vin` | `vin:WDB9066331S123456` | a vehicle with a VIN |
//! | `person` | `person:ion popescu` (lower case, no diacritics, one space) | a person's name and each alias |
//!
//! A node never stores a selector in the clear: its index holds [`SelectorTag`]s, an
//! HMAC under a key of its own ([`SelectorKey`]), so its files say which bulletins
//! share a value but not what the value is.

use unicode_normalization::UnicodeNormalization as _;

use crate::bulletin::{BulletinContent, Entity};
use crate::error::Malformed;
use crate::normalize;

/// One selector in canonical form, `kind:value`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Selector(String);

/// The kinds of selector, as the CLI and the API name them.
pub const KINDS: [&str; 5] = ["phone", "account", "vehicle", "vin", "person"];

impl Selector {
    /// The canonical text, `kind:value`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kind (`phone`, `account`, ...).
    pub fn kind(&self) -> &str {
        self.0.split_once(':').map_or("", |(k, _)| k)
    }

    /// A selector from an operator's or a client's words: `kind` one of [`KINDS`],
    /// `value` normalised as entities are (a vehicle is `CC:PLATE` or, as entities are
    /// written, `PLATE;country=CC`; `CC` a country code or name).
    ///
    /// Errors: an unknown kind, or a value that does not normalise (named).
    pub fn parse(kind: &str, value: &str) -> Result<Self, Malformed> {
        let value = value.trim();
        if value.is_empty() {
            return Err(Malformed::new(kind, "must not be empty"));
        }
        Ok(Self(match kind {
            "phone" => format!("phone:{}", normalize::phone(value)?),
            "account" => format!("account:{}", account(&normalize::account(value)?)),
            "vehicle" => {
                // `CC:PLATE`, or the entity syntax `PLATE;country=CC` (other fields
                // ignored), so a vehicle is searched for as it was written.
                let (country, plate) = match crate::entity_spec::parse("vehicle", value) {
                    Ok(Entity::Vehicle {
                        registration,
                        country,
                        ..
                    }) if value.contains(';') && !country.is_empty() => (country, registration),
                    _ => match value.split_once(':') {
                        Some((country, plate)) => (country.to_owned(), plate.to_owned()),
                        None => {
                            return Err(Malformed::new(
                                "vehicle",
                                "give the country with the plate, e.g. RO:B123XYZ or B123XYZ;country=RO",
                            ));
                        }
                    },
                };
                format!(
                    "vehicle:{}:{}",
                    normalize::country("vehicle", &country)?,
                    normalize::plate(&plate)
                )
            }
            "vin" => format!("vin:{}", normalize::plate(value)),
            "person" => {
                let name = fold_name(value);
                if name.is_empty() {
                    return Err(Malformed::new("person", "must not be empty"));
                }
                format!("person:{name}")
            }
            other => {
                return Err(Malformed::new(
                    "selector",
                    format!("unknown kind {other:?}; one of {}", KINDS.join(", ")),
                ));
            }
        }))
    }

    /// The selectors of one (normalised) entity.
    pub fn of_entity(entity: &Entity) -> Vec<Self> {
        let mut out = Vec::new();
        match entity {
            Entity::Phone { number } if !number.is_empty() => {
                out.push(Self(format!("phone:{number}")));
            }
            Entity::Account { identifier, .. } if !identifier.is_empty() => {
                out.push(Self(format!("account:{}", account(identifier))));
            }
            Entity::Vehicle {
                registration,
                country,
                vin,
                ..
            } => {
                if !registration.is_empty() {
                    out.push(Self(format!("vehicle:{country}:{registration}")));
                }
                if !vin.is_empty() {
                    out.push(Self(format!("vin:{vin}")));
                }
            }
            Entity::Person {
                full_name, aliases, ..
            } => {
                for name in std::iter::once(full_name).chain(aliases) {
                    let folded = fold_name(name);
                    if !folded.is_empty() {
                        out.push(Self(format!("person:{folded}")));
                    }
                }
            }
            _ => {}
        }
        out
    }

    /// Its [`SelectorTag`] under `key`.
    pub fn tag(&self, key: &SelectorKey) -> SelectorTag {
        let signed = ring::hmac::sign(&key.0, self.0.as_bytes());
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&signed.as_ref()[..16]);
        SelectorTag(tag)
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every distinct selector of `content`, sorted.
pub fn selectors(content: &BulletinContent) -> Vec<Selector> {
    let mut all: Vec<Selector> = content
        .entities
        .iter()
        .flat_map(Selector::of_entity)
        .collect();
    all.sort();
    all.dedup();
    all
}

/// An account identifier in selector form: no spaces, capitals.
fn account(identifier: &str) -> String {
    normalize::plate(identifier)
}

/// A name folded for matching: decomposed, diacritics dropped, lower case, one space
/// between words (`Ștefan  POPESCU` and `stefan popescu` fold alike).
pub fn fold_name(name: &str) -> String {
    let stripped: String = name
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    stripped.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key a node's selector index is keyed with: 32 random bytes of its own.
pub struct SelectorKey(ring::hmac::Key);

impl SelectorKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes))
    }

    /// A word as a full-text index holds it: `HMAC(key, "word:" space ":" word)`, first
    /// 8 bytes in hex. The index ranks and matches on these, so its files hold no word
    /// of a bulletin; `space` keeps the words of different fields apart.
    pub fn word_token(&self, space: &str, word: &str) -> String {
        let signed = ring::hmac::sign(&self.0, format!("word:{space}:{word}").as_bytes());
        data_encoding::HEXLOWER.encode(&signed.as_ref()[..8])
    }
}

/// The words of a text for full-text search: split at anything that is not a letter or
/// a digit, folded as names are (lower case, no diacritics).
pub fn words(text: &str) -> Vec<String> {
    fold_name(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Words shorter than this match only exactly in a fuzzy search (one edit away from a
/// three-letter word is too many words).
pub const FUZZY_MIN_LEN: usize = 4;

/// `word` and every word one deletion from it (the symmetric-delete scheme): two words
/// within one edit of each other (a letter changed, added or dropped) always share one
/// of these. Only `word` itself below [`FUZZY_MIN_LEN`] letters.
pub fn fuzzy_forms(word: &str) -> Vec<String> {
    let letters: Vec<char> = word.chars().collect();
    let mut forms = vec![word.to_owned()];
    if letters.len() >= FUZZY_MIN_LEN {
        for skip in 0..letters.len() {
            let form: String = letters
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, c)| c)
                .collect();
            if !forms.contains(&form) {
                forms.push(form);
            }
        }
    }
    forms
}

/// HMAC-SHA256(key, canonical selector), first 16 bytes: how an index names a selector
/// without holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SelectorTag(pub [u8; 16]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fold_and_fuzzy_forms_meet_within_one_edit() {
        assert_eq!(
            words("Ștefan POPESCU, tel. +40-712"),
            ["stefan", "popescu", "tel", "40", "712"]
        );
        let meet = |a: &str, b: &str| {
            let theirs = fuzzy_forms(b);
            fuzzy_forms(a).iter().any(|f| theirs.contains(f))
        };
        assert!(meet("popescu", "popesku"), "a letter changed");
        assert!(meet("popescu", "popescuu"), "a letter added");
        assert!(meet("popescu", "popscu"), "a letter dropped");
        assert!(!meet("popescu", "popovici"));
        assert!(!meet("ion", "ian"), "short words match only exactly");
        let key = SelectorKey::from_bytes(&[1; 32]);
        assert_eq!(key.word_token("t", "popescu").len(), 16);
        assert_ne!(
            key.word_token("t", "popescu"),
            key.word_token("n", "popescu")
        );
    }

    #[test]
    fn one_value_written_two_ways_is_one_selector() {
        assert_eq!(
            Selector::parse("phone", "0040 712 345 678").unwrap(),
            Selector::parse("phone", "+40712345678").unwrap()
        );
        assert_eq!(
            Selector::parse("person", "Ștefan  POPESCU")
                .unwrap()
                .as_str(),
            "person:stefan popescu"
        );
        assert_eq!(
            Selector::parse("vehicle", "Romania:b-123-xyz")
                .unwrap()
                .as_str(),
            "vehicle:RO:B123XYZ"
        );
        assert_eq!(
            Selector::parse("account", "ro49 aaaa 1b31 0075 9384 0000")
                .unwrap()
                .as_str(),
            "account:RO49AAAA1B31007593840000"
        );
        assert!(Selector::parse("phone", "0712 345 678").is_err());
        assert_eq!(
            Selector::parse("vehicle", "b 123 xyz;country=Romania;make=Dacia")
                .unwrap()
                .as_str(),
            "vehicle:RO:B123XYZ",
            "the entity syntax names the same selector"
        );
        assert!(Selector::parse("vehicle", "B123XYZ").is_err());
        assert!(Selector::parse("vehicle", "B123XYZ;make=Dacia").is_err());
        assert!(Selector::parse("shoe-size", "44").is_err());
    }

    #[test]
    fn entities_give_their_selectors_and_the_tag_hides_them() {
        let entity = normalize::entity(Entity::Person {
            full_name: "Ion Popescu".into(),
            date_of_birth: String::new(),
            nationality: String::new(),
            aliases: vec!["Nelu".into()],
            identifiers: vec![],
        })
        .unwrap();
        let found: Vec<String> = Selector::of_entity(&entity)
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(found, ["person:ion popescu", "person:nelu"]);
        let (a, b) = (
            SelectorKey::from_bytes(&[1; 32]),
            SelectorKey::from_bytes(&[2; 32]),
        );
        let s = Selector::parse("phone", "+40712345678").unwrap();
        assert_eq!(s.tag(&a), s.tag(&a));
        assert_ne!(s.tag(&a), s.tag(&b), "another node's key, another tag");
        assert!(
            !s.tag(&a)
                .0
                .windows(4)
                .any(|w| s.as_str().as_bytes().windows(4).any(|v| v == w))
        );
    }
}
