//! TAXII 2.1 query strings, as a TAXII client sends them to a node's read-only TAXII
//! server: `added_after`, `limit`, `next` and the `match[...]` filters (TAXII 2.1,
//! 3.4), read into an [`ObjectQuery`] with each parameter checked and a refusal naming
//! the parameter. Pure and bounded: what comes in is foreign bytes.

use crate::UnixMillis;

/// Most objects one page gives.
pub const MAX_PAGE: usize = 1000;
/// Objects a page gives when the client does not say.
pub const DEFAULT_PAGE: usize = 100;
/// Most values one `match[...]` filter may list.
pub const MAX_MATCH_VALUES: usize = 100;

/// The parameters the `objects/` and `manifest/` endpoints take.
pub const OBJECTS_PARAMETERS: [&str; 7] = [
    "added_after",
    "limit",
    "next",
    "match[type]",
    "match[id]",
    "match[version]",
    "match[spec_version]",
];
/// The parameters the one-object endpoint takes.
pub const OBJECT_PARAMETERS: [&str; 5] = [
    "added_after",
    "limit",
    "next",
    "match[version]",
    "match[spec_version]",
];
/// The parameters the versions endpoint takes.
pub const VERSIONS_PARAMETERS: [&str; 4] = ["added_after", "limit", "next", "match[spec_version]"];

/// Where a page goes on from: object `object` (counted after filtering) of the
/// bulletin at log entry `seq`, or the first bulletin after it if that one is gone.
/// Written `SEQ-OBJECT` in a `next` token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The log entry of the bulletin.
    pub seq: u64,
    /// The object within its filtered objects.
    pub object: usize,
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.seq, self.object)
    }
}

impl std::str::FromStr for Cursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a token this server gave (entry-object)");
        let (seq, object) = s.split_once('-').ok_or_else(bad)?;
        Ok(Self {
            seq: seq.parse().map_err(|_| bad())?,
            object: object.parse().map_err(|_| bad())?,
        })
    }
}

/// Which versions a query wants (`match[version]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum VersionMatch {
    /// `first`, `last`, `all`, or absent: every object a node serves has one version.
    #[default]
    Any,
    /// Only objects whose version is one of these times.
    At(Vec<UnixMillis>),
}

/// A request for a page of a collection's objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectQuery {
    /// Only objects added after this time (`added_after`).
    pub added_after: Option<UnixMillis>,
    /// Only these STIX types (`match[type]`; any when empty).
    pub types: Vec<String>,
    /// Only these ids (`match[id]`; any when empty).
    pub ids: Vec<String>,
    /// Only these versions.
    pub versions: VersionMatch,
    /// Only these spec versions (`match[spec_version]`; any when empty).
    pub spec_versions: Vec<String>,
    /// At most this many objects (1 to [`MAX_PAGE`]).
    pub limit: usize,
    /// Where the previous page ended.
    pub next: Option<Cursor>,
}

impl Default for ObjectQuery {
    fn default() -> Self {
        Self {
            added_after: None,
            types: Vec::new(),
            ids: Vec::new(),
            versions: VersionMatch::Any,
            spec_versions: Vec::new(),
            limit: DEFAULT_PAGE,
            next: None,
        }
    }
}

/// A query parameter refused: which, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {problem}")]
pub struct QueryError {
    /// The parameter as sent (decoded).
    pub parameter: String,
    /// What is wrong with it.
    pub problem: String,
}

fn refuse(parameter: &str, problem: impl Into<String>) -> QueryError {
    QueryError {
        parameter: parameter.to_owned(),
        problem: problem.into(),
    }
}

