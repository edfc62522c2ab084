//! One layer at a time into ONNX nodes. Every function takes the name of the tensor
//! holding the layer's input (batch first, as in Keras) and returns the name of the one
//! holding its output, so layers chain as in `Sequential::predict`.

use ndarray::ArrayD;

use super::graph::{GraphBuilder, attr_int, attr_ints, attr_string, attr_strings};
use super::proto::AttributeProto;
use super::rnn_weights::{self, GRU_GATES, LSTM_GATES, SIMPLE_RNN_GATES};
use crate::error::{Error, Result};
use crate::layers::config::{Conv1DConfig, DenseConfig, EmbeddingConfig, MaxPooling1DConfig};
use crate::layers::conv1d::Window;
use crate::layers::{Activation, Layer, LayerConfig, MergeMode, Padding};

/// Keras's Embedding: a row lookup (ONNX Gather on axis 0) of int64 ids.
pub(crate) fn embedding(
    g: &mut GraphBuilder,
    layer: &dyn Layer,
    c: &EmbeddingConfig,
    input: &str,
) -> Result<String> {
    let name = layer.name();
    let table = param(layer, "embeddings")?;
    let t = g.float_tensor(&format!("{name}/embeddings"), table.shape(), &flat(table));
    debug_assert_eq!(table.shape(), [c.input_dim, c.output_dim]);
    Ok(g.op(
        "Gather",
        &format!("{name}/Gather"),
        &[&t, input],
        vec![attr_int("axis", 0)],
    ))
}

/// Keras's Dense: `activation(x @ kernel + bias)` on the last axis (MatMul broadcasts
/// over leading axes, so 2-D and 3-D inputs both work).
pub(crate) fn dense(
    g: &mut GraphBuilder,
    layer: &dyn Layer,
    c: &DenseConfig,
    input: &str,
) -> Result<String> {
    dense_weights(g, layer, "", c, input)
}

/// Keras's TimeDistributed(Dense): Dense already maps the last axis of a
/// (batch, steps, features) tensor step by step, so this is the wrapped Dense's MatMul
/// with its weights (named `dense/kernel` through the wrapper); TimeDistributed(Dropout)
/// is nothing at inference, as Dropout is.
pub(crate) fn time_distributed(
    g: &mut GraphBuilder,
    layer: &dyn Layer,
    inner: &LayerConfig,
    input: &str,
) -> Result<String> {
    match inner {
        LayerConfig::Dense(c) => {
            // The wrapped layer's name is the prefix of its weights' names.
            let prefix = layer
                .params()
                .iter()
                .find_map(|p| p.name.strip_suffix("kernel"))
                .ok_or_else(|| missing(layer, "dense/kernel"))?
                .to_string();
            dense_weights(g, layer, &prefix, c, input)
        }
        LayerConfig::Dropout(_) => Ok(input.to_string()),
        other => Err(Error::Unsupported(format!(
            "ONNX export: layer `{}` (TimeDistributed) wraps {other:?}, which the ONNX \
             exporter does not implement (only Dense and Dropout)",
            layer.name()
        ))),
    }
}

/// Dense with its weights named `{prefix}kernel` and `{prefix}bias` in `layer`.
fn dense_weights(
    g: &mut GraphBuilder,
    layer: &dyn Layer,
    prefix: &str,
    c: &DenseConfig,
    input: &str,
) -> Result<String> {
    let name = layer.name();
    let kernel = param(layer, &format!("{prefix}kernel"))?;
    let k = g.float_tensor(&format!("{name}/kernel"), kernel.shape(), &flat(kernel));
    let mut h = g.op("MatMul", &format!("{name}/MatMul"), &[input, &k], vec![]);
    if c.use_bias {
        let bias = param(layer, &format!("{prefix}bias"))?;
        let b = g.float_tensor(&format!("{name}/bias"), bias.shape(), &flat(bias));
        h = g.op("Add", &format!("{name}/Add"), &[&h, &b], vec![]);
    }
    Ok(activation(g, name, c.activation, &h))
}

