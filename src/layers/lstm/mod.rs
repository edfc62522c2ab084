//! Keras `LSTM`: kernel (input_dim, 4u), recurrent_kernel (u, 4u), bias (4u), gate
//! order i, f, c, o; c_t = f c_{t-1} + i tanh(.), h_t = o tanh(c_t).

use ndarray::{Array2, ArrayD};
use rayon::prelude::*;

mod cache;
mod fused_backward;
mod infer;
mod one_sequence;
mod plan;
pub mod reference;
mod rows;
mod step_major;

use self::cache::Cache;
use self::fused_backward::fused_backward;
use self::infer::{FEW_ROWS, StepInputs};
use self::plan::{BatchInfo, Plan};
use super::batch_order::BatchOrder;
use super::config::{LayerConfig, LstmConfig, RecurrentArgs};
use super::gate_dropout::{self as gd, GateMasks};

use super::recurrent::{self as rec, BlockMasks};
use super::rnn::{self, Cell, CellKind, Recurrent};
use super::token_projection::TokenInput;
use super::{Activation, ForwardContext, LayerInput, Param};
use crate::error::Result;
use crate::kernels::packed_gemm::{self, PackedB};
use crate::kernels::small_gemm;
use crate::rng::SeededRng;

/// Long short-term memory layer (Keras 3 `keras.layers.LSTM`).
#[allow(clippy::upper_case_acronyms)] // Keras's class name.
pub type LSTM = Recurrent<LstmCell>;

/// The LSTM cell; its caches are the buffers of the last forward pass.
#[derive(Clone, Debug, Default)]
pub struct LstmCell {
    cache: Cache,
}

impl LSTM {
    rnn::config_builders! {
        unit_forget_bias: bool,
        recurrent_activation: Activation,
    }
}

impl Cell for LstmCell {
    type Config = LstmConfig;
    const CLASS_NAME: &'static str = "LSTM";
    const DEFAULT_NAME: &'static str = "lstm";
    const GATES: usize = 4;

    fn default_config(units: usize) -> LstmConfig {
        LstmConfig {
            common: RecurrentArgs::new(units),
            recurrent_activation: Activation::Sigmoid,
            unit_forget_bias: true,
        }
    }

    fn layer_config(config: LstmConfig) -> LayerConfig {
        LayerConfig::Lstm(config)
    }

    fn validate(c: &LstmConfig, layer: &str) -> Result<()> {
        rnn::check_gate_activations(layer, c.activation, c.recurrent_activation)
    }

    fn init_params(
        c: &LstmConfig,
        layer: &str,
        f: usize,
        rng: &mut SeededRng,
    ) -> Result<Vec<Param>> {
        let u = c.units;
        let mut params = rnn::init_kernels(c, layer, f, 4, rng)?;
        let bias_init = |shape: &[usize], rng: &mut SeededRng| {
            (c.bias_initializer).init_for(layer, "bias_initializer", shape, rng)
        };
        if c.use_bias {
            let bias = if c.unit_forget_bias {
                // Keras: concat(init((u,)), ones((u,)), init((2u,))), in that draw order.
                let mut v = bias_init(&[u], rng)?.into_raw_vec_and_offset().0;
                v.extend(std::iter::repeat_n(1.0, u));
                v.extend(bias_init(&[2 * u], rng)?.iter());
                ArrayD::from_shape_vec(ndarray::IxDyn(&[4 * u]), v).expect("4u values")
            } else {
                bias_init(&[4 * u], rng)?
            };
            params.push(Param::new("bias", bias));
        }
        Ok(params)
    }

    fn kind(_: &LstmConfig) -> CellKind {
        CellKind::Lstm
    }

    fn ready(&self) -> bool {
        self.cache.ready
    }

    fn forward(
        layer: &mut LSTM,
        input: LayerInput<'_>,
        ctx: &mut ForwardContext<'_>,
    ) -> Result<ArrayD<f32>> {
        let (name, f) = (&layer.name, layer.input_dim);
        let cache = &mut layer.cell.cache;
        cache.ready = false;
        cache.input_tokens.set(ctx.tokens);
        let (batch, steps) = rec::sequence_dims(name, &input, f)?;
        cache.step_mask = rec::step_mask(name, ctx.mask, batch, steps)?;
        let info = BatchInfo {
            training: ctx.training,
            batch,
            all_real: cache.step_mask.iter().all(|&real| real),
        };
        let plan = plan::plan(layer.config.units, layer.config.recurrent_dropout, &info);
        load_input(layer, &input, plan, ctx.rng, (batch, steps))?;
        match plan {
            Plan::OneSequence | Plan::InferBlocks => infer_features(layer, plan, batch, steps),
            Plan::GateDropout | Plan::StepMajor | Plan::Rows => {
                train_forward(layer, plan, batch, steps)
            }
        }
    }

