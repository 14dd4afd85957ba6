//! `dial generate`: text from a real model, with every knob.

use crate::constraint_args::ConstraintArgs;
use crate::knob_args::KnobArgs;
use crate::model_args::ModelArgs;
use clap::Args;
use dial_model::{GenerateOptions, Model, Step};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write as _;

/// A cap that catches typos; the context is the real limit.
const MAX_TOKENS: usize = 32_768;

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The prompt (BOS is added as the model asks).
    pub prompt: String,
    /// Stop after this many tokens.
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// Seed of the sampler's random stream.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop when the text contains this string (repeatable; not printed).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Report this many alternatives per token with their log-probabilities (JSON).
    #[arg(long, default_value_t = 0)]
    pub logprobs: usize,
    /// Report each token's per-stage trace (JSON).
    #[arg(long)]
    pub trace: bool,
    /// Print one JSON object at the end instead of streaming text.
    #[arg(long)]
    pub json: bool,
    /// Run the prompt under several settings, e.g. "temperature=0"
    /// "temperature=1.0,top_p=0.9", and show the texts side by side.
    #[arg(long, num_args = 1..)]
    pub compare: Vec<String>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub knobs: KnobArgs,
    #[command(flatten)]
    pub constraint: ConstraintArgs,
}

/// Summary figures of one run.
struct Run {
    label: String,
    text: String,
    tokens: Vec<u32>,
    steps: Vec<Step>,
    finish: &'static str,
}

impl Run {
    fn mean(&self, f: impl Fn(&Step) -> Option<f64>) -> f64 {
        let v: Vec<f64> = self.steps.iter().filter_map(f).collect();
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    }

    /// Share of distinct n-grams among the generated tokens (1 = no repeats).
    fn distinct(&self, n: usize) -> f64 {
        if self.tokens.len() < n {
            return 1.0;
        }
        let grams: Vec<&[u32]> = self.tokens.windows(n).collect();
        let unique: HashSet<&[u32]> = grams.iter().copied().collect();
        unique.len() as f64 / grams.len() as f64
    }
}

pub fn run(args: &GenerateArgs) -> Result<String, String> {
    if args.max_tokens > MAX_TOKENS {
        return Err(format!(
            "--max-tokens {} is over the limit of {MAX_TOKENS}",
            args.max_tokens
        ));
    }
    if args.prompt.is_empty() {
        return Err("the prompt is empty".into());
    }
    // Validate every setting before loading the model.
    let settings: Vec<(String, KnobArgs)> = if args.compare.is_empty() {
        vec![(String::new(), args.knobs.clone())]
    } else {
        args.compare
            .iter()
            .map(|spec| parse_spec(&args.knobs, spec, "--compare").map(|k| (spec.clone(), k)))
            .collect::<Result<_, _>>()?
    };
    for (_, k) in &settings {
        k.build()?;
    }
    args.constraint.constraint()?;
    let mut model = args.model.load()?;
    if !args.compare.is_empty() {
        let mut runs = Vec::new();
        for (label, knobs) in &settings {
            runs.push(one_run(&mut model, args, knobs, label, false)?);
        }
        return Ok(side_by_side(&runs));
    }
    let stream = !args.json;
    let run = one_run(&mut model, args, &args.knobs, "", stream)?;
    if stream {
        return Ok("\n".into());
    }
    Ok(json(&model, args, &run)? + "\n")
}

/// `"temperature=1.0,top_p=0.9"` on top of the fixed knobs; errors name `flag`.
pub(crate) fn parse_spec(base: &KnobArgs, spec: &str, flag: &str) -> Result<KnobArgs, String> {
    let mut knobs = base.clone();
    for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("{flag} expects KNOB=VALUE,..., got {spec:?}"))?;
        knobs = knobs
            .with_setting(name, value)
            .map_err(|e| format!("{flag} {e}"))?;
    }
    Ok(knobs)
}

fn one_run(
    model: &mut Model,
    args: &GenerateArgs,
    knobs: &KnobArgs,
    label: &str,
    stream: bool,
) -> Result<Run, String> {
    let options = GenerateOptions {
        knobs: model.knobs(&knobs.params).map_err(|e| e.to_string())?,
        order: knobs.params.order().clone(),
        seed: knobs.params.seed().unwrap_or(args.seed),
        max_tokens: args.max_tokens,
        stop: args.stop.clone(),
        // Comparisons need the entropies of the full report.
        logprobs: !args.compare.is_empty(),
        top_logprobs: args.logprobs,
        trace: args.trace,
        logprob_token_ids: Vec::new(),
        prompt_logprobs: None,
        constraint: args.constraint.stage(model)?,
    };
    let mut generation = model
        .generate(&args.prompt, options)
        .map_err(|e| e.to_string())?;
    let mut run = Run {
        label: label.to_string(),
        text: String::new(),
        tokens: Vec::new(),
        steps: Vec::new(),
        finish: "stop",
    };
    let mut out = std::io::stdout().lock();
    let mut stdout_open = stream;
    for step in generation.by_ref() {
        let step = step.map_err(|e| e.to_string())?;
        if stdout_open {
            // A closed pipe stops the printing, not the run.
            stdout_open = out
                .write_all(step.text.as_bytes())
                .and_then(|()| out.flush())
                .is_ok();
        }
        run.text.push_str(&step.text);
        run.tokens.push(step.token);
        run.steps.push(step);
    }
    run.finish = generation.finish_reason().map_or("stop", |f| f.name());
    Ok(run)
}

