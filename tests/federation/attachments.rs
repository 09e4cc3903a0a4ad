//! Attachments that travel beside their envelopes, pushed by a partner that misbehaves:
//! pushes that lie about their length or digest, run on, name no bulletin, or carry
//! another file under the same key, and an envelope that arrives before its file.

use bytes::Bytes;
use liaison_core::attachment::{self, Streamed};
use liaison_core::receipt::{Outcome, RejectCode};
use liaison_core::{Attachment, UnixMillis};
use liaison_node::edge::admin::BulletinAttachment;
use liaison_proto::v1 as pb;
use liaison_tests::wire::{PartnerLine, PeerClient, bulletin, deliver_one, partner_line, seal};

fn sealed_file(key: [u8; 32], fill: u8, len: usize) -> (Streamed, Vec<u8>) {
    let plain: Vec<u8> = (0..len).map(|i| fill ^ (i % 251) as u8).collect();
    let mut ciphertext = Vec::new();
    let streamed = attachment::seal(key, &mut &plain[..], &mut ciphertext).unwrap();
    (streamed, ciphertext)
}

/// Parts of at most 100 KiB, the first carrying `header`.
fn parts(header: pb::AttachmentPart, ciphertext: &[u8]) -> Vec<pb::AttachmentPart> {
    let mut parts: Vec<pb::AttachmentPart> = ciphertext
        .chunks(100 * 1024)
        .map(|c| pb::AttachmentPart {
            data: Bytes::copy_from_slice(c),
            ..Default::default()
        })
        .collect();
    parts[0] = pb::AttachmentPart {
        data: parts[0].data.clone(),
        ..header
    };
    parts
}

fn push(
    runtime: &tokio::runtime::Runtime,
    client: &mut PeerClient,
    parts: Vec<pb::AttachmentPart>,
) -> Result<bool, tonic::Status> {
    runtime.block_on(async {
        client
            .push_attachment(tokio_stream::iter(parts))
            .await
            .map(|r| r.into_inner().already_held)
    })
}

