//! Matrix product with the right factor packed into column panels: the recurrent
//! layers' products whose right factor is a weight matrix reused by every step of a
//! batch (U, U^T, K, K^T, packed once per batch).
//!
//! `small_gemm` reads the right factor in place, a row of it every `n` floats: each
//! step of the k loop touches new cache lines 0.4-2 KB from the last, so its tiles
//! wait on L2. Packed, a tile's k x 32 panel is one contiguous stream. Measured on the
//! 2-core AVX-512 build machine, one thread, the three products interleaved in one
//! loop (GFLOP/s, matrixmultiply / small_gemm / packed, factor packed beforehand):
//!
//! | (m x k) x (k x n) | matrixmultiply | small_gemm | packed |
//! |---|---|---|---|
//! | 16x128x512 (LSTM(128) step) | 58-63 | 74-79 | 90-91 |
//! | 16x512x128 (its dh product) | 59-60 | 79-81 | 108-165 |
//! | 512x512x128 (its dX block) | 74-77 | 77-78 | 104-106 |
//! | 16x400x100 (LSTM(100) dh) | 51-57 | 49-77 | 80-142 |
//! | 512x400x100 (its dX block) | 58 | 50-51 | 74 |
//! | 16x8x32 (LSTM(8) step) | 25-26 | 63-77 | 39-61 |
//!
//! So the step-major loops of small layers keep `small_gemm`, and so do single
//! sequences (packing the weights would cost more than their steps). The weight
//! gradients (`X^T dZ`, k = 512 rows of a gradient block) stay with matrixmultiply:
//! packing dZ per block for them was ~7% slower end to end on W3 and W4.
//!
//! Every element of the result is one fused multiply-add sum over k in order, started
//! from zero and then stored or added to `c`: the same bits as `small_gemm` for the same
//! operands, whatever the row split.

#[cfg(target_arch = "x86_64")]
use super::fast_math;

/// Widest column panel: two 512-bit registers per row of a tile.
const PANEL: usize = 32;

/// Width of the panel starting at column `j` of an `n`-column factor: 32 while that
/// many columns remain, then 16, then 8 (the last one zero-padded when fewer remain).
fn panel_width(n: usize, j: usize) -> usize {
    match n - j {
        r if r >= PANEL => PANEL,
        r if r >= 16 => 16,
        _ => 8,
    }
}

/// A (k x n) right factor as column panels: the panel of columns j..j+w is k rows of w
/// floats, starting at `stride * j` (the padded columns of the last panel are zeros).
/// `stride` is k when packed whole, the row capacity when filled row by row
/// (`with_row_capacity`, `push_row`).
#[derive(Clone, Debug, Default)]
pub struct PackedB {
    data: Vec<f32>,
    k: usize,
    n: usize,
    stride: usize,
}

impl PackedB {
    /// An empty factor, to be filled by `pack` or `pack_transposed` (the buffer is
    /// kept across calls).
    pub fn new() -> Self {
        Self::default()
    }

    /// Inner dimension (rows of the factor).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of the factor (columns of the product).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Packs `b` (k x n), row-major with rows `ldb` floats apart.
    ///
    /// Panics if `b` is shorter than its shape (an internal bug, never user input).
    pub fn pack(&mut self, b: &[f32], ldb: usize, k: usize, n: usize) {
        assert!(
            ldb >= n && (k == 0 || b.len() >= (k - 1) * ldb + n),
            "packed_gemm: `b` is shorter than {k} x {n} with row stride {ldb}"
        );
        // Row by row: `push_row` is the one place that knows the panel layout.
        self.reset(k, n);
        self.k = 0;
        for p in 0..k {
            self.push_row(&b[p * ldb..p * ldb + n]);
        }
    }

    /// Packs the factor whose transpose is `bt` (n x k, row-major, rows `ldbt` floats
    /// apart): B(p, q) = bt[q * ldbt + p]. The backward products' `U^T` and `K^T`,
    /// packed straight from the weights.
    ///
    /// Panics if `bt` is shorter than its shape (an internal bug, never user input).
    pub fn pack_transposed(&mut self, bt: &[f32], ldbt: usize, k: usize, n: usize) {
        assert!(
            ldbt >= k && (n == 0 || bt.len() >= (n - 1) * ldbt + k),
            "packed_gemm: `bt` is shorter than {n} x {k} with row stride {ldbt}"
        );
        self.reset(k, n);
        let mut j = 0;
        while j < n {
            let w = panel_width(n, j);
            let panel = &mut self.data[k * j..k * (j + w)];
            for q in 0..w.min(n - j) {
                let src = &bt[(j + q) * ldbt..(j + q) * ldbt + k];
                for (p, v) in src.iter().enumerate() {
                    panel[p * w + q] = *v;
                }
            }
            j += w;
        }
    }

