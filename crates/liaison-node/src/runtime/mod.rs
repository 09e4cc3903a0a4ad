//! A running node: listeners, accept loops and one delivery worker per partner.

mod accept;
pub mod delivery;
pub mod metrics;
pub mod server;
