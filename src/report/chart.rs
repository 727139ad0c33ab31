//! Line charts as inline SVG for the HTML reports: series in, one `<svg>` string out.
//!
//! Drawing (axes, ticks) is plotters' with only its SVG backend: text is emitted as `<text>` for
//! the browser to lay out, so no font library is needed to build or run, and plotters escapes
//! every label it writes. The legend sits in rows under the plot, so it never hides data.
//! Other reports add charts by building a [`Chart`].

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Error, Result};

/// A colour, red-green-blue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// Colours that stay apart for readers with the common colour-vision deficiencies
/// (Okabe–Ito), used in order for series that have no colour of their own meaning.
pub const PALETTE: [Rgb; 7] = [
    Rgb(0, 114, 178),
    Rgb(213, 94, 0),
    Rgb(0, 158, 115),
    Rgb(204, 121, 167),
    Rgb(230, 159, 0),
    Rgb(86, 180, 233),
    Rgb(117, 112, 179),
];
pub const PASS: Rgb = Rgb(0, 140, 80);
pub const FAIL: Rgb = Rgb(200, 30, 30);
pub const LIMIT: Rgb = Rgb(200, 30, 30);
pub const GREY: Rgb = Rgb(120, 120, 120);

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A line through the points, each point marked with a small dot.
    Line,
    /// A dashed line, no marks (reference lines such as y = x).
    Dashed,
    /// Filled dots, no line.
    Dots,
    /// Crosses, no line.
    Crosses,
}

/// One named series of (x, y) points, joined in the order given (a load test's curve follows
/// the offered rate, which need not be the order of its achieved rate).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: Rgb,
    pub style: Style,
}

impl Series {
    pub fn new(
        label: impl Into<String>,
        points: Vec<(f64, f64)>,
        color: Rgb,
        style: Style,
    ) -> Self {
        Series {
            label: label.into(),
            points,
            color,
            style,
        }
    }
}

/// A horizontal line across the whole chart, such as a limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub y: f64,
    pub label: String,
    pub color: Rgb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    /// Logarithmic; points with y ≤ 0 are left out.
    Log,
}

/// A chart: axes, series and rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Read by screen readers and shown as the tooltip; the page's heading is outside the SVG.
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub y_scale: Scale,
    pub series: Vec<Series>,
    pub rules: Vec<Rule>,
    /// Width and height of the plot; the legend adds rows below.
    pub size: (u32, u32),
}

