//! `dial explain`: what each knob does to one row of logits, token by token.

use crate::constraint_args::ConstraintArgs;
use crate::knob_args::KnobArgs;
use crate::logits::RowArgs;
use crate::model_args::ModelArgs;
use clap::Args;
use dial_sampling::ExplainReport;
use std::fmt::Write as _;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub row: RowArgs,
    /// Explain a real model's next token after this prompt (instead of --logits).
    #[arg(long, conflicts_with = "logits")]
    pub prompt: Option<String>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// How many tokens to list; the rest get one summary line.
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Print the report as JSON (schema: docs/explain-json.md).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub knobs: KnobArgs,
    /// A constraint on the output (needs --prompt): its mask is the first stage.
    #[command(flatten)]
    pub constraint: ConstraintArgs,
}

/// Runs `dial explain`, returning what it prints.
pub fn run(args: &ExplainArgs) -> Result<String, String> {
    if args.top == 0 {
        return Err("--top must be at least 1".into());
    }
    let mut sampler = args.knobs.sampler(args.row.seed)?;
    let (report, text_of): (ExplainReport, Box<dyn Fn(u32) -> Option<String>>) = match &args.prompt
    {
        None => {
            if args.constraint.constraint()?.is_some() {
                return Err(
                    "a constraint needs the model's vocabulary: give --prompt, not --logits".into(),
                );
            }
            let input = args.row.load()?;
            let report = sampler
                .explain_report(&input.logits, args.top)
                .map_err(|e| e.to_string())?;
            let text_of = move |id| input.text(id).map(str::to_string);
            (report.with_texts(&text_of), Box::new(text_of))
        }
        Some(prompt) => {
            let model = args.model.load()?;
            if let Some(stage) = args.constraint.stage(&model)? {
                sampler.add_constraint(stage);
            }
            let ids = model.tokenizer().encode(prompt, true);
            let report = model
                .explain_next(&ids, &mut sampler, args.top)
                .map_err(|e| e.to_string())?;
            (
                report,
                Box::new(move |id| model.token_text(id).map(str::to_string)),
            )
        }
    };
    if args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        return Ok(json + "\n");
    }
    Ok(render(&report, &text_of))
}

/// The label of a token: its text (quoted when it has spaces) or `#id`.
pub fn label(id: u32, text_of: &dyn Fn(u32) -> Option<String>) -> String {
    match text_of(id) {
        Some(t) if t.trim().is_empty() || t.contains(char::is_whitespace) => format!("{t:?}"),
        Some(t) => t.to_string(),
        None => format!("#{id}"),
    }
}

/// A horizontal bar of `width · fraction` cells, with eighth-cell resolution.
pub fn bar(fraction: f64, width: usize) -> String {
    const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    let cells = (fraction.clamp(0.0, 1.0) * width as f64 * 8.0).round() as usize;
    let mut out = "█".repeat(cells / 8);
    out.push_str(EIGHTHS[cells % 8]);
    out
}

fn render(report: &ExplainReport, text_of: &dyn Fn(u32) -> Option<String>) -> String {
    // Writing to a String cannot fail.
    let mut out = String::new();
    let chain: Vec<String> = report
        .chain
        .iter()
        .map(|s| format!("{} ({})", s.stage, s.setting))
        .collect();
    let _ = writeln!(
        out,
        "{} tokens ({} finite), order {}: {}",
        report.vocab,
        report.live,
        report.order,
        if chain.is_empty() {
            "no knobs".to_string()
        } else {
            chain.join(" → ")
        }
    );
    let _ = writeln!(out);

    let token_width = report
        .rows
        .iter()
        .map(|r| label(r.id, text_of).chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let stage_names: Vec<String> = report
        .chain
        .iter()
        .map(|s| format!("p {}", s.stage))
        .collect();
    let mut header = format!("{:<token_width$}  {:>8}  {:>8}", "token", "logit", "p(T=1)");
    for name in &stage_names {
        let w = name.chars().count().max(8);
        let _ = write!(header, "  {name:>w$}");
    }
    let _ = write!(header, "  {:>7}  status", "cum p");
    let _ = writeln!(out, "{header}");
    for row in &report.rows {
        let mut line = format!(
            "{:<token_width$}  {:>8.3}  {:>8.4}",
            label(row.id, text_of),
            row.logit,
            row.p_raw
        );
        let cut_at = row.cut.as_ref().map(|c| c.position);
        for (k, (name, p)) in stage_names.iter().zip(&row.p_stages).enumerate() {
            let w = name.chars().count().max(8);
            let cell = if cut_at.is_some_and(|s| k >= s) {
                "–".to_string()
            } else {
                format!("{p:.4}")
            };
            let _ = write!(line, "  {cell:>w$}");
        }
        let cum = row.cum.map_or("–".to_string(), |c| format!("{c:.4}"));
        let status = match &row.cut {
            None => "kept".to_string(),
            Some(cut) => format!("cut by {} ({})", cut.stage, cut.reason),
        };
        let _ = writeln!(line, "  {cum:>7}  {status}");
        out.push_str(&line);
    }
    if let Some(rest) = &report.rest {
        let _ = writeln!(
            out,
            "… {} more tokens: p(T=1) mass {:.4}, final mass {:.4}, {} of them kept",
            rest.tokens, rest.p_raw, rest.p, rest.kept
        );
    }

    let _ = writeln!(out);
    let _ = writeln!(out, "before (p at T = 1) and after the chain:");
    let scale = report
        .rows
        .iter()
        .map(|r| r.p_raw.max(r.p))
        .fold(0.0, f64::max)
        .max(1e-12);
    for row in &report.rows {
        let name = label(row.id, text_of);
        let _ = writeln!(
            out,
            "{name:<token_width$}  before {:<40} {:.3}",
            bar(row.p_raw / scale, 40),
            row.p_raw
        );
        let _ = writeln!(
            out,
            "{:<token_width$}  after  {:<40} {:.3}",
            "",
            bar(row.p / scale, 40),
            row.p
        );
    }

    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "entropy: {:.3} bits → {:.3} bits",
        report.entropy_bits_before, report.entropy_bits_after
    );
    let _ = writeln!(
        out,
        "perplexity (effective tokens, 2^H): {:.2} → {:.2}",
        report.perplexity_before, report.perplexity_after
    );
    let _ = writeln!(
        out,
        "nucleus: {} of {} tokens, holding {:.1} % of the mass at T = 1",
        report.nucleus_size,
        report.live,
        100.0 * report.kept_mass
    );
    let _ = writeln!(
        out,
        "top token: {} with p = {:.4}",
        label(report.top_token, text_of),
        report.top_p
    );
    if let Some(diff) = &report.order_difference {
        let names = |ids: &[u32]| {
            ids.iter()
                .map(|&id| label(id, text_of))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "warning: the two standard orders keep different tokens for this input:"
        );
        let _ = writeln!(
            out,
            "  temperature-first keeps {}: {}",
            diff.temperature_first.len(),
            names(&diff.temperature_first)
        );
        let _ = writeln!(
            out,
            "  temperature-last  keeps {}: {}",
            diff.temperature_last.len(),
            names(&diff.temperature_last)
        );
    }
    out
}
