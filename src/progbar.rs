//! The Keras progress bar (keras/src/utils/progbar.py), the one progress display of
//! `fit` (through `callbacks::ProgbarLogger`, which `fit` installs for `verbose > 0`
//! as Keras does), with `verbose`:
//!
//! - `1` on a terminal: a bar of Keras 3's width (20) redrawn in place,
//!   `157/313 ━━━━━━━━━━━━━━━━━━━━ 6s 38ms/step - loss: 0.4164 - accuracy: 0.8139`
//!   (ETA while running, elapsed time on the final line). Redraws are kept narrower
//!   than the terminal (the last metrics are left out first, then the bar shrinks):
//!   a line that wraps cannot be redrawn by `\r`, so each redraw would stack a new
//!   line (Keras has this problem in an 80-column terminal with three metrics). The
//!   final line, written once, keeps every value (it may wrap; nothing redraws it);
//! - `1` when stdout is not a terminal: one line per epoch, written when it ends,
//!   `313/313 - 12s 38ms/step - loss: 0.4164 - accuracy: 0.8139` (Keras would write a
//!   line per redraw, which floods logs);
//! - `2`: one line per epoch as Keras writes it, `313/313 - 12s - 38ms/step - loss: ...`;
//! - `0`: nothing.
//!
//! Values are shown as given (Keras 3's `ProgbarLogger` marks every metric stateful:
//! the model passes running means).

use std::io::Write;
use std::time::{Duration, Instant};

/// Keras 3's default bar width in characters (`Progbar(width=20)`).
const WIDTH: usize = 20;
/// Minimum time between two redraws on a terminal (Keras's `interval`).
const INTERVAL: Duration = Duration::from_millis(50);

/// How the bar is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Display {
    /// Redraw in place with ANSI colours (verbose 1 on a terminal).
    Dynamic,
    /// One line at the end (verbose 1 when not a terminal).
    EpochLine,
    /// Keras verbose 2.
    Verbose2,
    /// Nothing (verbose 0).
    Silent,
}

impl Display {
    /// The display for a Keras `verbose` value; `is_terminal` says whether the output
    /// is a terminal.
    pub fn for_verbose(verbose: u8, is_terminal: bool) -> Self {
        match verbose {
            0 => Display::Silent,
            1 if is_terminal => Display::Dynamic,
            1 => Display::EpochLine,
            _ => Display::Verbose2,
        }
    }
}

/// A progress bar over `target` steps.
pub struct Progbar {
    target: usize,
    display: Display,
    start: Instant,
    last_update: Option<Instant>,
    time_after_first_step: Option<Instant>,
    prev_total_width: usize,
    unit_name: &'static str,
    /// Terminal width for `Dynamic`; `None` when unknown (no limit).
    columns: Option<usize>,
}

impl Progbar {
    /// A bar over `target` steps; a `Dynamic` bar fits the terminal's width.
    pub fn new(target: usize, display: Display) -> Self {
        let mut bar = Self::starting_at(target, display, Instant::now());
        if display == Display::Dynamic {
            bar.columns = terminal_columns();
        }
        bar
    }

    /// Keep `Dynamic` lines narrower than `columns` characters.
    pub fn with_columns(mut self, columns: usize) -> Self {
        self.columns = Some(columns);
        self
    }

    /// A bar whose clock started at `start` (tests pass a fixed instant).
    pub fn starting_at(target: usize, display: Display, start: Instant) -> Self {
        Progbar {
            target,
            display,
            start,
            last_update: None,
            time_after_first_step: None,
            prev_total_width: 0,
            unit_name: "step",
            columns: None,
        }
    }

