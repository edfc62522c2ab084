//! The order in which a masked batch's samples run through a recurrent layer's time loop:
//! longest first (most real steps), stable among equals.
//!
//! The time loops run blocks of `CHUNK_ROWS` consecutive samples, and a block's step
//! costs about as much as its widest active tile. In input order a block of pre-padded
//! reviews of random lengths has some row active at almost every step, and each step's
//! active rows are scattered (gathered into a contiguous copy first). Sorted by length,
//! each block holds samples of similar lengths: its rows start (pre-padding) or stop
//! (post-padding) at about the same step, and at every step the active rows are a
//! prefix of the block, read in place. The layer reorders its inputs once per batch
//! (rows of x, the step mask, token ids, dropout masks) and puts its outputs and input
//! gradient back in input order, so callers see no difference. Samples of a batch are
//! independent, so every sample's values are the same as in input order; only sums
//! over the batch (weight gradients) add the samples in another order.

use ndarray::ArrayD;
use rayon::prelude::*;

/// Rows per parallel task when reordering: one row is a whole sample, (steps, width).
const ROWS_PER_TASK: usize = 8;

#[derive(Clone, Debug, Default)]
pub(crate) struct BatchOrder {
    /// Run row r is input sample `order[r]`; empty: input order.
    order: Vec<usize>,
    /// Input sample i is run row `position[i]`.
    position: Vec<usize>,
}

impl BatchOrder {
    /// Input order (nothing to reorder).
    pub fn input_order() -> Self {
        Self::default()
    }

