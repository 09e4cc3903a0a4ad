//! The process-level suite: the real `liaison` binary, its output, exit codes and
//! logs, and nodes killed with SIGKILL. Everything that can run in-process lives in
//! the top-level `tests/` package instead.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod bench;
mod cli;
mod commands;
mod crash;
mod deploy;
mod evidence;
mod full_disk;
mod joint_operation;
mod util;
