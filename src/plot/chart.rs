//! Chart rendering: line charts (with 95% CI error bars or bands), CDFs, time series and stacked
//! bars, each written as SVG and PNG. Axes carry units and one tick format each (see `axis`);
//! the legend sits in its own panel right of the plot so it never covers data; colours come
//! from the Okabe–Ito palette, which stays distinguishable for colour-blind readers, and lines
//! that overlap differ in dash pattern as well. A sweep's markers are joined by lines only on
//! a numeric axis with at least 3 values; a categorical or two-valued axis gets markers with
//! their intervals, side by side. Time series can be shaded where something happened (the
//! warm-up, an outage), labelled above the plot.

use super::FONT;
pub use super::axis::{Unit, color, format_bytes, format_number, shorten, wrap};
use super::axis::{dash, tick_labels, ticks};
use plotters::coord::{CoordTranslate, Shift};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// A point of a curve: x, y, and an optional 95% interval on y.
pub type XyCi = (f64, f64, Option<(f64, f64)>);

/// One curve.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub name: String,
    /// (x, y, optional interval on y).
    pub points: Vec<XyCi>,
    /// Draw markers at the points (sweeps) or just the line (CDFs, time series).
    pub markers: bool,
    /// Draw steps (a CDF of binned data) instead of straight segments.
    pub steps: bool,
    /// Draw the intervals as a shaded band around the line (profiles, envelopes) rather than
    /// as error bars at the markers.
    pub band: bool,
    /// Markers without a line joining them (a scatter, such as a plan's feasibility map).
    pub points_only: bool,
    /// What the band shows when it is not a 95% interval, as its own legend entry (a time
    /// series' largest value in each interval: the band runs from the mean up to it).
    pub band_name: Option<String>,
    /// Draw only the upper edge of the band, as a thin light line (an envelope that would
    /// cover most of the plot, such as a utilisation that reaches 100% in every interval).
    pub band_edge_only: bool,
}

impl Series {
    /// A plain line.
    pub fn line(name: impl Into<String>, points: Vec<XyCi>) -> Series {
        Series { name: name.into(), points, ..Series::default() }
    }
}

/// What a shaded span of the x axis is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// Before the measured window.
    WarmUp,
    /// An item of the model's `events[]` (an outage).
    Event,
}

/// A shaded span of the x axis, labelled above the plot.
#[derive(Clone, Debug)]
pub struct Region {
    pub from: f64,
    pub to: f64,
    pub label: String,
    pub kind: RegionKind,
}

impl RegionKind {
    pub(crate) const fn fill(self) -> RGBColor {
        match self {
            RegionKind::WarmUp => RGBColor(232, 232, 232),
            RegionKind::Event => RGBColor(253, 242, 185),
        }
    }
    fn ink(self) -> RGBColor {
        match self {
            RegionKind::WarmUp => RGBColor(90, 90, 90),
            RegionKind::Event => RGBColor(120, 100, 0),
        }
    }
}

#[derive(Clone, Debug, Default)]
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
    /// The extent of the x axis when it is not the data's (a window of a time series, a CDF
    /// that starts near its data); what lies outside is cut off.
    pub x_range: Option<(f64, f64)>,
    /// Shaded spans (warm-up, outages).
    pub regions: Vec<Region>,
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
/// Characters of subtitle per line (15 px text across the 1000 px width).
const SUBTITLE_CHARS: usize = 118;

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

/// The lines of a subtitle (wrapped at separators, at most 3).
fn subtitle_lines(subtitle: Option<&str>) -> Vec<String> {
    let mut lines = subtitle.map(|s| wrap(s, SUBTITLE_CHARS)).unwrap_or_default();
    lines.truncate(3);
    lines
}

/// The height of the heading with this subtitle.
pub(super) fn heading_height(subtitle: Option<&str>) -> u32 {
    40 + 20 * subtitle_lines(subtitle).len() as u32 + if subtitle.is_some() { 2 } else { 0 }
}

