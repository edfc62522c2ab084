//! One layer at a time into ONNX nodes. Every function takes the name of the tensor
//! holding the layer's input (batch first, as in Keras) and returns the name of the one
//! holding its output, so layers chain as in `Sequential::predict`.

use ndarray::ArrayD;

use super::graph::{GraphBuilder, attr_int, attr_ints, attr_string, attr_strings};
use super::rnn_weights::{self, GRU_GATES, LSTM_GATES, SIMPLE_RNN_GATES};
use crate::error::{Error, Result};
use crate::layers::config::{DenseConfig, EmbeddingConfig};
use crate::layers::{Activation, Layer, LayerConfig, MergeMode};

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
    let name = layer.name();
    let kernel = param(layer, "kernel")?;
    let k = g.float_tensor(&format!("{name}/kernel"), kernel.shape(), &flat(kernel));
    let mut h = g.op("MatMul", &format!("{name}/MatMul"), &[input, &k], vec![]);
    if c.use_bias {
        let bias = param(layer, "bias")?;
        let b = g.float_tensor(&format!("{name}/bias"), bias.shape(), &flat(bias));
        h = g.op("Add", &format!("{name}/Add"), &[&h, &b], vec![]);
    }
    let op = match c.activation {
        Activation::Linear => return Ok(h),
        Activation::Relu => ("Relu", vec![]),
        Activation::Sigmoid => ("Sigmoid", vec![]),
        Activation::Tanh => ("Tanh", vec![]),
        Activation::Softmax => ("Softmax", vec![attr_int("axis", -1)]),
    };
    Ok(g.op(op.0, &format!("{name}/{}", op.0), &[&h], op.1))
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
}

/// The ONNX cell for a SimpleRNN, LSTM or GRU config; refuses what ONNX cannot express.
fn cell(layer: &str, config: &LayerConfig) -> Result<Cell> {
    let go_backwards = match config {
        LayerConfig::SimpleRnn(c) => c.go_backwards,
        LayerConfig::Lstm(c) => c.go_backwards,
        LayerConfig::Gru(c) => c.go_backwards,
        _ => false,
    };
    if go_backwards {
        return Err(Error::Unsupported(format!(
            "ONNX export: layer `{layer}` has go_backwards=True, which the ONNX exporter does \
             not implement"
        )));
    }
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
    optional_param(layer, name).ok_or_else(|| {
        Error::State(format!(
            "ONNX export: layer `{}` ({}) has no `{name}` weight (is the model built?)",
            layer.name(),
            layer.class_name()
        ))
    })
}

fn flat(a: &ArrayD<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}
