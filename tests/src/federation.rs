//! N agencies that know each other: every pair has added the other with its genuine
//! fingerprint, and every policy allows every partner everything.

use std::path::Path;

use crate::TestNode;

/// Nodes for `agencies` in `base`, each knowing every other and allowing them
/// everything; none started yet.
pub fn federation(base: &Path, agencies: &[&str]) -> Vec<TestNode> {
    let nodes: Vec<TestNode> = agencies.iter().map(|a| TestNode::init(base, a)).collect();
    for a in &nodes {
        let mut policy = String::new();
        for b in &nodes {
            if a.agency != b.agency {
                a.add_peer(b);
                policy.push_str(&allow_everything(b.agency.as_str()));
            }
        }
        a.write_policy(&policy);
    }
    nodes
}

/// A policy section allowing `agency` everything, at a rate no test reaches.
pub fn allow_everything(agency: &str) -> String {
    format!(
        "[partners.{agency}]\nsend = [\"*\"]\nreceive = [\"*\"]\nmax_send_tlp = \"red\"\naccept_handling = [\"H0\", \"H1\", \"H2\", \"H3\"]\nmax_receive_per_minute = 1000000\n\n"
    )
}
