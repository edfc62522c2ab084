//! Parity with Keras 3 (and PyTorch where its layout maps): identical weights and inputs
//! must give the same outputs, weight/input gradients, losses and optimizer updates within
//! 1e-5 relative (max|ours - ref| / max|ref| per array). The references are the JSON
//! fixtures written by tests/fixtures/make_parity.py; no Python is needed here.
//!
//! Run with `--nocapture` to see the largest relative error of every case.

mod common;

use common::{CaseErrors, array_f32, array_f64, fixtures, ids, rel_err};
use ndarray::ArrayD;
use recurrent::layers::{
    ForwardContext, GRU, LSTM, Layer, LayerConfig, LayerInput, Param, SimpleRNN,
};
use recurrent::losses::Loss;
use recurrent::model::{FitOptions, Sequential};
use recurrent::optimizers::{Optimizer, OptimizerConfig, SgdConfig};
use recurrent::rng::SeededRng;
use serde_json::Value;

const TOL: f64 = 1e-5;

/// Prints one line per case and panics listing every failure, after all cases ran.
/// One reference's column of a printed row: (reference, worst error, which array).
type Column = (&'static str, f64, String);

fn finish(title: &str, rows: &[(String, Vec<Column>)], failures: &[String]) {
    // One print per table, so tables of tests running in parallel do not interleave.
    let mut table = format!("\n{title}: largest relative error per case\n");
    for (case, cols) in rows {
        let cols: Vec<String> = cols
            .iter()
            .map(|(label, err, what)| format!("{label} {err:.2e} ({what})"))
            .collect();
        table += &format!("  {case:44} {}\n", cols.join("  "));
    }
    print!("{table}");
    assert!(
        failures.is_empty(),
        "{title}: {} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A float input array of the fixture, or token ids.
enum Input {
    Floats(ArrayD<f32>),
    Ids(ndarray::Array2<i32>),
}

impl Input {
    fn from_fixture(v: &Value) -> Self {
        if v["dtype"] == "int32" {
            Input::Ids(ids(v))
        } else {
            Input::Floats(array_f32(v))
        }
    }
    fn view(&self) -> LayerInput<'_> {
        match self {
            Input::Floats(a) => LayerInput::Floats(a.view()),
            Input::Ids(a) => LayerInput::Ids(a.view()),
        }
    }
    /// Shape without the batch axis, as `build` takes it.
    fn feature_shape(&self) -> Vec<Option<usize>> {
        let s = match self {
            Input::Floats(a) => a.shape().to_vec(),
            Input::Ids(a) => a.shape().to_vec(),
        };
        s[1..].iter().map(|&d| Some(d)).collect()
    }
}

/// Builds `cfg` for `input_shape` and overwrites every weight with the fixture's.
fn layer_with_weights(
    cfg: &Value,
    input_shape: &[Option<usize>],
    weights: &Value,
) -> Result<Box<dyn Layer>, String> {
    let cfg: LayerConfig =
        serde_json::from_value(cfg.clone()).map_err(|e| format!("config {cfg}: {e}"))?;
    let mut layer = cfg.to_layer().map_err(|e| format!("to_layer: {e}"))?;
    let mut rng = SeededRng::new(0);
    layer
        .build(input_shape, &mut rng)
        .map_err(|e| format!("build({input_shape:?}): {e}"))?;
    let weights = weights.as_object().ok_or("weights must be an object")?;
    let mut set = Vec::new();
    for p in layer.params_mut() {
        let w = weights
            .get(p.name)
            .ok_or_else(|| format!("our param `{}` has no Keras counterpart", p.name))?;
        let w = array_f32(w);
        if w.shape() != p.value.shape() {
            return Err(format!(
                "param `{}`: our shape {:?}, Keras {:?}",
                p.name,
                p.value.shape(),
                w.shape()
            ));
        }
        p.value = w;
        set.push(p.name);
    }
    if set.len() != weights.len() {
        return Err(format!(
            "Keras weights {:?} but ours {set:?}",
            weights.keys().collect::<Vec<_>>()
        ));
    }
    Ok(layer)
}

/// Forward + backward of one layer fixture, compared with each reference it holds.
fn run_layer_case(
    fx: &Value,
    keras: &mut CaseErrors,
    torch: &mut CaseErrors,
    f64r: &mut CaseErrors,
) {
    let input = Input::from_fixture(&fx["input"]);
    let mut layer = match layer_with_weights(&fx["layer"], &input.feature_shape(), &fx["weights"]) {
        Ok(l) => l,
        Err(e) => return keras.fail(e),
    };
    let mut rng = SeededRng::new(0);
    let mut ctx = ForwardContext::new(true, &mut rng);
    let y = match layer.forward(input.view(), &mut ctx) {
        Ok(y) => y,
        Err(e) => return keras.fail(format!("forward: {e}")),
    };
    let grad_in = match layer.backward(array_f32(&fx["upstream"])) {
        Ok(g) => g,
        Err(e) => return keras.fail(format!("backward: {e}")),
    };
    let mut ours: Vec<(String, ArrayD<f32>)> = vec![("output".into(), y)];
    for p in layer.params() {
        ours.push((format!("d{}", p.name), p.grad.clone()));
    }
    match (grad_in, fx["grads"].get("input")) {
        (Some(g), Some(_)) => ours.push(("dinput".into(), g)),
        (None, None) => {}
        (Some(_), None) => keras.fail("returned an input gradient for integer input".into()),
        (None, Some(_)) => keras.fail("returned no gradient for float input".into()),
    }
    for (reference, errs) in [(fx, keras), (&fx["torch"], torch), (&fx["f64"], f64r)] {
        if reference.is_null() {
            continue;
        }
        for (what, a) in &ours {
            let r = if what == "output" {
                &reference["output"]
            } else {
                &reference["grads"][&what[1..]]
            };
            if r.is_null() {
                errs.fail(format!("{what} missing in fixture"));
                continue;
            }
            errs.check(what, rel_err(a, &array_f64(r), what));
        }
    }
}

/// Runs every layer fixture of one layer `type` and asserts all match within `TOL`.
fn check_layer_fixtures(layer_type: &str, min_cases: usize) {
    check_selected_layer_fixtures(
        layer_type,
        |fx| fx["layer"]["type"] == layer_type,
        min_cases,
    );
}

/// Runs the layer fixtures that `select` picks and asserts all match within `TOL`.
fn check_selected_layer_fixtures(
    layer_type: &str,
    select: impl Fn(&Value) -> bool,
    min_cases: usize,
) {
    let all: Vec<Value> = fixtures("layer").into_iter().filter(select).collect();
    // Guards against a vacuous pass if the fixtures went missing.
    assert!(
        all.len() >= min_cases,
        "expected >= {min_cases} {layer_type} fixtures, found {}",
        all.len()
    );
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for fx in &all {
        let case = fx["case"].as_str().expect("case name");
        let mut keras = CaseErrors::new(case, TOL);
        let mut torch = CaseErrors::new(case, TOL);
        // Keras's own float32 error vs float64 is ~3e-7; ours is shown, not asserted.
        let mut f64r = CaseErrors::new(case, f64::INFINITY);
        run_layer_case(fx, &mut keras, &mut torch, &mut f64r);
        let mut cols = vec![("keras", keras.worst, keras.worst_what.clone())];
        if !fx["torch"].is_null() {
            cols.push(("torch", torch.worst, torch.worst_what.clone()));
        }
        cols.push(("f64", f64r.worst, f64r.worst_what.clone()));
        rows.push((case.to_string(), cols));
        failures.extend(keras.failures);
        failures.extend(torch.failures);
    }
    finish(layer_type, &rows, &failures);
}

#[test]
fn dense_matches_keras_and_torch() {
    check_layer_fixtures("dense", 10);
}

#[test]
fn simple_rnn_matches_keras_and_torch() {
    check_layer_fixtures("simple_rnn", 5);
}

#[test]
fn lstm_matches_keras_and_torch() {
    check_layer_fixtures("lstm", 3);
}

/// Both reset_after modes; torch covers reset_after=True only (its GRU is that variant).
#[test]
fn gru_matches_keras_and_torch() {
    check_layer_fixtures("gru", 6);
}

#[test]
fn bidirectional_matches_keras() {
    check_layer_fixtures("bidirectional", 4);
}

#[test]
fn global_pooling_matches_keras() {
    check_layer_fixtures("global_average_pooling1d", 2);
    check_layer_fixtures("global_max_pooling1d", 2);
}

#[test]
fn embedding_matches_keras_and_torch() {
    check_layer_fixtures("embedding", 1);
}

/// A fixture array as f32, whether it holds floats or integer class ids.
fn any_f32(v: &Value) -> ArrayD<f32> {
    if v["dtype"] == "int32" {
        array_f64(v).mapv(|x| x as f32)
    } else {
        array_f32(v)
    }
}

fn scalar_err(ours: f64, reference: f64) -> f64 {
    let d = (ours - reference).abs();
    if d.is_nan() {
        f64::INFINITY
    } else {
        d / reference.abs().max(1e-6)
    }
}

#[test]
fn losses_match_keras() {
    let all = fixtures("loss");
    assert!(
        all.len() >= 8,
        "expected >= 8 loss fixtures, found {}",
        all.len()
    );
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for fx in &all {
        let case = fx["case"].as_str().expect("case name");
        let mut errs = CaseErrors::new(case, TOL);
        let loss: Loss = fx["loss"]
            .as_str()
            .expect("loss name")
            .parse()
            .expect("known loss");
        let y_true = any_f32(&fx["y_true"]);
        let y_pred = array_f32(&fx["y_pred"]);
        let result = if fx["from_logits"] == true {
            loss.value_and_grad_from_logits(y_true.view(), y_pred.view())
        } else {
            loss.value_and_grad(y_true.view(), y_pred.view())
        };
        match result {
            Ok(v) => {
                errs.check(
                    "value",
                    scalar_err(v.loss, fx["value"].as_f64().expect("value")),
                );
                errs.check(
                    "dy_pred",
                    rel_err(&v.grad, &array_f64(&fx["grad"]), "dy_pred"),
                );
            }
            Err(e) => errs.fail(format!("{e}")),
        }
        rows.push((
            case.to_string(),
            vec![("keras", errs.worst, errs.worst_what.clone())],
        ));
        failures.extend(errs.failures);
    }
    finish("losses", &rows, &failures);
}

/// max_i(|ours_i - keras_i| - ulp(keras_i), 0) / max|keras - before|: the error of the
/// update relative to the update's size, less the rounding of the stored f32 result.
fn update_err(ours: &ArrayD<f32>, after: &ArrayD<f64>, before: &ArrayD<f64>) -> f64 {
    assert_eq!(ours.shape(), after.shape());
    let mut diff = 0.0f64;
    let mut step = 0.0f64;
    for ((&o, &a), &b) in ours.iter().zip(after).zip(before) {
        let ulp = (a as f32).abs() as f64 * f32::EPSILON as f64;
        let d = ((o as f64 - a).abs() - ulp).max(0.0);
        diff = if d.is_nan() {
            f64::INFINITY
        } else {
            diff.max(d)
        };
        step = step.max((a - b).abs());
    }
    diff / step.max(1e-12)
}

#[test]
fn optimizers_match_keras() {
    let all = fixtures("optimizer");
    assert!(
        all.len() >= 19,
        "expected >= 19 optimizer fixtures, found {}",
        all.len()
    );
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for fx in &all {
        let case = fx["case"].as_str().expect("case name");
        let mut errs = CaseErrors::new(case, TOL);
        let config: OptimizerConfig = match serde_json::from_value(fx["optimizer"].clone()) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{case}: optimizer config {}: {e}", fx["optimizer"]));
                continue;
            }
        };
        let mut opt = match Optimizer::new(config) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{case}: {e}"));
                continue;
            }
        };
        let mut kernel = Param::new("kernel", array_f32(&fx["initial"]["kernel"]));
        let mut bias = Param::new("bias", array_f32(&fx["initial"]["bias"]));
        let steps = fx["grads"].as_array().expect("grads per step").len();
        for step in 0..steps {
            kernel.grad = array_f32(&fx["grads"][step]["kernel"]);
            bias.grad = array_f32(&fx["grads"][step]["bias"]);
            let mut vars = [
                ("dense/kernel".to_string(), &mut kernel),
                ("dense/bias".to_string(), &mut bias),
            ];
            if let Err(e) = opt.apply(&mut vars) {
                errs.fail(format!("step {}: {e}", step + 1));
                break;
            }
            for (name, p) in [("kernel", &kernel), ("bias", &bias)] {
                let after = array_f64(&fx["after"][step][name]);
                let what = format!("step {} {name}", step + 1);
                errs.check(&what, rel_err(&p.value, &after, &what));
                // Also relative to the step Keras took, so a wrong update cannot hide
                // behind the size of the weights. Both sides round the new weight to
                // f32, so one ulp of it per element is rounding, not a difference.
                let before = if step == 0 {
                    array_f64(&fx["initial"][name])
                } else {
                    array_f64(&fx["after"][step - 1][name])
                };
                errs.check(
                    &format!("step {} {name} update", step + 1),
                    update_err(&p.value, &after, &before),
                );
                // Continue from Keras's weights so errors do not compound across steps.
            }
            kernel.value = array_f32(&fx["after"][step]["kernel"]);
            bias.value = array_f32(&fx["after"][step]["bias"]);
        }
        rows.push((
            case.to_string(),
            vec![("keras", errs.worst, errs.worst_what.clone())],
        ));
        failures.extend(errs.failures);
    }
    finish("optimizers", &rows, &failures);
}

