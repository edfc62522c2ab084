//! numpy's legacy `RandomState`: the MT19937 Mersenne Twister with numpy's legacy
//! integer seeding, and `RandomState.shuffle` on a 1-D array.
//!
//! Keras shuffles its datasets with `np.random.RandomState(seed).shuffle(indices)`, so
//! reproducing Keras's splits element for element needs this exact generator; the
//! crate's own `SeededRng` (ChaCha8) cannot give the same order.

/// Number of 32-bit words in the MT19937 state.
const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// numpy's `np.random.RandomState(seed)` for an integer seed, restricted to the
/// draws Keras's dataset loaders make.
#[derive(Clone)]
pub struct RandomState {
    key: [u32; N],
    pos: usize,
}

impl RandomState {
    /// `np.random.RandomState(seed)`: numpy's legacy seeding (`mt19937_seed`), the
    /// reference `init_genrand` of Matsumoto and Nishimura.
    pub fn new(seed: u32) -> Self {
        let mut key = [0u32; N];
        let mut s = seed;
        for (pos, slot) in key.iter_mut().enumerate() {
            *slot = s;
            s = 1_812_433_253u32
                .wrapping_mul(s ^ (s >> 30))
                .wrapping_add(pos as u32 + 1);
        }
        RandomState { key, pos: N }
    }

    /// Regenerates the whole state block (the reference `genrand_int32` refill).
    fn regenerate(&mut self) {
        let mag = |y: u32| if y & 1 == 1 { MATRIX_A } else { 0 };
        for i in 0..N {
            let y = (self.key[i] & UPPER_MASK) | (self.key[(i + 1) % N] & LOWER_MASK);
            self.key[i] = self.key[(i + M) % N] ^ (y >> 1) ^ mag(y);
        }
        self.pos = 0;
    }

    /// The next raw 32-bit output (numpy's `next_uint32` for MT19937).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.regenerate();
        }
        let mut y = self.key[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// numpy's `next_uint64` for MT19937: two 32-bit draws, high word first.
    fn next_u64(&mut self) -> u64 {
        let hi = u64::from(self.next_u32());
        let lo = u64::from(self.next_u32());
        (hi << 32) | lo
    }

    /// numpy's `random_interval(max)`: uniform in `[0, max]` by masked rejection
    /// sampling (the draw is masked to the smallest all-ones mask covering `max` and
    /// rejected while it exceeds `max`). 32-bit draws while `max` fits in 32 bits.
    pub fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        mask |= mask >> 32;
        if max <= u64::from(u32::MAX) {
            loop {
                let value = u64::from(self.next_u32()) & mask;
                if value <= max {
                    return value;
                }
            }
        } else {
            loop {
                let value = self.next_u64() & mask;
                if value <= max {
                    return value;
                }
            }
        }
    }

    /// `RandomState.shuffle(x)` for a non-empty 1-D ndarray: numpy's legacy
    /// Fisher-Yates from the last element down, swapping `i` with
    /// `random_interval(i)` for `i = n-1, ..., 1`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.random_interval(i as u64) as usize;
            items.swap(i, j);
        }
    }

    /// `indices = np.arange(n); rng.shuffle(indices)`, as Keras's loaders do.
    pub fn shuffled_indices(&mut self, n: usize) -> Vec<usize> {
        let mut indices: Vec<usize> = (0..n).collect();
        self.shuffle(&mut indices);
        indices
    }
}

impl std::fmt::Debug for RandomState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RandomState")
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_mt19937_outputs_for_default_seed() {
        // The reference implementation's first outputs for init_genrand(5489).
        let mut rs = RandomState::new(5489);
        assert_eq!(rs.next_u32(), 3_499_211_612);
        assert_eq!(rs.next_u32(), 581_869_302);
        assert_eq!(rs.next_u32(), 3_890_346_734);
        // The 10000th output of the reference generator.
        let mut rs = RandomState::new(5489);
        let mut last = 0;
        for _ in 0..10_000 {
            last = rs.next_u32();
        }
        assert_eq!(last, 4_123_659_995);
    }

    #[test]
    fn random_interval_stays_in_range() {
        let mut rs = RandomState::new(7);
        for max in [0u64, 1, 2, 3, 5, 1000, u64::from(u32::MAX), 1 << 40] {
            for _ in 0..100 {
                assert!(rs.random_interval(max) <= max);
            }
        }
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rs = RandomState::new(113);
        let mut idx = rs.shuffled_indices(1000);
        assert_ne!(idx, (0..1000).collect::<Vec<_>>());
        idx.sort_unstable();
        assert_eq!(idx, (0..1000).collect::<Vec<_>>());
    }
}
