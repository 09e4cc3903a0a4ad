//! What each command does: reach the node (over its admin socket when it runs,
//! directly on its data directory when it does not; `liaison_node::edge::admin` makes
//! the two the same typed call), then print for a person or, with `--json`, for a
//! script.

pub mod bulletins;
pub mod clients;
pub mod compose;
pub mod keys;
pub mod log;
pub mod node;
pub mod peers;
pub mod policy;
pub mod roster;
pub mod status;

use std::path::Path;

use anyhow::Result;
use liaison_node::edge::admin::{self, Command};

/// Runs `command` on the node in `data_dir` and returns its typed reply.
pub fn call<C: Command>(data_dir: &Path, command: C) -> Result<C::Reply> {
    Ok(admin::socket::call(data_dir, command)?)
}
