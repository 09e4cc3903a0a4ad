//! Bulletins: what agencies share. [`Bulletin`] is the validated domain type; the
//! encrypted part travels as `pb::BulletinContent` and becomes a [`BulletinContent`]
//! only through `TryFrom`, which enforces [`crate::limits`].

use bytes::Bytes;
use liaison_proto::format::v1 as pb;

use crate::error::Malformed;
use crate::ids::{AgencyId, BulletinId, Marking, UnixMillis};
use crate::limits;

/// A bulletin as its originator wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Bulletin {
    /// UUIDv7.
    pub id: BulletinId,
    /// The agency that wrote and signed it.
    pub origin: AgencyId,
    /// When it was written.
    pub created: UnixMillis,
    /// After this, receivers refuse to open it.
    pub expires: UnixMillis,
    /// Category, TLP and handling codes.
    pub marking: Marking,
    /// The conversation it belongs to (the id of the bulletin that started it), when
    /// it replies to or updates another.
    pub thread: Option<BulletinId>,
    /// Set when it is a request for information.
    pub request: Option<crate::handling::InformationRequest>,
    /// Title, body, entities, attachments and references.
    pub content: BulletinContent,
}

/// The encrypted part of a bulletin.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BulletinContent {
    /// One line, at most [`limits::MAX_TITLE_BYTES`].
    pub title: String,
    /// Free text, at most [`limits::MAX_BODY_BYTES`].
    pub body: String,
    /// Structured subjects: persons, phones, vehicles, accounts, locations.
    pub entities: Vec<Entity>,
    /// Files.
    pub attachments: Vec<Attachment>,
    /// Links to other bulletins.
    pub references: Vec<Reference>,
}

/// A structured subject of a bulletin. In JSON (`bulletin show --json`) an object
/// tagged with its `kind` (`person`, `phone`, `vehicle`, `account`, `location`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Entity {
    /// A person.
    Person {
        /// Full name as known.
        full_name: String,
        /// `YYYY-MM-DD` or empty.
        date_of_birth: String,
        /// ISO 3166-1 alpha-2 or empty.
        nationality: String,
        /// Other names.
        aliases: Vec<String>,
        /// Document numbers and the like.
        identifiers: Vec<String>,
    },
    /// A phone number, E.164 where possible.
    Phone {
        /// The number.
        number: String,
    },
    /// A vehicle.
    Vehicle {
        /// Registration plate.
        registration: String,
        /// Country of registration.
        country: String,
        /// Make and model.
        make_model: String,
        /// Vehicle identification number.
        vin: String,
    },
    /// A financial account.
    Account {
        /// IBAN, card or wallet.
        identifier: String,
        /// Bank or provider.
        institution: String,
    },
    /// A place.
    Location {
        /// Name or address.
        name: String,
        /// WGS84 latitude, degrees.
        latitude: f64,
        /// WGS84 longitude, degrees.
        longitude: f64,
    },
}

impl Entity {
    /// The entity's kind and its fields as one line, for people.
    pub fn describe(&self) -> (&'static str, String) {
        let join = |parts: &[(&str, &str)]| {
            parts
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| {
                    if k.is_empty() {
                        (*v).to_owned()
                    } else {
                        format!("{k} {v}")
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Entity::Person {
                full_name,
                date_of_birth,
                nationality,
                aliases,
                identifiers,
            } => (
                "person",
                join(&[
                    ("", full_name),
                    ("born", date_of_birth),
                    ("nationality", nationality),
                    ("aka", &aliases.join(" / ")),
                    ("ids", &identifiers.join(" ")),
                ]),
            ),
            Entity::Phone { number } => ("phone", number.clone()),
            Entity::Vehicle {
                registration,
                country,
                make_model,
                vin,
            } => (
                "vehicle",
                join(&[
                    ("", registration),
                    ("", country),
                    ("", make_model),
                    ("VIN", vin),
                ]),
            ),
            Entity::Account {
                identifier,
                institution,
            } => ("account", join(&[("", identifier), ("at", institution)])),
            Entity::Location {
                name,
                latitude,
                longitude,
            } => (
                "location",
                format!("{name} ({latitude:.5}, {longitude:.5})"),
            ),
        }
    }
}

/// A file attached to a bulletin.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// File name, without directories.
    pub file_name: String,
    /// IANA media type.
    pub media_type: String,
    /// The bytes, for one inside the envelope (empty for a streamed one).
    pub data: Bytes,
    /// For one sent beside the envelope: its size, key and ciphertext digest.
    pub streamed: Option<crate::attachment::Streamed>,
}

impl Attachment {
    /// Its size in bytes, wherever its bytes are.
    pub fn size(&self) -> u64 {
        self.streamed
            .as_ref()
            .map_or(self.data.len() as u64, |s| s.size)
    }
}

/// How a bulletin relates to an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    /// Supersedes it.
    Update,
    /// Withdraws it.
    Recall,
    /// Answers it.
    Reply,
}

