//! `profile-report`: reads the counts the QEMU plugin wrote (instructions
//! executed per phase and address, see `tools/profile/plugin`) and prints
//! one grow split into phases, the kernel's share of each, and the
//! functions that executed most, named from the kernel's and the programs'
//! symbols.
//!
//! ```text
//! profile-report COUNTS --kernel KERNEL.elf --client CLIENT.elf --server SERVER.elf --title TEXT --out PROFILE.md
//! ```

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use object::{Object, ObjectSymbol, SymbolKind};
use profile_markers::{Phase, Program};

/// Functions listed in the report.
const TOP: usize = 25;
/// Functions listed for each phase.
const PHASE_TOP: usize = 6;
/// Both arches' seL4 kernels run in the upper half of the address space.
const KERNEL_HALF: u64 = 1 << 63;

/// What the plugin counted.
#[derive(Debug, Default)]
struct Counts {
    /// Times each phase's marker executed.
    enters: BTreeMap<u8, u64>,
    /// Instructions per (phase, address).
    at: BTreeMap<(u8, u64), u64>,
}

fn parse(text: &str) -> Result<Counts, String> {
    let mut c = Counts::default();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || format!("line {}: {line:?}", n + 1);
        let num = |s: &str| -> Result<u64, String> {
            s.strip_prefix("0x")
                .map_or_else(|| s.parse().ok(), |h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(bad)
        };
        match f.as_slice() {
            [] => {}
            [first, ..] if first.starts_with('#') => {}
            ["enter", id, times] => {
                c.enters.insert(u8::try_from(num(id)?).map_err(|_| bad())?, num(times)?);
            }
            ["count", id, pc, n] => {
                c.at.insert((u8::try_from(num(id)?).map_err(|_| bad())?, num(pc)?), num(n)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(c)
}

/// A program's function symbols, sorted by address.
struct Symbols {
    funcs: Vec<(u64, u64, String)>,
}

impl Symbols {
    fn load(path: &Path) -> Result<Symbols, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut funcs: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
            .collect();
        funcs.sort();
        funcs.dedup_by_key(|f| f.0);
        if funcs.is_empty() {
            return Err(format!("{}: no function symbols (a stripped copy?)", path.display()));
        }
        Ok(Symbols { funcs })
    }

    /// The function containing `pc`, demangled, without its hash.
    fn name(&self, pc: u64) -> String {
        let i = self.funcs.partition_point(|f| f.0 <= pc);
        match i.checked_sub(1).map(|i| &self.funcs[i]) {
            Some((start, size, name)) if *size == 0 || pc < start + size => {
                format!("{:#}", rustc_demangle::demangle(name))
            }
            _ => format!("{pc:#x}"),
        }
    }
}

struct Args {
    counts: String,
    kernel: String,
    client: String,
    server: String,
    title: String,
    out: String,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let counts = it.next().ok_or("no COUNTS file")?;
    let mut flags = BTreeMap::new();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        flags.insert(flag, value);
    }
    let mut take = |k: &str| flags.remove(k).ok_or(format!("missing {k}"));
    Ok(Args {
        counts,
        kernel: take("--kernel")?,
        client: take("--client")?,
        server: take("--server")?,
        title: take("--title")?,
        out: take("--out")?,
    })
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn report(a: &Args) -> Result<String, String> {
    let text = std::fs::read_to_string(&a.counts).map_err(|e| format!("{}: {e}", a.counts))?;
    let c = parse(&text)?;
    let grows = c.enters.get(&Phase::Call.id()).copied().unwrap_or(0);
    if grows == 0 {
        return Err(format!("{}: no marked grow (was the image built with the markers?)", a.counts));
    }
    let (kernel, client, server) = (
        Symbols::load(Path::new(&a.kernel))?,
        Symbols::load(Path::new(&a.client))?,
        Symbols::load(Path::new(&a.server))?,
    );

    // Per phase: (all, of which kernel); per function: instructions.
    let mut phases: BTreeMap<u8, (u64, u64)> = BTreeMap::new();
    let mut funcs: BTreeMap<(String, &str), u64> = BTreeMap::new();
    let mut by_phase: BTreeMap<(u8, String, &str), u64> = BTreeMap::new();
    for (&(id, pc), &n) in &c.at {
        let phase = Phase::from_id(id).ok_or(format!("unknown phase id {id}"))?;
        let in_kernel = pc >= KERNEL_HALF;
        let e = phases.entry(id).or_default();
        e.0 += n;
        if in_kernel {
            e.1 += n;
        }
        let (name, program) = match (in_kernel, phase.program()) {
            (true, _) => (kernel.name(pc), "kernel"),
            (false, Program::Client) => (client.name(pc), "client"),
            (false, Program::Server) => (server.name(pc), "server"),
        };
        *by_phase.entry((id, name.clone(), program)).or_default() += n;
        *funcs.entry((name, program)).or_default() += n;
    }
    let total: u64 = phases.values().map(|p| p.0).sum();
    let in_kernel: u64 = phases.values().map(|p| p.1).sum();
    let per = |n: u64| n / grows;

    let mut out = String::new();
    let w = &mut out;
    writeln!(w, "# Profile: {}\n", a.title).unwrap();
    writeln!(
        w,
        "{grows} grows, {} instructions each (guest instructions counted by the QEMU plugin between the \
         client's markers); the kernel's share {:.1} %.\n",
        per(total),
        share(in_kernel, total)
    )
    .unwrap();
    writeln!(w, "| phase | instructions per grow | share | of which kernel |\n|---|---:|---:|---:|").unwrap();
    for (&id, &(all, k)) in &phases {
        let name = Phase::from_id(id).map_or("?", Phase::name);
        writeln!(w, "| {name} | {} | {:.1} % | {:.1} % |", per(all), share(all, total), share(k, all))
            .unwrap();
    }
    writeln!(w, "| **total** | **{}** | 100 % | {:.1} % |\n", per(total), share(in_kernel, total)).unwrap();
    let mut top: Vec<_> = funcs.into_iter().collect();
    top.sort_by_key(|b| std::cmp::Reverse(b.1));
    writeln!(w, "Top {TOP} functions (every phase):\n").unwrap();
    writeln!(w, "| function | in | instructions per grow | share |\n|---|---|---:|---:|").unwrap();
    for ((name, program), n) in top.into_iter().take(TOP) {
        writeln!(w, "| `{}` | {program} | {} | {:.1} % |", short(&name), per(n), share(n, total)).unwrap();
    }
    writeln!(w, "\nTop {PHASE_TOP} functions of each phase:\n").unwrap();
    writeln!(w, "| phase | function | in | instructions per grow |\n|---|---|---|---:|").unwrap();
    for &id in phases.keys() {
        let mut top: Vec<_> = by_phase.iter().filter(|((p, _, _), _)| *p == id).collect();
        top.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
        let phase = Phase::from_id(id).map_or("?", Phase::name);
        for ((_, name, program), n) in top.into_iter().take(PHASE_TOP) {
            writeln!(w, "| {phase} | `{}` | {program} | {} |", short(name), per(*n)).unwrap();
        }
    }
    Ok(out)
}

/// A function's name cut to fit a table.
fn short(name: &str) -> String {
    match name.char_indices().nth(100) {
        Some((at, _)) => format!("{}...", &name[..at]),
        None => name.to_string(),
    }
}

fn main() {
    let result = args().and_then(|a| {
        let text = report(&a)?;
        std::fs::write(&a.out, &text).map_err(|e| format!("{}: {e}", a.out))?;
        Ok(text)
    });
    match result {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("profile-report: {e}");
            eprintln!(
                "usage: profile-report COUNTS --kernel KERNEL.elf --client CLIENT.elf --server SERVER.elf \
                 --title TEXT --out PROFILE.md"
            );
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_and_bad_lines_are_named() {
        let c = parse("# qemu-profile-plugin v1 arch=x86_64\nenter 1 20\ncount 21 0xffffffff80001000 7\n")
            .unwrap();
        assert_eq!(c.enters[&1], 20);
        assert_eq!(c.at[&(21, 0xffff_ffff_8000_1000)], 7);
        assert!(parse("count 1 zz 3").unwrap_err().contains("line 1"));
    }
}
