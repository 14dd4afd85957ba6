//! What `dial sweep` prints: the table, the JSON report and the frontier plot.

use crate::compare::Axis;
use crate::sweep::Continuation;
use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use dial_plot::{Axis as PlotAxis, Figure, PALETTE, Panel, Point, Series, SeriesKind, XAxis};
use dial_sampling::SamplingParams;
use dial_sweep::Metrics;

/// The frontier's vertical axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Diversity {
    /// Self-BLEU-4: higher is more alike.
    SelfBleu,
    /// distinct-2: higher is more varied.
    Distinct2,
}

/// One setting's (or the reference's) measures and continuations.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct SettingReport {
    pub name: String,
    /// Every knob set, the fixed ones included.
    pub knobs: SamplingParams,
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Absent from a report saved without them (`--from` still reads it).
    #[serde(default)]
    pub continuations: Vec<Continuation>,
    /// Value indices on the `--grid` axes, when the grid made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grid: Option<Vec<usize>>,
}

/// Everything a sweep found, as `--json` prints it (docs/sweep-json.md).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Report {
    pub model: String,
    pub seed: u64,
    pub max_tokens: usize,
    pub samples: usize,
    pub batch: usize,
    pub prompts: Vec<String>,
    pub settings: Vec<SettingReport>,
    pub reference: Option<SettingReport>,
    /// The `--grid` axes; a setting's `grid` indexes their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grid_axes: Vec<Axis>,
    /// Tokens drawn, end-of-sequence tokens included.
    pub generated_tokens: usize,
    /// Seconds spent generating.
    pub elapsed_s: f64,
    pub tokens_per_second: f64,
}

fn number(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.decimals$}"))
}

/// The table: the reference first, then each setting.
pub(crate) fn table(report: &Report) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "setting",
        "perplexity",
        "self-BLEU-4",
        "Zipf",
        "repetition %",
        "distinct-1/2/3",
        "mean tokens",
        "EOS %",
    ]);
    let rows = report.reference.iter().chain(&report.settings);
    for s in rows {
        let m = &s.metrics;
        let distinct: Vec<String> = m.distinct.iter().map(|d| number(*d, 2)).collect();
        let name = if report
            .reference
            .as_ref()
            .is_some_and(|r| std::ptr::eq(r, s))
        {
            "human (reference)".to_string()
        } else {
            s.name.clone()
        };
        table.add_row(vec![
            Cell::new(name),
            Cell::new(number(m.perplexity, 2)).set_alignment(CellAlignment::Right),
            Cell::new(number(m.self_bleu4, 3)).set_alignment(CellAlignment::Right),
            Cell::new(number(m.zipf, 3)).set_alignment(CellAlignment::Right),
            Cell::new(number(m.repetition_pct, 1)).set_alignment(CellAlignment::Right),
            Cell::new(distinct.join(" / ")).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.1}", m.mean_tokens)).set_alignment(CellAlignment::Right),
            Cell::new(number(m.eos_pct, 1)).set_alignment(CellAlignment::Right),
        ]);
    }
    let prompts = report.prompts.len();
    let settings = report.settings.len();
    let mut out = format!("{table}\n");
    if report.reference.is_none() {
        out.push_str("no human reference (pass --reference to add the paper's \"human\" row)\n");
    }
    out.push_str(&format!(
        "{prompts} prompts × {} × {} = {} continuations of at most {} tokens, seed {}, on {}\n\
         {} tokens in {:.1} s: {:.1} tok/s, {} at a time\n\
         (each measure is defined in docs/sweep.md)\n",
        plural(report.samples, "sample"),
        plural(settings, "setting"),
        prompts * report.samples * settings,
        report.max_tokens,
        report.seed,
        report.model,
        report.generated_tokens,
        report.elapsed_s,
        report.tokens_per_second,
        report.batch,
    ));
    out
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn diversity(m: &Metrics, y: Diversity) -> Option<f64> {
    match y {
        Diversity::SelfBleu => m.self_bleu4,
        Diversity::Distinct2 => m.distinct[1],
    }
}