#[test]
fn a_partner_cannot_plant_cut_or_swap_an_attachment_and_the_envelope_waits_for_it() {
    let PartnerLine {
        nodes,
        runtime,
        mut client,
        dir: _dir,
    } = partner_line();
    let (nl, de) = (&nodes[0], &nodes[1]);
    let (nl_node, de_node) = (nl.node(), de.node());
    let key = [42u8; 32];
    let (streamed, ciphertext) = sealed_file(key, 1, 300 * 1024);
    let mut b = bulletin(&de_node, "amber", &[], UnixMillis::now());
    b.content.attachments = vec![Attachment {
        file_name: "ledger.xlsx".into(),
        media_type: "application/octet-stream".into(),
        data: Bytes::new(),
        streamed: Some(streamed.clone()),
    }];
    let envelope = seal(&b, &de_node.keys().signing, &nl_node);
    let header = pb::AttachmentPart {
        bulletin_id: Bytes::copy_from_slice(&b.id.to_bytes()),
        index: 0,
        ciphertext_len: ciphertext.len() as u64,
        ciphertext_sha256: Bytes::copy_from_slice(&streamed.ciphertext_sha256),
        data: Bytes::new(),
    };

    // The envelope before its file: refused, transiently (the sender retries).
    match deliver_one(&runtime, &mut client, envelope.clone()) {
        Outcome::Rejected { code, reason } => {
            assert_eq!(code, RejectCode::AttachmentMissing, "{reason}");
            assert!(code.is_transient());
            assert!(reason.contains("attachment(s) 1"), "{reason}");
        }
        other => panic!("accepted without its attachment: {other:?}"),
    }

    // Pushes that lie: each refused with INVALID_ARGUMENT naming what is wrong.
    let refused = |parts: Vec<pb::AttachmentPart>, client: &mut PeerClient| {
        let status = push(&runtime, client, parts).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        status.message().to_owned()
    };
    let mut altered = ciphertext.clone();
    altered[1000] ^= 1;
    assert!(refused(parts(header.clone(), &altered), &mut client).contains("SHA-256"));
    let mut longer = ciphertext.clone();
    longer.extend_from_slice(b"more");
    assert!(refused(parts(header.clone(), &longer), &mut client).contains("run past"));
    assert!(refused(parts(header.clone(), &ciphertext[..1000]), &mut client).contains("declared"));
    let nameless = pb::AttachmentPart {
        bulletin_id: Bytes::from_static(b"abc"),
        ..header.clone()
    };
    assert!(refused(parts(nameless, &ciphertext), &mut client).contains("bulletin_id"));
    let huge = pb::AttachmentPart {
        ciphertext_len: u64::MAX,
        ..header.clone()
    };
    assert!(refused(parts(huge, &ciphertext), &mut client).contains("ciphertext_len"));
    let oversized_part = vec![pb::AttachmentPart {
        data: Bytes::from(vec![0u8; 2 * 1024 * 1024]),
        ciphertext_len: 3 * 1024 * 1024,
        ..header.clone()
    }];
    assert!(refused(oversized_part, &mut client).contains("part holds"));

    // Another file under the same key (what any holder of the key could make), with a
    // digest true to itself: stored, but it is not the file the signed content names,
    // so the envelope still waits.
    let (forged, forged_ciphertext) = sealed_file(key, 9, 300 * 1024);
    let forged_header = pb::AttachmentPart {
        ciphertext_sha256: Bytes::copy_from_slice(&forged.ciphertext_sha256),
        ciphertext_len: forged_ciphertext.len() as u64,
        ..header.clone()
    };
    assert!(
        !push(
            &runtime,
            &mut client,
            parts(forged_header, &forged_ciphertext)
        )
        .unwrap()
    );
    match deliver_one(&runtime, &mut client, envelope.clone()) {
        Outcome::Rejected { code, .. } => assert_eq!(code, RejectCode::AttachmentMissing),
        other => panic!("accepted with a swapped attachment: {other:?}"),
    }

    // The genuine file, then the envelope: accepted; a second push is answered at once.
    assert!(!push(&runtime, &mut client, parts(header.clone(), &ciphertext)).unwrap());
    assert!(push(&runtime, &mut client, parts(header, &ciphertext)).unwrap());
    match deliver_one(&runtime, &mut client, envelope) {
        Outcome::Accepted { .. } => {}
        other => panic!("refused: {other:?}"),
    }

    // What the node serves opens to the very bytes sealed, and the node still serves.
    let got = nl.admin(BulletinAttachment {
        id: b.id,
        number: 1,
    });
    let file = got.file.expect("a file beside the envelope");
    let mut plain = Vec::new();
    attachment::open(
        &streamed,
        &mut std::fs::File::open(&file.path).unwrap(),
        &mut plain,
    )
    .unwrap();
    let expected: Vec<u8> = (0..300 * 1024).map(|i| 1 ^ (i % 251) as u8).collect();
    assert_eq!(plain, expected);
    // No half-written file is left from the refused pushes.
    let staging = nl.dir.join("log/attachments/staging");
    assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0);
}

/// How many attachment files a node holds (in place, not staging).
fn attachment_files(node: &liaison_tests::TestNode) -> usize {
    liaison_tests::attachment_files(&node.dir).len()
}

