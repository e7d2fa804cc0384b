//! Small multiples: several series over the same time axis, one panel each, so that series of
//! very different scales (items held, messages queued, deliveries per minute) stay readable,
//! with labelled vertical marks (where a series settles, a configured warm-up) and an optional
//! level drawn from a mark to the end. Written as SVG and PNG, 1000 pixels wide, each panel
//! [`PANEL_HEIGHT`] high; the time axis is labelled under the last panel only.

use super::FONT;
use super::axis::{tick_labels, ticks};
use super::chart::{Unit, color, err, heading, heading_height};
use plotters::coord::{CoordTranslate, Shift};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

pub const WIDTH: u32 = 1000;
pub const PANEL_HEIGHT: u32 = 150;
const LEGEND_HEIGHT: u32 = 30;
const AXIS_HEIGHT: u32 = 56;
const Y_LABELS: u32 = 92;

/// How a line is drawn: the series itself, and the kinds of marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// The panel's series (its own colour).
    Series,
    /// A solid vertical line in the series' colour: where it settles.
    Settles,
    /// A dashed vertical line in the series' colour: a lower bound (not settled by then).
    LowerBound,
    /// A dashed grey vertical line: a reference such as the configured warm-up.
    Reference,
    /// A dotted horizontal line: a level, from its mark to the end.
    Level,
    /// A shaded span: an item of the model's `events[]`.
    Event,
}

/// A vertical line with its label.
#[derive(Clone, Debug)]
pub struct Mark {
    pub x: f64,
    pub label: String,
    pub style: Style,
}

#[derive(Clone, Debug)]
pub struct Panel {
    /// Drawn above the panel: what the series is, in words.
    pub title: String,
    pub unit: Unit,
    pub points: Vec<(f64, f64)>,
    pub marks: Vec<Mark>,
    /// A level drawn dotted from x to the end of the axis: (x, level).
    pub level: Option<(f64, f64)>,
}

#[derive(Clone, Debug)]
pub struct PanelChart {
    pub title: String,
    pub subtitle: Option<String>,
    pub x_label: String,
    /// The shared time axis (seconds).
    pub x_range: (f64, f64),
    /// Spans shaded in every panel, under the series: the model's `events[]` (an outage makes
    /// a series jump that is no transient of the start).
    pub shaded: Vec<(f64, f64)>,
    pub panels: Vec<Panel>,
    /// One swatch and text per entry, in a row under the heading.
    pub legend: Vec<(Style, String)>,
}

const REFERENCE_GREY: RGBColor = RGBColor(90, 90, 90);
const EVENT_FILL: RGBColor = super::chart::RegionKind::Event.fill();

impl PanelChart {
    /// Where each legend entry goes: (x, row), in rows that wrap before the chart's right edge.
    fn legend_places(&self) -> Vec<(i32, u32)> {
        let start = Y_LABELS as i32 + 10;
        let (mut x, mut row) = (start, 0);
        let mut out = vec![];
        for (_, text) in &self.legend {
            let width = 32 + text.chars().count() as i32 * 7;
            if x > start && x + width > WIDTH as i32 - 10 {
                (x, row) = (start, row + 1);
            }
            out.push((x, row));
            x += width + 22;
        }
        out
    }

    fn legend_height(&self) -> u32 {
        LEGEND_HEIGHT * (1 + self.legend_places().last().map_or(0, |p| p.1))
    }

    pub fn size(&self) -> (u32, u32) {
        (
            WIDTH,
            heading_height(self.subtitle.as_deref())
                + self.legend_height()
                + PANEL_HEIGHT * self.panels.len().max(1) as u32
                + AXIS_HEIGHT,
        )
    }