    fn reset(&mut self, k: usize, n: usize) {
        self.k = k;
        self.n = n;
        self.stride = k;
        self.data.clear();
        self.data.resize(k * n.div_ceil(8) * 8, 0.0);
    }

    /// An empty factor of n columns to be filled row by row (`push_row`), room for
    /// `rows` rows: the layout a product can read while rows keep arriving (the
    /// backward's h_{t-1} and x rows, packed as they are collected instead of after).
    pub fn with_row_capacity(rows: usize, n: usize) -> Self {
        PackedB {
            data: vec![0.0; rows * n.div_ceil(8) * 8],
            k: 0,
            n,
            stride: rows,
        }
    }

    /// Appends `row` (n floats) as row k of the factor.
    ///
    /// Panics past the capacity or on a row of another length (internal bugs).
    pub fn push_row(&mut self, row: &[f32]) {
        let (k, n, s) = (self.k, self.n, self.stride);
        assert!(
            k < s && row.len() == n,
            "packed_gemm: row {k} of {s}, {} floats of {n}",
            row.len()
        );
        let mut j = 0;
        while j < n {
            let w = panel_width(n, j);
            let valid = w.min(n - j);
            let at = s * j + k * w;
            self.data[at..at + valid].copy_from_slice(&row[j..j + valid]);
            j += w;
        }
        self.k += 1;
    }

    /// Forgets the rows (`push_row` starts again at row 0; the capacity stays).
    pub fn clear_rows(&mut self) {
        self.k = 0;
    }

    /// The panel of columns j..j+w (w = `panel_width(n, j)`), rows k0..k0+len.
    fn panel(&self, j: usize, k0: usize, len: usize, w: usize) -> &[f32] {
        let at = self.stride * j + k0 * w;
        &self.data[at..at + len * w]
    }
}

/// `c (m x n) = a (m x k) · b (k x n)`, or `c +=` when `accumulate`; `a` row-major with
/// rows `lda` floats apart (a layer's states of one step read in place), `c` with rows
/// `ldc` apart, k and n those of `b`.
///
/// Panics if a slice is shorter than its shape (an internal bug, never user input).
pub fn gemm(
    a: &[f32],
    lda: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
    m: usize,
    accumulate: bool,
) {
    product(Left::rows(a, lda), b, c, ldc, m, Init::summed(accumulate));
}

/// `c (m x n) = a^T · b`, or `c +=` when `accumulate`, for `a` (k x m) row-major with
/// rows `lda` floats apart: c(i, q) = Σ_p a[p * lda + i] b(p, q). The weight gradients
/// `dZ^T X` and `dZ^T H` of a gradient block, dZ read in place (a tile's 8 rows of c
/// are 8 consecutive floats of each dZ row), without a transposed copy of it.
///
/// Panics if a slice is shorter than its shape (an internal bug, never user input).
pub fn gemm_at(
    a: &[f32],
    lda: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
    m: usize,
    accumulate: bool,
) {
    product(
        Left::columns(a, lda),
        b,
        c,
        ldc,
        m,
        Init::summed(accumulate),
    );
}

/// A left factor read in place: element (i, p) at `a[i * row_step + p * k_step]`.
#[derive(Clone, Copy)]
struct Left<'a> {
    a: &'a [f32],
    row_step: usize,
    k_step: usize,
}

impl<'a> Left<'a> {
    /// Rows of `a`, `lda` floats apart.
    fn rows(a: &'a [f32], lda: usize) -> Self {
        Left {
            a,
            row_step: lda,
            k_step: 1,
        }
    }

    /// The transpose of `a` (rows `lda` floats apart): its columns as rows.
    fn columns(a: &'a [f32], lda: usize) -> Self {
        Left {
            a,
            row_step: 1,
            k_step: lda,
        }
    }

    /// Whether m rows of k elements are inside `a`.
    fn holds(&self, m: usize, k: usize) -> bool {
        m == 0 || k == 0 || (m - 1) * self.row_step + (k - 1) * self.k_step < self.a.len()
    }

