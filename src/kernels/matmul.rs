//! Single-precision matrix products on strided views, the one place the crate calls
//! into a GEMM implementation.
//!
//! Backend chosen by measurement: matrixmultiply 0.3 against gemm 0.19
//! (`Parallelism::None`), criterion medians on the shared 2-core x86_64 build machine,
//! one thread, row-major f32, c = a·b:
//!
//! | (m x k) x (k x n)    | matrixmultiply | gemm    |
//! |----------------------|----------------|---------|
//! | 128x128 x 128x512    | 403 µs         | 464 µs  |
//! | 32x128 x 128x512     | 77 µs          | 409 µs  |
//! | 64x8 x 8x32          | 1.29 µs        | 1.69 µs |
//! | 3200x64 x 64x512     | 7.3 ms         | 5.5 ms  |
//!
//! The per-step recurrent products (first three rows) dominate training time and are
//! faster with matrixmultiply; gemm only wins on the large all-steps products. So
//! matrixmultiply it is (also lighter to build). The machine was shared (load ~14 on
//! 2 cores), so absolute numbers are inflated; both ran under the same conditions.
//! Since then the per-step products and the LSTM's input projection and dX blocks
//! moved to `small_gemm` and `packed_gemm` (faster on those shapes, see there); this
//! module keeps the weight gradients and the other layers' products.
//!
//! Both backends compute each output element from the same row of `a` and column of
//! `b` regardless of how the caller splits rows, so splitting a product into fixed row
//! blocks does not change any bit of the result.

/// A read-only matrix view: element (r, c) is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major contiguous (rows, cols).
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// Row-major with a row stride larger than `cols` (a column block or every T-th row).
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transpose, without copying.
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Largest element index touched plus one (0 for an empty view).
    fn extent(&self) -> usize {
        extent(self.rows, self.cols, self.row_stride, self.col_stride)
    }
}

/// A mutable row-major view with unit column stride.
#[derive(Debug)]
pub struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
}

impl<'a> MatMut<'a> {
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        MatMut {
            data,
            rows,
            cols,
            row_stride: cols,
        }
    }

    pub fn strided(data: &'a mut [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        MatMut {
            data,
            rows,
            cols,
            row_stride,
        }
    }
}

fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// `c = a · b + beta · c`. With `beta == 0` the old content of `c` is ignored (it may
/// hold anything, even NaN).
///
/// Panics if the shapes disagree or a view reaches past its slice: callers build the
/// views from their own buffer sizes, so this is an internal bug, never user input.
pub fn matmul(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
    assert_eq!(a.cols, b.rows, "matmul: inner dimensions differ");
    assert_eq!(a.rows, c.rows, "matmul: row counts differ");
    assert_eq!(b.cols, c.cols, "matmul: column counts differ");
    assert!(a.extent() <= a.data.len(), "matmul: `a` view out of bounds");
    assert!(b.extent() <= b.data.len(), "matmul: `b` view out of bounds");
    assert!(
        extent(c.rows, c.cols, c.row_stride, 1) <= c.data.len(),
        "matmul: `c` view out of bounds"
    );
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // Empty sum: c = beta * c (and beta == 0 must not read c).
        for r in 0..m {
            let row = &mut c.data[r * c.row_stride..r * c.row_stride + n];
            if beta == 0.0 {
                row.fill(0.0);
            } else {
                row.iter_mut().for_each(|v| *v *= beta);
            }
        }
        return;
    }
    // SAFETY: the asserts above prove every element index that sgemm touches,
    // (r * rs + c * cs) for r < rows and c < cols, lies inside the respective slice; `c`
    // is a unique borrow, so it aliases neither `a` nor `b`; strides fit in isize
    // because they index within slices, whose lengths are at most isize::MAX.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            a.row_stride as isize,
            a.col_stride as isize,
            b.data.as_ptr(),
            b.row_stride as isize,
            b.col_stride as isize,
            beta,
            c.data.as_mut_ptr(),
            c.row_stride as isize,
            1,
        );
    }
}

