//! # dial-plot
//!
//! Small charts for dial's figures: one or more stacked panels of bars and lines, with
//! titled axes, legends, shaded ranges and reference lines. Output is hand-written SVG,
//! deterministic to the byte, with semantic attributes (`class="series"`,
//! `data-label="…"`) so tests and tools can read it back. PNG output rasterises that SVG
//! with `resvg` and the embedded DejaVu Sans, so text is legible without any system font.
//!
//! ```
//! use dial_plot::{Axis, Figure, Panel, Point, Series, SeriesKind, XAxis};
//! let panel = Panel::new(
//!     XAxis::Categories(vec!["a".into(), "b".into()]),
//!     "token",
//!     Axis::linear("probability", 0.0, 1.0),
//! )
//! .with_series(Series::new("p", SeriesKind::Bars, vec![Point::new(0.0, 0.7), Point::new(1.0, 0.3)]));
//! let figure = Figure::new("Example", 640, 400).with_panel(panel);
//! let svg = figure.to_svg()?;
//! assert!(svg.contains(r#"data-label="p""#));
//! let png = dial_plot::svg_to_png(&svg)?;
//! assert_eq!(&png[1..4], b"PNG");
//! # Ok::<(), dial_plot::PlotError>(())
//! ```

mod svg;
mod ticks;

pub use svg::svg_to_png;

/// Font embedded for PNG output (DejaVu Sans; see `fonts/LICENSE-DejaVu.txt`).
pub const FONT_FAMILY: &str = "DejaVu Sans";

/// Smallest and largest accepted figure side, in pixels.
pub const SIZE_RANGE: std::ops::RangeInclusive<u32> = 100..=8000;

/// Why a figure could not be drawn.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlotError {
    /// Width or height outside [`SIZE_RANGE`].
    #[error("figure size {width}×{height} is outside 100–8000 pixels per side")]
    Size {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// The figure has no panels.
    #[error("the figure has no panels")]
    NoPanels,
    /// An axis range is empty, reversed, not finite, or not positive on a log axis.
    #[error("axis {axis:?} has an invalid range {min}..{max}")]
    AxisRange {
        /// The axis label.
        axis: String,
        /// Range start.
        min: f64,
        /// Range end.
        max: f64,
    },
    /// The SVG could not be parsed or rasterised.
    #[error("cannot render PNG: {0}")]
    Render(String),
}

/// How an axis maps values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Linear.
    Linear,
    /// Base-10 logarithmic (the range must be positive).
    Log,
}

/// A value axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Axis title.
    pub label: String,
    /// Range start.
    pub min: f64,
    /// Range end.
    pub max: f64,
    /// Mapping.
    pub scale: Scale,
}

impl Axis {
    /// A linear axis over `min..max`.
    pub fn linear(label: &str, min: f64, max: f64) -> Self {
        Axis {
            label: label.into(),
            min,
            max,
            scale: Scale::Linear,
        }
    }

    /// A log axis over `min..max` (both positive).
    pub fn log(label: &str, min: f64, max: f64) -> Self {
        Axis {
            label: label.into(),
            min,
            max,
            scale: Scale::Log,
        }
    }

    fn check(&self) -> Result<(), PlotError> {
        let ok = self.min.is_finite()
            && self.max.is_finite()
            && self.max > self.min
            && (self.scale == Scale::Linear || self.min > 0.0);
        if ok {
            Ok(())
        } else {
            Err(PlotError::AxisRange {
                axis: self.label.clone(),
                min: self.min,
                max: self.max,
            })
        }
    }

    /// Position of `v` along the axis, 0 at `min` and 1 at `max` (clamped).
    fn fraction(&self, v: f64) -> f64 {
        let f = match self.scale {
            Scale::Linear => (v - self.min) / (self.max - self.min),
            Scale::Log => {
                (v.max(f64::MIN_POSITIVE).log10() - self.min.log10())
                    / (self.max.log10() - self.min.log10())
            }
        };
        f.clamp(0.0, 1.0)
    }
}

/// The horizontal axis of a panel.
#[derive(Debug, Clone, PartialEq)]
pub enum XAxis {
    /// One band per label; a point's `x` is the band index.
    Categories(Vec<String>),
    /// A numeric axis.
    Values(Axis),
}

/// One data point. For bars, `base` is where the bar starts (default: the axis bottom).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Horizontal position (band index for category axes).
    pub x: f64,
    /// Value.
    pub y: f64,
    /// Bar start, for floating bars.
    pub base: Option<f64>,
}

impl Point {
    /// A point at `(x, y)`.
    pub fn new(x: f64, y: f64) -> Self {
        Point { x, y, base: None }
    }

