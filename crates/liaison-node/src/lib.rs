//! A Liaison node: what lives in its data directory and how it is created and loaded.
//!
//! Layout:
//! - [`config`]: `liaison.toml`, parsed strictly and validated into [`NodeConfig`].
//! - [`data_dir`]: the files of a node (keys, certificates, identity bundle, log) and
//!   [`data_dir::init_node`], which creates them.
//! - [`state`]: [`state::NodeState`], shared by everything below.
//! - [`partners`]: known partners, their keys and their CAs (one trust anchor each).
//! - [`tls`]: TLS 1.3 configs with the per-partner verifiers.
//! - [`peer_service`]: the peer API partners call (`Deliver`, `PushIdentity`, `Ping`).
//! - [`delivery`]: one worker per partner draining its durable outbox.
//! - [`bulletins`]: publishing, reading back, delivery state, acknowledgements.
//! - [`clients`]: the agency's own systems registered for the client API, and roles.
//! - [`client_service`]: the client API agency systems call.
//! - [`keys`]: key rotation and revocation (new identity versions pushed to partners).
//! - [`admin`]: operator commands, over the admin socket or offline.
//! - [`server`]: [`server::run`] ties them together until shutdown.
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
//! ```

#![forbid(unsafe_code)]

pub mod admin;
pub mod bulletins;
pub mod client_service;
pub mod clients;
pub mod config;
pub mod data_dir;
pub mod delivery;
pub mod error;
pub mod keys;
pub mod partners;
pub mod peer_service;
pub mod server;
pub mod state;
pub mod tls;

pub use config::NodeConfig;
pub use data_dir::{InitOptions, Node, init_node};
pub use error::{Error, Result};
pub use server::{Listeners, run};
