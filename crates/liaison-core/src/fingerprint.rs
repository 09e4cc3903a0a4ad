//! The root-key fingerprint two liaison officers compare by voice.

use std::fmt;

use crate::crypto::{self, VerifyingKey};
use crate::error::Malformed;

/// SHA-256 of an agency's root public key, shown as base32 in groups of four
/// (`MFRG-GZDF-...`). Two officers compare it over a trusted channel before they add
/// each other; nothing else is ever compared by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a root key.
    pub fn of(root: &VerifyingKey) -> Self {
        Self(crypto::sha256(root.as_bytes()))
    }

    /// Parses the grouped form; dashes, spaces and case are ignored.
    pub fn parse(text: &str) -> Result<Self, Malformed> {
        let compact: String = text
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if let Some(bad) = compact
            .chars()
            .find(|c| !matches!(c, 'A'..='Z' | '2'..='7'))
        {
            return Err(Malformed::new(
                "fingerprint",
                format!(
                    "{bad:?} is not a base32 character (A-Z, 2-7); check what the partner read to you"
                ),
            ));
        }
        if compact.len() != 52 {
            return Err(Malformed::new(
                "fingerprint",
                format!(
                    "has {} characters; a fingerprint has 52 (13 groups of 4, e.g. YR6Y-GOQX-...), so part of it is missing or extra",
                    compact.len()
                ),
            ));
        }
        let bytes = data_encoding::BASE32_NOPAD
            .decode(compact.as_bytes())
            .map_err(|_| Malformed::new("fingerprint", "is not valid base32"))?;
        let array = bytes.try_into().map_err(|_| {
            Malformed::new("fingerprint", "must encode 32 bytes (52 base32 characters)")
        })?;
        Ok(Self(array))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = data_encoding::BASE32_NOPAD.encode(&self.0);
        let groups: Vec<&str> = text
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        f.write_str(&groups.join("-"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_or_misread_fingerprint_says_what_is_wrong() {
        let short = Fingerprint::parse("AAAA-BBBB-CCCC")
            .unwrap_err()
            .to_string();
        assert!(
            short.contains("has 12 characters") && short.contains("52"),
            "{short}"
        );
        let misread = Fingerprint::parse("AAA0-BBBB").unwrap_err().to_string();
        assert!(
            misread.contains("'0' is not a base32 character"),
            "{misread}"
        );
    }
}