/// A Keras activation on the last axis (softmax over it, as Keras's default axis -1).
fn activation(g: &mut GraphBuilder, name: &str, activation: Activation, h: &str) -> String {
    let op = match activation {
        Activation::Linear => return h.to_string(),
        Activation::Relu => ("Relu", vec![]),
        Activation::Sigmoid => ("Sigmoid", vec![]),
        Activation::Tanh => ("Tanh", vec![]),
        Activation::Softmax => ("Softmax", vec![attr_int("axis", -1)]),
    };
    g.op(op.0, &format!("{name}/{}", op.0), &[h], op.1)
}

/// ONNX `pads` (begin, end) of the time axis for Keras's `padding`, or `None` when
/// they depend on a length unknown at export time (padding="same" with strides > 1:
/// then ONNX's auto_pad="SAME_UPPER", the same TensorFlow rule with the odd extra
/// step at the end, computes them at run time).
fn time_pads(
    name: &str,
    steps_in: Option<usize>,
    size: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Result<Option<[i64; 2]>> {
    let span = dilation * (size - 1) + 1;
    Ok(match (padding, steps_in) {
        (Padding::Valid, _) => Some([0, 0]),
        (Padding::Causal, _) => Some([(span - 1) as i64, 0]),
        // Stride 1 keeps the length: span - 1 zeros, the extra one on the right.
        (Padding::Same, _) if stride == 1 => {
            Some([((span - 1) / 2) as i64, (span - 1 - (span - 1) / 2) as i64])
        }
        (Padding::Same, Some(steps)) => {
            // The layer's own rule (Window), so the export pads exactly as predict does.
            let w = Window::new(name, steps, size, stride, dilation, padding)?;
            let total = ((w.steps_out - 1) * stride + span).saturating_sub(steps);
            Some([w.pad_left as i64, (total - w.pad_left) as i64])
        }
        (Padding::Same, None) => None,
    })
}

/// Pads as explicit `pads`, or auto_pad="SAME_UPPER" when they depend on the length.
fn pad_attrs(pads: Option<[i64; 2]>) -> AttributeProto {
    match pads {
        Some(p) => attr_ints("pads", &p),
        None => attr_string("auto_pad", "SAME_UPPER"),
    }
}

/// Keras's (batch, steps, channels) to ONNX's (batch, channels, steps) and back.
fn swap_time_and_channels(g: &mut GraphBuilder, name: &str, x: &str) -> String {
    g.op(
        "Transpose",
        &format!("{name}/Transpose"),
        &[x],
        vec![attr_ints("perm", &[0, 2, 1])],
    )
}

/// Keras's Conv1D (channels_last) as ONNX Conv between Transposes (ONNX convolves
/// channels first): kernel (kernel_size, in, filters) as W (filters, in, kernel_size),
/// strides, dilations and pads as Keras's padding computes them (causal: all the
/// zeros on the left), bias as Conv's B, then the activation on the filters axis.
/// `steps_in` is the input's length if known.
pub(crate) fn conv1d(
    g: &mut GraphBuilder,
    layer: &dyn Layer,
    c: &Conv1DConfig,
    steps_in: Option<usize>,
    input: &str,
) -> Result<String> {
    let name = layer.name();
    let kernel = param(layer, "kernel")?;
    let [k, ch, f] = kernel.shape() else {
        return Err(Error::Shape(format!(
            "ONNX export: layer `{name}` (Conv1D) has a kernel of shape {:?}, expected \
             (kernel_size, in_channels, filters)",
            kernel.shape()
        )));
    };
    let (k, ch, f) = (*k, *ch, *f);
    let mut w = Vec::with_capacity(kernel.len());
    for fi in 0..f {
        for ci in 0..ch {
            w.extend((0..k).map(|j| kernel[[j, ci, fi]]));
        }
    }
    let w = g.float_tensor(&format!("{name}/W"), &[f, ch, k], &w);
    let mut inputs = vec![w];
    if c.use_bias {
        let bias = param(layer, "bias")?;
        inputs.push(g.float_tensor(&format!("{name}/B"), bias.shape(), &flat(bias)));
    }
    let pads = time_pads(
        name,
        steps_in,
        c.kernel_size,
        c.strides,
        c.dilation_rate,
        c.padding,
    )?;
    let x = swap_time_and_channels(g, name, input);
    let mut conv_inputs: Vec<&str> = vec![&x];
    conv_inputs.extend(inputs.iter().map(String::as_str));
    let y = g.op(
        "Conv",
        &format!("{name}/Conv"),
        &conv_inputs,
        vec![
            attr_ints("kernel_shape", &[k as i64]),
            attr_ints("strides", &[c.strides as i64]),
            attr_ints("dilations", &[c.dilation_rate as i64]),
            pad_attrs(pads),
        ],
    );
    let y = swap_time_and_channels(g, name, &y);
    Ok(activation(g, name, c.activation, &y))
}

/// Keras's MaxPooling1D (channels_last) as ONNX MaxPool between Transposes; ONNX's
/// padded positions never win the maximum, as Keras's "same" padding behaves.
pub(crate) fn max_pooling1d(
    g: &mut GraphBuilder,
    layer: &dyn Layer,
    c: &MaxPooling1DConfig,
    steps_in: Option<usize>,
    input: &str,
) -> Result<String> {
    let name = layer.name();
    let stride = c.strides.unwrap_or(c.pool_size);
    let pads = time_pads(name, steps_in, c.pool_size, stride, 1, c.padding)?;
    let x = swap_time_and_channels(g, name, input);
    let y = g.op(
        "MaxPool",
        &format!("{name}/MaxPool"),
        &[&x],
        vec![
            attr_ints("kernel_shape", &[c.pool_size as i64]),
            attr_ints("strides", &[stride as i64]),
            pad_attrs(pads),
        ],
    );
    Ok(swap_time_and_channels(g, name, &y))
}

/// GlobalAveragePooling1D / GlobalMaxPooling1D (channels_last): reduce over the time
/// axis 1. Masks are refused before this is reached.
pub(crate) fn global_pooling(
    g: &mut GraphBuilder,
    layer: &dyn Layer,
    op_type: &str,
    keepdims: bool,
    input: &str,
) -> String {
    g.op(
        op_type,
        &format!("{}/{op_type}", layer.name()),
        &[input],
        vec![
            attr_ints("axes", &[1]),
            attr_int("keepdims", i64::from(keepdims)),
        ],
    )
}

/// What differs between SimpleRNN, LSTM and GRU in ONNX.
struct Cell {
    op_type: &'static str,
    units: usize,
    return_sequences: bool,
    /// ONNX activations of one direction (RNN [f], GRU [f, g], LSTM [f, g, h]).
    activations: Vec<&'static str>,
    gates: &'static [usize],
    /// GRU only.
    linear_before_reset: Option<bool>,
    /// Keras go_backwards: the input is reversed in time first.
    go_backwards: bool,
}

/// The ONNX cell for a SimpleRNN, LSTM or GRU config; refuses what ONNX cannot express.
fn cell(layer: &str, config: &LayerConfig) -> Result<Cell> {
    // An ONNX graph keeps nothing between runs: a stateful layer would silently start
    // every batch from zero states.
    if let Some(b) = config.stateful_batch_size() {
        return Err(Error::Unsupported(format!(
            "layer `{layer}` is stateful (batch_size {b}): ONNX has no states carried \
             between runs, so the exported graph would start every batch from zeros; \
             export a copy of the model with stateful = false"
        )));
    }
    let go_backwards = match config {
        LayerConfig::SimpleRnn(c) => c.go_backwards,
        LayerConfig::Lstm(c) => c.go_backwards,
        LayerConfig::Gru(c) => c.go_backwards,
        _ => false,
    };
    Ok(match config {
        LayerConfig::SimpleRnn(c) => Cell {
            op_type: "RNN",
            units: c.units,
            return_sequences: c.return_sequences,
            activations: vec![rnn_activation(
                layer,
                "SimpleRNN",
                "activation",
                c.activation,
            )?],
            gates: &SIMPLE_RNN_GATES,
            linear_before_reset: None,
            go_backwards,
        },
        LayerConfig::Lstm(c) => {
            let f = rnn_activation(
                layer,
                "LSTM",
                "recurrent_activation",
                c.recurrent_activation,
            )?;
            let g = rnn_activation(layer, "LSTM", "activation", c.activation)?;
            // Keras: c = f*c + i*activation(z), h = o*activation(c): ONNX's g and h.
            Cell {
                op_type: "LSTM",
                units: c.units,
                return_sequences: c.return_sequences,
                activations: vec![f, g, g],
                gates: &LSTM_GATES,
                linear_before_reset: None,
                go_backwards,
            }
        }
        LayerConfig::Gru(c) => Cell {
            op_type: "GRU",
            units: c.units,
            return_sequences: c.return_sequences,
            activations: vec![
                rnn_activation(layer, "GRU", "recurrent_activation", c.recurrent_activation)?,
                rnn_activation(layer, "GRU", "activation", c.activation)?,
            ],
            gates: &GRU_GATES,
            // Keras reset_after=True applies the reset gate after the recurrent product
            // (and its own recurrent bias): ONNX's linear_before_reset=1.
            linear_before_reset: Some(c.reset_after),
            go_backwards,
        },
        other => {
            return Err(Error::State(format!(
                "ONNX export: layer `{layer}` is not a recurrent layer ({other:?})"
            )));
        }
    })
}

/// The ONNX name of a recurrent-layer activation; ONNX lists Relu, Tanh, Sigmoid,
/// Affine, ... but no identity or softmax, so `linear` and `softmax` are refused.
fn rnn_activation(
    layer: &str,
    class: &str,
    arg: &str,
    activation: Activation,
) -> Result<&'static str> {
    match activation {
        Activation::Tanh => Ok("Tanh"),
        Activation::Sigmoid => Ok("Sigmoid"),
        Activation::Relu => Ok("Relu"),
        Activation::Linear | Activation::Softmax => Err(Error::Unsupported(format!(
            "ONNX export: layer `{layer}` ({class}) has {arg}='{}', which the ONNX recurrent \
             operators cannot express exactly (they take tanh, sigmoid, relu and a few \
             others, no identity or softmax); only {arg} = 'tanh', 'sigmoid' or 'relu' can \
             be exported",
            activation.name()
        ))),
    }
}

