//! `Sequential`: a stack of layers with Keras's naming, building, compile, weights,
//! evaluate and predict. Training (`fit`) lives in `fit.rs`, `summary()` in
//! `summary.rs`.

use std::collections::HashMap;

use ndarray::{ArrayD, ArrayViewD, Axis};

use super::data::{Inputs, Targets};
use crate::callbacks::Logs;
use crate::error::{Error, Result};
use crate::layers::folding::{Folding, folding, folding_mut};
use crate::layers::{ForwardContext, Layer, LayerConfig, LayerInput, Shape, format_shape};
use crate::losses::Loss;
use crate::metrics::{AccuracyKind, Metric};
use crate::optimizers::{Optimizer, OptimizerConfig};
use crate::rng::SeededRng;

/// Seed used when none is given: runs are reproducible by default.
pub const DEFAULT_SEED: u64 = 1337;

/// What `compile` fixed.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) loss: Loss,
    pub(crate) metrics: Vec<Metric>,
    /// Keras's `weighted_metrics`: weighted by the sample/class weights.
    pub(crate) weighted_metrics: Vec<Metric>,
    pub(crate) optimizer: Optimizer,
}

pub struct Sequential {
    pub(crate) name: String,
    pub(crate) layers: Vec<Box<dyn Layer>>,
    /// Input shape (without batch) the model was built for; `None` until built.
    pub(crate) input_shape: Option<Shape>,
    /// Output shape of each layer for `input_shape`.
    pub(crate) output_shapes: Vec<Shape>,
    pub(crate) seed: u64,
    /// Weight initialisation stream.
    pub(crate) init_rng: SeededRng,
    /// Shuffling and dropout stream.
    pub(crate) train_rng: SeededRng,
    pub(crate) compiled: Option<Compiled>,
    /// Keras default names: how many layers of each default name were added.
    name_counts: HashMap<&'static str, usize>,
}

impl std::fmt::Debug for Sequential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequential")
            .field("name", &self.name)
            .field("layers", &self.layers)
            .field("input_shape", &self.input_shape)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Default for Sequential {
    fn default() -> Self {
        Sequential::with_seed(DEFAULT_SEED)
    }
}

impl Sequential {
    pub fn new() -> Self {
        Sequential::default()
    }

    /// A model whose initial weights, shuffling and dropout masks all follow `seed`.
    pub fn with_seed(seed: u64) -> Self {
        let mut master = SeededRng::new(seed);
        Sequential {
            name: "sequential".to_string(),
            layers: Vec::new(),
            input_shape: None,
            output_shapes: Vec::new(),
            seed,
            init_rng: master.fork(),
            train_rng: master.fork(),
            compiled: None,
            name_counts: HashMap::new(),
        }
    }

    /// Reseed: affects weights created after this call and all later training.
    pub fn set_seed(&mut self, seed: u64) {
        let mut master = SeededRng::new(seed);
        self.seed = seed;
        self.init_rng = master.fork();
        self.train_rng = master.fork();
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = name.into();
    }

    /// Builder form of `add_boxed`, for chaining; errors as `add_boxed`.
    pub fn add(&mut self, layer: impl Layer + 'static) -> Result<&mut Self> {
        self.add_boxed(Box::new(layer))
    }

