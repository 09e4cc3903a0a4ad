//! Fixtures shared by the core integration tests.
#![allow(dead_code, missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use bytes::Bytes;
use liaison_core::crypto::{EncryptionKey, SigningKey};
use liaison_core::identity::IdentityDocument;
use liaison_core::{
    AgencyId, Bulletin, BulletinContent, BulletinId, Entity, Marking, RecipientKey, UnixMillis,
};

/// An agency with keys and a (self-consistent, unsigned) identity document.
pub struct TestAgency {
    pub id: AgencyId,
    pub signing: SigningKey,
    pub encryption: EncryptionKey,
    pub document: IdentityDocument,
}

pub const T0: UnixMillis = UnixMillis(1_795_000_000_000);

impl TestAgency {
    pub fn new(id: &str, signing_seed: [u8; 32], encryption_secret: [u8; 32]) -> Self {
        let id: AgencyId = id.parse().unwrap();
        let signing = SigningKey::from_seed(signing_seed).unwrap();
        let encryption = EncryptionKey::from_bytes(&encryption_secret).unwrap();
        let document = IdentityDocument::first_version(
            id.clone(),
            format!("{id} test agency"),
            vec![],
            &signing,
            &encryption,
            Bytes::from_static(b"ca"),
            T0..T0.plus_days(3650),
        );
        Self {
            id,
            signing,
            encryption,
            document,
        }
    }

    /// An agency whose keys come from `n`.
    pub fn numbered(id: &str, n: u8) -> Self {
        Self::new(id, [n; 32], [n.wrapping_add(100); 32])
    }

    pub fn recipient_key(&self) -> RecipientKey {
        RecipientKey {
            agency: self.id.clone(),
            key: self.encryption.public_key().clone(),
        }
    }
}

pub fn directory(agencies: &[&TestAgency]) -> HashMap<AgencyId, IdentityDocument> {
    agencies
        .iter()
        .map(|a| (a.id.clone(), a.document.clone()))
        .collect()
}

pub fn sample_bulletin(origin: &AgencyId, id: BulletinId) -> Bulletin {
    Bulletin {
        thread: None,
        request: None,
        id,
        origin: origin.clone(),
        created: T0,
        expires: T0.plus_days(90),
        marking: Marking::new(
            "trafficking.persons".parse().unwrap(),
            "amber".parse().unwrap(),
            vec!["H2".parse().unwrap()],
        )
        .unwrap(),
        content: BulletinContent {
            title: "Suspected recruiter active on the A2 corridor".into(),
            body: "Subject recruits via job adverts and moves victims by minibus.".into(),
            entities: vec![
                Entity::Person {
                    full_name: "Ion Popescu".into(),
                    date_of_birth: "1984-03-12".into(),
                    nationality: "RO".into(),
                    aliases: vec!["Nelu".into()],
                    identifiers: vec!["passport:RO1234567".into()],
                },
                Entity::Phone {
                    number: "+40712345678".into(),
                },
                Entity::Vehicle {
                    registration: "B-123-XYZ".into(),
                    country: "RO".into(),
                    make_model: "Mercedes Sprinter".into(),
                    vin: String::new(),
                },
            ],
            attachments: vec![],
            references: vec![],
        },
    }
}
