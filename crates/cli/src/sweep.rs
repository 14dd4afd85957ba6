//! `dial sweep`: many continuations under each setting, measured as Holtzman et al.
//! (2020, Table 1) measure them, to show where each setting sits between looping and
//! rambling. The measures live in `dial-sweep`; this drives the model.

use crate::compare::{Axis, combinations, describe, parse_axis};
use crate::generate::parse_spec;
use crate::knob_args::KnobArgs;
use crate::model_args::ModelArgs;
use crate::plot::Format;
use crate::sweep_report::{self, Diversity, Report, SettingReport};
use clap::Args;
use dial_model::{GenerateOptions, Generation, Model, step_batch, token_nll};
use dial_sweep::{
    DEFAULT_MAX_TOKENS, DEFAULT_SETTINGS, Metrics, Scored, default_prompts, generation_seed,
    split_setting,
};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

/// More generations than this is a typo, not a sweep.
const MAX_GENERATIONS: usize = 200_000;
/// The longest continuation a sweep accepts.
const MAX_TOKENS: usize = 32_768;
/// Token rows in one forward pass, as `dial serve`'s engine runs them.
const STEP_TOKENS: usize = 256;

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Prompts: a text file with one per line, or JSONL with {"prompt": ...} per line
    /// (default: the 50 openings shipped with dial).
    #[arg(long)]
    pub prompts: Option<PathBuf>,
    /// Human continuations of the prompts, one per prompt in the same order: text lines,
    /// or JSONL with {"continuation": ...}. Measured by the same code, as the "human" row.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// A setting, NAME=KNOBS or KNOBS: "greedy=temperature=0", "top_k=40,temperature=0.7"
    /// (repeatable; default: the paper's rows and newer knobs, see docs/sweep.md).
    #[arg(long = "setting", value_name = "NAME=KNOBS")]
    pub settings: Vec<String>,
    /// A knob and values to cross, e.g. "temperature=0.5,0.7,1.0" (repeatable): each
    /// combination is a setting, and the plot draws each knob's path.
    #[arg(long, value_name = "KNOB=V1,V2,...")]
    pub grid: Vec<String>,
    /// Continuations per prompt and setting.
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    /// Use the first N prompts only.
    #[arg(long, value_name = "N")]
    pub max_prompts: Option<usize>,
    /// Stop a continuation after this many tokens (it also stops at end-of-sequence).
    #[arg(long, default_value_t = DEFAULT_MAX_TOKENS)]
    pub max_tokens: usize,
    /// The sweep's seed; every continuation's own seed derives from it.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continuations generated together, in one forward pass per token.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Print every number and every continuation as JSON (docs/sweep-json.md).
    #[arg(long)]
    pub json: bool,
    /// Draw the frontier into this file (.svg or .png).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub plot: Option<String>,
    /// Read a saved sweep (`--json`, with or without its continuations) and print its
    /// table or plot, generating nothing.
    #[arg(long, value_name = "JSON", conflicts_with_all = ["prompts", "reference", "settings", "grid", "max_prompts", "samples", "max_tokens", "seed", "batch", "model", "cache_dir"])]
    pub from: Option<PathBuf>,
    /// The plot's vertical axis (default: self-bleu); needs --plot.
    #[arg(long, value_enum)]
    pub plot_y: Option<Diversity>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Knobs under every setting.
    #[command(flatten)]
    pub knobs: KnobArgs,
}

/// One setting to run.
pub(crate) struct Setting {
    pub name: String,
    pub knobs: KnobArgs,
    /// Its value index on each `--grid` axis, when the grid made it.
    pub grid: Option<Vec<usize>>,
}

/// One continuation, as generated.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Continuation {
    pub prompt: usize,
    pub sample: usize,
    pub seed: u64,
    pub text: String,
    /// The tokens, without the end-of-sequence token when it ended at one.
    pub tokens: Vec<u32>,
    /// `−ln p` of each token under the model at T = 1.
    pub nlls: Vec<f64>,
    pub finish_reason: String,
    pub eos: bool,
}

impl Continuation {
    fn scored(&self) -> Scored<'_> {
        Scored {
            tokens: &self.tokens,
            nlls: &self.nlls,
            ended_at_eos: Some(self.eos),
        }
    }
}

