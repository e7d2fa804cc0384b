//! Axes: the unit values are read in, where the ticks go and how they read. Every axis gets
//! its ticks here (round durations on time axes, 1-2-5 steps on linear axes, decades on log
//! axes, a sweep's own values, every category), and all the ticks of one axis share one format:
//! one unit of time (`0.5h`, `1h`, `1.5h`), one scale of counts (`2k`, `4k`, `14k`, never
//! `4000` beside `14k`), one size unit. Also the colours and dash patterns of series, and
//! labels wrapped at separators only.

use crate::units::{format_duration_short, trimmed};
use plotters::style::RGBColor;

/// How values on an axis read.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Unit {
    #[default]
    Count,
    Seconds,
    Bytes,
    /// A share in [0, 1], shown as %.
    Share,
    /// Categories at 0, 1, 2, ... with these labels.
    Category(Vec<String>),
}

impl Unit {
    /// One value on its own (a label, not a tick: see [`tick_labels`] for an axis).
    pub fn format(&self, v: f64) -> String {
        match self {
            Unit::Count => format_number(v),
            Unit::Seconds => format_duration_short(v),
            Unit::Bytes => format_bytes(v),
            Unit::Share => {
                let p = v * 100.0;
                if p != 0.0 && p.abs() < 1.0 { format!("{p:.2}%") } else { format!("{}%", trimmed(p, 1)) }
            }
            Unit::Category(labels) => category(labels, v),
        }
    }
}

fn category(labels: &[String], v: f64) -> String {
    let i = v.round();
    if (v - i).abs() < 1e-6 && i >= 0.0 { labels.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
}

pub fn format_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", trimmed(v / 1e9, 2))
    } else if a >= 1e6 {
        format!("{}M", trimmed(v / 1e6, 2))
    } else if a >= 1e4 {
        format!("{}k", trimmed(v / 1e3, 1))
    } else if a >= 100.0 || a == 0.0 {
        trimmed(v, 0)
    } else if a >= 1.0 {
        trimmed(v, 2)
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

pub use crate::units::format_bytes;

/// The fewest decimals (up to 6) that write every one of `values` exactly.
fn decimals_for(values: &[f64]) -> usize {
    let scale = values.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    (0..=6)
        .find(|&d| {
            let k = 10f64.powi(d as i32);
            values.iter().all(|v| ((v * k).round() / k - v).abs() <= scale * 1e-9)
        })
        .unwrap_or(6)
}

/// Writes `values / div` with the same number of decimals each, zeros trimmed. Zero is `0`
/// for counts and sizes (no `0k`).
fn scaled(values: &[f64], div: f64, suffix: &str) -> Vec<String> {
    let v: Vec<f64> = values.iter().map(|x| x / div).collect();
    let d = decimals_for(&v);
    let bare_zero = !matches!(suffix, "%" | "d" | "h" | "m" | "s" | "ms" | "us");
    v.iter().map(|x| if *x == 0.0 && bare_zero { "0".into() } else { format!("{}{suffix}", trimmed(*x, d)) }).collect()
}

/// Groups the digits of an integer part by thousands: `20000` → `20,000`.
fn grouped(s: &str) -> String {
    let (sign, rest) = s.strip_prefix('-').map_or(("", s), |r| ("-", r));
    let (int, frac) = rest.split_once('.').map_or((rest, None), |(a, b)| (a, Some(b)));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{out}.{f}"),
        None => format!("{sign}{out}"),
    }
}