    /// Append a layer. It gets Keras's default name (`lstm`, `lstm_1`, ...) unless it
    /// was given another; names must be unique. A first layer that knows its input
    /// shape builds the model; layers added to a built model are built at once.
    pub fn add_boxed(&mut self, mut layer: Box<dyn Layer>) -> Result<&mut Self> {
        let default = layer.default_name();
        if layer.name() == default {
            let n = self.name_counts.entry(default).or_insert(0);
            let mut name = if *n == 0 {
                default.to_string()
            } else {
                format!("{default}_{n}")
            };
            *n += 1;
            // Skip numbers a user already took by hand.
            while self.layers.iter().any(|l| l.name() == name) {
                name = format!("{default}_{n}");
                *n += 1;
            }
            layer.set_name(name);
        }
        if self.layers.iter().any(|l| l.name() == layer.name()) {
            return Err(Error::invalid_argument(
                format!("model `{}`", self.name),
                "layer name",
                format!(
                    "all layers must have unique names; `{}` is already used",
                    layer.name()
                ),
            ));
        }
        let hint = if self.layers.is_empty() {
            layer.input_shape_hint()
        } else {
            None
        };
        self.layers.push(layer);
        if let Some(shape) = hint {
            if let Err(e) = self.build(&shape) {
                self.layers.pop();
                return Err(e);
            }
        } else if let Some(input) = self.input_shape.clone() {
            self.input_shape = None;
            if let Err(e) = self.build(&input) {
                self.layers.pop();
                self.build(&input)?;
                return Err(e);
            }
        }
        Ok(self)
    }

    /// A model from layer configs (the CLI's TOML and saved models). The first
    /// layer's `input_shape` (or Embedding's `input_length`) builds it right away.
    pub fn from_configs(configs: &[LayerConfig]) -> Result<Self> {
        Sequential::from_configs_with_seed(configs, DEFAULT_SEED)
    }

    pub fn from_configs_with_seed(configs: &[LayerConfig], seed: u64) -> Result<Self> {
        let mut model = Sequential::with_seed(seed);
        for c in configs {
            model.add_boxed(c.to_layer()?)?;
        }
        let first_shape = match configs.first() {
            Some(LayerConfig::Embedding(c)) => c.input_length.map(|n| vec![Some(n)]),
            Some(LayerConfig::SimpleRnn(c)) => c.input_shape.clone(),
            Some(LayerConfig::Lstm(c)) => c.input_shape.clone(),
            Some(LayerConfig::Gru(c)) => c.input_shape.clone(),
            Some(LayerConfig::Dense(c)) => c.input_shape.clone(),
            _ => None,
        };
        if let Some(shape) = first_shape
            && !model.is_built()
        {
            model.build(&shape)?;
        }
        Ok(model)
    }

    pub fn layers(&self) -> &[Box<dyn Layer>] {
        &self.layers
    }

    pub fn layer(&self, name: &str) -> Option<&dyn Layer> {
        self.layers
            .iter()
            .find(|l| l.name() == name)
            .map(|l| l.as_ref())
    }

    pub fn is_built(&self) -> bool {
        self.input_shape.is_some()
    }

    /// Input shape without the batch axis, once built.
    pub fn input_shape(&self) -> Option<&[Option<usize>]> {
        self.input_shape.as_deref()
    }

    /// Output shape without the batch axis, once built.
    pub fn output_shape(&self) -> Option<&[Option<usize>]> {
        self.output_shapes.last().map(Vec::as_slice)
    }

    /// Output shape of every layer for `input_shape` (no batch axis). A layer that
    /// cannot take its predecessor's output is an error naming both.
    pub fn infer_shapes(&self, input_shape: &[Option<usize>]) -> Result<Vec<Shape>> {
        let mut shapes = Vec::with_capacity(self.layers.len());
        let mut current = input_shape.to_vec();
        for (i, layer) in self.layers.iter().enumerate() {
            let out = layer.compute_output_shape(&current).map_err(|e| {
                let from = if i == 0 {
                    "the model input".to_string()
                } else {
                    let p = &self.layers[i - 1];
                    format!("the output of `{}` ({})", p.name(), p.class_name())
                };
                Error::Shape(format!(
                    "layer `{}` ({}) cannot take {from} of shape {}: {e}",
                    layer.name(),
                    layer.class_name(),
                    format_shape(&current)
                ))
            })?;
            shapes.push(out.clone());
            current = out;
        }
        Ok(shapes)
    }

