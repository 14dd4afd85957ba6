//! Figures read back: the SVG parses and says what it draws, the PNG decodes to the
//! requested size and has text drawn with the embedded font.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dial_plot::*;
use resvg::tiny_skia::Pixmap;

fn figure(width: u32, height: u32) -> Figure {
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
    let bottom = Panel::new(
        XAxis::Values(Axis::linear("temperature", 0.05, 2.0)),
        "temperature",
        Axis::log("tokens", 1.0, 1000.0),
    )
    .with_series(Series::new(
        "nucleus",
        SeriesKind::Line,
        (1..=40)
            .map(|i| Point::new(f64::from(i) * 0.05, f64::from(i * i)))
            .collect(),
    ));
    Figure::new("Softmax & friends <test>", width, height)
        .with_panel(top)
        .with_panel(bottom)
}

#[test]
fn svg_parses_and_names_its_series_legend_and_axes() {
    let svg = figure(800, 600).to_svg().unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let root = doc.root_element();
    assert_eq!(root.attribute("width"), Some("800"));
    assert_eq!(root.attribute("height"), Some("600"));
    let with_class = |class: &str| {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .collect::<Vec<_>>()
    };
    let series: Vec<&str> = with_class("series")
        .iter()
        .filter_map(|n| n.attribute("data-label"))
        .collect();
    assert_eq!(series, vec!["T = 0.5", "T = 2", "cumulative", "nucleus"]);
    let bars = with_class("series")[0]
        .children()
        .filter(|c| c.has_tag_name("rect"))
        .count();
    assert_eq!(bars, 6);
    let legend: Vec<&str> = with_class("legend-entry")
        .iter()
        .filter_map(|n| n.attribute("data-label"))
        .collect();
    assert_eq!(
        legend,
        vec![
            "T = 0.5",
            "T = 2",
            "cumulative",
            "cut by top_p",
            "top_p = 0.9",
            "nucleus"
        ]
    );
    let title = with_class("title")[0].text().unwrap();
    assert_eq!(title, "Softmax & friends <test>");
    let axis_labels: Vec<&str> = with_class("axis-label")
        .iter()
        .filter_map(|n| n.text())
        .collect();
    for want in [
        "probability",
        "cumulative",
        "token",
        "tokens",
        "temperature",
    ] {
        assert!(
            axis_labels.contains(&want),
            "{want} missing from {axis_labels:?}"
        );
    }
    // Log-axis ticks read as decades.
    assert!(svg.contains(">100<") && svg.contains(">1k<"));
}

#[test]
fn png_has_the_requested_size_and_visible_text() {
    for (w, h) in [(800, 600), (321, 457)] {
        let png = figure(w, h).to_png().unwrap();
        let pixmap = Pixmap::decode_png(&png).unwrap();
        assert_eq!((pixmap.width(), pixmap.height()), (w, h));
    }
    // The title band (above any panel) has dark pixels only if the font was found.
    let png = figure(800, 600).to_png().unwrap();
    let pixmap = Pixmap::decode_png(&png).unwrap();
    let dark = (8..36u32)
        .flat_map(|y| (200..600u32).map(move |x| (x, y)))
        .filter(|&(x, y)| pixmap.pixel(x, y).is_some_and(|p| p.red() < 100))
        .count();
    assert!(dark > 200, "title text not drawn: {dark} dark pixels");
}

#[test]
fn output_is_deterministic() {
    assert_eq!(figure(640, 480).to_svg(), figure(640, 480).to_svg());
    assert_eq!(figure(640, 480).to_png(), figure(640, 480).to_png());
}

#[test]
fn bad_figures_are_typed_errors() {
    assert_eq!(
        figure(50, 400).to_svg(),
        Err(PlotError::Size {
            width: 50,
            height: 400
        })
    );
    assert_eq!(
        figure(400, 100_000).to_png(),
        Err(PlotError::Size {
            width: 400,
            height: 100_000
        })
    );
    assert_eq!(
        Figure::new("empty", 400, 300).to_svg(),
        Err(PlotError::NoPanels)
    );
    let bad_log = Figure::new("bad", 400, 300).with_panel(Panel::new(
        XAxis::Categories(vec!["a".into()]),
        "x",
        Axis::log("y", 0.0, 10.0),
    ));
    assert!(matches!(bad_log.to_svg(), Err(PlotError::AxisRange { .. })));
    let nan = Figure::new("bad", 400, 300).with_panel(Panel::new(
        XAxis::Values(Axis::linear("x", f64::NAN, 1.0)),
        "x",
        Axis::linear("y", 0.0, 1.0),
    ));
    assert!(matches!(nan.to_svg(), Err(PlotError::AxisRange { .. })));
}

#[test]
fn a_scatter_labels_each_point_beside_its_marker() {
    let points = vec![Point::new(2.0, 0.5), Point::new(20.0, 0.1)];
    let panel = Panel::new(
        XAxis::Values(Axis::log("perplexity", 1.0, 100.0)),
        "perplexity",
        Axis::linear("self-BLEU", 0.0, 1.0),
    )
    .with_series(
        Series::new("settings", SeriesKind::Points, points)
            .with_point_labels(vec!["greedy".into(), "pure <sampling>".into()]),
    );
    let svg = Figure::new("Frontier", 600, 400)
        .with_panel(panel)
        .to_svg()
        .unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let series = doc
        .descendants()
        .find(|n| n.attribute("data-kind") == Some("points"))
        .unwrap();
    // Markers only: no polyline, two circles.
    assert_eq!(
        series
            .children()
            .filter(|c| c.has_tag_name("polyline"))
            .count(),
        0
    );
    let circles: Vec<_> = series
        .children()
        .filter(|c| c.has_tag_name("circle"))
        .collect();
    assert_eq!(circles.len(), 2);
    let labels: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("point-label"))
        .collect();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels[1].text(), Some("pure <sampling>"));
    // Each label sits just right of its marker; the log axis puts 20 right of 2.
    for (label, circle) in labels.iter().zip(&circles) {
        let lx: f64 = label.attribute("x").unwrap().parse().unwrap();
        let cx: f64 = circle.attribute("cx").unwrap().parse().unwrap();
        assert!(lx > cx && lx < cx + 20.0, "{lx} vs {cx}");
    }
    let x0: f64 = circles[0].attribute("cx").unwrap().parse().unwrap();
    let x1: f64 = circles[1].attribute("cx").unwrap().parse().unwrap();
    assert!(x1 > x0);
}