/// The labels of an axis's ticks, all in one format: one unit of time on a linear time axis,
/// one scale (k, M, G) for counts, one size unit, the same decimals.
pub fn tick_labels(unit: &Unit, ticks: &[f64], log: bool) -> Vec<String> {
    let max = ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let nonzero: Vec<f64> = ticks.iter().copied().filter(|v| *v != 0.0).collect();
    match unit {
        Unit::Category(labels) => ticks.iter().map(|v| category(labels, *v)).collect(),
        Unit::Count => {
            // A scale only when every tick reads as a round number in it (2k, 4k, 14k); plain
            // digits, grouped by thousands, otherwise (3, 30, 200, 2,000, 20,000).
            let scale = [(1e9, "G"), (1e6, "M"), (1e3, "k")].into_iter().find(|(s, _)| {
                max >= 10.0 * s
                    && nonzero.iter().all(|v| v.abs() >= *s)
                    && decimals_for(&nonzero.iter().map(|v| v / s).collect::<Vec<_>>()) <= 1
            });
            match scale {
                Some((s, suffix)) => scaled(ticks, s, suffix),
                None => scaled(ticks, 1.0, "").iter().map(|s| grouped(s)).collect(),
            }
        }
        Unit::Share => scaled(ticks, 0.01, "%"),
        Unit::Bytes => {
            let (div, name) = [(1u64 << 30, " GiB"), (1 << 20, " MiB"), (1 << 10, " KiB")]
                .into_iter()
                .find(|(d, _)| max >= *d as f64)
                .unwrap_or((1, " B"));
            scaled(ticks, div as f64, name)
        }
        // Round durations of their own (a log axis, a sweep's values): each in its own unit.
        Unit::Seconds if log || !evenly_spaced(ticks) => ticks.iter().map(|v| format_duration_short(*v)).collect(),
        Unit::Seconds => {
            // Days for steps of a day or more; below, the largest unit of which the step is at
            // least a quarter: 6h steps read 6h, 12h, 18h; 15m steps 0.25h, 0.5h, 0.75h; 10m
            // steps 10m, 20m, 30m.
            let step = ticks.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
            let step = if step.is_finite() { step } else { max.max(1e-6) };
            let (div, name) = [(86400.0, "d", 1.0), (3600.0, "h", 0.25), (60.0, "m", 0.25), (1.0, "s", 0.25)]
                .into_iter()
                .chain([(1e-3, "ms", 0.25), (1e-6, "us", 0.0)])
                .find(|(d, _, k)| step >= d * k - 1e-12)
                .map_or((1e-6, "us"), |(d, n, _)| (d, n));
            // Minutes past the first hour read as hours and minutes (1h, 1h10m, 1h20m).
            let whole_minutes = ticks.iter().all(|v| (v / 60.0 - (v / 60.0).round()).abs() < 1e-9);
            if name == "m" && max >= 3600.0 && whole_minutes {
                return ticks.iter().map(|v| hours_minutes(*v)).collect();
            }
            scaled(ticks, div, name)
        }
    }
}

/// Whether ticks are a regular grid (at least three, equally spaced) rather than values of
/// their own.
fn evenly_spaced(ticks: &[f64]) -> bool {
    let steps: Vec<f64> = ticks.windows(2).map(|w| w[1] - w[0]).collect();
    ticks.len() >= 3 && steps.windows(2).all(|w| (w[0] - w[1]).abs() <= 1e-6 * w[0].abs().max(1e-12))
}

