//! Training curves like the Keras tutorials' matplotlib figures: for each metric
//! (`loss`, `accuracy`, ...) the training values and the `val_` values against the
//! epoch number, with labelled axes and a legend, as PNG and SVG.
//!
//! The PNG text is drawn with an embedded DejaVu Sans (plotters' `ab_glyph`
//! feature), so plots render the same on a machine without any system font.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::io::atomic::write_atomic;

/// DejaVu Sans (Bitstream Vera license, see assets/fonts/DejaVuSans-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const FONT_FAMILY: &str = "sans-serif";
const SIZE: (u32, u32) = (800, 560);
const TRAIN_COLOR: RGBColor = RGBColor(31, 119, 180); // matplotlib's C0 blue
const VAL_COLOR: RGBColor = RGBColor(255, 127, 14); // matplotlib's C1 orange

fn register_font() -> Result<()> {
    // Registered once per process; the result is remembered for later calls.
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT).is_ok()
    });
    if !ok {
        return Err(Error::State(
            "the embedded plot font could not be loaded".into(),
        ));
    }
    Ok(())
}

/// Image formats for `plot_metric`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    Png,
    Svg,
}

impl PlotFormat {
    pub fn extension(self) -> &'static str {
        match self {
            PlotFormat::Png => "png",
            PlotFormat::Svg => "svg",
        }
    }

    /// The format named by a path's extension (`.png` or `.svg`).
    pub fn from_path(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
        {
            Some(e) if e == "png" => Ok(PlotFormat::Png),
            Some(e) if e == "svg" => Ok(PlotFormat::Svg),
            _ => Err(Error::invalid_argument(
                "plot",
                "path",
                format!("{} must end in .png or .svg", path.display()),
            )),
        }
    }
}

/// The metrics that get a figure: every history key that is not a `val_` key (and
/// not the learning rate), in a stable order with `loss` first.
pub fn plotted_metrics(history: &BTreeMap<String, Vec<f64>>) -> Vec<String> {
    let mut names: Vec<String> = history
        .keys()
        .filter(|k| !k.starts_with("val_") && k.as_str() != "learning_rate")
        .cloned()
        .collect();
    names.sort_by_key(|k| (k != "loss", k.clone()));
    names
}

/// "val_accuracy" -> "Accuracy"; used for the axis label and title.
fn pretty(metric: &str) -> String {
    let words: Vec<String> = metric
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect();
    words.join(" ")
}