/// What one training step of a model computes before the optimizer: predictions, the
/// loss value and each layer's weight gradients.
struct StepResult {
    output: ArrayD<f32>,
    loss: f64,
    /// Per layer: (weight name, gradient).
    grads: Vec<Vec<(&'static str, ArrayD<f32>)>>,
}

/// Forward through the fixture's layers, the loss (fused with a final sigmoid/softmax as
/// Keras does), and backward, the way a model's training step chains them.
fn model_step(fx: &Value) -> Result<StepResult, String> {
    let input = Input::from_fixture(&fx["input"]);
    let cfgs = fx["layers"].as_array().ok_or("layers must be a list")?;
    let weights = fx["weights"].as_array().ok_or("weights must be a list")?;
    let mut shape = input.feature_shape();
    let mut layers = Vec::new();
    for (i, (cfg, w)) in cfgs.iter().zip(weights).enumerate() {
        let layer = layer_with_weights(cfg, &shape, w).map_err(|e| format!("layer {i}: {e}"))?;
        shape = layer
            .compute_output_shape(&shape)
            .map_err(|e| format!("layer {i}: {e}"))?;
        layers.push(layer);
    }
    let mut rng = SeededRng::new(0);
    let mut ctx = ForwardContext::new(true, &mut rng);
    // The model's mask protocol: compute the output mask, then forward with the input
    // mask in the context.
    let mut mask = layers[0].compute_mask(&input.view(), None);
    let mut y = layers[0]
        .forward(input.view(), &mut ctx)
        .map_err(|e| format!("forward layer 0: {e}"))?;
    for (i, layer) in layers.iter_mut().enumerate().skip(1) {
        let next = layer.compute_mask(&LayerInput::Floats(y.view()), mask.as_ref());
        y = layer
            .forward(
                LayerInput::Floats(y.view()),
                &mut ctx.inner(mask.as_ref(), None),
            )
            .map_err(|e| format!("forward layer {i}: {e}"))?;
        mask = next;
    }
    let loss: Loss = fx["loss"]
        .as_str()
        .ok_or("loss name")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let y_true = any_f32(&fx["target"]);
    let last = layers.last_mut().ok_or("no layers")?;
    let (value, fused) = loss
        .value_and_grad_for_output(
            y_true.view(),
            y.view(),
            last.output_logits().map(|(act, z)| (act, z.view())),
        )
        .map_err(|e| format!("loss: {e}"))?;
    let mut g = if fused {
        last.backward_from_logits(value.grad)
    } else {
        last.backward(value.grad)
    }
    .map_err(|e| format!("backward last layer: {e}"))?;
    for (i, layer) in layers.iter_mut().enumerate().rev().skip(1) {
        let upstream = g.ok_or_else(|| format!("layer {} returned no input gradient", i + 1))?;
        g = layer
            .backward(upstream)
            .map_err(|e| format!("backward layer {i}: {e}"))?;
    }
    let grads = layers
        .iter()
        .map(|l| {
            l.params()
                .iter()
                .map(|p| (p.name, p.grad.clone()))
                .collect()
        })
        .collect();
    Ok(StepResult {
        output: y,
        loss: value.loss,
        grads,
    })
}

fn compare_step(ours: &StepResult, reference: &Value, errs: &mut CaseErrors) {
    errs.check(
        "output",
        rel_err(&ours.output, &array_f64(&reference["output"]), "output"),
    );
    let loss_ref = reference["loss_value"].as_f64().expect("loss_value");
    errs.check("loss", scalar_err(ours.loss, loss_ref));
    for (i, layer) in ours.grads.iter().enumerate() {
        for (name, g) in layer {
            let what = format!("layer {i} d{name}");
            match reference["grads"][i].get(*name) {
                Some(r) => errs.check(&what, rel_err(g, &array_f64(r), &what)),
                None => errs.fail(format!("{what} missing in fixture")),
            }
        }
    }
}

/// Runs the model fixtures selected by `select` and asserts they match within `TOL`.
fn check_model_fixtures(title: &str, select: impl Fn(&str) -> bool, min_cases: usize) {
    let all: Vec<Value> = fixtures("model")
        .into_iter()
        .filter(|fx| select(fx["case"].as_str().expect("case name")))
        .collect();
    assert!(
        all.len() >= min_cases,
        "expected >= {min_cases} {title} fixtures, found {}",
        all.len()
    );
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for fx in &all {
        let case = fx["case"].as_str().expect("case name");
        let mut keras = CaseErrors::new(case, TOL);
        let mut f64r = CaseErrors::new(case, f64::INFINITY);
        match model_step(fx) {
            Ok(step) => {
                compare_step(&step, fx, &mut keras);
                if !fx["f64"].is_null() {
                    compare_step(&step, &fx["f64"], &mut f64r);
                }
            }
            Err(e) => keras.fail(e),
        }
        let mut cols = vec![("keras", keras.worst, keras.worst_what.clone())];
        if !fx["f64"].is_null() {
            cols.push(("f64", f64r.worst, f64r.worst_what.clone()));
        }
        rows.push((case.to_string(), cols));
        failures.extend(keras.failures);
    }
    finish(title, &rows, &failures);
}

/// Cross-entropy on a sigmoid/softmax output computed from the logits, as Keras does:
/// a confidently wrong prediction costs the whole logit, not the clipped -log(1e-7).
#[test]
fn extreme_logits_losses_match_keras() {
    check_model_fixtures("extreme logits", |c| c.contains("extreme"), 3);
}

/// Small models (Embedding/SimpleRNN/LSTM/GRU/Dense with each loss, and Embedding with
/// mask_zero): one training step's predictions, loss and every weight gradient, layer
/// by layer.
#[test]
fn model_steps_match_keras() {
    check_model_fixtures(
        "model steps",
        |c| {
            !c.contains("extreme")
                && !c.contains("bidirectional")
                && !c.contains("pooling")
                && !c.contains("features")
        },
        5,
    );
}

/// Embedding(mask_zero) -> Bidirectional(LSTM, return_sequences) -> Bidirectional(GRU)
/// -> Dense: the reversed padded sequences and zeroed masked outputs as Keras has them.
#[test]
fn bidirectional_model_steps_match_keras() {
    check_model_fixtures(
        "bidirectional model steps",
        |c| c.contains("bidirectional"),
        1,
    );
}

/// Embedding(mask_zero) -> LSTM(return_sequences) -> global pooling -> Dense: the masked
/// average over real steps only, the max over all steps (Keras ignores the mask there).
#[test]
fn pooling_model_steps_match_keras() {
    check_model_fixtures("pooling model steps", |c| c.contains("pooling"), 2);
}

/// go_backwards for each cell, both return_sequences (outputs and every gradient).
#[test]
fn go_backwards_matches_keras() {
    check_selected_layer_fixtures("go_backwards", |fx| fx["layer"]["go_backwards"] == true, 8);
}

/// Conv1D with each padding (valid, same, causal), dilation, strides, no bias.
#[test]
fn conv1d_matches_keras() {
    check_layer_fixtures("conv1d", 10);
}

/// MaxPooling1D: default strides, overlapping windows, "same" padding on odd lengths.
#[test]
fn max_pooling1d_matches_keras() {
    check_layer_fixtures("max_pooling1d", 4);
}

#[test]
fn time_distributed_dense_matches_keras() {
    check_layer_fixtures("time_distributed", 2);
}

/// Masked go_backwards stacks, Embedding -> Conv1D -> MaxPooling1D -> LSTM -> Dense
/// (with a mask Conv1D drops) and TimeDistributed(Dense) passing a mask on.
#[test]
fn feature_model_steps_match_keras() {
    check_model_fixtures("feature model steps", |c| c.contains("features"), 7);
}

/// `call_with_state` and `call_with_state_gradients` of the fixture's layer: the
/// output, final states and gradients, each with the fixture key it is compared to.
fn state_case(fx: &Value) -> Result<Vec<(String, ArrayD<f32>)>, String> {
    let cfg: LayerConfig =
        serde_json::from_value(fx["layer"].clone()).map_err(|e| format!("config: {e}"))?;
    let x = array_f32(&fx["input"]);
    let shape: Vec<Option<usize>> = x.shape()[1..].iter().map(|&d| Some(d)).collect();
    let x = x
        .into_dimensionality::<ndarray::Ix3>()
        .map_err(|e| format!("input: {e}"))?;
    let arrays2 = |v: &Value| -> Vec<ndarray::Array2<f32>> {
        v.as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|v| array_f32(v).into_dimensionality().expect("2-D array"))
            .collect()
    };
    let init = arrays2(&fx["initial_state"]);
    let views: Vec<_> = init.iter().map(|a| a.view()).collect();
    let upstream = fx["upstream"].as_array().ok_or("upstream")?;
    let dy = array_f32(&upstream[0]);
    let ds = arrays2(&Value::Array(upstream[1..].to_vec()));
    let ds_views: Vec<_> = ds.iter().map(|a| a.view()).collect();
    let mask = if fx["mask"].is_null() {
        None
    } else {
        let s = &fx["mask"]["shape"];
        let dims = (
            s[0].as_u64().ok_or("mask shape")? as usize,
            s[1].as_u64().ok_or("mask shape")? as usize,
        );
        let data: Vec<bool> = fx["mask"]["data"]
            .as_array()
            .ok_or("mask data")?
            .iter()
            .map(|v| v.as_bool().expect("bool"))
            .collect();
        Some(ndarray::Array2::from_shape_vec(dims, data).map_err(|e| format!("mask: {e}"))?)
    };
    let set_weights = |layer: &mut dyn Layer| -> Result<Vec<&'static str>, String> {
        let mut rng = SeededRng::new(0);
        layer
            .build(&shape, &mut rng)
            .map_err(|e| format!("build: {e}"))?;
        for p in layer.params_mut() {
            p.value = array_f32(&fx["weights"][p.name]);
        }
        Ok(layer.params().iter().map(|p| p.name).collect())
    };
    let m = mask.as_ref();
    let (y, grads, names) = match cfg {
        LayerConfig::SimpleRnn(c) => {
            let mut l = SimpleRNN::from_config(c).map_err(|e| e.to_string())?;
            let names = set_weights(&mut l)?;
            let g =
                l.call_with_state_gradients(x.view(), Some(&views), m, dy.view(), Some(&ds_views));
            (l.call_with_state(x.view(), Some(&views), m), g, names)
        }
        LayerConfig::Lstm(c) => {
            let mut l = LSTM::from_config(c).map_err(|e| e.to_string())?;
            let names = set_weights(&mut l)?;
            let g =
                l.call_with_state_gradients(x.view(), Some(&views), m, dy.view(), Some(&ds_views));
            (l.call_with_state(x.view(), Some(&views), m), g, names)
        }
        LayerConfig::Gru(c) => {
            let mut l = GRU::from_config(c).map_err(|e| e.to_string())?;
            let names = set_weights(&mut l)?;
            let g =
                l.call_with_state_gradients(x.view(), Some(&views), m, dy.view(), Some(&ds_views));
            (l.call_with_state(x.view(), Some(&views), m), g, names)
        }
        other => return Err(format!("not a recurrent layer: {other:?}")),
    };
    let (y, states) = y.map_err(|e| format!("call_with_state: {e}"))?;
    let g = grads.map_err(|e| format!("call_with_state_gradients: {e}"))?;
    let mut out = vec![("output".to_string(), y)];
    for (i, s) in states.into_iter().enumerate() {
        out.push((format!("state {i}"), s.into_dyn()));
    }
    out.push(("dinput".to_string(), g.input));
    for (i, s) in g.initial_state.into_iter().enumerate() {
        out.push((format!("dinitial_state_{i}"), s.into_dyn()));
    }
    for (name, w) in names.into_iter().zip(g.weights) {
        out.push((format!("d{name}"), w));
    }
    Ok(out)
}

