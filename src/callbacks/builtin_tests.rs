//! Tests of the built-in callbacks, driven with hand-made logs.

use ndarray::ArrayD;

use super::*;
use crate::layers::LayerConfig;
use crate::losses::Loss;
use crate::optimizers::OptimizerConfig;

fn model() -> Sequential {
    let layers: Vec<LayerConfig> =
        serde_json::from_str(r#"[{"type": "dense", "units": 2, "input_shape": [3]}]"#).unwrap();
    let mut m = Sequential::from_configs_with_seed(&layers, 1).unwrap();
    if !m.is_built() {
        m.build(&[Some(3)]).unwrap();
    }
    m.compile(
        "sgd".parse::<OptimizerConfig>().unwrap(),
        Loss::MeanSquaredError,
        &[],
    )
    .unwrap();
    m
}

/// Mark the model's weights with `v` so a restore can be recognised.
fn stamp(m: &mut Sequential, v: f32) {
    let w: Vec<(String, ArrayD<f32>)> = m
        .get_weights()
        .into_iter()
        .map(|(n, a)| (n, ArrayD::from_elem(a.raw_dim(), v)))
        .collect();
    m.set_weights(&w).unwrap();
}

fn logs(pairs: &[(&str, f64)]) -> Logs {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn early_stopping_patience_and_restore() {
    let mut m = model();
    let mut es = EarlyStopping::new().patience(2).restore_best_weights(true);
    es.on_train_begin(&mut m).unwrap();
    let vals = [1.0, 0.9, 0.95, 0.97, 0.5];
    let mut stopped = None;
    for (epoch, v) in vals.iter().enumerate() {
        stamp(&mut m, epoch as f32);
        if es
            .on_epoch_end(epoch, &logs(&[("val_loss", *v)]), &mut m)
            .unwrap()
            == Control::Stop
        {
            stopped = Some(epoch);
            break;
        }
    }
    assert_eq!(stopped, Some(3));
    es.on_train_end(&Logs::new(), &mut m).unwrap();
    // Epoch 1 (val_loss 0.9) was best: its weights are back.
    assert!(
        m.get_weights()
            .iter()
            .all(|(_, a)| a.iter().all(|&x| x == 1.0))
    );
    assert_eq!(es.best(), Some((0.9, 1)));
}

#[test]
fn early_stopping_min_delta_and_start_epoch() {
    let mut m = model();
    let mut es = EarlyStopping::new()
        .monitor("val_accuracy")
        .patience(1)
        .min_delta(0.05)
        .start_from_epoch(1);
    es.on_train_begin(&mut m).unwrap();
    // Epoch 0 ignored; 0.60 sets best; 0.62 is not better by 0.05 -> stop.
    let seq = [0.1, 0.60, 0.62];
    let mut control = Control::Continue;
    for (e, v) in seq.iter().enumerate() {
        control = es
            .on_epoch_end(e, &logs(&[("val_accuracy", *v)]), &mut m)
            .unwrap();
    }
    assert_eq!(control, Control::Stop);
    let e = es
        .on_epoch_end(3, &logs(&[("loss", 1.0)]), &mut m)
        .unwrap_err();
    assert!(e.to_string().contains("val_accuracy"));
}

#[test]
fn reduce_lr_on_plateau_with_cooldown() {
    let mut m = model();
    let mut r = ReduceLrOnPlateau::new()
        .monitor("loss")
        .factor(0.5)
        .patience(1)
        .cooldown(2);
    r.on_train_begin(&mut m).unwrap();
    let lr = |m: &Sequential| m.optimizer().unwrap().config().learning_rate();
    let start = lr(&m);
    r.on_epoch_end(0, &logs(&[("loss", 1.0)]), &mut m).unwrap();
    assert_eq!(lr(&m), start);
    r.on_epoch_end(1, &logs(&[("loss", 1.0)]), &mut m).unwrap();
    assert_eq!(lr(&m), start * 0.5);
    // Keras counts the cooldown down before checking it: cooldown 2 skips one epoch.
    r.on_epoch_end(2, &logs(&[("loss", 1.0)]), &mut m).unwrap();
    assert_eq!(lr(&m), start * 0.5);
    r.on_epoch_end(3, &logs(&[("loss", 1.0)]), &mut m).unwrap();
    assert_eq!(lr(&m), start * 0.25);
    assert!(ReduceLrOnPlateau::new().factor(1.0).validate().is_err());
    // ... and training with it fails before the first epoch.
    let e = ReduceLrOnPlateau::new()
        .factor(1.0)
        .on_train_begin(&mut m)
        .unwrap_err();
    assert!(e.to_string().contains("factor"), "{e}");
}

#[test]
fn checkpoint_best_only_and_csv_logger() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model();
    let mut ck = ModelCheckpoint::new(dir.path().join("best-{epoch:02d}-{val_loss:.2f}"))
        .save_best_only(true);
    let mut csv = CsvLogger::new(dir.path().join("log.csv"))
        .separator(',')
        .append(false);
    csv.on_train_begin(&mut m).unwrap();
    for (e, v) in [0.5, 0.7, 0.25].iter().enumerate() {
        let l = logs(&[("loss", 1.0), ("val_loss", *v)]);
        ck.on_epoch_end(e, &l, &mut m).unwrap();
        csv.on_epoch_end(e, &l, &mut m).unwrap();
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["best-01-0.50", "best-03-0.25", "log.csv"]);
    let loaded = Sequential::load(dir.path().join("best-03-0.25")).unwrap();
    assert_eq!(loaded.get_weights().len(), m.get_weights().len());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log.csv")).unwrap(),
        "epoch,loss,val_loss\n0,1,0.5\n1,1,0.7\n2,1,0.25\n"
    );
}