/// Reads a query string (without the `?`) into an [`ObjectQuery`]: each parameter at
/// most once, only those in `allowed`, each value checked.
///
/// Errors: [`QueryError`] naming the first parameter refused.
pub fn parse_query(raw: &str, allowed: &[&str]) -> Result<ObjectQuery, QueryError> {
    let mut query = ObjectQuery::default();
    let mut seen: Vec<String> = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key).map_err(|e| refuse("query", e))?;
        let value = decode(value).map_err(|e| refuse(&key, e))?;
        if !allowed.contains(&key.as_str()) {
            return Err(refuse(
                &key,
                format!(
                    "not supported here; this endpoint takes {}",
                    allowed.join(", ")
                ),
            ));
        }
        if seen.contains(&key) {
            return Err(refuse(
                &key,
                "given twice; give several values as one comma-separated list",
            ));
        }
        seen.push(key.clone());
        let list = || -> Result<Vec<String>, QueryError> {
            let values: Vec<String> = value
                .split(',')
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .collect();
            if values.len() > MAX_MATCH_VALUES {
                return Err(refuse(
                    &key,
                    format!("at most {MAX_MATCH_VALUES} values, not {}", values.len()),
                ));
            }
            Ok(values)
        };
        match key.as_str() {
            "added_after" => {
                query.added_after = Some(parse_timestamp(&value).map_err(|e| refuse(&key, e))?);
            }
            "limit" => {
                let limit: usize = value
                    .parse()
                    .map_err(|_| refuse(&key, format!("{value:?} is not a whole number")))?;
                if limit == 0 {
                    return Err(refuse(&key, "must be at least 1"));
                }
                // A larger limit is allowed and answered with at most MAX_PAGE.
                query.limit = limit.min(MAX_PAGE);
            }
            "next" => query.next = Some(value.parse().map_err(|e| refuse(&key, e))?),
            "match[type]" => query.types = list()?,
            "match[id]" => query.ids = list()?,
            "match[spec_version]" => query.spec_versions = list()?,
            "match[version]" => {
                query.versions = version_match(&list()?).map_err(|e| refuse(&key, e))?;
            }
            _ => {}
        }
    }
    Ok(query)
}

fn version_match(values: &[String]) -> Result<VersionMatch, String> {
    if values.is_empty()
        || values
            .iter()
            .any(|v| ["first", "last", "all"].contains(&v.as_str()))
    {
        return Ok(VersionMatch::Any);
    }
    values
        .iter()
        .map(|v| parse_timestamp(v))
        .collect::<Result<Vec<_>, _>>()
        .map(VersionMatch::At)
}

/// An RFC 3339 timestamp, to the millisecond.
///
/// Errors: the text is not one, in words.
pub fn parse_timestamp(text: &str) -> Result<UnixMillis, String> {
    text.parse::<jiff::Timestamp>()
        .map(|t| UnixMillis(t.as_millisecond()))
        .map_err(|_| {
            format!("{text:?} is not an RFC 3339 timestamp, e.g. 2026-11-29T08:00:00.000Z")
        })
}

/// Percent-decodes a query component (`+` is a space), as UTF-8.
fn decode(text: &str) -> Result<String, String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| format!("{text:?} is not UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters() {
        let q = parse_query(
            "added_after=2026-11-29T08%3A00%3A00.5Z&limit=5000&match%5Btype%5D=report,identity&next=12-3",
            &OBJECTS_PARAMETERS,
        )
        .unwrap();
        assert_eq!(q.added_after, Some(UnixMillis(1_795_939_200_500)));
        assert_eq!(q.limit, MAX_PAGE);
        assert_eq!(q.types, ["report", "identity"]);
        assert_eq!(q.next, Some(Cursor { seq: 12, object: 3 }));
        assert_eq!(
            parse_query("", &OBJECTS_PARAMETERS).unwrap(),
            ObjectQuery::default()
        );
        let q = parse_query("match[version]=2026-11-29T00:00:00Z", &OBJECTS_PARAMETERS).unwrap();
        assert_eq!(
            q.versions,
            VersionMatch::At(vec![UnixMillis(1_795_910_400_000)])
        );
        let q = parse_query("match[version]=all", &OBJECTS_PARAMETERS).unwrap();
        assert_eq!(q.versions, VersionMatch::Any);
        let many = vec!["report"; MAX_MATCH_VALUES + 1].join(",");

        for (raw, names) in [
            ("limit=0", "limit: must be at least 1"),
            ("limit=ten", "limit: \"ten\" is not a whole number"),
            (
                "added_after=yesterday",
                "added_after: \"yesterday\" is not an RFC 3339",
            ),
            ("next=abc", "next: \"abc\" is not a token"),
            ("next=1-x", "next: \"1-x\" is not a token"),
            ("match[foo]=x", "match[foo]: not supported here"),
            ("limit=1&limit=2", "limit: given twice"),
            ("match[version]=soon", "match[version]: \"soon\""),
            ("limit=%FF", "limit: \"%FF\" is not UTF-8"),
            (
                &format!("match[type]={many}"),
                "match[type]: at most 100 values",
            ),
        ] {
            let problem = parse_query(raw, &OBJECTS_PARAMETERS).unwrap_err();
            assert!(problem.to_string().starts_with(names), "{raw}: {problem}");
        }
        let problem = parse_query("match[type]=report", &OBJECT_PARAMETERS).unwrap_err();
        assert_eq!(problem.parameter, "match[type]");
    }

    #[test]
    fn cursors_round_trip() {
        let c = Cursor {
            seq: 9_000_000_000,
            object: 17,
        };
        assert_eq!(c.to_string().parse::<Cursor>(), Ok(c));
    }
}