/// Keras `return_state=True` with `initial_state`, unmasked, masked (one sample fully
/// masked) and go_backwards: the output, every final state, and the gradients w.r.t.
/// the input, the initial states and the weights.
#[test]
fn return_state_matches_keras() {
    let all = fixtures("state");
    assert!(
        all.len() >= 12,
        "expected >= 12 state fixtures, found {}",
        all.len()
    );
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for fx in &all {
        let case = fx["case"].as_str().expect("case name");
        let mut keras = CaseErrors::new(case, TOL);
        let mut f64r = CaseErrors::new(case, f64::INFINITY);
        match state_case(fx) {
            Ok(ours) => {
                for (reference, errs) in [(fx, &mut keras), (&fx["f64"], &mut f64r)] {
                    for (what, a) in &ours {
                        let r = if what == "output" {
                            &reference["output"]
                        } else if let Some(i) = what.strip_prefix("state ") {
                            &reference["states"][i.parse::<usize>().expect("index")]
                        } else {
                            &reference["grads"][&what[1..]]
                        };
                        if r.is_null() {
                            errs.fail(format!("{what} missing in fixture"));
                            continue;
                        }
                        errs.check(what, rel_err(a, &array_f64(r), what));
                    }
                }
            }
            Err(e) => keras.fail(e),
        }
        rows.push((
            case.to_string(),
            vec![
                ("keras", keras.worst, keras.worst_what.clone()),
                ("f64", f64r.worst, f64r.worst_what.clone()),
            ],
        ));
        failures.extend(keras.failures);
    }
    finish("return_state", &rows, &failures);
}