/// A SimpleRNN, LSTM or GRU as one ONNX RNN/LSTM/GRU node, between the Transposes that
/// turn Keras's (batch, time, features) into ONNX's (time, batch, features) and back.
///
/// go_backwards=True is Keras's own definition: the same forward recurrence on the
/// time-reversed input, whose outputs (return_sequences) stay in that reversed order.
/// Not direction="reverse": its Y is aligned with the input steps, so it would need a
/// second reversal, and tract 0.23 ignores the attribute (runs forward; measured
/// 0.26 off on a SimpleRNN), so the export would silently differ in one runtime.
pub(crate) fn recurrent(
    g: &mut GraphBuilder,
    layer: &dyn Layer,
    config: &LayerConfig,
    input: &str,
) -> Result<String> {
    let name = layer.name();
    let cell = cell(name, config)?;
    let weights = rnn_weights::convert(
        name,
        param(layer, "kernel")?,
        param(layer, "recurrent_kernel")?,
        optional_param(layer, "bias"),
        cell.units,
        cell.gates,
    )?;
    let reversed;
    let input = if cell.go_backwards {
        reversed = reverse_time(g, name, input);
        reversed.as_str()
    } else {
        input
    };
    let y = recurrent_node(g, name, &cell, &[weights], input)?;
    Ok(match y {
        RecurrentOut::Sequence(y) => {
            let axes = g.int_tensor(&format!("{name}/axes"), &[1], &[1]);
            let s = g.op("Squeeze", &format!("{name}/Squeeze"), &[&y, &axes], vec![]);
            time_to_batch_first(g, name, &s)
        }
        RecurrentOut::Last(y_h) => {
            let axes = g.int_tensor(&format!("{name}/axes"), &[1], &[0]);
            g.op(
                "Squeeze",
                &format!("{name}/Squeeze"),
                &[&y_h, &axes],
                vec![],
            )
        }
    })
}

