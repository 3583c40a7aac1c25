//! `bench-report LOG OUT_DIR [OTHER_LOG]`: read a benchmark run's log,
//! write `results.md`, `results.csv` and `cost-vs-peers.svg` into OUT_DIR,
//! and print the targets with their measured ratios. With OTHER_LOG (the
//! same benchmark on the other kernel: debug and production), also
//! `kernels.md`, every target's ratio on both.

#![forbid(unsafe_code)]

use bench_report::{csv, markdown, memory, parse, targets, Sample};
use plotters::prelude::*;
use std::alloc::System;
use std::path::Path;

/// Every allocation is counted, so the memory report can tell what the
/// memory manager's code holds (see [`memory::report`]).
#[global_allocator]
static GLOBAL: &stats_alloc::StatsAlloc<System> = &stats_alloc::INSTRUMENTED_SYSTEM;

/// The chart's size in pixels.
const CHART: (u32, u32) = (900, 560);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (log, out, other) = match args.as_slice() {
        [_, log, out] => (log, out, None),
        [_, log, out, other] => (log, out, Some(other)),
        _ => {
            eprintln!("usage: bench-report LOG OUT_DIR [OTHER_LOG]");
            std::process::exit(2);
        }
    };
    let text = std::fs::read_to_string(log).unwrap_or_else(|e| fail(&format!("{log}: {e}")));
    let samples = parse(&text).unwrap_or_else(|e| fail(&e));
    if samples.is_empty() {
        fail(&format!("{log}: no BENCH lines"));
    }
    let out = Path::new(out);
    std::fs::create_dir_all(out).unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
    let write = |name: &str, body: String| {
        std::fs::write(out.join(name), body).unwrap_or_else(|e| fail(&format!("{name}: {e}")));
    };
    let mem = memory::report();
    write("results.md", markdown(&samples) + &mem);
    write("results.csv", csv(&samples));
    chart(&samples, &out.join("cost-vs-peers.svg")).unwrap_or_else(|e| fail(&format!("chart: {e}")));
    for t in targets(&samples) {
        let ratio = t.ratio.map_or("-".into(), |r| format!("{r:.2}"));
        println!(
            "target: {}: {ratio} ({} {}): {}",
            t.what,
            if t.at_least { ">=" } else { "<=" },
            t.bound,
            t.verdict()
        );
    }
    print!("{mem}");
    if let Some(other) = other {
        let text = std::fs::read_to_string(other).unwrap_or_else(|e| fail(&format!("{other}: {e}")));
        let theirs = parse(&text).unwrap_or_else(|e| fail(&e));
        let table = bench_report::kernels(&targets(&samples), &targets(&theirs), log, other);
        print!("{table}");
        write("kernels.md", table);
    }
    println!("bench-report: wrote results.md, results.csv, cost-vs-peers.svg in {}", out.display());
}

fn fail(msg: &str) -> ! {
    eprintln!("bench-report: {msg}");
    std::process::exit(1)
}

/// Cost against peers, one line per design, at the smallest grow size.
fn chart(samples: &[Sample], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let pages = samples.iter().map(|s| s.pages).min().unwrap_or(1);
    let at_size: Vec<&Sample> = samples.iter().filter(|s| s.pages == pages).collect();
    let max_peers = at_size.iter().map(|s| s.peers).max().unwrap_or(1);
    let max_cycles = at_size.iter().map(|s| s.cycles).max().unwrap_or(1);
    let root = SVGBackend::new(path, CHART).into_drawing_area();
    root.fill(&WHITE)?;
    let mut c = ChartBuilder::on(&root)
        .caption(format!("grow by {pages} page(s): cost against peers"), ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0u64..max_peers + 1, 0u64..max_cycles + max_cycles / 10 + 1)?;
    c.configure_mesh().x_desc("peers").y_desc("cycles (median)").draw()?;
    let mut designs: Vec<&str> = at_size.iter().map(|s| s.design.as_str()).collect();
    designs.sort();
    designs.dedup();
    for (i, d) in designs.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let mut pts: Vec<(u64, u64)> =
            at_size.iter().filter(|s| s.design == *d).map(|s| (s.peers, s.cycles)).collect();
        pts.sort();
        c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
            .label(*d)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        c.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    c.configure_series_labels().background_style(WHITE).border_style(BLACK).draw()?;
    root.present()?;
    Ok(())
}
