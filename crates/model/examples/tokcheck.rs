//! Checks the tokenizer against a JSONL of {"text", "ids"}: `--example tokcheck -- FILE JSONL`.
#![allow(clippy::unwrap_used)]
use candle_core::quantized::gguf_file;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut f = std::fs::File::open(&args[1]).unwrap();
    let c = gguf_file::Content::read(&mut f).unwrap();
    let tok = dial_model::Tokenizer::from_gguf(&c).unwrap();
    for line in std::fs::read_to_string(&args[2]).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = v["text"].as_str().unwrap().to_string();
        let ids: Vec<u32> = v["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as u32)
            .collect();
        let got = tok.encode(&text, true);
        println!("{} {:?}", if got == ids { "ok " } else { "BAD" }, text);
        if got != ids {
            println!("   want {ids:?}\n   got  {got:?}");
        }
    }
}
