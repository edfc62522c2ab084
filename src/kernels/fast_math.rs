//! Branch-free f32 `exp`, `sigmoid` and `tanh` that LLVM vectorises when they are
//! inlined into a loop over a slice (std's versions are libm calls, ~20-40 ns each,
//! and were most of the gate passes' time).
//!
//! Accuracy (checked against f64 in the tests below over [-30, 30] plus edge values):
//! `exp` and `sigmoid` within 2e-7 relative, `tanh` within 4e-7 relative. Cephes's
//! polynomial for `expf` and Eigen's rational function for tanh (TensorFlow's; the
//! exp form it replaced was 3e-7 but took twice the operations: the LSTM gate pass ran
//! 43-49 -> 36-38 us per 128x128 step), evaluated with fused multiply-adds (`mul_add`: one
//! rounding, so every machine and every code path gives the same bits). Inside a
//! `simd_fn!` loop they are FMA instructions (a third fewer operations than separate
//! multiplies and adds; the LSTM gate pass ran 86 -> 59 us per 128x128 step); compiled
//! for a CPU without FMA, `mul_add` is a libm call, correct but ~20x slower, so callers
//! run them only inside `simd_fn!` functions (every x86-64 CPU since 2013 has FMA).

// Cephes's and Eigen's coefficients as published (a few digits beyond f32, rounded by the
// compiler).
#![allow(clippy::excessive_precision)]

/// 1.5 * 2^23: adding it to |v| < 2^22 rounds v to the nearest integer (ties to even)
/// in the low mantissa bits, with no float-to-int conversion instruction.
const ROUND_MAGIC: f32 = 12_582_912.0;
const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a part exact in few bits and a correction (Cephes).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Beyond these, exp over/underflows f32's normal range; inputs are clamped so that
/// the exponent bits stay valid (results: ~1.7e38 and ~1.2e-38 instead of inf / 0).
const EXP_MAX: f32 = 88.0;
const EXP_MIN: f32 = -87.0;

/// e^x for finite x, clamped to [e^-87, e^88]. NaN in, NaN-free garbage out is not
/// possible here: callers only pass finite values (inputs are checked at the layer).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(EXP_MIN, EXP_MAX);
    // n = round(x / ln 2), read from the low bits of the magic sum.
    let shifted = x.mul_add(LOG2E, ROUND_MAGIC);
    let n = shifted - ROUND_MAGIC;
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let mut p = 1.987_569_2e-4f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 5.000_000_1e-1);
    let y = p.mul_add(r * r, r) + 1.0;
    // 2^n: n sits in the low mantissa bits of `shifted` (offset by the magic's bits).
    let n_bits = shifted.to_bits().wrapping_sub(ROUND_MAGIC.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    y * scale
}

/// Logistic function 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Hyperbolic tangent: Eigen's 13/6-degree rational interpolant on [-9, 9] (the one
/// TensorFlow's CPU kernels use; beyond 9, tanh is +-1 in f32): 11 multiply-adds and
/// one division, where the exp form plus a polynomial near zero took about 30
/// operations. Odd: the clamp and the polynomials are symmetric.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let (p, q) = tanh_fraction(x);
    // Near +-9 the quotient rounds a little past +-1.
    (p / q).clamp(-1.0, 1.0)
}

/// Numerator and denominator of `tanh`'s rational function.
#[inline(always)]
fn tanh_fraction(x: f32) -> (f32, f32) {
    let x = x.clamp(-9.0, 9.0);
    let z = x * x;
    let mut p = -2.760_768_5e-16f32;
    p = p.mul_add(z, 2.000_188e-13);
    p = p.mul_add(z, -8.604_672e-11);
    p = p.mul_add(z, 5.122_297e-8);
    p = p.mul_add(z, 1.485_722_4e-5);
    p = p.mul_add(z, 6.372_619_3e-4);
    p = p.mul_add(z, 4.893_524_6e-3);
    let mut q = 1.198_258_4e-6f32;
    q = q.mul_add(z, 1.185_347_1e-4);
    q = q.mul_add(z, 2.268_434_6e-3);
    q = q.mul_add(z, 4.893_525e-3);
    (x * p, q)
}

/// `tanh(x)` where `tanh_lane`, else `sigmoid(x)`, bit-identical to each: both are
/// quotients, so the lane picks its numerator and denominator and one division serves
/// both (the clamp to [-1, 1] leaves a sigmoid unchanged). A loop over a whole row of
/// LSTM gates (i, f, c, o) with the lane chosen by position runs in full vectors
/// however few the units, where four short per-gate loops ran mostly in their scalar
/// tails.
#[inline(always)]
pub fn sigmoid_or_tanh(x: f32, tanh_lane: bool) -> f32 {
    let e = exp(-x);
    let (p, q) = tanh_fraction(x);
    let (n, d) = if tanh_lane { (p, q) } else { (1.0, 1.0 + e) };
    (n / d).clamp(-1.0, 1.0)
}