/// A whole number of minutes as `45m`, `1h`, `1h10m`.
fn hours_minutes(v: f64) -> String {
    let m = (v / 60.0).round() as i64;
    match (m / 60, m % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// 1-2-5 steps: the first whose ticks over [lo, hi] number at most `n`.
fn nice_step(lo: f64, hi: f64, n: f64) -> f64 {
    let span = (hi - lo).max(1e-12);
    let mag = 10f64.powf((span / n).log10().floor());
    [1.0, 2.0, 5.0, 10.0, 20.0].iter().map(|k| k * mag).find(|s| span / s <= n).unwrap_or(20.0 * mag)
}

fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() * step;
    (0..).map(|k| first + k as f64 * step).take_while(|v| *v <= hi + step * 1e-9).map(|v| clean(v, step)).collect()
}

/// Rounds away the float noise of `k * step`.
fn clean(v: f64, step: f64) -> f64 {
    let e = 3.0 - step.log10().floor();
    if e <= 0.0 {
        let q = 10f64.powf(-e);
        (v / q).round() * q
    } else {
        let k = 10f64.powf(e);
        (v * k).round() / k
    }
}

/// Where the ticks of an axis over [lo, hi] go: every category; a sweep's own values (`data`,
/// when there are few); round durations on time axes; decades (or 1-2-5 within them) on log
/// axes; round multiples of a 1-2-5 step (of B, KiB, MiB, GiB for sizes) otherwise.
pub fn ticks(unit: &Unit, lo: f64, hi: f64, log: bool, data: &[f64]) -> Vec<f64> {
    const NICE: [f64; 25] = [
        1e-6, 1e-5, 1e-4, 0.001, 0.01, 0.1, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0,
        3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0, 172_800.0,
    ];
    if let Unit::Category(l) = unit {
        return (0..l.len()).map(|i| i as f64).collect();
    }
    let mut d: Vec<f64> = data.iter().copied().filter(|v| *v >= lo && *v <= hi).collect();
    d.sort_by(f64::total_cmp);
    d.dedup();
    if !d.is_empty() && d.len() <= 12 {
        return d;
    }
    if log && lo > 0.0 {
        if *unit == Unit::Seconds {
            // Round durations: decades of them over a wide span, finer ones (thinned to at
            // most 8) over a narrow one.
            let coarse =
                [1e-6, 1e-5, 1e-4, 0.001, 0.01, 0.1, 1.0, 10.0, 60.0, 600.0, 3600.0, 21600.0, 86400.0, 604_800.0];
            let fine = [
                0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0,
                300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0, 43200.0, 86400.0, 172_800.0, 604_800.0,
            ];
            let within = |c: &[f64]| -> Vec<f64> { c.iter().copied().filter(|v| *v >= lo && *v <= hi).collect() };
            let t = within(&coarse);
            if t.len() >= 3 {
                return t;
            }
            let t = within(&fine);
            if t.len() >= 2 {
                let k = t.len().div_ceil(8);
                return t.into_iter().step_by(k).collect();
            }
        }
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let per_decade: &[f64] = if b - a <= 1 {
            &[1.0, 2.0, 3.0, 5.0, 7.0]
        } else if b - a <= 3 {
            &[1.0, 2.0, 5.0]
        } else {
            &[1.0]
        };
        let t: Vec<f64> = (a..=b)
            .flat_map(|e| per_decade.iter().map(move |k| k * 10f64.powi(e)))
            .filter(|v| *v >= lo * (1.0 - 1e-9) && *v <= hi * (1.0 + 1e-9))
            .collect();
        if t.len() >= 2 {
            return t;
        }
    }
    let step = match unit {
        Unit::Seconds => {
            let span = hi - lo;
            NICE.iter().copied().chain((1..60).map(|d| d as f64 * 86400.0)).find(|s| span / s <= 8.0)
        }
        Unit::Bytes => {
            let span = hi - lo;
            [1.0f64, 1024.0, 1_048_576.0, 1_073_741_824.0]
                .iter()
                .flat_map(|u| [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0].map(|k| k * u))
                .find(|s| span / s <= 8.0)
        }
        _ => None,
    }
    .unwrap_or_else(|| nice_step(lo, hi, 8.0));
    multiples(lo, hi, step)
}

/// The Okabe–Ito palette (black last), then darker variants if more series are needed.
pub fn color(i: usize) -> RGBColor {
    const P: [(u8, u8, u8); 8] = [
        (0, 114, 178),
        (213, 94, 0),
        (0, 158, 115),
        (204, 121, 167),
        (230, 159, 0),
        (86, 180, 233),
        (240, 228, 66),
        (0, 0, 0),
    ];
    let (r, g, b) = P[i % P.len()];
    let k = 1.0 - 0.35 * ((i / P.len()) % 2) as f64;
    RGBColor((r as f64 * k) as u8, (g as f64 * k) as u8, (b as f64 * k) as u8)
}

/// The dash pattern of line `i` of a chart, as (dash, gap) in pixels; None: solid. Lines that
/// overlap stay distinguishable: a dashed line drawn over a solid one shows both.
pub fn dash(i: usize) -> Option<(u32, u32)> {
    const D: [Option<(u32, u32)>; 5] = [None, Some((10, 5)), Some((3, 3)), Some((18, 5)), Some((6, 3))];
    D[i % D.len()]
}

/// Shortens a label to `max` characters, keeping its start and end.
pub fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let head: String = s.chars().take(max / 2 - 1).collect();
    let tail: String = s.chars().skip(n - (max - max / 2 - 2)).collect();
    format!("{head}...{tail}")
}

