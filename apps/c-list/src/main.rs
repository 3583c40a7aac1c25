//! The C app's Rust side is only this: its program is `src/main.c`, and
//! `libshm-c` is its runtime (entry point, the calls of `libshm.h`).

#![no_std]
#![no_main]

use shm as _;