/// Defines a function whose body is compiled three times — for AVX-512F, for AVX2 +
/// FMA and for the baseline target — and picks one at run time by what the CPU has.
/// The hot loops it wraps call `#[inline(always)]` helpers (the fast functions above,
/// the gate passes), which are inlined into each copy and so vectorised for its
/// instruction set. (A closure run inside a `#[target_feature]` function does not get
/// its features unless LLVM happens to inline it; this does not rely on that.)
///
/// Results are bit-identical on every path: the fast functions' fused multiply-adds
/// round once everywhere, and vector width changes no element's operations. Arguments must be
/// plain identifiers with their types; the body may use only them and module items.
/// Exported only for the kernel benchmarks; not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! simd_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx512($($arg: $ty),*) $(-> $ret)? $body
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) $(-> $ret)? $body
                if $crate::kernels::fast_math::has_avx512() {
                    // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked at run
                    // time by `has_avx512`), the only requirement of `avx512`.
                    return unsafe { avx512($($arg),*) };
                }
                if $crate::kernels::fast_math::has_avx2_fma() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked at run time by
                    // `has_avx2_fma`), the only requirement of `avx2`.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body
        }
    };
}

/// Evaluates `$body` with `$name` bound to `$u`, as a literal when it is below 16:
/// copies of one row's units then have a known length and compile to a few vector
/// moves instead of a `memcpy` call each. The body is expanded in place (no closure),
/// so it keeps the target features of the `simd_fn!` function it is in.
#[macro_export]
macro_rules! with_known_units {
    ($u:expr, |$name:ident| $body:expr) => {
        match $u {
            1 => {
                let $name: usize = 1;
                $body
            }
            2 => {
                let $name: usize = 2;
                $body
            }
            3 => {
                let $name: usize = 3;
                $body
            }
            4 => {
                let $name: usize = 4;
                $body
            }
            5 => {
                let $name: usize = 5;
                $body
            }
            6 => {
                let $name: usize = 6;
                $body
            }
            7 => {
                let $name: usize = 7;
                $body
            }
            8 => {
                let $name: usize = 8;
                $body
            }
            9 => {
                let $name: usize = 9;
                $body
            }
            10 => {
                let $name: usize = 10;
                $body
            }
            11 => {
                let $name: usize = 11;
                $body
            }
            12 => {
                let $name: usize = 12;
                $body
            }
            13 => {
                let $name: usize = 13;
                $body
            }
            14 => {
                let $name: usize = 14;
                $body
            }
            15 => {
                let $name: usize = 15;
                $body
            }
            $name => $body,
        }
    };
}

