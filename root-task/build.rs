//! Link the root task at its fixed address (see `link.ld`), and embed the
//! programs it spawns: `ROOT_TASK_PROGRAMS` lists them as `name=path,...`
//! (the Makefile builds them first); without it the list is empty.

use std::fmt::Write;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
    }
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-env-changed=ROOT_TASK_PROGRAMS");

    let mut out = String::from("/// The programs the root task can spawn: (name, ELF image).\n");
    out.push_str("pub static PROGRAMS: &[(&str, &[u8])] = &[\n");
    for entry in std::env::var("ROOT_TASK_PROGRAMS").unwrap_or_default().split(',').filter(|e| !e.is_empty())
    {
        let (name, path) = entry.split_once('=').expect("ROOT_TASK_PROGRAMS entries are name=path");
        let path = std::fs::canonicalize(path).unwrap_or_else(|e| panic!("program {name} at {path}: {e}"));
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(out, "    ({name:?}, include_bytes!({:?})),", path.display().to_string()).unwrap();
    }
    out.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").expect("set by cargo");
    std::fs::write(format!("{out_dir}/programs.rs"), out).expect("write programs.rs");
}
