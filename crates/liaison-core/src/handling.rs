//! What a desk officer reads off a bulletin's signed header besides its TLP: the
//! handling codes with a defined meaning, the evaluation of source and information,
//! and, for a request for information, its priority and due time.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Malformed;
use crate::ids::{HandlingCode, UnixMillis};
use crate::limits;

/// The handling codes whose meaning Liaison defines (after SIENA's). Other codes pass
/// through with the meaning each agency gives them in its configuration.
pub const DEFINED_CODES: [(&str, &str); 4] = [
    ("H0", "law enforcement use only"),
    (
        "H1",
        "not for use in judicial proceedings without the originator's permission",
    ),
    (
        "H2",
        "no dissemination without the originator's permission (forwarding needs a release grant)",
    ),
    ("H3", "restriction stated by the originator"),
];

/// The code that keeps dissemination under the originator's control whatever the
/// receiving agency's policy lists.
pub const NO_DISSEMINATION: &str = "H2";
/// The code that carries a free-text restriction.
pub const RESTRICTED: &str = "H3";

/// What a handling code means, for codes Liaison defines.
pub fn meaning(code: &HandlingCode) -> Option<&'static str> {
    DEFINED_CODES
        .iter()
        .find(|(c, _)| *c == code.as_str())
        .map(|(_, m)| *m)
}

/// Checks the H3 rule: a restriction text is present exactly when H3 is, and is at
/// most [`limits::MAX_FIELD_BYTES`].
///
/// Errors: [`Malformed`] naming `marking.restriction`.
pub fn check_restriction(codes: &[HandlingCode], restriction: &str) -> Result<(), Malformed> {
    let h3 = codes.iter().any(|c| c.as_str() == RESTRICTED);
    if restriction.len() > limits::MAX_FIELD_BYTES {
        return Err(Malformed::new(
            "marking.restriction",
            format!(
                "{} bytes, more than the limit of {}",
                restriction.len(),
                limits::MAX_FIELD_BYTES
            ),
        ));
    }
    match (h3, restriction.trim().is_empty()) {
        (true, true) => Err(Malformed::new(
            "marking.restriction",
            "handling code H3 needs the restriction it stands for",
        )),
        (false, false) => Err(Malformed::new(
            "marking.restriction",
            "a restriction is carried only with handling code H3",
        )),
        _ => Ok(()),
    }
}

/// Admiralty (NATO) evaluation of a piece of intelligence: the source's reliability
/// (`A` completely reliable to `F` cannot be judged) and the information's credibility
/// (`1` confirmed to `6` cannot be judged). Written `B2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Evaluation {
    source: u8,
    information: u8,
}

/// The meaning of each source-reliability grade, `A` first.
pub const SOURCE_RELIABILITY: [&str; 6] = [
    "completely reliable",
    "usually reliable",
    "fairly reliable",
    "not usually reliable",
    "unreliable",
    "reliability cannot be judged",
];

/// The meaning of each information-credibility grade, `1` first.
pub const INFORMATION_CREDIBILITY: [&str; 6] = [
    "confirmed by other sources",
    "probably true",
    "possibly true",
    "doubtful",
    "improbable",
    "truth cannot be judged",
];

impl Evaluation {
    /// From the two grades as written on the wire (`"B"`, `"2"`).
    ///
    /// Errors: [`Malformed`] naming the grade that is not one.
    pub fn new(source: &str, information: &str) -> Result<Self, Malformed> {
        let source = match source.as_bytes() {
            [c @ b'A'..=b'F'] => c - b'A',
            _ => {
                return Err(Malformed::new(
                    "evaluation.source_reliability",
                    format!("{source:?}: expected one of A B C D E F"),
                ));
            }
        };
        let information = match information.as_bytes() {
            [c @ b'1'..=b'6'] => c - b'1',
            _ => {
                return Err(Malformed::new(
                    "evaluation.information_credibility",
                    format!("{information:?}: expected one of 1 2 3 4 5 6"),
                ));
            }
        };
        Ok(Self {
            source,
            information,
        })
    }

    /// The source grade, `A`-`F`.
    pub fn source(&self) -> char {
        char::from(b'A' + self.source)
    }

    /// The information grade, `1`-`6`.
    pub fn information(&self) -> char {
        char::from(b'1' + self.information)
    }

