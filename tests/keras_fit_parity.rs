//! `fit` against Keras 3.15.1 (TensorFlow 2.21): a Dense(3, tanh) + Dense(sigmoid or
//! softmax) model with fixed initial weights, `shuffle=False`, batch 5 over 13 samples
//! (a partial last batch), three epochs, for SGD (Nesterov momentum), RMSprop
//! (centered, momentum) and Adam (clipnorm). Expected values come from
//! tests/keras_fit_parity.py: per-epoch loss and accuracy and the final weights.

use ndarray::{Array1, Array2, ArrayD};
use recurrent::{
    Activation, AdamConfig, Dense, FitOptions, Loss, Metric, OptimizerConfig, RmspropConfig,
    Sequential, SgdConfig,
};

struct Case {
    task: &'static str,
    optimizer: &'static str,
    loss: &'static [f64],
    accuracy: &'static [f64],
    weights: &'static [&'static [f64]],
}

const CASES: &[Case] = &[
    Case {
        task: "binary",
        optimizer: "sgd",
        loss: &[0.7029564380645752, 0.6833173036575317, 0.6695075631141663],
        accuracy: &[0.3076923191547394, 0.5384615659713745, 0.6153846383094788],
        weights: &[
            &[
                -0.20452149212360382,
                -0.2002383917570114,
                -0.18193288147449493,
                0.04764777421951294,
                0.09989835321903229,
                0.14708739519119263,
                0.230012908577919,
                -0.29981598258018494,
                -0.14637522399425507,
                -0.18509070575237274,
                0.0002000845706788823,
                0.18160173296928406,
            ],
            &[
                0.1967364102602005,
                -0.05010943487286568,
                -0.05213230103254318,
            ],
            &[
                -0.3471165895462036,
                0.00682167150080204,
                0.36595267057418823,
            ],
            &[-0.3849690556526184],
        ],
    },
    Case {
        task: "binary",
        optimizer: "rmsprop",
        loss: &[0.7025595307350159, 0.6782454252243042, 0.6694468259811401],
        accuracy: &[0.38461539149284363, 0.6153846383094788, 0.6153846383094788],
        weights: &[
            &[
                -0.15808099508285522,
                -0.2317265123128891,
                -0.21514379978179932,
                -0.049781136214733124,
                0.09266339987516403,
                0.251290887594223,
                0.20174361765384674,
                -0.21887081861495972,
                -0.12791335582733154,
                -0.2108507752418518,
                0.01621774584054947,
                0.20035003125667572,
            ],
            &[
                0.2950110137462616,
                0.03028256632387638,
                -0.13994060456752777,
            ],
            &[
                -0.3659578859806061,
                0.0038619530387222767,
                0.2912629246711731,
            ],
            &[-0.2524133324623108],
        ],
    },
    Case {
        task: "binary",
        optimizer: "adam",
        loss: &[0.7046495676040649, 0.6955122351646423, 0.6886700987815857],
        accuracy: &[0.3076923191547394, 0.4615384638309479, 0.5384615659713745],
        weights: &[
            &[
                -0.24626299738883972,
                -0.19466207921504974,
                -0.1459856480360031,
                -9.088264778256416e-05,
                0.10897096246480942,
                0.19877640902996063,
                0.2444082796573639,
                -0.29191315174102783,
                -0.15731513500213623,
                -0.1366262435913086,
                -0.007992797531187534,
                0.13491351902484894,
            ],
            &[
                0.13160645961761475,
                -0.004448768682777882,
                0.015612960793077946,
            ],
            &[
                -0.36220747232437134,
                0.005024836398661137,
                0.331552118062973,
            ],
            &[-0.07466141134500504],
        ],
    },
    Case {
        task: "sparse",
        optimizer: "sgd",
        loss: &[0.6936219930648804, 0.6932088136672974, 0.6938698291778564],
        accuracy: &[0.5384615659713745, 0.5384615659713745, 0.5384615659713745],
        weights: &[
            &[
                -0.29600006341934204,
                -0.19605569541454315,
                -0.11504588276147842,
                -0.0007721932488493621,
                0.10006537288427353,
                0.20069295167922974,
                0.2955869734287262,
                -0.3039093017578125,
                -0.1845834106206894,
                -0.10158879309892654,
                -0.002156856469810009,
                0.10755494236946106,
            ],
            &[
                0.0406205952167511,
                -0.06189286336302757,
                0.14898331463336945,
            ],
            &[
                -0.3852238059043884,
                -0.2147762030363083,
                -0.0042428928427398205,
                0.20424291491508484,
                0.40220916271209717,
                -0.40220916271209717,
            ],
            &[0.07169384509325027, -0.04169385880231857],
        ],
    },
    Case {
        task: "sparse",
        optimizer: "rmsprop",
        loss: &[0.6974827647209167, 0.6938080191612244, 0.6941344738006592],
        accuracy: &[0.5384615659713745, 0.5384615659713745, 0.5384615659713745],
        weights: &[
            &[
                -0.2626554071903229,
                -0.20343855023384094,
                -0.10060697048902512,
                0.027466293424367905,
                0.0893452987074852,
                0.203563392162323,
                0.25759026408195496,
                -0.2979584336280823,
                -0.19843292236328125,
                -0.13284316658973694,
                0.005562871228903532,
                0.09929200261831284,
            ],
            &[
                0.005200155079364777,
                -0.08429934084415436,
                0.1426207274198532,
            ],
            &[
                -0.36478886008262634,
                -0.23521111905574799,
                0.010302442125976086,
                0.1896975338459015,
                0.4181605577468872,
                -0.4181605279445648,
            ],
            &[0.05496450886130333, -0.024964502081274986],
        ],
    },
    Case {
        task: "sparse",
        optimizer: "adam",
        loss: &[0.6932188272476196, 0.6910385489463806, 0.6906235218048096],
        accuracy: &[0.5384615659713745, 0.5384615659713745, 0.5384615659713745],
        weights: &[
            &[
                -0.2780388295650482,
                -0.18333564698696136,
                -0.11760623008012772,
                0.00851175095885992,
                0.1033494845032692,
                0.19706502556800842,
                0.2708921730518341,
                -0.32026147842407227,
                -0.17863014340400696,
                -0.11568093299865723,
                -0.012041138485074043,
                0.11264155060052872,
            ],
            &[
                0.029553674161434174,
                -0.0717737227678299,
                0.12268174439668655,
            ],
            &[
                -0.3718464970588684,
                -0.2281535118818283,
                -0.02042948454618454,
                0.22042948007583618,
                0.41790828108787537,
                -0.41790828108787537,
            ],
            &[0.03299970552325249, -0.0029997071251273155],
        ],
    },
];

