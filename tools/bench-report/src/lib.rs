//! The benchmark's results, from the lines the on-target benchmark prints:
//!
//! ```text
//! BENCH design=mmap_peer peers=16 pages=1 cycles=123456
//! ```
//!
//! one line per (design, peers, pages) with the median cycle count of its
//! repeats. This crate parses them, checks the targets of the benchmark
//! issue as ratios measured in the same boot, and writes the tables and the
//! chart (see `main.rs`).

use std::collections::BTreeMap;
use std::fmt::Write;

/// The prefix of a result line.
pub const PREFIX: &str = "BENCH ";

/// One measurement: the median cost of a design at a size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The design, e.g. `mmap_peer`, `notify_ack`, `floor`.
    pub design: String,
    /// Attached peers.
    pub peers: u64,
    /// Pages the object grows by.
    pub pages: u64,
    /// Median cycles (under `-icount shift=0`: guest instructions).
    pub cycles: u64,
}

/// Parse every `BENCH` line of a log; other lines are ignored, a malformed
/// `BENCH` line is an error naming it.
pub fn parse(log: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for line in log.lines() {
        let Some(rest) = line.trim().strip_prefix(PREFIX) else { continue };
        let fields: BTreeMap<&str, &str> =
            rest.split_whitespace().filter_map(|kv| kv.split_once('=')).collect();
        let number = |k: &str| -> Result<u64, String> {
            fields
                .get(k)
                .ok_or(format!("no {k} in {line:?}"))?
                .parse()
                .map_err(|e| format!("{k} in {line:?}: {e}"))
        };
        let design = fields.get("design").ok_or(format!("no design in {line:?}"))?.to_string();
        samples.push(Sample {
            design,
            peers: number("peers")?,
            pages: number("pages")?,
            cycles: number("cycles")?,
        });
    }
    Ok(samples)
}

/// The cost of `design` at (`peers`, `pages`), if measured.
pub fn cost(samples: &[Sample], design: &str, peers: u64, pages: u64) -> Option<u64> {
    samples.iter().find(|s| s.design == design && s.peers == peers && s.pages == pages).map(|s| s.cycles)
}

/// One target of the benchmark: a ratio that must reach a bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// What is compared.
    pub what: String,
    /// The measured ratio, if both sides were measured.
    pub ratio: Option<f64>,
    /// Whether the ratio must be at least (true) or at most (false) `bound`.
    pub at_least: bool,
    /// The bound.
    pub bound: f64,
}

impl Target {
    /// Met, missed, or not measured.
    pub fn verdict(&self) -> &'static str {
        match self.ratio {
            None => "not measured",
            Some(r) if (self.at_least && r >= self.bound) || (!self.at_least && r <= self.bound) => "met",
            Some(_) => "missed",
        }
    }
}

fn ratio(a: Option<u64>, b: Option<u64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
        _ => None,
    }
}

/// The targets of the benchmark issue, as ratios of this run's figures.
pub fn targets(s: &[Sample]) -> Vec<Target> {
    let mut t = vec![
        Target {
            what: "notify-and-acknowledge / mmap_peer at M=16, K=1".into(),
            ratio: ratio(cost(s, "notify_ack", 16, 1), cost(s, "mmap_peer", 16, 1)),
            at_least: true,
            bound: 3.0,
        },
        Target {
            what: "notify-and-acknowledge / mmap_peer at M=64, K=1".into(),
            ratio: ratio(cost(s, "notify_ack", 64, 1), cost(s, "mmap_peer", 64, 1)),
            at_least: true,
            bound: 5.0,
        },
        Target {
            what: "4 KiB / 2 MiB pages for mmap_peer at M=16, K=512".into(),
            ratio: ratio(cost(s, "mmap_peer", 16, 512), cost(s, "mmap_peer_2m", 16, 512)),
            at_least: true,
            bound: 10.0,
        },
    ];
    let mut sizes: Vec<(u64, u64)> =
        s.iter().filter(|x| x.design == "mmap_peer").map(|x| (x.peers, x.pages)).collect();
    sizes.sort();
    for (m, k) in sizes {
        t.push(Target {
            what: format!("mmap_peer / floor at M={m}, K={k}"),
            ratio: ratio(cost(s, "mmap_peer", m, k), cost(s, "floor", m, k)),
            at_least: false,
            bound: 1.3,
        });
    }
    t
}

/// The results as a Markdown table (one row per design and size) followed
/// by the targets.
pub fn markdown(samples: &[Sample]) -> String {
    let mut out = String::from("| design | peers | pages | cycles |\n|---|---:|---:|---:|\n");
    for s in samples {
        writeln!(out, "| {} | {} | {} | {} |", s.design, s.peers, s.pages, s.cycles).unwrap();
    }
    out.push_str("\n| target | ratio | bound | verdict |\n|---|---:|---:|---|\n");
    for t in targets(samples) {
        let ratio = t.ratio.map_or("-".into(), |r| format!("{r:.2}"));
        let bound = format!("{} {}", if t.at_least { ">=" } else { "<=" }, t.bound);
        writeln!(out, "| {} | {ratio} | {bound} | {} |", t.what, t.verdict()).unwrap();
    }
    out
}

/// The results as CSV.
pub fn csv(samples: &[Sample]) -> String {
    let mut out = String::from("design,peers,pages,cycles\n");
    for s in samples {
        writeln!(out, "{},{},{},{}", s.design, s.peers, s.pages, s.cycles).unwrap();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "boot noise\nBENCH design=mmap_peer peers=16 pages=1 cycles=1000\n\
        BENCH design=notify_ack peers=16 pages=1 cycles=4000\nBENCH design=floor peers=16 pages=1 cycles=900\n";

    #[test]
    fn parses_bench_lines_only() {
        let s = parse(LOG).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(cost(&s, "notify_ack", 16, 1), Some(4000));
        assert_eq!(cost(&s, "notify_ack", 64, 1), None);
    }

    #[test]
    fn malformed_line_is_an_error() {
        assert!(parse("BENCH design=x peers=two pages=1 cycles=3").is_err());
        assert!(parse("BENCH peers=1 pages=1 cycles=3").is_err());
    }

    #[test]
    fn targets_are_judged_from_ratios() {
        let t = targets(&parse(LOG).unwrap());
        assert_eq!(t[0].verdict(), "met"); // 4x >= 3x
        assert_eq!(t[1].verdict(), "not measured");
        let floor = t.iter().find(|t| t.what.contains("floor")).unwrap();
        assert!((floor.ratio.unwrap() - 1000.0 / 900.0).abs() < 1e-9);
        assert_eq!(floor.verdict(), "met");
    }

    #[test]
    fn tables_list_every_sample() {
        let s = parse(LOG).unwrap();
        assert_eq!(csv(&s).lines().count(), 4);
        assert!(markdown(&s).contains("| notify_ack | 16 | 1 | 4000 |"));
    }
}
