//! Validated identifiers and markings. Each type can only hold a valid value: parse with
//! `FromStr`/`TryFrom`, and a bad value is a [`Malformed`] error naming the rule.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Malformed;
use crate::limits;

/// An agency: ISO 3166-1 alpha-2 country code, a dash, then 2-16 of `A-Z0-9`
/// (`NL-NP`, `DE-BKA`, `RO-DIICOT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgencyId(String);

impl AgencyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The two-letter country code.
    pub fn country(&self) -> &str {
        &self.0[..2]
    }
}

impl FromStr for AgencyId {
    type Err = Malformed;

    fn from_str(s: &str) -> Result<Self, Malformed> {
        let bad = || {
            Malformed::new(
                "agency",
                format!(
                    "{s:?} is not an agency id: expected a country code, a dash and 2-16 of A-Z 0-9, e.g. NL-NP"
                ),
            )
        };
        let (country, unit) = s.split_once('-').ok_or_else(bad)?;
        let country_ok = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
        let unit_ok = (2..=16).contains(&unit.len())
            && unit
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if country_ok && unit_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(bad())
        }
    }
}

impl TryFrom<String> for AgencyId {
    type Error = Malformed;
    fn try_from(s: String) -> Result<Self, Malformed> {
        s.parse()
    }
}

impl From<AgencyId> for String {
    fn from(id: AgencyId) -> String {
        id.0
    }
}

impl fmt::Display for AgencyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bulletin's id: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BulletinId(uuid::Uuid);

impl BulletinId {
    /// A new id for a bulletin created at `now`.
    pub fn new(now: UnixMillis) -> Self {
        let millis = u64::try_from(now.0).unwrap_or(0);
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            millis / 1000,
            (millis % 1000) as u32 * 1_000_000,
        );
        Self(uuid::Uuid::new_v7(ts))
    }

    /// An id from its 16 bytes; refuses anything but a version-7 UUID.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Malformed> {
        let uuid = uuid::Uuid::from_slice(bytes).map_err(|_| {
            Malformed::new(
                "bulletin_id",
                format!("must be 16 bytes, got {}", bytes.len()),
            )
        })?;
        Self::from_uuid(uuid)
    }

    fn from_uuid(uuid: uuid::Uuid) -> Result<Self, Malformed> {
        if uuid.get_version_num() == 7 {
            Ok(Self(uuid))
        } else {
            Err(Malformed::new(
                "bulletin_id",
                format!("{uuid} is not a UUIDv7"),
            ))
        }
    }

    /// The 16 bytes, big-endian.
    pub fn to_bytes(&self) -> [u8; 16] {
        *self.0.as_bytes()
    }
}

impl FromStr for BulletinId {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Self, Malformed> {
        let uuid = uuid::Uuid::parse_str(s)
            .map_err(|_| Malformed::new("bulletin_id", format!("{s:?} is not a UUID")))?;
        Self::from_uuid(uuid)
    }
}

impl TryFrom<String> for BulletinId {
    type Error = Malformed;
    fn try_from(s: String) -> Result<Self, Malformed> {
        s.parse()
    }
}

impl From<BulletinId> for String {
    fn from(id: BulletinId) -> String {
        id.to_string()
    }
}

impl fmt::Display for BulletinId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The id of a public key: a kind letter, a dash and 16 hex digits of
/// SHA-256("liaison/v1/key-id\0" || kind || public key), e.g. `s-3f9a0c1d2e4b5a69`.
/// `r` root, `s` bulletin signing, `e` encryption; `t` a TLS certificate (16 hex digits
/// of the SHA-256 of its DER).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(String);

impl KeyId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn from_digest(kind: char, digest: &[u8]) -> Self {
        let hex = data_encoding::HEXLOWER.encode(&digest[..8]);
        Self(format!("{kind}-{hex}"))
    }
}

impl FromStr for KeyId {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Self, Malformed> {
        let ok = s.len() == 18
            && matches!(s.as_bytes()[0], b'r' | b's' | b'e' | b't')
            && s.as_bytes()[1] == b'-'
            && s[2..]
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Malformed::new(
                "key_id",
                format!("{s:?} is not a key id: expected r-, s- or e- and 16 lowercase hex digits"),
            ))
        }
    }
}

