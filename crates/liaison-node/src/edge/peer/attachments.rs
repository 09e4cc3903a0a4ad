//! `PushAttachment`: a partner pushes an attachment that travels beside its envelope.
//! Nothing in it is trusted: the first part's header is bounded, the parts may not run
//! past the declared length, the file is kept only whole and with the declared digest,
//! and files whose envelopes have not arrived are capped in total
//! ([`UNCLAIMED_LIMIT`](crate::ops::attachments::UNCLAIMED_LIMIT)) and swept after an
//! hour. Whether the file is the one the bulletin names is decided when the envelope
//! arrives: its signed content carries the digest.

use std::io::Write as _;
use std::sync::Arc;

use liaison_core::attachment::{CHUNK_BYTES, MAX_STREAMED_BYTES, TAG_BYTES};
use liaison_core::{AgencyId, BulletinId, limits};
use liaison_proto::v1 as pb;
use tonic::{Status, Streaming};

use crate::node::state::NodeState;
use crate::ops::attachments as ops;

/// Largest part accepted.
pub const MAX_PART_BYTES: usize = 1024 * 1024;

/// What the first part declares.
struct Header {
    bulletin: BulletinId,
    index: usize,
    len: u64,
    sha256: [u8; 32],
}

impl TryFrom<&pb::AttachmentPart> for Header {
    type Error = Status;

    fn try_from(part: &pb::AttachmentPart) -> Result<Self, Status> {
        let bulletin = BulletinId::from_slice(&part.bulletin_id)
            .map_err(|e| Status::invalid_argument(format!("bulletin_id: {e}")))?;
        let index = part.index as usize;
        if index >= limits::MAX_ATTACHMENTS {
            return Err(Status::invalid_argument(format!(
                "index: {index}, a bulletin has at most {} attachments",
                limits::MAX_ATTACHMENTS
            )));
        }
        let most = MAX_STREAMED_BYTES
            + TAG_BYTES as u64 * MAX_STREAMED_BYTES.div_ceil(CHUNK_BYTES as u64).max(1);
        if part.ciphertext_len == 0 || part.ciphertext_len > most {
            return Err(Status::invalid_argument(format!(
                "ciphertext_len: {}, must be 1 to {most} bytes",
                part.ciphertext_len
            )));
        }
        let sha256 = part.ciphertext_sha256[..]
            .try_into()
            .map_err(|_| Status::invalid_argument("ciphertext_sha256: must be 32 bytes"))?;
        Ok(Self {
            bulletin,
            index,
            len: part.ciphertext_len,
            sha256,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unavailable(e: impl std::fmt::Display) -> Status {
    tracing::warn!(error = %e, "cannot store a pushed attachment");
    Status::unavailable("this node cannot store the attachment right now")
}

/// Receives one pushed attachment from `partner`.
pub(super) async fn receive(
    state: Arc<NodeState>,
    partner: AgencyId,
    mut parts: Streaming<pb::AttachmentPart>,
) -> Result<pb::AttachmentHeld, Status> {
    let first = parts
        .message()
        .await?
        .ok_or_else(|| Status::invalid_argument("no parts"))?;
    let header = Header::try_from(&first).inspect_err(|status| {
        tracing::warn!(%partner, %status, "refused a pushed attachment");
    })?;
    let digest_hex = hex(&header.sha256);
    let store = state.log.attachments().map_err(unavailable)?;
    if store.has(&header.bulletin, header.index, &digest_hex) {
        return Ok(pb::AttachmentHeld { already_held: true });
    }
    let budget_state = state.clone();
    let unclaimed = tokio::task::spawn_blocking(move || ops::unclaimed_bytes(&budget_state))
        .await
        .map_err(unavailable)?
        .map_err(unavailable)?;
    if unclaimed + header.len > ops::UNCLAIMED_LIMIT {
        tracing::warn!(%partner, unclaimed, "refused a pushed attachment: too much awaits its envelope");
        return Err(Status::resource_exhausted(format!(
            "{unclaimed} bytes of attachments already wait for their envelopes here (limit {}); \
             send the envelopes first",
            ops::UNCLAIMED_LIMIT
        )));
    }
    let (path, file) = store.stage().map_err(unavailable)?;
    let result = write_parts(first, &mut parts, file, &header).await;
    let outcome = match result {
        Ok(()) => {
            let (store, path, bulletin, index) =
                (store.clone(), path.clone(), header.bulletin, header.index);
            tokio::task::spawn_blocking(move || store.install(&path, &bulletin, index, &digest_hex))
                .await
                .map_err(unavailable)?
                .map(|_| pb::AttachmentHeld {
                    already_held: false,
                })
                .map_err(unavailable)
        }
        Err(status) => Err(status),
    };
    if outcome.is_err() {
        let _ = std::fs::remove_file(&path);
        if let Err(status) = &outcome {
            tracing::warn!(%partner, bulletin = %header.bulletin, %status, "refused a pushed attachment");
        }
    }
    outcome
}

/// Writes the parts to `file`, checking length and digest as they come.
async fn write_parts(
    first: pb::AttachmentPart,
    parts: &mut Streaming<pb::AttachmentPart>,
    file: std::fs::File,
    header: &Header,
) -> Result<(), Status> {
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut written = 0u64;
    let mut file = Some(file);
    let mut part = Some(first);
    while let Some(p) = part {
        if p.data.len() > MAX_PART_BYTES {
            return Err(Status::invalid_argument(format!(
                "a part holds {} bytes; at most {MAX_PART_BYTES}",
                p.data.len()
            )));
        }
        written += p.data.len() as u64;
        if written > header.len {
            return Err(Status::invalid_argument(format!(
                "the parts run past the declared ciphertext_len {}",
                header.len
            )));
        }
        digest.update(&p.data);
        let mut f = file.take().ok_or_else(|| Status::internal("no file"))?;
        let data = p.data;
        f = tokio::task::spawn_blocking(move || f.write_all(&data).map(|()| f))
            .await
            .map_err(unavailable)?
            .map_err(unavailable)?;
        file = Some(f);
        part = parts.message().await?;
    }
    if written != header.len {
        return Err(Status::invalid_argument(format!(
            "the parts hold {written} bytes; ciphertext_len declared {}",
            header.len
        )));
    }
    if digest.finish().as_ref() != header.sha256 {
        return Err(Status::invalid_argument(
            "the parts' SHA-256 is not the declared ciphertext_sha256",
        ));
    }
    Ok(())
}