    fn backward(layer: &mut LSTM, grad_output: ArrayD<f32>) -> Result<ArrayD<f32>> {
        let (name, f, u) = (&layer.name, layer.input_dim, layer.config.units);
        let seq = layer.config.return_sequences;
        let cache = &mut layer.cell.cache;
        let (batch, steps) = (cache.batch, cache.steps);
        let mut dy = rec::grad_output_slice(name, &grad_output, batch, steps, u, seq)?;
        let dy_width = if seq { steps * u } else { u };
        cache.order.to_run_order(&mut dy, dy_width, &mut Vec::new());
        if cache.plan == Plan::GateDropout {
            let dx = rows::gate_dropout_backward(name, &mut layer.params, cache, &dy, f, u, seq)?;
            return Ok(cache.order.array_to_input_order(dx));
        }
        let (kernel, recurrent, _) = rnn::weights(name, &layer.params)?;
        let (dx, grads) = fused_backward(cache, &dy, kernel, recurrent, f, u, seq);
        grads.write_to(name, &mut layer.params)?;
        Ok(dx)
    }

    fn infer_tokens(
        layer: &mut LSTM,
        tokens: TokenInput<'_>,
        mask: Option<&Array2<bool>>,
    ) -> Result<ArrayD<f32>> {
        let (name, u, seq) = (
            &layer.name,
            layer.config.units,
            layer.config.return_sequences,
        );
        let input_dim = layer.input_dim;
        let (batch, steps) = (tokens.batch, tokens.steps);
        let cache = &mut layer.cell.cache;
        cache.ready = false;
        cache.step_mask = rec::step_mask(name, mask, batch, steps)?;
        let info = BatchInfo {
            training: false,
            batch,
            all_real: cache.step_mask.iter().all(|&real| real),
        };
        let plan = plan::plan(u, layer.config.recurrent_dropout, &info);
        let order = BatchOrder::by_real_steps(&cache.step_mask, batch, steps);
        order.to_run_order(&mut cache.step_mask, steps, &mut Vec::new());
        // In run order, into a buffer kept across calls (a batch of IMDB ids is 1 MB).
        let ids = if order.is_input_order() {
            tokens.ids
        } else {
            let run_ids = &mut cache.run_ids;
            order.copy_to_run_order(tokens.ids, steps, run_ids, |_| true);
            &run_ids[..]
        };
        let (kernel, recurrent, bias) = rnn::weights(name, &layer.params)?;
        let w = 4 * u;
        // The product of the unfolded steps (`chunk_infer`), for bit-identical rows.
        let project = |x: &[f32], n: usize, out: &mut Vec<f32>| {
            out.resize(n * w, 0.0);
            if n < FEW_ROWS {
                return small_gemm::gemm_bias(x, kernel, bias, out, n, input_dim, w);
            }
            let mut packed_k = PackedB::new();
            packed_k.pack(kernel, w, input_dim, w);
            packed_gemm::gemm_bias(x, input_dim, &packed_k, bias, out, n)
        };
        if plan == Plan::OneSequence {
            one_sequence::wake_helper();
        }
        let table = layer.tokens.update(&tokens, kernel, w, bias, project);
        let inputs = StepInputs::Tokens { ids, table };
        let (masks, balance) = ((&cache.step_mask[..], &order), &mut cache.balance);
        let dims = ((batch, steps), (u, seq));
        Ok(infer(plan, inputs, masks, dims, recurrent, balance))
    }
}