/// A link to another bulletin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    /// The other bulletin.
    pub bulletin_id: BulletinId,
    /// How this one relates to it.
    pub kind: ReferenceKind,
}

fn bounded(field: &str, value: String, max: usize) -> Result<String, Malformed> {
    if value.len() > max {
        Err(Malformed::new(
            field,
            format!("{} bytes, more than the limit of {max}", value.len()),
        ))
    } else {
        Ok(value)
    }
}

fn bounded_list<T>(field: &str, list: &[T], max: usize) -> Result<(), Malformed> {
    if list.len() > max {
        Err(Malformed::new(
            field,
            format!("{} items, more than the limit of {max}", list.len()),
        ))
    } else {
        Ok(())
    }
}

fn bounded_strings(field: &str, values: Vec<String>) -> Result<Vec<String>, Malformed> {
    bounded_list(field, &values, limits::MAX_ENTITIES)?;
    values
        .into_iter()
        .map(|v| bounded(field, v, limits::MAX_FIELD_BYTES))
        .collect()
}

impl TryFrom<pb::BulletinContent> for BulletinContent {
    type Error = Malformed;

    fn try_from(m: pb::BulletinContent) -> Result<Self, Malformed> {
        bounded_list("content.entities", &m.entities, limits::MAX_ENTITIES)?;
        bounded_list(
            "content.attachments",
            &m.attachments,
            limits::MAX_ATTACHMENTS,
        )?;
        bounded_list("content.references", &m.references, limits::MAX_REFERENCES)?;
        let title = bounded("content.title", m.title, limits::MAX_TITLE_BYTES)?;
        if title.trim().is_empty() {
            return Err(Malformed::new("content.title", "must not be empty"));
        }
        Ok(Self {
            title,
            body: bounded("content.body", m.body, limits::MAX_BODY_BYTES)?,
            entities: m
                .entities
                .into_iter()
                .enumerate()
                .map(|(i, e)| {
                    Entity::try_from(e).map_err(|err| err.within(&format!("content.entities[{i}]")))
                })
                .collect::<Result<_, _>>()?,
            attachments: m
                .attachments
                .into_iter()
                .enumerate()
                .map(|(i, a)| {
                    Attachment::try_from(a)
                        .map_err(|err| err.within(&format!("content.attachments[{i}]")))
                })
                .collect::<Result<_, _>>()?,
            references: m
                .references
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    Reference::try_from(r)
                        .map_err(|err| err.within(&format!("content.references[{i}]")))
                })
                .collect::<Result<_, _>>()?,
        })
    }
}

impl TryFrom<pb::Entity> for Entity {
    type Error = Malformed;

