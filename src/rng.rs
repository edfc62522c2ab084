//! Seeded random numbers. Everything random in the library (initialisers, shuffling,
//! dropout masks) draws from a `SeededRng`, so one seed fixes a whole run. Draws are
//! always made on the calling thread, never inside worker threads, so results do not
//! depend on the thread count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A deterministic random generator (ChaCha8) with the few draws the library needs.
#[derive(Clone, Debug)]
pub struct SeededRng {
    inner: ChaCha8Rng,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        SeededRng {
            inner: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// A new generator derived from this one; used to give each layer its own stream.
    pub fn fork(&mut self) -> Self {
        SeededRng::new(self.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn uniform01(&mut self) -> f32 {
        // 24 random bits give every representable multiple of 2^-24 in [0, 1).
        (self.inner.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform in [low, high).
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.uniform01()
    }

    /// Standard normal (Box-Muller), in f64 for accuracy of the orthogonal initialiser.
    pub fn normal(&mut self) -> f64 {
        let u1 = ((self.inner.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
        let u2 = (self.inner.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Uniform integer in [0, n). `n` must be > 0.
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        // Lemire's multiply-shift: unbiased enough for shuffling (n << 2^64).
        ((self.inner.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Fisher-Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}