/// Runs `dial sweep`, returning what it prints.
pub fn run(args: &SweepArgs) -> Result<String, String> {
    if !args.knobs.history.is_empty() {
        return Err("--history has no place in a sweep: each prompt is its own history".into());
    }
    if args.samples == 0 || args.max_tokens == 0 || args.batch == 0 {
        return Err("--samples, --max-tokens and --batch must be at least 1".into());
    }
    if args.max_tokens > MAX_TOKENS {
        return Err(format!(
            "--max-tokens {} is over the limit of {MAX_TOKENS}",
            args.max_tokens
        ));
    }
    let format = args.plot.as_deref().map(Format::of).transpose()?;
    if args.plot_y.is_some() && args.plot.is_none() {
        return Err("--plot-y sets the plot's axis: give --plot FILE too".into());
    }
    if let Some(path) = &args.from {
        if args.knobs.params.iter().next().is_some() {
            return Err("--from reads a saved sweep: knob flags have nothing to run".into());
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let report: Report = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a sweep report: {e}", path.display()))?;
        return output(args, format, &report);
    }
    let (settings, axes) = settings(args)?;
    let mut prompts = match &args.prompts {
        Some(path) => read_lines(path, "prompt")?,
        None => default_prompts().into_iter().map(str::to_string).collect(),
    };
    let mut references = args
        .reference
        .as_ref()
        .map(|path| read_lines(path, "continuation"))
        .transpose()?;
    if let Some(n) = args.max_prompts {
        if n == 0 {
            return Err("--max-prompts must be at least 1".into());
        }
        prompts.truncate(n);
        if let Some(r) = &mut references {
            r.truncate(n);
        }
    }
    if let Some(r) = &references
        && r.len() != prompts.len()
    {
        return Err(format!(
            "{} reference continuations for {} prompts: give one per prompt",
            r.len(),
            prompts.len()
        ));
    }
    let total = settings
        .len()
        .checked_mul(prompts.len())
        .and_then(|n| n.checked_mul(args.samples))
        .filter(|&n| n <= MAX_GENERATIONS)
        .ok_or_else(|| format!("the sweep is over {MAX_GENERATIONS} generations"))?;

    let model = args.model.load()?;
    let prompt_ids: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| model.tokenizer().encode(p, true))
        .collect();
    // Every setting's knobs, checked against this model before anything runs.
    let options: Vec<GenerateOptions> = settings
        .iter()
        .map(|s| {
            let knobs = model
                .knobs(&s.knobs.params)
                .map_err(|e| format!("--setting {}: {e}", s.name))?;
            Ok(GenerateOptions {
                // Held tokens are handed out after later draws: score them by the raw
                // log-probability each was drawn with.
                logprobs: knobs.banned_strings.is_some(),
                knobs,
                order: s.knobs.params.order().clone(),
                max_tokens: args.max_tokens,
                ..GenerateOptions::default()
            })
        })
        .collect::<Result<_, String>>()?;

    let reference = references
        .as_ref()
        .map(|r| score_reference(&model, &prompt_ids, r, args.max_tokens))
        .transpose()?;

    let started = Instant::now();
    let mut runs = generate_all(&model, args, &settings, &options, &prompt_ids, total)?;
    let elapsed = started.elapsed().as_secs_f64();
    let drawn: usize = runs
        .iter()
        .flatten()
        .map(|c| c.tokens.len() + usize::from(c.eos))
        .sum();

    let reports: Vec<SettingReport> = settings
        .par_iter()
        .zip(runs.par_iter_mut())
        .map(|(s, continuations)| {
            let scored: Vec<Scored<'_>> = continuations.iter().map(Continuation::scored).collect();
            SettingReport {
                name: s.name.clone(),
                knobs: s.knobs.params.clone(),
                metrics: Metrics::of(&scored),
                continuations: std::mem::take(continuations),
                grid: s.grid.clone(),
            }
        })
        .collect();
    let report = Report {
        model: model
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        seed: args.seed,
        max_tokens: args.max_tokens,
        samples: args.samples,
        batch: args.batch,
        prompts,
        settings: reports,
        reference,
        grid_axes: axes,
        generated_tokens: drawn,
        elapsed_s: elapsed,
        tokens_per_second: drawn as f64 / elapsed.max(1e-9),
    };
    output(args, format, &report)
}