    fn try_from(m: pb::Entity) -> Result<Self, Malformed> {
        use pb::entity::Kind;
        let f = |name: &str, v: String| bounded(name, v, limits::MAX_FIELD_BYTES);
        Ok(
            match m.kind.ok_or_else(|| Malformed::new("kind", "missing"))? {
                Kind::Person(p) => {
                    if p.full_name.trim().is_empty() {
                        return Err(Malformed::new("person.full_name", "must not be empty"));
                    }
                    Entity::Person {
                        full_name: f("person.full_name", p.full_name)?,
                        date_of_birth: f("person.date_of_birth", p.date_of_birth)?,
                        nationality: f("person.nationality", p.nationality)?,
                        aliases: bounded_strings("person.aliases", p.aliases)?,
                        identifiers: bounded_strings("person.identifiers", p.identifiers)?,
                    }
                }
                Kind::Phone(p) => Entity::Phone {
                    number: f("phone.number", p.number)?,
                },
                Kind::Vehicle(v) => Entity::Vehicle {
                    registration: f("vehicle.registration", v.registration)?,
                    country: f("vehicle.country", v.country)?,
                    make_model: f("vehicle.make_model", v.make_model)?,
                    vin: f("vehicle.vin", v.vin)?,
                },
                Kind::Account(a) => Entity::Account {
                    identifier: f("account.identifier", a.identifier)?,
                    institution: f("account.institution", a.institution)?,
                },
                Kind::Location(l) => {
                    let lat_ok = l.latitude.is_finite() && (-90.0..=90.0).contains(&l.latitude);
                    let lon_ok = l.longitude.is_finite() && (-180.0..=180.0).contains(&l.longitude);
                    if !lat_ok || !lon_ok {
                        return Err(Malformed::new(
                            "location",
                            "latitude/longitude out of range",
                        ));
                    }
                    Entity::Location {
                        name: f("location.name", l.name)?,
                        latitude: l.latitude,
                        longitude: l.longitude,
                    }
                }
            },
        )
    }
}

impl TryFrom<pb::Attachment> for Attachment {
    type Error = Malformed;

    fn try_from(m: pb::Attachment) -> Result<Self, Malformed> {
        if m.file_name.is_empty() || m.file_name.contains(['/', '\\', '\0']) || m.file_name == ".."
        {
            return Err(Malformed::new("file_name", "must be a plain file name"));
        }
        let streamed = if m.content_key.is_empty() && m.ciphertext_sha256.is_empty() && m.size == 0
        {
            None
        } else {
            if !m.data.is_empty() {
                return Err(Malformed::new(
                    "data",
                    "must be empty for an attachment sent beside the envelope",
                ));
            }
            Some(crate::attachment::Streamed::from_parts(
                m.size,
                &m.content_key,
                &m.ciphertext_sha256,
            )?)
        };
        Ok(Self {
            file_name: bounded("file_name", m.file_name, limits::MAX_FIELD_BYTES)?,
            media_type: bounded("media_type", m.media_type, limits::MAX_FIELD_BYTES)?,
            data: m.data,
            streamed,
        })
    }
}

impl TryFrom<pb::BulletinReference> for Reference {
    type Error = Malformed;

    fn try_from(m: pb::BulletinReference) -> Result<Self, Malformed> {
        let kind = match pb::ReferenceKind::try_from(m.kind) {
            Ok(pb::ReferenceKind::Update) => ReferenceKind::Update,
            Ok(pb::ReferenceKind::Recall) => ReferenceKind::Recall,
            Ok(pb::ReferenceKind::Reply) => ReferenceKind::Reply,
            _ => {
                return Err(Malformed::new(
                    "kind",
                    format!("unknown reference kind {}", m.kind),
                ));
            }
        };
        Ok(Self {
            bulletin_id: BulletinId::from_slice(&m.bulletin_id)?,
            kind,
        })
    }
}

impl From<&BulletinContent> for pb::BulletinContent {
    fn from(c: &BulletinContent) -> Self {
        Self {
            title: c.title.clone(),
            body: c.body.clone(),
            entities: c.entities.iter().map(pb::Entity::from).collect(),
            attachments: c
                .attachments
                .iter()
                .map(|a| pb::Attachment {
                    file_name: a.file_name.clone(),
                    media_type: a.media_type.clone(),
                    data: a.data.clone(),
                    size: a.streamed.as_ref().map_or(0, |s| s.size),
                    content_key: a
                        .streamed
                        .as_ref()
                        .map(|s| Bytes::copy_from_slice(&s.key))
                        .unwrap_or_default(),
                    ciphertext_sha256: a
                        .streamed
                        .as_ref()
                        .map(|s| Bytes::copy_from_slice(&s.ciphertext_sha256))
                        .unwrap_or_default(),
                })
                .collect(),
            references: c
                .references
                .iter()
                .map(|r| pb::BulletinReference {
                    bulletin_id: Bytes::copy_from_slice(&r.bulletin_id.to_bytes()),
                    kind: match r.kind {
                        ReferenceKind::Update => pb::ReferenceKind::Update,
                        ReferenceKind::Recall => pb::ReferenceKind::Recall,
                        ReferenceKind::Reply => pb::ReferenceKind::Reply,
                    } as i32,
                })
                .collect(),
        }
    }
}

