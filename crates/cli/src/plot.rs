//! `dial plot`: the note's figures and dial's own, as SVG or PNG.

use crate::explain::label;
use crate::knob_args::KnobArgs;
use crate::logits::{LogitsInput, RowArgs};
use clap::{Args, ValueEnum};
use dial_plot::{Axis, Figure, Panel, Point, Series, SeriesKind, XAxis};
use dial_sampling::{ExplainRow, KnobKind, Sampler, Value};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Softmax at several temperatures, one series each: "hot = spread out, cold = focused".
    Temperatures,
    /// Sorted probabilities, the cumulative curve and the tokens top_p cuts.
    Nucleus,
    /// Entropy and nucleus size against temperature, one series per top_p.
    Entropy,
    /// Probability mass and token count after each knob of the chain.
    Stages,
    /// The voice: variation against stability over seeded takes, and pitch contours.
    Stability,
}

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// What to draw.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Output file: .svg or .png.
    #[arg(short = 'o', long = "output")]
    pub output: String,
    #[command(flatten)]
    pub row: RowArgs,
    /// Figure width in pixels.
    #[arg(long, default_value_t = 900)]
    pub width: u32,
    /// Figure height in pixels.
    #[arg(long, default_value_t = 560)]
    pub height: u32,
    /// Temperatures to draw (temperatures: 0.5,1,2; entropy: 0.05 to 2 in steps of 0.05).
    #[arg(long, value_delimiter = ',')]
    pub temperatures: Vec<f32>,
    /// top_p values for the entropy plot, one series each.
    #[arg(long, value_delimiter = ',', default_value = "1,0.9,0.5")]
    pub top_p_values: Vec<f32>,
    /// Tokens to show when the vocabulary is larger (most likely first).
    #[arg(long, default_value_t = 30)]
    pub top: usize,
    /// Figure title (default: one per kind).
    #[arg(long)]
    pub title: Option<String>,
    #[command(flatten)]
    pub knobs: KnobArgs,
    #[command(flatten)]
    pub stability: crate::plot_stability::StabilityPlotArgs,
}

/// A figure file's format.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Format {
    Svg,
    Png,
}

impl Format {
    /// The format a figure's file name asks for: `.svg` or `.png`.
    pub(crate) fn of(path: &str) -> Result<Format, String> {
        match Path::new(path)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => Err(format!("{path}: the output must end in .svg or .png")),
        }
    }

    /// Renders `figure` in this format into `path`.
    pub(crate) fn write(self, figure: &Figure, path: &str) -> Result<(), String> {
        let bytes = match self {
            Format::Svg => figure.to_svg().map(String::into_bytes),
            Format::Png => figure.to_png(),
        }
        .map_err(|e| e.to_string())?;
        std::fs::write(path, bytes).map_err(|e| format!("cannot write {path}: {e}"))
    }
}

/// Runs `dial plot`, returning the line it prints.
pub fn run(args: &PlotArgs) -> Result<String, String> {
    let format = Format::of(&args.output)?;
    if args.top == 0 {
        return Err("--top must be at least 1".into());
    }
    let figure = if args.kind == Kind::Stability {
        crate::plot_stability::figure(
            &args.stability,
            args.title.as_deref(),
            args.width,
            args.height,
        )?
    } else {
        figure(args, &args.row.load()?)?
    };
    format.write(&figure, &args.output)?;
    Ok(format!("wrote {}\n", args.output))
}

/// The figure for `args`, without writing it.
pub fn figure(args: &PlotArgs, input: &LogitsInput) -> Result<Figure, String> {
    let (default_title, panels) = match args.kind {
        Kind::Temperatures => temperatures(args, input)?,
        Kind::Nucleus => nucleus(args, input)?,
        Kind::Entropy => entropy(args, input)?,
        Kind::Stages => stages(args, input)?,
        Kind::Stability => {
            return Err("the stability plot draws takes of a voice, not a row of logits".into());
        }
    };
    let mut fig = Figure::new(
        args.title.as_deref().unwrap_or(&default_title),
        args.width,
        args.height,
    );
    fig.panels = panels;
    Ok(fig)
}

