//! Export a `Sequential` model to ONNX (opset 17, IR version 8) for inference
//! elsewhere (onnxruntime, tract, ...). The exported graph computes what
//! `Sequential::predict` computes; whatever cannot be written exactly is refused with an
//! error naming the layer and the argument, never exported approximately.
//!
//! Mapping (inputs and outputs batch first, as in Keras):
//! - model input: `input_ids` int64 (batch, time_steps) when the first layer is an
//!   Embedding, else `input` float32 (batch, ...) with the model's input shape; unknown
//!   lengths are the symbolic dims `batch` and `time_steps`. Output: `output` float32.
//! - Embedding -> Gather; Dense -> MatMul (+ Add) + Relu/Sigmoid/Tanh/Softmax(axis -1);
//!   Dropout -> nothing; GlobalAverage/MaxPooling1D -> ReduceMean/ReduceMax over axis 1.
//! - SimpleRNN, LSTM, GRU -> ONNX RNN, LSTM, GRU between Transposes (ONNX recurrences are
//!   time first), weights transposed and put in ONNX gate order (LSTM i, o, f, c), the
//!   Keras bias as Wb and zeros as Rb (GRU reset_after=True: its two bias rows, with
//!   linear_before_reset=1). Y_h (last state) or Y (return_sequences) is taken.
//!   go_backwards=True -> the input reversed in time (Slice, step -1) before a forward
//!   node, as Keras defines it (a sequence output stays in the reversed order).
//! - Bidirectional -> one node with direction="bidirectional" and the merge (concat,
//!   sum, mul, ave) on its two directions.
//! - Conv1D -> Conv (+ bias as its B) and MaxPooling1D -> MaxPool, each between
//!   Transposes (ONNX is channels first); kernel (kernel_size, in, filters) as W
//!   (filters, in, kernel_size); Keras's padding as explicit `pads` (valid none, causal
//!   all on the left, same as TensorFlow: the odd extra step on the right), except
//!   padding="same" with strides > 1 on an input of unknown length, whose pads depend
//!   on the length: auto_pad="SAME_UPPER", ONNX's name for that same rule.
//! - TimeDistributed(Dense) -> the Dense's MatMul (+ Add) on the 3-D tensor (MatMul
//!   maps the last axis of each step); TimeDistributed(Dropout) -> nothing.
//!
//! Refused: Embedding(mask_zero=True) followed by a layer that uses the mask (Keras skips
//! masked steps anywhere in a sequence, ONNX's sequence_lens only trims the end), and
//! recurrent activations ONNX has no operator for (`linear`, `softmax`).

mod graph;
mod layers;
pub mod proto;
mod rnn_weights;

use std::path::Path;

use prost::Message;

use self::graph::GraphBuilder;
use self::proto::{
    Dimension, ModelProto, OperatorSetIdProto, TensorShapeProto, TypeProto, TypeProtoTensor,
    ValueInfoProto, data_type,
};
use crate::error::{Error, Result};
use crate::layers::LayerConfig;
use crate::model::Sequential;

/// The ONNX operator set the graph uses (default `ai.onnx` domain).
pub const OPSET_VERSION: i64 = 17;
/// The ONNX IR version matching opset 17 (ONNX 1.12).
pub const IR_VERSION: i64 = 8;
/// Name of the graph input for token-id models (first layer Embedding).
pub const IDS_INPUT: &str = "input_ids";
/// Name of the graph input for float models.
pub const FLOAT_INPUT: &str = "input";
/// Name of the graph output.
pub const OUTPUT: &str = "output";
/// Symbolic dimension names.
pub const BATCH_DIM: &str = "batch";
pub const TIME_DIM: &str = "time_steps";

/// What was exported, for messages.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxSummary {
    /// `input_ids` or `input`.
    pub input_name: String,
    /// `int64` or `float32`.
    pub input_type: &'static str,
    /// Dims with symbolic ones by name, e.g. `["batch", "time_steps"]`.
    pub input_shape: Vec<String>,
    pub output_shape: Vec<String>,
    pub nodes: usize,
    pub opset: i64,
}

/// Export `model` to `path` as ONNX (written atomically). Keras users would call
/// `tf2onnx`; this writes the same operators directly.
pub fn export_onnx(model: &Sequential, path: impl AsRef<Path>) -> Result<OnnxSummary> {
    let path = path.as_ref();
    let proto = to_onnx_model(model)?;
    let summary = summarize(&proto);
    crate::io::write_atomic(path, &proto.encode_to_vec())?;
    Ok(summary)
}

/// The ONNX file's bytes for `model`.
pub fn to_onnx_bytes(model: &Sequential) -> Result<Vec<u8>> {
    Ok(to_onnx_model(model)?.encode_to_vec())
}