impl Chart {
    pub fn new(title: impl Into<String>, x_label: &str, y_label: &str) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            y_scale: Scale::Linear,
            series: Vec::new(),
            rules: Vec::new(),
            size: (960, 420),
        }
    }

    /// Draws the chart. The SVG scales to its container's width (it has a viewBox).
    pub fn render(&self) -> Result<String> {
        let mut svg = String::new();
        let (x_range, y_range) = self.ranges();
        let drawn = match self.y_scale {
            Scale::Linear => self.draw(&mut svg, x_range, y_range),
            Scale::Log => self.draw(&mut svg, x_range, y_range.log_scale()),
        };
        drawn.map_err(|e| Error::Other(format!("cannot draw the chart {:?}: {e}", self.title)))?;
        Ok(self.decorate(svg))
    }

    fn visible(&self, y: f64) -> bool {
        y.is_finite() && (self.y_scale == Scale::Linear || y > 0.0)
    }

    /// Axis ranges that hold every point and rule, with some headroom; x starts at 0.
    fn ranges(&self) -> (std::ops::Range<f64>, std::ops::Range<f64>) {
        let xs = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .filter(|x| x.is_finite());
        let x_max = xs.fold(0.0_f64, f64::max);
        let x_max = if x_max > 0.0 { x_max * 1.05 } else { 1.0 };
        let ys: Vec<f64> = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .chain(self.rules.iter().map(|r| r.y))
            .filter(|y| self.visible(*y))
            .collect();
        let y_max = ys.iter().copied().fold(f64::MIN, f64::max);
        let y_range = match self.y_scale {
            Scale::Linear => {
                let top = if y_max > 0.0 { y_max * 1.12 } else { 1.0 };
                0.0..top
            }
            Scale::Log => {
                let y_min = ys.iter().copied().fold(f64::MAX, f64::min);
                if ys.is_empty() {
                    1.0..10.0
                } else {
                    (y_min / 1.6)..(y_max * 1.6)
                }
            }
        };
        (0.0..x_max, y_range)
    }

    fn draw<Y>(
        &self,
        out: &mut String,
        x_range: std::ops::Range<f64>,
        y_range: Y,
    ) -> std::result::Result<(), Box<dyn std::error::Error>>
    where
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let entries = self.legend_entries();
        let (legend_at, legend_h) = legend_layout(&entries, self.size.0);
        let root =
            SVGBackend::with_string(out, (self.size.0, self.size.1 + legend_h)).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot_area, legend_area) = root.split_vertically(self.size.1);
        let mut chart = ChartBuilder::on(&plot_area)
            .margin(12)
            .margin_right(24)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x_range, y_range)?;
        let axis_text = ("sans-serif", 14).into_font().color(&RGBColor(60, 60, 60));
        chart
            .configure_mesh()
            .y_labels(if self.y_scale == Scale::Log { 30 } else { 10 })
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .label_style(axis_text)
            .axis_desc_style(("sans-serif", 15))
            .x_label_formatter(&|v| tick(*v))
            // A log axis gets a grid line at every 1–9 × 10ⁿ; labelling them all crowds the
            // top of each decade, so only 1, 2 and 5 × 10ⁿ are labelled.
            .y_label_formatter(&|v| match self.y_scale {
                Scale::Log if !is_125(*v) => String::new(),
                _ => tick(*v),
            })
            // Only the major grid: the minor one doubles the SVG's size for little help.
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()?;

        let (x0, x1) = {
            let r = chart.x_range();
            (r.start, r.end)
        };
        for rule in &self.rules {
            if self.visible(rule.y) {
                chart.draw_series(DashedLineSeries::new(
                    vec![(x0, rule.y), (x1, rule.y)],
                    8,
                    5,
                    rgb(rule.color).stroke_width(2),
                ))?;
            }
        }
        for s in &self.series {
            let pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && self.visible(*y))
                .collect();
            let color = rgb(s.color);
            match s.style {
                Style::Line => {
                    chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?;
                    chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
                }
                Style::Dashed => {
                    chart.draw_series(DashedLineSeries::new(pts, 6, 4, color.stroke_width(1)))?;
                }
                Style::Dots => {
                    chart.draw_series(pts.iter().map(|p| Circle::new(*p, 6, color.filled())))?;
                }
                Style::Crosses => {
                    chart.draw_series(
                        pts.iter().map(|p| Cross::new(*p, 6, color.stroke_width(3))),
                    )?;
                }
            }
        }
        let font = ("sans-serif", 14).into_font().color(&RGBColor(40, 40, 40));
        for ((label, color, style), (x, y)) in entries.iter().zip(legend_at) {
            let c = rgb(*color);
            let mid = y + LEGEND_ROW / 2;
            match style {
                Style::Line => {
                    legend_area.draw(&PathElement::new(
                        vec![(x, mid), (x + 22, mid)],
                        c.stroke_width(2),
                    ))?;
                    legend_area.draw(&Circle::new((x + 11, mid), 3, c.filled()))?;
                }
                Style::Dashed => {
                    for dx in [0, 9, 18] {
                        legend_area.draw(&PathElement::new(
                            vec![(x + dx, mid), (x + dx + 5, mid)],
                            c.stroke_width(2),
                        ))?;
                    }
                }
                Style::Dots => legend_area.draw(&Circle::new((x + 11, mid), 6, c.filled()))?,
                Style::Crosses => {
                    legend_area.draw(&Cross::new((x + 11, mid), 6, c.stroke_width(3)))?
                }
            }
            legend_area.draw(&Text::new(
                label.clone(),
                (x + 30, mid),
                font.clone().pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
        root.present()?;
        Ok(())
    }

    /// (label, colour, style) of every rule and labelled series, in drawing order.
    fn legend_entries(&self) -> Vec<(String, Rgb, Style)> {
        self.rules
            .iter()
            .map(|r| (r.label.clone(), r.color, Style::Dashed))
            .chain(
                self.series
                    .iter()
                    .filter(|s| !s.label.is_empty())
                    .map(|s| (s.label.clone(), s.color, s.style)),
            )
            .collect()
    }

    /// Adds the title (for screen readers and tooltips) and a class the stylesheet sizes.
    fn decorate(&self, svg: String) -> String {
        let title = escape(&self.title);
        match svg.find('>') {
            Some(end) if svg.starts_with("<svg ") => format!(
                "<svg class=\"chart\" role=\"img\" aria-label=\"{title}\" {}<title>{title}</title>{}",
                &svg[5..=end],
                &svg[end + 1..]
            ),
            _ => svg,
        }
    }
}

const LEGEND_ROW: i32 = 24;

/// Where each legend entry goes (left to right, wrapping into rows under the plot), and the
/// height the rows take. Text width is estimated: the browser lays out the real text.
fn legend_layout(entries: &[(String, Rgb, Style)], width: u32) -> (Vec<(i32, i32)>, u32) {
    let (left, right) = (84, width as i32 - 24);
    let (mut x, mut y) = (left, 4);
    let mut at = Vec::with_capacity(entries.len());
    for (label, _, _) in entries {
        let w = 30 + (label.chars().count() as f64 * 7.4) as i32 + 26;
        if x > left && x + w > right {
            x = left;
            y += LEGEND_ROW;
        }
        at.push((x, y));
        x += w;
    }
    let height = if entries.is_empty() {
        0
    } else {
        (y + LEGEND_ROW + 8) as u32
    };
    (at, height)
}

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// Whether a positive value is 1, 2 or 5 × 10ⁿ.
fn is_125(v: f64) -> bool {
    if v <= 0.0 || !v.is_finite() {
        return false;
    }
    let m = v / 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().any(|k| (m - k).abs() < 1e-6)
}

/// A tick label: no trailing zeros, at most three significant decimals.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Escapes text for an HTML or SVG attribute or element.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(scale: Scale) -> Chart {
        let mut c = Chart::new("latency <b>", "rate", "ms");
        c.y_scale = scale;
        c.series.push(Series::new(
            "p99 <script>",
            vec![(300.0, 90.0), (100.0, 20.0), (200.0, 30.0)],
            PALETTE[0],
            Style::Line,
        ));
        c.series.push(Series::new(
            "passing",
            vec![(100.0, 20.0)],
            PASS,
            Style::Dots,
        ));
        c.series.push(Series::new(
            "failing",
            vec![(300.0, 90.0)],
            FAIL,
            Style::Crosses,
        ));
        c.rules.push(Rule {
            y: 50.0,
            label: "limit".into(),
            color: LIMIT,
        });
        c
    }

    #[test]
    fn a_chart_is_one_svg_with_its_series_legend_and_escaped_labels() {
        for scale in [Scale::Linear, Scale::Log] {
            let svg = sample(scale).render().unwrap();
            assert!(svg.starts_with("<svg class=\"chart\""), "{}", &svg[..80]);
            assert_eq!(svg.matches("<svg").count(), 1);
            assert!(svg.trim_end().ends_with("</svg>"));
            assert!(svg.contains("viewBox="));
            assert!(svg.contains("<title>latency &lt;b&gt;</title>"));
            assert!(svg.contains("p99 &lt;script&gt;"), "legend label escaped");
            assert!(!svg.contains("<script"), "no raw markup from labels");
            assert!(
                svg.contains(">\nlimit\n<") || svg.contains(">limit<"),
                "rule in legend"
            );
            // one polyline for the p99 series, circles for its marks and the passing dot
            assert!(svg.contains("<polyline"), "line drawn");
            assert!(svg.matches("<circle").count() >= 4, "marks and dots drawn");
        }
    }

    #[test]
    fn points_are_joined_in_the_order_given() {
        let mut c = Chart::new("t", "x", "y");
        c.series.push(Series::new(
            "s",
            vec![(1.0, 1.0), (3.0, 1.0), (2.0, 1.0)],
            PALETTE[0],
            Style::Line,
        ));
        let svg = c.render().unwrap();
        // the longest polyline is the series (the legend's sample is two points)
        let xs: Vec<i32> = svg
            .lines()
            .filter(|l| l.contains("<polyline"))
            .map(|l| {
                let pts = l
                    .split("points=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                pts.split_whitespace()
                    .map(|p| p.split(',').next().unwrap().parse().unwrap())
                    .collect::<Vec<i32>>()
            })
            .max_by_key(|v| v.len())
            .expect("a polyline");
        assert_eq!(xs.len(), 3);
        assert!(xs[0] < xs[2] && xs[2] < xs[1], "{xs:?}");
    }

    #[test]
    fn the_legend_wraps_into_rows_under_the_plot() {
        let long = "a fairly long series label".to_string();
        let entries: Vec<(String, Rgb, Style)> = (0..8)
            .map(|_| (long.clone(), PALETTE[0], Style::Line))
            .collect();
        let (at, height) = legend_layout(&entries, 960);
        assert!(at.iter().all(|(x, _)| *x >= 84 && *x < 960));
        let rows: std::collections::BTreeSet<i32> = at.iter().map(|p| p.1).collect();
        assert!(rows.len() >= 2, "{at:?}");
        assert_eq!(height as i32, *rows.last().unwrap() + LEGEND_ROW + 8);
        assert_eq!(legend_layout(&[], 960).1, 0);
        // the plot keeps its size; the SVG grows by the legend's rows
        let svg = sample(Scale::Linear).render().unwrap();
        assert!(svg.contains("height=\"") && !svg.contains("height=\"420\""));
    }

    #[test]
    fn an_empty_chart_still_draws_axes() {
        let svg = Chart::new("nothing yet", "x", "y").render().unwrap();
        assert!(svg.contains("<svg class=\"chart\""));
        assert!(svg.contains("<line") || svg.contains("<polyline"));
    }

    #[test]
    fn log_charts_leave_out_non_positive_values() {
        let mut c = Chart::new("t", "x", "y");
        c.y_scale = Scale::Log;
        c.series.push(Series::new(
            "s",
            vec![(1.0, 0.0), (2.0, 10.0), (3.0, 100.0)],
            PALETTE[0],
            Style::Dots,
        ));
        let svg = c.render().unwrap();
        assert_eq!(
            svg.matches("<circle").count(),
            2 + 1,
            "two points and the legend mark"
        );
    }

    #[test]
    fn tick_labels_have_no_noise() {
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(250.0), "250");
        assert_eq!(tick(12.5), "12.5");
        assert_eq!(tick(2.0), "2");
        assert_eq!(tick(0.125), "0.125");
        assert_eq!(tick(0.1), "0.1");
        assert!(is_125(20.0) && is_125(500.0) && is_125(1.0) && is_125(0.05));
        assert!(!is_125(30.0) && !is_125(0.0) && !is_125(70.0));
    }
}
