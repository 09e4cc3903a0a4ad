//! Entities in one canonical form, so that the same phone, account, plate or country
//! is written the same way by every agency: phone numbers in E.164 (`phonenumber`,
//! Google's libphonenumber metadata), IBANs in electronic form with their check digits
//! verified (`iban_validate`), countries as ISO 3166-1 alpha-2 (`celes`), plates and
//! VINs in capitals without separators, names with their spaces collapsed.
//!
//! The originator normalises what it sends; a receiver shows what it received as it
//! came (it was signed that way), and refuses nothing on these grounds.

use iban::IbanLike as _;

use crate::bulletin::Entity;
use crate::error::Malformed;

/// `entity` in canonical form.
///
/// Errors: [`Malformed`] naming the field that cannot be read: a phone number without
/// its country code or not a valid number, an account that looks like an IBAN but
/// fails its check digits, a country that is not an ISO 3166-1 code or name, a date
/// of birth that is not `YYYY-MM-DD`.
pub fn entity(entity: Entity) -> Result<Entity, Malformed> {
    Ok(match entity {
        Entity::Person {
            full_name,
            date_of_birth,
            nationality,
            aliases,
            identifiers,
        } => {
            let full_name = collapse(&full_name);
            if full_name.is_empty() {
                return Err(Malformed::new("person.full_name", "must not be empty"));
            }
            Entity::Person {
                full_name,
                date_of_birth: date(date_of_birth.trim())?,
                nationality: country("person.nationality", &nationality)?,
                aliases: aliases.iter().map(|a| collapse(a)).collect(),
                identifiers: identifiers.iter().map(|i| i.trim().to_owned()).collect(),
            }
        }
        Entity::Phone { number } => Entity::Phone {
            number: phone(&number)?,
        },
        Entity::Vehicle {
            registration,
            country: registered_in,
            make_model,
            vin,
        } => Entity::Vehicle {
            registration: plate(&registration),
            country: country("vehicle.country", &registered_in)?,
            make_model: collapse(&make_model),
            vin: plate(&vin),
        },
        Entity::Account {
            identifier,
            institution,
        } => Entity::Account {
            identifier: account(&identifier)?,
            institution: collapse(&institution),
        },
        location @ Entity::Location { .. } => location,
    })
}

/// A phone number in E.164 (`+40712345678`); `00` counts as `+`.
///
/// Errors: [`Malformed`] for a number without its country code or one that is not a
/// valid number in its country's numbering plan.
pub fn phone(number: &str) -> Result<String, Malformed> {
    let trimmed = number.trim();
    let international = match trimmed.strip_prefix("00") {
        Some(rest) => format!("+{rest}"),
        None => trimmed.to_owned(),
    };
    if !international.starts_with('+') {
        return Err(Malformed::new(
            "phone.number",
            format!("{number:?}: give it with its country code, e.g. +40 712 345 678"),
        ));
    }
    let parsed = phonenumber::parse(None, &international).map_err(|e| {
        Malformed::new(
            "phone.number",
            format!("{number:?} is not a phone number: {e}"),
        )
    })?;
    if !phonenumber::is_valid(&parsed) {
        return Err(Malformed::new(
            "phone.number",
            format!("{number:?} is not a valid number in its country's numbering plan"),
        ));
    }
    Ok(parsed.format().mode(phonenumber::Mode::E164).to_string())
}

/// An account identifier: an IBAN (two letters, two digits, ...) in electronic form
/// with its check digits verified; anything else (card, wallet) trimmed.
///
/// Errors: [`Malformed`] for an IBAN that does not validate.
pub fn account(identifier: &str) -> Result<String, Malformed> {
    let compact: String = identifier
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let looks_like_iban = compact.len() >= 15
        && compact.bytes().take(2).all(|b| b.is_ascii_alphabetic())
        && compact.bytes().skip(2).take(2).all(|b| b.is_ascii_digit())
        && compact.bytes().all(|b| b.is_ascii_alphanumeric());
    if !looks_like_iban {
        return Ok(identifier.trim().to_owned());
    }
    compact
        .parse::<iban::Iban>()
        .map(|i| i.electronic_str().to_owned())
        .map_err(|e| {
            Malformed::new(
                "account.identifier",
                format!("{identifier:?} is not a valid IBAN: {e}"),
            )
        })
}

