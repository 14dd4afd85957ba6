//! SVG writing and PNG rasterisation.

use crate::ticks::ticks;
use crate::{Axis, FONT_FAMILY, Figure, PALETTE, Panel, PlotError, SeriesKind, XAxis};
use std::fmt::Write as _;
use std::sync::Arc;

const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const TITLE_HEIGHT: f64 = 40.0;
/// Average glyph width of DejaVu Sans, in ems, for layout estimates.
const EM_WIDTH: f64 = 0.6;

/// Rasterises SVG text to PNG with the embedded font; the PNG has the SVG's pixel size.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, PlotError> {
    use resvg::{tiny_skia, usvg};
    let mut fonts = usvg::fontdb::Database::new();
    fonts.load_font_data(FONT.to_vec());
    let options = usvg::Options {
        font_family: FONT_FAMILY.into(),
        fontdb: Arc::new(fonts),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| PlotError::Render(e.to_string()))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| PlotError::Render("empty canvas".into()))?;
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|e| PlotError::Render(e.to_string()))
}

/// Escapes text for XML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Coordinates with two decimals: enough for pixels, stable across platforms.
fn n(v: f64) -> String {
    let s = format!("{v:.2}");
    if s == "-0.00" { "0.00".into() } else { s }
}

fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * EM_WIDTH
}

/// Pixel geometry of one panel.
struct Frame<'a> {
    panel: &'a Panel,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame<'_> {
    fn x(&self, v: f64) -> f64 {
        match &self.panel.x {
            XAxis::Categories(c) => {
                let band = (self.right - self.left) / c.len().max(1) as f64;
                self.left + band * (v + 0.5)
            }
            XAxis::Values(a) => self.left + a.fraction(v) * (self.right - self.left),
        }
    }

    fn y(&self, v: f64, right_axis: bool) -> f64 {
        self.bottom - axis_of(self.panel, right_axis).fraction(v) * (self.bottom - self.top)
    }

    /// Width available to one x position's bars.
    fn band(&self) -> f64 {
        match &self.panel.x {
            XAxis::Categories(c) => (self.right - self.left) / c.len().max(1) as f64,
            XAxis::Values(_) => {
                let mut xs: Vec<f64> = self
                    .panel
                    .series
                    .iter()
                    .filter(|s| s.kind == SeriesKind::Bars)
                    .flat_map(|s| s.points.iter().map(|p| self.x(p.x)))
                    .collect();
                xs.sort_by(f64::total_cmp);
                xs.windows(2)
                    .map(|w| w[1] - w[0])
                    .filter(|d| *d > 0.5)
                    .fold((self.right - self.left) / 10.0, f64::min)
            }
        }
    }
}

pub(crate) fn render(fig: &Figure) -> String {
    let (w, h) = (f64::from(fig.width), f64::from(fig.height));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="{FONT_FAMILY}, sans-serif">"#,
        fig.width, fig.height, fig.width, fig.height
    );
    let _ = writeln!(
        out,
        r##"<rect width="{}" height="{}" fill="#ffffff"/>"##,
        n(w),
        n(h)
    );
    let _ = writeln!(
        out,
        r##"<text class="title" x="{}" y="26" font-size="18" text-anchor="middle" fill="#222222">{}</text>"##,
        n(w / 2.0),
        esc(&fig.title)
    );
    let panel_h = (h - TITLE_HEIGHT) / fig.panels.len() as f64;
    let mut color_index = 0;
    for (index, panel) in fig.panels.iter().enumerate() {
        let top = TITLE_HEIGHT + panel_h * index as f64;
        render_panel(&mut out, panel, index, top, panel_h, w, &mut color_index);
    }
    out.push_str("</svg>\n");
    out
}

