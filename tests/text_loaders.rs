//! text_dataset_from_directory and load_text_csv on small generated trees/files,
//! including every bad input the loaders must report (file and cause named).

use std::fs;
use std::path::Path;

use recurrent::text::{
    CsvOptions, DirectoryOptions, LabelEncoding, LoadWarning, Subset, load_text_csv,
    text_dataset_from_directory, text_datasets_from_directory_both,
};

fn write(path: &Path, content: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// train/{neg,pos,unsup} with 3 + 4 + 2 reviews, plus noise that must be ignored.
fn imdb_like() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("train");
    for i in 0..3 {
        write(
            &root.join(format!("neg/{i}_1.txt")),
            format!("bad {i}").as_bytes(),
        );
    }
    for i in 0..4 {
        write(
            &root.join(format!("pos/{i}_9.txt")),
            format!("good {i}").as_bytes(),
        );
    }
    write(&root.join("pos/nested/deep.TXT"), b"good nested");
    write(&root.join("pos/notes.md"), b"not a review");
    for i in 0..2 {
        write(&root.join(format!("unsup/{i}_0.txt")), b"unlabelled");
    }
    write(
        &root.join("urls_pos.txt"),
        b"a file beside the class folders",
    );
    write(&root.join(".hidden/x.txt"), b"hidden");
    dir
}

fn unshuffled() -> DirectoryOptions {
    DirectoryOptions {
        shuffle: false,
        ..Default::default()
    }
}

#[test]
fn classes_sorted_labels_by_index_files_in_walk_order() {
    let dir = imdb_like();
    let ds = text_dataset_from_directory(dir.path().join("train"), &unshuffled()).unwrap();
    assert_eq!(ds.class_names, ["neg", "pos", "unsup"]);
    assert_eq!(ds.len(), 3 + 5 + 2);
    assert_eq!(&ds.texts[..3], ["bad 0", "bad 1", "bad 2"]);
    // pos/*.txt first (sorted), then the nested folder, as Keras's sorted os.walk.
    assert_eq!(
        &ds.texts[3..8],
        ["good 0", "good 1", "good 2", "good 3", "good nested"]
    );
    assert_eq!(ds.labels, [0, 0, 0, 1, 1, 1, 1, 1, 2, 2]);
    assert!(ds.sources[0].ends_with("0_1.txt"));
    assert!(ds.warnings.is_empty());
}

#[test]
fn explicit_class_names_skip_unsup_and_keep_order() {
    let dir = imdb_like();
    let opts = DirectoryOptions {
        class_names: Some(vec!["pos".into(), "neg".into()]),
        ..unshuffled()
    };
    let ds = text_dataset_from_directory(dir.path().join("train"), &opts).unwrap();
    assert_eq!(ds.class_names, ["pos", "neg"]);
    assert_eq!(ds.len(), 8);
    assert_eq!(ds.labels, [0, 0, 0, 0, 0, 1, 1, 1]);
    assert!(!ds.texts.iter().any(|t| t == "unlabelled"));
    let picked = ds.select(&[7, 0]).unwrap();
    assert!(ds.select(&[8]).unwrap_err().to_string().contains("index 8"));
    assert_eq!(picked.texts, [ds.texts[7].clone(), ds.texts[0].clone()]);
    assert_eq!(picked.labels, [1, 0]);
    assert_eq!(picked.sources[0], ds.sources[7]);

    let bad = DirectoryOptions {
        class_names: Some(vec!["pos".into(), "positive".into()]),
        ..unshuffled()
    };
    let e = text_dataset_from_directory(dir.path().join("train"), &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("\"positive\"") && e.contains("\"unsup\""), "{e}");
}

#[test]
fn shuffle_is_seeded_and_keeps_pairs() {
    let dir = imdb_like();
    let root = dir.path().join("train");
    let opts = DirectoryOptions {
        seed: Some(7),
        ..Default::default()
    };
    let a = text_dataset_from_directory(&root, &opts).unwrap();
    let b = text_dataset_from_directory(&root, &opts).unwrap();
    assert_eq!(a, b);
    let plain = text_dataset_from_directory(&root, &unshuffled()).unwrap();
    assert_ne!(a.texts, plain.texts);
    for (text, label) in a.texts.iter().zip(&a.labels) {
        let i = plain.texts.iter().position(|t| t == text).unwrap();
        assert_eq!(plain.labels[i], *label);
    }
}