#[test]
fn a_streamed_attachment_follows_a_forward_and_goes_with_retention_at_every_holder() {
    use liaison_node::edge::admin::{BulletinForward, BulletinSend};
    use liaison_node::ops::bulletins::Recipients;
    use liaison_node::ops::bulletins::views::{AttachmentUpload, SendRequest};
    use liaison_tests::{LONG, allow_everything, federation, wait_until};

    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA", "RO-DIICOT"]);
    let de_policy = format!(
        "{}forward_to = [\"RO-DIICOT\"]\n\n{}",
        allow_everything("NL-NP"),
        allow_everything("RO-DIICOT")
    );
    nodes[1].write_policy(&de_policy);
    for n in &mut nodes {
        n.start();
    }
    let (nl, de, ro) = (&nodes[0], &nodes[1], &nodes[2]);
    let plain: Vec<u8> = (0..2_000_000u32).map(|i| (i % 253) as u8).collect();
    let staged = liaison_node::ops::attachments::stage(&nl.dir, &mut &plain[..]).unwrap();
    let mut request = SendRequest::new(
        Recipients::Named(vec![de.agency.clone()]),
        "trafficking.persons".parse().unwrap(),
        liaison_core::Tlp::Green,
        "Ledger",
        "two megabytes beside the envelope",
    );
    request.attachments = vec![AttachmentUpload {
        file_name: "ledger.bin".into(),
        media_type: "application/octet-stream".into(),
        data_base64: String::new(),
        staged: Some(staged.clone()),
    }];
    let id: liaison_core::BulletinId = nl.admin(BulletinSend(request)).id.parse().unwrap();
    wait_until("delivery to DE-BKA", LONG, || nl.outbox(de) == 0);
    de.admin(BulletinForward {
        id,
        to: ro.agency.clone(),
    });
    wait_until("the forward's receipt", LONG, || de.outbox(ro) == 0);
    for holder in [nl, de, ro] {
        assert_eq!(attachment_files(holder), 1, "{}", holder.agency);
        let got = holder.admin(BulletinAttachment { id, number: 1 });
        let file = got.file.expect("beside the envelope");
        assert_eq!(file.ciphertext_sha256_hex, staged.ciphertext_sha256_hex);
        let streamed = Streamed::from_parts(
            file.size,
            &data_encoding::HEXLOWER
                .decode(file.content_key_hex.as_bytes())
                .unwrap(),
            &data_encoding::HEXLOWER
                .decode(file.ciphertext_sha256_hex.as_bytes())
                .unwrap(),
        )
        .unwrap();
        let mut opened = Vec::new();
        attachment::open(
            &streamed,
            &mut std::fs::File::open(&file.path).unwrap(),
            &mut opened,
        )
        .unwrap();
        assert!(opened == plain, "{} holds another file", holder.agency);
    }
    // Staging is empty at the sender: the file moved under the bulletin.
    assert_eq!(
        std::fs::read_dir(nl.dir.join("log/attachments/staging"))
            .unwrap()
            .count(),
        0
    );
    // Retention ends: every holder erases the payload and its file.
    let later = UnixMillis(UnixMillis::now().0 + 400 * 86_400_000);
    for holder in [nl, de, ro] {
        liaison_node::ops::retention::erase_expired(&holder.state(), later).unwrap();
        assert_eq!(attachment_files(holder), 0, "{}", holder.agency);
    }
}

#[test]
fn an_unclaimed_push_is_swept_after_its_grace_and_a_send_cannot_name_a_file_never_staged() {
    let PartnerLine {
        nodes,
        runtime,
        mut client,
        dir: _dir,
    } = partner_line();
    let nl = &nodes[0];
    let (streamed, ciphertext) = sealed_file([3u8; 32], 2, 10_000);
    let header = pb::AttachmentPart {
        bulletin_id: Bytes::copy_from_slice(
            &liaison_core::BulletinId::new(UnixMillis::now()).to_bytes(),
        ),
        index: 0,
        ciphertext_len: ciphertext.len() as u64,
        ciphertext_sha256: Bytes::copy_from_slice(&streamed.ciphertext_sha256),
        data: Bytes::new(),
    };
    assert!(!push(&runtime, &mut client, parts(header, &ciphertext)).unwrap());
    assert_eq!(attachment_files(nl), 1);
    let state = nl.state();
    // Within the grace period it stays (its envelope may be on its way)...
    assert_eq!(liaison_node::ops::attachments::sweep(&state).unwrap(), 0);
    assert_eq!(
        liaison_node::ops::attachments::unclaimed_bytes(&state).unwrap(),
        ciphertext.len() as u64
    );
    // ...and a send naming a file beside the envelope that was never staged is refused
    // before anything is signed.
    let mut request = liaison_node::ops::bulletins::views::SendRequest::new(
        liaison_node::ops::bulletins::Recipients::Named(vec![nodes[1].agency.clone()]),
        "trafficking.persons".parse().unwrap(),
        liaison_core::Tlp::Amber,
        "t",
        "b",
    );
    request.attachments = vec![liaison_node::ops::bulletins::views::AttachmentUpload {
        file_name: "x.bin".into(),
        media_type: "application/octet-stream".into(),
        data_base64: String::new(),
        staged: Some(liaison_node::ops::bulletins::views::StagedFile {
            file: "0123456789abcdef0123456789abcdef.part".into(),
            size: streamed.size,
            content_key_hex: "00".repeat(32),
            ciphertext_sha256_hex: streamed.digest_hex(),
        }),
    }];
    let refused = nl
        .try_admin(liaison_node::edge::admin::BulletinSend(request))
        .unwrap_err();
    assert!(
        refused.to_string().contains("staged attachment"),
        "{refused}"
    );
    assert!(nl.outbound().is_empty());
    // Past its grace period, the push whose envelope never came is swept.
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        liaison_node::ops::attachments::sweep_after(&state, std::time::Duration::from_millis(5))
            .unwrap(),
        1
    );
    assert_eq!(attachment_files(nl), 0);
}
