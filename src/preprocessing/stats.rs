//! Sequence-length statistics, as the tutorials print them when choosing `maxlen`:
//! mean, median, min, max, percentiles (numpy's default linear interpolation), a
//! histogram with numpy's equal-width bins, and the fraction of sequences that fit.

use std::fmt;

use crate::{Error, Result};

/// Summary of a non-empty set of sequence lengths. `Display` prints a readable
/// summary and a text histogram (10 bins unless [`LengthStats::with_bins`]), plus the
/// fraction that fits when [`LengthStats::with_maxlen`] was given.
#[derive(Clone, Debug, PartialEq)]
pub struct LengthStats {
    sorted: Vec<usize>,
    pub count: usize,
    pub min: usize,
    pub max: usize,
    pub mean: f64,
    /// numpy's `median` (mean of the two middle values for an even count).
    pub median: f64,
    /// Population standard deviation (numpy's default `ddof=0`).
    pub std: f64,
    display_bins: usize,
    display_maxlen: Option<usize>,
}

/// Equal-width histogram as `numpy.histogram(lengths, bins=n)`: `edges` has `n + 1`
/// entries, every bin is half-open `[lo, hi)` except the last, which is closed.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub counts: Vec<usize>,
    pub edges: Vec<f64>,
}

impl LengthStats {
    /// Statistics of `lengths`; an empty slice is an error (nothing to summarise).
    pub fn from_lengths(lengths: &[usize]) -> Result<Self> {
        if lengths.is_empty() {
            return Err(Error::Data(
                "length statistics: no sequences (the list of lengths is empty)".into(),
            ));
        }
        let mut sorted = lengths.to_vec();
        sorted.sort_unstable();
        let count = sorted.len();
        let sum: u128 = sorted.iter().map(|&l| l as u128).sum();
        let mean = sum as f64 / count as f64;
        let var = sorted
            .iter()
            .map(|&l| {
                let d = l as f64 - mean;
                d * d
            })
            .sum::<f64>()
            / count as f64;
        let mid = count / 2;
        let median = if count % 2 == 1 {
            sorted[mid] as f64
        } else {
            (sorted[mid - 1] as f64 + sorted[mid] as f64) / 2.0
        };
        Ok(LengthStats {
            count,
            min: sorted[0],
            max: sorted[count - 1],
            mean,
            median,
            std: var.sqrt(),
            sorted,
            display_bins: 10,
            display_maxlen: None,
        })
    }

    /// Statistics of the lengths of `sequences` (token-id lists, padded rows, ...).
    pub fn from_sequences<T, S: AsRef<[T]>>(sequences: &[S]) -> Result<Self> {
        let lengths: Vec<usize> = sequences.iter().map(|s| s.as_ref().len()).collect();
        Self::from_lengths(&lengths)
    }

    /// Also report the fraction of sequences with length `<= maxlen` when displayed.
    pub fn with_maxlen(mut self, maxlen: usize) -> Self {
        self.display_maxlen = Some(maxlen);
        self
    }

    /// Number of histogram bins used by `Display` (at least 1).
    pub fn with_bins(mut self, bins: usize) -> Self {
        self.display_bins = bins.max(1);
        self
    }

