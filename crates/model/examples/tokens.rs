//! Prints tokens of a GGUF vocabulary by id: `cargo run -p dial-model --example tokens -- FILE ID...`.
#![allow(clippy::unwrap_used)]
use candle_core::quantized::gguf_file;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut f = std::fs::File::open(&args[1]).unwrap();
    let c = gguf_file::Content::read(&mut f).unwrap();
    let toks = c.metadata["tokenizer.ggml.tokens"].to_vec().unwrap();
    let types = c.metadata["tokenizer.ggml.token_type"].to_vec().unwrap();
    let scores = c.metadata["tokenizer.ggml.scores"].to_vec().unwrap();
    if args.len() > 2 && args[2] == "types" {
        let mut counts = std::collections::BTreeMap::new();
        for (i, t) in types.iter().enumerate() {
            let ty = t.to_i32().unwrap();
            let e = counts.entry(ty).or_insert((0, Vec::new()));
            e.0 += 1;
            if e.1.len() < 12 {
                e.1.push((i, toks[i].to_string().unwrap().clone()));
            }
        }
        for (k, v) in counts {
            println!("type {k}: {} e.g. {:?}", v.0, v.1);
        }
        return;
    }
    for a in &args[2..] {
        let i: usize = a.parse().unwrap();
        println!(
            "{i}: {:?} type {:?} score {:?}",
            toks[i].to_string().unwrap(),
            types[i],
            scores[i]
        );
    }
}
