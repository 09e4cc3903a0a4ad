//! `cargo bench -p liaison-node --bench search [-- DOCS]`: the full-text index at scale
//! (issue #15). Builds an index of DOCS synthetic bulletins (default 1,000,000: a
//! 6-word title, an 80-word body drawn from a 50,000-word vocabulary with a Zipf-like
//! skew, and one person's name), hashing every word as a node does, then times queries
//! on it: a common word, two rarer words together, and a fuzzy name. Prints the indexing
//! cost per bulletin, the size on disk and query latency percentiles.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Instant;

use liaison_core::selector::SelectorKey;
use liaison_core::{BulletinContent, Entity};
use liaison_node::ops::fulltext::{FullText, TextQuery};

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A word index skewed towards small numbers (roughly Zipf, s = 1).
    fn word(&mut self, vocabulary: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((vocabulary as f64).powf(u) as u64).min(vocabulary - 1)
    }
}

/// Word number `n`, letters only, so it survives the tokenizer whole.
fn word(n: u64) -> String {
    let mut n = n + 1;
    let mut out = String::new();
    while n > 0 {
        out.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
    }
    out + "x"
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

type MakeQuery = Box<dyn Fn(&mut Rng) -> TextQuery>;

fn main() {
    let docs: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    const VOCABULARY: u64 = 50_000;
    let dir = tempfile::tempdir().unwrap();
    let key = SelectorKey::from_bytes(&[7; 32]);
    let mut index = FullText::open(dir.path().join("search")).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let sentence = |rng: &mut Rng, n: usize| -> String {
        (0..n)
            .map(|_| word(rng.word(VOCABULARY)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let start = Instant::now();
    for seq in 1..=docs {
        let content = BulletinContent {
            title: sentence(&mut rng, 6),
            body: sentence(&mut rng, 80),
            entities: vec![Entity::Person {
                full_name: format!("{} {}", word(rng.next() % 5_000), word(rng.next() % 20_000)),
                date_of_birth: String::new(),
                nationality: String::new(),
                aliases: vec![],
                identifiers: vec![],
            }],
            ..BulletinContent::default()
        };
        index.add(&key, seq, &content).unwrap();
        if seq % 100_000 == 0 {
            index.commit(seq, &[0; 32]).unwrap();
            eprintln!("  {seq} indexed, {:.0} s", start.elapsed().as_secs_f64());
        }
    }
    index.commit(docs, &[0; 32]).unwrap();
    let indexing = start.elapsed().as_secs_f64();
    let bytes: u64 = std::fs::read_dir(dir.path().join("search"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!(
        "indexed {docs} bulletins (6 + 80 words, one name) in {indexing:.1} s: {:.1} µs per bulletin (hashing included), {:.0} bytes per bulletin on disk ({:.2} GB)",
        indexing * 1e6 / docs as f64,
        bytes as f64 / docs as f64,
        bytes as f64 / 1e9
    );
    let cases: [(&str, MakeQuery); 3] = [
        (
            "one common word",
            Box::new(|rng| TextQuery {
                words: word(rng.next() % 20),
                fuzzy_name: None,
            }),
        ),
        (
            "two mid-frequency words",
            Box::new(|rng| TextQuery {
                words: format!(
                    "{} {}",
                    word(100 + rng.next() % 500),
                    word(100 + rng.next() % 500)
                ),
                fuzzy_name: None,
            }),
        ),
        (
            "a fuzzy name (one letter changed)",
            Box::new(|rng| {
                let mut surname = word(rng.next() % 20_000);
                surname.replace_range(0..1, "q");
                TextQuery {
                    words: String::new(),
                    fuzzy_name: Some(format!("{} {}", word(rng.next() % 5_000), surname)),
                }
            }),
        ),
    ];
    for (name, make) in cases {
        let mut times = Vec::new();
        let mut hits = 0usize;
        for _ in 0..200 {
            let query = make(&mut rng);
            let t = Instant::now();
            hits += index.search(&key, &query).unwrap().len();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "  {name:<36} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({:.0} hits per query, at most {})",
            percentile(&times, 0.5),
            percentile(&times, 0.99),
            times[times.len() - 1],
            hits as f64 / times.len() as f64,
            liaison_node::ops::fulltext::MAX_HITS
        );
    }
}
