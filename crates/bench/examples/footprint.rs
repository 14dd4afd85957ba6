//! Load time and peak memory of the default model in a fresh process (what criterion
//! cannot measure): `cargo run --release -p dial-bench --example footprint`.
#![allow(clippy::unwrap_used)]
use dial_fetch::{self as fetch, FetchOptions};
use dial_model::{GenerateOptions, Model};

/// Peak resident set size (VmHWM) in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let options = FetchOptions {
        progress: false,
        ..FetchOptions::default()
    };
    let path = fetch::ensure(&fetch::GEMMA3_270M, &options).unwrap();
    let start = std::time::Instant::now();
    let model = Model::load(&path, |_, _| {}).unwrap();
    let load = start.elapsed().as_secs_f64();
    let after_load = peak_rss_mb();
    let opts = GenerateOptions {
        max_tokens: 64,
        ..GenerateOptions::default()
    };
    let n = model
        .generate("The meaning of life is", opts)
        .unwrap()
        .map_while(Result::ok)
        .count();
    println!(
        "load {load:.2} s; peak RSS {after_load:.0} MB after load, {:.0} MB after {n} generated tokens",
        peak_rss_mb()
    );
}
