//! Data made on the spot from a seed, so a full run needs no download: a sentiment-like
//! text task, a long-memory task on token ids, and a time series. The command line's
//! `source = "generated"` and the examples use the same generators, so a config and
//! its example train on the same samples.

use ndarray::{Array2, Array3};

use crate::rng::SeededRng;

const POSITIVE: &[&str] = &[
    "good",
    "great",
    "excellent",
    "wonderful",
    "loved",
    "best",
    "fun",
    "enjoyable",
    "brilliant",
    "superb",
    "moving",
    "beautiful",
];
const NEGATIVE: &[&str] = &[
    "bad", "awful", "terrible", "boring", "worst", "hated", "poor", "dull", "waste", "horrible",
    "weak", "mess",
];
const FILLER: &[&str] = &[
    "the",
    "movie",
    "film",
    "was",
    "a",
    "and",
    "it",
    "plot",
    "actors",
    "story",
    "i",
    "this",
    "of",
    "to",
    "scene",
    "director",
    "music",
    "end",
    "with",
    "but",
    "for",
    "as",
    "on",
    "characters",
    "is",
    "in",
    "that",
    "its",
    "two",
    "hours",
    "script",
    "cast",
    "really",
    "very",
    "quite",
    "at",
    "first",
    "then",
    "some",
    "scenes",
    "camera",
    "role",
    "lead",
    "his",
    "her",
    "they",
    "we",
    "watched",
    "felt",
    "seemed",
    "long",
    "short",
    "ending",
    "dialogue",
    "effects",
    "series",
];

/// `n` reviews and their labels (1 = positive). Each review holds 1 to 4 words of its
/// own polarity and fewer of the other (usually just one fewer, so the model must
/// count, not spot a word), among 15 to 74 filler words.
pub fn sentiment(n: usize, rng: &mut SeededRng) -> (Vec<String>, Vec<i32>) {
    let mut texts = Vec::with_capacity(n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let label = rng.below(2) as i32;
        let strong = 1 + rng.below(4);
        let weak = if rng.below(10) < 6 {
            strong - 1
        } else {
            rng.below(strong)
        };
        let (own, other) = if label == 1 {
            (POSITIVE, NEGATIVE)
        } else {
            (NEGATIVE, POSITIVE)
        };
        let mut words: Vec<&str> = Vec::new();
        for _ in 0..strong {
            words.push(own[rng.below(own.len())]);
        }
        for _ in 0..weak {
            words.push(other[rng.below(other.len())]);
        }
        for _ in 0..15 + rng.below(60) {
            words.push(FILLER[rng.below(FILLER.len())]);
        }
        rng.shuffle(&mut words);
        let mut text = words.join(" ");
        text.push('.');
        texts.push(text);
        labels.push(label);
    }
    (texts, labels)
}

/// `n` sequences of `len` ids in [0, num_words): the first id is 1 (label 0) or
/// 2 (label 1), the rest are random ids from 3 up. Needs `num_words >= 4`.
pub fn memory(
    n: usize,
    len: usize,
    num_words: usize,
    rng: &mut SeededRng,
) -> (Vec<Vec<i32>>, Vec<i32>) {
    let mut xs = Vec::with_capacity(n);
    let mut ys = Vec::with_capacity(n);
    for _ in 0..n {
        let label = rng.below(2) as i32;
        let mut seq = Vec::with_capacity(len);
        seq.push(1 + label);
        for _ in 1..len {
            seq.push(3 + rng.below(num_words.saturating_sub(3).max(1)) as i32);
        }
        xs.push(seq);
        ys.push(label);
    }
    (xs, ys)
}

/// Windows of a noisy sum of two sines: `x` is (n, window, 1), `y` (n, 1) the value
/// right after each window.
pub fn series(n: usize, window: usize, rng: &mut SeededRng) -> (Array3<f32>, Array2<f32>) {
    let total = n + window;
    let values: Vec<f32> = (0..total)
        .map(|t| {
            let t = t as f32;
            (0.1 * t).sin() + 0.5 * (0.037 * t).sin() + 0.05 * (rng.uniform01() - 0.5)
        })
        .collect();
    let x = Array3::from_shape_fn((n, window, 1), |(i, t, _)| values[i + t]);
    let y = Array2::from_shape_fn((n, 1), |(i, _)| values[i + window]);
    (x, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentiment_labels_follow_word_counts() {
        let mut rng = SeededRng::new(1);
        let (texts, labels) = sentiment(200, &mut rng);
        for (t, l) in texts.iter().zip(&labels) {
            let words: Vec<&str> = t.trim_end_matches('.').split(' ').collect();
            let pos = words.iter().filter(|w| POSITIVE.contains(w)).count();
            let neg = words.iter().filter(|w| NEGATIVE.contains(w)).count();
            assert_eq!(*l == 1, pos > neg, "{t}");
        }
        assert!(labels.iter().filter(|&&l| l == 1).count() > 60);
        // Same seed, same data.
        assert_eq!(sentiment(5, &mut SeededRng::new(1)).0, texts[..5].to_vec());
    }

    #[test]
    fn memory_and_series_shapes() {
        let mut rng = SeededRng::new(2);
        let (xs, ys) = memory(10, 7, 20, &mut rng);
        for (x, y) in xs.iter().zip(&ys) {
            assert_eq!(x.len(), 7);
            assert_eq!(x[0], 1 + y);
            assert!(x[1..].iter().all(|&v| (3..20).contains(&v)));
        }
        let (x, y) = series(5, 4, &mut rng);
        assert_eq!(x.shape(), &[5, 4, 1]);
        assert_eq!(y.shape(), &[5, 1]);
        assert_eq!(x[[1, 3, 0]], y[[0, 0]]);
    }
}
