//! Benchmark (not a test): load, adapt and vectorize 50,000 synthetic reviews of about
//! 1,300 characters each, the size of IMDB's training set.
//!
//!     cargo bench --bench text
//!
//! The first run writes the tree under $TMPDIR/recurrent-bench-reviews/{neg,pos} (words
//! drawn from a Zipf-like distribution over a 40,000-word synthetic vocabulary, with
//! punctuation, capitals and `<br />` breaks); later runs reuse it, so load times are
//! with a warm page cache. Set BENCH_REVIEWS to change the count.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use recurrent::preprocessing::LengthStats;
use recurrent::rng::SeededRng;
use recurrent::text::{
    DirectoryOptions, TextVectorization, TextVectorizationConfig, text_dataset_from_directory,
};

const VOCAB: usize = 40_000;
const TARGET_CHARS: usize = 1_300;

fn synthetic_word(mut i: usize) -> String {
    const SYLLABLES: [&str; 24] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "pa", "do", "ge", "bu", "fi", "ha",
        "jo", "ly", "qu", "wa", "xe", "ti", "on", "er", "al",
    ];
    let mut w = String::new();
    loop {
        w.push_str(SYLLABLES[i % SYLLABLES.len()]);
        i /= SYLLABLES.len();
        if i == 0 {
            break;
        }
    }
    w
}

/// Cumulative Zipf(s = 1.07) weights for inverse-CDF sampling.
fn zipf_cdf(n: usize) -> Vec<f64> {
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = (1..=n)
        .map(|r| {
            acc += 1.0 / (r as f64).powf(1.07);
            acc
        })
        .collect();
    for c in &mut cdf {
        *c /= acc;
    }
    cdf
}

fn review(rng: &mut SeededRng, words: &[String], cdf: &[f64]) -> String {
    let mut text = String::with_capacity(TARGET_CHARS + 64);
    let mut start = true;
    while text.len() < TARGET_CHARS {
        let u = rng.uniform01() as f64;
        let w = &words[cdf.partition_point(|&c| c < u).min(words.len() - 1)];
        if start {
            let mut cs = w.chars();
            if let Some(c) = cs.next() {
                text.extend(c.to_uppercase());
                text.push_str(cs.as_str());
            }
            start = false;
        } else {
            text.push_str(w);
        }
        match rng.below(40) {
            0..=2 => {
                text.push_str(". ");
                start = true;
            }
            3 => text.push_str(", "),
            4 => {
                text.push_str("!<br /><br />");
                start = true;
            }
            _ => text.push(' '),
        }
    }
    text
}

fn ensure_tree(root: &Path, n: usize) -> std::io::Result<()> {
    let marker = root.join(format!("complete-{n}"));
    if marker.exists() {
        return Ok(());
    }
    if root.exists() {
        fs::remove_dir_all(root)?;
    }
    let words: Vec<String> = (0..VOCAB).map(synthetic_word).collect();
    let cdf = zipf_cdf(VOCAB);
    let mut rng = SeededRng::new(2024);
    for class in ["neg", "pos"] {
        fs::create_dir_all(root.join(class))?;
    }
    for i in 0..n {
        let class = if i % 2 == 0 { "pos" } else { "neg" };
        let path = root
            .join(class)
            .join(format!("{i}_{}.txt", 1 + rng.below(10)));
        fs::write(path, review(&mut rng, &words, &cdf))?;
    }
    fs::write(marker, b"")?;
    Ok(())
}

/// CPU seconds (user + system) used by this process so far, from /proc (Linux; 0 elsewhere).
/// Printed beside wall time because the benchmark machine is shared.
fn cpu_seconds() -> f64 {
    let Ok(stat) = fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Clock ticks are 100 Hz on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("BENCH_REVIEWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let root: PathBuf = std::env::temp_dir().join("recurrent-bench-reviews");
    let t = Instant::now();
    ensure_tree(&root, n)?;
    println!("tree ready in {:.2?} ({})", t.elapsed(), root.display());
    println!("rayon threads: {}", rayon::current_num_threads());

    let (t, c) = (Instant::now(), cpu_seconds());
    let ds = text_dataset_from_directory(
        &root,
        &DirectoryOptions {
            seed: Some(1337),
            ..Default::default()
        },
    )?;
    let load = t.elapsed();
    let chars: usize = ds.texts.iter().map(String::len).sum();
    println!(
        "load:      {load:>9.3?} wall, {:>6.2}s cpu  ({} files, {:.0} chars/review, {} warnings)",
        cpu_seconds() - c,
        ds.len(),
        chars as f64 / ds.len() as f64,
        ds.warnings.len()
    );

    let mut tv = TextVectorization::new(TextVectorizationConfig {
        max_tokens: Some(20_000),
        output_sequence_length: Some(200),
        ..Default::default()
    })?;
    let (t, c) = (Instant::now(), cpu_seconds());
    tv.adapt(&ds.texts);
    let adapt = t.elapsed();
    println!(
        "adapt:     {adapt:>9.3?} wall, {:>6.2}s cpu  (vocabulary {})",
        cpu_seconds() - c,
        tv.vocabulary_size()
    );

    let (t, c) = (Instant::now(), cpu_seconds());
    let ids = tv.vectorize(&ds.texts);
    let vectorize = t.elapsed();
    println!(
        "vectorize: {vectorize:>9.3?} wall, {:>6.2}s cpu  (output {:?})",
        cpu_seconds() - c,
        ids.dim()
    );
    println!("total:     {:>9.3?}", load + adapt + vectorize);

    // Review lengths in tokens, as printed when choosing maxlen.
    let lengths = tv.sequence_lengths(&ds.texts);
    print!("{}", LengthStats::from_lengths(&lengths)?.with_maxlen(200));
    Ok(())
}
