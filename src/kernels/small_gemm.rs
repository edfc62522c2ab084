//! Matrix product for the small per-time-step products of the recurrent layers
//! (a few to 32 rows times a (units x gates*units) weight): register-blocked, reading
//! the row-major right factor in place. matrixmultiply re-packs the whole right factor
//! on every call, which for a single sequence (one row) or a 16-row block costs more
//! than the product itself.

#[cfg(target_arch = "x86_64")]
use super::fast_math;

/// `c (m x n) = a (m x k) · b (k x n)`, or `c += a · b` when `accumulate`; all three
/// row-major and contiguous. Uses fused multiply-adds when the CPU has them (as
/// matrixmultiply does), so results can differ in the last bit between machines but
/// never between thread counts: each element is one sum over k in order.
///
/// Panics if a slice is shorter than its shape (an internal bug, never user input).
pub fn gemm(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize, accumulate: bool) {
    gemm_lda(a, k, b, c, m, k, n, accumulate);
}

/// `gemm` with the rows of `a` `lda` floats apart (`lda >= k`): a layer's states of one
/// step inside its (samples, steps, units) buffer, read in place instead of copied.
#[allow(clippy::too_many_arguments)]
pub fn gemm_lda(
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
) {
    product(a, lda, b, c, m, k, n, accumulate, None);
}

/// One row's `c += a · b` whose sums over k continue from `sums` (n), the sums of an
/// earlier part of k (`gemm` into `sums`, not accumulating): the same FMA chain as one
/// call over both parts, so the same bits. Lets a caller start a step's product with
/// the part of `a` it already has.
pub fn gemm_row_continued(a: &[f32], b: &[f32], sums: &[f32], c: &mut [f32], k: usize, n: usize) {
    assert!(sums.len() >= n, "small_gemm: `sums` is shorter than {n}");
    product(a, k, b, c, 1, k, n, true, Some(sums));
}

/// `gemm_lda`, the sums over k of row i, column j started at `start[i * n + j]` (one
/// row only) instead of 0.
#[allow(clippy::too_many_arguments)]
fn product(
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    accumulate: bool,
    start: Option<&[f32]>,
) {
    assert!(
        start.is_none() || m == 1,
        "small_gemm: continued sums are for one row"
    );
    assert!(
        lda >= k,
        "small_gemm: row stride {lda} of `a` is below k = {k}"
    );
    assert!(
        m == 0 || a.len() >= (m - 1) * lda + k,
        "small_gemm: `a` is shorter than {m} x {k} with row stride {lda}"
    );
    assert!(
        b.len() >= k * n,
        "small_gemm: `b` is shorter than {k} x {n}"
    );
    assert!(
        c.len() >= m * n,
        "small_gemm: `c` is shorter than {m} x {n}"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if fast_math::has_avx512() {
            if m == 1 {
                // SAFETY: the CPU supports AVX-512F (checked just above); the slices
                // hold k, k x n and n floats (asserted above), as `row_avx512` needs.
                return unsafe { row_avx512(a, b, c, k, n, accumulate, start) };
            }
            // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked just above), the
            // only requirement of the `target_feature` function.
            return unsafe { blocks_avx512(a, lda, b, c, m, k, n, accumulate, start) };
        }
        if fast_math::has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only
            // requirement of the `target_feature` function.
            return unsafe { blocks_avx2_fma(a, lda, b, c, m, k, n, accumulate, start) };
        }
    }
    blocks::<false, false>(a, lda, b, c, m, k, n, accumulate, start);
}

/// `c (m x n) = bias + a (m x k) · b (k x n)`, the bias (n) added to every row (none:
/// zero): `gemm` accumulating into rows preset to the bias, so every element is the
/// bias plus one in-order sum, the same bits however many rows one call takes.
pub fn gemm_bias(
    a: &[f32],
    b: &[f32],
    bias: Option<&[f32]>,
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
) {
    for row in c[..m * n].chunks_mut(n) {
        match bias {
            Some(v) => row.copy_from_slice(&v[..n]),
            None => row.fill(0.0),
        }
    }
    gemm(a, b, c, m, k, n, true);
}

/// Most accumulator registers of one pass of `row_avx512` (of the 32 zmm registers,
/// the rest hold the broadcast and the loads).
#[cfg(target_arch = "x86_64")]
const ROW_VECTORS: usize = 24;