    /// Create every layer's weights for inputs of `input_shape` (without batch),
    /// e.g. `&[None]` or `&[Some(100)]` for token ids, `&[Some(100), Some(8)]` for
    /// float sequences. Layers already built keep their weights.
    pub fn build(&mut self, input_shape: &[Option<usize>]) -> Result<()> {
        if self.layers.is_empty() {
            return Err(Error::State(format!(
                "model `{}` has no layers to build",
                self.name
            )));
        }
        let shapes = self.infer_shapes(input_shape)?;
        // Declared sizes are checked against the parameter budget before any weight
        // is allocated (a config or file claiming a huge layer must not abort).
        let configs: Vec<LayerConfig> = self
            .layers
            .iter()
            .map_while(|l| serde_json::from_value(l.config()).ok())
            .collect();
        crate::budget::check_model_params(&configs, input_shape)?;
        let mut current = input_shape.to_vec();
        for (layer, out) in self.layers.iter_mut().zip(&shapes) {
            if !layer.is_built() {
                layer.build(&current, &mut self.init_rng)?;
            }
            current = out.clone();
        }
        self.input_shape = Some(input_shape.to_vec());
        self.output_shapes = shapes;
        Ok(())
    }

    /// Build from the first data seen (Keras does the same), keeping every axis the
    /// data has so `summary()` shows it.
    pub(crate) fn ensure_built(&mut self, x: &Inputs<'_>) -> Result<()> {
        if !self.is_built() {
            let shape: Shape = x.shape()[1..].iter().map(|&d| Some(d)).collect();
            self.build(&shape)?;
        }
        Ok(())
    }

