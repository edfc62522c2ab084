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

/// How the figures are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlotOptions {
    /// A log-scale value axis for the loss figures (`loss` and other `*loss` keys),
    /// as `plt.yscale("log")`; values <= 0 cannot be drawn on it and are left out
    /// with a warning.
    pub log_y: bool,
}

/// Draw `metric` (and `val_<metric>` if present) from `history` into `path`.
pub fn plot_metric(
    history: &BTreeMap<String, Vec<f64>>,
    metric: &str,
    path: &Path,
    format: PlotFormat,
) -> Result<()> {
    plot_metric_with(history, metric, path, format, PlotOptions::default())
}

/// `plot_metric` with `options`.
pub fn plot_metric_with(
    history: &BTreeMap<String, Vec<f64>>,
    metric: &str,
    path: &Path,
    format: PlotFormat,
    options: PlotOptions,
) -> Result<()> {
    register_font()?;
    let log_y = options.log_y && metric.ends_with("loss");
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
    if log_y {
        let bad = train
            .iter()
            .chain(val.into_iter().flatten())
            .filter(|v| v.is_finite() && **v <= 0.0)
            .count();
        if bad > 0 {
            eprintln!(
                "warning: {}: {bad} value(s) of {metric} are <= 0 and cannot be drawn on a \
                 log scale; they are left out",
                path.display()
            );
        }
    }
    match format {
        PlotFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
                draw(&root, metric, train, val, log_y).map_err(|e| plot_error(path, e))?;
                root.present().map_err(|e| plot_error(path, e))?;
            }
            write_atomic(path, svg.as_bytes())
        }
        PlotFormat::Png => {
            // The bitmap backend writes to a path, so draw into a temporary file next
            // to the destination (keeping the .png suffix the encoder needs) and
            // rename it into place: the same atomicity as `write_atomic`.
            let (target, dir) = crate::io::atomic::prepare_destination(path)?;
            let tmp = crate::io::atomic::temp_builder()
                .suffix(".png")
                .tempfile_in(&dir)
                .map_err(|e| Error::io(path, e))?;
            {
                let root = BitMapBackend::new(tmp.path(), SIZE).into_drawing_area();
                draw(&root, metric, train, val, log_y).map_err(|e| plot_error(path, e))?;
                root.present().map_err(|e| plot_error(path, e))?;
            }
            tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
            tmp.persist(&target).map_err(|e| Error::io(path, e.error))?;
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
    plot_history_with(history, dir, stem, PlotOptions::default())
}

/// `plot_history` with `options` (`--log-y`).
pub fn plot_history_with(
    history: &BTreeMap<String, Vec<f64>>,
    dir: &Path,
    stem: &str,
    options: PlotOptions,
) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for metric in plotted_metrics(history) {
        if history[&metric].is_empty() {
            continue;
        }
        for format in [PlotFormat::Png, PlotFormat::Svg] {
            let path = dir.join(format!("{stem}_{metric}.{}", format.extension()));
            plot_metric_with(history, &metric, &path, format, options)?;
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

/// MaxNLocator's steps: each decade divided as 1, 2, 2.5, 5 (and 10).
const TICK_STEPS: [f64; 5] = [1.0, 2.0, 2.5, 5.0, 10.0];

/// Ticks for the axis `lo..hi` as matplotlib's `MaxNLocator(nbins="auto", steps=[1, 2,
/// 2.5, 5, 10])` picks them: the smallest step of the form s x 10^k giving at most
/// `max_bins` intervals, then every multiple of it inside the range. Empty for a
/// degenerate range.
pub fn nice_ticks(lo: f64, hi: f64, max_bins: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || max_bins == 0 {
        return Vec::new();
    }
    let raw = (hi - lo) / max_bins as f64;
    let scale = 10f64.powf(raw.log10().floor());
    let step = TICK_STEPS
        .iter()
        .map(|s| s * scale)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * scale);
    let first = (lo / step).ceil();
    let last = (hi / step).floor();
    if !(first.is_finite() && last.is_finite()) || last - first > 1000.0 {
        return Vec::new();
    }
    (0..=(last - first) as i64)
        .map(|i| {
            let t = (first + i as f64) * step;
            // 0.30000000000000004 -> 0.3: round to the step's own precision.
            let digits = (-step.log10().floor()).max(0.0) as i32 + 2;
            let p = 10f64.powi(digits);
            (t * p).round() / p
        })
        .collect()
}

/// Where the legend goes, in matplotlib's `loc` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegendLoc {
    UpperRight,
    UpperLeft,
    LowerLeft,
    LowerRight,
    CenterRight,
    CenterLeft,
    LowerCenter,
    UpperCenter,
    Center,
}

