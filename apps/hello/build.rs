fn main() {
    sysbuild::program();
}