#[test]
fn terminate_on_nan_and_interrupt() {
    let mut m = model();
    let mut t = TerminateOnNan::new();
    t.on_epoch_begin(0).unwrap();
    assert_eq!(
        t.on_epoch_end(0, &logs(&[("loss", 0.3)]), &mut m).unwrap(),
        Control::Continue
    );
    assert_eq!(
        t.on_epoch_end(1, &logs(&[("loss", f64::NAN)]), &mut m)
            .unwrap(),
        Control::Stop
    );

    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut i = Interrupt::new(flag.clone());
    i.on_epoch_begin(4).unwrap();
    i.on_train_batch_end(0, &Logs::new()).unwrap();
    i.on_epoch_end(4, &logs(&[("loss", 0.3)]), &mut m).unwrap();
    i.on_epoch_begin(5).unwrap();
    flag.store(true, std::sync::atomic::Ordering::SeqCst);
    let e = i.on_train_batch_end(2, &Logs::new()).unwrap_err();
    assert!(interrupt::is_interrupt(&e));
    assert_eq!(i.completed_epochs(), 5);
    assert_eq!(i.batches_in_epoch(), 3);
    assert_eq!(i.history().len(), 1);
}

/// Counts batches and epoch ends; asks to stop after batch `stop_after` of epoch 0.
struct StopAfterBatch {
    stop_after: usize,
    batches: Vec<usize>,
    epoch_ends: Vec<(usize, Vec<String>)>,
    stop: bool,
}

impl Callback for StopAfterBatch {
    fn on_train_batch_end(&mut self, batch: usize, _logs: &Logs) -> Result<()> {
        self.batches.push(batch);
        self.stop = batch == self.stop_after;
        Ok(())
    }
    fn stop_training(&self) -> bool {
        self.stop
    }
    fn on_epoch_end(
        &mut self,
        epoch: usize,
        logs: &Logs,
        _model: &mut Sequential,
    ) -> Result<Control> {
        self.epoch_ends
            .push((epoch, logs.keys().cloned().collect()));
        Ok(Control::Continue)
    }
}

#[test]
fn stop_training_after_a_batch_ends_the_epoch_there_then_fit() {
    let mut m = model();
    let x = ndarray::Array2::<f32>::from_shape_fn((40, 3), |(i, j)| (i * 3 + j) as f32 * 0.01);
    let y = ndarray::Array2::<f32>::from_shape_fn((40, 2), |(i, j)| (i + j) as f32 * 0.02);
    let mut cb = StopAfterBatch {
        stop_after: 1,
        batches: Vec::new(),
        epoch_ends: Vec::new(),
        stop: false,
    };
    let history = m
        .fit(
            &x,
            &y,
            crate::FitOptions {
                epochs: 5,
                batch_size: Some(4),
                validation_split: 0.2,
                verbose: 0,
                callbacks: vec![&mut cb],
                ..Default::default()
            },
        )
        .unwrap();
    // 32 training samples in batches of 4 would be 8 batches; it stopped after the 2nd,
    // validated, told the callbacks the epoch ended, and ran no more epochs.
    assert_eq!(cb.batches, vec![0, 1]);
    assert_eq!(
        cb.epoch_ends,
        vec![(0, vec!["loss".to_string(), "val_loss".to_string()])]
    );
    assert_eq!(history.epoch, vec![0]);
}

#[test]
fn predict_and_evaluate_call_after_batch_and_stop_on_its_error() {
    let mut m = model();
    let x = ndarray::Array2::<f32>::from_shape_fn((10, 3), |(i, j)| (i + j) as f32 * 0.1);
    let y = ndarray::Array2::<f32>::zeros((10, 2));
    let mut seen = Vec::new();
    let out = m
        .predict_with(&x, Some(4), &mut |b| {
            seen.push(b);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, vec![0, 1, 2]);
    assert_eq!(out, m.predict(&x, Some(4)).unwrap());
    let mut seen = Vec::new();
    let logs = m
        .evaluate_with(&x, &y, Some(4), &mut |b| {
            seen.push(b);
            Ok(())
        })
        .unwrap();
    assert_eq!(seen, vec![0, 1, 2]);
    assert_eq!(logs, m.evaluate(&x, &y, Some(4)).unwrap());
    let mut stop = |b: usize| {
        if b == 1 {
            Err(crate::Error::State("interrupted".to_string()))
        } else {
            Ok(())
        }
    };
    let mut calls = 0;
    let err = m
        .predict_with(&x, Some(4), &mut |b| {
            calls += 1;
            stop(b)
        })
        .unwrap_err();
    assert_eq!(calls, 2);
    assert!(err.to_string().contains("interrupted"), "{err}");
    let err = m.evaluate_with(&x, &y, Some(4), &mut stop).unwrap_err();
    assert!(err.to_string().contains("interrupted"), "{err}");
}
