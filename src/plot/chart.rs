//! Chart rendering: line charts (with 95% CI error bars or bands), CDFs, time series and stacked bars,
//! each written as SVG and PNG. Axes carry units and readable ticks (durations as 30s/5m/2h,
//! sizes as KiB/MiB, shares as %); the legend sits in its own panel right of the plot so it
//! never covers data; colours come from the Okabe–Ito palette, which stays distinguishable for
//! colour-blind readers.

use super::FONT;
use crate::units::format_duration_short;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// How values on an axis read.
#[derive(Clone, Debug, PartialEq)]
pub enum Unit {
    Count,
    Seconds,
    Bytes,
    /// A share in [0, 1], shown as %.
    Share,
    /// Categories at 0, 1, 2, ... with these labels.
    Category(Vec<String>),
}

impl Unit {
    pub fn format(&self, v: f64) -> String {
        match self {
            Unit::Count => format_number(v),
            Unit::Seconds => format_duration_short(v),
            Unit::Bytes => format_bytes(v),
            Unit::Share => {
                let p = v * 100.0;
                if p != 0.0 && p.abs() < 1.0 { format!("{p:.2}%") } else { format!("{}%", trim(p, 1)) }
            }
            Unit::Category(labels) => {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
        }
    }
}

fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

pub fn format_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{}G", trim(v / 1e9, 2))
    } else if a >= 1e6 {
        format!("{}M", trim(v / 1e6, 2))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3, 1))
    } else if a >= 100.0 || a == 0.0 {
        trim(v, 0)
    } else if a >= 1.0 {
        trim(v, 2)
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

pub fn format_bytes(v: f64) -> String {
    let a = v.abs();
    if a >= (1u64 << 30) as f64 {
        format!("{} GiB", trim(v / (1u64 << 30) as f64, 1))
    } else if a >= (1 << 20) as f64 {
        format!("{} MiB", trim(v / (1 << 20) as f64, 1))
    } else if a >= 1024.0 {
        format!("{} KiB", trim(v / 1024.0, 1))
    } else {
        format!("{} B", trim(v, 0))
    }
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

/// A point of a curve: x, y, and an optional 95% interval on y.
pub type XyCi = (f64, f64, Option<(f64, f64)>);

/// One curve.
#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    /// (x, y, optional 95% interval on y).
    pub points: Vec<XyCi>,
    /// Draw markers at the points (sweeps) or just the line (CDFs, time series).
    pub markers: bool,
    /// Draw steps (a CDF of binned data) instead of straight segments.
    pub steps: bool,
    /// Draw the 95% intervals as a shaded band around the line (profiles) rather than as error
    /// bars at the markers.
    pub band: bool,
    /// Markers without a line joining them (a scatter, such as a plan's feasibility map).
    pub points_only: bool,
}

#[derive(Clone, Debug)]
pub struct LineChart {
    pub title: String,
    pub subtitle: Option<String>,
    pub x_label: String,
    pub y_label: String,
    pub x_unit: Unit,
    pub y_unit: Unit,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
    /// Start the y axis at zero (counts and shares) rather than at the smallest value.
    pub y_from_zero: bool,
}

#[derive(Clone, Debug)]
pub struct BarChart {
    pub title: String,
    pub subtitle: Option<String>,
    /// One stacked bar per category (drawn horizontally, label on the left).
    pub categories: Vec<String>,
    /// (segment name, value per category), stacked in this order.
    pub segments: Vec<(String, Vec<f64>)>,
    pub x_label: String,
}

#[derive(Clone, Debug)]
pub enum Chart {
    Line(LineChart),
    Bar(BarChart),
}

pub const SIZE: (u32, u32) = (1000, 600);
const LEGEND_WIDTH: u32 = 250;

impl Chart {
    pub fn title(&self) -> &str {
        match self {
            Chart::Line(c) => &c.title,
            Chart::Bar(c) => &c.title,
        }
    }

    /// Writes `<stem>.svg` and `<stem>.png`.
    pub fn save(&self, stem: &Path) -> Result<(), String> {
        super::register_fonts();
        let svg = stem.with_extension("svg");
        let png = stem.with_extension("png");
        {
            let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
            self.draw(&root).map_err(|e| format!("{}: {e}", svg.display()))?;
            root.present().map_err(|e| format!("{}: {e}", svg.display()))?;
        }
        {
            let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
            self.draw(&root).map_err(|e| format!("{}: {e}", png.display()))?;
            root.present().map_err(|e| format!("{}: {e}", png.display()))?;
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        match self {
            Chart::Line(c) => draw_line(root, c),
            Chart::Bar(c) => draw_bar(root, c),
        }
    }
}

pub(super) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Title and subtitle above the plot; returns the area below them.
pub(super) fn heading<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: Option<&str>,
) -> Result<DrawingArea<DB, Shift>, String> {
    let h = if subtitle.is_some() { 62 } else { 40 };
    let (top, rest) = root.split_vertically(h);
    top.draw(&Text::new(title.to_string(), (16, 10), (FONT, 22).into_font().style(FontStyle::Bold))).map_err(err)?;
    if let Some(s) = subtitle {
        top.draw(&Text::new(s.to_string(), (16, 38), (FONT, 15).into_font().color(&RGBColor(80, 80, 80))))
            .map_err(err)?;
    }
    Ok(rest)
}

/// A legend in its own panel: a swatch and a (wrapped) name per entry.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor)],
    bars: bool,
) -> Result<(), String> {
    let mut y = 20;
    for (name, c) in entries {
        if bars {
            area.draw(&Rectangle::new([(8, y + 2), (26, y + 16)], c.filled())).map_err(err)?;
        } else {
            area.draw(&PathElement::new(vec![(6, y + 9), (28, y + 9)], c.stroke_width(3))).map_err(err)?;
        }
        for (k, line) in wrap(name, 26).iter().enumerate() {
            area.draw(&Text::new(line.clone(), (36, y + 2 + 17 * k as i32), (FONT, 14))).map_err(err)?;
            if k > 0 {
                y += 17;
            }
        }
        y += 26;
    }
    Ok(())
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

/// Splits a label into lines of at most `width` characters, at `,`, `-` or spaces when possible.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = vec![];
    let mut cur = String::new();
    for c in s.chars() {
        cur.push(c);
        if cur.chars().count() >= width {
            let cut = cur.rfind([',', '-', ' ', '_']).filter(|&i| i > width / 3).map(|i| i + 1).unwrap_or(cur.len());
            let rest = cur.split_off(cut);
            lines.push(cur.trim_end().to_string());
            cur = rest;
        }
    }
    if !cur.is_empty() || lines.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Tick positions chosen here rather than by plotters, where plotters' would not read well:
/// round durations on time axes, the data's own values on a sweep's numeric axis, every
/// category. None: let plotters choose.
pub(super) fn custom_ticks(unit: &Unit, lo: f64, hi: f64, log: bool, data: &[f64]) -> Option<Vec<f64>> {
    const NICE: [f64; 22] = [
        0.001, 0.01, 0.1, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10800.0, 21600.0, 43200.0, 86400.0, 172_800.0,
    ];
    match unit {
        Unit::Category(l) => Some((0..l.len()).map(|i| i as f64).collect()),
        Unit::Seconds if log && hi > 10.0 * lo => {
            let cands = [0.001, 0.01, 0.1, 1.0, 10.0, 60.0, 600.0, 3600.0, 21600.0, 86400.0, 604_800.0];
            let t: Vec<f64> = cands.iter().copied().filter(|v| *v >= lo && *v <= hi).collect();
            (t.len() >= 2).then_some(t)
        }
        Unit::Seconds => {
            let span = hi - lo;
            let step = NICE.iter().copied().chain((1..60).map(|d| d as f64 * 86400.0)).find(|s| span / s <= 8.0)?;
            let first = (lo / step).ceil() * step;
            Some((0..).map(|k| first + k as f64 * step).take_while(|v| *v <= hi + 1e-9).collect())
        }
        Unit::Bytes if !log => {
            // Round multiples of B, KiB, MiB or GiB.
            let span = hi - lo;
            let step = [1.0f64, 1024.0, 1_048_576.0, 1_073_741_824.0]
                .iter()
                .flat_map(|u| [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0].map(|k| k * u))
                .find(|s| span / s <= 8.0)?;
            let first = (lo / step).ceil() * step;
            Some((0..).map(|k| first + k as f64 * step).take_while(|v| *v <= hi + 1e-9).collect())
        }
        _ => {
            let mut d: Vec<f64> = data.to_vec();
            d.sort_by(f64::total_cmp);
            d.dedup();
            (!d.is_empty() && d.len() <= 12).then_some(d)
        }
    }
}

fn bounds(c: &LineChart) -> ((f64, f64), (f64, f64)) {
    let mut xs = vec![];
    let mut ys = vec![];
    for s in &c.series {
        for &(x, y, ci) in &s.points {
            if c.log_x && x <= 0.0 {
                continue;
            }
            xs.push(x);
            for v in [Some(y), ci.map(|c| c.0), ci.map(|c| c.1)].into_iter().flatten() {
                if v.is_finite() && (!c.log_y || v > 0.0) {
                    ys.push(v);
                }
            }
        }
    }
    let lo_hi = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
    };
    let (mut x0, mut x1) = lo_hi(&xs);
    let (mut y0, mut y1) = lo_hi(&ys);
    if let Unit::Category(l) = &c.x_unit {
        x0 = -0.5;
        x1 = l.len() as f64 - 0.5;
    } else if x0 == x1 {
        x0 -= 0.5 * x0.abs().max(1.0);
        x1 += 0.5 * x1.abs().max(1.0);
    } else if c.log_x {
        x0 /= 1.25;
        x1 *= 1.25;
    } else {
        let pad = (x1 - x0) * 0.04;
        x0 -= pad;
        x1 += pad;
    }
    if c.y_from_zero && !c.log_y && y0 >= 0.0 {
        y0 = 0.0;
    }
    if c.y_unit == Unit::Share && !c.log_y {
        y1 = y1.min(1.0).max(y0 + 1e-9);
    }
    if y0 == y1 {
        y0 -= 0.5 * y0.abs().max(1.0);
        y1 += 0.5 * y1.abs().max(1.0);
        if c.y_from_zero && y0 < 0.0 && !c.log_y {
            y0 = 0.0;
        }
    } else if c.log_y {
        y0 /= 1.5;
        y1 *= 1.5;
    } else {
        y1 += (y1 - y0) * 0.06;
    }
    if c.log_y && y0 <= 0.0 {
        y0 = y1.min(1.0) * 1e-3;
    }
    ((x0, x1), (y0, y1))
}

