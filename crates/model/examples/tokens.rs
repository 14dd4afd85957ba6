//! Prints tokens of a GGUF vocabulary by id: `cargo run -p dial-model --example tokens -- FILE ID...`,
//! or a count of each token type with `types` for the ids.
#![allow(clippy::unwrap_used)]
use dial_gguf::{Gguf, Value};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bytes = std::fs::read(&args[1]).unwrap();
    let c = Gguf::parse(&bytes).unwrap();
    let list = |key: &str| c.get(key).and_then(Value::as_array).unwrap_or(&[]).to_vec();
    let toks = list("tokenizer.ggml.tokens");
    let types = list("tokenizer.ggml.token_type");
    let scores = list("tokenizer.ggml.scores");
    if args.len() > 2 && args[2] == "types" {
        let mut counts = std::collections::BTreeMap::new();
        for (i, t) in types.iter().enumerate() {
            let e = counts.entry(t.as_i64().unwrap()).or_insert((0, Vec::new()));
            e.0 += 1;
            if e.1.len() < 12 {
                e.1.push((i, toks[i].as_str().unwrap().to_owned()));
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
            toks[i].as_str(),
            types.get(i),
            scores.get(i)
        );
    }
}
