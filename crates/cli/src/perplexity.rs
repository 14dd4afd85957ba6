//! `dial perplexity`: llama.cpp's perplexity protocol on a text file.

use crate::model_args::ModelArgs;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
pub struct PerplexityArgs {
    /// The text file to score.
    pub file: String,
    /// Context length of each chunk.
    #[arg(long, default_value_t = 512)]
    pub ctx: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

pub fn run(args: &PerplexityArgs) -> Result<String, String> {
    let text = std::fs::read_to_string(&args.file)
        .map_err(|e| format!("cannot read {}: {e}", args.file))?;
    let model = args.model.load()?;
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("scoring [{bar:30}] {pos}/{len} chunks {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = model
        .perplexity(&text, args.ctx, |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .map_err(|e| e.to_string());
    bar.finish_and_clear();
    let p = result?;
    if args.json {
        let v = serde_json::json!({
            "file": args.file,
            "ctx": args.ctx,
            "ppl": p.ppl,
            "ppl_error": p.ppl_error,
            "chunks": p.chunks,
            "tokens_scored": p.scored,
            "tokens": p.tokens,
            "ppl_after_each_chunk": p.per_chunk,
        });
        return serde_json::to_string_pretty(&v)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string());
    }
    Ok(format!(
        "PPL {:.4} ± {:.4}\n{} chunks of {} tokens, {} tokens scored (the second half of each chunk), {} tokens in the file\n",
        p.ppl, p.ppl_error, p.chunks, args.ctx, p.scored, p.tokens
    ))
}