/// Runs one model fixture through `Sequential` as a user would: `from_configs`,
/// `set_weights`, `predict`, `evaluate`, then one `fit` step of plain SGD (lr 1) over the
/// whole batch, whose weight change must be Keras's gradient.
fn sequential_case(fx: &Value, errs: &mut CaseErrors) -> Result<(), String> {
    let cfgs: Vec<LayerConfig> =
        serde_json::from_value(fx["layers"].clone()).map_err(|e| format!("layer configs: {e}"))?;
    let mut model = Sequential::from_configs(&cfgs).map_err(|e| format!("from_configs: {e}"))?;
    let input = Input::from_fixture(&fx["input"]);
    model
        .build(&input.feature_shape())
        .map_err(|e| format!("build: {e}"))?;
    let names: Vec<String> = model
        .layers()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    let mut weights = Vec::new();
    for (lname, lw) in names.iter().zip(fx["weights"].as_array().ok_or("weights")?) {
        for (pname, a) in lw.as_object().ok_or("layer weights")? {
            weights.push((format!("{lname}/{pname}"), array_f32(a)));
        }
    }
    model
        .set_weights(&weights)
        .map_err(|e| format!("set_weights: {e}"))?;
    let loss: Loss = fx["loss"]
        .as_str()
        .ok_or("loss name")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let lr = 1.0;
    let sgd = SgdConfig {
        learning_rate: lr,
        ..SgdConfig::default()
    };
    model
        .compile(sgd, loss, &[])
        .map_err(|e| format!("compile: {e}"))?;
    let batch = Some(fx["input"]["shape"][0].as_u64().ok_or("batch")? as usize);
    let y = any_f32(&fx["target"]);

    let pred = match &input {
        Input::Floats(a) => model.predict(a, batch),
        Input::Ids(a) => model.predict(a, batch),
    }
    .map_err(|e| format!("predict: {e}"))?;
    errs.check(
        "predict",
        rel_err(&pred, &array_f64(&fx["output"]), "predict"),
    );
    let logs = match &input {
        Input::Floats(a) => model.evaluate(a, &y, batch),
        Input::Ids(a) => model.evaluate(a, &y, batch),
    }
    .map_err(|e| format!("evaluate: {e}"))?;
    let keras_loss = fx["loss_value"].as_f64().ok_or("loss_value")?;
    errs.check("evaluate loss", scalar_err(logs["loss"], keras_loss));

    let options = FitOptions {
        epochs: 1,
        batch_size: batch,
        shuffle: false,
        verbose: 0,
        ..FitOptions::default()
    };
    let history = match &input {
        Input::Floats(a) => model.fit(a, &y, options),
        Input::Ids(a) => model.fit(a, &y, options),
    }
    .map_err(|e| format!("fit: {e}"))?;
    errs.check("fit loss", scalar_err(history.loss()[0], keras_loss));
    let after: std::collections::HashMap<String, ArrayD<f32>> =
        model.get_weights().into_iter().collect();
    for (i, lname) in names.iter().enumerate() {
        for (pname, g) in fx["grads"][i].as_object().ok_or("layer grads")? {
            let key = format!("{lname}/{pname}");
            let before = array_f64(&fx["weights"][i][pname]);
            let keras_after = &before - &(array_f64(g) * lr);
            let ours = after.get(&key).ok_or_else(|| format!("no weight {key}"))?;
            errs.check(
                &format!("fit step {key}"),
                update_err(ours, &keras_after, &before),
            );
        }
    }
    Ok(())
}