#[test]
fn validation_split_takes_the_tail_like_keras() {
    let dir = imdb_like();
    let root = dir.path().join("train");
    let base = DirectoryOptions {
        seed: Some(3),
        validation_split: Some(0.2),
        ..Default::default()
    };
    let all = text_dataset_from_directory(
        &root,
        &DirectoryOptions {
            seed: Some(3),
            ..Default::default()
        },
    )
    .unwrap();
    let train = text_dataset_from_directory(
        &root,
        &DirectoryOptions {
            subset: Some(Subset::Training),
            ..base.clone()
        },
    )
    .unwrap();
    let val = text_dataset_from_directory(
        &root,
        &DirectoryOptions {
            subset: Some(Subset::Validation),
            ..base.clone()
        },
    )
    .unwrap();
    // 10 files, int(0.2 * 10) = 2 for validation.
    assert_eq!((train.len(), val.len()), (8, 2));
    assert_eq!(train.texts, all.texts[..8]);
    assert_eq!(val.texts, all.texts[8..]);
    let (t2, v2) = text_datasets_from_directory_both(&root, &base).unwrap();
    assert_eq!((t2, v2), (train, val));

    let e = text_dataset_from_directory(&root, &base)
        .unwrap_err()
        .to_string();
    assert!(e.contains("subset"), "{e}");
    let e = text_dataset_from_directory(
        &root,
        &DirectoryOptions {
            validation_split: Some(1.5),
            subset: Some(Subset::Training),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("validation_split") && e.contains("1.5"), "{e}");
    let e = text_dataset_from_directory(
        &root,
        &DirectoryOptions {
            validation_split: Some(0.05),
            subset: Some(Subset::Validation),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("validation subset is empty"), "{e}");
}

#[test]
fn invalid_utf8_is_decoded_lossily_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("neg/a.txt"), b"fine");
    write(&dir.path().join("pos/b.txt"), b"caf\xe9 latin-1");
    let ds = text_dataset_from_directory(dir.path(), &unshuffled()).unwrap();
    assert_eq!(ds.texts[1], "caf\u{fffd} latin-1");
    assert_eq!(ds.warnings.len(), 1);
    let LoadWarning::LossyUtf8 { location } = &ds.warnings[0];
    assert!(location.ends_with("b.txt"), "{location}");
    assert!(ds.warnings[0].to_string().contains("not valid UTF-8"));
}

#[test]
fn directory_errors_name_the_folder_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    // No class subfolders, just files.
    write(&dir.path().join("flat/a.txt"), b"x");
    let e = text_dataset_from_directory(dir.path().join("flat"), &unshuffled())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("flat") && e.contains("no class subfolders"),
        "{e}"
    );
    // An empty class folder.
    write(&dir.path().join("two/pos/a.txt"), b"x");
    fs::create_dir_all(dir.path().join("two/neg")).unwrap();
    write(&dir.path().join("two/neg/readme.md"), b"x");
    let e = text_dataset_from_directory(dir.path().join("two"), &unshuffled())
        .unwrap_err()
        .to_string();
    assert!(e.contains("neg") && e.contains("no .txt files"), "{e}");
    // Missing directory, and a file given as directory.
    let e = text_dataset_from_directory(dir.path().join("missing"), &unshuffled())
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing"), "{e}");
    let e = text_dataset_from_directory(dir.path().join("flat/a.txt"), &unshuffled())
        .unwrap_err()
        .to_string();
    assert!(e.contains("a.txt") && e.contains("not a directory"), "{e}");
}

fn csv_file(content: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reviews.csv");
    fs::write(&path, content).unwrap();
    (dir, path)
}

#[test]
fn csv_string_labels_sorted_or_explicit() {
    let (_d, path) = csv_file(
        b"id,review,sentiment\n1,\"Great, really great\",positive\n2,Awful.,negative\n\
          3,\"Multi\nline\",positive\n",
    );
    let ds = load_text_csv(&path, &CsvOptions::new("review", "sentiment")).unwrap();
    assert_eq!(ds.texts, ["Great, really great", "Awful.", "Multi\nline"]);
    assert_eq!(ds.class_names, ["negative", "positive"]);
    assert_eq!(ds.labels, [1, 0, 1]);
    assert!(
        ds.sources[1].ends_with("reviews.csv:line 3"),
        "{}",
        ds.sources[1]
    );

    let explicit = CsvOptions {
        labels: LabelEncoding::Explicit(vec!["positive".into(), "negative".into()]),
        ..CsvOptions::new("review", "sentiment")
    };
    let ds = load_text_csv(&path, &explicit).unwrap();
    assert_eq!(ds.labels, [0, 1, 0]);
    assert_eq!(ds.class_names, ["positive", "negative"]);

    let too_few = CsvOptions {
        labels: LabelEncoding::Explicit(vec!["positive".into()]),
        ..CsvOptions::new("review", "sentiment")
    };
    let e = load_text_csv(&path, &too_few).unwrap_err().to_string();
    assert!(
        e.contains("reviews.csv") && e.contains("line 3") && e.contains("\"negative\""),
        "{e}"
    );
}

