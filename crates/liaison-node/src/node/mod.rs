//! What a node is: its configuration, its files, the state its parts share, the
//! vocabulary its log is written in, and the metrics it exports.

pub mod config;
pub mod data_dir;
pub mod journal;
pub mod metrics;
pub mod secrets;
pub mod state;
pub mod token;
