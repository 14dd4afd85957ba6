//! `dial`: see and use the knobs that shape what a model says.

mod knob_args;
mod logits;
mod sample;

use clap::{Parser, Subcommand};

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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sample(args) => sample::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dial: error: {message}");
            std::process::ExitCode::from(2)
        }
    }
}