impl TryFrom<String> for KeyId {
    type Error = Malformed;
    fn try_from(s: String) -> Result<Self, Malformed> {
        s.parse()
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A dotted, lowercase category: 1-8 segments of `a-z 0-9 _ -`, at most 128 bytes
/// (`trafficking.persons`, `fraud.financial.mule-accounts`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Category(String);

impl Category {
    /// The category as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this category is `prefix` or lies under it (`trafficking` covers
    /// `trafficking.persons`, but not `traffickingx`).
    pub fn is_under(&self, prefix: &str) -> bool {
        prefix == "*"
            || self.0 == prefix
            || (self.0.starts_with(prefix) && self.0.as_bytes().get(prefix.len()) == Some(&b'.'))
    }
}

impl FromStr for Category {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Self, Malformed> {
        let segment_ok = |seg: &str| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        };
        let segments = s.split('.').count();
        if s.len() <= 128 && segments <= 8 && s.split('.').all(segment_ok) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Malformed::new(
                "category",
                format!(
                    "{s:?} is not a category: expected 1-8 dot-separated lowercase segments, e.g. trafficking.persons"
                ),
            ))
        }
    }
}

impl TryFrom<String> for Category {
    type Error = Malformed;
    fn try_from(s: String) -> Result<Self, Malformed> {
        s.parse()
    }
}

impl From<Category> for String {
    fn from(c: Category) -> String {
        c.0
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Traffic Light Protocol 2.0, ordered from least to most restricted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Tlp {
    /// TLP:CLEAR — no limit on disclosure.
    Clear,
    /// TLP:GREEN — the community, not public.
    Green,
    /// TLP:AMBER — the recipient's organisation and its clients, need to know.
    Amber,
    /// TLP:AMBER+STRICT — the recipient's organisation only.
    AmberStrict,
    /// TLP:RED — the named recipients only.
    Red,
}

impl Tlp {
    /// Every level, least restricted first.
    pub const ALL: [Tlp; 5] = [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ];

    /// The lowercase name used in config and on the command line (`amber+strict`).
    pub fn as_str(self) -> &'static str {
        match self {
            Tlp::Clear => "clear",
            Tlp::Green => "green",
            Tlp::Amber => "amber",
            Tlp::AmberStrict => "amber+strict",
            Tlp::Red => "red",
        }
    }
}

impl FromStr for Tlp {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Self, Malformed> {
        let lower = s.to_ascii_lowercase();
        let name = lower.strip_prefix("tlp:").unwrap_or(&lower);
        Tlp::ALL
            .into_iter()
            .find(|t| t.as_str() == name || (name == "amber_strict" && *t == Tlp::AmberStrict))
            .ok_or_else(|| {
                Malformed::new(
                    "tlp",
                    format!("{s:?} is not a TLP level: expected clear, green, amber, amber+strict or red"),
                )
            })
    }
}

impl TryFrom<String> for Tlp {
    type Error = Malformed;
    fn try_from(s: String) -> Result<Self, Malformed> {
        s.parse()
    }
}

impl From<Tlp> for String {
    fn from(t: Tlp) -> String {
        t.as_str().to_owned()
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLP:{}", self.as_str().to_ascii_uppercase())
    }
}

/// A handling code: 1-32 of `A-Z a-z 0-9 . _ -`. Its meaning is set in config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HandlingCode(String);

impl HandlingCode {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HandlingCode {
    type Err = Malformed;
    fn from_str(s: &str) -> Result<Self, Malformed> {
        let ok = (1..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Malformed::new(
                "handling_code",
                format!("{s:?} is not a handling code: expected 1-32 of A-Z a-z 0-9 . _ -"),
            ))
        }
    }
}

impl TryFrom<String> for HandlingCode {
    type Error = Malformed;
    fn try_from(s: String) -> Result<Self, Malformed> {
        s.parse()
    }
}

impl From<HandlingCode> for String {
    fn from(c: HandlingCode) -> String {
        c.0
    }
}

impl fmt::Display for HandlingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a bulletin must be handled. It sits in the signed header, so policy can judge it
/// before decryption and no relaying node can soften it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Marking {
    /// What the bulletin is about.
    pub category: Category,
    /// Disclosure limit.
    pub tlp: Tlp,
    /// Handling codes, each at most once, in the order given.
    pub handling_codes: Vec<HandlingCode>,
    /// Evaluation of source and information, if the originator gave one.
    pub evaluation: Option<crate::handling::Evaluation>,
    /// The free-text restriction handling code H3 stands for (empty without H3).
    pub restriction: String,
}

impl Marking {
    /// A marking; refuses more than [`limits::MAX_HANDLING_CODES`] codes or a repeated code.
    pub fn new(
        category: Category,
        tlp: Tlp,
        handling_codes: Vec<HandlingCode>,
    ) -> Result<Self, Malformed> {
        if handling_codes.len() > limits::MAX_HANDLING_CODES {
            return Err(Malformed::new(
                "marking.handling_codes",
                format!(
                    "{} codes, more than the limit of {}",
                    handling_codes.len(),
                    limits::MAX_HANDLING_CODES
                ),
            ));
        }
        for (i, code) in handling_codes.iter().enumerate() {
            if handling_codes[..i].contains(code) {
                return Err(Malformed::new(
                    "marking.handling_codes",
                    format!("{code} appears more than once"),
                ));
            }
        }
        Ok(Self {
            category,
            tlp,
            handling_codes,
            evaluation: None,
            restriction: String::new(),
        })
    }

