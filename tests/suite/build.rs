//! The suite's image: its description embeds the memory manager and the test program.

fn main() {
    sysbuild::image("system.toml");
}