/// Loads a float input into the cache as `plan` runs it: in its batch order (longest
/// first, unless the plan keeps input order), time-reversed with `go_backwards`, with
/// this batch's dropout masks drawn (training only) and applied.
fn load_input(
    layer: &mut LSTM,
    input: &LayerInput<'_>,
    plan: Plan,
    rng: &mut SeededRng,
    (batch, steps): (usize, usize),
) -> Result<()> {
    let (name, f, c) = (&layer.name, layer.input_dim, &layer.config);
    let cache = &mut layer.cell.cache;
    let order = if plan.input_order() {
        BatchOrder::input_order()
    } else {
        BatchOrder::by_real_steps(&cache.step_mask, batch, steps)
    };
    rec::load_sequence_in(name, input, f, &order, &mut cache.x)?;
    order.to_run_order(&mut cache.step_mask, steps, &mut Vec::new());
    cache.input_tokens.reorder(&order, batch, steps);
    if c.go_backwards {
        // Keras go_backwards: the loop reads the reversed sequence and mask.
        rec::reverse_steps(&mut cache.x, steps, f);
        rec::reverse_steps(&mut cache.step_mask, steps, 1);
    }
    cache.mask = None;
    cache.input_tokens.folded = false;
    cache.gate_masks = GateMasks::default();
    let training = !matches!(plan, Plan::OneSequence | Plan::InferBlocks);
    if plan == Plan::GateDropout {
        let (rate, rrate) = (c.dropout, c.recurrent_dropout);
        let (x, u) = (&cache.x, c.units);
        cache.gate_masks = GateMasks::draw(rng, 4, rate, rrate, x, batch, steps, f, u);
    } else if training && c.dropout > 0.0 {
        // Drawn per sample in input order, whatever the run order, and kept so for
        // dX (which the time loops write in input order).
        let mask = rec::draw_mask(rng, c.dropout, batch, f);
        let mut in_run_order = mask.clone();
        order.to_run_order(&mut in_run_order, f, &mut Vec::new());
        rec::apply_mask(&mut cache.x, &in_run_order, steps, f);
        cache.mask = Some(mask);
    }
    cache.order = order;
    Ok(())
}

/// Inference on the loaded features (`OneSequence` or `InferBlocks`): no per-step
/// caches, the output is all it keeps.
fn infer_features(layer: &mut LSTM, plan: Plan, batch: usize, steps: usize) -> Result<ArrayD<f32>> {
    let (name, f, u) = (&layer.name, layer.input_dim, layer.config.units);
    let seq = layer.config.return_sequences;
    let (kernel, recurrent, bias) = rnn::weights(name, &layer.params)?;
    let cache = &mut layer.cell.cache;
    let inputs = StepInputs::Features {
        x: &cache.x,
        f,
        kernel,
        bias,
    };
    let (masks, balance) = ((&cache.step_mask[..], &cache.order), &mut cache.balance);
    let dims = ((batch, steps), (u, seq));
    Ok(infer(plan, inputs, masks, dims, recurrent, balance))
}

/// Runs an inference plan on the batch in `order` (with its step mask in that order):
/// returns the output in input order, (batch, steps, u) with `seq` else (batch, u).
fn infer(
    plan: Plan,
    inputs: StepInputs<'_>,
    (step_mask, order): (&[bool], &BatchOrder),
    ((batch, steps), (u, seq)): ((usize, usize), (usize, bool)),
    recurrent: &[f32],
    balance: &mut one_sequence::Balance,
) -> ArrayD<f32> {
    let mut out = if plan == Plan::OneSequence {
        one_sequence::infer(inputs, step_mask, steps, (u, seq), recurrent, balance)
    } else {
        infer::infer_in_blocks(inputs, step_mask, batch, steps, (u, seq), recurrent)
    };
    order.to_input_order(&mut out, if seq { steps * u } else { u });
    rec::output_array(out, batch, steps, u, seq)
}

/// A training forward (`GateDropout`, `StepMajor` or `Rows`) on the loaded input: the
/// input projection of every step, then the time loops, keeping every step's gates,
/// c, tanh(c) and h for `backward`.
fn train_forward(layer: &mut LSTM, plan: Plan, batch: usize, steps: usize) -> Result<ArrayD<f32>> {
    let (name, f, u) = (&layer.name, layer.input_dim, layer.config.units);
    let w = 4 * u;
    let (kernel, recurrent, bias) = rnn::weights(name, &layer.params)?;
    let cache = &mut layer.cell.cache;
    if cache.gate_masks.per_gate_inputs() {
        let xs = &cache.gate_masks.inputs;
        gd::project_inputs_per_gate(xs, batch * steps, f, kernel, u, bias, &mut cache.gates);
    } else {
        // Rows looked up from an Embedding: one projection per distinct token.
        // The time loop reads them from there (without recurrent dropout masks).
        let usable = cache.mask.is_none() && !layer.config.go_backwards;
        let fill = !cache.gate_masks.recurrent.is_empty();
        cache.input_tokens.project(
            usable,
            &cache.x,
            batch * steps,
            f,
            kernel,
            w,
            bias,
            &cache.step_mask,
            fill,
            &mut cache.gates,
        );
    }
    for buf in [&mut cache.cs, &mut cache.tanh_c, &mut cache.hs] {
        buf.resize(batch * steps * u, 0.0);
    }
    cache.plan = plan;
    cache.step_major = plan == Plan::StepMajor;
    time_loops(cache, recurrent, steps, u);
    cache.batch = batch;
    cache.steps = steps;
    cache.ready = true;
    let seq = layer.config.return_sequences;
    let out = if cache.step_major {
        step_major::collect_output(&cache.hs, batch, steps, u, seq, cache.block_rows())
    } else {
        rec::collect_output(&cache.hs, batch, steps, u, seq)
    };
    Ok(cache.order.array_to_input_order(out))
}

