//! A deterministic pseudo-random source for the tests that need one: the
//! same seed replays the same sequence, so a failure reproduces.

/// xorshift64 (no dependency, fine for test inputs; never a zero seed).
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (not quite uniform; enough for tests).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
