//! What a node is: its configuration, its files, the state its parts share, and the
//! vocabulary its log is written in.

pub mod config;
pub mod data_dir;
pub mod journal;
pub mod state;
