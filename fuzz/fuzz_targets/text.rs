//! Arbitrary bytes into the text loaders: the CSV loader (header, quoting, invalid
//! UTF-8 in text and label cells, integer labels) and the TextVectorization that
//! turns loaded texts into ids (standardize, split, adapt, vectorize). Must return Ok
//! or Err, never panic or hang. Seed corpus: small CSV files (fuzz/corpus/text/).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use recurrent::text::{
    CsvOptions, LabelEncoding, TextVectorization, TextVectorizationConfig, read_text_csv,
};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.csv");
    for labels in [LabelEncoding::SortedUnique, LabelEncoding::Integer] {
        let mut options = CsvOptions::new("text", "label");
        options.labels = labels;
        if let Ok(ds) = read_text_csv(data, path, &options) {
            assert_eq!(ds.texts.len(), ds.labels.len());
            let _ = ds.warning_summary();
        }
    }
    let text = String::from_utf8_lossy(data);
    let config = TextVectorizationConfig {
        max_tokens: Some(50),
        output_sequence_length: Some(16),
        ..Default::default()
    };
    if let Ok(mut tv) = TextVectorization::new(config) {
        let texts: Vec<&str> = text.lines().collect();
        tv.adapt(&texts);
        let ids = tv.vectorize(&texts);
        assert_eq!(ids.nrows(), texts.len());
        let _ = tv.to_json().map(|j| TextVectorization::from_json(&j));
    }
});