    /// Both grades in words.
    pub fn describe(&self) -> String {
        format!(
            "{self}: source {}, information {}",
            SOURCE_RELIABILITY[usize::from(self.source)],
            INFORMATION_CREDIBILITY[usize::from(self.information)]
        )
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.source(), self.information())
    }
}

impl FromStr for Evaluation {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Self, Malformed> {
        let s = s.trim().to_ascii_uppercase();
        let mut chars = s.chars();
        match (chars.next(), chars.next(), chars.next()) {
            (Some(a), Some(b), None) => Self::new(&a.to_string(), &b.to_string()),
            _ => Err(Malformed::new(
                "evaluation",
                format!("{s:?}: expected a letter A-F and a digit 1-6, e.g. B2"),
            )),
        }
    }
}

impl TryFrom<String> for Evaluation {
    type Error = Malformed;
    fn try_from(s: String) -> Result<Self, Malformed> {
        s.parse()
    }
}

impl From<Evaluation> for String {
    fn from(e: Evaluation) -> String {
        e.to_string()
    }
}

/// How soon a request for information needs its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    /// In the normal course of work.
    Routine,
    /// Ahead of routine work.
    Urgent,
    /// At once: lives or an operation depend on it.
    Immediate,
}

impl Priority {
    /// Lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Priority::Routine => "routine",
            Priority::Urgent => "urgent",
            Priority::Immediate => "immediate",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Self, Malformed> {
        match s.to_ascii_lowercase().as_str() {
            "routine" => Ok(Priority::Routine),
            "urgent" => Ok(Priority::Urgent),
            "immediate" => Ok(Priority::Immediate),
            other => Err(Malformed::new(
                "priority",
                format!("{other:?}: expected routine, urgent or immediate"),
            )),
        }
    }
}

impl TryFrom<i32> for Priority {
    type Error = Malformed;
    /// From its wire number (`liaison.format.v1.Priority`).
    fn try_from(v: i32) -> Result<Self, Malformed> {
        use liaison_proto::format::v1 as pb;
        match pb::Priority::try_from(v) {
            Ok(pb::Priority::Routine) => Ok(Priority::Routine),
            Ok(pb::Priority::Urgent) => Ok(Priority::Urgent),
            Ok(pb::Priority::Immediate) => Ok(Priority::Immediate),
            _ => Err(Malformed::new(
                "request.priority",
                format!("unknown priority {v}"),
            )),
        }
    }
}

impl From<Priority> for i32 {
    fn from(p: Priority) -> i32 {
        use liaison_proto::format::v1 as pb;
        (match p {
            Priority::Routine => pb::Priority::Routine,
            Priority::Urgent => pb::Priority::Urgent,
            Priority::Immediate => pb::Priority::Immediate,
        }) as i32
    }
}

/// A bulletin that asks its recipients for information by a due time; they answer with
/// a bulletin that replies to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InformationRequest {
    /// How soon.
    pub priority: Priority,
    /// By when.
    pub due: UnixMillis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation_parses_both_grades_and_refuses_others() {
        let e: Evaluation = "b2".parse().unwrap();
        assert_eq!(e.to_string(), "B2");
        assert!(e.describe().contains("usually reliable"));
        assert!(e.describe().contains("probably true"));
        for bad in ["G1", "A0", "A7", "AA", "B", "B22", ""] {
            assert!(bad.parse::<Evaluation>().is_err(), "{bad}");
        }
    }

    #[test]
    fn h3_needs_its_restriction_and_nothing_else_carries_one() {
        let h3: HandlingCode = "H3".parse().unwrap();
        let h0: HandlingCode = "H0".parse().unwrap();
        assert!(check_restriction(std::slice::from_ref(&h3), "only for the JIT").is_ok());
        assert!(check_restriction(std::slice::from_ref(&h3), " ").is_err());
        assert!(check_restriction(std::slice::from_ref(&h0), "text").is_err());
        assert!(check_restriction(&[h0], "").is_ok());
        assert_eq!(
            meaning(&"H2".parse().unwrap()),
            Some(DEFINED_CODES[2].1),
            "H2 has its defined meaning"
        );
    }

    #[test]
    fn priority_round_trips() {
        for p in [Priority::Routine, Priority::Urgent, Priority::Immediate] {
            assert_eq!(p.as_str().parse::<Priority>().unwrap(), p);
        }
        assert!("soon".parse::<Priority>().is_err());
    }
}