#[test]
fn csv_integer_labels_and_semicolons() {
    let (_d, path) = csv_file(b"\xef\xbb\xbftext;label\nhello;1\nworld; 0 \nagain;2\n");
    let opts = CsvOptions {
        labels: LabelEncoding::Integer,
        delimiter: b';',
        ..CsvOptions::new("text", "label")
    };
    let ds = load_text_csv(&path, &opts).unwrap();
    assert_eq!(ds.labels, [1, 0, 2]);
    assert_eq!(ds.class_names, ["0", "1", "2"]);

    let (_d, path) = csv_file(b"text,label\nhello,1\nworld,-1\n");
    let opts = CsvOptions {
        labels: LabelEncoding::Integer,
        ..CsvOptions::new("text", "label")
    };
    let e = load_text_csv(&path, &opts).unwrap_err().to_string();
    assert!(e.contains("line 3") && e.contains("\"-1\""), "{e}");
    let (_d, path) = csv_file(b"text,label\nhello,2000000000\n");
    let e = load_text_csv(&path, &opts).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("2000000000"), "{e}");
}

#[test]
fn csv_errors_name_file_and_cause() {
    let (_d, path) = csv_file(b"title,body,stars\na,b,1\n");
    let e = load_text_csv(&path, &CsvOptions::new("review", "stars"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("reviews.csv")
            && e.contains("\"review\"")
            && e.contains("[\"title\", \"body\", \"stars\"]"),
        "{e}"
    );
    let (_d, path) = csv_file(b"");
    let e = load_text_csv(&path, &CsvOptions::new("review", "stars"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("reviews.csv") && e.contains("empty CSV"), "{e}");
    let (_d, path) = csv_file(b"review,stars\n");
    let e = load_text_csv(&path, &CsvOptions::new("review", "stars"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no data rows"), "{e}");
    let (_d, path) = csv_file(b"review,stars\nok,1\nshort\n");
    let e = load_text_csv(&path, &CsvOptions::new("review", "stars"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("reviews.csv") && e.contains("line 3"), "{e}");
    let e = load_text_csv("/no/such/file.csv", &CsvOptions::new("a", "b"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/no/such/file.csv"), "{e}");
}

#[test]
fn csv_invalid_utf8_is_reported_per_line() {
    let (_d, path) = csv_file(b"review,label\ncaf\xe9,pos\nfine,neg\n");
    let ds = load_text_csv(&path, &CsvOptions::new("review", "label")).unwrap();
    assert_eq!(ds.texts[0], "caf\u{fffd}");
    assert_eq!(ds.warnings.len(), 1);
    assert!(ds.warnings[0].to_string().contains("reviews.csv:line 2"));
}

/// File order, labels and splits against keras.utils.text_dataset_from_directory
/// (shuffle=False) on the tree described in text_directory.json.
#[test]
fn directory_order_and_splits_match_keras() {
    let path = format!(
        "{}/tests/fixtures/preprocessing/text_directory.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let f: serde_json::Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for file in f["files"].as_array().unwrap() {
        let rel = file[0].as_str().unwrap();
        write(&dir.path().join(rel), file[1].as_str().unwrap().as_bytes());
    }
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    for case in f["cases"].as_array().unwrap() {
        let o = &case["options"];
        let opts = DirectoryOptions {
            class_names: o.get("class_names").map(strings),
            validation_split: o.get("validation_split").map(|v| v.as_f64().unwrap()),
            subset: o
                .get("subset")
                .map(|v| serde_json::from_value(v.clone()).unwrap()),
            ..unshuffled()
        };
        let ds = text_dataset_from_directory(dir.path(), &opts).unwrap();
        let name = &case["name"];
        assert_eq!(ds.class_names, strings(&case["class_names"]), "{name}");
        assert_eq!(ds.texts, strings(&case["texts"]), "{name}");
        let labels: Vec<i32> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_i64().unwrap() as i32)
            .collect();
        assert_eq!(ds.labels, labels, "{name}");
    }
}

/// The tutorial pipeline end to end: load, split, adapt, vectorize, inspect lengths.
#[test]
fn tutorial_pipeline_end_to_end() {
    use recurrent::preprocessing::{LengthStats, to_categorical, train_test_split};
    use recurrent::text::{TextVectorization, TextVectorizationConfig};
    let dir = imdb_like();
    let opts = DirectoryOptions {
        class_names: Some(vec!["neg".into(), "pos".into()]),
        seed: Some(1),
        ..Default::default()
    };
    let ds = text_dataset_from_directory(dir.path().join("train"), &opts).unwrap();
    let split = train_test_split(&ds.texts, &ds.labels, 0.25, true, 2).unwrap();
    assert_eq!((split.x_train.len(), split.x_test.len()), (6, 2));
    let mut tv = TextVectorization::new(TextVectorizationConfig {
        max_tokens: Some(100),
        output_sequence_length: Some(3),
        ..Default::default()
    })
    .unwrap();
    tv.adapt(&split.x_train);
    let x = tv.vectorize(&split.x_test);
    assert_eq!(x.dim(), (2, 3));
    let y = to_categorical(&split.y_test, Some(2)).unwrap();
    assert_eq!(y.sum_axis(ndarray::Axis(1)).to_vec(), vec![1.0, 1.0]);
    let stats = LengthStats::from_lengths(&tv.sequence_lengths(&ds.texts)).unwrap();
    assert_eq!((stats.min, stats.max), (2, 2));
    assert_eq!(stats.fraction_at_most(3), 1.0);
}
