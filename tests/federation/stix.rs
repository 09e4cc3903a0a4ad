//! STIX 2.1 export, checked by OASIS's own validator: every entity kind, handling
//! codes, an evaluation and a reply; the same export twice is the same bundle.

use liaison_core::Entity;
use liaison_node::edge::admin::{BulletinSend, StixExport, StixImport};
use liaison_node::ops::bulletins::Recipients;
use liaison_node::ops::bulletins::views::SendRequest;
use liaison_proto::v1 as pb;
use liaison_proto::v1::client_client::ClientClient;
use liaison_tests::api::{api_channel, client_identity, issue_client};
use liaison_tests::interop::run_python;
use liaison_tests::{LONG, federation, wait_until};
use serde_json::Value;

/// Runs tests/interop/stix_validate.py on `bundle` with the virtualenv `.ci/run` makes
/// (target/interop-venv), and panics with the validator's report on any error.
fn validate(bundle: &Value, dir: &std::path::Path) {
    let path = dir.join("bundle.json");
    std::fs::write(&path, serde_json::to_vec_pretty(bundle).unwrap()).unwrap();
    run_python("stix_validate.py", [&path]);
}

fn objects<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == kind)
        .collect()
}

#[test]
fn an_export_with_every_entity_kind_validates_and_is_the_same_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let (nl, de) = (&nodes[0], &nodes[1]);
    let mut request = SendRequest::new(
        Recipients::Named(vec![de.agency.clone()]),
        "trafficking.persons".parse().unwrap(),
        liaison_core::Tlp::AmberStrict,
        "Recruiter moving victims through Constanta",
        "Two phones, one account, a van.",
    );
    request.entities = vec![
        Entity::Person {
            full_name: "Ion Popescu".into(),
            date_of_birth: "1990-03-01".into(),
            nationality: "RO".into(),
            aliases: vec!["Johnny".into()],
            identifiers: vec!["passport RO1234567".into()],
        },
        Entity::Phone {
            number: "+40712345678".into(),
        },
        Entity::Vehicle {
            registration: "B123XYZ".into(),
            country: "RO".into(),
            make_model: "Ford Transit".into(),
            vin: String::new(),
        },
        Entity::Account {
            identifier: "DE44500105175407324931".into(),
            institution: "Commerzbank".into(),
        },
        Entity::Location {
            name: "Port of Constanta".into(),
            latitude: 44.17,
            longitude: 28.65,
        },
    ];
    request.handling = vec!["H2".parse().unwrap(), "H3".parse().unwrap()];
    request.restriction = "Only for operation ALPHA".into();
    request.evaluation = Some("B2".parse().unwrap());
    let first = nl.admin(BulletinSend(request)).id;
    wait_until("delivery", LONG, || nl.outbox(de) == 0);
    let mut reply = SendRequest::new(
        Recipients::Named(vec![nl.agency.clone()]),
        "trafficking.persons".parse().unwrap(),
        liaison_core::Tlp::Green,
        "Known to us",
        "The van was stopped in 2025.",
    );
    reply.to = None;
    reply.reply_to = Some(first.parse().unwrap());
    let answer = de.admin(BulletinSend(reply)).id;

    let bundle = de.admin(StixExport::default());
    validate(&bundle, tmp.path());
    assert_eq!(de.admin(StixExport::default()), bundle, "re-export differs");

    let reports = objects(&bundle, "report");
    assert_eq!(reports.len(), 2);
    let report = reports
        .iter()
        .find(|r| r["name"] == "Recruiter moving victims through Constanta")
        .unwrap();
    assert_eq!(
        report["object_marking_refs"][0],
        "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
        "TLP:AMBER+STRICT's official marking"
    );
    assert_eq!(report["object_refs"].as_array().unwrap().len(), 5);
    let extension = report["extensions"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap();
    assert_eq!(extension["bulletin_id"], first.as_str());
    assert_eq!(extension["handling_codes"], serde_json::json!(["H2", "H3"]));
    assert!(extension["evaluation"].as_str().unwrap().starts_with("B2"));
    let person = objects(&bundle, "identity")
        .into_iter()
        .find(|i| i["identity_class"] == "individual")
        .unwrap();
    assert_eq!(person["name"], "Ion Popescu");
    assert_eq!(objects(&bundle, "location")[0]["latitude"], 44.17);
    assert_eq!(objects(&bundle, "liaison-phone-number").len(), 1);
    assert_eq!(
        objects(&bundle, "liaison-vehicle")[0]["registration"],
        "B123XYZ"
    );
    assert_eq!(objects(&bundle, "liaison-financial-account").len(), 1);
    assert_eq!(objects(&bundle, "extension-definition").len(), 4);
    let relationship = objects(&bundle, "relationship");
    assert_eq!(relationship.len(), 1);
    assert_eq!(relationship[0]["target_ref"], report["id"]);
    // The originator's own export has the same report id for the same bulletin.
    let at_origin = nl.admin(StixExport {
        id: Some(first.parse().unwrap()),
        ..Default::default()
    });
    validate(&at_origin, tmp.path());
    assert_eq!(objects(&at_origin, "report")[0]["id"], report["id"]);
    // One bulletin asked for, one report.
    let one = de.admin(StixExport {
        id: Some(answer.parse().unwrap()),
        ..Default::default()
    });
    assert_eq!(objects(&one, "report").len(), 1);
    // An agency system gets the same bundle through the client API (read role).
    let analyst = issue_client(de, "analyst", "read");
    let (cert, key) = client_identity(&analyst);
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut api = ClientClient::new(api_channel(de, Some((&cert, &key))).await.unwrap());
        let exported = api
            .export_stix(pb::ExportStixRequest::default())
            .await
            .unwrap()
            .into_inner();
        let through_api: Value = serde_json::from_str(&exported.bundle_json).unwrap();
        assert_eq!(through_api, bundle);
        let unknown = api
            .export_stix(pb::ExportStixRequest {
                bulletin_id: "not-a-uuid".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::InvalidArgument, "{unknown:?}");
        assert!(unknown.message().contains("bulletin_id"), "{unknown:?}");
    });
    for n in &mut nodes {
        n.stop();
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/stix")
            .join(name),
    )
    .unwrap()
}

