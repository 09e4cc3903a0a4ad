//! `liaison bench` runs end to end on a small load and reports every figure it
//! promises. The figures themselves are not asserted: this is a benchmark, and a test
//! only checks that it works and says what it measured.

use crate::util::{fails, ok};

#[test]
fn bench_runs_each_recipient_count_and_reports_its_figures() {
    let out = ok(&[
        "bench",
        "--skip-crypto",
        "--bulletins",
        "40",
        "--recipients",
        "1,2",
        "--size",
        "300",
        "--rate",
        "40",
        "--latency-seconds",
        "1",
        "--in-flight",
        "4",
    ]);
    assert!(out.contains("300 B bulletin bodies"), "{out}");
    assert!(out.contains("1 sender + 2 receiving nodes"), "{out}");
    for k in ["1", "2"] {
        let line = out
            .lines()
            .find(|l| {
                l.trim_start()
                    .starts_with(&format!("{k} recipient(s): 40 published"))
            })
            .unwrap_or_else(|| panic!("no line for {k} recipient(s):\n{out}"));
        for figure in [
            "bulletins/s",
            "deliveries/s end to end",
            "µs CPU per bulletin",
            "envelopes per batch signature",
        ] {
            assert!(line.contains(figure), "{figure} missing: {line}");
        }
    }
    assert!(out.contains("latency at 40/s for 1 s"), "{out}");
    assert!(out.contains("(40 bulletins)"), "{out}");
    assert!(out.contains("subscriber on the recipient got 40"), "{out}");
    assert!(out.contains("4 concurrent calls"), "{out}");

    let refused = fails(&["bench", "--recipients", "0"], 1);
    assert!(
        refused.contains("at least one recipient count"),
        "{refused}"
    );
    let too_many = fails(&["bench", "--recipients", "1,300"], 1);
    assert!(too_many.contains("--recipients 300"), "{too_many}");
    let too_big = fails(&["bench", "--size", "2000000"], 1);
    assert!(too_big.contains("--size 2000000"), "{too_big}");
}

/// `liaison bench | head -1`: the reader goes away after the first line; the bench
/// stops quietly instead of panicking on the closed pipe.
#[test]
fn bench_stops_quietly_when_its_reader_goes_away() {
    use std::io::BufRead as _;
    let mut child = crate::util::liaison()
        .args([
            "bench",
            "--skip-crypto",
            "--bulletins",
            "20",
            "--recipients",
            "1",
            "--latency-seconds",
            "1",
            "--rate",
            "20",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("liaison bench:"), "{first}");
    // The pipe's read end is dropped here.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn bench_with_separate_node_processes_reports_each_count() {
    let out = ok(&[
        "bench",
        "--processes",
        "--skip-crypto",
        "--bulletins",
        "30",
        "--recipients",
        "1,2",
        "--in-flight",
        "4",
    ]);
    assert!(out.contains("2 receiving `liaison run` processes"), "{out}");
    for k in ["1", "2"] {
        let line = out
            .lines()
            .find(|l| {
                l.trim_start()
                    .starts_with(&format!("{k} recipient(s): 30 published"))
            })
            .unwrap_or_else(|| panic!("no line for {k} recipient(s):\n{out}"));
        assert!(line.contains("deliveries/s end to end"), "{line}");
        assert!(line.contains("µs CPU per bulletin"), "{line}");
    }
}

#[test]
fn bench_scale_modes_report_catch_up_log_size_and_a_partner_down() {
    let out = ok(&[
        "bench",
        "--catch-up",
        "300",
        "--log-size",
        "10000",
        "--partner-down",
        "100",
        "--latency-seconds",
        "1",
        "--in-flight",
        "4",
        "--size",
        "300",
    ]);
    for figure in [
        "queued 300 in",
        "drained 300 in",
        "received exactly once and in order: yes",
        "peak RSS during catch-up",
        "filled to ",
        "publish rate at ",
        "log verify: ",
        "log verify --since-checkpoint right after",
        "queued 100 for ZZ-R30",
        "p99 to a partner that is up: ",
        "ZZ-R30 back: ",
    ] {
        assert!(out.contains(figure), "{figure} missing:\n{out}");
    }
    for label in ["empty", "full"] {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line:\n{out}"));
        for query in [
            "publish",
            "status",
            "bulletin list --limit 50",
            "List page of 100",
            "Subscribe resume",
        ] {
            assert!(line.contains(query), "{query} missing: {line}");
        }
    }
}
