//! Weight initialisers with Keras's names and formulas.

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use crate::rng::SeededRng;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Initializer {
    #[default]
    Zeros,
    Ones,
    /// U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).
    GlorotUniform,
    /// Random orthogonal matrix (QR of a normal matrix, sign-corrected), Keras gain 1.
    Orthogonal,
    RandomUniform {
        minval: f32,
        maxval: f32,
    },
}

/// Keras's `compute_fans`: (fan_in, fan_out) of a weight shape.
pub fn compute_fans(shape: &[usize]) -> (usize, usize) {
    match shape.len() {
        0 => (1, 1),
        1 => (shape[0], shape[0]),
        2 => (shape[0], shape[1]),
        _ => {
            let receptive: usize = shape[..shape.len() - 2].iter().product();
            (
                shape[shape.len() - 2] * receptive,
                shape[shape.len() - 1] * receptive,
            )
        }
    }
}

impl Initializer {
    /// A new array of `shape` filled by this initialiser, drawing from `rng`.
    pub fn init(&self, shape: &[usize], rng: &mut SeededRng) -> ArrayD<f32> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = match self {
            Initializer::Zeros => vec![0.0; n],
            Initializer::Ones => vec![1.0; n],
            Initializer::RandomUniform { minval, maxval } => {
                (0..n).map(|_| rng.uniform(*minval, *maxval)).collect()
            }
            Initializer::GlorotUniform => {
                let (fan_in, fan_out) = compute_fans(shape);
                let limit = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt() as f32;
                (0..n).map(|_| rng.uniform(-limit, limit)).collect()
            }
            Initializer::Orthogonal => orthogonal(shape, rng),
        };
        ArrayD::from_shape_vec(IxDyn(shape), data).expect("length matches shape")
    }
}

/// Keras's Orthogonal: flatten to (rows, cols) = (prod(shape[..-1]), shape[-1]); draw a
/// normal matrix of the taller orientation, take Q of its QR decomposition with the sign
/// convention diag(R) > 0 (which modified Gram-Schmidt yields directly), transpose back.
fn orthogonal(shape: &[usize], rng: &mut SeededRng) -> Vec<f32> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Vec::new();
    }
    let cols = *shape.last().unwrap_or(&1);
    let rows = n / cols.max(1);
    // Work on a tall (big, small) matrix whose `small` columns get orthonormalised.
    let (big, small) = if rows < cols {
        (cols, rows)
    } else {
        (rows, cols)
    };
    // Column-major columns of length `big`.
    let mut q: Vec<Vec<f64>> = (0..small)
        .map(|_| (0..big).map(|_| rng.normal()).collect())
        .collect();
    for j in 0..small {
        for k in 0..j {
            let (done, rest) = q.split_at_mut(j);
            let dot: f64 = done[k].iter().zip(rest[0].iter()).map(|(a, b)| a * b).sum();
            for (x, d) in rest[0].iter_mut().zip(done[k].iter()) {
                *x -= dot * d;
            }
        }
        let norm = q[j].iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        q[j].iter_mut().for_each(|x| *x /= norm);
    }
    let mut out = vec![0.0f32; n];
    for r in 0..rows {
        for c in 0..cols {
            // Tall case: element (r, c) is q[c][r]; wide case: the transpose.
            out[r * cols + c] = if rows < cols { q[r][c] } else { q[c][r] } as f32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_is_orthonormal_both_orientations() {
        let mut rng = SeededRng::new(7);
        for &(r, c) in &[(8usize, 8usize), (8, 32), (32, 8)] {
            let w = Initializer::Orthogonal.init(&[r, c], &mut rng);
            let w = w.into_dimensionality::<ndarray::Ix2>().unwrap();
            let g = if r >= c { w.t().dot(&w) } else { w.dot(&w.t()) };
            for i in 0..g.nrows() {
                for j in 0..g.ncols() {
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!(
                        (g[[i, j]] - want).abs() < 1e-5,
                        "({r},{c}) g[{i},{j}]={}",
                        g[[i, j]]
                    );
                }
            }
        }
    }

    #[test]
    fn glorot_respects_limit_and_fans() {
        let mut rng = SeededRng::new(1);
        let w = Initializer::GlorotUniform.init(&[16, 32], &mut rng);
        let limit = (6.0f32 / 48.0).sqrt();
        assert!(w.iter().all(|&x| x.abs() <= limit));
        assert!(w.iter().any(|&x| x.abs() > limit * 0.9));
        assert_eq!(compute_fans(&[16, 32]), (16, 32));
    }
}
