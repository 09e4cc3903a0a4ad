//! Helpers for tests that run the real `liaison` binary.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

/// The `liaison` binary Cargo built for this test run.
pub fn liaison() -> Command {
    Command::new(env!("CARGO_BIN_EXE_liaison"))
}

/// Runs `liaison ARGS` and returns its output.
pub fn run(args: &[&str]) -> Output {
    liaison()
        .args(args)
        .env_remove("LIAISON_DATA_DIR")
        .output()
        .unwrap()
}

/// Runs `liaison ARGS`, asserts success, and returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "liaison {args:?} failed with {}:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `liaison ARGS`, asserts it failed with `code`, and returns stderr.
pub fn fails(args: &[&str], code: i32) -> String {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "liaison {args:?}: stdout {} stderr {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        !stderr.contains("panicked"),
        "liaison {args:?} panicked: {stderr}"
    );
    stderr
}

/// Creates a node for `agency` in `dir`.
pub fn init(dir: &Path, agency: &str) {
    ok(&[
        "init",
        "--data-dir",
        dir.to_str().unwrap(),
        "--agency",
        agency,
        "--name",
        &format!("{agency} test"),
    ]);
}
