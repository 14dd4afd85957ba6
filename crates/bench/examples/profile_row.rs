//! Draws repeatedly from one benchmark row, for `perf record`:
//! `cargo run --release -p dial-bench --example profile_row -- flat 262144 top_p`.
#![allow(clippy::unwrap_used)]
use dial_bench::{Shape, row};
use dial_sampling::{Knobs, MinP, Sampler, Temperature, TopK, TopP};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let shape = if args.get(1).map(String::as_str) == Some("flat") {
        Shape::Flat
    } else {
        Shape::Peaked
    };
    let v: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(262_144);
    let mut knobs = Knobs {
        temperature: Some(Temperature::new(0.8).unwrap()),
        ..Knobs::default()
    };
    match args.get(3).map(String::as_str).unwrap_or("top_p") {
        "top_k" => knobs.top_k = Some(TopK::new(40)),
        "min_p" => knobs.min_p = Some(MinP::new(0.05).unwrap()),
        "temperature" => {}
        _ => knobs.top_p = Some(TopP::new(0.9).unwrap()),
    }
    let r = row(shape, v, v as u64);
    let mut s = Sampler::new(knobs, 1).unwrap();
    let n = 2000;
    let t = std::time::Instant::now();
    let mut kept = 0;
    for _ in 0..n {
        kept = s.sample_token(&r).unwrap().kept;
    }
    println!(
        "{:.1} µs per draw, kept {kept}",
        t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
    );
}