fn render_panel(
    out: &mut String,
    panel: &Panel,
    index: usize,
    top: f64,
    height: f64,
    width: f64,
    color_index: &mut usize,
) {
    let (labels_rotated, label_every) = category_labels(panel, width);
    let bottom_margin = if labels_rotated { 92.0 } else { 58.0 };
    // The legend sits right of the plot (and of the right axis), never over the data.
    let legend_width = legend_width(panel);
    let frame = Frame {
        panel,
        left: 74.0,
        right: width - if panel.y2.is_some() { 74.0 } else { 16.0 } - legend_width,
        top: top + 14.0,
        bottom: top + height - bottom_margin,
    };
    let _ = writeln!(out, r#"<g class="panel" data-index="{index}">"#);
    axes(out, &frame, labels_rotated, label_every);

    for shade in &panel.shades {
        let (x0, x1) = (frame.x(shade.x0), frame.x(shade.x1));
        let _ = writeln!(
            out,
            r##"<rect class="shade" data-label="{}" x="{}" y="{}" width="{}" height="{}" fill="#888888" fill-opacity="0.18"/>"##,
            esc(&shade.label),
            n(x0.min(x1)),
            n(frame.top),
            n((x1 - x0).abs()),
            n(frame.bottom - frame.top)
        );
    }

    let slots = {
        let mut count = 0;
        for s in panel.series.iter().filter(|s| s.kind == SeriesKind::Bars) {
            if !s.same_slot || count == 0 {
                count += 1;
            }
        }
        count.max(1)
    };
    let band = frame.band();
    let inner = band * 0.8;
    let slot_w = inner / slots as f64;
    let mut slot: Option<usize> = None;
    let mut legend = Vec::new();
    let mut labels = PointLabels::around_markers(panel, &frame);
    for series in &panel.series {
        let color = series.color.clone().unwrap_or_else(|| {
            let c = PALETTE[*color_index % PALETTE.len()].to_string();
            *color_index += 1;
            c
        });
        let kind = match series.kind {
            SeriesKind::Bars => "bars",
            SeriesKind::Line => "line",
            SeriesKind::Points => "points",
        };
        let _ = writeln!(
            out,
            r#"<g class="series" data-label="{}" data-kind="{kind}" data-points="{}">"#,
            esc(&series.label),
            series.points.len()
        );
        match series.kind {
            SeriesKind::Bars => {
                let s = match slot {
                    Some(s) if series.same_slot => s,
                    Some(s) => s + 1,
                    None => 0,
                };
                slot = Some(s);
                let axis = axis_of(panel, series.right_axis);
                let floor = if axis.min > 0.0 { axis.min } else { 0.0 };
                for p in &series.points {
                    let x = frame.x(p.x) - inner / 2.0 + slot_w * s as f64 + slot_w * 0.08;
                    let y0 = frame.y(p.base.unwrap_or(floor), series.right_axis);
                    let y1 = frame.y(p.y, series.right_axis);
                    let _ = writeln!(
                        out,
                        r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{color}"/>"#,
                        n(x),
                        n(y0.min(y1)),
                        n(slot_w * 0.84),
                        n((y0 - y1).abs())
                    );
                }
            }
            SeriesKind::Line | SeriesKind::Points => {
                let is_line = series.kind == SeriesKind::Line;
                if is_line {
                    let pts: Vec<String> = series
                        .points
                        .iter()
                        .map(|p| {
                            format!("{},{}", n(frame.x(p.x)), n(frame.y(p.y, series.right_axis)))
                        })
                        .collect();
                    let _ = writeln!(
                        out,
                        r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2.2" stroke-linejoin="round"/>"#,
                        pts.join(" ")
                    );
                }
                let (radius, r) = if is_line { (3.0, "3") } else { (5.0, "5") };
                if series.points.len() <= 80 || !is_line {
                    for p in &series.points {
                        let _ = writeln!(
                            out,
                            r#"<circle cx="{}" cy="{}" r="{r}" fill="{color}"/>"#,
                            n(frame.x(p.x)),
                            n(frame.y(p.y, series.right_axis)),
                        );
                    }
                }
                for (p, label) in series.points.iter().zip(&series.point_labels) {
                    let (x, y) = labels.place(
                        frame.x(p.x),
                        frame.y(p.y, series.right_axis),
                        radius,
                        text_width(label, 11.0),
                        frame.right,
                    );
                    let _ = writeln!(
                        out,
                        r##"<text class="point-label" data-label="{}" x="{}" y="{}" font-size="11" fill="#222222">{}</text>"##,
                        esc(label),
                        n(x),
                        n(y),
                        esc(label)
                    );
                }
            }
        }
        out.push_str("</g>\n");
        if !series.label.is_empty() {
            legend.push((series.label.clone(), color, series.kind));
        }
    }

    for rule in &panel.rules {
        let y = frame.y(rule.y, rule.right_axis);
        let _ = writeln!(
            out,
            r##"<line class="rule" data-label="{}" x1="{}" y1="{}" x2="{}" y2="{}" stroke="#D55E00" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
            esc(&rule.label),
            n(frame.left),
            n(y),
            n(frame.right),
            n(y)
        );
    }
    for shade in &panel.shades {
        legend.push((shade.label.clone(), "#bbbbbb".into(), SeriesKind::Bars));
    }
    for rule in &panel.rules {
        legend.push((rule.label.clone(), "rule".into(), SeriesKind::Line));
    }
    let legend_x = frame.right + if panel.y2.is_some() { 74.0 } else { 16.0 };
    draw_legend(out, legend_x, frame.top, &legend);
    out.push_str("</g>\n");
}

/// An axis-aligned box in pixels: left, top, right, bottom.
type Rect = [f64; 4];

/// Where point labels go: each at the first of a few spots around its marker that
/// overlaps no labelled marker and no label placed before it (else the first spot), so
/// close points stay readable. Deterministic: labels are placed in series and point order.
struct PointLabels {
    taken: Vec<Rect>,
}

impl PointLabels {
    /// Every labelled marker of `panel` is taken from the start.
    fn around_markers(panel: &Panel, frame: &Frame<'_>) -> PointLabels {
        let mut taken = Vec::new();
        for series in panel.series.iter().filter(|s| !s.point_labels.is_empty()) {
            let r = if series.kind == SeriesKind::Points {
                5.0
            } else {
                3.0
            };
            for p in &series.points {
                let (x, y) = (frame.x(p.x), frame.y(p.y, series.right_axis));
                taken.push([x - r, y - r, x + r, y + r]);
            }
        }
        PointLabels { taken }
    }

    /// The baseline start of a label `width` wide beside the marker at `(x, y)`.
    fn place(&mut self, x: f64, y: f64, r: f64, width: f64, right_edge: f64) -> (f64, f64) {
        let right = x + r + 3.0;
        let left = x - r - 3.0 - width;
        let centred = x - width / 2.0;
        let spots = [
            (right, y - r),
            (right, y + r + 9.0),
            (left, y - r),
            (left, y + r + 9.0),
            (centred, y - r - 5.0),
            (centred, y + r + 13.0),
            (right, y - r - 12.0),
            (right, y + r + 21.0),
        ];
        // Text of size 11 spans about 9 px above its baseline and 2 below.
        let rect = |(sx, sy): (f64, f64)| [sx, sy - 9.0, sx + width, sy + 2.0];
        let overlaps =
            |a: &Rect, b: &Rect| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
        let free = |spot: &(f64, f64)| {
            let box_ = rect(*spot);
            box_[2] <= right_edge
                && !self.taken.iter().any(|t| {
                    overlaps(t, &box_) && !(t[0] <= x && x <= t[2] && t[1] <= y && y <= t[3])
                })
        };
        let spot = spots.iter().copied().find(free).unwrap_or(spots[0]);
        self.taken.push(rect(spot));
        spot
    }
}

/// Whether category labels must be rotated, and which to show (every k-th).
fn category_labels(panel: &Panel, width: f64) -> (bool, usize) {
    let XAxis::Categories(c) = &panel.x else {
        return (false, 1);
    };
    let every = c.len().div_ceil(40).max(1);
    let band = (width - 100.0) / c.len().max(1) as f64 * every as f64;
    let widest = c.iter().map(|l| text_width(l, 12.0)).fold(0.0, f64::max);
    (widest > band * 0.9, every)
}

fn axes(out: &mut String, f: &Frame<'_>, rotated: bool, every: usize) {
    let panel = f.panel;
    // Horizontal grid and left ticks.
    let _ = writeln!(
        out,
        r#"<g class="axis y" data-label="{}">"#,
        esc(&panel.y.label)
    );
    for (v, label) in ticks(&panel.y, 5) {
        let y = f.y(v, false);
        let _ = writeln!(
            out,
            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#e6e6e6"/>"##,
            n(f.left),
            n(y),
            n(f.right),
            n(y)
        );
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" font-size="12" text-anchor="end" fill="#333333">{}</text>"##,
            n(f.left - 8.0),
            n(y + 4.0),
            esc(&label)
        );
    }
    let mid = (f.top + f.bottom) / 2.0;
    let _ = writeln!(
        out,
        r##"<text class="axis-label" x="20" y="{}" font-size="14" text-anchor="middle" fill="#222222" transform="rotate(-90 20 {})">{}</text>"##,
        n(mid),
        n(mid),
        esc(&panel.y.label)
    );
    out.push_str("</g>\n");
    if let Some(y2) = &panel.y2 {
        let _ = writeln!(
            out,
            r#"<g class="axis y2" data-label="{}">"#,
            esc(&y2.label)
        );
        for (v, label) in ticks(y2, 5) {
            let y = f.y(v, true);
            let _ = writeln!(
                out,
                r##"<text x="{}" y="{}" font-size="12" text-anchor="start" fill="#333333">{}</text>"##,
                n(f.right + 8.0),
                n(y + 4.0),
                esc(&label)
            );
        }
        let x = f.right + 60.0;
        let _ = writeln!(
            out,
            r##"<text class="axis-label" x="{}" y="{}" font-size="14" text-anchor="middle" fill="#222222" transform="rotate(90 {} {})">{}</text>"##,
            n(x),
            n(mid),
            n(x),
            n(mid),
            esc(&y2.label)
        );
        out.push_str("</g>\n");
    }

    let _ = writeln!(
        out,
        r#"<g class="axis x" data-label="{}">"#,
        esc(&panel.x_label)
    );
    let baseline = f.bottom + 18.0;
    match &panel.x {
        XAxis::Categories(c) => {
            for (i, label) in c.iter().enumerate().step_by(every) {
                let x = f.x(i as f64);
                if rotated {
                    let _ = writeln!(
                        out,
                        r##"<text x="{}" y="{}" font-size="12" text-anchor="end" fill="#333333" transform="rotate(-40 {} {})">{}</text>"##,
                        n(x),
                        n(baseline),
                        n(x),
                        n(baseline),
                        esc(label)
                    );
                } else {
                    let _ = writeln!(
                        out,
                        r##"<text x="{}" y="{}" font-size="12" text-anchor="middle" fill="#333333">{}</text>"##,
                        n(x),
                        n(baseline),
                        esc(label)
                    );
                }
            }
        }
        XAxis::Values(axis) => {
            for (v, label) in ticks(axis, 8) {
                let x = f.x(v);
                let _ = writeln!(
                    out,
                    r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#333333"/>"##,
                    n(x),
                    n(f.bottom),
                    n(x),
                    n(f.bottom + 5.0)
                );
                let _ = writeln!(
                    out,
                    r##"<text x="{}" y="{}" font-size="12" text-anchor="middle" fill="#333333">{}</text>"##,
                    n(x),
                    n(baseline),
                    esc(&label)
                );
            }
        }
    }
    let label_y = if rotated {
        f.bottom + 84.0
    } else {
        f.bottom + 44.0
    };
    let _ = writeln!(
        out,
        r##"<text class="axis-label" x="{}" y="{}" font-size="14" text-anchor="middle" fill="#222222">{}</text>"##,
        n((f.left + f.right) / 2.0),
        n(label_y),
        esc(&panel.x_label)
    );
    out.push_str("</g>\n");
    let _ = writeln!(
        out,
        r##"<path d="M{} {} V{} H{}" fill="none" stroke="#333333" stroke-width="1.2"/>"##,
        n(f.left),
        n(f.top),
        n(f.bottom),
        n(f.right)
    );
}

