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

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write;

pub mod memory;

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
    /// For a run that never finished (`finished=no`): the cycles after
    /// which it was stopped (`stopped_after`); `cycles` is then what the
    /// others took.
    pub stopped_after: Option<u64>,
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
        let stopped_after = match fields.get("finished") {
            Some(&"no") => Some(number("stopped_after")?),
            _ => None,
        };
        samples.push(Sample {
            design,
            peers: number("peers")?,
            pages: number("pages")?,
            cycles: number("cycles")?,
            stopped_after,
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
            bound: 4.0,
        },
        Target {
            what: "notify-and-acknowledge / mmap_peer at M=64, K=1".into(),
            ratio: ratio(cost(s, "notify_ack", 64, 1), cost(s, "mmap_peer", 64, 1)),
            at_least: true,
            bound: 8.0,
        },
        Target {
            what: "4 KiB / 2 MiB pages for mmap_peer at M=16, K=512".into(),
            ratio: ratio(cost(s, "mmap_peer", 16, 512), cost(s, "mmap_peer_2m", 16, 512)),
            at_least: true,
            bound: 10.0,
        },
    ];
    // Each design against its floor, and a stuck peer against none.
    let pairs = [
        ("mmap_peer", "floor", "mmap_peer / floor", 1.3),
        ("mmap_peer_2m", "floor_2m", "mmap_peer_2m / floor_2m", 1.1),
        ("mmap_peer_stuck", "mmap_peer", "stuck peer: mmap_peer_stuck / mmap_peer", STUCK_BOUND),
        (
            "mmap_peer_subscribed_stuck",
            "mmap_peer_subscribed",
            "stuck subscriber: mmap_peer_subscribed_stuck / mmap_peer_subscribed",
            STUCK_BOUND,
        ),
    ];
    for (design, base, what, bound) in pairs {
        let mut sizes: Vec<(u64, u64)> =
            s.iter().filter(|x| x.design == design).map(|x| (x.peers, x.pages)).collect();
        sizes.sort();
        for (m, k) in sizes {
            // Many peers amortise the call: 4 KiB grows must come closer.
            let bound = if design == "mmap_peer" && m >= MANY_PEERS { MANY_PEERS_BOUND } else { bound };
            t.push(Target {
                what: format!("{what} at M={m}, K={k}"),
                ratio: ratio(cost(s, design, m, k), cost(s, base, m, k)),
                at_least: false,
                bound,
            });
        }
    }
    t
}

/// From this many peers on, mmap_peer / floor is held to
/// [`MANY_PEERS_BOUND`].
pub const MANY_PEERS: u64 = 16;
/// The bound on mmap_peer / floor with [`MANY_PEERS`] or more.
pub const MANY_PEERS_BOUND: f64 = 1.15;

/// "Adds nothing": the same count, give or take a timer tick landing in
/// the timed part (a few thousand instructions).
pub const STUCK_BOUND: f64 = 1.01;

/// The results as a Markdown table (one row per design and size) followed
/// by the targets.
pub fn markdown(samples: &[Sample]) -> String {
    let mut out = String::from("| design | peers | pages | cycles | note |\n|---|---:|---:|---:|---|\n");
    for s in samples {
        let note = s
            .stopped_after
            .map_or(String::new(), |b| format!("never finished: the others' time; stopped after {b}"));
        writeln!(out, "| {} | {} | {} | {} | {note} |", s.design, s.peers, s.pages, s.cycles).unwrap();
    }
    out.push_str(&subscribers(samples));
    out.push_str(&shrinks(samples));
    out.push_str("\n| target | ratio | bound | verdict |\n|---|---:|---:|---|\n");
    for t in targets(samples) {
        let ratio = t.ratio.map_or("-".into(), |r| format!("{r:.2}"));
        let bound = format!("{} {}", if t.at_least { ">=" } else { "<=" }, t.bound);
        writeln!(out, "| {} | {ratio} | {bound} | {} |", t.what, t.verdict()).unwrap();
    }
    out
}

/// What subscribers add to a grow: at each (M, K) measured both ways, the
/// grow with M subscribed peers against the same grow without, and the
/// cost per subscriber (one signal each). Empty if never measured.
pub fn subscribers(samples: &[Sample]) -> String {
    let mut rows = String::new();
    for s in samples.iter().filter(|s| s.design == "mmap_peer_subscribed") {
        let Some(plain) = cost(samples, "mmap_peer", s.peers, s.pages) else { continue };
        let each = (s.cycles as f64 - plain as f64) / s.peers.max(1) as f64;
        let ratio = s.cycles as f64 / plain.max(1) as f64;
        writeln!(rows, "| {} | {} | {plain} | {} | {ratio:.3} | {each:.0} |", s.peers, s.pages, s.cycles)
            .unwrap();
    }
    titled("| subscribers M | pages | mmap_peer | mmap_peer_subscribed | ratio | per subscriber |", rows)
}

