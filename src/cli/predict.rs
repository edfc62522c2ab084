//! `recurrent predict MODEL [TEXT... | --file F | stdin]`: one prediction per input,
//! as `label<TAB>probability` (or the value for regression), or JSON with `--json`.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use ndarray::{ArrayD, Axis, IxDyn};
use serde::Serialize;

use super::dataset::{InputKind, InputSpec, ModelInput};
use super::import::{KERAS_SOURCE, load_any_model};
use super::inspect::saved_data;
use crate::error::{Error, Result};
use crate::io::LoadedModel;

#[derive(Serialize)]
struct Prediction {
    input: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probability: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<Vec<f32>>,
}

fn read_inputs(inputs: &[String], file: Option<&Path>) -> Result<Vec<String>> {
    if !inputs.is_empty() {
        if file.is_some() {
            return Err(Error::invalid_argument(
                "predict",
                "--file",
                "give inputs as arguments or with --file, not both",
            ));
        }
        return Ok(inputs.to_vec());
    }
    let lines: Vec<String> = match file {
        Some(f) => crate::io::read_text_input(f, crate::budget::max_bytes()?)?
            .lines()
            .map(str::to_string)
            .collect(),
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(Error::invalid_argument(
                    "predict",
                    "INPUTS",
                    "no input: give TEXT arguments, --file F, or pipe lines on stdin",
                ));
            }
            stdin
                .lock()
                .lines()
                .collect::<std::io::Result<_>>()
                .map_err(|e| Error::io("<stdin>", e))?
        }
    };
    let lines: Vec<String> = lines.into_iter().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return Err(Error::invalid_argument(
            "predict",
            "INPUTS",
            "the input has no non-empty lines",
        ));
    }
    Ok(lines)
}

fn parse_numbers<T: std::str::FromStr>(line: &str, i: usize, what: &str) -> Result<Vec<T>> {
    line.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<T>()
                .map_err(|_| Error::Data(format!("input {}: `{t}` is not {what}", i + 1)))
        })
        .collect()
}

pub fn predict(
    model_path: &Path,
    inputs: &[String],
    file: Option<&Path>,
    json: bool,
) -> Result<()> {
    let loaded = load_any_model(model_path)?;
    let spec = input_spec(&loaded, model_path)?;
    if spec.kind == InputKind::Floats
        && inputs.is_empty()
        && let Some(f) = file
        && let Some((x, lines)) = numeric_file(f, &spec, model_path)?
    {
        return run_and_print(loaded.model, &x, &lines, &spec, json);
    }
    let lines = read_inputs(inputs, file)?;
    let x = match spec.kind {
        InputKind::Text => {
            let v = loaded.extras.vectorizer.as_ref().ok_or_else(|| {
                Error::format(
                    model_path,
                    "the model was trained on text but has no saved vectorizer",
                )
            })?;
            spec.encode_texts(v, &lines)?
        }
        InputKind::Ids => {
            let keras = loaded.metadata.get(KERAS_SOURCE);
            spec.encode_ids(&parse_ids(&lines, keras, model_path)?)?
        }
        InputKind::Floats => {
            let shape = loaded.model.input_shape().unwrap_or(&[]).to_vec();
            parse_windows(&lines, &shape, model_path)?
        }
    };
    run_and_print(loaded.model, &x, &lines, &spec, json)
}

/// A numeric data file given to a float model: a time-series CSV (cut and scaled as
/// the model's training data was) or an `.npz` (its `x_test` array, or its only
/// array). `None` for other files, which are read as one input per line.
fn numeric_file(
    file: &Path,
    spec: &InputSpec,
    model_path: &Path,
) -> Result<Option<(ModelInput, Vec<String>)>> {
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match (ext.as_deref(), &spec.series) {
        (Some("csv"), Some(series)) => {
            let table = crate::datasets::read_numeric_csv(file, Some(&series.feature_columns))?;
            let (x, last_rows) = series.predict_windows(&table)?;
            let lines = last_rows
                .iter()
                .map(|r| format!("window ending at data row {r}"))
                .collect();
            Ok(Some((x, lines)))
        }
        (Some("npz"), _) => {
            let mut npz = crate::datasets::Npz::open_numeric(file)?;
            let key = spec.npz_keys.clone().unwrap_or_default().x_test;
            let only = {
                let keys: Vec<&str> = npz.keys().collect();
                (keys.len() == 1).then(|| keys[0].to_string())
            };
            let key = if npz.get(&key).is_some() {
                key
            } else {
                only.unwrap_or(key)
            };
            let a = npz.take(&key)?;
            let x = super::dataset::npz_float_inputs(&npz, &key, a)?;
            let lines = (0..x.shape()[0]).map(|i| format!("{key}[{i}]")).collect();
            Ok(Some((ModelInput::Floats(x), lines)))
        }
        (Some("csv"), None) => Err(Error::invalid_argument(
            "predict",
            "--file",
            format!(
                "{} was not trained on a time-series CSV, so it cannot cut {} into windows; \
                 give one input per line",
                model_path.display(),
                file.display()
            ),
        )),
        _ => Ok(None),
    }
}

