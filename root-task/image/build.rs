//! The description to run: `SYSBUILD_SYSTEM` (the Makefile sets it from `make run SYSTEM=...`), or the spreadsheet demo's.

fn main() {
    sysbuild::image("../../apps/spreadsheet/system.toml");
}
