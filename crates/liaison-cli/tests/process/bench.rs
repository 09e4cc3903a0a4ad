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