/// Runs the model fixtures whose note passes `select` through `Sequential`.
fn check_sequential_fixtures(title: &str, select: impl Fn(&str) -> bool, min_cases: usize) {
    let all: Vec<Value> = fixtures("model")
        .into_iter()
        .filter(|fx| select(fx["note"].as_str().unwrap_or("")))
        .collect();
    assert!(
        all.len() >= min_cases,
        "expected >= {min_cases} {title} fixtures, found {}",
        all.len()
    );
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for fx in &all {
        let case = fx["case"].as_str().expect("case name");
        let mut errs = CaseErrors::new(case, TOL);
        if let Err(e) = sequential_case(fx, &mut errs) {
            errs.fail(e);
        }
        rows.push((
            case.to_string(),
            vec![("keras", errs.worst, errs.worst_what.clone())],
        ));
        failures.extend(errs.failures);
    }
    finish(title, &rows, &failures);
}

/// The model fixtures end to end through `Sequential` (predict, evaluate, fit).
#[test]
fn sequential_matches_keras() {
    check_sequential_fixtures("sequential", |note| !note.contains("mask_zero"), 7);
}

/// Embedding(mask_zero=True) with pre-padded ids: Keras skips the padded steps (the LSTM
/// carries its state over them).
#[test]
fn masked_sequential_matches_keras() {
    check_sequential_fixtures("masked sequential", |note| note.contains("mask_zero"), 3);
}

