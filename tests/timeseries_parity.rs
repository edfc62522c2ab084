//! `timeseries_dataset_from_array` against Keras 3's own windows
//! (tests/fixtures/make_timeseries.py writes tests/fixtures/preprocessing/timeseries.json):
//! every window and target equal, and Keras's refusals refused, naming the same argument.

use ndarray::{Array2, ArrayD, IxDyn, s};
use recurrent::preprocessing::{TimeseriesOptions, timeseries_dataset_from_array};
use serde_json::Value;

/// The fixture's series: row t, feature k holds t + k/10 + sin(0.7 t + k)/7, in f32.
fn series(n: usize, f: usize) -> Array2<f32> {
    Array2::from_shape_fn((n, f), |(t, k)| {
        let (t, k) = (t as f32, k as f32);
        t + k / 10.0 + (t * 0.7 + k).sin() / 7.0
    })
}

fn usize_arg(kw: &Value, key: &str) -> Option<usize> {
    kw.get(key).and_then(Value::as_u64).map(|v| v as usize)
}

#[test]
fn windows_and_targets_equal_keras() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/preprocessing/timeseries.json"
    ))
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 100, "{}", cases.len());
    let (mut max_diff, mut compared, mut refused) = (0f32, 0usize, 0usize);
    for case in cases {
        let n = case["n"].as_u64().unwrap() as usize;
        let f = case["features"].as_u64().unwrap() as usize;
        let kw = &case["kwargs"];
        let seq = usize_arg(kw, "sequence_length").unwrap();
        let data = series(n, f);
        // The series is computed here in f32 with Rust's sin; Keras's numpy sin may
        // differ in the last bit, hence the tolerance below instead of equality.
        let targets: Option<ArrayD<f32>> = match case["targets"].as_str() {
            None => None,
            Some("shifted") => Some(data.slice(s![seq.., 0]).to_owned().into_dyn()),
            Some("shifted_horizon") => {
                Some(data.slice(s![seq + 2.., ..f.min(2)]).to_owned().into_dyn())
            }
            Some("same") => Some(data.slice(s![.., f - 1]).to_owned().into_dyn()),
            Some(other) => panic!("unknown targets {other}"),
        };
        let options = TimeseriesOptions {
            sequence_length: seq,
            sequence_stride: usize_arg(kw, "sequence_stride").unwrap_or(1),
            sampling_rate: usize_arg(kw, "sampling_rate").unwrap_or(1),
            start_index: usize_arg(kw, "start_index"),
            end_index: usize_arg(kw, "end_index"),
        };
        let data = data.into_dyn();
        let got = timeseries_dataset_from_array(
            data.view(),
            targets.as_ref().map(|t| t.view()),
            &options,
        );
        if let Some(arg) = case.get("error_arg").and_then(Value::as_str) {
            let e = got.expect_err(&format!("Keras refused {kw}")).to_string();
            assert!(
                e.contains(&format!("`{arg}`")),
                "{kw}: Keras names {arg}; we say {e}"
            );
            refused += 1;
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{kw}: {e}"));
        let compare = |ours: &ArrayD<f32>, shape: &Value, values: &Value, what: &str| -> f32 {
            let shape: Vec<usize> = shape
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(ours.shape(), &shape[..], "{kw} {what} shape");
            let want: Vec<f32> = values
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let want = ArrayD::from_shape_vec(IxDyn(&shape), want).unwrap();
            ours.iter()
                .zip(want.iter())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max)
        };
        max_diff = max_diff.max(compare(
            &got.inputs,
            &case["inputs_shape"],
            &case["inputs"],
            "inputs",
        ));
        match (&got.targets, case.get("targets_shape")) {
            (Some(t), Some(shape)) => {
                max_diff = max_diff.max(compare(t, shape, &case["target_values"], "targets"))
            }
            (None, None) => {}
            (ours, _) => panic!("{kw}: targets presence differs: ours {:?}", ours.is_some()),
        }
        compared += 1;
    }
    // Row t's values are ~t, so a wrong row is off by at least ~0.5: 1e-5 only
    // allows for the sine's last bits.
    assert!(max_diff < 1e-5, "largest difference from Keras: {max_diff}");
    assert!(
        compared >= 90 && refused >= 8,
        "{compared} compared, {refused} refused"
    );
    println!("{compared} cases equal to Keras (max |diff| {max_diff:e}), {refused} refused alike");
}