/// The plot, then the JSON or the table.
fn output(args: &SweepArgs, format: Option<Format>, report: &Report) -> Result<String, String> {
    if let (Some(format), Some(path)) = (format, &args.plot) {
        let figure = sweep_report::frontier(report, args.plot_y.unwrap_or(Diversity::SelfBleu))?;
        format.write(&figure, path)?;
    }
    if args.json {
        return serde_json::to_string_pretty(report)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string());
    }
    let mut out = sweep_report::table(report);
    if let Some(path) = &args.plot {
        out.push_str(&format!("wrote {path}\n"));
    }
    Ok(out)
}

/// The settings to run, and the grid's axes (empty without `--grid`).
fn settings(args: &SweepArgs) -> Result<(Vec<Setting>, Vec<Axis>), String> {
    let mut out = Vec::new();
    for spec in &args.settings {
        let (name, knobs) = split_setting(spec);
        out.push(Setting {
            name,
            knobs: parse_spec(&args.knobs, &knobs, "--setting")?,
            grid: None,
        });
    }
    let axes: Vec<Axis> = args
        .grid
        .iter()
        .map(|g| parse_axis(g))
        .collect::<Result<_, _>>()?;
    if !axes.is_empty() {
        for picks in combinations(&axes)? {
            let mut knobs = args.knobs.clone();
            for (axis, &pick) in axes.iter().zip(&picks) {
                knobs = knobs
                    .with_setting(&axis.name, &axis.values[pick])
                    .map_err(|e| format!("--grid {e}"))?;
            }
            out.push(Setting {
                name: describe(&axes, &picks),
                knobs,
                grid: Some(picks),
            });
        }
    }
    if out.is_empty() {
        for (name, knobs) in DEFAULT_SETTINGS {
            out.push(Setting {
                name: (*name).to_string(),
                knobs: parse_spec(&args.knobs, knobs, "the default setting")?,
                grid: None,
            });
        }
    }
    let mut names = std::collections::HashSet::new();
    for s in &out {
        s.knobs
            .build()
            .map_err(|e| format!("setting {:?}: {e}", s.name))?;
        if !names.insert(s.name.as_str()) {
            return Err(format!(
                "two settings are named {:?}: each needs its own name (its seeds derive from it)",
                s.name
            ));
        }
    }
    Ok((out, axes))
}

/// Prompts or continuations from `path`: one per non-empty line, or JSONL with `key`.
fn read_lines(path: &PathBuf, key: &str) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return Err(format!("{} has no {key}s", path.display()));
    }
    let jsonl = lines.iter().all(|(_, l)| l.trim_start().starts_with('{'));
    lines
        .into_iter()
        .map(|(n, line)| {
            let value = if jsonl {
                let v: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| format!("{} line {}: {e}", path.display(), n + 1))?;
                v.get(key)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| {
                        format!("{} line {}: no string {key:?}", path.display(), n + 1)
                    })?
            } else {
                line.trim_end_matches('\r').to_string()
            };
            if value.is_empty() {
                return Err(format!(
                    "{} line {}: the {key} is empty",
                    path.display(),
                    n + 1
                ));
            }
            Ok(value)
        })
        .collect()
}

/// The human row: each continuation tokenized on its own, capped at `max_tokens`, and
/// scored after its prompt.
fn score_reference(
    model: &Model,
    prompt_ids: &[Vec<u32>],
    references: &[String],
    max_tokens: usize,
) -> Result<SettingReport, String> {
    let mut continuations = Vec::with_capacity(references.len());
    for (i, (prompt, text)) in prompt_ids.iter().zip(references).enumerate() {
        let mut tokens = model.tokenizer().encode(text, false);
        tokens.truncate(max_tokens);
        let nlls = model
            .continuation_nlls(prompt, &tokens)
            .map_err(|e| format!("reference {}: {e}", i + 1))?;
        let text = String::from_utf8_lossy(
            &tokens
                .iter()
                .flat_map(|&t| model.tokenizer().token_bytes(t))
                .collect::<Vec<u8>>(),
        )
        .into_owned();
        continuations.push(Continuation {
            prompt: i,
            sample: 0,
            seed: 0,
            text,
            tokens,
            nlls,
            finish_reason: "length".into(),
            eos: false,
        });
    }
    let scored: Vec<Scored<'_>> = continuations
        .iter()
        .map(|c| Scored {
            ended_at_eos: None,
            ..c.scored()
        })
        .collect();
    Ok(SettingReport {
        name: "human".into(),
        knobs: dial_sampling::SamplingParams::default(),
        metrics: Metrics::of(&scored),
        continuations,
        grid: None,
    })
}

