//! llama-bench's tests on dial: `ppN` runs an N-token prompt through a fresh session,
//! `tgN` runs N single-token steps after it; forward passes only, no sampling, seeded
//! random token ids, as llama-bench does. One JSON line per test and repetition, so
//! `scripts/compare-llama-cpp` can interleave it with llama-bench.
//!
//! `cargo run --release -p dial-bench --example llama_bench -- MODEL [pp128 pp512 tg64]...`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]
use dial_model::Model;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("the model's path");
    let tests: Vec<String> = args.collect();
    let model = Model::load(std::path::Path::new(&path), |_, _| {}).unwrap();
    let vocab = model.vocab_size() as u64;
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut token = || {
        // xorshift64*: the ids only need to be spread and fixed.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_F491_4F6C_DD1D) % vocab) as u32
    };
    for test in &tests {
        let (kind, n) = test.split_at(2);
        let n: usize = n.parse().expect("a test like pp512 or tg64");
        let mut session = model.session().unwrap();
        let seconds = match kind {
            "pp" => {
                let prompt: Vec<u32> = (0..n).map(|_| token()).collect();
                let start = Instant::now();
                session.next_logits(&prompt).unwrap();
                start.elapsed().as_secs_f64()
            }
            "tg" => {
                session.next_logits(&[token()]).unwrap();
                let start = Instant::now();
                for _ in 0..n {
                    session.next_logits(&[token()]).unwrap();
                }
                start.elapsed().as_secs_f64()
            }
            other => panic!("unknown test {other}{n}"),
        };
        println!(
            "{{\"test\": \"{test}\", \"tokens\": {n}, \"seconds\": {seconds:.6}, \"tok_s\": {:.2}}}",
            n as f64 / seconds
        );
    }
}
