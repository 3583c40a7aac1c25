//! Compiles the C app (`src/main.c`) with Debian's gcc for the target
//! (the AArch64 cross gcc for AArch64) against the generated `libshm.h`,
//! with the flags in `libshm/c/cflags/`, and links the program at the
//! address every spawned program lives at.

fn main() {
    sysbuild::program();
    let target = std::env::var("TARGET").expect("set by cargo");
    let arch = target.split('-').next().expect("a target triple");
    // How C is compiled against libshm.h for this arch: one definition,
    // which the Makefile's `c-lib` reads too.
    let file = format!("../../libshm/c/cflags/{arch}");
    let cflags = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut lines = cflags.lines();
    let (gcc, flags) = (lines.next().expect("the compiler"), lines.next().expect("the flags"));
    let include = std::env::var("DEP_SHM_INCLUDE").expect("libshm-c says where libshm.h is");
    let mut build = cc::Build::new();
    build.compiler(gcc).no_default_flags(true).file("src/main.c").include(include);
    for flag in flags.split_whitespace() {
        build.flag(flag);
    }
    build.compile("c_list");
    println!("cargo:rerun-if-changed=src/main.c");
    println!("cargo:rerun-if-changed={file}");
}
