//! `dial`: see and use the knobs that shape what a model says.

mod compare;
mod constraint_args;
mod explain;
mod fetch;
mod generate;
mod knob_args;
mod logits;
mod model_args;
mod perplexity;
mod plot;
mod plot_stability;
mod sample;
mod serve;
mod speak;
mod sweep;
mod sweep_report;
mod voice_args;

use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "dial",
    version,
    about = "See and use the knobs that shape what a model says"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Draw tokens from a row of logits and compare the counts with the exact probabilities.
    Sample(sample::SampleArgs),
    /// Show what each knob does to a row of logits, token by token, without drawing.
    Explain(explain::ExplainArgs),
    /// Compare knob settings side by side: entropy, effective tokens, nucleus, top tokens.
    Compare(compare::CompareArgs),
    /// Draw a figure (temperatures, nucleus, entropy, stages) as SVG or PNG.
    Plot(plot::PlotArgs),
    /// Generate text with a real model (Gemma 3 270M by default) and every knob.
    Generate(generate::GenerateArgs),
    /// Perplexity of a text file, with llama.cpp's protocol.
    Perplexity(perplexity::PerplexityArgs),
    /// Download and verify the default model into the cache.
    Fetch(fetch::FetchArgs),
    /// Serve the OpenAI APIs and dial's explain over HTTP, on loopback by default.
    Serve(serve::ServeArgs),
    /// Many continuations per setting, measured (perplexity, self-BLEU, Zipf, repetition):
    /// the creativity–control frontier, as a table, JSON or a plot.
    Sweep(sweep::SweepArgs),
    /// Speak text with a Piper voice (en_US-joe-medium by default), with stability and seeds.
    Speak(speak::SpeakArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => return fail(&usage_error(&err)),
    };
    let result = match cli.command {
        Command::Sample(args) => sample::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Compare(args) => compare::run(&args),
        Command::Plot(args) => plot::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Perplexity(args) => perplexity::run(&args),
        Command::Fetch(args) => fetch::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Speak(args) => speak::run(&args),
        Command::Sweep(args) => sweep::run(&args),
    };
    match result {
        Ok(text) => emit(&text),
        Err(message) => fail(&message),
    }
}

/// clap's error on one line: its first line, without the `error: ` prefix.
fn usage_error(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    format!(
        "{} (see dial --help)",
        first.trim_start_matches("error: ").trim()
    )
}

fn fail(message: &str) -> ExitCode {
    // One line, always: libraries may append a backtrace after the first.
    let first = message.lines().next().unwrap_or("unknown error").trim_end();
    eprintln!("dial: error: {first}");
    ExitCode::from(2)
}

/// Writes the output; a closed pipe (`dial sample | head`) ends quietly.
fn emit(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot write output: {e}")),
    }
}