/// The training time loops over the projected gates, one rayon task per block of
/// samples: step-major blocks or row loops, as `cache.step_major` says.
fn time_loops(cache: &mut Cache, recurrent: &[f32], steps: usize, u: usize) {
    let w = 4 * u;
    let zeros = vec![0.0f32; u];
    let rmasks = &cache.gate_masks.recurrent;
    let step_major = cache.step_major;
    let block = cache.block_rows();
    let rows_u = block * steps * u;
    let tokens = &cache.input_tokens;
    let rows = block * steps;
    let token_rows = |ci: usize| {
        let (rows_of, table) = (&tokens.rows, tokens.rows.projected());
        (tokens.folded && rmasks.is_empty()).then(|| (rows_of.block_slots(ci, rows), table))
    };
    // U packed once per batch for the row loops' per-step products.
    let mut packed_u = PackedB::new();
    if !step_major {
        packed_u.pack(recurrent, w, u, w);
    }
    let packed_u = &packed_u;
    let step_mask = &cache.step_mask;
    cache
        .gates
        .par_chunks_mut(block * steps * w)
        .zip(cache.cs.par_chunks_mut(rows_u))
        .zip(cache.tanh_c.par_chunks_mut(rows_u))
        .zip(cache.hs.par_chunks_mut(rows_u))
        .enumerate()
        .for_each(|(ci, (((g, cs), tc), hs))| {
            if step_major {
                let projected = match token_rows(ci) {
                    Some((slots, table)) => step_major::Projected::Tokens { slots, table },
                    None => step_major::Projected::InGates,
                };
                step_major::simd_chunk_forward(g, cs, tc, hs, projected, recurrent, steps, u)
            } else {
                let masks = BlockMasks::of_block(rmasks, step_mask, ci, steps);
                let inputs = token_rows(ci);
                let weights = (recurrent, packed_u);
                rows::simd_chunk_forward(g, cs, tc, hs, inputs, weights, masks, steps, u, &zeros)
            }
        });
}

#[cfg(test)]
mod tests {
    use super::fused_backward::{ChunkState, GRAD_BLOCK_ROWS, simd_chunk_backward_fused};
    use super::rows::simd_chunk_forward;
    use super::step_major::{
        simd_chunk_backward as simd_step_major_backward,
        simd_chunk_forward as simd_step_major_forward,
    };
    use super::*;

