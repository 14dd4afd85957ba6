//! `dial speak`: text to speech on a Piper voice, with stability, speed and seeds; with
//! `--takes N`, several seeded takes and a report of how much they vary.

use crate::voice_args::VoiceArgs;
use clap::Args;
use dial_voice::{OutputFormat, Speed, Stability, TakeMeasures, TakeSettings, Variation, Voice};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Args)]
pub struct SpeakArgs {
    /// The text to speak.
    pub text: String,
    #[command(flatten)]
    pub voice: VoiceArgs,
    /// How far a take may drift: 1 locked on (every seed the same), 0.5 the voice's own
    /// noise, 0 expressive.
    #[arg(long, default_value_t = Stability::NATURAL.value())]
    pub stability: f64,
    /// How fast it speaks, 0.7–1.2.
    #[arg(long, default_value_t = Speed::DEFAULT.value())]
    pub speed: f64,
    /// The seed (0–4294967295; default: a random one, printed). Take i uses seed + i.
    #[arg(long)]
    pub seed: Option<u32>,
    /// The speaker of a multi-speaker voice: a name from its config or a number.
    #[arg(long, default_value = "0")]
    pub speaker: String,
    /// Output format, ElevenLabs' names: wav_22050, pcm_16000, ulaw_8000, …
    #[arg(long, default_value = "wav_22050")]
    pub format: String,
    /// Where to write (with --takes, `NAME-1.EXT`, `NAME-2.EXT`, …).
    #[arg(short, long, default_value = "speech.wav")]
    pub output: PathBuf,
    /// Seeded takes to make and compare.
    #[arg(long, default_value_t = 1)]
    pub takes: u32,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Where fetched files live.
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
}

fn take_path(output: &Path, i: u32, takes: u32) -> PathBuf {
    if takes == 1 {
        return output.to_path_buf();
    }
    let stem = output
        .file_stem()
        .map_or("speech".into(), |s| s.to_string_lossy().into_owned());
    let name = match output.extension() {
        Some(ext) => format!("{stem}-{i}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{i}"),
    };
    output.with_file_name(name)
}

/// What one take measured, and where it went.
struct Measured {
    path: PathBuf,
    rtf: f64,
    take: TakeMeasures,
}