fn initial_weights(units: usize) -> Vec<(String, ArrayD<f32>)> {
    let k1 = Array2::from_shape_fn((4, 3), |(i, j)| 0.1 * (((i * 3 + j) % 7) as f32 - 3.0));
    let b1 = Array1::from(vec![0.05f32, -0.05, 0.1]);
    let k2 = Array2::from_shape_fn((3, units), |(i, j)| 0.2 * (((i * 2 + j) % 5) as f32 - 2.0));
    let b2 = Array1::from_shape_fn(units, |j| 0.01 * (j + 1) as f32);
    vec![
        ("dense/kernel".into(), k1.into_dyn()),
        ("dense/bias".into(), b1.into_dyn()),
        ("dense_1/kernel".into(), k2.into_dyn()),
        ("dense_1/bias".into(), b2.into_dyn()),
    ]
}

fn optimizer(name: &str) -> OptimizerConfig {
    match name {
        "sgd" => SgdConfig {
            learning_rate: 0.1,
            momentum: 0.9,
            nesterov: true,
            ..SgdConfig::default()
        }
        .into(),
        "rmsprop" => RmspropConfig {
            learning_rate: 0.01,
            centered: true,
            momentum: 0.5,
            ..RmspropConfig::default()
        }
        .into(),
        _ => AdamConfig {
            learning_rate: 0.01,
            clipnorm: Some(0.5),
            ..AdamConfig::default()
        }
        .into(),
    }
}

#[test]
fn fit_matches_keras() {
    let n = 13;
    let x = Array2::from_shape_fn((n, 4), |(i, j)| {
        (0.7 * i as f64 + 1.3 * j as f64).sin() as f32
    });
    for case in CASES {
        let binary = case.task == "binary";
        let units = if binary { 1 } else { 2 };
        let mut m = Sequential::new();
        m.add(
            Dense::new(3)
                .activation(Activation::Tanh)
                .input_shape(vec![Some(4)]),
        )
        .unwrap();
        let act = if binary {
            Activation::Sigmoid
        } else {
            Activation::Softmax
        };
        m.add(Dense::new(units).activation(act)).unwrap();
        m.set_weights(&initial_weights(units)).unwrap();
        let loss = if binary {
            Loss::BinaryCrossentropy
        } else {
            Loss::SparseCategoricalCrossentropy
        };
        m.compile(optimizer(case.optimizer), loss, &[Metric::Accuracy])
            .unwrap();
        let y: Array1<f32> = if binary {
            Array1::from_shape_fn(n, |i| (i % 3 == 0) as u8 as f32)
        } else {
            Array1::from_shape_fn(n, |i| (i % 2) as f32)
        };
        let h = m
            .fit(
                &x,
                &y,
                FitOptions {
                    epochs: 3,
                    batch_size: Some(5),
                    shuffle: false,
                    verbose: 0,
                    ..FitOptions::default()
                },
            )
            .unwrap();
        let what = format!("{} {}", case.task, case.optimizer);
        for (e, (got, want)) in h.loss().iter().zip(case.loss).enumerate() {
            assert!(
                (got - want).abs() < 2e-6,
                "{what} epoch {e} loss {got} vs Keras {want}"
            );
        }
        for (e, (got, want)) in h
            .get("accuracy")
            .unwrap()
            .iter()
            .zip(case.accuracy)
            .enumerate()
        {
            assert!(
                (got - want).abs() < 1e-6,
                "{what} epoch {e} accuracy {got} vs Keras {want}"
            );
        }
        for ((name, got), want) in m.get_weights().iter().zip(case.weights) {
            let got: Vec<f32> = got.iter().copied().collect();
            assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
                assert!(
                    (*g as f64 - w).abs() < 2e-5,
                    "{what} {name}[{i}]: {g} vs Keras {w}"
                );
            }
        }
    }
}
