//! GlobalAveragePooling1D / GlobalMaxPooling1D: values, masks, shapes, configs and
//! errors. Gradients are checked in gradient_check.rs, Keras's numbers in parity.rs.

use ndarray::{Array2, ArrayD, IxDyn};
use recurrent::layers::{
    ForwardContext, GlobalAveragePooling1D, GlobalMaxPooling1D, Layer, LayerConfig, LayerInput,
};
use recurrent::rng::SeededRng;

fn x() -> ArrayD<f32> {
    // (2, 3, 2): sample 0 steps (1,2) (3,-4) (5,0); sample 1 steps (-1,-2) (7,8) (0,1).
    ArrayD::from_shape_vec(
        IxDyn(&[2, 3, 2]),
        vec![1., 2., 3., -4., 5., 0., -1., -2., 7., 8., 0., 1.],
    )
    .unwrap()
}

fn run(layer: &mut dyn Layer, mask: Option<Array2<bool>>) -> recurrent::Result<ArrayD<f32>> {
    let mut rng = SeededRng::new(0);
    layer.build(&[Some(3), Some(2)], &mut rng)?;
    let mut ctx = ForwardContext::new(true, &mut rng).with_mask(mask.as_ref());
    let x = x();
    layer.forward(LayerInput::Floats(x.view()), &mut ctx)
}

#[test]
fn average_is_the_mean_of_real_steps() {
    let y = run(&mut GlobalAveragePooling1D::new(), None).unwrap();
    assert_eq!(y.shape(), [2, 2]);
    assert_eq!(y.as_slice().unwrap(), &[3.0, -2.0 / 3.0, 2.0, 7.0 / 3.0]);
    let mask = Array2::from_shape_vec((2, 3), vec![false, true, true, true, true, false]).unwrap();
    let y = run(&mut GlobalAveragePooling1D::new(), Some(mask)).unwrap();
    assert_eq!(y.as_slice().unwrap(), &[4.0, -2.0, 3.0, 3.0]);
}

#[test]
fn average_of_a_fully_masked_sample_is_an_error() {
    let mask = Array2::from_shape_vec((2, 3), vec![true, true, true, false, false, false]).unwrap();
    let err = run(&mut GlobalAveragePooling1D::new(), Some(mask))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("sample 1") && err.contains("global_average_pooling1d"),
        "{err}"
    );
}

#[test]
fn max_ignores_the_mask_as_keras_does() {
    let mask = Array2::from_shape_vec((2, 3), vec![true, false, false, true, false, true]).unwrap();
    let y = run(&mut GlobalMaxPooling1D::new().keepdims(true), Some(mask)).unwrap();
    assert_eq!(y.shape(), [2, 1, 2]);
    assert_eq!(y.as_slice().unwrap(), &[5.0, 2.0, 7.0, 8.0]);
}

#[test]
fn max_splits_the_gradient_between_ties() {
    let mut layer = GlobalMaxPooling1D::new();
    let mut rng = SeededRng::new(0);
    layer.build(&[Some(2), Some(1)], &mut rng).unwrap();
    let x = ArrayD::from_shape_vec(IxDyn(&[1, 2, 1]), vec![3.0, 3.0]).unwrap();
    let mut ctx = ForwardContext::new(true, &mut rng);
    layer
        .forward(LayerInput::Floats(x.view()), &mut ctx)
        .unwrap();
    let g = ArrayD::from_shape_vec(IxDyn(&[1, 1]), vec![1.0]).unwrap();
    let dx = layer.backward(g).unwrap().unwrap();
    assert_eq!(dx.as_slice().unwrap(), &[0.5, 0.5]);
}

#[test]
fn configs_use_keras_names_and_reject_what_is_not_implemented() {
    let cfg: LayerConfig =
        serde_json::from_str(r#"{"type": "global_average_pooling1d", "keepdims": true}"#).unwrap();
    let layer = cfg.to_layer().unwrap();
    assert_eq!(layer.class_name(), "GlobalAveragePooling1D");
    assert_eq!(
        layer.compute_output_shape(&[None, Some(8)]).unwrap(),
        vec![Some(1), Some(8)]
    );
    let back: LayerConfig = serde_json::from_value(layer.config()).unwrap();
    assert!(matches!(back, LayerConfig::GlobalAveragePooling1D(ref c) if c.keepdims));
    let cfg: LayerConfig = serde_json::from_str(
        r#"{"type": "global_max_pooling1d", "data_format": "channels_first"}"#,
    )
    .unwrap();
    let err = cfg.to_layer().unwrap_err().to_string();
    assert!(err.contains("channels_first"), "{err}");
    let ids = Array2::<i32>::zeros((1, 3));
    let mut layer = GlobalMaxPooling1D::new();
    let mut rng = SeededRng::new(0);
    let mut ctx = ForwardContext::new(false, &mut rng);
    let err = layer
        .forward(LayerInput::Ids(ids.view()), &mut ctx)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Embedding"), "{err}");
    let err = layer
        .compute_output_shape(&[Some(4)])
        .unwrap_err()
        .to_string();
    assert!(err.contains("(batch, steps, features)"), "{err}");
}