    /// The line a finished pass of `steps` steps that took `elapsed` prints: all that
    /// Keras shows of `evaluate` and `predict`, whose steps run without redraws here.
    /// Empty for `Display::Silent`.
    pub fn final_line(
        steps: usize,
        elapsed: Duration,
        values: &[(String, f64)],
        display: Display,
    ) -> String {
        let now = Instant::now();
        let start = now.checked_sub(elapsed).unwrap_or(now);
        let mut bar = Progbar::new(steps, display);
        bar.start = start;
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = bar.update_at(steps, values, true, now, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Report `current` steps done with the running `values`; `finalize` marks the
    /// last update of the epoch. Writes to `out` (stdout in `fit`).
    pub fn update(
        &mut self,
        current: usize,
        values: &[(String, f64)],
        finalize: bool,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        self.update_at(current, values, finalize, Instant::now(), out)
    }

    /// `update` with an explicit clock reading.
    pub fn update_at(
        &mut self,
        current: usize,
        values: &[(String, f64)],
        finalize: bool,
        now: Instant,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let time_per_unit = self.estimate_step_duration(current, now);
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        let message = match self.display {
            Display::Silent => None,
            Display::Dynamic => {
                if !finalize
                    && self
                        .last_update
                        .is_some_and(|t| now.saturating_duration_since(t) < INTERVAL)
                {
                    return Ok(());
                }
                let (text, visible) =
                    self.dynamic_line(current, values, finalize, elapsed, time_per_unit);
                let mut message = format!("\r{text}");
                if self.prev_total_width > visible {
                    message.push_str(&" ".repeat(self.prev_total_width - visible));
                }
                if finalize {
                    message.push('\n');
                }
                self.prev_total_width = visible;
                Some(message)
            }
            Display::EpochLine if finalize => Some(format!(
                "{} - {:.0}s{}{}\n",
                self.count(current),
                elapsed,
                format_time(time_per_unit, self.unit_name),
                format_values(values, true)
            )),
            Display::Verbose2 if finalize => Some(format!(
                "{} - {:.0}s -{}{}\n",
                self.count(current),
                elapsed,
                format_time(time_per_unit, self.unit_name),
                format_values(values, false)
            )),
            Display::EpochLine | Display::Verbose2 => None,
        };
        self.last_update = Some(now);
        if let Some(m) = message {
            out.write_all(m.as_bytes())?;
            out.flush()?;
        }
        Ok(())
    }

    /// `  7/313` with the step count right-aligned to the target's width.
    fn count(&self, current: usize) -> String {
        let digits = self.target.max(1).to_string().len();
        format!("{current:>digits$}/{}", self.target)
    }

    /// The redrawn line and its visible width (without ANSI escapes), at most
    /// `columns - 1` wide: the terminal's last column stays free, because a line that
    /// fills it wraps on some terminals.
    fn dynamic_line(
        &self,
        current: usize,
        values: &[(String, f64)],
        finalize: bool,
        elapsed: f64,
        time_per_unit: f64,
    ) -> (String, usize) {
        let count = self.count(current);
        let time = if finalize {
            format!("{elapsed:.0}s")
        } else {
            format_eta(time_per_unit * self.target.saturating_sub(current) as f64)
        };
        let step_time = format_time(time_per_unit, self.unit_name);
        // `count ` + bar + ` time`, then the step time and the values as room allows.
        let fixed = count.chars().count() + 1 + 1 + time.chars().count();
        // The final line is written once and ends the line, so it may wrap: it keeps
        // every value (val_loss included) whatever the width.
        let budget = match self.columns {
            Some(c) if !finalize => c.saturating_sub(1),
            _ => usize::MAX,
        };
        let width = WIDTH.min(budget.saturating_sub(fixed));
        let mut visible = fixed + width;
        let mut info = String::new();
        for part in std::iter::once(step_time).chain(
            values
                .iter()
                .map(|(k, v)| format_values(&[(k.clone(), *v)], true)),
        ) {
            let n = part.chars().count();
            if visible + n > budget {
                break;
            }
            visible += n;
            info.push_str(&part);
        }
        let prog_width = if self.target > 0 {
            (width as f64 * current as f64 / self.target as f64) as usize
        } else {
            0
        }
        .min(width);
        let mut text = format!("\x1b[1m{count}\x1b[0m ");
        if prog_width > 0 {
            text.push_str(&format!("\x1b[32m{}\x1b[0m", "━".repeat(prog_width)));
        }
        text.push_str(&format!(
            "\x1b[37m{}\x1b[0m",
            "━".repeat(width - prog_width)
        ));
        text.push_str(&format!(" \x1b[1m{time}\x1b[0m{info}"));
        (text, visible)
    }

    /// Keras's estimate: ignore the (usually slow) first step once there are more.
    fn estimate_step_duration(&mut self, current: usize, now: Instant) -> f64 {
        if current == 0 {
            return 0.0;
        }
        let per_unit = match self.time_after_first_step {
            Some(t) if current > 1 => {
                now.saturating_duration_since(t).as_secs_f64() / (current - 1) as f64
            }
            _ => now.saturating_duration_since(self.start).as_secs_f64() / current as f64,
        };
        if current == 1 {
            self.time_after_first_step = Some(now);
        }
        per_unit
    }
}

/// The width of the terminal on stdout, else `$COLUMNS`, else `None`.
fn terminal_columns() -> Option<usize> {
    if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size() {
        return Some(usize::from(w));
    }
    std::env::var("COLUMNS").ok()?.trim().parse().ok()
}

/// ` 38ms/step`, ` 2s/step`, ` 250us/step` as Keras's `_format_time`.
pub fn format_time(time_per_unit: f64, unit_name: &str) -> String {
    if time_per_unit >= 1.0 || time_per_unit == 0.0 {
        format!(" {time_per_unit:.0}s/{unit_name}")
    } else if time_per_unit >= 1e-3 {
        format!(" {:.0}ms/{unit_name}", time_per_unit * 1e3)
    } else {
        format!(" {:.0}us/{unit_name}", time_per_unit * 1e6)
    }
}

/// Remaining time as Keras shows it: `42s`, `3:07`, `1:02:03` (truncated seconds).
pub fn format_eta(eta: f64) -> String {
    let e = eta.max(0.0) as u64;
    if eta > 3600.0 {
        format!("{}:{:02}:{:02}", e / 3600, (e % 3600) / 60, e % 60)
    } else if eta > 60.0 {
        format!("{}:{:02}", e / 60, e % 60)
    } else {
        format!("{e}s")
    }
}

/// ` - loss: 0.4164 - accuracy: 0.8139`. Keras's verbose-1 path switches to
/// scientific notation when `|v| <= 1e-3`, its verbose-2 path when `v <= 1e-3`;
/// `abs` selects which.
pub fn format_values(values: &[(String, f64)], abs: bool) -> String {
    let mut s = String::new();
    for (k, v) in values {
        let big = if abs { v.abs() > 1e-3 } else { *v > 1e-3 };
        let shown = if big || v.is_nan() || v.is_infinite() {
            python_fixed4(*v)
        } else {
            python_exp4(*v)
        };
        s.push_str(&format!(" - {k}: {shown}"));
    }
    s
}

/// Python's `f"{v:.4f}"` (NaN and infinities as `nan`, `inf`).
fn python_fixed4(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v:.4}")
    }
}

