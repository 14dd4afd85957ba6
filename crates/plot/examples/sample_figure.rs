//! Writes a sample figure: `cargo run -p dial-plot --example sample_figure -- out.png`.
#![allow(clippy::unwrap_used)]
use dial_plot::*;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sample.png".into());
    let tokens: Vec<String> = ["The", "cat", "sat", "on", "mat", "."]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let bars = |label: &str, ys: [f64; 6]| {
        Series::new(
            label,
            SeriesKind::Bars,
            ys.iter()
                .enumerate()
                .map(|(i, &y)| Point::new(i as f64, y))
                .collect(),
        )
    };
    let top = Panel::new(
        XAxis::Categories(tokens),
        "token",
        Axis::linear("probability", 0.0, 1.0),
    )
    .with_right_axis(Axis::linear("cumulative", 0.0, 1.0))
    .with_series(bars("T = 0.5", [0.02, 0.2, 0.01, 0.75, 0.0, 0.02]))
    .with_series(bars("T = 2", [0.14, 0.25, 0.1, 0.35, 0.08, 0.08]))
    .with_series(
        Series::new(
            "cumulative",
            SeriesKind::Line,
            vec![Point::new(0.0, 0.3), Point::new(5.0, 1.0)],
        )
        .on_right_axis(),
    )
    .with_shade(3.5, 5.5, "cut by top_p")
    .with_rule(0.9, "top_p = 0.9", true);
    let fig = Figure::new("Sample", 800, 500).with_panel(top);
    std::fs::write(&path, fig.to_png().unwrap()).unwrap();
}