/// Whether the CPU has AVX2 and FMA (`simd_fn!`'s middle path).
#[inline(always)]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2_fma()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `simd_fn!` functions run their AVX-512F (plus AVX2 and FMA) copy.
/// `RECURRENT_NO_AVX512=1` in the environment turns the AVX-512 paths off (for
/// comparing them, or on CPUs that lower their clock for 512-bit vectors).
#[inline(always)]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| {
            avx2_fma()
                && is_x86_feature_detected!("avx512f")
                && std::env::var_os("RECURRENT_NO_AVX512").is_none_or(|v| v != "1")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn avx2_fma() -> bool {
    // std caches the CPUID result, so this is a load and a test.
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

/// `sigmoid` over a slice, in place.
#[inline(always)]
pub fn sigmoid_slice(v: &mut [f32]) {
    for x in v {
        *x = sigmoid(*x);
    }
}

/// `tanh` over a slice, in place.
#[inline(always)]
pub fn tanh_slice(v: &mut [f32]) {
    for x in v {
        *x = tanh(*x);
    }
}

/// Gradients below this magnitude are set to zero in the backward passes.
///
/// Gradients flowing back through hundreds of steps decay geometrically towards the
/// subnormal range, where every multiply costs ~100x (the CPU's microcode assist);
/// TensorFlow runs with flush-to-zero for the same reason. Flushing at exactly
/// `f32::MIN_POSITIVE` is not enough: a value just above it times a weight below one
/// is subnormal again inside the next product. 1e-30 leaves a margin of eight orders
/// of magnitude and changes nothing measurable (a gradient of 1e-30 next to ones of
/// 1e-4 is lost to f32 rounding anyway). It also makes decayed state gradients exactly
/// zero, which lets the backward passes skip rows that carry nothing.
pub const GRAD_FLUSH: f32 = 1e-30;

/// Sets values with |v| < `GRAD_FLUSH` (subnormals included) to zero.
#[inline(always)]
pub fn flush_tiny(v: &mut [f32]) {
    for x in v {
        *x = if x.abs() < GRAD_FLUSH { 0.0 } else { *x };
    }
}

simd_fn! {
    /// Whether every element is finite: in blocks of 64 without an early exit inside a
    /// block, so it vectorises (an `iter().find` over a model's gradients ran one value
    /// at a time, serially, on every training step; compiled for the baseline target,
    /// 4 lanes at a time, the check of a recurrent layer's input was 4% of LSTM(8)
    /// training).
    pub fn all_finite(v: &[f32]) -> bool {
        let mut blocks = v.chunks_exact(64);
        for b in &mut blocks {
            if !b.iter().fold(true, |ok, x| ok & x.is_finite()) {
                return false;
            }
        }
        blocks.remainder().iter().all(|x| x.is_finite())
    }
}

/// Whether any element is nonzero (NaN counts as nonzero).
#[inline(always)]
pub fn any_nonzero(v: &[f32]) -> bool {
    v.iter().any(|x| *x != 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NaN or an infinity anywhere (inside a 64-value block or in the remainder) is
    /// found; extreme finite values (MAX, MIN, subnormals, -0) are not.
    #[test]
    fn all_finite_finds_every_non_finite_position() {
        for n in [0usize, 1, 63, 64, 65, 130, 200] {
            let mut v: Vec<f32> = (0..n)
                .map(|i| [f32::MAX, f32::MIN, 1e-45, -0.0, 3.5][i % 5])
                .collect();
            assert!(all_finite(&v), "all finite, length {n}");
            for at in 0..n {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let keep = v[at];
                    v[at] = bad;
                    assert!(!all_finite(&v), "{bad} at {at} of {n}");
                    v[at] = keep;
                }
            }
        }
    }

    fn grid() -> Vec<f32> {
        let mut v: Vec<f32> = (-300_000..=300_000).map(|i| i as f32 * 1e-4).collect();
        v.extend([
            0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, 0.624_999, 0.625, 0.625_001, -0.625, 9.0, -9.0,
            40.0, -40.0, 87.0, -87.0, 88.0, -88.0, 100.0, -100.0, 1e30, -1e30,
        ]);
        v
    }

    fn rel(got: f32, want: f64) -> f64 {
        let d = (got as f64 - want).abs();
        if want == 0.0 { d } else { d / want.abs() }
    }

    #[test]
    fn exp_is_accurate_in_range() {
        for x in grid().into_iter().filter(|x| x.abs() <= 80.0) {
            let e = rel(exp(x), (x as f64).exp());
            assert!(e < 2e-7, "exp({x}): rel err {e}");
        }
        assert!(exp(1000.0).is_finite() && exp(1000.0) > 1e38);
        assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37);
    }

    #[test]
    fn sigmoid_is_accurate() {
        for x in grid() {
            let want = 1.0 / (1.0 + (-(x as f64)).exp());
            let got = sigmoid(x);
            // Relative where the value is representable as a normal f32, absolute below.
            let e = if want > 1e-37 {
                rel(got, want)
            } else {
                (got as f64 - want).abs()
            };
            assert!(e < 2e-7, "sigmoid({x}) = {got}, want {want}: err {e}");
            assert!((0.0..=1.0).contains(&got));
        }
    }

    #[test]
    fn tanh_is_accurate_and_odd() {
        for x in grid() {
            let got = tanh(x);
            let e = rel(got, (x as f64).tanh());
            assert!(e < 4e-7, "tanh({x}) = {got}: rel err {e}");
            assert_eq!(got, -tanh(-x), "odd at {x}");
            assert!((-1.0..=1.0).contains(&got));
        }
    }

    #[test]
    fn tiny_values_are_flushed_and_others_kept() {
        let mut v = [
            1e-39f32,
            -1e-40,
            f32::MIN_POSITIVE,
            -9e-31,
            1.1e-30,
            -1.1e-30,
            0.5,
            -0.0,
        ];
        flush_tiny(&mut v);
        assert_eq!(v, [0.0, 0.0, 0.0, 0.0, 1.1e-30, -1.1e-30, 0.5, 0.0]);
        assert!(!any_nonzero(&v[..4]));
        assert!(any_nonzero(&v[4..5]));
        assert!(any_nonzero(&[0.0, f32::NAN]));
    }

    crate::simd_fn! {
        fn activations(a: &mut [f32], half: usize) {
            sigmoid_slice(&mut a[..half]);
            tanh_slice(&mut a[half..]);
        }
    }

    #[test]
    fn sigmoid_or_tanh_gives_the_bits_of_each() {
        for x in grid() {
            assert_eq!(
                sigmoid_or_tanh(x, false).to_bits(),
                sigmoid(x).to_bits(),
                "{x}"
            );
            assert_eq!(sigmoid_or_tanh(x, true).to_bits(), tanh(x).to_bits(), "{x}");
        }
    }

    #[test]
    fn vectorised_copies_give_the_scalar_bits() {
        let xs = grid();
        let half = xs.len() / 2;
        let mut a = xs.clone();
        activations(&mut a, half);
        let mut b = xs.clone();
        for (i, v) in b.iter_mut().enumerate() {
            *v = if i < half { sigmoid(*v) } else { tanh(*v) };
        }
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}
