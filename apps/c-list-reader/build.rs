//! Link at the address every spawned program lives at.

fn main() {
    sysbuild::program();
}