    /// Writes `<stem>.svg` and `<stem>.png`.
    pub fn save(&self, stem: &Path) -> Result<(), String> {
        super::register_fonts();
        let svg = stem.with_extension("svg");
        let png = stem.with_extension("png");
        {
            let root = SVGBackend::new(&svg, self.size()).into_drawing_area();
            self.draw(&root).map_err(|e| format!("{}: {e}", svg.display()))?;
            root.present().map_err(|e| format!("{}: {e}", svg.display()))?;
        }
        {
            let root = BitMapBackend::new(&png, self.size()).into_drawing_area();
            self.draw(&root).map_err(|e| format!("{}: {e}", png.display()))?;
            root.present().map_err(|e| format!("{}: {e}", png.display()))?;
        }
        Ok(())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let body = heading(root, &self.title, self.subtitle.as_deref())?;
        let (legend, mut rest) = body.split_vertically(self.legend_height());
        self.draw_legend(&legend)?;
        let n = self.panels.len();
        for (i, p) in self.panels.iter().enumerate() {
            let last = i + 1 == n;
            let (area, below) = rest.split_vertically(PANEL_HEIGHT + if last { AXIS_HEIGHT } else { 0 });
            self.draw_panel(&area, p, i, last)?;
            rest = below;
        }
        Ok(())
    }