impl LegendLoc {
    /// matplotlib's order of trial for `loc="best"` (codes 1..10; `right` and `center
    /// right` are the same box here): ties go to the earlier one.
    const BEST_ORDER: [LegendLoc; 9] = [
        LegendLoc::UpperRight,
        LegendLoc::UpperLeft,
        LegendLoc::LowerLeft,
        LegendLoc::LowerRight,
        LegendLoc::CenterRight,
        LegendLoc::CenterLeft,
        LegendLoc::LowerCenter,
        LegendLoc::UpperCenter,
        LegendLoc::Center,
    ];

    /// The legend box in axes fractions (x0, y0, x1, y1; y up) for a box of `w` x `h`
    /// with matplotlib's border padding.
    fn rect(self, w: f64, h: f64) -> (f64, f64, f64, f64) {
        const PAD: f64 = 0.02;
        let x0 = match self {
            LegendLoc::UpperLeft | LegendLoc::LowerLeft | LegendLoc::CenterLeft => PAD,
            LegendLoc::UpperRight | LegendLoc::LowerRight | LegendLoc::CenterRight => 1.0 - PAD - w,
            _ => (1.0 - w) / 2.0,
        };
        let y0 = match self {
            LegendLoc::LowerLeft | LegendLoc::LowerRight | LegendLoc::LowerCenter => PAD,
            LegendLoc::UpperLeft | LegendLoc::UpperRight | LegendLoc::UpperCenter => 1.0 - PAD - h,
            _ => (1.0 - h) / 2.0,
        };
        (x0, y0, x0 + w, y0 + h)
    }

    fn plotters(self) -> SeriesLabelPosition {
        match self {
            LegendLoc::UpperRight => SeriesLabelPosition::UpperRight,
            LegendLoc::UpperLeft => SeriesLabelPosition::UpperLeft,
            LegendLoc::LowerLeft => SeriesLabelPosition::LowerLeft,
            LegendLoc::LowerRight => SeriesLabelPosition::LowerRight,
            LegendLoc::CenterRight => SeriesLabelPosition::MiddleRight,
            LegendLoc::CenterLeft => SeriesLabelPosition::MiddleLeft,
            LegendLoc::LowerCenter => SeriesLabelPosition::LowerMiddle,
            LegendLoc::UpperCenter => SeriesLabelPosition::UpperMiddle,
            LegendLoc::Center => SeriesLabelPosition::MiddleMiddle,
        }
    }
}

/// matplotlib's `loc="best"` (`Legend._find_best_position`): the first position, in
/// its order, whose box covers the fewest data points plus line segments crossing it.
/// `curves` are in axes fractions (0..1 both ways, y up); the box is `w` x `h`.
pub fn best_legend_loc(curves: &[Vec<(f64, f64)>], w: f64, h: f64) -> LegendLoc {
    let badness = |loc: LegendLoc| -> usize {
        let r = loc.rect(w, h);
        let inside = |p: (f64, f64)| p.0 >= r.0 && p.0 <= r.2 && p.1 >= r.1 && p.1 <= r.3;
        let mut n = 0;
        for c in curves {
            n += c.iter().filter(|p| inside(**p)).count();
            n += c
                .windows(2)
                .filter(|s| segment_hits_rect(s[0], s[1], r))
                .count();
        }
        n
    };
    let mut best = (usize::MAX, LegendLoc::UpperRight);
    for loc in LegendLoc::BEST_ORDER {
        let b = badness(loc);
        if b < best.0 {
            best = (b, loc);
        }
    }
    best.1
}