macro_rules! line_body {
    ($area:expr, $c:expr, $xr:expr, $yr:expr, $xr_lo:expr, $xr_hi:expr, $yr_lo:expr, $yr_hi:expr) => {{
        let c = $c;
        let mut chart = ChartBuilder::on($area)
            .margin_left(10)
            .margin_right(24)
            .margin_top(10)
            .margin_bottom(6)
            .x_label_area_size(if matches!(c.x_unit, Unit::Category(_)) { 84 } else { 58 })
            .y_label_area_size(92)
            .build_cartesian_2d($xr, $yr)
            .map_err(err)?;
        let xf = |v: &f64| c.x_unit.format(*v);
        let yf = |v: &f64| c.y_unit.format(*v);
        let xs: Vec<f64> = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
        let (xlo, xhi, ylo, yhi) = ($xr_lo, $xr_hi, $yr_lo, $yr_hi);
        let xticks =
            custom_ticks(&c.x_unit, xlo, xhi, c.log_x, if c.series.iter().all(|s| s.markers) { &xs } else { &[] });
        // On the y axis only durations and sizes get chosen ticks (round times instead of 16.7m,
        // round MiB instead of 9.5 MiB).
        let yticks = if matches!(c.y_unit, Unit::Seconds | Unit::Bytes) {
            custom_ticks(&c.y_unit, ylo, yhi, c.log_y, &[])
        } else {
            None
        };
        let blank = |_: &f64| String::new();
        let mut mesh = chart.configure_mesh();
        if xticks.is_some() {
            // Drawn below, at the chosen positions.
            mesh.disable_x_mesh().x_label_formatter(&blank).set_tick_mark_size(LabelAreaPosition::Bottom, 0);
        } else {
            mesh.x_label_formatter(&xf);
        }
        if yticks.is_some() {
            mesh.disable_y_mesh().y_label_formatter(&blank).set_tick_mark_size(LabelAreaPosition::Left, 0);
        } else {
            mesh.y_label_formatter(&yf);
        }
        mesh.x_desc(c.x_label.as_str())
            .y_desc(c.y_label.as_str())
            .x_labels(8)
            .y_labels(8)
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(235, 235, 235))
            .bold_line_style(RGBColor(210, 210, 210))
            .draw()
            .map_err(err)?;
        // Grid line, tick mark and label at each chosen position, in pixels of `$area`.
        let (ox, oy) = $area.get_base_pixel();
        let grid = RGBColor(225, 225, 225);
        // Category labels wrap to the room each category has, so neighbours never overlap.
        let room = match (&c.x_unit, xticks.as_deref()) {
            (Unit::Category(_), Some([a, b, ..])) => {
                (chart.backend_coord(&(*b, ylo)).0 - chart.backend_coord(&(*a, ylo)).0).max(40)
            }
            _ => i32::MAX / 16,
        };
        let chars = ((room - 10) / 8).max(6) as usize;
        for &t in xticks.iter().flatten() {
            chart.draw_series(std::iter::once(PathElement::new(vec![(t, ylo), (t, yhi)], grid))).map_err(err)?;
            let (px, py) = chart.backend_coord(&(t, ylo));
            let (px, py) = (px - ox, py - oy);
            $area.draw(&PathElement::new(vec![(px, py), (px, py + 5)], BLACK)).map_err(err)?;
            let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
            for (k, line) in wrap(&c.x_unit.format(t), chars).into_iter().enumerate() {
                $area.draw(&Text::new(line, (px, py + 8 + 16 * k as i32), style.clone())).map_err(err)?;
            }
        }
        for &t in yticks.iter().flatten() {
            chart.draw_series(std::iter::once(PathElement::new(vec![(xlo, t), (xhi, t)], grid))).map_err(err)?;
            let (px, py) = chart.backend_coord(&(xlo, t));
            let (px, py) = (px - ox, py - oy);
            $area.draw(&PathElement::new(vec![(px - 5, py), (px, py)], BLACK)).map_err(err)?;
            let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
            $area.draw(&Text::new(c.y_unit.format(t), (px - 8, py), style)).map_err(err)?;
        }
        let ok_x = |x: f64| !c.log_x || x > 0.0;
        let ok_y = |y: f64| y.is_finite() && (!c.log_y || y > 0.0);
        for (i, s) in c.series.iter().enumerate() {
            let col = color(i);
            if s.band {
                // One polygon per run of consecutive points that have an interval: the upper
                // ends left to right, then the lower ends back.
                let mut runs: Vec<Vec<(f64, (f64, f64))>> = vec![vec![]];
                for &(x, _, ci) in &s.points {
                    match ci.filter(|(lo, hi)| ok_x(x) && ok_y(*lo) && ok_y(*hi)) {
                        Some(ci) => runs.last_mut().expect("never empty").push((x, ci)),
                        None => runs.push(vec![]),
                    }
                }
                for r in runs.iter().filter(|r| r.len() > 1) {
                    let outline: Vec<(f64, f64)> =
                        r.iter().map(|(x, ci)| (*x, ci.1)).chain(r.iter().rev().map(|(x, ci)| (*x, ci.0))).collect();
                    chart.draw_series(std::iter::once(Polygon::new(outline, col.mix(0.18).filled()))).map_err(err)?;
                }
            }
            let pts: Vec<(f64, f64)> = s.points.iter().filter(|p| ok_x(p.0) && ok_y(p.1)).map(|p| (p.0, p.1)).collect();
            let line: Vec<(f64, f64)> = if s.steps {
                let mut v = vec![];
                for w in pts.windows(2) {
                    v.push(w[0]);
                    v.push((w[1].0, w[0].1));
                }
                if let Some(l) = pts.last() {
                    v.push(*l);
                }
                v
            } else {
                pts.clone()
            };
            if !s.points_only {
                chart.draw_series(LineSeries::new(line, col.stroke_width(2))).map_err(err)?;
            }
            if s.markers && !s.band {
                chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, col.filled()))).map_err(err)?;
                chart
                    .draw_series(s.points.iter().filter_map(|&(x, y, ci)| {
                        let (lo, hi) = ci?;
                        (ok_x(x) && ok_y(lo) && ok_y(hi))
                            .then(|| ErrorBar::new_vertical(x, lo, y, hi, col.stroke_width(2), 10))
                    }))
                    .map_err(err)?;
            }
        }
        Ok::<(), String>(())
    }};
}