/// A sampler for the flags with `temperature` and `top_p` overridden.
fn sampler_with(
    args: &PlotArgs,
    temperature: Option<f32>,
    top_p: Option<f32>,
) -> Result<Sampler, String> {
    let mut flags = args.knobs.clone();
    for (name, value) in [("temperature", temperature), ("top_p", top_p)] {
        if let Some(v) = value {
            flags
                .params
                .set(name, Value::Number(f64::from(v)))
                .map_err(|e| e.to_string())?;
        }
    }
    flags.sampler(args.row.seed)
}

/// Token ids to show: all of them in input order when few, else the most likely.
fn shown_tokens(input: &LogitsInput, top: usize) -> Vec<u32> {
    let live: Vec<u32> = (0..input.logits.len() as u32)
        .filter(|&i| input.logits[i as usize].is_finite())
        .collect();
    if live.len() <= top.min(16) {
        return live;
    }
    let mut by_logit = live;
    by_logit.sort_by(|&a, &b| {
        input.logits[b as usize]
            .total_cmp(&input.logits[a as usize])
            .then(a.cmp(&b))
    });
    by_logit.truncate(top);
    by_logit
}

fn labels(ids: &[u32], input: &LogitsInput) -> Vec<String> {
    ids.iter()
        .map(|&id| label(id, &|i| input.text(i).map(str::to_string)))
        .collect()
}

/// A y range `0..top` with a little headroom, at most 1 for probabilities.
fn headroom(max: f64, cap: Option<f64>) -> f64 {
    let top = (max * 1.1).max(1e-6);
    cap.map_or(top, |c| top.min(c))
}

fn temperature_note(t: f32) -> &'static str {
    if t < 1.0 {
        " (cold: focused)"
    } else if t > 1.0 {
        " (hot: spread out)"
    } else {
        " (standard)"
    }
}

fn temperatures(args: &PlotArgs, input: &LogitsInput) -> Result<(String, Vec<Panel>), String> {
    let temps = if args.temperatures.is_empty() {
        vec![0.5, 1.0, 2.0]
    } else {
        args.temperatures.clone()
    };
    let ids = shown_tokens(input, args.top);
    let bars = ids.len() <= 16;
    let mut series = Vec::new();
    let mut max = 0f64;
    for &t in &temps {
        let e = sampler_with(args, Some(t), None)?
            .explain(&input.logits)
            .map_err(|e| e.to_string())?;
        let points: Vec<Point> = ids
            .iter()
            .enumerate()
            .map(|(x, &id)| Point::new(x as f64, e.probability(id)))
            .collect();
        max = points.iter().map(|p| p.y).fold(max, f64::max);
        let kind = if bars {
            SeriesKind::Bars
        } else {
            SeriesKind::Line
        };
        series.push(Series::new(
            &format!("T = {t}{}", temperature_note(t)),
            kind,
            points,
        ));
    }
    let mut panel = Panel::new(
        XAxis::Categories(labels(&ids, input)),
        if bars {
            "token"
        } else {
            "token (most likely first)"
        },
        Axis::linear("probability", 0.0, headroom(max, Some(1.0))),
    );
    panel.series = series;
    Ok((
        "Softmax at different temperatures: hot = spread out, cold = focused".into(),
        vec![panel],
    ))
}

