//! Link the on-target binary at the address every spawned program lives at.

fn main() {
    sysbuild::program();
}
