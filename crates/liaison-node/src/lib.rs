//! A Liaison node: its files, its trust in partners, the operations an operator or an
//! agency system asks of it, the gRPC edges partners and clients call, and the runtime
//! that ties them together.
//!
//! Layout (dependencies point up this list, never down):
//! - [`node`]: what a node *is* on disk and in memory: [`node::config`] (`liaison.toml`),
//!   [`node::data_dir`] (the files, [`init_node`]), [`node::state`] ([`node::state::NodeState`],
//!   shared by everything below) and [`node::journal`] (the typed vocabulary of the log).
//! - [`trust`]: whom the node trusts: [`trust::partners`] (one trust anchor per partner),
//!   [`trust::clients`] (the agency's own systems and their roles), [`trust::tls`] (TLS 1.3
//!   configs with the per-partner verifiers).
//! - [`ops`]: operations, each usable with or without a running node: bulletins, keys,
//!   peers, clients, policy, status, log.
//! - [`edge`]: the three ways in: [`edge::peer`] (partners' `Deliver`, `PushIdentity`,
//!   `Ping`), [`edge::client_api`] (agency systems), [`edge::admin`] (the operator's socket).
//! - [`runtime`]: [`runtime::server::run`] starts listeners and one
//!   [`runtime::delivery`] worker per partner, until shutdown.
//! - [`error`]: the crate's one error type.
//!
//! Data directory:
//!
//! ```text
//! liaison.toml          configuration (written last by `init`: its presence means complete)
//! identity.bundle       the signed identity document partners import
//! keys/                 0700; root.key, signing.key, encryption.key (raw 32 bytes, 0600)
//! tls/                  ca.pem, ca.key (0600), node.pem, node.key (0600)
//! log/                  the append-only log (see liaison-store)
//! admin.sock            the running node's admin socket (0600)
//! ```

#![forbid(unsafe_code)]

pub mod edge;
pub mod error;
pub mod node;
pub mod ops;
pub mod runtime;
pub mod trust;

pub use error::{Error, Result};
pub use node::config::NodeConfig;
pub use node::data_dir::{InitOptions, Node, init_node};
pub use runtime::server::{Listeners, run};