/// The result of a `fit`: per-epoch losses and every weight by `layer/param` name.
struct FitResult {
    names: Vec<String>,
    losses: Vec<f64>,
    weights: std::collections::HashMap<String, ArrayD<f32>>,
}

/// A short `fit` of the fixture's model (several batches, the last one smaller; two
/// epochs; shuffle off).
fn run_fit(fx: &Value) -> Result<FitResult, String> {
    let cfgs: Vec<LayerConfig> =
        serde_json::from_value(fx["layers"].clone()).map_err(|e| format!("layer configs: {e}"))?;
    let mut model = Sequential::from_configs(&cfgs).map_err(|e| format!("from_configs: {e}"))?;
    let input = Input::from_fixture(&fx["input"]);
    model
        .build(&input.feature_shape())
        .map_err(|e| format!("build: {e}"))?;
    let names: Vec<String> = model
        .layers()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    let mut weights = Vec::new();
    for (lname, lw) in names.iter().zip(fx["weights"].as_array().ok_or("weights")?) {
        for (pname, a) in lw.as_object().ok_or("layer weights")? {
            weights.push((format!("{lname}/{pname}"), array_f32(a)));
        }
    }
    model
        .set_weights(&weights)
        .map_err(|e| format!("set_weights: {e}"))?;
    let loss: Loss = fx["loss"]
        .as_str()
        .ok_or("loss name")?
        .parse()
        .map_err(|e| format!("{e}"))?;
    let optimizer: OptimizerConfig = serde_json::from_value(fx["optimizer"].clone())
        .map_err(|e| format!("optimizer config: {e}"))?;
    model
        .compile(optimizer, loss, &[])
        .map_err(|e| format!("compile: {e}"))?;
    let y = any_f32(&fx["target"]);
    let options = FitOptions {
        epochs: fx["epochs"].as_u64().ok_or("epochs")? as usize,
        batch_size: Some(fx["batch_size"].as_u64().ok_or("batch_size")? as usize),
        shuffle: false,
        verbose: 0,
        ..FitOptions::default()
    };
    let history = match &input {
        Input::Floats(a) => model.fit(a, &y, options),
        Input::Ids(a) => model.fit(a, &y, options),
    }
    .map_err(|e| format!("fit: {e}"))?;
    Ok(FitResult {
        names,
        losses: history.loss().to_vec(),
        weights: model.get_weights().into_iter().collect(),
    })
}

