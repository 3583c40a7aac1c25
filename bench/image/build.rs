//! The benchmark's image: the memory manager sized for 64 peers, and the benchmark program.

fn main() {
    sysbuild::image("system.toml");
}