    /// Samples by number of real steps in `step_mask` (batch, steps), most first, stable;
    /// input order without a mask or when that is already the order.
    pub fn by_real_steps(step_mask: &[bool], batch: usize, steps: usize) -> Self {
        if step_mask.len() != batch * steps || batch < 2 || steps == 0 {
            return Self::input_order();
        }
        let real: Vec<usize> = step_mask
            .chunks(steps)
            .map(|row| row.iter().filter(|&&m| m).count())
            .collect();
        if real.windows(2).all(|p| p[0] >= p[1]) {
            return Self::input_order();
        }
        let mut order: Vec<usize> = (0..batch).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(real[i]));
        let mut position = vec![0; batch];
        for (r, &i) in order.iter().enumerate() {
            position[i] = r;
        }
        BatchOrder { order, position }
    }

    pub fn is_input_order(&self) -> bool {
        self.order.is_empty()
    }

    /// Reorders `v`, rows of `width` values in input order, into run order (`scratch`
    /// holds the old buffer afterwards).
    pub fn to_run_order<T: Copy + Send + Sync>(
        &self,
        v: &mut Vec<T>,
        width: usize,
        scratch: &mut Vec<T>,
    ) {
        if self.permute(&self.order, v, width, scratch) {
            std::mem::swap(v, scratch);
        }
    }

    /// Copies `src`, rows of `width` values in input order, into `dst` in run order;
    /// returns whether `check` holds for every row (checked as it is copied).
    pub fn copy_to_run_order<T: Copy + Send + Sync>(
        &self,
        src: &[T],
        width: usize,
        dst: &mut Vec<T>,
        check: impl Fn(&[T]) -> bool + Sync,
    ) -> bool {
        let Some(&fill) = src.first() else {
            dst.clear();
            return true;
        };
        // Every row is overwritten below: only the length changes here (clearing
        // first would fill the whole buffer, 8 MB per IMDB batch, on one thread).
        dst.truncate(src.len());
        dst.resize(src.len(), fill);
        let rows = src.len() / width.max(1);
        let identity: Vec<usize>;
        let from = if self.is_input_order() {
            identity = (0..rows).collect();
            &identity
        } else {
            &self.order
        };
        assert_eq!(src.len(), from.len() * width, "a row per sample");
        dst.par_chunks_mut(ROWS_PER_TASK * width)
            .zip(from.par_chunks(ROWS_PER_TASK))
            .map(|(d, rows)| {
                let mut ok = true;
                for (d, &s) in d.chunks_mut(width).zip(rows) {
                    let row = &src[s * width..(s + 1) * width];
                    d.copy_from_slice(row);
                    ok &= check(row);
                }
                ok
            })
            .reduce(|| true, |a, b| a & b)
    }

    /// Reorders `v`, rows of `width` values in run order, back into input order, in
    /// place (each row moved once, along the permutation's cycles).
    pub fn to_input_order<T: Copy>(&self, v: &mut [T], width: usize) {
        if self.is_input_order() || width == 0 {
            return;
        }
        assert_eq!(v.len(), self.order.len() * width, "a row per sample");
        let mut done = vec![false; self.order.len()];
        let mut held = Vec::with_capacity(width);
        for start in 0..self.order.len() {
            if done[start] || self.position[start] == start {
                continue;
            }
            // Input row i takes run row position[i]; the cycle's first row is held
            // until the cycle comes back to it.
            held.clear();
            held.extend_from_slice(&v[start * width..(start + 1) * width]);
            let mut i = start;
            loop {
                done[i] = true;
                let from = self.position[i];
                if from == start {
                    v[i * width..(i + 1) * width].copy_from_slice(&held);
                    break;
                }
                v.copy_within(from * width..(from + 1) * width, i * width);
                i = from;
            }
        }
    }

    /// `items`, one per sample in input order, in run order.
    pub fn in_run_order<T>(&self, items: Vec<T>) -> Vec<T> {
        if self.is_input_order() {
            return items;
        }
        let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
        let taken = self.order.iter().map(|&i| slots[i].take());
        taken
            .map(|item| item.expect("order is a permutation"))
            .collect()
    }

    /// `to_input_order` on an array whose first axis is the batch.
    pub fn array_to_input_order(&self, mut a: ArrayD<f32>) -> ArrayD<f32> {
        if self.is_input_order() || a.ndim() == 0 {
            return a;
        }
        let width = a.shape()[1..].iter().product();
        let v = a
            .as_slice_mut()
            .expect("layer outputs are in standard layout");
        self.to_input_order(v, width);
        a
    }

    /// Gathers `out` row r = `v` row `from[r]` (run order: `from` = order; input order:
    /// `from` = position). Returns false, writing nothing, in input order.
    fn permute<T: Copy + Send + Sync>(
        &self,
        from: &[usize],
        v: &[T],
        width: usize,
        out: &mut Vec<T>,
    ) -> bool {
        if self.is_input_order() {
            return false;
        }
        assert_eq!(v.len(), from.len() * width, "a row per sample");
        out.clear();
        let Some(&fill) = v.first() else {
            return true;
        };
        out.resize(v.len(), fill);
        out.par_chunks_mut(ROWS_PER_TASK * width)
            .zip(from.par_chunks(ROWS_PER_TASK))
            .for_each(|(dst, src_rows)| {
                for (d, &s) in dst.chunks_mut(width).zip(src_rows) {
                    d.copy_from_slice(&v[s * width..(s + 1) * width]);
                }
            });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(lengths: &[usize], steps: usize, pre: bool) -> Vec<bool> {
        lengths
            .iter()
            .flat_map(|&n| (0..steps).map(move |t| if pre { t >= steps - n } else { t < n }))
            .collect()
    }

    #[test]
    fn longest_first_stable_and_back() {
        let steps = 5;
        let m = mask(&[2, 5, 2, 0, 4], steps, true);
        let order = BatchOrder::by_real_steps(&m, 5, steps);
        assert_eq!(order.order, vec![1, 4, 0, 2, 3]);
        let rows: Vec<u32> = (0..5 * 3).collect();
        let mut run = rows.clone();
        order.to_run_order(&mut run, 3, &mut Vec::new());
        assert_eq!(&run[..6], &[3, 4, 5, 12, 13, 14]);
        order.to_input_order(&mut run, 3);
        assert_eq!(run, rows);
        let mut sorted_mask = m.clone();
        order.to_run_order(&mut sorted_mask, steps, &mut Vec::new());
        assert_eq!(sorted_mask, mask(&[5, 4, 2, 2, 0], steps, true));
    }

    #[test]
    fn already_sorted_or_unmasked_is_input_order() {
        let steps = 4;
        assert!(
            BatchOrder::by_real_steps(&mask(&[4, 3, 3, 1], steps, false), 4, steps)
                .is_input_order()
        );
        assert!(BatchOrder::by_real_steps(&[], 4, steps).is_input_order());
        assert!(BatchOrder::by_real_steps(&mask(&[1], steps, false), 1, steps).is_input_order());
        let mut v = vec![1.0f32, 2.0];
        BatchOrder::input_order().to_input_order(&mut v, 1);
        assert_eq!(v, [1.0, 2.0]);
    }

    #[test]
    fn arrays_go_back_along_the_batch_axis() {
        let steps = 3;
        let order = BatchOrder::by_real_steps(&mask(&[1, 3], steps, true), 2, steps);
        let a =
            ArrayD::from_shape_vec(ndarray::IxDyn(&[2, 2]), vec![30.0, 31.0, 10.0, 11.0]).unwrap();
        let back = order.array_to_input_order(a);
        assert_eq!(back.as_slice().unwrap(), &[10.0, 11.0, 30.0, 31.0]);
    }
}
