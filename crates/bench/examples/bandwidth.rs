//! The decode floor: this machine's memory bandwidth, measured STREAM-style on 2 threads,
//! and the bytes a GGUF's decode reads per token (every tensor but a tied embedding's
//! lookup, which the output matrix reads whole), so `bytes / bandwidth` is the fastest a
//! token can be. One JSON line.
//!
//! `cargo run --release -p dial-bench --example bandwidth -- MODEL [THREADS]`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
use std::hint::black_box;
use std::time::Instant;

/// Per thread: 256 MiB, far past any cache.
const BYTES: usize = 256 << 20;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("the model's path");
    let threads: usize = args
        .next()
        .map_or(2, |t| t.parse().expect("a thread count"));
    let file = std::fs::read(&path).unwrap();
    let content = dial_gguf::Gguf::parse(&file).unwrap();
    let bytes_per_token: usize = content.tensors().iter().map(|t| t.data().len()).sum();

    let words = BYTES / 8;
    let sources: Vec<Vec<u64>> = (0..threads).map(|t| vec![t as u64 + 1; words]).collect();
    let mut sinks: Vec<Vec<u64>> = (0..threads).map(|_| vec![0u64; words]).collect();
    let (mut read, mut copy) = (0f64, 0f64);
    // Best of 5, as STREAM reports.
    for _ in 0..5 {
        let start = Instant::now();
        std::thread::scope(|s| {
            for src in &sources {
                s.spawn(move || {
                    let mut lanes = [0u64; 8];
                    for chunk in src.chunks_exact(8) {
                        for (l, v) in lanes.iter_mut().zip(chunk) {
                            *l = l.wrapping_add(*v);
                        }
                    }
                    black_box(lanes);
                });
            }
        });
        read = read.max((threads * BYTES) as f64 / start.elapsed().as_secs_f64());
        let start = Instant::now();
        std::thread::scope(|s| {
            for (src, dst) in sources.iter().zip(sinks.iter_mut()) {
                s.spawn(move || dst.copy_from_slice(src));
            }
        });
        black_box(&sinks);
        // STREAM counts a copy's bytes read and written.
        copy = copy.max((2 * threads * BYTES) as f64 / start.elapsed().as_secs_f64());
    }
    let floor = bytes_per_token as f64 / read;
    println!(
        "{{\"threads\": {threads}, \"read_gb_s\": {:.2}, \"copy_gb_s\": {:.2}, \"bytes_per_token\": {bytes_per_token}, \"floor_ms\": {:.3}, \"floor_tok_s\": {:.1}}}",
        read / 1e9,
        copy / 1e9,
        floor * 1e3,
        1.0 / floor
    );
}