/// The ONNX `ModelProto` for `model`.
pub fn to_onnx_model(model: &Sequential) -> Result<ModelProto> {
    let input_shape = model.input_shape().ok_or_else(|| {
        Error::State(format!(
            "ONNX export: model `{}` is not built (no weights yet); build or fit it first",
            model.name()
        ))
    })?;
    let configs = model
        .layers()
        .iter()
        .map(|l| {
            serde_json::from_value::<LayerConfig>(l.config()).map_err(|e| {
                Error::State(format!(
                    "ONNX export: layer `{}` has an unreadable config: {e}",
                    l.name()
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    check_masks(model, &configs)?;
    let ids = matches!(configs.first(), Some(LayerConfig::Embedding(_)));
    let (input_name, elem) = if ids {
        (IDS_INPUT, data_type::INT64)
    } else {
        (FLOAT_INPUT, data_type::FLOAT)
    };
    let shapes = model.infer_shapes(input_shape)?;
    let mut g = GraphBuilder::default();
    let mut h = g.fresh(input_name);
    for (i, (layer, config)) in model.layers().iter().zip(&configs).enumerate() {
        let layer = layer.as_ref();
        // The layer's input length (axis 1 of its input), if known at export time.
        let steps_in = match i {
            0 => input_shape.first().copied().flatten(),
            _ => shapes[i - 1].first().copied().flatten(),
        };
        h = match config {
            LayerConfig::Embedding(c) => layers::embedding(&mut g, layer, c, &h)?,
            LayerConfig::Dense(c) => layers::dense(&mut g, layer, c, &h)?,
            LayerConfig::Dropout(_) => h,
            LayerConfig::SimpleRnn(_) | LayerConfig::Lstm(_) | LayerConfig::Gru(_) => {
                layers::recurrent(&mut g, layer, config, &h)?
            }
            LayerConfig::Bidirectional(c) => {
                layers::bidirectional(&mut g, layer, &c.layer, c.merge_mode, &h)?
            }
            LayerConfig::GlobalAveragePooling1D(c) => {
                layers::global_pooling(&mut g, layer, "ReduceMean", c.keepdims, &h)
            }
            LayerConfig::GlobalMaxPooling1D(c) => {
                layers::global_pooling(&mut g, layer, "ReduceMax", c.keepdims, &h)
            }
            LayerConfig::Conv1D(c) => layers::conv1d(&mut g, layer, c, steps_in, &h)?,
            LayerConfig::MaxPooling1D(c) => layers::max_pooling1d(&mut g, layer, c, steps_in, &h)?,
            LayerConfig::TimeDistributed(c) => {
                layers::time_distributed(&mut g, layer, &c.layer, &h)?
            }
        };
    }
    let output_shape = shapes.last().expect("a built model has layers");
    g.rename_output(&h, OUTPUT);
    let graph = g.finish(
        model.name(),
        vec![value_info(input_name, elem, input_shape)],
        vec![value_info(OUTPUT, data_type::FLOAT, output_shape)],
    );
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET_VERSION),
        }],
        producer_name: Some("recurrent".to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        doc_string: Some(format!(
            "Keras-style Sequential model `{}` exported by recurrent",
            model.name()
        )),
        graph: Some(graph),
    })
}

/// Embedding(mask_zero=True) makes Keras skip every padded step (state carried over,
/// wherever the zeros are); ONNX recurrences can only trim the end of a sequence
/// (sequence_lens) and its pooling has no mask, so a mask that reaches a layer using it
/// cannot be exported exactly. Dense, Dropout and TimeDistributed only pass it on;
/// Conv1D and MaxPooling1D drop it (Keras: they do not support masking), so the layers
/// after them see no mask and the export is exact.
fn check_masks(model: &Sequential, configs: &[LayerConfig]) -> Result<()> {
    let Some(LayerConfig::Embedding(e)) = configs.first() else {
        return Ok(());
    };
    if !e.mask_zero {
        return Ok(());
    }
    let user = model.layers().iter().zip(configs).skip(1).find(|(_, c)| {
        !matches!(
            c,
            LayerConfig::Dense(_) | LayerConfig::Dropout(_) | LayerConfig::TimeDistributed(_)
        )
    });
    match user {
        None | Some((_, LayerConfig::Conv1D(_) | LayerConfig::MaxPooling1D(_))) => Ok(()),
        Some((l, _)) => Err(Error::Unsupported(format!(
            "ONNX export: layer `{}` (Embedding) has mask_zero=True and layer `{}` ({}) uses \
             that mask: Keras skips each padded step wherever it is, which ONNX cannot \
             express exactly (its sequence_lens only trims padding at the end of a sequence); \
             export a model trained with mask_zero=False",
            model.layers()[0].name(),
            l.name(),
            l.class_name()
        ))),
    }
}

/// A tensor type with the batch axis first; unknown sizes get symbolic names.
fn value_info(name: &str, elem_type: i32, shape: &[Option<usize>]) -> ValueInfoProto {
    let dims = std::iter::once(Dimension {
        dim_value: None,
        dim_param: Some(BATCH_DIM.to_string()),
    })
    .chain(shape.iter().map(|d| match d {
        Some(n) => Dimension {
            dim_value: Some(*n as i64),
            dim_param: None,
        },
        // Only the time axis can be unknown in these models.
        None => Dimension {
            dim_value: None,
            dim_param: Some(TIME_DIM.to_string()),
        },
    }))
    .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(elem_type),
                shape: Some(TensorShapeProto { dim: dims }),
            }),
        }),
    }
}

fn summarize(m: &ModelProto) -> OnnxSummary {
    let graph = m.graph.as_ref().expect("exported models have a graph");
    let dims = |v: &ValueInfoProto| -> Vec<String> {
        v.r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .and_then(|t| t.shape.as_ref())
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match (&d.dim_value, &d.dim_param) {
                        (Some(n), _) => n.to_string(),
                        (None, Some(p)) => p.clone(),
                        (None, None) => "?".to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let input = &graph.input[0];
    let input_type = match input
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.elem_type)
    {
        Some(data_type::INT64) => "int64",
        _ => "float32",
    };
    OnnxSummary {
        input_name: input.name.clone().unwrap_or_default(),
        input_type,
        input_shape: dims(input),
        output_shape: dims(&graph.output[0]),
        nodes: graph.node.len(),
        opset: OPSET_VERSION,
    }
}