/// Whether the segment a-b passes through the rectangle (x0, y0, x1, y1), by clipping
/// it against each side in turn (Liang-Barsky).
fn segment_hits_rect(a: (f64, f64), b: (f64, f64), r: (f64, f64, f64, f64)) -> bool {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - r.0),
        (dx, r.2 - a.0),
        (-dy, a.1 - r.1),
        (dy, r.3 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return false;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
            if t0 > t1 {
                return false;
            }
        }
    }
    true
}

/// The value axis: its range (the data's with matplotlib's 5% margins) and ticks, in
/// plotted units (log10 of the value on a log axis), and the tick labels.
struct ValueAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    log: bool,
}

impl ValueAxis {
    fn new(values: impl Iterator<Item = f64>, log: bool) -> Self {
        let values: Vec<f64> = values.filter_map(|v| to_axis(v, log)).collect::<Vec<_>>();
        let (lo, hi) = value_range(values.iter().copied());
        let ticks = if log {
            // Whole decades when the range spans two or more, else 1-2-2.5-5 steps of
            // the values themselves placed on the log axis.
            let (first, last) = (lo.ceil(), hi.floor());
            if last - first >= 1.0 {
                if last - first <= 10.0 {
                    (0..=(last - first) as i64)
                        .map(|i| first + i as f64)
                        .collect()
                } else {
                    let step = nice_ticks(lo, hi, 8);
                    step.into_iter().filter(|t| t.fract() == 0.0).collect()
                }
            } else {
                nice_ticks(10f64.powf(lo), 10f64.powf(hi), 6)
                    .into_iter()
                    .filter(|v| *v > 0.0)
                    .map(f64::log10)
                    .collect()
            }
        } else {
            nice_ticks(lo, hi, 8)
        };
        ValueAxis { lo, hi, ticks, log }
    }

    fn label(&self, t: f64) -> String {
        let v = if self.log { 10f64.powf(t) } else { t };
        let s = format!("{:.6}", v);
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" || s.is_empty() {
            "0".into()
        } else if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-4) {
            format!("{v:.0e}")
        } else {
            s.to_string()
        }
    }
}

/// A value as drawn: clamped (`plotted`), and its log10 on a log axis (None for <= 0).
fn to_axis(v: f64, log: bool) -> Option<f64> {
    let v = plotted(v)?;
    if log {
        (v > 0.0).then(|| v.log10())
    } else {
        Some(v)
    }
}

/// A linear f64 axis whose labelled ticks are given (`nice_ticks`) instead of
/// plotters' own choice.
struct Ticked {
    linear: plotters::coord::types::RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Self {
        Ticked {
            linear: (lo..hi).into(),
            ticks,
        }
    }
}

impl plotters::coord::ranged1d::Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;
    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }
    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, _: Hint) -> Vec<f64> {
        self.ticks.clone()
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.linear.range()
    }
}