/// Draw `metric` (and `val_<metric>` if present) from `history` into `path`.
pub fn plot_metric(
    history: &BTreeMap<String, Vec<f64>>,
    metric: &str,
    path: &Path,
    format: PlotFormat,
) -> Result<()> {
    register_font()?;
    let train = history.get(metric).ok_or_else(|| {
        Error::invalid_argument(
            "plot",
            "metric",
            format!(
                "`{metric}` is not in the history (it has: {})",
                history.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let val = history.get(&format!("val_{metric}"));
    match format {
        PlotFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                draw(&root, metric, train, val).map_err(|e| plot_error(path, e))?;
                root.present().map_err(|e| plot_error(path, e))?;
            }
            write_atomic(path, svg.as_bytes())
        }
        PlotFormat::Png => {
            // The bitmap backend writes to a path, so draw into a temporary file next
            // to the destination (keeping the .png suffix the encoder needs) and
            // rename it into place: the same atomicity as `write_atomic`.
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            crate::io::atomic::clean_stale_temps(&dir);
            let tmp = crate::io::atomic::temp_builder()
                .suffix(".png")
                .tempfile_in(&dir)
                .map_err(|e| Error::io(path, e))?;
            {
                let root = BitMapBackend::new(tmp.path(), SIZE).into_drawing_area();
                draw(&root, metric, train, val).map_err(|e| plot_error(path, e))?;
                root.present().map_err(|e| plot_error(path, e))?;
            }
            tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
            tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
            Ok(())
        }
    }
}

/// Write `<stem>_<metric>.png` and `.svg` for every plotted metric into `dir`;
/// returns the files written.
pub fn plot_history(
    history: &BTreeMap<String, Vec<f64>>,
    dir: &Path,
    stem: &str,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for metric in plotted_metrics(history) {
        if history[&metric].is_empty() {
            continue;
        }
        for format in [PlotFormat::Png, PlotFormat::Svg] {
            let path = dir.join(format!("{stem}_{metric}.{}", format.extension()));
            plot_metric(history, &metric, &path, format)?;
            written.push(path);
        }
    }
    Ok(written)
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::format(path, format!("cannot draw plot: {e}"))
}

/// Largest magnitude plotted: values beyond it (a diverged loss near f64::MAX) are
/// drawn at this bound. plotters computes the axis ticks by stepping through the
/// range, and a range whose span overflows to infinity (or whose step underflows
/// against its magnitude) never finishes.
const PLOT_LIMIT: f64 = 1e300;

/// A value as plotted: finite values clamped to `PLOT_LIMIT`, others left out.
fn plotted(v: f64) -> Option<f64> {
    v.is_finite().then(|| v.clamp(-PLOT_LIMIT, PLOT_LIMIT))
}

/// Axis range with a small margin; a flat or single-point series still gets a
/// visible range, and the range is always finite with a span plotters can step
/// through (see `PLOT_LIMIT`).
fn value_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter_map(plotted) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    // A span far below the values' own precision is drawn as flat.
    let pad = if span > lo.abs().max(hi.abs()) * 1e-9 {
        span * 0.05
    } else {
        lo.abs().max(1.0) * 0.05
    };
    (lo - pad, hi + pad)
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    metric: &str,
    train: &[f64],
    val: Option<&Vec<f64>>,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let epochs = train.len().max(val.map_or(0, |v| v.len())).max(1);
    let all = train.iter().chain(val.into_iter().flatten()).copied();
    let (lo, hi) = value_range(all);
    let label = pretty(metric);
    let title = format!("Training and validation {}", metric.replace('_', " "));
    // Epochs are numbered from 1 as in the tutorials' `range(1, len(loss) + 1)`.
    let x_max = if epochs == 1 { 2.0 } else { epochs as f64 };
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT_FAMILY, 26))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(1.0f64..x_max, lo..hi)?;
    chart
        .configure_mesh()
        .x_desc("Epochs")
        .y_desc(label.clone())
        .axis_desc_style((FONT_FAMILY, 20))
        .label_style((FONT_FAMILY, 15))
        .x_labels(epochs.min(10) + 1)
        .x_label_formatter(&|x| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        })
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let points = |s: &[f64]| -> Vec<(f64, f64)> {
        s.iter()
            .enumerate()
            .filter_map(|(i, v)| plotted(*v).map(|v| ((i + 1) as f64, v)))
            .collect()
    };
    let tr = points(train);
    chart
        .draw_series(LineSeries::new(tr.clone(), TRAIN_COLOR.stroke_width(2)))?
        .label(format!("Training {}", metric.replace('_', " ")))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], TRAIN_COLOR.stroke_width(2)));
    chart.draw_series(tr.iter().map(|p| Circle::new(*p, 4, TRAIN_COLOR.filled())))?;
    if let Some(v) = val {
        let vp = points(v);
        chart
            .draw_series(LineSeries::new(vp.clone(), VAL_COLOR.stroke_width(2)))?
            .label(format!("Validation {}", metric.replace('_', " ")))
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], VAL_COLOR.stroke_width(2))
            });
        chart.draw_series(
            vp.iter()
                .map(|p| TriangleMarker::new(*p, 5, VAL_COLOR.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT_FAMILY, 16))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> BTreeMap<String, Vec<f64>> {
        let mut h = BTreeMap::new();
        h.insert("loss".into(), vec![0.69, 0.55, 0.41, 0.33, 0.29]);
        h.insert("val_loss".into(), vec![0.68, 0.58, 0.47, 0.44, 0.45]);
        h.insert("accuracy".into(), vec![0.52, 0.71, 0.81, 0.86, 0.89]);
        h.insert("val_accuracy".into(), vec![0.55, 0.69, 0.78, 0.80, 0.80]);
        h
    }

    #[test]
    fn metric_order_puts_loss_first_and_skips_val() {
        assert_eq!(plotted_metrics(&history()), vec!["loss", "accuracy"]);
    }

    #[test]
    fn writes_png_and_svg_with_labels() {
        let dir = tempfile::tempdir().unwrap();
        let files = plot_history(&history(), dir.path(), "history").unwrap();
        assert_eq!(files.len(), 4);
        let png = std::fs::read(dir.path().join("history_loss.png")).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let svg = std::fs::read_to_string(dir.path().join("history_accuracy.svg")).unwrap();
        for text in [
            "Epochs",
            "Accuracy",
            "Training accuracy",
            "Validation accuracy",
        ] {
            assert!(svg.contains(text), "svg lacks {text}");
        }
        // Only the four plots: the temporary files were renamed away.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }

    #[test]
    fn single_epoch_and_missing_metric() {
        let mut h = BTreeMap::new();
        h.insert("loss".to_string(), vec![0.5]);
        let dir = tempfile::tempdir().unwrap();
        plot_history(&h, dir.path(), "h").unwrap();
        let e = plot_metric(&h, "accuracy", &dir.path().join("x.svg"), PlotFormat::Svg)
            .unwrap_err()
            .to_string();
        assert!(e.contains("accuracy") && e.contains("loss"), "{e}");
    }

    #[test]
    fn extreme_values_plot_promptly() {
        // A diverged loss near f64::MAX, infinities, NaN and values a hair apart at a
        // huge magnitude: each used to send plotters' tick loop spinning.
        let series: [&[f64]; 5] = [
            &[0.7, 0.5, f64::MAX * 0.9],
            &[f64::MAX, -f64::MAX],
            &[0.5, f64::INFINITY, f64::NAN, f64::NEG_INFINITY],
            &[1e300, 1e300 * (1.0 + f64::EPSILON)],
            &[f64::MIN_POSITIVE, 5e-324],
        ];
        let dir = tempfile::tempdir().unwrap();
        for (i, s) in series.iter().enumerate() {
            let mut h = BTreeMap::new();
            h.insert("loss".to_string(), s.to_vec());
            h.insert("val_loss".to_string(), s.iter().rev().copied().collect());
            let start = std::time::Instant::now();
            plot_history(&h, dir.path(), &format!("h{i}")).unwrap();
            let took = start.elapsed();
            assert!(took.as_secs() < 10, "series {i} took {took:?}");
        }
    }
}