fn import(
    node: &liaison_tests::TestNode,
    bundle: &[u8],
    to: &liaison_tests::TestNode,
    tlp: &str,
    dry_run: bool,
) -> liaison_node::Result<Vec<liaison_node::ops::stix::StixDraft>> {
    node.try_admin(StixImport {
        bundle_base64: data_encoding::BASE64.encode(bundle),
        to: Recipients::Named(vec![to.agency.clone()]),
        tlp: tlp.parse().unwrap(),
        category: "trafficking.persons".parse().unwrap(),
        dry_run,
    })
}

#[test]
fn misp_and_opencti_bundles_import_as_bulletins_and_a_liaison_export_round_trips() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    for n in &mut nodes {
        n.start();
    }
    let (nl, de) = (&nodes[0], &nodes[1]);

    // MISP: TLP 1.0 AMBER; an indicator, observed data and an address Liaison has no
    // entity for travel as the attachment.
    let misp = fixture("misp-event.json");
    let e = import(nl, &misp, de, "green", false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("objects[2].object_marking_refs") && e.contains("TLP:AMBER"),
        "{e}"
    );
    let drafts = import(nl, &misp, de, "amber", true).unwrap();
    assert_eq!(drafts.len(), 1);
    assert_eq!(
        drafts[0].title,
        "Fake job site recruiting for a trafficking ring"
    );
    assert!(drafts[0].entities.is_empty());
    assert_eq!(drafts[0].unmapped.len(), 3);
    assert!(drafts[0].bulletin.is_none(), "a dry run sends nothing");
    assert!(nl.outbound().is_empty());
    let sent = import(nl, &misp, de, "amber", false).unwrap();
    let id: liaison_core::BulletinId = sent[0].bulletin.as_ref().unwrap().parse().unwrap();
    wait_until("delivery", LONG, || nl.outbox(de) == 0);
    let received = de.show(id);
    assert_eq!(received.summary.tlp, "TLP:AMBER");
    assert!(
        received.body.contains("created by EXAMPLE-CERT"),
        "{}",
        received.body
    );
    assert_eq!(received.attachments[0].file_name, "stix-unmapped.json");

    // OpenCTI: TLP 2.0 GREEN, a person and a place mapped; an e-mail address and a
    // user account kept.
    let drafts = import(nl, &fixture("opencti-report.json"), de, "amber", true).unwrap();
    assert_eq!(drafts[0].marked.as_deref(), Some("TLP:GREEN"));
    assert_eq!(drafts[0].unmapped.len(), 2);
    assert!(drafts[0].entities.iter().any(
        |e| matches!(e, liaison_core::Entity::Person { full_name, .. } if full_name == "Stefan Popescu")
    ));
    assert!(drafts[0].entities.iter().any(
        |e| matches!(e, liaison_core::Entity::Location { latitude, .. } if (*latitude - 44.17).abs() < 1e-9)
    ));

    // Malformed bundles are refused by field, and send nothing.
    for (bundle, field) in [
        (&b"{\"type\": \"bundle\", \"objects\": [{\"type\": \"report\", \"id\": \"report--x\"}]}"[..], "objects[0].id"),
        (&b"{\"type\": \"bundle\", \"objects\": []}"[..], "holds no report"),
        (&b"{\"type\": \"bundle\", \"objects\": [\n{]}"[..], "line 2"),
        (&b"[1, 2]"[..], "type"),
    ] {
        let e = import(nl, bundle, de, "amber", false).unwrap_err().to_string();
        assert!(e.contains(field), "{field}: {e}");
    }
    assert_eq!(nl.outbound().len(), 1);

    // Round trip: a Liaison export imported at another agency and exported again
    // carries the same title and the same entities.
    let mut request = SendRequest::new(
        Recipients::Named(vec![de.agency.clone()]),
        "trafficking.persons".parse().unwrap(),
        liaison_core::Tlp::Amber,
        "Van seen at the border",
        "Plate and phone of the driver.",
    );
    request.entities = vec![
        Entity::Phone {
            number: "+40712345678".into(),
        },
        Entity::Vehicle {
            registration: "B123XYZ".into(),
            country: "RO".into(),
            make_model: "Ford Transit".into(),
            vin: String::new(),
        },
    ];
    let original: liaison_core::BulletinId = nl.admin(BulletinSend(request)).id.parse().unwrap();
    wait_until("delivery", LONG, || nl.outbox(de) == 0);
    let exported = de.admin(StixExport {
        id: Some(original),
        ..Default::default()
    });
    let again = import(
        de,
        &serde_json::to_vec(&exported).unwrap(),
        nl,
        "amber",
        false,
    )
    .unwrap();
    let copy: liaison_core::BulletinId = again[0].bulletin.as_ref().unwrap().parse().unwrap();
    let re_exported = de.admin(StixExport {
        id: Some(copy),
        ..Default::default()
    });
    validate(&re_exported, tmp.path());
    let report = |b: &Value| objects(b, "report")[0].clone();
    assert_eq!(report(&re_exported)["name"], report(&exported)["name"]);
    for kind in ["liaison-phone-number", "liaison-vehicle"] {
        assert_eq!(
            objects(&re_exported, kind),
            objects(&exported, kind),
            "{kind} differs after the round trip"
        );
    }
    for n in &mut nodes {
        n.stop();
    }
}
