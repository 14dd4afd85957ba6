//! Prints a GGUF file's metadata and tensor types: `cargo run -p dial-model --example inspect -- FILE`.
#![allow(clippy::unwrap_used)]
use dial_gguf::{Gguf, Value};

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let c = Gguf::parse(&bytes).unwrap();
    for (k, v) in c.metadata() {
        let s = match v {
            Value::Array(a) => format!(
                "array[{}] first {:?}",
                a.len(),
                a.iter().take(3).collect::<Vec<_>>()
            ),
            other => format!("{other:?}"),
        };
        println!("{k} = {}", s.chars().take(160).collect::<String>());
    }
    let mut types = std::collections::BTreeMap::new();
    for t in c.tensors() {
        *types.entry(t.ggml_type().name()).or_insert(0usize) += 1;
        if t.name().starts_with("blk.0.") || !t.name().starts_with("blk.") {
            println!("{}: {} {:?}", t.name(), t.ggml_type(), t.dims());
        }
    }
    println!("{types:?}");
}
