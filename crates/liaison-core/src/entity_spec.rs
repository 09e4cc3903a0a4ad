//! Entities written the way an officer types them: a main value, then `;key=value`
//! fields (`Ion Popescu;dob=1990-03-01;nat=RO;alias=Nelu`). The CLI's entity flags
//! (`bulletin send --person ...`) and the desk's entity rows both read this syntax, so
//! the two doors accept exactly the same text. The result is a draft entity: the node
//! normalises and checks it (E.164 phones, IBAN check digits, dates) when it is sent.
//!
//! | kind | syntax |
//! |---|---|
//! | `person` | `NAME;dob=YYYY-MM-DD;nat=CC;alias=NAME;id=DOC` (alias, id repeatable) |
//! | `phone` | `NUMBER` |
//! | `vehicle` | `PLATE;country=CC;make=MAKE MODEL;vin=VIN` |
//! | `account` | `IBAN-OR-ID;institution=BANK` |
//! | `location` | `NAME;lat=DEG;lon=DEG` |

use crate::bulletin::Entity;
use crate::error::Malformed;

/// The kinds [`parse`] takes, in the order a form offers them.
pub const KINDS: [&str; 5] = ["phone", "person", "vehicle", "account", "location"];

/// Most `;key=value` fields one entity takes (the bulletin's own limits bound the
/// values; this bounds the work on a pasted wall of semicolons).
pub const MAX_FIELDS: usize = 64;

/// The entity of `kind` that `text` writes.
///
/// Errors: [`Malformed`] naming the kind and what is wrong: an unknown kind, an empty
/// main value, a field that is not `key=value`, a field the kind does not take, a
/// coordinate that is not a number, more than [`MAX_FIELDS`] fields.
pub fn parse(kind: &str, text: &str) -> Result<Entity, Malformed> {
    let wrong = |problem: String| Malformed::new(kind, problem);
    let (main, fields) = split(text).map_err(wrong)?;
    let unknown =
        |key: &str, allowed: &str| wrong(format!("unknown field {key:?}: expected {allowed}"));
    Ok(match kind {
        "phone" => match fields.first() {
            Some((key, _)) => return Err(unknown(key, "no fields")),
            None => Entity::Phone { number: main },
        },
        "person" => {
            let (mut date_of_birth, mut nationality) = (String::new(), String::new());
            let (mut aliases, mut identifiers) = (Vec::new(), Vec::new());
            for (key, value) in fields {
                match key.as_str() {
                    "dob" => date_of_birth = value,
                    "nat" | "nationality" => nationality = value,
                    "alias" | "aka" => aliases.push(value),
                    "id" => identifiers.push(value),
                    _ => return Err(unknown(&key, "dob, nat, alias, id")),
                }
            }
            Entity::Person {
                full_name: main,
                date_of_birth,
                nationality,
                aliases,
                identifiers,
            }
        }
        "vehicle" => {
            let (mut country, mut make_model, mut vin) =
                (String::new(), String::new(), String::new());
            for (key, value) in fields {
                match key.as_str() {
                    "country" => country = value,
                    "make" => make_model = value,
                    "vin" => vin = value,
                    _ => return Err(unknown(&key, "country, make, vin")),
                }
            }
            Entity::Vehicle {
                registration: main,
                country,
                make_model,
                vin,
            }
        }
        "account" => {
            let mut institution = String::new();
            for (key, value) in fields {
                match key.as_str() {
                    "institution" | "bank" => institution = value,
                    _ => return Err(unknown(&key, "institution")),
                }
            }
            Entity::Account {
                identifier: main,
                institution,
            }
        }
        "location" => {
            let (mut latitude, mut longitude) = (0.0, 0.0);
            for (key, value) in fields {
                let degrees = value
                    .parse::<f64>()
                    .map_err(|_| wrong(format!("{key}={value}: not a number")));
                match key.as_str() {
                    "lat" => latitude = degrees?,
                    "lon" => longitude = degrees?,
                    _ => return Err(unknown(&key, "lat, lon")),
                }
            }
            Entity::Location {
                name: main,
                latitude,
                longitude,
            }
        }
        other => {
            return Err(Malformed::new(
                "kind",
                format!(
                    "unknown entity kind {other:?}: expected one of {}",
                    KINDS.join(", ")
                ),
            ));
        }
    })
}

/// `MAIN;key=value;...`: the main value and the fields (keys lower-cased), in order.
fn split(text: &str) -> Result<(String, Vec<(String, String)>), String> {
    let mut parts = text.split(';');
    let main = parts.next().unwrap_or_default().trim().to_owned();
    if main.is_empty() {
        return Err("the value before the first `;` is empty".into());
    }
    let mut fields = Vec::new();
    for part in parts.filter(|p| !p.trim().is_empty()) {
        if fields.len() == MAX_FIELDS {
            return Err(format!("more than {MAX_FIELDS} fields"));
        }
        let (key, value) = part
            .split_once('=')
            .ok_or_else(|| format!("{:?} is not key=value", part.trim()))?;
        fields.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok((main, fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reads_its_fields() {
        assert_eq!(
            parse(
                "person",
                "Ion Popescu;dob=1990-03-01;NAT=RO;alias=Nelu;alias=Ionut;id=X1"
            )
            .unwrap(),
            Entity::Person {
                full_name: "Ion Popescu".into(),
                date_of_birth: "1990-03-01".into(),
                nationality: "RO".into(),
                aliases: vec!["Nelu".into(), "Ionut".into()],
                identifiers: vec!["X1".into()],
            }
        );
        assert_eq!(
            parse("vehicle", " B 123 ABC ; country=RO;make=VW Passat;").unwrap(),
            Entity::Vehicle {
                registration: "B 123 ABC".into(),
                country: "RO".into(),
                make_model: "VW Passat".into(),
                vin: String::new(),
            }
        );
        assert_eq!(
            parse("location", "Nadlac;lat=46.17;lon=20.75").unwrap(),
            Entity::Location {
                name: "Nadlac".into(),
                latitude: 46.17,
                longitude: 20.75,
            }
        );
        assert_eq!(
            parse("account", "RO49AAAA1B31007593840000;bank=BCR").unwrap(),
            Entity::Account {
                identifier: "RO49AAAA1B31007593840000".into(),
                institution: "BCR".into(),
            }
        );
        assert_eq!(
            parse("phone", "+40 712 345 678").unwrap(),
            Entity::Phone {
                number: "+40 712 345 678".into()
            }
        );
    }

    #[test]
    fn what_is_wrong_is_named() {
        let problem = |kind: &str, text: &str| parse(kind, text).unwrap_err().to_string();
        assert_eq!(
            problem("person", ";dob=1990-03-01"),
            "person: the value before the first `;` is empty"
        );
        assert_eq!(
            problem("vehicle", "B1;colour=red"),
            "vehicle: unknown field \"colour\": expected country, make, vin"
        );
        assert_eq!(
            problem("location", "X;lat=north"),
            "location: lat=north: not a number"
        );
        assert_eq!(
            problem("account", "X;bank"),
            "account: \"bank\" is not key=value"
        );
        assert_eq!(
            problem("phone", "+40712345678;ext=2"),
            "phone: unknown field \"ext\": expected no fields"
        );
        assert!(problem("weapon", "AK").starts_with("kind: unknown entity kind \"weapon\""));
        let many = format!("X{}", ";id=1".repeat(MAX_FIELDS + 1));
        assert_eq!(
            problem("person", &many),
            format!("person: more than {MAX_FIELDS} fields")
        );
    }
}