/// A table of `rows` under `head` (six right-aligned columns), or nothing
/// if there are no rows.
fn titled(head: &str, rows: String) -> String {
    if rows.is_empty() {
        return rows;
    }
    format!("\n{head}\n|---:|---:|---:|---:|---:|---:|\n{rows}")
}

/// The shrink back after a grow, against its floor (the kernel's revokes
/// alone), at each (M, K) measured both ways, and what it costs per page
/// per VSpace (the owner's and the M peers'). Empty if never measured.
pub fn shrinks(samples: &[Sample]) -> String {
    let mut rows = String::new();
    for s in samples.iter().filter(|s| s.design == "shrink") {
        let Some(floor) = cost(samples, "floor_shrink", s.peers, s.pages) else { continue };
        let ratio = s.cycles as f64 / floor.max(1) as f64;
        let per = s.cycles as f64 / (s.pages * (s.peers + 1)).max(1) as f64;
        writeln!(rows, "| {} | {} | {} | {floor} | {ratio:.2} | {per:.0} |", s.peers, s.pages, s.cycles)
            .unwrap();
    }
    titled("| peers M | pages | shrink | floor_shrink | ratio | per page per VSpace |", rows)
}

/// Every target's ratio in two runs side by side (the debug and the
/// production kernel), named by their logs.
pub fn kernels(ours: &[Target], theirs: &[Target], our_log: &str, their_log: &str) -> String {
    let mut out = format!("\n| target | bound | {our_log} | {their_log} |\n|---|---:|---:|---:|\n");
    let show = |t: Option<&Target>| {
        t.and_then(|t| t.ratio.map(|r| format!("{r:.2} {}", t.verdict()))).unwrap_or_else(|| "-".into())
    };
    for t in ours {
        let other = theirs.iter().find(|o| o.what == t.what);
        let bound = format!("{} {}", if t.at_least { ">=" } else { "<=" }, t.bound);
        writeln!(out, "| {} | {bound} | {} | {} |", t.what, show(Some(t)), show(other)).unwrap();
    }
    out
}

/// The results as CSV.
pub fn csv(samples: &[Sample]) -> String {
    let mut out = String::from("design,peers,pages,cycles,stopped_after\n");
    for s in samples {
        let stopped = s.stopped_after.map_or(String::new(), |b| b.to_string());
        writeln!(out, "{},{},{},{},{stopped}", s.design, s.peers, s.pages, s.cycles).unwrap();
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

    #[test]
    fn subscribers_are_compared_with_the_plain_grow() {
        let s = parse(
            "BENCH design=mmap_peer peers=4 pages=1 cycles=1000\n\
             BENCH design=mmap_peer_subscribed peers=4 pages=1 cycles=1400\n",
        )
        .unwrap();
        assert!(subscribers(&s).contains("| 4 | 1 | 1000 | 1400 | 1.400 | 100 |"), "{}", subscribers(&s));
        assert_eq!(subscribers(&s[..1]), "");
    }

    #[test]
    fn shrinks_are_compared_with_their_floor() {
        let s = parse(
            "BENCH design=shrink peers=1 pages=16 cycles=64000\n\
             BENCH design=floor_shrink peers=1 pages=16 cycles=32000\n",
        )
        .unwrap();
        assert!(shrinks(&s).contains("| 1 | 16 | 64000 | 32000 | 2.00 | 2000 |"), "{}", shrinks(&s));
        assert_eq!(shrinks(&s[..1]), "");
    }

    #[test]
    fn kernels_are_set_side_by_side() {
        let t = targets(&parse(LOG).unwrap());
        let table = kernels(&t, &t[..1], "debug.log", "release.log");
        assert!(table.contains("| debug.log | release.log |"));
        assert!(table.contains("| 4.00 met | 4.00 met |"), "{table}");
        assert!(table.lines().last().unwrap().ends_with("| - |"));
    }

    #[test]
    fn unfinished_runs_keep_their_bound() {
        let s = parse("BENCH design=notify_ack_stuck peers=4 pages=1 cycles=9 finished=no stopped_after=40")
            .unwrap();
        assert_eq!(s[0].stopped_after, Some(40));
        assert!(markdown(&s).contains("stopped after 40"));
        assert!(csv(&s).ends_with(",40\n"));
    }
}