    /// A floating bar from `base` to `y` at `x`.
    pub fn span(x: f64, base: f64, y: f64) -> Self {
        Point {
            x,
            y,
            base: Some(base),
        }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// A polyline with markers.
    Line,
    /// Bars; several bar series share each band side by side.
    Bars,
    /// Markers alone (a scatter), each with its label from [`Series::with_point_labels`].
    Points,
}

/// A labelled series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Bars or line.
    pub kind: SeriesKind,
    /// The data.
    pub points: Vec<Point>,
    /// Plot against the panel's right axis.
    pub right_axis: bool,
    /// Bars: draw in the same slot as the previous bar series (stacked or floating).
    pub same_slot: bool,
    /// Colour (`#rrggbb`); default: the palette, in series order.
    pub color: Option<String>,
    /// Text beside each marker of a line or points series, in point order (none when
    /// empty).
    pub point_labels: Vec<String>,
}

impl Series {
    /// A series on the left axis with the palette colour.
    pub fn new(label: &str, kind: SeriesKind, points: Vec<Point>) -> Self {
        Series {
            label: label.into(),
            kind,
            points,
            right_axis: false,
            same_slot: false,
            color: None,
            point_labels: Vec::new(),
        }
    }

    /// Plots this series against the right axis.
    pub fn on_right_axis(mut self) -> Self {
        self.right_axis = true;
        self
    }

    /// Shares the previous bar series' slot.
    pub fn in_same_slot(mut self) -> Self {
        self.same_slot = true;
        self
    }

    /// Labels each point (beside its marker), in point order.
    pub fn with_point_labels(mut self, labels: Vec<String>) -> Self {
        self.point_labels = labels;
        self
    }

    /// Sets the colour.
    pub fn with_color(mut self, color: &str) -> Self {
        self.color = Some(color.into());
        self
    }
}

/// A shaded horizontal range, e.g. the tokens top_p cuts.
#[derive(Debug, Clone, PartialEq)]
pub struct Shade {
    /// Start, in x units (category bands span `i - 0.5 .. i + 0.5`).
    pub x0: f64,
    /// End.
    pub x1: f64,
    /// Legend label.
    pub label: String,
}

/// A horizontal reference line.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Value.
    pub y: f64,
    /// Legend label.
    pub label: String,
    /// Against the right axis.
    pub right_axis: bool,
}

/// One chart area with its axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Horizontal axis.
    pub x: XAxis,
    /// Horizontal axis title.
    pub x_label: String,
    /// Left axis.
    pub y: Axis,
    /// Optional right axis.
    pub y2: Option<Axis>,
    /// Series, drawn in order.
    pub series: Vec<Series>,
    /// Shaded ranges, drawn under the series.
    pub shades: Vec<Shade>,
    /// Reference lines, drawn over the series.
    pub rules: Vec<Rule>,
}

impl Panel {
    /// An empty panel.
    pub fn new(x: XAxis, x_label: &str, y: Axis) -> Self {
        Panel {
            x,
            x_label: x_label.into(),
            y,
            y2: None,
            series: Vec::new(),
            shades: Vec::new(),
            rules: Vec::new(),
        }
    }

    /// Adds a right axis.
    pub fn with_right_axis(mut self, y2: Axis) -> Self {
        self.y2 = Some(y2);
        self
    }

    /// Adds a series.
    pub fn with_series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }

    /// Adds a shaded range.
    pub fn with_shade(mut self, x0: f64, x1: f64, label: &str) -> Self {
        self.shades.push(Shade {
            x0,
            x1,
            label: label.into(),
        });
        self
    }

    /// Adds a reference line.
    pub fn with_rule(mut self, y: f64, label: &str, right_axis: bool) -> Self {
        self.rules.push(Rule {
            y,
            label: label.into(),
            right_axis,
        });
        self
    }
}

/// A titled figure of stacked panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// Title, shown on top.
    pub title: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Panels, top to bottom, sharing the height equally.
    pub panels: Vec<Panel>,
}

impl Figure {
    /// An empty figure.
    pub fn new(title: &str, width: u32, height: u32) -> Self {
        Figure {
            title: title.into(),
            width,
            height,
            panels: Vec::new(),
        }
    }

    /// Adds a panel.
    pub fn with_panel(mut self, p: Panel) -> Self {
        self.panels.push(p);
        self
    }

    /// The figure as SVG.
    pub fn to_svg(&self) -> Result<String, PlotError> {
        if !SIZE_RANGE.contains(&self.width) || !SIZE_RANGE.contains(&self.height) {
            return Err(PlotError::Size {
                width: self.width,
                height: self.height,
            });
        }
        if self.panels.is_empty() {
            return Err(PlotError::NoPanels);
        }
        for p in &self.panels {
            p.y.check()?;
            if let Some(y2) = &p.y2 {
                y2.check()?;
            }
            if let XAxis::Values(x) = &p.x {
                x.check()?;
            }
        }
        Ok(svg::render(self))
    }

    /// The figure as PNG, `width × height` pixels.
    pub fn to_png(&self) -> Result<Vec<u8>, PlotError> {
        svg_to_png(&self.to_svg()?)
    }
}

/// Colour-blind-safe palette (Okabe & Ito).
pub const PALETTE: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442",
];
