//! A Liaison node: what lives in its data directory and how it is created and loaded.
//!
//! Layout:
//! - [`config`]: `liaison.toml`, parsed strictly and validated into [`NodeConfig`].
//! - [`data_dir`]: the files of a node (keys, certificates, identity bundle, log) and
//!   [`data_dir::init_node`], which creates them.
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

pub mod config;
pub mod data_dir;
pub mod error;

pub use config::NodeConfig;
pub use data_dir::{InitOptions, Node, init_node};
pub use error::{Error, Result};
