//! A roster file comes from outside (the coordinator, by mail or USB): decoding it
//! must never panic, and whatever decodes keeps the document's rules and carries only
//! bundles of listed members with the listed fingerprints.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liaison_core::roster::Roster;

fuzz_target!(|data: &[u8]| {
    let Ok(roster) = Roster::from_file(data) else {
        return;
    };
    let document = roster.document();
    assert!(document.validate().is_ok());
    if let Roster::Signed(signed) = &roster {
        for member in &document.members {
            if let Some(bundle) = signed.bundle(&member.agency) {
                assert_eq!(bundle.fingerprint().to_string(), member.fingerprint);
            }
        }
    }
});
