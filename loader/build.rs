//! Tells rustc where the two embedded ELF images are, and links with
//! `link.ld`. Both only matter for the real target (aarch64, no OS).

use std::env;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=link.ld");
    println!("cargo:rerun-if-env-changed=SEL4_KERNEL_ELF");
    println!("cargo:rerun-if-env-changed=ROOT_TASK_ELF");

    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "aarch64" || os != "none" {
        return; // host build: a stub binary, nothing embedded
    }

    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rustc-link-arg-bins=-T{}", manifest_dir.join("link.ld").display());

    let default_kernel = manifest_dir.join("../target/sel4/build-aarch64/kernel.elf");
    embed("SEL4_KERNEL_ELF", "LOADER_KERNEL_ELF", Some(&default_kernel));
    embed("ROOT_TASK_ELF", "LOADER_ROOT_TASK_ELF", None);
}

/// Resolve the image path in `var` (or `default`) and hand it to the crate as
/// the compile-time variable `out`, for `include_bytes!`.
fn embed(var: &str, out: &str, default: Option<&Path>) {
    let path = match (env::var_os(var), default) {
        (Some(p), _) => PathBuf::from(p),
        (None, Some(d)) => d.to_path_buf(),
        (None, None) => panic!("set {var} to the path of the ELF image to embed"),
    };
    let abs = path.canonicalize().unwrap_or_else(|e| panic!("{var}={}: {e}", path.display()));
    println!("cargo:rerun-if-changed={}", abs.display());
    println!("cargo:rustc-env={out}={}", abs.display());
}
