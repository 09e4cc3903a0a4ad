//! Whom the node trusts, and how a connection proves who it is.

pub mod clients;
pub mod officers;
pub mod partners;
pub mod rosters;
pub mod tls;