    fn draw_legend<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), String> {
        for ((style, text), (x, row)) in self.legend.iter().zip(self.legend_places()) {
            let y = 14 + (row * LEGEND_HEIGHT) as i32;
            let (a, b) = ((x, y), (x + 26, y));
            match style {
                Style::Series => area.draw(&PathElement::new(vec![a, b], color(0).stroke_width(2))),
                Style::Settles => {
                    area.draw(&PathElement::new(vec![(x + 13, y - 8), (x + 13, y + 8)], BLACK.stroke_width(2)))
                }
                Style::LowerBound => area.draw(&DashedPathElement::new(
                    vec![(x + 13, y - 9), (x + 13, y + 9)],
                    4,
                    3,
                    BLACK.stroke_width(2),
                )),
                Style::Reference => area.draw(&DashedPathElement::new(
                    vec![(x + 13, y - 9), (x + 13, y + 9)],
                    6,
                    4,
                    REFERENCE_GREY.stroke_width(2),
                )),
                Style::Level => area.draw(&DashedPathElement::new(vec![a, b], 2, 3, BLACK.stroke_width(1))),
                Style::Event => area.draw(&Rectangle::new([(x, y - 8), (x + 26, y + 8)], EVENT_FILL.filled())),
            }
            .map_err(err)?;
            let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            area.draw(&Text::new(text.clone(), (x + 32, y), style)).map_err(err)?;
        }
        Ok(())
    }

    fn draw_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        p: &Panel,
        index: usize,
        last: bool,
    ) -> Result<(), String> {
        let (x0, x1) = self.x_range;
        let hi = p.points.iter().map(|q| q.1).chain(p.level.map(|l| l.1)).fold(0.0, f64::max);
        // Headroom for the two rows of labels at the top.
        let y1 = if hi > 0.0 { hi * 1.3 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(24)
            .margin_top(24)
            .margin_bottom(4)
            .x_label_area_size(if last { AXIS_HEIGHT } else { 0 })
            .y_label_area_size(Y_LABELS)
            .build_cartesian_2d(x0..x1, 0.0..y1)
            .map_err(err)?;
        let yf = |v: &f64| tick(&p.unit, *v, y1);
        let blank = |_: &f64| String::new();
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .x_label_formatter(&blank)
            .set_tick_mark_size(LabelAreaPosition::Bottom, 0)
            .y_label_formatter(&yf)
            .y_labels(4)
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 16))
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(215, 215, 215));
        if last {
            mesh.x_desc(self.x_label.as_str());
        }
        mesh.draw().map_err(err)?;
        let (ox, oy) = area.get_base_pixel();
        let spec = chart.as_coord_spec().clone();
        let px = |x: f64, y: f64| {
            let (a, b) = spec.translate(&(x, y));
            (a - ox, b - oy)
        };
        for &(from, to) in &self.shaded {
            let span = Rectangle::new([(from.max(x0), 0.0), (to.min(x1), y1)], EVENT_FILL.filled());
            chart.draw_series(std::iter::once(span)).map_err(err)?;
        }
        // Round durations on the time axis, gridded in every panel, labelled under the last.
        let grid = RGBColor(225, 225, 225);
        let xt = ticks(&Unit::Seconds, x0, x1, false, &[]);
        for (&t, label) in xt.iter().zip(tick_labels(&Unit::Seconds, &xt, false)) {
            chart.draw_series(std::iter::once(PathElement::new(vec![(t, 0.0), (t, y1)], grid))).map_err(err)?;
            if last {
                let (tx, ty) = px(t, 0.0);
                area.draw(&PathElement::new(vec![(tx, ty), (tx, ty + 5)], BLACK)).map_err(err)?;
                let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
                area.draw(&Text::new(label, (tx, ty + 8), style)).map_err(err)?;
            }
        }
        let col = color(index);
        area.draw(&Text::new(
            p.title.clone(),
            (Y_LABELS as i32 + 10, 4),
            (FONT, 14).into_font().style(FontStyle::Bold),
        ))
        .map_err(err)?;
        chart.draw_series(LineSeries::new(p.points.iter().copied(), col.stroke_width(2))).map_err(err)?;
        if let Some((from, level)) = p.level {
            chart
                .draw_series(DashedLineSeries::new(vec![(from, level), (x1, level)], 2, 3, BLACK.stroke_width(1)))
                .map_err(err)?;
        }
        // Labels in two rows at the top of the plot: references above, the series' own marks
        // below, so that a warm-up and a truncation point close together do not collide.
        let (left, top) = px(x0, y1);
        let (right, _) = px(x1, y1);
        for m in &p.marks {
            let line = vec![(m.x, 0.0), (m.x, y1)];
            match m.style {
                Style::Reference => {
                    chart.draw_series(DashedLineSeries::new(line, 6, 4, REFERENCE_GREY.stroke_width(2))).map_err(err)?
                }
                Style::LowerBound => {
                    chart.draw_series(DashedLineSeries::new(line, 4, 3, col.stroke_width(2))).map_err(err)?
                }
                _ => chart.draw_series(LineSeries::new(line, col.stroke_width(2))).map_err(err)?,
            };
            let row = if m.style == Style::Reference { 0 } else { 1 };
            let (mx, _) = px(m.x, y1);
            let width = m.label.chars().count() as i32 * 7;
            // Right of the line, or left of it when the label would run past the plot.
            let flip = mx + 5 + width > right;
            let (hpos, tx) = if flip { (HPos::Right, (mx - 5).max(left + width)) } else { (HPos::Left, mx + 5) };
            let text_col = if m.style == Style::Reference { REFERENCE_GREY } else { col };
            let style = TextStyle::from((FONT, 13).into_font()).color(&text_col).pos(Pos::new(hpos, VPos::Top));
            let ty = top + 3 + 16 * row;
            // On a white ground, so that the curve under it does not cross the text.
            let x_left = if flip { tx - width } else { tx };
            area.draw(&Rectangle::new([(x_left - 2, ty - 1), (x_left + width + 2, ty + 14)], WHITE.mix(0.7).filled()))
                .map_err(err)?;
            area.draw(&Text::new(m.label.clone(), (tx, ty), style)).map_err(err)?;
        }
        Ok(())
    }
}

