//! The client API from a client that is not Liaison's own: Python grpcio, with nothing
//! but the server's reflection (tests/interop/grpc_client.py) — the README's grpcurl
//! lines, run for real.

use liaison_tests::api::issue_client;
use liaison_tests::{LONG, federation, wait_until};

#[test]
fn python_grpcio_uses_the_client_api_through_reflection_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let system = issue_client(&nodes[0], "python-system", "publish,read");
    // DE-BKA answers NL-NP's private queries on what it holds, received bulletins too.
    nodes[1].write_policy(&format!(
        "{}query_kinds = [\"phone\"]\nquery_received = true\n",
        liaison_tests::federation::allow_everything("NL-NP")
    ));
    for n in &mut nodes {
        n.start();
    }
    let (nl, de) = (&nodes[0], &nodes[1]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/grpc_client.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(format!("127.0.0.1:{}", nl.api_port))
        .arg(system.join("ca.pem"))
        .arg(system.join("client.pem"))
        .arg(system.join("client.key"))
        .arg("DE-BKA")
        .output()
        .expect("python3 is installed (.ci/run installs it and grpcio)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Reflection advertises what the port serves, and only that.
    assert_eq!(
        seen["services"],
        serde_json::json!([
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "liaison.v1.Client"
        ])
    );
    assert_eq!(seen["health"], "SERVING");
    let id = seen["published"]["bulletin_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(seen["published"]["outcomes"][0]["queued"], true, "{seen}");
    assert_eq!(seen["bad_request"]["code"], "INVALID_ARGUMENT");
    assert!(
        seen["bad_request"]["message"]
            .as_str()
            .unwrap()
            .starts_with("bulletin_id:"),
        "{seen}"
    );
    assert_eq!(seen["delivery"]["bulletin_id"], id.as_str());
    assert_eq!(seen["listed"][0], id.as_str());
    let asked = &seen["thread"]["bulletins"][0];
    assert_eq!(
        asked["content"]["entities"][0]["phone"]["number"], "+40712345678",
        "{seen}"
    );
    assert_eq!(asked["request"]["priority"], "PRIORITY_URGENT", "{seen}");
    assert_eq!(asked["marking"]["evaluation"]["source_reliability"], "B");
    assert_eq!(asked["thread_id"], asked["bulletin_id"]);
    // Search finds the request for information by its phone number, and only it.
    assert_eq!(
        seen["search"],
        serde_json::json!([asked["bulletin_id"].clone()]),
        "{seen}"
    );
    assert_eq!(seen["bad_search"]["code"], "INVALID_ARGUMENT", "{seen}");
    // The private query: a hit at DE-BKA for the number, no hit for the other.
    assert_eq!(seen["query"]["answers"][0]["partner"], "DE-BKA", "{seen}");
    assert_eq!(
        seen["query"]["answers"][0]["hits"],
        serde_json::json!([true, false]),
        "{seen}"
    );
    assert_eq!(seen["bad_query"]["code"], "INVALID_ARGUMENT", "{seen}");
    assert!(
        seen["bad_query"]["message"]
            .as_str()
            .unwrap()
            .contains("partners[0]"),
        "{seen}"
    );
    assert!(
        seen["bad_search"]["message"]
            .as_str()
            .unwrap()
            .contains("selectors[0]"),
        "{seen}"
    );
    assert_eq!(seen["bad_phone"]["code"], "INVALID_ARGUMENT", "{seen}");
    assert!(
        seen["bad_phone"]["message"]
            .as_str()
            .unwrap()
            .contains("entities[0]"),
        "{seen}"
    );
    wait_until("the bulletin to reach DE-BKA", LONG, || {
        de.inbox().iter().any(|b| b.id == id)
    });
}