/// Keras's Bidirectional: one ONNX node with direction="bidirectional" (forward copy
/// first, then the backward one, whose per-step outputs ONNX already aligns with the
/// input steps as Keras does), then the merge.
pub(crate) fn bidirectional(
    g: &mut GraphBuilder,
    layer: &dyn Layer,
    inner: &LayerConfig,
    merge_mode: MergeMode,
    input: &str,
) -> Result<String> {
    let name = layer.name();
    let cell = cell(name, inner)?;
    if cell.go_backwards {
        // The layer itself refuses this (Keras needs the two copies to differ).
        return Err(Error::Unsupported(format!(
            "ONNX export: layer `{name}` (Bidirectional) wraps a layer with \
             go_backwards=True, which the ONNX exporter does not implement"
        )));
    }
    let mut directions = Vec::with_capacity(2);
    for side in ["forward_", "backward_"] {
        let find = |p: &str| {
            layer
                .params()
                .into_iter()
                .find(|q| q.name.starts_with(side) && q.name.ends_with(&format!("/{p}")))
                .map(|q| &q.value)
        };
        let missing = |p: &str| {
            Error::State(format!(
                "ONNX export: layer `{name}` has no {side}.../{p} weight"
            ))
        };
        directions.push(rnn_weights::convert(
            name,
            find("kernel").ok_or_else(|| missing("kernel"))?,
            find("recurrent_kernel").ok_or_else(|| missing("recurrent_kernel"))?,
            find("bias"),
            cell.units,
            cell.gates,
        )?);
    }
    let out = recurrent_node(g, name, &cell, &directions, input)?;
    // ONNX Y is (time, 2, batch, units), Y_h (2, batch, units): direction axis 1 or 0.
    let (y, dir_axis) = match &out {
        RecurrentOut::Sequence(y) => (y.as_str(), 1),
        RecurrentOut::Last(y_h) => (y_h.as_str(), 0),
    };
    if merge_mode == MergeMode::Concat {
        // Directions next to the units axis, then flattened: [forward units, backward
        // units], Keras's concatenation order.
        let (perm, shape): (&[i64], &[i64]) = if dir_axis == 1 {
            (&[2, 0, 1, 3], &[0, 0, -1])
        } else {
            (&[1, 0, 2], &[0, -1])
        };
        let t = g.op(
            "Transpose",
            &format!("{name}/Transpose"),
            &[y],
            vec![attr_ints("perm", perm)],
        );
        let s = g.int_tensor(&format!("{name}/concat_shape"), &[shape.len()], shape);
        return Ok(g.op("Reshape", &format!("{name}/Reshape"), &[&t, &s], vec![]));
    }
    let pick = |g: &mut GraphBuilder, index: i64, what: &str| {
        let i = g.int_tensor(&format!("{name}/{what}_index"), &[], &[index]);
        g.op(
            "Gather",
            &format!("{name}/{what}"),
            &[y, &i],
            vec![attr_int("axis", dir_axis)],
        )
    };
    let fwd = pick(g, 0, "forward");
    let bwd = pick(g, 1, "backward");
    let merged = match merge_mode {
        MergeMode::Sum => g.op("Add", &format!("{name}/sum"), &[&fwd, &bwd], vec![]),
        MergeMode::Mul => g.op("Mul", &format!("{name}/mul"), &[&fwd, &bwd], vec![]),
        MergeMode::Ave => {
            // (a + b) * 0.5, in the same order of operations as the layer itself.
            let s = g.op("Add", &format!("{name}/sum"), &[&fwd, &bwd], vec![]);
            let half = g.float_tensor(&format!("{name}/half"), &[], &[0.5]);
            g.op("Mul", &format!("{name}/ave"), &[&s, &half], vec![])
        }
        MergeMode::Concat => unreachable!("handled above"),
    };
    Ok(if dir_axis == 1 {
        time_to_batch_first(g, name, &merged)
    } else {
        merged
    })
}