impl From<&Entity> for pb::Entity {
    fn from(e: &Entity) -> Self {
        use pb::entity::Kind;
        let kind = match e.clone() {
            Entity::Person {
                full_name,
                date_of_birth,
                nationality,
                aliases,
                identifiers,
            } => Kind::Person(pb::Person {
                full_name,
                date_of_birth,
                nationality,
                aliases,
                identifiers,
            }),
            Entity::Phone { number } => Kind::Phone(pb::Phone { number }),
            Entity::Vehicle {
                registration,
                country,
                make_model,
                vin,
            } => Kind::Vehicle(pb::Vehicle {
                registration,
                country,
                make_model,
                vin,
            }),
            Entity::Account {
                identifier,
                institution,
            } => Kind::Account(pb::Account {
                identifier,
                institution,
            }),
            Entity::Location {
                name,
                latitude,
                longitude,
            } => Kind::Location(pb::Location {
                name,
                latitude,
                longitude,
            }),
        };
        pb::Entity { kind: Some(kind) }
    }
}

impl From<crate::ids::Tlp> for pb::Tlp {
    fn from(t: crate::ids::Tlp) -> Self {
        use crate::ids::Tlp;
        match t {
            Tlp::Clear => pb::Tlp::Clear,
            Tlp::Green => pb::Tlp::Green,
            Tlp::Amber => pb::Tlp::Amber,
            Tlp::AmberStrict => pb::Tlp::AmberStrict,
            Tlp::Red => pb::Tlp::Red,
        }
    }
}

impl TryFrom<i32> for crate::ids::Tlp {
    type Error = Malformed;
    fn try_from(v: i32) -> Result<Self, Malformed> {
        use crate::ids::Tlp;
        match pb::Tlp::try_from(v) {
            Ok(pb::Tlp::Clear) => Ok(Tlp::Clear),
            Ok(pb::Tlp::Green) => Ok(Tlp::Green),
            Ok(pb::Tlp::Amber) => Ok(Tlp::Amber),
            Ok(pb::Tlp::AmberStrict) => Ok(Tlp::AmberStrict),
            Ok(pb::Tlp::Red) => Ok(Tlp::Red),
            _ => Err(Malformed::new("tlp", format!("unknown TLP value {v}"))),
        }
    }
}

impl From<&Marking> for pb::Marking {
    fn from(m: &Marking) -> Self {
        Self {
            category: m.category.to_string(),
            tlp: pb::Tlp::from(m.tlp) as i32,
            handling_codes: m.handling_codes.iter().map(ToString::to_string).collect(),
            evaluation: m.evaluation.map(|e| pb::Evaluation {
                source_reliability: e.source().to_string(),
                information_credibility: e.information().to_string(),
            }),
            restriction: m.restriction.clone(),
        }
    }
}

impl TryFrom<pb::Marking> for Marking {
    type Error = Malformed;
    fn try_from(m: pb::Marking) -> Result<Self, Malformed> {
        if m.handling_codes.len() > limits::MAX_HANDLING_CODES {
            return Err(Malformed::new(
                "handling_codes",
                format!(
                    "{} codes, more than the limit of {}",
                    m.handling_codes.len(),
                    limits::MAX_HANDLING_CODES
                ),
            ));
        }
        let codes = m
            .handling_codes
            .into_iter()
            .map(|c| c.parse())
            .collect::<Result<Vec<_>, _>>()?;
        let evaluation = m
            .evaluation
            .map(|e| {
                crate::handling::Evaluation::new(&e.source_reliability, &e.information_credibility)
            })
            .transpose()?;
        Marking::new(m.category.parse()?, m.tlp.try_into()?, codes)?
            .with_evaluation(evaluation)
            .with_restriction(m.restriction)
    }
}