/// Compares a fit with one reference (`history_loss`, `final_weights`).
fn compare_fit(ours: &FitResult, fx: &Value, reference: &Value, errs: &mut CaseErrors) {
    let keras_losses = reference["history_loss"].as_array().expect("history_loss");
    if ours.losses.len() != keras_losses.len() {
        errs.fail(format!(
            "history has {} epochs, Keras {}",
            ours.losses.len(),
            keras_losses.len()
        ));
    }
    for (epoch, (o, k)) in ours.losses.iter().zip(keras_losses).enumerate() {
        let k = k.as_f64().expect("loss");
        errs.check(&format!("epoch {} loss", epoch + 1), scalar_err(*o, k));
    }
    for (i, lname) in ours.names.iter().enumerate() {
        let final_weights = reference["final_weights"][i]
            .as_object()
            .expect("final weights");
        for (pname, w) in final_weights {
            let key = format!("{lname}/{pname}");
            let Some(o) = ours.weights.get(&key) else {
                errs.fail(format!("no weight {key}"));
                continue;
            };
            errs.check(&format!("final {key}"), rel_err(o, &array_f64(w), &key));
            // The change over the whole run, so a wrong update cannot hide behind the
            // size of the weights.
            errs.check(
                &format!("change of {key}"),
                update_err(o, &array_f64(w), &array_f64(&fx["weights"][i][pname])),
            );
        }
    }
}