enum RecurrentOut {
    /// Y: (time, directions, batch, units).
    Sequence(String),
    /// Y_h: (directions, batch, units).
    Last(String),
}

fn recurrent_node(
    g: &mut GraphBuilder,
    name: &str,
    cell: &Cell,
    directions: &[rnn_weights::OnnxRnnWeights],
    input: &str,
) -> Result<RecurrentOut> {
    let d = directions.len();
    let (gates, u) = (cell.gates.len(), cell.units);
    let features = directions[0].w.len() / (gates * u).max(1);
    let cat = |f: fn(&rnn_weights::OnnxRnnWeights) -> &Vec<f32>| -> Vec<f32> {
        directions
            .iter()
            .flat_map(|w| f(w).iter().copied())
            .collect()
    };
    let w = g.float_tensor(
        &format!("{name}/W"),
        &[d, gates * u, features],
        &cat(|w| &w.w),
    );
    let r = g.float_tensor(&format!("{name}/R"), &[d, gates * u, u], &cat(|w| &w.r));
    let b = g.float_tensor(&format!("{name}/B"), &[d, 2 * gates * u], &cat(|w| &w.b));
    let x = g.op(
        "Transpose",
        &format!("{name}/Transpose_in"),
        &[input],
        vec![attr_ints("perm", &[1, 0, 2])],
    );
    let activations: Vec<&str> = (0..d).flat_map(|_| cell.activations.clone()).collect();
    let mut attrs = vec![
        attr_int("hidden_size", u as i64),
        attr_string(
            "direction",
            if d == 2 { "bidirectional" } else { "forward" },
        ),
        attr_strings("activations", &activations),
    ];
    if let Some(lbr) = cell.linear_before_reset {
        attrs.push(attr_int("linear_before_reset", i64::from(lbr)));
    }
    let outs = g.node(
        cell.op_type,
        &format!("{name}/{}", cell.op_type),
        &[&x, &w, &r, &b],
        &[&format!("{name}/Y"), &format!("{name}/Y_h")],
        attrs,
    );
    let [y, y_h] = <[String; 2]>::try_from(outs).expect("two outputs");
    Ok(if cell.return_sequences {
        RecurrentOut::Sequence(y)
    } else {
        RecurrentOut::Last(y_h)
    })
}