fn json(model: &Model, args: &GenerateArgs, run: &Run) -> Result<String, String> {
    let tok = model.tokenizer();
    let text_of = |id: u32| String::from_utf8_lossy(&tok.token_bytes(id)).into_owned();
    let tokens: Vec<serde_json::Value> = run
        .steps
        .iter()
        .map(|s| {
            let mut v = serde_json::json!({
                "id": s.token,
                "token": text_of(s.token),
                "logprob": s.logprob,
                "kept": s.kept,
            });
            if let Some(raw) = s.raw_logprob {
                v["raw_logprob"] = raw.into();
            }
            if args.logprobs > 0 {
                v["top_logprobs"] = s
                    .top
                    .iter()
                    .map(|a| {
                        serde_json::json!({
                            "id": a.id,
                            "token": text_of(a.id),
                            "logprob": a.logprob,
                            "raw_logprob": a.raw_logprob,
                        })
                    })
                    .collect();
            }
            if let Some(trace) = &s.trace {
                v["trace"] = serde_json::to_value(trace).unwrap_or_default();
            }
            v
        })
        .collect();
    let prompt_tokens = tok.encode(&args.prompt, true).len();
    let value = serde_json::json!({
        "model": model.path().file_name().map(|n| n.to_string_lossy().into_owned()),
        "prompt": args.prompt,
        "text": run.text,
        "finish_reason": run.finish,
        "seed": args.seed,
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": run.steps.len()},
        "tokens": tokens,
    });
    serde_json::to_string_pretty(&value).map_err(|e| e.to_string())
}

fn side_by_side(runs: &[Run]) -> String {
    // Writing to a String cannot fail.
    let mut out = String::new();
    let bits = std::f64::consts::LN_2;
    let _ = writeln!(
        out,
        "{:<40} {:>9} {:>9} {:>9} {:>10} {:>10}  finish",
        "settings", "entropy", "kept H", "mean lp", "distinct-2", "distinct-3"
    );
    for r in runs {
        let _ = writeln!(
            out,
            "{:<40} {:>9.3} {:>9.3} {:>9.3} {:>10.3} {:>10.3}  {}",
            r.label,
            r.mean(|s| s.entropy_raw) / bits,
            r.mean(|s| s.entropy) / bits,
            r.mean(|s| Some(s.logprob)),
            r.distinct(2),
            r.distinct(3),
            r.finish
        );
    }
    let _ = writeln!(
        out,
        "(entropy: mean bits of the model's distribution per step; kept H: after the knobs; \
         mean lp: mean log-probability of the drawn tokens; distinct-n: share of unique n-grams)"
    );
    let width = if runs.len() <= 3 {
        118 / runs.len().max(1) - 2
    } else {
        100
    };
    let columns: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let mut lines = vec![format!("── {} ", r.label)];
            lines.extend(wrap(&r.text, width));
            lines
        })
        .collect();
    let _ = writeln!(out);
    if runs.len() <= 3 {
        let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
        for i in 0..rows {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| {
                    let cell = c.get(i).cloned().unwrap_or_default();
                    let pad = width.saturating_sub(cell.chars().count());
                    format!("{cell}{}", " ".repeat(pad))
                })
                .collect();
            let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        }
    } else {
        for c in &columns {
            for line in c {
                let _ = writeln!(out, "{line}");
            }
            let _ = writeln!(out);
        }
    }
    out
}

/// Wraps text to `width` characters, keeping line breaks and tabs visible (`⏎`, `⇥`).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let flat: String = text
        .replace('\n', "⏎ ")
        .replace('\t', "⇥")
        .chars()
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in flat.split(' ') {
        let w = word.chars().count();
        if !line.is_empty() && line.chars().count() + 1 + w > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        // A word longer than the column is split.
        let mut rest: Vec<char> = word.chars().collect();
        while rest.len() > width {
            let head: String = rest.drain(..width).collect();
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            lines.push(head);
        }
        line.extend(rest);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
