//! A STIX bundle comes from another tool (MISP, OpenCTI, a partner's export): reading it
//! into drafts must never panic, and a draft it yields keeps the bulletin limits and a
//! marking no looser than the one asked for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liaison_core::Tlp;
use liaison_core::stix::drafts_from_bundle;

fuzz_target!(|data: &[u8]| {
    let Ok(drafts) = drafts_from_bundle(data, Tlp::Amber) else {
        return;
    };
    assert!(!drafts.is_empty());
    for (draft, kept) in drafts {
        assert!(!draft.title.is_empty());
        assert!(draft.title.len() <= liaison_core::limits::MAX_TITLE_BYTES);
        assert!(draft.body.len() <= liaison_core::limits::MAX_BODY_BYTES);
        assert!(!kept.is_empty());
        if let Some(marked) = draft.marked {
            assert!(marked.parse::<Tlp>().is_ok_and(|m| m <= Tlp::Amber));
        }
    }
});