/// A y tick of a panel whose axis ends at `hi`: in the unit's words, with the decimals that
/// tell ticks apart when every value is small (a queue that is empty nearly all the time).
fn tick(unit: &Unit, v: f64, hi: f64) -> String {
    if v == 0.0 || hi >= 1.0 || *unit != Unit::Count {
        return unit.format(v);
    }
    if hi < 1e-3 {
        return format!("{v:.1e}");
    }
    let decimals = (1 - hi.log10().floor() as i32).clamp(0, 6) as usize;
    crate::units::trimmed(v, decimals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panels_are_drawn_with_their_marks_as_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let panel = |title: &str, scale: f64| Panel {
            title: title.into(),
            unit: Unit::Count,
            points: (0..100).map(|i| (i as f64 * 600.0, scale * (1.0 - (-(i as f64) / 10.0).exp()))).collect(),
            marks: vec![
                Mark { x: 18_000.0, label: "settles at 5h".into(), style: Style::Settles },
                Mark { x: 3600.0, label: "configured warm-up 1h".into(), style: Style::Reference },
            ],
            level: Some((18_000.0, scale)),
        };
        let c = PanelChart {
            title: "Warm-up".into(),
            subtitle: Some("test".into()),
            x_label: "simulated time".into(),
            x_range: (0.0, 60_000.0),
            shaded: vec![(10_800.0, 12_000.0)],
            panels: vec![panel("big", 1e5), panel("small", 0.3)],
            legend: vec![
                (Style::Series, "series".into()),
                (Style::Settles, "settles".into()),
                (Style::Event, "outage of ran, 20m".into()),
            ],
        };
        c.save(&dir.path().join("w")).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("w.svg")).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts: Vec<&str> =
            doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
        // Each panel's labels, and round durations on the shared axis, once (under the last panel).
        for text in ["settles at 5h", "configured warm-up 1h", "big", "small", "3h", "12h"] {
            assert!(texts.contains(&text), "{text} missing: {texts:?}");
        }
        assert_eq!(texts.iter().filter(|t| **t == "settles at 5h").count(), 2);
        assert_eq!(texts.iter().filter(|t| **t == "12h").count(), 1);
        // The event is shaded in each panel (and its swatch is in the legend).
        let fill = format!("#{:02X}{:02X}{:02X}", EVENT_FILL.0, EVENT_FILL.1, EVENT_FILL.2);
        let shaded = doc.descendants().filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some(&fill)).count();
        assert_eq!(shaded, 3, "{fill}");
        assert!(texts.contains(&"outage of ran, 20m"));
        assert_eq!(c.size(), (1000, heading_height(Some("test")) + LEGEND_HEIGHT + 2 * PANEL_HEIGHT + AXIS_HEIGHT));
        assert!(std::fs::metadata(dir.path().join("w.png")).unwrap().len() > 1000);
    }

    /// A legend longer than the chart is wide goes on in a second row, which the chart makes
    /// room for, rather than running off the right edge.
    #[test]
    fn a_long_legend_wraps_within_the_width() {
        let entry = |style, text: &str| (style, text.to_string());
        let mut c = PanelChart {
            title: "Warm-up".into(),
            subtitle: None,
            x_label: "t".into(),
            x_range: (0.0, 1.0),
            shaded: vec![],
            panels: vec![],
            legend: vec![entry(Style::Series, "sampled every 10m"), entry(Style::Settles, "settles (MSER-5)")],
        };
        let one_row = c.size().1;
        assert!(c.legend_places().iter().all(|p| p.1 == 0));
        c.legend.push(entry(Style::Reference, "configured warm-up"));
        c.legend.push(entry(Style::Event, "outage of ran-north, 20m and 2 more events"));
        c.legend.push(entry(Style::Level, "mean after truncation"));
        let places = c.legend_places();
        assert_eq!(places.last().unwrap().1, 1, "{places:?}");
        for ((_, text), (x, _)) in c.legend.iter().zip(&places) {
            assert!(x + 32 + text.chars().count() as i32 * 7 <= WIDTH as i32 - 10, "{text} at {x}");
        }
        assert_eq!(c.size().1, one_row + LEGEND_HEIGHT);
    }

    #[test]
    fn small_values_get_ticks_that_differ() {
        assert_eq!(tick(&Unit::Count, 0.0001, 0.00026), "1.0e-4");
        assert_eq!(tick(&Unit::Count, 0.02, 0.05), "0.02");
        assert_eq!(tick(&Unit::Count, 0.25, 0.6), "0.25");
        assert_eq!(tick(&Unit::Count, 20000.0, 30000.0), "20k");
    }
}