/// Splits a label into lines of at most `width` characters, breaking only after a separator
/// (`,`, ` ` or `=`), never inside a token: a token longer than `width` gets a line of its own
/// (the caller draws it smaller). Concatenated, the lines give the label back.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    // Tokens, each ending with its separator.
    let mut tokens: Vec<String> = vec![];
    let mut cur = String::new();
    for c in s.chars() {
        cur.push(c);
        if matches!(c, ',' | ' ' | '=') {
            tokens.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    let mut lines: Vec<String> = vec![];
    let mut line = String::new();
    for t in tokens {
        if !line.is_empty() && line.trim_end().chars().count() + t.trim_end().chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        line.push_str(&t);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_in_units() {
        assert_eq!(Unit::Seconds.format(90.0), "1.5m");
        assert_eq!(Unit::Seconds.format(7200.0), "2h");
        assert_eq!(Unit::Bytes.format(2048.0), "2 KiB");
        assert_eq!(Unit::Share.format(0.25), "25%");
        assert_eq!(Unit::Count.format(25000.0), "25k");
        assert_eq!(Unit::Category(vec!["a".into(), "b".into()]).format(1.0), "b");
        assert_eq!(shorten("abcdefghijklmnopqrstuvwxyz", 12), "abcde...wxyz");
    }

    #[test]
    fn an_axis_reads_in_one_format() {
        let l = |u: &Unit, t: &[f64], log: bool| tick_labels(u, t, log);
        assert_eq!(l(&Unit::Count, &[0.0, 4000.0, 8000.0, 12000.0, 16000.0], false), ["0", "4k", "8k", "12k", "16k"]);
        assert_eq!(l(&Unit::Count, &[3.0, 30.0, 200.0, 2000.0, 20000.0], true), ["3", "30", "200", "2,000", "20,000"]);
        assert_eq!(l(&Unit::Count, &[0.0, 0.5, 1.0, 1.5], false), ["0", "0.5", "1", "1.5"]);
        assert_eq!(l(&Unit::Share, &[0.0, 0.05, 0.1], false), ["0%", "5%", "10%"]);
        assert_eq!(l(&Unit::Seconds, &[0.0, 7200.0, 14400.0], false), ["0h", "2h", "4h"]);
        assert_eq!(l(&Unit::Seconds, &[9000.0, 10800.0, 12600.0], false), ["2.5h", "3h", "3.5h"]);
        assert_eq!(l(&Unit::Seconds, &[600.0, 1200.0, 1800.0], false), ["10m", "20m", "30m"]);
        assert_eq!(l(&Unit::Seconds, &[1.0, 60.0, 3600.0], true), ["1s", "1m", "1h"]);
        assert_eq!(l(&Unit::Seconds, &[300.0, 1800.0], false), ["5m", "30m"]);
        assert_eq!(l(&Unit::Seconds, &[3600.0, 4200.0, 4800.0, 5400.0], false), ["1h", "1h10m", "1h20m", "1h30m"]);
        assert_eq!(l(&Unit::Bytes, &[0.0, 524288.0, 1048576.0], false), ["0", "0.5 MiB", "1 MiB"]);
        assert_eq!(
            l(&Unit::Seconds, &[0.0, 21600.0, 43200.0, 64800.0, 86400.0], false),
            ["0h", "6h", "12h", "18h", "24h"]
        );
        assert_eq!(l(&Unit::Seconds, &[0.0, 86400.0, 172800.0], false), ["0d", "1d", "2d"]);
        assert_eq!(l(&Unit::Count, &[0.0, 5000.0, 10000.0, 15000.0], false), ["0", "5k", "10k", "15k"]);
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(
            ticks(&Unit::Count, 0.0, 14500.0, false, &[]),
            [0.0, 2000.0, 4000.0, 6000.0, 8000.0, 10000.0, 12000.0, 14000.0]
        );
        assert_eq!(
            ticks(&Unit::Seconds, 0.0, 28800.0, false, &[]),
            [0.0, 3600.0, 7200.0, 10800.0, 14400.0, 18000.0, 21600.0, 25200.0, 28800.0]
        );
        assert_eq!(ticks(&Unit::Count, 1.0, 20000.0, true, &[3.0, 30.0, 20000.0]), [3.0, 30.0, 20000.0]);
        assert_eq!(ticks(&Unit::Count, 0.5, 2000.0, true, &[]), [1.0, 10.0, 100.0, 1000.0]);
        assert_eq!(ticks(&Unit::Share, 0.0, 0.35, false, &[]), [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35]);
    }

    #[test]
    fn labels_break_at_separators_only() {
        assert_eq!(wrap("retry=none,per_session=200", 16), ["retry=none,", "per_session=200"]);
        assert_eq!(wrap("retry=none,per_session=200", 12), ["retry=none,", "per_session=", "200"]);
        assert_eq!(
            wrap("retry=exponential-jitter_full,per_session=20", 20).concat(),
            "retry=exponential-jitter_full,per_session=20"
        );
        for line in wrap("retry=exponential-jitter_full,per_session=20", 20) {
            assert!(!line.contains("per_") || line.contains("per_session"), "{line}");
        }
        assert_eq!(wrap("short", 26), ["short"]);
    }
}
