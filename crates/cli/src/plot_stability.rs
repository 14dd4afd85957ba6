//! `dial plot stability`: what the voice's stability knob does, measured. The top panel
//! is variation against stability (the mean log-mel DTW distance between seeded takes,
//! and the spread of their durations); the bottom one overlays the pitch contours of
//! several takes at one stability with the stability-1 take.

use crate::voice_args::VoiceArgs;
use clap::Args;
use dial_plot::{Axis, Figure, Panel, Point, Series, SeriesKind, XAxis};
use dial_voice::analysis::{log_mel, mean_pairwise_distance, mean_std, yin_f0};
use dial_voice::{Stability, TakeSettings, Voice};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Args)]
pub struct StabilityPlotArgs {
    #[command(flatten)]
    pub voice: VoiceArgs,
    /// The text every take speaks (stability).
    #[arg(long, default_value = "Hello world, how are you?")]
    pub text: String,
    /// Seeded takes per stability level (stability).
    #[arg(long, default_value_t = 20)]
    pub takes_per_level: u32,
    /// The stability levels (stability).
    #[arg(long, value_delimiter = ',', default_value = "0,0.25,0.5,0.75,1")]
    pub stability_levels: Vec<f64>,
    /// The stability whose pitch contours are overlaid (stability).
    #[arg(long, default_value_t = 0.0)]
    pub contour_stability: f64,
    /// How many contours to overlay (stability).
    #[arg(long, default_value_t = 4)]
    pub contours: u32,
    /// Where fetched files live.
    #[arg(long)]
    pub cache_dir: Option<std::path::PathBuf>,
}

const HOP_S: f64 = 0.010;

/// One level's measurements.
struct Level {
    stability: f64,
    distance: f64,
    duration_sd_ms: f64,
}

fn settings(stability: Stability, seed: u32) -> TakeSettings {
    TakeSettings {
        stability,
        seed,
        ..TakeSettings::default()
    }
}

fn contour(voice: &Voice, text: &str, s: TakeSettings) -> Result<Vec<Point>, String> {
    let take = voice
        .speak(text, &s, &|| false)
        .map_err(|e| e.to_string())?;
    Ok(yin_f0(&take.samples(), take.sample_rate)
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| f.map(|hz| Point::new(i as f64 * HOP_S, hz)))
        .collect())
}

/// The figure: two panels, `width × height`.
pub fn figure(
    args: &StabilityPlotArgs,
    title: Option<&str>,
    width: u32,
    height: u32,
) -> Result<Figure, String> {
    if !(2..=200).contains(&args.takes_per_level) {
        return Err("--takes-per-level must be from 2 to 200".into());
    }
    let levels: Vec<Stability> = args
        .stability_levels
        .iter()
        .map(|&s| Stability::new(s).map_err(|e| format!("--stability-levels: {e}")))
        .collect::<Result<_, _>>()?;
    if levels.is_empty() {
        return Err("--stability-levels needs at least one level".into());
    }
    let contour_at =
        Stability::new(args.contour_stability).map_err(|e| format!("--contour-stability: {e}"))?;
    if args.text.trim().is_empty() {
        return Err("--text is empty: there is nothing to speak".into());
    }
    let voice = args.voice.load(args.cache_dir.as_deref())?;
    let total =
        u64::from(args.takes_per_level) * levels.len() as u64 + u64::from(args.contours) + 1;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("takes [{bar:30}] {pos}/{len}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut measured = Vec::new();
    for &stability in &levels {
        let mut mels = Vec::new();
        let mut seconds = Vec::new();
        for seed in 0..args.takes_per_level {
            let take = voice
                .speak(&args.text, &settings(stability, seed), &|| false)
                .map_err(|e| e.to_string())?;
            seconds.push(take.seconds());
            mels.push(log_mel(&take.samples(), take.sample_rate));
            bar.inc(1);
        }
        measured.push(Level {
            stability: stability.value(),
            distance: mean_pairwise_distance(&mels),
            duration_sd_ms: mean_std(&seconds).1 * 1000.0,
        });
    }
    let mut contours = Vec::new();
    for seed in 0..args.contours {
        contours.push((
            format!("stability {} seed {seed}", contour_at.value()),
            contour(&voice, &args.text, settings(contour_at, seed))?,
        ));
        bar.inc(1);
    }
    contours.push((
        "stability 1 (every seed)".to_string(),
        contour(&voice, &args.text, settings(Stability::ROBUST, 0))?,
    ));
    bar.finish_and_clear();

    let top = |xs: &mut dyn Iterator<Item = f64>| xs.fold(0.0f64, f64::max) * 1.15 + 1e-9;
    let max_distance = top(&mut measured.iter().map(|l| l.distance));
    let max_sd = top(&mut measured.iter().map(|l| l.duration_sd_ms));
    let variation = Panel::new(
        XAxis::Values(Axis::linear("stability", 0.0, 1.0)),
        "stability",
        Axis::linear("log-mel distance between takes", 0.0, max_distance),
    )
    .with_right_axis(Axis::linear("duration sd (ms)", 0.0, max_sd))
    .with_series(Series::new(
        "log-mel DTW distance",
        SeriesKind::Line,
        measured
            .iter()
            .map(|l| Point::new(l.stability, l.distance))
            .collect(),
    ))
    .with_series(
        Series::new(
            "duration sd",
            SeriesKind::Line,
            measured
                .iter()
                .map(|l| Point::new(l.stability, l.duration_sd_ms))
                .collect(),
        )
        .on_right_axis(),
    );
    let end = contours
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.x))
        .fold(0.0f64, f64::max)
        .max(HOP_S);
    let high = contours
        .iter()
        .flat_map(|(_, points)| points.iter().map(|p| p.y))
        .fold(0.0f64, f64::max)
        .max(100.0)
        * 1.1;
    let mut pitch = Panel::new(
        XAxis::Values(Axis::linear("time (s)", 0.0, end)),
        "time (s)",
        Axis::linear("F0 (Hz, YIN)", 0.0, high),
    );
    for (label, points) in contours {
        pitch = pitch.with_series(Series::new(&label, SeriesKind::Line, points));
    }
    let default_title = format!(
        "What stability does: {} seeded takes per level of {:?}",
        args.takes_per_level, args.text
    );
    Ok(Figure::new(title.unwrap_or(&default_title), width, height)
        .with_panel(variation)
        .with_panel(pitch))
}