/// One row (a single sequence's step): `c (n) (+)= a (k) · b (k x n)`, b's rows read
/// front to back as one stream, every column's sum in a register of its own over all
/// of k (up to `ROW_VECTORS` registers per pass over b, the columns split evenly
/// between passes). The tile loops instead walk b in 128-column strips, each step of
/// k a jump of n floats, and narrow tails run two FMA chains. Each column is the same
/// in-order FMA chain from zero (or `start`), then stored or added to c: the same
/// bits as `tile`.
///
/// # Safety
/// The CPU must support AVX-512F; `a` holds at least k floats, `b` k x n, `c` and
/// `start` (when given) n.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn row_avx512(
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    k: usize,
    n: usize,
    acc: bool,
    start: Option<&[f32]>,
) {
    let vectors = n.div_ceil(16);
    let passes = vectors.div_ceil(ROW_VECTORS);
    let mut v0 = 0;
    for pass in 0..passes {
        let nv = (vectors - v0).div_ceil(passes - pass);
        let job = RowPass {
            a: a.as_ptr(),
            b: b.as_ptr(),
            c: c.as_mut_ptr(),
            start: start.map(|s| s.as_ptr()),
            k,
            n,
            j0: v0 * 16,
            acc,
        };
        macro_rules! dispatch {
            ($($v:literal)*) => {
                match nv {
                    $($v => row_pass::<$v>(&job),)*
                    _ => unreachable!("1 to ROW_VECTORS registers per pass"),
                }
            };
        }
        // SAFETY: as this function's (the pass's columns j0.. lie inside the n).
        unsafe { dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24) };
        v0 += nv;
    }
}

/// One pass of `row_avx512`: columns `j0..` of NV registers (the last one partial when
/// fewer columns remain).
#[cfg(target_arch = "x86_64")]
struct RowPass {
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    start: Option<*const f32>,
    k: usize,
    n: usize,
    j0: usize,
    acc: bool,
}

/// # Safety
/// As `row_avx512`, with `job.j0 < job.n`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn row_pass<const NV: usize>(job: &RowPass) {
    use std::arch::x86_64::*;
    let cols = (job.n - job.j0).min(NV * 16);
    // Every register full but the last, which holds the pass's remaining columns.
    let last = cols - (NV - 1) * 16;
    let mask = |v: usize| lane_mask(v, NV, last);
    // SAFETY (every access below): lanes whose mask bit is clear are neither read nor
    // written (AVX-512 masked loads and stores suppress faults on them); set lanes are
    // columns j0 + 16 v + lane < n of rows p < k of b (k x n), of c and `start` (n),
    // and `a[p]` has p < k, all inside the caller's slices.
    unsafe {
        let mut sum = [_mm512_setzero_ps(); NV];
        if let Some(start) = job.start {
            for (v, s) in sum.iter_mut().enumerate() {
                *s = _mm512_maskz_loadu_ps(mask(v), start.add(job.j0 + 16 * v));
            }
        }
        for p in 0..job.k {
            let av = _mm512_set1_ps(*job.a.add(p));
            let row = job.b.add(p * job.n + job.j0);
            for (v, s) in sum.iter_mut().enumerate() {
                *s = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mask(v), row.add(16 * v)), *s);
            }
        }
        for (v, s) in sum.iter().enumerate() {
            store_sums(job.c.add(job.j0 + 16 * v), mask(v), *s, job.acc);
        }
    }
}

/// Lanes of register v of NV holding columns: all 16, but the last register's `last`.
#[cfg(target_arch = "x86_64")]
fn lane_mask(v: usize, nv: usize, last: usize) -> u16 {
    if v + 1 < nv || last == 16 {
        0xFFFF
    } else {
        (1u16 << last) - 1
    }
}

/// Stores one register of sums to the lanes of `out` in `mask`, or adds them to it.
///
/// # Safety
/// The CPU must support AVX-512F; every lane of `out` in `mask` must be writable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
unsafe fn store_sums(out: *mut f32, mask: u16, sums: std::arch::x86_64::__m512, acc: bool) {
    use std::arch::x86_64::*;
    // SAFETY: masked-off lanes are neither read nor written; the rest are the caller's.
    unsafe {
        let value = if acc {
            _mm512_add_ps(_mm512_maskz_loadu_ps(mask, out), sums)
        } else {
            sums
        };
        _mm512_mask_storeu_ps(out, mask, value);
    }
}

/// `blocks` compiled with AVX2 and FMA (so `mul_add` is one instruction).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn blocks_avx2_fma(
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    acc: bool,
    start: Option<&[f32]>,
) {
    blocks::<true, false>(a, lda, b, c, m, k, n, acc, start)
}

