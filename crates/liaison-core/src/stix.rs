//! STIX 2.1 bundles from other tools (MISP, OpenCTI, another Liaison), read into
//! bulletin drafts; and the TLP marking definitions both directions use. The mapping
//! is in docs/STIX.md. Everything here reads foreign bytes: sizes are bounded, every
//! field is checked, errors name the object index and field.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::bulletin::Entity;
use crate::error::Malformed;
use crate::ids::Tlp;

/// The TLP 2.0 extension (OASIS cti-stix-common-objects).
pub const TLP_EXTENSION: &str = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";

/// The official TLP 2.0 marking-definition ids, by level.
pub const TLP_MARKINGS: [(&str, &str, &str); 5] = [
    (
        "TLP:CLEAR",
        "clear",
        "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    ),
    (
        "TLP:GREEN",
        "green",
        "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    ),
    (
        "TLP:AMBER",
        "amber",
        "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    ),
    (
        "TLP:AMBER+STRICT",
        "amber+strict",
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    ),
    (
        "TLP:RED",
        "red",
        "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
    ),
];

/// Largest STIX bundle `stix import` reads.
pub const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

/// TLP 1.0 marking definitions (STIX 2.1, 7.2.1.4), which MISP and older tools still
/// write, with the TLP 2.0 level each stands for.
const TLP1_MARKINGS: [(&str, Tlp); 4] = [
    (
        "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        Tlp::Clear,
    ),
    (
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        Tlp::Green,
    ),
    (
        "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        Tlp::Amber,
    ),
    (
        "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        Tlp::Red,
    ),
];

/// A bulletin drafted from one STIX report (or grouping).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StixDraft {
    /// The report's STIX id.
    pub report: String,
    /// The bulletin's title (the report's `name`).
    pub title: String,
    /// Its body: the report's `description` and where it came from.
    pub body: String,
    /// The strictest TLP the report was marked with, if any.
    pub marked: Option<String>,
    /// Entities mapped from the objects the report refers to.
    pub entities: Vec<Entity>,
    /// Objects kept in the `stix-unmapped.json` attachment (their STIX ids).
    pub unmapped: Vec<String>,
    /// The bulletin published from it (absent for a dry run, and until published).
    pub bulletin: Option<String>,
}

fn bad(field: String, problem: impl std::fmt::Display) -> Malformed {
    Malformed::new(format!("STIX bundle {field}"), problem.to_string())
}

/// Reads a STIX 2.1 bundle from anyone (MISP, OpenCTI, another Liaison) into one draft
/// per `report` or `grouping`: title, body, the entities Liaison has a kind for, and
/// every other object the report refers to kept whole for an attachment. A report
/// marked stricter than `tlp` is refused: importing may never loosen a marking.
///
/// Errors: [`Malformed`] naming the object index and field.
pub fn drafts_from_bundle(
    bytes: &[u8],
    tlp: Tlp,
) -> Result<Vec<(StixDraft, Vec<Value>)>, Malformed> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(bad(
            "size".into(),
            format!(
                "{} bytes, more than the {MAX_IMPORT_BYTES} accepted",
                bytes.len()
            ),
        ));
    }
    let bundle: Value = serde_json::from_slice(bytes).map_err(|e| {
        bad(
            format!("line {} column {}", e.line(), e.column()),
            e.to_string(),
        )
    })?;
    if bundle["type"] != "bundle" {
        return Err(bad("type".into(), "is not \"bundle\""));
    }
    let objects = bundle["objects"]
        .as_array()
        .ok_or_else(|| bad("objects".into(), "is not a list"))?;
    let mut by_id = BTreeMap::new();
    for (i, object) in objects.iter().enumerate() {
        let kind = object["type"]
            .as_str()
            .ok_or_else(|| bad(format!("objects[{i}].type"), "is missing"))?;
        let id = object["id"]
            .as_str()
            .ok_or_else(|| bad(format!("objects[{i}].id"), "is missing"))?;
        let uuid = id
            .strip_prefix(kind)
            .and_then(|rest| rest.strip_prefix("--"))
            .ok_or_else(|| {
                bad(
                    format!("objects[{i}].id"),
                    format!("{id:?} is not {kind}--UUID"),
                )
            })?;
        uuid::Uuid::parse_str(uuid).map_err(|_| {
            bad(
                format!("objects[{i}].id"),
                format!("{uuid:?} is not a UUID"),
            )
        })?;
        by_id.insert(id, object);
    }
    let mut drafts = Vec::new();
    for (i, report) in objects.iter().enumerate() {
        if report["type"] != "report" && report["type"] != "grouping" {
            continue;
        }
        let field = |f: &str| format!("objects[{i}].{f}");
        let title = report["name"]
            .as_str()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| bad(field("name"), "is missing"))?;
        if title.len() > crate::limits::MAX_TITLE_BYTES {
            return Err(bad(
                field("name"),
                format!(
                    "is {} bytes; a bulletin title holds {}",
                    title.len(),
                    crate::limits::MAX_TITLE_BYTES
                ),
            ));
        }
        let marked = report["object_marking_refs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str())
            .filter_map(tlp_of_marking)
            .max();
        if let Some(marked) = marked.filter(|m| *m > tlp) {
            return Err(bad(
                field("object_marking_refs"),
                format!(
                    "the report is {marked}; importing it as {tlp} would loosen its marking (give --tlp {} or stricter)",
                    marked.as_str()
                ),
            ));
        }
        let id = report["id"].as_str().unwrap_or_default();
        let author = report["created_by_ref"]
            .as_str()
            .and_then(|r| by_id.get(r))
            .and_then(|o| o["name"].as_str());
        let mut body = report["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        body.push_str(&format!(
            "\n\n[Imported from STIX {} {id}{}]",
            report["type"].as_str().unwrap_or("report"),
            author
                .map(|a| format!(", created by {a}"))
                .unwrap_or_default()
        ));
        if body.len() > crate::limits::MAX_BODY_BYTES {
            return Err(bad(field("description"), "is longer than a bulletin body"));
        }
        let mut entities = Vec::new();
        let mut kept: Vec<Value> = vec![(*report).clone()];
        let mut unmapped = Vec::new();
        for reference in report["object_refs"].as_array().into_iter().flatten() {
            let Some(object) = reference.as_str().and_then(|r| by_id.get(r)) else {
                continue;
            };
            match entity_of(object) {
                Some(entity) => entities.push(entity),
                None => {
                    unmapped.push(object["id"].as_str().unwrap_or_default().to_owned());
                    kept.push((*object).clone());
                }
            }
        }
        drafts.push((
            StixDraft {
                report: id.to_owned(),
                title: title.trim().to_owned(),
                body,
                marked: marked.map(|m| m.to_string()),
                entities,
                unmapped,
                bulletin: None,
            },
            kept,
        ));
    }
    if drafts.is_empty() {
        return Err(bad(
            "objects".into(),
            "holds no report or grouping to make a bulletin of",
        ));
    }
    Ok(drafts)
}

