//! Multi-agency scenarios on real nodes started in this process (real TLS on
//! loopback, real sled logs in temporary directories), driven the way the CLI and
//! partners drive them. One test binary; each module is one part of the system.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod attachments;
mod client_api;
mod connections;
mod continuity;
mod desk;
mod desk_web;
mod envelope_formats;
mod forwarding;
mod keys;
mod metrics;
mod peer_certificates;
mod peering;
mod policy;
mod private_query;
mod revocation;
mod roster;
mod scale;
mod stix;
mod taxii;
mod transient;