    /// This marking with an evaluation of source and information.
    pub fn with_evaluation(mut self, evaluation: Option<crate::handling::Evaluation>) -> Self {
        self.evaluation = evaluation;
        self
    }

    /// This marking with the restriction H3 stands for.
    ///
    /// Errors: [`Malformed`] if H3 and the restriction do not come together (see
    /// [`crate::handling::check_restriction`]).
    pub fn with_restriction(mut self, restriction: String) -> Result<Self, Malformed> {
        crate::handling::check_restriction(&self.handling_codes, &restriction)?;
        self.restriction = restriction;
        Ok(self)
    }
}

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// The start (00:00 UTC) of the day `text` names (`2026-11-29`).
    ///
    /// Errors: the text is not such a date, in words.
    pub fn start_of_day(text: &str) -> Result<Self, String> {
        let day: jiff::civil::Date = text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a date such as 2026-11-29"))?;
        day.to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|at| Self(at.timestamp().as_millisecond()))
            .map_err(|e| format!("{text:?}: {e}"))
    }

    /// The current time from the system clock.
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    /// This time plus `days` days, saturating.
    pub fn plus_days(self, days: i64) -> Self {
        Self(self.0.saturating_add(days.saturating_mul(86_400_000)))
    }
}

impl fmt::Display for UnixMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_rfc3339(*self))
    }
}

/// Formats as RFC 3339 UTC with milliseconds (`2026-11-26T21:40:55.123Z`), without a
/// date library: civil-from-days after Howard Hinnant's algorithm.
fn format_rfc3339(t: UnixMillis) -> String {
    let ms = t.0.rem_euclid(1000);
    let secs = t.0.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_ids() {
        for ok in [
            "NL-NP",
            "DE-BKA",
            "RO-DIICOT",
            "FR-OCRTEH2",
            "XX-ABCDEFGHIJKLMNOP",
        ] {
            assert!(ok.parse::<AgencyId>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "NL",
            "nl-np",
            "NL-N",
            "NLD-NP",
            "NL_NP",
            "NL-np",
            "NL-ABCDEFGHIJKLMNOPQ",
            "NL-N P",
            "NL--NP",
        ] {
            assert!(bad.parse::<AgencyId>().is_err(), "{bad}");
        }
        assert_eq!("DE-BKA".parse::<AgencyId>().unwrap().country(), "DE");
    }

    #[test]
    fn categories_and_prefixes() {
        let c: Category = "trafficking.persons".parse().unwrap();
        assert!(c.is_under("trafficking"));
        assert!(c.is_under("trafficking.persons"));
        assert!(c.is_under("*"));
        assert!(!c.is_under("traffic"));
        assert!(!c.is_under("trafficking.persons.minors"));
        for bad in ["", ".", "a..b", "Trafficking", "a b", "a.b.c.d.e.f.g.h.i"] {
            assert!(bad.parse::<Category>().is_err(), "{bad}");
        }
    }

    #[test]
    fn tlp_parses_and_orders() {
        assert_eq!("amber+strict".parse::<Tlp>().unwrap(), Tlp::AmberStrict);
        assert_eq!("TLP:RED".parse::<Tlp>().unwrap(), Tlp::Red);
        assert!("white".parse::<Tlp>().is_err());
        assert!(Tlp::Green < Tlp::Amber && Tlp::AmberStrict < Tlp::Red);
        assert_eq!(Tlp::AmberStrict.to_string(), "TLP:AMBER+STRICT");
    }

    #[test]
    fn bulletin_ids_are_v7_and_round_trip() {
        let id = BulletinId::new(UnixMillis(1_764_000_000_000));
        assert_eq!(BulletinId::from_slice(&id.to_bytes()).unwrap(), id);
        assert_eq!(id.to_string().parse::<BulletinId>().unwrap(), id);
        let v4 = [0x11u8; 16];
        assert!(BulletinId::from_slice(&v4).is_err());
        assert!(BulletinId::from_slice(&[7u8; 15]).is_err());
    }

    #[test]
    fn marking_refuses_repeated_codes() {
        let cat: Category = "fraud".parse().unwrap();
        let h2: HandlingCode = "H2".parse().unwrap();
        assert!(Marking::new(cat.clone(), Tlp::Amber, vec![h2.clone(), h2]).is_err());
        assert!(Marking::new(cat, Tlp::Amber, vec![]).is_ok());
    }

    #[test]
    fn rfc3339() {
        assert_eq!(UnixMillis(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            UnixMillis(1_795_729_255_123).to_string(),
            "2026-11-26T21:40:55.123Z"
        );
        assert_eq!(
            UnixMillis(951_782_400_000).to_string(),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