/// A country as ISO 3166-1 alpha-2 (`RO`), from alpha-2, alpha-3 or an English name;
/// empty stays empty.
///
/// Errors: [`Malformed`] naming `field` for anything else.
pub fn country(field: &str, value: &str) -> Result<String, Malformed> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    let found = celes::Country::from_alpha2(value)
        .or_else(|_| celes::Country::from_alpha3(value))
        .or_else(|_| value.parse::<celes::Country>());
    found.map(|c| c.alpha2.to_owned()).map_err(|_| {
        Malformed::new(
            field,
            format!("{value:?} is not an ISO 3166-1 country code or name"),
        )
    })
}

/// A plate or VIN: capitals, no spaces, dashes or dots.
pub fn plate(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '·'))
        .flat_map(char::to_uppercase)
        .collect()
}

fn collapse(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn date(value: &str) -> Result<String, Malformed> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let bad = || {
        Malformed::new(
            "person.date_of_birth",
            format!("{value:?}: expected YYYY-MM-DD"),
        )
    };
    let parts: Vec<&str> = value.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
        return Err(bad());
    }
    let (year, month, day): (u32, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad()),
    };
    if !(1..=days).contains(&day) || !(1900..=2200).contains(&year) {
        return Err(bad());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_become_e164_or_are_refused() {
        assert_eq!(phone("+40 712 345 678").unwrap(), "+40712345678");
        assert_eq!(phone("0040-712-345-678").unwrap(), "+40712345678");
        assert_eq!(phone(" +31 6 12345678 ").unwrap(), "+31612345678");
        assert!(phone("0712 345 678").is_err(), "no country code");
        assert!(phone("+40 12").is_err(), "too short for Romania");
        assert!(phone("call me").is_err());
    }

    #[test]
    fn ibans_are_checked_and_other_accounts_pass() {
        assert_eq!(
            account("de44 5001 0517 5407 3249 31").unwrap(),
            "DE44500105175407324931"
        );
        assert!(
            account("DE45500105175407324931").is_err(),
            "wrong check digits"
        );
        assert_eq!(
            account(" 4111-1111-1111-1111 ").unwrap(),
            "4111-1111-1111-1111"
        );
        assert_eq!(
            account("bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh").unwrap(),
            "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"
        );
    }

    #[test]
    fn countries_dates_plates_and_names() {
        assert_eq!(country("c", "ro").unwrap(), "RO");
        assert_eq!(country("c", "ROU").unwrap(), "RO");
        assert_eq!(country("c", "").unwrap(), "");
        assert!(country("c", "XX").is_err());
        assert_eq!(plate("b 123-abc"), "B123ABC");
        let person = entity(Entity::Person {
            full_name: "  Ion   Popescu ".into(),
            date_of_birth: "1990-02-29".into(),
            nationality: "RO".into(),
            aliases: vec![],
            identifiers: vec![],
        });
        assert!(person.is_err(), "1990 was not a leap year");
        let person = entity(Entity::Person {
            full_name: "  Ion   Popescu ".into(),
            date_of_birth: "1992-02-29".into(),
            nationality: "rou".into(),
            aliases: vec![" Nelu ".into()],
            identifiers: vec![],
        })
        .unwrap();
        assert_eq!(
            person,
            Entity::Person {
                full_name: "Ion Popescu".into(),
                date_of_birth: "1992-02-29".into(),
                nationality: "RO".into(),
                aliases: vec!["Nelu".into()],
                identifiers: vec![],
            }
        );
    }
}