/// One generation in flight.
struct Running {
    setting: usize,
    generation: Generation,
    done: Continuation,
}

/// Every (setting, prompt, sample), in batches of `--batch` through [`step_batch`]: a new
/// generation joins as soon as one finishes. Returns each setting's continuations in
/// (prompt, sample) order.
fn generate_all(
    model: &Model,
    args: &SweepArgs,
    settings: &[Setting],
    options: &[GenerateOptions],
    prompt_ids: &[Vec<u32>],
    total: usize,
) -> Result<Vec<Vec<Continuation>>, String> {
    let mut jobs = (0..settings.len()).flat_map(|s| {
        (0..prompt_ids.len()).flat_map(move |p| (0..args.samples).map(move |k| (s, p, k)))
    });
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template(
            "sweeping [{bar:30}] {pos}/{len} continuations, {msg} ({elapsed} of ~{duration})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let stop_tokens = model.tokenizer().stop_tokens().to_vec();
    let mut results: Vec<Vec<Continuation>> = settings.iter().map(|_| Vec::new()).collect();
    let mut running: Vec<Running> = Vec::new();
    let mut drawn = 0usize;
    loop {
        while running.len() < args.batch {
            let Some((s, p, k)) = jobs.next() else { break };
            let seed = generation_seed(args.seed, &settings[s].name, p, k);
            let generation = model
                .generate_from(
                    &prompt_ids[p],
                    GenerateOptions {
                        seed,
                        ..options[s].clone()
                    },
                )
                .map_err(|e| format!("{}, prompt {}: {e}", settings[s].name, p + 1))?;
            running.push(Running {
                setting: s,
                generation,
                done: Continuation {
                    prompt: p,
                    sample: k,
                    seed,
                    text: String::new(),
                    tokens: Vec::new(),
                    nlls: Vec::new(),
                    finish_reason: "length".into(),
                    eos: false,
                },
            });
        }
        if running.is_empty() {
            break;
        }
        let mut generations: Vec<&mut Generation> =
            running.iter_mut().map(|r| &mut r.generation).collect();
        let step = step_batch(model, &mut generations, STEP_TOKENS);
        drop(generations);
        running
            .par_iter_mut()
            .zip(step.outcomes.into_par_iter())
            .try_for_each(|(r, outcome)| {
                if let Some(e) = outcome.error {
                    return Err(format!(
                        "{}, prompt {}: {e}",
                        settings[r.setting].name,
                        r.done.prompt + 1
                    ));
                }
                for step in outcome.steps {
                    r.done.text.push_str(&step.text);
                    if stop_tokens.contains(&step.token) {
                        r.done.eos = true;
                    } else {
                        let nll = step.raw_logprob.map_or_else(
                            || token_nll(r.generation.logits(), step.token),
                            |logprob| -logprob,
                        );
                        r.done.nlls.push(nll);
                        r.done.tokens.push(step.token);
                    }
                }
                Ok(())
            })?;
        let mut i = 0;
        while i < running.len() {
            if let Some(finish) = running[i].generation.finish_reason() {
                let mut r = running.swap_remove(i);
                r.done.finish_reason = finish.name().into();
                drawn += r.done.tokens.len() + usize::from(r.done.eos);
                results[r.setting].push(r.done);
                bar.inc(1);
                bar.set_message(format!(
                    "{:.0} tok/s",
                    drawn as f64 / started.elapsed().as_secs_f64().max(1e-9)
                ));
            } else {
                i += 1;
            }
        }
    }
    bar.finish_and_clear();
    for r in &mut results {
        r.sort_by_key(|c| (c.prompt, c.sample));
    }
    Ok(results)
}
