//! STIX 2.1 export: the bulletins held here as a bundle an analyst's platform (MISP,
//! OpenCTI) reads. Mapping and the Liaison extensions: docs/STIX.md.
//!
//! Every id is a UUIDv5 of what it stands for (the bulletin id, the agency id, the
//! entity's values), and every timestamp comes from the bulletin, so exporting the same
//! bulletins again gives the same objects.

use std::collections::BTreeMap;

pub use liaison_core::stix::StixDraft;
use liaison_core::stix::{TLP_EXTENSION, TLP_MARKINGS, drafts_from_bundle};
use liaison_core::{BulletinId, Entity, Tlp, UnixMillis};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::Result;
use crate::node::state::NodeState;
use crate::ops::bulletins::views::{self, BulletinDetail};

/// The namespace of Liaison's STIX ids (UUIDv5 of "liaison/stix" in the URL namespace).
fn liaison_namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://liaison.invalid/stix")
}

/// STIX's namespace for cyber-observable ids (STIX 2.1, 2.9).
const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// When Liaison's own objects (its identity, its extension definitions) were defined:
/// fixed, so they are the same in every export.
const DEFINED: &str = "2026-11-29T00:00:00.000Z";

/// Liaison's extensions: `(name, STIX type it defines or "", extension type)`.
const EXTENSIONS: [(&str, &str, &str); 4] = [
    ("liaison-bulletin", "", "property-extension"),
    ("liaison-phone-number", "liaison-phone-number", "new-sco"),
    ("liaison-vehicle", "liaison-vehicle", "new-sco"),
    (
        "liaison-financial-account",
        "liaison-financial-account",
        "new-sco",
    ),
];

fn id(kind: &str, name: &str) -> String {
    format!(
        "{kind}--{}",
        Uuid::new_v5(&liaison_namespace(), name.as_bytes())
    )
}

fn extension_id(name: &str) -> String {
    id("extension-definition", &format!("extension:{name}"))
}

fn liaison_identity() -> String {
    id("identity", "liaison")
}

fn agency_identity(agency: &str) -> String {
    id("identity", &format!("agency:{agency}"))
}

/// An observable's id: UUIDv5 in STIX's namespace of its id-contributing properties
/// (STIX 2.1, 2.9), serialised with sorted keys.
fn observable_id(kind: &str, contributing: &Value) -> String {
    format!(
        "{kind}--{}",
        Uuid::new_v5(&SCO_NAMESPACE, contributing.to_string().as_bytes())
    )
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct StixFilter {
    /// Only bulletins created at or after this time.
    pub since: Option<UnixMillis>,
    /// Only this bulletin.
    pub id: Option<BulletinId>,
}

/// The bulletins held here (sent and received) that `filter` selects, as a STIX 2.1
/// bundle, oldest first. The export is recorded as a read by `caller` (the
/// consultation log).
///
/// Errors: an unknown bulletin id, a log read failure.
pub fn stix_export(state: &NodeState, filter: &StixFilter, caller: &str) -> Result<Value> {
    let ids: Vec<BulletinId> = match &filter.id {
        Some(id) => vec![*id],
        None => {
            let list = crate::ops::bulletins::Filter {
                since: filter.since,
                newest_first: false,
                ..Default::default()
            };
            views::bulletin_list(state, &list, 10_000)?
                .iter()
                .filter_map(|b| b.id.parse().ok())
                .collect()
        }
    };
    let details = ids
        .iter()
        .map(|id| views::bulletin_show(state, id))
        .collect::<Result<Vec<_>>>()?;
    crate::ops::bulletins::record_reads(state, caller, "stix export", ids.clone())?;
    Ok(bundle(&details))
}

/// The bundle for `bulletins`.
pub fn bundle(bulletins: &[BulletinDetail]) -> Value {
    // The bundle id follows the bulletins it holds: the same export, the same bundle.
    let names: Vec<&str> = bulletins.iter().map(|b| b.summary.id.as_str()).collect();
    json!({
        "type": "bundle",
        "id": id("bundle", &names.join(",")),
        "objects": bundle_objects(bulletins),
    })
}

/// The objects of the bundle for `bulletins`, each once, in id order.
pub fn bundle_objects(bulletins: &[BulletinDetail]) -> Vec<Value> {
    let mut objects: BTreeMap<String, Value> = BTreeMap::new();
    let mut put = |mut object: Value| {
        drop_empty_lists(&mut object);
        if let Some(id) = object["id"].as_str() {
            objects.insert(id.to_owned(), object);
        }
    };
    put(json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": liaison_identity(),
        "created": DEFINED,
        "modified": DEFINED,
        "name": "Liaison",
        "description": "The Liaison intelligence-sharing node software, author of the Liaison STIX extensions.",
        "identity_class": "system",
    }));
    for (name, new_type, extension_type) in EXTENSIONS {
        let mut definition = json!({
            "type": "extension-definition",
            "spec_version": "2.1",
            "id": extension_id(name),
            "created": DEFINED,
            "modified": DEFINED,
            "created_by_ref": liaison_identity(),
            "name": name,
            "description": extension_description(name),
            "schema": format!("Liaison docs/STIX.md, section \"{name}\"."),
            "version": "1.0.0",
            "extension_types": [extension_type],
        });
        if extension_type == "new-sco" {
            definition["description"] = json!(format!(
                "{} Defines the STIX Cyber-observable Object type {new_type}.",
                extension_description(name)
            ));
        }
        put(definition);
    }
    for bulletin in bulletins {
        for object in bulletin_objects(bulletin) {
            put(object);
        }
    }
    objects.into_values().collect()
}

