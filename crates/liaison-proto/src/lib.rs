//! Liaison's wire contract, generated from `proto/liaison/v1/*.proto` at build time.
//!
//! Layout:
//! - [`format::v1`]: the signed and stored formats (sealed envelope, identity document,
//!   receipt, log record). Plain prost messages; always built.
//! - [`v1`]: the gRPC services (peer API, client API). Built with the `grpc` feature.
//!
//! Nothing but generated code lives here. Conversions into validated domain types are
//! `TryFrom` impls in the crates that own those types. Import this crate as
//! `use liaison_proto as pb;` so every crossing of the wire boundary is visible.

#![allow(missing_docs, clippy::all)]

/// Signed and stored formats.
pub mod format {
    /// Version 1 of the formats.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/liaison.format.v1.rs"));
    }
}

/// gRPC services.
#[cfg(feature = "grpc")]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/liaison.v1.rs"));
}

/// Every file descriptor of the contract, encoded, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/liaison_descriptor.bin"));