pub fn run(args: &SpeakArgs) -> Result<String, String> {
    let stability = Stability::new(args.stability).map_err(|e| format!("--stability: {e}"))?;
    let speed = Speed::new(args.speed).map_err(|e| format!("--speed: {e}"))?;
    let format = OutputFormat::parse(&args.format).map_err(|e| format!("--format: {e}"))?;
    if !(1..=200).contains(&args.takes) {
        return Err("--takes must be from 1 to 200".into());
    }
    if args.text.trim().is_empty() {
        return Err("the text is empty: there is nothing to speak".into());
    }
    let seed = args
        .seed
        .unwrap_or_else(|| dial_sampling::clock_bits() as u32);
    let voice = args.voice.load(args.cache_dir.as_deref())?;
    let speaker = voice.speaker(&args.speaker).ok_or_else(|| {
        let names: Vec<String> = voice.voice_ids().into_iter().map(|(id, _)| id).collect();
        format!(
            "--speaker {}: the voice has {} speaker(s): {}",
            args.speaker,
            voice.config().num_speakers,
            names.join(", ")
        )
    })?;
    let bar = (args.takes > 1).then(|| {
        ProgressBar::new(u64::from(args.takes)).with_style(
            ProgressStyle::with_template("takes [{bar:30}] {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    });
    let mut measured = Vec::new();
    for i in 0..args.takes {
        let settings = TakeSettings {
            stability,
            speed,
            seed: seed.wrapping_add(i),
            speaker,
        };
        let start = Instant::now();
        let take = voice
            .speak(&args.text, &settings, &|| false)
            .map_err(|e| e.to_string())?;
        let elapsed = start.elapsed().as_secs_f64();
        let path = take_path(&args.output, i + 1, args.takes);
        let bytes = format
            .encode(&take.samples(), take.sample_rate)
            .map_err(|e| e.to_string())?;
        std::fs::write(&path, bytes)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        measured.push(Measured {
            path,
            rtf: elapsed / take.seconds().max(1e-9),
            take: TakeMeasures::of(&take, settings.seed),
        });
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if args.takes == 1 {
        let m = &measured[0];
        return Ok(if args.json {
            format!(
                "{}\n",
                serde_json::to_string_pretty(&take_json(m)).unwrap_or_default()
            )
        } else {
            format!(
                "wrote {} ({:.2} s, {}) seed {} stability {} speed {} real-time factor {:.3}{}\n",
                m.path.display(),
                m.take.seconds,
                format.name(),
                m.take.seed,
                stability.value(),
                speed.value(),
                m.rtf,
                redraw_note(&m.take.redraws)
            )
        });
    }
    report(&voice, args, stability, speed, speaker, &measured)
}

fn redraw_note(redraws: &[(u32, u32)]) -> String {
    if redraws.is_empty() {
        return String::new();
    }
    let list: Vec<String> = redraws
        .iter()
        .map(|(s, seed)| format!("sentence {s} seed {seed}"))
        .collect();
    format!(" (ran away and redrawn: {})", list.join(", "))
}

fn take_json(m: &Measured) -> serde_json::Value {
    let (f0_mean, f0_std) = m.take.f0_mean_std();
    json!({
        "path": m.path,
        "seed": m.take.seed,
        "seconds": m.take.seconds,
        "real_time_factor": m.rtf,
        "f0_mean_hz": f0_mean,
        "f0_std_hz": f0_std,
        "redrawn": m.take.redraws.iter().map(|(s, seed)| json!({"sentence": s, "seed": seed})).collect::<Vec<_>>(),
    })
}

fn report(
    voice: &Voice,
    args: &SpeakArgs,
    stability: Stability,
    speed: Speed,
    speaker: u32,
    measured: &[Measured],
) -> Result<String, String> {
    let robust = TakeSettings {
        stability: Stability::ROBUST,
        speed,
        seed: 0,
        speaker,
    };
    let reference = voice
        .speak(&args.text, &robust, &|| false)
        .map_err(|e| e.to_string())?;
    let takes: Vec<TakeMeasures> = measured.iter().map(|m| m.take.clone()).collect();
    let v = Variation::measure(&takes, &reference);
    if args.json {
        let mut value = json!({
            "voice": voice.id(),
            "text": args.text,
            "stability": stability.value(),
            "noise_factor": stability.factor(),
            "speed": speed.value(),
            "takes": measured.iter().zip(&v.to_robust).map(|(m, d)| {
                let mut t = take_json(m);
                t["log_mel_distance_to_robust"] = json!(d);
                t
            }).collect::<Vec<_>>(),
        });
        if let (Some(out), serde_json::Value::Object(fields)) = (value.as_object_mut(), json!(v)) {
            out.extend(fields);
        }
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        ));
    }
    let mut out = format!(
        "{} takes of {:?} at stability {} (noise ×{:.2}), speed {}\n",
        measured.len(),
        args.text,
        stability.value(),
        stability.factor(),
        speed.value()
    );
    out.push_str("take  seed        seconds  F0 mean  F0 sd  to robust  file\n");
    for (i, (m, d)) in measured.iter().zip(&v.to_robust).enumerate() {
        let (mean, sd) = m.take.f0_mean_std();
        out.push_str(&format!(
            "{:<5} {:<11} {:>7.3}  {:>7.1}  {:>5.1}  {:>9.3}  {}{}\n",
            i + 1,
            m.take.seed,
            m.take.seconds,
            mean,
            sd,
            d,
            m.path.display(),
            redraw_note(&m.take.redraws)
        ));
    }
    out.push_str(&format!(
        "duration {:.3} ± {:.3} s (robust take {:.3} s)\n\
         F0 {:.1} Hz, spread between takes {:.2} Hz, within a take {:.1} Hz\n\
         log-mel distance: between takes {:.3}, to the robust take {:.3}\n",
        v.duration_mean_s,
        v.duration_std_s,
        v.robust_seconds,
        v.f0_mean_hz,
        v.f0_std_between_takes_hz,
        v.f0_contour_spread_hz,
        v.log_mel_distance_between_takes,
        v.log_mel_distance_to_robust,
    ));
    Ok(out)
}