/// Title and subtitle above the plot; returns the area below them.
pub(super) fn heading<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: Option<&str>,
) -> Result<DrawingArea<DB, Shift>, String> {
    let (top, rest) = root.split_vertically(heading_height(subtitle));
    top.draw(&Text::new(title.to_string(), (16, 10), (FONT, 22).into_font().style(FontStyle::Bold))).map_err(err)?;
    for (k, line) in subtitle_lines(subtitle).into_iter().enumerate() {
        let style = (FONT, 15).into_font().color(&RGBColor(80, 80, 80));
        top.draw(&Text::new(line.trim_end().to_string(), (16, 38 + 20 * k as i32), style)).map_err(err)?;
    }
    Ok(rest)
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug)]
pub(super) enum Swatch {
    /// A line, solid or dashed.
    Line(RGBColor, Option<(u32, u32)>),
    /// A marker with its error bar.
    Marker(RGBColor),
    /// A filled block: a bar's segment, a band, a shaded span.
    Block(RGBColor),
    /// A thin line: the edge of a band.
    Thin(RGBColor),
}

/// A legend in its own panel: a swatch and a name per entry, wrapped at separators; a token
/// too long for the panel is drawn smaller rather than cut.
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, entries: &[(String, Swatch)]) -> Result<(), String> {
    const CHARS: usize = 26;
    let mut y = 20;
    for (name, swatch) in entries {
        match *swatch {
            Swatch::Block(c) => area.draw(&Rectangle::new([(8, y + 2), (28, y + 16)], c.filled())),
            Swatch::Thin(c) => area.draw(&PathElement::new(vec![(4, y + 9), (32, y + 9)], c.stroke_width(1))),
            Swatch::Line(c, None) => area.draw(&PathElement::new(vec![(4, y + 9), (32, y + 9)], c.stroke_width(3))),
            Swatch::Line(c, Some((on, off))) => {
                area.draw(&DashedPathElement::new(vec![(4, y + 9), (32, y + 9)], on, off, c.stroke_width(3)))
            }
            Swatch::Marker(c) => {
                area.draw(&PathElement::new(vec![(18, y + 1), (18, y + 17)], c.stroke_width(2))).map_err(err)?;
                area.draw(&Circle::new((18, y + 9), 4, c.filled()))
            }
        }
        .map_err(err)?;
        for (k, line) in wrap(name, CHARS).iter().enumerate() {
            let line = line.trim_end();
            let n = line.chars().count();
            let size = if n > CHARS { (14.0 * CHARS as f64 / n as f64).max(9.0) } else { 14.0 };
            area.draw(&Text::new(line.to_string(), (38, y + 2 + 17 * k as i32), (FONT, size))).map_err(err)?;
            if k > 0 {
                y += 17;
            }
        }
        y += 26;
    }
    Ok(())
}

/// Whether the markers of a sweep are joined by lines: only on a numeric axis with at least
/// three values (two points joined across a log axis suggest a trend nobody simulated).
fn joined(c: &LineChart, s: &Series) -> bool {
    if s.points_only {
        return false;
    }
    if !s.markers {
        return true;
    }
    let mut xs: Vec<f64> = s.points.iter().map(|p| p.0).collect();
    xs.dedup();
    !matches!(c.x_unit, Unit::Category(_)) && xs.len() >= 3
}

/// Cuts a polyline (sorted by x) to x in [x0, x1], interpolating where it crosses an edge.
fn clip(pts: &[(f64, f64)], x0: f64, x1: f64) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = vec![];
    let mut push = |p: (f64, f64)| {
        if out.last() != Some(&p) {
            out.push(p);
        }
    };
    if let [p] = pts
        && p.0 >= x0
        && p.0 <= x1
    {
        push(*p);
    }
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.0 < x0 || a.0 > x1 {
            continue;
        }
        let at = |x: f64| if b.0 == a.0 { (x, a.1) } else { (x, a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)) };
        push(if a.0 < x0 { at(x0) } else { a });
        push(if b.0 > x1 { at(x1) } else { b });
    }
    out
}