/// Legend size in axes fractions for `entries` lines: measured on the 800x560 figure
/// (a 16 px font, 22 px per line, about 230 px wide for "Validation accuracy").
const LEGEND_W: f64 = 0.34;
fn legend_h(entries: usize) -> f64 {
    0.03 + 0.055 * entries as f64
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    metric: &str,
    train: &[f64],
    val: Option<&Vec<f64>>,
    log_y: bool,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let epochs = train.len().max(val.map_or(0, |v| v.len())).max(1);
    let all = train.iter().chain(val.into_iter().flatten()).copied();
    let axis = ValueAxis::new(all, log_y);
    let (lo, hi) = (axis.lo, axis.hi);
    let label = pretty(metric);
    let title = format!("Training and validation {}", metric.replace('_', " "));
    // Epochs are numbered from 1 as in the tutorials' `range(1, len(loss) + 1)`; the
    // x axis gets matplotlib's 5% margins too, so the first and last points are off
    // the frame.
    let x_max = if epochs == 1 { 2.0 } else { epochs as f64 };
    let x_pad = (x_max - 1.0) * 0.05;
    let (x_lo, x_hi) = (1.0 - x_pad, x_max + x_pad);
    let x_ticks: Vec<f64> = nice_ticks(x_lo, x_hi, 10)
        .into_iter()
        .filter(|t| t.fract() == 0.0)
        .collect();
    let y_ticks = axis.ticks.clone();
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT_FAMILY, 26))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            Ticked::new(x_lo, x_hi, x_ticks),
            Ticked::new(lo, hi, y_ticks),
        )?;
    let y_desc = if log_y {
        format!("{label} (log scale)")
    } else {
        label.clone()
    };
    chart
        .configure_mesh()
        .x_desc("Epochs")
        .y_desc(y_desc)
        .axis_desc_style((FONT_FAMILY, 20))
        .label_style((FONT_FAMILY, 15))
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .y_label_formatter(&|y| axis.label(*y))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let points = |s: &[f64]| -> Vec<(f64, f64)> {
        s.iter()
            .enumerate()
            .filter_map(|(i, v)| to_axis(*v, log_y).map(|v| ((i + 1) as f64, v)))
            .collect()
    };
    let tr = points(train);
    let vp = val.map(|v| points(v));
    let to_frac = |c: &[(f64, f64)]| -> Vec<(f64, f64)> {
        c.iter()
            .map(|(x, y)| ((x - x_lo) / (x_hi - x_lo), (y - lo) / (hi - lo)))
            .collect()
    };
    let mut curves = vec![to_frac(&tr)];
    if let Some(v) = &vp {
        curves.push(to_frac(v));
    }
    let loc = best_legend_loc(&curves, LEGEND_W, legend_h(curves.len()));
    chart
        .draw_series(LineSeries::new(tr.clone(), TRAIN_COLOR.stroke_width(2)))?
        .label(format!("Training {}", metric.replace('_', " ")))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], TRAIN_COLOR.stroke_width(2)));
    chart.draw_series(tr.iter().map(|p| Circle::new(*p, 4, TRAIN_COLOR.filled())))?;
    if let Some(vp) = vp {
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
        .position(loc.plotters())
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

    /// Axes-fraction curve of `values` over epochs 1..=n, as `draw` computes it.
    fn curve(values: &[f64]) -> Vec<(f64, f64)> {
        let axis = ValueAxis::new(values.iter().copied(), false);
        let n = values.len() as f64;
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64 / (n - 1.0), (v - axis.lo) / (axis.hi - axis.lo)))
            .collect()
    }

    #[test]
    fn ticks_step_as_max_n_locator() {
        let ticks = |lo, hi, n| nice_ticks(lo, hi, n);
        assert_eq!(ticks(0.0, 1.0, 8), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(ticks(0.26, 0.71, 8), [0.3, 0.4, 0.5, 0.6, 0.7]);
        // 2.5 steps: 0..10 in at most 4 bins.
        assert_eq!(ticks(0.0, 10.0, 4), [0.0, 2.5, 5.0, 7.5, 10.0]);
        assert_eq!(
            ticks(0.5, 20.5, 10),
            [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0]
        );
        assert_eq!(ticks(-3.2, 3.2, 8), [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]);
        assert_eq!(
            ticks(1e6, 5e6, 8),
            [1e6, 1.5e6, 2e6, 2.5e6, 3e6, 3.5e6, 4e6, 4.5e6, 5e6]
        );
        assert!(ticks(1.0, 1.0, 8).is_empty() && ticks(0.0, f64::INFINITY, 8).is_empty());
        // Every step is 1, 2, 2.5 or 5 times a power of ten.
        for (lo, hi) in [(0.013, 0.0171), (3.0, 977.0), (-0.5, 0.05), (0.69, 0.74)] {
            let t = ticks(lo, hi, 8);
            assert!(t.len() >= 2 && t.len() <= 9, "{lo}..{hi}: {t:?}");
            let step = t[1] - t[0];
            let m = step / 10f64.powf(step.log10().floor());
            assert!(
                [1.0, 2.0, 2.5, 5.0].iter().any(|s| (m - s).abs() < 1e-6),
                "{lo}..{hi}: step {step}"
            );
        }
    }

    #[test]
    fn values_of_one_are_off_the_frame() {
        let axis = ValueAxis::new([0.5, 0.9, 1.0, 1.0].into_iter(), false);
        // matplotlib's 5% margin: 1.0 sits 0.025 below the top.
        assert!((axis.hi - 1.025).abs() < 1e-12 && (axis.lo - 0.475).abs() < 1e-12);
        assert_eq!(axis.ticks, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]);
        assert_eq!(axis.label(1.0), "1");
        assert_eq!(axis.label(0.6), "0.6");
    }

    #[test]
    fn legend_goes_where_no_curve_is() {
        let (w, h) = (LEGEND_W, legend_h(2));
        // Falling losses leave the upper right free: matplotlib's first choice.
        let loss = curve(&[0.69, 0.55, 0.41, 0.33, 0.29]);
        let val_loss = curve(&[0.68, 0.58, 0.47, 0.44, 0.45]);
        assert_eq!(
            best_legend_loc(&[loss, val_loss], w, h),
            LegendLoc::UpperRight
        );
        // Rising accuracy reaching 1.0 fills the upper right; the upper left is free.
        let acc = curve(&[0.52, 0.71, 0.81, 0.96, 1.0, 1.0]);
        assert_eq!(
            best_legend_loc(&[acc], w, legend_h(1)),
            LegendLoc::UpperLeft
        );
        // A curve across the top and one up the left side: lower right.
        let top: Vec<(f64, f64)> = (0..=10).map(|i| (i as f64 / 10.0, 0.97)).collect();
        let left: Vec<(f64, f64)> = (0..=10).map(|i| (0.05, i as f64 / 10.0)).collect();
        assert_eq!(best_legend_loc(&[top, left], w, h), LegendLoc::LowerRight);
        // A flat line at the middle crossing everything but the corners' rows: upper.
        let mid: Vec<(f64, f64)> = (0..=10).map(|i| (i as f64 / 10.0, 0.5)).collect();
        assert_eq!(best_legend_loc(&[mid], w, h), LegendLoc::UpperRight);
        // Segments count even without a point inside: one long diagonal from the lower
        // left to the upper right crosses both of those corners' boxes.
        let diag = vec![(0.0, 0.0), (1.0, 1.0)];
        assert_eq!(best_legend_loc(&[diag], w, h), LegendLoc::UpperLeft);
    }

    #[test]
    fn log_axis_ticks_decades_and_skips_non_positive() {
        let axis = ValueAxis::new([1.0, 0.1, 0.01, 0.0, -1.0].into_iter(), true);
        assert_eq!(axis.ticks, [-2.0, -1.0, 0.0]);
        assert_eq!(axis.label(-2.0), "0.01");
        assert_eq!(axis.label(0.0), "1");
        // Less than a decade: 1-2-2.5-5 steps of the values, placed on the log axis.
        let axis = ValueAxis::new([0.69, 0.41, 0.29].into_iter(), true);
        let values: Vec<String> = axis.ticks.iter().map(|t| axis.label(*t)).collect();
        assert_eq!(values, ["0.3", "0.4", "0.5", "0.6", "0.7"]);
        let mut h = BTreeMap::new();
        h.insert("loss".to_string(), vec![0.5, 0.0, 0.1]);
        h.insert("accuracy".to_string(), vec![0.0, 0.5, 1.0]);
        let dir = tempfile::tempdir().unwrap();
        let files = plot_history_with(&h, dir.path(), "h", PlotOptions { log_y: true }).unwrap();
        assert_eq!(files.len(), 4);
        let svg = std::fs::read_to_string(dir.path().join("h_loss.svg")).unwrap();
        assert!(svg.contains("Loss (log scale)"), "no log label");
        // Accuracy stays linear: log_y is for the loss figures.
        let svg = std::fs::read_to_string(dir.path().join("h_accuracy.svg")).unwrap();
        assert!(!svg.contains("log scale"));
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