    /// `numpy.percentile(lengths, q)` with the default "linear" method; `q` in [0, 100].
    pub fn percentile(&self, q: f64) -> Result<f64> {
        if !(0.0..=100.0).contains(&q) {
            return Err(Error::invalid_argument(
                "LengthStats::percentile",
                "q",
                format!("must be in [0, 100], got {q}"),
            ));
        }
        let pos = q / 100.0 * (self.count - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = (lo + 1).min(self.count - 1);
        let t = pos - lo as f64;
        let (a, b) = (self.sorted[lo] as f64, self.sorted[hi] as f64);
        // numpy's _lerp: interpolate from the nearer end for accuracy.
        let diff = b - a;
        Ok(if t >= 0.5 {
            b - diff * (1.0 - t)
        } else {
            a + diff * t
        })
    }

    /// Fraction of sequences with length `<= maxlen` (those `pad_sequences` keeps whole).
    pub fn fraction_at_most(&self, maxlen: usize) -> f64 {
        let n = self.sorted.partition_point(|&l| l <= maxlen);
        n as f64 / self.count as f64
    }

    /// `numpy.histogram(lengths, bins)`; `bins` must be at least 1.
    pub fn histogram(&self, bins: usize) -> Result<Histogram> {
        if bins == 0 {
            return Err(Error::invalid_argument(
                "LengthStats::histogram",
                "bins",
                "must be at least 1",
            ));
        }
        let (mut first, mut last) = (self.min as f64, self.max as f64);
        if first == last {
            first -= 0.5;
            last += 0.5;
        }
        // np.linspace: i * step + start, with the last edge set to stop exactly.
        let step = (last - first) / bins as f64;
        let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + first).collect();
        edges[bins] = last;
        let mut counts = vec![0usize; bins];
        let norm = last - first;
        for &l in &self.sorted {
            let x = l as f64;
            // Same index computation and ±1 corrections as numpy's uniform-bin path.
            let mut idx = (((x - first) / norm) * bins as f64) as usize;
            if idx == bins {
                idx -= 1;
            }
            if x < edges[idx] {
                idx -= 1;
            }
            if idx != bins - 1 && x >= edges[idx + 1] {
                idx += 1;
            }
            counts[idx] += 1;
        }
        Ok(Histogram { counts, edges })
    }
}

impl fmt::Display for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const BAR: usize = 40;
        let peak = self.counts.iter().copied().max().unwrap_or(0).max(1);
        let total: usize = self.counts.iter().sum();
        let label = |i: usize| {
            let close = if i + 1 == self.counts.len() { ']' } else { ')' };
            format!("[{:.1}, {:.1}{close}", self.edges[i], self.edges[i + 1])
        };
        let width = (0..self.counts.len())
            .map(|i| label(i).len())
            .max()
            .unwrap_or(0);
        for (i, &c) in self.counts.iter().enumerate() {
            let bar = "#".repeat((c * BAR).div_ceil(peak));
            let pct = if total > 0 {
                100.0 * c as f64 / total as f64
            } else {
                0.0
            };
            writeln!(f, "  {:<width$} {c:>8} {pct:>5.1}% {bar}", label(i))?;
        }
        Ok(())
    }
}

impl fmt::Display for LengthStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "sequences: {}", self.count)?;
        writeln!(
            f,
            "length: mean {:.1}, std {:.1}, min {}, median {:.1}, max {}",
            self.mean, self.std, self.min, self.median, self.max
        )?;
        let mut parts = Vec::new();
        for q in [25.0, 75.0, 90.0, 95.0, 99.0] {
            // q is in range, so percentile cannot fail.
            if let Ok(v) = self.percentile(q) {
                parts.push(format!("p{q}: {v:.1}"));
            }
        }
        writeln!(f, "percentiles: {}", parts.join(", "))?;
        if let Some(m) = self.display_maxlen {
            writeln!(
                f,
                "length <= {m}: {:.2}% of sequences",
                100.0 * self.fraction_at_most(m)
            )?;
        }
        if let Ok(h) = self.histogram(self.display_bins) {
            writeln!(f, "histogram ({} bins):", self.display_bins)?;
            write!(f, "{h}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_bad_arguments_are_errors() {
        assert!(LengthStats::from_lengths(&[]).is_err());
        let s = LengthStats::from_lengths(&[1, 2, 3]).unwrap();
        assert!(s.percentile(101.0).is_err());
        assert!(s.percentile(-1.0).is_err());
        assert!(s.histogram(0).is_err());
    }

    #[test]
    fn display_shows_summary_fraction_and_bars() {
        let s = LengthStats::from_sequences(&[vec![0; 3], vec![0; 5], vec![0; 10]])
            .unwrap()
            .with_maxlen(5)
            .with_bins(2);
        let text = s.to_string();
        assert!(text.contains("sequences: 3"), "{text}");
        assert!(text.contains("max 10"), "{text}");
        assert!(text.contains("length <= 5: 66.67%"), "{text}");
        assert!(text.contains("[3.0, 6.5)"), "{text}");
        assert!(text.contains("[6.5, 10.0]"), "{text}");
        assert!(text.contains('#'), "{text}");
    }
}