    /// Check the kind and shape of `x` against the model; returns the model output
    /// shape for it, batch axis included.
    pub(crate) fn check_inputs(&self, x: &Inputs<'_>, what: &str) -> Result<Vec<usize>> {
        let first = self
            .layers
            .first()
            .ok_or_else(|| Error::State(format!("model `{}` has no layers", self.name)))?;
        let wants_ids = first.class_name() == "Embedding";
        if wants_ids != matches!(x, Inputs::Ids(_)) {
            let want = if wants_ids {
                "integer token ids (Array2<i32>)"
            } else {
                "floats (Array2<f32> or Array3<f32>)"
            };
            return Err(Error::Data(format!(
                "{what}: layer `{}` ({}) takes {want}, but received {}",
                first.name(),
                first.class_name(),
                x.kind()
            )));
        }
        let data = &x.shape()[1..];
        // A shape the first layer declares (`input_shape`) is a promise Keras holds
        // the data to: `input_shape = [20, 1]` fed 30-step windows raises in Keras's
        // fit, and training anyway would save a model that refuses its own data.
        if let Some(declared) = first.input_shape_hint() {
            let fits = declared.len() == data.len()
                && declared
                    .iter()
                    .zip(data)
                    .all(|(d, &n)| d.is_none_or(|d| d == n));
            if !fits {
                return Err(Error::Shape(format!(
                    "{what} has shape {} but layer `{}` ({}) declares input_shape = [{}], \
                     i.e. inputs of shape {}; make the layer's input_shape match the data",
                    format_shape(&data.iter().map(|&d| Some(d)).collect::<Shape>()),
                    first.name(),
                    first.class_name(),
                    declared
                        .iter()
                        .map(|d| d.map_or("None".to_string(), |d| d.to_string()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    format_shape(&declared)
                )));
            }
        }
        let built = self.input_shape.as_deref().unwrap_or(&[]);
        let last_ok = match (built.last(), data.last()) {
            (Some(Some(b)), Some(d)) => b == d,
            _ => true,
        };
        if built.len() != data.len() || !last_ok {
            return Err(Error::Shape(format!(
                "{what} has shape {:?} (samples first) but model `{}` expects inputs of shape {}",
                x.shape(),
                self.name,
                format_shape(built)
            )));
        }
        x.check_finite(what)?;
        if let Inputs::Ids(ids) = x {
            // Checked here for the whole dataset, so the sample index is the user's
            // (inside `fit` batches are shuffled).
            let vocab = first.config()["input_dim"].as_u64().unwrap_or(u64::MAX);
            if let Some(((sample, step), id)) =
                crate::layers::embedding::first_bad_id(ids.view(), vocab)
            {
                return Err(Error::Data(format!(
                    "{what}: token id {id} at sample {sample}, time step {step} is outside \
                     [0, {vocab}) (layer `{}` has input_dim = {vocab})",
                    first.name()
                )));
            }
        }
        let shape: Shape = data.iter().map(|&d| Some(d)).collect();
        let out = self.infer_shapes(&shape)?;
        let mut full = vec![x.len()];
        full.extend(
            out.last()
                .expect("model has layers")
                .iter()
                .map(|d| d.unwrap_or(0)),
        );
        Ok(full)
    }

    /// Fix the optimizer, loss and metrics for `fit` and `evaluate` (Keras
    /// `model.compile`). Compiling again starts a fresh optimizer.
    pub fn compile(
        &mut self,
        optimizer: impl Into<OptimizerConfig>,
        loss: Loss,
        metrics: &[Metric],
    ) -> Result<()> {
        self.compile_with_weighted_metrics(optimizer, loss, metrics, &[])
    }

    /// `compile` with Keras's `weighted_metrics`: metrics that apply `fit`'s
    /// `sample_weight`/`class_weight` and `evaluate_weighted`'s weights (the `metrics`
    /// ignore them, as in Keras), logged under Keras's names (`weighted_<name>` when
    /// a metric has the name).
    pub fn compile_with_weighted_metrics(
        &mut self,
        optimizer: impl Into<OptimizerConfig>,
        loss: Loss,
        metrics: &[Metric],
        weighted_metrics: &[Metric],
    ) -> Result<()> {
        let optimizer = Optimizer::new(optimizer.into())?;
        // A softmax over one unit is the constant 1.0: the model cannot learn anything
        // (Keras accepts it and trains to a constant). Refused, with the fix.
        if let Some(last) = self.layers.last() {
            let c = last.config();
            if c["activation"] == "softmax" && c["units"] == 1 {
                return Err(Error::invalid_argument(
                    format!("layer `{}`", last.name()),
                    "activation",
                    format!(
                        "softmax over 1 unit always outputs 1.0; for two classes with {} use \
                         activation = \"sigmoid\" (or 2 units with \
                         sparse_categorical_crossentropy)",
                        loss.name()
                    ),
                ));
            }
        }
        let metrics = crate::metrics::unique_names(metrics);
        let weighted_metrics = crate::metrics::weighted_names(&metrics, weighted_metrics);
        self.compiled = Some(Compiled {
            loss,
            metrics,
            weighted_metrics,
            optimizer,
        });
        Ok(())
    }

    pub fn is_compiled(&self) -> bool {
        self.compiled.is_some()
    }

    pub fn loss(&self) -> Option<Loss> {
        self.compiled.as_ref().map(|c| c.loss)
    }

    pub fn metrics(&self) -> &[Metric] {
        self.compiled.as_ref().map_or(&[], |c| &c.metrics)
    }

    /// The `weighted_metrics` given to `compile_with_weighted_metrics`, as logged.
    pub fn weighted_metrics(&self) -> &[Metric] {
        self.compiled.as_ref().map_or(&[], |c| &c.weighted_metrics)
    }

    pub fn optimizer(&self) -> Option<&Optimizer> {
        self.compiled.as_ref().map(|c| &c.optimizer)
    }

    pub fn optimizer_mut(&mut self) -> Option<&mut Optimizer> {
        self.compiled.as_mut().map(|c| &mut c.optimizer)
    }

    /// Number of weights of all built layers.
    pub fn count_params(&self) -> usize {
        self.layers.iter().map(|l| l.param_count()).sum()
    }

    /// Every weight as (`layer_name/param_name`, array), in layer order.
    pub fn get_weights(&self) -> Vec<(String, ArrayD<f32>)> {
        self.layers
            .iter()
            .flat_map(|l| {
                l.params()
                    .into_iter()
                    .map(|p| (format!("{}/{}", l.name(), p.name), p.value.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Names and shapes of all weights, in `get_weights` order.
    pub fn weight_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.layers
            .iter()
            .flat_map(|l| {
                l.params()
                    .into_iter()
                    .map(|p| (format!("{}/{}", l.name(), p.name), p.value.shape().to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Replace all weights with named arrays as `get_weights` returns them (any
    /// order). Every weight must be given once with its exact shape and finite
    /// values; otherwise nothing changes.
    pub fn set_weights(&mut self, weights: &[(String, ArrayD<f32>)]) -> Result<()> {
        if !self.is_built() {
            return Err(Error::State(format!(
                "model `{}` is not built; build it (or fit it) before set_weights",
                self.name
            )));
        }
        let expected = self.weight_shapes();
        let mut given: HashMap<&str, &ArrayD<f32>> = HashMap::new();
        for (name, a) in weights {
            if given.insert(name.as_str(), a).is_some() {
                return Err(Error::Data(format!("weight `{name}` is given twice")));
            }
        }
        for (name, shape) in &expected {
            let a = given.get(name.as_str()).ok_or_else(|| {
                Error::Data(format!("weight `{name}` (shape {shape:?}) is missing"))
            })?;
            if a.shape() != shape.as_slice() {
                return Err(Error::Shape(format!(
                    "weight `{name}` has shape {:?}, the model needs {shape:?}",
                    a.shape()
                )));
            }
            if let Some(v) = a.iter().find(|v| !v.is_finite()) {
                return Err(Error::Data(format!("weight `{name}` contains {v}")));
            }
        }
        if given.len() != expected.len() {
            let unknown = given
                .keys()
                .find(|k| !expected.iter().any(|(n, _)| n == *k))
                .expect("more names given than expected");
            return Err(Error::Data(format!(
                "weight `{unknown}` does not exist in model `{}`",
                self.name
            )));
        }
        for layer in self.layers.iter_mut() {
            let lname = layer.name().to_string();
            for p in layer.params_mut() {
                let a = given[format!("{lname}/{}", p.name).as_str()];
                p.value = a.as_standard_layout().into_owned();
            }
        }
        Ok(())
    }

    /// The configs of all layers (Keras-like JSON), for saving.
    pub fn layer_configs(&self) -> Vec<serde_json::Value> {
        self.layers.iter().map(|l| l.config()).collect()
    }

    /// Forward one batch through all layers, passing Keras masks along: for each layer,
    /// `next = compute_mask(input, mask)`, then `forward` with the input's mask (and,
    /// after an Embedding in training, its token ids) in the `ForwardContext`
    /// (Embedding(mask_zero=True) starts a mask, recurrent layers consume it).
    /// Returns the output and the mask it carries (Some only for sequence outputs).
    pub(crate) fn forward_masked(
        &mut self,
        x: LayerInput<'_>,
        training: bool,
        rng: &mut SeededRng,
    ) -> Result<MaskedOutput> {
        let (mut h, mut mask, done) = match self.forward_folded(&x, training)? {
            Some((h, mask)) => (h, mask, 2),
            None => {
                let first = &mut self.layers[0];
                let mask = first.compute_mask(&x, None);
                let mut ctx = ForwardContext::new(training, &mut *rng);
                (first.forward(x, &mut ctx)?, mask, 1)
            }
        };
        for i in done..self.layers.len() {
            let (before, rest) = self.layers.split_at_mut(i);
            let layer = &mut rest[0];
            // Each layer learns which token each of its input rows was looked up from,
            // when the layer before it knows (an Embedding, in training): borrowed from
            // that layer, not copied.
            let tokens = match training {
                true => folding(&*before[i - 1]).and_then(|l| l.last_token_ids()),
                false => None,
            };
            let input = LayerInput::Floats(h.view());
            let next = layer.compute_mask(&input, mask.as_ref());
            let mut ctx = ForwardContext::new(training, &mut *rng)
                .with_mask(mask.as_ref())
                .with_tokens(tokens);
            let out = layer.forward(input, &mut ctx)?;
            mask = next;
            h = out;
        }
        Ok((h, mask))
    }

    /// At inference, an Embedding followed by a layer that folds it (a recurrent layer,
    /// see `layers::token_projection`) runs as one step on the token ids: the
    /// embedding's checks and mask, then the next layer's `infer_tokens`. Returns that
    /// layer's output and mask, or None where the pair does not fold.
    fn forward_folded(
        &mut self,
        x: &LayerInput<'_>,
        training: bool,
    ) -> Result<Option<MaskedOutput>> {
        let (LayerInput::Ids(ids), false, [embedding, next, ..]) =
            (x, training, &mut self.layers[..])
        else {
            return Ok(None);
        };
        let Some((table, dim)) = folding(&**embedding).and_then(|e| e.embedding_table()) else {
            return Ok(None);
        };
        let vocab = table.len() / dim.max(1);
        let folds = |l: &dyn Folding| l.folds_embedding(vocab, dim);
        if dim == 0 || !folding(&**next).is_some_and(folds) {
            return Ok(None);
        }
        let mut token_ids = Vec::with_capacity(ids.len());
        crate::layers::embedding::token_ids(embedding.name(), ids.view(), vocab, &mut token_ids)?;
        let mask = embedding.compute_mask(x, None);
        let next_mask = next.compute_mask(x, mask.as_ref());
        let (batch, steps) = ids.dim();
        let tokens = crate::layers::token_projection::TokenInput {
            ids: &token_ids,
            batch,
            steps,
            embeddings: table,
            dim,
        };
        let Some(next) = folding_mut(&mut **next) else {
            return Ok(None);
        };
        Ok(Some((next.infer_tokens(tokens, mask.as_ref())?, next_mask)))
    }

    /// Forward one batch through all layers (see `forward_masked`).
    pub(crate) fn forward(
        &mut self,
        x: LayerInput<'_>,
        training: bool,
        rng: &mut SeededRng,
    ) -> Result<ArrayD<f32>> {
        Ok(self.forward_masked(x, training, rng)?.0)
    }

    /// Forward for a loss: Keras would weight the loss by a mask that reaches the
    /// model output (a sequence output after Embedding(mask_zero=True)); that is not
    /// implemented, so it is refused instead of silently counting padded steps.
    pub(crate) fn forward_for_loss(
        &mut self,
        x: LayerInput<'_>,
        training: bool,
        rng: &mut SeededRng,
    ) -> Result<ArrayD<f32>> {
        let (out, mask) = self.forward_masked(x, training, rng)?;
        if mask.is_some() {
            return Err(Error::Unsupported(
                "the model output carries a mask (Embedding(mask_zero=True) reaching a \
                 per-step output through return_sequences=True); Keras would mask the loss \
                 per step, which is not implemented: end the recurrent stack with \
                 return_sequences=False or drop mask_zero"
                    .to_string(),
            ));
        }
        Ok(out)
    }

    /// The last layer's logits when its activation fuses with `loss` (Keras
    /// `_keras_logits`).
    pub(crate) fn fused_logits(&self, loss: Loss) -> Option<ArrayViewD<'_, f32>> {
        let (act, z) = self.layers.last()?.output_logits()?;
        loss.fuses_with(act).then(|| z.view())
    }

    /// Resets the states of every stateful layer (`stateful=True`): the next batch
    /// starts from zeros. Keras 2's `model.reset_states()`; Keras 3 resets layer by
    /// layer (`layer.reset_state()`), which `Layer::reset_states` does here too.
    pub fn reset_states(&mut self) {
        self.layers.iter_mut().for_each(|l| l.reset_states());
    }

    /// `reset_states` of the layer named `name` (Keras `layer.reset_states()`).
    pub fn reset_layer_states(&mut self, name: &str) -> Result<()> {
        let layer = (self.layers.iter_mut().find(|l| l.name() == name)).ok_or_else(|| {
            Error::invalid_argument(
                format!("model `{}`", self.name),
                "layer",
                format!("no layer is named `{name}`"),
            )
        })?;
        layer.reset_states();
        Ok(())
    }

    /// Model outputs for `x`, computed `batch_size` samples at a time (Keras
    /// `model.predict`; default batch size 32).
    pub fn predict<'a>(
        &mut self,
        x: impl Into<Inputs<'a>>,
        batch_size: Option<usize>,
    ) -> Result<ArrayD<f32>> {
        self.predict_with(x, batch_size, &mut |_| Ok(()))
    }

    /// `predict`, calling `after_batch(batch_index)` after each batch; an error it
    /// returns ends the call with that error (the Python package checks for Ctrl-C
    /// there, as Keras's `on_predict_batch_end` runs between batches).
    pub fn predict_with<'a>(
        &mut self,
        x: impl Into<Inputs<'a>>,
        batch_size: Option<usize>,
        after_batch: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<ArrayD<f32>> {
        let x = x.into();
        let batch_size = check_batch_size(batch_size)?;
        if x.is_empty() {
            return Err(Error::Data("predict: the input has no samples".to_string()));
        }
        self.ensure_built(&x)?;
        self.check_inputs(&x, "predict input")?;
        // Inference draws nothing, but the context needs a generator; a scratch one
        // keeps predict from disturbing the training stream.
        let mut rng = SeededRng::new(0);
        let mut parts = Vec::new();
        for (batch, start) in (0..x.len()).step_by(batch_size).enumerate() {
            let end = (start + batch_size).min(x.len());
            parts.push(self.forward(x.slice(start, end), false, &mut rng)?);
            after_batch(batch)?;
        }
        let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
        ndarray::concatenate(Axis(0), &views)
            .map_err(|e| Error::State(format!("predict: batches do not stack: {e}")))
    }

    /// Loss and metrics on `x`, `y` (Keras `model.evaluate`, default batch size 32):
    /// `{"accuracy": ..., "loss": ...}`. The loss is the batch-size-weighted mean of
    /// the batch losses, as Keras reports it.
    pub fn evaluate<'x, 'y>(
        &mut self,
        x: impl Into<Inputs<'x>>,
        y: impl Into<Targets<'y>>,
        batch_size: Option<usize>,
    ) -> Result<Logs> {
        self.evaluate_with(x, y, batch_size, &mut |_| Ok(()))
    }

    /// `evaluate`, calling `after_batch(batch_index)` after each batch; an error it
    /// returns ends the call with that error (see `predict_with`).
    pub fn evaluate_with<'x, 'y>(
        &mut self,
        x: impl Into<Inputs<'x>>,
        y: impl Into<Targets<'y>>,
        batch_size: Option<usize>,
        after_batch: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<Logs> {
        let batch_size = check_batch_size(batch_size)?;
        let prepared = self.prepare_data(x.into(), y.into(), "evaluate")?;
        self.evaluate_prepared_with(&prepared, batch_size, after_batch)
    }

    /// Check and align a dataset for training or evaluation.
    pub(crate) fn prepare_data<'a>(
        &mut self,
        x: Inputs<'a>,
        y: Targets<'_>,
        what: &str,
    ) -> Result<Prepared<'a>> {
        let compiled = self.compiled.as_ref().ok_or_else(|| {
            Error::State(format!(
                "model `{}` must be compiled (compile(optimizer, loss, metrics)) before {what}",
                self.name
            ))
        })?;
        let loss = compiled.loss;
        if x.len() != y.len() {
            return Err(Error::Data(format!(
                "{what}: x has {} samples but y has {}",
                x.len(),
                y.len()
            )));
        }
        if x.is_empty() {
            return Err(Error::Data(format!("{what}: the dataset has no samples")));
        }
        self.ensure_built(&x)?;
        let out_shape = self.check_inputs(&x, &format!("{what} input"))?;
        let y_shape = y.shape().to_vec();
        let y = loss.align_targets(y.0.into_owned(), &out_shape)?;
        let classes = *out_shape.last().expect("output has a feature axis");
        loss.validate_targets(&y, classes)?;
        let accuracy = AccuracyKind::select(&y_shape, &out_shape);
        Ok(Prepared {
            x,
            y,
            accuracy,
            weights: None,
        })
    }

    pub(crate) fn evaluate_prepared_with(
        &mut self,
        data: &Prepared<'_>,
        batch_size: usize,
        after_batch: &mut dyn FnMut(usize) -> Result<()>,
    ) -> Result<Logs> {
        let (loss_fn, metrics, weighted) = {
            let c = self.compiled.as_ref().expect("checked in prepare_data");
            (c.loss, c.metrics.clone(), c.weighted_metrics.clone())
        };
        let mut weighted_states: Vec<_> = weighted.iter().map(|m| m.state(data.accuracy)).collect();
        let mut rng = SeededRng::new(0);
        let n = data.x.len();
        let mut loss_sum = 0.0f64;
        let mut states: Vec<_> = metrics.iter().map(|m| m.state(data.accuracy)).collect();
        for (batch, start) in (0..n).step_by(batch_size).enumerate() {
            let end = (start + batch_size).min(n);
            let out = self.forward_for_loss(data.x.slice(start, end), false, &mut rng)?;
            let y = data.y.slice_axis(Axis(0), (start..end).into());
            // Rows of a standard-layout array: a contiguous view, no copy.
            let w = data
                .weights
                .as_ref()
                .map(|w| w.slice_axis(Axis(0), (start..end).into()));
            let w = w
                .as_ref()
                .map(|w| w.as_slice().expect("rows of a standard-layout array"));
            let v = match self.fused_logits(loss_fn) {
                Some(z) => loss_fn.value_and_grad_from_logits_weighted(y.view(), z, w)?,
                None => loss_fn.value_and_grad_weighted(y.view(), out.view(), w)?,
            };
            loss_sum += v.loss * (end - start) as f64;
            for s in &mut states {
                s.update(y.view(), out.view())?;
            }
            for s in &mut weighted_states {
                s.update_weighted(y.view(), out.view(), w)?;
            }
            after_batch(batch)?;
        }
        let mut logs = Logs::new();
        logs.insert("loss".to_string(), loss_sum / n as f64);
        for (m, s) in metrics
            .iter()
            .chain(&weighted)
            .zip(states.iter().chain(&weighted_states))
        {
            logs.insert(m.name().to_string(), s.result());
        }
        Ok(logs)
    }
}

/// A checked dataset: inputs, targets aligned to the model output, accuracy kind, and
/// the sample weights (one per loss value, see `fit.rs`), if any.
pub(crate) struct Prepared<'a> {
    pub(crate) x: Inputs<'a>,
    pub(crate) y: ArrayD<f32>,
    pub(crate) accuracy: AccuracyKind,
    pub(crate) weights: Option<ArrayD<f32>>,
}

/// A forward pass's output and the mask it carries.
type MaskedOutput = (ArrayD<f32>, Option<ndarray::Array2<bool>>);

pub(crate) fn check_batch_size(batch_size: Option<usize>) -> Result<usize> {
    match batch_size {
        None => Ok(32),
        Some(0) => Err(Error::invalid_argument(
            "fit/evaluate/predict",
            "batch_size",
            "must be at least 1, got 0",
        )),
        Some(b) => Ok(b),
    }
}
