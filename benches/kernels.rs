//! Kernel benchmarks: the matrix product on the shapes recurrent layers use, and one
//! LSTM time step forward + backward. (The gemm-crate comparison recorded in
//! src/kernels/matmul.rs was made with this file plus a gemm::gemm call per shape.)

use criterion::{Criterion, criterion_group, criterion_main};
use recurrent::kernels::packed_gemm::{self, PackedB};
use recurrent::kernels::{MatMut, MatRef, lstm_backward_row, lstm_forward_row, matmul, small_gemm};
use recurrent::rng::SeededRng;
use std::hint::black_box;

fn random(n: usize, rng: &mut SeededRng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// (m, k, n): recurrent step of a 128-unit LSTM on batch 128; a small layer; the input
/// projection of batch 32 x 100 steps x 64 features; LSTM(100)'s input gradient for a
/// block of 512 rows (dZ K^T; also under small_gemm, which was no faster: 480-636 vs
/// 412-475 us).
const SHAPES: &[(usize, usize, usize)] = &[
    (128, 128, 512),
    (64, 8, 32),
    (3200, 64, 512),
    (32, 128, 512),
    (512, 400, 100),
];

fn bench_matmul(c: &mut Criterion) {
    let mut rng = SeededRng::new(0);
    for &(m, k, n) in SHAPES {
        let a = random(m * k, &mut rng);
        let b = random(k * n, &mut rng);
        let mut out = vec![0.0f32; m * n];
        c.bench_function(&format!("matrixmultiply {m}x{k}x{n}"), |bench| {
            bench.iter(|| {
                matmul(
                    MatRef::new(black_box(&a), m, k),
                    MatRef::new(black_box(&b), k, n),
                    0.0,
                    MatMut::new(&mut out, m, n),
                );
            })
        });
    }
}

/// small_gemm on one step's recurrent product: a single sequence (one row, the
/// latency path, `row_avx512` with AVX-512: the whole layer, one thread's half of the
/// columns, the first half of its sums; LSTM(100)'s half) and blocks of 16 rows.
fn bench_small_gemm(c: &mut Criterion) {
    let mut rng = SeededRng::new(2);
    for &(m, k, n) in &[
        (1usize, 128usize, 512usize),
        (1, 128, 256),
        (1, 64, 256),
        (1, 100, 200),
        (16, 128, 512),
        (16, 32, 128),
        // Reuters LSTM(100): forward h U and backward dZ U^T.
        (16, 100, 400),
        (16, 400, 100),
        (512, 400, 100),
    ] {
        let a = random(m * k, &mut rng);
        let b = random(k * n, &mut rng);
        let mut out = vec![0.0f32; m * n];
        c.bench_function(&format!("small_gemm {m}x{k}x{n}"), |bench| {
            bench.iter(|| small_gemm::gemm(black_box(&a), black_box(&b), &mut out, m, k, n, true))
        });
    }
}

/// packed_gemm on the same multi-row shapes as `bench_small_gemm` (the factor packed
/// once, outside the timed loop, as the layers pack their weights once per batch).
fn bench_packed_gemm(c: &mut Criterion) {
    let mut rng = SeededRng::new(2);
    for &(m, k, n) in &[
        (16usize, 128usize, 512usize),
        (16, 32, 128),
        (16, 100, 400),
        (16, 400, 100),
        (512, 400, 100),
        (512, 512, 128),
    ] {
        let a = random(m * k, &mut rng);
        let b = random(k * n, &mut rng);
        let mut packed = PackedB::new();
        packed.pack(&b, n, k, n);
        let mut out = vec![0.0f32; m * n];
        c.bench_function(&format!("packed_gemm {m}x{k}x{n}"), |bench| {
            bench.iter(|| packed_gemm::gemm(black_box(&a), k, &packed, &mut out, n, m, true))
        });
    }
}

/// A gradient block's weight gradient, k = 512 rows: matrixmultiply's `H^T dZ` (dU,
/// u x 4u) against packed_gemm's `dZ^T H` (its transpose, dZ read in place, H packed
/// row by row as the block collects it): LSTM(128) and LSTM(100) (Reuters).
fn bench_weight_gradient(c: &mut Criterion) {
    let mut rng = SeededRng::new(4);
    for &(rows, units) in &[(512usize, 128usize), (512, 100), (512, 8), (512, 32)] {
        let w = 4 * units;
        let dz = random(rows * w, &mut rng);
        let h = random(rows * units, &mut rng);
        let mut out = vec![0.0f32; units * w];
        c.bench_function(
            &format!("matrixmultiply H^T dZ {rows}x{units}x{w}"),
            |bench| {
                bench.iter(|| {
                    matmul(
                        MatRef::new(black_box(&h), rows, units).t(),
                        MatRef::new(black_box(&dz), rows, w),
                        1.0,
                        MatMut::new(&mut out, units, w),
                    );
                })
            },
        );
        let mut packed = PackedB::with_row_capacity(rows, units);
        for row in h.chunks(units) {
            packed.push_row(row);
        }
        c.bench_function(&format!("packed_gemm dZ^T H {rows}x{units}x{w}"), |bench| {
            bench
                .iter(|| packed_gemm::gemm_at(black_box(&dz), w, &packed, &mut out, units, w, true))
        });
    }
}

// The layers run their gate passes inside `simd_fn!` loops (vectorised for the CPU);
// so does this bench.
recurrent::simd_fn! {
    fn gate_pass_rows(
        gates: &mut [f32],
        c_prev: &[f32],
        cs: &mut [f32],
        tc: &mut [f32],
        hs: &mut [f32],
        units: usize,
    ) {
        let w = 4 * units;
        for (j, g) in gates.chunks_mut(w).enumerate() {
            let r = j * units..(j + 1) * units;
            lstm_forward_row(g, &c_prev[r.clone()], &mut cs[r.clone()], &mut tc[r.clone()], &mut hs[r]);
        }
    }
}

/// One LSTM time step (batch 128, 128 units): the recurrent product onto the input
/// projection plus the fused gate pass, then the backward gate pass and dh product.
fn bench_lstm_step(c: &mut Criterion) {
    let (batch, units) = (128usize, 128usize);
    let w = 4 * units;
    let mut rng = SeededRng::new(1);
    let recurrent = random(units * w, &mut rng);
    let h_prev = random(batch * units, &mut rng);
    let c_prev = random(batch * units, &mut rng);
    let projection = random(batch * w, &mut rng);
    let mut gates = projection.clone();
    let (mut cs, mut tc, mut hs) = (
        vec![0.0; batch * units],
        vec![0.0; batch * units],
        vec![0.0; batch * units],
    );
    let mut dgates = vec![0.0f32; batch * w];
    let (mut dh, mut dc) = (
        random(batch * units, &mut rng),
        random(batch * units, &mut rng),
    );
    c.bench_function("lstm gate pass forward only 128x128", |bench| {
        bench.iter(|| {
            gates.copy_from_slice(&projection);
            gate_pass_rows(&mut gates, &c_prev, &mut cs, &mut tc, &mut hs, units);
            black_box(&hs);
        })
    });
    c.bench_function("lstm step forward+backward 128x128", |bench| {
        bench.iter(|| {
            gates.copy_from_slice(&projection);
            matmul(
                MatRef::new(&h_prev, batch, units),
                MatRef::new(&recurrent, units, w),
                1.0,
                MatMut::new(&mut gates, batch, w),
            );
            for j in 0..batch {
                let r = j * units..(j + 1) * units;
                lstm_forward_row(
                    &mut gates[j * w..(j + 1) * w],
                    &c_prev[r.clone()],
                    &mut cs[r.clone()],
                    &mut tc[r.clone()],
                    &mut hs[r],
                );
            }
            for j in 0..batch {
                let r = j * units..(j + 1) * units;
                lstm_backward_row(
                    &gates[j * w..(j + 1) * w],
                    &c_prev[r.clone()],
                    &tc[r.clone()],
                    &hs[r.clone()],
                    &mut dc[r],
                    &mut dgates[j * w..(j + 1) * w],
                );
            }
            matmul(
                MatRef::new(&dgates, batch, w),
                MatRef::new(&recurrent, units, w).t(),
                0.0,
                MatMut::new(&mut dh, batch, units),
            );
            black_box(&dh);
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench_matmul, bench_small_gemm, bench_packed_gemm, bench_lstm_step, bench_weight_gradient
}
criterion_main!(benches);
