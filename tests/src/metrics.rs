//! The Prometheus endpoint as a scraper sees it: turning it on, scraping over plain
//! HTTP, and reading the exposition the way a scraper does.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};

use crate::TestNode;

/// Turns on `[metrics]` in `node`'s liaison.toml on a free loopback port; returns it.
pub fn enable_metrics(node: &TestNode) -> u16 {
    node.enable_listener("metrics")
}

/// `GET /metrics`: the content type and the body.
pub fn scrape(port: u16) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
    );
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap();
    (content_type, body.to_owned())
}

/// Checks the OpenMetrics text the way a scraper reads it and returns every sample:
/// `name{labels}` → value. Each sample belongs to a family declared by `# TYPE` and
/// `# HELP` before it; names follow the Prometheus conventions; `# EOF` ends it.
pub fn parse(text: &str) -> HashMap<String, f64> {
    let mut families: HashMap<String, String> = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    let mut samples = HashMap::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "the exposition must end with # EOF"
    );
    let valid_name = |n: &str| {
        n.starts_with("liaison_")
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(valid_name(name), "{name}");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            families.insert(name.to_owned(), kind.to_owned());
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            helped.insert(rest.split_once(' ').unwrap().0.to_owned());
        } else if line.starts_with("# UNIT ") {
        } else {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            let name = series.split('{').next().unwrap();
            let family = families
                .keys()
                .filter(|f| name.starts_with(f.as_str()))
                .max_by_key(|f| f.len())
                .unwrap_or_else(|| panic!("{name} has no # TYPE"));
            assert!(helped.contains(family), "{family} has no # HELP");
            let suffix = &name[family.len()..];
            let allowed: &[&str] = match families[family].as_str() {
                "counter" => &["_total", "_created"],
                "histogram" => &["_bucket", "_sum", "_count", "_created"],
                _ => &[""],
            };
            assert!(
                allowed.contains(&suffix),
                "{name} in a {} family",
                families[family]
            );
            samples.insert(series.to_owned(), value);
        }
    }
    samples
}