/// `blocks` compiled with AVX-512F: 8 x 32 tiles (16 of the 32 vector registers as
/// accumulators), then narrower ones.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn blocks_avx512(
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    acc: bool,
    start: Option<&[f32]>,
) {
    blocks::<true, true>(a, lda, b, c, m, k, n, acc, start)
}

/// Rows in blocks of 8 (when `WIDE`), 4, then single rows; columns as `strips`. The
/// last `n % 8` columns of `b` (LSTM(100)'s dh product has 100) are copied once into a
/// zero-padded 8-wide strip, so that they too run as vector tiles instead of one
/// column at a time (same sums in the same order, so the same bits).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn blocks<const FMA: bool, const WIDE: bool>(
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    acc: bool,
    start: Option<&[f32]>,
) {
    #[cfg(target_arch = "x86_64")]
    if WIDE && FMA && (1..=64).contains(&n) && start.is_none() {
        // SAFETY: `blocks::<_, true>` runs only inside `blocks_avx512`, whose callers
        // checked that the CPU has AVX-512F, AVX2 and FMA.
        unsafe {
            match n {
                ..=16 => narrow_rows::<8, 1>(a, lda, b, c, m, k, n, acc),
                17..=32 => narrow_rows::<8, 2>(a, lda, b, c, m, k, n, acc),
                33..=48 => narrow_rows::<8, 3>(a, lda, b, c, m, k, n, acc),
                _ => narrow_rows::<6, 4>(a, lda, b, c, m, k, n, acc),
            }
        }
        return;
    }
    let tail = n % 8;
    let mut tail_b = Vec::new();
    if tail > 0 && m > 1 {
        tail_b = vec![0.0f32; k * 8];
        for (row, pad) in b.chunks(n).zip(tail_b.chunks_mut(8)).take(k) {
            pad[..tail].copy_from_slice(&row[n - tail..]);
        }
    }
    let mut r = 0;
    while WIDE && r + 8 <= m {
        strips::<8, FMA, WIDE>(a, lda, b, c, r, k, n, acc, &tail_b, start);
        r += 8;
    }
    while r + 4 <= m {
        strips::<4, FMA, WIDE>(a, lda, b, c, r, k, n, acc, &tail_b, start);
        r += 4;
    }
    while r < m {
        strips::<1, FMA, WIDE>(a, lda, b, c, r, k, n, acc, &tail_b, start);
        r += 1;
    }
}

/// All m rows of a product at most NV x 16 columns wide, in tiles of MR rows (then 4,
/// then single rows), each row's sums in NV AVX-512 registers over all of k, the last
/// one masked to the columns left. The generic tiles compiled to bounds checks on
/// every row at every p and spilled accumulators for these shapes (LSTM(8)'s dh = dZ
/// U^T is 32 x 8, its step product 32 x 32). Same in-order FMA chain per element,
/// stored or added to c, so the same bits as `tile`.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn narrow_rows<const MR: usize, const NV: usize>(
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    m: usize,
    k: usize,
    n: usize,
    acc: bool,
) {
    let mut r = 0;
    // SAFETY (the three calls): the CPU features are this function's; `narrow_tile`
    // asserts its bounds.
    while r + MR <= m {
        unsafe { narrow_tile::<MR, NV>(a, lda, b, c, r, k, n, acc) };
        r += MR;
    }
    while r + 4 <= m && MR > 4 {
        unsafe { narrow_tile::<4, NV>(a, lda, b, c, r, k, n, acc) };
        r += 4;
    }
    while r < m {
        unsafe { narrow_tile::<1, NV>(a, lda, b, c, r, k, n, acc) };
        r += 1;
    }
}