/// A batch-first (batch, time, features) tensor in reversed time order: Slice with
/// step -1 from the last step to before the first (i64::MIN: ONNX clamps it to -1,
/// exclusive), for any length.
fn reverse_time(g: &mut GraphBuilder, name: &str, x: &str) -> String {
    let starts = g.int_tensor(&format!("{name}/reverse_starts"), &[1], &[-1]);
    let ends = g.int_tensor(&format!("{name}/reverse_ends"), &[1], &[i64::MIN]);
    let axes = g.int_tensor(&format!("{name}/reverse_axes"), &[1], &[1]);
    let steps = g.int_tensor(&format!("{name}/reverse_steps"), &[1], &[-1]);
    g.op(
        "Slice",
        &format!("{name}/Reverse"),
        &[x, &starts, &ends, &axes, &steps],
        vec![],
    )
}

/// (time, batch, units) back to Keras's (batch, time, units).
fn time_to_batch_first(g: &mut GraphBuilder, name: &str, x: &str) -> String {
    g.op(
        "Transpose",
        &format!("{name}/Transpose_out"),
        &[x],
        vec![attr_ints("perm", &[1, 0, 2])],
    )
}

fn optional_param<'a>(layer: &'a dyn Layer, name: &str) -> Option<&'a ArrayD<f32>> {
    layer
        .params()
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| &p.value)
}

fn param<'a>(layer: &'a dyn Layer, name: &str) -> Result<&'a ArrayD<f32>> {
    optional_param(layer, name).ok_or_else(|| missing(layer, name))
}

fn missing(layer: &dyn Layer, name: &str) -> Error {
    Error::State(format!(
        "ONNX export: layer `{}` ({}) has no `{name}` weight (is the model built?)",
        layer.name(),
        layer.class_name()
    ))
}

fn flat(a: &ArrayD<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}