/// Labels shown in a panel's legend.
fn legend_labels(panel: &Panel) -> impl Iterator<Item = &str> {
    let series = panel.series.iter().map(|s| s.label.as_str());
    let shades = panel.shades.iter().map(|s| s.label.as_str());
    let rules = panel.rules.iter().map(|r| r.label.as_str());
    series.chain(shades).chain(rules).filter(|l| !l.is_empty())
}

/// Width of a panel's legend box (0 without entries).
fn legend_width(panel: &Panel) -> f64 {
    legend_labels(panel)
        .map(|l| text_width(l, 12.0) + 40.0)
        .fold(0.0, f64::max)
}

/// Legend entries: label, colour (or `"rule"`), and how the swatch is drawn.
fn draw_legend(out: &mut String, x: f64, y: f64, entries: &[(String, String, SeriesKind)]) {
    if entries.is_empty() {
        return;
    }
    let row = 18.0;
    let width = entries
        .iter()
        .map(|e| text_width(&e.0, 12.0))
        .fold(0.0, f64::max)
        + 38.0;
    let height = row * entries.len() as f64 + 8.0;
    let _ = writeln!(out, r#"<g class="legend">"#);
    let _ = writeln!(
        out,
        r##"<rect x="{}" y="{}" width="{}" height="{}" fill="#ffffff" stroke="#cccccc"/>"##,
        n(x),
        n(y),
        n(width),
        n(height)
    );
    for (i, (label, color, kind)) in entries.iter().enumerate() {
        let cy = y + 4.0 + row * (i as f64 + 0.5);
        let _ = writeln!(
            out,
            r#"<g class="legend-entry" data-label="{}">"#,
            esc(label)
        );
        if color == "rule" {
            let _ = writeln!(
                out,
                r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#D55E00" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
                n(x + 6.0),
                n(cy),
                n(x + 26.0),
                n(cy)
            );
        } else if *kind == SeriesKind::Points {
            let _ = writeln!(
                out,
                r#"<circle cx="{}" cy="{}" r="5" fill="{color}"/>"#,
                n(x + 16.0),
                n(cy)
            );
        } else if *kind == SeriesKind::Line {
            let _ = writeln!(
                out,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{color}" stroke-width="2.2"/>"#,
                n(x + 6.0),
                n(cy),
                n(x + 26.0),
                n(cy)
            );
        } else {
            let _ = writeln!(
                out,
                r#"<rect x="{}" y="{}" width="20" height="10" fill="{color}"/>"#,
                n(x + 6.0),
                n(cy - 5.0)
            );
        }
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" font-size="12" fill="#222222">{}</text>"##,
            n(x + 32.0),
            n(cy + 4.0),
            esc(label)
        );
        out.push_str("</g>\n");
    }
    out.push_str("</g>\n");
}

/// The axis a rule or series uses.
fn axis_of(panel: &Panel, right: bool) -> &Axis {
    match (&panel.y2, right) {
        (Some(a), true) => a,
        _ => &panel.y,
    }
}