/// Rows r..r+MR of `narrow_rows`.
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn narrow_tile<const MR: usize, const NV: usize>(
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    r: usize,
    k: usize,
    n: usize,
    acc: bool,
) {
    use std::arch::x86_64::*;
    assert!(
        n > (NV - 1) * 16
            && n <= NV * 16
            && (k == 0 || (r + MR - 1) * lda + k <= a.len())
            && k * n <= b.len()
            && (r + MR) * n <= c.len(),
        "small_gemm: narrow tile out of bounds"
    );
    let last = n - (NV - 1) * 16;
    let mask = |v: usize| lane_mask(v, NV, last);
    // SAFETY (every access below): a[(r + i) * lda + p] for i < MR, p < k, b[p * n + q]
    // and c[(r + i) * n + q] for q = 16 v + lane < n (lanes past n are masked off:
    // neither read nor written) all lie inside the slices, as asserted above.
    unsafe {
        let a0 = a.as_ptr().add(r * lda);
        let mut sum = [[_mm512_setzero_ps(); NV]; MR];
        for p in 0..k {
            let row = b.as_ptr().add(p * n);
            let bv: [__m512; NV] =
                std::array::from_fn(|v| _mm512_maskz_loadu_ps(mask(v), row.add(16 * v)));
            for (i, s) in sum.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a0.add(i * lda + p));
                for (s, b) in s.iter_mut().zip(&bv) {
                    *s = _mm512_fmadd_ps(av, *b, *s);
                }
            }
        }
        for (i, s) in sum.iter().enumerate() {
            for (v, s) in s.iter().enumerate() {
                store_sums(c.as_mut_ptr().add((r + i) * n + 16 * v), mask(v), *s, acc);
            }
        }
    }
}

/// Column strips of 32 when `WIDE` (two 512-bit registers per row), then 16, 8 and
/// the last `n % 8` columns: from `tail_b` (k x 8, see `blocks`) when given, else one
/// at a time.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn strips<const MR: usize, const FMA: bool, const WIDE: bool>(
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    r: usize,
    k: usize,
    n: usize,
    acc: bool,
    tail_b: &[f32],
    start: Option<&[f32]>,
) {
    let mut j = 0;
    // A single row (one sequence's step) is a matrix-vector product: one FMA chain per
    // accumulator register, so it takes 8 registers of columns to cover the FMA latency.
    while MR == 1 && WIDE && j + 128 <= n {
        tile::<1, 128, FMA>(a, lda, b, c, r, j, k, n, acc, start);
        j += 128;
    }
    while MR == 1 && !WIDE && j + 64 <= n {
        tile::<1, 64, FMA>(a, lda, b, c, r, j, k, n, acc, start);
        j += 64;
    }
    while WIDE && j + 32 <= n {
        tile::<MR, 32, FMA>(a, lda, b, c, r, j, k, n, acc, start);
        j += 32;
    }
    while j + 16 <= n {
        tile::<MR, 16, FMA>(a, lda, b, c, r, j, k, n, acc, start);
        j += 16;
    }
    while j + 8 <= n {
        tile::<MR, 8, FMA>(a, lda, b, c, r, j, k, n, acc, start);
        j += 8;
    }
    if j < n && !tail_b.is_empty() {
        // The tile into a scratch MR x 8 block, then its real columns into c.
        let mut block = [0.0f32; 64];
        let block = &mut block[..MR * 8];
        // (Only with several rows: never with `start`.)
        tile::<MR, 8, FMA>(&a[r * lda..], lda, tail_b, block, 0, 0, k, 8, false, None);
        for (i, sums) in block.chunks(8).enumerate() {
            let out = &mut c[(r + i) * n + j..(r + i + 1) * n];
            if acc {
                out.iter_mut().zip(sums).for_each(|(o, s)| *o += s);
            } else {
                out.copy_from_slice(&sums[..n - j]);
            }
        }
        return;
    }
    while j < n {
        tile::<MR, 1, FMA>(a, lda, b, c, r, j, k, n, acc, start);
        j += 1;
    }
}

/// One MR x NR tile of `c` at (r, j), accumulated in registers over all of k.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn tile<const MR: usize, const NR: usize, const FMA: bool>(
    a: &[f32],
    lda: usize,
    b: &[f32],
    c: &mut [f32],
    r: usize,
    j: usize,
    k: usize,
    n: usize,
    acc: bool,
    start: Option<&[f32]>,
) {
    let mut sum = [[0.0f32; NR]; MR];
    if let Some(start) = start {
        for (i, row) in sum.iter_mut().enumerate() {
            row.copy_from_slice(&start[(r + i) * n + j..(r + i) * n + j + NR]);
        }
    }
    let a_rows: [&[f32]; MR] = std::array::from_fn(|i| &a[(r + i) * lda..(r + i) * lda + k]);
    // Re-sliced to exactly k, so the compiler can see that `p < k` bounds every
    // `a_rows[i][p]`. It does not drop every check (the 8x8 tile still checked each row
    // at every p, hence `narrow_tile`), but the wider tiles gained: GRU(32), whose step
    // product is 16 x 32 x 96, trained 1-5% slower without it (6 one-thread pairs).
    let a_rows = a_rows.map(|row| &row[..k]);
    for p in 0..k {
        let bp: &[f32; NR] = b[p * n + j..p * n + j + NR]
            .try_into()
            .expect("strip width");
        for i in 0..MR {
            let av = a_rows[i][p];
            for q in 0..NR {
                sum[i][q] = if FMA {
                    av.mul_add(bp[q], sum[i][q])
                } else {
                    sum[i][q] + av * bp[q]
                };
            }
        }
    }
    for (i, row) in sum.iter().enumerate() {
        let out = &mut c[(r + i) * n + j..(r + i) * n + j + NR];
        if acc {
            out.iter_mut().zip(row).for_each(|(o, s)| *o += s);
        } else {
            out.copy_from_slice(row);
        }
    }
}