    /// The same factor from column k0 on (its first k0 columns skipped).
    fn skip_columns(self, k0: usize) -> Self {
        Left {
            a: &self.a[(k0 * self.k_step).min(self.a.len())..],
            ..self
        }
    }
}

/// Inner-dimension rows per pass of the tiles over a panel: 256 rows of a 32-column
/// panel are 32 KiB and stay in L1 for all the row tiles; longer k (the 512+ rows of a
/// gradient block) runs in passes of this many, each added to c.
const K_BLOCK: usize = 256;

/// What a tile's sums do to `c`.
#[derive(Clone, Copy)]
enum Init<'a> {
    /// c = sum.
    Store,
    /// c = c + sum.
    Add,
    /// c = bias + sum (the bias has n floats, one per column).
    Bias(&'a [f32]),
}

impl Init<'_> {
    /// `Add` when accumulating, else `Store`.
    fn summed(accumulate: bool) -> Self {
        if accumulate { Init::Add } else { Init::Store }
    }

    /// Puts row `sums` (its first `out.len()` floats) into `out`, columns j.. of c.
    #[inline(always)]
    fn apply(self, out: &mut [f32], sums: &[f32], j: usize) {
        match self {
            Init::Store => out.copy_from_slice(&sums[..out.len()]),
            Init::Add => out.iter_mut().zip(sums).for_each(|(o, s)| *o += s),
            Init::Bias(b) => out
                .iter_mut()
                .zip(sums.iter().zip(&b[j..]))
                .for_each(|(o, (s, b))| *o = b + s),
        }
    }
}

/// `gemm` with any left layout and `Init`: k in passes of `K_BLOCK` rows when the left
/// factor is read down its columns (`gemm_at`; its k is a gradient block's rows), the
/// later passes added to c, so each element is the sum of the passes' in-order sums.
fn product(left: Left<'_>, b: &PackedB, c: &mut [f32], ldc: usize, m: usize, init: Init<'_>) {
    let (k, n) = (b.k, b.n);
    assert!(
        (left.k_step != 1 || left.row_step >= k) && left.holds(m, k),
        "packed_gemm: `a` is shorter than {m} x {k} (row step {}, k step {})",
        left.row_step,
        left.k_step
    );
    assert!(
        ldc >= n && (m == 0 || c.len() >= (m - 1) * ldc + n),
        "packed_gemm: `c` is shorter than {m} x {n} with row stride {ldc}"
    );
    if m == 0 || n == 0 {
        return;
    }
    let part = |k0: usize, len: usize| Part {
        left: left.skip_columns(k0),
        b,
        k0,
        len,
    };
    if k == 0 {
        // No sums: c is set to zero (or the bias) or left as it is, as `init` says.
        return by_panels(part(0, 0), c, ldc, m, init);
    }
    let pass = if left.k_step == 1 { k } else { K_BLOCK };
    for k0 in (0..k).step_by(pass) {
        let part = part(k0, pass.min(k - k0));
        let init = if k0 == 0 { init } else { Init::Add };
        #[cfg(target_arch = "x86_64")]
        {
            if fast_math::has_avx512() {
                // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked just above),
                // and the shapes of a, b and c were checked above, the two requirements
                // of `avx512::rows`.
                unsafe { avx512::rows(part, c, ldc, m, init) };
                continue;
            }
        }
        by_panels(part, c, ldc, m, init);
    }
}

/// Rows k0..k0+len of the inner dimension of a product: the left factor from its
/// column k0 and the panels' rows from k0.
#[derive(Clone, Copy)]
struct Part<'a> {
    left: Left<'a>,
    b: &'a PackedB,
    k0: usize,
    len: usize,
}

/// `c (m x n) = bias + a · b`, the bias (n) added to every row (none: zero), `c`
/// contiguous: every element is the bias plus one in-order sum (the bits of
/// `small_gemm::gemm_bias`), the bias added as the sums are stored (no pass presetting
/// c to it).
pub fn gemm_bias(
    a: &[f32],
    lda: usize,
    b: &PackedB,
    bias: Option<&[f32]>,
    c: &mut [f32],
    m: usize,
) {
    let init = match bias {
        Some(v) => {
            assert!(v.len() >= b.n, "packed_gemm: bias shorter than {}", b.n);
            Init::Bias(v)
        }
        None => Init::Store,
    };
    product(Left::rows(a, lda), b, c, b.n, m, init);
}

