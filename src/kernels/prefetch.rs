//! Software prefetch: a hint that a slice is read soon. The backward time loops read
//! each sample's input row at step t - 1 after step t, rows `steps * features` floats
//! apart across the block's samples and going back in time, a pattern the hardware
//! prefetchers do not follow; asking for them one step ahead hides the misses.

/// Bytes per cache line on the x86-64 and AArch64 cores we target.
const LINE: usize = 64;

/// Asks for every cache line of `data` to be brought towards L1. Never faults and has
/// no effect on results; a no-op where the target has no prefetch intrinsic.
#[inline(always)]
pub fn prefetch(data: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = data.as_ptr() as *const i8;
        let bytes = std::mem::size_of_val(data);
        let mut offset = 0;
        while offset < bytes {
            // SAFETY: prefetch is only a hint: it never faults, even on an invalid
            // address, and reads or writes nothing; the address is inside `data` anyway
            // (offset < its length in bytes). SSE is part of the x86-64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
            offset += LINE;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetching_any_slice_leaves_it_unchanged() {
        let v: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        for (a, b) in [(0, 0), (0, 1), (3, 17), (0, 1000), (999, 1000)] {
            prefetch(&v[a..b]);
        }
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as f32));
    }
}
