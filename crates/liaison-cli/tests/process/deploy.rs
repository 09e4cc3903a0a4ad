//! What `deploy/` ships, checked: the systemd unit passes `systemd-analyze verify` and
//! its security review, and the compose file's bootstrap script makes three real
//! partner nodes that exchange a bulletin.

use std::path::Path;
use std::process::{Child, Command};

use liaison_tests::{LONG, wait_until};

use crate::util::{binary, ok};

fn deploy(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(file)
}

fn has(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    if !has("systemd-analyze") {
        eprintln!("SKIPPED: systemd-analyze is not installed here");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // As installed: the binary where ExecStart says, the man pages Documentation names.
    let unit = std::fs::read_to_string(deploy("systemd/liaison.service"))
        .unwrap()
        .replace("/usr/local/bin/liaison", binary().to_str().unwrap());
    let path = tmp.path().join("liaison.service");
    std::fs::write(&path, unit).unwrap();
    ok(&[
        "man",
        "--out",
        tmp.path().join("man/man1").to_str().unwrap(),
    ]);
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .env("MANPATH", tmp.path().join("man"))
        .output()
        .unwrap();
    assert!(
        verified.status.success() && verified.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for liaison.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    assert!(exposure <= 2.0, "exposure {exposure}: {text}");
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the `liaison run` processes when the test ends, however it ends.
struct Running(Vec<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn the_compose_bootstrap_makes_three_partners_that_exchange_a_bulletin() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let agencies = ["NL-NP", "DE-BKA", "RO-DIICOT"];
    let mut script = Command::new("sh");
    script
        .arg(deploy("compose/bootstrap.sh"))
        .env("LIAISON", binary())
        .env("DATA", &data);
    for agency in agencies {
        let var = agency.replace('-', "_");
        script.env(
            format!("ENDPOINT_{var}"),
            format!("127.0.0.1:{}", free_port()),
        );
        script.env(
            format!("API_ENDPOINT_{var}"),
            format!("127.0.0.1:{}", free_port()),
        );
    }
    for round in ["first", "again (idempotent)"] {
        let out = script.output().unwrap();
        assert!(
            out.status.success(),
            "bootstrap {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = |agency: &str| data.join(agency.to_lowercase());
    let listed = ok(&["peer", "list", "--data-dir", dir("NL-NP").to_str().unwrap()]);
    assert!(
        listed.contains("DE-BKA") && listed.contains("RO-DIICOT"),
        "{listed}"
    );

    let _running = Running(
        agencies
            .iter()
            .map(|a| {
                crate::util::liaison()
                    .args(["run", "--data-dir"])
                    .arg(dir(a))
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let socket_up = |a: &str| dir(a).join("admin.sock").exists();
    wait_until("the three nodes to run", LONG, || {
        agencies.iter().all(|a| socket_up(a))
    });
    let id = ok(&[
        "bulletin",
        "send",
        "--data-dir",
        dir("NL-NP").to_str().unwrap(),
        "--to",
        "DE-BKA,RO-DIICOT",
        "--category",
        "trafficking.persons",
        "--tlp",
        "amber",
        "--title",
        "Recruiter phone",
        "--body",
        "+40 712 345 678",
    ]);
    let id = id.trim().to_owned();
    for agency in ["DE-BKA", "RO-DIICOT"] {
        wait_until("the bulletin to arrive", LONG, || {
            ok(&[
                "bulletin",
                "list",
                "--data-dir",
                dir(agency).to_str().unwrap(),
            ])
            .contains(&id)
        });
    }
}
