//! Running the real `liaison` binary: its output and exit codes, and nodes started as
//! `liaison run` processes (from the shared harness, `liaison_tests`).

use std::path::Path;
use std::process::{Command, Output};

use liaison_tests::TestNode;

/// The `liaison` binary Cargo built for this test run.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_liaison"))
}

/// A `liaison` command, with no data directory from the environment.
pub fn liaison() -> Command {
    let mut command = Command::new(binary());
    command.env_remove("LIAISON_DATA_DIR");
    command
}

/// Runs `liaison ARGS` and returns its output.
pub fn run(args: &[&str]) -> Output {
    liaison().args(args).output().unwrap()
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

/// Runs `liaison ARGS`, asserts it failed with `code` without panicking, and returns
/// stderr.
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

/// `liaison init` for `agency` in `dir`.
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

/// Starts `node` as a `liaison run` process.
pub fn start(node: &mut TestNode) {
    node.start_process(binary());
}