fn draw_line<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &LineChart) -> Result<(), String> {
    let body = heading(root, &c.title, c.subtitle.as_deref())?;
    let (plot, side) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let ((x0, x1), (y0, y1)) = bounds(c);
    match (c.log_x, c.log_y) {
        (false, false) => line_body!(&plot, c, x0..x1, y0..y1, x0, x1, y0, y1)?,
        (true, false) => line_body!(&plot, c, (x0..x1).log_scale(), y0..y1, x0, x1, y0, y1)?,
        (false, true) => line_body!(&plot, c, x0..x1, (y0..y1).log_scale(), x0, x1, y0, y1)?,
        (true, true) => line_body!(&plot, c, (x0..x1).log_scale(), (y0..y1).log_scale(), x0, x1, y0, y1)?,
    }
    let entries: Vec<(String, RGBColor)> =
        c.series.iter().enumerate().map(|(i, s)| (s.name.clone(), color(i))).collect();
    if entries.len() > 1 || entries.first().is_some_and(|e| !e.0.is_empty()) {
        legend(&side, &entries, false)?;
    }
    Ok(())
}

fn draw_bar<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &BarChart) -> Result<(), String> {
    let body = heading(root, &c.title, c.subtitle.as_deref())?;
    let (plot, side) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let n = c.categories.len();
    let totals: Vec<f64> = (0..n).map(|i| c.segments.iter().map(|s| s.1[i].max(0.0)).sum()).collect();
    let max = totals.iter().copied().fold(0.0, f64::max).max(1.0) * 1.05;
    // Category labels (one line each, shortened if very long) in a label area wide enough for them.
    let labels: Vec<String> = c.categories.iter().map(|l| shorten(l, 44)).collect();
    let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(4) as u32;
    let mut chart = ChartBuilder::on(&plot)
        .margin_left(10)
        .margin_right(24)
        .margin_top(10)
        .x_label_area_size(58)
        .y_label_area_size((widest * 8 + 16).clamp(60, 370))
        .build_cartesian_2d(0.0..max, -0.5..(n as f64 - 0.5))
        .map_err(err)?;
    let yf = |v: &f64| {
        let i = v.round();
        if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
            // Top to bottom in the given order.
            labels[n - 1 - i as usize].clone()
        } else {
            String::new()
        }
    };
    let xf = |v: &f64| format_number(*v);
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_labels(n.max(1))
        .y_label_formatter(&yf)
        .x_label_formatter(&xf)
        .disable_y_mesh()
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(210, 210, 210))
        .draw()
        .map_err(err)?;
    for i in 0..n {
        let y = (n - 1 - i) as f64;
        let mut left = 0.0;
        for (k, (_, values)) in c.segments.iter().enumerate() {
            let w = values[i].max(0.0);
            if w > 0.0 {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(left, y - 0.32), (left + w, y + 0.32)],
                        color(k).filled(),
                    )))
                    .map_err(err)?;
            }
            left += w;
        }
    }
    let entries: Vec<(String, RGBColor)> =
        c.segments.iter().enumerate().map(|(k, s)| (s.0.clone(), color(k))).collect();
    legend(&side, &entries, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_in_units() {
        assert_eq!(Unit::Seconds.format(90.0), "1.5m");
        assert_eq!(Unit::Seconds.format(7200.0), "2h");
        assert_eq!(Unit::Bytes.format(2048.0), "2 KiB");
        assert_eq!(Unit::Share.format(0.25), "25%");
        assert_eq!(Unit::Count.format(25000.0), "25k");
        assert_eq!(Unit::Category(vec!["a".into(), "b".into()]).format(1.0), "b");
        for line in wrap("retry=exponential-jitter_full,per_session=20", 20) {
            assert!(line.chars().count() <= 20, "{line}");
        }
        assert_eq!(
            wrap("retry=exponential-jitter_full,per_session=20", 20).concat(),
            "retry=exponential-jitter_full,per_session=20"
        );
        assert_eq!(shorten("abcdefghijklmnopqrstuvwxyz", 12), "abcde...wxyz");
    }
}