fn tlp_of_marking(marking: &str) -> Option<Tlp> {
    TLP_MARKINGS
        .iter()
        .find(|(_, _, id)| *id == marking)
        .and_then(|(name, _, _)| name.parse().ok())
        .or_else(|| {
            TLP1_MARKINGS
                .iter()
                .find(|(id, _)| *id == marking)
                .map(|(_, tlp)| *tlp)
        })
}

/// The entity a STIX object stands for, if Liaison has a kind for it.
fn entity_of(object: &Value) -> Option<Entity> {
    let text = |key: &str| object[key].as_str().unwrap_or_default().to_owned();
    match object["type"].as_str()? {
        "identity" if object["identity_class"] == "individual" => Some(Entity::Person {
            full_name: object["name"].as_str()?.to_owned(),
            date_of_birth: String::new(),
            nationality: String::new(),
            aliases: Vec::new(),
            identifiers: Vec::new(),
        }),
        "location" => Some(Entity::Location {
            name: object["name"]
                .as_str()
                .or(object["city"].as_str())
                .unwrap_or_default()
                .to_owned(),
            latitude: object["latitude"].as_f64()?,
            longitude: object["longitude"].as_f64()?,
        }),
        "liaison-phone-number" => Some(Entity::Phone {
            number: object["value"].as_str()?.to_owned(),
        }),
        "liaison-vehicle" => Some(Entity::Vehicle {
            registration: object["registration"].as_str()?.to_owned(),
            country: text("country"),
            make_model: text("make_model"),
            vin: text("vin"),
        }),
        "liaison-financial-account" => Some(Entity::Account {
            identifier: object["identifier"].as_str()?.to_owned(),
            institution: text("institution"),
        }),
        _ => None,
    }
}
