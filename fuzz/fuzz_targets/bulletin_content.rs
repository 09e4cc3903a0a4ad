//! Decrypted bulletin content (what a partner encrypted): decode, validate, re-encode,
//! decode again and compare.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use liaison_core::BulletinContent;
use liaison_proto::format::v1 as pb;
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = pb::BulletinContent::decode(Bytes::copy_from_slice(data)) else { return };
    let Ok(content) = BulletinContent::try_from(message) else { return };
    let again = pb::BulletinContent::from(&content).encode_to_vec();
    let decoded = BulletinContent::try_from(pb::BulletinContent::decode(Bytes::from(again)).unwrap()).unwrap();
    assert_eq!(decoded, content);
});
