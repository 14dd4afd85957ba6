//! Greedy continuation, for a quick look: `cargo run --release -p dial-model --example greedy -- FILE "prompt" N`.
#![allow(clippy::unwrap_used)]
use dial_model::Model;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let t = std::time::Instant::now();
    let mut m = Model::load(std::path::Path::new(&args[1]), |_, _| {}).unwrap();
    println!("load {:.2}s", t.elapsed().as_secs_f64());
    let ids = m.tokenizer().encode(&args[2], true);
    println!("ids {ids:?}");
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let t = std::time::Instant::now();
    let mut logits = m.next_logits(&ids).unwrap();
    let prefill = t.elapsed().as_secs_f64();
    let mut out = Vec::new();
    let t = std::time::Instant::now();
    for _ in 0..n {
        let best = logits
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
            .unwrap()
            .0 as u32;
        out.push(best);
        logits = m.next_logits(&[best]).unwrap();
    }
    let decode = t.elapsed().as_secs_f64();
    println!("{:?}", m.tokenizer().decode(&out));
    println!(
        "prefill {:.1} tok/s, gen {:.1} tok/s",
        ids.len() as f64 / prefill,
        n as f64 / decode
    );
}