/// STIX forbids empty lists: a property with nothing to list is left out.
fn drop_empty_lists(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|_, v| !matches!(v, Value::Array(a) if a.is_empty()));
        map.values_mut().for_each(drop_empty_lists);
    }
}

fn extension_description(name: &str) -> &'static str {
    match name {
        "liaison-bulletin" => {
            "Liaison bulletin properties on a report: bulletin id, category, handling codes, Admiralty evaluation, restriction, thread, expiry."
        }
        "liaison-phone-number" => "A telephone number, E.164 where known.",
        "liaison-vehicle" => {
            "A road vehicle: registration, country of registration, make and model, VIN."
        }
        _ => "A financial account: IBAN, card or wallet identifier, and its institution.",
    }
}

fn tlp_marking(tlp: &str) -> Option<(Value, String)> {
    let (name, level, marking) = TLP_MARKINGS.iter().find(|(name, _, _)| *name == tlp)?;
    Some((
        json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": marking,
            "created": "2022-10-01T00:00:00.000Z",
            "name": name,
            "extensions": {
                TLP_EXTENSION: { "extension_type": "property-extension", "tlp_2_0": level }
            }
        }),
        (*marking).to_owned(),
    ))
}

/// The report for one bulletin, the objects it refers to, and a relationship per
/// reference to another bulletin.
fn bulletin_objects(b: &BulletinDetail) -> Vec<Value> {
    let mut out = Vec::new();
    let origin = agency_identity(&b.summary.origin);
    for agency in std::iter::once(&b.summary.origin).chain(&b.summary.recipients) {
        out.push(json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": agency_identity(agency),
            "created": DEFINED,
            "modified": DEFINED,
            "created_by_ref": liaison_identity(),
            "name": agency,
            "identity_class": "organization",
        }));
    }
    let markings = match tlp_marking(&b.summary.tlp) {
        Some((definition, marking)) => {
            out.push(definition);
            vec![marking]
        }
        None => Vec::new(),
    };
    let mut refs = Vec::new();
    for entity in &b.entities {
        let object = entity_object(entity, &b.created, &origin, &markings);
        if let Some(id) = object["id"].as_str() {
            refs.push(id.to_owned());
        }
        out.push(object);
    }
    if refs.is_empty() {
        // A report refers to at least one object: the originator's identity.
        refs.push(origin.clone());
    }
    let report = id("report", &format!("bulletin:{}", b.summary.id));
    let mut extension = json!({
        "extension_type": "property-extension",
        "bulletin_id": b.summary.id,
        "category": b.summary.category,
        "handling_codes": b.handling_codes,
        "thread_id": b.thread,
        "expires": b.expires,
    });
    if let Some(evaluation) = &b.evaluation {
        extension["evaluation"] = json!(evaluation);
    }
    if !b.restriction.is_empty() {
        extension["restriction"] = json!(b.restriction);
    }
    out.push(json!({
        "type": "report",
        "spec_version": "2.1",
        "id": report,
        "created": b.created,
        "modified": b.created,
        "published": b.created,
        "created_by_ref": origin,
        "name": b.summary.title,
        "description": b.body,
        "report_types": ["threat-report"],
        "labels": [b.summary.category],
        "object_refs": refs,
        "object_marking_refs": markings,
        "external_references": [{
            "source_name": "liaison",
            "external_id": b.summary.id,
        }],
        "extensions": { extension_id("liaison-bulletin"): extension },
    }));
    for reference in &b.references {
        let Some((kind, target)) = reference
            .strip_prefix("reply to ")
            .map(|t| ("reply to", t))
            .or_else(|| {
                reference
                    .strip_prefix("update of ")
                    .map(|t| ("update of", t))
            })
        else {
            continue;
        };
        out.push(json!({
            "type": "relationship",
            "spec_version": "2.1",
            "id": id("relationship", &format!("{}:{kind}:{target}", b.summary.id)),
            "created": b.created,
            "modified": b.created,
            "created_by_ref": origin,
            "relationship_type": "related-to",
            "description": format!("{kind} bulletin {target}"),
            "source_ref": report,
            "target_ref": id("report", &format!("bulletin:{target}")),
            "object_marking_refs": markings,
        }));
    }
    out
}

