//! Load speed of `imdb::load_data` on an IMDB-sized file (a benchmark, not a test).
//!
//! The real file cannot be downloaded here, so a synthetic one of the same shape is
//! made first: `/work/.venv-ref/bin/python benches/make_imdb_sized.py /tmp/imdb_sized.npz`
//! then `cargo bench --bench datasets` (or set IMDB_NPZ to another path).

use std::path::PathBuf;
use std::time::Instant;

use recurrent::datasets::{ImdbOptions, imdb};

fn main() {
    let path =
        PathBuf::from(std::env::var("IMDB_NPZ").unwrap_or_else(|_| "/tmp/imdb_sized.npz".into()));
    if !path.is_file() {
        eprintln!(
            "{} is missing; make it with `python benches/make_imdb_sized.py {}`",
            path.display(),
            path.display()
        );
        return;
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    for (label, num_words) in [("num_words=10000", Some(10_000)), ("num_words=None", None)] {
        let opts = ImdbOptions {
            num_words,
            path: Some(path.clone()),
            ..ImdbOptions::default()
        };
        let mut times = Vec::new();
        let mut total_ids = 0;
        for _ in 0..5 {
            let start = Instant::now();
            let data = imdb::load_data(&opts).expect("load");
            times.push(start.elapsed().as_secs_f64());
            total_ids = data
                .train
                .x
                .iter()
                .chain(&data.test.x)
                .map(Vec::len)
                .sum::<usize>();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "imdb::load_data {label}: median {:.3} s, min {:.3} s over 5 runs ({} MB file, {} ids)",
            times[2],
            times[0],
            size / 1_000_000,
            total_ids
        );
    }
}
