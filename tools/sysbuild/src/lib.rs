//! The build side of a system: what an app's or an image's `build.rs`
//! calls, and what the Makefile asks about a description.
//!
//! - An app's `build.rs` is `fn main() { sysbuild::program() }`: it links
//!   the app at the address every spawned program lives at.
//! - An image's `build.rs` is `fn main() { sysbuild::image("system.toml") }`:
//!   it links the root task at its address, reads the system description
//!   (`SYSBUILD_SYSTEM` overrides the default), checks it and writes
//!   `$OUT_DIR/system.rs`, the `static SYSTEM` the root task runs, with the
//!   programs it names embedded.
//! - `cargo run -p sysbuild -- programs FILE` prints the programs a
//!   description embeds, for the Makefile to build first.

#![forbid(unsafe_code)]

pub mod check;
pub mod desc;
pub mod gen;

use std::path::{Path, PathBuf};

/// The directory the Makefile puts the stripped programs in; without it an
/// image embeds empty programs (enough for `cargo clippy`, not to boot).
pub const PROGRAMS_DIR_VAR: &str = "SYSBUILD_PROGRAMS_DIR";
/// A description to build instead of the image's default.
pub const SYSTEM_VAR: &str = "SYSBUILD_SYSTEM";

/// The link script of every spawned program: linked at
/// `libshm::layout::IMAGE_BASE`, text, read-only data and read-write data
/// in page-aligned segments of their own, so the supervisor maps each with
/// its own rights.
const PROGRAM_LINK_SCRIPT: &str = include_str!("program.ld");
/// The root task's link script: one loadable segment at a fixed address,
/// as seL4 5.0 loads it.
const ROOT_TASK_LINK_SCRIPT: &str = include_str!("root-task.ld");

fn out_dir() -> PathBuf {
    PathBuf::from(std::env::var("OUT_DIR").expect("run from a build script"))
}

fn link_with(script: &str, name: &str) {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let path = out_dir().join(name);
        std::fs::write(&path, script).expect("write the link script");
        println!("cargo:rustc-link-arg-bins=-T{}", path.display());
    }
}

/// The whole `build.rs` of a program the root task spawns.
pub fn program() {
    link_with(PROGRAM_LINK_SCRIPT, "program.ld");
}

/// The whole `build.rs` of an image: `default_system` is its description,
/// relative to the crate. A bad description stops the build with its file,
/// the entry and what is wrong.
pub fn image(default_system: &str) {
    link_with(ROOT_TASK_LINK_SCRIPT, "root-task.ld");
    println!("cargo:rerun-if-env-changed={SYSTEM_VAR}");
    println!("cargo:rerun-if-env-changed={PROGRAMS_DIR_VAR}");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let path = match std::env::var(SYSTEM_VAR) {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => manifest.join(default_system),
    };
    println!("cargo:rerun-if-changed={}", path.display());
    let programs = std::env::var(PROGRAMS_DIR_VAR).ok().filter(|d| !d.is_empty()).map(PathBuf::from);
    match build_image(&path, programs.as_deref()) {
        Ok(code) => std::fs::write(out_dir().join("system.rs"), code).expect("write system.rs"),
        Err(e) => {
            // Cargo shows a build script's stderr when it fails.
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

fn build_image(path: &Path, programs: Option<&Path>) -> Result<String, desc::DescError> {
    let system = desc::System::load(path)?;
    let images = match programs {
        Some(dir) => {
            let mut images = Vec::new();
            for name in system.programs() {
                let file = dir.join(&name);
                let bytes = std::fs::read(&file).map_err(|e| {
                    system.error(None, format!("program '{name}' was not built ({}: {e})", file.display()))
                })?;
                println!("cargo:rerun-if-changed={}", file.display());
                images.push(gen::Embedded { name, path: Some(file), bytes: Some(bytes) });
            }
            images
        }
        None => {
            println!(
                "cargo:warning=sysbuild: {PROGRAMS_DIR_VAR} is not set: a check build, embedding no programs (it would not boot; the Makefile sets it)"
            );
            system.programs().into_iter().map(gen::Embedded::unbuilt).collect()
        }
    };
    check::check(&system, &images)?;
    Ok(gen::system_rs(&system, &images))
}