/// Predicts `x` and prints one result per input (or JSON).
fn run_and_print(
    mut model: crate::model::Sequential,
    x: &ModelInput,
    lines: &[String],
    spec: &InputSpec,
    json: bool,
) -> Result<()> {
    let mut preds = predictions(
        &model.predict(x.as_inputs(), None)?,
        lines,
        spec,
        model.loss(),
    )?;
    // A standardised target comes back in its own units.
    if let Some(series) = &spec.series {
        for p in &mut preds {
            if let Some(v) = &mut p.value {
                v.iter_mut().for_each(|x| *x = series.unscale(*x));
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&preds).map_err(|e| Error::State(e.to_string()))?
        );
        return Ok(());
    }
    for p in &preds {
        match (&p.label, p.probability, &p.value) {
            (Some(l), Some(pr), _) => println!("{l}\t{pr:.4}"),
            (_, _, Some(v)) => println!(
                "{}{}",
                // Series windows say which rows they end at.
                if spec.series.is_some() {
                    format!("{}\t", p.input)
                } else {
                    String::new()
                },
                v.iter()
                    .map(|x| format!("{x:.6}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            _ => println!("?"),
        }
    }
    Ok(())
}

/// How the model's input is made: as saved with it by `recurrent train`, else
/// guessed. A model saved from the library (or a Keras file) carries no data
/// settings: a saved vectorizer means it reads raw text, an Embedding first token
/// ids, anything else float sequences.
fn input_spec(loaded: &LoadedModel, model_path: &Path) -> Result<InputSpec> {
    let starts_with_embedding = loaded
        .model
        .layers()
        .first()
        .is_some_and(|l| l.class_name() == "Embedding");
    let default_kind = if loaded.extras.vectorizer.is_some() {
        InputKind::Text
    } else if starts_with_embedding {
        InputKind::Ids
    } else {
        InputKind::Floats
    };
    Ok(saved_data(loaded, model_path)?.1.unwrap_or(InputSpec {
        source: crate::config::DataSource::Npz,
        kind: default_kind,
        maxlen: loaded
            .model
            .input_shape()
            .and_then(|s| s.first().copied().flatten()),
        num_words: None,
        one_hot: false,
        padding: "pre".into(),
        truncating: "pre".into(),
        class_names: None,
        series: None,
        npz_keys: None,
    }))
}

/// One token-id sequence per line. `keras` is the Keras file type the model came
/// from, if it did (its error says why raw text is not accepted).
fn parse_ids(lines: &[String], keras: Option<&String>, model_path: &Path) -> Result<Vec<Vec<i32>>> {
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| parse_numbers(l, i, "a token id"))
        .collect::<Result<_>>()
        .map_err(|e| match (keras, e) {
            // Raw text needs the vocabulary, which Keras model files do not hold.
            (Some(source), Error::Data(e)) => Error::Data(format!(
                "{e}; {} is a {source} without a text vectorizer, so it takes \
                 token ids (integers separated by spaces or commas), not raw text",
                model_path.display()
            )),
            (_, e) => e,
        })
}

/// One float window per line, for a model whose input `shape` is (steps, features).
fn parse_windows(
    lines: &[String],
    shape: &[Option<usize>],
    model_path: &Path,
) -> Result<ModelInput> {
    let (fixed_steps, feats) = match shape {
        [t, Some(f)] => (*t, *f),
        _ => {
            return Err(Error::format(
                model_path,
                "series model without a fixed number of features per step",
            ));
        }
    };
    let mut data = Vec::new();
    let mut steps = fixed_steps.unwrap_or(0);
    for (i, l) in lines.iter().enumerate() {
        let v: Vec<f32> = parse_numbers(l, i, "a number")?;
        // Any number of steps (Keras `shape=(None, f)`): all inputs alike.
        if fixed_steps.is_none() && i == 0 && feats > 0 && v.len().is_multiple_of(feats) {
            steps = v.len() / feats;
        }
        if v.len() != steps * feats || steps == 0 {
            let takes = match fixed_steps {
                Some(_) => format!("windows of {steps} steps x {feats} features"),
                None if steps == 0 => {
                    format!("steps of {feats} features (a non-empty multiple of {feats} values)")
                }
                None => {
                    format!("steps of {feats} features, and the first input has {steps} steps")
                }
            };
            return Err(Error::Data(format!(
                "input {}: {} values, the model takes {takes}",
                i + 1,
                v.len()
            )));
        }
        data.extend(v);
    }
    Ok(ModelInput::Floats(
        ArrayD::from_shape_vec(IxDyn(&[lines.len(), steps, feats]), data)
            .map_err(|e| Error::Shape(e.to_string()))?,
    ))
}

fn predictions(
    out: &ArrayD<f32>,
    lines: &[String],
    spec: &InputSpec,
    loss: Option<crate::losses::Loss>,
) -> Result<Vec<Prediction>> {
    use crate::losses::Loss;
    let n = lines.len();
    let rows = out
        .view()
        .into_shape_with_order((n, out.len() / n.max(1)))
        .map_err(|e| Error::Shape(e.to_string()))?;
    let name = |c: usize| {
        spec.class_names
            .as_ref()
            .and_then(|names| names.get(c).cloned())
            .unwrap_or_else(|| c.to_string())
    };
    let regression = matches!(loss, Some(Loss::MeanSquaredError | Loss::MeanAbsoluteError));
    Ok(rows
        .axis_iter(Axis(0))
        .zip(lines)
        .map(|(row, input)| {
            let mut p = Prediction {
                input: input.clone(),
                label: None,
                class: None,
                probability: None,
                value: None,
            };
            if regression {
                p.value = Some(row.to_vec());
            } else if row.len() == 1 {
                // Sigmoid output: the probability of class 1.
                let prob = row[0];
                let c = usize::from(prob >= 0.5);
                p.class = Some(c);
                p.label = Some(name(c));
                p.probability = Some(if c == 1 { prob } else { 1.0 - prob });
            } else {
                let (c, prob) =
                    row.iter()
                        .enumerate()
                        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                            if v > best.1 { (i, v) } else { best }
                        });
                p.class = Some(c);
                p.label = Some(name(c));
                p.probability = Some(prob);
            }
            p
        })
        .collect())
}
