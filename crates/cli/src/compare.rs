//! `dial compare`: one row of figures per combination of knob settings.

use crate::explain::label;
use crate::knob_args::KnobArgs;
use crate::logits::RowArgs;
use clap::Args;
use std::fmt::Write as _;

/// Grids larger than this are refused: a typo should not start a million explanations.
const MAX_COMBINATIONS: usize = 10_000;

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[command(flatten)]
    pub row: RowArgs,
    /// A knob and the values to try, e.g. "temperature=0.2,0.7,1.0" (repeatable; every
    /// combination is run).
    #[arg(long, required = true)]
    pub grid: Vec<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Fixed settings for every combination.
    #[command(flatten)]
    pub knobs: KnobArgs,
}

/// One `--grid` knob and its values.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Axis {
    pub name: String,
    pub values: Vec<String>,
}

/// `"temperature=0.2,0.7"` as an [`Axis`], its knob checked by name.
pub(crate) fn parse_axis(spec: &str) -> Result<Axis, String> {
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| format!("--grid expects KNOB=V1,V2,..., got {spec:?}"))?;
    let name = name.trim().replace('-', "_");
    if !KnobArgs::names().contains(&name) {
        return Err(format!(
            "unknown knob in --grid: {name:?} (known: {})",
            KnobArgs::names().join(", ")
        ));
    }
    let values: Vec<String> = values
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return Err(format!("--grid {name}: no values given"));
    }
    Ok(Axis { name, values })
}

/// Runs `dial compare`, returning what it prints.
pub fn run(args: &CompareArgs) -> Result<String, String> {
    let axes: Vec<Axis> = args
        .grid
        .iter()
        .map(|g| parse_axis(g))
        .collect::<Result<_, _>>()?;
    let combos = combinations(&axes)?;
    let input = args.row.load()?;
    let mut results = Vec::with_capacity(combos.len());
    for picks in combos {
        let mut knobs = args.knobs.clone();
        for (axis, &pick) in axes.iter().zip(&picks) {
            knobs = knobs
                .with_setting(&axis.name, &axis.values[pick])
                .map_err(|e| format!("--grid {e}"))?;
        }
        let mut sampler = knobs
            .sampler(args.row.seed)
            .map_err(|e| format!("--grid {}: {e}", describe(&axes, &picks)))?;
        let e = sampler
            .explain(&input.logits)
            .map_err(|e| format!("--grid {}: {e}", describe(&axes, &picks)))?;
        results.push((picks, e));
    }

    if args.json {
        let rows: Vec<serde_json::Value> = results
            .iter()
            .map(|(picks, e)| {
                let settings: serde_json::Map<String, serde_json::Value> = axes
                    .iter()
                    .zip(picks)
                    .map(|(a, &p)| {
                        let v = &a.values[p];
                        let value = v
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map_or_else(|| v.clone().into(), serde_json::Value::Number);
                        (a.name.clone(), value)
                    })
                    .collect();
                let top3: Vec<serde_json::Value> = e
                    .tokens
                    .iter()
                    .take(3)
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id,
                            "text": input.text(t.id),
                            "p": t.prob,
                        })
                    })
                    .collect();
                let bits = e.entropy / std::f64::consts::LN_2;
                serde_json::json!({
                    "settings": settings,
                    "entropy_bits": bits,
                    "effective_tokens": e.entropy.exp(),
                    "nucleus": e.tokens.len(),
                    "top1_p": e.tokens.first().map_or(0.0, |t| t.prob),
                    "top3": top3,
                })
            })
            .collect();
        let json = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?;
        return Ok(json + "\n");
    }

    // Writing to a String cannot fail.
    let mut out = String::new();
    let widths: Vec<usize> = axes
        .iter()
        .map(|a| {
            a.values
                .iter()
                .map(String::len)
                .chain([a.name.len()])
                .max()
                .unwrap_or(1)
        })
        .collect();
    for (a, w) in axes.iter().zip(&widths) {
        let _ = write!(out, "{:<w$}  ", a.name);
    }
    let _ = writeln!(
        out,
        "{:>12}  {:>16}  {:>7}  {:>7}  top 3",
        "entropy bits", "effective tokens", "nucleus", "top-1 p"
    );
    for (picks, e) in &results {
        for ((a, &p), w) in axes.iter().zip(picks).zip(&widths) {
            let _ = write!(out, "{:<w$}  ", a.values[p]);
        }
        let top3: Vec<String> = e
            .tokens
            .iter()
            .take(3)
            .map(|t| {
                format!(
                    "{} {:.3}",
                    label(t.id, &|i| input.text(i).map(str::to_string)),
                    t.prob
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "{:>12.3}  {:>16.2}  {:>7}  {:>7.3}  {}",
            e.entropy / std::f64::consts::LN_2,
            e.entropy.exp(),
            e.tokens.len(),
            e.tokens.first().map_or(0.0, |t| t.prob),
            top3.join(", ")
        );
    }
    Ok(out)
}

/// Every combination of the axes' values, as indices, the last axis varying fastest;
/// refused past [`MAX_COMBINATIONS`].
pub(crate) fn combinations(axes: &[Axis]) -> Result<Vec<Vec<usize>>, String> {
    let total = axes
        .iter()
        .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
        .filter(|&n| n <= MAX_COMBINATIONS)
        .ok_or_else(|| format!("the grid has more than {MAX_COMBINATIONS} combinations"))?;
    Ok((0..total)
        .map(|combo| {
            // Mixed-radix count.
            let mut rest = combo;
            let mut picks = vec![0; axes.len()];
            for (pick, axis) in picks.iter_mut().zip(axes).rev() {
                *pick = rest % axis.values.len();
                rest /= axis.values.len();
            }
            picks
        })
        .collect())
}

/// `"temperature=0.7 top_k=40"`: one combination in words.
pub(crate) fn describe(axes: &[Axis], picks: &[usize]) -> String {
    axes.iter()
        .zip(picks)
        .map(|(a, &p)| format!("{}={}", a.name, a.values[p]))
        .collect::<Vec<_>>()
        .join(" ")
}
