//! Drawing charts (plotters): line charts with confidence intervals, CDFs, time series and
//! bar charts (`chart`), small multiples of time series with labelled marks (`panels`), and
//! the bundled font that the charts and the ladder diagrams of
//! `trace` use. What to draw from results on disk is `experiment::charts`. Text is rendered with a bundled font (DejaVu Sans, `assets/fonts/`), so
//! SVG and PNG output look the same on every machine and need no system font packages.

pub mod axis;
pub mod chart;
pub mod panels;

use plotters::style::FontStyle;
use std::sync::Once;

/// The family name charts use for all text.
pub const FONT: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the bundled font with plotters (once per process). Call before drawing.
pub fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold, FontStyle::Italic, FontStyle::Oblique] {
            // The font is bundled and known to parse: a failure here is a build defect.
            if plotters::style::register_font(FONT, style, DEJAVU_SANS).is_err() {
                panic!("the bundled DejaVu Sans font does not parse");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::prelude::*;

    #[test]
    fn bundled_font_renders_text_in_svg_and_png() {
        register_fonts();
        let dir = tempfile::tempdir().unwrap();
        let svg = dir.path().join("t.svg");
        let png = dir.path().join("t.png");
        {
            let root = SVGBackend::new(&svg, (200, 100)).into_drawing_area();
            root.fill(&WHITE).unwrap();
            root.draw(&Text::new("ddsim", (10, 10), (FONT, 20).into_font())).unwrap();
            root.present().unwrap();
        }
        {
            let root = BitMapBackend::new(&png, (200, 100)).into_drawing_area();
            root.fill(&WHITE).unwrap();
            root.draw(&Text::new("ddsim", (10, 10), (FONT, 20).into_font())).unwrap();
            root.present().unwrap();
        }
        assert!(std::fs::read_to_string(&svg).unwrap().contains("ddsim"));
        assert!(std::fs::metadata(&png).unwrap().len() > 100);
    }
}
