//! The ways into a node: partners' peer API, agency systems' client API (and its
//! read-only TAXII twin) and the operator's admin socket. Each edge authenticates its caller, validates what arrives
//! into domain types and hands it to an operation.

pub mod admin;
pub mod client_api;
pub mod desk;
pub mod peer;
pub mod taxii;
