//! Never built: this package only exists so that `cargo metadata` downloads
//! `sel4-sys` 0.0.28, whose `seL4/` folder is the seL4 5.0.0 kernel source.
