//! Kernel benchmarks: the matrix product backends on the shapes recurrent layers use,
//! and one LSTM time step forward + backward.

use criterion::{Criterion, criterion_group, criterion_main};
use recurrent::kernels::{MatMut, MatRef, matmul};
use recurrent::rng::SeededRng;
use std::hint::black_box;

fn random(n: usize, rng: &mut SeededRng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect()
}

/// (m, k, n): recurrent step of a 128-unit LSTM on batch 128; a small layer; the input
/// projection of batch 32 x 100 steps x 64 features.
const SHAPES: &[(usize, usize, usize)] = &[
    (128, 128, 512),
    (64, 8, 32),
    (3200, 64, 512),
    (32, 128, 512),
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
        c.bench_function(&format!("gemm {m}x{k}x{n}"), |bench| {
            bench.iter(|| {
                // SAFETY: a is m x k, b is k x n, out is m x n, all row-major and
                // disjoint; strides match those shapes.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        out.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        black_box(&a).as_ptr(),
                        1,
                        k as isize,
                        black_box(&b).as_ptr(),
                        1,
                        n as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench_matmul
}
criterion_main!(benches);
