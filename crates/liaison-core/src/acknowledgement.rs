//! Acknowledgements that travel: a recipient tells a bulletin's originator that it
//! received, read or acted on it. Signed with the recipient's bulletin-signing key, so
//! the originator holds proof of who said so and when, as with a receipt.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use liaison_proto::format::v1 as pb;
use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::crypto::{SigningKey, domain};
use crate::envelope::KeyDirectory;
use crate::error::{Error, Malformed, Result};
use crate::ids::{AgencyId, BulletinId, KeyId, UnixMillis};

/// Largest encoded acknowledgement accepted.
pub const MAX_ACKNOWLEDGEMENT_BYTES: usize = 8 * 1024;
/// Longest note.
pub const MAX_NOTE_BYTES: usize = 1024;

/// How far a recipient got with a bulletin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AckState {
    /// It reached the desk.
    Received,
    /// An officer read it.
    Read,
    /// It was acted upon.
    Actioned,
}

impl AckState {
    /// Lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            AckState::Received => "received",
            AckState::Read => "read",
            AckState::Actioned => "actioned",
        }
    }

    fn to_pb(self) -> pb::AcknowledgementState {
        match self {
            AckState::Received => pb::AcknowledgementState::Received,
            AckState::Read => pb::AcknowledgementState::Read,
            AckState::Actioned => pb::AcknowledgementState::Actioned,
        }
    }
}

impl TryFrom<i32> for AckState {
    type Error = Malformed;
    fn try_from(v: i32) -> std::result::Result<Self, Malformed> {
        match pb::AcknowledgementState::try_from(v) {
            Ok(pb::AcknowledgementState::Received) => Ok(AckState::Received),
            Ok(pb::AcknowledgementState::Read) => Ok(AckState::Read),
            Ok(pb::AcknowledgementState::Actioned) => Ok(AckState::Actioned),
            _ => Err(Malformed::new(
                "acknowledgement.state",
                format!("unknown state {v}"),
            )),
        }
    }
}

impl From<AckState> for i32 {
    fn from(s: AckState) -> i32 {
        s.to_pb() as i32
    }
}

impl fmt::Display for AckState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AckState {
    type Err = Malformed;
    fn from_str(s: &str) -> std::result::Result<Self, Malformed> {
        match s {
            "received" => Ok(AckState::Received),
            "read" => Ok(AckState::Read),
            "actioned" => Ok(AckState::Actioned),
            other => Err(Malformed::new(
                "state",
                format!("{other:?}: expected received, read or actioned"),
            )),
        }
    }
}

/// A verified (or freshly signed) acknowledgement, kept as its exact signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAcknowledgement {
    /// The bulletin.
    pub bulletin_id: BulletinId,
    /// Its originator.
    pub origin: AgencyId,
    /// The recipient that acknowledges.
    pub recipient: AgencyId,
    /// How far it got.
    pub state: AckState,
    /// Its note.
    pub note: String,
    /// When, by the recipient's clock.
    pub time: UnixMillis,
    encoded: Bytes,
}

impl SignedAcknowledgement {
    /// Signs `recipient`'s acknowledgement of `origin`'s bulletin `bulletin_id`.
    ///
    /// Errors: [`Error::Malformed`] for a note over [`MAX_NOTE_BYTES`].
    pub fn sign(
        bulletin_id: BulletinId,
        origin: AgencyId,
        recipient: AgencyId,
        state: AckState,
        note: String,
        key: &SigningKey,
    ) -> Result<Self> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(Malformed::new(
                "note",
                format!("{} bytes, more than {MAX_NOTE_BYTES}", note.len()),
            )
            .into());
        }
        let time = UnixMillis::now();
        let body = pb::Acknowledgement {
            bulletin_id: Bytes::copy_from_slice(&bulletin_id.to_bytes()),
            origin: origin.to_string(),
            recipient: recipient.to_string(),
            signing_key_id: key.verifying_key().key_id('s').to_string(),
            state: state.into(),
            note: note.clone(),
            time_unix_ms: time.0,
        }
        .encode_to_vec();
        let signature = key.sign(domain::ACKNOWLEDGEMENT, &[&body]);
        let encoded = pb::SignedAcknowledgement {
            acknowledgement: body.into(),
            signature: Bytes::copy_from_slice(&signature),
        }
        .encode_to_vec()
        .into();
        Ok(Self {
            bulletin_id,
            origin,
            recipient,
            state,
            note,
            time,
            encoded,
        })
    }

    /// Decodes an acknowledgement and verifies it against its recipient's signing key
    /// in `directory`.
    ///
    /// Errors: [`Error::TooLarge`], [`Error::Malformed`], [`Error::UnknownOrigin`],
    /// [`Error::UnknownSigningKey`], [`Error::RevokedSigningKey`],
    /// [`Error::BadSignature`].
    pub fn verify(encoded: Bytes, directory: &(impl KeyDirectory + ?Sized)) -> Result<Self> {
        if encoded.len() > MAX_ACKNOWLEDGEMENT_BYTES {
            return Err(Error::TooLarge {
                size: encoded.len(),
                limit: MAX_ACKNOWLEDGEMENT_BYTES,
            });
        }
        let malformed = |e: prost::DecodeError| {
            Malformed::new("acknowledgement", format!("does not decode: {e}"))
        };
        let signed = pb::SignedAcknowledgement::decode(encoded.clone()).map_err(malformed)?;
        let body =
            pb::Acknowledgement::decode(signed.acknowledgement.clone()).map_err(malformed)?;
        let recipient: AgencyId = body.recipient.parse()?;
        let key_id: KeyId = body.signing_key_id.parse()?;
        let key = crate::directory::statement_key(directory, &recipient, &key_id)?;
        key.verify(
            domain::ACKNOWLEDGEMENT,
            &[&signed.acknowledgement],
            &signed.signature,
        )
        .map_err(|_| Error::BadSignature)?;
        if body.note.len() > MAX_NOTE_BYTES {
            return Err(Malformed::new("acknowledgement.note", "more than 1024 bytes").into());
        }
        Ok(Self {
            bulletin_id: BulletinId::from_slice(&body.bulletin_id)?,
            origin: body.origin.parse()?,
            recipient,
            state: body.state.try_into()?,
            note: body.note,
            time: UnixMillis(body.time_unix_ms),
            encoded,
        })
    }

    /// The signed bytes.
    pub fn to_bytes(&self) -> Bytes {
        self.encoded.clone()
    }
}