fn bounds(c: &LineChart) -> ((f64, f64), (f64, f64)) {
    let in_x = |x: f64| c.x_range.is_none_or(|(a, b)| x >= a && x <= b);
    let mut xs = vec![];
    let mut ys = vec![];
    for s in &c.series {
        for &(x, y, ci) in &s.points {
            if (c.log_x && x <= 0.0) || !in_x(x) {
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
    if let Some(r) = c.x_range {
        (x0, x1) = r;
    } else if let Unit::Category(l) = &c.x_unit {
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
        let span = y1 - y0;
        y1 += span * 0.06;
        if !(c.y_from_zero && y0 == 0.0) {
            // Room below the lowest marker or interval too, but no negative values that
            // nothing can take.
            y0 = if y0 >= 0.0 { (y0 - span * 0.04).max(0.0) } else { y0 - span * 0.04 };
        }
    }
    if c.log_y && y0 <= 0.0 {
        y0 = y1.min(1.0) * 1e-3;
    }
    ((x0, x1), (y0, y1))
}

/// Where markers of series `i` of `n` side by side go: categories and two-valued axes put
/// each series' markers a little apart so that their intervals do not hide one another.
fn dodge(c: &LineChart, i: usize, n: usize, (x0, x1): (f64, f64), x: f64) -> f64 {
    if n < 2 {
        return x;
    }
    let k = i as f64 - (n as f64 - 1.0) / 2.0;
    let w = (0.5 / n as f64).min(0.12);
    match &c.x_unit {
        Unit::Category(_) => x + k * w,
        _ if c.log_x => x * ((x1 / x0).ln() * k * w * 0.1).exp(),
        _ => x + k * w * 0.1 * (x1 - x0),
    }
}

/// `c` at `alpha` over white, as an opaque colour (for legend swatches of shaded areas).
fn light(c: RGBColor, alpha: f64) -> RGBColor {
    let m = |v: u8| (255.0 - (255.0 - v as f64) * alpha) as u8;
    RGBColor(m(c.0), m(c.1), m(c.2))
}

/// The opacity of a band: an interval or the envelope up to the largest value.
const BAND_ALPHA: f64 = 0.2;

/// Rows of region labels above the plot.
fn label_rows(c: &LineChart, (x0, x1): (f64, f64)) -> i32 {
    c.regions.iter().filter(|r| r.to > x0 && r.from < x1).count().min(2) as i32
}

/// A point of the chart in pixels of its drawing area (whose origin is `o` on the backend).
fn px<DB: DrawingBackend, CT: CoordTranslate<From = (f64, f64)>>(
    chart: &ChartContext<DB, CT>,
    o: (i32, i32),
    p: (f64, f64),
) -> (i32, i32) {
    let (a, b) = chart.as_coord_spec().translate(&p);
    (a - o.0, b - o.1)
}

macro_rules! line_body {
    ($area:expr, $c:expr, $xr:expr, $yr:expr, $xb:expr, $yb:expr) => {{
        let c: &LineChart = $c;
        let ((xlo, xhi), (ylo, yhi)) = ($xb, $yb);
        let category = matches!(c.x_unit, Unit::Category(_));
        let rows = label_rows(c, (xlo, xhi));
        let mut chart = ChartBuilder::on($area)
            .margin_left(10)
            .margin_right(24)
            .margin_top(10 + 17 * rows)
            .margin_bottom(6)
            .x_label_area_size(if category { 84 } else { 58 })
            .y_label_area_size(92)
            .build_cartesian_2d($xr, $yr)
            .map_err(err)?;
        let blank = |_: &f64| String::new();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_label_formatter(&blank)
            .y_label_formatter(&blank)
            .set_all_tick_mark_size(0)
            .x_desc(c.x_label.as_str())
            .y_desc(c.y_label.as_str())
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(err)?;
        let (ox, oy) = $area.get_base_pixel();
        // Shaded spans, under everything, labelled above the plot (in rows when they crowd).
        let mut row_ends: Vec<i32> = vec![i32::MIN; rows.max(1) as usize];
        for r in c.regions.iter().filter(|r| r.to > xlo && r.from < xhi) {
            let (a, b) = (r.from.max(xlo), r.to.min(xhi));
            chart
                .draw_series(std::iter::once(Rectangle::new([(a, ylo), (b, yhi)], r.kind.fill().filled())))
                .map_err(err)?;
            let font = TextStyle::from((FONT, 13).into_font());
            let w = $area.estimate_text_size(&r.label, &font).map_or(7 * r.label.len() as i32, |s| s.0 as i32);
            let (left, top) = px(&chart, (ox, oy), (a, yhi));
            let (right, _) = px(&chart, (ox, oy), (xhi, yhi));
            let x = left.min(right - w).max(2);
            let row = row_ends.iter().position(|e| *e + 8 < x).unwrap_or(row_ends.len() - 1);
            row_ends[row] = x + w;
            let ink = r.kind.ink();
            let style = font.color(&ink).pos(Pos::new(HPos::Left, VPos::Bottom));
            $area.draw(&Text::new(r.label.clone(), (x, top - 3 - 17 * row as i32), style)).map_err(err)?;
        }
        // Grid, tick marks and labels: every tick of an axis in one format.
        let xdata: Vec<f64> = if c.series.iter().all(|s| s.markers) {
            c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect()
        } else {
            vec![]
        };
        let xt = ticks(&c.x_unit, xlo, xhi, c.log_x, &xdata);
        let yt = ticks(&c.y_unit, ylo, yhi, c.log_y, &[]);
        let grid = RGBColor(225, 225, 225);
        // Category labels wrap to the room each category has, so neighbours never overlap.
        let room = match (category, xt.as_slice()) {
            (true, [a, b, ..]) => (px(&chart, (ox, oy), (*b, ylo)).0 - px(&chart, (ox, oy), (*a, ylo)).0).max(40),
            _ => i32::MAX / 16,
        };
        let chars = ((room - 10) / 8).max(6) as usize;
        for (t, label) in xt.iter().zip(tick_labels(&c.x_unit, &xt, c.log_x)) {
            chart.draw_series(std::iter::once(PathElement::new(vec![(*t, ylo), (*t, yhi)], grid))).map_err(err)?;
            let (x, y) = px(&chart, (ox, oy), (*t, ylo));
            $area.draw(&PathElement::new(vec![(x, y), (x, y + 5)], BLACK)).map_err(err)?;
            let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
            for (k, line) in wrap(&label, chars).into_iter().enumerate() {
                $area
                    .draw(&Text::new(line.trim_end().to_string(), (x, y + 8 + 16 * k as i32), style.clone()))
                    .map_err(err)?;
            }
        }
        for (t, label) in yt.iter().zip(tick_labels(&c.y_unit, &yt, c.log_y)) {
            chart.draw_series(std::iter::once(PathElement::new(vec![(xlo, *t), (xhi, *t)], grid))).map_err(err)?;
            let (x, y) = px(&chart, (ox, oy), (xlo, *t));
            $area.draw(&PathElement::new(vec![(x - 5, y), (x, y)], BLACK)).map_err(err)?;
            let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
            $area.draw(&Text::new(label, (x - 8, y), style)).map_err(err)?;
        }
        let ok_x = |x: f64| (!c.log_x || x > 0.0) && x >= xlo && x <= xhi;
        let ok_y = |y: f64| y.is_finite() && (!c.log_y || y > 0.0);
        // Bands first, so that no band covers another series' line.
        for (i, s) in c.series.iter().enumerate().filter(|(_, s)| s.band) {
            let col = color(i);
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
                if !s.band_edge_only {
                    chart
                        .draw_series(std::iter::once(Polygon::new(outline, col.mix(BAND_ALPHA).filled())))
                        .map_err(err)?;
                }
                if s.band_name.is_some() {
                    let top: Vec<(f64, f64)> = r.iter().map(|(x, ci)| (*x, ci.1)).collect();
                    chart.draw_series(LineSeries::new(top, col.mix(0.6).stroke_width(1))).map_err(err)?;
                }
            }
        }
        let lines = c.series.iter().filter(|s| joined(c, s)).count();
        let loose = c.series.iter().filter(|s| s.markers && !s.band && !joined(c, s)).count();
        let (mut line_i, mut loose_i) = (0, 0);
        for (i, s) in c.series.iter().enumerate() {
            let col = color(i);
            let pts: Vec<(f64, f64)> =
                s.points.iter().filter(|p| (!c.log_x || p.0 > 0.0) && ok_y(p.1)).map(|p| (p.0, p.1)).collect();
            if joined(c, s) {
                let mut line = pts.clone();
                if s.steps {
                    line = pts.windows(2).flat_map(|w| [w[0], (w[1].0, w[0].1)]).chain(pts.last().copied()).collect();
                }
                let line = clip(&line, xlo, xhi);
                match dash(line_i).filter(|_| lines > 1) {
                    None => chart.draw_series(LineSeries::new(line, col.stroke_width(2))),
                    Some((on, off)) => chart.draw_series(DashedLineSeries::new(line, on, off, col.stroke_width(2))),
                }
                .map_err(err)?;
                line_i += 1;
            }
            if s.markers && !s.band {
                let at = |x: f64| if joined(c, s) { x } else { dodge(c, loose_i, loose, (xlo, xhi), x) };
                chart
                    .draw_series(pts.iter().filter(|p| ok_x(p.0)).map(|p| Circle::new((at(p.0), p.1), 4, col.filled())))
                    .map_err(err)?;
                chart
                    .draw_series(s.points.iter().filter_map(|&(x, y, ci)| {
                        let (lo, hi) = ci?;
                        (ok_x(x) && ok_y(lo) && ok_y(hi))
                            .then(|| ErrorBar::new_vertical(at(x), lo, y, hi, col.stroke_width(2), 10))
                    }))
                    .map_err(err)?;
                if !joined(c, s) {
                    loose_i += 1;
                }
            }
        }
        Ok::<(), String>(())
    }};
}

fn draw_line<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &LineChart) -> Result<(), String> {
    let body = heading(root, &c.title, c.subtitle.as_deref())?;
    let (plot, side) = body.split_horizontally(SIZE.0 - LEGEND_WIDTH);
    let (xb, yb) = bounds(c);
    let ((x0, x1), (y0, y1)) = (xb, yb);
    match (c.log_x, c.log_y) {
        (false, false) => line_body!(&plot, c, x0..x1, y0..y1, xb, yb)?,
        (true, false) => line_body!(&plot, c, (x0..x1).log_scale(), y0..y1, xb, yb)?,
        (false, true) => line_body!(&plot, c, x0..x1, (y0..y1).log_scale(), xb, yb)?,
        (true, true) => line_body!(&plot, c, (x0..x1).log_scale(), (y0..y1).log_scale(), xb, yb)?,
    }
    let lines = c.series.iter().filter(|s| joined(c, s)).count();
    let mut line_i = 0;
    let mut entries: Vec<(String, Swatch)> = vec![];
    for (i, s) in c.series.iter().enumerate() {
        if joined(c, s) {
            entries.push((s.name.clone(), Swatch::Line(color(i), dash(line_i).filter(|_| lines > 1))));
            line_i += 1;
        } else {
            entries.push((s.name.clone(), Swatch::Marker(color(i))));
        }
        if let Some(b) = &s.band_name {
            let swatch = if s.band_edge_only {
                Swatch::Thin(light(color(i), 0.6))
            } else {
                Swatch::Block(light(color(i), BAND_ALPHA + 0.1))
            };
            entries.push((b.clone(), swatch));
        }
    }
    if entries.len() > 1 || entries.first().is_some_and(|e| !e.0.is_empty()) {
        legend(&side, &entries)?;
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
    let blank = |_: &f64| String::new();
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_labels(n.max(1))
        .y_label_formatter(&yf)
        .x_label_formatter(&blank)
        .disable_mesh()
        .set_tick_mark_size(LabelAreaPosition::Bottom, 0)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(err)?;
    // Counts on one scale (0, 20k, 40k; never 4000 beside 14k), gridded.
    let (ox, oy) = plot.get_base_pixel();
    let xt = ticks(&Unit::Count, 0.0, max, false, &[]);
    for (t, label) in xt.iter().zip(tick_labels(&Unit::Count, &xt, false)) {
        let grid = RGBColor(225, 225, 225);
        chart
            .draw_series(std::iter::once(PathElement::new(vec![(*t, -0.5), (*t, n as f64 - 0.5)], grid)))
            .map_err(err)?;
        let (x, y) = px(&chart, (ox, oy), (*t, -0.5));
        plot.draw(&PathElement::new(vec![(x, y), (x, y + 5)], BLACK)).map_err(err)?;
        let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
        plot.draw(&Text::new(label, (x, y + 8), style)).map_err(err)?;
    }
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
    let entries: Vec<(String, Swatch)> =
        c.segments.iter().enumerate().map(|(k, s)| (s.0.clone(), Swatch::Block(color(k)))).collect();
    legend(&side, &entries)
}
