//! `dial sample`: draw N tokens and compare empirical frequencies with exact probabilities.

use crate::knob_args::KnobArgs;
use crate::logits::RowArgs;
use clap::Args;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A cap on `--draws` that catches typos (a billion draws of a small row takes minutes).
const MAX_DRAWS: u64 = 1_000_000_000;

#[derive(Debug, Args)]
pub struct SampleArgs {
    #[command(flatten)]
    pub row: RowArgs,
    /// How many tokens to draw.
    #[arg(long, default_value_t = 1000)]
    pub draws: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub knobs: KnobArgs,
}

/// Runs `dial sample`, returning what it prints.
pub fn run(args: &SampleArgs) -> Result<String, String> {
    if args.draws > MAX_DRAWS {
        return Err(format!(
            "--draws {} is over the limit of {MAX_DRAWS}",
            args.draws
        ));
    }
    let input = args.row.load()?;
    let mut sampler = args.knobs.sampler(args.row.seed)?;
    let explanation = sampler.explain(&input.logits).map_err(|e| e.to_string())?;
    let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
    for _ in 0..args.draws {
        // Each draw starts from the same history, so counts estimate one distribution.
        sampler.set_prompt(&args.knobs.history);
        let token = sampler
            .sample_token(&input.logits)
            .map_err(|e| e.to_string())?;
        *counts.entry(token.id).or_insert(0) += 1;
    }
    let text = |id: u32| {
        input
            .tokens
            .as_ref()
            .and_then(|t| t.get(id as usize))
            .cloned()
    };
    if args.json {
        let mut out = serde_json::Map::new();
        let counts_json: serde_json::Map<String, serde_json::Value> = counts
            .iter()
            .map(|(id, n)| (id.to_string(), (*n).into()))
            .collect();
        let probs_json: serde_json::Map<String, serde_json::Value> = explanation
            .tokens
            .iter()
            .map(|t| (t.id.to_string(), t.prob.into()))
            .collect();
        out.insert("counts".into(), counts_json.into());
        out.insert("probabilities".into(), probs_json.into());
        if input.tokens.is_some() {
            let tokens_json: serde_json::Map<String, serde_json::Value> = explanation
                .tokens
                .iter()
                .filter_map(|t| text(t.id).map(|s| (t.id.to_string(), s.into())))
                .collect();
            out.insert("tokens".into(), tokens_json.into());
        }
        out.insert("draws".into(), args.draws.into());
        out.insert("seed".into(), args.row.seed.into());
        out.insert("order".into(), sampler.order().name().into());
        out.insert(
            "trace".into(),
            serde_json::to_value(&explanation.trace).map_err(|e| e.to_string())?,
        );
        return Ok(format!("{}\n", serde_json::Value::Object(out)));
    }
    // Writing to a String cannot fail.
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} draws, seed {}, order {} ({})",
        args.draws,
        args.row.seed,
        sampler.order().name(),
        sampler
            .chain()
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(" → ")
    );
    let _ = writeln!(
        out,
        "{:>8}  {:<12} {:>9} {:>10} {:>10}",
        "token", "text", "count", "frequency", "exact p"
    );
    for t in &explanation.tokens {
        let n = counts.get(&t.id).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "{:>8}  {:<12} {:>9} {:>10.4} {:>10.4}",
            t.id,
            text(t.id).unwrap_or_default(),
            n,
            n as f64 / args.draws.max(1) as f64,
            t.prob
        );
    }
    let _ = writeln!(
        out,
        "kept {} of {} tokens, raw mass {:.4}; entropy {:.3} → {:.3} bits",
        explanation.tokens.len(),
        explanation.live_raw,
        explanation.kept_mass_raw,
        explanation.entropy_raw / std::f64::consts::LN_2,
        explanation.entropy / std::f64::consts::LN_2
    );
    Ok(out)
}