/// Python's `f"{v:.4e}"`: at least two exponent digits with a sign (`1.2340e-05`).
fn python_exp4(v: f64) -> String {
    let s = format!("{v:.4e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals() -> Vec<(String, f64)> {
        vec![("loss".into(), 0.41642), ("accuracy".into(), 0.81393)]
    }

    /// `l` without its ANSI colour escapes.
    fn strip(l: &str) -> String {
        let mut out = String::new();
        let mut chars = l.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for d in chars.by_ref() {
                    if d == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn run(display: Display, steps: &[(usize, u64, bool)]) -> String {
        let t0 = Instant::now();
        let mut bar = Progbar::starting_at(313, display, t0);
        let mut out = Vec::new();
        for &(cur, ms, fin) in steps {
            bar.update_at(cur, &vals(), fin, t0 + Duration::from_millis(ms), &mut out)
                .unwrap();
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn epoch_line_when_not_a_terminal() {
        // First step 500 ms, then 312 steps of 38 ms: 12.356 s in all.
        let s = run(
            Display::EpochLine,
            &[
                (1, 500, false),
                (100, 500 + 99 * 38, false),
                (313, 500 + 312 * 38, true),
            ],
        );
        assert_eq!(
            s,
            "313/313 - 12s 38ms/step - loss: 0.4164 - accuracy: 0.8139\n"
        );
    }

    #[test]
    fn final_line_of_evaluate() {
        let v = [
            ("loss".to_string(), 0.4164),
            ("accuracy".to_string(), 0.8139),
        ];
        let d = Duration::from_millis(12_400);
        assert_eq!(
            Progbar::final_line(313, d, &v, Display::Verbose2),
            "313/313 - 12s - 40ms/step - loss: 0.4164 - accuracy: 0.8139\n"
        );
        assert_eq!(
            Progbar::final_line(313, d, &v, Display::EpochLine),
            "313/313 - 12s 40ms/step - loss: 0.4164 - accuracy: 0.8139\n"
        );
        assert_eq!(Progbar::final_line(313, d, &v, Display::Silent), "");
        // An elapsed time the clock cannot go back by counts from now.
        let huge = Progbar::final_line(2, Duration::MAX, &[], Display::Verbose2);
        assert_eq!(huge, "2/2 - 0s - 0s/step\n");
    }

    #[test]
    fn verbose_2_matches_keras() {
        let s = run(
            Display::Verbose2,
            &[(1, 500, false), (313, 500 + 312 * 38, true)],
        );
        assert_eq!(
            s,
            "313/313 - 12s - 38ms/step - loss: 0.4164 - accuracy: 0.8139\n"
        );
        assert_eq!(run(Display::Silent, &[(313, 100, true)]), "");
    }

    #[test]
    fn dynamic_bar_shows_eta_then_elapsed() {
        let s = run(
            Display::Dynamic,
            &[
                (1, 500, false),
                (157, 500 + 156 * 38, false),
                (313, 500 + 312 * 38, true),
            ],
        );
        let lines: Vec<&str> = s.split('\r').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 3);
        let mid = strip(lines[1]);
        // 157 of 313 steps: 10 of 20 bar cells (Keras 3's width), ETA 156 * 38 ms =
        // 5.9 s -> "5s".
        assert!(
            mid.starts_with("157/313 ━━━━━━━━━━━━━━━━━━━━ 5s 38ms/step - loss: 0.4164"),
            "{mid}"
        );
        assert!(lines[1].contains(&format!("\x1b[32m{}\x1b[0m", "━".repeat(10))));
        let last = strip(lines[2]);
        assert!(
            last.starts_with(
                "313/313 ━━━━━━━━━━━━━━━━━━━━ 12s 38ms/step - loss: 0.4164 - accuracy: 0.8139"
            ),
            "{last}"
        );
        assert!(last.ends_with('\n'));
    }

    #[test]
    fn dynamic_lines_fit_the_terminal_width() {
        // Keras's line for fit with validation is 107 characters here: in an
        // 80-column terminal every redraw would wrap and stack a new line.
        let values: Vec<(String, f64)> = [
            ("accuracy", 0.81393),
            ("loss", 0.41642),
            ("val_accuracy", 0.80211),
            ("val_loss", 0.43127),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
        let t0 = Instant::now();
        for columns in [80, 60, 24] {
            let mut bar = Progbar::starting_at(313, Display::Dynamic, t0).with_columns(columns);
            let mut out = Vec::new();
            for (cur, ms, fin) in [(1, 500, false), (157, 6428, false), (313, 12356, true)] {
                bar.update_at(cur, &values, fin, t0 + Duration::from_millis(ms), &mut out)
                    .unwrap();
            }
            let text = String::from_utf8(out).unwrap();
            let lines: Vec<String> = text.split('\r').skip(1).map(strip).collect();
            let [first, mid, last] = &lines[..] else {
                panic!("{lines:?}")
            };
            // Redraws stay narrower than the terminal ...
            for line in [first, mid] {
                let shown = line.trim_end().chars().count();
                assert!(shown < columns, "{columns} columns: {shown}: {line:?}");
            }
            // ... the final line, written once, keeps every value.
            assert!(
                last.starts_with(
                    "313/313 ━━━━━━━━━━━━━━━━━━━━ 12s 38ms/step - accuracy: 0.8139 - loss: \
                     0.4164 - val_accuracy: 0.8021 - val_loss: 0.4313"
                ),
                "{last:?}"
            );
            if columns == 80 {
                // Whole metrics are left out from the end; the bar stays 20 wide.
                assert_eq!(
                    mid.trim_end(),
                    "157/313 ━━━━━━━━━━━━━━━━━━━━ 5s 38ms/step - accuracy: 0.8139 - loss: 0.4164"
                );
            }
        }
    }

    #[test]
    fn redraws_are_rate_limited_but_final_line_is_not() {
        let s = run(
            Display::Dynamic,
            &[(1, 10, false), (2, 20, false), (3, 25, true)],
        );
        assert_eq!(s.matches('\r').count(), 2);
    }

    /// From `model/fit.rs`, whose own progress line this bar replaced.
    #[test]
    fn values_are_formatted_as_keras() {
        let one = |v: f64| format_values(&[("loss".into(), v)], true);
        assert_eq!(one(0.41642), " - loss: 0.4164");
        assert_eq!(one(0.00012345), " - loss: 1.2345e-04");
        assert_eq!(one(0.0), " - loss: 0.0000e+00");
    }

    #[test]
    fn number_and_time_formats_follow_python() {
        assert_eq!(python_exp4(1.234e-5), "1.2340e-05");
        assert_eq!(python_exp4(-2.0e-4), "-2.0000e-04");
        assert_eq!(python_exp4(0.0), "0.0000e+00");
        assert_eq!(
            format_values(&[("loss".into(), 0.0005)], true),
            " - loss: 5.0000e-04"
        );
        assert_eq!(
            format_values(&[("loss".into(), -0.5)], false),
            " - loss: -5.0000e-01"
        );
        assert_eq!(
            format_values(&[("loss".into(), f64::NAN)], true),
            " - loss: nan"
        );
        assert_eq!(format_time(0.038, "step"), " 38ms/step");
        assert_eq!(format_time(2.4, "step"), " 2s/step");
        assert_eq!(format_time(0.00025, "step"), " 250us/step");
        assert_eq!(format_eta(42.9), "42s");
        assert_eq!(format_eta(187.0), "3:07");
        assert_eq!(format_eta(3723.0), "1:02:03");
    }
}