/// Column sums of a row-major (rows, cols) matrix with row stride `row_stride`, added
/// into `out` (length `cols`) when `accumulate`, else written. Sums run over rows in
/// order, in f32, the same way for any thread count.
pub fn column_sums(
    data: &[f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    out: &mut [f32],
    accumulate: bool,
) {
    assert_eq!(out.len(), cols, "column_sums: output length");
    assert!(
        extent(rows, cols, row_stride, 1) <= data.len(),
        "column_sums: out of bounds"
    );
    if !accumulate {
        out.fill(0.0);
    }
    sum_rows_into(data, rows, row_stride, out);
}

crate::simd_fn! {
    /// `out[c] += data[r][c]` for r in order, up to 64 columns (four AVX-512 registers) at a time
    /// with the running sums in registers: summed in `out` itself, each row's add waited
    /// on the previous row's store (LSTM(8) training: 3% of a step). Same order per
    /// column, so the same bits.
    fn sum_rows_into(data: &[f32], rows: usize, row_stride: usize, out: &mut [f32]) {
        let mut c0 = 0;
        while c0 < out.len() {
            let left = out.len() - c0;
            let out = &mut out[c0..];
            c0 += match left {
                64.. => sum_columns::<64>(data, rows, row_stride, c0, out),
                32.. => sum_columns::<32>(data, rows, row_stride, c0, out),
                16.. => sum_columns::<16>(data, rows, row_stride, c0, out),
                8.. => sum_columns::<8>(data, rows, row_stride, c0, out),
                _ => sum_columns::<1>(data, rows, row_stride, c0, out),
            };
        }
    }
}

/// `sum_rows_into` for the N columns from `c0` (`out` starts at column c0); returns N.
#[inline(always)]
fn sum_columns<const N: usize>(
    data: &[f32],
    rows: usize,
    row_stride: usize,
    c0: usize,
    out: &mut [f32],
) -> usize {
    let out: &mut [f32; N] = (&mut out[..N]).try_into().expect("N columns");
    let mut acc = *out;
    for r in 0..rows {
        let at = r * row_stride + c0;
        let row: &[f32; N] = data[at..at + N].try_into().expect("N columns");
        for (a, v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
    *out = acc;
    N
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The register-held sums add each column's rows in order from `out`'s value: the
    /// bits of the plain in-order loop, for widths below, at and past a whole chunk and
    /// rows with a stride.
    #[test]
    fn column_sums_are_the_in_order_sums() {
        let mut rng = crate::rng::SeededRng::new(3);
        for &cols in &[1usize, 7, 32, 64, 65, 200] {
            for &rows in &[0usize, 1, 513] {
                let stride = cols + 3;
                let data: Vec<f32> = (0..rows * stride)
                    .map(|_| rng.uniform(-10.0, 10.0))
                    .collect();
                for accumulate in [false, true] {
                    let start: Vec<f32> = (0..cols).map(|c| c as f32 * 0.37 - 2.0).collect();
                    let mut expected = if accumulate {
                        start.clone()
                    } else {
                        vec![0.0; cols]
                    };
                    for r in 0..rows {
                        for c in 0..cols {
                            expected[c] += data[r * stride + c];
                        }
                    }
                    let mut got = start.clone();
                    column_sums(&data, rows, cols, stride, &mut got, accumulate);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&expected), "cols {cols} rows {rows}");
                }
            }
        }
    }

    fn naive(a: &MatRef<'_>, b: &MatRef<'_>) -> Vec<f64> {
        let mut out = vec![0.0f64; a.rows * b.cols];
        for r in 0..a.rows {
            for c in 0..b.cols {
                for k in 0..a.cols {
                    out[r * b.cols + c] += a.data[r * a.row_stride + k * a.col_stride] as f64
                        * b.data[k * b.row_stride + c * b.col_stride] as f64;
                }
            }
        }
        out
    }

    #[test]
    fn strided_and_transposed_products_match_naive() {
        let mut rng = crate::rng::SeededRng::new(3);
        let av: Vec<f32> = (0..7 * 10).map(|_| rng.uniform(-1.0, 1.0)).collect();
        let bv: Vec<f32> = (0..10 * 6).map(|_| rng.uniform(-1.0, 1.0)).collect();
        // a: rows 0..5 of a (7 x 10) matrix, taking every column; b^T view of (6 x 10).
        let a = MatRef::strided(&av, 5, 10, 10);
        let b = MatRef::new(&bv, 6, 10).t();
        let want = naive(&a, &b);
        // c is a column block of width 6 inside rows of width 9, pre-filled with ones.
        let mut cv = [1.0f32; 5 * 9];
        matmul(a, b, 0.5, MatMut::strided(&mut cv[2..], 5, 6, 9));
        for r in 0..5 {
            for c in 0..6 {
                let got = cv[2 + r * 9 + c] as f64;
                assert!((got - (want[r * 6 + c] + 0.5)).abs() < 1e-5, "({r},{c})");
            }
            assert_eq!(cv[r * 9], 1.0, "left of the block untouched");
        }
    }

    #[test]
    fn beta_zero_ignores_nan_in_output() {
        let a = [1.0f32, 2.0];
        let b = [3.0f32, 4.0];
        let mut c = [f32::NAN];
        matmul(
            MatRef::new(&a, 1, 2),
            MatRef::new(&b, 2, 1),
            0.0,
            MatMut::new(&mut c, 1, 1),
        );
        assert_eq!(c[0], 11.0);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn view_past_the_slice_is_rejected() {
        let a = [0.0f32; 3];
        let b = [0.0f32; 4];
        let mut c = [0.0f32; 2];
        matmul(
            MatRef::new(&a, 1, 4),
            MatRef::new(&b, 4, 1),
            0.0,
            MatMut::new(&mut c, 1, 1),
        );
    }
}
