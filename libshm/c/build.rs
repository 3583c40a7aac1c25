//! Generates `libshm.h` from the C ABI in `src/lib.rs` (cbindgen), into
//! `$OUT_DIR/include`; C apps' build scripts find it in `DEP_SHM_INCLUDE`.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let include = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("include");
    std::fs::create_dir_all(&include).expect("make the include directory");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("read cbindgen.toml");
    cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("generate libshm.h")
        .write_to_file(include.join("libshm.h"));
    println!("cargo:include={}", include.display());
    println!("cargo:rerun-if-changed=src/lib.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
}