/// `fit` ends on Keras's weights and reports Keras's per-epoch losses on its
/// TensorFlow backend always, and on its torch backend except where TF's sparse
/// Embedding update for Adam/RMSprop differs from torch's dense one
/// (`tf_sparse_embedding_update`, see make_parity.py): we follow TensorFlow there
/// (`Param::grad_sq`), so the torch-backend error is printed, not asserted.
#[test]
fn fit_matches_keras() {
    let all = fixtures("fit");
    assert!(
        all.len() >= 4,
        "expected >= 4 fit fixtures, found {}",
        all.len()
    );
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for fx in &all {
        let case = fx["case"].as_str().expect("case name");
        let quirk = fx["tf_sparse_embedding_update"] == true;
        let mut tf = CaseErrors::new(case, TOL);
        let mut torch_backend = CaseErrors::new(case, if quirk { f64::INFINITY } else { TOL });
        match run_fit(fx) {
            Ok(ours) => {
                compare_fit(&ours, fx, fx, &mut tf);
                compare_fit(&ours, fx, &fx["torch_backend"], &mut torch_backend);
            }
            Err(e) => tf.fail(e),
        }
        let torch_label = if quirk {
            "keras-torch (not asserted)"
        } else {
            "keras-torch"
        };
        rows.push((
            case.to_string(),
            vec![
                ("keras-tf", tf.worst, tf.worst_what.clone()),
                (
                    torch_label,
                    torch_backend.worst,
                    torch_backend.worst_what.clone(),
                ),
            ],
        ));
        failures.extend(tf.failures);
        failures.extend(torch_backend.failures);
    }
    finish("fit", &rows, &failures);
}