fn nucleus(args: &PlotArgs, input: &LogitsInput) -> Result<(String, Vec<Panel>), String> {
    let p = args.knobs.params.number("top_p").unwrap_or(0.9) as f32;
    let mut sampler = sampler_with(args, None, Some(p))?;
    let report = sampler
        .explain_report(&input.logits, input.logits.len())
        .map_err(|e| e.to_string())?;
    let stage = report
        .chain
        .iter()
        .position(|s| s.stage == KnobKind::TopP)
        .ok_or("top_p is not in the chain")?;
    // The distribution top_p sees: after the knobs before it.
    let seen = |row: &ExplainRow| {
        if stage == 0 {
            row.p_raw
        } else {
            row.p_stages[stage - 1]
        }
    };
    let mut rows: Vec<&ExplainRow> = report.rows.iter().filter(|r| seen(r) > 0.0).collect();
    rows.sort_by(|a, b| seen(b).total_cmp(&seen(a)).then(a.id.cmp(&b.id)));
    rows.truncate(args.top);
    let cut_here = |r: &ExplainRow| r.cut.as_ref().is_some_and(|c| c.position == stage);
    let mut kept = Vec::new();
    let mut cut = Vec::new();
    let mut cumulative = Vec::new();
    let mut cum = 0.0;
    let mut first_cut = None;
    for (x, r) in rows.iter().enumerate() {
        let point = Point::new(x as f64, seen(r));
        if cut_here(r) {
            first_cut.get_or_insert(x);
            cut.push(point);
        } else {
            kept.push(point);
        }
        cum += seen(r);
        cumulative.push(Point::new(x as f64, cum.min(1.0)));
    }
    let max = rows.iter().map(|r| seen(r)).fold(0.0, f64::max);
    let ids: Vec<u32> = rows.iter().map(|r| r.id).collect();
    let total = report.rows.iter().filter(|r| seen(r) > 0.0).count();
    let x_label = if total > rows.len() {
        format!(
            "token, most likely first ({} of {total} shown; the nucleus holds {})",
            rows.len(),
            report.nucleus_size
        )
    } else {
        "token, most likely first".to_string()
    };
    let mut panel = Panel::new(
        XAxis::Categories(labels(&ids, input)),
        &x_label,
        Axis::linear("probability", 0.0, headroom(max, Some(1.0))),
    )
    .with_right_axis(Axis::linear("cumulative probability", 0.0, 1.0))
    .with_series(Series::new("kept (the nucleus)", SeriesKind::Bars, kept))
    .with_series(
        Series::new("cut by top_p", SeriesKind::Bars, cut)
            .in_same_slot()
            .with_color("#999999"),
    )
    .with_series(
        Series::new("cumulative probability", SeriesKind::Line, cumulative).on_right_axis(),
    )
    .with_rule(f64::from(p), &format!("top_p = {p}"), true);
    if let Some(first) = first_cut {
        panel = panel.with_shade(
            first as f64 - 0.5,
            rows.len() as f64 - 0.5,
            "outside the nucleus",
        );
    }
    Ok((
        format!("Nucleus sampling, top_p = {p}: bigger p, bigger piece of the pie"),
        vec![panel],
    ))
}

fn entropy(args: &PlotArgs, input: &LogitsInput) -> Result<(String, Vec<Panel>), String> {
    let temps: Vec<f32> = if args.temperatures.is_empty() {
        (1..=40).map(|i| i as f32 * 0.05).collect()
    } else {
        args.temperatures.clone()
    };
    if args.top_p_values.is_empty() {
        return Err("--top-p-values needs at least one value".into());
    }
    let mut entropy_series = Vec::new();
    let mut size_series = Vec::new();
    let mut max_bits = 0f64;
    let mut max_size = 1f64;
    for &p in &args.top_p_values {
        let mut bits = Vec::new();
        let mut sizes = Vec::new();
        for &t in &temps {
            let e = sampler_with(args, Some(t), Some(p))?
                .explain(&input.logits)
                .map_err(|e| e.to_string())?;
            let h = e.entropy / std::f64::consts::LN_2;
            max_bits = max_bits.max(h);
            max_size = max_size.max(e.tokens.len() as f64);
            bits.push(Point::new(f64::from(t), h));
            sizes.push(Point::new(f64::from(t), e.tokens.len() as f64));
        }
        let label = if p >= 1.0 {
            "top_p = 1 (off)".to_string()
        } else {
            format!("top_p = {p}")
        };
        entropy_series.push(Series::new(&label, SeriesKind::Line, bits));
        size_series.push(Series::new(&label, SeriesKind::Line, sizes));
    }
    let t_min = temps.iter().copied().fold(f32::INFINITY, f32::min);
    let t_max = temps.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (t_lo, t_hi) = if t_max > t_min {
        (f64::from(t_min), f64::from(t_max))
    } else {
        (f64::from(t_min) - 0.5, f64::from(t_min) + 0.5)
    };
    let x = || XAxis::Values(Axis::linear("temperature", t_lo.max(0.0), t_hi));
    let mut top = Panel::new(
        x(),
        "temperature",
        Axis::linear("entropy (bits)", 0.0, headroom(max_bits, None)),
    );
    top.series = entropy_series;
    let size_axis = if max_size > 50.0 {
        Axis::log("nucleus size (tokens)", 1.0, max_size * 1.2)
    } else {
        Axis::linear("nucleus size (tokens)", 0.0, max_size + 1.0)
    };
    let mut bottom = Panel::new(x(), "temperature", size_axis);
    // Both panels give a top_p value the same colour.
    for series in [&mut top.series, &mut size_series] {
        for (s, color) in series.iter_mut().zip(dial_plot::PALETTE.iter().cycle()) {
            s.color = Some((*color).to_string());
        }
    }
    bottom.series = size_series;
    Ok((
        "Entropy and nucleus size against temperature".into(),
        vec![top, bottom],
    ))
}