/// One line of the frontier: the other axes' value indices (this axis' left out as
/// `usize::MAX`), and the points along this axis with their value index.
type GridPath = (Vec<usize>, Vec<(usize, Point)>);

/// The frontier: perplexity (log) across, diversity up; a labelled point per setting, the
/// human reference in black, and a line along each `--grid` knob through its values.
pub(crate) fn frontier(report: &Report, y: Diversity) -> Result<Figure, String> {
    let axes = &report.grid_axes;
    let point =
        |s: &SettingReport| Some(Point::new(s.metrics.perplexity?, diversity(&s.metrics, y)?));
    let placed: Vec<(&SettingReport, Point)> = report
        .settings
        .iter()
        .filter_map(|s| Some((s, point(s)?)))
        .collect();
    let human = report.reference.as_ref().and_then(point);
    let all: Vec<Point> = placed.iter().map(|p| p.1).chain(human).collect();
    if all.is_empty() {
        return Err("nothing to plot: no setting has both measures".into());
    }
    let (lo, hi) = all.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), p| {
        (lo.min(p.x), hi.max(p.x))
    });
    let x_label = "perplexity of the continuations (log scale; higher: less predictable)";
    let (y_label, y_max) = match y {
        Diversity::SelfBleu => ("self-BLEU-4 (higher: more alike)", 1.0),
        Diversity::Distinct2 => ("distinct-2 (higher: more varied)", 1.0),
    };
    let top = all.iter().map(|p| p.y).fold(0.0f64, f64::max);
    let y_axis = PlotAxis::linear(y_label, 0.0, (top * 1.15).clamp(0.05, y_max));
    let x_axis = PlotAxis::log(x_label, (lo / 1.3).max(1e-3), (hi * 1.3).max(lo * 2.0));
    let mut panel = Panel::new(XAxis::Values(x_axis), x_label, y_axis);
    let mut color = 1;
    // Each knob's path: one line per combination of the other axes' values.
    for (a, axis) in axes.iter().enumerate() {
        if axis.values.len() < 2 {
            continue;
        }
        let mut paths: Vec<GridPath> = Vec::new();
        for (s, p) in &placed {
            let Some(picks) = &s.grid else { continue };
            let mut others = picks.clone();
            others[a] = usize::MAX;
            match paths.iter_mut().find(|(o, _)| *o == others) {
                Some((_, pts)) => pts.push((picks[a], *p)),
                None => paths.push((others, vec![(picks[a], *p)])),
            }
        }
        for (others, mut pts) in paths {
            pts.sort_by_key(|(v, _)| *v);
            let fixed: Vec<String> = axes
                .iter()
                .zip(&others)
                .filter(|(_, v)| **v != usize::MAX)
                .map(|(ax, &v)| format!("{}={}", ax.name, ax.values[v]))
                .collect();
            let mut label = format!(
                "{} {}→{}",
                axis.name,
                axis.values[0],
                axis.values[axis.values.len() - 1]
            );
            if !fixed.is_empty() {
                label.push_str(&format!(" at {}", fixed.join(" ")));
            }
            panel = panel.with_series(
                Series::new(
                    &label,
                    SeriesKind::Line,
                    pts.into_iter().map(|p| p.1).collect(),
                )
                .with_color(PALETTE[color % PALETTE.len()]),
            );
            color += 1;
        }
    }
    panel = panel.with_series(
        Series::new(
            "settings",
            SeriesKind::Points,
            placed.iter().map(|p| p.1).collect(),
        )
        .with_point_labels(placed.iter().map(|p| p.0.name.clone()).collect())
        .with_color(PALETTE[0]),
    );
    if let Some(h) = human {
        panel = panel.with_series(
            Series::new("human reference", SeriesKind::Points, vec![h])
                .with_point_labels(vec!["human".into()])
                .with_color("#000000"),
        );
    }
    let title = format!(
        "Creativity–control frontier: {}, {} prompts × {}, ≤ {} tokens",
        report.model,
        report.prompts.len(),
        plural(report.samples, "sample"),
        report.max_tokens
    );
    Ok(Figure::new(&title, 1100, 700).with_panel(panel))
}
