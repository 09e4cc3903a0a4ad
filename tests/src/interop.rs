//! Clients that are not Liaison's own, in Python, from the virtualenv `.ci/run` makes
//! (`target/interop-venv`: stix2-validator, taxii2-client, selenium).

use std::ffi::OsStr;
use std::path::PathBuf;

/// The repository's root.
fn root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `tests/interop/<script>` with `args` and returns what it printed; panics with
/// its output if it fails.
pub fn run_python<I, S>(script: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let python = root().join("target/interop-venv/bin/python");
    let out = std::process::Command::new(&python)
        // requests lets these override a session's own CA file.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .arg(root().join("tests/interop").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{} runs (.ci/run makes the virtualenv and installs what the script needs): {e}",
                python.display()
            )
        });
    assert!(
        out.status.success(),
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