/// One entity as a STIX object: a person as an individual identity, a place as a
/// location, the rest as Liaison observables.
fn entity_object(entity: &Entity, created: &str, origin: &str, markings: &[String]) -> Value {
    let new_sco = |kind: &str, contributing: Value, mut object: Value| {
        object["type"] = json!(kind);
        object["spec_version"] = json!("2.1");
        object["id"] = json!(observable_id(kind, &contributing));
        object["object_marking_refs"] = json!(markings);
        object["extensions"] = json!({ extension_id(kind): { "extension_type": "new-sco" } });
        object
    };
    match entity {
        Entity::Person {
            full_name,
            date_of_birth,
            nationality,
            ..
        } => json!({
            "type": "identity",
            "spec_version": "2.1",
            "id": id("identity", &format!("person:{full_name}:{date_of_birth}:{nationality}")),
            "created": created,
            "modified": created,
            "created_by_ref": origin,
            "name": full_name,
            // Date of birth, nationality, aliases and identifiers, as `bulletin show`
            // writes them.
            "description": entity.describe().1,
            "identity_class": "individual",
            "object_marking_refs": markings,
        }),
        Entity::Location {
            name,
            latitude,
            longitude,
        } => json!({
            "type": "location",
            "spec_version": "2.1",
            "id": id("location", &format!("location:{name}:{latitude}:{longitude}")),
            "created": created,
            "modified": created,
            "created_by_ref": origin,
            "name": name,
            "latitude": latitude,
            "longitude": longitude,
            "object_marking_refs": markings,
        }),
        Entity::Phone { number } => new_sco(
            "liaison-phone-number",
            json!({ "value": number }),
            json!({ "value": number }),
        ),
        Entity::Vehicle {
            registration,
            country,
            make_model,
            vin,
        } => {
            let mut object = json!({ "registration": registration });
            for (key, value) in [
                ("country", country),
                ("make_model", make_model),
                ("vin", vin),
            ] {
                if !value.is_empty() {
                    object[key] = json!(value);
                }
            }
            new_sco(
                "liaison-vehicle",
                json!({ "country": country, "registration": registration, "vin": vin }),
                object,
            )
        }
        Entity::Account {
            identifier,
            institution,
        } => {
            let mut object = json!({ "identifier": identifier });
            if !institution.is_empty() {
                object["institution"] = json!(institution);
            }
            new_sco(
                "liaison-financial-account",
                json!({ "identifier": identifier }),
                object,
            )
        }
    }
}

/// What `stix import` sends: each draft of a bundle as a bulletin to `to`, marked
/// `tlp`, in `category`; with `dry_run` only the drafts.
#[derive(Debug, Clone)]
pub struct StixImport {
    /// The recipients.
    pub to: crate::ops::bulletins::Recipients,
    /// The bulletins' TLP (no looser than any report's marking).
    pub tlp: Tlp,
    /// The bulletins' category.
    pub category: liaison_core::Category,
    /// Show the drafts, send nothing.
    pub dry_run: bool,
}

/// Imports a STIX bundle: one bulletin per report, published unless `dry_run`. The
/// whole bundle is read and every report checked before the first is sent.
///
/// Errors: [`crate::Error::InvalidRequest`] for a bundle [`drafts_from_bundle`]
/// refuses, naming the object and field (nothing sent); a publish refused (an
/// entity that does not normalise, a recipient the policy refuses) stops the import
/// at that report, and the error names it and the bulletins already sent.
pub fn stix_import(state: &NodeState, bytes: &[u8], import: &StixImport) -> Result<Vec<StixDraft>> {
    let drafts = drafts_from_bundle(bytes, import.tlp)
        .map_err(|e| crate::Error::InvalidRequest(e.to_string()))?;
    let requests = drafts
        .iter()
        .map(|(draft, kept)| {
            let mut request = views::SendRequest::new(
                import.to.clone(),
                import.category.clone(),
                import.tlp,
                &draft.title,
                &draft.body,
            );
            request.entities = draft.entities.clone();
            if kept.len() > 1 {
                let json = serde_json::to_vec_pretty(kept).unwrap_or_default();
                request.attachments = vec![views::AttachmentUpload {
                    file_name: "stix-unmapped.json".into(),
                    media_type: "application/json".into(),
                    data_base64: data_encoding::BASE64.encode(&json),
                    staged: None,
                }];
            }
            request
        })
        .collect::<Vec<_>>();
    let mut out: Vec<StixDraft> = drafts.into_iter().map(|(d, _)| d).collect();
    if import.dry_run {
        return Ok(out);
    }
    let mut sent: Vec<String> = Vec::new();
    for (draft, request) in out.iter_mut().zip(requests) {
        let id = views::bulletin_send(state, request).map_err(|e| {
            crate::Error::InvalidRequest(format!(
                "report {} ({:?}) not sent: {}; sent before it: {}",
                draft.report,
                draft.title,
                crate::error::describe(&e),
                if sent.is_empty() {
                    "none".to_owned()
                } else {
                    sent.join(", ")
                }
            ))
        })?;
        sent.push(id.id.clone());
        draft.bulletin = Some(id.id);
    }
    Ok(out)
}