/// Without AVX-512: each panel is a row-major (k x width) matrix, multiplied by
/// `small_gemm` (the same in-order fused sums, so the same bits) into scratch, whose
/// real columns then go to c.
fn by_panels(part: Part<'_>, c: &mut [f32], ldc: usize, m: usize, init: Init<'_>) {
    BY_PANELS_SCRATCH.with(|scratch| {
        let (copied, block) = &mut *scratch.borrow_mut();
        by_panels_in(part, c, ldc, m, init, copied, block)
    })
}

thread_local! {
    /// `by_panels`' buffers (the copied left factor, one panel's sums), kept per thread:
    /// allocating and zeroing them per call was 3% of a W1 run's instructions on the
    /// AVX2 path, every element being overwritten before it is read.
    static BY_PANELS_SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

fn by_panels_in(
    part: Part<'_>,
    c: &mut [f32],
    ldc: usize,
    m: usize,
    init: Init<'_>,
    copied: &mut Vec<f32>,
    block: &mut Vec<f32>,
) {
    let (k, n, b) = (part.len, part.b.n, part.b);
    block.resize(m * PANEL, 0.0);
    if k == 0 {
        // No sums: whatever `init` makes of zeros.
        block.fill(0.0);
    }
    // small_gemm reads rows in place; a left factor read down its columns (`gemm_at`,
    // k at most K_BLOCK here) is copied out as m rows of k, filled in tiles of 16 k:
    // each output cache line is written whole while the 16 source lines it reads serve
    // the next rows too. The element-wise `flat_map` this replaces grew its Vec by
    // reallocation and was 28% of all instructions of a masked W2m epoch on the AVX2
    // path (callgrind); filling p by p down whole columns was slower still in time
    // (every write a different line of a 128 KB buffer).
    let (a, lda) = if part.left.k_step == 1 {
        (part.left.a, part.left.row_step)
    } else {
        let l = part.left;
        copied.resize(m * k, 0.0);
        for p0 in (0..k).step_by(16) {
            let p1 = (p0 + 16).min(k);
            for i in 0..m {
                let row = &mut copied[i * k + p0..i * k + p1];
                for (p, v) in (p0..p1).zip(row) {
                    *v = l.a[i * l.row_step + p * l.k_step];
                }
            }
        }
        (&copied[..m * k], k)
    };
    let mut j = 0;
    while j < n {
        let w = panel_width(n, j);
        let valid = w.min(n - j);
        let panel = b.panel(j, part.k0, k, w);
        super::small_gemm::gemm_lda(a, lda, panel, block, m, k, w, false);
        for (i, sums) in block.chunks(w).take(m).enumerate() {
            init.apply(&mut c[i * ldc + j..i * ldc + j + valid], sums, j);
        }
        j += w;
    }
}

/// The AVX-512 tiles, written with intrinsics: the same loops left to the
/// autovectorizer (as in `small_gemm`) came out scalar for packed panels (the panel's
/// constant stride let LLVM fully unroll the column loop before vectorizing it, which
/// left the accumulators in memory: 3-5 GFLOP/s against ~120).
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Init, PANEL, Part, panel_width};
    use std::arch::x86_64::*;

    /// Row tiles of 8, 4, then 1, each against every column panel.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2 and FMA; the part's left factor must hold m
    /// rows of its `len` elements (`Left::holds`) and `c` m rows of `b.n()` floats
    /// `ldc` apart (`product` checks both).
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn rows(part: Part<'_>, c: &mut [f32], ldc: usize, m: usize, init: Init<'_>) {
        let mut r = 0;
        // SAFETY (all three loops): rows r..r+MR are below m, so inside a and c as the
        // caller guarantees; the CPU features are this function's own requirement.
        while r + 8 <= m {
            unsafe { row_tile::<8>(part, c, ldc, r, init) };
            r += 8;
        }
        while r + 4 <= m {
            unsafe { row_tile::<4>(part, c, ldc, r, init) };
            r += 4;
        }
        while r < m {
            unsafe { row_tile::<1>(part, c, ldc, r, init) };
            r += 1;
        }
    }

    /// Rows r..r+MR of c against every panel: 32 columns (two registers per row), 16
    /// (one), then 8 (half of one, the last panel, padded).
    ///
    /// # Safety
    /// As `rows`, and r + MR <= m.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn row_tile<const MR: usize>(
        part: Part<'_>,
        c: &mut [f32],
        ldc: usize,
        r: usize,
        init: Init<'_>,
    ) {
        let (k, n, b, left) = (part.len, part.b.n, part.b, part.left);
        let ks = left.k_step;
        // The tile's last element, row r + MR - 1 at p = k - 1, is inside a (checked
        // here, once); the loops below read (i, p) with i < MR, p < k, at lower offsets.
        assert!(k > 0 && (r + MR - 1) * left.row_step + (k - 1) * ks < left.a.len());
        // SAFETY: each offset is at most the one checked just above.
        let a_ptr: [*const f32; MR] =
            std::array::from_fn(|i| unsafe { left.a.as_ptr().add((r + i) * left.row_step) });
        let mut j = 0;
        // A single row has one FMA chain per register: four panels at a time keep
        // eight chains in flight (small_gemm's 128-column single-row tile), where one
        // panel's two would wait on the FMA latency.
        while MR == 1 && j + 4 * PANEL <= n {
            let panels: [*const f32; 4] =
                std::array::from_fn(|q| b.panel(j + q * PANEL, part.k0, k, PANEL).as_ptr());
            let out = &mut c[r * ldc + j..r * ldc + j + 4 * PANEL];
            // SAFETY: a_ptr[0] points at k elements ks apart, each of `panels` at k rows
            // of 32 floats and `out` at 128 floats (all sliced just above).
            unsafe {
                let v = row_by_four_panels(a_ptr[0], ks, panels, k);
                for (q, v) in v.into_iter().enumerate() {
                    store16(out.as_mut_ptr().add(16 * q), v, init, j + 16 * q);
                }
            }
            j += 4 * PANEL;
        }
        while j < n {
            let w = panel_width(n, j);
            let panel = b.panel(j, part.k0, k, w);
            let valid = w.min(n - j);
            // Full panels go from registers to c; the padded last one through `sums`.
            let mut sums = [[0.0f32; PANEL]; MR];
            let full = valid == w;
            // Row pointers from one base pointer (indexing c once per row would reborrow
            // all of c and invalidate the earlier rows' pointers); the last row's end,
            // (r + MR - 1) * ldc + j + valid, is within c (checked here).
            assert!((r + MR - 1) * ldc + j + valid <= c.len());
            let base = c.as_mut_ptr();
            // SAFETY: every offset is below the end checked just above.
            let out: [*mut f32; MR] =
                std::array::from_fn(|i| unsafe { base.add((r + i) * ldc + j) });
            // SAFETY: a_ptr[i] points at k elements ks apart, the panel holds k rows of
            // w floats (sliced just above, w the width the kernel reads); with `full`,
            // out[i] points at w floats of row r + i of c (sliced just above), else the
            // kernels write only `sums`.
            unsafe {
                match w {
                    PANEL => {
                        let v = tile32::<MR>(&a_ptr, ks, panel.as_ptr(), k);
                        for i in 0..MR {
                            let dst = if full { out[i] } else { sums[i].as_mut_ptr() };
                            store16(dst, v[i][0], if full { init } else { Init::Store }, j);
                            store16(
                                dst.add(16),
                                v[i][1],
                                if full { init } else { Init::Store },
                                j + 16,
                            );
                        }
                    }
                    16 => {
                        let v = tile16::<MR>(&a_ptr, ks, panel.as_ptr(), k);
                        for i in 0..MR {
                            let dst = if full { out[i] } else { sums[i].as_mut_ptr() };
                            store16(dst, v[i], if full { init } else { Init::Store }, j);
                        }
                    }
                    _ => {
                        let v = tile8::<MR>(&a_ptr, ks, panel.as_ptr(), k);
                        for i in 0..MR {
                            let dst = if full { out[i] } else { sums[i].as_mut_ptr() };
                            store8(dst, v[i], if full { init } else { Init::Store }, j);
                        }
                    }
                }
            }
            if !full {
                for (i, row) in sums.iter().enumerate() {
                    init.apply(&mut c[(r + i) * ldc + j..(r + i) * ldc + j + valid], row, j);
                }
            }
            j += w;
        }
    }

    /// Puts 16 sums of columns j.. at `dst` as `init` says (`dst + sum`, `bias + sum`:
    /// the order `small_gemm` adds in, so the same bits).
    ///
    /// # Safety
    /// AVX-512F; `dst` valid for 16 reads and writes; with a bias, it holds j + 16
    /// floats.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn store16(dst: *mut f32, v: __m512, init: Init<'_>, j: usize) {
        // SAFETY: the caller's.
        unsafe {
            let v = match init {
                Init::Store => v,
                Init::Add => _mm512_add_ps(_mm512_loadu_ps(dst), v),
                Init::Bias(b) => _mm512_add_ps(_mm512_loadu_ps(b[j..j + 16].as_ptr()), v),
            };
            _mm512_storeu_ps(dst, v)
        }
    }

    /// `store16` for 8 sums.
    ///
    /// # Safety
    /// AVX2; `dst` valid for 8 reads and writes.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn store8(dst: *mut f32, v: __m256, init: Init<'_>, j: usize) {
        // SAFETY: the caller's.
        unsafe {
            let v = match init {
                Init::Store => v,
                Init::Add => _mm256_add_ps(_mm256_loadu_ps(dst), v),
                Init::Bias(b) => _mm256_add_ps(_mm256_loadu_ps(b[j..j + 8].as_ptr()), v),
            };
            _mm256_storeu_ps(dst, v)
        }
    }

    /// Row i's sums over p of a_i[p * ks] * panel[p][0..32], fused, in order.
    ///
    /// # Safety
    /// AVX-512F; a[i] valid for reads at p * ks, p < k; panel for k * 32.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn tile32<const MR: usize>(
        a: &[*const f32; MR],
        ks: usize,
        panel: *const f32,
        k: usize,
    ) -> [[__m512; 2]; MR] {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for p in 0..k {
            // SAFETY: p < k, so panel + 32p + 31 and a[i] + p * ks are inside the
            // caller's slices.
            unsafe {
                let b0 = _mm512_loadu_ps(panel.add(p * 32));
                let b1 = _mm512_loadu_ps(panel.add(p * 32 + 16));
                for i in 0..MR {
                    let av = _mm512_set1_ps(*a[i].add(p * ks));
                    acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
                    acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
                }
            }
        }
        acc
    }

    /// One row against four consecutive 32-column panels: the sums of 128 columns.
    ///
    /// # Safety
    /// AVX-512F; `a` valid for reads at p * ks, p < k; each of `panels` for k * 32.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn row_by_four_panels(
        a: *const f32,
        ks: usize,
        panels: [*const f32; 4],
        k: usize,
    ) -> [__m512; 8] {
        let mut acc = [_mm512_setzero_ps(); 8];
        for p in 0..k {
            // SAFETY: p < k, so a + p * ks and panel q's row p (p * 32 .. + 32) are
            // inside the caller's slices.
            unsafe {
                let av = _mm512_set1_ps(*a.add(p * ks));
                for q in 0..4 {
                    let row = panels[q].add(p * PANEL);
                    acc[2 * q] = _mm512_fmadd_ps(av, _mm512_loadu_ps(row), acc[2 * q]);
                    let hi = _mm512_loadu_ps(row.add(16));
                    acc[2 * q + 1] = _mm512_fmadd_ps(av, hi, acc[2 * q + 1]);
                }
            }
        }
        acc
    }

    /// `tile32` for a 16-column panel.
    ///
    /// # Safety
    /// AVX-512F; a[i] valid for reads at p * ks, p < k; panel for k * 16.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn tile16<const MR: usize>(
        a: &[*const f32; MR],
        ks: usize,
        panel: *const f32,
        k: usize,
    ) -> [__m512; MR] {
        let mut acc = [_mm512_setzero_ps(); MR];
        for p in 0..k {
            // SAFETY: p < k, so panel + 16p + 15 and a[i] + p * ks are inside the
            // caller's slices.
            unsafe {
                let b0 = _mm512_loadu_ps(panel.add(p * 16));
                for i in 0..MR {
                    acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(*a[i].add(p * ks)), b0, acc[i]);
                }
            }
        }
        acc
    }

    /// `tile32` for an 8-column panel.
    ///
    /// # Safety
    /// AVX2 and FMA; a[i] valid for reads at p * ks, p < k; panel for k * 8.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn tile8<const MR: usize>(
        a: &[*const f32; MR],
        ks: usize,
        panel: *const f32,
        k: usize,
    ) -> [__m256; MR] {
        let mut acc = [_mm256_setzero_ps(); MR];
        for p in 0..k {
            // SAFETY: p < k, so panel + 8p + 7 and a[i] + p * ks are inside the caller's
            // slices.
            unsafe {
                let b0 = _mm256_loadu_ps(panel.add(p * 8));
                for i in 0..MR {
                    acc[i] = _mm256_fmadd_ps(_mm256_set1_ps(*a[i].add(p * ks)), b0, acc[i]);
                }
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::small_gemm;

    fn random(n: usize, rng: &mut crate::rng::SeededRng) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Packed and strided left factors, both packings of the right one and a wide
    /// output stride give the bits of `small_gemm` (the same in-order fused sums), for
    /// every row and column tail.
    #[test]
    fn every_layout_gives_the_bits_of_small_gemm() {
        let mut rng = crate::rng::SeededRng::new(17);
        for &(m, k, n) in &[
            (1, 1, 1),
            (16, 128, 512),
            (16, 512, 128),
            (13, 100, 400),
            (16, 400, 100),
            (9, 20, 7),
            (5, 3, 13),
            (21, 33, 41),
            (16, 8, 32),
            (16, 32, 8),
            (3, 64, 96),
        ] {
            let a = random(m * k, &mut rng);
            let b = random(k * n, &mut rng);
            for acc in [false, true] {
                let mut want = vec![0.25f32; m * n];
                small_gemm::gemm(&a, &b, &mut want, m, k, n, acc);

                let mut packed = PackedB::new();
                packed.pack(&b, n, k, n);
                let mut got = vec![0.25f32; m * n];
                gemm(&a, k, &packed, &mut got, n, m, acc);
                assert_eq!(bits(&got), bits(&want), "rows {m}x{k}x{n} acc={acc}");

                // b given as its transpose, a with a wider row stride.
                let mut bt = Vec::new();
                small_gemm::transpose(&b, k, n, &mut bt);
                let mut from_t = PackedB::new();
                from_t.pack_transposed(&bt, k, k, n);
                let lda = k + 3;
                let mut strided = vec![f32::NAN; m * lda];
                for i in 0..m {
                    strided[i * lda..i * lda + k].copy_from_slice(&a[i * k..(i + 1) * k]);
                }
                let mut got_t = vec![0.25f32; m * n];
                gemm(&strided, lda, &from_t, &mut got_t, n, m, acc);
                assert_eq!(
                    bits(&got_t),
                    bits(&want),
                    "transposed {m}x{k}x{n} acc={acc}"
                );

                // A wider output row stride leaves the columns past n alone.
                let ldc = n + 5;
                let mut wide = vec![7.0f32; m * ldc];
                for i in 0..m {
                    wide[i * ldc..i * ldc + n].fill(0.25);
                }
                gemm(&a, k, &packed, &mut wide, ldc, m, acc);
                for i in 0..m {
                    assert_eq!(
                        bits(&wide[i * ldc..i * ldc + n]),
                        bits(&want[i * n..(i + 1) * n])
                    );
                    assert!(wide[i * ldc + n..(i + 1) * ldc].iter().all(|v| *v == 7.0));
                }
            }
        }
    }

    /// `gemm_at` reads the left factor down its columns: the bits of `small_gemm` on
    /// its transposed copy, k in passes of `K_BLOCK` (each pass added to c), with the
    /// right factor packed whole or row by row, and through the fallback.
    #[test]
    fn transposed_left_gives_the_bits_of_small_gemm_in_k_passes() {
        let mut rng = crate::rng::SeededRng::new(29);
        for &(m, k, n) in &[
            (512, 528, 128),
            (400, 300, 100),
            (32, 520, 8),
            (13, 7, 45),
            (4, 256, 33),
            (9, 257, 16),
            (6, 0, 5),
        ] {
            let lda = m + 3;
            let at = random(k * lda, &mut rng);
            let b = random(k * n, &mut rng);
            // The left factor (m x k), row-major.
            let a: Vec<f32> = (0..m)
                .flat_map(|i| (0..k).map(|p| at[p * lda + i]).collect::<Vec<_>>())
                .collect();
            let mut packed = PackedB::new();
            packed.pack(&b, n, k, n);
            let mut rows = PackedB::with_row_capacity(k + 2, n);
            for p in 0..k {
                rows.push_row(&b[p * n..(p + 1) * n]);
            }
            for acc in [false, true] {
                let mut want = vec![0.5f32; m * n];
                if k == 0 && !acc {
                    want.fill(0.0);
                }
                for k0 in (0..k).step_by(K_BLOCK) {
                    let len = K_BLOCK.min(k - k0);
                    let a_part: Vec<f32> = (0..m)
                        .flat_map(|i| a[i * k + k0..i * k + k0 + len].to_vec())
                        .collect();
                    let first = k0 == 0 && !acc;
                    let b_part = &b[k0 * n..(k0 + len) * n];
                    small_gemm::gemm(&a_part, b_part, &mut want, m, len, n, !first);
                }
                for (name, factor) in [("packed", &packed), ("rows", &rows)] {
                    let mut got = vec![0.5f32; m * n];
                    gemm_at(&at, lda, factor, &mut got, n, m, acc);
                    assert_eq!(bits(&got), bits(&want), "{name} {m}x{k}x{n} acc={acc}");
                }
                let mut fallback = vec![0.5f32; m * n];
                let init = Init::summed(acc);
                for k0 in (0..k.max(1)).step_by(K_BLOCK) {
                    let len = K_BLOCK.min(k - k0);
                    let part = Part {
                        left: Left::columns(&at, lda).skip_columns(k0),
                        b: &rows,
                        k0,
                        len,
                    };
                    let init = if k0 == 0 { init } else { Init::Add };
                    by_panels(part, &mut fallback, n, m, init);
                }
                assert_eq!(
                    bits(&fallback),
                    bits(&want),
                    "fallback {m}x{k}x{n} acc={acc}"
                );
            }
            // Cleared, the row-by-row factor is filled again from row 0.
            rows.clear_rows();
            assert_eq!(rows.k(), 0);
            rows.push_row(&vec![1.0; n]);
            assert_eq!(rows.k(), 1);
        }
    }

    #[test]
    fn rows_past_the_capacity_are_rejected() {
        let mut rows = PackedB::with_row_capacity(1, 3);
        rows.push_row(&[1.0, 2.0, 3.0]);
        let full = std::panic::catch_unwind(move || rows.push_row(&[1.0, 2.0, 3.0]));
        assert!(full.is_err());
        let mut rows = PackedB::with_row_capacity(2, 3);
        let short = std::panic::catch_unwind(move || rows.push_row(&[1.0]));
        assert!(short.is_err());
    }

    #[test]
    fn panel_path_gives_the_bits_of_the_avx512_one() {
        let mut rng = crate::rng::SeededRng::new(3);
        let (m, k, n) = (11, 70, 45);
        let (a, b) = (random(m * k, &mut rng), random(k * n, &mut rng));
        let mut packed = PackedB::new();
        packed.pack(&b, n, k, n);
        let (mut plain, mut fused) = (vec![0.0f32; m * n], vec![1.0f32; m * n]);
        let part = |packed| Part {
            left: Left::rows(&a, k),
            b: packed,
            k0: 0,
            len: k,
        };
        by_panels(part(&packed), &mut plain, n, m, Init::Store);
        gemm(&a, k, &packed, &mut fused, n, m, false);
        assert_eq!(bits(&plain), bits(&fused));
    }

    /// The bias added as sums are stored gives the bits of presetting rows to it.
    #[test]
    fn bias_gives_the_bits_of_small_gemm_bias() {
        let mut rng = crate::rng::SeededRng::new(5);
        for &(m, k, n) in &[(16, 32, 128), (13, 100, 400), (9, 20, 7), (3, 128, 100)] {
            let (a, b) = (random(m * k, &mut rng), random(k * n, &mut rng));
            let bias = random(n, &mut rng);
            let mut packed = PackedB::new();
            packed.pack(&b, n, k, n);
            for bias in [Some(&bias[..]), None] {
                let (mut want, mut got) = (vec![f32::NAN; m * n], vec![f32::NAN; m * n]);
                small_gemm::gemm_bias(&a, &b, bias, &mut want, m, k, n);
                gemm_bias(&a, k, &packed, bias, &mut got, m);
                assert_eq!(
                    bits(&got),
                    bits(&want),
                    "{m}x{k}x{n} bias {}",
                    bias.is_some()
                );
                let mut fallback = vec![f32::NAN; m * n];
                let init = bias.map_or(Init::Store, Init::Bias);
                let part = Part {
                    left: Left::rows(&a, k),
                    b: &packed,
                    k0: 0,
                    len: k,
                };
                by_panels(part, &mut fallback, n, m, init);
                assert_eq!(bits(&fallback), bits(&want), "fallback {m}x{k}x{n}");
            }
        }
    }

    #[test]
    fn short_output_is_rejected() {
        let packed = {
            let mut p = PackedB::new();
            p.pack(&[1.0; 6], 3, 2, 3);
            p
        };
        let result = std::panic::catch_unwind(|| {
            let mut c = vec![0.0f32; 5];
            gemm(&[1.0; 4], 2, &packed, &mut c, 3, 2, false);
        });
        assert!(result.is_err());
    }
}
