//! A running node: listeners, accept loops and one delivery worker per partner.

pub(crate) mod accept;
pub mod delivery;
pub mod metrics;
pub mod server;
