//! The Prometheus endpoint, scraped over real HTTP from running nodes: queues, receipts
//! by outcome on both sides, delivery latency, log and storage gauges, in a format a
//! Prometheus server parses.

use liaison_tests::metrics::{enable_metrics, parse, scrape};
use liaison_tests::{LONG, federation, wait_until};

#[test]
fn metrics_are_scraped_over_http_and_follow_the_deliveries() {
    let tmp = tempfile::tempdir().unwrap();
    let mut nodes = federation(tmp.path(), &["NL-NP", "DE-BKA"]);
    let nl_port = enable_metrics(&nodes[0]);
    let de_port = enable_metrics(&nodes[1]);
    nodes[0].start();
    // DE-BKA is down: two bulletins wait in NL-NP's queue.
    for title in ["one", "two"] {
        nodes[0].send(&[&nodes[1]], title);
    }
    let (content_type, text) = scrape(nl_port);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let before = parse(&text);
    assert_eq!(
        before[r#"liaison_outbox_entries{partner="DE-BKA"}"#], 2.0,
        "{text}"
    );
    assert!(before[r#"liaison_outbox_oldest_age_seconds{partner="DE-BKA"}"#] >= 0.0);
    // The two published records' bodies, from the outbox counts.
    let queued_bytes = before[r#"liaison_outbox_bytes{partner="DE-BKA"}"#];
    assert!(
        (1000.0..100_000.0).contains(&queued_bytes),
        "{queued_bytes}"
    );
    assert_eq!(before["liaison_storage_failing"], 0.0);
    assert!(before["liaison_log_entries"] > 0.0);
    assert!(before[r#"liaison_identity_expiry_timestamp_seconds{agency="NL-NP"}"#] > 1.7e9);
    // Both bulletins went through the batch signer, sealed to one epoch with DE-BKA.
    assert_eq!(before["liaison_envelopes_signed"], 2.0);
    assert!((1.0..=2.0).contains(&before["liaison_envelope_batches"]));
    assert_eq!(before["liaison_epochs_live"], 1.0);

    nodes[1].start();
    let (nl, de) = (&nodes[0], &nodes[1]);
    wait_until("delivery", LONG, || nl.outbox(de) == 0);
    let after = parse(&scrape(nl_port).1);
    assert_eq!(after[r#"liaison_outbox_entries{partner="DE-BKA"}"#], 0.0);
    assert_eq!(after[r#"liaison_outbox_bytes{partner="DE-BKA"}"#], 0.0);
    assert_eq!(
        after[r#"liaison_deliveries_total{partner="DE-BKA",outcome="accepted"}"#],
        2.0
    );
    assert!(after["liaison_delivery_latency_seconds_count"] >= 2.0);
    assert!(after["liaison_log_commits"] >= 1.0);
    assert!(after["liaison_log_commit_latency_seconds_count"] >= 1.0);
    assert!(after["liaison_log_appended_entries_total"] >= 4.0);
    assert_eq!(after["liaison_log_commit_failures_total"], 0.0);
    let at_de = parse(&scrape(de_port).1);
    assert_eq!(
        at_de[r#"liaison_received_total{partner="NL-NP",outcome="accepted"}"#],
        2.0
    );
}