    fn random(n: usize, rng: &mut SeededRng, scale: f32) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-scale, scale)).collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// The step-major loops (small layers) against the row loops on one block: the
    /// same bits for every cache, output, input gradient and weight gradient, with
    /// features and with token rows, one and several gradient folds.
    #[test]
    fn step_major_loops_give_the_bits_of_the_row_loops() {
        let mut rng = SeededRng::new(5);
        // (units, rows, steps, features, return_sequences, token rows)
        let cases = [
            (8, 16, 40, 5, false, false), // 640 rows: a fold at 512 and one at the end
            (8, 16, 40, 5, true, true),
            (5, 9, 6, 3, true, false),
            (1, 3, 4, 2, false, true),
            (15, 16, 3, 4, false, false),
        ];
        for (u, rows, steps, f, seq, tokens) in cases {
            let w = 4 * u;
            let n = rows * steps;
            let what = format!("{u} units, {rows} rows, {steps} steps, seq {seq}, tokens {tokens}");
            let recurrent = random(u * w, &mut rng, 0.6);
            let kernel = random(f * w, &mut rng, 0.6);
            let x = random(n * f, &mut rng, 1.0);
            // Token rows: 7 distinct tokens, each with its projected row in `table`.
            let distinct = 7;
            let table = random(distinct * w, &mut rng, 2.0);
            let slots: Vec<u32> = (0..n)
                .map(|r| ((r * 5 + r / 3) % distinct) as u32)
                .collect();
            let pre = if tokens {
                vec![0.0; n * w]
            } else {
                random(n * w, &mut rng, 2.0)
            };
            let zeros = vec![0.0f32; u];
            let no_masks = BlockMasks {
                recurrent: &[],
                row0: 0,
                steps: &[],
            };
            let (mut g1, mut c1, mut t1, mut h1) = (
                pre.clone(),
                vec![0.0; n * u],
                vec![0.0; n * u],
                vec![0.0; n * u],
            );
            let token_rows = tokens.then_some((&slots[..], &table[..]));
            let mut packed_u = PackedB::new();
            packed_u.pack(&recurrent, w, u, w);
            let weights = (&recurrent[..], &packed_u);
            simd_chunk_forward(
                &mut g1, &mut c1, &mut t1, &mut h1, token_rows, weights, no_masks, steps, u, &zeros,
            );
            let (mut g2, mut c2, mut t2, mut h2) = (
                pre.clone(),
                vec![0.0; n * u],
                vec![0.0; n * u],
                vec![0.0; n * u],
            );
            let projected = if tokens {
                step_major::Projected::Tokens {
                    slots: &slots,
                    table: &table,
                }
            } else {
                step_major::Projected::InGates
            };
            simd_step_major_forward(
                &mut g2, &mut c2, &mut t2, &mut h2, projected, &recurrent, steps, u,
            );
            // Sample-major (rows, steps, ..) against step-major (steps, rows, ..), gates
            // (steps, 4, rows, u).
            for j in 0..rows {
                for t in 0..steps {
                    let (a, b) = ((j * steps + t) * u, (t * rows + j) * u);
                    for (name, p, q) in [("c", &c1, &c2), ("tanh c", &t1, &t2), ("h", &h1, &h2)] {
                        assert_eq!(bits(&p[a..a + u]), bits(&q[b..b + u]), "{name}, {what}");
                    }
                    for gate in 0..4 {
                        let a = (j * steps + t) * w + gate * u;
                        let b = t * rows * w + gate * rows * u + j * u;
                        assert_eq!(bits(&g1[a..a + u]), bits(&g2[b..b + u]), "gates, {what}");
                    }
                }
            }
            let ys = step_major::collect_output(&h2, rows, steps, u, seq, rows);
            let want = rec::collect_output(&h1, rows, steps, u, seq);
            assert_eq!(ys.shape(), want.shape());
            let (ys, want) = (ys.iter().copied().collect::<Vec<_>>(), want.iter().copied());
            assert_eq!(bits(&ys), bits(&want.collect::<Vec<_>>()), "output, {what}");

            let dy = random(if seq { n * u } else { rows * u }, &mut rng, 1.0);
            let mut recurrent_t = Vec::new();
            small_gemm::transpose(&recurrent, u, w, &mut recurrent_t);
            let (mut packed_ut, mut packed_kt) = (PackedB::new(), PackedB::new());
            packed_ut.pack_transposed(&recurrent, w, w, u);
            packed_kt.pack_transposed(&kernel, w, w, f);
            let token_slots = tokens.then_some((&slots[..], distinct));
            let mut dx1 = vec![0.0f32; n * f];
            let st = ChunkState {
                gates: &g1,
                cs: &c1,
                tanh_c: &t1,
                hs: &h1,
                x: &x,
                slots: token_slots,
            };
            let dims = (steps, u, f, seq);
            let dx = rec::SampleRows {
                samples: &mut rec::samples_of(&mut dx1, steps, f),
                steps,
                features: f,
            };
            let want = simd_chunk_backward_fused(
                dx,
                st,
                &dy,
                (&packed_kt, &packed_ut),
                no_masks,
                dims,
                &zeros,
            );
            let mut dx2 = vec![0.0f32; n * f];
            let st = ChunkState {
                gates: &g2,
                cs: &c2,
                tanh_c: &t2,
                hs: &h2,
                x: &x,
                slots: token_slots,
            };
            let weights = (&packed_kt, &recurrent_t[..]);
            let dx = rec::SampleRows {
                samples: &mut rec::samples_of(&mut dx2, steps, f),
                steps,
                features: f,
            };
            let got = simd_step_major_backward(dx, st, &dy, weights, dims, GRAD_BLOCK_ROWS);
            assert_eq!(bits(&dx1), bits(&dx2), "dX, {what}");
            assert_eq!(bits(&want.kernel), bits(&got.kernel), "kernel grad, {what}");
            assert_eq!(
                bits(&want.recurrent),
                bits(&got.recurrent),
                "recurrent grad, {what}"
            );
            assert_eq!(bits(&want.bias), bits(&got.bias), "bias grad, {what}");
            assert_eq!(
                bits(&want.token_sums),
                bits(&got.token_sums),
                "token sums, {what}"
            );
            assert!(want.recurrent.iter().any(|&v| v != 0.0), "{what}");
        }
    }
}