/// Row-major transpose: `out` (cols x rows) of `a` (rows x cols).
pub fn transpose(a: &[f32], rows: usize, cols: usize, out: &mut Vec<f32>) {
    out.clear();
    out.resize(rows * cols, 0.0);
    for (i, row) in a.chunks(cols).take(rows).enumerate() {
        for (jj, v) in row.iter().enumerate() {
            out[jj * rows + i] = *v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += a[i * k + p] as f64 * b[p * n + j] as f64;
                }
            }
        }
        c
    }

    /// Multi-row calls take the padded tail strip (`blocks`), single rows `row_avx512`
    /// with AVX-512 (else the one-column tiles): the same in-order sums, so a row's bits
    /// do not depend on the call.
    #[test]
    fn rows_computed_together_equal_rows_computed_alone() {
        let mut rng = crate::rng::SeededRng::new(4);
        // With AVX-512 single rows take `row_avx512`: one pass (n <= 384, last register
        // partial or full), several passes (400, 1000, 1030), a lone partial register.
        for &(m, k, n) in &[
            (16, 400, 100),
            (9, 20, 7),
            (4, 3, 13),
            (8, 33, 41),
            (4, 128, 512),
            (4, 64, 384),
            (4, 100, 400),
            (2, 17, 1000),
            (2, 5, 1030),
            (3, 0, 20),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            for acc in [false, true] {
                let mut together = vec![0.5f32; m * n];
                gemm(&a, &b, &mut together, m, k, n, acc);
                for i in 0..m {
                    let mut alone = vec![0.5f32; n];
                    gemm(&a[i * k..(i + 1) * k], &b, &mut alone, 1, k, n, acc);
                    let got: Vec<u32> = together[i * n..(i + 1) * n]
                        .iter()
                        .map(|v| v.to_bits())
                        .collect();
                    let want: Vec<u32> = alone.iter().map(|v| v.to_bits()).collect();
                    assert_eq!(got, want, "{m}x{k}x{n} acc={acc} row {i}");
                }
            }
        }
    }

    /// The AVX-512 narrow tiles (n <= 64) give the bits of the generic FMA tiles (the
    /// AVX2 build of `blocks`), for every row-tile remainder, masked column counts,
    /// strided rows of a, and both store modes.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn narrow_tiles_give_the_bits_of_the_generic_tiles() {
        if !fast_math::has_avx512() {
            return;
        }
        let mut rng = crate::rng::SeededRng::new(21);
        for &n in &[1usize, 7, 8, 16, 17, 32, 33, 48, 49, 64] {
            for &m in &[2usize, 3, 4, 5, 8, 9, 13, 32] {
                for &k in &[0usize, 1, 8, 32] {
                    let lda = k + 3;
                    let a: Vec<f32> = (0..m * lda).map(|_| rng.uniform(-1.0, 1.0)).collect();
                    let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
                    for acc in [false, true] {
                        let mut want = vec![0.25f32; m * n];
                        // SAFETY: a CPU with AVX-512F also has AVX2 and FMA.
                        unsafe { blocks_avx2_fma(&a, lda, &b, &mut want, m, k, n, acc, None) };
                        let mut got = vec![0.25f32; m * n];
                        gemm_lda(&a, lda, &b, &mut got, m, k, n, acc);
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&got), bits(&want), "{m}x{k}x{n} acc {acc}");
                    }
                }
            }
        }
    }

    #[test]
    fn matches_naive_for_every_tail_shape() {
        let mut rng = crate::rng::SeededRng::new(9);
        for &(m, k, n) in &[
            (1, 1, 1),
            (7, 5, 33),
            (4, 128, 512),
            (16, 32, 128),
            (3, 100, 25),
            (16, 128, 512),
            (13, 100, 400),
            (1, 32, 96),
            (16, 400, 100),
            (9, 20, 7),
            (5, 3, 13),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let want = naive(&a, &b, m, k, n);
            let mut c = vec![f32::NAN; m * n];
            gemm(&a, &b, &mut c, m, k, n, false);
            for (g, w) in c.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-4, "{m}x{k}x{n}: {g} vs {w}");
            }
            let mut c2 = vec![1.0f32; m * n];
            gemm(&a, &b, &mut c2, m, k, n, true);
            for (g, w) in c2.iter().zip(&want) {
                assert!(
                    (*g as f64 - (w + 1.0)).abs() < 1e-4,
                    "accumulate {m}x{k}x{n}"
                );
            }
            // The AVX-512 path where the CPU has it (bit-identical to the AVX2 one:
            // each element is the same fused sum over k in order).
            #[cfg(target_arch = "x86_64")]
            if fast_math::has_avx512() && fast_math::has_avx2_fma() {
                let (mut wide, mut narrow) = (vec![0.0f32; m * n], vec![0.0f32; m * n]);
                // SAFETY: both CPU feature sets were checked just above.
                unsafe {
                    blocks_avx512(&a, k, &b, &mut wide, m, k, n, false, None);
                    blocks_avx2_fma(&a, k, &b, &mut narrow, m, k, n, false, None);
                }
                assert_eq!(wide, narrow, "avx512 vs avx2 {m}x{k}x{n}");
            }
            // Both code paths (with and without FMA) against the reference.
            let mut c3 = vec![0.0f32; m * n];
            blocks::<false, false>(&a, k, &b, &mut c3, m, k, n, false, None);
            for (g, w) in c3.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-4, "plain path {m}x{k}x{n}");
            }
        }
    }

    #[test]
    fn strided_rows_of_a_give_the_bits_of_packed_rows() {
        let mut rng = crate::rng::SeededRng::new(9);
        for (m, k, n, lda) in [
            (16, 100, 400, 1000),
            (5, 8, 32, 9),
            (1, 128, 512, 300),
            (9, 20, 100, 20),
        ] {
            let strided: Vec<f32> = (0..(m - 1) * lda + k)
                .map(|_| rng.uniform(-1.0, 1.0))
                .collect();
            let packed: Vec<f32> = (0..m)
                .flat_map(|i| strided[i * lda..i * lda + k].to_vec())
                .collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let (mut c1, mut c2) = (vec![0.5f32; m * n], vec![0.5f32; m * n]);
            gemm_lda(&strided, lda, &b, &mut c1, m, k, n, true);
            gemm(&packed, &b, &mut c2, m, k, n, true);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&c1), bits(&c2), "{m}x{k}x{n}, lda {lda}");
        }
    }

    #[test]
    fn a_row_continued_from_partial_sums_gives_the_bits_of_one_product() {
        let mut rng = crate::rng::SeededRng::new(10);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (k, n, split) in [
            (128, 512, 64),
            (100, 400, 37),
            (100, 200, 1),
            (9, 7, 8),
            (64, 260, 0),
            (40, 1030, 13),
        ] {
            let a: Vec<f32> = (0..k).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let b: Vec<f32> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let z: Vec<f32> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let mut want = z.clone();
            gemm(&a, &b, &mut want, 1, k, n, true);
            let mut sums = vec![f32::NAN; n];
            gemm(&a[..split], &b[..split * n], &mut sums, 1, split, n, false);
            let mut got = z.clone();
            gemm_row_continued(&a[split..], &b[split * n..], &sums, &mut got, k - split, n);
            assert_eq!(bits(&got), bits(&want), "k {k}, n {n}, split at {split}");
            // The tile loops (rows of a two-row product) continue from zero the same way.
            let two: Vec<f32> = a.iter().chain(&a).copied().collect();
            let mut tiles: Vec<f32> = z.iter().chain(&z).copied().collect();
            gemm(&two, &b, &mut tiles, 2, k, n, true);
            assert_eq!(bits(&tiles[..n]), bits(&want), "k {k}, n {n}: tiles");
        }
    }

    #[test]
    #[should_panic(expected = "one row")]
    fn continued_sums_refuse_several_rows() {
        let v = vec![0.0f32; 64];
        product(&v, 4, &v, &mut vec![0.0; 64], 2, 4, 4, true, Some(&v));
    }

    #[test]
    fn transpose_round_trips() {
        let a: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let mut t = Vec::new();
        transpose(&a, 2, 3, &mut t);
        assert_eq!(t, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let mut back = Vec::new();
        transpose(&t, 3, 2, &mut back);
        assert_eq!(back, a);
    }
}