fn stages(args: &PlotArgs, input: &LogitsInput) -> Result<(String, Vec<Panel>), String> {
    let mut sampler = args.knobs.sampler(args.row.seed)?;
    let report = sampler
        .explain_report(&input.logits, input.logits.len())
        .map_err(|e| e.to_string())?;
    if report.chain.is_empty() {
        return Err("stages needs at least one knob, e.g. --temperature 0.8 --top-p 0.9".into());
    }
    let mut names = vec!["input".to_string()];
    names.extend(report.chain.iter().map(|s| s.stage.name().to_string()));
    let settings: Vec<String> = report
        .chain
        .iter()
        .map(|s| format!("{} {}", s.stage, s.setting))
        .collect();
    // Mass at T = 1 that survives each stage, and the tokens left.
    let mut mass = vec![report.rows.iter().map(|r| r.p_raw).sum::<f64>()];
    let mut tokens = vec![report.live as f64];
    for (s, trace) in report.trace.iter().enumerate() {
        let alive: f64 = report
            .rows
            .iter()
            .filter(|r| r.cut.as_ref().is_none_or(|c| c.position > s))
            .map(|r| r.p_raw)
            .sum();
        mass.push(alive);
        tokens.push(trace.remaining as f64);
    }
    let kept: Vec<Point> = mass
        .iter()
        .enumerate()
        .map(|(x, &m)| Point::new(x as f64, m))
        .collect();
    let removed: Vec<Point> = mass
        .windows(2)
        .enumerate()
        .map(|(x, w)| Point::span(x as f64 + 1.0, w[1], w[0]))
        .collect();
    let top = Panel::new(
        XAxis::Categories(names.clone()),
        "stage",
        Axis::linear("probability mass at T = 1", 0.0, 1.0),
    )
    .with_series(Series::new("mass still in play", SeriesKind::Bars, kept))
    .with_series(
        Series::new("mass removed by this stage", SeriesKind::Bars, removed)
            .in_same_slot()
            .with_color("#D55E00"),
    );
    let max_tokens = tokens.iter().copied().fold(1.0, f64::max);
    let axis = if max_tokens > 50.0 {
        Axis::log("tokens left", 1.0, max_tokens * 1.5)
    } else {
        Axis::linear("tokens left", 0.0, max_tokens + 1.0)
    };
    let bottom = Panel::new(XAxis::Categories(names), "stage", axis).with_series(
        Series::new(
            "tokens left",
            SeriesKind::Bars,
            tokens
                .iter()
                .enumerate()
                .map(|(x, &n)| Point::new(x as f64, n))
                .collect(),
        )
        .with_color("#009E73"),
    );
    Ok((
        format!("What each stage keeps: {}", settings.join(" → ")),
        vec![top, bottom],
    ))
}
